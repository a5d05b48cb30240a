"""The time budget of stages 04-07 (common.runs.budget), on a clock the tests drive: time passes only in fits."""
import argparse
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from common.config import Component
from common.contest import Contest
from common.data.folds import make_folds
from common.errors import BudgetSpent
from common.metrics import get_metric
from common.runs import train as train_module
from common.runs.train import CVContext, fit_oof
from common.stages import ensemble as ensemble_stage
from common.stages import optimize as optimize_stage
from common.stages import train as train_stage


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    """A fake clock for the budget; each fit advances it by its model's cost (seconds per fit)."""
    import common.runs.budget as budget_module

    fake, costs = Clock(), {}
    real_fit_fold = train_module.fit_fold

    def fit_fold(spec, *args, **kwargs):
        fake.t += costs.get(spec.name, 0.0)
        return real_fit_fold(spec, *args, **kwargs)

    monkeypatch.setattr(train_module, "fit_fold", fit_fold)
    monkeypatch.setattr(budget_module, "clock", fake)
    fake.costs = costs
    return fake


def _data(n=120):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=list("abc"))
    return X, X["a"].to_numpy() + rng.normal(scale=0.1, size=n)


def test_a_fit_that_would_overrun_its_deadline_stops_between_folds_and_returns_nothing(clock):
    X, y = _data()
    cv = CVContext(make_folds(len(y), "kfold", 3, seed=0, n_repeats=2), get_metric("mse"), "regression")
    fits = []
    clock.costs["ridge"] = 10.0
    done = fit_oof(Component(name="ridge"), X, y, X, cv, progress=False, deadline=65.0, clock=clock,
                   on_fold=lambda i, _: fits.append(i))
    assert fits == list(range(6)) and clock.t == 60.0 and done.oof.shape == (len(y),)  # 6 fits of 10 s fit in 65
    clock.t = 0.0
    fits.clear()
    clock.costs["ridge"] = 5.0

    def slower_from_the_second_repeat(i, _):
        fits.append(i)
        if i == 2:
            clock.costs["ridge"] = 20.0

    # the pace leaves the first fit out: (5 + 5 + 20) / 3 s a fit, so the last two would take 20 s of the 15 left
    with pytest.raises(BudgetSpent, match=r"stopped after 4 of 6 fits: the rest would take ~20 s and 15 s"):
        fit_oof(Component(name="ridge"), X, y, X, cv, progress=False, deadline=50.0, clock=clock,
                on_fold=slower_from_the_second_repeat)
    assert fits == [0, 1, 2, 3]  # stopped between two fits, as soon as the pace said the rest cannot fit
    clock.t = 0.0
    fits.clear()
    clock.costs["ridge"] = 40.0  # a first fit that pays a one-off cost (a corpus' vocabulary, a pre-training)

    def cheap_after_the_first(i, _):
        fits.append(i)
        clock.costs["ridge"] = 5.0

    fit_oof(Component(name="ridge"), X, y, X, cv, progress=False, deadline=70.0, clock=clock, on_fold=cheap_after_the_first)
    assert fits == list(range(6)) and clock.t == 65.0  # its 40 s did not count as the pace of the other five
    clock.t = 70.0
    with pytest.raises(BudgetSpent, match="not started"):
        fit_oof(Component(name="ridge"), X, y, X, cv, progress=False, deadline=55.0, clock=clock)
    assert clock.t == 70.0  # nothing was fitted


def _with(root, **sections):
    config = yaml.safe_load((root / "config.yaml").read_text())
    config.update(sections)
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def test_a_tiny_budget_keeps_the_finished_runs_and_stage_07_blends_them(regression_contest, clock, capsys):
    models = [{"name": "ridge"}, {"name": "lightgbm", "params": {"n_estimators": 20}},
              {"name": "ridge", "params": {"alpha": 5.0}, "label": "ridge_b"}]
    _with(regression_contest, models=models, budget_s=100)
    clock.costs.update({"ridge": 1.0, "lightgbm": 50.0})
    contest = Contest.load(regression_contest)
    train_stage.main(contest, argparse.Namespace(only=None, force=False))
    said = capsys.readouterr().out
    # shares of the 90 usable seconds (10 kept for stages 05 and 07): 30 each, then what the earlier left
    assert "budget: 100 s of the 100 s budget left" in said
    assert "ridge: up to 30 s (100 s of the 100 s budget left)" in said
    assert "lightgbm: up to 44 s (97 s of the 100 s budget left)" in said
    # its first fit (50 s) ran past its 44 s share: stopped there, whatever the pace
    assert "lightgbm: stopped after 1 of 3 fits: its share of the time budget is spent; nothing stored" in said
    assert "ridge_b: up to 37 s (47 s of the 100 s budget left)" in said
    runs = contest.store.runs()
    assert sorted(r.meta["model"]["label"] or r.meta["model"]["name"] for r in runs) == ["ridge", "ridge_b"]
    account = json.loads((contest.store.root / "budget.json").read_text())
    assert account == {"budget_s": 100.0, "spent_s": 56.0, "stages": {"04_train": 56.0}}

    ensemble_stage.main(Contest.load(regression_contest), argparse.Namespace())  # another stage: reads the account
    said = capsys.readouterr().out
    assert "budget: 44 s of the 100 s budget left" in said
    table = pd.read_csv(contest.reports_dir / "ensemble_comparison.csv")
    assert set(table.loc[table["kind"] == "single", "strategy"]) == {r.run_id for r in runs}
    assert (regression_contest / "submissions" / "sub.txt").is_file()

    # stage 04 again: the finished runs are reused (no time), the stopped model gets a share of what is left
    train_stage.main(Contest.load(regression_contest), argparse.Namespace(only=None, force=False))
    said = capsys.readouterr().out
    assert said.count("(reused)") == 2 and "lightgbm: stopped after 1 of 3 fits" in said
    assert json.loads((contest.store.root / "budget.json").read_text())["spent_s"] == 106.0

    # the budget is spent: stage 06 skips its search rather than run over
    _with(regression_contest, optimize={"model": {"name": "ridge"}, "n_trials": 3})
    optimize_stage.main(Contest.load(regression_contest), argparse.Namespace(trials=None, timeout=None, no_selection=True))
    assert "optimize: search skipped, the time budget is spent (0 s of the 100 s budget left" in capsys.readouterr().out
