"""Stage 05's validation report: fold summary, OOF diagnostics per task, learning curve, hold-out."""
import numpy as np
import pandas as pd
import pytest

from common.config import Component
from common.contest import Contest
from common.folds import make_folds
from common.metrics import get_metric
from common.pipeline import current_runs, train_model
from common.validation import fold_summary, holdout_check, learning_curve, oof_diagnostics, validation_report


def _trained(contest_dir):
    contest = Contest.load(contest_dir)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    for spec in contest.config.models:
        train_model(contest, spec, fs, folds)
    return contest, fs, folds, current_runs(contest, fs, folds)


@pytest.mark.parametrize("fixture", ["regression_contest", "binary_contest"])
def test_report_and_summary_for_each_task(fixture, request):
    contest, fs, folds, runs = _trained(request.getfixturevalue(fixture))
    path = validation_report(runs, fs.X, fs.y, folds, contest.metric, contest.task, contest.reports_dir,
                             seed=0)
    html = path.read_text()
    for heading in ("Fold spread", "OOF diagnostics", "Learning curve", "Hold-out check"):
        assert f"<h2>{heading}</h2>" in html
    summary = pd.read_csv(contest.reports_dir / "validation_summary.csv")
    assert sorted(summary["run"]) == sorted(r.run_id for r in runs)
    scores = summary["cv_score"].to_numpy()
    assert np.all(np.diff(scores) >= 0) if contest.metric.direction == "minimize" else np.all(np.diff(scores) <= 0)
    assert html.count("data:image/png;base64,") == 3


def test_fold_summary_spread_matches_the_fold_scores(regression_contest):
    contest, _, _, runs = _trained(regression_contest)
    row = fold_summary(runs, contest.metric).set_index("run").loc[runs[0].run_id]
    s = np.asarray(runs[0].meta["fold_scores"])
    assert row["fold_std"] == pytest.approx(s.std()) and row["fold_min"] == s.min() and row["fold_max"] == s.max()


def test_learning_curve_improves_with_data_and_reuses_the_full_score():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 8)))
    y = X.to_numpy() @ rng.normal(size=8) + np.sin(3 * X[0].to_numpy()) + rng.normal(scale=0.3, size=600)
    folds = make_folds(600, "kfold", 3, 0)
    spec = Component(name="lightgbm", params={"n_estimators": 150, "learning_rate": 0.1})
    mse = get_metric("mse")
    curve = learning_curve(spec, X, y, folds, mse, "regression", fractions=(0.1, 0.5, 1.0), full=[0.5, 0.7, 0.6])
    assert curve["cv_mean"].iloc[0] > curve["cv_mean"].iloc[1]  # more rows, lower error
    assert curve["cv_mean"].iloc[2] == pytest.approx(0.6)
    assert curve["train_rows"].tolist() == [40, 200, 400]
    one = learning_curve(spec, X, y, folds, mse, "regression", fractions=(0.5, 1.0), full=[0.5, 0.7, 0.6], max_folds=1)
    assert one["cv_std"].tolist() == [0.0, 0.0] and one["cv_mean"].iloc[1] == pytest.approx(0.5)  # first fold only


def test_holdout_check_is_close_to_cv_on_iid_data():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(1000, 5)))
    y = X.to_numpy() @ np.arange(1, 6) + rng.normal(size=1000)
    table = holdout_check(Component(name="ridge"), X, y, make_folds(1000, "kfold", 5, 0), get_metric("mse"), "regression")
    row = table.iloc[0]
    assert row["cv_rows"] == 800 and row["holdout_rows"] == 200
    assert abs(row["gap"]) < 0.3 * row["cv_score"]  # both estimate the noise variance (1.0)


def test_oof_diagnostics_per_task():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    proba = np.eye(3)[y] * 0.6 + 0.4 / 3
    _, table = oof_diagnostics(proba, y, "multiclass")
    assert table["recall"].tolist() == [1.0, 1.0, 1.0] and table["rows"].sum() == 300
    yb = rng.integers(0, 2, 500)
    _, calib = oof_diagnostics(np.clip(yb * 0.5 + rng.uniform(0, 0.5, 500), 0, 1), yb, "binary")
    assert calib["observed"].is_monotonic_increasing
    fig, table = oof_diagnostics(np.arange(10.0), np.arange(10.0), "regression")
    assert table is None and len(fig.axes) == 2
