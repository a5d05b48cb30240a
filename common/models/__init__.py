"""Models behind one interface, one module per library family. Importing this fills MODELS.

Heavy libraries (lightgbm, torch, ...) are imported inside `fit`, so listing models is instant.
"""
from common.models import (  # noqa: F401
    catboost, lightgbm, sequence, sklearn, text, torch_image, torch_tabular, torch_text, xgboost,
)
from common.models.base import MODELS, Model, create_model

__all__ = ["MODELS", "Model", "create_model"]
