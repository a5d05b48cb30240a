"""Stage 02 - EDA: distributions, train/test shift, correlations, missing values, adversarial validation."""
from __future__ import annotations


def main(contest, args) -> None:
    """Stage 02 - EDA: distributions, train/test shift, correlations, missing values, adversarial validation."""
    from common.reports.eda import eda_report

    print(f"EDA report: {eda_report(contest)}")


OPTIONS: list = []
