"""Competition metrics, each with its direction, the tasks it suits and the kind of prediction it scores."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from common.registry import Registry


class _Sklearn:
    """sklearn.metrics, imported on first use: sklearn takes ~1 s to import, which a stage that scores
    nothing (stage 03 on a big log) should not pay."""

    def __getattr__(self, name: str):
        from sklearn import metrics

        return getattr(metrics, name)


skm = _Sklearn()

METRICS: Registry[Metric] = Registry("metric")
TASKS = ("regression", "binary", "multiclass", "sequence")


@dataclass(frozen=True)
class Metric:
    """A scoring function `fn(y_true, y_pred)` with its direction.

    Predictions are what models return: values for regression, P(class 1) for binary, an (n, k)
    probability matrix for multiclass; label metrics threshold or argmax them first.
    `tasks`: the tasks it suits. `needs`: what it scores - regression values, probabilities or labels
    ("value" also means: predictions are scored as given, as for a metric made without saying).
    """

    name: str
    fn: Callable[..., float]
    direction: Literal["minimize", "maximize"]
    tasks: tuple[str, ...] = ()
    needs: Literal["value", "proba", "label"] = "value"

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray, *, threshold: float | None = None) -> float:
        """The score; `threshold` (binary label metrics only) replaces 0.5 when turning P(class 1) into labels."""
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if threshold is None:
            return float(self.fn(y_true, y_pred))
        if "threshold" not in inspect.signature(self.fn).parameters:
            takers = [n for n in METRICS.list() if "threshold" in inspect.signature(METRICS.get(n).fn).parameters]
            scores = {"value": "values", "proba": "probabilities", "label": "labels"}[self.needs]
            raise ValueError(f"metric {self.name!r} takes no threshold (it scores {scores}); "
                             f"only the binary label metrics do: {', '.join(takers)}.")
        return float(self.fn(y_true, y_pred, threshold=threshold))

    @property
    def greater_is_better(self) -> bool:
        return self.direction == "maximize"

    def is_better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than score `b`."""
        return a > b if self.greater_is_better else a < b

    def sign(self) -> float:
        """+1 for maximise, -1 for minimise: `sign * score` is always 'higher is better'."""
        return 1.0 if self.greater_is_better else -1.0


def _register(name: str, direction: Literal["minimize", "maximize"], tasks: tuple[str, ...],
              needs: Literal["value", "proba", "label"]):
    def wrap(fn: Callable[..., float]) -> Callable[..., float]:
        METRICS.register(name)(Metric(name, fn, direction, tasks, needs))
        return fn

    return wrap


def get_metric(name: str) -> Metric:
    return METRICS.get(name)


def metrics_for(task: str) -> list[str]:
    """Names of the registered metrics that suit `task`, sorted."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(map(repr, TASKS))}; got {task!r}")
    return [name for name in METRICS.list() if task in METRICS.get(name).tasks]


def to_labels(y_pred: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Class labels from probabilities: argmax for a matrix, `threshold` (default 0.5) for binary scores."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        if threshold is not None:  # ignoring it would hide a mistake
            raise ValueError(f"a threshold applies to binary scores; got an (n, {y_pred.shape[1]}) probability "
                             "matrix, whose labels are its argmax. Drop the threshold.")
        return y_pred.argmax(axis=1)
    if y_pred.dtype.kind == "f" or threshold is not None:
        return (y_pred >= (0.5 if threshold is None else threshold)).astype(int)
    return y_pred


# ---- regression


@_register("mse", "minimize", ("regression",), "value")
def mse(y, p):
    return skm.mean_squared_error(y, p)


@_register("rmse", "minimize", ("regression",), "value")
def rmse(y, p):
    return np.sqrt(skm.mean_squared_error(y, p))


@_register("mae", "minimize", ("regression",), "value")
def mae(y, p):
    return skm.mean_absolute_error(y, p)


@_register("rmsle", "minimize", ("regression",), "value")
def rmsle(y, p):
    """sqrt(mean((log1p(p) - log1p(y))^2)) on the contest's own scale (targets >= 0).

    Negative predictions are clipped to 0: a count or a price cannot be negative, and the submission
    would have to be clipped anyway (Kaggle refuses negative values for RMSLE contests).
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if (y < 0).any():
        raise ValueError(f"rmsle needs targets >= 0; got a minimum of {y.min():g}. Score a signed target "
                         "with rmse (or fit on log1p with target_transform and keep rmsle for counts/prices).")
    return np.sqrt(np.mean((np.log1p(np.clip(p, 0, None)) - np.log1p(y)) ** 2))


@_register("r2", "maximize", ("regression",), "value")
def r2(y, p):
    return skm.r2_score(y, p)


# ---- probabilities


@_register("auc", "maximize", ("binary", "multiclass"), "proba")
def auc(y, p):
    if p.ndim == 2:
        return skm.roc_auc_score(y, p, multi_class="ovr")
    return skm.roc_auc_score(y, p)


@_register("logloss", "minimize", ("binary", "multiclass"), "proba")
def logloss(y, p):
    if p.ndim == 2:  # rows renormalised: a blend's rows (float32 models, weights) sum to one only up to rounding
        p = np.clip(np.asarray(p, dtype=np.float64), 1e-15, None)
        return skm.log_loss(y, p / p.sum(axis=1, keepdims=True), labels=np.arange(p.shape[1]))
    return skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])


# ---- labels (models return probabilities: thresholded or argmaxed here)


@_register("f1", "maximize", ("binary",), "label")
def f1(y, p, threshold=None):
    return skm.f1_score(y, to_labels(p, threshold))


@_register("macro_f1", "maximize", ("binary", "multiclass"), "label")
def macro_f1(y, p, threshold=None):
    return skm.f1_score(y, to_labels(p, threshold), average="macro")


@_register("accuracy", "maximize", ("binary", "multiclass"), "label")
def accuracy(y, p, threshold=None):
    return skm.accuracy_score(y, to_labels(p, threshold))


@_register("mcc", "maximize", ("binary", "multiclass"), "label")
def mcc(y, p, threshold=None):
    return skm.matthews_corrcoef(y, to_labels(p, threshold))


@_register("qwk", "maximize", ("multiclass", "regression"), "label")
def qwk(y, p):
    """Quadratic weighted kappa over ordered classes.

    Multiclass: the argmax of the (n, k) probabilities, classes 0..k-1. Regression with integer
    targets: predictions rounded and clipped to the targets' range. The label list is the whole
    range, so a class nobody predicts still counts in the distances between the others.
    """
    y, p = np.asarray(y), np.asarray(p)
    if p.ndim == 2:
        return skm.cohen_kappa_score(y, p.argmax(axis=1), labels=np.arange(p.shape[1]), weights="quadratic")
    y_float = y.astype(float)
    if not np.array_equal(y_float, np.round(y_float)):
        raise ValueError("qwk on a regression task needs integer targets (ordered grades); got non-integer "
                         f"values such as {y_float[y_float != np.round(y_float)][0]:g}.")
    lo, hi = int(y_float.min()), int(y_float.max())
    labels = np.clip(np.round(p.astype(float)), lo, hi).astype(int)
    return skm.cohen_kappa_score(y_float.astype(int), labels, labels=np.arange(lo, hi + 1), weights="quadratic")


@_register("string_accuracy", "maximize", ("multiclass", "sequence"), "label")
def string_accuracy(y, p):
    """Whole-string accuracy: a prediction counts only if every character matches. Takes strings, or a
    sequence target's (n, positions) codes with (n, positions, classes) probabilities (common.data.sequence)."""
    if np.ndim(y) == 2:
        from common.data.sequence import whole_string_hits

        return float(np.mean(whole_string_hits(y, p)))
    return float(np.mean([str(a) == str(b) for a, b in zip(y, p, strict=True)]))


@_register("sequence_logloss", "minimize", ("sequence",), "proba")
def sequence_logloss(y, p):
    """Mean log-loss over positions (blank included): what a per-position model and a blend minimise."""
    p = np.clip(p, 1e-15, 1)
    picked = np.take_along_axis(p, np.asarray(y)[..., None], axis=-1)[..., 0]
    return float(-np.mean(np.log(picked)))
