"""Fold assignments: made once per contest, saved with a content hash, reused by every run.

A fold assignment is one integer per training row: the fold in which that row is validated, or -1
for rows that are only ever trained on (the earliest block of a time-ordered split).
Stratified group folds are this module's own (`stratified_group_folds`); the other schemes are sklearn's.
Repeated bagging (`n_repeats`) adds seeded re-splits of the same scheme to the primary assignment: every
model is fitted on all of them, while features, nested blends and reports use the primary folds only.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from common.errors import ConfigError, FoldMismatchError, did_you_mean
from common.data.io import read_json, read_npy, stable_hash, write_json, write_npy

SCHEMES = ("kfold", "stratified", "group", "stratified_group", "time", "holdout")
SWEEPS = 2  # refinement passes of stratified_group_folds over the groups placed one by one
# schemes with one possible split: a holdout is fixed, time blocks come out the same whatever the seed
UNREPEATABLE = ("holdout", "time")


@dataclass(frozen=True)
class Folds:
    """Fold ids per row plus how they were made. `hash` identifies them for run comparison.

    `repeats`: the re-splits of repeated bagging (n_repeats - 1 assignments of the same scheme, other seeds).
    """

    assignment: np.ndarray
    scheme: str
    data_digest: str = ""
    repeats: tuple[np.ndarray, ...] = ()

    @property
    def n_splits(self) -> int:
        return int(self.assignment.max()) + 1

    @property
    def n_repeats(self) -> int:
        return 1 + len(self.repeats)

    @property
    def n_fits(self) -> int:
        """Models a cross-validation fits: one per fold of every repeat."""
        return self.n_splits * self.n_repeats

    @cached_property  # a JSON list of every row's fold: 0.15 s for Tmall's 260 k rows, asked for several times
    def hash(self) -> str:
        if not self.repeats:  # exactly the hash of folds made before repeats existed: their runs stay current
            return stable_hash(self.scheme, self.data_digest, self.assignment.tolist())
        return stable_hash(self.scheme, self.data_digest, self.assignment.tolist(), [r.tolist() for r in self.repeats])

    @property
    def primary(self) -> Folds:
        """These folds without the repeats: what features, nested blends and reports are cross-fitted on."""
        return Folds(self.assignment, self.scheme, self.data_digest) if self.repeats else self

    def repeated_splits(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """(repeat, fold, train_idx, valid_idx) for every fold of the primary split, then of each repeat."""
        for r, assignment in enumerate((self.assignment, *self.repeats)):
            split = self if r == 0 else Folds(assignment, self.scheme, self.data_digest)
            for k, (train, valid) in enumerate(split.splits()):
                yield r, k, train, valid

    @property
    def ordered(self) -> bool:
        return self.scheme == "time"

    def splits(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(train_idx, valid_idx) per fold; time-ordered folds train only on earlier rows."""
        for k in range(self.n_splits):
            valid = np.flatnonzero(self.assignment == k)
            if self.ordered:
                train = np.flatnonzero(self.assignment < k)
            else:
                train = np.flatnonzero(self.assignment != k)
            yield train, valid

    @property
    def validated(self) -> np.ndarray:
        """Mask of rows that appear in some validation fold (all rows except time-split warm-up)."""
        return self.assignment >= 0


def make_folds(
    n_rows: int,
    scheme: str = "kfold",
    n_splits: int = 5,
    seed: int = 42,
    y: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    order: np.ndarray | None = None,
    data_digest: str = "",
    holdout: np.ndarray | None = None,
    n_repeats: int = 1,
) -> Folds:
    """Assign each row to a validation fold.

    kfold, stratified (needs y), group (needs groups): sklearn's splitters; stratified_group (needs y and
    groups): `stratified_group_folds`, sklearn's guarantees at numpy speed;
    time (needs order: rows are sorted by it; fold k validates the k-th block after a warm-up block),
    holdout (needs holdout: a mask of the official validation rows, the one fold; the others only train).
    n_repeats > 1 adds n_repeats - 1 re-splits of the same scheme (same y / groups), seeded by `repeat_seed`.
    """
    if scheme not in SCHEMES:
        raise ConfigError(f"folds.scheme must be one of {SCHEMES}; got {scheme!r}.{did_you_mean(scheme, SCHEMES)}")
    if n_repeats < 1 or (n_repeats > 1 and scheme in UNREPEATABLE):
        raise ConfigError(f"folds.n_repeats must be 1 for the {scheme!r} scheme (one fixed split: a re-split would "
                          f"be the same rows again) and at least 1 for any; got {n_repeats}. Remove folds.n_repeats "
                          "or use a shuffled scheme (kfold, stratified, group, stratified_group).")
    assign = lambda s: _assign(n_rows, scheme, n_splits, s, y, groups, order, holdout)  # noqa: E731
    repeats = tuple(assign(repeat_seed(seed, r)) for r in range(1, n_repeats))
    return Folds(assign(seed), scheme, data_digest, repeats)


def repeat_seed(seed: int, repeat: int) -> int:
    """The seed of re-split `repeat`: far from seed + 1, the second split stage 06 re-measures tuned runs on
    (common.runs.recheck), so that check stays on folds no model was fitted on."""
    return (seed + 7919 * repeat) % 2**32


def _assign(n_rows: int, scheme: str, n_splits: int, seed: int, y, groups, order, holdout) -> np.ndarray:
    """The fold per row of one split (see make_folds)."""
    index = np.arange(n_rows)
    assignment = np.full(n_rows, -1, dtype=np.int64)
    if scheme == "holdout":  # the official validation rows are the one fold; the rest only train
        mask = np.asarray(_need(holdout, "holdout", scheme), dtype=bool)
        if not mask.any() or mask.all():
            raise ValueError(f"a holdout needs both training and validation rows; got {int(mask.sum())} of {n_rows} "
                             "marked for validation")
        assignment[mask] = 0
        return assignment
    if scheme == "stratified_group":
        return stratified_group_folds(_need(y, "y", scheme), _need(groups, "groups", scheme), n_splits, seed)
    # imported here: sklearn takes ~1 s to import, a third of what a cold Tmall stage 03 spends outside the log
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

    if scheme == "kfold":
        splitter = KFold(n_splits, shuffle=True, random_state=seed).split(index)
    elif scheme == "stratified":
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(index, _need(y, "y", scheme))
    elif scheme == "group":
        # GroupKFold shuffles groups only when asked; doing so keeps folds balanced but seed-dependent.
        splitter = GroupKFold(n_splits, shuffle=True, random_state=seed).split(index, groups=_need(groups, "groups", scheme))
    else:
        by_time = np.argsort(_need(order, "order", scheme), kind="stable")
        for k, (_, valid_pos) in enumerate(TimeSeriesSplit(n_splits).split(by_time)):
            assignment[by_time[valid_pos]] = k
        return assignment
    for k, (_, valid) in enumerate(splitter):
        assignment[valid] = k
    return assignment


def stratified_group_folds(y: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 42) -> np.ndarray:
    """Fold per row: no group split across folds, each fold near the overall class ratios and 1/n_splits of the rows.

    Why not sklearn's StratifiedGroupKFold: it places groups one at a time with a numpy call per fold and
    group (105 s for Tmall's 212 k users). Here groups with the same class counts (a "stratum": Tmall has
    ~100 of them, e.g. "2 rows, 1 positive") are interchangeable, so each stratum's groups are dealt to the
    folds in whole rounds of n_splits at once, which keeps every fold exactly level; only the leftover
    < n_splits groups of a stratum are placed one by one, each on the fold where its classes are scarcest
    (the smaller fold on a tie), then moved again (SWEEPS passes) if a better fold has appeared since.
    Seeded: the seed orders the groups of a stratum and strata of one group size, and numbers the folds.
    """
    y, groups = np.asarray(y), np.asarray(groups)
    if y.dtype.kind == "f" and not np.all(np.isnan(y) | (y == np.round(y))):  # sklearn's rule for "continuous"
        example = y[np.flatnonzero(y != np.round(y))[0]]
        raise ConfigError(f"stratified_group folds need a class target (binary or multiclass); got continuous "
                          f"values such as {example}. Use folds.scheme 'group' for a regression target.")
    classes, cls = np.unique(y, return_inverse=True)
    _, grp = np.unique(groups, return_inverse=True)
    n_groups, n_classes = int(grp.max()) + 1, len(classes)
    if n_groups < n_splits:
        raise ConfigError(f"stratified_group folds need at least n_splits={n_splits} groups; got {n_groups}. "
                         "Lower folds.n_splits or group by a finer column.")
    rng = np.random.default_rng(seed)
    counts = np.bincount(grp * n_classes + cls, minlength=n_groups * n_classes).reshape(n_groups, n_classes)
    shuffled = rng.permutation(n_groups)
    strata, stratum = _unique_rows(counts[shuffled])
    members = shuffled[np.argsort(stratum, kind="stable")]  # groups by stratum, shuffled within each
    ends = np.cumsum(np.bincount(stratum, minlength=len(strata)))
    starts = ends - np.bincount(stratum, minlength=len(strata))
    # each row's share of its class total: a fold's class fill is load @ weight; squared fills are what is minimised
    weight = 1.0 / np.maximum(counts.sum(0), 1) ** 2
    load = np.zeros((n_splits, n_classes))
    fold = np.empty(n_groups, dtype=np.int64)
    single = []  # (group, stratum) placed one by one
    # largest groups first (as in packing: small ones then even out what large ones left), in a seeded order
    # among equal sizes, so that another seed makes other folds rather than the same ones renumbered
    for s in np.lexsort((rng.random(len(strata)), -strata.sum(1))):
        group_ids = members[starts[s]:ends[s]]
        rounds = len(group_ids) // n_splits
        fold[group_ids[:rounds * n_splits]] = np.arange(rounds * n_splits) % n_splits
        load += rounds * strata[s]
        for g in group_ids[rounds * n_splits:]:
            fold[g] = _best_fold(load, strata[s], weight)
            load[fold[g]] += strata[s]
            single.append((g, s))
    for _ in range(SWEEPS):  # take each back out and put it where it fits best now: never worse, often better
        for g, s in single:
            load[fold[g]] -= strata[s]
            fold[g] = _best_fold(load, strata[s], weight)
            load[fold[g]] += strata[s]
    return rng.permutation(n_splits)[fold][grp]


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(rows, axis=0, return_inverse=True)` by a lexsort of the integer columns: np.unique sorts
    the rows as opaque bytes (0.3 s of the folds' 0.4 s for Tmall's 212 k groups; the folds now take 0.1 s)."""
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    inverse = np.empty(len(rows), dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def _best_fold(load: np.ndarray, counts: np.ndarray, weight: np.ndarray) -> int:
    """The fold whose sum of squared class fills (load / class total) rises least when a group with
    these class counts joins it; the smaller fold on a tie."""
    cost = load @ (counts * weight)  # the rise, up to a term that is the same for every fold
    near = np.flatnonzero(cost <= cost.min() * (1 + 1e-9) + 1e-15)
    return int(near[np.argmin(load[near].sum(1))])


def _need(value: np.ndarray | None, what: str, scheme: str) -> np.ndarray:
    if value is None:
        raise ValueError(f"fold scheme {scheme!r} needs {what}")
    return np.asarray(value)


def save_folds(folds: Folds, directory: str | Path) -> Path:
    directory = Path(directory)
    # folds.npy last: load_folds takes its presence to mean "saved", so a process killed in between
    # leaves folds that are made again, never a folds.npy without its folds.json
    meta = {"scheme": folds.scheme, "data_digest": folds.data_digest, "hash": folds.hash}
    if folds.repeats:
        write_npy(directory / "folds_repeats.npy", np.stack(folds.repeats))
        meta["n_repeats"] = folds.n_repeats
    write_json(directory / "folds.json", meta)
    write_npy(directory / "folds.npy", folds.assignment)
    return directory


def load_folds(directory: str | Path) -> Folds | None:
    """Saved folds, or None if none were saved; a FoldMismatchError if the files disagree."""
    directory = Path(directory)
    if not (directory / "folds.npy").is_file():
        return None
    meta = read_json(directory / "folds.json")
    extra, repeated = directory / "folds_repeats.npy", meta.get("n_repeats", 1) > 1
    repeats = tuple(read_npy(extra)) if repeated and extra.is_file() else ()
    folds = Folds(read_npy(directory / "folds.npy"), meta["scheme"], meta.get("data_digest", ""), repeats)
    if folds.hash != meta["hash"]:
        raise FoldMismatchError(
            f"{directory}/folds.npy{' or folds_repeats.npy' if repeated else ''} does not match the hash in "
            f"folds.json ({meta['hash']}); the file was edited or half-copied. Delete "
            f"{'the three folds* files' if repeated else 'both files'} and rerun stage 03 to make folds again."
        )
    return folds
