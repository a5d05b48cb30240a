import numpy as np
import pytest

from common.config import Component
from common.ensemble import ENSEMBLERS, blend, compare
from common.folds import make_folds
from common.metrics import get_metric

MSE, AUC = get_metric("mse"), get_metric("auc")


def _mixture(n=600, seed=0):
    """Three noisy predictors of y; y is exactly 0.6*p0 + 0.4*p1 (p2 is noise)."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, 3))
    y = 0.6 * P[:, 0] + 0.4 * P[:, 1]
    return P, y


def test_weighted_blend_recovers_a_known_mixture():
    P, y = _mixture()
    w = ENSEMBLERS.create("weighted", MSE, "regression").fit(P, y).weights_
    np.testing.assert_allclose(w, [0.6, 0.4, 0.0], atol=0.01)
    assert w.sum() == pytest.approx(1) and (w >= 0).all()


def test_hill_climbing_picks_the_useful_runs():
    P, y = _mixture()
    w = ENSEMBLERS.create("hill_climb", MSE, "regression", iterations=40).fit(P, y).weights_
    assert w[2] == 0 and abs(w[0] - 0.6) < 0.1 and abs(w[1] - 0.4) < 0.1


def test_mean_and_rank():
    P = np.array([[1.0, 3.0], [2.0, 1.0], [3.0, 2.0]])
    np.testing.assert_allclose(ENSEMBLERS.create("mean", MSE, "regression").predict(P), [2, 1.5, 2.5])
    rank = ENSEMBLERS.create("rank", AUC, "binary").predict(P)
    # rank averages: row0 (1+3)/2=2, row1 1.5, row2 2.5 -> order 1 < 0 < 2, values from the sorted mean blend
    np.testing.assert_allclose(rank, [2.0, 1.5, 2.5])


def test_stacking_learns_the_mixture_and_two_level_runs():
    P, y = _mixture()
    stack = ENSEMBLERS.create("stacking", MSE, "regression", model={"name": "ridge", "params": {"alpha": 1e-6}})
    assert MSE(y, stack.fit(P, y).predict(P)) < 1e-4
    two = ENSEMBLERS.create("stacking2", MSE, "regression").fit(P, y)
    assert MSE(y, two.predict(P)) < 0.05


def test_nested_scores_differ_from_in_sample_and_are_not_optimistic():
    rng = np.random.default_rng(1)
    P = rng.normal(size=(200, 20))  # 20 pure-noise runs: any fitted weights only overfit
    y = rng.normal(size=200)
    folds = make_folds(200, "kfold", 5, seed=0)
    nested = blend(Component(name="stacking"), P, P[:5], y, folds, MSE, "regression")
    in_sample = MSE(y, ENSEMBLERS.create("stacking", MSE, "regression").fit(P, y).predict(P))
    assert nested.nested and nested.score > in_sample


def test_compare_lists_singles_and_strategies_best_first_for_auc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.clip(y * 0.6 + rng.normal(scale=0.4, size=400), 0, 1)
    other = np.clip(y * 0.5 + rng.normal(scale=0.5, size=400), 0, 1)

    class Run:
        def __init__(self, run_id, oof):
            self.run_id, self.oof, self.test = run_id, oof, oof[:10]

    folds = make_folds(400, "stratified", 4, y=y)
    strategies = [Component(name=n) for n in ("mean", "weighted", "rank", "hill_climb", "stacking")]
    table, results = compare([Run("a", good), Run("b", other)], y, folds, AUC, "binary", strategies)
    assert set(table["strategy"]) == {"a", "b", "mean", "weighted", "rank", "hill_climb", "stacking"}
    assert list(table["cv_score"]) == sorted(table["cv_score"], reverse=True)
    assert table.loc[table["strategy"] == "stacking", "nested"].item() == "yes"
    assert table.loc[table["strategy"] == "mean", "nested"].item() == "no"
    assert results["mean"].test.shape == (10,)


def test_multiclass_blends_work_on_probabilities():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    onehot = np.eye(3)[y]
    P = np.stack([0.6 * onehot + 0.4 * rng.dirichlet(np.ones(3), 300) for _ in range(2)], axis=1)
    acc = get_metric("accuracy")
    out = ENSEMBLERS.create("weighted", acc, "multiclass").fit(P, y).predict(P)
    assert out.shape == (300, 3) and acc(y, out) > 0.9


def test_weighted_blend_for_a_label_metric_fits_real_weights():
    """Accuracy is flat under small weight changes; the weights are fitted on log-loss instead and move."""
    from common.ensemble import HillClimb, WeightedBlend
    from common.metrics import get_metric

    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.5).astype(int)
    good = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(scale=0.2, size=600), 0.01, 0.99)
    noise = rng.random(600)
    P = np.column_stack([noise, good, noise[::-1]])
    accuracy = get_metric("accuracy")
    for cls in (WeightedBlend, HillClimb):
        weights = cls(accuracy, "binary").fit(P, y).weights_
        assert weights[1] > 0.8, (cls.__name__, weights)
