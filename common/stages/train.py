"""Stage 04 - train: cross-validate every model in config.yaml; one run (OOF + test predictions) each."""
from __future__ import annotations


def main(contest, args) -> None:
    """Stage 04 - train: cross-validate every model in config.yaml; one run (OOF + test predictions) each.

    With a time budget (config budget_s) each model gets a share of what is left (common.runs.budget); one
    that would overrun it stops between folds and is not stored, and the next model goes on.
    """
    from common.errors import BudgetSpent
    from common.runs.budget import stage_budget
    from common.runs.pipeline import train_model

    with stage_budget(contest, "04_train") as budget:
        fs, folds = contest.features(), contest.folds()
        specs = [s for s in contest.config.models if not (args.only and s.run_label not in args.only)]
        opt = contest.config.optimize
        search = int(opt.model is not None and opt.n_trials > 0)  # stage 06's search gets a share too
        for i, spec in enumerate(specs):
            deadline = None
            if budget is not None:
                share = budget.share(len(specs) - i + search)
                deadline = budget.deadline(share)
                print(f"{spec.run_label}: up to {share:.0f} s ({budget.describe()})")
            try:
                run, reused = train_model(contest, spec, fs, folds, force=args.force, deadline=deadline)
            except BudgetSpent as exc:
                print(f"{exc}")
                continue
            finally:
                if budget is not None:
                    budget.save("04_train")
            scores = " ".join(f"{s:.5f}" for s in run.meta["fold_scores"])
            print(f"{run.run_id:<28} CV {contest.metric.name} {run.score:.5f} ± {run.meta['cv_std']:.5f}  "
                  f"folds [{scores}]  {sum(run.meta['fit_seconds']):.1f}s{'  (reused)' if reused else ''}")


OPTIONS = [
    ("--only", {"nargs": "*", "help": "train only these model labels"}),
    ("--force", {"action": "store_true", "help": "retrain even if an identical run exists"}),
]
