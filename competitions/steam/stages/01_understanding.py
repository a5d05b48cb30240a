"""Stage 01 - understanding: print the task card (roles of every column included) and save it.

The stage's logic is common/stages/understanding.py: to customise it, copy its `main` here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import understanding

if __name__ == "__main__":
    run_stage(understanding.main, __file__)
