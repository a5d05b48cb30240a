"""Column roles: what each raw column is, inferred from the data and overridable in config.yaml.

Roles: id, target, numeric, categorical, text, date, drop. Stage 01 shows every column's role in the
task card; `apply_roles` turns the raw frames into typed ones every later stage uses: numbers as
floats, categories as one pandas `category` dtype shared by train and test (so codes agree), dates
as numeric parts, text kept as strings for the models that read text, dropped columns removed.

Inference is deliberately plain so a user can predict it: strings become categorical unless they
parse as numbers or ISO dates, read like prose (text), or are all distinct (an identifier: drop).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import DataError

ROLES = ("id", "target", "numeric", "categorical", "text", "date", "drop", "annotation", "image")
_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_SAMPLE = 2000  # rows looked at to tell dates and prose apart; enough for a stable share
TEXT_MIN_WORDS = 5  # a string column averaging this many words per value reads as prose


@dataclass(frozen=True)
class ColumnRole:
    column: str
    role: str
    dtype: str
    n_unique: int
    missing: float  # share of train rows without a value
    reason: str


def infer_roles(train: pd.DataFrame, test: pd.DataFrame, *, target: str | None, id_columns: list[str],
                overrides: dict[str, str] | None = None) -> dict[str, ColumnRole]:
    """The role of every column of `train` (and of test-only columns), overrides first."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(train.columns) - set(test.columns))
    if unknown:
        raise DataError(f"data.roles names column(s) {unknown} that the train file does not have; "
                        f"its columns are {list(train.columns)[:20]}. Fix the names in config.yaml.")
    bad = {c: r for c, r in overrides.items() if r not in ROLES}
    if bad:
        raise DataError(f"data.roles: unknown role(s) {bad}; a role is one of {ROLES}.")
    roles = {}
    for column in train.columns:
        values = train[column]
        if column in overrides and overrides[column] in ("annotation", "image"):  # lists, paths: kept as they are
            why = "label-derived, train only: never a feature" if overrides[column] == "annotation" else "image file"
            roles[column] = ColumnRole(column, overrides[column], str(values.dtype), 0, float(values.isna().mean()), why)
            continue
        if column == target:
            role, reason = "target", "data.target"
        elif column in id_columns:
            role, reason = "id", "data.id_column"
        elif column in overrides:
            role, reason = overrides[column], "data.roles in config.yaml"
        else:
            role, reason = _guess(values)
        roles[column] = ColumnRole(column, role, str(values.dtype), int(values.nunique()),
                                   float(values.isna().mean()) if len(values) else 0.0, reason)
    return roles


def _guess(values: pd.Series) -> tuple[str, str]:
    present = values.dropna()
    n_unique = present.nunique()
    if len(present) == 0:
        return "drop", "empty: no value in the train file"
    if n_unique == 1:
        return "drop", f"constant: every value is {present.iloc[0]!r}"
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        if pd.api.types.is_integer_dtype(values) and n_unique == len(values) and len(values) > 20:
            ordered = np.sort(present.to_numpy())
            if ordered[-1] - ordered[0] == len(ordered) - 1:
                return "drop", "consecutive distinct integers: a row number"
        return "numeric", "numbers"
    if isinstance(values.dtype, pd.CategoricalDtype):
        return "categorical", "category dtype"
    text = present.astype(str)
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().mean() >= 0.95:
        return "numeric", "numbers written as text" + ("" if numbers.notna().all() else " (a few are not numbers)")
    sample = text.sample(min(len(text), _SAMPLE), random_state=0) if len(text) > _SAMPLE else text
    if sample.str.strip().str.match(_DATE).mean() >= 0.95:
        return "date", "ISO dates (YYYY-MM-DD)"
    words = sample.str.split().str.len().mean()
    if words >= TEXT_MIN_WORDS and n_unique > 0.5 * len(present):
        return "text", f"prose: {words:.0f} words per value on average"
    if n_unique > 0.5 * len(present) and len(present) > 20:  # mostly one-row levels: no pattern to learn
        what = "every value distinct" if n_unique == len(present) else f"{n_unique} distinct in {len(present)} rows"
        return "drop", f"{what}: an identifier, not a category (make features from it in features.py)"
    return "categorical", f"strings, {n_unique} distinct values"


def apply_roles(train: pd.DataFrame, test: pd.DataFrame, roles: dict[str, ColumnRole],
                paths: tuple[Path | str, Path | str] = ("train", "test")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed copies of the frames: numbers, shared categories, date parts, text as strings, drops removed.

    Every column whose values cannot take its role is reported at once, with its first bad row.
    """
    problems = []
    frames = [train.copy(), test.copy()]
    for column, role in roles.items():
        if role.role == "drop":
            frames = [frame.drop(columns=column, errors="ignore") for frame in frames]
        elif role.role == "numeric":
            for frame, path in zip(frames, paths):
                if column in frame.columns and not _is_number(frame[column]):
                    converted = pd.to_numeric(frame[column].astype("str").str.strip(), errors="coerce")
                    bad = converted.isna() & frame[column].notna()
                    if bad.any():
                        row = int(np.flatnonzero(bad.to_numpy())[0])
                        problems.append(f"  - {column!r} ({path}): numeric, but row {row} (line {row + 2}) holds "
                                        f"{frame[column].iloc[row]!r} ({int(bad.sum())} such rows). Fix the values, "
                                        f"or set `data.roles: {{{column}: categorical}}`")
                    frame[column] = converted
        elif role.role == "categorical":
            _to_category(frames, column)
        elif role.role == "date":
            for i, path in enumerate(paths):
                if column in frames[i].columns:
                    frames[i], problem = _expand_date(frames[i], column, path)
                    if problem:
                        problems.append(problem)
        elif role.role == "text":
            for frame in frames:
                if column in frame.columns:
                    frame[column] = frame[column].astype("str").where(frame[column].notna(), "")
    if problems:
        raise DataError("some columns cannot take their role:\n" + "\n".join(problems) +
                        "\n(roles are listed in reports/task_card.md after stage 01)")
    return frames[0], frames[1]


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _to_category(frames: list[pd.DataFrame], column: str) -> None:
    """One category dtype for train and test: the same level gets the same code in both."""
    present = [f[column] for f in frames if column in f.columns]
    as_text = [v.astype("str").where(v.notna()) if not _is_number(v) else v for v in present]
    levels = pd.unique(pd.concat([v.dropna() for v in as_text], ignore_index=True))
    try:
        levels = np.sort(levels)
    except TypeError:  # mixed types: keep first-seen order
        pass
    dtype = pd.CategoricalDtype(levels)
    for frame, values in zip([f for f in frames if column in f.columns], as_text):
        frame[column] = values.astype(dtype)


def _expand_date(frame: pd.DataFrame, column: str, path) -> tuple[pd.DataFrame, str | None]:
    """The frame with a date column replaced by numeric parts the models can split on."""
    parsed = pd.to_datetime(frame[column], errors="coerce", format="mixed")
    bad = parsed.isna() & frame[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        return frame, (f"  - {column!r} ({path}): date, but row {row} (line {row + 2}) holds "
                       f"{frame[column].iloc[row]!r}. Fix the value, or set `data.roles: {{{column}: categorical}}`")
    parts = pd.DataFrame({
        f"{column}_year": parsed.dt.year, f"{column}_month": parsed.dt.month, f"{column}_day": parsed.dt.day,
        f"{column}_dayofweek": parsed.dt.day_of_week, f"{column}_dayofyear": parsed.dt.day_of_year,
        # days since 1970: keeps the order (trend) that the calendar parts lose
        f"{column}_days": (parsed - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400,
    }, index=frame.index).astype("float64")
    position = frame.columns.get_loc(column)
    return pd.concat([frame.iloc[:, :position], parts, frame.iloc[:, position + 1:]], axis=1), None


def roles_table(roles: dict[str, ColumnRole]) -> pd.DataFrame:
    """One row per column for the task card."""
    return pd.DataFrame([{"column": r.column, "role": r.role, "dtype": r.dtype, "distinct": r.n_unique,
                          "missing": f"{r.missing:.1%}", "why": r.reason} for r in roles.values()])


def override_hint(roles: dict[str, ColumnRole]) -> str:
    """The config lines that would change the inferred roles of the string columns."""
    strings = [r for r in roles.values() if r.role in ("categorical", "text", "date", "drop")
               and r.reason != "data.roles in config.yaml"]
    if not strings:
        return ""
    example = ", ".join(f"{r.column}: {r.role}" for r in strings[:6])
    return ("To change a role, add to config.yaml (roles: " + ", ".join(ROLES[2:]) + "):\n\n```yaml\ndata:\n  roles: {"
            + example + "}\n```")
