"""Stage 07 - ensemble: compare every strategy on the same folds, write the chosen blend's submission."""
from common.cli import run_stage
from common.ensemble import compare
from common.pipeline import current_runs, save_comparison
from common.submission import build_submission, predictions_to_values, spec_for, write_submission
from common.submit import write_provenance


def main(contest, args):
    cfg = contest.config
    features, folds = contest.features(log=lambda _: None), contest.folds()
    runs = current_runs(contest, folds)
    table, results = compare(runs, features.y, folds, contest.metric, contest.task, cfg.ensemble.strategies, cfg.seed)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
    csv, png = save_comparison(contest, table)
    print(f"comparison: {csv}, {png}  (nested = weights/meta-model fitted inside each fold)")
    choice = table["strategy"].iloc[0] if cfg.ensemble.choose == "best" else cfg.ensemble.choose
    if choice not in results:
        raise SystemExit(f"ensemble.choose {choice!r} is not among {sorted(results)}")
    _, test = contest.load_raw()
    spec = spec_for(contest, test)
    values = predictions_to_values(results[choice].test, contest.task)
    path = write_submission(build_submission(values, spec, test), spec, contest.submissions_dir / cfg.submission.file_name)
    used = [choice] if choice in {r.run_id for r in runs} else [r.run_id for r in runs]
    write_provenance(path, strategy=choice, cv_score=results[choice].score, metric=contest.metric.name,
                     runs=used, fold_hash=folds.hash)  # `compkit submit` puts these in the upload's message
    print(f"chosen: {choice} (CV {contest.metric.name} {results[choice].score:.5f})")
    print(path)


if __name__ == "__main__":
    run_stage(main, __file__, __doc__)
