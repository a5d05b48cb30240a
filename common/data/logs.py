"""Large event logs with polars: a CSV is converted once to a compact, checked Arrow IPC file, and cached.

The cache is keyed by the CSV's content digest (and the schema), so a changed file is converted
again (its old cache is deleted) and an unchanged one never is. The digest itself is memoised by (size, mtime) (common.data.io.cached_digest),
because hashing a 2 GB file costs seconds. A bad file stops with a DataError naming the file, the line, the column
and the fix; the CSV is never modified and no partial cache file is left behind.

Why Arrow IPC (uncompressed) and not parquet for the converted log: it is the frame's own memory layout, so writing
it is a copy (0.06 CPU-s for a 5 M-row log, against 0.29 for polars' parquet writer, whose dictionary
encoding is the cost whatever the compression) and reading it back is a memory map; the file is ~1.7x
larger (~0.95 GB for the full Tmall log instead of ~0.54 GB). Derived tables (`cached_query`) stay parquet.
"""
from __future__ import annotations

import atexit
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from common.errors import DataError
from common.data.io import atomic_path, cached_digest, stable_hash

# Parquet for derived tables (`cached_query`); these settings were measured on the whole log, once cached as
# parquet. Row groups of 512 K rows: at 1 M, polars' writer spends 1.5 s on Tmall's item_id column alone (1.1 M
# distinct values) and the file reads back 3x slower; measured on the 55 M-row log, 512 K writes in 1.4 s
# instead of 3.5 s and reads in 0.4 s instead of 1.5 s. Dictionary encoding does the shrinking; snappy,
# lz4 and no compression all give ~540 MB, and snappy was no slower than none.
PARQUET_OPTIONS = dict(compression="snappy", statistics=False, row_group_size=1 << 19)
_INT = re.compile(r"-?\d+\Z")
_UINT = re.compile(r"\d+\Z")
_FLOAT = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z|-?(nan|NaN|inf)\Z")
_HEAD_ROWS = 1 << 20  # is_grouped looks at a prefix this long first
_WRITES: dict[Path, Future] = {}  # caches being written in the background, by path (see _write_later)
_WRITER: ThreadPoolExecutor | None = None


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
             group_by: str | None = None, log: Callable[[str], None] = print) -> Iterator[pl.DataFrame]:
    """The log as a checked, compact in-memory frame, for the body of a `with` block.

    The first call reads the CSV (all cores) and checks it; when the body is done (or has failed: a checked
    conversion is never thrown away) it queues the cache write (Arrow IPC) in the background writer thread
    (`_write_later`) and does not wait for it. After the body, not before it: the body's queries keep both cores
    busy, and a write beside them took 4.8 s and made a cold full-size Tmall stage 03 1.3-1.8 s slower; after
    them it takes 0.9 s on the core the single-threaded rest of the stage leaves idle, and the stage waits for
    nothing at exit. `cache_path` (so any later open) waits for a write still going on and re-raises its
    failure; the interpreter waits for it before exiting. Later calls read (memory-map) the cache.
    `group_by` brings each value's rows together (see `grouped`), before the write, so the cache is grouped too;
    `aggregate_runs` then groups by that column with slices instead of hashing. The frame takes about 17 bytes a
    row (0.9 GB for 55 M rows).
    """
    out = cache_path(csv_path, schema, cache_dir, what)
    converting = not out.is_file()
    if converting:
        log(f"  converting {Path(csv_path).name} (once; cached as {out.name})")
        try:
            frame = _scan(csv_path, schema).collect()
        except pl.exceptions.PolarsError as exc:
            raise _located_error(Path(csv_path), schema, what, exc) from None
        _check_values(frame.lazy(), Path(csv_path), schema, what)
    else:
        frame = pl.read_ipc(out)
    if group_by is not None:
        frame = grouped(frame, group_by)
    try:
        yield frame
    finally:
        if converting:  # a checked conversion is never thrown away, even when the body fails
            _write_later(frame, out)


def read_log(csv_path: str | Path, schema: LogSchema, cache_dir: str | Path, what: str = "log",
             group_by: str | None = None, log: Callable[[str], None] = print) -> tuple[pl.DataFrame, Path]:
    """`open_log` for callers that want the frame and the file it is cached in (written by then)."""
    with open_log(csv_path, schema, cache_dir, what, group_by, log) as frame:
        pass
    return frame, cache_path(csv_path, schema, cache_dir, what)


def grouped(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """`frame` with each value of `column` in one run of rows: as it is when it already is, else sorted by it.

    Why not always sort: the real Tmall log is grouped by user but its users come in no order, and sorting
    55 M rows costs more than everything else the feature build does. Sorting (for a shuffled file) goes
    through polars' streaming engine: 2 to 4x faster than DataFrame.sort on the 55 M-row log.
    """
    if frame[column].is_sorted():
        return frame.set_sorted(column)
    if is_grouped(frame[column]):
        return frame
    return frame.lazy().sort(column).collect(engine="streaming").set_sorted(column)


def is_grouped(values: pl.Series) -> bool:
    """Whether equal values sit in one run each (a sorted column's do): no value starts two runs."""
    head = values.head(_HEAD_ROWS)
    if len(head) < len(values) and not is_grouped(head):  # a prefix of a grouped column is grouped
        return False  # a shuffled log fails in its first million rows
    first = values.ne_missing(values.shift(1))  # the first row of each run
    if len(values):  # the first row starts a run even when it is null (shift's null equals it)
        first = first.scatter(0, True)
    span = values.max() - values.min() + 2 if values.dtype.is_integer() and values.null_count() < len(values) else None
    if span is not None and first.sum() > span:  # more runs than possible values (max - min + 1, and null)
        return False  # e.g. a shuffled log: counted, not filtered out and hashed (55 M runs)
    starts = values.filter(first)
    return starts.n_unique() == len(starts)


def run_number(column: str) -> pl.Expr:
    """Number of the run of equal `column` values each row is in (1, 2, 3, ...), flagged sorted."""
    values = pl.col(column)
    return values.ne_missing(values.shift(1)).cast(pl.UInt32).cum_sum().set_sorted()


def aggregate_runs(frame: pl.DataFrame, column: str, *aggs: pl.Expr) -> pl.LazyFrame:
    """`frame.group_by(column).agg(*aggs)` for a frame that `grouped` returned: through contiguous slices
    (no hash table over every row, the cache-friendly way), whatever order the values come in.

    A sorted column is grouped by itself; any other by `run_number`, which on such a frame matches the
    values one to one (`column` is then the first value of each run). Not the run number always: polars'
    streaming engine takes 4 to 10x longer for a run number over a column flagged sorted.
    """
    if frame[column].flags["SORTED_ASC"]:
        return frame.lazy().group_by(column).agg(*aggs)
    return (frame.lazy().with_columns(_run=run_number(column)).group_by("_run")
            .agg(pl.col(column).first(), *aggs).drop("_run"))


def _write_later(frame: pl.DataFrame, out: Path) -> None:
    """`_write_atomic(frame, out)` in the background writer thread: one thread, so the caches are written one
    after the other (a log's, then the features' made from it) on the core the single-threaded rest leaves
    idle; the interpreter finishes the queue before exiting, and `_wait_for_write(out)` waits for one."""
    global _WRITER
    if _WRITER is None:
        _WRITER = ThreadPoolExecutor(1, thread_name_prefix="cache-writer")
    _WRITES[out] = _WRITER.submit(_write_atomic, frame, out)


def wait_for_writes() -> None:
    """Wait until every cache this process queued is written (the interpreter does so before exiting)."""
    for out in list(_WRITES):
        _wait_for_write(out)


def _wait_for_write(out: Path) -> None:
    """Wait for the background write of `out`, if one is going on; re-raise its failure."""
    future = _WRITES.pop(out, None)
    if future is not None:
        future.result()


@atexit.register
def _report_failed_writes() -> None:
    # runs after the interpreter has joined the writer threads: only failures are left to tell
    for out, future in list(_WRITES.items()):
        if future.exception() is not None:
            print(f"warning: the cache {out} could not be written ({future.exception()}); "
                  "it will be made again next time.", file=sys.stderr)


def _write_atomic(frame: pl.DataFrame, out: Path) -> None:
    """Write `out` (named `<name>-<key>.arrow`, Arrow IPC, or `.parquet`) and delete the other versions of <name>
    (either format: a kit from before the IPC cache left parquet ones): a cache holds the newest only, since each
    version of the full Tmall log takes about a gigabyte."""
    with atomic_path(out) as tmp:
        if out.suffix == ".arrow":
            frame.write_ipc(tmp, compression="uncompressed")
        else:
            frame.write_parquet(tmp, **PARQUET_OPTIONS)
    name = out.name.rsplit("-", 1)[0]
    for old in out.parent.glob(f"{name}-*"):
        if old != out and old.suffix in (".arrow", ".parquet") and old.name.rsplit("-", 1)[0] == name:
            old.unlink(missing_ok=True)


def cache_path(csv_path: str | Path, schema: LogSchema, cache_dir: str | Path, what: str = "log") -> Path:
    """Where `csv_path` is (or will be) cached (Arrow IPC): named by its digest and the schema."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{what} file not found: {csv_path}. Put the file there or fix its path in config.yaml.")
    if csv_path.stat().st_size == 0:
        raise DataError(f"{what} file {csv_path} is empty (0 bytes). Download it again.")
    _check_header(csv_path, schema, what)
    out = Path(cache_dir) / f"{csv_path.stem}-{stable_hash(cached_digest(csv_path, cache_dir), schema.key)}.arrow"
    _wait_for_write(out)
    return out


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
    """The frame `build()` returns, stored as parquet under a hash of `key_parts` and reused after.

    The store is written in the background (`_write_later`, after a log `build()` converted), not waited for:
    the caller has the frame; a later call in this process waits for the file."""
    path = Path(cache_dir) / f"{name}-{stable_hash(*key_parts)}.parquet"
    _wait_for_write(path)
    if path.is_file():
        log(f"  {name}: cached ({path.name})")
        return pl.read_parquet(path)
    frame = build()
    _write_later(frame, path)
    return frame
