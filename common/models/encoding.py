"""Categorical columns for models without native categories: an encoder fitted inside the model's fold.

One-hot for linear, kernel and neural models (levels unseen in the training fold become all zeros,
rare levels share one column), ordinal codes for tree ensembles. Frames without categories, and
plain arrays, pass through as floats.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def categorical_columns(X: Any) -> list[str]:
    """Columns of `X` with the pandas category dtype (how the kit marks categoricals)."""
    if not isinstance(X, pd.DataFrame):
        return []
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]


class CategoryEncoder:
    """`fit(X)` on the training fold, `transform(X)` -> float matrix; `method` is 'onehot' or 'ordinal'."""

    def __init__(self, method: str = "onehot", max_levels: int = 32, min_frequency: int = 5):
        self.method, self.max_levels, self.min_frequency = method, max_levels, min_frequency

    def fit(self, X: Any) -> CategoryEncoder:
        from sklearn.compose import ColumnTransformer
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

        self.columns_ = categorical_columns(X)
        if not self.columns_:
            return self
        if self.method == "onehot":
            # max_categories/min_frequency bound the width for high-cardinality columns (a ticket number)
            encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=self.max_levels,
                                    min_frequency=min(self.min_frequency, max(1, len(X) // 100)), sparse_output=False)
        else:
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2)
        self.transformer_ = ColumnTransformer([("categories", encoder, self.columns_)], remainder="passthrough",
                                              verbose_feature_names_out=False).fit(self._objects(X))
        return self

    def transform(self, X: Any) -> np.ndarray:
        if not getattr(self, "columns_", None):
            return np.asarray(X, dtype=float)
        return np.asarray(self.transformer_.transform(self._objects(X)), dtype=float)

    def _objects(self, X: pd.DataFrame) -> pd.DataFrame:
        # sklearn's encoders want plain values with NaN for missing, not pandas categories
        out = X.copy()
        for c in self.columns_:
            out[c] = X[c].astype(object).where(X[c].notna(), np.nan)
        return out
