"""Stage 05 - validate: fold spread, OOF diagnostics, learning curve and a hold-out check per run."""
from __future__ import annotations


def main(contest, args) -> None:
    """Stage 05 - validate: fold spread, OOF diagnostics, learning curve and a hold-out check per run."""
    from common.runs.budget import stage_budget
    from common.runs.pipeline import current_runs
    from common.reports.validation import validation_report

    with stage_budget(contest, "05_validate"):  # counted against the budget (config budget_s), if any
        fs, folds = contest.features(log=lambda _: None), contest.folds()
        runs = current_runs(contest, fs, folds)
        path = validation_report(runs, fs.X, fs.y, contest.cv(fs, folds), contest.reports_dir)
        print(f"validation report: {path}")


OPTIONS: list = []
