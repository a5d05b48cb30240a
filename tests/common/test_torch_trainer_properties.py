"""The torch trainer's checkpoint on its own (small MLPs, a second or two in all): what a checkpoint holds,
that it is written atomically, that the RNG states it carries restore the very same draws, and that a
resumed fit continues the saved epoch count, best score, patience and best weights rather than starting over;
then the engine's options (metric selection, accumulation, clipping, EMA, TensorBoard, the exported network)."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from common.config import Component
from common.data.folds import Folds
from common.models import create_model
from common.models.torch import engine as engine
from common.models.torch.engine import read_checkpoint


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X[:, 0] - 0.5 * X[:, 1] + rng.normal(scale=0.1, size=n)
    return X[:90], y[:90], X[90:], y[90:]


def _mlp(**params):
    return create_model(Component(name="mlp", params={"batch_size": 32, "lr": 1e-2, "hidden": [8], **params}),
                        "regression", seed=3)


def _folder(workdir):
    return workdir / "checkpoints" / json.loads((workdir / "checkpoint.json").read_text())["folder"]


def test_a_checkpoint_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """The pointer (checkpoint.json) names a complete folder; it is replaced only after the next folder is
    complete, so a kill in between resumes from the previous epoch; older folders are removed."""
    X, y, Xv, yv = _data()
    _mlp(epochs=2, patience=10).fit(X, y, Xv, yv, workdir=tmp_path)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["epoch-1"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("tb")) == [
        "checkpoint.json", "checkpoints", "network.pt2"]  # no temporary file left

    def killed(path, obj):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "write_json", killed)  # killed after epoch 2's folder, before its pointer
    with pytest.raises(KeyboardInterrupt):
        _mlp(epochs=3, patience=10).fit(X, y, Xv, yv, workdir=tmp_path)
    state = read_checkpoint(tmp_path)
    assert state["epoch"] == 1 and (_folder(tmp_path) / "model.safetensors").is_file()


def test_rng_states_restore_the_same_draws(tmp_path):
    """accelerate's save_state carries the RNG states; the shuffling order is a function of seed and epoch."""
    from types import SimpleNamespace

    acc = engine.make_accelerator(SimpleNamespace(device="cpu", amp=False, grad_accum=1, seed=5), None)
    torch.manual_seed(9)
    np.random.seed(9)
    acc.save_state(str(tmp_path / "state"))
    expected = torch.rand(5), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)  # what a fresh process would have
    acc.load_state(str(tmp_path / "state"))
    again = torch.rand(5), np.random.rand(3)
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    data = torch.utils.data.TensorDataset(torch.arange(20.0))
    loader = acc.prepare(torch.utils.data.DataLoader(data, batch_size=20, shuffle=True))
    orders = []
    for epoch in (0, 1, 0):
        loader.set_epoch(epoch)
        orders.append(next(iter(loader))[0])
    assert torch.equal(orders[0], orders[2]) and not torch.equal(orders[0], orders[1])


def test_mixed_precision_only_on_a_gpu_and_only_when_asked(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert engine.placement("auto", True) == (False, "bf16")
    assert engine.placement("auto", False) == (False, "no")
    assert engine.placement("cpu", True) == (True, "no")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert engine.placement("cuda", True) == (False, "fp16")  # fp16 comes with accelerate's loss scaler
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert engine.placement("auto", True) == (True, "no")


def test_a_checkpoint_without_rng_states_still_resumes(tmp_path):
    X, y, Xv, yv = _data()
    _mlp(epochs=1, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    (_folder(tmp_path) / "random_states_0.pkl").unlink()
    _mlp(epochs=2, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    assert read_checkpoint(tmp_path)["epoch"] == 1


def test_each_epoch_checkpoint_holds_what_a_resume_needs(tmp_path):
    X, y, Xv, yv = _data()
    model = _mlp(epochs=3, patience=10).fit(X, y, Xv, yv, workdir=tmp_path)
    state = read_checkpoint(tmp_path)
    assert {"net", "optimizer", "epoch", "best", "stale", "best_net", "best_epoch"} <= set(state)
    files = {p.name for p in _folder(tmp_path).iterdir()}
    assert {"model.safetensors", "optimizer.bin", "random_states_0.pkl", "best.safetensors"} <= files
    assert "custom_checkpoint_0.pkl" in files  # the scheduler
    assert state["epoch"] == 2 and state["best"] == pytest.approx(model.info["best_val_loss"])
    assert 0 <= state["stale"] < 3 and state["optimizer"]["state"]  # the optimizer's moments, not a fresh one
    for name, value in model.net_.state_dict().items():  # the model predicts with the best weights
        assert torch.equal(state["best_net"][name], value)
    # without a validation fold there is no best to keep, and nothing to stop on
    plain = _mlp(epochs=2, patience=1).fit(X, y)
    assert plain.info["best_val_loss"] is None


def test_a_resumed_fit_continues_the_saved_epoch_best_and_patience(tmp_path, monkeypatch):
    """A checkpoint after epoch 1 whose best loss (0.0) cannot be beaten and whose patience has one epoch
    left: the resumed fit runs exactly one epoch (epoch 2), keeps best 0.0 and ends on the saved best weights."""
    from common.models.torch.trainer import TorchModel

    X, y, Xv, yv = _data()
    from safetensors.torch import save_file

    first = _mlp(epochs=2, patience=50).fit(X, y, Xv, yv, workdir=tmp_path)
    state = read_checkpoint(tmp_path)
    saved_best = {k: torch.full_like(v, 0.25) for k, v in state["net"].items()}
    save_file(saved_best, str(_folder(tmp_path) / "best.safetensors"))
    pointer = json.loads((tmp_path / "checkpoint.json").read_text())
    (tmp_path / "checkpoint.json").write_text(json.dumps({**pointer, "epoch": 1, "best": 0.0, "best_loss": 0.0,
                                                          "stale": 2}))
    epochs = []
    evaluate = TorchModel._evaluate
    monkeypatch.setattr(TorchModel, "_evaluate", lambda self, loader: epochs.append(1) or evaluate(self, loader))
    resumed = _mlp(epochs=10, patience=3).fit(X, y, Xv, yv, workdir=tmp_path)
    after = read_checkpoint(tmp_path)
    assert epochs == [1] and after["epoch"] == 2 and after["stale"] == 3 and after["best"] == 0.0
    assert resumed.info["best_val_loss"] == 0.0
    for name, value in resumed.net_.state_dict().items():
        assert torch.equal(value, saved_best[name])
    assert first.info["best_val_loss"] > 0


# ---- the early-stopping rule, the wiring of the loop, what a resume trusts: exact checks the mutation
# checks (make mutate) found untested


def _scripted(monkeypatch, losses):
    """Make each epoch's validation loss the next of `losses` (the net still trains); returns those used."""
    from common.models.torch.trainer import TorchModel

    script, used = list(losses), []
    monkeypatch.setattr(TorchModel, "_evaluate",
                        lambda self, loader: used.append(script.pop(0)) or {"val_loss": used[-1]})
    return used


@pytest.mark.parametrize("losses,patience,epochs_run,best", [
    ([5, 4, 4.5, 3, 3.5, 3.6, 2], 2, 6, 3),  # two epochs without improvement after the best one stop it
    ([5, 4, 4, 4, 3], 2, 4, 4),  # the same loss again is no improvement
    ([5, 5 - 1e-7, 5 - 1e-7, 1], 2, 3, 5),  # nor is one smaller by 1e-7 or less
    ([5, 4.5, 4.2, 4.1, 4.05, 4.04], 2, 6, 4.04),  # every real improvement counts, however small
    ([float("nan")] * 3, 2, 2, None),  # a loss that never is a number stops it after `patience` epochs
])
def test_early_stopping_follows_the_validation_loss(tmp_path, monkeypatch, losses, patience, epochs_run, best):
    X, y, Xv, yv = _data()
    used = _scripted(monkeypatch, losses)
    model = _mlp(epochs=len(losses), patience=patience).fit(X, y, Xv, yv, workdir=tmp_path)
    assert len(used) == epochs_run
    assert model.info["best_val_loss"] == best
    state = read_checkpoint(tmp_path)
    assert state["epoch"] == epochs_run - 1 and state["best"] == best


def test_the_best_epochs_weights_are_the_ones_kept(tmp_path, monkeypatch):
    X, y, Xv, yv = _data()
    saved = []
    real = engine.save_checkpoint

    def recording(accelerator, workdir, epoch, loop, best_net):
        real(accelerator, workdir, epoch, loop, best_net)
        saved.append(read_checkpoint(workdir)["net"])

    monkeypatch.setattr(engine, "save_checkpoint", recording)
    _scripted(monkeypatch, [5, 3, 4, 4.5])  # epoch 1 is the best
    model = _mlp(epochs=4, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    for name, value in model.net_.state_dict().items():
        assert torch.equal(value, saved[1][name])
        assert not torch.equal(value, saved[3][name])


def test_without_a_validation_fold_every_epoch_is_trained(monkeypatch):
    from common.models.torch.trainer import TorchModel

    X, y, _, _ = _data()
    steps, loss = [], TorchModel.loss
    monkeypatch.setattr(TorchModel, "loss", lambda self, out, target: steps.append(1) or loss(self, out, target))
    model = _mlp(epochs=3, patience=1, batch_size=45).fit(X, y)
    assert len(steps) == 3 * 2 and model.info["best_val_loss"] is None  # 3 epochs of 2 batches


def test_the_loop_wiring_loaders_optimizer_progress_and_fault_points(tmp_path, monkeypatch):
    """Training batches are shuffled, validation and prediction ones are not; the optimizer gets lr and weight
    decay; the epoch bar is transient, named, shown only when asked, with the validation loss; a fault point
    follows each saved checkpoint."""
    from common.models.torch import trainer as torch_trainer
    from common.models.torch.trainer import TorchModel

    X, y, Xv, yv = _data()
    loaders, real_loader = [], TorchModel._loader
    monkeypatch.setattr(TorchModel, "_loader", lambda self, X_, y_, training: loaders.append(
        (X_ is X, X_ is Xv, y_ is y, y_ is yv, training)) or real_loader(self, X_, y_, training))
    bars, points = [], []

    class Bar:
        def __init__(self, iterable, **kwargs):
            self.iterable, self.postfix = iterable, []
            bars.append((list(iterable), kwargs, self.postfix))

        def __iter__(self):
            return iter(self.iterable)

        def set_postfix(self, **kwargs):
            self.postfix.append(kwargs)

    monkeypatch.setattr(torch_trainer, "progress_bar", Bar)
    monkeypatch.setattr(torch_trainer, "checkpoint", points.append)
    model = _mlp(epochs=2, patience=5, lr=0.02, weight_decay=0.125, progress=True, device="cpu:0")
    model.fit(X, y, Xv, yv, workdir=tmp_path).predict(Xv)
    # (X is X, X is Xv, y is y, y is yv, shuffled): training, validation, prediction
    assert loaders == [(True, False, True, False, True), (False, True, False, True, False),
                       (False, True, False, False, False)]
    (epochs, kwargs, postfix), = bars
    assert epochs == [0, 1] and kwargs == {"desc": "epochs", "leave": False, "enabled": True}
    assert len(postfix) == 2 and all(set(p) == {"loss", "val_loss", "rows_s"} for p in postfix)
    assert all(re_float(p["loss"]) and re_float(p["val_loss"]) and p["rows_s"].isdigit() for p in postfix)
    assert points == ["epoch:0", "epoch:1"]
    # timm's groups: no weight decay on biases; the scheduler's starting lr is the lr asked for
    groups = read_checkpoint(tmp_path)["optimizer"]["param_groups"]
    assert {(g["initial_lr"], g["weight_decay"]) for g in groups} == {(0.02, 0.125), (0.02, 0.0)}
    assert model.info["device"] == "cpu" and model.device_.type == "cpu"  # an explicit CPU is used


def re_float(text: str) -> bool:
    import re

    return re.fullmatch(r"\d+\.\d{4}", text) is not None


def test_a_multiclass_net_has_one_output_per_class_even_without_n_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    model = create_model(Component(name="mlp", params={"epochs": 2, "hidden": [4]}), "multiclass")
    assert model.fit(X, y).predict(X).shape == (90, 3)


def test_a_checkpoint_holding_anything_but_tensors_and_numbers_is_refused(tmp_path):
    """Checkpoints are loaded weights-only: a file that would run code when unpickled is never trusted."""
    import pickle
    from collections import OrderedDict

    X, y, Xv, yv = _data()
    _mlp(epochs=1, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    state = read_checkpoint(tmp_path)
    torch.save({**state["optimizer"], "extra": _Unsafe()}, _folder(tmp_path) / "optimizer.bin")
    with pytest.raises(pickle.UnpicklingError):
        _mlp(epochs=2, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    assert isinstance(state["net"], OrderedDict | dict)


class _Unsafe:
    """An object only a full unpickle would rebuild."""


def test_a_checkpoint_written_on_a_gpu_resumes_on_a_cpu(tmp_path):
    """A fold checkpointed on a CUDA machine (its CUDA RNG state and AMP loss scale saved) resumes on a CPU
    one: what only a GPU uses is left aside."""
    X, y, Xv, yv = _data()
    _mlp(epochs=1, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    rng_file = _folder(tmp_path) / "random_states_0.pkl"
    states = torch.load(rng_file, weights_only=False)
    torch.save({**states, "torch_cuda_manual_seed": [torch.zeros(16, dtype=torch.uint8)]}, rng_file)
    torch.save({"scale": 65536.0, "growth_factor": 2.0}, _folder(tmp_path) / "scaler.pt")
    resumed = _mlp(epochs=2, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    assert read_checkpoint(tmp_path)["epoch"] == 1 and resumed.info["device"] == "cpu"


# ---- the engine's options


def test_the_best_epoch_follows_the_contest_metric_when_one_is_given(tmp_path, monkeypatch):
    """With a metric to maximise, the epoch it scores best is kept and stopping counts from it, whatever the
    loss says; `monitor: loss` goes back to the loss."""
    from common.metrics import Metric
    from common.models.torch.trainer import TorchModel

    script = [(5.0, 0.1), (4.0, 0.5), (3.0, 0.4), (2.0, 0.3), (1.0, 0.2)]  # (loss, metric) per epoch
    used = []

    def evaluate(self, loader):
        loss, score = script[len(used)]
        used.append(1)
        return {"val_loss": loss, **({"acc": score} if self.monitored_ == "acc" else {})}

    monkeypatch.setattr(TorchModel, "_evaluate", evaluate)
    X, y, Xv, yv = _data()
    model = _mlp(epochs=5, patience=2)
    model.metric = Metric("acc", lambda t, p: 0.0, "maximize")
    model.fit(X, y, Xv, yv, workdir=tmp_path / "metric")
    assert len(used) == 4 and model.info["best_epoch"] == 1  # epochs 2 and 3 scored lower: stopped
    assert (model.info["monitor"], model.info["best_score"], model.info["best_val_loss"]) == ("acc", 0.5, 4.0)
    used.clear()
    by_loss = _mlp(epochs=5, patience=2, monitor="loss")
    by_loss.metric = model.metric
    by_loss.fit(X, y, Xv, yv, workdir=tmp_path / "loss")
    assert len(used) == 5 and by_loss.info["best_epoch"] == 4 and by_loss.info["monitor"] == "val_loss"
    with pytest.raises(ValueError, match="monitor must be"):
        _mlp(monitor="auc").fit(X, y, Xv, yv)


def test_the_fold_loop_hands_the_model_the_contest_metric(tmp_path):
    from common.metrics import get_metric
    from common.runs.train import CVContext, fit_fold

    X, y, Xv, yv = _data()
    Xa, ya = np.vstack([X, Xv]), np.concatenate([y, yv])
    spec = Component(name="mlp", params={"epochs": 3, "batch_size": 32, "hidden": [8]})
    cv = CVContext(Folds(np.r_[np.ones(90, int), np.zeros(30, int)], "kfold"), get_metric("rmse"), "regression")
    fit = fit_fold(spec, Xa, ya, np.arange(90), np.arange(90, 120), cv)
    assert fit.model.info["monitor"] == "rmse"
    rmse = float(np.sqrt(np.mean((fit.pred - yv) ** 2)))
    assert fit.model.info["best_score"] == pytest.approx(rmse, rel=1e-5)  # the metric on the original scale
    # a transformed target: the wrapped model scores its predictions back on the contest's scale
    counts = np.exp(ya)
    logged = fit_fold(spec, Xa, counts, np.arange(90), np.arange(90, 120),
                      cv.but(metric=get_metric("rmsle"), target_transform="log1p"))
    assert logged.model.info["monitor"] == "rmsle"
    assert logged.model.info["best_score"] == pytest.approx(get_metric("rmsle")(counts[90:], logged.pred), rel=1e-5)


def test_accumulation_clipping_and_ema_train_and_the_ema_weights_predict(tmp_path, monkeypatch):
    from common.models.torch.trainer import TorchModel

    X, y, Xv, yv = _data(n=400)
    X, y = np.vstack([X, Xv]), np.concatenate([y, yv])
    clipped = []
    real_step = torch.optim.AdamW.step
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, *a, **k: clipped.append(max(
        float(p.grad.norm()) for g in self.param_groups for p in g["params"] if p.grad is not None))
        or real_step(self, *a, **k))
    steps, loss = [], TorchModel.loss
    monkeypatch.setattr(TorchModel, "loss", lambda self, out, target: steps.append(1) or loss(self, out, target))
    model = _mlp(epochs=20, batch_size=30, grad_accum=2, clip_grad=0.05, ema_decay=0.5, patience=50)
    pred = model.fit(X[:300], y[:300], X[300:], y[300:], workdir=tmp_path).predict(X[300:])
    # 10 batches and one validation pass per epoch; one optimizer update per two batches
    assert len(steps) == 20 * (10 + 1) and len(clipped) == 20 * 5
    assert max(clipped) <= 0.05 + 1e-6  # each gradient is clipped to norm 0.05 before the step
    assert model.net_ is model.ema_.module  # predictions come from the EMA weights
    assert np.corrcoef(pred, y[300:])[0, 1] > 0.8


def test_a_fit_logs_to_tensorboard_and_saves_its_network(tmp_path):
    X, y, Xv, yv = _data()
    model = _mlp(epochs=2, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    program = torch.export.load(str(tmp_path / "network.pt2"))
    batch = torch.randn(7, 3)  # another batch size than the example's: the batch dimension is dynamic
    torch.testing.assert_close(program.module()(batch), model.net_.eval()(batch))


@pytest.mark.parametrize("max_samples,epochs_run", [(None, 6), (10_000, 6), (270, 3), (200, 2), (50, 1)])
def test_max_samples_cuts_the_epochs_and_the_schedule_with_them(monkeypatch, max_samples, epochs_run):
    """90 training rows: a budget of 270 rows seen is 3 epochs of the 6 asked for, one below a single epoch is
    still one; the cut schedule warms up for the same share of its updates (2 epochs of 6) and then decays."""
    from common.models.torch.trainer import TorchModel

    X, y, _, _ = _data()
    optimizers, lrs, loss = [], [], TorchModel.loss
    real = engine.make_optimizer
    monkeypatch.setattr(engine, "make_optimizer", lambda model, net: optimizers.append(real(model, net)) or optimizers[-1])
    monkeypatch.setattr(TorchModel, "loss", lambda self, out, target: (
        lrs.append(optimizers[-1].param_groups[0]["lr"]) or loss(self, out, target)))
    model = _mlp(epochs=6, warmup_epochs=2, batch_size=30, max_samples=max_samples).fit(X, y)
    assert len(lrs) == 3 * epochs_run and model.info["epochs"] == epochs_run  # 3 updates an epoch
    assert lrs[0] == pytest.approx(1e-4)  # the warmup starts at 1 % of the rate
    peak = int(np.argmax(lrs))
    assert abs(peak - epochs_run) <= 1  # a third of the updates warm up (timm peaks at its end or one after)
    if epochs_run > 1:
        assert lrs[-1] < 0.6 * lrs[peak]  # then the cosine decays it
