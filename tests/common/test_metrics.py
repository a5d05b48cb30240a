"""Every metric against scikit-learn on random inputs, plus directions, tasks and the threshold keyword."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from common.errors import ConfigError
from common.metrics import METRICS, TASKS, get_metric, metrics_for, to_labels

SEEDS = st.integers(0, 2**32 - 1)
SIZES = st.integers(8, 200)


def _regression(seed, n):
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, 3.0, n), rng.normal(5.0, 4.0, n)  # positive targets, some negative predictions


def _binary(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]  # both classes present, as AUC needs
    return y, rng.random(n)


def _multiclass(seed, n, k=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    return y, rng.dirichlet(np.ones(k), n)


REFERENCE = {  # name: (data, scikit-learn's score of the same predictions)
    "mse": (_regression, skm.mean_squared_error),
    "rmse": (_regression, skm.root_mean_squared_error),
    "mae": (_regression, skm.mean_absolute_error),
    "rmsle": (_regression, lambda y, p: skm.root_mean_squared_log_error(y, np.clip(p, 0, None))),
    "r2": (_regression, skm.r2_score),
    "auc": (_binary, skm.roc_auc_score),
    "logloss": (_binary, skm.log_loss),
    "f1": (_binary, lambda y, p: skm.f1_score(y, p >= 0.5)),
    "macro_f1": (_multiclass, lambda y, p: skm.f1_score(y, p.argmax(1), average="macro")),
    "accuracy": (_multiclass, lambda y, p: skm.accuracy_score(y, p.argmax(1))),
    "mcc": (_multiclass, lambda y, p: skm.matthews_corrcoef(y, p.argmax(1))),
    "qwk": (_multiclass, lambda y, p: skm.cohen_kappa_score(y, p.argmax(1), labels=range(4), weights="quadratic")),
    "string_accuracy": (lambda seed, n: (np.array(["12", "7", "301"] * 3), np.array(["12", "1", "301"] * 3)),
                        lambda y, p: 2 / 3),
    # per position, blank included: the mean of scikit-learn's log-loss over the flattened positions
    "sequence_logloss": (lambda seed, n: _sequence(seed, n),
                         lambda y, p: skm.log_loss(y.ravel(), p.reshape(-1, p.shape[-1]), labels=range(p.shape[-1]))),
}
DIRECTIONS = {"mse": "minimize", "rmse": "minimize", "mae": "minimize", "rmsle": "minimize", "logloss": "minimize",
              "sequence_logloss": "minimize"}


def _sequence(seed, n):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4, size=(n, 3)), rng.dirichlet(np.ones(4), (n, 3))


def test_every_registered_metric_has_a_reference():
    assert set(METRICS.list()) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, n=SIZES)
def test_metric_agrees_with_scikit_learn(name, seed, n):
    data, reference = REFERENCE[name]
    y, p = data(seed, n)
    assert get_metric(name)(y, p) == pytest.approx(reference(y, p), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_direction_tasks_and_needs(name):
    metric = get_metric(name)
    assert metric.direction == DIRECTIONS.get(name, "maximize")
    assert metric.tasks and set(metric.tasks) <= set(TASKS)
    assert metric.needs in ("value", "proba", "label")
    data, _ = REFERENCE[name]
    y, p = data(0, 50)
    perfect = np.eye(p.shape[-1])[y] if p.ndim >= 2 else y if y.dtype.kind == "U" else y.astype(float)
    assert metric.is_better(metric(y, perfect), metric(y, p))


def test_metrics_for_each_task():
    assert metrics_for("regression") == ["mae", "mse", "qwk", "r2", "rmse", "rmsle"]
    assert metrics_for("binary") == ["accuracy", "auc", "f1", "logloss", "macro_f1", "mcc"]
    assert metrics_for("multiclass") == ["accuracy", "auc", "logloss", "macro_f1", "mcc", "qwk", "string_accuracy"]
    assert metrics_for("sequence") == ["sequence_logloss", "string_accuracy"]
    with pytest.raises(ValueError, match="task must be one of 'regression', 'binary', 'multiclass', 'sequence'; got 'text'"):
        metrics_for("text")


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, n=SIZES)
def test_rmsle_is_scored_on_the_original_scale(seed, n):
    y, p = _regression(seed, n)
    p = np.abs(p)
    # Not rmse of the raw values, not the log of rmse: rmse between log1p(y) and log1p(p).
    assert get_metric("rmsle")(y, p) == pytest.approx(get_metric("rmse")(np.log1p(y), np.log1p(p)))


def test_rmsle_clips_negative_predictions_and_refuses_negative_targets():
    y = np.array([0.0, 1.0, 3.0])
    assert get_metric("rmsle")(y, np.array([-5.0, 1.0, 3.0])) == 0.0
    with pytest.raises(ValueError, match="rmsle needs targets >= 0; got a minimum of -2"):
        get_metric("rmsle")(np.array([-2.0, 1.0]), np.array([0.0, 1.0]))


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, n=SIZES)
def test_qwk_on_regression_rounds_and_clips_to_the_target_range(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(1, 6, n)
    y[:5] = np.arange(1, 6)
    p = y + rng.normal(0, 1.5, n)  # reaches below 1 and above 5
    expected = skm.cohen_kappa_score(y, np.clip(np.round(p), 1, 5).astype(int), weights="quadratic")
    assert get_metric("qwk")(y, p) == pytest.approx(expected)


def test_qwk_counts_a_class_nobody_predicts_in_the_distances():
    y, p = np.array([0, 0, 3, 3]), np.eye(4)[[0, 3, 3, 0]]
    assert get_metric("qwk")(y, p) == pytest.approx(
        skm.cohen_kappa_score(y, [0, 3, 3, 0], labels=range(4), weights="quadratic"))
    with pytest.raises(ValueError, match="integer targets"):
        get_metric("qwk")(np.array([1.5, 2.0]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("name,reference", [
    ("f1", skm.f1_score), ("accuracy", skm.accuracy_score), ("mcc", skm.matthews_corrcoef),
    ("macro_f1", lambda y, labels: skm.f1_score(y, labels, average="macro")),
])
def test_binary_label_metrics_take_a_threshold(name, reference):
    y, p = _binary(3, 300)
    metric = get_metric(name)
    assert metric(y, p) == pytest.approx(reference(y, p >= 0.5))
    assert metric(y, p, threshold=0.37) == pytest.approx(reference(y, p >= 0.37))
    assert metric(y, p, threshold=0.37) != metric(y, p)


def test_a_threshold_is_refused_where_it_means_nothing():
    y, p = _binary(0, 50)
    with pytest.raises(ValueError, match="metric 'auc' takes no threshold .*: accuracy, f1, macro_f1, mcc"):
        get_metric("auc")(y, p, threshold=0.3)
    y, p = _multiclass(0, 50)
    with pytest.raises(ValueError, match="a threshold applies to binary scores"):
        get_metric("accuracy")(y, p, threshold=0.3)
    assert list(to_labels(np.array([0.2, 0.5, 0.9]))) == [0, 1, 1]


def test_unknown_metric_names_the_choices():
    with pytest.raises(ConfigError, match="Did you mean 'accuracy'"):
        get_metric("acuracy")


# ---- properties the reference table above does not reach


@pytest.mark.parametrize("name,reference", [
    ("auc", lambda y, p: skm.roc_auc_score(y, p, multi_class="ovr")),
    ("logloss", lambda y, p: skm.log_loss(y, p, labels=np.arange(p.shape[1]))),
])
@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, n=SIZES)
def test_probability_metrics_agree_with_scikit_learn_on_multiclass_too(name, reference, seed, n):
    y, p = _multiclass(seed, n)
    assert get_metric(name)(y, p) == pytest.approx(reference(y, p), rel=1e-9, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, n=SIZES, transform=st.sampled_from([np.sqrt, np.exp, lambda p: 3 * p - 7, lambda p: p ** 3]))
def test_auc_depends_only_on_the_order_of_the_scores(seed, n, transform):
    y, p = _binary(seed, n)
    assert get_metric("auc")(y, transform(p)) == pytest.approx(get_metric("auc")(y, p), abs=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCE))
@settings(max_examples=10, deadline=None)
@given(a=st.floats(-10, 10), b=st.floats(-10, 10))
def test_sign_turns_every_metric_into_higher_is_better(name, a, b):
    metric = get_metric(name)
    assert metric.is_better(a, b) == (metric.sign() * a > metric.sign() * b)
    assert metric.sign() == (1.0 if metric.greater_is_better else -1.0)


def test_multiclass_logloss_scores_a_blend_whose_rows_sum_to_one_up_to_rounding():
    import warnings

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), 50)
    y = rng.integers(0, 4, 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn warns on rows that do not sum to one
        score = get_metric("logloss")(y, (p * 1.001).astype(np.float32))
    assert score == pytest.approx(skm.log_loss(y, p), rel=1e-4)
