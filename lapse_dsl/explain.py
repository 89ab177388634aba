"""Why a user does or does not get a message: each condition's value at the next occurrence, and
the outcome of the search, as a structure that also prints readably."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from . import nodes as n
from .evaluate import Decision, Moment, Outcome, Truth, truth
from .format import format_condition
from .timecalc import iso_utc

__all__ = ["ConditionTrace", "Explanation", "RuleTrace", "condition_traces"]


@attrs.frozen
class ConditionTrace:
    text: str  # the predicate as written (canonical form)
    value: Truth
    detail: str  # the user's value and what the predicate needs


@attrs.frozen
class RuleTrace:
    campaign: str
    status: str
    timezone: str
    occurrence: dt.datetime | None  # the next occurrence (local time), where the conditions were evaluated
    in_segment: Truth
    conditions: tuple[ConditionTrace, ...]
    decision: Decision | None
    reason: str

    def __str__(self) -> str:
        lines = [f"{self.campaign} [{self.status}] in {self.timezone}: {self.reason}"]
        if self.occurrence is not None:
            when = f"{self.occurrence.isoformat()} ({iso_utc(self.occurrence)})"
            lines.append(f"  next occurrence {when}: segment is {_word(self.in_segment)}")
        for c in self.conditions:
            lines.append(f"    {_word(c.value):7} {c.text}  ({c.detail})")
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


def condition_traces(cond: n.Condition, values: Mapping[str, Any], moment: Moment) -> list[ConditionTrace]:
    if isinstance(cond, (n.And, n.Or)):
        return [t for op in cond.operands for t in condition_traces(op, values, moment)]
    if isinstance(cond, n.Not):
        return condition_traces(cond.operand, values, moment)
    return [ConditionTrace(format_condition(cond), truth(cond, values, moment), _detail(cond, values, moment))]


def summary(outcome: Outcome, first: Truth, traces: list[ConditionTrace]) -> str:
    """The one-line reason: "sends ...", or "not in segment: ...; enters on ...", or a control."""
    failing = "; ".join(t.detail for t in traces if t.value is not True)
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


def _detail(cond: n.Predicate, values: Mapping[str, Any], moment: Moment) -> str:
    attr = str(cond.path)
    x = values.get(attr)
    if isinstance(cond, n.IsSet):
        return f"{attr} is {'set' if x is not None else 'not set'}"
    if x is None:
        return f"{attr} is not set"
    if isinstance(cond, (n.Between, n.MoreThanAgo, n.LessThanAgo)):
        age = _age(moment.at - x)
        if isinstance(cond, n.Between):
            return f"{attr} is {age} ago, needs {cond.low}..{cond.high}"
        word = "more" if isinstance(cond, n.MoreThanAgo) else "less"
        return f"{attr} is {age} ago, needs {word} than {cond.duration}"
    if isinstance(cond, (n.Before, n.After)):
        word = "before" if isinstance(cond, n.Before) else "after"
        return f"{attr} is {iso_utc(x)}, needs {word} {iso_utc(moment.point(cond.point))}"
    shown = _show(x)
    if isinstance(cond, n.Compare):
        return f"{attr} is {shown}, needs {cond.op} {_show(cond.value.value)}"
    if isinstance(cond, n.InList):
        wanted = ", ".join(_show(v.value) for v in cond.values)
        return f"{attr} is {shown}, needs {'not ' if cond.negated else ''}in [{wanted}]"
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
