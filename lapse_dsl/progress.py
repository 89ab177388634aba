"""The one progress bar of the commands that stream an input (``run``, ``plan``, ``insights``,
``report``): a line on standard error, redrawn at most five times a second, drawn only when
standard error is a terminal and the input is large enough to take a while. Without a known size
(standard input, a database) it counts."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from .sources import counted

__all__ = ["Progress", "with_progress"]

T = TypeVar("T")


class Progress:
    LARGE = 5_000_000  # bytes: a smaller input is read before a bar would help
    INTERVAL = 0.2  # seconds between redraws
    WIDTH = 70  # characters the bar may take, wiped when it ends

    def __init__(self, size: int | None, position: Callable[[], int], noun: str, *, large: int | None = None,
                 every: int = 1000, suffix: str = "", enabled: bool = True) -> None:
        """``noun``: what is counted, singular (``user``); ``every``: how many items between looks
        at the clock (a hot loop should not read it per item); ``suffix``: words after the count."""
        self.size = size
        self.position = position
        self.noun = noun
        self.every = every
        self.suffix = suffix
        threshold = self.LARGE if large is None else large
        self.enabled = enabled and (size or 0) >= threshold and sys.stderr.isatty()
        self.last = 0.0
        self.drawn = False

    def tick(self, count: int) -> None:
        if not self.enabled or count % self.every:
            return
        now = time.monotonic()
        if now - self.last < self.INTERVAL:
            return
        self.last = now
        label = f"{counted(count, self.noun):>16}{self.suffix}"
        if self.size:
            share = min(1.0, self.position() / self.size)
            label = f"[{'#' * int(share * 30):<30}] {share:5.1%} {label}"
        sys.stderr.write("\r" + label)
        sys.stderr.flush()
        self.drawn = True

    def clear(self) -> None:
        """Wipe the bar (before another line is written to standard error, and at the end)."""
        if self.drawn:
            sys.stderr.write("\r" + " " * self.WIDTH + "\r")
            sys.stderr.flush()
            self.drawn = False

    def done(self) -> None:
        self.clear()


def with_progress(rows: Iterable[T], progress: Progress) -> Iterator[T]:
    """``rows``, ticking ``progress`` at each, and wiping it at the end."""
    for count, row in enumerate(rows, 1):
        progress.tick(count)
        yield row
    progress.done()
