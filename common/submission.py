"""Submission files: built from test predictions, validated against the contest's format, written atomically.

The same `check_submission` validates any file before it is uploaded (see common.submit).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import SubmissionError
from common.io import atomic_path


@dataclass(frozen=True)
class SubmissionSpec:
    """What a valid file looks like. `ids` are the expected ids in order (None for 'lines' files)."""

    format: str  # 'csv': header + columns; 'lines': one prediction per line, no header
    n_rows: int
    columns: tuple[str, ...] = ()
    ids: tuple | None = None
    value_range: tuple[float, float] | None = None
    integer: bool = False
    float_format: str | None = None

    @property
    def value_column(self) -> str | None:
        return self.columns[-1] if self.columns else None


def spec_for(contest, test: pd.DataFrame) -> SubmissionSpec:
    """The submission format a contest's config and test file imply (a sample submission wins)."""
    cfg, data, task = contest.config.submission, contest.config.data, contest.task
    value_range = (0.0, 1.0) if task == "binary" else None
    integer = task == "multiclass"
    if cfg.format == "lines":
        return SubmissionSpec("lines", len(test), value_range=value_range, integer=integer, float_format=cfg.float_format)
    id_cols = data.id_columns
    columns = tuple(cfg.columns or [*id_cols, data.target])
    ids = _id_tuples(test, id_cols) if id_cols else None
    if data.sample_submission:
        sample = pd.read_csv(contest.path(data.sample_submission))
        columns = tuple(sample.columns)
        ids = _id_tuples(sample, list(columns[:-1])) if len(columns) > 1 else ids
    return SubmissionSpec("csv", len(test), columns, ids, value_range, integer, cfg.float_format)


def _id_tuples(frame: pd.DataFrame, columns: list[str]) -> tuple:
    """Ids in order: plain values for one id column, tuples for a composite key."""
    if len(columns) == 1:
        return tuple(frame[columns[0]].tolist())
    return tuple(zip(*(frame[c].tolist() for c in columns)))


def predictions_to_values(pred: np.ndarray, task: str) -> np.ndarray:
    """What the file holds: values (regression), P(y=1) (binary), the argmax label (multiclass)."""
    pred = np.asarray(pred)
    return pred.argmax(axis=1) if task == "multiclass" and pred.ndim == 2 else pred


def build_submission(values: np.ndarray, spec: SubmissionSpec, id_frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """A frame in the spec's layout: id columns taken from `id_frame` (in test order), values last."""
    values = np.asarray(values)
    if spec.format == "lines":
        return pd.DataFrame({"prediction": values})
    frame = pd.DataFrame({c: id_frame[c].to_numpy() for c in spec.columns[:-1]}) if id_frame is not None else pd.DataFrame()
    frame[spec.value_column] = values
    return frame


def check_frame(frame: pd.DataFrame, spec: SubmissionSpec, source: str = "submission") -> None:
    """Raise SubmissionError naming the first problem: rows, columns, ids and order, NaN/inf, range."""
    if len(frame) != spec.n_rows:
        raise SubmissionError(f"{source} has {len(frame)} rows; the test set has {spec.n_rows}. Predict every test row once.")
    if spec.format == "csv":
        if tuple(frame.columns) != spec.columns:
            raise SubmissionError(f"{source} has columns {list(frame.columns)}; expected {list(spec.columns)} in that order.")
        if spec.ids is not None:
            n_id = len(spec.ids[0]) if spec.ids and isinstance(spec.ids[0], tuple) else 1
            got = list(_id_tuples(frame, list(spec.columns[:n_id])))
            if got != list(spec.ids):
                if sorted(map(str, got)) == sorted(map(str, spec.ids)):
                    raise SubmissionError(f"{source}: ids are right but in another order; keep the test file's order.")
                row = next(i for i, (a, b) in enumerate(zip(got, spec.ids)) if str(a) != str(b))
                raise SubmissionError(f"{source}: row {row} has id {got[row]!r}, expected {spec.ids[row]!r}; "
                                      "ids must be the test ids in test order.")
    values = frame.iloc[:, -1]
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() or not np.all(np.isfinite(numeric.to_numpy(dtype=float))):
        bad = int(np.flatnonzero(numeric.isna().to_numpy() | ~np.isfinite(numeric.to_numpy(dtype=float)))[0])
        value = values.iloc[bad]
        value = value.item() if isinstance(value, np.generic) else value
        raise SubmissionError(f"{source}: row {bad} holds {value!r}, not a finite number. "
                              "Fix the model's NaN/inf predictions before submitting.")
    if spec.value_range is not None:
        lo, hi = spec.value_range
        outside = (numeric < lo) | (numeric > hi)
        if outside.any():
            row = int(np.flatnonzero(outside.to_numpy())[0])
            raise SubmissionError(f"{source}: row {row} holds {numeric.iloc[row]}, outside [{lo}, {hi}]; submit probabilities.")
    if spec.integer and not np.all(numeric == np.round(numeric)):
        raise SubmissionError(f"{source}: class labels must be whole numbers; got {numeric[numeric != np.round(numeric)].iloc[0]}.")


def read_submission(path: str | Path, spec: SubmissionSpec) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"submission file not found: {path}")
    if path.stat().st_size == 0:
        raise SubmissionError(f"{path} is empty (0 bytes); write it with stage 07.")
    if spec.format == "lines":
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().strip()
        if first and pd.isna(pd.to_numeric(first, errors="coerce")):
            raise SubmissionError(f"{path}: the first line is {first[:40]!r}, not a number. A 'lines' submission "
                                  "has one prediction per line and no header: remove that line.")
    try:
        if spec.format == "lines":
            return pd.read_csv(path, header=None, names=["prediction"])
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise SubmissionError(f"{path} is not a readable {spec.format} submission: {exc}") from None


def check_submission(path: str | Path, spec: SubmissionSpec) -> pd.DataFrame:
    """Read a file from disk and validate it; returns the frame."""
    frame = read_submission(path, spec)
    check_frame(frame, spec, str(path))
    return frame


def write_submission(frame: pd.DataFrame, spec: SubmissionSpec, path: str | Path) -> Path:
    """Validate, write atomically, then re-read and validate the file itself."""
    path = Path(path)
    check_frame(frame, spec, str(path))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, header=spec.format == "csv", float_format=spec.float_format)
        check_submission(tmp, spec)
    return path
