"""Which process may write. Under DDP (`accelerate launch`, `torchrun`) every process runs the same stage
code and gets the same predictions (common.models.torch.trainer gathers them); only the main process
stores runs, reports and checkpoints. Both launchers set RANK; a plain run has none and is the main process."""
from __future__ import annotations

import os


def process_index() -> int:
    """This process's rank among all processes of the launch (0 outside a distributed launch)."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return process_index() == 0
