"""Progress bars: plain, '\\r'-free lines when the output is a log, tqdm on a terminal."""
import io

import pytest
from tqdm import tqdm

from common.progress import PlainProgress, progress


class FakeClock:
    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_log_gets_a_few_plain_lines_for_many_steps():
    out = io.StringIO()
    bar = progress(range(10_000), desc="trials", file=out, min_interval=0)
    assert isinstance(bar, PlainProgress)
    assert sum(bar) == sum(range(10_000))  # iterates like the iterable
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 2 <= len(lines) <= 11  # every 10 % at most, plus the last line
    assert lines[0].startswith("trials: 1000/10000 (10%) after ")
    assert lines[-1].startswith("trials: 10000/10000 done in ")


def test_lines_come_at_most_every_min_interval():
    out = io.StringIO()
    bar = PlainProgress(total=None, desc="epochs", file=out, min_interval=10.0, clock=FakeClock(1.0))
    for _ in range(100):
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 + 1  # one line per 10 fake seconds, then the closing one
    assert lines[0] == "epochs: 10 after 10.0s" and lines[-1] == "epochs: 100 done in 1m41s"


def test_postfix_update_close_and_a_transient_quick_bar():
    out = io.StringIO()
    with progress(total=3, desc="search", file=out, tty=False) as bar:
        bar.update(2)
        bar.set_postfix(best=0.123456, trial=7)
        bar.update()
    bar.close()  # closing twice writes once
    assert len(out.getvalue().splitlines()) == 1
    assert out.getvalue().startswith("search: 3/3 done in ") and out.getvalue().endswith(" [best=0.1235, trial=7]\n")

    quiet = io.StringIO()
    for _ in progress(range(50), desc="folds", file=quiet, tty=False, leave=False):
        pass
    assert quiet.getvalue() == ""  # a quick inner loop does not write into the log


def test_break_still_writes_where_it_stopped():
    out = io.StringIO()
    for epoch in progress(range(30), desc="epochs", file=out, tty=False):
        if epoch == 4:
            break
    assert out.getvalue().startswith("epochs: 4/30 done in ")


def test_terminal_gets_tqdm_and_disabled_writes_nothing():
    out = io.StringIO()
    bar = progress(range(5), desc="folds", file=out, tty=True)
    assert isinstance(bar, tqdm)
    assert list(bar) == list(range(5))
    assert "\r" in out.getvalue() and "folds" in out.getvalue()

    silent = io.StringIO()
    bar = progress(total=4, desc="x", enabled=False, file=silent, tty=False)
    bar.update()
    bar.set_postfix(a=1)
    bar.close()
    assert silent.getvalue() == ""


@pytest.mark.parametrize("isatty,expected", [(True, tqdm), (False, PlainProgress)])
def test_mode_follows_the_stream(isatty, expected):
    class Stream(io.StringIO):
        def isatty(self):
            return isatty

    assert isinstance(progress(range(3), file=Stream()), expected)
