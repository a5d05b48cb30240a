"""Tmall repeat buyers: (user, merchant) features from the 54.9 M-row behaviour log, with polars.

The log CSV is converted once to an Arrow IPC file with compact dtypes (common.data.logs, cached by the file's
digest); the aggregates below are lazy polars queries over it, and their result is cached again,
keyed by the log, the user-info file, the pairs and this module's source, so a rerun reads one
small parquet. `pair_features_pandas` is the same features in pandas: the reference the tests
compare against and the benchmark times; `build_pair_features_pandas` wraps it in the same checks
and caches, the benchmark's like-for-like baseline for the whole build.

Feature groups (prefix): profile (age_range, gender); user (u_), merchant (m_), brand and category
(b_, c_: their purchase rate and reach, averaged over the pair's rows); the pair itself (um_):
counts per action type, distinct items / categories / brands, active days, first and last day,
Double-11 activity; and ratios of the pair to the user's and the merchant's totals.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from common.errors import DataError
from common.features import FEATURES
from common.data.io import atomic_path, stable_hash
from common.data.logs import PARQUET_OPTIONS, LogSchema, aggregate_runs, cache_path, cached_query, open_log, read_log

ACTIONS = ("click", "cart", "buy", "fav")  # action_type 0..3
MMDD = [m * 100 + d for m, n in {5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30}.items()
        for d in range(1, n + 1) if (5, 11) <= (m, d) <= (11, 11)]  # 511 .. 1111, as the log's mmdd text reads
DAY = {mmdd: i for i, mmdd in enumerate(MMDD)}  # day index: 0511 is day 0, 1111 is day 184
D11 = 1111
PAIR = ["user_id", "merchant_id"]

LOG_SCHEMA = LogSchema(
    columns={"user_id": pl.UInt32, "item_id": pl.UInt32, "cat_id": pl.UInt16, "seller_id": pl.UInt16,
             "brand_id": pl.Float32, "time_stamp": pl.Int16, "action_type": pl.UInt8},
    nullable=("brand_id",),
    allowed={"action_type": (0, 1, 2, 3), "time_stamp": tuple(MMDD)},
    derive={"brand_id": pl.col("brand_id").cast(pl.UInt16, strict=False)},
    hints={"action_type": "0 click, 1 add-to-cart, 2 purchase, 3 favourite",
           "time_stamp": "a date as mmdd text from 0511 to 1111, e.g. 0628",
           "brand_id": "a number such as 7069.0, or empty", "user_id": "a positive whole number",
           "item_id": "a positive whole number", "cat_id": "a positive whole number",
           "seller_id": "a positive whole number (the merchant_id of the label files)"},
)
INFO_SCHEMA = LogSchema(
    columns={"user_id": pl.UInt32, "age_range": pl.Float32, "gender": pl.Float32},
    nullable=("age_range", "gender"),
    allowed={"age_range": tuple(range(9)), "gender": (0, 1, 2)},
    hints={"age_range": "0 unknown, 1 <18, 2 18-24, ..., 8 >=50, or empty", "gender": "0 female, 1 male, 2 unknown, or empty"},
)


# ---------------------------------------------------------------- polars
def _ratio(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def _i32(expr: pl.Expr, name: str) -> pl.Expr:
    return expr.cast(pl.Int32).alias(name)


def _action_counts(prefix: str) -> list[pl.Expr]:
    return [_i32((pl.col("action_type") == k).sum(), f"{prefix}_{name}") for k, name in enumerate(ACTIONS)]


def _activity(prefix: str) -> list[pl.Expr]:
    """What the user, and each pair, did: counts, distinct things, days, Double 11."""
    buy, d11, day = pl.col("action_type") == 2, pl.col("time_stamp") == D11, pl.col("time_stamp")
    return [_i32(pl.len(), f"{prefix}_n"), *_action_counts(prefix),
            _i32(pl.col("item_id").n_unique(), f"{prefix}_items"), _i32(pl.col("cat_id").n_unique(), f"{prefix}_cats"),
            _i32(pl.col("brand_id").drop_nulls().n_unique(), f"{prefix}_brands"), _i32(day.n_unique(), f"{prefix}_days"),
            day.min().alias(f"{prefix}_first"), day.max().alias(f"{prefix}_last"),
            _i32(d11.sum(), f"{prefix}_d11"), _i32((d11 & buy).sum(), f"{prefix}_d11_buy")]


def _to_day(*columns: str) -> list[pl.Expr]:
    return [pl.col(c).replace_strict(DAY, default=None, return_dtype=pl.Int32) for c in columns]


def _pair_key(user: str, merchant: str) -> pl.Expr:
    """A (user, merchant) pair as one integer: matching the log's 55 M rows hashes one column, not two."""
    return pl.col(user).cast(pl.UInt64) * 65536 + pl.col(merchant).cast(pl.UInt16)


def pair_features_polars(frame: pl.DataFrame, info: pl.LazyFrame, pairs: pl.LazyFrame) -> pl.DataFrame:
    """One row per pair (user_id, merchant_id, in `pairs` order) with every feature; NaN where no log row.

    The log `frame` must hold each user's rows together, in any order of users (`common.data.logs.open_log(...,
    group_by="user_id")`): users are then grouped by slices instead of hashing (`common.data.logs.aggregate_runs`).
    Distinct counts over the whole log are the costly part, so each is paid once: per user in that query,
    per merchant only over purchases.
    """
    buy, d11 = pl.col("action_type") == 2, pl.col("time_stamp") == D11
    pairs = (pairs.select(pl.col("user_id").cast(pl.UInt32), pl.col("merchant_id").cast(pl.UInt16))
             .with_row_index("_order").collect())
    keys = pairs.select(_pair_key("user_id", "merchant_id")).to_series().implode()
    log = frame.lazy()
    user = aggregate_runs(frame, "user_id", *_activity("u"), _i32(pl.col("seller_id").n_unique(), "u_merchants"),
                          _i32(pl.col("seller_id").filter(buy).n_unique(), "u_buy_merchants"))
    merchant = log.group_by("seller_id").agg(
        _i32(pl.len(), "m_n"), *_action_counts("m"), _i32(d11.sum(), "m_d11"), _i32((d11 & buy).sum(), "m_d11_buy"))
    # a shop's buyers, and those who bought on two days or more: the log's own trace of repeat buyers
    buyers = (log.filter(buy).group_by("seller_id", "user_id").agg(pl.col("time_stamp").n_unique().alias("days"))
              .group_by("seller_id").agg(_i32(pl.len(), "m_buyers"), _i32((pl.col("days") >= 2).sum(), "m_repeat_buyers")))
    brand = log.group_by("brand_id").agg(buy.mean().alias("b_buy_rate"), pl.len().cast(pl.Float64).alias("b_n")).drop_nulls("brand_id")
    cat = log.group_by("cat_id").agg(buy.mean().alias("c_buy_rate"), pl.len().cast(pl.Float64).alias("c_n"))
    pair = (log.filter(_pair_key("user_id", "seller_id").is_in(keys))
            .join(brand, on="brand_id", how="left").join(cat, on="cat_id", how="left")
            .group_by("user_id", "seller_id").agg(
                *_activity("um"),
                pl.col("b_buy_rate").mean().alias("um_brand_buy_rate"), pl.col("b_n").mean().alias("um_brand_n"),
                pl.col("c_buy_rate").mean().alias("um_cat_buy_rate"), pl.col("c_n").mean().alias("um_cat_n")))
    # the streaming engine, named: on the 55 M-row log it needs 7 CPU-seconds for these, the in-memory one 18
    user, merchant, buyers, pair, info = pl.collect_all([user, merchant, buyers, pair, info], engine="streaming")
    if user["user_id"].n_unique() < len(user):  # a user in two runs: the log was not grouped
        raise ValueError("pair_features_polars: the log must hold each user's rows together; open it with "
                         "common.data.logs.open_log(..., group_by='user_id')")
    merchant = (merchant.join(buyers, on="seller_id", how="left")
                .with_columns(pl.col("m_buyers", "m_repeat_buyers").fill_null(0)).rename({"seller_id": "merchant_id"}))
    out = (pairs.join(info, on="user_id", how="left")
           .join(user, on="user_id", how="left")
           .join(merchant, on="merchant_id", how="left")
           .join(pair.rename({"seller_id": "merchant_id"}), on=PAIR, how="left")
           .sort("_order").drop("_order")
           .with_columns(_to_day("u_first", "u_last", "um_first", "um_last")))
    return out.with_columns(
        u_buy_rate=_ratio("u_buy", "u_n"), m_buy_rate=_ratio("m_buy", "m_n"),
        m_repeat_share=_ratio("m_repeat_buyers", "m_buyers"), um_span=pl.col("um_last") - pl.col("um_first"),
        um_before=pl.col("um_n") - pl.col("um_d11"),
        um_share_user=_ratio("um_n", "u_n"), um_click_share_user=_ratio("um_click", "u_click"),
        um_fav_share_user=_ratio("um_fav", "u_fav"), um_buy_share_user=_ratio("um_buy", "u_buy"),
        um_days_share_user=_ratio("um_days", "u_days"), um_share_merchant=_ratio("um_n", "m_n"),
        um_buy_share_merchant=_ratio("um_buy", "m_buy"),
    )


def build_pair_features(log_csv: str | Path, info_csv: str | Path, pairs: pl.DataFrame, cache_dir: str | Path,
                        log: Callable[[str], None] = print) -> pl.DataFrame:
    """Features for `pairs` from the two raw files: the converted logs and the result all cached."""
    cache_dir = Path(cache_dir)
    info, info_pq = read_log(info_csv, INFO_SCHEMA, cache_dir, "user info", log=log)
    # the key needs only the cache names (they carry the CSV digests), so a cached result skips the log entirely;
    # this file's text stands for the feature code, helpers included
    log_pq = cache_path(log_csv, LOG_SCHEMA, cache_dir, "user log")
    key = (log_pq.name, info_pq.name, pairs.hash_rows().sum(), len(pairs), stable_hash(Path(__file__).read_text()))

    def build() -> pl.DataFrame:
        with open_log(log_csv, LOG_SCHEMA, cache_dir, "user log", group_by="user_id", log=log) as frame:
            return pair_features_polars(frame, info.lazy(), pairs.lazy())

    return cached_query(cache_dir, key, build, name="pair_features", log=log)


# ---------------------------------------------------------------- pandas reference
def read_log_pandas(log_csv: str | Path) -> pd.DataFrame:
    """The log read with pandas, in the same compact dtypes (time_stamp as the number mmdd)."""
    return pd.read_csv(log_csv, dtype={"user_id": "uint32", "item_id": "uint32", "cat_id": "uint16", "seller_id": "uint16",
                                       "brand_id": "float32", "time_stamp": "int16", "action_type": "uint8"})


def read_info_pandas(info_csv: str | Path) -> pd.DataFrame:
    return pd.read_csv(info_csv, dtype={"user_id": "uint32", "age_range": "float32", "gender": "float32"})


def pair_features_pandas(log_csv: str | Path, info_csv: str | Path, pairs: pd.DataFrame) -> pd.DataFrame:
    """`pair_features_polars` written with pandas groupbys (same columns, same order, same values)."""
    return _pair_features_pandas(read_log_pandas(log_csv), read_info_pandas(info_csv), pairs)


def build_pair_features_pandas(log_csv: str | Path, info_csv: str | Path, pairs: pd.DataFrame,
                               cache_dir: str | Path) -> pd.DataFrame:
    """`build_pair_features` step for step in pandas, for the benchmark's like-for-like comparison: each CSV
    checked and cached as Arrow IPC (pandas' to_feather, uncompressed) under the same digest-keyed name, then the features,
    cached too. Give it a cache folder of its own. `pair_features_pandas` alone skips the checks and caches."""
    cache_dir = Path(cache_dir)
    log_pq = cache_path(log_csv, LOG_SCHEMA, cache_dir, "user log")
    info_pq = cache_path(info_csv, INFO_SCHEMA, cache_dir, "user info")
    pairs = pairs[PAIR]
    key = stable_hash(log_pq.name, info_pq.name, len(pairs), int(pd.util.hash_pandas_object(pairs, index=False).sum()),
                      stable_hash(Path(__file__).read_text()))  # the feature code, as in build_pair_features
    result = cache_dir / f"pair_features-{key}.parquet"
    if result.is_file():
        return pd.read_parquet(result)

    def write(frame: pd.DataFrame, path: Path) -> None:  # common.data.logs' settings, in pyarrow's words
        with atomic_path(path) as tmp:
            if path.suffix == ".arrow":
                frame.to_feather(tmp, compression="uncompressed")
            else:
                frame.to_parquet(tmp, index=False, compression=PARQUET_OPTIONS["compression"],
                                 row_group_size=PARQUET_OPTIONS["row_group_size"],
                                 write_statistics=PARQUET_OPTIONS["statistics"])

    def converted(csv: str | Path, path: Path, schema: LogSchema, what: str, read: Callable) -> pd.DataFrame:
        if path.is_file():
            return pd.read_feather(path)
        frame = read(csv)
        _check_values_pandas(frame, schema, Path(csv), what)
        write(frame, path)
        return frame

    out = _pair_features_pandas(converted(log_csv, log_pq, LOG_SCHEMA, "user log", read_log_pandas),
                                converted(info_csv, info_pq, INFO_SCHEMA, "user info", read_info_pandas), pairs)
    write(out, result)
    return out


def _check_values_pandas(frame: pd.DataFrame, schema: LogSchema, path: Path, what: str) -> None:
    """What common.data.logs checks on the polars side: no empty required cell, no unknown code."""
    for column in frame.columns:
        problems = [] if column in schema.nullable else [(frame[column].isna(), "is empty")]
        if column in schema.allowed:
            problems.append((~frame[column].isin(schema.allowed[column]) & frame[column].notna(), "holds an unknown value"))
        for bad, text in problems:
            if bad.any():
                raise DataError(f"{what} file {path}, line {int(bad.to_numpy().argmax()) + 2}: column {column!r} {text}.")


def _pair_features_pandas(log: pd.DataFrame, info: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    log = log.assign(click=log.action_type == 0, cart=log.action_type == 1, buy=log.action_type == 2,
                     fav=log.action_type == 3, d11=log.time_stamp == D11)
    log["d11_buy"] = log.d11 & log.buy
    log["buy_seller"] = log.seller_id.where(log.buy)
    counts = lambda p: {f"{p}_{a}": (a, "sum") for a in ACTIONS}  # noqa: E731
    activity = lambda p: {f"{p}_n": ("day", "size"), **counts(p), f"{p}_items": ("item_id", "nunique"),  # noqa: E731
                          f"{p}_cats": ("cat_id", "nunique"), f"{p}_brands": ("brand_id", "nunique"),
                          f"{p}_days": ("time_stamp", "nunique"), f"{p}_first": ("time_stamp", "min"),
                          f"{p}_last": ("time_stamp", "max"), f"{p}_d11": ("d11", "sum"), f"{p}_d11_buy": ("d11_buy", "sum")}
    log["day"] = log.time_stamp  # any column: 'size' counts rows
    pairs = pairs[PAIR].astype({"user_id": "uint32", "merchant_id": "uint16"})
    user = log.groupby("user_id").agg(**activity("u"), u_merchants=("seller_id", "nunique"),
                                      u_buy_merchants=("buy_seller", "nunique"))
    merchant = log.groupby("seller_id").agg(m_n=("day", "size"), **counts("m"), m_d11=("d11", "sum"), m_d11_buy=("d11_buy", "sum"))
    days = log[log.buy].groupby(["seller_id", "user_id"]).time_stamp.nunique()
    buyers = pd.DataFrame({"m_buyers": days.groupby(level="seller_id").size(),
                           "m_repeat_buyers": (days >= 2).groupby(level="seller_id").sum()})
    merchant = merchant.join(buyers).fillna({"m_buyers": 0, "m_repeat_buyers": 0})
    brand = log.groupby("brand_id").agg(b_buy_rate=("buy", "mean"), b_n=("buy", "size"))
    cat = log.groupby("cat_id").agg(c_buy_rate=("buy", "mean"), c_n=("buy", "size"))
    keys = pd.MultiIndex.from_frame(pairs.rename(columns={"merchant_id": "seller_id"}))
    plog = log[pd.MultiIndex.from_frame(log[["user_id", "seller_id"]]).isin(keys)]
    plog = plog.join(brand, on="brand_id").join(cat, on="cat_id")
    pair = plog.groupby(["user_id", "seller_id"]).agg(
        **activity("um"), um_brand_buy_rate=("b_buy_rate", "mean"), um_brand_n=("b_n", "mean"),
        um_cat_buy_rate=("c_buy_rate", "mean"), um_cat_n=("c_n", "mean"))
    out = (pairs.merge(info, on="user_id", how="left").merge(user, left_on="user_id", right_index=True, how="left")
           .merge(merchant, left_on="merchant_id", right_index=True, how="left")
           .merge(pair, left_on=["user_id", "merchant_id"], right_index=True, how="left"))
    for column in ("u_first", "u_last", "um_first", "um_last"):
        out[column] = out[column].map(DAY)
    ratio = lambda n, d: (out[n] / out[d]).where(out[d] > 0)  # noqa: E731
    return out.assign(
        u_buy_rate=ratio("u_buy", "u_n"), m_buy_rate=ratio("m_buy", "m_n"),
        m_repeat_share=ratio("m_repeat_buyers", "m_buyers"), um_span=out.um_last - out.um_first,
        um_before=out.um_n - out.um_d11, um_share_user=ratio("um_n", "u_n"),
        um_click_share_user=ratio("um_click", "u_click"), um_fav_share_user=ratio("um_fav", "u_fav"),
        um_buy_share_user=ratio("um_buy", "u_buy"), um_days_share_user=ratio("um_days", "u_days"),
        um_share_merchant=ratio("um_n", "m_n"), um_buy_share_merchant=ratio("um_buy", "m_buy")).reset_index(drop=True)


# ---------------------------------------------------------------- feature steps
@FEATURES.register("tmall_log_features")
def tmall_log_features(train, test, ctx, log: str = "data/raw/user_log_format1.csv",
                       info: str = "data/raw/user_info_format1.csv", missing_pairs: str = "error"):
    """Join the log features onto both frames (the test file's empty `prob` column is dropped on load).

    missing_pairs: 'error' stops when a label pair has no row in the log (the log does not go with
    the label files); 'keep' keeps such pairs with empty log features.
    """
    if missing_pairs not in ("error", "keep"):
        raise DataError(f"tmall_log_features: missing_pairs must be 'error' or 'keep'; got {missing_pairs!r}")
    log_path, info_path = ctx.root / log, ctx.root / info
    pairs = pl.from_pandas(pd.concat([train[PAIR], test[PAIR]], ignore_index=True))
    feats = build_pair_features(log_path, info_path, pairs, ctx.root / "cache" / "logs").to_pandas()
    n_train = len(train)
    if missing_pairs == "error":
        for frame, part, what in ((train, feats.iloc[:n_train], "train"), (test, feats.iloc[n_train:], "test")):
            absent = np.flatnonzero(part["um_n"].isna().to_numpy())
            if len(absent):
                row = int(absent[0])
                raise DataError(
                    f"{what} file: {len(absent)} of {len(part)} (user_id, merchant_id) pairs have no row in {log_path}, "
                    f"e.g. user {frame['user_id'].iloc[row]}, merchant {frame['merchant_id'].iloc[row]} at row {row} "
                    f"(line {row + 2}). The log must be the full user_log_format1.csv that goes with the label files; "
                    "to keep such pairs with empty log features, set `params: {missing_pairs: keep}` for "
                    "tmall_log_features in config.yaml.")
    feats = feats.drop(columns=PAIR)
    add = lambda frame, part: pd.concat([frame.reset_index(drop=True), part.reset_index(drop=True)], axis=1)  # noqa: E731
    return add(train, feats.iloc[:n_train]), add(test, feats.iloc[n_train:])


# its result is cached under cache/logs/ (build_pair_features): the features stage stores no second copy as step tables
tmall_log_features.caches_itself = True
