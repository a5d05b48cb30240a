"""CatBoost with early stopping on the validation fold; writes nothing to the working directory."""
from __future__ import annotations

import numpy as np

from common.models.base import MODELS, Model
from common.models.encoding import categorical_columns


@MODELS.register("catboost")
class CatBoostModel(Model):
    open_params = True  # any library param passes through; the library checks the names
    defaults = dict(learning_rate=0.05, depth=6, l2_leaf_reg=3.0, thread_count=-1)

    def __init__(self, task="regression", seed=0, n_classes=None, n_estimators=3000, early_stopping_rounds=200, **params):
        super().__init__(task, seed, n_classes, **params)
        self.n_estimators, self.early_stopping_rounds = n_estimators, early_stopping_rounds

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> CatBoostModel:
        from catboost import CatBoostClassifier, CatBoostRegressor

        cls = CatBoostRegressor if self.task == "regression" else CatBoostClassifier
        loss = {"regression": "RMSE", "binary": "Logloss", "multiclass": "MultiClass"}[self.task]
        self.model_ = cls(iterations=self.n_estimators, loss_function=loss, random_seed=self.seed, verbose=False,
                          allow_writing_files=False, **{**self.defaults, **self.params})
        use_valid = X_valid is not None and self.early_stopping_rounds
        self.cat_columns_ = categorical_columns(X)
        X, X_valid = self._categories(X), self._categories(X_valid)
        self.model_.fit(X, y, cat_features=self.cat_columns_ or None, eval_set=(X_valid, y_valid) if use_valid else None,
                        early_stopping_rounds=self.early_stopping_rounds if use_valid else None,
                        use_best_model=bool(use_valid))
        self.info = {"best_iteration": int(self.model_.get_best_iteration() or self.n_estimators) + (1 if use_valid else 0)}
        return self

    def _categories(self, X):
        """CatBoost takes categories as strings, with missing as a level of its own."""
        if X is None or not self.cat_columns_:
            return X
        X = X.copy()
        for c in self.cat_columns_:
            X[c] = X[c].astype(object).where(X[c].notna(), "NaN").astype(str)
        return X

    def contributions(self, X) -> np.ndarray:
        """TreeSHAP values as LightGBM's `contributions` gives them."""
        from catboost import Pool

        return self.model_.get_feature_importance(Pool(self._categories(X), cat_features=self.cat_columns_ or None),
                                                  type="ShapValues")

    def predict(self, X) -> np.ndarray:
        X = self._categories(X)
        if self.task == "regression":
            return self.model_.predict(X)
        proba = self.model_.predict_proba(X)
        return proba[:, 1] if self.task == "binary" else proba
