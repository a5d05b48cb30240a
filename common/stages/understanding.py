"""Stage 01 - understanding: print the task card (roles of every column included) and save it."""
from __future__ import annotations


def main(contest, args) -> None:
    """Stage 01 - understanding: print the task card (roles of every column included) and save it."""
    from common.reports.understanding import write_task_card

    card, path = write_task_card(contest)
    print(card.to_markdown())
    print(f"task card: {path}")


OPTIONS: list = []
