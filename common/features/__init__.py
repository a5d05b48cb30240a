"""Feature steps: registered functions applied in order, each step cached as Arrow IPC (common.data.io.write_arrow).

A step is `fn(train, test, ctx, **params) -> (train, test)`; frames keep the id and target columns.
Each step's cache key chains the data, the folds, the previous steps, the step's params and its
source code, so editing a function in features.py rebuilds that step and the ones after it.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import DataError
from common.faults import checkpoint
from common.data.folds import Folds
from common.data.io import one_chunk, read_json, read_arrow, stable_hash, write_json, write_arrow
from common.registry import Registry
from common.features.shift import ks_table

FEATURES: Registry[Callable[..., tuple[pd.DataFrame, pd.DataFrame]]] = Registry("feature")


@dataclass(frozen=True)
class FeatureContext:
    """What a feature step may need besides the frames."""

    target: str
    id_columns: tuple[str, ...]
    task: str
    folds: Folds
    seed: int
    root: Path
    modality: str = "tabular"
    annotations: tuple[str, ...] = ()  # label-derived, train-only: never features

    def feature_columns(self, frame: pd.DataFrame) -> list[str]:
        skip = {self.target, *self.id_columns, *self.annotations}
        return [c for c in frame.columns if c not in skip]

    def numeric_columns(self, frame: pd.DataFrame) -> list[str]:
        return [c for c in self.feature_columns(frame) if pd.api.types.is_numeric_dtype(frame[c])]

    def categorical_columns(self, frame: pd.DataFrame) -> list[str]:
        return [c for c in self.feature_columns(frame) if isinstance(frame[c].dtype, pd.CategoricalDtype)]


@dataclass(frozen=True)
class FeatureSet:
    """Model inputs: numbers, categories (pandas category dtype) and text; y encoded for classification
    (0..k-1, `classes` holds the original label of each code)."""

    X: pd.DataFrame
    y: np.ndarray
    X_test: pd.DataFrame
    key: str
    classes: tuple | None = None
    annotations: pd.DataFrame | None = None  # train rows' label-derived columns, for training only

    def labels(self, codes: np.ndarray) -> np.ndarray:
        """Class codes back to the train file's own label values (strings included); sequences to strings."""
        if self.y.ndim == 2:
            from common.data.sequence import decode_sequences

            return decode_sequences(np.asarray(codes), self.classes)
        return np.asarray(self.classes, dtype=object)[np.asarray(codes, dtype=int)] if self.classes else np.asarray(codes)


def build_features(train: pd.DataFrame, test: pd.DataFrame, steps: list[Any], ctx: FeatureContext,
                   cache_dir: Path, data_key: str, log: Callable[[str], None] = print) -> FeatureSet:
    """Apply `steps` ({name, params}) in order, reusing cached step outputs.

    A step that caches its own result (`fn.caches_itself = True`, e.g. Tmall's log features under cache/logs/)
    gets no tables of its own here: writing them again would store the same data twice. It runs when a later
    step has to, and not at all when a later step's tables are cached (they hold its columns).
    """
    key = data_key
    pending: list[tuple[Any, Callable, Path]] = []  # self-caching steps not run yet
    for i, step in enumerate(steps):
        fn = FEATURES.get(step.name)
        # A step that reads a file (select_features) adds the file's content to its key via `cache_token`.
        token = getattr(fn, "cache_token", None)
        extra = () if token is None else (token(ctx, **step.params),)
        key = stable_hash(key, step.name, step.params, _source(fn), *extra)
        step_dir = Path(cache_dir) / f"{i:02d}-{step.name}-{key}"
        if _cached(step_dir):
            for skipped, _, _ in pending:
                log(f"  feature {skipped.name}: cached (in the tables of {step.name})")
            pending = []
            train, test = read_arrow(step_dir / TABLES[0]), read_arrow(step_dir / TABLES[1])
            log(f"  feature {step.name}: cached ({train.shape[1]} columns)")
            continue
        pending.append((step, fn, step_dir))
        if getattr(fn, "caches_itself", False):
            continue
        for todo in pending:
            train, test = _run_step(*todo, train, test, ctx, log)
        pending = []
    for todo in pending:
        train, test = _run_step(*todo, train, test, ctx, log)
    write_json(Path(cache_dir) / "latest.json", {"key": key})
    return _split(train, test, ctx, key, log)


def _run_step(step: Any, fn: Callable, step_dir: Path, train: pd.DataFrame, test: pd.DataFrame, ctx: FeatureContext,
              log: Callable[[str], None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One step applied, and its tables cached unless it caches its own result."""
    before = set(train.columns)
    train, test = fn(train, test, ctx, **step.params)
    own = getattr(fn, "caches_itself", False)
    added, removed = sorted(set(train.columns) - before), sorted(before - set(train.columns))
    if not own:
        write_arrow(step_dir / TABLES[0], train)
        write_arrow(step_dir / TABLES[1], test)
        for old in step_dir.glob("*.parquet"):  # the tables of a kit from before the Arrow cache
            old.unlink()
        write_json(step_dir / "done.json", {"step": step.name, "params": step.params, "added": added, "removed": removed})
    checkpoint(f"feature:{step.name}")
    log(f"  feature {step.name}: +{len(added)} -{len(removed)} columns"
        + (f" (removed {', '.join(removed[:10])}{' ...' if len(removed) > 10 else ''})" if removed else "")
        + (" (cached by the step itself)" if own else ""))
    return train, test


TABLES = ("train.arrow", "test.arrow")  # a step's cached frames (common.data.io.write_arrow)


def _cached(step_dir: Path) -> bool:
    """Whether a step's tables are complete: done.json is written last, and a kit from before the Arrow tables
    left parquet ones beside it (those are made again)."""
    return (step_dir / "done.json").is_file() and all((step_dir / name).is_file() for name in TABLES)


def latest_key(cache_dir: Path) -> str | None:
    path = Path(cache_dir) / "latest.json"
    return read_json(path)["key"] if path.is_file() else None


def _split(train: pd.DataFrame, test: pd.DataFrame, ctx: FeatureContext, key: str,
           log: Callable[[str], None] = print) -> FeatureSet:
    from common.data.roles import apply_roles, infer_roles

    columns = ctx.feature_columns(train)
    missing = [c for c in columns if c not in test.columns]
    if missing:
        raise DataError(f"feature columns {missing[:10]} exist in train but not in test; a feature step must "
                        "produce the same columns for both frames. A label-derived column (digit boxes, counts) "
                        "is an annotation, never a feature: set `data.roles: {column: annotation}`.")
    X, X_test = train[columns], test[columns]
    # Columns a feature step made as strings get a role like raw ones (usually categorical); image paths stay.
    images = [c for c in columns if c == "image_path"]
    untyped = [c for c in columns if c not in images and not (
        pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]) or isinstance(X[c].dtype, pd.CategoricalDtype))]
    if untyped:
        roles = infer_roles(X[untyped], X_test[untyped], target=None, id_columns=[])
        text = [c for c, r in roles.items() if r.role == "text"]
        roles = {c: r for c, r in roles.items() if c not in text}  # text stays text: models that read it get it
        X, X_test = apply_roles(X, X_test, roles)
        if ctx.modality == "tabular" and text:
            log(f"  text column(s) {text} are not used by the tabular models; turn them into features in "
                "features.py (lengths, keywords) or set their role to categorical in data.roles")
            X, X_test = X.drop(columns=text), X_test.drop(columns=text)
    X, X_test = one_chunk(X), one_chunk(X_test)  # folds take rows of them: no joining of chunks per fold
    for frame in (X, X_test):  # what each column is, for model_inputs (a path and a document are both strings)
        frame.attrs["roles"] = {c: "image" for c in images}
    y, classes = encode_target(train[ctx.target], ctx.task)
    notes = [c for c in ctx.annotations if c in train.columns]
    return FeatureSet(X, y, X_test, key, classes, train[notes] if notes else None)


def encode_target(y: pd.Series, task: str) -> tuple[np.ndarray, tuple | None]:
    """Regression: floats. Classification: codes 0..k-1 of the sorted labels, and the labels. Sequence:
    (n, positions) character codes and the alphabet (common.data.sequence)."""
    if task == "regression":
        return pd.to_numeric(y).to_numpy(dtype=float), None
    if task == "sequence":
        from common.data.sequence import alphabet, encode_sequences

        chars = alphabet(y.astype(str))
        return encode_sequences(y.astype(str), chars), chars
    classes, codes = np.unique(y.to_numpy(dtype=object if not pd.api.types.is_numeric_dtype(y) else y.dtype),
                               return_inverse=True)
    return codes.astype(np.int64), tuple(v.item() if isinstance(v, np.generic) else v for v in classes)


def _source(fn: Any) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


# ---------------------------------------------------------------- generic steps
@FEATURES.register("drop_columns")
def drop_columns(train, test, ctx, columns: list[str]):
    """Drop named columns from both frames."""
    return train.drop(columns=columns, errors="ignore"), test.drop(columns=columns, errors="ignore")


@FEATURES.register("drop_shifted")
def drop_shifted(train, test, ctx, threshold: float = 0.2, keep: list[str] | None = None):
    """Drop features whose train and test distributions differ: KS statistic above `threshold`."""
    table = ks_table(train, test, [c for c in ctx.numeric_columns(train) if c not in (keep or [])])
    shifted = table.loc[table["ks"] > threshold, "feature"].tolist()
    return train.drop(columns=shifted), test.drop(columns=shifted)


@FEATURES.register("scale")
def scale(train, test, ctx, method: str = "minmax"):
    """Min-max or standard scaling of every numeric feature, fitted on train and test together."""
    cols = ctx.numeric_columns(train)
    both = pd.concat([train[cols], test[cols]])
    if method == "minmax":
        lo, span = both.min(), (both.max() - both.min()).replace(0, 1)
        f = lambda frame: (frame[cols] - lo) / span  # noqa: E731
    elif method == "standard":
        mu, sd = both.mean(), both.std().replace(0, 1)
        f = lambda frame: (frame[cols] - mu) / sd  # noqa: E731
    else:
        raise ValueError(f"scale: method must be 'minmax' or 'standard'; got {method!r}")
    return train.assign(**f(train)), test.assign(**f(test))


@FEATURES.register("power_transform")
def power_transform(train, test, ctx, method: str = "box-cox", columns: list[str] | None = None):
    """Box-Cox (after shifting each column to start at 1) or Yeo-Johnson, then standardise."""
    from sklearn.preprocessing import PowerTransformer

    cols = columns or ctx.numeric_columns(train)
    both = pd.concat([train[cols], test[cols]])
    shift = 1 - both.min() if method == "box-cox" else 0
    pt = PowerTransformer(method=method, standardize=True).fit(both + shift)
    out = lambda frame: pd.DataFrame(pt.transform(frame[cols] + shift), columns=cols, index=frame.index)  # noqa: E731
    return train.assign(**out(train)), test.assign(**out(test))


@FEATURES.register("oof_target_encoding")
def oof_target_encoding(train, test, ctx, columns: list[str], smoothing: float = 20.0):
    """Smoothed mean target per value of each column, as `te_<column>`: out-of-fold on train (the contest's
    folds, so no row sees its own label), fitted on all of train for test. Unseen values get the prior."""
    y = pd.Series(encode_target(train[ctx.target], ctx.task)[0].astype(float), index=train.index)

    def encode(keys_fit, y_fit, keys_apply):
        prior = y_fit.mean()
        stats = y_fit.groupby(keys_fit.to_numpy()).agg(["sum", "count"])
        table = (stats["sum"] + prior * smoothing) / (stats["count"] + smoothing)
        return keys_apply.map(table).fillna(prior).to_numpy(dtype=float)

    new_train, new_test = {}, {}
    for column in columns:
        oof = np.full(len(train), np.nan)
        for fit_idx, valid_idx in ctx.folds.splits():
            oof[valid_idx] = encode(train[column].iloc[fit_idx], y.iloc[fit_idx], train[column].iloc[valid_idx])
        new_train[f"te_{column}"] = oof
        new_test[f"te_{column}"] = encode(train[column], y, test[column])
    # assign, not a copy and inserts: a copy consolidates every block (0.4 s on Tmall's 520 k rows x 60 columns)
    return train.assign(**new_train), test.assign(**new_test)


@FEATURES.register("fillna")
def fillna(train, test, ctx, value: float | str = "median"):
    """Fill missing numeric feature values with a constant or the train median."""
    cols = ctx.numeric_columns(train)
    fill = (train[cols].median() if value == "median" else pd.Series(value, index=cols)).to_dict()
    return train.fillna(fill), test.fillna(fill)


SELECTED_FEATURES = "reports/selected_features.json"  # written by stage 06 (common.selection.save_selection)


def _selected(ctx: FeatureContext, path: str = SELECTED_FEATURES) -> list[str]:
    file = Path(ctx.root) / path
    if not file.is_file():
        raise DataError(f"select_features: no selected feature list at {file}. Run stage 06 first with "
                        "optimize.selection set in config.yaml (it writes the list), or remove the "
                        "select_features step from features:.")
    columns = read_json(file).get("features")
    if not columns or not isinstance(columns, list):
        raise DataError(f"select_features: {file} has no non-empty 'features' list; rerun stage 06.")
    return [str(c) for c in columns]


@FEATURES.register("select_features")
def select_features(train, test, ctx, path: str = SELECTED_FEATURES):
    """Keep only the feature columns stage 06 selected (the list in `path`); put it last under features:."""
    keep = _selected(ctx, path)
    missing = [c for c in keep if c not in train.columns]
    if missing:
        raise DataError(f"select_features: columns {missing[:10]} from {path} are not among the features; the "
                        "list was made for other feature steps. Rerun stage 06 to select again.")
    keep_set = set(keep)
    columns = [c for c in train.columns if c in keep_set or c == ctx.target or c in ctx.id_columns]
    return train[columns], test[[c for c in columns if c in test.columns]]


select_features.cache_token = lambda ctx, path=SELECTED_FEATURES: stable_hash(_selected(ctx, path))


from common.features import encoders as _encoders  # noqa: E402,F401  (registers the categorical encoder steps)
