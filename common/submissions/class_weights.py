"""Per-class decision weights for multiclass label submissions: label = argmax(p * w).

A model's argmax is the right decision for accuracy, not for macro-F1: a class the model under-predicts
(rare, or squeezed by a confusable neighbour) costs a whole class's F1. Weights are tuned on the chosen
blend's OOF probabilities by coordinate ascent over the classes on a log-spaced grid (deterministic), and
cross-fitted on the contest folds (fitted on the other folds' rows, scored on each fold's rows) so the
gain stage 07 prints is not the optimistic in-sample one; they are applied only when that cross-fitted
gain is beyond the fold-to-fold noise (see `ClassWeights.applied`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

GRID = np.geomspace(0.1, 10.0, 33)  # 1.0 sits in the middle; neighbours ~15% apart


@dataclass(frozen=True)
class ClassWeights:
    """Tuned weights and the figures that judge them (all on the validated OOF rows).

    `plain`: the argmax's score; `tuned`: with `weights` fitted on every row (optimistic);
    `cross_fitted`: each fold's rows labelled with weights fitted on the other folds' rows;
    `fold_gains`: cross-fitted minus plain, per fold, in 'higher is better' units.
    """

    weights: np.ndarray
    plain: float
    tuned: float
    cross_fitted: float
    fold_gains: np.ndarray
    sign: float = 1.0  # the metric's: +1 maximise, -1 minimise

    @property
    def noise(self) -> float:
        """The standard error of the mean per-fold gain: how much a gain could be luck."""
        g = self.fold_gains
        return float(np.std(g, ddof=1) / np.sqrt(len(g))) if len(g) > 1 else float("inf")

    @property
    def applied(self) -> bool:
        """Worth using: the cross-fitted gain is positive overall and its per-fold mean exceeds twice its noise
        (about a one-sided 95% test: on 100 draws of probabilities carrying no signal, 4 classes, 600 rows, one
        standard error let 7 through, two let 1)."""
        gains = self.fold_gains
        return bool(len(gains) > 1 and self.cross_fitted_gain > 0 and gains.mean() > 2 * self.noise)

    @property
    def cross_fitted_gain(self) -> float:
        return float(self.sign * (self.cross_fitted - self.plain))

    def describe(self, metric_name: str, classes: tuple | None = None) -> str:
        """The stage 07 line: the plain, cross-fitted (honest) and in-sample scores, and whether the weights are used."""
        mean_gain = self.fold_gains.mean() if len(self.fold_gains) else float("nan")
        names = classes or tuple(range(len(self.weights)))
        shown = " ".join(f"{c}:{w:.2f}" for c, w in zip(names, self.weights) if w != 1.0) or "all 1"
        verdict = ("applied to the test predictions" if self.applied else
                   "not beyond twice its standard error: plain argmax kept")
        return (f"labels: argmax of p * class weights tuned on the OOF predictions ({metric_name} "
                f"{self.plain:.5f} plain argmax, {self.cross_fitted:.5f} cross-fitted on the folds, "
                f"{self.tuned:.5f} fitted on all rows (optimistic); per-fold gain {mean_gain:+.5f} "
                f"+/- {self.noise:.5f} s.e.): {verdict}; weights {shown}")


def weighted_labels(proba: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Class codes: the argmax of the probabilities scaled per class (plain argmax without weights)."""
    proba = np.asarray(proba, dtype=float)
    return (proba if weights is None else proba * np.asarray(weights, dtype=float)).argmax(axis=1)


def label_scorer(metric, y: np.ndarray, n_classes: int) -> Callable[[np.ndarray], float]:
    """`score(codes)`: the metric of class codes against `y`, in 'higher is better' units.
    macro-F1, MCC and accuracy are counted from a confusion matrix (the search scores thousands of labelings);
    other metrics are called on a one-hot matrix of the codes."""
    y = np.asarray(y, dtype=np.int64)
    sign = metric.sign()

    def confusion(codes: np.ndarray) -> np.ndarray:
        return np.bincount(y * n_classes + codes, minlength=n_classes * n_classes).reshape(n_classes, n_classes)

    def macro_f1(codes: np.ndarray) -> float:
        cm = confusion(codes)
        tp, support, predicted = np.diag(cm).astype(float), cm.sum(axis=1), cm.sum(axis=0)
        present = (support + predicted) > 0  # sklearn averages over the labels in y_true or y_pred
        return float(np.mean(2 * tp[present] / (support + predicted)[present]))

    def mcc(codes: np.ndarray) -> float:
        cm = confusion(codes).astype(float)
        n, true, predicted = cm.sum(), cm.sum(axis=1), cm.sum(axis=0)
        denominator = np.sqrt((n * n - predicted @ predicted) * (n * n - true @ true))
        return float((np.trace(cm) * n - true @ predicted) / denominator) if denominator > 0 else 0.0

    fast = {"macro_f1": macro_f1, "mcc": mcc, "accuracy": lambda codes: float(np.mean(codes == y))}
    if metric.name in fast:
        return fast[metric.name]
    eye = np.eye(n_classes)  # a one-hot matrix: the metric's own argmax returns the codes unchanged
    return lambda codes: sign * metric(y, eye[codes])


def fit_class_weights(y: np.ndarray, proba: np.ndarray, score: Callable[[np.ndarray], float],
                      grid: np.ndarray = GRID, passes: int = 3) -> tuple[np.ndarray, float]:
    """Weights maximising `score(argmax(p * w))`, and that score; a move is kept only when strictly better,
    so the result never scores below the plain argmax (w = 1)."""
    proba = np.asarray(proba, dtype=float)
    n, k = proba.shape
    rows = np.arange(n)
    weights = np.ones(k)
    best = score(weighted_labels(proba, weights))
    for _ in range(passes):
        moved = False
        for c in range(k):
            scaled = proba * weights
            scaled[:, c] = -np.inf
            rival = scaled.argmax(axis=1)  # the label each row takes when class c does not win
            rival_value = scaled[rows, rival]
            for g in grid:
                mine = g * proba[:, c]
                # argmax keeps the first of equal values: c wins a tie only against a later class
                codes = np.where((mine > rival_value) | ((mine == rival_value) & (c < rival)), c, rival)
                s = score(codes)
                if s > best:
                    best, weights[c], moved = s, g, True
        if not moved:
            break
    return weights, best


def tune_class_weights(y: np.ndarray, proba: np.ndarray, groups: np.ndarray, metric,
                       grid: np.ndarray = GRID, passes: int = 3) -> ClassWeights:
    """Weights on every validated row (groups >= 0, finite probabilities), and their cross-fitted figure:
    for each group, weights fitted on the other groups' rows label that group's rows."""
    proba, y, groups = np.asarray(proba, dtype=float), np.asarray(y, dtype=np.int64), np.asarray(groups)
    rows = (groups >= 0) & np.isfinite(proba).all(axis=1)
    proba, y, groups = proba[rows], y[rows], groups[rows]
    k = proba.shape[1]
    score = label_scorer(metric, y, k)
    plain_codes = weighted_labels(proba, None)
    weights, tuned = fit_class_weights(y, proba, score, grid, passes)
    crossed = plain_codes.copy()
    ids = np.unique(groups)
    if len(ids) > 1:
        for g in ids:
            held = groups == g
            fitted, _ = fit_class_weights(y[~held], proba[~held], label_scorer(metric, y[~held], k), grid, passes)
            crossed[held] = weighted_labels(proba[held], fitted)
    gains = []
    for g in ids:
        held = groups == g
        fold_score = label_scorer(metric, y[held], k)
        gains.append(fold_score(crossed[held]) - fold_score(plain_codes[held]))
    sign = metric.sign()
    return ClassWeights(weights, sign * score(plain_codes), sign * tuned, sign * score(crossed),
                        np.asarray(gains if len(ids) > 1 else [], dtype=float), sign)
