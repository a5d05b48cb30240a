"""The zero-shot portfolio preset: expands to valid, distinctly labelled model blocks that all train."""
import numpy as np
import pytest
from sklearn.metrics import mean_squared_error, roc_auc_score

from common.config import Component, parse_config
from common.errors import ConfigError
from common.models import create_model
from common.models.base import check_params
from common.models.portfolio import portfolio
from tests.common.test_models import _categorical_frames

TASKS = ("regression", "binary", "multiclass")
BASE = {"data": {"train": "train.csv", "test": "test.csv", "target": "y"}}
QUICK = {"lightgbm": {"n_estimators": 150}, "xgboost": {"n_estimators": 150}, "catboost": {"n_estimators": 150},
         "random_forest": {"n_estimators": 40}, "extra_trees": {"n_estimators": 40}, "mlp": {"epochs": 25}}


def _config(task, models):
    metric = {"regression": "mse", "binary": "auc", "multiclass": "logloss"}[task]
    return parse_config({**BASE, "competition": {"name": "c", "task": task, "metric": metric}, "models": models})


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("models", ["portfolio", [{"preset": "portfolio"}]])
def test_the_preset_expands_to_valid_specs_with_distinct_labels(task, models):
    specs = _config(task, models).models
    labels = [s.run_label for s in specs]
    assert len(specs) == len(portfolio(task)) >= 12 and len(set(labels)) == len(labels)
    families = {s.name for s in specs}
    assert {"lightgbm", "catboost", "xgboost", "random_forest", "extra_trees", "knn", "mlp"} <= families
    assert sum(s.name == "lightgbm" for s in specs) >= 3  # the usual shape, extra trees, large leaves
    assert any(s.params.get("extra_trees") for s in specs if s.name == "lightgbm")
    for spec in specs:
        check_params(spec)  # no unknown param anywhere
        create_model(spec, task).check_task()


def test_a_preset_sits_beside_other_models_and_takes_exclusions():
    specs = _config("binary", [{"preset": "portfolio", "exclude": ["knn_*", "mlp_wide"]}, {"name": "svc"}]).models
    labels = [s.run_label for s in specs]
    assert "svc" in labels and "mlp" in labels and not any(lbl.startswith("knn") or lbl == "mlp_wide" for lbl in labels)


@pytest.mark.parametrize("models,message", [
    ("portfolo", r"unknown preset 'portfolo'.*Did you mean 'portfolio'"),
    ([{"preset": "portfolio", "exclude": ["zz*"]}], r"exclude \['zz\*'\] matches no 'portfolio' entry"),
    ([{"preset": "portfolio", "params": {}}], r"takes `preset` and `exclude`"),
    ([{"preset": "portfolio"}, {"name": "lightgbm"}], r"labels \['lightgbm'\] appear twice"),
])
def test_preset_mistakes_are_config_errors(models, message):
    with pytest.raises(ConfigError, match=message):
        _config("regression", models)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("index", range(len(portfolio("regression"))))
def test_every_entry_trains_on_categoricals_and_nan(task, index):
    entry = portfolio(task)[index]
    spec = Component(**{**entry, "params": {**entry.get("params", {}), **QUICK.get(entry["name"], {})}})
    X, y, Xv, yv = _categorical_frames(task)
    model = create_model(spec, task, seed=0, n_classes=3 if task == "multiclass" else None).fit(X, y, Xv, yv)
    pred = model.predict(Xv)
    assert np.all(np.isfinite(pred))
    seen = slice(10, None)  # rows with a level the training rows have
    if task == "regression":
        assert mean_squared_error(yv[seen], pred[seen]) < 0.6 * np.var(yv[seen]), spec.run_label
    elif task == "binary":
        assert roc_auc_score(yv[seen], pred[seen]) > 0.8, spec.run_label
    else:
        assert pred.shape == (100, 3) and (pred[seen].argmax(1) == yv[seen]).mean() > 0.6, spec.run_label


def test_lightgbm_leaf_size_follows_the_rows():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(2000, 3)), rng.normal(size=2000)
    model = create_model(Component(name="lightgbm", params={"min_child_frac": 0.05, "n_estimators": 5}), "regression")
    model.fit(X, y)
    assert model.booster_.params["min_child_samples"] == 100
    small = create_model(Component(name="lightgbm", params={"min_child_frac": 0.001, "n_estimators": 5}), "regression")
    assert small.fit(X, y).booster_.params["min_child_samples"] == 20  # never below the configured floor
