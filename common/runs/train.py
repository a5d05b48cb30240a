"""The fold loop: fit one model per fold, collect out-of-fold and test predictions.

A `CVContext` carries what every cross-validation of a contest shares (folds, metric, task, seed,
classes, training-row filter, target transform); the fold loop, the search, feature selection and the
validation report take it as one argument. `fit_oof` returns a small `CVResult` that every later step
(validation, ensembling, submission) consumes unchanged.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import BudgetSpent, DataError
from common.faults import checkpoint
from common.data.folds import Folds
from common.metrics import Metric
from common.models.base import create_model, model_inputs
from common.progress import progress as progress_bar
from common.registry import Registry

#: training-fold row filters, e.g. residual-based outlier removal: fn(X, y, seed, **params) -> keep mask
TRAIN_FILTERS: Registry[Callable[..., np.ndarray]] = Registry("train filter")


@dataclass(frozen=True)
class CVContext:
    """How a contest cross-validates: on which folds, scored how, and how each fold is fitted."""

    folds: Folds
    metric: Metric
    task: str
    seed: int = 0
    n_classes: int | None = None  # multiclass: the contest's classes (else those seen); sequence: the alphabet + blank
    train_filter: Any = None  # {name, params} of TRAIN_FILTERS: drops rows from each training fold only
    target_transform: str | None = None  # regression: fitted per fold, inverted on the predictions (common.models.target)
    cache_dir: Path | None = None  # where a model keeps what outlives a fold (bert's pre-trained encoder); None: nowhere

    def but(self, **changes: Any) -> CVContext:
        """The same context with some fields changed (other folds, another filter)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class CVResult:
    oof: np.ndarray
    test: np.ndarray
    fold_scores: list[float]
    score: float
    fit_seconds: list[float]
    fold_info: list[dict[str, Any]] = field(default_factory=list)
    repeat_scores: list[float] = field(default_factory=list)  # repeated folds: the score of each repeat's own OOF

    @property
    def score_std(self) -> float:
        return float(np.std(self.fold_scores))


def take(data: Any, idx: np.ndarray) -> Any:
    """Rows `idx` of a DataFrame, array, or list-like (whatever a model accepts as X)."""
    if data is None:
        return None
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data.iloc[idx]
    if isinstance(data, np.ndarray):
        return data[idx]
    if hasattr(data, "take"):
        return data.take(idx)
    return [data[i] for i in idx]


def filter_training_rows(X_tr: Any, y_tr: np.ndarray, train_filter: Any, seed: int = 0) -> tuple[Any, np.ndarray]:
    """A training fold with the rows `train_filter` ({name, params} of TRAIN_FILTERS) drops removed."""
    if train_filter is None:
        return X_tr, y_tr
    keep = TRAIN_FILTERS.create(train_filter.name, X_tr, y_tr, seed=seed, **train_filter.params)
    return take(X_tr, np.flatnonzero(keep)), y_tr[keep]


@dataclass(frozen=True)
class FoldFit:
    model: Any
    pred: np.ndarray  # validation predictions
    X_train: Any  # the training rows the model saw (after the filter)
    y_train: np.ndarray
    seconds: float  # fit and validation predict


def fit_fold(spec: Any, X: Any, y: np.ndarray, train_idx: np.ndarray, valid_idx: np.ndarray, cv: CVContext,
             workdir: Path | None = None, unlabelled: Any = None, annotations: pd.DataFrame | None = None) -> FoldFit:
    """One fold: drop the filtered training rows, fit with the validation rows as the eval set, predict them.

    The model sees only the columns it takes (numbers, categories, text); the target transform is fitted
    on this fold's training target and inverted on the predictions. The contest metric is handed to the
    model (`model.metric`) for selecting its best iteration on the validation rows, with the contest's cache
    folder (`model.cache_dir`) and the rows without labels (`model.unlabelled`: the test inputs, in the columns
    the model takes) for a model that learns from unlabelled text (bert's masked-LM pre-training), and the
    label-derived columns of the training rows (`model.annotations`, indexed like X: e.g. digit boxes an
    image model crops around), which guide training but are never features.
    """
    model = create_model(spec, cv.task, cv.seed, cv.n_classes, cv.target_transform)
    model.metric, model.cache_dir = cv.metric, cv.cache_dir
    model.unlabelled = None if unlabelled is None else model_inputs(unlabelled, model.takes)
    model.annotations = None if annotations is None else annotations.iloc[train_idx]
    X = model_inputs(X, model.takes)
    X_tr, y_tr = filter_training_rows(take(X, train_idx), y[train_idx], cv.train_filter, cv.seed)
    start = time.perf_counter()
    X_va = take(X, valid_idx)
    model.fit(X_tr, y_tr, X_va, y[valid_idx], workdir=workdir)
    pred = np.asarray(model.predict(X_va), dtype=np.float64)
    return FoldFit(model, pred, X_tr, y_tr, time.perf_counter() - start)


def fit_oof(spec: Any, X: Any, y: np.ndarray, X_test: Any, cv: CVContext, workdir: Path | None = None,
            on_fold: Callable[[int, float], None] | None = None, progress: bool = True,
            annotations: pd.DataFrame | None = None, deadline: float | None = None,
            clock: Callable[[], float] = time.monotonic) -> CVResult:
    """Cross-validate the model `spec` ({name, params}) on `cv.folds`, every repeat of them.

    The training filter drops rows from each training fold only, so validation rows - and so the CV
    score - are never touched. With repeated folds the OOF prediction of a row is its mean over the
    repeats (the score and the per-fold scores are those of that mean, on the primary folds) and the test
    prediction the mean of all fold models. `on_fold(i, running_score)` is called after each fit i of
    `cv.folds.n_fits` (the optimizer prunes from it). `annotations`: the train rows' label-derived columns,
    for `fit_fold`. `deadline` (a `clock()` time): when the fits left would end after it at the mean pace of
    the fits after the first, or it has passed, stop between two fits with BudgetSpent (common.runs.budget), before the first when it has passed.
    """
    y = np.asarray(y)
    folds, metric = cv.folds, cv.metric
    n_test, n_fits = len(X_test), folds.n_fits
    oofs: np.ndarray | None = None  # (repeat, row, ...)
    test_pred: np.ndarray | None = None
    scores, seconds, infos = [], [], []
    fits = list(folds.repeated_splits())
    label = getattr(spec, "run_label", spec.name)
    desc = f"{label} folds" + (f" x {folds.n_repeats} repeats" if folds.repeats else "")
    if deadline is not None and clock() >= deadline:
        raise BudgetSpent(f"{label}: not started, its share of the time budget is spent; nothing stored")
    took: list[float] = []  # clock seconds per fit, for the pace
    bar = progress_bar(fits, desc, enabled=progress, leave=False)
    for i, (r, k, tr, va) in enumerate(bar):
        started = clock()
        # the primary folds keep their folders (checkpoints, exported networks); a repeat's go beside them
        where = None if workdir is None else Path(workdir) / (f"fold{k}" if r == 0 else f"repeat{r}/fold{k}")
        fit = fit_fold(spec, X, y, tr, va, cv, where, X_test, annotations)
        start = time.perf_counter()
        pred_te = np.asarray(fit.model.predict(model_inputs(X_test, fit.model.takes)), dtype=np.float64)
        pred_va = fit.pred
        seconds.append(fit.seconds + time.perf_counter() - start)
        if oofs is None:
            oofs = np.full((folds.n_repeats, len(y), *pred_va.shape[1:]), np.nan)
            test_pred = np.zeros((n_test, *pred_te.shape[1:]))
        _check_finite(pred_va, spec.name, k, "validation")
        _check_finite(pred_te, spec.name, k, "test")
        oofs[r, va] = pred_va
        test_pred += pred_te / n_fits
        scores.append(metric(y[va], pred_va))
        info = {**fit.model.info, "train_rows": len(fit.y_train), "dropped_rows": int(len(tr) - len(fit.y_train))}
        infos.append({**info, "repeat": r, "fold": k} if folds.repeats else info)
        del fit  # its model and training rows (a copy: 0.75 GB of news text at full size) go before the next fold's
        postfix = {metric.name: f"{scores[-1]:.5f}"}
        checkpoint(f"fold:{label}:{k}" if r == 0 else f"fold:{label}:{r}.{k}")
        if on_fold is not None:
            on_fold(i, float(np.mean(scores)))
        if deadline is not None:
            took.append(clock() - started)
            # the pace leaves the first fit out: it pays what a model does once (a corpus' TF-IDF vocabulary,
            # bert's pre-training), so after it alone only a passed deadline stops the model
            pace = float(np.mean(took[1:])) if len(took) > 1 else 0.0
            left, to_go = deadline - clock(), pace * (n_fits - i - 1)
            if left <= 0:
                raise BudgetSpent(f"{label}: stopped after {i + 1} of {n_fits} fits: its share of the time budget is "
                                  "spent; nothing stored")
            if to_go > left:  # stop now rather than overrun: the share is handed on to the models after it
                raise BudgetSpent(f"{label}: stopped after {i + 1} of {n_fits} fits: the rest would take ~{to_go:.0f} s "
                                  f"and {left:.0f} s of its share of the time budget are left; nothing stored")
            postfix["left"] = f"{left:.0f}s"
        bar.set_postfix(postfix)
    validated = folds.validated
    oof = oofs[0] if not folds.repeats else oofs.mean(axis=0)
    if folds.repeats:  # the fold scores of the averaged OOF, comparable with the blends' (on the primary folds)
        scores = [metric(y[va], oof[va]) for _, va in folds.splits()]
    total = metric(y[validated], oof[validated])
    repeat_scores = [float(metric(y[validated], o[validated])) for o in oofs] if folds.repeats else []
    return CVResult(oof, test_pred, [float(s) for s in scores], float(total), seconds, infos, repeat_scores)


def _check_finite(pred: np.ndarray, name: str, fold: int, what: str) -> None:
    if not np.all(np.isfinite(pred)):
        bad = int(np.sum(~np.isfinite(pred)))
        raise DataError(
            f"model {name!r} produced {bad} NaN/inf {what} predictions in fold {fold}. Check the features for "
            "NaN/inf values or extreme scales, or lower the learning rate; nothing was saved for this run."
        )


@TRAIN_FILTERS.register("residual_outliers")
def residual_outliers(X: Any, y: np.ndarray, seed: int = 0, sigma: float = 3.0, model: str = "ridge") -> np.ndarray:
    """Keep rows whose residual under a quick in-fold model is within `sigma` standard deviations.

    Fitted on the training fold alone (the validation fold never sees it); the classic steam trick.
    """
    from common.config import Component

    y = np.asarray(y, dtype=float)
    fitted = create_model(Component(name=model), "regression", seed).fit(X, y)
    resid = y - fitted.predict(X)
    z = (resid - resid.mean()) / (resid.std() or 1.0)
    return np.abs(z) <= sigma
