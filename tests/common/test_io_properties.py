"""Atomic writers round-trip what they are given (hypothesis), replace rather than append, give the file the
usual permissions and leave no temporary file; stable_hash is a pure function of its parts."""
import json
import os
import stat

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from common.data import io

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                    max_leaves=12)
ARRAYS = hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.bool_]),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=5))


def only(tmp_path, *names):
    """The folder holds exactly these files: no temporary file is left behind."""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@SETTINGS
@given(obj=JSON, old=JSON)
def test_write_json_round_trips_and_replaces(tmp_path, obj, old):
    path = tmp_path / "sub" / "a.json"
    io.write_json(path, old)
    assert io.write_json(path, obj) == path
    assert io.read_json(path) == obj
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(obj, indent=2, sort_keys=True) + "\n"  # stable bytes: diffs stay readable
    only(path.parent, "a.json")


def test_write_json_turns_numpy_values_and_paths_into_json_and_refuses_the_rest(tmp_path):
    path = tmp_path / "a.json"
    io.write_json(path, {"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(3), "p": tmp_path / "x"})
    assert io.read_json(path) == {"i": 3, "f": 0.5, "a": [0, 1, 2], "p": str(tmp_path / "x")}
    with pytest.raises(TypeError, match="cannot store set in JSON"):
        io.write_json(path, {"s": {1, 2}})
    assert io.read_json(path)["i"] == 3  # the failed write kept the previous file
    only(tmp_path, "a.json")


@SETTINGS
@given(array=ARRAYS)
def test_write_npy_round_trips_dtype_shape_and_values(tmp_path, array):
    path = tmp_path / "a.npy"
    io.write_npy(path, np.zeros(7))
    assert io.write_npy(path, array) == path
    back = io.read_npy(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    only(tmp_path, "a.npy")


def test_read_npy_never_loads_pickles(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        io.read_npy(tmp_path / "obj.npy")
    with pytest.raises(ValueError, match="allow_pickle"):
        io.write_npy(tmp_path / "obj2.npy", np.array([{"a": 1}], dtype=object))
    only(tmp_path, "obj.npy")


@SETTINGS
@given(text=st.text(), old=st.text(min_size=1))
def test_write_text_round_trips_utf8_and_replaces(tmp_path, text, old):
    path = tmp_path / "a.txt"
    io.write_text(path, old)
    assert io.write_text(path, text) == path
    assert path.read_bytes() == text.encode("utf-8")
    only(tmp_path, "a.txt")


@SETTINGS
@given(frame=st.integers(1, 20).flatmap(lambda n: st.fixed_dictionaries({
    "a": st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n),
    "b": st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n),
    "c": st.lists(st.text(alphabet="xyz ,\"", min_size=1, max_size=4), min_size=n, max_size=n)})))
def test_write_csv_and_arrow_round_trip_a_frame(tmp_path, frame):
    frame = pd.DataFrame(frame)
    assert io.write_csv(tmp_path / "t.csv", frame) == tmp_path / "t.csv"
    assert io.write_arrow(tmp_path / "t.arrow", frame) == tmp_path / "t.arrow"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv", keep_default_na=False, dtype={"c": str}), frame)
    pd.testing.assert_frame_equal(io.read_arrow(tmp_path / "t.arrow"), frame)
    io.write_csv(tmp_path / "t.csv", frame, sep=";")  # keyword arguments reach to_csv
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == ";".join(frame.columns)
    only(tmp_path, "t.csv", "t.arrow")


def test_every_writer_gives_the_file_the_usual_permissions(tmp_path):
    """mkstemp makes 0600; an artifact is readable like any file the user writes (0666 less the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    expected = 0o666 & ~umask
    io.write_text(tmp_path / "a.txt", "x")
    io.write_json(tmp_path / "a.json", {})
    io.write_npy(tmp_path / "a.npy", np.zeros(2))
    io.write_csv(tmp_path / "a.csv", pd.DataFrame({"a": [1]}))
    io.write_arrow(tmp_path / "a.arrow", pd.DataFrame({"a": [1]}))
    for path in tmp_path.iterdir():
        assert mode(path) == expected, path.name


def test_save_figure_writes_a_png_and_closes_the_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert io.save_figure(tmp_path / "f.png", fig) == tmp_path / "f.png"
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.number not in plt.get_fignums()
    only(tmp_path, "f.png")


@settings(max_examples=50, deadline=None)
@given(parts=st.lists(JSON, max_size=3), length=st.integers(1, 64), other=JSON)
def test_stable_hash_is_a_pure_function_of_its_parts(parts, length, other):
    h = io.stable_hash(*parts, length=length)
    assert h == io.stable_hash(*parts, length=length) and len(h) == length and set(h) <= set("0123456789abcdef")
    assert io.stable_hash(*parts) == h[:12] or length < 12 and io.stable_hash(*parts).startswith(h)
    if [*parts, other] != parts:
        assert io.stable_hash(*parts, other) != io.stable_hash(*parts)


def test_write_arrow_stores_the_columns_and_never_the_index(tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3]}, index=[5, 7, 9])  # e.g. rows left after a filter
    io.write_arrow(tmp_path / "t.arrow", frame)
    back = io.read_arrow(tmp_path / "t.arrow")
    assert list(back.columns) == ["a"] and list(back.index) == [0, 1, 2]
    import pyarrow.ipc

    assert pyarrow.ipc.open_file(tmp_path / "t.arrow").schema.names == ["a"]


def test_an_orphan_another_process_removes_first_is_no_error(tmp_path, monkeypatch):
    """Two writers of one file may both find a dead writer's temporary file; the second finds it gone."""
    orphan = tmp_path / ".a.txt.4194999.abcd1234.tmp"
    orphan.write_text("half")

    def removed_meanwhile(pid):
        orphan.unlink()  # the other writer was quicker
        return False

    monkeypatch.setattr(io, "pid_alive", removed_meanwhile)
    io.write_text(tmp_path / "a.txt", "new")
    only(tmp_path, "a.txt")


def test_the_temporary_file_of_a_writer_killed_mid_write_is_removed_by_the_next_write(tmp_path):
    """SIGKILL skips atomic_path's cleanup; the temporary file carries its writer's pid, so the next write
    of that file knows the writer is gone and removes it."""
    import subprocess
    import sys

    code = ("import os, signal, sys\nfrom common.data.io import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_text('half')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.txt")], check=False, timeout=60)
    assert len(list(tmp_path.glob(".a.txt.*.tmp"))) == 1  # left behind by the kill
    io.write_text(tmp_path / "a.txt", "new")
    only(tmp_path, "a.txt")
