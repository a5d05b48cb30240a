"""SHAP explanations of the best tree run for the validation report: TreeSHAP values from the library
itself (LightGBM `pred_contrib`, XGBoost `pred_contribs`, CatBoost `ShapValues`), no extra package.

The run's model is refitted on its first fold (the fold models are not kept) and explains that fold's
validation rows, in the model's raw output space: the target (or its transform) for regression, log-odds
for binary, each class's score for multiclass (averaged in absolute value over classes for the ranking).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from common.config import Component
from common.models.base import model_inputs
from common.reports.report import pyplot
from common.runs.train import CVContext, fit_fold, take

TREE_MODELS = ("lightgbm", "xgboost", "catboost")


def tree_run(runs: list, summary: pd.DataFrame):
    """The best-scoring run of a tree model that gives SHAP values, or None."""
    by_id = {r.run_id: r for r in runs}
    for run_id in summary["run"]:
        run = by_id[run_id]
        if run.meta.get("model", {}).get("name") in TREE_MODELS:
            return run
    return None


def shap_values(run, X, y: np.ndarray, cv: CVContext, max_rows: int = 2000) -> tuple[np.ndarray, pd.DataFrame]:
    """(values (rows, features), the explained rows of X): the run refitted on fold 0, its validation rows."""
    flt = run.meta.get("train_filter")
    cv = cv.but(train_filter=Component(**flt) if flt else None, target_transform=run.meta.get("target_transform"))
    tr, va = next(cv.folds.splits())
    if len(va) > max_rows:  # TreeSHAP costs rows x trees x leaves: a sample explains as well
        va = np.sort(np.random.default_rng(cv.seed).choice(va, max_rows, replace=False))
    fit = fit_fold(Component(**run.meta["model"]), X, y, tr, va, cv)
    rows = model_inputs(take(X, va), fit.model.takes)
    values = np.asarray(fit.model.contributions(rows))
    values = np.abs(values[:, :, :-1]).mean(axis=1) if values.ndim == 3 else values[:, :-1]
    return values, rows


def importance_table(values: np.ndarray, rows: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """Features by mean |SHAP|, the largest first."""
    mean_abs = np.abs(values).mean(axis=0)
    order = np.argsort(-mean_abs)[:top]
    return pd.DataFrame({"feature": [str(rows.columns[i]) for i in order], "mean_abs_shap": mean_abs[order]})


def _codes(column: pd.Series) -> np.ndarray:
    """A column as numbers to colour and place by: category codes (NaN -> NaN), numbers as they are."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.where(column.cat.codes.to_numpy() < 0, np.nan, column.cat.codes.to_numpy()).astype(float)
    return pd.to_numeric(column, errors="coerce").to_numpy(float)


def plot_summary(values: np.ndarray, rows: pd.DataFrame, table: pd.DataFrame):
    """A beeswarm-like summary: one row of dots per feature (SHAP value across, jittered), coloured by
    the feature's value from low (blue) to high (red), grey where missing."""
    plt = pyplot()
    features = list(table["feature"])
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(features) + 1.2))
    rng = np.random.default_rng(0)
    index = {str(c): i for i, c in enumerate(rows.columns)}
    for k, name in enumerate(reversed(features)):
        i = index[name]
        raw = _codes(rows.iloc[:, i])
        rank = pd.Series(raw).rank(pct=True).to_numpy()
        y = k + rng.uniform(-0.3, 0.3, len(raw))
        ax.scatter(values[:, i], y, c=np.where(np.isnan(rank), 0.5, rank), cmap="coolwarm", s=6, alpha=0.6, linewidths=0)
        missing = np.isnan(raw)
        if missing.any():
            ax.scatter(values[missing, i], y[missing], color="#999999", s=6, alpha=0.6, linewidths=0)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.set_yticks(range(len(features)), list(reversed(features)))
    ax.set_xlabel("SHAP value (effect on the model's raw output)")
    fig.tight_layout()
    return fig


def plot_dependence(values: np.ndarray, rows: pd.DataFrame, features: list[str]):
    """For each feature: its value against its SHAP value (how the model uses it)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(features), figsize=(4.2 * len(features), 3.4), squeeze=False)
    index = {str(c): i for i, c in enumerate(rows.columns)}
    for ax, name in zip(axes[0], features):
        i = index[name]
        column = rows.iloc[:, i]
        x = _codes(column)
        ax.scatter(x, values[:, i], s=6, alpha=0.5, color="#3a86ff", linewidths=0)
        if isinstance(column.dtype, pd.CategoricalDtype) and len(column.cat.categories) <= 20:
            ax.set_xticks(range(len(column.cat.categories)), [str(c) for c in column.cat.categories], rotation=45,
                          fontsize=7)
        ax.axhline(0, color="#444444", linewidth=0.8)
        ax.set_xlabel(name)
        ax.set_ylabel("SHAP value")
    fig.tight_layout()
    return fig
