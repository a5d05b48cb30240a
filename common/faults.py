"""Fault injection: a process killed at a named point, as an out-of-memory kill or a closed laptop kills it.

The kit promises that a killed stage loses only the work in progress: a rerun resumes, reuses what was
finished and ends with the same outputs as an uninterrupted run. Tests prove it by setting
`COMPKIT_FAULT=<pattern>` (fnmatch) for one stage run: when the code reaches a point whose name matches,
the process sends itself SIGKILL - no `finally`, no atexit, nothing flushed - and leaves on disk exactly
what such a kill would. Unset (always, outside tests) a checkpoint is one environment lookup.

The points, in the order a pipeline meets them:

    write:<folder>/<file>  a temporary file is complete, before it replaces <file> (common.data.io.atomic_path);
                           <folder> is the file's own folder's name: write:submissions/sub.txt
    feature:<step>         a feature step's tables are cached (common.features)
    fold:<run label>:<k>   fold k of a cross-validation is fitted and predicted (common.runs.train)
    epoch:<k>              a torch model has saved its checkpoint after epoch k (common.models.torch.trainer)
    save:<run id>          a run's files are staged, before the rename that publishes it (common.runs.store)
    saved:<run id>         a run is stored (common.runs.pipeline)
    trial:<number>         an Optuna trial is finished and recorded in the study (common.optimize)
"""
from __future__ import annotations

import fnmatch
import os
import signal

ENV = "COMPKIT_FAULT"


def checkpoint(point: str) -> None:
    """Kill this process with SIGKILL when $COMPKIT_FAULT matches `point`; otherwise do nothing."""
    pattern = os.environ.get(ENV)
    if pattern and fnmatch.fnmatchcase(point, pattern):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # e.g. an id that cannot be one
        return False
    return True
