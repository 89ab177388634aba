"""Wall-clock arithmetic in a delivery zone, with one policy everywhere (PEP 495 ``fold=0``):

* a wall time in a spring-forward gap is shifted forward by the gap
  (New York 2026-03-08 02:30 -> 03:30 EDT = 07:30Z);
* an ambiguous wall time in a fall-back fold means its first occurrence
  (New York 2026-11-01 01:30 -> 01:30 EDT = 05:30Z);
* a local date that does not exist at all (Pacific/Apia 2011-12-30) has no wall times.

Calendar units (``d``, ``w``, ``mo``) move the wall clock by whole days or months and resolve the
result with that policy; a month shift keeps the day of the month, clamped to the target month's
last day (Mar 31 - 1mo = Feb 28, or 29 in a leap year). ``h`` and ``m`` are exact elapsed time.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

from .nodes import Duration

__all__ = [
    "EXACT_UNITS",
    "SEARCH_HORIZON",
    "UTC",
    "Tz",
    "add_months",
    "date_exists",
    "exact_duration",
    "iso_utc",
    "local_midnight",
    "local_wall",
    "resolve",
    "shift",
    "shift_wall",
]

UTC = dt.UTC
Tz = ZoneInfo | dt.timezone


def resolve(wall: dt.datetime, zone: Tz) -> dt.datetime:
    """A naive local wall-clock time -> the aware UTC instant it names (fold=0)."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


def local_midnight(day: dt.date, zone: Tz) -> dt.datetime:
    """The first instant of a local date (a `from` date, a `before 2026-01-01` date)."""
    return resolve(dt.datetime.combine(day, dt.time()), zone)


def iso_utc(moment: dt.datetime) -> str:
    """ISO-8601 in UTC with ``Z``, as the CLI, explain and messages print instants."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_wall(instant: dt.datetime, zone: Tz) -> dt.datetime:
    """The naive wall-clock reading of ``instant`` in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


_exists: dict[tuple[str, dt.date], bool] = {}


def date_exists(day: dt.date, zone: Tz) -> bool:
    """False for a local date the zone skipped entirely (a date-line change)."""
    key = (str(zone), day)
    known = _exists.get(key)
    if known is None:
        start = resolve(dt.datetime.combine(day, dt.time()), zone)
        end = resolve(dt.datetime.combine(day, dt.time(23, 59, 59)), zone)
        known = start.astimezone(zone).date() == day or end.astimezone(zone).date() == day
        _exists[key] = known
    return known


def add_months(wall: dt.datetime, months: int) -> dt.datetime:
    """The same wall-clock time ``months`` later (negative: earlier), the day clamped to the
    target month's last day."""
    index = wall.year * 12 + wall.month - 1 + months
    year, month = divmod(index, 12)
    return wall.replace(year=year, month=month + 1, day=min(wall.day, calendar.monthrange(year, month + 1)[1]))


def shift_wall(wall: dt.datetime, zone: Tz, duration: Duration, sign: int) -> dt.datetime:
    """The instant ``duration`` before (sign -1) or after (sign +1) the wall time ``wall``."""
    if duration.unit == "mo":
        return resolve(add_months(wall, sign * duration.amount), zone)
    if duration.calendar:
        days = duration.amount * (7 if duration.unit == "w" else 1)
        return resolve(wall + dt.timedelta(days=sign * days), zone)
    return resolve(wall, zone) + sign * duration.nominal()


def shift(instant: dt.datetime, zone: Tz, duration: Duration, sign: int) -> dt.datetime:
    """``instant`` moved by ``duration``: calendar units on ``zone``'s wall clock, others exact."""
    if duration.calendar:
        return shift_wall(local_wall(instant, zone), zone, duration, sign)
    return instant + sign * duration.nominal()


EXACT_UNITS = {"m": dt.timedelta(minutes=1), "h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}
SEARCH_HORIZON = dt.timedelta(days=400)  # how far ahead the search for a decision looks (evaluate.HORIZON)


def exact_duration(text: str, longest: dt.timedelta, why: str = "") -> dt.timedelta:
    """A command's duration (``--within``, ``--window``, a rule test's ``within``): a whole number
    and m, h, d or w, as exact elapsed time (a day is 24 hours: these bound a search or a
    measurement, they are not calendar windows), at most ``longest``. Raises ValueError saying
    what is wrong (``why``: the reason for the limit, in parentheses)."""
    amount, unit = text[:-1], text[-1:]
    if unit not in EXACT_UNITS or not (amount.isascii() and amount.isdigit()):
        raise ValueError(f"'{text}' is not a duration such as 15m, 1h, 1d or 1w")
    digits = amount.lstrip("0") or "0"
    if len(digits) > 7 or int(digits) * EXACT_UNITS[unit] > longest:  # (no int() of a 5000-digit string)
        raise ValueError(f"'{text}' is too long: at most {longest.days}d" + (f" ({why})" if why else ""))
    return int(digits) * EXACT_UNITS[unit]
