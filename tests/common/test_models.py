"""Every registered model, on every task it supports: fits, predicts the right shape, learns, is reproducible."""
import numpy as np
import pytest
from sklearn.metrics import mean_squared_error, roc_auc_score

from common.config import Component
from common.models import MODELS, create_model

FAST = {  # keep the parametrized suite quick: fewer trees/epochs than the defaults
    "lightgbm": {"n_estimators": 150, "learning_rate": 0.1},
    "xgboost": {"n_estimators": 150, "eta": 0.1},
    "catboost": {"n_estimators": 150, "learning_rate": 0.1},
    "random_forest": {"n_estimators": 50},
    "extra_trees": {"n_estimators": 50},
    "mlp": {"epochs": 40, "patience": 5, "batch_size": 64, "lr": 3e-3},
    "fasttext": {"epochs": 30, "patience": 5, "lr": 2e-2},
    "textcnn": {"epochs": 20, "patience": 5},
    "bigru": {"epochs": 20, "patience": 5},
    "tfidf_lightgbm": {"n_estimators": 200, "early_stopping_rounds": 20},
    "bert": {"epochs": 15, "patience": 5, "pretrain_epochs": 1, "max_len": 32, "lr": 3e-3},
}


def _data(task, n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    signal = X[:, 0] + 0.5 * X[:, 1] ** 2 - 0.5 * X[:, 2]
    if task == "regression":
        y = signal + rng.normal(scale=0.3, size=n)
    elif task == "binary":
        y = (signal + rng.normal(scale=0.5, size=n) > np.median(signal)).astype(int)
    elif task == "sequence":  # strings of 1-2 characters: the first from the signal, the second present when x3 > 0
        y = _strings(signal, X[:, 3])
    else:
        y = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
    return X[:300], y[:300], X[300:], y[300:]


def _strings(signal, switch):
    from common.data.sequence import encode_sequences

    first = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3])).astype(str)
    texts = [a + ("7" if s > 0 else "") for a, s in zip(first, switch)]
    return encode_sequences(texts, ("0", "1", "2", "7"))


# Each factory says which tasks it handles; a newly registered model is tested without a new test.
# Image models are left out: their input is image files, not these rows (tests/common/test_torch_image.py).
CASES = [(name, task) for name in MODELS.list() for task in MODELS.get(name)().tasks
         if "image" not in MODELS.get(name)().takes]
TABULAR = [(name, task) for name, task in CASES if "text" not in MODELS.get(name)().takes]


def _as_text(X, seed=0):
    """The same rows as documents: each feature's value bin is a token, among filler tokens, so a text model
    can find the signal a tabular one finds."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    bins = np.digitize(X, [-1.0, -0.3, 0.3, 1.0])
    docs = [" ".join([*(f"f{j}b{b}" for j, b in enumerate(row)), *map(str, rng.integers(0, 50, 8))]) for row in bins]
    return pd.DataFrame({"text": docs})


@pytest.mark.parametrize("name,task", CASES)
def test_model_learns(name, task):
    X, y, Xv, yv = _data(task)
    if "text" in MODELS.get(name)().takes:  # a text model reads documents: the same signal written as tokens
        X, Xv = _as_text(X), _as_text(Xv, seed=1)
    n_classes = {"multiclass": 3, "sequence": 5}.get(task)
    model = create_model(Component(name=name, params=FAST.get(name, {})), task, seed=0, n_classes=n_classes)
    assert model.fit(X, y, Xv, yv) is model
    pred = model.predict(Xv)
    if task == "sequence":
        from common.metrics import get_metric

        assert pred.shape == (100, 2, 5)
        np.testing.assert_allclose(pred.sum(axis=2), 1, atol=1e-5)
        assert get_metric("string_accuracy")(yv, pred) > 0.6
    elif task == "regression":
        assert pred.shape == (100,)
        assert mean_squared_error(yv, pred) < 0.6 * np.var(yv)  # clearly better than predicting the mean
    elif task == "binary":
        assert pred.shape == (100,) and pred.min() >= 0 and pred.max() <= 1
        assert roc_auc_score(yv, pred) > 0.75
    else:
        assert pred.shape == (100, 3)
        np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-5)
        assert (pred.argmax(1) == yv).mean() > 0.55


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "catboost", "mlp"])
def test_same_seed_same_predictions_and_another_seed_others(name):
    """Each of these draws random numbers (bagging, column samples, random strength, init and shuffles):
    the seed must reach them, and only the seed may decide them."""
    X, y, Xv, yv = _data("regression")
    spec = Component(name=name, params=FAST.get(name, {}))
    a = create_model(spec, "regression", seed=3).fit(X, y, Xv, yv).predict(Xv)
    b = create_model(spec, "regression", seed=3).fit(X, y, Xv, yv).predict(Xv)
    np.testing.assert_array_equal(a, b)
    other = create_model(spec, "regression", seed=4).fit(X, y, Xv, yv).predict(Xv)
    assert not np.array_equal(a, other)  # the control: an ignored seed would give the same predictions


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "catboost"])
def test_gbdt_early_stopping_on_validation_fold(name):
    X, y, Xv, yv = _data("regression")
    params = {**FAST[name], "n_estimators": 3000, "early_stopping_rounds": 20}
    model = create_model(Component(name=name, params=params), "regression").fit(X, y, Xv, yv)
    assert 1 <= model.info["best_iteration"] < 3000


def test_regression_only_model_refuses_classification():
    with pytest.raises(ValueError, match="pick another model"):
        create_model(Component(name="ridge"), "binary")


def _count_epochs(monkeypatch) -> list:
    """Count the epochs a TorchModel fit runs (each ends with one validation pass)."""
    from common.models.torch.trainer import TorchModel

    calls, evaluate = [], TorchModel._evaluate
    monkeypatch.setattr(TorchModel, "_evaluate", lambda self, loader: calls.append(1) or evaluate(self, loader))
    return calls


def test_mlp_resumes_from_its_checkpoint_exactly(tmp_path, monkeypatch):
    """A fit stopped after 3 of 6 epochs, resumed: it runs the 3 missing epochs only, from the saved weights,
    optimizer and RNG states, and ends exactly where an uninterrupted 6-epoch fit ends."""
    import torch

    from common.models.torch import trainer as torch_trainer
    from common.models.torch.engine import read_checkpoint
    from common.models.torch.trainer import TorchModel

    X, y, Xv, yv = _data("regression")
    params = {"epochs": 6, "patience": 50, "batch_size": 64, "lr": 3e-3}
    mlp = lambda **p: create_model(Component(name="mlp", params={**params, **p}), "regression", seed=1)  # noqa: E731
    epochs = _count_epochs(monkeypatch)
    whole = mlp().fit(X, y, Xv, yv, workdir=tmp_path / "whole").predict(Xv)
    assert len(epochs) == 6

    def kill(point):  # the run a kill cuts short after epoch 3 (its schedule still planned for 6 epochs)
        if point == "epoch:2":
            raise KeyboardInterrupt

    monkeypatch.setattr(torch_trainer, "checkpoint", kill)
    with pytest.raises(KeyboardInterrupt):
        mlp().fit(X, y, Xv, yv, workdir=tmp_path / "stopped")
    monkeypatch.setattr(torch_trainer, "checkpoint", lambda point: None)
    saved = read_checkpoint(tmp_path / "stopped")
    assert saved["epoch"] == 2
    epochs.clear()
    start_weights, loss = {}, TorchModel.loss

    def first_step(self, out, target):  # record the weights the first resumed training step starts from
        if not start_weights:
            start_weights.update({k: v.detach().clone() for k, v in self.net_.state_dict().items()})
        return loss(self, out, target)

    monkeypatch.setattr(TorchModel, "loss", first_step)
    pred = mlp().fit(X, y, Xv, yv, workdir=tmp_path / "stopped").predict(Xv)
    assert len(epochs) == 3  # epochs 4-6 only
    for name, value in saved["net"].items():
        torch.testing.assert_close(start_weights[name], value, rtol=0, atol=0)
    np.testing.assert_array_equal(pred, whole)


def test_mlp_that_stopped_early_resumes_without_training_more(tmp_path, monkeypatch):
    X, y, Xv, yv = _data("regression")
    spec = Component(name="mlp", params={"epochs": 200, "patience": 1, "batch_size": 64, "lr": 3e-2})
    epochs = _count_epochs(monkeypatch)
    first = create_model(spec, "regression").fit(X, y, Xv, yv, workdir=tmp_path).predict(Xv)
    assert len(epochs) < 200  # it stopped early: the fold is finished, its checkpoint says so
    epochs.clear()
    again = create_model(spec, "regression").fit(X, y, Xv, yv, workdir=tmp_path).predict(Xv)
    assert epochs == [] and np.array_equal(again, first)


def _categorical_frames(task, n=500, seed=0):
    """Numbers with NaN, a string category carrying most of the signal (with NaN as a level of its own),
    and test rows holding a level no training row has."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    levels = np.array(["a", "b", "c", "d", "e"])
    cat = rng.choice(levels, n).astype(object)
    cat[rng.random(n) < 0.1] = None
    effect = pd.Series(cat).map({"a": -2.0, "b": -1.0, "c": 0.0, "d": 1.0, "e": 2.0}).fillna(3.0).to_numpy()
    x = rng.normal(size=n)
    signal = effect + 0.5 * x
    x[rng.random(n) < 0.1] = np.nan
    if task == "regression":
        y = signal + rng.normal(scale=0.3, size=n)
    elif task == "binary":
        y = (signal + rng.normal(scale=0.5, size=n) > np.median(signal)).astype(int)
    elif task == "sequence":
        y = _strings(signal, rng.normal(size=n))
    else:
        y = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
    frame = pd.DataFrame({"x": x, "noise": rng.normal(size=n), "cat": cat})
    frame["cat"] = frame["cat"].astype(pd.CategoricalDtype([*levels, "unseen"]))
    train, valid = frame.iloc[:400], frame.iloc[400:].copy()
    valid.iloc[:10, 2] = "unseen"
    return train, y[:400], valid, y[400:]


@pytest.mark.parametrize("name,task", TABULAR)
def test_model_takes_categoricals_nan_and_unseen_levels(name, task):
    X, y, Xv, yv = _categorical_frames(task)
    model = create_model(Component(name=name, params=FAST.get(name, {})), task, seed=0,
                         n_classes={"multiclass": 3, "sequence": 5}.get(task))
    model.fit(X, y, Xv, yv)
    pred = model.predict(Xv)
    assert np.all(np.isfinite(pred))
    seen = slice(10, None)  # the category carries the signal: a model that used it beats the numbers alone
    if task == "sequence":
        from common.data.sequence import whole_string_hits

        first_right = (pred[seen, 0].argmax(-1) == yv[seen, 0]).mean()  # the first character follows the category
        assert first_right > 0.7 and whole_string_hits(yv, pred).shape == (100,)
    elif task == "regression":
        assert mean_squared_error(yv[seen], pred[seen]) < 0.5 * np.var(yv[seen])
    elif task == "binary":
        assert roc_auc_score(yv[seen], pred[seen]) > 0.85
    else:
        assert pred.shape == (100, 3) and (pred[seen].argmax(1) == yv[seen]).mean() > 0.7


@pytest.mark.parametrize("name", MODELS.list())
def test_unknown_params_are_refused_with_a_suggestion(name):
    from common.errors import ConfigError
    from common.models.base import accepted_params

    accepted = accepted_params(name)
    if accepted is None:  # the GBDTs hand params to their library, which checks the names itself
        assert name in ("lightgbm", "xgboost", "catboost")
        return
    typo = sorted(accepted)[0] + "s"
    with pytest.raises(ConfigError, match=rf"model '{name}' has no param\(s\) \['{typo}'\].*Did you mean"):
        create_model(Component(name=name, params={typo: 1}), MODELS.get(name)().tasks[0])
    for param in FAST.get(name, {}):  # what the suite itself uses is accepted
        assert param in accepted
