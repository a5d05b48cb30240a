"""Stage 02 - EDA: distributions, train/test shift, correlations, missing values, adversarial validation.

The stage's logic is common.stages.eda: to customise it, copy that function here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import eda

if __name__ == "__main__":
    run_stage(eda, __file__)
