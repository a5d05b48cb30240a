"""Stage 05 - validate: fold spread, OOF diagnostics, learning curve and a hold-out check per run.

The stage's logic is common/stages/validate.py: to customise it, copy its `main` here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import validate

if __name__ == "__main__":
    run_stage(validate.main, __file__)
