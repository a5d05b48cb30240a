"""Stage 06 - optimize: feature selection (if configured), then a resumable Optuna search."""
from __future__ import annotations

from common.config import Component


def main(contest, args) -> None:
    """Stage 06 - optimize: feature selection (if configured), then a resumable Optuna search.

    The best params become a run, re-measured on a second fold split beside the untuned ones (common.runs.recheck).
    With a time budget (config budget_s) the search gets at most what stage 04 left usable (common.runs.budget).
    """
    from common.runs.budget import stage_budget

    with stage_budget(contest, "06_optimize") as budget:
        _optimize(contest, args, budget)


def _optimize(contest, args, budget) -> None:
    from common.optimize import best_params, search, start_params
    from common.runs.pipeline import train_model
    from common.runs.recheck import recheck_tuned
    from common.selection import select_contest_features

    opt = contest.config.optimize
    if opt.selection is not None and not args.no_selection:
        sel, paths = select_contest_features(contest)
        kept = f"{sel.score_kept:.5f}" if sel.score_kept is not None else "not measured"
        print(f"selection ({sel.method}): kept {len(sel.kept)} of {len(sel.table)} features; CV {contest.metric.name} "
              f"{sel.score_all:.5f} with all, {kept} with the kept ones. Dropped: {', '.join(sel.dropped) or 'none'}")
        print(f"  {paths['table']}, {paths['plot']}; list for the select_features step: {paths['features']}")
    n_trials = opt.n_trials if args.trials is None else args.trials
    timeout_s = opt.timeout_s if args.timeout is None else args.timeout
    if opt.model is None or n_trials == 0:
        print("optimize: search skipped (set optimize.model and optimize.n_trials in config.yaml)")
        return
    if budget is not None:
        if budget.usable <= 0:
            print(f"optimize: search skipped, the time budget is spent ({budget.describe()}, kept for stages 05 and 07)")
            return
        timeout_s = budget.usable if timeout_s is None else min(timeout_s, budget.usable)
        print(f"optimize: the search gets up to {timeout_s:.0f} s ({budget.describe()})")
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    storage = opt.storage or f"sqlite:///{contest.root / 'optuna.db'}"
    name = opt.study_name or f"{opt.model.run_label}-{contest.run_key(fs, folds)}"
    known = contest.store.runs(key=contest.run_key(fs, folds))
    found = search(opt.model, fs.X, fs.y, fs.X_test, contest.cv(fs, folds), storage, name, n_trials, timeout_s,
                   opt.space, opt.pruner_warmup_folds, start=start_params(opt.model, known))
    study = found.study
    pruned = sum(t.state.name == "PRUNED" for t in study.trials)
    print(f"study {name}: {len(study.trials)} trials ({pruned} pruned), best CV {study.best_value:.5f}")
    spec = Component(name=opt.model.name, params=best_params(study, opt.model, opt.space),
                     label=f"{opt.model.run_label}-optuna")
    # the best trial's predictions are stored as they are when it ran in this session; else it is refitted
    run, _ = train_model(contest, spec, fs, folds, result=found.best_result)
    print(f"{run.run_id}: CV {contest.metric.name} {run.score:.5f} with {spec.params}")
    check = recheck_tuned(contest, run, opt.model, fs, folds)
    verdict = "the tuning holds" if check["holds"] else "the tuning does not hold up: stage 07 leaves the tuned run out"
    print(f"re-measured on a second fold split (seed {check['seed']}): tuned {check['tuned']:.5f}, "
          f"untuned {check['untuned']:.5f} -> {verdict}")


OPTIONS = [
    ("--trials", {"type": int, "help": "override optimize.n_trials (a total over resumed sessions)"}),
    ("--timeout", {"type": float, "help": "override optimize.timeout_s (seconds for this session)"}),
    ("--no-selection", {"action": "store_true", "help": "skip the feature selection this time"}),
]
