"""Stage 04 - train: cross-validate every model in config.yaml; one run (OOF + test predictions) each."""
from __future__ import annotations


def main(contest, args) -> None:
    """Stage 04 - train: cross-validate every model in config.yaml; one run (OOF + test predictions) each."""
    from common.runs.pipeline import train_model

    fs, folds = contest.features(), contest.folds()
    for spec in contest.config.models:
        if args.only and spec.run_label not in args.only:
            continue
        run, reused = train_model(contest, spec, fs, folds, force=args.force)
        scores = " ".join(f"{s:.5f}" for s in run.meta["fold_scores"])
        print(f"{run.run_id:<28} CV {contest.metric.name} {run.score:.5f} ± {run.meta['cv_std']:.5f}  "
              f"folds [{scores}]  {sum(run.meta['fit_seconds']):.1f}s{'  (reused)' if reused else ''}")


OPTIONS = [
    ("--only", {"nargs": "*", "help": "train only these model labels"}),
    ("--force", {"action": "store_true", "help": "retrain even if an identical run exists"}),
]
