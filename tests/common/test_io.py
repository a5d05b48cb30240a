"""common.data.io: atomic writes (a failed or killed write keeps the previous file and leaves no temporary one),
the file digest and its memo; reading raw tables with clear errors."""
import hashlib
import mmap
import os
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import xxhash

from common.data import io
from common.errors import DataError
from tests.conftest import dead_pid


def test_cached_digest_hashes_a_file_once_per_content_across_memo_folders(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("a\n1\n")
    with mock.patch.object(io, "file_digest", wraps=io.file_digest) as hashed:
        first = io.cached_digest(log, tmp_path / "contest")
        assert io.cached_digest(log, tmp_path / "feature_step") == first  # another memo folder, same process
        assert hashed.call_count == 1
        assert (tmp_path / "feature_step").is_dir()  # still remembered there for the next process
        log.write_text("a\n2\n")
        os.utime(log, ns=(1, 1))  # a changed file (new size/mtime) is hashed again
        assert io.cached_digest(log, tmp_path / "contest") != first and hashed.call_count == 2


def test_cached_digest_is_xxh3_of_the_content_and_replaces_older_memos(tmp_path):
    log = tmp_path / "log.csv"
    log.write_bytes(b"user_id\n" + b"1\n" * 100_000)
    memo = tmp_path / "memo"
    digest = io.cached_digest(log, memo)
    assert digest == xxhash.xxh3_128(log.read_bytes()).hexdigest()
    saved = next(memo.glob("digest-*.json"))
    old = io.read_json(saved)
    io.write_json(saved, {"path": old["path"], "stamp": old["stamp"], "digest": "sha256-of-an-older-version"})
    io._DIGESTS.clear()
    assert io.cached_digest(log, memo) == digest  # a memo without the algorithm is not trusted


@pytest.mark.parametrize("chunk", [7, 1 << 16])
def test_count_lines_reads_in_chunks_and_remembers_the_digest_it_read(tmp_path, chunk):
    path = tmp_path / "log.csv"
    path.write_text("a,b\n" + "1,2\n" * 1001)
    assert io.count_lines(path, chunk=chunk) == 1002
    io._DIGESTS.clear()
    assert io.count_lines(path, tmp_path / "memo", chunk=chunk) == 1002
    io._DIGESTS.clear()  # a later process: only the memo folder is left
    with mock.patch.object(io, "file_digest", wraps=io.file_digest) as hashed:
        assert io.cached_digest(path, tmp_path / "memo") == xxhash.xxh3_128(path.read_bytes()).hexdigest()
        assert hashed.call_count == 0  # the digest taken while counting is the one cached_digest gives
    path.write_text("a,b\n1,3\n")
    os.utime(path, ns=(1, 1))
    assert io.cached_digest(path, tmp_path / "memo") == xxhash.xxh3_128(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("size", [0, 1, 2 * mmap.ALLOCATIONGRANULARITY, 2 * mmap.ALLOCATIONGRANULARITY + 7])
def test_file_digest_over_mapped_windows_equals_hashing_the_bytes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    window = mmap.ALLOCATIONGRANULARITY  # the smallest window, so the larger files span several
    assert io.file_digest(path, window=window) == hashlib.sha256(data).hexdigest()
    assert io.file_digest(path, "xxh3_128", window=window) == xxhash.xxh3_128(data).hexdigest()


# ---------------------------------------------------------------- read_table: bad input gets a clear DataError
def _error(path, **kwargs) -> str:
    with pytest.raises(DataError) as excinfo:
        io.read_table(path, **kwargs)
    message = str(excinfo.value)
    assert str(path) in message  # every message names the file
    return message


def test_read_table_detects_gbk_and_reports_the_encoding(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes("user_id,城市,label\n1,北京,0\n2,上海,1\n".encode("gbk"))
    frame = io.read_table(path, required=["user_id", "城市"])
    assert frame.attrs["encoding"] == "gb18030"  # the superset of GBK
    assert frame["城市"].tolist() == ["北京", "上海"]
    assert frame["城市"].dtype == "str"  # pandas 3 reads text as the str dtype


def test_read_table_reads_utf8_with_and_without_a_bom(tmp_path):
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_text("id,名字\n1,张三\n", encoding="utf-8")
    bom.write_text("id,名字\n1,张三\n", encoding="utf-8-sig")
    assert io.read_table(plain).attrs["encoding"] == "utf-8"
    frame = io.read_table(bom, required=["id"])  # the BOM is not part of the first column's name
    assert frame.attrs["encoding"] == "utf-8-sig" and frame["名字"].tolist() == ["张三"]


def test_read_table_names_line_and_byte_offset_of_undecodable_bytes(tmp_path):
    path = tmp_path / "test.csv"
    path.write_bytes(b"id,name\n1,ok\n2,x\xff\xfe\xfay\n3,ok\n")
    message = _error(path, encoding="utf-8", what="test")
    assert message.startswith(f"test file {path} is not utf-8 text")
    assert "line 3, byte offset 16 (bytes ff fe fa 79)" in message  # 8 + 5 bytes before the row, then '2,x'
    assert "data.encoding" in message and "download the file again" in message
    detected = _error(path)  # detection tries UTF-8, then GB18030: neither reads 0xff
    assert "utf-8 fails at line 3, byte offset 16" in detected and "gb18030 fails at line 3" in detected


def test_read_table_refuses_an_unknown_encoding_name(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("a\n1\n")
    assert "'latin-9x' is not an encoding Python knows" in _error(path, encoding="latin-9x")


@pytest.mark.parametrize("tail", [
    b"</body></html>\n",  # fewer fields: pandas alone reads it as a row of NaNs
    b"<!DOCTYPE html>\n<td>a,b,c,d</td>\n<p>x</p>\n\n",  # more fields: pandas alone raises a ParserError
    b"------MultipartBoundary--abc----\nContent-Type: text/html\n\n<html>,\xff\xfe,\n",  # web archive, not UTF-8
])
def test_read_table_names_the_line_where_junk_after_the_table_starts(tmp_path, tail):
    path = tmp_path / "train.txt"
    path.write_bytes(b"V0\tV1\ttarget\n0.5\t1.5\t1\n0.25\t2.5\t0\n" + tail)
    message = _error(path, sep="\t", what="train")
    assert "the table ends before line 4" in message
    assert "Cut the file before line 4" in message and "head -n 3 train.txt" in message


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])  # Windows, and an old Mac's bare \r (pandas reads both)
def test_read_table_finds_junk_whatever_ends_the_lines(tmp_path, newline):
    path = tmp_path / "train.csv"
    path.write_bytes(newline.join([b"a,b", b"1,2", b"3,4", b""]))
    assert io.read_table(path)["b"].tolist() == [2, 4]
    path.write_bytes(newline.join([b"a,b", b"1,2", b"3,4", b"</html>", b""]))
    assert "the table ends before line 4" in _error(path)


def test_read_table_says_when_the_file_is_a_web_page(tmp_path):
    path = tmp_path / "train.csv"  # what a download without a login returns
    path.write_bytes(b"<!DOCTYPE html>\n<html lang=en>\n<head><title>Sign in</title>\n<meta a=1, b=2, c=3>\n")
    assert "it is a web page" in _error(path, required=["target"])


def test_read_table_finds_junk_even_when_a_junk_line_fits_the_table(tmp_path):
    path = tmp_path / "train.csv"
    rows = "".join(f"{i},{i}\n" for i in range(50))
    path.write_text(f"a,b\n{rows}<html>\n<style>\nbody,p\n</style>\n</html>\n")  # 'body,p' has two fields
    assert "the table ends before line 52" in _error(path)


def test_read_table_names_a_row_of_the_wrong_width_inside_the_table(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("a,b\n1,2\n3,4,5\n6,7\n8,9\n")
    message = _error(path)
    assert "line 3: 3 fields where the header has 2" in message and "'3,4,5'" in message
    assert "table ends" not in message  # rows follow it: not junk after the table


def test_read_table_accepts_a_last_row_that_ends_a_quoted_multiline_field(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('id,text\n1,"one"\n2,"two\nlines"\n')
    with mock.patch.object(io, "_diagnose", wraps=io._diagnose) as diagnosed:
        frame = io.read_table(path)
    assert diagnosed.call_count == 1  # the last line alone looks like one field: a full scan clears it
    assert frame["text"].tolist() == ["one", "two\nlines"]


def test_read_table_names_repeated_header_names_and_their_positions(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("V0\tV1\tV0\tV2\tV1\ttarget\n1\t2\t3\t4\t5\t6\n")
    message = _error(path, sep="\t", required=["V0", "target"])
    assert "repeats column name(s): 'V0' at columns 1, 3; 'V1' at columns 2, 5" in message
    assert "V0.1" not in message.split("pandas would rename")[0]  # named as written, not as pandas renamed them
    assert "every name is unique" in message


# ---------------------------------------------------------------- check_finite
def test_check_finite_names_columns_counts_first_row_and_fix(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("id,V0,V1,V2,name\n1,0.5,inf,1,a\n2,-Infinity,2.0,2,b\n3,1e999,-inf,3,c\n4,1.0,Inf,4,d\n")
    frame = io.read_table(path)
    assert frame["V0"].dtype == "float64" and frame["name"].dtype == "str"  # the strings were read as floats
    with pytest.raises(DataError) as excinfo:
        io.check_finite(frame, ["V0", "V1", "V2", "name"], path, "train")
    message = str(excinfo.value)
    assert message.startswith(f"train file {path}: 2 column(s) hold infinite values")
    assert "'V0' (2 values), 'V1' (3 values)" in message
    assert "row 0 (line 2 of the file) in 'V1'" in message
    assert "set data.inf: missing in config.yaml" in message.lower() and "or fix the file" in message
    assert io.check_finite(frame, ["V2"], path) is frame  # no inf there: the frame itself


def test_check_finite_can_treat_inf_as_missing(tmp_path):
    frame = pd.DataFrame({"a": [1.0, np.inf, -np.inf, np.nan], "b": [1, 2, 3, 4], "c": ["x", "y", "z", "w"]})
    out = io.check_finite(frame, None, tmp_path / "t.csv", inf_as_missing=True)
    assert out["a"].isna().tolist() == [False, True, True, True]
    assert out["b"].tolist() == [1, 2, 3, 4] and out["c"].tolist() == ["x", "y", "z", "w"]
    assert np.isinf(frame["a"]).sum() == 2  # the caller's frame is unchanged


# ---------------------------------------------------------------- atomic writes
def test_atomic_path_replaces_the_file_only_when_the_block_succeeds(tmp_path):
    path = tmp_path / "artifact.txt"
    path.write_text("old\n")
    with io.atomic_path(path) as tmp:
        tmp.write_text("new\n")
        assert tmp != path and path.read_text() == "old\n"  # readers see the old file until the rename
    assert path.read_text() == "new\n"
    with pytest.raises(RuntimeError, match="bug"):
        with io.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("bug in the writer")
    assert path.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["artifact.txt"]


class DiskFull(OSError):
    pass


class _FillingDisk:
    """A file that takes `budget` bytes (or characters), writes part of the next chunk, then raises."""

    def __init__(self, handle, budget: int):
        self.handle, self.budget = handle, budget

    def write(self, data):
        if len(data) > self.budget:
            self.handle.write(data[:self.budget])
            self.handle.flush()
            raise DiskFull(28, "No space left on device")
        self.budget -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def _disk_fills_after(monkeypatch, budget: int) -> None:
    """Every file opened for writing (builtins.open, Path.open) fills the disk after `budget` bytes."""
    import builtins
    import pathlib

    real_open = builtins.open

    def failing_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return _FillingDisk(handle, budget) if "w" in mode else handle

    monkeypatch.setattr(builtins, "open", failing_open)
    monkeypatch.setattr(pathlib.Path, "open", lambda self, mode="r", *a, **k: failing_open(self, mode, *a, **k))


WRITERS = {
    "write_npy": lambda path, value: io.write_npy(path, np.full(50_000, value)),
    "write_json": lambda path, value: io.write_json(path, {"value": value, "pad": "x" * 50_000}),
    "write_text": lambda path, value: io.write_text(path, f"{value}\n" * 20_000),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_write_failing_half_way_keeps_the_previous_file(tmp_path, monkeypatch, writer):
    path = tmp_path / "artifact"
    WRITERS[writer](path, 1.0)
    before = path.read_bytes()
    _disk_fills_after(monkeypatch, len(before) // 2)
    with pytest.raises(DiskFull):
        WRITERS[writer](path, 2.0)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]  # no partial or temporary file


def test_an_arrow_write_failing_half_way_keeps_the_previous_file(tmp_path, monkeypatch):
    import pyarrow.feather as feather

    path = tmp_path / "table.arrow"
    io.write_arrow(path, pd.DataFrame({"a": np.arange(10_000)}))
    before = path.read_bytes()
    real = feather.write_feather

    def half(frame, dest, *args, **kwargs):
        real(frame.iloc[: len(frame) // 2], dest, *args, **kwargs)  # half the rows reach the file
        raise DiskFull(28, "No space left on device")

    monkeypatch.setattr(feather, "write_feather", half)
    with pytest.raises(DiskFull):
        io.write_arrow(path, pd.DataFrame({"a": np.arange(20_000) + 7}))
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["table.arrow"]


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    path = tmp_path / "sub.txt"
    dead = dead_pid()
    orphan = tmp_path / f".sub.txt.{dead}.abcd1234.tmp"
    live = tmp_path / f".sub.txt.{os.getpid()}.efgh5678.tmp"  # a concurrent writer (this process) is left alone
    other = tmp_path / f".sub.txt.5.{dead}.ijkl9012.tmp"  # another file's temp ("sub.txt.5"), never this one's
    for p in (orphan, live, other):
        p.write_text("half")
    io.write_text(path, "new\n")
    assert path.read_text() == "new\n" and not orphan.exists() and live.exists() and other.exists()


def test_one_chunk_joins_a_text_columns_pieces_and_keeps_the_rest():
    """A text column read in pieces becomes one chunk (a fold's take of rows then copies only those rows),
    with the same values, dtype, index and attrs; other columns and one-chunk frames are left as they are."""
    parts = [pd.DataFrame({"text": pd.array(texts, dtype="str"), "n": range(len(texts))})
             for texts in (["1 2", "3"], [None])]
    frame = pd.concat(parts, ignore_index=True)
    frame.index = [10, 11, 12]
    frame.attrs["roles"] = {"text": "text"}
    assert frame["text"].array.__arrow_array__().num_chunks == 2
    out = io.one_chunk(frame)
    assert out["text"].array.__arrow_array__().num_chunks == 1
    pd.testing.assert_frame_equal(out, frame)
    assert out.attrs == frame.attrs and out["n"].dtype == frame["n"].dtype
    assert io.one_chunk(out) is out
