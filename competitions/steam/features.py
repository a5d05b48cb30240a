"""Steam's own feature steps: none. The 38 anonymised sensors V0-V37 are used as they are; config.yaml
drops the ones whose test distribution moved away from train (common.features' `drop_shifted`).

A step this contest needs goes here, registered with `@FEATURES.register("name")` and listed under
`features:` in config.yaml (the template's features.py shows one).
"""
from common.features import FEATURES  # noqa: F401
