"""The reference evaluator: segments in three-valued logic, and the search for a rule's earliest
qualifying occurrence with its delivery controls. It walks the AST; ``explain`` uses it as is, and
the compiled fast path (:mod:`lapse_dsl.codegen`) must agree with it on every case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, Protocol

import attrs

from . import nodes as n
from .errors import UserDataError
from .model import CheckedRule, Decision, HistoryEntry
from .personal import held_out, schedule_for, variant_of
from .plan import fallback_zone, fixed_zone, needs_moment
from .schedule import occurrences, offsets_near
from .templates import TemplateError, message_variables
from .timecalc import SEARCH_HORIZON, Tz, iso_utc, local_midnight, local_wall, resolve, shift, shift_wall
from .userdata import as_string, parse_time, short_repr
from .windows import Offset, Window, bounds, flips
from .zones import get_zone

__all__ = [
    "FIRST_INSTANT", "LAST_INSTANT", "Decision", "HistoryEntry", "Moment", "Outcome", "Program", "ReferenceProgram",
    "idempotency_key", "key_preimage", "require_instant", "require_within", "search", "truth",
]

HORIZON = SEARCH_HORIZON  # how far ahead a search looks
# Calendar shifts differ from 24-hour arithmetic by at most a zone's largest offset jump (24h at
# a date-line change) plus a gap; the search may skip occurrences farther than this from any
# point where a time condition can change.
FLIP_MARGIN = dt.timedelta(days=3)
_TICK = dt.timedelta(microseconds=1)


def parse_history(history: Iterable[Mapping[str, Any]], naive_zone: Tz | None, user_id: str) -> tuple[HistoryEntry, ...]:
    out = []
    for i, entry in enumerate(history):
        if not isinstance(entry, Mapping):
            raise UserDataError(f"history[{i}] must be an object with campaign, channel and at", user_id=user_id)
        campaign, channel, at = entry.get("campaign"), entry.get("channel"), entry.get("at")
        if not isinstance(campaign, str) or not isinstance(channel, str):
            raise UserDataError(f"history[{i}] needs string 'campaign' and 'channel'", user_id=user_id)
        moment = parse_time(at, f"history[{i}].at", naive_zone, user_id)
        if moment.year > 9000:  # re-eligibility and cap arithmetic must stay inside datetime's range
            raise UserDataError(f"history[{i}].at {moment.isoformat()} is too far in the future", user_id=user_id)
        out.append(HistoryEntry(campaign, channel, moment))
    return tuple(out)


class Moment:
    """The instant a segment is judged at, with its nominal wall time in the delivery zone."""

    __slots__ = ("_bounds", "_local", "_stamp", "at", "cache", "wall", "zone")

    def __init__(self, at: dt.datetime, wall: dt.datetime, zone: Tz) -> None:
        self.at = at
        self.wall = wall
        self.zone = zone
        self._bounds: dict[Offset, dt.datetime] = {}
        self.cache: dict[str, tuple[dt.datetime, ...]] = {}  # compiled programs' bounds tuples
        self._local: dt.datetime | None = None
        self._stamp: str | None = None

    # Moments of the compiled path are shared by every user of an occurrence: what a decision
    # needs from them is computed once.
    def local(self) -> dt.datetime:
        """The instant on the delivery zone's clock."""
        if self._local is None:
            self._local = self.at.astimezone(self.zone)
        return self._local

    def stamp(self) -> str:
        """The nominal wall time to the minute, as the idempotency key hashes it."""
        if self._stamp is None:
            self._stamp = self.wall.isoformat(timespec="minutes")
        return self._stamp

    def fill(self, key: str, offsets: list[Offset]) -> tuple[dt.datetime, ...]:
        """Compute and remember the bounds ``T(±D)`` for ``offsets`` under ``key``."""
        found = self.cache[key] = tuple(self.bound(o) for o in offsets)
        return found

    @classmethod
    def of(cls, at: dt.datetime, zone: Tz) -> Moment:
        return cls(at, local_wall(at, zone), zone)

    def back(self, duration: n.Duration) -> dt.datetime:
        """``T(-D)``: the same wall time D earlier for calendar units, exactly D earlier otherwise."""
        return self.bound((duration, -1))

    def bound(self, offset: Offset) -> dt.datetime:
        """``T(sign * D)``, measured from the occurrence's nominal wall time for calendar units
        (:mod:`lapse_dsl.windows`), exactly otherwise."""
        found = self._bounds.get(offset)
        if found is None:
            duration, sign = offset
            if duration.calendar:
                found = shift_wall(self.wall, self.zone, duration, sign)
            else:
                found = self.at + sign * duration.nominal()
            self._bounds[offset] = found
        return found

    def point(self, point: n.TimePoint) -> dt.datetime:
        if isinstance(point, n.InstantLit):
            return point.value
        return local_midnight(point.value, self.zone)


Truth = bool | None


def truth(cond: n.Condition, values: Mapping[str, Any], moment: Moment | None) -> Truth:
    """Three-valued (Kleene) truth of ``cond`` for the user's ``values`` at ``moment``; without a
    moment, the static test: every occurrence-dependent predicate is unknown (and its attribute
    need not be in ``values``)."""
    if isinstance(cond, n.And):
        result: Truth = True
        for op in cond.operands:
            v = truth(op, values, moment)
            if v is False:
                return False
            if v is None:
                result = None
        return result
    if isinstance(cond, n.Or):
        result = False
        for op in cond.operands:
            v = truth(op, values, moment)
            if v is True:
                return True
            if v is None:
                result = None
        return result
    if isinstance(cond, n.Not):
        negations = 0
        while isinstance(cond, n.Not):  # a chain of nots, peeled without recursion
            cond, negations = cond.operand, negations + 1
        v = truth(cond, values, moment)
        return v if v is None or negations % 2 == 0 else not v
    if isinstance(cond, n.Named):  # a named segment (explain's tree): its definition's truth
        return truth(cond.condition, values, moment)
    assert not isinstance(cond, n.SegmentRef)  # the checker resolved every reference
    if moment is None and needs_moment(cond):
        return None
    x = values[str(cond.path)]
    if isinstance(cond, n.IsSet):
        return (x is None) if cond.negated else (x is not None)
    if x is None:
        return None
    if isinstance(cond, (n.Before, n.After)):
        point = cond.point.value if isinstance(cond.point, n.InstantLit) else _at(moment).point(cond.point)
        return bool(x < point) if isinstance(cond, n.Before) else bool(x > point)
    if isinstance(cond, n.WINDOWS):
        return inside(cond, x, _at(moment))
    if isinstance(cond, n.Compare):
        return compare(cond.op, x, cond.value.value)
    if isinstance(cond, n.InList):
        found = any(_equal(x, v.value) for v in cond.values)
        return not found if cond.negated else found
    return bool(x)  # Truthy: the checker made sure it is a boolean


def inside(p: Window, x: dt.datetime, moment: Moment) -> bool:
    """Whether ``x`` lies in the window ``p`` at ``moment`` (:func:`lapse_dsl.windows.bounds`)."""
    low, high = bounds(p)
    if low is not None:
        edge = moment.bound(low.offset)
        if not (edge <= x if low.inclusive else edge < x):
            return False
    if high is not None:
        edge = moment.bound(high.offset)
        if not (x <= edge if high.inclusive else x < edge):
            return False
    return True


def window_bounds(p: Window, moment: Moment) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The instants between which a window predicate's attribute lies at ``moment`` (None: open;
    whether an edge itself is inside is :func:`inside`'s to say). The portfolio index
    (:mod:`lapse_dsl.portfolio`) places campaigns by these intervals."""
    low, high = bounds(p)
    return (None if low is None else moment.bound(low.offset)), (None if high is None else moment.bound(high.offset))


def _at(moment: Moment | None) -> Moment:
    assert moment is not None  # truth() returned early for occurrence-dependent predicates
    return moment


def _equal(x: object, v: object) -> bool:
    return type(x) is type(v) and x == v if isinstance(x, bool) or isinstance(v, bool) else x == v


def compare(op: str, x: Any, v: Any) -> bool:
    if op == "=":
        return _equal(x, v)
    if op == "!=":
        return not _equal(x, v)
    if op == "<":
        return bool(x < v)
    if op == "<=":
        return bool(x <= v)
    if op == ">":
        return bool(x > v)
    return bool(x >= v)


def time_predicates(cond: n.Condition) -> Iterator[Window]:
    """The predicates whose truth depends on the occurrence (before/after a fixed point do not)."""
    for p in n.predicates(cond):
        if isinstance(p, n.WINDOWS):
            yield p


_MIN = dt.datetime.min.replace(tzinfo=dt.UTC)
_MAX = dt.datetime.max.replace(tzinfo=dt.UTC)


@attrs.frozen
class Edge:
    """A window edge of a segment: its truth can flip when the occurrence passes the attribute's
    value plus ``offset`` (:func:`lapse_dsl.windows.flips`). A value below ``lowest`` or above
    ``highest`` (None: no limit) puts the flip before year 1 or, with the margin, after year 9999:
    outside every search (which looks from year 1000 to 9400), so the edge is passed over, and
    no time value a record can hold overflows the arithmetic."""

    path: str
    offset: dt.timedelta
    lowest: dt.datetime | None
    highest: dt.datetime | None


def flip_lengths(cond: n.Condition) -> tuple[Edge, ...]:
    """Every window edge of the segment (see :class:`Edge`)."""
    out = []
    for p in time_predicates(cond):
        for offset in flips(p):
            lowest = _MIN - offset if offset < dt.timedelta(0) else None
            highest = _MAX - FLIP_MARGIN - offset if offset > -FLIP_MARGIN else None
            out.append(Edge(str(p.path), offset, lowest, highest))
    return tuple(out)


def next_change(edges: Iterable[tuple[dt.datetime | None, Edge]], after: dt.datetime) -> dt.datetime | None:
    """The earliest instant after which the segment's truth may differ from its truth at ``after``
    (conservative by FLIP_MARGIN), or None when it can never change again. ``edges`` pairs each
    window edge with its attribute's value: the truth flips near value + offset."""
    earliest: dt.datetime | None = None
    for x, edge in edges:
        if x is None or (edge.lowest is not None and x < edge.lowest) or (edge.highest is not None and x > edge.highest):
            continue
        flip = x + edge.offset
        if flip + FLIP_MARGIN > after and (earliest is None or flip < earliest):
            earliest = flip
    return None if earliest is None else earliest - FLIP_MARGIN


def delivery_zone(rule: CheckedRule, user: Mapping[str, Any], default_timezone: str) -> tuple[Tz, str, str | None]:
    """The zone a rule delivers in for this user, its name, and a warning when it fell back."""
    fixed = fixed_zone(rule)
    if fixed is not None:
        return fixed[0], fixed[1], None
    raw = user.get("timezone")
    name = as_string(raw)  # a str subclass (a StrEnum member) names a zone by its characters
    own = get_zone(name) if name is not None else None
    if own is not None:
        return own, own.key, None
    found, fallback, why = fallback_zone(rule, default_timezone)
    problem = ("no timezone attribute" if raw is None or name == ""
               else f"timezone {short_repr(raw)} is not a valid IANA zone")  # any value: a bounded repr
    return found, fallback, f"{problem}; delivered in {fallback} ({why})"


@attrs.frozen
class Outcome:
    decision: Decision | None
    reason: str  # why there is no decision, or a note on the decision
    occurrence: Moment | None = None


def next_occurrence(schedule: n.Schedule, zone: Tz, start: dt.datetime, from_date: dt.date | None) -> Moment | None:
    """The first occurrence at or after ``start`` and not before the ``from`` date."""
    if from_date is not None:
        start = max(start, local_midnight(from_date, zone))
    occ = next(occurrences(schedule, zone, start, from_date), None)
    return None if occ is None else Moment(occ.at, occ.wall, zone)


class Program(Protocol):
    """How one rule's segment is evaluated: by walking the AST (:class:`ReferenceProgram`) or by
    generated code (:mod:`lapse_dsl.codegen`). ``values`` is whatever that program's reader made."""

    def segment(self, values: Any, moment: Moment) -> Truth: ...

    def static(self, values: Any) -> Truth:
        """The segment with every occurrence-dependent predicate unknown: False means the user can
        never be in it, so no schedule work is needed."""

    def change(self, values: Any, after: dt.datetime) -> dt.datetime | None:
        """The earliest instant worth re-evaluating after ``after`` (see :func:`next_change`)."""

    def moments(self, zone: Tz, start: dt.datetime) -> Cursor:
        """The rule's occurrences at or after ``start`` in ``zone``."""


class Cursor(Protocol):
    """Walks a rule's occurrences forward; ``seek`` skips to the first one at or after an instant."""

    def next(self) -> Moment | None: ...

    def seek(self, start: dt.datetime) -> None:
        """Jump: the cost is independent of how far ``start`` is (no occurrence in between is made)."""


# (schedule, from date, zone, start) -> a cursor over the schedule's occurrences from start
Cursors = Callable[[n.Schedule, dt.date | None, Tz, dt.datetime], Cursor]


class _GeneratorCursor:
    def __init__(self, schedule: n.Schedule, from_date: dt.date | None, zone: Tz, start: dt.datetime) -> None:
        self.schedule = schedule
        self.from_date = from_date
        self.zone = zone
        self.seek(start)

    def seek(self, start: dt.datetime) -> None:
        self._it = occurrences(self.schedule, self.zone, start, self.from_date)

    def next(self) -> Moment | None:
        occ = next(self._it, None)
        return None if occ is None else Moment(occ.at, occ.wall, self.zone)


class ReferenceProgram:
    """The tree-walking program: the reference the compiled one must agree with."""

    def __init__(self, rule: CheckedRule) -> None:
        self.rule = rule
        self._edges = flip_lengths(rule.segment)

    def segment(self, values: Mapping[str, Any], moment: Moment) -> Truth:
        return truth(self.rule.segment, values, moment)

    def static(self, values: Mapping[str, Any]) -> Truth:
        return truth(self.rule.segment, values, None)

    def change(self, values: Mapping[str, Any], after: dt.datetime) -> dt.datetime | None:
        return next_change(((values[edge.path], edge) for edge in self._edges), after)

    def moments(self, zone: Tz, start: dt.datetime) -> Cursor:
        return _GeneratorCursor(self.rule.schedule, self.rule.from_date, zone, start)


def search(
    rule: CheckedRule,
    program: Program,
    values: Any,
    user: Mapping[str, Any],
    user_id: str,
    zone: Tz,
    zone_name: str,
    now: dt.datetime,
    since: dt.datetime | None,
    history: tuple[HistoryEntry, ...],
    warnings: tuple[str, ...],
    reasons: bool = True,
    end: dt.datetime | None = None,
    listed: Sequence[Moment] | None = None,
    cursors: Cursors | None = None,
) -> Outcome:
    """The earliest qualifying occurrence of ``rule`` for this user, as a decision. Without
    ``reasons`` (the per-user hot path) a missing decision is not explained. With ``end`` (``now +
    within``) a decision sending at or after ``end`` is not made, and the search stops there: the
    answer is the unbounded answer filtered to ``send_at < end``. ``listed``, with ``end``: the
    rule's occurrences from where this search starts to before ``end``, made once for every user
    of the zone (the portfolio's window tables), so the search need not make them. For a
    :attr:`~lapse_dsl.model.CheckedRule.personal` rule the occurrences are the user's own
    (:func:`lapse_dsl.personal.schedule_for`), never the program's shared ones nor ``listed``:
    made by ``cursors`` (occurrence tables the compiled path shares between the users of one
    variant's schedule and zone), else (and at a user's own hour) generated for this search."""
    if rule.status != "active":
        what = "a draft: it is checked and previewed but never sends" if rule.status == "draft" else "paused"
        return Outcome(None, f"status {rule.status}: the campaign is {what}")
    own_sends = sorted(h.at for h in history if h.campaign == rule.name) if history else []
    if own_sends and rule.reeligible is None:
        return _no_decision(reasons, f"already received on {iso_utc(own_sends[-1])}; without 'reeligible after' "
                                     "a campaign reaches a user once")
    personal = None
    if rule.personal:
        personal = schedule_for(rule, user, user_id)
        if personal.warning is not None:
            warnings = (*warnings, personal.warning)
        listed = None
    if listed is not None and not own_sends and not rule.controlled:
        # nothing blocks or moves an occurrence: the first one in the segment is the decision
        for occurrence in listed:
            if rule.until_date is not None and occurrence.wall.date() > rule.until_date:
                break
            if program.segment(values, occurrence) is True:
                return Outcome(decision(rule, user, user_id, zone, zone_name, occurrence, occurrence.at, now, warnings), "",
                               occurrence)
        return _no_decision(reasons, "no occurrence before the end of the search is in the segment")
    lower = search_lower(rule, zone, now, since)
    start = search_start(rule, zone, lower)
    horizon = now + HORIZON
    if end is not None and end <= horizon:
        horizon = end - _TICK  # an occurrence at or after `end` sends at or after it
    if start > horizon:  # a `from` date past the horizon
        return _no_decision(reasons, _BEYOND_HORIZON)
    first_block = ""
    if personal is None:
        cursor = program.moments(zone, start)
    else:
        # a variant's schedule is shared by many users, so a shared table pays; one user's own hour
        # is shared by few (a table makes a chunk of occurrences where a search needs one or two)
        make = cursors if cursors is not None and personal.clock is None else _GeneratorCursor
        cursor = make(personal.schedule, rule.from_date, zone, start)
    # Occurrences are never generated past the horizon: a resume point beyond it ends the search
    # (the next occurrence would lie beyond it), and a seek jumps (see Cursor.seek).
    while True:
        moment = cursor.next()
        if moment is None or moment.at > horizon:
            return _no_decision(reasons, first_block or _BEYOND_HORIZON)
        if rule.until_date is not None and moment.wall.date() > rule.until_date:
            return _no_decision(reasons, first_block or f"the campaign ended on {rule.until_date}")
        if program.segment(values, moment) is not True:
            resume = program.change(values, moment.at)
            if resume is None:
                return _no_decision(reasons, first_block or "no later occurrence can be in the segment without new activity")
            if resume > horizon:
                return _no_decision(reasons, first_block or _BEYOND_HORIZON)
            if resume > moment.at:
                cursor.seek(resume)
            continue
        send_at = moment.at
        if rule.controlled:
            send_at, blocked, resume = controls(rule, moment, own_sends, history)
            if send_at < lower:
                continue
            if blocked:
                first_block = first_block or blocked
                if resume is not None and resume > horizon:
                    return _no_decision(reasons, first_block)
                if resume is not None and resume > moment.at:
                    cursor.seek(resume)
                continue
        if end is not None and send_at >= end:  # deferred past `end`: the earliest decision is not within
            return _no_decision(reasons, f"the next send, at {iso_utc(send_at)}, is not before {iso_utc(end)}")
        # the reason names a control that blocked an earlier occurrence, for explain
        return Outcome(decision(rule, user, user_id, zone, zone_name, moment, send_at, now, warnings), first_block, moment)


def search_lower(rule: CheckedRule, zone: Tz, now: dt.datetime, since: dt.datetime | None) -> dt.datetime:
    """The earliest send time a search at ``now`` accepts: ``now``, or with ``since`` the instant
    after it (but not before ``now`` less the rule's grace)."""
    return now if since is None else max(since + _TICK, shift(now, zone, rule.grace, -1))


# The instants a call may ask about (now, since, at), FIRST_INSTANT included, LAST_INSTANT not:
# evaluation looks up to 100 years back (the longest duration) and 400 days ahead, which must
# stay inside datetime's years 1..9999 in every zone.
FIRST_INSTANT = dt.datetime(1000, 1, 1, tzinfo=dt.UTC)
LAST_INSTANT = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def require_instant(value: object, name: str) -> None:
    """``value`` is an aware datetime in the supported range, or TypeError/ValueError naming ``name``."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise TypeError(f"{name} must be an aware datetime (with tzinfo), got {value!r}")
    if not FIRST_INSTANT <= value < LAST_INSTANT:  # aware comparisons never overflow
        raise ValueError(f"{name} must be from {FIRST_INSTANT.date()} to before {LAST_INSTANT.date()} (UTC), "
                         f"got {value.isoformat()}")


def require_within(within: object) -> None:
    """``within`` is None or a non-negative timedelta, or TypeError/ValueError."""
    if within is None:
        return
    if not isinstance(within, dt.timedelta):
        raise TypeError(f"within must be a datetime.timedelta, got {within!r}")
    if within < dt.timedelta(0):
        raise ValueError(f"within must not be negative, got {within}")


def search_end(now: dt.datetime, within: dt.timedelta | None) -> dt.datetime | None:
    """``now + within``, or None when nothing limits the search before the horizon."""
    if within is None or within > HORIZON:
        return None
    return now + within


def search_start(rule: CheckedRule, zone: Tz, lower: dt.datetime) -> dt.datetime:
    """Where the search for occurrences sending at or after ``lower`` starts."""
    start = lower
    if rule.quiet is not None and rule.quiet_mode == "defer":
        start = lower - dt.timedelta(days=1)  # a deferred send moves up to a day later
    if rule.from_date is not None:
        start = max(start, local_midnight(rule.from_date, zone))
    return start


_NO_DECISION = Outcome(None, "")
_BEYOND_HORIZON = f"no occurrence qualifies within the next {HORIZON.days} days"


def _no_decision(reasons: bool, reason: str) -> Outcome:
    return Outcome(None, reason) if reasons else _NO_DECISION


def controls(
    rule: CheckedRule, moment: Moment, own_sends: list[dt.datetime], history: tuple[HistoryEntry, ...]
) -> tuple[dt.datetime, str, dt.datetime | None]:
    """(send time, why blocked or "", the earliest instant worth trying next)."""
    at, zone = moment.at, moment.zone
    if own_sends and rule.reeligible is not None:
        again = shift(own_sends[-1], zone, rule.reeligible, +1)
        if at < again:
            return at, (f"not re-eligible: received on {iso_utc(own_sends[-1])}, again after {rule.reeligible} "
                        f"(from {iso_utc(again)})"), again
    if rule.cap is not None:
        cap = rule.cap
        scope = cap.scope.value if cap.scope else rule.channel
        window_start = moment.back(cap.per)
        recent = sorted(h.at for h in history if h.at > window_start and (scope == "all" or h.channel == scope))
        if len(recent) >= cap.count:
            what = "sends" if scope == "all" else f"{scope} sends"
            oldest = recent[len(recent) - cap.count]  # the send that must leave the window
            free = shift(oldest, zone, cap.per, +1)
            if cap.per.calendar and not (_steady(zone, oldest) and _steady(zone, free)):
                # The window is measured back from each occurrence's nominal wall time, not forward
                # from the send: near an offset change the two differ, so resume early and re-check.
                # (With one offset around both, every occurrence before `free` is capped, and the
                # first at or after it is not: resume there, whatever the period.)
                free -= FLIP_MARGIN
            return at, f"capped: {len(recent)} {what} in the last {cap.per}, limit {cap.count}", free
    if rule.quiet is not None:
        end = _quiet_end(rule.quiet, local_wall(at, zone), zone)
        if end is not None:
            if rule.quiet_mode == "drop":
                return at, f"quiet hours {rule.quiet.start} to {rule.quiet.end}: occurrence dropped", end
            return end, "", None
    return at, "", None


def _steady(zone: Tz, instant: dt.datetime) -> bool:
    """Whether ``zone`` keeps one UTC offset within FLIP_MARGIN of ``instant``."""
    return len(offsets_near(zone, instant, FLIP_MARGIN)) == 1


def _quiet_end(quiet: n.QuietHours, wall: dt.datetime, zone: Tz) -> dt.datetime | None:
    """The instant the quiet period containing ``wall`` ends, or None when ``wall`` is not quiet
    (:meth:`~lapse_dsl.nodes.QuietHours.covers` says what is quiet)."""
    t = wall.time()
    if not quiet.covers(t):
        return None
    end = dt.time(quiet.end.hour, quiet.end.minute)
    # a period that wraps midnight and started today ends tomorrow
    end_day = wall.date() + dt.timedelta(days=1) if t >= end else wall.date()
    return resolve(dt.datetime.combine(end_day, end), zone)


def decision(
    rule: CheckedRule,
    user: Mapping[str, Any],
    user_id: str,
    zone: Tz,
    zone_name: str,
    occ: Moment,
    send_at: dt.datetime,
    now: dt.datetime,
    warnings: tuple[str, ...],
) -> Decision:
    held = held_out(rule, user_id)
    variant = None
    fields = dict(rule.message) if rule.message else {}
    chosen = variant_of(rule, user_id) if rule.variants and not held else None
    if chosen is not None:
        variant = chosen.name
        fields.update(dict(chosen.message))
    local = occ.local() if send_at is occ.at else send_at.astimezone(zone)
    message: dict[str, str] = {}
    if not held and fields:
        variables = message_variables(user, rule.name, local.isoformat())
        for name, template in fields.items():
            try:
                message[name] = template.render(variables, now)
            except TemplateError as exc:
                raise UserDataError(f"{rule.name}: message {name} cannot be rendered: {exc}", user_id=user_id) from None
    # positional: keyword calls to an attrs __init__ cost twice as much
    return Decision(rule.name, rule.channel, user_id, send_at, local, zone_name, send_at <= now, held, variant,
                    message, _key(rule.name, user_id, occ.stamp()), warnings)


def idempotency_key(campaign: str, user_id: str, wall: dt.datetime) -> str:
    """Stable for a campaign, a user and an occurrence (its nominal local wall time), whatever
    ``now`` is, so a host can deduplicate sends across ticks, retries and zone changes."""
    return _key(campaign, user_id, wall.isoformat(timespec="minutes"))


def key_preimage(campaign: str, user_id: str, stamp: str) -> bytes:
    """What the idempotency key hashes: the JSON array ``[campaign, user_id, stamp]``, compact and
    ASCII-only (docs/hosts.md). Unambiguous whatever the names contain, and total: ``\\u`` escapes
    encode any string, lone surrogates included."""
    # json.dumps(..., ensure_ascii=True, separators=(",", ":")) writes the same; its own strings' encoder is 5x faster
    return f"[{_json_string(campaign)},{_json_string(user_id)},{_json_string(stamp)}]".encode("ascii")


def _key(campaign: str, user_id: str, stamp: str) -> str:
    return hashlib.sha256(key_preimage(campaign, user_id, stamp)).hexdigest()[:32]
