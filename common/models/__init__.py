"""Models behind one interface, one module per library family. Importing this fills MODELS.

Heavy libraries (lightgbm, torch, ...) are imported inside `fit`, so listing models is instant.
"""
from common.models import catboost, lightgbm, sequence, sklearn, tfidf, tfidf_lightgbm, xgboost  # noqa: F401
from common.models.torch import bert, crnn, image, tabular, text  # noqa: F401
from common.models.base import MODELS, Model, create_model

__all__ = ["MODELS", "Model", "create_model"]
