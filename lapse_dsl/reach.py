"""Can a campaign ever send, and does its schedule see everyone its segment names? The checker's
warnings about valid campaigns: a segment no user can be in, occurrences that quiet hours drop or
the campaign's dates leave out, a window narrower than the gaps between occurrences (a hole users
fall through), and a window wider than ``reeligible after`` (one lapse messaged twice).

Each function yields ``(span, message)`` pairs; :mod:`lapse_dsl.check` reports them as warnings."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Callable, Iterator, Sequence

import attrs
from croniter import CroniterError, croniter

from . import nodes as n
from .format import format_condition, format_schedule
from .personal import fixed
from .schedule import occurrences
from .schema import DAYS
from .timecalc import local_midnight
from .windows import Bound, Offset, bounds

__all__ = ["coverage", "never_sends", "per_schedule", "schedule_gaps"]


def never_sends(
    segment: n.Segment,
    schedule: n.Schedule,
    quiet: n.QuietHours | None,
    from_: n.From | None,
    until: n.Until | None,
) -> Iterator[tuple[n.Span, str]]:
    """Warnings for a valid campaign that no user can ever receive, each saying why."""
    yield from _contradictions(segment.condition)
    if quiet is not None and quiet.mode is not None and quiet.mode.value == "drop":
        times = _wall_times(schedule)
        if times and all(quiet.covers(t) for t in times):
            at = f"at {times[0].strftime('%H:%M')}" if len(times) == 1 else "at every time the cron expression names"
            yield (
                quiet.span,
                f"every occurrence of this schedule ({at}) falls in quiet hours {quiet.start} to {quiet.end} and "
                f"'drop' skips it: this campaign never sends; write 'defer' to send at {quiet.end} instead",
            )
    if isinstance(schedule, n.Once):
        day = schedule.date.value
        if from_ is not None and day < from_.date.value:
            yield (schedule.date.span, f"'once {day}' is before 'from {from_.date.value}': the only "
                   "occurrence is outside the campaign's dates, so this campaign never sends")
        if until is not None and day > until.date.value:
            yield (schedule.date.span, f"'once {day}' is after 'until {until.date.value}': the only "
                   "occurrence is outside the campaign's dates, so this campaign never sends")
    elif from_ is not None and until is not None:
        start = local_midnight(from_.date.value, dt.UTC)  # nominal dates: the zone does not matter
        first = next(occurrences(fixed(schedule), dt.UTC, start, anchor=from_.date.value), None)
        if first is None or first.wall.date() > until.date.value:
            yield (until.span, f"no occurrence of '{format_schedule(schedule)}' falls between "
                   f"'from {from_.date.value}' and 'until {until.date.value}': this campaign never sends")


def coverage(segment: n.Segment, schedule: n.Schedule, reeligible: n.Reeligible | None) -> Iterator[tuple[n.Span, str]]:
    """Warnings for users a valid campaign's segment names but its schedule can miss, or message twice."""
    gaps = schedule_gaps(schedule)
    if gaps is None:
        return
    smallest, largest = gaps
    for window in _windows(segment.condition):
        width = window.width()
        if width <= dt.timedelta(0):  # an empty `between` is already an error
            continue
        if window.monthly() and isinstance(schedule, n.Monthly) and schedule.day <= 28:
            largest = width  # whole months against a monthly day that every month has: they tile
        if width < largest:
            yield (
                segment.span,
                f"the window {window.text} is {_fmt_td(width)} wide but this schedule's occurrences "
                f"are up to {_fmt_td(largest)} apart: users whose {window.attr} falls in a hole of "
                f"{_fmt_td(largest - width)} between occurrences are never captured; widen the "
                f"window to {_fmt_td(largest)}",
            )
        if reeligible is not None and reeligible.after.nominal() < width and smallest < width:
            yield (
                segment.span,
                f"'reeligible after {reeligible.after}' is shorter than the {_fmt_td(width)} window "
                f"{window.text}: one lapse episode can be messaged more than once; use "
                f"'reeligible after {_fmt_td(width)}' or longer",
            )
        if window.split is not None:
            side, where = ("ahead", "after") if window.ahead else ("ago", "before")
            yield (
                segment.span,
                f"'{window.attr} more than {window.low} {side} and {window.attr} less than {window.high} {side}' "
                f"leaves out users whose {window.attr} is exactly {window.low} {where} an occurrence; "
                f"write '{window.attr} between {window.low} and {window.high}{' ahead' if window.ahead else ''}' "
                "to include them",
            )


Found = Iterator[tuple[n.Span, str]]
Use = tuple[tuple[str, ...], n.Schedule]  # a schedule, and the variants whose users get it


def per_schedule(uses: Sequence[Use], analyse: Callable[[n.Schedule], Found]) -> Found:
    """``analyse`` (:func:`coverage` or :func:`never_sends`, bound to the rest of a campaign) for
    each schedule a send-time experiment uses. A warning every schedule gives is the campaign's and
    is reported once, as it is; one that only some give is reported for those, naming their
    variants (``variant 'noon' (weekly thu 12:00 local): ...``)."""
    found = [(names, schedule, list(analyse(schedule))) for names, schedule in uses]
    if len(found) == 1:
        yield from found[0][2]
        return
    everywhere = set.intersection(*(set(warnings) for _, _, warnings in found))
    yield from (w for w in found[0][2] if w in everywhere)
    for names, schedule, warnings in found:
        many = len(names) > 1
        who = ("variants " if many else "variant ") + " and ".join(f"'{name}'" for name in names)
        for span, message in warnings:
            if (span, message) not in everywhere:
                message = message.replace("this campaign never sends",
                                          "these variants never send" if many else "this variant never sends")
                yield span, f"{who} ({format_schedule(schedule)}): {message}"


@attrs.frozen
class _Window:
    """A window from ``low`` to ``high`` before (or, ``ahead``, after) each occurrence."""

    attr: str
    low: n.Duration
    high: n.Duration
    text: str
    split: bool | None = None  # True when written as `more than A ago and less than B ago`
    ahead: bool = False

    def monthly(self) -> bool:
        """Whether both edges are whole months (a zero edge counts as any unit)."""
        return self.high.unit == "mo" and (self.low.unit == "mo" or self.low.amount == 0)

    def width(self) -> dt.timedelta:
        """How wide the window is at its narrowest (months measured as their shortest run)."""
        if self.monthly():
            return n.Duration(self.high.amount - self.low.amount, "mo").shortest()
        return self.high.nominal() - self.low.nominal()


_ZERO = n.Duration(0, "d")


def _windows(cond: n.Condition) -> Iterator[_Window]:
    """Time windows in positive positions: a `between` (ago or ahead), a `less than D ahead` (from
    the occurrence to D after it), or `more than A` and `less than B` (both ago, or both ahead) on
    the same attribute in one conjunction. Windows under `not` are holes, not windows."""
    if isinstance(cond, n.Between):
        side = " ahead" if cond.ahead else ""
        yield _Window(str(cond.path), cond.low, cond.high, f"'{cond.path} between {cond.low} and {cond.high}{side}'",
                      ahead=cond.ahead)
    elif isinstance(cond, n.LessThanAgo) and cond.ahead:
        yield _Window(str(cond.path), _ZERO, cond.duration, f"'{cond.path} less than {cond.duration} ahead'", ahead=True)
    elif isinstance(cond, n.Or):
        for op in cond.operands:
            yield from _windows(op)
    elif isinstance(cond, n.And):
        paired: set[str] = set()
        for ahead in (False, True):
            side = "ahead" if ahead else "ago"
            more = {str(o.path): o for o in cond.operands if isinstance(o, n.MoreThanAgo) and o.ahead == ahead}
            less = {str(o.path): o for o in cond.operands if isinstance(o, n.LessThanAgo) and o.ahead == ahead}
            for attr, m in more.items():
                if attr in less and m.duration.nominal() < less[attr].duration.nominal():
                    text = f"'{attr} more than {m.duration} {side} and less than {less[attr].duration} {side}'"
                    paired.add(f"{attr} {side}")
                    yield _Window(attr, m.duration, less[attr].duration, text, True, ahead)
        for op in cond.operands:
            if isinstance(op, (n.MoreThanAgo, n.LessThanAgo)) and (
                    not op.ahead or f"{op.path} ahead" in paired or isinstance(op, n.MoreThanAgo)):
                continue
            yield from _windows(op)


def _contradictions(cond: n.Condition) -> Iterator[tuple[n.Span, str]]:
    """Conjunctions in positive positions whose predicates on one attribute cannot all hold:
    an empty window, an empty date range, or a test of an attribute that must not be set."""
    stack = [cond]
    while stack:  # iterative: a flat chain may have thousands of operands
        node = stack.pop()
        if isinstance(node, (n.And, n.Or)):
            stack.extend(reversed(node.operands))
        if not isinstance(node, n.And):
            continue
        by_path: dict[str, list[n.Predicate]] = {}
        for op in node.operands:
            if not isinstance(op, (n.Not, n.And, n.Or, n.SegmentRef, n.Named)):
                by_path.setdefault(str(op.path), []).append(op)
        for attr, preds in by_path.items():
            found = _conflict(attr, preds) if len(preds) > 1 else None
            if found is None:
                continue
            first, second = sorted(found[:2], key=lambda p: p.span.start)
            why = found[2]
            tail = ("no user is ever in this segment, so this campaign never sends" if node is cond
                    else "this part of the condition is never true")
            yield second.span, f"'{format_condition(first)}' and '{format_condition(second)}' cannot both be true ({why}): {tail}"


def _conflict(attr: str, preds: list[n.Predicate]) -> tuple[n.Predicate, n.Predicate, str] | None:
    unset = next((p for p in preds if isinstance(p, n.IsSet) and p.negated), None)
    if unset is not None:
        other = next((p for p in preds if not (isinstance(p, n.IsSet) and p.negated)), None)
        if other is not None:
            return unset, other, f"when {attr} is not set, '{format_condition(other)}' is never true"
    windows = [p for p in preds if isinstance(p, n.WINDOWS)]
    for low_pred in windows:
        low = bounds(low_pred)[0]
        for high_pred in windows:
            high = bounds(high_pred)[1]
            if low is None or high is None or low_pred is high_pred or not _empty(low.offset, high.offset):
                continue
            if low.offset[1] < 0 and high.offset[1] < 0:  # both ago: say it in durations
                bound = "at least" if isinstance(high_pred, n.Between) else "more than"
                why = f"no {attr} is less than {low.offset[0]} and {bound} {high.offset[0]} before the same occurrence"
            else:
                why = f"no {attr} is {_side(low, True)} an occurrence and {_side(high, False)} it"
            return low_pred, high_pred, why
    afters = [p for p in preds if isinstance(p, n.After)]
    befores = [p for p in preds if isinstance(p, n.Before)]
    for after in afters:
        for before in befores:
            if _not_before(after.point, before.point):
                return after, before, f"no {attr} is after {_point(after.point)} and before {_point(before.point)}"
    return None


def _side(bound: Bound, lower: bool) -> str:
    """A window's bound in words, relative to the occurrence: ``more than 1w after``."""
    (d, sign), inclusive = bound.offset, bound.inclusive
    if d.amount == 0:
        return ("at or after" if inclusive else "after") if lower else ("at or before" if inclusive else "before")
    if lower == (sign > 0):  # moving away from the occurrence
        word = "at least" if inclusive else "more than"
    else:
        word = "at most" if inclusive else "less than"
    return f"{word} {d} {'after' if sign > 0 else 'before'}"


def _empty(low: Offset, high: Offset) -> bool:
    """True when ``T(low)`` is never earlier than ``T(high)``: nothing lies above the one and below
    the other (:mod:`lapse_dsl.windows`)."""
    (a, a_sign), (b, b_sign) = low, high
    if a_sign < 0 and b_sign < 0:
        return _not_longer(a, b)  # T-a >= T-b
    if a_sign > 0 and b_sign > 0:
        return _not_longer(b, a)  # T+a >= T+b
    return a_sign > 0  # an edge at or after T against one before it; the other way round never


def _not_longer(a: n.Duration, b: n.Duration) -> bool:
    """True when ``a`` before any occurrence is never earlier than ``b`` before it. Exact for two
    calendar or two exact durations; a calendar day is 23 to 25 hours across a daylight-saving
    change (and up to a day off where a zone skipped a date), so a mix needs a day to spare; a
    month is 28 to 31 days."""
    if a.unit == "mo" or b.unit == "mo":
        return a.longest() <= b.shortest() if a.calendar == b.calendar else b.shortest() - a.longest() >= dt.timedelta(days=1)
    if a.calendar == b.calendar:
        return a.nominal() <= b.nominal()
    return b.nominal() - a.nominal() >= dt.timedelta(days=1)


def _not_before(a: n.TimePoint, b: n.TimePoint) -> bool:
    """True when ``a`` is never earlier than ``b``, in every zone. Two dates are midnights of one
    zone; a date against an instant is only sure with a day to spare (a zone's midnight is within
    a day of midnight UTC)."""
    if isinstance(a, n.DateLit) and isinstance(b, n.DateLit):
        return a.value >= b.value
    return _utc_range(a)[0] >= _utc_range(b)[1]


def _utc_range(point: n.TimePoint) -> tuple[dt.datetime, dt.datetime]:
    """The earliest and latest instant a point can be, over every zone."""
    if isinstance(point, n.InstantLit):
        return point.value, point.value
    midnight = dt.datetime.combine(point.value, dt.time(), dt.UTC)
    return midnight - dt.timedelta(days=1), midnight + dt.timedelta(days=1)


def _point(point: n.TimePoint) -> str:
    return point.text if isinstance(point, n.InstantLit) else point.value.isoformat()


def _wall_times(schedule: n.Schedule) -> list[dt.time]:
    """The wall-clock times a schedule fires at (a cron's every hour and minute)."""
    if isinstance(schedule, n.Cron):
        return list(_cron_times(schedule.expression))
    if isinstance(schedule.at, n.UserClock):
        return []  # each user's own time: any time of day may be one, so none is known to be quiet
    return [dt.time(schedule.at.hour, schedule.at.minute)]


@functools.lru_cache(maxsize=1024)
def _cron_times(expression: str) -> tuple[dt.time, ...]:
    fields = croniter(expression).expanded
    minutes = range(60) if fields[0] == ["*"] else [int(m) for m in fields[0]]
    hours = range(24) if fields[1] == ["*"] else [int(h) for h in fields[1]]
    return tuple(dt.time(h, m) for h in hours for m in minutes)


def schedule_gaps(schedule: n.Schedule) -> tuple[dt.timedelta, dt.timedelta] | None:
    """The shortest and longest time between two consecutive occurrences, with 24-hour days;
    None for a schedule that fires once."""
    day = dt.timedelta(days=1)
    if isinstance(schedule, n.Daily):
        return day, day
    if isinstance(schedule, (n.Weekly, n.EveryWeeks)):
        cycle = 7 * (schedule.interval if isinstance(schedule, n.EveryWeeks) else 1)
        idx = sorted({DAYS.index(d.value) for d in schedule.days if d.value in DAYS})
        if not idx:
            return None
        gaps = [b - a for a, b in itertools.pairwise(idx)] + [idx[0] + cycle - idx[-1]]
        return min(gaps) * day, max(gaps) * day
    if isinstance(schedule, n.Monthly):
        return 28 * day, 31 * day
    if isinstance(schedule, n.Cron):
        return _cron_gaps(schedule.expression)
    return None


@functools.lru_cache(maxsize=4096)  # sampling costs ~50 ms; rule sets repeat expressions
def _cron_gaps(expression: str) -> tuple[dt.timedelta, dt.timedelta] | None:
    # Sampled over a year of naive wall-clock time (at most 2,000 occurrences): exact for the
    # calendar patterns campaigns use; for very frequent crons the gaps are tiny either way.
    start = dt.datetime(2026, 1, 1)
    try:
        it = croniter(expression, start)
        previous = it.get_next(dt.datetime)
    except CroniterError:  # "0 0 30 2 *" is well formed but has no date
        return None
    gaps = []
    for _ in range(2000):
        try:
            current = it.get_next(dt.datetime)
        except CroniterError:
            break
        gaps.append(current - previous)
        previous = current
        if current - start > dt.timedelta(days=400):
            break
    return (min(gaps), max(gaps)) if gaps else None


def _fmt_td(delta: dt.timedelta) -> str:
    """A length as the language writes it: 1w, 6d, 36h, 90m, or 1d 10h 30m when no unit fits."""
    minutes = int(delta.total_seconds() // 60)
    if minutes % (7 * 1440) == 0 and minutes:
        return f"{minutes // (7 * 1440)}w"
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    if minutes < 60:
        return f"{minutes}m"
    days, rest = divmod(minutes, 1440)
    parts = [f"{days}d"] if days else []
    hours, mins = divmod(rest, 60)
    parts += [f"{hours}h"] if hours else []
    parts += [f"{mins}m"] if mins else []
    return " ".join(parts)
