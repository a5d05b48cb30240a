"""Target transforms: fitted per fold, inverted before scoring; a log target beats raw values on rmsle."""
import numpy as np
import pytest

from common.config import Component
from common.errors import DataError
from common.data.folds import make_folds
from common.metrics import get_metric
from common.models.target import TARGET_TRANSFORMS
from common.runs.train import CVContext, fit_oof


@pytest.mark.parametrize("name", TARGET_TRANSFORMS.list())
def test_transforms_invert_exactly(name):
    y = np.random.default_rng(0).lognormal(3, 1, 500)
    t = TARGET_TRANSFORMS.create(name).fit(y)
    np.testing.assert_allclose(t.inverse(t.transform(y)), y, rtol=1e-8)
    assert abs(np.mean(t.transform(y))) < abs(np.mean(y))  # it does move the target


def test_log1p_refuses_targets_below_minus_one():
    with pytest.raises(DataError, match="log1p needs a target above -1.*yeo-johnson"):
        TARGET_TRANSFORMS.create("log1p").fit(np.array([-3.0, 1.0]))


def test_log_target_predictions_come_back_on_the_contest_scale_and_score_better():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    y = np.exp(2 + X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.2, size=600))  # multiplicative: log-linear
    folds = make_folds(600, "kfold", 4, seed=0)
    rmsle = get_metric("rmsle")
    cv = CVContext(folds, rmsle, "regression")
    raw = fit_oof(Component(name="ridge"), X, y, X[:50], cv, progress=False)
    logged = fit_oof(Component(name="ridge"), X, y, X[:50], cv.but(target_transform="log1p"), progress=False)
    assert logged.oof.min() > -1 and np.median(logged.oof) == pytest.approx(np.median(y), rel=0.3)
    assert logged.score < 0.5 * raw.score
    assert logged.test.mean() == pytest.approx(y[:50].mean(), rel=0.3)  # test predictions inverted too
