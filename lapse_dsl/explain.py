"""Why a user does or does not get a message: the segment's condition tree at the next occurrence,
each node valued by evaluation's own :func:`lapse_dsl.evaluate.truth`, the predicates that decide
it, and the outcome of the search, as a structure that also prints readably."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from . import nodes as n
from .evaluate import Moment, Outcome, Truth, truth
from .format import format_condition, format_schedule
from .model import Decision
from .personal import UserSchedule
from .timecalc import iso_utc

__all__ = ["ConditionTrace", "Explanation", "RuleTrace", "condition_traces", "own_schedule", "reasons", "summary", "trace"]


@attrs.frozen
class ConditionTrace:
    """One node of a segment's condition tree at an occurrence, with the value evaluation gives it."""

    text: str  # the condition as written (canonical form)
    value: Truth
    detail: str  # a predicate's (or a negated predicate's): the user's value and what it needs; "" for the rest
    kind: str = "predicate"  # "predicate", "not", "and", "or" or "segment" (a named segment, by its quoted name)
    children: tuple[ConditionTrace, ...] = ()  # the operands of "and"/"or", the operand of "not", a segment's definition
    node: n.Condition | None = attrs.field(default=None, eq=False, repr=False)
    negated_detail: str = attrs.field(default="", eq=False, repr=False)  # a predicate's detail under "not"

    def lines(self, depth: int = 0) -> list[str]:
        """The readable form: one line per node, operands indented under "and", "or" and "not"
        (a "not" of a predicate is one line), and a named segment's definition under its name (the
        operands of an "and" directly, as for the whole segment)."""
        pad = "    " + "  " * depth
        if self.kind == "predicate" or (self.kind == "not" and self.children[0].kind == "predicate"):
            return [f"{pad}{_word(self.value):7} {self.text}  ({self.detail})"]
        if self.kind == "segment":
            (body,) = self.children
            parts = body.children if body.kind == "and" else (body,)
            return [f"{pad}{_word(self.value):7} segment {self.text}", *(line for c in parts for line in c.lines(depth + 1))]
        return [f"{pad}{_word(self.value):7} {self.kind}", *(line for c in self.children for line in c.lines(depth + 1))]


@attrs.frozen
class RuleTrace:
    campaign: str
    status: str
    timezone: str
    occurrence: dt.datetime | None  # the next occurrence (local time), where the conditions were evaluated
    in_segment: Truth
    conditions: tuple[ConditionTrace, ...]  # the segment's operands when it is an "and", else the segment
    decision: Decision | None
    reason: str
    # a personal campaign's schedule for this user (its variant's, at the user's own time), which
    # the occurrence above is of; None when every user has the campaign's schedule
    schedule: str | None = None

    @property
    def reasons(self) -> tuple[ConditionTrace, ...]:
        """The predicates (negated under an odd number of "not") whose values decide
        :attr:`in_segment`, as the one-line reason lists them."""
        return tuple(reasons(self.conditions, self.in_segment))

    def __str__(self) -> str:
        lines = [f"{self.campaign} [{self.status}] in {self.timezone}: {self.reason}"]
        if self.schedule is not None:
            lines.append(f"  schedule {self.schedule}")
        if self.occurrence is not None:
            when = f"{self.occurrence.isoformat()} ({iso_utc(self.occurrence)})"
            lines.append(f"  next occurrence {when}: segment is {_word(self.in_segment)}")
        for c in self.conditions:
            lines += c.lines()
        return "\n".join(lines)


@attrs.frozen
class Explanation:
    user_id: str
    now: dt.datetime
    rules: tuple[RuleTrace, ...]
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"user {self.user_id} at {iso_utc(self.now)}"
        body = "\n".join(str(r) for r in self.rules)
        notes = "".join(f"\nwarning: {w}" for w in self.warnings)
        return f"{head}\n{body}{notes}"

    def __iter__(self) -> Iterator[RuleTrace]:
        return iter(self.rules)


def own_schedule(own: UserSchedule) -> str:
    """A user's own schedule as explain shows it: ``weekly thu 09:30 local (variant "noon",
    preferred_time 09:30)``."""
    why = [f'variant "{own.variant}"'] if own.variant is not None else []
    why += [own.clock] if own.clock is not None else []
    return format_schedule(own.schedule) + (f" ({', '.join(why)})" if why else "")


def condition_traces(cond: n.Condition, values: Mapping[str, Any], moment: Moment) -> list[ConditionTrace]:
    """The segment's tree at ``moment``: the operands of a top-level "and", else the one root."""
    root = trace(cond, values, moment)
    return list(root.children) if root.kind == "and" else [root]


def trace(cond: n.Condition, values: Mapping[str, Any], moment: Moment) -> ConditionTrace:
    """``cond`` and its operands at ``moment``, each valued by :func:`lapse_dsl.evaluate.truth`,
    the definition evaluation itself uses."""
    value = truth(cond, values, moment)
    text = format_condition(cond)
    if isinstance(cond, (n.And, n.Or)):
        kind = "and" if isinstance(cond, n.And) else "or"
        return ConditionTrace(text, value, "", kind, tuple(trace(op, values, moment) for op in cond.operands), cond)
    if isinstance(cond, n.Named):  # a node of its own, its verdict the definition's
        return ConditionTrace(text, value, "", "segment", (trace(cond.condition, values, moment),), cond)
    if isinstance(cond, n.Not):
        operand = trace(cond.operand, values, moment)
        return ConditionTrace(text, value, operand.negated_detail, "not", (operand,), cond)
    assert not isinstance(cond, n.SegmentRef)  # the checker resolved every reference
    return ConditionTrace(text, value, _detail(cond, values, moment), "predicate", (), cond,
                          _detail(cond, values, moment, negated=True))


def reasons(traces: Sequence[ConditionTrace], value: Truth) -> Iterator[ConditionTrace]:
    """The predicates that decide the value of the "and" of ``traces`` (which is ``value``), each
    negated under an odd number of "not": see :func:`_literals`."""
    for t in traces:
        if t.value is value:
            yield from _literals(t, negated=False)


def _literals(t: ConditionTrace, negated: bool) -> Iterator[ConditionTrace]:
    """What decides ``t``'s value. A junction's value is decided by its operands of that value (a
    false "and": its false ones; a true "or": its true ones; a true "and" or a false "or": all;
    an unknown one: its unknown ones); a "not" by its operand's, negated."""
    if t.kind == "predicate":
        yield _negate(t) if negated else t
    elif t.kind == "segment":  # see-through: its definition's predicates decide it
        yield from _literals(t.children[0], negated)
    elif t.kind == "not":
        yield from _literals(t.children[0], not negated)
    else:
        for op in t.children:
            if op.value is t.value:
                yield from _literals(op, negated)


def _negate(t: ConditionTrace) -> ConditionTrace:
    value = None if t.value is None else not t.value
    node = None if t.node is None else n.Not(t.node)
    return ConditionTrace(f"not {t.text}", value, t.negated_detail, "not", (t,), node)


def summary(outcome: Outcome, first: Truth, traces: list[ConditionTrace]) -> str:
    """The one-line reason: "sends ...", or "not in segment: ...; enters on ...", or a control."""
    failing = "; ".join(t.detail for t in reasons(traces, first))
    if outcome.decision is not None:
        d = outcome.decision
        when = f"sends {d.local_send_at.isoformat()} ({iso_utc(d.send_at)})"
        if d.held_out:
            when = f"held out (control group), would send {d.local_send_at.isoformat()}"
        elif d.variant:
            when += f", variant {d.variant}"
        if outcome.reason:
            when += f"; an earlier occurrence was blocked: {outcome.reason}"
        if first is not True and outcome.occurrence is not None:
            return f"not in segment yet: {failing}; enters on {outcome.occurrence.wall.date()}, {when}"
        return when
    if first is not True and traces and not outcome.reason.startswith("status"):
        return f"not in segment: {failing}; {outcome.reason}"
    return outcome.reason


_NEGATED_OP = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _detail(cond: n.Predicate, values: Mapping[str, Any], moment: Moment, negated: bool = False) -> str:
    """The user's value and what the predicate (``negated``: its negation) needs of it."""
    attr = str(cond.path)
    x = values.get(attr)
    if isinstance(cond, n.IsSet):
        return f"{attr} is {'set' if x is not None else 'not set'}"
    if x is None:
        return f"{attr} is not set"
    if isinstance(cond, n.WINDOWS):
        # how far the value is from the occurrence, on the window's side of it
        if cond.ahead:
            where = f"{_age(x - moment.at)} ahead" if x >= moment.at else f"{_age(moment.at - x)} ago (past)"
        else:
            where = f"{_age(moment.at - x)} ago"
        side = " ahead" if cond.ahead else ""
        if isinstance(cond, n.Between):
            return f"{attr} is {where}, needs {'outside ' if negated else ''}{cond.low}..{cond.high}{side}"
        more = isinstance(cond, n.MoreThanAgo)
        word = ("at most" if more else "at least") if negated else ("more than" if more else "less than")
        return f"{attr} is {where}, needs {word} {cond.duration}{side}"
    if isinstance(cond, (n.Before, n.After)):
        before = isinstance(cond, n.Before)
        word = ("at or after" if before else "at or before") if negated else ("before" if before else "after")
        return f"{attr} is {iso_utc(x)}, needs {word} {iso_utc(moment.point(cond.point))}"
    shown = _show(x)
    if isinstance(cond, n.Compare):
        op = _NEGATED_OP[cond.op] if negated else cond.op
        return f"{attr} is {shown}, needs {op} {_show(cond.value.value)}"
    if isinstance(cond, n.InList):
        wanted = ", ".join(_show(v.value) for v in cond.values)
        return f"{attr} is {shown}, needs {'not ' if cond.negated != negated else ''}in [{wanted}]"
    return f"{attr} is {shown}"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _age(delta: dt.timedelta) -> str:
    sign = "-" if delta < dt.timedelta(0) else ""
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes and not days:
        parts.append(f"{minutes}m")
    return sign + (" ".join(parts) or "0m")


def _word(value: Truth) -> str:
    return "unknown" if value is None else ("true" if value else "false")
