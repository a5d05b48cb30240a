"""Stage 05: how far to trust each run's CV score.

- fold spread: per-fold scores of every run, so a lucky fold shows;
- OOF diagnostics: residuals (regression), calibration (binary), confusion matrix (multiclass);
- learning curve: the CV score of one model trained on growing shares of each training fold;
- hold-out check: CV on 80% of train against the score on the untouched 20%.

The last two refit a model; they use one run (the best among the quick ones) to keep the stage short.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.config import Component
from common.data.folds import make_folds
from common.data.io import write_csv
from common.metrics import Metric
from common.reports.report import Report, pyplot
from common.runs.train import CVContext, fit_fold



def validation_report(runs: list, X, y: np.ndarray, cv: CVContext, out_dir: Path,
                      fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0), max_fit_seconds: float = 2.0,
                      refit_budget_s: float = 120.0) -> Path:
    """Write validation.html and validation_summary.csv into `out_dir`; returns the HTML path.

    The learning curve and hold-out check refit the probe model; on big data they use fewer folds so
    that the refits take about `refit_budget_s`.
    """
    y = np.asarray(y)
    folds, metric = cv.folds, cv.metric
    report = Report("Validation", Path(out_dir))
    summary = fold_summary(runs, metric)
    write_csv(Path(out_dir) / "validation_summary.csv", summary)

    report.section("Fold spread")
    report.text(f"CV {metric.name} ({metric.direction}) of every run on folds {folds.hash}, with the spread over "
                f"its {folds.n_splits} folds. A run whose advantage is smaller than its fold std is not clearly better.")
    report.table(summary.drop(columns=["fold_scores"]))
    report.figure(plot_fold_scores(runs, metric), "validation_folds", "per-fold scores of every run")

    best = summary["run"].iloc[0]
    best_run = next(r for r in runs if r.run_id == best)
    report.section("OOF diagnostics")
    report.text(f"Out-of-fold predictions of the best run, {best}.")
    fig, table = oof_diagnostics(best_run.oof, y, cv.task, folds.validated)
    report.figure(fig, "validation_oof", "out-of-fold diagnostics")
    if table is not None:
        report.table(table)

    probe = _probe_run(runs, summary, max_fit_seconds)
    spec = Component(**probe.meta["model"])
    flt = probe.meta.get("train_filter")
    # refits as the probe run was fitted: its training filter and target transform
    cv = cv.but(train_filter=Component(**flt) if flt else None, target_transform=probe.meta.get("target_transform"))
    report.section("Learning curve")
    fold_s = float(np.mean(probe.meta.get("fit_seconds", [0.0])))
    n_refits = sum(f < 1 for f in fractions) * folds.n_splits + 4
    max_folds = max(1, min(folds.n_splits, int(refit_budget_s / max(fold_s, 1e-3) / max(n_refits / folds.n_splits, 1))))
    curve = learning_curve(spec, X, y, cv, fractions, full=probe.meta["fold_scores"], max_folds=max_folds)
    if max_folds < folds.n_splits:
        report.text(f"Refits take ~{fold_s:.0f} s each: the curve uses the first {max_folds} of {folds.n_splits} folds.",
                    note=True)
    report.text(f"{probe.run_id} refitted on shares of each training fold, scored on the full validation folds. "
                "A curve still improving at 100% says more data (or pseudo-labels) would help; a flat one "
                "says the model, not the data, limits the score.")
    report.table(curve)
    report.figure(plot_learning_curve(curve, metric), "validation_learning_curve", "learning curve")

    report.section("Hold-out check")
    check = holdout_check(spec, X, y, cv, inner_splits=3 if max_folds < folds.n_splits else 5)
    report.text(f"{probe.run_id}: CV on 80% of the rows versus the score on the held-out 20%. The gap is what to "
                "expect between CV and a leaderboard drawn from the same distribution.")
    report.table(check)
    _explain(report, runs, summary, X, y, cv, refit_budget_s)
    return report.write("validation.html")


def _explain(report: Report, runs: list, summary: pd.DataFrame, X, y: np.ndarray, cv: CVContext,
             refit_budget_s: float) -> None:
    """The SHAP section: the best tree run refitted on its first fold, its validation rows explained."""
    from common.reports.explain import importance_table, plot_dependence, plot_summary, shap_values, tree_run

    run = tree_run(runs, summary)
    if run is None:
        return
    report.section("SHAP")
    fold_s = float(np.mean(run.meta.get("fit_seconds", [0.0])))
    if fold_s > refit_budget_s:
        report.text(f"{run.run_id}: a fold takes ~{fold_s:.0f} s to fit, more than the report's refit budget "
                    f"({refit_budget_s:.0f} s); no SHAP values this time.", note=True)
        return
    values, rows = shap_values(run, X, y, cv)
    table = importance_table(values, rows)
    report.text(f"{run.run_id}, the best tree run, refitted on fold 0 and explained on its {len(rows)} validation "
                "rows (TreeSHAP from the library). Each dot is a row: how far that feature moved the model's raw "
                "output (log-odds for binary) from the average, coloured by the feature's value.")
    report.table(table)
    report.figure(plot_summary(values, rows, table), "validation_shap", "SHAP summary")
    report.figure(plot_dependence(values, rows, list(table["feature"][:3])), "validation_shap_dependence",
                  "SHAP dependence of the top features")


def fold_summary(runs: list, metric: Metric) -> pd.DataFrame:
    """One row per run: CV score, fold mean/std/min/max, best first."""
    rows = []
    for r in runs:
        s = np.asarray(r.meta["fold_scores"], dtype=float)
        rows.append({"run": r.run_id, "model": r.meta["model"]["name"], "cv_score": r.score, "fold_mean": s.mean(),
                     "fold_std": s.std(), "fold_min": s.min(), "fold_max": s.max(),
                     "fit_seconds": float(np.sum(r.meta.get("fit_seconds", [0]))),
                     "fold_scores": " ".join(f"{v:.5g}" for v in s)})
    table = pd.DataFrame(rows)
    return table.sort_values("cv_score", ascending=not metric.greater_is_better, ignore_index=True)


def oof_diagnostics(oof: np.ndarray, y: np.ndarray, task: str, mask: np.ndarray | None = None):
    """A figure (and a table for classification) describing the OOF errors."""
    plt = pyplot()
    mask = np.ones(len(y), bool) if mask is None else mask
    oof, y = oof[mask], y[mask]
    if task == "regression":
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        a.scatter(y, oof, s=4, alpha=0.4, color="#1d3557")
        lo, hi = float(min(y.min(), oof.min())), float(max(y.max(), oof.max()))
        a.plot([lo, hi], [lo, hi], color="#e76f51", lw=1)
        a.set(xlabel="target", ylabel="OOF prediction", title="prediction vs target")
        b.hist(oof - y, bins=60, color="#457b9d")
        b.set(xlabel="residual (prediction - target)", title="residuals")
        return fig, None
    if task == "binary":
        from sklearn.calibration import calibration_curve

        prob_true, prob_pred = calibration_curve(y, oof, n_bins=10, strategy="quantile")
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
        a.plot(prob_pred, prob_true, "o-", color="#1d3557")
        a.plot([0, 1], [0, 1], "--", color="#999")
        a.set(xlabel="mean predicted probability", ylabel="observed share of 1", title="calibration")
        for k, color in ((0, "#457b9d"), (1, "#e76f51")):
            b.hist(oof[y == k], bins=40, alpha=0.6, density=True, color=color, label=f"y={k}")
        b.set(xlabel="OOF probability", title="score distribution per class")
        b.legend()
        table = pd.DataFrame({"mean_predicted": prob_pred, "observed": prob_true})
        return fig, table
    from sklearn.metrics import confusion_matrix

    if task == "sequence":  # characters at every position (the blank last): which ones the model confuses
        y, oof = y.ravel(), oof.reshape(-1, oof.shape[-1])
    labels = np.arange(oof.shape[1])
    cm = confusion_matrix(y, oof.argmax(1), labels=labels)
    fig, ax = plt.subplots(figsize=(0.45 * len(labels) + 3, 0.45 * len(labels) + 2.5))
    ax.imshow(cm / np.maximum(cm.sum(1, keepdims=True), 1), cmap="Blues")
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (row-normalised)")
    ax.set_xticks(labels)
    ax.set_yticks(labels)
    recall = np.diag(cm) / np.maximum(cm.sum(1), 1)
    precision = np.diag(cm) / np.maximum(cm.sum(0), 1)
    table = pd.DataFrame({"class": labels, "rows": cm.sum(1), "recall": recall, "precision": precision})
    return fig, table


def learning_curve(spec: Component, X, y: np.ndarray, cv: CVContext,
                   fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0), full: list[float] | None = None,
                   max_folds: int | None = None) -> pd.DataFrame:
    """CV score when each training fold is cut to a share of its rows (same validation rows).

    `full`: the run's own fold scores, reused for share 1.0 instead of refitting; `max_folds`: use only
    the first folds (for slow models).
    """
    rng = np.random.default_rng(cv.seed)
    rows = []
    splits = list(cv.folds.splits())[:max_folds]
    full = None if full is None else list(full)[:max_folds]
    for frac in fractions:
        if frac >= 1 and full is not None:
            rows.append({"share": 1.0, "train_rows": int(np.mean([len(tr) for tr, _ in splits])),
                         "cv_mean": float(np.mean(full)), "cv_std": float(np.std(full))})
            continue
        scores, n_rows = [], []
        for tr, va in splits:
            part = np.sort(rng.choice(tr, max(int(len(tr) * frac), 10), replace=False)) if frac < 1 else tr
            pred = fit_fold(spec, X, y, part, va, cv).pred
            scores.append(cv.metric(y[va], pred))
            n_rows.append(len(part))
        rows.append({"share": frac, "train_rows": int(np.mean(n_rows)), "cv_mean": float(np.mean(scores)),
                     "cv_std": float(np.std(scores))})
    return pd.DataFrame(rows)


def holdout_check(spec: Component, X, y: np.ndarray, cv: CVContext, holdout: float = 0.2,
                  inner_splits: int = 5) -> pd.DataFrame:
    """CV score on (1 - holdout) of the rows against the score of one model fitted there on the rest."""
    n, seed, metric = len(y), cv.seed, cv.metric
    scheme = "stratified" if cv.task in ("binary", "multiclass") else "kfold"  # a sequence target has no one class
    split = make_folds(n, scheme, int(round(1 / holdout)), seed + 1, y=y)
    held = np.flatnonzero(split.assignment == 0)
    kept = np.flatnonzero(split.assignment != 0)
    inner = make_folds(len(kept), scheme, max(2, min(cv.folds.n_splits, inner_splits)), seed, y=y[kept])
    oof = None
    for tr, va in inner.splits():
        pred = fit_fold(spec, X, y, kept[tr], kept[va], cv).pred
        oof = np.zeros((len(kept), *pred.shape[1:])) if oof is None else oof
        oof[va] = pred
    score = metric(y[kept], oof)
    hold = metric(y[held], fit_fold(spec, X, y, kept, held, cv).pred)
    return pd.DataFrame([{"cv_rows": len(kept), "cv_score": score, "holdout_rows": len(held), "holdout_score": hold,
                          "gap": hold - score}])


def plot_fold_scores(runs: list, metric: Metric):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(runs) + 1.2))
    for i, r in enumerate(runs):
        s = r.meta["fold_scores"]
        ax.scatter(s, [i] * len(s), color="#457b9d", s=18)
        ax.scatter([r.score], [i], color="#e76f51", marker="|", s=300)
    ax.set_yticks(range(len(runs)), [r.run_id for r in runs], fontsize=8)
    ax.set_xlabel(f"{metric.name} per fold (blue) and CV (orange)")
    return fig


def plot_learning_curve(curve: pd.DataFrame, metric: Metric):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.errorbar(curve["train_rows"], curve["cv_mean"], yerr=curve["cv_std"], marker="o", color="#1d3557", capsize=3)
    ax.set(xlabel="training rows per fold", ylabel=f"CV {metric.name}", title="learning curve")
    return fig


def _probe_run(runs: list, summary: pd.DataFrame, max_fit_seconds: float):
    """The best run whose folds fit in `max_fit_seconds` on average, else the fastest."""
    by_id = {r.run_id: r for r in runs}
    for run_id in summary["run"]:
        r = by_id[run_id]
        if np.mean(r.meta.get("fit_seconds", [np.inf])) <= max_fit_seconds:
            return r
    return min(runs, key=lambda r: np.mean(r.meta.get("fit_seconds", [np.inf])))
