"""Steam-like data: 38 correlated sensor readings V0..V37 and a steam volume target.

The shape of the real zhengqi files: tab-separated, 3-decimal values, 2,888 training rows and
1,925 test rows. Features come from a few latent factors (so they correlate, as real sensors do),
the target is a smooth non-linear function of them plus noise, and six features (the ones that
drift in the real data) are shifted in the test set.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.data.datasets.registry import GENERATORS
from common.data.io import write_csv

SHIFTED = ("V5", "V9", "V11", "V17", "V22", "V28")
N_FEATURES = 38


def make_steam(n_train: int = 2888, n_test: int = 1925, seed: int = 0, noise: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (with `target`) and test frames."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    latent = rng.normal(size=(n, 6))
    loadings = rng.normal(scale=0.8, size=(6, N_FEATURES))
    X = latent @ loadings + rng.normal(scale=0.5, size=(n, N_FEATURES))
    X = (X - X.mean(0)) / X.std(0)
    target = (0.9 * latent[:, 0] - 0.5 * latent[:, 1] + 0.3 * np.tanh(2 * latent[:, 2])
              + 0.2 * latent[:, 0] * latent[:, 3] + rng.normal(scale=noise, size=n))
    columns = [f"V{i}" for i in range(N_FEATURES)]
    frame = pd.DataFrame(X, columns=columns)
    train, test = frame.iloc[:n_train].copy(), frame.iloc[n_train:].reset_index(drop=True)
    for i, col in enumerate(SHIFTED):  # the drift: test readings move and spread differently
        test[col] = test[col] * (1.0 + 0.2 * (i % 3)) + 0.6 + 0.15 * i
    train["target"] = target[:n_train]
    return train.round(3), test.round(3)


@GENERATORS.register("steam")
def write_steam(out_dir: str | Path, seed: int = 0, n_train: int = 2888, n_test: int = 1925) -> list[Path]:
    """Write zhengqi_train.txt and zhengqi_test.txt (tab-separated) into `out_dir`."""
    out_dir = Path(out_dir)
    train, test = make_steam(n_train, n_test, seed)
    return [write_csv(out_dir / "zhengqi_train.txt", train, sep="\t"),
            write_csv(out_dir / "zhengqi_test.txt", test, sep="\t")]
