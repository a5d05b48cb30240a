"""Competition metrics, each with its direction and the kind of prediction it scores."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn import metrics as skm

from common.registry import Registry

METRICS: Registry[Metric] = Registry("metric")


@dataclass(frozen=True)
class Metric:
    """A scoring function `fn(y_true, y_pred)` with its direction.

    Predictions are what models return: values for regression, P(class 1) for binary, an (n, k)
    probability matrix for multiclass; label metrics threshold or argmax them first.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    direction: Literal["minimize", "maximize"]

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred)))

    @property
    def greater_is_better(self) -> bool:
        return self.direction == "maximize"

    def is_better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than score `b`."""
        return a > b if self.greater_is_better else a < b

    def sign(self) -> float:
        """+1 for maximise, -1 for minimise: `sign * score` is always 'higher is better'."""
        return 1.0 if self.greater_is_better else -1.0


def _register(name: str, direction: Literal["minimize", "maximize"]):
    def wrap(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[np.ndarray, np.ndarray], float]:
        metric = Metric(name, fn, direction)
        METRICS.register(name)(metric)
        return fn

    return wrap


def to_labels(y_pred: np.ndarray) -> np.ndarray:
    """Class labels from probabilities: argmax for a matrix, 0.5 threshold for binary scores."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        return y_pred.argmax(axis=1)
    if y_pred.dtype.kind == "f":
        return (y_pred >= 0.5).astype(int)
    return y_pred


@_register("mse", "minimize")
def mse(y, p):
    return skm.mean_squared_error(y, p)


@_register("rmse", "minimize")
def rmse(y, p):
    return np.sqrt(skm.mean_squared_error(y, p))


@_register("mae", "minimize")
def mae(y, p):
    return skm.mean_absolute_error(y, p)


@_register("auc", "maximize")
def auc(y, p):
    if p.ndim == 2:
        return skm.roc_auc_score(y, p, multi_class="ovr")
    return skm.roc_auc_score(y, p)


@_register("logloss", "minimize")
def logloss(y, p):
    if p.ndim == 2:
        return skm.log_loss(y, p, labels=np.arange(p.shape[1]))
    return skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])


@_register("macro_f1", "maximize")
def macro_f1(y, p):
    return skm.f1_score(y, to_labels(p), average="macro")


@_register("accuracy", "maximize")
def accuracy(y, p):
    return skm.accuracy_score(y, to_labels(p))


@_register("string_accuracy", "maximize")
def string_accuracy(y, p):
    """Whole-string accuracy: a prediction counts only if every character matches."""
    return float(np.mean([str(a) == str(b) for a, b in zip(y, p, strict=True)]))


def get_metric(name: str) -> Metric:
    return METRICS.get(name)
