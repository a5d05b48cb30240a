"""Submission files: built from test predictions, validated against the contest's format, written atomically.

The same `check_submission` validates any file before it is uploaded (see common.submissions.upload).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import SubmissionError
from common.data.io import atomic_path


@dataclass(frozen=True)
class SubmissionSpec:
    """What a valid file looks like. `ids` are the expected ids in order (None for 'lines' files).

    `labels`: the values a label file may hold (the train file's classes); `target_range`: the training
    target's (min, max), for the plausibility check of a value file; `source`: where the format came from.
    """

    format: str  # 'csv': header + columns; 'lines': one prediction per line, no header
    n_rows: int
    columns: tuple[str, ...] = ()
    ids: tuple | None = None
    value_range: tuple[float, float] | None = None
    integer: bool = False
    float_format: str | None = None
    kind: str = "value"  # value | probability | label
    labels: tuple | None = None
    target_range: tuple[float, float] | None = None
    source: str = "config.yaml"
    n_values: int = 1  # value columns at the end: one, or one probability per class

    @property
    def value_column(self) -> str | None:
        return self.columns[-1] if self.columns else None

    @property
    def value_columns(self) -> tuple[str, ...]:
        return self.columns[len(self.columns) - self.n_values:]


def submission_kind(contest) -> str:
    """probability, label or value: submission.kind, else what the metric scores."""
    kind = contest.config.submission.kind
    if contest.task == "sequence":
        return "string"  # decoded per-position predictions
    if kind != "auto":
        return kind
    if contest.task == "regression":
        return "value"
    return "label" if contest.metric.needs == "label" else "probability"


def spec_for(contest, test: pd.DataFrame, train: pd.DataFrame | None = None) -> SubmissionSpec:
    """The submission format the contest's config, test file and sample submission imply.

    A sample submission (data.sample_submission, when the file exists) wins for columns, ids and
    order, and says whether values are whole numbers. `train` gives the labels and target range.
    """
    cfg, data, task = contest.config.submission, contest.config.data, contest.task
    kind = submission_kind(contest)
    labels = target_range = None
    if train is not None and data.target in train.columns:
        y = train[data.target]
        if task == "regression":
            target_range = (float(y.min()), float(y.max()))
        elif task == "sequence":
            from common.data.sequence import alphabet

            labels = alphabet(y.astype(str))  # the characters a string may hold
        else:
            labels = tuple(v.item() if isinstance(v, np.generic) else v for v in np.unique(y.to_numpy(dtype=object)))
    value_range = (0.0, 1.0) if kind == "probability" else None
    integer = kind == "label" and (labels is None or all(_is_int(v) for v in labels))
    if cfg.format == "lines":
        return SubmissionSpec("lines", len(test), value_range=value_range, integer=integer, float_format=cfg.float_format,
                              kind=kind, labels=labels if kind in ("label", "string") else None,
                              target_range=target_range)
    id_cols = data.id_columns
    # multiclass probabilities: one column per class, named by the class
    n_values = len(labels) if kind == "probability" and task == "multiclass" and labels else 1
    values = [str(v) for v in labels] if n_values > 1 else [data.target]
    columns = tuple(cfg.columns or [*id_cols, *values])
    ids = _id_tuples(test, id_cols) if id_cols else None
    source = "config.yaml"
    sample_path = contest.path(data.sample_submission) if data.sample_submission else None
    if sample_path is not None and sample_path.is_file():
        from common.data.io import read_table

        sample = read_table(sample_path, ",", what="sample submission", encoding=data.encoding)
        columns, source = tuple(sample.columns), str(sample_path)
        ids = _id_tuples(sample, list(columns[:-n_values])) if len(columns) > n_values else ids
        if kind == "value" and pd.api.types.is_integer_dtype(sample[columns[-1]]):
            integer = True  # the contest wants whole numbers (counts)
    return SubmissionSpec("csv", len(test), columns, ids, value_range, integer, cfg.float_format, kind,
                          labels if kind in ("label", "string") else None, target_range, source, n_values)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _id_tuples(frame: pd.DataFrame, columns: list[str]) -> tuple:
    """Ids in order: plain values for one id column, tuples for a composite key."""
    if len(columns) == 1:
        return tuple(frame[columns[0]].tolist())
    return tuple(zip(*(frame[c].tolist() for c in columns)))


def predictions_to_values(pred: np.ndarray, task: str, kind: str | None = None, classes: tuple | None = None,
                          threshold: float = 0.5, class_weights: np.ndarray | None = None) -> np.ndarray:
    """What the file holds. Values for regression; probabilities (P(y=1) for binary); labels: the argmax
    (multiclass; of p * class_weights when given, see common.submissions.class_weights) or P(y=1) >= threshold
    (binary), as the train file's own label values when `classes`."""
    pred = np.asarray(pred)
    if task == "sequence":
        from common.data.sequence import decode_sequences

        return decode_sequences(pred, classes)
    kind = kind or ("value" if task == "regression" else "label" if task == "multiclass" else "probability")
    if kind != "label":
        return pred
    if pred.ndim == 2:
        from common.submissions.class_weights import weighted_labels

        codes = weighted_labels(pred, class_weights)
    else:
        codes = (pred >= threshold).astype(int)
    return np.asarray(classes, dtype=object)[codes] if classes else codes


def choose_threshold(y: np.ndarray, oof: np.ndarray, metric, n: int = 199) -> tuple[float, float]:
    """The binary threshold that scores best on the OOF predictions, and that score (0.5 when not better)."""
    mask = np.isfinite(oof)
    y, oof = y[mask], oof[mask]
    best_t, best = 0.5, metric(y, oof, threshold=0.5)
    for t in np.unique(np.quantile(oof, np.linspace(0.005, 0.995, n))):
        score = metric(y, oof, threshold=float(t))
        if metric.is_better(score, best):
            best_t, best = float(t), score
    return best_t, best


def build_submission(values: np.ndarray, spec: SubmissionSpec, id_frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """A frame in the spec's layout: id columns taken from `id_frame` (in test order), values last."""
    values = np.asarray(values)
    if spec.format == "lines":
        return pd.DataFrame({"prediction": values})
    ids = spec.columns[:len(spec.columns) - spec.n_values]
    frame = pd.DataFrame({c: id_frame[c].to_numpy() for c in ids}) if id_frame is not None else pd.DataFrame()
    for j, column in enumerate(spec.value_columns):
        frame[column] = values[:, j] if values.ndim == 2 else values
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
    for column in range(frame.shape[1] - spec.n_values, frame.shape[1]):
        _check_values(frame.iloc[:, column], spec, source)


def _check_values(values: pd.Series, spec: SubmissionSpec, source: str) -> None:
    if spec.kind == "string":
        _check_strings(values, spec, source)
        return
    numeric_labels = spec.labels is not None and all(_is_int(v) for v in spec.labels)
    if spec.labels is not None and not numeric_labels:
        _check_labels(values, spec, source)
        return
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
        what = "class labels" if spec.kind == "label" else f"values (the sample submission {spec.source} has integers)"
        raise SubmissionError(f"{source}: {what} must be whole numbers; got {numeric[numeric != np.round(numeric)].iloc[0]}.")
    if spec.target_range is not None:
        _check_scale(numeric.to_numpy(dtype=float), spec.target_range, source)
    if numeric_labels:  # whole numbers by now: compare them as integers (a CSV may hold 1.0)
        _check_labels(numeric.astype(np.int64), spec, source)


def _check_strings(values: pd.Series, spec: SubmissionSpec, source: str) -> None:
    allowed = set(spec.labels or ())
    text = values.astype(object).where(values.notna(), None)
    for row, value in enumerate(text):
        if value is None or (allowed and not set(str(value)) <= allowed):
            raise SubmissionError(f"{source}: row {row} holds {value!r}; a string prediction is made of the train "
                                  f"target's characters {''.join(sorted(allowed))!r}.")


def _check_labels(values: pd.Series, spec: SubmissionSpec, source: str) -> None:
    known = {str(v) for v in spec.labels}
    bad = ~values.astype(str).isin(known)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = values.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        raise SubmissionError(f"{source}: row {row} holds {value!r}, not one of the train file's labels "
                              f"{sorted(known)[:15]}. A label submission holds the contest's own class values.")


def _check_scale(values: np.ndarray, target_range: tuple[float, float], source: str) -> None:
    """Refuse values far outside the training target's range: a forgotten inverse transform, a wrong column."""
    lo, hi = target_range
    span = max(hi - lo, 1e-12)
    outside = (values < lo - span) | (values > hi + span)
    if lo > 0:  # a positive target (prices, counts): an order of magnitude off is another scale
        outside |= (values < lo / 10) | (values > hi * 10)
    if outside.mean() <= 0.01:
        return
    p_lo, p_hi = np.quantile(values, [0.01, 0.99])
    cause = "the values look like another scale of the target"
    if lo > 0 and np.all(values > -1) and abs(np.median(np.expm1(np.clip(values, None, 700))) - (lo + hi) / 2) < span:
        cause = "the values look like log1p of the target: a target transform was not inverted"
    elif p_hi < lo or p_lo > hi:
        cause = "no value lies in the target's range: a wrong column, units or transform"
    raise SubmissionError(f"{source}: {outside.mean():.0%} of the values lie far outside the training target's range "
                          f"[{lo:g}, {hi:g}] (1%-99% of the file: {p_lo:g} to {p_hi:g}); {cause}. Write the "
                          "predictions on the contest's own scale.")


def read_submission(path: str | Path, spec: SubmissionSpec) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"submission file not found: {path}")
    if path.stat().st_size == 0:
        raise SubmissionError(f"{path} is empty (0 bytes); write it with stage 07.")
    # labels and strings are read as written: '05' stays '05', and a label 'NA' or 'None' is no missing value
    text = spec.kind == "string" or (spec.labels is not None and not all(_is_int(v) for v in spec.labels))
    if spec.format == "lines" and not text:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().strip()
        if first and pd.isna(pd.to_numeric(first, errors="coerce")):
            raise SubmissionError(f"{path}: the first line is {first[:40]!r}, not a number. A 'lines' submission "
                                  "has one prediction per line and no header: remove that line.")
    column = "prediction" if spec.format == "lines" else spec.value_column
    options = {"dtype": {column: str}, "keep_default_na": False} if text else {}
    try:
        if spec.format == "lines":
            return pd.read_csv(path, header=None, names=["prediction"], **options)
        return pd.read_csv(path, **options)
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
        check_frame(read_submission(tmp, spec), spec, str(path))  # the bytes written, named as the final file
    return path
