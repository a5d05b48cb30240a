"""The torch trainer's checkpoint on its own (small MLPs, a second or two in all): what a checkpoint holds,
that it is written atomically, that the RNG states it carries restore the very same draws, and that a
resumed fit continues the saved epoch count, best loss, patience and best weights rather than starting over."""
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from common.config import Component  # noqa: E402
from common.models import create_model  # noqa: E402
from common.models.torch_trainer import _rng_state, _save_checkpoint, _set_rng_state  # noqa: E402

CPU = SimpleNamespace(type="cpu")


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X[:, 0] - 0.5 * X[:, 1] + rng.normal(scale=0.1, size=n)
    return X[:90], y[:90], X[90:], y[90:]


def _mlp(**params):
    return create_model(Component(name="mlp", params={"batch_size": 32, "lr": 1e-2, "hidden": [8], **params}),
                        "regression", seed=3)


class _Scaler:
    def __init__(self, enabled, state=None):
        self.enabled, self.state, self.loaded = enabled, state or {"scale": 1024.0}, None

    def is_enabled(self):
        return self.enabled

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.loaded = state


def test_a_checkpoint_is_written_whole_or_not_at_all(tmp_path):
    path = tmp_path / "work" / "fold0" / "last.pt"
    _save_checkpoint(path, {"epoch": 1, "w": torch.arange(3)})
    _save_checkpoint(path, {"epoch": 2, "w": torch.arange(4)})  # replaces
    state = torch.load(path, weights_only=True)
    assert state["epoch"] == 2 and torch.equal(state["w"], torch.arange(4))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary file left


def test_rng_states_restore_the_same_draws():
    generator = torch.Generator().manual_seed(5)
    torch.manual_seed(9)
    state = _rng_state(generator, _Scaler(False), CPU)
    assert set(state) == {"loader_rng", "torch_rng"}  # on the CPU, without AMP: nothing else decides an epoch
    expected = (torch.randperm(20, generator=generator), torch.rand(5))
    torch.manual_seed(123)
    generator.manual_seed(456)  # what a fresh process would have
    _set_rng_state(state, generator, _Scaler(False), CPU)
    again = (torch.randperm(20, generator=generator), torch.rand(5))
    assert torch.equal(expected[0], again[0]) and torch.equal(expected[1], again[1])


def test_the_amp_loss_scale_travels_with_the_checkpoint_only_when_amp_is_on():
    generator = torch.Generator().manual_seed(0)
    on, off = _Scaler(True, {"scale": 256.0}), _Scaler(False)
    state = _rng_state(generator, on, CPU)
    assert state["scaler"] == {"scale": 256.0}
    fresh = _Scaler(True)
    _set_rng_state(state, generator, fresh, CPU)
    assert fresh.loaded == {"scale": 256.0}
    _set_rng_state(state, generator, off, CPU)
    assert off.loaded is None  # a scaler that is off ignores a saved scale


def test_a_checkpoint_from_before_rng_states_were_saved_still_resumes():
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(2)
    draws_before = torch.get_rng_state().clone(), generator.get_state().clone()
    _set_rng_state({"epoch": 0, "torch_rng": torch.ByteTensor(torch.get_rng_state().numel()).zero_()},
                   generator, _Scaler(True), CPU)
    assert torch.equal(torch.get_rng_state(), draws_before[0]) and torch.equal(generator.get_state(), draws_before[1])


def test_each_epoch_checkpoint_holds_what_a_resume_needs(tmp_path):
    X, y, Xv, yv = _data()
    model = _mlp(epochs=3, patience=10).fit(X, y, Xv, yv, workdir=tmp_path)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert {"net", "optimizer", "epoch", "best", "stale", "best_net", "loader_rng", "torch_rng"} <= set(state)
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
    from common.models.torch_trainer import TorchModel

    X, y, Xv, yv = _data()
    first = _mlp(epochs=2, patience=50).fit(X, y, Xv, yv, workdir=tmp_path)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    saved_best = {k: torch.full_like(v, 0.25) for k, v in state["net"].items()}
    torch.save({**state, "epoch": 1, "best": 0.0, "stale": 2, "best_net": saved_best}, tmp_path / "last.pt")
    epochs = []
    evaluate = TorchModel._evaluate
    monkeypatch.setattr(TorchModel, "_evaluate", lambda self, loader: epochs.append(1) or evaluate(self, loader))
    resumed = _mlp(epochs=10, patience=3).fit(X, y, Xv, yv, workdir=tmp_path)
    after = torch.load(tmp_path / "last.pt", weights_only=True)
    assert epochs == [1] and after["epoch"] == 2 and after["stale"] == 3 and after["best"] == 0.0
    assert resumed.info["best_val_loss"] == 0.0
    for name, value in resumed.net_.state_dict().items():
        assert torch.equal(value, saved_best[name])
    assert first.info["best_val_loss"] > 0


# ---- the early-stopping rule, the wiring of the loop, what a resume trusts: exact checks the mutation
# checks (make mutate) found untested


def _scripted(monkeypatch, losses):
    """Make each epoch's validation loss the next of `losses` (the net still trains); returns those used."""
    from common.models.torch_trainer import TorchModel

    script, used = list(losses), []
    monkeypatch.setattr(TorchModel, "_evaluate", lambda self, loader: used.append(script.pop(0)) or used[-1])
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
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["epoch"] == epochs_run - 1 and state["best"] == (np.inf if best is None else best)


def test_the_best_epochs_weights_are_the_ones_kept(tmp_path, monkeypatch):
    from common.models import torch_trainer

    X, y, Xv, yv = _data()
    saved = []
    real = torch_trainer._save_checkpoint
    def recording(path, state):
        saved.append({k: v.clone() for k, v in state["net"].items()})
        real(path, state)

    monkeypatch.setattr(torch_trainer, "_save_checkpoint", recording)
    _scripted(monkeypatch, [5, 3, 4, 4.5])  # epoch 1 is the best
    model = _mlp(epochs=4, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    for name, value in model.net_.state_dict().items():
        assert torch.equal(value, saved[1][name])
        assert not torch.equal(value, saved[3][name])


def test_without_a_validation_fold_every_epoch_is_trained(monkeypatch):
    from common.models.torch_trainer import TorchModel

    X, y, _, _ = _data()
    steps, loss = [], TorchModel.loss
    monkeypatch.setattr(TorchModel, "loss", lambda self, out, target: steps.append(1) or loss(self, out, target))
    model = _mlp(epochs=3, patience=1, batch_size=45).fit(X, y)
    assert len(steps) == 3 * 2 and model.info["best_val_loss"] is None  # 3 epochs of 2 batches


def test_the_loop_wiring_loaders_optimizer_progress_and_fault_points(tmp_path, monkeypatch):
    """Training batches are shuffled, validation and prediction ones are not; the optimizer gets lr and weight
    decay; the epoch bar is transient, named, shown only when asked, with the validation loss; a fault point
    follows each saved checkpoint."""
    from common.models import torch_trainer
    from common.models.torch_trainer import TorchModel

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
    assert len(postfix) == 2 and all(set(p) == {"val_loss"} and re_float(p["val_loss"]) for p in postfix)
    assert points == ["epoch:0", "epoch:1"]
    group = torch.load(tmp_path / "last.pt", weights_only=True)["optimizer"]["param_groups"][0]
    assert (group["lr"], group["weight_decay"]) == (0.02, 0.125)
    assert model.info["device"] == "cpu:0" and str(model.device_) == "cpu:0"  # an explicit device is used as given


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
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    torch.save({**state, "extra": _Scaler(False)}, tmp_path / "last.pt")
    with pytest.raises(pickle.UnpicklingError):
        _mlp(epochs=2, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    assert isinstance(state["net"], OrderedDict | dict)


def test_a_checkpoint_written_on_a_gpu_resumes_on_a_cpu(tmp_path):
    """A fold checkpointed on a CUDA machine (its CUDA RNG state and AMP loss scale saved) resumes on a CPU
    one: what only a GPU uses is left aside."""
    X, y, Xv, yv = _data()
    _mlp(epochs=1, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    torch.save({**state, "cuda_rng": torch.zeros(16, dtype=torch.uint8), "scaler": {"scale": 65536.0}},
               tmp_path / "last.pt")
    resumed = _mlp(epochs=2, patience=5).fit(X, y, Xv, yv, workdir=tmp_path)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 1 and resumed.info["device"] == "cpu"
