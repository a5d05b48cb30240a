"""Stage 05's validation report: fold summary, OOF diagnostics per task, learning curve, hold-out."""
import html as html_lib
import re

import numpy as np
import pandas as pd
import pytest

from common.config import Component
from common.contest import Contest
from common.data.folds import make_folds
from common.metrics import get_metric
from common.runs.pipeline import current_runs, train_model
from common.runs.train import CVContext
from common.reports.validation import fold_summary, holdout_check, learning_curve, oof_diagnostics, validation_report
from tests.conftest import section_rows


def _trained(contest_dir):
    contest = Contest.load(contest_dir)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    for spec in contest.config.models:
        train_model(contest, spec, fs, folds)
    return contest, fs, folds, current_runs(contest, fs, folds)


@pytest.mark.parametrize("fixture", ["regression_contest", "binary_contest"])
def test_report_and_summary_for_each_task(fixture, request):
    contest, fs, folds, runs = _trained(request.getfixturevalue(fixture))
    path = validation_report(runs, fs.X, fs.y, contest.cv(fs, folds).but(seed=0), contest.reports_dir)
    html = path.read_text()
    for heading in ("Fold spread", "OOF diagnostics", "Learning curve", "Hold-out check", "SHAP"):
        assert f"<h2>{heading}</h2>" in html
    summary = pd.read_csv(contest.reports_dir / "validation_summary.csv")
    assert sorted(summary["run"]) == sorted(r.run_id for r in runs)
    scores = summary["cv_score"].to_numpy()
    assert np.all(np.diff(scores) >= 0) if contest.metric.direction == "minimize" else np.all(np.diff(scores) <= 0)
    assert html.count("data:image/png;base64,") == 5  # folds, OOF, learning curve, SHAP summary and dependence


def _table(page: str, heading: str) -> list[dict[str, str]]:
    """The rows of the (first) table in a report section, as {column: cell text}."""
    part = page[page.index(f"<h2>{heading}</h2>"):]
    part = part[:part.index("</table>")]
    columns = [html_lib.unescape(c).strip() for c in re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", part, flags=re.DOTALL)]
    return [dict(zip(columns, row)) for row in section_rows(part + "</table></section>", heading)]


def _g(value: float) -> str:
    return f"{value:.4g}"  # how common.reports.report writes floats


@pytest.mark.parametrize("fixture", ["regression_contest", "binary_contest"])
def test_report_tables_hold_the_runs_values(fixture, request):
    """Every number in the report's tables, checked against the runs' meta.json and the data."""
    contest, fs, folds, runs = _trained(request.getfixturevalue(fixture))
    page = validation_report(runs, fs.X, fs.y, contest.cv(fs, folds).but(seed=0), contest.reports_dir).read_text()
    by_id = {r.run_id: r for r in runs}
    spread = _table(page, "Fold spread")
    best_first = sorted(runs, key=lambda r: r.score, reverse=contest.metric.greater_is_better)
    assert [row["run"] for row in spread] == [r.run_id for r in best_first]
    for row in spread:
        meta = by_id[row["run"]].meta
        scores = np.asarray(meta["fold_scores"])
        assert row["model"] == meta["model"]["name"]
        assert row["cv_score"] == _g(meta["cv_score"]) and row["fold_mean"] == _g(scores.mean())
        assert row["fold_std"] == _g(scores.std()) and row["fold_min"] == _g(scores.min())
        assert row["fold_max"] == _g(scores.max()) and row["fit_seconds"] == _g(sum(meta["fit_seconds"]))
    best = best_first[0]
    assert f"Out-of-fold predictions of the best run, {best.run_id}." in page
    if contest.task == "binary":  # calibration of the best run's OOF predictions, bin by bin
        from sklearn.calibration import calibration_curve

        observed, predicted = calibration_curve(fs.y, best.oof, n_bins=10, strategy="quantile")
        calibration = _table(page, "OOF diagnostics")
        assert [row["mean_predicted"] for row in calibration] == [_g(v) for v in predicted]
        assert [row["observed"] for row in calibration] == [_g(v) for v in observed]
    probe = next(r for r in best_first if r.run_id in page[page.index("<h2>Learning curve</h2>"):])
    curve = _table(page, "Learning curve")
    assert [row["share"] for row in curve] == ["0.25", "0.5", "0.75", "1"]
    # the full share reuses the run's own folds: its CV is the mean of the run's fold scores
    assert curve[-1]["cv_mean"] == _g(np.mean(probe.meta["fold_scores"]))
    assert curve[-1]["cv_std"] == _g(np.std(probe.meta["fold_scores"]))
    sizes = [int(row["train_rows"]) for row in curve]
    assert sizes == sorted(sizes) and sizes[-1] == int(np.mean([len(tr) for tr, _ in folds.splits()]))
    (holdout,) = _table(page, "Hold-out check")
    assert int(holdout["cv_rows"]) + int(holdout["holdout_rows"]) == len(fs.y) == int(holdout["cv_rows"]) * 5 // 4
    assert float(holdout["gap"]) == pytest.approx(float(holdout["holdout_score"]) - float(holdout["cv_score"]),
                                                  abs=2e-3 * max(abs(float(holdout["cv_score"])), 1))


def test_validation_report_renders_in_a_real_browser(regression_contest, browser_check):
    contest, fs, folds, runs = _trained(regression_contest)
    path = validation_report(runs, fs.X, fs.y, contest.cv(fs, folds).but(seed=0), contest.reports_dir)
    page = browser_check(path)
    page.assert_ok(min_images=5)
    assert page.title == "Validation" and page.n_images == 5


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
    cv = CVContext(folds, mse, "regression")
    curve = learning_curve(spec, X, y, cv, fractions=(0.1, 0.5, 1.0), full=[0.5, 0.7, 0.6])
    assert curve["cv_mean"].iloc[0] > curve["cv_mean"].iloc[1]  # more rows, lower error
    assert curve["cv_mean"].iloc[2] == pytest.approx(0.6)
    assert curve["train_rows"].tolist() == [40, 200, 400]
    one = learning_curve(spec, X, y, cv, fractions=(0.5, 1.0), full=[0.5, 0.7, 0.6], max_folds=1)
    assert one["cv_std"].tolist() == [0.0, 0.0] and one["cv_mean"].iloc[1] == pytest.approx(0.5)  # first fold only


def test_holdout_check_is_close_to_cv_on_iid_data():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(1000, 5)))
    y = X.to_numpy() @ np.arange(1, 6) + rng.normal(size=1000)
    table = holdout_check(Component(name="ridge"), X, y, CVContext(make_folds(1000, "kfold", 5, 0), get_metric("mse"), "regression"))
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


@pytest.mark.parametrize("name", ["lightgbm", "xgboost", "catboost"])
@pytest.mark.parametrize("task", ["regression", "binary"])
def test_shap_values_add_up_to_the_raw_prediction_and_rank_the_signal_first(name, task):
    from common.models import create_model

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400),
                      "colour": pd.Categorical(rng.choice(["red", "blue", None], 400))})
    raw = 2.0 * X["signal"].to_numpy()
    y = raw + rng.normal(scale=0.1, size=400) if task == "regression" else (raw > 0).astype(int)
    params = {"n_estimators": 60, "early_stopping_rounds": 0}
    model = create_model(Component(name=name, params=params), task, seed=0).fit(X[:300], y[:300])
    values = model.contributions(X[300:])
    assert values.shape == (100, 4)  # three features and the expected value
    pred = model.predict(X[300:])
    raw_pred = pred if task == "regression" else np.log(pred / (1 - pred))
    np.testing.assert_allclose(values.sum(axis=1), raw_pred, rtol=1e-3, atol=1e-3)
    assert np.abs(values[:, 0]).mean() > 5 * np.abs(values[:, 1:3]).mean(axis=0).max()


def test_the_shap_section_explains_the_best_tree_run_on_its_first_fold(binary_contest):
    from common.reports.explain import importance_table, shap_values, tree_run

    contest, fs, folds, runs = _trained(binary_contest)
    summary = fold_summary(runs, contest.metric)
    run = tree_run(runs, summary)
    assert run.meta["model"]["name"] == "lightgbm"  # the logistic run cannot give TreeSHAP values
    values, rows = shap_values(run, fs.X, fs.y, contest.cv(fs, folds))
    _, first_valid = next(folds.splits())
    assert values.shape == (len(first_valid), fs.X.shape[1]) and list(rows.index) == list(fs.X.index[first_valid])
    table = importance_table(values, rows)
    assert table["mean_abs_shap"].is_monotonic_decreasing and set(table["feature"]) <= set(map(str, fs.X.columns))
