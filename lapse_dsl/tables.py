"""Occurrence tables: a rule's occurrences in one zone, made lazily once and shared by every user
(and thread) of the compiled path, with cursors that walk them and seek far ahead in constant
time. Each occurrence is a :class:`~lapse_dsl.evaluate.Moment`, whose window bounds are cached on
first use."""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections.abc import Callable, Iterator

from .evaluate import HORIZON, Moment
from .timecalc import UTC

__all__ = ["Table", "TableCursor"]

_CHUNK = 16
_WALK = 32 * _CHUNK  # occurrences a seek makes before it jumps (a daily schedule never jumps within the horizon)
_SPAN = HORIZON + dt.timedelta(days=3)  # a table's reach: past the horizon of every search starting in its day
_RUN = 32  # an index's bits for the position in its run; the higher bits number the run
_PAST = 1 << 62  # the index of "after the table's end": never an occurrence
_TICK = dt.timedelta(microseconds=1)


class _Run:
    """Consecutive occurrences from one instant, made lazily up to the table's end."""

    __slots__ = ("ats", "cut", "done", "moments", "source")

    def __init__(self, source: Iterator[Moment]) -> None:
        self.ats: list[dt.datetime] = []
        self.moments: list[Moment] = []
        self.source = source
        self.done = False  # no more occurrences: the schedule ended, or the next is past the end
        self.cut = False  # ... the latter


class Table:
    """A rule's occurrences in one zone from one start up to an end past every horizon that needs
    them, computed lazily and shared by all users (and threads): each is a :class:`Moment`, whose
    window bounds are cached on first use.

    A seek far beyond the occurrences made so far does not make the ones in between: it starts a
    new *run* at the hour of its target (shared by later seeks into that hour). An index is the
    run's number shifted by :data:`_RUN` bits plus the position in it, so the first run's indices
    are plain list indices into :attr:`moments` (the fused code reads those directly), and ``i + 1``
    is always the next occurrence."""

    __slots__ = ("_lock", "_runs", "_starts", "ats", "end", "moments", "restart", "source")

    def __init__(self, source: Callable[[dt.datetime], Iterator[Moment]], start: dt.datetime,
                 restart: Callable[[dt.datetime], TableCursor]) -> None:
        self.source = source  # occurrences from an instant on
        self.end = start + _SPAN
        self.restart = restart  # a cursor at an instant past the end, in another table
        first = _Run(source(start))
        self._runs = [first]
        self._starts: dict[dt.datetime, int] = {}  # run number by the hour it starts at
        self.ats = first.ats
        self.moments = first.moments
        self._lock = threading.Lock()

    def _extend(self, run: _Run, upto: int) -> bool:
        with self._lock:
            while len(run.moments) <= upto and not run.done:
                for _ in range(_CHUNK):
                    moment = next(run.source, None)
                    if moment is None or moment.at > self.end:
                        run.done, run.cut = True, moment is not None
                        break
                    run.moments.append(moment)
                    run.ats.append(moment.at)
        return len(run.moments) > upto

    def get(self, i: int) -> Moment | None:
        if i >= _PAST:
            return None
        run, at = self._runs[i >> _RUN], i & ((1 << _RUN) - 1)
        if at < len(run.moments) or self._extend(run, at):
            return run.moments[at]
        return None

    def cut(self, i: int) -> bool:
        """Whether there is no occurrence at ``i`` only because the table ends (the schedule goes on)."""
        return i >= _PAST or self._runs[i >> _RUN].cut

    def index(self, start: dt.datetime, lo: int = 0, *, jump: bool = True) -> int:
        """The index of the first occurrence at or after ``start``, not before ``lo``: found among
        those made, or after making a few more, or in a run that starts near ``start`` (``jump``)."""
        if start > self.end:
            return _PAST
        number, at = lo >> _RUN, lo & ((1 << _RUN) - 1)
        run = self._runs[number]
        budget = _WALK if jump else None
        while (not run.ats or run.ats[-1] < start) and not run.done:
            if budget is not None:
                if budget <= 0:
                    return self._jump(start)
                budget -= _CHUNK
            self._extend(run, len(run.moments) + _CHUNK - 1)
        return (number << _RUN) + bisect.bisect_left(run.ats, start, at)

    def _jump(self, start: dt.datetime) -> int:
        hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        with self._lock:
            number = self._starts.get(hour)
            if number is None:
                number = self._starts[hour] = len(self._runs)
                self._runs.append(_Run(self.source(hour)))
        return self.index(start, number << _RUN, jump=False)  # at most an hour of occurrences


class TableCursor:
    __slots__ = ("i", "table")

    def __init__(self, table: Table, i: int) -> None:
        self.table = table
        self.i = i

    def next(self) -> Moment | None:
        while True:
            i = self.i
            self.i = i + 1
            moments = self.table.moments
            if i < len(moments):
                return moments[i]
            moment = self.table.get(i)
            if moment is not None or not self.table.cut(i):
                return moment
            # a search from far back (a long grace) outlives the table: go on in the next one
            restarted = self.table.restart(self.table.end + _TICK)
            self.table, self.i = restarted.table, restarted.i

    def seek(self, start: dt.datetime) -> None:
        if start > self.table.end:
            restarted = self.table.restart(start)
            self.table, self.i = restarted.table, restarted.i
        else:
            self.i = self.table.index(start, self.i)
