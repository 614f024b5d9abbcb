"""Progress that reaches people anywhere: a live bar in a terminal, a timestamped line now and then elsewhere.

Rendering glyphs, decoding a data set or running a search takes minutes, and
stderr is often not a terminal (a CI log, ``| tee``, a cluster job's file), where
rich's live displays print nothing until they stop. So everything autometa says
while it works goes through here: :func:`track` for a loop (a data set plugin's
rendering or decoding), :func:`say` for one event line. Off a terminal both print
plain lines, ``2026-12-02T06:16:36Z <text>``, without colour or control characters.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TypeVar

Item = TypeVar("Item")

#: Seconds between two progress lines of one loop when stderr is not a terminal.
LINE_EVERY_S = 30.0

_silenced = [0]  # nesting depth of silenced() blocks


def stderr_is_terminal() -> bool:
    """Whether stderr shows live displays (rich decides: a tty, ``FORCE_COLOR`` or ``TTY_COMPATIBLE``;
    not ``TERM=dumb``)."""
    from rich.console import Console

    console = Console(stderr=True)
    return console.is_terminal and not console.is_dumb_terminal


def is_silenced() -> bool:
    """Inside :func:`silenced` (``autometa search --quiet`` or ``--json``)."""
    return _silenced[0] > 0


@contextmanager
def silenced(when: bool = True) -> Iterator[None]:
    """No progress output inside the block (when ``when``)."""
    _silenced[0] += int(when)
    try:
        yield
    finally:
        _silenced[0] -= int(when)


def say(text: str) -> None:
    """Print one timestamped line on stderr (UTC, ISO 8601), unless silenced."""
    if not is_silenced():
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} {text}", file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """``42 s``, ``7.5 min`` or ``2.1 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def track(
    items: Iterable[Item], description: str, *, total: int | None = None, every_s: float = LINE_EVERY_S
) -> Iterator[Item]:
    """Iterate ``items`` while showing how far it got on stderr: a progress bar in a terminal,
    otherwise a line when it starts, every ``every_s`` seconds and when it ends.

    For data set plugins' slow one-off work (``for cls in track(classes, "decoding my_set"): ...``);
    ``total`` defaults to ``len(items)``. Nothing is shown inside :func:`silenced`.
    """
    if total is None and isinstance(items, Sized):
        total = len(items)
    if is_silenced():
        yield from items
    elif stderr_is_terminal():
        from rich.console import Console
        from rich.progress import track as rich_track

        yield from rich_track(items, description, total=total, console=Console(stderr=True))
    else:
        yield from _lines(items, description, total, every_s)


def _lines(items: Iterable[Item], description: str, total: int | None, every_s: float) -> Iterator[Item]:
    started = last = time.monotonic()
    say(f"{description}: started" + (f" ({total} steps)" if total else ""))
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every_s and done != total:
            last = now
            elapsed = now - started
            say(f"{description}: {_fraction(done, total)}, {duration(elapsed)}" + _eta(done, total, elapsed))
    say(f"{description}: {_fraction(done, total)} done in {duration(time.monotonic() - started)}")


def _fraction(done: int, total: int | None) -> str:
    return f"{done}/{total} ({100 * done / total:.0f}%)" if total else f"{done}"


def _eta(done: int, total: int | None, elapsed: float) -> str:
    return f", eta {duration(elapsed / done * (total - done))}" if total and done else ""
