"""Fold assignments: made once per contest, saved with a content hash, reused by every run.

A fold assignment is one integer per training row: the fold in which that row is validated, or -1
for rows that are only ever trained on (the earliest block of a time-ordered split).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold, TimeSeriesSplit

from common.errors import FoldMismatchError
from common.io import read_json, read_npy, stable_hash, write_json, write_npy

SCHEMES = ("kfold", "stratified", "group", "stratified_group", "time")


@dataclass(frozen=True)
class Folds:
    """Fold ids per row plus how they were made. `hash` identifies them for run comparison."""

    assignment: np.ndarray
    scheme: str
    data_digest: str = ""

    @property
    def n_splits(self) -> int:
        return int(self.assignment.max()) + 1

    @property
    def hash(self) -> str:
        return stable_hash(self.scheme, self.data_digest, self.assignment.tolist())

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
) -> Folds:
    """Assign each row to a validation fold with one of sklearn's splitters.

    kfold, stratified (needs y), group (needs groups), stratified_group (needs y and groups),
    time (needs order: rows are sorted by it; fold k validates the k-th block after a warm-up block).
    """
    if scheme not in SCHEMES:
        from common.errors import ConfigError, did_you_mean

        raise ConfigError(f"folds.scheme must be one of {SCHEMES}; got {scheme!r}.{did_you_mean(scheme, SCHEMES)}")
    index = np.arange(n_rows)
    assignment = np.full(n_rows, -1, dtype=np.int64)
    if scheme == "kfold":
        splitter = KFold(n_splits, shuffle=True, random_state=seed).split(index)
    elif scheme == "stratified":
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(index, _need(y, "y", scheme))
    elif scheme == "group":
        # GroupKFold shuffles groups only when asked; doing so keeps folds balanced but seed-dependent.
        splitter = GroupKFold(n_splits, shuffle=True, random_state=seed).split(index, groups=_need(groups, "groups", scheme))
    elif scheme == "stratified_group":
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(
            index, _need(y, "y", scheme), _need(groups, "groups", scheme)
        )
    else:
        by_time = np.argsort(_need(order, "order", scheme), kind="stable")
        for k, (_, valid_pos) in enumerate(TimeSeriesSplit(n_splits).split(by_time)):
            assignment[by_time[valid_pos]] = k
        return Folds(assignment, scheme, data_digest)
    for k, (_, valid) in enumerate(splitter):
        assignment[valid] = k
    return Folds(assignment, scheme, data_digest)


def _need(value: np.ndarray | None, what: str, scheme: str) -> np.ndarray:
    if value is None:
        raise ValueError(f"fold scheme {scheme!r} needs {what}")
    return np.asarray(value)


def save_folds(folds: Folds, directory: str | Path) -> Path:
    directory = Path(directory)
    write_npy(directory / "folds.npy", folds.assignment)
    write_json(directory / "folds.json", {"scheme": folds.scheme, "data_digest": folds.data_digest, "hash": folds.hash})
    return directory


def load_folds(directory: str | Path) -> Folds | None:
    """Saved folds, or None if none were saved; a FoldMismatchError if the files disagree."""
    directory = Path(directory)
    if not (directory / "folds.npy").is_file():
        return None
    meta = read_json(directory / "folds.json")
    folds = Folds(read_npy(directory / "folds.npy"), meta["scheme"], meta.get("data_digest", ""))
    if folds.hash != meta["hash"]:
        raise FoldMismatchError(
            f"{directory}/folds.npy does not match the hash in folds.json ({meta['hash']}); the file was "
            "edited or half-copied. Delete both files and rerun stage 03 to make folds again."
        )
    return folds
