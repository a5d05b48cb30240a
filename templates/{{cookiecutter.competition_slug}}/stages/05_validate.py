"""Stage 05 - validate: fold spread, OOF diagnostics, learning curve and a hold-out check per run."""
from common.cli import run_stage
from common.pipeline import current_runs
from common.validation import validation_report


def main(contest, args):
    features, folds = contest.features(log=lambda _: None), contest.folds()
    runs = current_runs(contest, folds)
    path = validation_report(runs, features.X, features.y, folds, contest.metric, contest.task,
                             contest.reports_dir, seed=contest.config.seed, n_classes=contest.n_classes(features.y))
    print(f"validation report: {path}")


if __name__ == "__main__":
    run_stage(main, __file__, __doc__)
