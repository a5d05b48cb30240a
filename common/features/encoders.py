"""Categorical encoders as feature steps: one-hot, ordinal, count and cross-fitted target encoding.

Models take categories as they are (natively or with an in-fold encoder, common.models.encoding);
these steps are for when an encoding should be a feature every model sees. Each works on the
category columns the roles produced (or the `columns` given) and is fitted on train only, except
target encoding, which is cross-fitted on the contest's own folds so no row sees its own label.
"""
from __future__ import annotations

import pandas as pd

from common.errors import DataError
from common.features import FEATURES, encode_target


def _columns(train: pd.DataFrame, ctx, columns: list[str] | None) -> list[str]:
    chosen = list(columns) if columns else ctx.categorical_columns(train)
    missing = [c for c in chosen if c not in train.columns]
    if missing:
        raise DataError(f"encoder: columns {missing} are not among the features ({list(train.columns)[:15]} ...).")
    return chosen


def _objects(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[columns].astype(object).where(frame[columns].notna(), "NaN")


@FEATURES.register("one_hot")
def one_hot(train, test, ctx, columns: list[str] | None = None, max_levels: int = 32, drop_original: bool = True):
    """0/1 columns per level (the `max_levels` most frequent, the rest together; unseen test levels all 0)."""
    from sklearn.preprocessing import OneHotEncoder

    cols = _columns(train, ctx, columns)
    if not cols:
        return train, test
    enc = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=max_levels, sparse_output=False)
    enc.fit(_objects(train, cols))
    names = [f"oh_{n}" for n in enc.get_feature_names_out(cols)]
    out = [pd.DataFrame(enc.transform(_objects(f, cols)), columns=names, index=f.index) for f in (train, test)]
    keep = (lambda f: f.drop(columns=cols)) if drop_original else (lambda f: f)
    return pd.concat([keep(train), out[0]], axis=1), pd.concat([keep(test), out[1]], axis=1)


@FEATURES.register("ordinal_encoding")
def ordinal_encoding(train, test, ctx, columns: list[str] | None = None):
    """Each level as an integer code (train levels; unseen test levels and missing values -1), replacing the column."""
    cols = _columns(train, ctx, columns)
    train, test = train.copy(), test.copy()
    for c in cols:
        levels = pd.Index(train[c].dropna().unique())
        for frame in (train, test):
            frame[c] = levels.get_indexer(frame[c]).astype(float)
    return train, test


@FEATURES.register("count_encoding")
def count_encoding(train, test, ctx, columns: list[str] | None = None, normalize: bool = True):
    """How common each level is in train and test together, as `count_<column>` (a share when `normalize`)."""
    cols = _columns(train, ctx, columns)
    train, test = train.copy(), test.copy()
    for c in cols:
        both = pd.concat([train[c].astype(object), test[c].astype(object)], ignore_index=True).fillna("NaN")
        counts = both.value_counts(normalize=normalize)
        for frame in (train, test):
            frame[f"count_{c}"] = frame[c].astype(object).fillna("NaN").map(counts).astype(float).to_numpy()
    return train, test


@FEATURES.register("target_encoding")
def target_encoding(train, test, ctx, columns: list[str] | None = None, smooth: float | str = "auto"):
    """scikit-learn's TargetEncoder, cross-fitted on the contest's folds, as `te_<column>` (per class for
    multiclass): each train row is encoded by a fit on the other folds, test by a fit on all of train."""
    from sklearn.preprocessing import TargetEncoder

    cols = _columns(train, ctx, columns)
    if not cols:
        return train, test
    if ctx.folds.ordered:
        raise DataError("target_encoding needs folds that validate every row; with folds.scheme 'time' use "
                        "oof_target_encoding instead.")
    y, _ = encode_target(train[ctx.target], ctx.task)
    target_type = {"regression": "continuous", "binary": "binary", "multiclass": "multiclass"}[ctx.task]
    enc = TargetEncoder(target_type=target_type, smooth=smooth, cv=list(ctx.folds.splits()))
    encoded_train = enc.fit_transform(_objects(train, cols), y)
    encoded_test = enc.transform(_objects(test, cols))
    if ctx.task == "multiclass":
        names = [f"te_{c}_{k}" for c in cols for k in range(len(enc.classes_))]
    else:
        names = [f"te_{c}" for c in cols]
    add = lambda f, values: pd.concat([f, pd.DataFrame(values, columns=names, index=f.index)], axis=1)  # noqa: E731
    return add(train, encoded_train), add(test, encoded_test)
