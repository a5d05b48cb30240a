"""Feature steps only the street chars contest needs: none yet, as the image model reads the pixels itself.

The rows already carry each image's width and height (common.data.images), which the per-position baseline
uses. A step for this contest (pixel statistics, say) goes here with @FEATURES.register and is listed
under `features:` in config.yaml; the digit boxes are annotations and never reach a step's output.
"""
from common.features import FEATURES  # noqa: F401
