import numpy as np
import pandas as pd
import pytest

from common.config import Component
from common.errors import DataError
from common.data.folds import make_folds
from common.metrics import get_metric
from common.models import MODELS
from common.models.base import Model
from common.runs.train import TRAIN_FILTERS, CVContext, fit_oof, take


def _linear(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=list("abc"))
    y = X["a"].to_numpy() * 2 - X["b"].to_numpy() + rng.normal(scale=0.1, size=n)
    return X, y


def test_oof_covers_every_row_and_score_is_oof_metric():
    X, y = _linear()
    folds = make_folds(len(X), "kfold", 4, seed=0)
    mse = get_metric("mse")
    res = fit_oof(Component(name="ridge"), X, y, X.iloc[:10], CVContext(folds, mse, "regression"), progress=False)
    assert not np.isnan(res.oof).any()
    assert res.score == pytest.approx(mse(y, res.oof))
    assert len(res.fold_scores) == 4 and res.test.shape == (10,)
    assert res.score < 0.05  # a linear problem with little noise


def test_same_seed_same_cv_score_and_another_seed_another():
    X, y = _linear()
    folds = make_folds(len(X), "kfold", 3, seed=0)
    spec = Component(name="lightgbm", params={"n_estimators": 100})  # bagging and column sampling: seeded
    cv = CVContext(folds, get_metric("mse"), "regression", seed=7)
    a = fit_oof(spec, X, y, X, cv, progress=False)
    b = fit_oof(spec, X, y, X, cv, progress=False)
    assert a.score == b.score
    np.testing.assert_array_equal(a.oof, b.oof)
    other = fit_oof(spec, X, y, X, cv.but(seed=8), progress=False)
    assert other.score != a.score  # the control: a seed that never reached the model would pass the above


def test_train_filter_touches_training_rows_only():
    X, y = _linear(300)
    y = y.copy()
    y[:6] += 40  # gross outliers
    folds = make_folds(len(X), "kfold", 3, seed=0)
    mse = get_metric("mse")
    cv = CVContext(folds, mse, "regression")
    plain = fit_oof(Component(name="ridge"), X, y, X, cv, progress=False)
    filtered = fit_oof(Component(name="ridge"), X, y, X,
                       cv.but(train_filter=Component(name="residual_outliers", params={"sigma": 3})), progress=False)
    # every training fold lost exactly the outliers it held; the OOF still covers the outlier rows
    assert sum(info["dropped_rows"] for info in filtered.fold_info) == 6 * 2
    assert not np.isnan(filtered.oof[:6]).any()
    clean = slice(6, None)
    assert mse(y[clean], filtered.oof[clean]) < mse(y[clean], plain.oof[clean])


def test_time_folds_leave_warmup_rows_out_of_the_score():
    X, y = _linear(120)
    folds = make_folds(len(X), "time", 3, order=np.arange(len(X)))
    res = fit_oof(Component(name="ridge"), X, y, X, CVContext(folds, get_metric("mse"), "regression"), progress=False)
    assert np.isnan(res.oof[~folds.validated]).all() and not np.isnan(res.oof[folds.validated]).any()


class _NaNModel(Model):
    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None):
        return self

    def predict(self, X):
        return np.full(len(X), np.nan)


def test_nan_predictions_stop_with_a_clear_error(monkeypatch):
    # registered for this test only: a module-level registration would join test_models' sweep of MODELS
    monkeypatch.setitem(MODELS._entries, "nan_model_for_tests", _NaNModel)
    X, y = _linear()
    with pytest.raises(DataError, match="NaN/inf validation predictions in fold 0"):
        fit_oof(Component(name="nan_model_for_tests"), X, y, X,
                CVContext(make_folds(len(X), "kfold", 3), get_metric("mse"), "regression"), progress=False)


def test_take_slices_frames_arrays_and_lists():
    idx = np.array([2, 0])
    assert take(pd.DataFrame({"a": [1, 2, 3]}), idx)["a"].tolist() == [3, 1]
    assert take(np.array([1, 2, 3]), idx).tolist() == [3, 1]
    assert take(["x", "y", "z"], idx) == ["z", "x"]
    assert "residual_outliers" in TRAIN_FILTERS


def test_repeated_folds_average_the_oof_over_repeats_and_the_test_over_every_fold_model():
    X, y = _linear(240)
    X_test = X.iloc[:15]
    repeated = make_folds(len(X), "kfold", 4, seed=0, n_repeats=3)
    mse = get_metric("mse")
    spec = Component(name="lightgbm", params={"n_estimators": 60})
    cv = CVContext(repeated, mse, "regression", seed=5)
    res = fit_oof(spec, X, y, X_test, cv, progress=False)
    # the same model on each repeat's split alone: the repeated run is their mean, row by row
    from common.data.folds import Folds

    alone = [fit_oof(spec, X, y, X_test, cv.but(folds=Folds(a, "kfold")), progress=False)
             for a in (repeated.assignment, *repeated.repeats)]
    np.testing.assert_allclose(res.oof, np.mean([a.oof for a in alone], axis=0))
    np.testing.assert_allclose(res.test, np.mean([a.test for a in alone], axis=0))
    assert not np.allclose(alone[0].oof, alone[1].oof)  # the repeats differ, so the mean is not one of them
    assert res.score == pytest.approx(mse(y, res.oof))  # scored on the averaged OOF
    assert res.repeat_scores == pytest.approx([a.score for a in alone])
    assert len(res.fold_scores) == 4 and res.fold_scores == pytest.approx(
        [mse(y[va], res.oof[va]) for _, va in repeated.splits()])  # on the primary folds, as the blends are
    assert len(res.fit_seconds) == len(res.fold_info) == 12
    assert [(i["repeat"], i["fold"]) for i in res.fold_info] == [(r, k) for r in range(3) for k in range(4)]
    again = fit_oof(spec, X, y, X_test, cv, progress=False)
    assert again.score == res.score and np.array_equal(again.oof, res.oof)  # same seed, same CV


def test_one_repeat_is_exactly_the_plain_fold_loop():
    X, y = _linear()
    plain = make_folds(len(X), "kfold", 3, seed=1)
    once = make_folds(len(X), "kfold", 3, seed=1, n_repeats=1)
    cv = CVContext(plain, get_metric("mse"), "regression")
    a = fit_oof(Component(name="ridge"), X, y, X, cv, progress=False)
    b = fit_oof(Component(name="ridge"), X, y, X, cv.but(folds=once), progress=False)
    assert np.array_equal(a.oof, b.oof) and np.array_equal(a.test, b.test) and a.fold_scores == b.fold_scores
    assert b.repeat_scores == [] and "repeat" not in b.fold_info[0]
