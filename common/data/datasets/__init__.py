"""Synthetic data sets with the real contests' schemas, for demos and tests.

Each generator is registered by contest name: GENERATORS.create("steam", out_dir, seed=0) writes the
raw files a contest's config.yaml expects and returns their paths.
"""
from common.data.datasets.registry import GENERATORS
from common.data.datasets import news, steam, streetchar, tmall  # noqa: F401  (registers)

__all__ = ["GENERATORS"]
