"""Features only this contest needs. Generic steps (drop_shifted, scale, ...) live in common.features.

A feature step takes the train and test frames (id and target columns included) and returns new
ones; register it and list it under `features:` in config.yaml:

    @FEATURES.register("my_ratio")
    def my_ratio(train, test, ctx, numerator: str, denominator: str):
        add = lambda f: f.assign(**{f"{numerator}_per_{denominator}": f[numerator] / f[denominator]})
        return add(train), add(test)
"""
from common.features import FEATURES  # noqa: F401
