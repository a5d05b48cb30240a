"""Target transforms (log1p, Box-Cox, Yeo-Johnson, standardise), fitted inside each training fold.

`TransformedTarget` wraps any model: it fits the transform on the fold's training target, trains the
model on the transformed target (the validation fold transformed the same way, for early stopping)
and inverts the predictions, so OOF and test predictions, scores and submissions stay on the
contest's own scale.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from common.errors import DataError
from common.registry import Registry

TARGET_TRANSFORMS: Registry[type] = Registry("target transform")


class TargetTransform:
    def fit(self, y: np.ndarray) -> TargetTransform:
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def inverse(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@TARGET_TRANSFORMS.register("log1p")
class Log1p(TargetTransform):
    """log(1 + y): for positive, right-skewed targets (prices, counts) and the rmsle metric."""

    def fit(self, y):
        if np.nanmin(y) <= -1:
            raise DataError(f"target_transform log1p needs a target above -1; the training target reaches "
                            f"{np.nanmin(y):g}. Use yeo-johnson (any sign) or standardize in data.target_transform.")
        return self

    def transform(self, y):
        return np.log1p(y)

    def inverse(self, z):
        return np.expm1(z)


class _Power(TargetTransform):
    method = "yeo-johnson"

    def fit(self, y):
        from sklearn.preprocessing import PowerTransformer

        if self.method == "box-cox" and np.nanmin(y) <= 0:
            raise DataError(f"target_transform box-cox needs a positive target; the training target reaches "
                            f"{np.nanmin(y):g}. Use yeo-johnson (any sign) or log1p in data.target_transform.")
        self.pt_ = PowerTransformer(method=self.method, standardize=True).fit(np.asarray(y, float).reshape(-1, 1))
        return self

    def transform(self, y):
        return self.pt_.transform(np.asarray(y, float).reshape(-1, 1)).ravel()

    def inverse(self, z):
        return self.pt_.inverse_transform(np.asarray(z, float).reshape(-1, 1)).ravel()


@TARGET_TRANSFORMS.register("box-cox")
class BoxCox(_Power):
    method = "box-cox"


@TARGET_TRANSFORMS.register("yeo-johnson")
class YeoJohnson(_Power):
    method = "yeo-johnson"


@TARGET_TRANSFORMS.register("standardize")
class Standardize(TargetTransform):
    def fit(self, y):
        self.mean_, self.std_ = float(np.mean(y)), float(np.std(y) or 1.0)
        return self

    def transform(self, y):
        return (np.asarray(y, float) - self.mean_) / self.std_

    def inverse(self, z):
        return np.asarray(z, float) * self.std_ + self.mean_


class TransformedTarget:
    """A model trained on a transformed target whose predictions come back on the original scale."""

    def __init__(self, model: Any, transform: str):
        self.model, self.transform_name = model, transform

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> TransformedTarget:
        self.transform_ = TARGET_TRANSFORMS.create(self.transform_name).fit(np.asarray(y, float))
        z_valid = None if y_valid is None else self.transform_.transform(np.asarray(y_valid, float))
        metric = self.__dict__.get("metric")
        if metric is not None:  # the wrapped model selects on the metric of the original scale
            inverse = self.transform_.inverse
            self.model.metric = dataclasses.replace(metric, fn=lambda y_t, p_t: metric.fn(inverse(y_t), inverse(p_t)))
        for name in ("unlabelled", "cache_dir", "annotations"):  # what else the fold loop hands over
            if name in self.__dict__:
                setattr(self.model, name, self.__dict__[name])
        self.model.fit(X, self.transform_.transform(np.asarray(y, float)), X_valid, z_valid, workdir=workdir)
        return self

    def predict(self, X) -> np.ndarray:
        return self.transform_.inverse(np.asarray(self.model.predict(X), float))

    def __getattr__(self, name: str) -> Any:  # info, feature_importance, booster_, ... of the wrapped model
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)
