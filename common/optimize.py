"""Hyperparameter search with Optuna: TPE sampling, pruning fold by fold, a study kept in a database.

The study lives in SQLite inside the contest folder by default, so a search can be stopped and
resumed; any SQLAlchemy URL (e.g. postgresql://...) lets several processes share one study.
The trial budget is a total over all sessions: rerunning continues up to `n_trials`.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.config import Component
from common.errors import ConfigError, did_you_mean
from common.faults import checkpoint, pid_alive
from common.data.io import stable_hash
from common.progress import progress as progress_bar
from common.runs.train import CVContext, CVResult, fit_oof

# {param: {type: float|int|categorical, low, high, log, choices}}
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "lightgbm": {
        "learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True},
        "num_leaves": {"type": "int", "low": 4, "high": 128, "log": True},
        "min_child_samples": {"type": "int", "low": 5, "high": 100, "log": True},
        "feature_fraction": {"type": "float", "low": 0.3, "high": 1.0},
        "bagging_fraction": {"type": "float", "low": 0.5, "high": 1.0},
        "lambda_l1": {"type": "float", "low": 1e-8, "high": 10.0, "log": True},
        "lambda_l2": {"type": "float", "low": 1e-8, "high": 10.0, "log": True},
    },
    "xgboost": {
        "eta": {"type": "float", "low": 0.01, "high": 0.1, "log": True},
        "max_depth": {"type": "int", "low": 2, "high": 10},
        "min_child_weight": {"type": "float", "low": 0.1, "high": 20.0, "log": True},
        "subsample": {"type": "float", "low": 0.5, "high": 1.0},
        "colsample_bytree": {"type": "float", "low": 0.3, "high": 1.0},
        "reg_lambda": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
    },
    "catboost": {
        "learning_rate": {"type": "float", "low": 0.02, "high": 0.15, "log": True},
        "depth": {"type": "int", "low": 3, "high": 9},
        "l2_leaf_reg": {"type": "float", "low": 0.5, "high": 20.0, "log": True},
    },
    "ridge": {"alpha": {"type": "float", "low": 1e-3, "high": 100.0, "log": True}},
    "lasso": {"alpha": {"type": "float", "low": 1e-5, "high": 1.0, "log": True}},
    "elasticnet": {"alpha": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
                   "l1_ratio": {"type": "float", "low": 0.05, "high": 0.95}},
    "logistic": {"C": {"type": "float", "low": 1e-3, "high": 100.0, "log": True}},
    "svr": {"C": {"type": "float", "low": 0.05, "high": 20.0, "log": True},
            "epsilon": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
            "gamma": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
    "kernel_ridge": {"alpha": {"type": "float", "low": 1e-2, "high": 10.0, "log": True},
                     "gamma": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
    "mlp": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
            "hidden": {"type": "categorical", "choices": [[64], [128, 64], [256, 128], [256, 128, 64]]}},
}


def space_for(model: str, override: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The search space of a model: the config's `optimize.space` entries replace the defaults."""
    space = {**DEFAULT_SPACES.get(model, {}), **(override or {})}
    if not space:
        raise ConfigError(f"no search space for model {model!r}: give one under optimize.space in config.yaml "
                          f"(defaults exist for {sorted(DEFAULT_SPACES)}).{did_you_mean(model, DEFAULT_SPACES)}")
    return space


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    params = {}
    for name, dim in space.items():
        kind = dim.get("type", "float")
        if kind == "float":
            params[name] = trial.suggest_float(name, dim["low"], dim["high"], log=dim.get("log", False))
        elif kind == "int":
            params[name] = trial.suggest_int(name, dim["low"], dim["high"], log=dim.get("log", False))
        elif kind == "categorical":
            # Optuna stores categorical choices as JSON-safe scalars: index lists by their position.
            choices = dim["choices"]
            index = trial.suggest_categorical(name, list(range(len(choices))))
            params[name] = choices[index]
        else:
            raise ConfigError(f"optimize.space.{name}.type must be float, int or categorical; got {kind!r}")
    return params


def encode(params: dict[str, Any], space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The part of `params` that lies inside `space`, as trial values (categorical choices by index)."""
    out = {}
    for name, dim in space.items():
        if name not in params:
            continue
        value = params[name]
        if dim.get("type", "float") == "categorical":
            if value in dim["choices"]:
                out[name] = dim["choices"].index(value)
        elif dim["low"] <= value <= dim["high"]:
            out[name] = value
    return out


def start_params(spec: Component, runs: list) -> dict[str, Any]:
    """Where a search of `spec` should start: the model's defaults under the best run of the same model."""
    from common.models import MODELS

    defaults = dict(getattr(MODELS.get(spec.name), "defaults", {}))
    same = [r for r in runs if r.meta["model"]["name"] == spec.name]
    if not same:
        return {**defaults, **spec.params}
    sign = 1 if same[0].meta.get("direction") == "maximize" else -1
    best = max(same, key=lambda r: sign * r.score)
    return {**defaults, **best.meta["model"].get("params", {})}


def decode(params: dict[str, Any], space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Trial params as the model takes them (categorical indices back to their values)."""
    return {k: space[k]["choices"][v] if space.get(k, {}).get("type") == "categorical" else v for k, v in params.items()}


@dataclass
class Search:
    study: Any  # optuna.Study
    best_result: CVResult | None  # the best trial's CV, when that trial ran in this session: storing it saves a refit


def search(spec: Component, X: Any, y: np.ndarray, X_test: Any, cv: CVContext, storage: str, study_name: str,
           n_trials: int, timeout_s: float | None = None, space: dict | None = None, warmup_folds: int = 1,
           progress: bool = True, start: dict[str, Any] | None = None, clock: Any = time.monotonic) -> Search:
    """Run (or resume) a study of `spec`'s params, each trial cross-validated on `cv`, until it holds
    `n_trials` finished trials or `timeout_s` passes.

    The time budget is checked after every fold, not only between trials (one LightGBM trial can take
    a minute): once it is spent, the trial in progress stops there, recorded as pruned with
    `stopped: time budget`, unless the study has no finished trial yet.
    `start`: known-good params (e.g. the best stage-04 run of the model) tried first in a new study, so
    the search explores from there and never ends worse than what is already known. `clock`: monotonic
    seconds for the budget (a test passes a fake one).
    """
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folds, metric, seed = cv.folds, cv.metric, cv.seed
    deadline = None if timeout_s is None else clock() + timeout_s
    dims = space_for(spec.name, space)
    study = _open_study(
        storage=storage, study_name=study_name, load_if_exists=True,
        direction="maximize" if metric.greater_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=fold_median_pruner(n_startup_trials=5, n_warmup_steps=warmup_folds),
    )

    worker = f"{socket.gethostname()}:{os.getpid()}"
    retry_dead_trials(study)
    if start and not study.trials:
        first = encode(start, dims)
        if first:
            study.enqueue_trial(first)
    # A resumed study (or a second worker) must not replay the same random draws: offset the seed by the
    # trials already there, and by the worker when the storage is shared. A fresh single study keeps `seed`.
    existing = len(study.trials)
    shared = not storage.startswith("sqlite")
    if existing or shared:
        study.sampler = optuna.samplers.TPESampler(seed=int(stable_hash(seed, existing, worker if shared else "", length=8), 16))
    best: list[tuple[int, CVResult]] = []  # (trial number, CV) of this session's best finished trial

    def objective(trial):
        # Which process ran the trial: with a shared (e.g. PostgreSQL) study, shows every worker contributed.
        trial.set_user_attr("worker", worker)
        params = {**spec.params, **suggest(trial, dims)}

        def report(fold: int, running: float) -> None:
            trial.report(running, fold)
            # After the last fold the trial is finished: keep its full CV rather than discard it.
            if fold == folds.n_fits - 1:
                return
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {fold}")
            if deadline is not None and clock() > deadline and study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                trial.set_user_attr("stopped", "time budget")
                study.stop()
                raise optuna.TrialPruned(f"time budget of {timeout_s:g} s spent after fold {fold}")

        result = fit_oof(Component(name=spec.name, params=params), X, y, X_test, cv, on_fold=report, progress=progress)
        if not best or metric.is_better(result.score, best[0][1].score):
            best[:] = [(trial.number, result)]
        return result.score

    done = len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)))
    remaining = max(n_trials - done, 0)
    if remaining:
        # Our bar, not Optuna's: Optuna's tqdm floods a redirected log with carriage-return redraws.
        with progress_bar(total=remaining, desc=f"{spec.name} search", enabled=progress) as bar:
            def tick(study, trial) -> None:
                bar.update()
                if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                    bar.set_postfix(best=study.best_value)
                checkpoint(f"trial:{trial.number}")

            study.optimize(objective, n_trials=remaining, timeout=timeout_s, show_progress_bar=False,
                           callbacks=[MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)), tick])
    mine = bool(best) and study.best_trial.number == best[0][0]  # best holds a finished trial, so best_trial exists
    return Search(study, best[0][1] if mine else None)


def retry_dead_trials(study) -> int:
    """Trials left running by a killed process of this machine: marked failed, their params queued again.

    Optuna keeps such a trial RUNNING forever; the study's budget counts finished trials only, so the
    search would go on, but the killed trial's params (the known-good start, say) would never be tried.
    A trial of a live process, or of another machine sharing the storage, is left alone. Returns how many.
    """
    from optuna.trial import TrialState

    host, retried = socket.gethostname(), 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        where, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if where == host and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            study.tell(trial.number, state=TrialState.FAIL)
            if trial.params:
                study.enqueue_trial(trial.params, skip_if_exists=False)
            retried += 1
    return retried


def fold_median_pruner(n_startup_trials: int = 5, n_warmup_steps: int = 1):
    """Prune a trial whose running CV after fold k is worse than the median of finished trials after fold k.

    Optuna's MedianPruner compares a trial's *best* value over its steps, which suits learning curves;
    a running CV mean is not one: the first fold (easy or hard) decides, and on steam, whose fold 0
    is easy, no trial was ever pruned. Only the current step is compared here.
    """
    import optuna
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    class FoldMedianPruner(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            step = trial.last_step
            if step is None or step < n_warmup_steps:
                return False
            finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if len(finished) < n_startup_trials:
                return False
            others = [t.intermediate_values[step] for t in finished if step in t.intermediate_values]
            if not others:
                return False
            value, median = trial.intermediate_values[step], float(np.median(others))
            return value < median if study.direction == StudyDirection.MAXIMIZE else value > median

    return FoldMedianPruner()


def _open_study(attempts: int = 5, **kwargs: Any):
    """optuna.create_study, retried: workers started together on an empty database race to create its
    tables ("already exists" / duplicate key errors, optuna issue #1092); the loser finds them made."""
    import time

    import optuna
    from sqlalchemy.exc import DBAPIError

    for attempt in range(attempts):
        try:
            return optuna.create_study(**kwargs)
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def best_params(study, spec: Component, space: dict | None = None) -> dict[str, Any]:
    """The spec's fixed params overlaid with the study's best trial."""
    return {**spec.params, **decode(study.best_params, space_for(spec.name, space))}
