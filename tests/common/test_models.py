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
}


def _data(task, n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    signal = X[:, 0] + 0.5 * X[:, 1] ** 2 - 0.5 * X[:, 2]
    if task == "regression":
        y = signal + rng.normal(scale=0.3, size=n)
    elif task == "binary":
        y = (signal + rng.normal(scale=0.5, size=n) > np.median(signal)).astype(int)
    else:
        y = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
    return X[:300], y[:300], X[300:], y[300:]


# Each factory says which tasks it handles; a newly registered model is tested without a new test.
CASES = [(name, task) for name in MODELS.list() for task in MODELS.get(name)().tasks]


@pytest.mark.parametrize("name,task", CASES)
def test_model_learns(name, task):
    X, y, Xv, yv = _data(task)
    model = create_model(Component(name=name, params=FAST.get(name, {})), task, seed=0, n_classes=3 if task == "multiclass" else None)
    assert model.fit(X, y, Xv, yv) is model
    pred = model.predict(Xv)
    if task == "regression":
        assert pred.shape == (100,)
        assert mean_squared_error(yv, pred) < 0.6 * np.var(yv)  # clearly better than predicting the mean
    elif task == "binary":
        assert pred.shape == (100,) and pred.min() >= 0 and pred.max() <= 1
        assert roc_auc_score(yv, pred) > 0.75
    else:
        assert pred.shape == (100, 3)
        np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-5)
        assert (pred.argmax(1) == yv).mean() > 0.55


@pytest.mark.parametrize("name", ["ridge", "lightgbm", "xgboost", "catboost", "mlp"])
def test_same_seed_same_predictions(name):
    X, y, Xv, yv = _data("regression")
    spec = Component(name=name, params=FAST.get(name, {}))
    a = create_model(spec, "regression", seed=3).fit(X, y, Xv, yv).predict(Xv)
    b = create_model(spec, "regression", seed=3).fit(X, y, Xv, yv).predict(Xv)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "catboost"])
def test_gbdt_early_stopping_on_validation_fold(name):
    X, y, Xv, yv = _data("regression")
    params = {**FAST[name], "n_estimators": 3000, "early_stopping_rounds": 20}
    model = create_model(Component(name=name, params=params), "regression").fit(X, y, Xv, yv)
    assert 1 <= model.info["best_iteration"] < 3000


def test_regression_only_model_refuses_classification():
    with pytest.raises(ValueError, match="pick another model"):
        create_model(Component(name="ridge"), "binary")


def test_mlp_checkpoints_and_resumes(tmp_path):
    X, y, Xv, yv = _data("regression")
    spec = Component(name="mlp", params={"epochs": 3, "patience": 10})
    create_model(spec, "regression").fit(X, y, Xv, yv, workdir=tmp_path)
    assert (tmp_path / "last.pt").is_file()
    # A later fit with more epochs picks up from epoch 3 instead of starting over.
    longer = create_model(Component(name="mlp", params={"epochs": 5, "patience": 10}), "regression")
    longer.fit(X, y, Xv, yv, workdir=tmp_path)
    import torch

    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 4


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
    else:
        y = np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))
    frame = pd.DataFrame({"x": x, "noise": rng.normal(size=n), "cat": cat})
    frame["cat"] = frame["cat"].astype(pd.CategoricalDtype([*levels, "unseen"]))
    train, valid = frame.iloc[:400], frame.iloc[400:].copy()
    valid.iloc[:10, 2] = "unseen"
    return train, y[:400], valid, y[400:]


@pytest.mark.parametrize("name,task", CASES)
def test_model_takes_categoricals_nan_and_unseen_levels(name, task):
    X, y, Xv, yv = _categorical_frames(task)
    model = create_model(Component(name=name, params=FAST.get(name, {})), task, seed=0,
                         n_classes=3 if task == "multiclass" else None)
    model.fit(X, y, Xv, yv)
    pred = model.predict(Xv)
    assert np.all(np.isfinite(pred))
    seen = slice(10, None)  # the category carries the signal: a model that used it beats the numbers alone
    if task == "regression":
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
