"""A small multilayer perceptron for tabular features, on the shared PyTorch trainer."""
from __future__ import annotations

import numpy as np

from common.models.base import MODELS
from common.models.encoding import CategoryEncoder
from common.models.torch.trainer import TorchModel


@MODELS.register("mlp")
class MLPModel(TorchModel):
    """One-hot categoricals and standardised inputs (fitted on the training fold; NaN -> 0 after scaling),
    then Linear-ReLU-Dropout blocks."""

    def __init__(self, task="regression", seed=0, n_classes=None, hidden=(128, 64), dropout=0.1, **params):
        super().__init__(task, seed, n_classes, **params)
        self.hidden, self.dropout = tuple(hidden), dropout

    def build_network(self, X, y, out_dim):
        from torch import nn

        layers, width = [], self.mean_.shape[0]
        for size in self.hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(self.dropout)]
            width = size
        layers.append(nn.Linear(width, out_dim))
        return nn.Sequential(*layers)

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None):
        self.encoder_ = CategoryEncoder("onehot").fit(X)  # categoricals one-hot, fitted on this fold
        values = self.encoder_.transform(X).astype(np.float32)
        self.mean_ = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0)
        self.std_ = np.where(std > 0, std, 1.0).astype(np.float32)
        if self.task == "regression":  # scale the target too, so one learning rate suits any contest
            self.y_mean_, self.y_std_ = float(np.mean(y)), float(np.std(y) or 1.0)
        return super().fit(X, y, X_valid, y_valid, workdir)

    def make_dataset(self, X, y, training):
        import torch

        values = (self.encoder_.transform(X).astype(np.float32) - self.mean_) / self.std_
        values = np.nan_to_num(values, nan=0.0)
        target = np.zeros(len(values), dtype=np.float32) if y is None else np.asarray(y, dtype=np.float32)
        if self.task == "regression" and y is not None:
            target = (target - self.y_mean_) / self.y_std_
        return torch.utils.data.TensorDataset(torch.from_numpy(values), torch.from_numpy(target))

    def to_prediction(self, out):
        pred = super().to_prediction(out)
        return pred * self.y_std_ + self.y_mean_ if self.task == "regression" else pred
