"""The time budget of stages 04-07 (config `budget_s`), shared by the stage processes through runs/budget.json.

Each stage adds the seconds it ran to `spent_s` in that file (after every model and when it ends), so a later
stage - another process - sees what is left; time between stages is not counted. Stage 04 gives each model an
equal share of what is usable (what is left less RESERVE of the budget, kept for stages 05 and 07), counting a
configured search (stage 06) as one more share, so a cheap model leaves more to the next. A model whose
remaining folds would overrun its share stops between two folds (or repeats) and is not stored
(common.runs.train.fit_oof raises BudgetSpent); its finished predecessors stay. Delete the file to start over.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.data.io import read_json, write_json

RESERVE = 0.1  # of the budget, kept from stages 04 and 06 for stages 05 and 07 (reports, blends, submission)
FILE = "budget.json"

clock = time.monotonic  # a module attribute, looked up at each call, so a test can drive time


def now() -> float:
    return clock()


class Budget:
    """Seconds of the budget spent (by earlier stage sessions and this one) and left."""

    def __init__(self, path: str | Path, total_s: float):
        self.path, self.total_s = Path(path), float(total_s)
        saved = read_json(self.path) if self.path.is_file() else {}
        self.spent_before = float(saved.get("spent_s", 0.0))
        self.stages_before: dict[str, float] = dict(saved.get("stages", {}))
        self.started = now()

    @property
    def session(self) -> float:
        """Seconds this stage process has run since it opened the budget."""
        return now() - self.started

    @property
    def spent(self) -> float:
        return self.spent_before + self.session

    @property
    def left(self) -> float:
        return max(self.total_s - self.spent, 0.0)

    @property
    def usable(self) -> float:
        """What stages 04 and 06 may still spend: what is left less the reserve for stages 05 and 07."""
        return max(self.left - RESERVE * self.total_s, 0.0)

    def share(self, parts: int) -> float:
        """One of `parts` equal shares of what is usable (a model's, when `parts` models and searches remain)."""
        return self.usable / max(parts, 1)

    def deadline(self, seconds: float) -> float:
        """The `now()` time by which `seconds` from now have passed."""
        return now() + seconds

    def describe(self) -> str:
        return f"{self.left:.0f} s of the {self.total_s:g} s budget left"

    def save(self, stage: str) -> None:
        """Record what has been spent, this stage's session included (idempotent: absolute figures)."""
        stages = {**self.stages_before, stage: self.stages_before.get(stage, 0.0) + self.session}
        write_json(self.path, {"budget_s": self.total_s, "spent_s": round(self.spent, 3),
                               "stages": {k: round(v, 3) for k, v in stages.items()}})


@contextmanager
def stage_budget(contest, stage: str, out=print) -> Iterator[Budget | None]:
    """The contest's budget for one stage session (None without `budget_s`), saved when the stage ends."""
    total = contest.config.budget_s
    if total is None:
        yield None
        return
    contest.store.root.mkdir(parents=True, exist_ok=True)
    budget = Budget(contest.store.root / FILE, total)
    out(f"budget: {budget.describe()} ({budget.path} keeps the account; delete it to start over)")
    try:
        yield budget
    finally:
        budget.save(stage)
