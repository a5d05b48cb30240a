"""scikit-learn models: linear, kernel, and tree ensembles, with imputation and scaling built in."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from common.models.base import MODELS, Model
from common.models.encoding import CategoryEncoder


class SklearnModel(Model):
    """Wraps an estimator class per task; categoricals encoded in the fold (one-hot when `scale`, else
    ordinal codes for trees), median imputation always, standard scaling if `scale`."""

    def __init__(self, regressor=None, classifier=None, scale=False, seed_param=None, task="regression", seed=0, n_classes=None, **params):
        super().__init__(task, seed, n_classes, **params)
        self.regressor, self.classifier, self.scale, self.seed_param = regressor, classifier, scale, seed_param
        self.tasks = tuple(t for t, ok in (("regression", regressor), ("binary", classifier), ("multiclass", classifier)) if ok)

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> SklearnModel:
        cls = self.regressor if self.task == "regression" else self.classifier
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
    return CalibratedClassifierCV(SVC(random_state=random_state, **params), ensemble=False)


_calibrated_svc.wraps = SVC  # its params are SVC's


class _NeighboursCapped:
    """k-NN whose k shrinks to the training rows when a fold has fewer (a tiny class or contest)."""

    def fit(self, X, y):
        self.n_neighbors = max(1, min(self.n_neighbors, len(X)))
        return super().fit(X, y)


class _KNNRegressor(_NeighboursCapped, KNeighborsRegressor):
    pass


class _KNNClassifier(_NeighboursCapped, KNeighborsClassifier):
    pass


def _register(name: str, regressor=None, classifier=None, scale=False, seed_param=None, **defaults: Any) -> None:
    def factory(task="regression", seed=0, n_classes=None, **params):
        return SklearnModel(regressor, classifier, scale, seed_param, task, seed, n_classes, **{**defaults, **params})

    def accepts() -> set[str]:
        import inspect

        estimators = [getattr(cls, "wraps", cls) for cls in (regressor, classifier) if cls]
        return {p for cls in estimators for p in inspect.signature(cls).parameters} - {"self"}

    factory.__name__ = factory.__qualname__ = f"{name}_factory"
    factory.accepts = accepts
    MODELS.register(name)(factory)


_register("ridge", Ridge, scale=True, alpha=1.0)
_register("lasso", Lasso, scale=True, seed_param="random_state", alpha=1e-3, max_iter=20000)
_register("elasticnet", ElasticNet, scale=True, seed_param="random_state", alpha=1e-3, l1_ratio=0.5, max_iter=20000)
_register("logistic", classifier=LogisticRegression, scale=True, seed_param="random_state", C=1.0, max_iter=2000)
_register("svr", SVR, scale=True, C=1.0, epsilon=0.05, kernel="rbf", gamma="scale")
_register("svc", classifier=_calibrated_svc, scale=True, seed_param="random_state")
_register("kernel_ridge", KernelRidge, scale=True, alpha=1.0, kernel="rbf")
_register("random_forest", RandomForestRegressor, RandomForestClassifier, seed_param="random_state",
          n_estimators=300, min_samples_leaf=2, max_features=0.5, n_jobs=-1)
_register("extra_trees", ExtraTreesRegressor, ExtraTreesClassifier, seed_param="random_state",
          n_estimators=300, min_samples_leaf=2, max_features=0.5, n_jobs=-1)
# distances need comparable scales: one-hot categoricals and standardised numbers, as for the kernel models
_register("knn", _KNNRegressor, _KNNClassifier, scale=True, n_neighbors=10, weights="uniform", n_jobs=-1)
