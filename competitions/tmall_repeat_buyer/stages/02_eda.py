"""Stage 02 - EDA: distributions, train/test shift, correlations, missing values, adversarial validation."""
from common.cli import run_stage
from common.eda import eda_report


def main(contest, args):
    print(f"EDA report: {eda_report(contest)}")


if __name__ == "__main__":
    run_stage(main, __file__, __doc__)
