"""Stage 01 - understanding: print the task card and save it as reports/task_card.md."""
from common.cli import run_stage
from common.understanding import write_task_card


def main(contest, args):
    card, path = write_task_card(contest)
    print(card.to_markdown())
    print(f"task card: {path}")


if __name__ == "__main__":
    run_stage(main, __file__, __doc__)
