"""Large event logs with polars: a CSV is converted once to parquet with compact dtypes, checked, and cached.

The parquet is keyed by the CSV's content digest (and the schema), so a changed file is converted
again (its old parquet is deleted) and an unchanged one never is. The digest itself is memoised by (size, mtime) (common.io.cached_digest),
because hashing a 2 GB file costs seconds. A bad file stops with a DataError naming the file, the line, the column
and the fix; the CSV is never modified and no partial parquet is left behind.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from common.errors import DataError
from common.io import atomic_path, cached_digest, stable_hash

# Row groups of 512 K rows: at 1 M, polars' writer spends 1.5 s on Tmall's item_id column alone (1.1 M
# distinct values) and the file reads back 3x slower; measured on the 55 M-row log, 512 K writes in 1.4 s
# instead of 3.5 s and reads in 0.4 s instead of 1.5 s. Dictionary encoding does the shrinking; snappy,
# lz4 and no compression all give ~540 MB, and snappy was no slower than none.
PARQUET_OPTIONS = dict(compression="snappy", statistics=False, row_group_size=1 << 19)
_INT = re.compile(r"-?\d+\Z")
_UINT = re.compile(r"\d+\Z")
_FLOAT = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z|-?(nan|NaN|inf)\Z")


@dataclass(frozen=True)
class LogSchema:
    """What a log file must hold.

    columns: name -> polars dtype as read from the CSV (compact: UInt32, Int16, ...);
    nullable: columns allowed to be empty; allowed: name -> the only values a column may take;
    derive: name -> expression computed while converting (e.g. a cast the CSV reader cannot do).
    """

    columns: Mapping[str, pl.DataType]
    nullable: tuple[str, ...] = ()
    allowed: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    derive: Mapping[str, pl.Expr] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)  # column -> what a valid value looks like

    @property
    def key(self) -> str:
        return stable_hash({k: str(v) for k, v in self.columns.items()}, self.nullable,
                           {k: list(v) for k, v in self.allowed.items()}, {k: str(v) for k, v in self.derive.items()})


@contextmanager
def open_log(csv_path: str | Path, schema: LogSchema, cache_dir: str | Path, what: str = "log",
             sort_by: str | None = None, log: Callable[[str], None] = print) -> Iterator[pl.DataFrame]:
    """The log as a checked, compact in-memory frame, for the body of a `with` block.

    The first call reads the CSV (all cores), checks it, and writes the parquet cache in a background
    thread while the body already uses the frame (on 2 cores that hides about 0.5 s of a 10 s Tmall
    build); leaving the block waits for the write, even when the body fails, so a checked conversion
    is never thrown away. Later calls read the parquet. `sort_by` sorts by that column unless the file
    already is (one cheap pass) and sets polars' sorted flag, so grouping by it slices instead of
    hashing. The frame takes about 17 bytes a row (0.9 GB for 55 M rows).
    """
    out = parquet_path(csv_path, schema, cache_dir, what)
    converting = not out.is_file()
    if converting:
        log(f"  converting {Path(csv_path).name} to parquet (once; cached as {out.name})")
        try:
            frame = _scan(csv_path, schema).collect()
        except pl.exceptions.PolarsError as exc:
            raise _located_error(Path(csv_path), schema, what, exc) from None
        _check_values(frame.lazy(), Path(csv_path), schema, what)
    else:
        frame = pl.read_parquet(out)
    if sort_by is not None:  # before the write, so the cached parquet is sorted too
        frame = frame.set_sorted(sort_by) if frame[sort_by].is_sorted() else frame.sort(sort_by)
    writing = None
    if converting:
        pool = ThreadPoolExecutor(1, thread_name_prefix="parquet")
        writing = pool.submit(_write_atomic, frame, out)
        pool.shutdown(wait=False)  # the write goes on; the pool takes no more work
    try:
        yield frame
    finally:
        if writing is not None:
            writing.result()  # re-raises a failed write


def read_log(csv_path: str | Path, schema: LogSchema, cache_dir: str | Path, what: str = "log",
             sort_by: str | None = None, log: Callable[[str], None] = print) -> tuple[pl.DataFrame, Path]:
    """`open_log` for callers that want the frame and the parquet it is cached in (written by then)."""
    with open_log(csv_path, schema, cache_dir, what, sort_by, log) as frame:
        pass
    return frame, parquet_path(csv_path, schema, cache_dir, what)


def _write_atomic(frame: pl.DataFrame, out: Path) -> None:
    """Write `out` (named `<name>-<key>.parquet`) and delete the other versions of <name>: a cache holds
    the newest only, since each version of the full Tmall log is half a gigabyte."""
    with atomic_path(out) as tmp:
        frame.write_parquet(tmp, **PARQUET_OPTIONS)
    name = out.name.rsplit("-", 1)[0]
    for old in out.parent.glob(f"{name}-*.parquet"):
        if old != out and old.name.rsplit("-", 1)[0] == name:
            old.unlink(missing_ok=True)


def parquet_path(csv_path: str | Path, schema: LogSchema, cache_dir: str | Path, what: str = "log") -> Path:
    """Where `csv_path` is (or will be) cached as parquet: named by its digest and the schema."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{what} file not found: {csv_path}. Put the file there or fix its path in config.yaml.")
    if csv_path.stat().st_size == 0:
        raise DataError(f"{what} file {csv_path} is empty (0 bytes). Download it again.")
    _check_header(csv_path, schema, what)
    return Path(cache_dir) / f"{csv_path.stem}-{stable_hash(cached_digest(csv_path, cache_dir), schema.key)}.parquet"


def _scan(csv_path: str | Path, schema: LogSchema) -> pl.LazyFrame:
    return pl.scan_csv(csv_path, schema=dict(schema.columns)).with_columns(**schema.derive)


def _check_header(path: Path, schema: LogSchema, what: str) -> None:
    with open(path, encoding="utf-8", errors="replace") as fh:
        header = fh.readline().rstrip("\r\n").split(",")
    expected = list(schema.columns)
    if header != expected:
        missing = [c for c in expected if c not in header]
        raise DataError(f"{what} file {path}: header is {header}; expected {expected}"
                        + (f" (missing {missing})" if missing else " (same names, other order)")
                        + ". Use the contest's original file, or rename the columns to match.")


def _check_values(frame: pl.LazyFrame, csv_path: Path, schema: LogSchema, what: str) -> None:
    """One pass: no empty required cell, no unknown code."""
    dtypes = frame.collect_schema()
    names = dtypes.names()
    problems: list[tuple[str, pl.Expr, str]] = []
    for column in names:
        if column not in schema.nullable:
            problems.append((column, pl.col(column).is_null(), "is empty"))
    for column, values in schema.allowed.items():
        problems.append((column, ~pl.col(column).is_in(pl.lit(list(values)).cast(pl.List(dtypes[column])).first())
                         & pl.col(column).is_not_null(),
                         f"holds a value outside {list(values)}"))
    counts = frame.select([expr.sum().alias(str(i)) for i, (_, expr, _) in enumerate(problems)]).collect().row(0)
    for (column, expr, text), n_bad in zip(problems, counts):
        if not n_bad:
            continue
        row = frame.with_row_index("_row").filter(expr).select("_row").head(1).collect().item()
        line_no = row + 2
        line = _read_line(csv_path, line_no)
        source = column if column in schema.columns else next(
            (c for c in schema.columns if c in str(schema.derive.get(column, ""))), column)
        hint = schema.hints.get(source, "")
        raise DataError(
            f"{what} file {csv_path}, line {line_no} (data row {row}): column {source!r} {text}"
            + (f" ({hint})" if hint else "") + f"; the line reads {line!r}. {n_bad} row(s) in all are affected. "
            "Fix or delete those lines (the file is not changed and nothing was cached), or use the "
            "contest's original file.")


def _located_error(path: Path, schema: LogSchema, what: str, exc: Exception) -> DataError:
    """Find the first line polars could not read (field count or a value's format) and name it."""
    n = len(schema.columns)
    checks = []
    for name, dtype in schema.columns.items():
        pattern = _FLOAT if dtype.is_float() else _UINT if dtype.is_unsigned_integer() else _INT if dtype.is_integer() else None
        checks.append((name, pattern, name in schema.nullable))
    with open(path, encoding="utf-8", errors="replace") as fh:
        fh.readline()
        for line_no, line in enumerate(fh, start=2):
            fields = line.rstrip("\r\n").split(",")
            if len(fields) != n:
                return DataError(f"{what} file {path}, line {line_no}: expected {n} comma-separated fields "
                                 f"({', '.join(schema.columns)}), found {len(fields)}: {line.rstrip()!r}. "
                                 "Repair or delete that line (nothing was cached; the file is unchanged).")
            for value, (name, pattern, nullable) in zip(fields, checks):
                if value == "" and nullable:
                    continue
                if pattern is not None and not pattern.match(value):
                    hint = schema.hints.get(name, str(schema.columns[name]))
                    return DataError(f"{what} file {path}, line {line_no}, column {name!r}: {value!r} is not "
                                     f"a valid value ({hint}); the line reads {line.rstrip()!r}. Repair or delete "
                                     "that line (nothing was cached; the file is unchanged).")
    return DataError(f"{what} file {path} could not be read: {str(exc).splitlines()[0]}. "
                     "Check its encoding and quoting against the contest's original file.")


def _read_line(path: Path, line_no: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            if i == line_no:
                return line.rstrip("\r\n")
    return ""


def cached_query(cache_dir: str | Path, key_parts: tuple, build: Callable[[], pl.DataFrame], name: str = "table",
                 log: Callable[[str], None] = print) -> pl.DataFrame:
    """The frame `build()` returns, stored as parquet under a hash of `key_parts` and reused after."""
    path = Path(cache_dir) / f"{name}-{stable_hash(*key_parts)}.parquet"
    if path.is_file():
        log(f"  {name}: cached ({path.name})")
        return pl.read_parquet(path)
    frame = build()
    _write_atomic(frame, path)
    return frame
