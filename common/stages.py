"""The seven stages, each a function `stage(contest, args)` that a contest's stage script calls.

A stage script is a few lines (`run_stage(stages.train, __file__)`); to customise a stage, copy its
function into the script and edit it there. Options each stage takes from the command line are
listed in OPTIONS.
"""
from __future__ import annotations

from common.config import Component


def understanding(contest, args) -> None:
    """Stage 01 - understanding: print the task card (roles of every column included) and save it."""
    from common.understanding import write_task_card

    card, path = write_task_card(contest)
    print(card.to_markdown())
    print(f"task card: {path}")


def eda(contest, args) -> None:
    """Stage 02 - EDA: distributions, train/test shift, correlations, missing values, adversarial validation."""
    from common.eda import eda_report

    print(f"EDA report: {eda_report(contest)}")


def features(contest, args) -> None:
    """Stage 03 - features: make the folds (once per data) and build the feature tables config.yaml lists."""
    fs = contest.features()
    folds = contest.folds()
    kinds = fs.X.dtypes.map(lambda t: "categorical" if str(t) == "category" else "text" if t == object or str(t) == "str"
                            else "numeric").value_counts()
    print(f"features: {fs.X.shape[1]} columns ({', '.join(f'{n} {k}' for k, n in kinds.items())}), "
          f"{len(fs.X)} train rows, {len(fs.X_test)} test rows")
    print(f"folds: {folds.scheme}, {folds.n_splits} splits, hash {folds.hash}")


def train(contest, args) -> None:
    """Stage 04 - train: cross-validate every model in config.yaml; one run (OOF + test predictions) each."""
    from common.pipeline import train_model

    fs, folds = contest.features(), contest.folds()
    for spec in contest.config.models:
        if args.only and spec.run_label not in args.only:
            continue
        run, reused = train_model(contest, spec, fs, folds, force=args.force)
        scores = " ".join(f"{s:.5f}" for s in run.meta["fold_scores"])
        print(f"{run.run_id:<28} CV {contest.metric.name} {run.score:.5f} ± {run.meta['cv_std']:.5f}  "
              f"folds [{scores}]  {sum(run.meta['fit_seconds']):.1f}s{'  (reused)' if reused else ''}")


def validate(contest, args) -> None:
    """Stage 05 - validate: fold spread, OOF diagnostics, learning curve and a hold-out check per run."""
    from common.pipeline import current_runs
    from common.validation import validation_report

    fs, folds = contest.features(log=lambda _: None), contest.folds()
    runs = current_runs(contest, fs, folds)
    path = validation_report(runs, fs.X, fs.y, contest.cv(fs, folds), contest.reports_dir)
    print(f"validation report: {path}")


def optimize(contest, args) -> None:
    """Stage 06 - optimize: feature selection (if configured), then a resumable Optuna search.

    The best params become a run, re-measured on a second fold split beside the untuned ones (common.recheck).
    """
    from common.optimize import best_params, search, start_params
    from common.pipeline import train_model
    from common.recheck import recheck_tuned
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


def ensemble(contest, args) -> None:
    """Stage 07 - ensemble: compare every strategy on the same folds, write the chosen blend's submission."""
    from common.ensemble import compare
    from common.pipeline import current_runs, save_comparison
    from common.recheck import honest_runs, second_split_scores
    from common.submission import (build_submission, choose_threshold, predictions_to_values, spec_for,
                                   write_submission)
    from common.submit import write_provenance

    cfg = contest.config
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    runs = honest_runs(current_runs(contest, fs, folds))
    table, results = compare(runs, fs.y, folds, contest.metric, contest.task, cfg.ensemble.strategies, cfg.seed)
    rechecked = second_split_scores(runs)
    if rechecked:  # both figures of a tuned run: on the search's folds (optimistic) and on a second split
        table["second_split"] = table["strategy"].map(rechecked)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
    csv, png = save_comparison(contest, table)
    print(f"comparison: {csv}, {png}  (nested = weights/meta-model fitted inside each fold)")
    choice = table["strategy"].iloc[0] if cfg.ensemble.choose == "best" else cfg.ensemble.choose
    if choice not in results:
        from common.errors import ConfigError, did_you_mean

        raise ConfigError(f"ensemble.choose {choice!r} is not among the strategies and runs compared: "
                          f"{sorted(results)}.{did_you_mean(choice, results)}")
    train_raw, test = contest.load_raw()
    spec = spec_for(contest, test, train_raw)
    chosen = results[choice]
    threshold = 0.5
    if spec.kind == "label" and contest.task == "binary":
        threshold, score = choose_threshold(fs.y, chosen.oof, contest.metric)
        print(f"labels: P(y={fs.classes[1]!r}) >= {threshold:.4f}, the threshold that scores best on the OOF "
              f"predictions ({contest.metric.name} {score:.5f}; {chosen.score:.5f} at 0.5)")
    values = predictions_to_values(chosen.test, contest.task, spec.kind, fs.classes, threshold)
    path = write_submission(build_submission(values, spec, test), spec, contest.submissions_dir / cfg.submission.file_name)
    used = [choice] if choice in {r.run_id for r in runs} else [r.run_id for r in runs]
    write_provenance(path, strategy=choice, cv_score=chosen.score, metric=contest.metric.name,
                     runs=used, fold_hash=folds.hash)  # `compkit submit` puts these in the upload's message
    print(f"chosen: {choice} (CV {contest.metric.name} {chosen.score:.5f}); submission of {spec.kind}s")
    print(path)


OPTIONS = {
    train: [
        ("--only", {"nargs": "*", "help": "train only these model labels"}),
        ("--force", {"action": "store_true", "help": "retrain even if an identical run exists"}),
    ],
    optimize: [
        ("--trials", {"type": int, "help": "override optimize.n_trials (a total over resumed sessions)"}),
        ("--timeout", {"type": float, "help": "override optimize.timeout_s (seconds for this session)"}),
        ("--no-selection", {"action": "store_true", "help": "skip the feature selection this time"}),
    ],
}
