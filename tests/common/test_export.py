"""`compkit export`: a torch run's fold networks as ONNX files whose predictions match torch's."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from common.cli import main
from common.config import Component
from common.data.folds import Folds
from common.metrics import get_metric
from common.runs.store import RunStore
from common.runs.train import CVContext, fit_oof


def test_a_torch_run_exports_one_onnx_file_per_fold_that_predicts_as_torch(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    store = RunStore(tmp_path / "runs")
    folds = Folds(np.arange(len(y)) % 2, "kfold")
    spec = Component(name="mlp", params={"epochs": 2, "batch_size": 32, "hidden": [8]})
    result = fit_oof(spec, X, y, X[:10], CVContext(folds, get_metric("auc"), "binary"), workdir=store.workdir("mlp-1"),
                     progress=False)
    run = store.save("mlp-1", result, {"model": spec.model_dump()})
    main(["export", str(run.path)])
    written = sorted(p.name for p in (run.path / "onnx").iterdir())
    assert written == ["fold0.onnx", "fold1.onnx"]
    batch = rng.normal(size=(5, 4)).astype(np.float32)  # a batch size the example batch did not have
    for k in range(2):
        program = torch.export.load(str(run.path / "networks" / f"fold{k}.pt2"))
        expected = program.module()(torch.from_numpy(batch)).detach().numpy()
        session = ort.InferenceSession(str(run.path / "onnx" / f"fold{k}.onnx"))
        got, = session.run(None, {session.get_inputs()[0].name: batch})
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert (run.path / "tb" / "fold0").is_dir()  # the TensorBoard logs moved with the run


def test_export_names_what_is_missing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path / "nothing"), "--contest", str(tmp_path)])
    assert "no run" in capsys.readouterr().err
