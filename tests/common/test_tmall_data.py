"""The Tmall generator (real schema and formats, planted signal) and the polars log features it feeds."""
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from common.contest import Contest
from common.data.datasets import GENERATORS
from common.data.datasets.tmall import FILES, REAL_LABELS, make_tmall
from common.errors import DataError
from common.data.logs import cache_path, wait_for_writes
from tests.conftest import REPO

CONTEST = REPO / "competitions" / "tmall_repeat_buyer"


@pytest.fixture(scope="module")
def features_module():
    """The contest's features.py, imported the way the stages import it."""
    import sys

    Contest.load(CONTEST)
    return next(m for name, m in sys.modules.items() if name.startswith("contest_features_")
                and Path(getattr(m, "__file__", "")).resolve() == (CONTEST / "features.py").resolve())


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """1,500 users with drawn pairs (no real files needed), about 190k log rows."""
    out = tmp_path_factory.mktemp("tmall")
    make_tmall(out, n_users=1500, seed=3, label_dir=None)
    return out


def _pairs(folder: Path) -> pl.DataFrame:
    return pl.concat([pl.read_csv(folder / f, columns=["user_id", "merchant_id"]) for f in FILES[:2]])


def test_files_have_the_real_schema_and_formats(small):
    header = lambda f: (small / f).read_text().splitlines()[0]  # noqa: E731
    assert header(FILES[0]) == "user_id,merchant_id,label" and header(FILES[1]) == "user_id,merchant_id,prob"
    assert header(FILES[2]) == "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type"
    assert header(FILES[3]) == "user_id,age_range,gender"
    log = pl.read_csv(small / FILES[2], schema_overrides={"time_stamp": pl.Utf8})
    stamps = log["time_stamp"]
    assert stamps.str.len_chars().unique().to_list() == [4]  # mmdd text with its leading zero: 0511
    assert stamps.min() == "0511" and stamps.max() == "1111"
    shares = stamps.value_counts(normalize=True).sort("proportion", descending=True)
    assert shares["time_stamp"][0] == "1111" and shares["proportion"][0] > 0.15  # the Double-11 spike
    actions = log["action_type"].value_counts(normalize=True).sort("action_type")
    assert actions["action_type"].to_list() == [0, 1, 2, 3] and actions["proportion"][0] > 0.8  # clicks dominate
    assert log["brand_id"].dtype == pl.Float64 and log["brand_id"].null_count() > 0
    text = (small / FILES[2]).read_text()
    assert ",," in text and "nan" not in text.lower()  # a missing brand is written as an empty field, as in the real file
    info = pl.read_csv(small / FILES[3])
    assert info["age_range"].null_count() > 0 and info["gender"].null_count() > 0
    assert set(info["age_range"].drop_nulls().unique()) <= set(range(9)) and set(info["gender"].drop_nulls()) <= {0, 1, 2}
    train, test = pl.read_csv(small / FILES[0]), pl.read_csv(small / FILES[1])
    assert 0.04 < train["label"].mean() < 0.08 and test["prob"].null_count() == len(test)
    assert not set(train["user_id"]) & set(test["user_id"])  # as in the real files
    # every pair is a new Double-11 buyer: a purchase on 1111, none before
    pair_rows = log.join(_pairs(small).rename({"merchant_id": "seller_id"}), on=["user_id", "seller_id"], how="semi")
    per_pair = pair_rows.group_by("user_id", "seller_id").agg(
        d11_buy=((pl.col("time_stamp") == "1111") & (pl.col("action_type") == 2)).sum(),
        early_buy=((pl.col("time_stamp") != "1111") & (pl.col("action_type") == 2)).sum())
    assert len(per_pair) == len(train) + len(test)
    assert per_pair["d11_buy"].min() >= 1 and per_pair["early_buy"].max() == 0
    assert abs(len(log) / info.height - 129.5) < 10  # the real 54.9 M rows / 424,170 users


@pytest.mark.skipif(not (REAL_LABELS / FILES[0]).is_file(), reason="real Tmall label files not found at ../shared/data/tmall")
def test_pairs_are_drawn_from_the_real_label_files(tmp_path):
    GENERATORS.create("tmall_repeat_buyer", tmp_path, seed=1, n_users=500)
    real = pl.read_csv(REAL_LABELS / FILES[0], columns=["user_id", "merchant_id"])
    made = pl.read_csv(tmp_path / FILES[0], columns=["user_id", "merchant_id"])
    assert made.join(real, on=["user_id", "merchant_id"], how="anti").height == 0
    # whole users are kept: every real pair of a sampled user is there
    assert real.join(made.select("user_id").unique(), on="user_id", how="semi").height == made.height


def test_polars_features_equal_the_pandas_reference(small, features_module, tmp_path):
    m = features_module
    pairs = _pairs(small)
    fast = m.build_pair_features(small / FILES[2], small / FILES[3], pairs, tmp_path, log=lambda _: None).to_pandas()
    slow = m.pair_features_pandas(small / FILES[2], small / FILES[3], pairs.to_pandas())
    assert list(fast.columns) == list(slow.columns) and len(fast) == len(pairs)
    pd.testing.assert_frame_equal(fast, slow, check_dtype=False, rtol=1e-6)
    assert fast["um_n"].notna().all() and (fast["um_d11_buy"] >= 1).all()
    # the benchmark's pandas build (checks and caches around the same features) gives them too, cold and cached
    for _ in range(2):
        built = m.build_pair_features_pandas(small / FILES[2], small / FILES[3], pairs.to_pandas(), tmp_path / "pandas")
        pd.testing.assert_frame_equal(built, slow, check_dtype=False)
    assert len(list((tmp_path / "pandas").glob("*.arrow"))) == 2  # log, user info
    assert len(list((tmp_path / "pandas").glob("*.parquet"))) == 1  # features


def test_features_are_cached_and_rebuilt_when_the_log_changes(small, features_module, tmp_path):
    m, pairs, messages = features_module, _pairs(small), []
    first = m.build_pair_features(small / FILES[2], small / FILES[3], pairs, tmp_path, log=messages.append)
    assert sum("converting" in s for s in messages) == 2
    messages.clear()
    again = m.build_pair_features(small / FILES[2], small / FILES[3], pairs, tmp_path, log=messages.append)
    assert messages == [msg for msg in messages if "cached" in msg] and len(messages) == 1 and again.equals(first)
    changed = tmp_path / "v2" / FILES[2]
    changed.parent.mkdir()
    lines = (small / FILES[2]).read_text().splitlines()
    changed.write_text("\n".join(lines[:-1]) + "\n")  # one row fewer
    messages.clear()
    m.build_pair_features(changed, small / FILES[3], pairs, tmp_path, log=messages.append)
    assert any(f"converting {FILES[2]}" in s for s in messages)
    # the cache keeps the newest version of each file only (asking for its path waits for its background write)
    newest = cache_path(changed, m.LOG_SCHEMA, tmp_path)
    assert list(tmp_path.glob("user_log_format1-*")) == [newest] and newest.suffix == ".arrow"
    wait_for_writes()  # the features are written in the background too, after the log
    assert len(list(tmp_path.glob("pair_features-*.parquet"))) == 1


def test_planted_signal_is_learnable(small, features_module, tmp_path):
    """Log features alone (no merchant encoding) separate repeat buyers: grouped-CV AUC well above 0.5."""
    from lightgbm import LGBMClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    m = features_module
    train = pl.read_csv(small / FILES[0])
    X = m.build_pair_features(small / FILES[2], small / FILES[3], train.select("user_id", "merchant_id"), tmp_path,
                              log=lambda _: None).drop("user_id", "merchant_id").to_pandas()
    y, groups = train["label"].to_numpy(), train["user_id"].to_numpy()
    oof = np.zeros(len(y))
    for fit, valid in StratifiedGroupKFold(3, shuffle=True, random_state=0).split(X, y, groups):
        model = LGBMClassifier(n_estimators=100, learning_rate=0.05, num_leaves=15, min_child_samples=20, n_jobs=1, verbose=-1)
        oof[valid] = model.fit(X.iloc[fit], y[fit]).predict_proba(X.iloc[valid])[:, 1]
    assert roc_auc_score(y, oof) > 0.62


LOG_HEADER = "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type"
GOOD = ["1,10,5,7,100.0,0511,0", "1,11,5,7,,1111,2", "2,12,6,8,101.0,0620,3"]


def _files_with(bad_line: str, folder: Path) -> tuple[Path, Path]:
    """A log with `bad_line` as line 5 between good ones, and a good user-info file."""
    log = folder / "user_log_format1.csv"
    log.write_text("\n".join([LOG_HEADER, *GOOD, bad_line, *GOOD]) + "\n")
    info = folder / "user_info_format1.csv"
    info.write_text("user_id,age_range,gender\n1,3.0,0.0\n2,,\n3,4.0,1.0\n")
    return log, info


@pytest.mark.parametrize("bad_line, expected", [
    ("3,13,6,8,101.0,0620,0,9", ["line 5", "expected 7 comma-separated fields", "found 8"]),
    ("3,13,6,8,101.0,0620,", ["line 5", "column 'action_type' is empty"]),
    ("3,13,6,8,101.0", ["line 5", "is empty"]),
    ("3,x13,6,8,101.0,0620,0", ["line 5", "column 'item_id'", "'x13' is not a valid value"]),
    ("3,13,6,8,101.0,0620,4", ["line 5", "column 'action_type' holds a value outside [0, 1, 2, 3]", "0 click"]),
    ("3,13,6,8,101.0,1231,0", ["line 5", "column 'time_stamp'", "0511 to 1111"]),
])
def test_bad_log_lines_are_named_and_nothing_is_cached(features_module, tmp_path, bad_line, expected):
    m = features_module
    log, info = _files_with(bad_line, tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        m.build_pair_features(log, info, pl.DataFrame({"user_id": [1], "merchant_id": [7]}), cache, log=lambda _: None)
    message = str(err.value)
    assert str(log) in message and "nothing was cached" in message
    for part in expected:
        assert part in message, message
    assert not list(cache.glob("user_log*")) and not list(cache.glob(".*tmp"))
    assert log.read_text().count("\n") == 8  # the input is untouched


@pytest.mark.parametrize("bad_line, column", [("3,13,6,8,101.0,0620,4", "action_type"), ("3,13,6,8,101.0,1231,0", "time_stamp")])
def test_the_pandas_build_checks_the_same_values(features_module, tmp_path, bad_line, column):
    log, info = _files_with(bad_line, tmp_path)
    with pytest.raises(DataError, match=f"line 5: column '{column}' holds an unknown value"):
        features_module.build_pair_features_pandas(log, info, pd.DataFrame({"user_id": [1], "merchant_id": [7]}), tmp_path / "c")
    assert not list((tmp_path / "c").glob("user_log*"))


def test_renamed_log_column_is_named(features_module, tmp_path):
    log = tmp_path / "user_log_format1.csv"
    log.write_text("\n".join([LOG_HEADER.replace("seller_id", "merchant_id"), *GOOD]) + "\n")
    from common.data.logs import read_log

    with pytest.raises(DataError, match="missing \\['seller_id'\\]"):
        read_log(log, features_module.LOG_SCHEMA, tmp_path)


def test_a_failure_after_the_conversion_keeps_the_checked_cache(small, features_module, tmp_path):
    """The cache is written in the background while the features are built; a bug in that work loses no conversion."""
    from common.data.logs import cache_path, is_grouped, open_log

    m, messages = features_module, []
    with pytest.raises(RuntimeError, match="bug in a feature"):
        with open_log(small / FILES[2], m.LOG_SCHEMA, tmp_path, group_by="user_id", log=messages.append) as frame:
            assert is_grouped(frame["user_id"]) and len(frame) > 100_000
            raise RuntimeError("bug in a feature")
    cached = cache_path(small / FILES[2], m.LOG_SCHEMA, tmp_path)
    assert cached.is_file() and not list(tmp_path.glob(".*tmp")) and pl.read_ipc(cached).equals(frame)
    with open_log(small / FILES[2], m.LOG_SCHEMA, tmp_path, log=messages.append) as again:
        assert again.equals(frame)
    assert sum("converting" in s for s in messages) == 1  # the second open read the cache


def test_the_log_is_grouped_by_user_in_no_order(small):
    """As the real file: each user's rows together, the users not in ascending order (it opens with user 328862)."""
    users = pl.read_csv(small / FILES[2], columns=["user_id"])["user_id"]
    runs = users.filter(users.ne_missing(users.shift(1)))
    assert runs.n_unique() == len(runs) == pl.read_csv(small / FILES[3])["user_id"].n_unique()
    assert not users.is_sorted() and users[0] != users.min()


@pytest.mark.parametrize("values, expected", [
    ([3, 3, 1, 1, 2], True),  # grouped, users in no order
    ([1, 2, 3], True), ([], True), ([None, None, 4], True),
    ([1, 2, 1], False),  # fewer runs than possible values: found by hashing the runs' first values
    ([1, 2, 1, 2, 1, 2], False),  # more runs than values 1..2 and null: counted, no hashing
    ([5, None, 5], False), ([None, 5, None], False),
])
@pytest.mark.parametrize("head_rows", [2, 1 << 20])  # the prefix looked at first: shorter than the column, and not
def test_is_grouped_means_no_value_in_two_runs(values, expected, head_rows, monkeypatch):
    from common.data import logs

    monkeypatch.setattr(logs, "_HEAD_ROWS", head_rows)
    assert logs.is_grouped(pl.Series(values, dtype=pl.UInt32)) is expected


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_features_do_not_depend_on_the_log_order(small, features_module, tmp_path, order):
    """The same features from the log as written (grouped, users in no order), sorted by user, or shuffled;
    a shuffled log is cached grouped, and pair_features_polars refuses a log that is not grouped."""
    from common.data.logs import is_grouped, read_log

    m, pairs = features_module, _pairs(small)
    expected = m.build_pair_features(small / FILES[2], small / FILES[3], pairs, tmp_path / "as_written", log=lambda _: None)
    text = pl.read_csv(small / FILES[2], infer_schema=False)  # strings: the rows are written back unchanged
    text = text.sort("user_id", maintain_order=True) if order == "sorted" else text.sample(fraction=1.0, shuffle=True, seed=0)
    reordered = tmp_path / order / FILES[2]
    reordered.parent.mkdir()
    text.write_csv(reordered)
    got = m.build_pair_features(reordered, small / FILES[3], pairs, tmp_path / order, log=lambda _: None)
    # exact but for the last bit of the means over a pair's rows, which are summed in another order
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=0)
    frame, _ = read_log(reordered, m.LOG_SCHEMA, tmp_path / order)  # from the cache: grouped, whatever the CSV
    assert is_grouped(frame["user_id"])
    if order == "shuffled":
        info, _ = read_log(small / FILES[3], m.INFO_SCHEMA, tmp_path / order)
        with pytest.raises(ValueError, match="must hold each user's rows together"):
            m.pair_features_polars(frame.sample(fraction=1.0, shuffle=True, seed=1), info.lazy(), pairs.lazy())
