import numpy as np
import pandas as pd
import pytest

from common.config import Component
from common.errors import ConfigError
from common.data.folds import make_folds
from common.metrics import get_metric
from common.optimize import best_params, fold_median_pruner, search, space_for, start_params
from common.runs.train import CVContext, fit_oof


def _problem(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{i}" for i in range(6)])
    y = X.to_numpy() @ np.array([1.0, -2, 0.5, 0, 0, 1]) + rng.normal(scale=0.3, size=n)
    return X, y, make_folds(n, "kfold", 4, seed=0)


# alpha spans tiny (good) to huge (useless), so the pruner has clearly bad trials to stop early
SPACE = {"alpha": {"type": "float", "low": 1e-3, "high": 1e5, "log": True}}


def _search(tmp_path, n_trials, name="ridge-study", **kwargs):
    X, y, folds = _problem()
    cv = CVContext(folds, get_metric("mse"), "regression", seed=kwargs.pop("seed", 0))
    return search(Component(name="ridge"), X, y, X.iloc[:5], cv, f"sqlite:///{tmp_path / 'optuna.db'}", name, n_trials,
                  space=SPACE, progress=False, **kwargs).study


def test_search_finds_good_params_and_prunes_bad_trials(tmp_path):
    study = _search(tmp_path, 25)
    assert study.best_value < 0.2  # noise variance is 0.09; a huge alpha gives ~6
    assert best_params(study, Component(name="ridge"), SPACE)["alpha"] < 10
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, "bad trials should be stopped after their first folds"
    assert all(len(t.intermediate_values) < 4 for t in pruned)


def test_stopped_search_resumes_the_same_study(tmp_path):
    first = [t.params for t in _search(tmp_path, 4).trials]  # the study object reads the database live
    assert len(first) == 4
    resumed = _search(tmp_path, 9)  # the budget is a total: 5 more trials, not 9
    assert len(resumed.trials) == 9
    assert [t.params for t in resumed.trials[:4]] == first
    new = [t.params["alpha"] for t in resumed.trials[4:]]
    assert not set(new) & {p["alpha"] for p in first}  # the resumed sampler does not replay the first draws


def test_time_budget_stops_the_trial_in_progress_at_a_fold(tmp_path):
    """A clock that moves 1 s per look: the 2.5 s budget is spent during trial 0, which still finishes
    (the study needs one finished trial); trial 1 stops after its first fold, and no trial follows."""
    ticks = iter(range(10_000))
    study = _search(tmp_path, 25, timeout_s=2.5, clock=lambda: float(next(ticks)))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED"]
    cut = study.trials[1]
    assert cut.user_attrs["stopped"] == "time budget" and list(cut.intermediate_values) == [0]
    assert study.best_trial.number == 0


def test_best_trial_of_the_session_comes_back_with_its_predictions(tmp_path):
    X, y, folds = _problem()
    cv, url = CVContext(folds, get_metric("mse"), "regression"), f"sqlite:///{tmp_path / 'optuna.db'}"
    found = search(Component(name="ridge"), X, y, X.iloc[:5], cv, url, "s", 6, space=SPACE, progress=False)
    refit = fit_oof(Component(name="ridge", params=best_params(found.study, Component(name="ridge"), SPACE)),
                    X, y, X.iloc[:5], cv)
    assert found.best_result.score == found.study.best_value == refit.score
    np.testing.assert_array_equal(found.best_result.oof, refit.oof)
    np.testing.assert_array_equal(found.best_result.test, refit.test)
    # resumed with only useless alphas to try (and no pruning), this session's one trial finishes worse than
    # an earlier session's best: nothing of that best is in memory, so the caller refits
    useless = {"alpha": {"type": "float", "low": 1e4, "high": 1e5, "log": True}}
    resumed = search(Component(name="ridge"), X, y, X.iloc[:5], cv, url, "s", 7, space=useless, progress=False, warmup_folds=folds.n_splits)
    assert resumed.study.trials[6].state.name == "COMPLETE" and resumed.study.best_trial.number < 6
    assert resumed.best_result is None


def test_same_seed_same_search_and_another_seed_another(tmp_path):
    for name in "abc":
        (tmp_path / name).mkdir()
    a = [t.params for t in _search(tmp_path / "a", 5).trials]
    b = [t.params for t in _search(tmp_path / "b", 5).trials]
    assert a == b
    c = [t.params for t in _search(tmp_path / "c", 5, seed=1).trials]
    assert c != a  # the control: a seed that never reached the sampler would pass the above


def test_spaces_have_defaults_and_unknown_models_need_one():
    assert {"learning_rate", "num_leaves"} <= set(space_for("lightgbm"))
    assert space_for("lightgbm", {"num_leaves": {"type": "int", "low": 2, "high": 4}})["num_leaves"]["high"] == 4
    with pytest.raises(ConfigError, match="optimize.space"):
        space_for("no_such_model")


def test_pruner_compares_the_running_cv_at_the_same_fold():
    """A running CV mean starts at the first fold's score: an easy first fold must not shield a bad trial."""
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", pruner=fold_median_pruner(n_startup_trials=3))
    for value in (0.100, 0.101, 0.102):
        study.add_trial(optuna.trial.create_trial(
            params={"x": value}, distributions={"x": FloatDistribution(0, 1)}, value=value,
            intermediate_values={0: 0.09, 1: value, 2: value}))
    bad, good = study.ask(), study.ask()
    for trial, after_fold1 in ((bad, 0.12), (good, 0.1005)):
        trial.report(0.085, 0)  # an easy first fold for both
        assert not trial.should_prune()  # warm-up: never at the first fold
        trial.report(after_fold1, 1)
    assert bad.should_prune() and not good.should_prune()


def test_search_starts_from_known_good_params(tmp_path):
    X, y, folds = _problem()
    study = search(Component(name="ridge"), X, y, X.iloc[:5], CVContext(folds, get_metric("mse"), "regression"),
                   f"sqlite:///{tmp_path / 'optuna.db'}", "warm", 3, space=SPACE, progress=False,
                   start={"alpha": 0.37, "unrelated": 1}).study
    assert study.trials[0].params == {"alpha": 0.37}
    # the start is tried as given: trial 0 scores exactly what a plain CV of those params scores
    X, y, folds = _problem()
    start = fit_oof(Component(name="ridge", params={"alpha": 0.37}), X, y, X.iloc[:5],
                    CVContext(folds, get_metric("mse"), "regression"), progress=False)
    assert study.trials[0].value == start.score
    # a resumed study has its start already: another one is not queued again
    resumed = search(Component(name="ridge"), X, y, X.iloc[:5], CVContext(folds, get_metric("mse"), "regression"),
                     f"sqlite:///{tmp_path / 'optuna.db'}", "warm", 5, space=SPACE, progress=False,
                     start={"alpha": 50.0}).study
    assert len(resumed.trials) == 5 and all(t.params["alpha"] != 50.0 for t in resumed.trials)


def test_start_params_take_the_best_run_of_the_same_model_over_its_defaults():
    from types import SimpleNamespace

    def run(name, score, **params):
        return SimpleNamespace(meta={"model": {"name": name, "params": params}, "direction": "minimize"}, score=score)

    runs = [run("lightgbm", 0.2, num_leaves=7), run("lightgbm", 0.1, num_leaves=15), run("ridge", 0.05, alpha=1.0)]
    start = start_params(Component(name="lightgbm"), runs)
    assert start["num_leaves"] == 15 and start["feature_fraction"] == 0.8  # best run's value, then the default
    assert start_params(Component(name="ridge", params={"alpha": 3.0}), [])["alpha"] == 3.0
