"""Refuse answers that would make a broken contest, before any file is written.

A cookiecutter "local extension" (loaded through `_extensions` in cookiecutter.json) rather than a
pre_gen_project hook: cookiecutter logs every failing hook with a traceback of its own, while an
error raised here, once the last answer is in, is printed by the command line as one line.
It imports nothing from compkit: `cookiecutter <repo>` may run from a Python without it.
TASK_METRICS must match `common.metrics` (tests/template/test_bake.py checks it).
"""
import re

import click
from jinja2.ext import Extension

TASK_METRICS = {
    "regression": {"rmse", "mse", "mae", "rmsle", "r2", "qwk"},
    "binary": {"auc", "logloss", "f1", "mcc", "accuracy", "macro_f1"},
    "multiclass": {"macro_f1", "accuracy", "logloss", "mcc", "qwk", "auc", "string_accuracy"},
    "sequence": {"string_accuracy", "sequence_logloss"},
}


class RefusedAnswer(click.ClickException, ValueError):
    """Printed by cookiecutter's command line as `Error: <message>` (exit status 1), no traceback."""


def check_answers(slug: str, task: str, metric: str) -> str:
    """'' when the answers make a sound contest; RefusedAnswer saying what to change otherwise."""
    errors = []
    if not re.fullmatch(r"[a-z][a-z0-9_]*", slug):
        errors.append(f"competition_slug {slug!r} must be lower-case letters, digits and '_', starting with a letter")
    if metric not in TASK_METRICS.get(task, ()):
        errors.append(f"metric {metric!r} does not suit task {task!r}; choose one of {sorted(TASK_METRICS[task])}")
    if errors:
        raise RefusedAnswer("; ".join(errors))
    return ""


class AnswerChecks(Extension):
    """Makes `check_answers` callable from cookiecutter.json."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["check_answers"] = check_answers
