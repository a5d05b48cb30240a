"""LightGBM with early stopping on the validation fold."""
from __future__ import annotations

import numpy as np

from common.models.base import MODELS, Model

_OBJECTIVE = {"regression": "regression", "binary": "binary", "multiclass": "multiclass"}


@MODELS.register("lightgbm")
class LightGBMModel(Model):
    open_params = True  # any library param passes through; the library checks the names
    defaults = dict(
        learning_rate=0.03, num_leaves=31, min_child_samples=20, feature_fraction=0.8,
        bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0, verbosity=-1, num_threads=0,
    )

    def __init__(self, task="regression", seed=0, n_classes=None, n_estimators=5000, early_stopping_rounds=200,
                 min_child_frac=None, **params):
        super().__init__(task, seed, n_classes, **params)
        self.n_estimators, self.early_stopping_rounds = n_estimators, early_stopping_rounds
        # leaves hold at least this share of the training rows: a leaf size that scales with the contest
        self.min_child_frac = min_child_frac

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> LightGBMModel:
        import lightgbm as lgb

        params = {**self.defaults, **self.params, "objective": _OBJECTIVE[self.task], "seed": self.seed,
                  "deterministic": True, "force_col_wise": True}
        if self.task == "multiclass":
            params["num_class"] = self.classes(y)
        if self.min_child_frac:
            params["min_child_samples"] = max(int(params["min_child_samples"]), round(self.min_child_frac * len(y)))
        train = lgb.Dataset(X, y, free_raw_data=False)
        callbacks, valid_sets = [], []
        if X_valid is not None and self.early_stopping_rounds:
            valid_sets = [lgb.Dataset(X_valid, y_valid, reference=train)]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(params, train, self.n_estimators, valid_sets=valid_sets, callbacks=callbacks)
        self.info = {"best_iteration": int(self.booster_.best_iteration or self.n_estimators)}
        return self

    def predict(self, X) -> np.ndarray:
        return self.booster_.predict(X, num_iteration=self.info["best_iteration"])

    def contributions(self, X) -> np.ndarray:
        """TreeSHAP values (n, features + 1, the last column the expected value) in the raw output space
        (log-odds for binary); multiclass (n, classes, features + 1)."""
        out = self.booster_.predict(X, num_iteration=self.info["best_iteration"], pred_contrib=True)
        return out.reshape(len(X), -1, X.shape[1] + 1) if self.task == "multiclass" else out

    def feature_importance(self) -> dict[str, float]:
        gain = self.booster_.feature_importance("gain")
        return dict(zip(self.booster_.feature_name(), map(float, gain)))
