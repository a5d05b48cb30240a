import json

import numpy as np
import pandas as pd
import pytest
import yaml

from common import selection as selection_module
from common.config import Component, parse_config
from common.contest import Contest
from common.errors import ConfigError, DataError
from common.features import SELECTED_FEATURES, FeatureContext, build_features
from common.data.folds import make_folds
from common.metrics import get_metric
from common.selection import save_selection, select, select_contest_features
from common.runs.train import CVContext
from tests.conftest import classification_frames, write_contest

INFORMATIVE = ["a", "b", "c", "d"]
NOISE = [f"noise{i}" for i in range(8)]
# small and fast: the null-importance fits are fixed-round LightGBM runs on a few hundred rows
LGBM = Component(name="lightgbm", params={"n_estimators": 300, "learning_rate": 0.1, "num_leaves": 7,
                                          "early_stopping_rounds": 30, "num_threads": 1})


def _problem(n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(INFORMATIVE) + len(NOISE))), columns=INFORMATIVE + NOISE)
    y = 2 * X["a"] - 1.5 * X["b"] + np.sin(2 * X["c"]) + 0.8 * X["d"] * X["a"] + rng.normal(scale=0.3, size=n)
    return X, y.to_numpy(), make_folds(n, "kfold", 4, seed=0)


@pytest.mark.parametrize("method, spec", [("permutation", Component(name="ridge")), ("permutation", LGBM),
                                          ("null", LGBM)])
def test_selection_keeps_informative_columns_and_drops_noise(method, spec):
    X, y, folds = _problem()
    sel = select(method, spec, X, y, CVContext(folds, get_metric("mse"), "regression"), n_repeats=3, progress=False)
    kept = set(sel.kept)
    if spec.name == "ridge":  # a linear model only sees the linear signal in a and b
        assert {"a", "b"} <= kept
    else:
        assert set(INFORMATIVE) <= kept
    assert len(kept & set(NOISE)) <= 2, sel.table
    assert {"feature", "importance", "importance_std", "score", "kept"} <= set(sel.table.columns)
    assert list(sel.table["feature"][:len(kept)]) == sel.kept  # best first
    if method == "null":  # no threshold given: the cut was chosen by CV among a few sizes, all columns included
        assert len(sel.cuts) >= 3 and sel.cuts[-1][0] == len(X.columns)
    assert sel.score_kept is not None and sel.score_kept <= sel.score_all * 1.1  # dropping noise costs nothing


def test_null_importance_needs_a_model_with_gain_importance():
    X, y, folds = _problem(200)
    with pytest.raises(ConfigError, match="permutation"):
        select("null", Component(name="ridge"), X, y, CVContext(folds, get_metric("mse"), "regression"), progress=False)


def _ctx(n, root):
    return FeatureContext("target", ("id",), "regression", make_folds(n, "kfold", 3), 0, root)


def _frames(n=60):
    X, y, _ = _problem(n)
    train = X.assign(id=np.arange(n), target=y)
    return train, X.iloc[:20].assign(id=np.arange(20))


def test_saved_selection_feeds_the_select_features_step(tmp_path):
    X, y, folds = _problem(300)
    sel = select("permutation", Component(name="ridge"), X, y, CVContext(folds, get_metric("mse"), "regression"),
                 progress=False)
    paths = save_selection(sel, tmp_path, "mse")
    assert paths["table"].is_file() and paths["plot"].is_file() and paths["features"] == tmp_path / SELECTED_FEATURES
    saved = json.loads(paths["features"].read_text())
    assert saved["features"] == sel.kept and set(saved["dropped"]) == set(sel.dropped)

    train, test = _frames()
    steps = [Component(name="select_features")]
    fs = build_features(train, test, steps, _ctx(len(train), tmp_path), tmp_path / "cache", "data", log=lambda _: None)
    assert set(fs.X.columns) == set(sel.kept) and list(fs.X.columns) == list(fs.X_test.columns)

    # a new list (stage 06 rerun) must not be served from the step's cache
    paths["features"].write_text(json.dumps({"features": ["a", "noise0"]}))
    fs = build_features(train, test, steps, _ctx(len(train), tmp_path), tmp_path / "cache", "data", log=lambda _: None)
    assert list(fs.X.columns) == ["a", "noise0"]


def test_select_features_without_a_list_says_to_run_stage_06(tmp_path):
    train, test = _frames()
    with pytest.raises(DataError, match="Run stage 06 first"):
        build_features(train, test, [Component(name="select_features")], _ctx(len(train), tmp_path),
                       tmp_path / "cache", "data", log=lambda _: None)
    (tmp_path / "mine.json").write_text(json.dumps({"features": ["a", "not_a_column"]}))
    with pytest.raises(DataError, match="not_a_column"):
        build_features(train, test, [Component(name="select_features", params={"path": "mine.json"})],
                       _ctx(len(train), tmp_path), tmp_path / "cache", "data", log=lambda _: None)


def test_selection_config_block_is_validated():
    base = {"competition": {"name": "x", "task": "regression", "metric": "mse"},
            "data": {"train": "t.csv", "test": "s.csv", "target": "y"}, "models": [{"name": "ridge"}]}
    cfg = parse_config({**base, "optimize": {"selection": {"method": "null", "model": {"name": "lightgbm"},
                                                           "n_repeats": 2, "threshold": 0.5}}})
    assert cfg.optimize.selection.method == "null" and cfg.optimize.selection.n_repeats == 2
    assert parse_config(base).optimize.selection is None
    with pytest.raises(ConfigError, match="threshhold"):
        parse_config({**base, "optimize": {"selection": {"threshhold": 1}}})
    with pytest.raises(ConfigError, match="method"):
        parse_config({**base, "optimize": {"selection": {"method": "boruta"}}})


def test_stage_06_selects_and_stage_04_trains_on_the_kept_columns(regression_contest):
    import shutil

    import yaml

    from tests.conftest import REPO, run_script

    root = regression_contest
    shutil.copytree(REPO / "competitions" / "steam" / "stages", root / "stages")
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["models"] = [{"name": "ridge"}]
    config["features"] = [{"name": "select_features"}]
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    early = run_script(root / "stages" / "04_train.py")
    assert early.returncode == 2 and "Run stage 06 first" in early.stderr

    config["optimize"] = {"selection": {"method": "permutation", "model": {"name": "ridge"}}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    done = run_script(root / "stages" / "06_optimize.py")
    assert done.returncode == 0, done.stderr
    assert "selection (permutation): kept" in done.stdout and "search skipped" in done.stdout
    assert (root / "reports" / "feature_importance.csv").is_file() and (root / "reports" / "feature_importance.png").is_file()
    kept = json.loads((root / SELECTED_FEATURES).read_text())["features"]

    trained = run_script(root / "stages" / "04_train.py")
    assert trained.returncode == 0, trained.stderr
    meta = json.loads(next((root / "runs").glob("ridge-*/meta.json")).read_text())
    assert meta["features"] == [c for c in meta["features"] if c in kept] and sorted(meta["features"]) == sorted(kept)


def test_stage_06_selection_is_read_back_on_a_rerun_and_redone_when_a_setting_changes(tmp_path, monkeypatch):
    train, test = classification_frames(200, 50)
    config = {"competition": {"name": "x", "task": "binary", "metric": "auc"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "label"},
              "models": [{"name": "logistic"}],
              "optimize": {"model": {"name": "logistic"}, "selection": {"n_repeats": 1}}}
    root = write_contest(tmp_path / "x", config, train, test)
    first, paths = select_contest_features(Contest.load(root), progress=False)
    fits = []
    monkeypatch.setattr(selection_module, "select", lambda *a, **k: fits.append(a) or first)
    again, same_paths = select_contest_features(Contest.load(root), progress=False)
    assert fits == [] and same_paths == paths
    assert again.kept == first.kept and again.score_all == first.score_all and again.table.equals(first.table)
    config["optimize"]["selection"]["n_repeats"] = 2  # another setting: selected again
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    select_contest_features(Contest.load(root), progress=False)
    assert len(fits) == 1
