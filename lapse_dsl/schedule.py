"""Schedules -> occurrences: the instants at which a rule fires in one delivery zone.

Fixed-time schedules are computed with zoneinfo directly. ``cron`` runs croniter over naive wall
times and resolves each with the same gap/fold policy (croniter on aware times would fire twice in a
fold). Each occurrence keeps its *nominal* wall time (the time the schedule names), from which
calendar windows are measured, so weekly windows tile exactly even when an occurrence was shifted
out of a DST gap.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator

import attrs
from croniter import croniter

from . import nodes as n
from .schema import DAYS
from .timecalc import Tz, date_exists, local_wall, resolve

__all__ = ["Occurrence", "occurrences"]


@attrs.frozen
class Occurrence:
    at: dt.datetime  # aware UTC instant
    wall: dt.datetime  # naive nominal wall time in the delivery zone


def occurrences(
    schedule: n.Schedule, zone: Tz, start: dt.datetime, anchor: dt.date | None = None
) -> Iterator[Occurrence]:
    """Occurrences at or after ``start``, ascending, forever (callers bound the search).

    ``anchor`` is the ``from`` date, which anchors ``every N weeks``.
    """
    first_day = local_wall(start, zone).date() - dt.timedelta(days=1)
    last: dt.datetime | None = None
    for wall in _walls(schedule, first_day, anchor):
        day = wall.date()
        at = resolve(wall, zone)
        if at.astimezone(zone).date() != day and not date_exists(day, zone):
            continue
        if at < start or (last is not None and at <= last):
            continue  # in a gap, shifted times that collide with real ones fire once
        last = at
        yield Occurrence(at, wall)


def _walls(schedule: n.Schedule, day: dt.date, anchor: dt.date | None) -> Iterator[dt.datetime]:
    if isinstance(schedule, n.Cron):
        yield from _cron_walls(schedule.expression, day)
        return
    at = dt.time(schedule.at.hour, schedule.at.minute)
    if isinstance(schedule, n.Once):
        if schedule.date.value >= day:
            yield dt.datetime.combine(schedule.date.value, at)
        return
    if isinstance(schedule, n.Monthly):
        year, month = day.year, day.month
        while True:
            last_day = calendar.monthrange(year, month)[1]
            date = dt.date(year, month, min(schedule.day, last_day))
            if date >= day:
                yield dt.datetime.combine(date, at)
            month += 1
            if month == 13:
                year, month = year + 1, 1
    if isinstance(schedule, n.Daily):
        weekdays = set(range(7))
    else:
        weekdays = {DAYS.index(d.value) for d in schedule.days}
    interval = schedule.interval if isinstance(schedule, n.EveryWeeks) else 1
    monday = None
    if interval > 1:
        base = anchor or day
        monday = base - dt.timedelta(days=base.weekday())
    one = dt.timedelta(days=1)
    while True:
        if day.weekday() in weekdays and (
            monday is None or ((day - monday).days // 7) % interval == 0
        ):
            yield dt.datetime.combine(day, at)
        day += one


def _cron_walls(expression: str, day: dt.date) -> Iterator[dt.datetime]:
    it = croniter(expression, dt.datetime.combine(day, dt.time()) - dt.timedelta(minutes=1))
    while True:
        yield it.get_next(dt.datetime)
