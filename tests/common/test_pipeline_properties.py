"""The fold guard of stages 05-07 (`current_runs`) on random stores (hypothesis): the default pattern keeps
exactly the runs of the current run key and fold hash and says how many it left out; explicit patterns
that pick any other run are refused, naming every picked run; no current run is an error."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import FoldMismatchError, KitError
from common.runs.pipeline import current_runs
from common.runs.store import RunStore
from common.runs.train import CVResult

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEY, HASH = "key-now", "hash-now"
# each run: (label, run key, fold hash); "now" is the current one
RUNS = st.lists(st.tuples(st.sampled_from(["ridge", "lgb"]), st.sampled_from([KEY, "key-old"]),
                          st.sampled_from([HASH, "hash-old"])), max_size=9)


def _contest(root, runs, patterns=("*",)):
    store = RunStore(root / "runs")
    for i, (label, key, fold_hash) in enumerate(runs):
        run = store.save(f"{label}-{i}", CVResult(np.zeros(2), np.zeros(1), [0.0], 0.0, [0.0]),
                         {"run_key": key, "fold_hash": fold_hash})
        meta = {**run.meta, "created": f"2020-01-01T00:00:{i:02d}"}  # one second apart: a known order
        (run.path / "meta.json").write_text(json.dumps(meta))
    config = SimpleNamespace(ensemble=SimpleNamespace(runs=list(patterns)))
    contest = SimpleNamespace(root=root, store=store, config=config, run_key=lambda fs, folds: KEY)
    return contest, SimpleNamespace(hash=HASH)


def _current(runs, pattern="*"):
    import fnmatch

    return [f"{label}-{i}" for i, (label, key, h) in enumerate(runs)
            if (key, h) == (KEY, HASH) and fnmatch.fnmatchcase(f"{label}-{i}", pattern)]


@SETTINGS
@given(runs=RUNS)
def test_the_default_pattern_keeps_exactly_the_current_runs(tmp_path_factory, runs):
    contest, folds = _contest(tmp_path_factory.mktemp("c"), runs)
    said = []
    current = _current(runs)
    stale = [f"{label}-{i}" for i, (label, key, h) in enumerate(runs) if (key, h) != (KEY, HASH)]
    if not current:
        with pytest.raises(KitError, match=r"no runs for the current features, target and folds in .*runs: run "
                                            r"stage 04 first\.$"):
            current_runs(contest, None, folds, out=said.append)
    else:
        assert [r.run_id for r in current_runs(contest, None, folds, out=said.append)] == current
    if stale:
        shown = ", ".join(stale[:6]) + (" ..." if len(stale) > 6 else "")
        assert said == [f"left out {len(stale)} run(s) made for other features, target or folds ({shown}); "
                        f"`compkit runs {contest.root} --prune` deletes them"]
    else:
        assert said == []


@SETTINGS
@given(runs=RUNS, pattern=st.sampled_from(["ridge-*", "lgb-*", "*-1", "*-2"]))
def test_explicit_patterns_refuse_any_run_of_another_key_or_folds(tmp_path_factory, runs, pattern):
    import fnmatch

    contest, folds = _contest(tmp_path_factory.mktemp("c"), runs, patterns=[pattern])
    picked = [(f"{label}-{i}", key, h) for i, (label, key, h) in enumerate(runs)
              if fnmatch.fnmatchcase(f"{label}-{i}", pattern)]
    said = []
    for patterns in ([pattern], None):  # given, or from config.ensemble.runs
        if any((key, h) != (KEY, HASH) for _, key, h in picked):
            with pytest.raises(FoldMismatchError) as err:
                current_runs(contest, None, folds, patterns=patterns, out=said.append)
            message = str(err.value)
            assert message.startswith("ensemble.runs picks runs made on different folds, features or target (run: fold "
                                      f"hash; the current folds are {HASH}):\n")
            for run_id, key, h in picked:
                note = (("  (other features or target)" if key != KEY else "")
                        + ("  (current)" if (key, h) == (KEY, HASH) else ""))
                assert f"\n  {run_id}: {h}{note}\n" in message
            assert message.endswith(f"Retrain the others with stage 04, narrow ensemble.runs, or delete them: "
                                    f"compkit runs {contest.root} --prune")
        elif picked:
            assert [r.run_id for r in current_runs(contest, None, folds, patterns=patterns, out=said.append)] == \
                [run_id for run_id, _, _ in picked]
        else:
            with pytest.raises(KitError, match="run stage 04 first"):
                current_runs(contest, None, folds, patterns=patterns, out=said.append)
    assert said == []  # explicit picks are never trimmed silently


def test_a_run_of_the_current_key_on_other_folds_is_stale_too(tmp_path):
    contest, folds = _contest(tmp_path, [("ridge", KEY, "hash-old"), ("ridge", KEY, HASH)])
    said = []
    assert [r.run_id for r in current_runs(contest, None, folds, out=said.append)] == ["ridge-1"]
    assert said[0].startswith("left out 1 run(s) made for other features, target or folds (ridge-0);")


@pytest.mark.parametrize("n_stale,shown", [(6, "ridge-0, ridge-1, ridge-2, ridge-3, ridge-4, ridge-5"),
                                           (7, "ridge-0, ridge-1, ridge-2, ridge-3, ridge-4, ridge-5 ...")])
def test_the_message_names_six_stale_runs_and_marks_more(tmp_path, n_stale, shown):
    contest, folds = _contest(tmp_path, [("ridge", "key-old", HASH)] * n_stale + [("lgb", KEY, HASH)])
    said = []
    current_runs(contest, None, folds, out=said.append)
    assert said[0].startswith(f"left out {n_stale} run(s) made for other features, target or folds ({shown});")
