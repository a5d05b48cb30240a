"""scikit-learn models: linear, kernel, and tree ensembles, with imputation and scaling built in.

The estimators are named ('sklearn.linear_model:Ridge') and imported when a model is made or fitted:
importing this module (every `import common.models` does) must not import sklearn, which takes ~1 s
that a stage fitting nothing (stage 03) would pay.
"""
from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from common.models.base import MODELS, Model
from common.models.encoding import CategoryEncoder


def _load(ref: str) -> Any:
    """The object a 'module:name' reference names, imported now."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


class SklearnModel(Model):
    """Wraps an estimator class per task; categoricals encoded in the fold (one-hot when `scale`, else
    ordinal codes for trees), median imputation always, standard scaling if `scale`."""

    def __init__(self, regressor=None, classifier=None, scale=False, seed_param=None, task="regression", seed=0, n_classes=None, **params):
        super().__init__(task, seed, n_classes, **params)
        self.regressor, self.classifier, self.scale, self.seed_param = regressor, classifier, scale, seed_param
        self.tasks = tuple(t for t, ok in (("regression", regressor), ("binary", classifier), ("multiclass", classifier)) if ok)

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> SklearnModel:
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        cls = _load(self.regressor if self.task == "regression" else self.classifier)
        params = dict(self.params)
        if self.seed_param:
            params.setdefault(self.seed_param, self.seed)
        steps = [SimpleImputer(strategy="median", keep_empty_features=True)]
        if self.scale:
            steps.append(StandardScaler())
        self.encoder_ = CategoryEncoder("onehot" if self.scale else "ordinal").fit(X)
        self.pipeline_ = make_pipeline(*steps, cls(**params)).fit(self.encoder_.transform(X), np.asarray(y))
        return self

    def predict(self, X) -> np.ndarray:
        X = self.encoder_.transform(X)
        if self.task == "regression":
            return self.pipeline_.predict(X)
        proba = self.pipeline_.predict_proba(X)
        return proba[:, 1] if self.task == "binary" else proba


def _calibrated_svc(random_state=None, **params):
    """SVC with probabilities (the replacement for SVC(probability=True), deprecated in sklearn 1.9)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    return CalibratedClassifierCV(SVC(random_state=random_state, **params), ensemble=False)


_calibrated_svc.wraps = "sklearn.svm:SVC"  # its params are SVC's


class _NeighboursCapped:
    """k-NN whose k shrinks to the training rows when a fold has fewer (a tiny class or contest)."""

    def fit(self, X, y):
        self.n_neighbors = max(1, min(self.n_neighbors, len(X)))
        return super().fit(X, y)


_KNN = {"_KNNRegressor": "KNeighborsRegressor", "_KNNClassifier": "KNeighborsClassifier"}


def __getattr__(name: str) -> type:
    """_KNNRegressor and _KNNClassifier (sklearn's k-NN, capped), made on first use; pickles find them here."""
    if name not in _KNN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = type(name, (_NeighboursCapped, _load(f"sklearn.neighbors:{_KNN[name]}")), {"__module__": __name__})
    globals()[name] = cls
    return cls


def _register(name: str, regressor: str | None = None, classifier: str | None = None, scale=False, seed_param=None,
              **defaults: Any) -> None:
    """`regressor`, `classifier`: the estimators as 'module:name' (imported when a model is fitted)."""
    def factory(task="regression", seed=0, n_classes=None, **params):
        return SklearnModel(regressor, classifier, scale, seed_param, task, seed, n_classes, **{**defaults, **params})

    def accepts() -> set[str]:
        import inspect

        estimators = [_load(ref) for ref in (regressor, classifier) if ref]
        estimators = [_load(cls.wraps) if hasattr(cls, "wraps") else cls for cls in estimators]
        return {p for cls in estimators for p in inspect.signature(cls).parameters} - {"self"}

    factory.__name__ = factory.__qualname__ = f"{name}_factory"
    factory.accepts = accepts
    MODELS.register(name)(factory)


_register("ridge", "sklearn.linear_model:Ridge", scale=True, alpha=1.0)
_register("lasso", "sklearn.linear_model:Lasso", scale=True, seed_param="random_state", alpha=1e-3, max_iter=20000)
_register("elasticnet", "sklearn.linear_model:ElasticNet", scale=True, seed_param="random_state", alpha=1e-3,
          l1_ratio=0.5, max_iter=20000)
_register("logistic", classifier="sklearn.linear_model:LogisticRegression", scale=True, seed_param="random_state",
          C=1.0, max_iter=2000)
_register("svr", "sklearn.svm:SVR", scale=True, C=1.0, epsilon=0.05, kernel="rbf", gamma="scale")
_register("svc", classifier=f"{__name__}:_calibrated_svc", scale=True, seed_param="random_state")
_register("kernel_ridge", "sklearn.kernel_ridge:KernelRidge", scale=True, alpha=1.0, kernel="rbf")
_register("random_forest", "sklearn.ensemble:RandomForestRegressor", "sklearn.ensemble:RandomForestClassifier",
          seed_param="random_state", n_estimators=300, min_samples_leaf=2, max_features=0.5, n_jobs=-1)
_register("extra_trees", "sklearn.ensemble:ExtraTreesRegressor", "sklearn.ensemble:ExtraTreesClassifier",
          seed_param="random_state", n_estimators=300, min_samples_leaf=2, max_features=0.5, n_jobs=-1)
# distances need comparable scales: one-hot categoricals and standardised numbers, as for the kernel models
_register("knn", f"{__name__}:_KNNRegressor", f"{__name__}:_KNNClassifier", scale=True, n_neighbors=10,
          weights="uniform", n_jobs=-1)
