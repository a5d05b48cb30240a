"""DDP on the CPU: the same fit under `torchrun --nproc_per_node 2` (gloo) as in one process.

What is compared, and why it can match closely: with 2 processes of batch size 16, each optimizer step
averages the gradients of two 16-row shards of the same seeded permutation (accelerate's seedable sampler),
which are the 32 rows one process with batch size 32 takes at that step. With no dropout (its masks are drawn
per process) and a training fold divisible by 32 (no padded last batch), both fits take the same steps up to
float summation order, so their predictions agree to ~1e-5; every process returns all rows, in order."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("accelerate")

SCRIPT = '''
import os, sys
import numpy as np
from common.config import Component
from common.metrics import get_metric
from common.models import create_model

out, batch = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.normal(size=(320, 5))
y = X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(scale=0.3, size=320)
model = create_model(Component(name="mlp", params={"epochs": 6, "batch_size": batch, "hidden": [16], "dropout": 0.0,
                                                   "lr": 3e-3, "device": "cpu"}), "regression", seed=1)
model.metric = get_metric("rmse")
model.fit(X[:256], y[:256], X[256:], y[256:], workdir=sys.argv[3])
pred = model.predict(X[256:])
np.save(f"{out}.{os.environ.get('RANK', '0')}.npy", pred)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_gloo_fit_the_same_fold_as_one(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                    "127.0.0.1", "--master_port", str(_free_port()), str(script), str(tmp_path / "ddp"), "16",
                    str(tmp_path / "work_ddp")], env=env, cwd=tmp_path, check=True, timeout=180)
    subprocess.run([sys.executable, str(script), str(tmp_path / "one"), "32", str(tmp_path / "work_one")],
                   env=env, cwd=tmp_path, check=True, timeout=120)
    rank0, rank1 = np.load(tmp_path / "ddp.0.npy"), np.load(tmp_path / "ddp.1.npy")
    one = np.load(tmp_path / "one.0.npy")
    assert rank0.shape == one.shape == (64,)
    np.testing.assert_array_equal(rank0, rank1)  # every process holds the whole prediction
    np.testing.assert_allclose(rank0, one, atol=1e-4)
    # one checkpoint, written by the main process only (process 1 adds its RNG state to it)
    files = {p.name for p in (tmp_path / "work_ddp" / "checkpoints").iterdir()}
    assert files == {"epoch-5"}
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in (tmp_path / "work_ddp" / "checkpoints" / "epoch-5").iterdir()}


def test_only_the_main_process_stores_a_run(tmp_path, monkeypatch):
    from common.runs.store import RunStore
    from common.runs.train import CVResult

    result = CVResult(np.zeros(3), np.zeros(2), [0.1], 0.1, [1.0])
    monkeypatch.setenv("RANK", "1")
    run = RunStore(tmp_path).save("r-1", result, {})
    assert run.meta["cv_score"] == 0.1 and not (tmp_path / "r-1").exists()
    monkeypatch.setenv("RANK", "0")
    assert (RunStore(tmp_path).save("r-1", result, {}).path / "meta.json").is_file()


def test_a_write_of_another_process_than_the_main_one_is_dropped(tmp_path, monkeypatch):
    from common.data.io import write_json

    monkeypatch.setenv("RANK", "1")
    write_json(tmp_path / "a.json", {"x": 1})
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind
    monkeypatch.setenv("RANK", "0")
    write_json(tmp_path / "a.json", {"x": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_stage_04_under_torchrun_stores_one_run_written_by_the_main_process(regression_contest):
    """The contest's own stage script under `torchrun --nproc_per_node 2` (gloo): both processes train every
    fold of the MLP together and end with the same predictions; the main process alone writes the folds,
    the feature cache and the run."""
    import yaml

    from common.runs.store import RunStore

    root = regression_contest
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["models"] = [{"name": "mlp", "params": {"epochs": 2, "batch_size": 32, "hidden": [8], "dropout": 0.0}}]
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    repo = Path(__file__).resolve().parents[2]
    stages = repo / "templates" / "{{cookiecutter.competition_slug}}" / "stages"
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                           "127.0.0.1", "--master_port", str(_free_port()), str(stages / "04_train.py"),
                           "--contest", str(root)], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    runs = RunStore(root / "runs").runs()
    assert [r.run_id.split("-")[0] for r in runs] == ["mlp"]
    assert runs[0].oof.shape == (300,) and np.isfinite(runs[0].oof).all()
    assert not list(root.rglob("*.tmp"))  # the other process's writes left nothing behind
