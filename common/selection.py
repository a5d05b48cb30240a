"""Feature selection on the saved folds: permutation importance and null importance.

Both are out-of-fold: for each fold a model is fitted on the other folds, and

- **permutation** shuffles one column of the validation fold at a time (`n_repeats` times) and
  measures how much the fold's score gets worse. score = mean drop / its standard error over the
  folds, so pure noise sits near 0; the default threshold 2 keeps a column whose drop is about two
  standard errors above nothing.
- **null** (Olivier's null importance) compares the model's gain importance with the gain the same
  column earns when the training target is shuffled (`n_repeats` shuffles per fold, the same number
  of boosting rounds as the real fit): score = log(1e-10 + real gain / (1 + 75th percentile of the
  null gains)). A shuffled target spreads a large gain over every column while a real fit
  concentrates it, so with a strong signal few columns beat 0; as in Olivier's kernel the cut is
  therefore chosen by CV unless a threshold is given: the top-k columns for a few k are
  cross-validated and the smallest k within one standard error of the best CV is kept.

`select` returns one small `Selection` (table, kept columns, CV with all and with the kept ones);
`save_selection` writes reports/feature_importance.csv and .png and the kept list that the
`select_features` feature step reads in stage 04.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.config import Component
from common.errors import ConfigError
from common.features import SELECTED_FEATURES
from common.data.io import read_json, save_figure, stable_hash, write_csv, write_json
from common.metrics import Metric
from common.models.base import create_model
from common.progress import progress as progress_bar
from common.reports.report import pyplot
from common.runs.train import CVContext, fit_fold, fit_oof, take

METHODS = ("permutation", "null")
DEFAULT_THRESHOLDS = {"permutation": 2.0, "null": None}  # None: chosen by CV (see the module docstring)
#: shares of the columns tried when the cut is chosen by CV (plus every column, and those scoring above 0)
CUT_SHARES = (0.75, 0.5, 0.35, 0.25, 0.15, 0.1)


@dataclass(frozen=True)
class Selection:
    method: str
    table: pd.DataFrame  # feature, importance, importance_std, score, kept; best first
    threshold: float
    score_all: float  # CV score with every column (out-of-fold predictions of the importance fits)
    score_kept: float  # CV score refitted on the kept columns
    cuts: tuple[tuple[int, float], ...] = ()  # (columns kept, CV) tried when the cut was chosen by CV

    @property
    def kept(self) -> list[str]:
        return self.table.loc[self.table["kept"], "feature"].tolist()

    @property
    def dropped(self) -> list[str]:
        return self.table.loc[~self.table["kept"], "feature"].tolist()


def importance(method: str, spec: Component, X: pd.DataFrame, y: np.ndarray, cv: CVContext, n_repeats: int = 3,
               progress: bool = True) -> tuple[pd.DataFrame, float, float]:
    """Per-column importance table (unsorted, no `kept`), and the real fits' CV score and fold spread."""
    if method not in METHODS:
        raise ConfigError(f"optimize.selection.method must be one of {METHODS}; got {method!r}")
    if n_repeats < 1:
        raise ConfigError(f"optimize.selection.n_repeats must be at least 1; got {n_repeats}")
    y = np.asarray(y)
    folds, metric, seed = cv.folds, cv.metric, cv.seed
    rng = np.random.default_rng(seed)
    columns = list(X.columns)
    samples: list[np.ndarray] = []  # permutation: drops (folds*repeats, n_cols); null: null gains
    real: list[np.ndarray] = []  # null: the real fits' gains, one row per fold
    oof, fold_scores = None, []
    for k, (tr, va) in enumerate(progress_bar(list(folds.splits()), desc=f"{method} importance folds", leave=False,
                                              enabled=progress)):
        fit = fit_fold(spec, X, y, tr, va, cv)
        if oof is None:
            oof = np.full((len(y), *fit.pred.shape[1:]), np.nan)
        oof[va] = fit.pred
        fold_scores.append(metric(y[va], fit.pred))
        if method == "permutation":
            samples.extend(_permutation_drops(fit.model, take(X, va), y[va], fold_scores[-1], metric, rng, n_repeats))
        else:
            real.append(_gains(fit.model, columns, spec))
            rounds = fit.model.info.get("best_iteration")
            null_spec = Component(name=spec.name, params={**spec.params, **(
                {"n_estimators": rounds, "early_stopping_rounds": 0} if rounds else {})})
            for _ in range(n_repeats):
                # Same rows, same rounds, shuffled target: the gain a column earns by chance.
                null = create_model(null_spec, cv.task, seed, cv.n_classes).fit(fit.X_train, rng.permutation(fit.y_train))
                samples.append(_gains(null, columns, spec))
    validated = folds.validated
    score_all = float(metric(y[validated], oof[validated]))
    draws = np.vstack(samples)
    if method == "permutation":
        # Repeats are averaged within a fold: folds, not shuffles, are the independent draws.
        per_fold = draws.reshape(folds.n_splits, n_repeats, len(columns)).mean(1)
        mean, std = per_fold.mean(0), per_fold.std(0, ddof=1)
        sem = std / np.sqrt(len(per_fold))
        score = np.divide(mean, sem, out=np.zeros_like(mean), where=sem > 0)
        score = np.where((sem == 0) & (mean > 0), np.inf, score)  # the same drop in every fold: clearly useful
        table = pd.DataFrame({"feature": columns, "importance": mean, "importance_std": std, "score": score})
    else:
        actual = np.vstack(real)
        p75 = np.percentile(draws, 75, axis=0)
        table = pd.DataFrame({"feature": columns, "importance": actual.mean(0), "importance_std": actual.std(0),
                              "null_importance_p75": p75,
                              "score": np.log(1e-10 + actual.mean(0) / (1.0 + p75))})
    return table, score_all, float(np.std(fold_scores))


def select(method: str, spec: Component, X: pd.DataFrame, y: np.ndarray, cv: CVContext, n_repeats: int = 3,
           threshold: float | None = None, progress: bool = True) -> Selection:
    """Rank the columns of X by `method` and keep those scoring above `threshold` (at least one).

    With no threshold and no method default (null importance), the cut is chosen by CV. Either way the
    model is cross-validated on the kept columns, so the two CV scores can be compared before the
    list is used.
    """
    threshold = DEFAULT_THRESHOLDS[method] if threshold is None else float(threshold)
    table, score_all, spread_all = importance(method, spec, X, y, cv, n_repeats, progress)
    folds, metric = cv.folds, cv.metric
    table = table.sort_values(["score", "importance"], ascending=False, kind="stable").reset_index(drop=True)

    def cv_top(k: int) -> Any:
        top = X[table["feature"][:k].tolist()]
        return fit_oof(spec, top, y, top.iloc[:1], cv, progress=False)

    if threshold is None:
        n = len(table)
        sizes = sorted({max(int((table["score"] > 0).sum()), 1), *(max(int(np.ceil(n * f)), 1) for f in CUT_SHARES)} - {n})
        tried = {n: (score_all, spread_all)}
        for k in progress_bar(sizes, desc="choosing the cut", leave=False, enabled=progress):
            result = cv_top(k)
            tried[k] = (result.score, result.score_std)
        sign = -1.0 if metric.greater_is_better else 1.0
        best = min(tried, key=lambda k: sign * tried[k][0])
        tolerance = tried[best][1] / np.sqrt(folds.n_splits)  # one standard error of the best CV
        k = min(k for k in tried if sign * (tried[k][0] - tried[best][0]) <= tolerance)
        table["kept"] = np.arange(n) < k
        cuts = tuple((size, float(v[0])) for size, v in sorted(tried.items()))
        return Selection(method, table, float(table["score"][k - 1]), score_all, float(tried[k][0]), cuts)
    table["kept"] = table["score"] > threshold
    if not table["kept"].any():
        table.loc[0, "kept"] = True  # an empty feature set trains nothing: keep the best column
    kept = int(table["kept"].sum())
    score_kept = score_all if kept == len(table) else float(cv_top(kept).score)
    return Selection(method, table, threshold, score_all, score_kept)


def save_selection(selection: Selection, root: str | Path, metric_name: str, extra: dict[str, Any] | None = None,
                   path: str = SELECTED_FEATURES) -> dict[str, Path]:
    """Write reports/feature_importance.csv and .png, and the kept list (`path`, relative to `root`)."""
    paths = selection_paths(root, path)
    write_csv(paths["table"], selection.table)
    save_figure(paths["plot"], plot_importance(selection))
    write_json(paths["features"], {
        "features": selection.kept, "dropped": selection.dropped, "method": selection.method,
        "threshold": selection.threshold, "metric": metric_name, "cv_all": selection.score_all,
        "cv_kept": selection.score_kept, "cuts_tried": [{"kept": k, "cv": v} for k, v in selection.cuts],
        **(extra or {}),
    })
    return paths


def selection_paths(root: str | Path, path: str = SELECTED_FEATURES) -> dict[str, Path]:
    """Where a selection lives: its importance table and plot under reports/, the kept list at `path`."""
    root = Path(root)
    return {"table": root / "reports" / "feature_importance.csv", "plot": root / "reports" / "feature_importance.png",
            "features": root / path}


def plot_importance(selection: Selection):
    """Horizontal bars of each column's score, kept columns in blue, the threshold dashed."""
    plt = pyplot()

    table = selection.table
    scores = table["score"].replace([np.inf, -np.inf], np.nan)
    finite = scores.dropna()
    cap = (finite.abs().max() if len(finite) else 1.0) * 1.1 or 1.0
    shown = table["score"].clip(-cap, cap)
    fig, ax = plt.subplots(figsize=(8, 0.25 * len(table) + 1.5))
    colors = np.where(table["kept"], "#457b9d", "#c9c9c9")
    ax.barh(table["feature"][::-1].astype(str), shown[::-1], color=colors[::-1])
    ax.axvline(selection.threshold, color="#e76f51", linestyle="--", label=f"{'cut chosen by CV' if selection.cuts else 'threshold'} {selection.threshold:.3g}")
    what = {"permutation": "permutation importance: mean score drop / standard error",
            "null": "null importance: log(real gain / (1 + 75th pct of shuffled-target gain))"}[selection.method]
    ax.set_xlabel(what)
    ax.set_title(f"{len(selection.kept)} of {len(table)} features kept (blue)")
    ax.legend(loc="lower right")
    return fig


def _permutation_drops(model: Any, X_va: pd.DataFrame, y_va: np.ndarray, base: float, metric: Metric,
                       rng: np.random.Generator, n_repeats: int) -> list[np.ndarray]:
    """Score drops when each column of the validation fold is shuffled; `base` is the fold's unshuffled score."""
    sign = 1.0 if metric.greater_is_better else -1.0
    drops = np.zeros((n_repeats, X_va.shape[1]))
    shuffled = X_va.copy()
    for j, column in enumerate(X_va.columns):
        original = shuffled[column].copy()
        for r in range(n_repeats):
            shuffled[column] = rng.permutation(original.to_numpy())
            drops[r, j] = sign * (base - metric(y_va, np.asarray(model.predict(shuffled), dtype=np.float64)))
        shuffled[column] = original
    return list(drops)


def _gains(model: Any, columns: list[str], spec: Component) -> np.ndarray:
    if not hasattr(model, "feature_importance"):
        raise ConfigError(f"null importance needs a model that reports gain importance (e.g. lightgbm); "
                          f"{spec.name!r} does not. Set optimize.selection.model to lightgbm, or use "
                          "method: permutation (works with any model).")
    gains = model.feature_importance()
    return np.array([float(gains.get(str(c), 0.0)) for c in columns])


def select_contest_features(contest: Any, progress: bool = True) -> tuple[Selection, dict[str, Path]]:
    """Stage 06's selection: rank the contest's features (before any select_features step) and save the list.

    The model is optimize.selection.model, else optimize.model, else lightgbm with its defaults. A rerun
    with the same features, folds and settings (resuming the search after it) reads the saved
    selection instead of fitting it again.
    """
    cfg = contest.config
    sel = cfg.optimize.selection
    steps = [s for s in cfg.features if s.name != "select_features"]
    features, folds = contest.features(log=lambda _: None, steps=steps), contest.folds()
    spec = sel.model or cfg.optimize.model or Component(name="lightgbm")
    key = stable_hash(sel.model_dump(), spec.model_dump(), cfg.train.filter and cfg.train.filter.model_dump(),
                      cfg.seed, contest.metric.name, features.key, folds.hash)
    saved = load_selection(contest.root, key)
    if saved is not None:
        if progress:
            print(f"selection: unchanged since the last run, read from {saved[1]['features']}")
        return saved
    selection = select(sel.method, spec, features.X, features.y, contest.cv(features, folds), sel.n_repeats,
                       sel.threshold, progress=progress)
    paths = save_selection(selection, contest.root, contest.metric.name, {
        "model": spec.model_dump(), "feature_key": features.key, "fold_hash": folds.hash, "key": key})
    return selection, paths


def load_selection(root: str | Path, key: str, path: str = SELECTED_FEATURES) -> tuple[Selection, dict[str, Path]] | None:
    """The selection `save_selection` wrote under this `key`, or None when there is none (or another one)."""
    paths = selection_paths(root, path)
    if not all(p.is_file() for p in paths.values()):
        return None
    saved = read_json(paths["features"])
    if saved.get("key") != key:
        return None
    table = pd.read_csv(paths["table"], dtype={"feature": str})
    selection = Selection(saved["method"], table, saved["threshold"], saved["cv_all"], saved["cv_kept"],
                          tuple((c["kept"], c["cv"]) for c in saved["cuts_tried"]))
    return (selection, paths) if selection.kept == saved["features"] else None
