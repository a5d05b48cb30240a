"""The run store on random runs (hypothesis): a saved run loads back as saved, `runs()` returns exactly the
finished runs a pattern, fold hash and run key pick, oldest first; removing and re-saving leave nothing
half-done behind; the fold guard refuses any mix of fold hashes."""
import fnmatch
import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from common.errors import FoldMismatchError
from common.runs.store import Run, RunStore, check_same_folds, run_id_for
from common.runs.train import CVResult

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FLOATS = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
                    elements=st.floats(allow_nan=True, allow_infinity=False, width=64))
SCORES = st.floats(-1e6, 1e6, allow_nan=False)
RUN_SPECS = st.lists(st.tuples(st.sampled_from(["ridge", "lgb", "mlp"]), st.sampled_from(["f1", "f2"]),
                               st.sampled_from(["k1", "k2", None])), min_size=1, max_size=6)


def _result(oof, test, score=0.5, fold_scores=(0.5, 0.5), seconds=(0.1234, 1.0)):
    return CVResult(oof, test, list(fold_scores), score, list(seconds))


def _visible(root):
    return sorted(p.name for p in root.iterdir())


@SETTINGS
@given(oof=FLOATS, test=FLOATS, score=SCORES, fold_scores=st.lists(SCORES, min_size=1, max_size=5),
       seconds=st.lists(st.floats(0, 1e4), min_size=1, max_size=5))
def test_a_saved_run_loads_back_as_saved(tmp_path_factory, oof, test, score, fold_scores, seconds):
    root = tmp_path_factory.mktemp("runs")
    store = RunStore(root)
    (store.workdir("ridge-1") / "last.pt").write_text("checkpoint")  # a run in progress
    result = CVResult(oof, test, fold_scores, score, seconds)
    saved = store.save("ridge-1", result, {"fold_hash": "abc", "run_key": "k", "model": {"name": "ridge"}})
    for run in (saved, store.load("ridge-1")):
        assert run.run_id == "ridge-1" and run.path == root / "ridge-1"
        np.testing.assert_array_equal(run.oof, oof)
        np.testing.assert_array_equal(run.test, test)
        assert run.score == score and run.fold_hash == "abc" and run.key == "k"
        assert run.meta["fold_scores"] == fold_scores and run.meta["cv_std"] == result.score_std
        assert run.meta["fit_seconds"] == [round(s, 3) for s in seconds]
        assert run.meta["model"] == {"name": "ridge"} and run.meta["run_id"] == "ridge-1"
    assert store.load("ridge-1").meta == saved.meta
    assert store.exists("ridge-1") and not store.exists("ridge-2")
    assert _visible(root) == [".work", "ridge-1"] and _visible(root / ".work") == []  # the checkpoint went with it


def test_meta_records_when_and_with_what_a_run_was_made(tmp_path):
    import platform
    from importlib import metadata

    run = RunStore(tmp_path).save("r-1", _result(np.zeros(3), np.zeros(2)), {"fold_hash": "h"})
    assert run.meta["python"] == platform.python_version()
    assert run.meta["libraries"]["numpy"] == metadata.version("numpy")
    assert run.meta["libraries"]["scikit-learn"] == metadata.version("scikit-learn")
    assert abs(time.mktime(time.strptime(run.meta["created"], "%Y-%m-%dT%H:%M:%S")) - time.time()) < 120
    assert run.meta["fold_info"] == [] or run.meta["fold_info"] is not None


def test_a_run_without_a_run_key_is_an_older_run(tmp_path):
    run = RunStore(tmp_path).save("r-1", _result(np.zeros(3), np.zeros(2)), {"fold_hash": "h"})
    assert run.key is None and RunStore(tmp_path).runs(key="x") == [] and RunStore(tmp_path).runs() == [run]


@SETTINGS
@given(specs=RUN_SPECS, pattern=st.sampled_from(["*", "ridge-*", "lgb-*", "*-1", "mlp-2", "nothing"]),
       fold_hash=st.sampled_from([None, "f1", "f2"]), key=st.sampled_from([None, "k1", "k2"]))
def test_runs_returns_exactly_what_the_filters_pick_oldest_first(tmp_path_factory, specs, pattern, fold_hash, key):
    root = tmp_path_factory.mktemp("runs")
    store = RunStore(root)
    made = []
    for i, (label, fh, k) in enumerate(specs):
        meta = {"fold_hash": fh, **({"run_key": k} if k else {})}
        run = store.save(f"{label}-{i}", _result(np.zeros(2), np.zeros(1)), meta)
        made.append(run)
    # 'created' has a resolution of one second: give each run its own time, newest first on disk order
    for i, run in enumerate(made):
        meta = {**run.meta, "created": f"2020-01-01T00:00:{59 - i:02d}"}
        (run.path / "meta.json").write_text(__import__("json").dumps(meta))
    (root / f".tmp-ridge-9-{os.getpid()}").mkdir()  # being staged: never a run
    (root / f".tmp-ridge-9-{os.getpid()}" / "meta.json").write_text("{}")
    (root / "ridge-99").mkdir()  # no meta.json: not finished
    expected = [r.run_id for r in reversed(made)
                if fnmatch.fnmatchcase(r.run_id, pattern) and fold_hash in (None, r.fold_hash) and key in (None, r.key)]
    found = store.runs([pattern], fold_hash=fold_hash, key=key)
    assert [r.run_id for r in found] == expected
    assert all(isinstance(r, Run) and r.path == root / r.run_id for r in found)
    assert [r.run_id for r in store.runs([pattern, "nothing"], fold_hash=fold_hash, key=key)] == expected


def test_runs_of_a_store_that_does_not_exist_yet_is_empty(tmp_path):
    assert RunStore(tmp_path / "none").runs() == [] and not (tmp_path / "none").exists()


@SETTINGS
@given(n=st.integers(1, 4), seed=st.integers(0, 100))
def test_saving_again_replaces_the_run_and_removing_leaves_nothing(tmp_path_factory, n, seed):
    root = tmp_path_factory.mktemp("runs")
    store = RunStore(root)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        oof = rng.normal(size=4)
        run = store.save("ridge-1", _result(oof, oof[:2]), {"fold_hash": "h"})
        np.testing.assert_array_equal(store.load("ridge-1").oof, oof)
        assert _visible(root) == ["ridge-1"] and _visible(root / "ridge-1") == ["meta.json", "oof.npy", "test.npy"]
    store.remove(run)
    assert _visible(root) == [] and store.runs() == [] and not store.exists("ridge-1")


def test_workdir_is_kept_until_the_run_is_saved(tmp_path):
    store = RunStore(tmp_path)
    work = store.workdir("r-1")
    assert work == tmp_path / ".work" / "r-1" and work.is_dir()
    (work / "x").write_text("1")
    assert store.workdir("r-1") == work and (work / "x").read_text() == "1"  # an interrupted run finds it again
    assert store.path("r-1") == tmp_path / "r-1"


@SETTINGS
@given(hashes=st.lists(st.sampled_from(["aaa", "bbb", "ccc"]), max_size=5))
def test_check_same_folds_refuses_exactly_the_mixes(tmp_path_factory, hashes):
    runs = [Run(f"run-{i}", tmp_path_factory.getbasetemp(), {"fold_hash": h}) for i, h in enumerate(hashes)]
    if len(set(hashes)) > 1:
        with pytest.raises(FoldMismatchError) as err:
            check_same_folds(runs)
        message = str(err.value)
        assert message.startswith("cannot compare or blend runs made on different folds:\n")
        assert all(f"  run-{i}: {h}\n" in message for i, h in enumerate(hashes))
        assert message.endswith("Retrain the older runs on the current folds (stage 04) or select runs of one fold "
                                "hash.")
    else:
        assert check_same_folds(runs) == (hashes[0] if hashes else "")


@given(label=st.text(alphabet="abc_", min_size=1, max_size=6), a=st.integers(), b=st.integers())
def test_run_ids_are_the_label_and_a_hash_of_the_identity(label, a, b):
    rid = run_id_for(label, {"p": a}, "feat")
    assert rid == run_id_for(label, {"p": a}, "feat")
    assert rid.startswith(f"{label}-") and len(rid) == len(label) + 9
    assert (run_id_for(label, {"p": b}, "feat") == rid) == (a == b)


def test_removing_a_run_succeeds_even_when_its_files_cannot_all_be_deleted(tmp_path, monkeypatch):
    """The run is renamed away first, so it is gone from the store at once; a file the deletion cannot
    remove (a busy network share, a permission) is left in the trash for a later save to clean."""
    store = RunStore(tmp_path)
    run = store.save("ridge-1", _result(np.zeros(3), np.zeros(2)), {"fold_hash": "h"})
    real_unlink = os.unlink

    def busy(path, *args, **kwargs):
        if str(path).endswith("oof.npy"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", busy)
    store.remove(run)
    monkeypatch.undo()
    assert store.runs() == [] and not store.exists("ridge-1")
    assert [p.name for p in tmp_path.iterdir()] == [f".trash-ridge-1-{os.getpid()}"]


def _undeletable(monkeypatch, suffix):
    """os.unlink refuses files whose path ends with `suffix` (what shutil.rmtree calls for each file)."""
    real_unlink = os.unlink

    def refuse(path, *args, **kwargs):
        if str(path).endswith(suffix):
            raise PermissionError(13, "Permission denied", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refuse)


def test_saving_over_a_run_whose_old_files_cannot_all_be_deleted_still_publishes_the_new_one(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    store.save("ridge-1", _result(np.zeros(3), np.zeros(2)), {"fold_hash": "old"})
    _undeletable(monkeypatch, "test.npy")
    store.save("ridge-1", _result(np.ones(3), np.ones(2)), {"fold_hash": "new"})
    monkeypatch.undo()
    assert store.load("ridge-1").fold_hash == "new" and np.array_equal(store.load("ridge-1").oof, np.ones(3))


def test_a_failed_save_reports_its_own_error_even_when_the_cleanup_fails_too(tmp_path, monkeypatch):
    from common.runs import store as store_module

    store = RunStore(tmp_path)

    def full_disk(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "write_json", full_disk)
    _undeletable(monkeypatch, "oof.npy")
    with pytest.raises(OSError, match="No space left"):
        store.save("ridge-1", _result(np.zeros(3), np.zeros(2)), {"fold_hash": "h"})
    monkeypatch.undo()
    assert store.runs() == []


def test_a_leftover_of_a_killed_process_that_cannot_be_deleted_does_not_stop_a_save(tmp_path, monkeypatch):
    from tests.conftest import dead_pid

    store = RunStore(tmp_path)
    orphan = tmp_path / f".tmp-ridge-1-{dead_pid()}"
    orphan.mkdir()
    (orphan / "oof.npy").write_text("half")
    _undeletable(monkeypatch, "oof.npy")
    store.save("ridge-2", _result(np.zeros(3), np.zeros(2)), {"fold_hash": "h"})
    monkeypatch.undo()
    assert [r.run_id for r in store.runs()] == ["ridge-2"]


def test_a_staging_folder_this_process_left_earlier_is_replaced(tmp_path):
    """A save that failed before its cleanup (e.g. an interrupt in this long-lived process) left
    .tmp-<run>-<this pid>: the next save of that run starts it afresh."""
    store = RunStore(tmp_path)
    stale = tmp_path / f".tmp-ridge-1-{os.getpid()}"
    stale.mkdir()
    (stale / "junk.txt").write_text("from the failed save")
    run = store.save("ridge-1", _result(np.zeros(3), np.zeros(2)), {"fold_hash": "h"})
    assert sorted(p.name for p in run.path.iterdir()) == ["meta.json", "oof.npy", "test.npy"]


def test_a_run_is_published_after_the_save_fault_point(tmp_path, monkeypatch):
    from common.runs import store as store_module

    seen = []
    monkeypatch.setattr(store_module, "checkpoint",
                        lambda point: seen.append((point, RunStore(tmp_path).exists("r-1"))))
    RunStore(tmp_path).save("r-1", _result(np.zeros(3), np.zeros(2)), {"fold_hash": "h"})
    assert seen == [("save:r-1", False)]  # a kill there leaves only the staged copy


def test_a_run_without_a_creation_time_counts_as_the_oldest(tmp_path):
    import json

    store = RunStore(tmp_path)
    for run_id in ("a-1", "b-1"):
        store.save(run_id, _result(np.zeros(2), np.zeros(1)), {"fold_hash": "h"})
    meta = json.loads((tmp_path / "b-1" / "meta.json").read_text())
    del meta["created"]  # a run made by hand, or by an older kit
    (tmp_path / "b-1" / "meta.json").write_text(json.dumps(meta))
    assert [r.run_id for r in store.runs()] == ["b-1", "a-1"]
