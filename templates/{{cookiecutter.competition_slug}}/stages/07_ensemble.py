"""Stage 07 - ensemble: compare every strategy on the same folds, write the chosen blend's submission.

The stage's logic is common/stages/ensemble.py: to customise it, copy its `main` here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import ensemble

if __name__ == "__main__":
    run_stage(ensemble.main, __file__)
