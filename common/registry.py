"""One generic name -> factory registry, used for models, features, metrics, ensemblers and more.

Entries are added by a decorator in the module that defines them (as in timm), created by name,
and listed with shell-style wildcards.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from common.errors import ConfigError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories of one kind ('model', 'feature', ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register the decorated object under `name` (default: its __name__)."""

        def decorate(obj: T) -> T:
            key = name or getattr(obj, "__name__")
            old = self._entries.get(key)
            # Re-importing the same module (a contest's features.py loaded twice) replaces the entry;
            # two different objects claiming one name is a bug worth stopping on.
            if old is not None and _origin(old) != _origin(obj):
                raise ValueError(
                    f"{self.kind} '{key}' is registered twice: by {_origin(old)} and by {_origin(obj)}. "
                    "Rename one of them."
                )
            self._entries[key] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        """The entry called `name`; a ConfigError listing the choices if there is none."""
        try:
            return self._entries[name]
        except KeyError:
            choices = ", ".join(repr(n) for n in sorted(self._entries)) or "(none registered)"
            raise ConfigError(
                f"unknown {self.kind} {name!r}: {self.kind} must be one of {choices}."
                + did_you_mean(name, self._entries)
            ) from None

    def create(self, name: str, /, *args: Any, **params: Any) -> Any:
        """Call the factory registered as `name` with the given arguments."""
        factory = self.get(name)
        return factory(*args, **params)  # type: ignore[operator]

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching a wildcard pattern, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


def _origin(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
