"""The abstract syntax tree: frozen attrs nodes, each with the source span it was parsed from.

Spans never take part in equality, so two texts that mean the same thing (for example a file and
its formatted form) parse to equal trees.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from typing import Literal as TypingLiteral

import attrs

# How deeply conditions may nest, as written: each `not`, and each `and`/`or` inside another
# condition, is one level (`not not a` is 2, `a or (b and not c)` is 3, `a or (b or c)` is 2 though
# the AST flattens it; redundant parentheses are no level). The parser rejects deeper conditions
# before anything walks them, so every recursive pass over a condition (checking, formatting,
# evaluation, generated code, SQL) needs at most this many levels. A chain (`a or b or ...`) is
# one flat node: any length.
MAX_DEPTH = 100

# The dates a rule may name (`before`/`after`, `from`/`until`, `once`, and the date of an instant
# in UTC). Far inside Python's years 1..9999, so that every computation on them (local midnight
# in any zone, a 400-day search horizon, shifts by windows and periods of up to 100 years) stays
# in range.
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(9000, 12, 31)

Unit = TypingLiteral["m", "h", "d", "w", "mo"]
Value = str | int | float | bool


@attrs.frozen
class Span:
    """Where a node came from: 1-based line and column of its first and last character."""

    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0  # character offsets into the text
    end: int = 0


NO_SPAN = Span(0, 0, 0, 0)


def _span() -> Any:  # Any: mypy's attrs plugin then reads `span: Span = _span()` as a default
    return attrs.field(default=NO_SPAN, eq=False, repr=False, kw_only=True)


@attrs.frozen
class Duration:
    """``amount`` of ``unit``: ``m``/``h`` are exact elapsed time, ``d``/``w``/``mo`` calendar
    units (:func:`lapse_dsl.timecalc.shift_wall` says how they move a wall clock)."""

    amount: int
    unit: Unit
    span: Span = _span()

    @property
    def calendar(self) -> bool:
        return self.unit in ("d", "w", "mo")

    def nominal(self) -> dt.timedelta:
        """The length with 24-hour days and 30-day months, for comparisons between durations."""
        if self.unit == "m":
            return dt.timedelta(minutes=self.amount)
        if self.unit == "h":
            return dt.timedelta(hours=self.amount)
        if self.unit == "mo":
            return dt.timedelta(days=self.amount * 30)
        return dt.timedelta(days=self.amount * (7 if self.unit == "w" else 1))

    def shortest(self) -> dt.timedelta:
        """The fewest 24-hour days this may span on a calendar (months vary: 1mo is 28 to 31 days;
        a zone's offset changes are not counted here)."""
        if self.unit != "mo":
            return self.nominal()
        years, months = divmod(self.amount, 12)
        return dt.timedelta(days=365 * years + 28 * months)

    def longest(self) -> dt.timedelta:
        """The most 24-hour days this may span on a calendar (see :meth:`shortest`)."""
        if self.unit != "mo":
            return self.nominal()
        years, months = divmod(self.amount, 12)
        return dt.timedelta(days=366 * years + 31 * months)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@attrs.frozen
class Path:
    """An attribute reference; dotted parts reach into nested maps."""

    parts: tuple[str, ...]
    span: Span = _span()

    def __str__(self) -> str:
        return ".".join(self.parts)


@attrs.frozen
class Literal:
    value: Value
    span: Span = _span()


@attrs.frozen
class Clock:
    """A wall-clock time ``HH:MM`` as written; the checker rejects impossible ones."""

    hour: int
    minute: int
    span: Span = _span()

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


@attrs.frozen
class DateLit:
    """A calendar date ``YYYY-MM-DD``."""

    value: dt.date
    span: Span = _span()


@attrs.frozen
class InstantLit:
    """An ISO-8601 date-time with an offset or ``Z``."""

    value: dt.datetime
    text: str = attrs.field(eq=False)
    span: Span = _span()


TimePoint = DateLit | InstantLit


# Conditions ---------------------------------------------------------------------------------


@attrs.frozen
class Between:
    """``path between low and high [ago]``: at least ``low`` and less than ``high`` ago; with
    ``ahead``, at least ``low`` and less than ``high`` ahead (:mod:`lapse_dsl.windows`)."""

    path: Path
    low: Duration
    high: Duration
    ago: bool = False  # the word `ago` is written (formatting only)
    ahead: bool = False
    span: Span = _span()


@attrs.frozen
class MoreThanAgo:
    """``path more than D ago``, or with ``ahead`` ``path more than D ahead``."""

    path: Path
    duration: Duration
    ahead: bool = False
    span: Span = _span()


@attrs.frozen
class LessThanAgo:
    """``path less than D ago``, or with ``ahead`` ``path less than D ahead``."""

    path: Path
    duration: Duration
    ahead: bool = False
    span: Span = _span()


@attrs.frozen
class Before:
    path: Path
    point: TimePoint
    span: Span = _span()


@attrs.frozen
class After:
    path: Path
    point: TimePoint
    span: Span = _span()


@attrs.frozen
class Compare:
    path: Path
    op: str  # one of = != < <= > >=
    value: Literal
    span: Span = _span()


@attrs.frozen
class InList:
    path: Path
    values: tuple[Literal, ...]
    negated: bool = False
    span: Span = _span()


@attrs.frozen
class IsSet:
    path: Path
    negated: bool = False
    span: Span = _span()


@attrs.frozen
class Truthy:
    """A bare boolean attribute."""

    path: Path
    span: Span = _span()


@attrs.frozen
class SegmentRef:
    """A named segment's quoted name used as a condition; the checker resolves it."""

    name: StringLit
    span: Span = _span()


@attrs.frozen
class Named:
    """A resolved reference to a named segment: its name and its definition's condition. Only the
    checker makes these, for ``explain`` (:attr:`lapse_dsl.model.CheckedRule.written`); the
    condition the back ends evaluate has them written out."""

    name: str
    condition: Condition
    span: Span = _span()


@attrs.frozen
class Not:
    operand: Condition
    span: Span = _span()


@attrs.frozen
class And:
    """Two or more operands; ``a and b and c`` is one node."""

    operands: tuple[Condition, ...]
    span: Span = _span()


@attrs.frozen
class Or:
    operands: tuple[Condition, ...]
    span: Span = _span()


Predicate = Between | MoreThanAgo | LessThanAgo | Before | After | Compare | InList | IsSet | Truthy
Condition = Predicate | Not | And | Or | SegmentRef | Named
Window = Between | MoreThanAgo | LessThanAgo
WINDOWS = (Between, MoreThanAgo, LessThanAgo)  # the predicates that measure a window back from an occurrence


def predicates(cond: Condition) -> list[Predicate]:
    """The leaves of a condition, in source order (a named segment's, through its reference;
    an unresolved reference has none)."""
    if isinstance(cond, (And, Or)):
        return [p for op in cond.operands for p in predicates(op)]
    if isinstance(cond, (Not, Named)):
        return predicates(cond.operand if isinstance(cond, Not) else cond.condition)
    if isinstance(cond, SegmentRef):
        return []
    return [cond]

def leaf(cond: Condition) -> Predicate:
    """``cond``, which a pass has found is no junction or negation, as a predicate: a checked
    segment has its named segments written out (:attr:`lapse_dsl.model.CheckedRule.segment`)."""
    assert not isinstance(cond, (And, Or, Not, SegmentRef, Named)), cond
    return cond


TIME_PREDICATES = (Between, MoreThanAgo, LessThanAgo, Before, After)


# Schedules ----------------------------------------------------------------------------------


@attrs.frozen
class Zone:
    """``local`` (the user's own zone), ``utc``, or a quoted IANA name."""

    kind: TypingLiteral["local", "utc", "named"]
    name: str | None = None
    span: Span = _span()

    def __str__(self) -> str:
        return self.kind if self.name is None else self.name


@attrs.frozen
class Name:
    """A word the checker validates against a fixed set (channel, day, field, status...)."""

    value: str
    span: Span = _span()


@attrs.frozen
class UserClock:
    """``at ATTR or HH:MM``: each user's own time of day (a ``clock`` attribute), else the fallback."""

    path: Path
    fallback: Clock
    span: Span = _span()

    def __str__(self) -> str:
        return f"at {self.path} or {self.fallback}"


TimeOfDay = Clock | UserClock


@attrs.frozen
class Daily:
    at: TimeOfDay
    zone: Zone
    span: Span = _span()


@attrs.frozen
class Weekly:
    days: tuple[Name, ...]
    at: TimeOfDay
    zone: Zone
    span: Span = _span()


@attrs.frozen
class EveryWeeks:
    interval: int
    days: tuple[Name, ...]
    at: TimeOfDay
    zone: Zone
    span: Span = _span()


@attrs.frozen
class Monthly:
    day: int
    at: TimeOfDay
    zone: Zone
    span: Span = _span()


@attrs.frozen
class Cron:
    expression: str
    zone: Zone
    span: Span = _span()


@attrs.frozen
class Once:
    date: DateLit
    at: TimeOfDay
    zone: Zone
    span: Span = _span()


Schedule = Daily | Weekly | EveryWeeks | Monthly | Cron | Once


# Clauses ------------------------------------------------------------------------------------


@attrs.frozen
class StringLit:
    """A quoted string; ``value`` is the decoded text."""

    value: str
    span: Span = _span()


@attrs.frozen
class MessageField:
    name: Name
    template: StringLit
    span: Span = _span()


@attrs.frozen
class Segment:
    name: StringLit | None
    condition: Condition
    span: Span = _span()


@attrs.frozen
class Send:
    channel: Name
    schedule: Schedule
    span: Span = _span()


@attrs.frozen
class Message:
    fields: tuple[MessageField, ...]
    span: Span = _span()


@attrs.frozen
class Variant:
    name: StringLit
    percent: float
    fields: tuple[MessageField, ...]
    send: Send | None = None  # a send-time experiment: the variant's own schedule
    span: Span = _span()


@attrs.frozen
class Holdout:
    percent: float
    span: Span = _span()


@attrs.frozen
class Salt:
    value: StringLit
    span: Span = _span()


@attrs.frozen
class Reeligible:
    after: Duration
    span: Span = _span()


@attrs.frozen
class Cap:
    count: int
    per: Duration
    scope: Name | None  # a channel, "all", or None for the rule's own channel
    span: Span = _span()


@attrs.frozen
class QuietHours:
    start: Clock
    end: Clock
    mode: Name | None  # "defer" (the default) or "drop"
    span: Span = _span()

    def covers(self, wall: dt.time) -> bool:
        """True when the wall-clock time is quiet: from ``start`` (inclusive) to ``end`` (exclusive),
        wrapping midnight when ``start`` is later than ``end``."""
        start, end = dt.time(self.start.hour, self.start.minute), dt.time(self.end.hour, self.end.minute)
        return start <= wall < end if start < end else wall >= start or wall < end


@attrs.frozen
class From:
    date: DateLit
    span: Span = _span()


@attrs.frozen
class Until:
    date: DateLit
    span: Span = _span()


@attrs.frozen
class Grace:
    duration: Duration
    span: Span = _span()


@attrs.frozen
class Status:
    value: Name
    span: Span = _span()


Clause = (
    Segment | Send | Message | Variant | Holdout | Salt | Reeligible | Cap | QuietHours | From
    | Until | Grace | Status
)


# Top level ----------------------------------------------------------------------------------


@attrs.frozen
class Rule:
    """A one-line rule (``name`` is None) or a named ``campaign`` block."""

    name: StringLit | None
    clauses: tuple[Clause, ...]
    span: Span = _span()


@attrs.frozen
class DefaultTimezone:
    name: StringLit
    span: Span = _span()


@attrs.frozen
class AttributeDecl:
    path: Path
    type: Name
    span: Span = _span()


@attrs.frozen
class SegmentDef:
    """``segment "NAME" = CONDITION`` at the top level of a file: a named, reusable segment."""

    name: StringLit
    condition: Condition
    span: Span = _span()


Item = Rule | DefaultTimezone | AttributeDecl | SegmentDef


@attrs.frozen
class Comment:
    text: str  # including the leading '#'
    line: int
    column: int


@attrs.frozen
class File:
    """A parsed ``.lapse`` file. ``comments`` are kept for the formatter; they carry no meaning."""

    items: tuple[Item, ...]
    source: str = attrs.field(default="<string>", eq=False)
    comments: tuple[Comment, ...] = attrs.field(default=(), eq=False)
    text: str = attrs.field(default="", eq=False, repr=False)
