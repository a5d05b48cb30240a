"""Sequence targets (common.data.sequence) learned position by position with any registered classifier."""
from __future__ import annotations

import numpy as np

from common.models.base import MODELS, Model


@MODELS.register("per_position")
class PerPositionModel(Model):
    """One classifier per position predicting its character or the blank: a baseline for digit strings on
    any features (image embeddings, tabular), and a way to test the sequence kind without a network."""

    tasks = ("sequence",)

    def __init__(self, task="sequence", seed=0, n_classes=None, model: dict | None = None):
        super().__init__(task, seed, n_classes)
        self.model = model or {"name": "logistic"}

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> PerPositionModel:
        from common.config import Component
        from common.models.base import create_model

        y = np.asarray(y)
        self.n_classes_ = self.n_classes or int(y.max()) + 1
        spec = Component.model_validate(self.model)
        self.positions_ = []
        for j in range(y.shape[1]):
            seen = np.unique(y[:, j])
            if len(seen) == 1:  # e.g. always blank at the last position: nothing to learn
                self.positions_.append((seen, None))
                continue
            compact = np.searchsorted(seen, y[:, j])  # classifiers want codes 0..k-1 of the classes seen
            task = "binary" if len(seen) == 2 else "multiclass"
            valid = None
            if X_valid is not None and np.isin(y_valid[:, j], seen).all():
                valid = np.searchsorted(seen, y_valid[:, j])
            model = create_model(spec, task, self.seed, len(seen) if task == "multiclass" else None)
            self.positions_.append((seen, model.fit(X, compact, X_valid if valid is not None else None, valid)))
        return self

    def predict(self, X) -> np.ndarray:
        out = np.zeros((len(X), len(self.positions_), self.n_classes_))
        for j, (seen, model) in enumerate(self.positions_):
            if model is None:
                out[:, j, seen[0]] = 1.0
                continue
            proba = np.asarray(model.predict(X))
            out[:, j, seen] = np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba
        return out
