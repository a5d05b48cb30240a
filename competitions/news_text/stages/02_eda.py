"""Stage 02 - EDA: distributions, train/test shift, correlations, missing values, adversarial validation.

The stage's logic is common/stages/eda.py: to customise it, copy its `main` here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import eda

if __name__ == "__main__":
    run_stage(eda.main, __file__)
