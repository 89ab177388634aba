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
from .timecalc import UTC, Tz, date_exists, local_wall, resolve

__all__ = ["Occurrence", "occurrences", "offsets_near"]


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
    if isinstance(schedule, n.Cron):
        # a cron may fire every minute: start at the earliest wall time that can fall at or after
        # `start` (its UTC reading plus the zone's lowest offset nearby), not a day early
        walls = _cron_walls(schedule.expression, start.astimezone(UTC).replace(tzinfo=None) + min(offsets_near(zone, start)))
    else:
        walls = _walls(schedule, first_day, anchor)
    for wall in walls:
        day = wall.date()
        at = resolve(wall, zone)
        if at.astimezone(zone).date() != day and not date_exists(day, zone):
            continue
        if at < start or (last is not None and at <= last):
            continue  # in a gap, shifted times that collide with real ones fire once
        last = at
        yield Occurrence(at, wall)


def _walls(schedule: n.Schedule, day: dt.date, anchor: dt.date | None) -> Iterator[dt.datetime]:
    assert not isinstance(schedule, n.Cron)
    # a user's own time of day is resolved to a clock before occurrences are made (lapse_dsl.personal)
    assert isinstance(schedule.at, n.Clock), schedule.at
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


def _cron_walls(expression: str, lowest: dt.datetime) -> Iterator[dt.datetime]:
    """The cron's wall times from ``lowest`` (naive; whole minutes from its minute) on."""
    it = croniter(expression, lowest.replace(second=0, microsecond=0) - dt.timedelta(minutes=1))
    while True:
        yield it.get_next(dt.datetime)


_SAMPLE = dt.timedelta(minutes=30)  # zones keep an offset for months, never for less than this
_NEAR = dt.timedelta(hours=27)  # past a zone's largest offset jump (26h), plus the sampling step
_offsets: dict[tuple[Tz, dt.date], frozenset[dt.timedelta]] = {}


def offsets_near(zone: Tz, instant: dt.datetime, reach: dt.timedelta = _NEAR) -> frozenset[dt.timedelta]:
    """The UTC offsets ``zone`` has within ``reach`` of ``instant``, from samples every 30 minutes
    over whole UTC days (cached per day), so an offset of an hour or more is never missed."""
    if isinstance(zone, dt.timezone):
        offset = zone.utcoffset(None)
        return frozenset((offset,))
    out: set[dt.timedelta] = set()
    day = (instant - reach).astimezone(UTC).date()
    last = (instant + reach).astimezone(UTC).date()
    while day <= last:
        found = _offsets.get((zone, day))
        if found is None:
            if len(_offsets) > 100_000:
                _offsets.clear()
            midnight = dt.datetime.combine(day, dt.time(), UTC)
            found = _offsets[(zone, day)] = frozenset(
                _offset(zone, midnight + k * _SAMPLE) for k in range(49)  # 00:00 to 24:00 inclusive
            )
        out |= found
        day += dt.timedelta(days=1)
    return frozenset(out)


def _offset(zone: Tz, instant: dt.datetime) -> dt.timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset
