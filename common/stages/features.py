"""Stage 03 - features: make the folds (once per data) and build the feature tables config.yaml lists."""
from __future__ import annotations


def main(contest, args) -> None:
    """Stage 03 - features: make the folds (once per data) and build the feature tables config.yaml lists."""
    from collections import Counter

    from common.models.base import input_roles

    fs = contest.features()
    folds = contest.folds()
    kinds = Counter(input_roles(fs.X).values())
    print(f"features: {fs.X.shape[1]} columns ({', '.join(f'{n} {k}' for k, n in kinds.most_common())}), "
          f"{len(fs.X)} train rows, {len(fs.X_test)} test rows")
    repeats = f" x {folds.n_repeats} repeats" if folds.repeats else ""
    print(f"folds: {folds.scheme}, {folds.n_splits} splits{repeats}, hash {folds.hash}")


OPTIONS: list = []
