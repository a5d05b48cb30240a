"""Stage 03 - features: make the folds (once per data) and build the feature tables config.yaml lists.

The stage's logic is common/stages/features.py: to customise it, copy its `main` here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import features

if __name__ == "__main__":
    run_stage(features.main, __file__)
