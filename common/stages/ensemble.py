"""Stage 07 - ensemble: compare every strategy on the same folds, write the chosen blend's submission."""
from __future__ import annotations


def main(contest, args) -> None:
    """Stage 07 - ensemble: compare every strategy on the same folds, write the chosen blend's submission.

    Blends the runs that finished: under a time budget (config budget_s) a model stopped in stage 04 has none.
    """
    from common.runs.budget import stage_budget

    with stage_budget(contest, "07_ensemble"):  # counted against the budget, if any, which it shows
        _ensemble(contest, args)


def _ensemble(contest, args) -> None:
    from common.ensemble import compare
    from common.runs.pipeline import current_runs, save_comparison
    from common.runs.recheck import honest_runs, second_split_scores
    from common.submissions.files import (build_submission, choose_threshold, predictions_to_values, spec_for,
                                   write_submission)
    from common.submissions.upload import write_provenance

    cfg = contest.config
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    runs = honest_runs(current_runs(contest, fs, folds))
    table, results = compare(runs, fs.y, folds, contest.metric, contest.task, cfg.ensemble.strategies, cfg.seed,
                             X=fs.X, X_test=fs.X_test)  # the features: for multi-layer stacking's skip connections
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
    weights, cv_score = None, chosen.score
    if (spec.kind == "label" and contest.task == "multiclass" and contest.metric.needs == "label"
            and cfg.submission.class_weights == "auto"):
        from common.ensemble import nested_groups
        from common.submissions.class_weights import tune_class_weights

        # cross-fitted on the groups a learning blend uses (the folds), so the printed gain is not in-sample
        tuned = tune_class_weights(fs.y, chosen.oof, nested_groups(folds, cfg.seed), contest.metric)
        print(tuned.describe(contest.metric.name, fs.classes))
        if tuned.applied:
            weights, cv_score = tuned.weights, tuned.cross_fitted
    values = predictions_to_values(chosen.test, contest.task, spec.kind, fs.classes, threshold, weights)
    path = write_submission(build_submission(values, spec, test), spec, contest.submissions_dir / cfg.submission.file_name)
    used = [choice] if choice in {r.run_id for r in runs} else [r.run_id for r in runs]
    write_provenance(path, strategy=choice, cv_score=cv_score, metric=contest.metric.name,
                     runs=used, fold_hash=folds.hash)  # `compkit submit` puts these in the upload's message
    weighted = " with class weights, cross-fitted" if weights is not None else ""
    print(f"chosen: {choice} (CV {contest.metric.name} {cv_score:.5f}{weighted}); submission of {spec.kind}s")
    print(path)


OPTIONS: list = []
