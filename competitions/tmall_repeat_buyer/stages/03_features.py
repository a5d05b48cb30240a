"""Stage 03 - features: make the folds (once) and build the feature tables listed in config.yaml."""
from common.cli import run_stage


def main(contest, args):
    features = contest.features()
    folds = contest.folds()
    print(f"features: {features.X.shape[1]} columns, {len(features.X)} train rows, {len(features.X_test)} test rows")
    print(f"folds: {folds.scheme}, {folds.n_splits} splits, hash {folds.hash}")


if __name__ == "__main__":
    run_stage(main, __file__, __doc__)
