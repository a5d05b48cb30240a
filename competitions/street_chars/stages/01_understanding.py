"""Stage 01 - understanding: print the task card (roles of every column included) and save it.

The stage's logic is common.stages.understanding: to customise it, copy that function here, edit it, and pass
your copy to run_stage instead.
"""
from common.cli import run_stage
from common.stages import understanding

if __name__ == "__main__":
    run_stage(understanding, __file__)
