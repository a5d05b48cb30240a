"""Runs never mix: stages 05-07 use only runs of the current features, target definition and folds;
a tuned run competes only when its tuning holds on a second fold split."""
import argparse

import pandas as pd
import pytest
import yaml

from common import stages
from common.contest import Contest
from common.errors import KitError
from common.pipeline import current_runs, prune_runs, train_model
from common.recheck import honest_runs


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

    stages.ensemble(contest, argparse.Namespace())
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
