"""XGBoost (the CPU wheel, xgboost-cpu) with early stopping on the validation fold."""
from __future__ import annotations

import numpy as np

from common.models.base import MODELS, Model

_OBJECTIVE = {"regression": "reg:squarederror", "binary": "binary:logistic", "multiclass": "multi:softprob"}


@MODELS.register("xgboost")
class XGBoostModel(Model):
    open_params = True  # any library param passes through; the library checks the names
    defaults = dict(eta=0.03, max_depth=6, subsample=0.8, colsample_bytree=0.8, min_child_weight=1.0,
                    reg_lambda=1.0, tree_method="hist", nthread=0)

    def __init__(self, task="regression", seed=0, n_classes=None, n_estimators=5000, early_stopping_rounds=200, **params):
        super().__init__(task, seed, n_classes, **params)
        self.n_estimators, self.early_stopping_rounds = n_estimators, early_stopping_rounds

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> XGBoostModel:
        import xgboost as xgb

        params = {**self.defaults, **self.params, "objective": _OBJECTIVE[self.task], "seed": self.seed, "verbosity": 0}
        if self.task == "multiclass":
            params["num_class"] = self.classes(y)
        train = xgb.DMatrix(X, label=y, enable_categorical=True)  # pandas categories split natively
        evals, stop = [], None
        if X_valid is not None and self.early_stopping_rounds:
            evals, stop = [(xgb.DMatrix(X_valid, label=y_valid, enable_categorical=True), "valid")], self.early_stopping_rounds
        self.booster_ = xgb.train(params, train, self.n_estimators, evals=evals, early_stopping_rounds=stop, verbose_eval=False)
        best = getattr(self.booster_, "best_iteration", None)
        self.info = {"best_iteration": int(best + 1 if best is not None else self.n_estimators)}
        return self

    def contributions(self, X) -> np.ndarray:
        """TreeSHAP values as LightGBM's `contributions` gives them."""
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(X, enable_categorical=True), pred_contribs=True,
                                     iteration_range=(0, self.info["best_iteration"]))

    def predict(self, X) -> np.ndarray:
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(X, enable_categorical=True), iteration_range=(0, self.info["best_iteration"]))
