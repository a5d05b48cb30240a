"""Per-class decision weights for multiclass labels (common.submissions.class_weights): they raise macro-F1
where a class is under-predicted, report a cross-fitted figure, never lower the OOF score, are deterministic,
and stage 07 prints and applies them (or keeps the plain argmax when told to)."""
import argparse

import numpy as np
import pytest
import yaml
from sklearn.metrics import f1_score

from common.contest import Contest
from common.metrics import get_metric
from common.submissions.class_weights import fit_class_weights, label_scorer, tune_class_weights
from common.submissions.files import predictions_to_values
from common.submissions.upload import read_provenance

MACRO_F1 = get_metric("macro_f1")


def _probabilities(seed=0, n=3000, k=5, squeezed=3, factor=0.25):
    """Informative (n, k) probabilities whose class `squeezed` is scaled down: the argmax under-predicts it."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits)
    p[:, squeezed] *= factor
    return y, p / p.sum(axis=1, keepdims=True), np.arange(n) % 5


def test_an_under_predicted_class_gets_a_weight_that_raises_macro_f1():
    y, p, groups = _probabilities()
    result = tune_class_weights(y, p, groups, MACRO_F1)
    assert result.plain == pytest.approx(MACRO_F1(y, p))
    assert result.weights[3] > 2 and result.tuned > result.plain + 0.03
    # the honest figure: fitted on the other folds, scored on each held-out fold; below the in-sample one
    assert result.plain + 0.02 < result.cross_fitted <= result.tuned + 1e-9
    assert len(result.fold_gains) == 5 and result.applied
    line = result.describe("macro_f1", ("a", "b", "c", "d", "e"))
    assert f"{result.cross_fitted:.5f} cross-fitted" in line and "applied to the test predictions" in line
    assert f"d:{result.weights[3]:.2f}" in line
    # the weights reach the labels the file holds
    labels = predictions_to_values(p, "multiclass", "label", ("a", "b", "c", "d", "e"), class_weights=result.weights)
    assert f1_score(y, [("a", "b", "c", "d", "e").index(v) for v in labels], average="macro") == pytest.approx(result.tuned)
    assert (labels == "d").sum() > (p.argmax(axis=1) == 3).sum()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("metric", ["macro_f1", "accuracy", "mcc", "qwk"])
def test_weights_never_lower_the_oof_score(seed, metric):
    """Also on probabilities that carry no signal at all, where nothing is to be gained: the search keeps a
    move only when it scores strictly better than w = 1, and the noise rule keeps the plain argmax."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 600)
    p = rng.dirichlet(np.ones(4), 600)
    m = get_metric(metric)
    result = tune_class_weights(y, p, np.arange(600) % 5, m)
    assert result.tuned >= result.plain
    assert result.plain == pytest.approx(m(y, p))
    assert result.tuned == pytest.approx(m(y, p * result.weights))  # the figure is the metric's own
    assert not result.applied or result.cross_fitted > result.plain


@pytest.mark.parametrize("metric", ["macro_f1", "accuracy", "mcc", "qwk"])
def test_the_fast_scorer_agrees_with_the_metric(metric):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 6, 500)
    codes = np.where(rng.random(500) < 0.5, y, rng.integers(0, 4, 500))  # classes 4, 5 never predicted
    assert label_scorer(get_metric(metric), y, 6)(codes) == pytest.approx(get_metric(metric)(y, np.eye(6)[codes]))


def test_the_weights_are_deterministic():
    y, p, groups = _probabilities(seed=2)
    a, b = tune_class_weights(y, p, groups, MACRO_F1), tune_class_weights(y, p, groups, MACRO_F1)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert (a.plain, a.tuned, a.cross_fitted) == (b.plain, b.tuned, b.cross_fitted)
    np.testing.assert_array_equal(a.fold_gains, b.fold_gains)


def test_rows_never_validated_are_left_out():
    y, p, groups = _probabilities(seed=3, n=1500)
    p[:100], groups[:100] = np.nan, -1  # a holdout scheme's training rows: no OOF prediction
    result = tune_class_weights(y, p, groups, MACRO_F1)
    assert result.plain == pytest.approx(MACRO_F1(y[100:], p[100:]))
    weights, best = fit_class_weights(y[100:], p[100:], label_scorer(MACRO_F1, y[100:], 5))
    np.testing.assert_array_equal(weights, result.weights)


# ---------------------------------------------------------------- stage 07
def _multiclass_contest(tmp_path):
    """A 4-class contest whose class 3 is rare and overlaps class 0: a logistic model under-predicts it."""
    import pandas as pd

    from tests.conftest import write_contest

    rng = np.random.default_rng(0)
    n = 900
    y = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    centres = np.array([[0, 0], [3, 0], [0, 3], [0.8, 0.8]])
    x = centres[y] + rng.normal(size=(n, 2))
    train = pd.DataFrame({"id": np.arange(n), "a": x[:, 0], "b": x[:, 1], "label": y})
    test = pd.DataFrame({"id": np.arange(n, n + 200), "a": rng.normal(size=200), "b": rng.normal(size=200)})
    config = {"competition": {"name": "c", "task": "multiclass", "metric": "macro_f1"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "label"},
              "folds": {"scheme": "stratified", "n_splits": 5}, "models": [{"name": "logistic"}],
              "ensemble": {"strategies": [{"name": "mean"}]}}
    return write_contest(tmp_path / "c", config, train, test)


def test_stage_07_prints_applies_and_records_the_weights(tmp_path, capsys):
    from common.stages import ensemble as ensemble_stage, train as train_stage

    root = _multiclass_contest(tmp_path)
    train_stage.main(Contest.load(root), argparse.Namespace(only=None, force=False))
    ensemble_stage.main(Contest.load(root), argparse.Namespace())
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("labels: argmax of p * class weights"))
    assert "cross-fitted on the folds" in line and "applied to the test predictions" in line, line
    assert "with class weights, cross-fitted" in out
    submission = root / "submissions" / "submission.csv"
    weighted = submission.read_bytes()
    cross_fitted = float(line.split(" plain argmax, ")[1].split()[0])
    assert read_provenance(submission)["cv_score"] == pytest.approx(cross_fitted, abs=1e-5)

    config = yaml.safe_load((root / "config.yaml").read_text())
    config["submission"] = {"class_weights": "none"}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    ensemble_stage.main(Contest.load(root), argparse.Namespace())
    out = capsys.readouterr().out
    assert "class weights" not in out and submission.read_bytes() != weighted  # the plain argmax
