"""Stage 06 - optimize: feature selection (if configured), then a resumable Optuna search; the best params become a run.

The selection writes reports/feature_importance.{csv,png} and reports/selected_features.json, which the
`select_features` feature step (listed last under features:) applies in stage 04 and in this stage's search.
"""
from common.cli import run_stage
from common.config import Component
from common.optimize import best_params, search, start_params
from common.pipeline import train_model
from common.selection import select_contest_features


def main(contest, args):
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
    features, folds = contest.features(log=lambda _: None), contest.folds()
    storage = opt.storage or f"sqlite:///{contest.root / 'optuna.db'}"
    name = opt.study_name or f"{opt.model.run_label}-{folds.hash}-{features.key}"
    found = search(opt.model, features.X, features.y, features.X_test, folds, contest.metric, contest.task, storage,
                   name, n_trials, timeout_s, contest.config.seed, opt.space, contest.n_classes(features.y),
                   contest.config.train.filter, opt.pruner_warmup_folds,
                   start=start_params(opt.model, contest.store.runs(fold_hash=folds.hash)))
    study = found.study
    pruned = sum(t.state.name == "PRUNED" for t in study.trials)
    print(f"study {name}: {len(study.trials)} trials ({pruned} pruned), best CV {study.best_value:.5f}")
    spec = Component(name=opt.model.name, params=best_params(study, opt.model, opt.space), label=f"{opt.model.run_label}-optuna")
    # the best trial's predictions are stored as they are when it ran in this session; else it is refitted
    run, _ = train_model(contest, spec, features, folds, result=found.best_result)
    print(f"{run.run_id}: CV {contest.metric.name} {run.score:.5f} with {spec.params}")


if __name__ == "__main__":
    run_stage(main, __file__, __doc__, [
        ("--trials", {"type": int, "help": "override optimize.n_trials (a total over resumed sessions)"}),
        ("--timeout", {"type": float, "help": "override optimize.timeout_s (seconds for this session)"}),
        ("--no-selection", {"action": "store_true", "help": "skip the feature selection this time"}),
    ])
