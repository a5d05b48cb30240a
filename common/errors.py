"""Errors the kit raises on bad input: each says what was expected, what was found, and the fix."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class KitError(Exception):
    """Base class: a problem the user can fix (bad config, bad data, bad submission)."""


class ConfigError(KitError):
    """config.yaml is missing, malformed, or names something unknown."""


class DataError(KitError):
    """A raw or intermediate file is missing, malformed, or inconsistent."""


class SubmissionError(KitError):
    """A submission does not match the contest's format."""


class FoldMismatchError(KitError):
    """Runs or artifacts were made on different fold assignments and cannot be compared."""


class BudgetSpent(KitError):
    """A model's share of the time budget (config budget_s) would run out before its last fold: stopped, not stored."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x'?' when a close match exists, else ''."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
