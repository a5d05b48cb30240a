"""Tmall repeat-buyer data (天猫复购预测) at any scale, up to the real 54.9 M log rows and 424,170 users.

Writes the four files of the real contest with their exact columns and value formats:

- ``user_log_format1.csv``: user_id, item_id, cat_id, seller_id, brand_id (float, empty = NaN),
  time_stamp (mmdd text from 0511 to 1111, with the Double-11 spike), action_type (0 click,
  1 cart, 2 purchase, 3 favourite; clicks dominate);
- ``user_info_format1.csv``: user_id, age_range, gender (floats, some empty);
- ``train_format1.csv`` (user_id, merchant_id, label) and ``test_format1.csv`` (user_id,
  merchant_id, prob left empty).

The (user, merchant) pairs come from the real label files when they are found (``label_dir``,
by default ``../shared/data/tmall``), otherwise they are drawn. Labels are planted: each pair's
chance of a repeat purchase rises with a merchant quality, a user propensity and a pair affinity,
and the same three drive the log (the merchant's repeat buyers, the user's activity and purchase
rate, the pair's visits, favourites and Double-11 basket), so a model that reads the log can reach
an AUC clearly above 0.5 - and none can reach 1. Every pair is a new buyer: it purchased on 1111
and never before, as in the real contest.

The log is drawn and written in blocks of users with numpy and polars, so memory stays bounded and
the full scale takes a few minutes. As in the real file, each user's rows are together (by day) but the
users come in no particular order.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from common.data.datasets.registry import GENERATORS
from common.data.io import atomic_path

FULL_USERS = 424_170
FULL_ROWS = 54_925_330
N_MERCHANTS, N_ITEMS, N_CATS, N_BRANDS = 4_995, 1_113_166, 1_671, 8_477
POSITIVE_SHARE = 0.061
REAL_LABELS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tmall"
FILES = ("train_format1.csv", "test_format1.csv", "user_log_format1.csv", "user_info_format1.csv")

# Days from 0511 (day 0) to 1111 (day 184), as the log writes them.
_MONTH_DAYS = {5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30}
MMDD = [f"{m:02d}{d:02d}" for m, n in _MONTH_DAYS.items() for d in range(1, n + 1)
        if (m, d) >= (5, 11) and (m, d) <= (11, 11)]
DOUBLE_11 = len(MMDD) - 1  # 184
AGE_P = np.array([0.22, 0.0, 0.13, 0.256, 0.185, 0.1, 0.085, 0.017, 0.002])  # 0..8; 1 (<18) is rare
AGE_P[1] = 1 - AGE_P.sum()


def _days_other(rng: np.random.Generator, n: int) -> np.ndarray:
    """Days of ordinary log rows: a slow rise towards November, then the spike on 1108-1111."""
    u = rng.random(n)
    base = np.floor(DOUBLE_11 * rng.random(n) ** 0.8).astype(np.int16)
    spike = np.select([u < 0.20, u < 0.25, u < 0.275, u < 0.29], [DOUBLE_11, DOUBLE_11 - 1, DOUBLE_11 - 2, DOUBLE_11 - 3], -1)
    return np.where(spike >= 0, spike, base).astype(np.int16)


class _Catalogue:
    """Merchants with popularity and quality; items grouped by merchant, each with a category and a brand."""

    def __init__(self, rng: np.random.Generator):
        pop = 1.0 / np.arange(1, N_MERCHANTS + 1) ** 0.9
        self.popularity = rng.permutation(pop / pop.sum())
        self.cum = np.cumsum(self.popularity)
        self.quality = rng.normal(size=N_MERCHANTS)
        counts = 1 + rng.multinomial(N_ITEMS - N_MERCHANTS, self.popularity)
        self.start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.count = counts
        owner = np.repeat(np.arange(N_MERCHANTS), counts)
        self.item_id = rng.permutation(N_ITEMS).astype(np.int32) + 1
        main_cat, main_brand = rng.integers(1, N_CATS + 1, N_MERCHANTS), rng.integers(1, N_BRANDS + 1, N_MERCHANTS)
        own = rng.random(N_ITEMS)
        self.cat = np.where(own < 0.7, main_cat[owner], rng.integers(1, N_CATS + 1, N_ITEMS)).astype(np.int16)
        brand = np.where(own < 0.8, main_brand[owner], rng.integers(1, N_BRANDS + 1, N_ITEMS)).astype(np.float64)
        brand[rng.random(N_ITEMS) < 0.0015] = np.nan
        self.brand = brand

    def merchants(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cum, rng.random(n)), N_MERCHANTS - 1)

    def items(self, rng: np.random.Generator, merchant: np.ndarray) -> np.ndarray:
        """Slot (index into the item tables) of a random item of each merchant (0-based merchant index)."""
        return self.start[merchant] + (rng.random(len(merchant)) * self.count[merchant]).astype(np.int64)


def _label_pairs(rng: np.random.Generator, n_users: int | None, label_dir: Path | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train and test (user_id, merchant_id) pairs: the real ones (users sampled) or drawn ones."""
    if label_dir is not None and all((Path(label_dir) / f).is_file() for f in FILES[:2]):
        train, test = (pl.read_csv(Path(label_dir) / f, columns=["user_id", "merchant_id"],
                                   schema_overrides={"user_id": pl.Int32, "merchant_id": pl.Int32}) for f in FILES[:2])
        users = np.unique(np.concatenate([train["user_id"].to_numpy(), test["user_id"].to_numpy()]))
        if n_users is not None and n_users < len(users):
            keep = pl.Series("user_id", np.sort(rng.choice(users, n_users, replace=False)), dtype=pl.Int32).implode()
            train, test = train.filter(pl.col("user_id").is_in(keep)), test.filter(pl.col("user_id").is_in(keep))
        return train, test
    n_users = n_users or FULL_USERS
    users = np.sort(rng.choice(FULL_USERS, n_users, replace=False)).astype(np.int32) + 1
    per_user = rng.geometric(0.8, n_users)  # 1 pair for most users, a few with more
    user = np.repeat(users, per_user)
    pop = 1.0 / np.arange(1, N_MERCHANTS + 1) ** 0.7
    merchant = rng.choice(N_MERCHANTS, len(user), p=pop / pop.sum()).astype(np.int32) + 1
    pairs = pl.DataFrame({"user_id": user, "merchant_id": merchant}).unique(maintain_order=True)
    test_users = pl.Series("user_id", users[rng.random(n_users) < 0.5]).implode()
    return pairs.filter(~pl.col("user_id").is_in(test_users)), pairs.filter(pl.col("user_id").is_in(test_users))


def _block(rng, cat: _Catalogue, users, propensity, rows_per_user, pair_user, pair_merchant, pair_affinity) -> pl.DataFrame:
    """Log rows of one block of users: their label pairs' rows, then ordinary browsing."""
    # label pairs: one Double-11 purchase each, more Double-11 items and earlier visits with affinity
    n_pairs = len(pair_user)
    n_d11 = 1 + rng.poisson(0.3 * np.exp(0.5 * pair_affinity))
    n_before = rng.poisson(np.exp(0.9 + 0.6 * pair_affinity + 0.2 * propensity[pair_user]))
    n_extra = rng.poisson(2.0, n_pairs)  # Double-11 browsing of the same shop
    idx = np.repeat(np.arange(n_pairs), n_d11 + n_before + n_extra)
    offsets = np.concatenate([[0], np.cumsum(n_d11 + n_before + n_extra)[:-1]])
    pos = np.arange(len(idx)) - offsets[idx]
    kind = np.where(pos < n_d11[idx], 0, np.where(pos < (n_d11 + n_before)[idx], 1, 2))
    e = pair_affinity[idx]
    spread = 25.0 * np.exp(0.4 * e)
    day_before = np.clip(DOUBLE_11 - 1 - np.floor(rng.exponential(spread)), 0, DOUBLE_11 - 1)
    p_day = np.where(kind == 1, day_before, DOUBLE_11).astype(np.int16)
    u = rng.random(len(idx))
    p_fav = np.minimum(0.35, 0.05 * np.exp(0.6 * e))
    p_action = np.where(kind == 0, 2, np.where(u < p_fav, 3, np.where(u < p_fav + 0.003, 1, 0)))  # no purchase before 1111
    p_merchant = pair_merchant[idx] - 1
    p_user = pair_user[idx]

    # ordinary rows: popular shops, purchases more likely with good shops and keen users
    pair_rows = np.bincount(pair_user, weights=n_d11 + n_before + n_extra, minlength=len(users)).astype(np.int64)
    n_other = np.maximum(rows_per_user - pair_rows, 0)
    o_user = np.repeat(np.arange(len(users)), n_other)
    o_merchant = cat.merchants(rng, len(o_user))
    o_day = _days_other(rng, len(o_user))
    p_buy = np.minimum(0.5, 0.045 * np.exp(0.35 * cat.quality[o_merchant] + 0.35 * propensity[o_user]))
    p_fav = 0.058 * np.exp(0.15 * propensity[o_user])
    u = rng.random(len(o_user))
    o_action = np.where(u < p_buy, 2, np.where(u < p_buy + p_fav, 3, np.where(u < p_buy + p_fav + 0.0015, 1, 0)))
    # label pairs are new Double-11 buyers: browsing may reach their shop, buying there before 1111 may not
    early_pair_buy = (o_action == 2) & (o_day < DOUBLE_11) & np.isin(o_user * 8192 + o_merchant, pair_user * 8192 + pair_merchant - 1)
    o_action[early_pair_buy] = 0

    user = np.concatenate([p_user, o_user])
    merchant = np.concatenate([p_merchant, o_merchant])
    day = np.concatenate([p_day, o_day])
    order = np.argsort(user.astype(np.int64) * 256 + day, kind="stable")
    user, merchant, day = user[order], merchant[order], day[order]
    action = np.concatenate([p_action, o_action])[order].astype(np.int8)
    slot = cat.items(rng, merchant)
    return pl.DataFrame({
        "user_id": users[user].astype(np.int32), "item_id": cat.item_id[slot], "cat_id": cat.cat[slot],
        "seller_id": (merchant + 1).astype(np.int16), "brand_id": cat.brand[slot],
        "time_stamp": pl.Series(MMDD).gather(day.astype(np.uint32)), "action_type": action,
    }, nan_to_null=True)


def make_tmall(out_dir: str | Path, n_users: int | None = 20_000, n_rows: int | None = None, seed: int = 0,
               label_dir: str | Path | None = REAL_LABELS, block_users: int = 40_000) -> list[Path]:
    """Write the four files into `out_dir`; `n_users=None` (or 0) takes every user of the label files.

    `n_rows` defaults to the real rows per user (about 129.5); pass FULL_USERS and FULL_ROWS for
    the real scale. Returns the paths written.
    """
    rng = np.random.default_rng(seed)
    out_dir, n_users = Path(out_dir), n_users or None
    cat = _Catalogue(rng)
    train, test = _label_pairs(rng, n_users, Path(label_dir) if label_dir else None)
    pairs = pl.concat([train, test])
    users = np.unique(pairs["user_id"].to_numpy())
    n_rows = n_rows or int(round(len(users) * FULL_ROWS / FULL_USERS))

    # latent drivers: profile nudges the user's propensity; labels come from all three
    age = rng.choice(9, len(users), p=AGE_P).astype(float)
    gender = rng.choice(3, len(users), p=[0.68, 0.29, 0.03]).astype(float)
    propensity = rng.normal(size=len(users)) + 0.25 * ((age >= 3) & (age <= 5)) - 0.2 * (gender == 1)
    age[rng.random(len(users)) < 0.005] = np.nan
    gender[rng.random(len(users)) < 0.014] = np.nan
    pair_user = np.searchsorted(users, pairs["user_id"].to_numpy())
    pair_merchant = pairs["merchant_id"].to_numpy().astype(np.int64)
    affinity = rng.normal(size=len(pairs))
    score = 0.6 * cat.quality[pair_merchant - 1] + 0.5 * propensity[pair_user] + 0.8 * affinity + rng.logistic(scale=0.9, size=len(pairs))
    label = (score > np.quantile(score, 1 - POSITIVE_SHARE)).astype(np.int8)

    activity = rng.lognormal(0.0, 1.1, len(users)) * np.exp(0.3 * propensity)
    rows_per_user = np.maximum(1, np.round(activity * n_rows / activity.sum())).astype(np.int64)

    paths = [out_dir / f for f in FILES]
    n_train = len(train)
    with atomic_path(paths[0]) as tmp:
        train.with_columns(label=pl.Series(label[:n_train])).write_csv(tmp)
    with atomic_path(paths[1]) as tmp:
        test.with_columns(prob=pl.lit(None, dtype=pl.Float64)).write_csv(tmp)
    with atomic_path(paths[3]) as tmp:
        pl.DataFrame({"user_id": users, "age_range": age, "gender": gender}, nan_to_null=True).write_csv(tmp)
    # The real log is grouped by user but not in ascending user order (it opens with user 328862), so users
    # are written in a shuffled order: code that relies on a sorted log fails here as it would there.
    written = rng.permutation(len(users))  # the users in the order they are written
    position = np.empty(len(users), dtype=np.int64)
    position[written] = np.arange(len(users))
    pair_pos = position[pair_user]
    pair_order = np.argsort(pair_pos, kind="stable")
    bounds = np.searchsorted(pair_pos[pair_order], np.arange(0, len(users) + block_users, block_users))
    with atomic_path(paths[2]) as tmp, open(tmp, "wb") as fh:
        for b, lo in enumerate(range(0, len(users), block_users)):
            block = written[lo:lo + block_users]
            sel = pair_order[bounds[b]:bounds[b + 1]]
            frame = _block(rng, cat, users[block], propensity[block], rows_per_user[block], pair_pos[sel] - lo,
                           pair_merchant[sel], affinity[sel])
            frame.write_csv(fh, include_header=b == 0)
    return paths


@GENERATORS.register("tmall_repeat_buyer")
def write_tmall(out_dir: str | Path, seed: int = 0, n_users: int | None = 20_000, n_rows: int | None = None,
                label_dir: str | Path | None = REAL_LABELS) -> list[Path]:
    """The contest's four raw files in `out_dir` (small by default: 20k users, about 2.6 M log rows).

    Full scale: `compkit generate tmall_repeat_buyer DIR --set n_users=0 n_rows=54925330`.
    """
    return make_tmall(out_dir, n_users, n_rows, seed, label_dir)

