"""Progress bars that suit where the output goes: tqdm on a terminal, a few plain lines in a log file.

tqdm redraws its bar with carriage returns; redirected to a file, every redraw becomes text, and a
long search leaves megabytes of them. When the stream is not a terminal (nor a notebook), `progress`
returns a `PlainProgress` instead: the same calls, a line now and then, and a last line with the time.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from tqdm.auto import tqdm


def progress(iterable: Iterable | None = None, desc: str = "", total: int | None = None, enabled: bool = True, *,
             leave: bool = True, file: IO[str] | None = None, tty: bool | None = None, min_interval: float = 10.0,
             **tqdm_kwargs: Any):
    """A progress bar over `iterable` (or one driven by `.update()`), with tqdm's interface.

    `enabled=False`: a bar that shows nothing. `leave=False`: a transient bar - on a terminal it is
    erased when done; in a log it writes its last line only if it wrote earlier ones (a quick inner
    loop stays silent). `tty`: force the terminal (True) or plain-line (False) behaviour; by default
    it follows `file` (stderr, like tqdm). `min_interval`: plain lines come at most this often (seconds)
    and every 10 % of `total`. `tqdm_kwargs` go to tqdm on a terminal only.
    """
    file = sys.stderr if file is None else file
    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    if tty is None:
        tty = _interactive(file)
    if tty:
        return tqdm(iterable, desc=desc, total=total, leave=leave, file=file, **tqdm_kwargs)
    return PlainProgress(iterable, desc, total, leave=leave, file=file, min_interval=min_interval)


def _interactive(file: IO[str]) -> bool:
    # A Jupyter kernel's streams are not TTYs, yet it draws tqdm's widget well.
    return bool(getattr(file, "isatty", lambda: False)()) or "ipykernel" in sys.modules


class PlainProgress:
    """tqdm's interface (iteration, update, set_postfix, close) writing whole lines without '\\r'."""

    def __init__(self, iterable: Iterable | None = None, desc: str = "", total: int | None = None, *,
                 leave: bool = True, file: IO[str] | None = None, min_interval: float = 10.0,
                 clock: Any = time.monotonic):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.desc, self.total, self.leave = iterable, desc, total, leave
        self.file = sys.stderr if file is None else file
        self.min_interval, self.clock = min_interval, clock
        self.n, self.postfix, self.closed, self.lines = 0, "", False, 0
        self.start = self._last_time = clock()
        self._last_n = 0

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:  # type: ignore[union-attr]
                yield item
                self.update()
        finally:  # also on `break` or an exception: say where it stopped
            self.close()

    def __len__(self) -> int:
        return self.total or 0

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self._last_time < self.min_interval:
            return
        if self.total and (self.n - self._last_n < 0.1 * self.total or self.n >= self.total):
            return  # the last line is close()'s
        self._write(self._status(now))
        self._last_time, self._last_n = now, self.n

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={_short(v)}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.leave or self.lines:
            count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
            self._write(f"{count} done in {_duration(self.clock() - self.start)}")

    def _status(self, now: float) -> str:
        elapsed = now - self.start
        if not self.total:
            return f"{self.n} after {_duration(elapsed)}"
        left = elapsed / self.n * (self.total - self.n) if self.n else 0.0
        return f"{self.n}/{self.total} ({self.n / self.total:.0%}) after {_duration(elapsed)}, ~{_duration(left)} left"

    def _write(self, text: str) -> None:
        head = f"{self.desc}: " if self.desc else ""
        tail = f" [{self.postfix}]" if self.postfix else ""
        print(head + text + tail, file=self.file, flush=True)
        self.lines += 1


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"
