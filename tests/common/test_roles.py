"""Column roles: inferred from the data, overridable, applied the same way to train and test."""
import numpy as np
import pandas as pd
import pytest

from common.errors import DataError
from common.data.roles import apply_roles, infer_roles, override_hint


def _frames(n=60, seed=0):
    rng = np.random.default_rng(seed)
    train = pd.DataFrame({
        "row": np.arange(n),
        "size": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "name": [f"person {i}" for i in range(n)],
        "review": [" ".join(rng.choice(["good", "bad", "fine", "meh", "ok"], 8)) + f" {i}" for i in range(n)],
        "day": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d"),
        "amount": [f"{v:.2f}" for v in rng.uniform(0, 9, n)],
        "same": "x",
        "y": rng.normal(size=n),
    })
    test = train.drop(columns="y").iloc[:20].copy()
    test.loc[0, "colour"] = "purple"  # a level train never saw
    return train, test


def test_every_string_column_gets_a_role_at_once():
    train, test = _frames()
    roles = infer_roles(train, test, target="y", id_columns=[])
    got = {c: r.role for c, r in roles.items()}
    assert got == {"row": "drop", "size": "numeric", "colour": "categorical", "name": "drop", "review": "text",
                   "day": "date", "amount": "numeric", "same": "drop", "y": "target"}
    assert "consecutive" in roles["row"].reason and "distinct" in roles["name"].reason
    hint = override_hint(roles)
    assert "roles: {" in hint and "colour: categorical" in hint


def test_overrides_win_and_unknown_columns_are_named():
    train, test = _frames()
    roles = infer_roles(train, test, target="y", id_columns=["row"], overrides={"name": "categorical", "size": "drop"})
    assert (roles["row"].role, roles["name"].role, roles["size"].role) == ("id", "categorical", "drop")
    with pytest.raises(DataError, match=r"data.roles names column\(s\) \['nope'\]"):
        infer_roles(train, test, target="y", id_columns=[], overrides={"nope": "numeric"})


def test_applied_roles_share_categories_and_expand_dates():
    train, test = _frames()
    roles = infer_roles(train, test, target="y", id_columns=[])
    tr, te = apply_roles(train, test, roles)
    assert isinstance(tr["colour"].dtype, pd.CategoricalDtype) and tr["colour"].dtype == te["colour"].dtype
    assert "purple" in tr["colour"].cat.categories  # one level set: the same code in both frames
    assert {"day_year", "day_month", "day_dayofweek", "day_days"} <= set(tr.columns) and "day" not in tr.columns
    assert tr["day_days"].is_monotonic_increasing
    assert tr["amount"].dtype == float and "row" not in tr.columns and "same" not in tr.columns
    assert tr["review"].dtype == object or str(tr["review"].dtype) == "str"


def test_columns_that_cannot_take_their_role_are_all_named():
    train, test = _frames()
    train.loc[3, "amount"] = "n/a"
    test.loc[5, "day"] = "someday"
    roles = infer_roles(train, test, target="y", id_columns=[])
    with pytest.raises(DataError) as err:
        apply_roles(train, test, roles, ("train.csv", "test.csv"))
    message = str(err.value)
    assert "'amount' (train.csv): numeric, but row 3 (line 5) holds 'n/a'" in message
    assert "'day' (test.csv): date, but row 5 (line 7) holds 'someday'" in message
    assert "data.roles" in message
