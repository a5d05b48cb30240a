"""Faults as a user meets them: a stage killed with SIGKILL part-way (COMPKIT_FAULT names the point, see
common.faults), then rerun. The rerun resumes, reuses what was finished, leaves no temporary file behind
and ends with the outputs of an uninterrupted run, byte for byte: folds, feature tables, runs, the
comparison and the submission. Stage 06 is the exception by design: a resumed study draws new trials
from a sampler seeded for the resumption (common.optimize), so it keeps the finished trials and the
budget rather than the uninterrupted run's later draws."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.faults import checkpoint
from common.models.torch.engine import read_checkpoint
from common.runs.store import RunStore
from tests.conftest import REPO, write_contest

STAGES = REPO / "templates" / "{{cookiecutter.competition_slug}}"
KILLED = -signal.SIGKILL
# one of each family; the MLP runs every epoch (no early stop) so that an epoch kill always has an epoch to hit
MODELS = [{"name": "ridge"}, {"name": "mlp", "params": {"epochs": 4, "patience": 50, "batch_size": 64}},
          {"name": "lightgbm", "params": {"n_estimators": 60, "learning_rate": 0.1}}]


def _config() -> dict:
    return {
        "competition": {"name": "steam", "task": "regression", "metric": "mse", "platform": "tianchi"},
        "data": {"train": "data/raw/train.txt", "test": "data/raw/test.txt", "sep": "\t", "target": "target"},
        "folds": {"scheme": "kfold", "n_splits": 3, "seed": 0},
        "features": [{"name": "scale", "params": {"method": "standard"}},
                     {"name": "drop_shifted", "params": {"threshold": 0.3}}],
        "models": MODELS,
        "optimize": {"model": {"name": "ridge"}, "n_trials": 4},
        "ensemble": {"strategies": [{"name": "mean"}, {"name": "weighted"}, {"name": "hill_climb"}]},
        "submission": {"format": "lines", "file_name": "sub.txt", "float_format": "%.6f"},
    }


def stage(root: Path, name: str, fault: str | None = None, *args: str) -> subprocess.CompletedProcess:
    """Run one stage script as its own process; with `fault`, COMPKIT_FAULT kills it at that point."""
    env = {k: v for k, v in os.environ.items() if k != "COMPKIT_FAULT"}
    env.update(MPLBACKEND="Agg", NO_ALBUMENTATIONS_UPDATE="1", **({"COMPKIT_FAULT": fault} if fault else {}))
    script = next((root / "stages").glob(f"{name}_*.py"))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300, env=env)


def killed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == KILLED, f"expected a SIGKILL, got exit {result.returncode}:\n{result.stderr[-3000:]}"


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def temp_files(root: Path) -> list[Path]:
    """What an interrupted write leaves: atomic_path's `.<name>.<pid>.<random>.tmp`, the store's staging folders."""
    return sorted(p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith((".tmp-", ".trash-")))


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A contest run without interruption: stages 03, 04 and 07."""
    from common.data.datasets.steam import make_steam

    train, test = make_steam(300, 200, seed=1)
    root = write_contest(tmp_path_factory.mktemp("reference") / "steam", _config(), train, test, sep="\t",
                         stages_from=STAGES)
    for name in ("03", "04", "07"):
        ok(stage(root, name))
    return root


def fresh_copy(reference: Path, tmp_path: Path, *drop: str) -> Path:
    """The reference contest's folder with the outputs named in `drop` removed (to be made again)."""
    root = tmp_path / "steam"
    shutil.copytree(reference, root)
    for name in drop:
        shutil.rmtree(root / name, ignore_errors=True)
    return root


def test_checkpoint_does_nothing_unless_named(monkeypatch):
    monkeypatch.delenv("COMPKIT_FAULT", raising=False)
    checkpoint("write:submissions/sub.txt")
    monkeypatch.setenv("COMPKIT_FAULT", "trial:7")
    checkpoint("trial:6")
    checkpoint("trial:17")  # whole names only: a pattern is matched against the full point


def test_checkpoint_kills_the_process_at_the_named_point():
    code = ("from common.faults import checkpoint\ncheckpoint('fold:ridge:0')\nprint('before', flush=True)\n"
            "checkpoint('fold:ridge:1')\nprint('after')")
    env = {**os.environ, "COMPKIT_FAULT": "fold:*:1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == KILLED and result.stdout == "before\n"


# ---------------------------------------------------------------- stage 03
def test_stage_03_killed_while_saving_folds_and_features_resumes(reference, tmp_path):
    root = fresh_copy(reference, tmp_path, "cache", "folds", "runs", "submissions", "reports")
    killed(stage(root, "03", "write:*/folds.json"))  # whichever of the two fold files is written first,
    killed(stage(root, "03", "write:*/folds.npy"))  # a kill before the other lands leaves folds that are remade
    killed(stage(root, "03", "write:01-*/train.arrow"))  # step 0 cached, step 1 in the middle of its first write
    killed(stage(root, "03", "write:01-*/done.json"))  # step 1's tables written, not yet marked done
    out = ok(stage(root, "03"))
    assert "feature scale: cached" in out and "feature drop_shifted: +0 -" in out  # step 0 reused, step 1 redone
    assert files(root / "folds") == files(reference / "folds")
    assert files(root / "cache" / "features") == files(reference / "cache" / "features")
    assert temp_files(root) == []


# ---------------------------------------------------------------- stage 04
def test_stage_04_killed_after_a_run_and_while_publishing_one_resumes(reference, tmp_path):
    root = fresh_copy(reference, tmp_path, "runs", "submissions", "reports")
    killed(stage(root, "04", "saved:ridge-*"))  # ridge stored, then the process dies
    killed(stage(root, "04", "save:mlp-*"))  # mlp's files staged under a temporary name, not yet renamed
    store = RunStore(root / "runs")
    assert [r.run_id.split("-")[0] for r in store.runs()] == ["ridge"]  # a staged run is not a run
    out = ok(stage(root, "04"))
    assert [line.split("-")[0] for line in out.splitlines() if "(reused)" in line] == ["ridge"]
    assert sum("CV mse" in line for line in out.splitlines()) == 3
    _assert_same_runs(root, reference)
    assert temp_files(root) == []  # the staging folder of the killed process is gone


def test_stage_04_killed_inside_folds_and_epochs_resumes(reference, tmp_path):
    root = fresh_copy(reference, tmp_path, "runs", "submissions", "reports")
    killed(stage(root, "04", "epoch:1"))  # the MLP's first fold, after its second epoch's checkpoint
    work = next((root / "runs" / ".work").glob("mlp-*"))
    assert read_checkpoint(work / "fold0")["epoch"] == 1 and not (work / "fold1").exists()
    killed(stage(root, "04", "fold:lightgbm:1"))  # mlp finished from its checkpoint; lightgbm's 2nd fold done
    out = ok(stage(root, "04"))
    assert sorted(line.split("-")[0] for line in out.splitlines() if "(reused)" in line) == ["mlp", "ridge"]
    _assert_same_runs(root, reference)  # the resumed MLP fold equals the uninterrupted one, bit for bit
    assert not (root / "runs" / ".work" / work.name).exists() and temp_files(root) == []


def _assert_same_runs(root: Path, reference: Path) -> None:
    mine, theirs = RunStore(root / "runs").runs(), RunStore(reference / "runs").runs()
    assert sorted(r.run_id for r in mine) == sorted(r.run_id for r in theirs)
    for run in mine:
        for name in ("oof.npy", "test.npy"):
            assert (run.path / name).read_bytes() == (reference / "runs" / run.run_id / name).read_bytes(), (run, name)
        assert run.meta["cv_score"] == RunStore(reference / "runs").load(run.run_id).meta["cv_score"]


# ---------------------------------------------------------------- stage 06
def _trials(root: Path) -> list:
    import optuna

    storage = f"sqlite:///{root / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage).trials


def test_stage_06_killed_between_and_inside_trials_resumes(reference, tmp_path):
    whole = fresh_copy(reference, tmp_path / "whole")
    ok(stage(whole, "06"))
    expected = _trials(whole)
    root = fresh_copy(reference, tmp_path / "killed")
    killed(stage(root, "06", "trial:1"))  # two trials finished and recorded
    killed(stage(root, "06", "fold:ridge:1"))  # the third trial dies after its second fold
    assert [t.state.name for t in _trials(root)] == ["COMPLETE", "COMPLETE", "RUNNING"]
    out = ok(stage(root, "06"))
    trials = _trials(root)
    # the finished trials are kept; the dead one is marked failed and its params tried again; the budget
    # (4 finished trials) is a total over the three sessions
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert [t.params for t in trials[:2]] == [t.params for t in expected[:2]]
    assert trials[3].params == trials[2].params
    assert "study ridge-" in out and "5 trials" in out
    tuned = [r for r in RunStore(root / "runs").runs() if r.run_id.startswith("ridge-optuna-")]
    best = min((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert len(tuned) == 1 and tuned[0].score == pytest.approx(best.value, rel=1e-12)
    assert temp_files(root) == []


# ---------------------------------------------------------------- stage 07
def test_stage_07_killed_while_writing_the_submission_keeps_the_old_one(reference, tmp_path):
    from common.submissions.upload import read_provenance

    root = fresh_copy(reference, tmp_path, "submissions", "reports")
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["ensemble"]["choose"] = "mean"
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    ok(stage(root, "07"))
    submission = root / "submissions" / "sub.txt"
    old = submission.read_bytes()
    config["ensemble"]["choose"] = "best"
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    killed(stage(root, "07", "write:submissions/sub.txt"))  # the new file complete beside the old one
    assert submission.read_bytes() == old and read_provenance(submission, out=lambda _: None)["strategy"] == "mean"
    killed(stage(root, "07", "write:submissions/sub.txt.json"))  # the new file in place, its sidecar not yet
    assert submission.read_bytes() != old
    said = []
    assert read_provenance(submission, out=said.append) is None and "another version" in said[0]  # never mislabelled

    ok(stage(root, "07"))
    assert submission.read_bytes() == (reference / "submissions" / "sub.txt").read_bytes()
    assert (root / "reports" / "ensemble_comparison.csv").read_bytes() == \
        (reference / "reports" / "ensemble_comparison.csv").read_bytes()
    assert read_provenance(submission)["strategy"] == read_provenance(reference / "submissions" / "sub.txt")["strategy"]
    assert temp_files(root) == []
