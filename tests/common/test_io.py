"""common.io: the file digest and its memo."""
import hashlib
import mmap
import os
from unittest import mock

import pytest
import xxhash

from common import io


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


@pytest.mark.parametrize("size", [0, 1, 2 * mmap.ALLOCATIONGRANULARITY, 2 * mmap.ALLOCATIONGRANULARITY + 7])
def test_file_digest_over_mapped_windows_equals_hashing_the_bytes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    window = mmap.ALLOCATIONGRANULARITY  # the smallest window, so the larger files span several
    assert io.file_digest(path, window=window) == hashlib.sha256(data).hexdigest()
    assert io.file_digest(path, "xxh3_128", window=window) == xxhash.xxh3_128(data).hexdigest()
