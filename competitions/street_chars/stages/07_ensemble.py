"""Stage 07 - ensemble: compare every strategy on the same folds, write the chosen blend's submission.

The stage's logic is common.stages.ensemble: to customise it, copy that function here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import ensemble

if __name__ == "__main__":
    run_stage(ensemble, __file__)
