import numpy as np
import pytest

from common.config import Component
from common.ensemble import ENSEMBLERS, blend, compare
from common.data.folds import make_folds
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
    # run 1 is on another scale: its big value decides the mean's order, while ranks weigh both runs alike
    P = np.array([[0.0, 100.0], [1.0, 0.0], [2.0, 1.0]])
    mean = ENSEMBLERS.create("mean", MSE, "regression").predict(P)
    np.testing.assert_allclose(mean, [50.0, 0.5, 1.5])  # order: row1 < row2 < row0
    rank = ENSEMBLERS.create("rank", AUC, "binary").predict(P)
    # rank averages: row0 (1+3)/2=2, row1 (2+1)/2=1.5, row2 (3+2)/2=2.5 -> order row1 < row0 < row2,
    # and the values are the sorted mean blend's, handed out in that order
    np.testing.assert_allclose(rank, [1.5, 0.5, 50.0])
    assert AUC(np.array([0, 0, 1]), rank) == 1.0 and AUC(np.array([0, 0, 1]), mean) == 0.5


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


# ---- exact behaviour the mutation checks (make mutate) found untested


def test_every_ensembler_stores_its_arguments_and_defaults_to_seed_0():
    for name in ENSEMBLERS.list():
        made = ENSEMBLERS.create(name, AUC, "binary", seed=7)
        assert (made.metric, made.task, made.seed) == (AUC, "binary", 7), name
        assert ENSEMBLERS.create(name, MSE, "regression").seed == 0, name
    climb = ENSEMBLERS.create("hill_climb", MSE, "regression")
    assert (climb.iterations, climb.tolerance) == (50, 1e-7)


def test_stacking_defaults_are_a_ridge_or_a_logistic_regression_and_the_seed_reaches_the_model():
    from common.ensemble import Stacking, TwoLevelStacking

    assert Stacking(MSE, "regression").model == Component(name="ridge", params={"alpha": 1.0})
    assert Stacking(AUC, "binary").model == Component(name="logistic", params={"C": 1.0})
    two = TwoLevelStacking(MSE, "regression")
    gbm = {"learning_rate": 0.05, "num_leaves": 7, "n_estimators": 200, "min_child_samples": 20,
           "early_stopping_rounds": 0}
    assert two.models == [Component(name="ridge"), Component(name="lightgbm", params=gbm)] and two.inner_splits == 5
    assert TwoLevelStacking(AUC, "binary").models[0] == Component(name="logistic")
    from common.models import create_model

    P, y = _mixture(200)
    forest = {"name": "random_forest", "params": {"n_estimators": 5}}
    seeded = Stacking(MSE, "regression", seed=3, model=forest).fit(P, y).predict(P)
    direct = create_model(Component(**forest), "regression", 3).fit(P, y).predict(P)
    np.testing.assert_allclose(seeded, direct, rtol=1e-12, atol=1e-12)  # (threads sum the trees: last bits differ)
    assert not np.allclose(seeded, Stacking(MSE, "regression", seed=4, model=forest).fit(P, y).predict(P))


def _inner_oof(P, y, task, metric, seed, spec, splitter):
    from common.ensemble import Stacking

    oof = None
    for tr, va in splitter.split(P, y):
        pred = Stacking(metric, task, seed, spec).fit(P[tr], y[tr]).predict(P[va])
        oof = np.zeros((len(y), *pred.shape[1:])) if oof is None else oof
        oof[va] = pred
    return oof


FOREST = {"name": "random_forest", "params": {"n_estimators": 8, "min_samples_leaf": 5}}


@pytest.mark.parametrize("task,metric", [("regression", MSE), ("regression", get_metric("qwk")),
                                         ("binary", get_metric("logloss"))])
def test_two_level_stacking_weights_its_models_on_their_inner_oof(task, metric):
    """The level-3 weights are a WeightedBlend (for the metric and task) of each level-2 model's OOF from a
    seeded, shuffled inner KFold (StratifiedKFold for classes); the level-2 models then fit on all rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from common.ensemble import Stacking, WeightedBlend

    rng = np.random.default_rng(2)
    P = rng.normal(size=(150, 3))
    signal = P @ np.array([0.6, 0.3, 0.1]) + 0.5 * np.abs(P[:, 1]) - 0.4 + rng.normal(scale=0.6, size=150)
    y = {"binary": (signal > 0).astype(int), "regression": signal}[task]
    if metric.name == "qwk":
        y = np.clip(np.round(signal + 2), 0, 4)
    base = {"name": "ridge", "params": {"alpha": 10.0}} if task == "regression" else {"name": "logistic"}
    specs = [base, FOREST]
    two = ENSEMBLERS.create("stacking2", metric, task, seed=5, models=specs, inner_splits=3).fit(P, y)
    splitter = (KFold if task == "regression" else StratifiedKFold)(3, shuffle=True, random_state=5)
    oofs = np.stack([_inner_oof(P, y, task, metric, 5, s, splitter) for s in specs], axis=1)
    expected = WeightedBlend(metric, task).fit(oofs, y).weights_
    if metric.name != "qwk":  # (qwk is flat under small weight changes: SLSQP keeps a corner)
        assert 0.02 < expected[0] < 0.98  # both models matter: the weights depend on the inner folds
    # (a forest sums its trees in parallel threads and SLSQP stops at a tolerance: equal to 1e-6)
    np.testing.assert_allclose(two.top_.weights_, expected, atol=1e-6)
    full = np.stack([Stacking(metric, task, 5, s).fit(P, y).predict(P) for s in specs], axis=1)
    np.testing.assert_allclose(two.predict(P), full @ expected, atol=1e-6)


def test_two_level_stacking_blends_class_probabilities():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    P = np.stack([0.5 * np.eye(3)[y] + 0.5 * rng.dirichlet(np.ones(3), 150) for _ in range(2)], axis=1)
    two = ENSEMBLERS.create("stacking2", get_metric("logloss"), "multiclass", models=[{"name": "logistic"}] * 2,
                            inner_splits=3).fit(P, y)
    out = two.predict(P)
    assert out.shape == (150, 3) and np.allclose(out.sum(axis=1), 1)


class _Run:
    def __init__(self, run_id, oof, test):
        self.run_id, self.oof, self.test = run_id, oof, test


def test_compare_table_layout_singles_and_the_seed_reaching_each_strategy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=120)
    a, b = y + rng.normal(scale=0.5, size=120), y + rng.normal(scale=0.8, size=120)
    runs = [_Run("a", a, a[:7]), _Run("b", b, b[:7])]
    folds = make_folds(120, "kfold", 4, seed=0)
    strategies = [Component(name="weighted"), Component(name="stacking", params={"model": FOREST})]
    table, results = compare(runs, y, folds, MSE, "regression", strategies, seed=3)
    assert list(table.columns) == ["rank", "strategy", "kind", "cv_score", "cv_std", "nested", "weights"]
    assert table["rank"].tolist() == [1, 2, 3, 4] and list(table.index) == [0, 1, 2, 3]
    assert table["cv_score"].is_monotonic_increasing  # mse: lowest first
    kinds = dict(zip(table["strategy"], table["kind"]))
    assert kinds == {"a": "single", "b": "single", "weighted": "ensemble", "stacking": "ensemble"}
    nested = dict(zip(table["strategy"], table["nested"]))
    assert nested == {"a": "no", "b": "no", "weighted": "yes", "stacking": "yes"}
    w = results["weighted"]
    assert table.loc[table["strategy"] == "weighted", "weights"].item() == w.detail != ""
    for run in runs:  # a single run's result is the run itself, scored on the same folds
        single = results[run.run_id]
        assert np.array_equal(single.oof, run.oof) and np.array_equal(single.test, run.test) and single.nested is False
        assert single.score == MSE(y, run.oof) and single.detail == ""
    stacking = blend(strategies[1], np.column_stack([a, b]), np.column_stack([a[:7], b[:7]]), y, folds, MSE,
                     "regression", seed=3)
    # (a forest sums its trees in parallel threads: equal up to the last bit or two)
    np.testing.assert_allclose(results["stacking"].oof, stacking.oof, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(results["stacking"].test, stacking.test, rtol=1e-12, atol=1e-12)
    default = compare(runs, y, folds, MSE, "regression", strategies[1:])[1]["stacking"]
    at_seed_0 = blend(strategies[1], np.column_stack([a, b]), np.column_stack([a[:7], b[:7]]), y, folds, MSE,
                      "regression", seed=0)
    np.testing.assert_allclose(default.oof, at_seed_0.oof, rtol=1e-12, atol=1e-12)  # compare's seed defaults to 0


def test_compare_leaves_out_what_does_not_apply_and_goes_on_with_the_rest():
    rng = np.random.default_rng(1)
    names = ["rank", "mean", "stacking", "stacking2", "weighted"]
    # multiclass: no rank blend (one score per row is needed), every other strategy
    y = rng.integers(0, 3, 90)
    y[:3] = [0, 1, 2]
    runs = [_Run(r, p, p[:5]) for r, p in (("a", rng.dirichlet(np.ones(3), 90)), ("b", rng.dirichlet(np.ones(3), 90)))]
    folds = make_folds(90, "stratified", 3, y=y)
    table, _ = compare(runs, y, folds, get_metric("logloss"), "multiclass", [Component(name=n) for n in names])
    assert set(table["strategy"]) == {"a", "b", "mean", "stacking", "stacking2", "weighted"}
    # sequences: (n, positions, classes) per run; neither ranks nor meta-models
    y = rng.integers(0, 4, (60, 2))
    runs = [_Run(r, p, p[:5]) for r, p in (("a", rng.dirichlet(np.ones(4), (60, 2))),
                                           ("b", rng.dirichlet(np.ones(4), (60, 2))))]
    folds = make_folds(60, "kfold", 3)
    table, results = compare(runs, y, folds, get_metric("sequence_logloss"), "sequence",
                             [Component(name=n) for n in names])
    assert set(table["strategy"]) == {"a", "b", "mean", "weighted"}
    assert results["mean"].test.shape == (5, 2, 4)


def test_rank_blend_breaks_ties_in_rank_by_row_order_and_refuses_multiclass():
    # two runs in exactly opposite order: every row has the same average rank
    P = np.array([[1.0, 30.0], [2.0, 20.0], [3.0, 10.0]])
    np.testing.assert_allclose(ENSEMBLERS.create("rank", AUC, "binary").predict(P), [6.5, 11.0, 15.5])
    with pytest.raises(ValueError, match="^rank averaging needs one score per row; it does not apply to multiclass$"):
        ENSEMBLERS.create("rank", AUC, "multiclass").predict(np.ones((4, 2, 3)))


def test_weights_are_fitted_on_the_metric_itself_unless_it_scores_labels_of_classes():
    from common.ensemble import HillClimb, WeightedBlend

    def objective(metric, task):
        return WeightedBlend(get_metric(metric), task).objective().name

    assert objective("auc", "binary") == "auc" and objective("mse", "regression") == "mse"
    assert objective("qwk", "regression") == "qwk"  # a label metric of a regression is scored as it is
    assert objective("accuracy", "binary") == "logloss" and objective("qwk", "multiclass") == "logloss"
    assert objective("string_accuracy", "sequence") == "sequence_logloss"
    # hill climbing takes discrete steps: a flat metric does not stall it, so it climbs the metric itself
    assert HillClimb(get_metric("macro_f1"), "multiclass").objective().name == "macro_f1"


def test_weighted_blend_stays_in_the_simplex_where_the_unconstrained_optimum_leaves_it():
    """y = 1.2 p0 - 0.4 p1 + 0.2 p2: without the bounds the weights would be (1.2, -0.4, 0.2); clipping that
    gives (0.86, 0, 0.14), while the best convex blend is p0 alone."""
    rng = np.random.default_rng(0)
    P = rng.normal(size=(2000, 3))
    y = P @ np.array([1.2, -0.4, 0.2])
    weights = ENSEMBLERS.create("weighted", MSE, "regression").fit(P, y).weights_
    np.testing.assert_allclose(weights, [1, 0, 0], atol=1e-3)
    assert np.all(weights >= 0) and weights.sum() == pytest.approx(1, abs=1e-15)


def test_hill_climbing_on_a_label_metric_never_ends_below_its_best_run():
    """It starts from the best run by the metric and takes only steps that raise it (on log-loss it could
    end below that run: the news corpus' blend did, 0.9575 against 0.9649)."""
    from common.ensemble import HillClimb
    from common.metrics import get_metric

    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 500)
    P = rng.dirichlet(np.ones(4), (500, 3))
    P[np.arange(500), 0, y] += rng.random(500) * 0.6  # run 0 leans to the truth, the others are noise
    P[:, 1, :] = 0.7 * P[:, 1, :] + 0.3 * np.eye(4)[y] * (rng.random(500) < 0.5)[:, None]
    f1 = get_metric("macro_f1")
    climb = HillClimb(f1, "multiclass").fit(P, y)
    assert f1(y, climb.predict(P)) >= max(f1(y, P[:, j]) for j in range(3))
    assert climb.weights_.sum() == pytest.approx(1)


def test_hill_climbing_counts_each_pick_and_averages_the_picked_runs():
    from common.ensemble import HillClimb

    rng = np.random.default_rng(0)
    p0, p1, p2 = rng.normal(size=(3, 500))
    P = np.column_stack([p0, p1, p2])
    # y is the 2:1 blend of p0 and p1: p0 alone, then p1 (1:1), then p0 again hits it exactly
    climb = HillClimb(MSE, "regression", iterations=10).fit(P, (2 * p0 + p1) / 3)
    np.testing.assert_array_equal(climb.weights_, [2 / 3, 1 / 3, 0])
    # the 1:1 blend is found in one step and nothing is added after it
    np.testing.assert_array_equal(HillClimb(MSE, "regression").fit(P, (p0 + p1) / 2).weights_, [0.5, 0.5, 0])
    # an improvement of exactly `tolerance` is not enough to take a step
    P2, y2 = np.array([[1.0, -1.0], [1.0, -1.0]]), np.zeros(2)
    np.testing.assert_array_equal(HillClimb(MSE, "regression", tolerance=1.0).fit(P2, y2).weights_, [1, 0])
    np.testing.assert_array_equal(HillClimb(MSE, "regression", tolerance=0.5).fit(P2, y2).weights_, [0.5, 0.5])
    # iterations bounds the picks: one iteration is the best single run
    np.testing.assert_array_equal(HillClimb(MSE, "regression", iterations=1).fit(P, (p0 + p1) / 2).weights_, [1, 0, 0])
    # for a metric to maximise, the best single run is the one with the highest score
    yb = (p2 > 0).astype(int)
    np.testing.assert_array_equal(HillClimb(AUC, "binary", iterations=1).fit(P, yb).weights_, [0, 0, 1])


def test_blend_reports_the_final_weights_and_passes_its_seed_and_params_on():
    from common.ensemble import WeightedBlend

    P, y = _mixture(300)
    folds = make_folds(300, "kfold", 3, seed=0)
    weighted = blend(Component(name="weighted"), P, P[:4], y, folds, MSE, "regression")
    assert weighted.detail == " ".join(f"{w:.2f}" for w in WeightedBlend(MSE, "regression").fit(P, y).weights_)
    assert weighted.detail == "0.60 0.40 0.00" and weighted.name == "weighted" and weighted.nested
    assert blend(Component(name="mean"), P, P[:4], y, folds, MSE, "regression").detail == ""
    one_step = blend(Component(name="hill_climb", params={"iterations": 1}), P, P[:4], y, folds, MSE, "regression")
    assert one_step.detail == "1.00 0.00 0.00"  # the params reach the strategy
    forest = Component(name="stacking", params={"model": FOREST})
    seeded = blend(forest, P, P[:4], y, folds, MSE, "regression", seed=3)
    again = blend(forest, P, P[:4], y, folds, MSE, "regression", seed=3)
    np.testing.assert_allclose(seeded.oof, again.oof, rtol=1e-12, atol=1e-12)  # the seed reaches the model
    assert not np.allclose(seeded.oof, blend(forest, P, P[:4], y, folds, MSE, "regression", seed=0).oof)
    np.testing.assert_allclose(blend(forest, P, P[:4], y, folds, MSE, "regression").oof,
                               blend(forest, P, P[:4], y, folds, MSE, "regression", seed=0).oof,
                               rtol=1e-12, atol=1e-12)


def test_blend_of_time_folds_leaves_the_warm_up_rows_unscored():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(100, 2))
    y = P.mean(axis=1) + rng.normal(scale=0.1, size=100)
    folds = make_folds(100, "time", 4, order=np.arange(100))
    for name in ("mean", "weighted"):
        result = blend(Component(name=name), P, P[:3], y, folds, MSE, "regression")
        assert result.oof.dtype == np.float64
        assert np.isnan(result.oof[~folds.validated]).all() and np.isfinite(result.oof[folds.validated]).all()
        assert result.score == pytest.approx(MSE(y[folds.validated], result.oof[folds.validated]))


def test_a_blend_on_one_holdout_fold_is_cross_fitted_on_the_holdout_rows():
    """No validated rows lie outside a holdout fold: the weights are fitted on parts of it, not on nothing."""
    import warnings

    P, y = _mixture(300)
    folds = make_folds(300, "holdout", holdout=np.arange(300) >= 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fitting on no rows warned "Mean of empty slice"
        result = blend(Component(name="weighted"), P, P[:5], y, folds, MSE, "regression")
    assert result.nested and np.isnan(result.oof[:200]).all() and np.isfinite(result.oof[200:]).all()
    assert result.score < 0.01  # weights near 0.6 / 0.4 / 0 fitted on four fifths of the holdout each time


def test_blend_of_class_probabilities_keeps_one_column_per_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    P = rng.dirichlet(np.ones(3), (90, 2))
    folds = make_folds(90, "stratified", 3, y=y)
    for name in ("mean", "weighted"):
        result = blend(Component(name=name), P, P[:5], y, folds, get_metric("logloss"), "multiclass")
        assert result.oof.shape == (90, 3) and result.test.shape == (5, 3)


def test_weighted_blend_fits_without_a_warning():
    """SLSQP warns about options it does not know: none are passed."""
    import warnings

    P, y = _mixture(200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ENSEMBLERS.create("weighted", MSE, "regression").fit(P, y)


# ---- multi-layer stacking with skip connections (common.stacking)


def _skip_data(n=400, seed=0):
    """Two runs that know x1 but not x2; the target also steps with x2, which only the features carry.
    X has a categorical column and missing values, as contest features do."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = x1 + 1.5 * (x2 > 0) + rng.normal(scale=0.2, size=n)
    P = np.column_stack([x1 + rng.normal(scale=0.3, size=n) + 0.75 for _ in range(2)])
    X = pd.DataFrame({"x2": x2, "colour": pd.Categorical(rng.choice(["red", "blue", None], n))})
    X.loc[X.index[::17], "x2"] = np.nan
    return P, y, X


def test_multilayer_oof_is_the_strategy_cross_fitted_on_the_outer_folds():
    """Each outer fold's predictions come from a strategy fitted on the other folds' rows alone (runs and
    features), compared against that computation made by hand; the test blend is the fit on all rows."""
    from common.stacking import SkipStacking

    P, y, X = _skip_data(240)
    folds = make_folds(len(y), "kfold", 3, seed=1)
    spec = Component(name="multilayer", params={"inner_splits": 3})
    result = blend(spec, P, P[:20], y, folds, MSE, "regression", seed=4, X=X, X_test=X.iloc[:20])
    assert result.nested and len(result.detail.split()) == 2  # the hill-climbing weights of the 2 level-2 models
    for k in range(3):
        out, held = folds.assignment != k, folds.assignment == k
        alone = SkipStacking(MSE, "regression", 4, inner_splits=3).fit(P[out], y[out], X[out])
        np.testing.assert_allclose(result.oof[held], alone.predict(P[held], X[held]))
    full = SkipStacking(MSE, "regression", 4, inner_splits=3).fit(P, y, X)
    np.testing.assert_allclose(result.test, full.predict(P[:20], X.iloc[:20]))


def test_multilayer_never_fits_on_the_rows_it_scores():
    """A level-2 model that memorises rows (unpruned extra trees on a row key, the target pure noise) predicts
    its training rows almost exactly; scored by nested CV it is no better than noise, as it must be."""
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 300
    y = rng.normal(size=n)
    P = rng.normal(size=(n, 2))  # runs that know nothing
    X = pd.DataFrame({"key": rng.permutation(n).astype(float)})
    memoriser = {"name": "extra_trees", "params": {"n_estimators": 20, "min_samples_leaf": 1, "max_features": 1.0}}
    spec = Component(name="multilayer", params={"models": [memoriser], "inner_splits": 3})
    folds = make_folds(n, "kfold", 5, seed=0)
    result = blend(spec, P, P, y, folds, MSE, "regression", X=X, X_test=X)
    assert MSE(y, result.test) < 0.05  # in sample (the final fit, predicting its own rows): memorised
    assert result.score > 0.9 * np.var(y)  # out of fold: nothing learnt, nothing leaked


def test_skip_connections_beat_the_predictions_alone():
    P, y, X = _skip_data(300)
    folds = make_folds(len(y), "kfold", 4, seed=0)
    runs = [_Run(f"r{j}", P[:, j], P[:30, j]) for j in range(2)]
    strategies = [Component(name="multilayer"), Component(name="multilayer", params={"skip": False}, label="no_skip"),
                  Component(name="stacking")]
    table, results = compare(runs, y, folds, MSE, "regression", strategies, X=X, X_test=X.iloc[:30])
    scores = dict(zip(table["strategy"], table["cv_score"]))
    assert table["strategy"].iloc[0] == "multilayer" and table.set_index("strategy").loc["multilayer", "nested"] == "yes"
    assert scores["multilayer"] < 0.5 * min(scores["no_skip"], scores["stacking"])  # x2 reached level 2
    assert results["multilayer"].test.shape == (30,)
    with pytest.raises(ValueError, match="feeds the features to its level-2 models"):
        compare(runs, y, folds, MSE, "regression", strategies[:1])  # no features given: said, not ignored


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_multilayer_stacking_blends_class_probabilities_with_the_features(task):
    P, y, X = _skip_data(300)
    rng = np.random.default_rng(1)
    cut = lambda v: np.digitize(v, np.quantile(v, [1 / 3, 2 / 3]))  # noqa: E731
    if task == "binary":
        labels = (y > np.median(y)).astype(int)
        Q = np.column_stack([(P[:, j] > np.median(P[:, j])) * 0.6 + 0.2 for j in range(2)])
        metric = AUC
    else:
        labels = cut(y)
        Q = np.stack([0.5 * rng.dirichlet(np.ones(3), len(y)) + 0.5 * np.eye(3)[cut(P[:, j])] for j in range(2)], axis=1)
        metric = get_metric("logloss")
    folds = make_folds(len(y), "stratified", 4, seed=0, y=labels)
    runs = [_Run(f"r{j}", Q[:, j], Q[:30, j]) for j in range(2)]
    gbm = {"name": "lightgbm", "params": {"num_leaves": 7, "n_estimators": 60, "learning_rate": 0.1, "early_stopping_rounds": 0}}
    fast = Component(name="multilayer", params={"inner_splits": 3, "models": [gbm, {"name": "logistic"}]})
    table, results = compare(runs, labels, folds, metric, task, [fast], X=X, X_test=X.iloc[:30])
    assert table["strategy"].iloc[0] == "multilayer"  # beats both runs, which cannot see x2
    out = results["multilayer"]
    assert out.oof.shape == (len(y), *Q.shape[2:]) and out.test.shape == (30, *Q.shape[2:])
    assert np.all((out.oof >= 0) & (out.oof <= 1))
    if task == "multiclass":
        np.testing.assert_allclose(out.oof.sum(axis=1), 1, atol=1e-9)
