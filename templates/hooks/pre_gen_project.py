"""Refuse answers that would make a broken contest, before any file is written."""
import re
import sys

TASK_METRICS = {
    "regression": {"mse", "rmse", "mae"},
    "binary": {"auc", "logloss", "accuracy", "macro_f1"},
    "multiclass": {"macro_f1", "accuracy", "logloss", "string_accuracy"},
}
slug, task, metric = "{{ cookiecutter.competition_slug }}", "{{ cookiecutter.task }}", "{{ cookiecutter.metric }}"
errors = []
if not re.fullmatch(r"[a-z][a-z0-9_]*", slug):
    errors.append(f"competition_slug {slug!r} must be lower-case letters, digits and '_', starting with a letter")
if metric not in TASK_METRICS.get(task, ()):
    errors.append(f"metric {metric!r} does not suit task {task!r}; choose one of {sorted(TASK_METRICS[task])}")
if errors:
    print("error: " + "; ".join(errors), file=sys.stderr)
    sys.exit(1)
