"""A contest folder: its config, its paths, its validated raw data, folds and feature tables.

Paths resolve from the contest folder (where config.yaml is), never from the working directory. Another
config in that folder (a profile, e.g. config.gpu.yaml) is read instead when $COMPKIT_CONFIG names it
(`compkit run --config config.gpu.yaml` sets it for every stage).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from common.config import Config, load_config
from common.errors import ConfigError, DataError, FoldMismatchError
from common.features import FeatureContext, FeatureSet, build_features
from common.data.folds import Folds, load_folds, make_folds, save_folds
from common.data.io import cached_digest, check_finite, file_digest, read_table, stable_hash
from common.metrics import Metric, get_metric
from common.data.roles import ColumnRole, apply_roles, infer_roles
from common.runs.store import RunStore
from common.runs.train import CVContext


VALID_COLUMN = "is_valid"  # marks the rows of data.valid inside the train frame


#: names the config file of the contest folder to read instead of config.yaml (a profile: config.gpu.yaml)
CONFIG_ENV = "COMPKIT_CONFIG"


@dataclass(frozen=True)
class Contest:
    root: Path
    config: Config

    @classmethod
    def load(cls, root: str | Path) -> Contest:
        """Load the contest in `root` (a folder with config.yaml, or a file inside such a folder)."""
        root = Path(root).resolve()
        if root.is_file():
            root = root.parent
        for folder in (root, *root.parents):
            if (folder / "config.yaml").is_file():
                profile = folder / (os.environ.get(CONFIG_ENV) or "config.yaml")
                if not profile.is_file():
                    raise ConfigError(f"${CONFIG_ENV} names {profile.name!r}, which is not in {folder}: "
                                      "unset it or give the name of a config file there.")
                contest = cls(folder, load_config(profile))
                contest.import_features()
                return contest
        raise ConfigError(f"no config.yaml in {root} or above it: run stages from inside a contest folder.")

    # ---- paths
    def path(self, relative: str | Path) -> Path:
        return self.root / relative

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def submissions_dir(self) -> Path:
        return self.root / "submissions"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def digest_memo_dir(self) -> Path:
        """Where the content digests of the extra raw files are remembered (common.data.io.cached_digest)."""
        return self.cache_dir / "digests"

    @property
    def folds_dir(self) -> Path:
        """Folds live under the digest of the data and the fold settings they were made for: new raw files (the
        real ones after the demo's) or a changed scheme, n_splits or seed get new folds, and runs on the old
        ones are left out."""
        f = self.config.folds
        # n_repeats: 1 is left out, so folds saved before repeats existed are found where they were
        settings = f.model_dump(exclude={"n_repeats"} if f.n_repeats == 1 else None)
        return self.root / "folds" / stable_hash(self.data_digest, settings)

    @cached_property
    def store(self) -> RunStore:
        return RunStore(self.root / self.config.train.runs_dir)

    @property
    def metric(self) -> Metric:
        return get_metric(self.config.competition.metric)

    @property
    def task(self) -> str:
        return self.config.competition.task

    def import_features(self) -> None:
        """Import the contest's features.py so its @FEATURES.register functions exist."""
        path = self.root / "features.py"
        if not path.is_file():
            return
        name = f"contest_features_{stable_hash(str(path), length=8)}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)

    # ---- raw data
    @cached_property
    def data_digest(self) -> str:
        d = self.config.data
        files = [p for p in (d.train, d.test, d.valid) if p]
        return stable_hash(*(file_digest(self.path(p)) for p in files if self.path(p).is_file()))

    def load_raw(self, typed: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Train and test frames, checked: files, encoding, columns, ids, target (class range when
        competition.n_classes is set), infinities, a text contest's documents (common.data.texts); with
        `typed`, converted by the column roles (common.data.roles): every later stage reads these."""
        if not typed:
            return self._read_raw()
        train, test, _ = self._typed()
        return train, test

    def _typed(self) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, ColumnRole]]:
        """The raw frames converted by their roles, and the roles."""
        d = self.config.data
        train, test = self._read_raw()
        roles = self.roles(train, test)
        train, test = apply_roles(train, test, roles, (self.path(d.train), self.path(d.test)))
        return train, test, roles

    def roles(self, train: pd.DataFrame | None = None, test: pd.DataFrame | None = None) -> dict[str, ColumnRole]:
        """Every raw column's role: inferred from the data, overridden by data.roles / data.categorical."""
        d = self.config.data
        if train is None or test is None:
            train, test = self._read_raw()
        present = set(train.columns) | set(test.columns)
        overrides = {**{c: r for c, r in self._default_roles().items() if c in present}, **d.role_overrides}
        return infer_roles(train, test, target=d.target, id_columns=d.id_columns, overrides=overrides)

    def _default_roles(self) -> dict[str, str]:
        """Roles the config implies: the documents, an image's path and label-derived columns, the holdout mark."""
        d, f = self.config.data, self.config.folds
        roles = {d.text_column: "text"} if d.text_column else {}
        if d.modality == "image":
            from common.data.images import ANNOTATIONS

            roles.update({c: "annotation" for c in ANNOTATIONS})
            roles.update({"image_path": "image", "image_width": "numeric", "image_height": "numeric"})
        if f.scheme == "holdout":
            roles[f.holdout_column or VALID_COLUMN] = "drop"  # where a row is validated, never a feature
        return roles

    @property
    def annotations(self) -> list[str]:
        """Label-derived, train-only columns: a model may train with them, they never become features."""
        return [c for c, r in {**self._default_roles(), **self.config.data.role_overrides}.items() if r == "annotation"]

    def _read_raw(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        d = self.config.data
        if d.modality == "image":  # label JSONs + image folders: one row per image (common.data.images)
            from common.data.images import load_image_tables

            return load_image_tables(self)
        id_cols = d.id_columns
        text = [d.text_column] if d.text_column else []  # documents: required
        train = read_table(self.path(d.train), d.sep, required=[*id_cols, d.target, *text], what="train",
                           encoding=d.encoding)
        if d.valid:  # the official validation rows join train, marked for the holdout fold
            valid = read_table(self.path(d.valid), d.sep, required=list(train.columns), what="validation",
                               encoding=d.encoding)
            train = pd.concat([train.assign(**{VALID_COLUMN: False}), valid[train.columns].assign(**{VALID_COLUMN: True})],
                              ignore_index=True)
        test = read_table(self.path(d.test), d.sep, required=[*id_cols, *text], what="test", encoding=d.encoding)
        # Tianchi test files may carry the empty prediction column to fill in (Tmall's `prob`):
        # when it is the submission's value column and holds nothing, it is not data.
        placeholder = (self.config.submission.columns or [None])[-1]
        if placeholder in test.columns and placeholder not in train.columns and test[placeholder].isna().all():
            test = test.drop(columns=placeholder)
        train_only = {d.target, VALID_COLUMN, *self.annotations}
        expected = [c for c in train.columns if c not in train_only]
        missing = [c for c in expected if c not in test.columns]
        extra = [c for c in test.columns if c not in train.columns]
        if missing or extra:
            raise DataError(
                f"test file {self.path(d.test)} does not have the train file's columns: "
                + (f"missing {missing[:10]}; " if missing else "") + (f"unexpected {extra[:10]}; " if extra else "")
                + "use the contest's original files, or drop those columns in a feature step."
            )
        checked = []
        for frame, name, what in ((train, d.train, "train"), (test, d.test, "test")):
            numeric = [c for c in frame.columns if c != d.target and pd.api.types.is_numeric_dtype(frame[c])]
            frame = check_finite(frame, numeric, self.path(name), what, inf_as_missing=d.inf == "missing")
            if id_cols:
                _check_unique(frame, id_cols, self.path(name))
            checked.append(frame)
        train, test = checked
        if train[d.target].isna().any():
            rows = np.flatnonzero(train[d.target].isna().to_numpy())
            raise DataError(f"train file {self.path(d.train)}: target {d.target!r} is empty at {len(rows)} row(s), "
                            f"the first at row {rows[0]} (line {rows[0] + 2}). Remove the unlabeled rows or fill "
                            "the target.")
        if self.task == "regression" and not pd.api.types.is_numeric_dtype(train[d.target]):
            values = pd.to_numeric(train[d.target], errors="coerce")
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(f"train file {self.path(d.train)}: the regression target {d.target!r} holds "
                            f"{train[d.target].iloc[row]!r} at row {row} (line {row + 2}), not a number. Fix the "
                            "value, or set competition.task to binary/multiclass if the target is a class.")
        if self.task == "multiclass" and self.config.competition.n_classes:
            _check_class_range(train[d.target], self.config.competition.n_classes, self.path(d.train))
        if d.modality == "text":
            from common.data.texts import check_text_files

            check_text_files(train, test, column=d.text_column, target=d.target, train_path=self.path(d.train),
                             test_path=self.path(d.test))
        return train, test

    # ---- folds
    def folds(self, train: pd.DataFrame | None = None) -> Folds:
        """Saved folds for this data, made and saved on first use. Refuses folds made on other data."""
        saved = load_folds(self.folds_dir)
        if saved is not None:
            if saved.data_digest != self.data_digest:
                raise FoldMismatchError(
                    f"{self.folds_dir} holds folds made for other data (their digest differs from the raw files'). "
                    f"Delete {self.folds_dir} to make new folds; runs on the old folds will then be left out."
                )
            return saved
        folds = self.make_folds(train, n_repeats=self.config.folds.n_repeats)
        save_folds(folds, self.folds_dir)
        return folds

    def make_folds(self, train: pd.DataFrame | None = None, scheme: str | None = None, n_splits: int | None = None,
                   seed: int | None = None, n_repeats: int = 1) -> Folds:
        """Folds of the configured scheme (or the one given) on the raw train rows, not saved; without repeats
        unless asked (a second split for re-measuring needs only one)."""
        f = self.config.folds
        scheme = scheme or f.scheme
        needed = [f.group_column, f.time_column, (f.holdout_column or VALID_COLUMN) if scheme == "holdout" else None]
        if train is None or any(c and c not in train.columns for c in needed):
            train, _ = self._read_raw()  # the typed frame may have dropped or expanded those columns
        column = lambda name: train[name].to_numpy() if name else None  # noqa: E731
        return make_folds(len(train), scheme, n_splits or f.n_splits, f.seed if seed is None else seed,
                          y=train[self.config.data.target].to_numpy(), groups=column(f.group_column),
                          order=column(f.time_column), data_digest=self.data_digest,
                          holdout=column(f.holdout_column or VALID_COLUMN) if scheme == "holdout" else None,
                          n_repeats=n_repeats)

    # ---- features
    def features(self, log=print, steps: list | None = None) -> FeatureSet:
        """Build (or load from cache) the feature tables the config describes (or those of `steps`)."""
        d = self.config.data
        train, test, roles = self._typed()
        folds = self.folds(train)
        # out-of-fold feature steps use the primary folds: turning repeats on must not rebuild the features
        folds = folds.primary
        ctx = FeatureContext(d.target, tuple(d.id_columns), self.task, folds, self.config.seed, self.root, d.modality,
                             tuple(self.annotations))
        # extra raw files (e.g. a behaviour log) feed feature steps: a changed one must rebuild them.
        # Their digests are memoised by size and mtime: hashing a 2 GB log on every stage costs seconds (stage 01
        # takes them while counting the files' lines).
        extra = [cached_digest(self.path(p), self.digest_memo_dir) for p in d.extra.values() if self.path(p).is_file()]
        steps = list(self.config.features) if steps is None else steps
        # the roles decide the typed frames, so they are part of the key (inferred ones too: a kit update may
        # infer differently from the same data)
        kinds = {c: r.role for c, r in roles.items()}
        return build_features(train, test, steps, ctx, self.cache_dir / "features",
                              stable_hash(self.data_digest, folds.hash, kinds, d.inf, d.target, *extra), log=log)

    def run_key(self, features: FeatureSet, folds: Folds) -> str:
        """What a run's predictions depend on besides the model: features, target definition, folds.

        Stages 05-07 use only runs of the current key, so a changed target, transform or feature
        never gets blended with runs made before the change."""
        d = self.config.data
        return stable_hash(features.key, d.target, d.target_transform, self.task, features.classes, folds.hash)

    def cv(self, features: FeatureSet, folds: Folds | None = None) -> CVContext:
        """How this contest cross-validates `features`: its folds (or `folds`), metric, task, seed, classes,
        training filter, target transform and the cache folder models share across folds (cache/pretrained),
        in the one object the fold loop and stages 05-06 take."""
        cfg = self.config
        return CVContext(folds if folds is not None else self.folds(), self.metric, self.task, cfg.seed,
                         self.n_classes(features.y), cfg.train.filter, cfg.data.target_transform,
                         self.cache_dir / "pretrained")

    @cached_property
    def _alphabet(self) -> tuple[str, ...]:
        """A sequence target's characters, read once (n_classes is asked for by every fit)."""
        from common.data.sequence import alphabet

        train, _ = self._read_raw()
        return alphabet(train[self.config.data.target].astype(str))

    def n_classes(self, y: np.ndarray) -> int | None:
        """Classes a model predicts: per row (multiclass) or per position, blank included (sequence)."""
        if self.task == "sequence":
            return self.config.competition.n_classes or len(self._alphabet) + 1
        if self.task != "multiclass":
            return None
        return self.config.competition.n_classes or int(np.max(y)) + 1


def _check_unique(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    dup = frame.duplicated(subset=columns, keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())[:3].tolist()
        value = tuple(v.item() if isinstance(v, np.generic) else v for v in frame[columns].iloc[rows[0]])
        value = value[0] if len(value) == 1 else value
        what = f"id column {columns[0]!r}" if len(columns) == 1 else f"id columns {columns}"
        raise DataError(f"{path}: {what} has duplicates, e.g. {value!r} at rows "
                        f"{rows}. Ids must be unique: remove the duplicate rows or fix data.id_column.")


def _check_class_range(y: pd.Series, n_classes: int, path: Path) -> None:
    """Integer labels (all, or all but a damaged few) must lie in 0..n_classes-1: a model has n_classes outputs."""
    values = pd.to_numeric(y, errors="coerce")
    whole = values.notna() & (values == values.round())
    if whole.mean() < 0.99:
        return  # labels that are names, not class numbers: encoded in order, nothing to range-check
    bad = ~whole | (values < 0) | (values >= n_classes)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = y.iloc[row]
        raise DataError(f"train file {path}, line {row + 2} (row {row}): the label column {y.name!r} holds "
                        f"{value.item() if isinstance(value, np.generic) else value!r}, not a class in 0..{n_classes - 1} "
                        f"(competition.n_classes: {n_classes}; {int(bad.sum())} of {len(y)} rows). Fix those lines; if the "
                        "contest numbers its classes otherwise, correct competition.n_classes in config.yaml or remove "
                        "it (the classes are then read from the train file).")
