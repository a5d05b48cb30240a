"""Runs never mix: stages 05-07 use only runs of the current features, target definition and folds;
a tuned run competes only when its tuning holds on a second fold split."""
import argparse
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from common.stages import ensemble as ensemble_stage
from common.contest import Contest
from common.data.datasets.steam import make_steam
from common.errors import FoldMismatchError, KitError
from common.runs.pipeline import current_runs, prune_runs, train_model
from common.runs.recheck import honest_runs
from common.runs.store import RunStore
from tests.conftest import REPO, run_script, write_contest

STAGES = REPO / "templates" / "{{cookiecutter.competition_slug}}"


def _set(root, **data):
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["data"].update(data)
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _train_all(root):
    contest = Contest.load(root)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    return [train_model(contest, spec, fs, folds)[0] for spec in contest.config.models]


def test_a_changed_target_transform_leaves_the_old_runs_out(regression_contest, capsys):
    old = _train_all(regression_contest)
    _set(regression_contest, target_transform="yeo-johnson")
    new = _train_all(regression_contest)
    assert {r.run_id for r in old}.isdisjoint(r.run_id for r in new)
    contest = Contest.load(regression_contest)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    lines = []
    assert {r.run_id for r in current_runs(contest, fs, folds, out=lines.append)} == {r.run_id for r in new}
    assert lines and lines[0].startswith("left out 2 run(s)") and "--prune" in lines[0]

    ensemble_stage.main(contest, argparse.Namespace())
    table = pd.read_csv(contest.reports_dir / "ensemble_comparison.csv")
    singles = set(table.loc[table["kind"] == "single", "strategy"])
    assert singles == {r.run_id for r in new}  # the blend never saw the runs of the old target

    stale = prune_runs(contest, fs, folds, delete=True, out=lambda _: None)
    assert {r.run_id for r in stale} == {r.run_id for r in old}
    assert sorted(p.name for p in contest.store.root.iterdir() if not p.name.startswith(".")) == sorted(r.run_id for r in new)


def test_a_changed_role_changes_the_features_and_the_key(binary_contest):
    _train_all(binary_contest)
    _set(binary_contest, roles={"f3": "drop"})
    contest = Contest.load(binary_contest)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    assert "f3" not in fs.X.columns
    lines = []
    with pytest.raises(KitError, match="run stage 04 first"):  # no run of the new key yet
        current_runs(contest, fs, folds, out=lines.append)
    assert lines and "left out 2 run(s)" in lines[0]


def test_a_tuned_run_whose_tuning_fails_the_second_split_is_left_out(regression_contest):
    runs = _train_all(regression_contest)
    holds, fails = runs
    holds.meta["recheck"] = {"tuned": 0.1, "untuned": 0.2, "holds": True}
    fails.meta["recheck"] = {"tuned": 0.3, "untuned": 0.2, "holds": False}
    said = []
    assert honest_runs(runs, out=said.append) == [holds]
    assert fails.run_id in said[0] and "0.30000 tuned against 0.20000 untuned" in said[0]


def test_runs_of_other_folds_are_left_out_by_default_and_refused_when_picked(regression_contest):
    old = _train_all(regression_contest)
    config = yaml.safe_load((regression_contest / "config.yaml").read_text())
    config["folds"]["seed"] = 1  # new folds: the saved ones are deleted and made again with another seed
    (regression_contest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.rmtree(regression_contest / "folds")
    new = _train_all(regression_contest)
    contest = Contest.load(regression_contest)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    assert {r.fold_hash for r in old} == {old[0].fold_hash} != {folds.hash}

    said = []  # the default pattern: the other folds' runs are left out, with a message naming them
    assert sorted(r.run_id for r in current_runs(contest, fs, folds, out=said.append)) == sorted(r.run_id for r in new)
    assert len(said) == 1 and said[0].startswith("left out 2 run(s)")
    assert all(r.run_id in said[0] for r in old)

    # explicit patterns that pick them: refused, naming each run with its fold hash
    with pytest.raises(FoldMismatchError) as refused:
        current_runs(contest, fs, folds, patterns=["ridge-*", "lightgbm-*"], out=said.append)
    message = str(refused.value)
    for run in old:
        assert f"{run.run_id}: {run.fold_hash}" in message
    for run in new:
        assert f"{run.run_id}: {folds.hash}  (current)" in message
    assert f"the current folds are {folds.hash}" in message and len(said) == 1
    # explicit patterns that pick only current runs are fine
    assert [r.run_id for r in current_runs(contest, fs, folds, patterns=[f"{new[0].run_id}"])] == [new[0].run_id]


def test_same_seed_same_cv_in_fresh_processes_and_folders_and_another_seed_another(tmp_path):
    """Stage 04 in three fresh contest folders, each in its own process with its own hash seed: the same
    seed gives the same run byte for byte; the control, another seed, gives another CV."""
    train, test = make_steam(300, 200, seed=1)
    found = {}
    for name, seed, hash_seed in (("a", 42, "1"), ("b", 42, "2"), ("c", 43, "1")):
        config = {"competition": {"name": "steam", "task": "regression", "metric": "mse"},
                  "data": {"train": "data/raw/train.txt", "test": "data/raw/test.txt", "sep": "\t", "target": "target"},
                  "folds": {"scheme": "kfold", "n_splits": 3, "seed": 0},
                  "features": [{"name": "drop_shifted", "params": {"threshold": 0.3}}],
                  "models": [{"name": "lightgbm", "params": {"n_estimators": 60, "learning_rate": 0.1}}],
                  "seed": seed}
        root = write_contest(tmp_path / name, config, train, test, sep="\t", stages_from=STAGES)
        result = run_script(root / "stages" / "04_train.py", env={"PYTHONHASHSEED": hash_seed})
        assert result.returncode == 0, result.stderr[-3000:]
        (run,) = RunStore(root / "runs").runs()
        found[name] = run
    a, b, c = found["a"], found["b"], found["c"]
    assert a.run_id == b.run_id and a.score == b.score
    assert (a.path / "oof.npy").read_bytes() == (b.path / "oof.npy").read_bytes()
    assert (a.path / "test.npy").read_bytes() == (b.path / "test.npy").read_bytes()
    assert c.score != a.score and not np.array_equal(c.oof, a.oof)


def test_runs_made_with_and_without_repeats_are_never_blended(regression_contest):
    old = _train_all(regression_contest)
    before = Contest.load(regression_contest)
    fs_before = before.features(log=lambda _: None)
    config = yaml.safe_load((regression_contest / "config.yaml").read_text())
    config["folds"]["n_repeats"] = 2
    (regression_contest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    new = _train_all(regression_contest)
    contest = Contest.load(regression_contest)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    assert folds.n_repeats == 2 and np.array_equal(folds.assignment, before.folds().assignment)
    assert fs.key == fs_before.key  # the features are those of the primary folds: not rebuilt
    assert {r.fold_hash for r in new} == {folds.hash} and folds.hash != old[0].fold_hash
    assert all(r.meta["n_repeats"] == 2 and len(r.meta["repeat_scores"]) == 2 for r in new)
    assert all(len(r.meta["fit_seconds"]) == 6 and len(r.meta["fold_scores"]) == 3 for r in new)
    said = []
    assert sorted(r.run_id for r in current_runs(contest, fs, folds, out=said.append)) == sorted(r.run_id for r in new)
    assert said[0].startswith("left out 2 run(s)")
    with pytest.raises(FoldMismatchError, match="different folds"):
        current_runs(contest, fs, folds, patterns=[old[0].run_id, new[0].run_id], out=said.append)
    from common.runs.store import check_same_folds

    with pytest.raises(FoldMismatchError):
        check_same_folds([old[0], new[0]])
    ensemble_stage.main(contest, argparse.Namespace())  # stage 07 blends the repeated runs on the primary folds
    table = pd.read_csv(contest.reports_dir / "ensemble_comparison.csv")
    assert set(table.loc[table["kind"] == "single", "strategy"]) == {r.run_id for r in new}


def test_stage_07_hands_the_features_to_multilayer_stacking(regression_contest):
    config = yaml.safe_load((regression_contest / "config.yaml").read_text())
    config["ensemble"] = {"strategies": [{"name": "mean"}, {"name": "multilayer", "params": {"inner_splits": 3}}]}
    (regression_contest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    runs = _train_all(regression_contest)
    contest = Contest.load(regression_contest)
    ensemble_stage.main(contest, argparse.Namespace())
    table = pd.read_csv(contest.reports_dir / "ensemble_comparison.csv").set_index("strategy")
    assert table.loc["multilayer", "nested"] == "yes" and table.loc["multilayer", "kind"] == "ensemble"
    assert set(table.index) == {"mean", "multilayer", *(r.run_id for r in runs)}
