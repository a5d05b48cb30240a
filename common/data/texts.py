"""Checks of a text contest's documents (data.modality: text), run when the raw files are loaded (stage 01 first).

Each problem stops with one DataError naming the file, the 1-based line of the file (header counted) and
the fix: an empty or whitespace-only document; a token that is not an integer when the corpus is made of
integer ids (decided from the first documents, so a word corpus is never refused); a test file carrying
the target column (a train file given as test). Blank lines matter here: pandas skips them, so in a test
file holding only documents a blank line is an empty document that silently vanishes and shifts every
later prediction by one row; elsewhere they only shift the line numbers, which are counted around them.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import DataError

SAMPLE_DOCUMENTS = 100  # the documents that decide whether a corpus is made of integer ids ...
ID_SHARE = 0.99  # ... when this share of their tokens are integers (a damaged token or two is allowed)
# a whole-document match is several times faster than searching for a bad character (pyarrow's RE2)
_ID_DOCUMENT = r"[0-9 ]*"
_INTEGER = re.compile(r"[0-9]+")


def check_text_files(train: pd.DataFrame, test: pd.DataFrame, *, column: str, target: str,
                     train_path: Path, test_path: Path) -> None:
    """Every check of this module on the train and test files' documents in `column`."""
    if target in test.columns:
        raise DataError(f"test file {test_path} has the target column {target!r} (line 1: "
                        f"{', '.join(map(str, test.columns))}): it looks like a train file given as test. "
                        "Point data.test in config.yaml at the contest's test file (documents only).")
    lines = {}
    for frame, path, what in ((train, train_path, "train"), (test, test_path, "test")):
        lines[what], blank = data_lines(path, len(frame))
        if blank and list(frame.columns) == [column]:
            raise DataError(f"{what} file {path}, line {blank[0]} is blank: an empty document, which would be "
                            f"skipped and shift every later prediction by one row ({len(blank)} such line(s)). "
                            "Restore the document (download the file again), or delete the line if it is none.")
        check_documents(frame[column], path, what, lines[what])
    sample = pd.concat([train[column].head(SAMPLE_DOCUMENTS), test[column].head(SAMPLE_DOCUMENTS)])
    share = integer_share(sample)
    if share >= ID_SHARE:
        for frame, path, what in ((train, train_path, "train"), (test, test_path, "test")):
            check_id_tokens(frame[column], path, what, lines[what], share)


def data_lines(path: Path, n_rows: int) -> tuple[np.ndarray, list[int]]:
    """The file's line number (1-based, header = 1) of each data row, and the blank lines between rows.

    pandas skips blank lines (empty or only spaces), so row r is the r-th non-blank line after the header;
    blank lines after the last row are left out. A file whose non-blank lines are not one per row (a quoted
    document spanning lines) gives row + 2 and no blank lines."""
    rows, blank = [], []
    with open(path, "rb") as fh:
        fh.readline()  # the header
        for number, line in enumerate(fh, start=2):
            (blank if not line.strip(b" \r\n") else rows).append(number)
    if len(rows) != n_rows:
        return np.arange(n_rows) + 2, []
    return np.asarray(rows, dtype=np.int64), [b for b in blank if b < rows[-1]]


def check_documents(docs: pd.Series, path: Path, what: str, lines: np.ndarray) -> None:
    """Refuse an empty or whitespace-only document, naming its line."""
    empty = docs.isna() | docs.astype(str).str.fullmatch(r"\s*")
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise DataError(f"{what} file {path}, line {lines[row]} (row {row}): the document in column {docs.name!r} is "
                        f"{'empty' if docs.isna().iloc[row] else 'only spaces'} ({int(empty.sum())} of {len(docs)} "
                        "documents are empty). "
                        "Restore the text (download the file again) or delete those lines.")


def integer_share(docs: pd.Series) -> float:
    """The share of whitespace-separated tokens of `docs` that are non-negative integers."""
    tokens = " ".join(docs.dropna().astype(str)).split()
    return sum(bool(_INTEGER.fullmatch(t)) for t in tokens) / len(tokens) if tokens else 0.0


def check_id_tokens(docs: pd.Series, path: Path, what: str, lines: np.ndarray, share: float) -> None:
    """In a corpus of integer ids, refuse a document holding another token, naming its line and the token."""
    bad = ~docs.astype(str).str.fullmatch(_ID_DOCUMENT)
    if not bad.any():
        return
    row = int(np.flatnonzero(bad.to_numpy())[0])
    # split on single spaces: a tab or form feed inside a token is shown in it, not taken for a separator
    token = next(t for t in str(docs.iloc[row]).split(" ") if t and not _INTEGER.fullmatch(t))
    raise DataError(f"{what} file {path}, line {lines[row]} (row {row}): token {token!r} in {docs.name!r} is not an "
                    f"integer id, while {share:.1%} of the first documents' tokens are ({int(bad.sum())} of {len(docs)} "
                    "documents hold such tokens). Fix or delete that line (download the file again if it was damaged).")
