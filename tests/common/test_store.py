import os

import numpy as np
import pytest

from common.errors import FoldMismatchError
from common.runs.store import RunStore, check_same_folds, run_id_for
from common.runs.train import CVResult
from tests.conftest import dead_pid


def _result(score=0.1):
    return CVResult(np.arange(5.0), np.ones(3), [score, score], score, [0.1, 0.2])


def _meta(fold_hash="aaa"):
    return {"model": {"name": "ridge", "params": {}, "label": None}, "fold_hash": fold_hash, "seed": 0}


def test_save_and_load_round_trip(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.save("ridge-1", _result(), _meta())
    loaded = store.load("ridge-1")
    np.testing.assert_array_equal(loaded.oof, np.arange(5.0))
    assert loaded.score == 0.1 and loaded.fold_hash == "aaa"
    assert {"libraries", "python", "created", "fit_seconds", "fold_scores"} <= set(loaded.meta)
    assert run.path == tmp_path / "runs" / "ridge-1"
    assert not list((tmp_path / "runs").glob(".tmp-*"))


def test_run_id_depends_on_everything_that_changes_results():
    base = run_id_for("lgb", "lightgbm", {"a": 1}, "feat", "fold", 0)
    assert base == run_id_for("lgb", "lightgbm", {"a": 1}, "feat", "fold", 0)
    assert base.startswith("lgb-")
    for changed in (("lightgbm", {"a": 2}, "feat", "fold", 0), ("lightgbm", {"a": 1}, "feat2", "fold", 0),
                    ("lightgbm", {"a": 1}, "feat", "fold2", 0), ("lightgbm", {"a": 1}, "feat", "fold", 1)):
        assert run_id_for("lgb", *changed) != base


def test_runs_filters_by_pattern_and_fold_hash(tmp_path):
    store = RunStore(tmp_path)
    store.save("ridge-1", _result(), _meta("aaa"))
    store.save("lgb-1", _result(), _meta("bbb"))
    assert [r.run_id for r in store.runs(["ridge-*"])] == ["ridge-1"]
    assert [r.run_id for r in store.runs(fold_hash="bbb")] == ["lgb-1"]


def test_mixed_fold_hashes_are_refused_naming_runs_and_hashes(tmp_path):
    store = RunStore(tmp_path)
    runs = [store.save("ridge-1", _result(), _meta("aaa")), store.save("lgb-1", _result(), _meta("bbb"))]
    with pytest.raises(FoldMismatchError) as err:
        check_same_folds(runs)
    assert "ridge-1: aaa" in str(err.value) and "lgb-1: bbb" in str(err.value)


def test_a_half_written_run_is_invisible(tmp_path):
    store = RunStore(tmp_path)
    staged = store.save("ridge-1", _result(), _meta()).path.rename(tmp_path / ".tmp-ridge-1-123")
    assert (staged / "meta.json").is_file()  # complete, but killed before the rename that publishes it
    (tmp_path / "ridge-2").mkdir()  # no meta.json: interrupted while staging
    assert store.runs() == [] and not store.exists("ridge-2")


def test_a_run_whose_save_fails_half_way_leaves_the_previous_run(tmp_path, monkeypatch):
    from common.runs import store as store_module

    store = RunStore(tmp_path / "runs")
    meta = {"model": {"name": "ridge"}, "fold_hash": "aaa"}
    first = store.save("ridge-1", CVResult(np.arange(5.0), np.ones(3), [0.1], 0.1, [0.1]), meta)
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    real_write_json = store_module.write_json

    def broken_write_json(path, obj):  # oof.npy and test.npy were written; the meta write fails half-way
        with open(path, "w") as fh:
            fh.write('{"run_id": ')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "write_json", broken_write_json)
    with pytest.raises(OSError, match="No space"):
        store.save("ridge-1", CVResult(np.arange(5.0) * 2, np.zeros(3), [0.2], 0.2, [0.1]), meta)
    monkeypatch.setattr(store_module, "write_json", real_write_json)
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
    assert [r.run_id for r in store.runs()] == ["ridge-1"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ridge-1"]  # nothing staged is left


def test_staging_folders_of_a_killed_process_are_removed_by_the_next_save(tmp_path):
    store, dead = RunStore(tmp_path), dead_pid()
    for name in (f".tmp-ridge-1-{dead}", f".trash-ridge-2-{dead}", f".tmp-ridge-3-{os.getpid()}"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text("{}")  # staged complete: still no run
    assert store.runs() == []
    store.save("ridge-4", CVResult(np.arange(5.0), np.ones(3), [0.1], 0.1, [0.1]), {"fold_hash": "a"})
    # the killed process's folders are gone; a live process's (here: this one's) is never touched
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".tmp-ridge-3-{os.getpid()}", "ridge-4"]
