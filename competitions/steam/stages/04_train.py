"""Stage 04 - train: cross-validate every model in config.yaml; one run (OOF + test predictions) each.

The stage's logic is common/stages/train.py: to customise it, copy its `main` here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import train

if __name__ == "__main__":
    run_stage(train.main, __file__)
