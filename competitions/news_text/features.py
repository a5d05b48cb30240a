"""Feature steps only the news text contest needs: none yet, as the text models read the documents.

Document-level numbers (length in tokens, share of punctuation ids 3750 / 648 / 900) would go here with
@FEATURES.register, listed under `features:` in config.yaml, for the tabular models to use beside the text.
"""
from common.features import FEATURES  # noqa: F401
