"""Portfolio evaluation: for one user, the campaigns of a rule set that can answer anything but
False, without visiting the others.

A catalog of campaigns is mostly ladders: the same window shape over many ranges, split by
platform, country, channel. A hand-written loop tests every campaign; here a user costs what it
can match:

- **Static index.** For each attribute that a segment's top-level ``and`` tests by equality,
  ``in`` or as a boolean, each value maps to the bit mask of the campaigns that accept it (plus
  those with no such test). A user's candidates are the ``&`` of those masks over their values. A
  missing value filters nothing: the answer may be unknown, which is not False.
- **Window stabbing.** A campaign whose top-level ``and`` holds a window (``between``/``more
  than``/``less than ... ago``) is found by its window's interval: per zone and instant (for
  ``in_segment``), or per zone, ``now`` and ``within`` (for ``evaluate``: the hull of the intervals
  of every occurrence that could send in time), the intervals of every such campaign are sorted
  once and shared by all users; a user's value finds the ones that contain it by bisection.

The index only drops campaigns whose answer is certainly False (no decision); the candidates are
still decided by their programs, so the meaning of every construct stays in the evaluator
(:mod:`lapse_dsl.evaluate`) and the code generated from it. The interval of a window at an
occurrence comes from :func:`lapse_dsl.evaluate.window_bounds`; the index widens it by a
millisecond and leaves the exact edges to the program.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from . import nodes as n
from .evaluate import Moment, window_bounds
from .plan import Plan

__all__ = ["Answers", "Group", "Portfolio", "Stab", "bits"]

MAX_OCCURRENCES = 64  # per campaign in one `within`: past this its window hull is too wide to pay
_SLACK = 1e-3  # seconds: float timestamps lose microseconds near the ends of the calendar
# Interval tables kept, in campaigns placed: a table holds every campaign of its zone group, and a
# host ticking with a new `now` every few minutes over hundreds of zones must not keep them all.
# (Cleared wholesale when full; the evaluator keeps the current call's tables besides.)
_STABS_BUDGET = 1_000_000

Interval = tuple[float | None, float | None]
T = TypeVar("T")


def bits(mask: int) -> Iterator[int]:
    """The positions of the set bits of ``mask``, lowest first (string search: C speed)."""
    text = format(mask, "b")[::-1]
    i = text.find("1")
    while i >= 0:
        yield i
        i = text.find("1", i + 1)


class Answers(Mapping[str, "bool | None"]):
    """``in_segment``'s answers for a rule set of any size: a read-only mapping of every campaign
    name that stores only the answers that are not False (True, or None for unknown), so it costs
    what the user matches, not the size of the catalog."""

    __slots__ = ("_found", "_index")

    def __init__(self, index: Mapping[str, int], found: dict[int, bool | None]) -> None:
        self._index = index  # campaign name -> position, shared by every answer of the rule set
        self._found = found

    def __getitem__(self, name: str) -> bool | None:
        return self._found.get(self._index[name], False)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Answers({dict(self.items())!r})"


class Stab:
    """Intervals ``[lo, hi]`` (seconds since the epoch, either end open) of campaigns, sorted for
    stabbing: :meth:`find` gives every campaign whose interval holds a value, plus :attr:`every`
    (campaigns that cannot be placed), in O(log n + candidates)."""

    __slots__ = ("classes", "every", "left_k", "left_lo", "right_hi", "right_k")

    def __init__(self, items: Iterable[tuple[int, float | None, float | None]], every: Iterable[int] = ()) -> None:
        self.every = list(every)
        left: list[tuple[float, int]] = []  # [lo, +inf)
        right: list[tuple[float, int]] = []  # (-inf, hi]
        finite: dict[int, list[tuple[float, float, int]]] = {}
        for k, lo, hi in items:
            if lo is None and hi is None:
                self.every.append(k)
            elif hi is None:
                left.append((lo - _SLACK, k))  # type: ignore[operator]
            elif lo is None:
                right.append((hi + _SLACK, k))
            elif lo <= hi:  # an empty interval holds no value
                # by length class, so that a query scans only intervals that start near it
                finite.setdefault(int(hi - lo).bit_length(), []).append((lo - _SLACK, hi + _SLACK, k))
        left.sort()
        right.sort()
        self.left_lo, self.left_k = [lo for lo, _ in left], [k for _, k in left]
        self.right_hi, self.right_k = [hi for hi, _ in right], [k for _, k in right]
        self.classes = []
        for group in finite.values():
            group.sort()
            width = max(hi - lo for lo, hi, _ in group)
            self.classes.append(([lo for lo, _, _ in group], [hi for _, hi, _ in group], [k for _, _, k in group], width))

    def find(self, x: float) -> list[int]:
        out = self.every[:] if self.every else []
        if self.left_lo:
            out += self.left_k[: bisect.bisect_right(self.left_lo, x)]
        if self.right_hi:
            out += self.right_k[bisect.bisect_left(self.right_hi, x):]
        for los, his, ks, width in self.classes:
            i = bisect.bisect_left(los, x - width)
            for t in range(i, bisect.bisect_right(los, x, i)):
                if his[t] >= x:
                    out.append(ks[t])
        return out


class Group:
    """The campaigns that share a delivery-zone rule (``local`` with one fallback, ``utc`` or a
    named zone): for any user they deliver in the same zone."""

    def __init__(self, number: int, first: int) -> None:
        self.number = number
        self.first = first  # a campaign of the group, to resolve its zone for a user
        self.mask = 0
        self.plain = 0  # campaigns without an indexed window
        self.windows: dict[int, int] = {}  # attribute slot -> mask of the campaigns windowed on it


class Portfolio:
    """The index of one rule set (see the module docstring). Immutable once built, but for the
    interval tables it caches per zone and instant; safe to share between threads (a table is
    built whole and then published with one dict assignment)."""

    def __init__(self, plan: Plan) -> None:
        self.size = len(plan.campaigns)
        self.all = (1 << self.size) - 1
        self.names = {c.rule.name: c.index for c in plan.campaigns}
        self.readers: dict[int, int] = {}  # slot -> mask of the campaigns whose segment reads it
        self.windowed: dict[int, int] = {}  # slot -> mask of the campaigns with an indexed window on it
        self.window = [c.window for c in plan.campaigns]
        groups: dict[tuple[str, str | None, str | None], Group] = {}
        postings: dict[int, dict[object, int]] = {}  # slot -> value -> mask of the campaigns accepting it
        guarded: dict[int, int] = {}  # slot -> mask of the campaigns with a guard on it
        for c in plan.campaigns:
            bit = 1 << c.index
            for slot in c.reads:
                self.readers[slot] = self.readers.get(slot, 0) | bit
            for guard in c.guards:
                guarded[guard.slot] = guarded.get(guard.slot, 0) | bit
                per = postings.setdefault(guard.slot, {})
                for value in guard.values:
                    per[value] = per.get(value, 0) | bit
            group = groups.get(c.zone)
            if group is None:
                group = groups[c.zone] = Group(len(groups), c.index)
            group.mask |= bit
            if c.window is None:
                group.plain |= bit
            else:
                slot = c.window[0]
                group.windows[slot] = group.windows.get(slot, 0) | bit
                self.windowed[slot] = self.windowed.get(slot, 0) | bit
        self.groups = tuple(groups.values())
        # (slot, value -> mask of the campaigns accepting it, mask of those that do not test the slot)
        self.postings = [(slot, per, self.all & ~guarded[slot]) for slot, per in sorted(postings.items())]
        self._stabs: dict[tuple[Any, ...], Any] = {}
        self._stabs_max = max(16, _STABS_BUDGET // max(1, self.size))

    def static_mask(self, values: Sequence[Any]) -> int:
        """The campaigns whose indexed static tests are not False for ``values``."""
        mask = self.all
        for slot, postings, free in self.postings:
            x = values[slot]
            if x is not None:
                mask &= postings.get(x, 0) | free
        return mask

    @property
    def kept(self) -> int:
        """How many interval tables are cached."""
        return len(self._stabs)

    def stabs(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        """What ``build`` makes for ``key`` (a group, a zone and an instant: interval tables),
        built once and shared by every user of the key."""
        found = self._stabs.get(key)
        if found is None:
            found = build()
            if len(self._stabs) >= self._stabs_max:
                self._stabs.clear()
            self._stabs[key] = found
        return found

    def at_instant(self, group: Group, moment: Moment) -> dict[int, Stab]:
        """Per window attribute, the campaigns of ``group`` by their window's interval at ``moment``."""
        items: dict[int, list[tuple[int, float | None, float | None]]] = {}
        for slot, mask in group.windows.items():
            items[slot] = [(k, *_seconds(window_bounds(self._window(k), moment))) for k in bits(mask)]
        return {slot: Stab(found) for slot, found in items.items()}

    def over(self, group: Group, mask: int, occurrences: Callable[[int], Iterator[Moment] | None]) -> dict[int, Stab]:
        """Per window attribute, the campaigns of ``group`` in ``mask`` by the hull of their window's
        intervals over ``occurrences(k)`` (None: too many to pay; such a campaign is always a
        candidate). A campaign with no occurrence is in no table: it cannot send."""
        tables: dict[int, Stab] = {}
        for slot, windowed in group.windows.items():
            items: list[tuple[int, float | None, float | None]] = []
            every: list[int] = []
            for k in bits(windowed & mask):
                found = occurrences(k)
                if found is None:
                    every.append(k)
                    continue
                hull = _hull(window_bounds(self._window(k), moment) for moment in found)
                if hull is not None:
                    items.append((k, *hull))
            tables[slot] = Stab(items, every)
        return tables

    def _window(self, k: int) -> n.Between | n.MoreThanAgo | n.LessThanAgo:  # (an indexed campaign's)
        window = self.window[k]
        assert window is not None
        return window[1]


def _seconds(bounds: tuple[dt.datetime | None, dt.datetime | None]) -> Interval:
    lo, hi = bounds
    return (None if lo is None else lo.timestamp(), None if hi is None else hi.timestamp())


def _hull(intervals: Iterable[tuple[dt.datetime | None, dt.datetime | None]]) -> Interval | None:
    """The smallest interval holding every one of ``intervals`` (None when there are none). Each
    is computed, not only the first and last: near a zone's gap the bounds are not monotonic."""
    lo: float | None = None
    hi: float | None = None
    seen = open_lo = open_hi = False
    for bounds in intervals:
        a, b = _seconds(bounds)
        open_lo = open_lo or a is None
        open_hi = open_hi or b is None
        if a is not None and (lo is None or a < lo):
            lo = a
        if b is not None and (hi is None or b > hi):
            hi = b
        seen = True
    if not seen:
        return None
    return (None if open_lo else lo, None if open_hi else hi)
