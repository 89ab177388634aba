"""Checked rules -> the plan: what evaluating a whole rule set needs, decided once.

The checker gives rules one by one; every back end (the reference interpreter, the generated code,
the portfolio index, SQL) needs the same facts about them, and each fact is answered here, once:

- which predicates depend on the occurrence a segment is judged at (:func:`needs_moment`);
- which zone a campaign delivers in when it does not depend on the user, and where a ``local``
  campaign falls back (:func:`fixed_zone`, :func:`fallback_zone`);
- which attributes are read, in which slot, with which type, whether clock skew clamps them, and
  which are read lazily (time attributes that only windows read: docs/semantics.md, "Which
  attributes are read");
- per campaign: the slots it reads, its segment split into a static part and its windows (the
  usual ladder shape), the equality/``in``/boolean guards and the window the portfolio index
  places it by, and the zone group it delivers in.

A plan is an immutable value: the same rules give an equal plan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs

from . import nodes as n
from .model import CheckedRule
from .timecalc import UTC, Tz
from .userdata import CLOCK_SKEW_ATTRIBUTES
from .zones import get_zone

__all__ = [
    "CampaignPlan", "Guard", "Plan", "Read", "conjuncts", "depends_on_time", "fallback_zone", "fixed_zone", "lower",
    "needs_moment", "split",
]

Window = n.Between | n.MoreThanAgo | n.LessThanAgo


def needs_moment(p: n.Predicate) -> bool:
    """Whether a predicate's truth depends on the occurrence it is judged at: window conditions,
    and dates (local midnight in the delivery zone). All others are *static*."""
    if isinstance(p, (n.Before, n.After)):
        return isinstance(p.point, n.DateLit)
    return isinstance(p, n.WINDOWS)


def depends_on_time(cond: n.Condition) -> bool:
    """Whether any predicate of ``cond`` needs the moment (a walk without recursion: segments may
    nest to the checker's depth limit)."""
    return any(needs_moment(p) for p in _leaves(cond))


def _leaves(cond: n.Condition) -> Iterator[n.Predicate]:
    stack = [cond]
    while stack:
        c = stack.pop()
        if isinstance(c, (n.And, n.Or)):
            stack.extend(c.operands)
        elif isinstance(c, n.Not):
            stack.append(c.operand)
        else:
            yield n.leaf(c)


def fixed_zone(rule: CheckedRule) -> tuple[Tz, str] | None:
    """The zone a rule delivers in when it does not depend on the user (``utc`` or a named zone),
    with its name; None for ``local``."""
    zone = rule.schedule.zone
    if zone.kind == "utc":
        return UTC, "UTC"
    if zone.kind == "named":
        named = get_zone(zone.name)
        assert named is not None  # checked
        return named, zone.name or ""
    return None


def fallback_zone(rule: CheckedRule, default_timezone: str) -> tuple[Tz, str, str]:
    """Where a ``local`` rule delivers for a user without a valid zone: the file's ``default
    timezone``, else the ``default_timezone`` option; its name, and which of the two it is."""
    name, why = ((rule.default_timezone, "the file's default timezone") if rule.default_timezone
                 else (default_timezone, "the default_timezone option"))
    found = get_zone(name)
    assert found is not None  # validated when the rules were compiled
    return found, name, why


def conjuncts(cond: n.Condition) -> tuple[n.Condition, ...]:
    """The operands of a segment's top-level ``and`` (the segment itself when it is not one)."""
    return cond.operands if isinstance(cond, n.And) else (cond,)


def split(cond: n.Condition) -> tuple[tuple[Window, ...], n.Condition | None] | None:
    """A segment that is an ``and`` of window predicates and static conditions (the usual shape),
    as (the windows, the static part or None); None for any other shape. The static part is then
    tested once per user and only the windows per occurrence."""
    ops = conjuncts(cond)
    windows = tuple(op for op in ops if isinstance(op, n.WINDOWS))
    rest = tuple(op for op in ops if not isinstance(op, n.WINDOWS))
    if not windows or any(depends_on_time(op) for op in rest):
        return None
    return windows, (n.And(rest) if len(rest) > 1 else rest[0] if rest else None)


def accepted(cond: n.Condition) -> tuple[str, frozenset[object]] | None:
    """(attribute, the only values for which ``cond`` is not False) for an equality, a positive
    ``in`` or a boolean test; None for anything else."""
    if isinstance(cond, n.Compare) and cond.op == "=":
        return str(cond.path), frozenset((cond.value.value,))
    if isinstance(cond, n.InList) and not cond.negated:
        return str(cond.path), frozenset(v.value for v in cond.values)
    if isinstance(cond, n.Truthy):
        return str(cond.path), frozenset((True,))
    return None


@attrs.frozen
class Read:
    """One attribute the rule set reads."""

    path: str
    kind: str  # the schema type: string, number, boolean, time
    slot: int  # its position in the values every generated function shares
    lazy: bool  # read only when a campaign reading it has an open static answer
    clamped: bool  # clock skew: a value after `now` is read as `now` (docs/semantics.md)


@attrs.frozen
class Guard:
    """A top-level conjunct of a segment that is False unless the attribute holds one of ``values``."""

    slot: int
    values: frozenset[object]


@attrs.frozen
class CampaignPlan:
    """One campaign, as every back end needs it."""

    index: int
    rule: CheckedRule
    reads: frozenset[int]  # the slots its segment reads
    lazy: frozenset[int]  # ... of which lazily
    split: tuple[tuple[Window, ...], n.Condition | None] | None
    guards: tuple[Guard, ...]  # for the static index
    window: tuple[int, Window] | None  # the window the index places it by: (slot, predicate)
    zone: tuple[str, str | None, str | None]  # its zone group: kind, named zone, fallback of `local`
    timed: bool  # whether its segment depends on the occurrence at all

    @property
    def personal(self) -> bool:
        """Whether its users may get different schedules (a send-time experiment, or a time of day
        from a user attribute): no back end may then make its occurrences from ``rule.schedule``
        alone (:func:`lapse_dsl.personal.schedule_for` gives each user's)."""
        return self.rule.personal


@attrs.frozen
class Plan:
    """The plan of a whole rule set."""

    reads: tuple[Read, ...]
    campaigns: tuple[CampaignPlan, ...]
    default_timezone: str = "UTC"  # where a `local` campaign delivers when neither user nor file names a zone

    @property
    def rules(self) -> tuple[CheckedRule, ...]:
        return tuple(c.rule for c in self.campaigns)

    @property
    def slots(self) -> dict[str, int]:
        return {read.path: read.slot for read in self.reads}


def lower(rules: Sequence[CheckedRule], schema: dict[str, str], default_timezone: str = "UTC") -> Plan:
    """The plan of checked rules against their schema (``default_timezone``: the option)."""
    paths = sorted({str(p.path) for rule in rules for p in n.predicates(rule.segment)})
    static = {str(p.path) for rule in rules for p in n.predicates(rule.segment) if not needs_moment(p)}
    reads = tuple(
        Read(path, schema[path], slot, schema[path] == "time" and path not in static, path in CLOCK_SKEW_ATTRIBUTES)
        for slot, path in enumerate(paths)
    )
    slots = {read.path: read.slot for read in reads}
    lazy = {read.slot for read in reads if read.lazy}
    campaigns = []
    for k, rule in enumerate(rules):
        read = frozenset(slots[str(p.path)] for p in n.predicates(rule.segment))
        guards: dict[int, frozenset[object]] = {}
        window: tuple[int, Window] | None = None
        for cond in conjuncts(rule.segment):
            found = accepted(cond)
            if found is not None:
                slot = slots[found[0]]
                guards[slot] = guards[slot] & found[1] if slot in guards else found[1]  # both tests hold
            elif window is None and isinstance(cond, n.WINDOWS):
                window = (slots[str(cond.path)], cond)
        zone = rule.schedule.zone
        campaigns.append(CampaignPlan(
            index=k, rule=rule, reads=read, lazy=read & lazy, split=split(rule.segment),
            guards=tuple(Guard(slot, values) for slot, values in sorted(guards.items())), window=window,
            zone=(zone.kind, zone.name, rule.default_timezone if zone.kind == "local" else None),
            timed=depends_on_time(rule.segment),
        ))
    return Plan(reads, tuple(campaigns), default_timezone)
