"""Categorical encoder steps: one-hot, ordinal, count and target encoding cross-fitted on the contest's folds."""
import numpy as np
import pandas as pd
import pytest

from common.features import FEATURES, FeatureContext
from common.data.folds import make_folds


def _setup(task="binary", n=300, seed=0):
    rng = np.random.default_rng(seed)
    colour = pd.Series(rng.choice(["red", "green", "blue", None], n), dtype="str")
    y = (colour.fillna("none").map({"red": 0.8, "green": 0.2, "blue": 0.5, "none": 0.5}) > rng.random(n)).astype(int)
    dtype = pd.CategoricalDtype(["blue", "green", "red", "violet"])
    train = pd.DataFrame({"id": np.arange(n), "colour": colour.astype(dtype), "x": rng.normal(size=n), "y": y})
    test = pd.DataFrame({"id": np.arange(50), "colour": pd.Series(["violet", "red"] * 25).astype(dtype),
                         "x": rng.normal(size=50)})
    folds = make_folds(n, "stratified", 5, 0, y=y)
    return train, test, FeatureContext("y", ("id",), task, folds, 0, ".")


def test_one_hot_columns_and_unseen_levels():
    train, test, ctx = _setup()
    tr, te = FEATURES.get("one_hot")(train, test, ctx)
    added = [c for c in tr.columns if c.startswith("oh_colour")]
    assert "colour" not in tr.columns and set(added) == set(c for c in te.columns if c.startswith("oh_colour"))
    np.testing.assert_array_equal(tr[added].sum(axis=1), 1)  # missing is a level of its own
    assert (te.loc[te.index % 2 == 0, added].sum(axis=1) == 0).all()  # 'violet' never seen in train: all zeros


def test_ordinal_and_count_encodings():
    train, test, ctx = _setup()
    tr, te = FEATURES.get("ordinal_encoding")(train, test, ctx)
    assert tr["colour"].dtype == float and (te["colour"].iloc[::2] == -1).all()
    tr, te = FEATURES.get("count_encoding")(train, test, ctx)
    share = pd.concat([train["colour"].astype(object), test["colour"].astype(object)]).fillna("NaN").value_counts(normalize=True)
    assert tr["count_colour"].iloc[0] == pytest.approx(share[train["colour"].astype(object).fillna("NaN").iloc[0]])


def test_target_encoding_is_cross_fitted_on_the_contest_folds():
    train, test, ctx = _setup()
    tr, te = FEATURES.get("target_encoding")(train, test, ctx)
    # a row's encoding comes from the other folds only: changing the labels of its own fold leaves it alone
    fold0 = ctx.folds.assignment == 0
    flipped = train.assign(y=np.where(fold0, 1 - train["y"], train["y"]))
    tr2, _ = FEATURES.get("target_encoding")(flipped, test, ctx)
    np.testing.assert_allclose(tr.loc[fold0, "te_colour"], tr2.loc[fold0, "te_colour"])
    assert not np.allclose(tr.loc[~fold0, "te_colour"], tr2.loc[~fold0, "te_colour"])
    red = train["colour"] == "red"
    assert tr.loc[red, "te_colour"].mean() > tr.loc[train["colour"] == "green", "te_colour"].mean()
    assert np.isfinite(te["te_colour"]).all()
