"""Stage 06 - optimize: feature selection (if configured), then a resumable Optuna search.

The stage's logic is common/stages/optimize.py: to customise it, copy its `main` here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import optimize

if __name__ == "__main__":
    run_stage(optimize.main, __file__)
