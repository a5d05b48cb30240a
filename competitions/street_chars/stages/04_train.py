"""Stage 04 - train: cross-validate every model in config.yaml; one run (OOF + test predictions) each.

The stage's logic is common.stages.train: to customise it, copy that function here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import train

if __name__ == "__main__":
    run_stage(train, __file__)
