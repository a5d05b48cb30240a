"""What every blend promises, on random predictions (hypothesis): weighted and hill-climbing weights are
non-negative and sum to one, so a blend is a convex combination of the runs (each row between the runs'
lowest and highest prediction; probabilities stay probabilities); the rank blend's order of rows does not
change when one run goes through a strictly increasing function; nested scoring keeps those bounds."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.config import Component
from common.ensemble import ENSEMBLERS, blend
from common.data.folds import make_folds
from common.metrics import get_metric

SETTINGS = settings(max_examples=30, deadline=None)
TOL = 1e-9
# small rationals: ties happen (as in real rounded predictions) and every transform below stays strict
VALUES = st.integers(-60, 60).map(lambda v: v / 7)
INCREASING = {
    "affine": lambda x: 3 * x + 1,
    "cube": lambda x: x ** 3,
    "exp": np.exp,
    "arctan": np.arctan,
    "logistic": lambda x: 1 / (1 + np.exp(-x)),
}


@st.composite
def runs(draw, n_min=4, n_max=40, m_max=4):
    """(P, y): m runs' predictions of n rows and a regression target."""
    n, m = draw(st.integers(n_min, n_max)), draw(st.integers(2, m_max))
    P = np.array(draw(st.lists(VALUES, min_size=n * m, max_size=n * m))).reshape(n, m)
    y = np.array(draw(st.lists(VALUES, min_size=n, max_size=n)))
    return P, y


@st.composite
def binary_runs(draw):
    """(P, y): m runs' probabilities of n rows and a 0/1 target holding both classes."""
    n, m = draw(st.integers(6, 40)), draw(st.integers(2, 4))
    P = np.array(draw(st.lists(st.integers(1, 99), min_size=n * m, max_size=n * m))).reshape(n, m) / 100
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[:2] = [0, 1]
    return P, y


def assert_convex(out: np.ndarray, P: np.ndarray) -> None:
    assert out.shape == (P.shape[0], *P.shape[2:])
    assert np.all(out >= P.min(axis=1) - TOL) and np.all(out <= P.max(axis=1) + TOL)


def assert_weights(weights: np.ndarray, m: int) -> None:
    assert weights.shape == (m,) and np.all(np.isfinite(weights))
    assert np.all(weights >= 0) and weights.sum() == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("name", ["weighted", "hill_climb"])
@SETTINGS
@given(data=runs())
def test_regression_weights_are_convex_and_so_is_the_blend(name, data):
    P, y = data
    fitted = ENSEMBLERS.create(name, get_metric("mse"), "regression").fit(P, y)
    assert_weights(fitted.weights_, P.shape[1])
    assert_convex(fitted.predict(P), P)
    np.testing.assert_allclose(fitted.predict(P), P @ fitted.weights_)


@pytest.mark.parametrize("name", ["weighted", "hill_climb"])
@pytest.mark.parametrize("metric", ["auc", "logloss", "accuracy"])
@settings(max_examples=15, deadline=None)
@given(data=binary_runs())
def test_binary_weights_are_convex_for_every_kind_of_metric(name, metric, data):
    P, y = data
    fitted = ENSEMBLERS.create(name, get_metric(metric), "binary").fit(P, y)
    assert_weights(fitted.weights_, P.shape[1])
    out = fitted.predict(P)
    assert_convex(out, P)
    assert np.all((out > 0) & (out < 1))  # still probabilities


@SETTINGS
@given(data=runs())
def test_the_mean_blend_lies_between_the_runs(data):
    P, _ = data
    out = ENSEMBLERS.create("mean", get_metric("mse"), "regression").predict(P)
    assert_convex(out, P)
    np.testing.assert_allclose(out, P.sum(axis=1) / P.shape[1])


@pytest.mark.parametrize("name", ["mean", "weighted", "hill_climb"])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(12, 40), m=st.integers(2, 3), k=st.integers(3, 4))
def test_multiclass_blends_are_probability_rows(name, seed, n, m, k):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(k), size=(n, m))  # (n, m, k)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    fitted = ENSEMBLERS.create(name, get_metric("logloss"), "multiclass").fit(P, y)
    out = fitted.predict(P)
    assert_convex(out, P)
    np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-9)


@SETTINGS
@given(data=runs(), which=st.data(), transform=st.sampled_from(sorted(INCREASING)))
def test_rank_blend_order_survives_a_monotone_transform_of_one_run(data, which, transform):
    P, _ = data
    j = which.draw(st.integers(0, P.shape[1] - 1))
    Q = P.copy()
    Q[:, j] = INCREASING[transform](P[:, j])
    rank = ENSEMBLERS.create("rank", get_metric("auc"), "binary")
    before, after = rank.predict(P), rank.predict(Q)
    # no two rows swap places: a row strictly above another stays at least level with it
    swapped = (before[:, None] < before[None, :]) & (after[:, None] > after[None, :])
    assert not swapped.any()
    # the values are the mean blend's, re-ordered: same multiset, on the runs' scale
    np.testing.assert_allclose(np.sort(after), np.sort(Q.mean(axis=1)))


@SETTINGS
@given(data=runs())
def test_rank_blend_of_identical_runs_is_the_mean_blend(data):
    P, _ = data
    same = np.repeat(P[:, :1], P.shape[1], axis=1)
    out = ENSEMBLERS.create("rank", get_metric("auc"), "binary").predict(same)
    np.testing.assert_allclose(out, same[:, 0])


@pytest.mark.parametrize("name", ["mean", "weighted", "hill_climb"])
@settings(max_examples=10, deadline=None)
@given(data=runs(n_min=20, n_max=40), seed=st.integers(0, 100))
def test_nested_blends_stay_between_the_runs_on_oof_and_test(name, data, seed):
    P, y = data
    folds = make_folds(len(y), "kfold", 4, seed=seed)
    result = blend(Component(name=name), P, P[::-1], y, folds, get_metric("mse"), "regression")
    assert_convex(result.oof, P)
    assert_convex(result.test, P[::-1])
    assert len(result.fold_scores) == 4 and result.nested == (name != "mean")
