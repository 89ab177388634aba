"""The evaluators of a rule set: the reference interpreter and the generated path.

An :class:`Engine` holds what is compiled once per rule set: the plan, the generated reader and
segment programs, the portfolio index, the reference programs, and the caches every evaluator of
the rule set shares (delivery zones per timezone value, moments per instant). An evaluator is
the engine applied to one tuple of rules (a preview makes drafts active; the programs are the
same):

- :class:`ReferenceEvaluator` walks the AST rule by rule. It is the definition, and ``explain``
  is it recording its steps.
- :class:`CompiledEvaluator` runs the generated code: for a small rule set and a ``dict`` user
  with no ``since`` or history, the fused functions of :mod:`lapse_dsl.fuse` (``evaluate`` not for
  a rule set with a :attr:`~lapse_dsl.model.CheckedRule.personal` campaign); for every other call
  and any number of campaigns, the portfolio path (:mod:`lapse_dsl.portfolio`), which reads the
  user once and visits only the campaigns the index leaves.

Both give identical answers and errors; tests/test_paths_property.py holds them to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

import attrs

from . import nodes as n
from .codegen import CompiledProgram, Extractor, compile_rules
from .errors import UserDataError
from .evaluate import (
    Moment,
    Program,
    ReferenceProgram,
    delivery_zone,
    next_occurrence,
    parse_history,
    require_instant,
    require_within,
    search,
    search_end,
    search_lower,
    search_start,
    truth,
)
from .explain import Explanation, RuleTrace, condition_traces, own_schedule, summary
from .fuse import FUSE_MAX, Fused, Results
from .model import CheckedRule, Decision, decision_order
from .personal import schedule_for
from .plan import Plan
from .portfolio import MAX_OCCURRENCES, Answers, Group, Portfolio, Stab, bits
from .schedule import occurrences
from .tables import Table, TableCursor
from .timecalc import UTC, Tz
from .userdata import Reader, maybe_user_id, skew_warning, user_id_of
from .zones import get_zone

__all__ = ["INDEXED_FROM", "CompiledEvaluator", "Engine", "ReferenceEvaluator", "as_active"]

Zoned = tuple[Tz, str, "str | None"]  # a delivery zone, its name, the fallback warning
# From this many campaigns on, the portfolio path answers in_segment and evaluate(within=) faster
# than the fused functions' scan of every rule (measured with bench/portfolio.py: at 40 campaigns
# the two are even, at 64 the index is ahead). A search without `within` stays fused up to FUSE_MAX.
INDEXED_FROM = 48


class Engine:
    """What is compiled once per rule set, and the caches its evaluators share."""

    def __init__(self, plan: Plan, schema: Mapping[str, str], default_timezone: str, naive_timezone: str | None) -> None:
        self.plan = plan
        self.default_timezone = default_timezone
        self.naive_zone = get_zone(naive_timezone) if naive_timezone else None
        paths = [read.path for read in plan.reads]
        self.lazy = frozenset(read.path for read in plan.reads if read.lazy)
        self.lazy_of = {c.rule.name: frozenset(paths[slot] for slot in c.lazy) for c in plan.campaigns}
        self.eager = tuple(read.path for read in plan.reads if not read.lazy)
        self.clamped = tuple(read.path for read in plan.reads if read.clamped)
        self.reader = Reader(paths, schema, self.naive_zone)
        self.extractor = Extractor(schema, paths, self.naive_zone, self.lazy)
        self.compiled: tuple[CompiledProgram, ...] = tuple(compile_rules(plan.campaigns, self.extractor))
        self.portfolio = Portfolio(plan)
        self.results = Results([c.rule.name for c in plan.campaigns])
        self._zones: dict[str | None, dict[str, Zoned]] = {}
        self._moments: tuple[dt.datetime | None, dict[Tz, Moment]] = (None, {})
        self.personal = PersonalTables()

    def zone(self, rule: CheckedRule, user: Mapping[str, Any]) -> Zoned:
        """The rule's delivery zone for this user; for ``local`` rules cached per timezone value
        (one cache per fallback zone, since the fallback is part of the answer)."""
        if rule.schedule.zone.kind != "local":
            return delivery_zone(rule, user, self.default_timezone)
        raw = user.get("timezone")
        if raw.__class__ is not str:
            return delivery_zone(rule, user, self.default_timezone)
        cache = self._zones.get(rule.default_timezone)
        if cache is None:
            cache = self._zones[rule.default_timezone] = {}
        found = cache.get(raw)
        if found is None:
            if len(cache) > 100_000:  # junk values must not grow the cache without bound
                cache.clear()
            found = cache[raw] = delivery_zone(rule, user, self.default_timezone)
        return found

    def moment(self, at: dt.datetime, zone: Tz) -> Moment:
        """``at`` in ``zone``, shared by every user and rule of the instant (with its window bounds)."""
        cache = self._moments
        if cache[0] is not at:
            cache = self._moments = (at, {})  # one tuple: a thread never pairs an instant with another's moments
        moment = cache[1].get(zone)
        if moment is None:
            moment = cache[1][zone] = Moment.of(at, zone)
        return moment


class PersonalTables:
    """Occurrence tables for the schedules users of personal campaigns get (a variant's, or a
    campaign's at one user's hour), shared by every user of the same schedule, ``from`` date and
    zone, as a rule's own tables are (:meth:`lapse_dsl.codegen.CompiledProgram.moments`): their
    moments cache their window bounds, so a user costs a seek, not a schedule. Thread-safe as
    those are (a table is published whole; a full cache is dropped, never edited in place)."""

    MAX = 4096  # tables kept (a day's worth per schedule and zone); cleared wholesale when full

    def __init__(self) -> None:
        self._tables: dict[tuple[Any, ...], Table] = {}

    def cursor(self, schedule: n.Schedule, from_date: dt.date | None, zone: Tz, start: dt.datetime) -> TableCursor:
        # from the UTC midnight before `start`, so the calls of a day (a batch, a ticking host) share one
        base = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        key = (schedule, from_date, zone, base)
        table = self._tables.get(key)
        if table is None:
            if len(self._tables) >= self.MAX:
                self._tables = {}

            def source(at: dt.datetime) -> Iterator[Moment]:
                return (Moment(o.at, o.wall, zone) for o in occurrences(schedule, zone, at, from_date))

            def restart(at: dt.datetime) -> TableCursor:
                return self.cursor(schedule, from_date, zone, at)

            table = self._tables.setdefault(key, Table(source, base, restart))
        return TableCursor(table, table.index(start, jump=False) if start > base else 0)


class _Checked:
    """Validates the instants of the calls, remembering the last ``now`` so a batch checks it once."""

    def __init__(self) -> None:
        self._checked_now: object = None

    def _instant(self, now: dt.datetime, name: str) -> None:
        if now is not self._checked_now:
            require_instant(now, name)
            self._checked_now = now

    def _arguments(self, now: dt.datetime, since: dt.datetime | None, within: dt.timedelta | None) -> dt.datetime | None:
        """``evaluate``'s instants and ``within`` checked (TypeError/ValueError); the search's end."""
        self._instant(now, "now")
        if since is not None:
            require_instant(since, "since")
        require_within(within)
        return search_end(now, within)


class ReferenceEvaluator(_Checked):
    """Rule by rule, walking the AST: the definition the generated path is tested against."""

    def __init__(self, engine: Engine, rules: tuple[CheckedRule, ...]) -> None:
        super().__init__()
        self.engine = engine
        self.rules = rules
        self.programs: tuple[Program, ...] = tuple(ReferenceProgram(r) for r in rules)
        self.active = tuple((r, p) for r, p in zip(rules, self.programs, strict=True) if r.status == "active")

    def evaluate(
        self, user: Mapping[str, Any], now: dt.datetime, *, since: dt.datetime | None = None,
        history: Iterable[Mapping[str, Any]] = (), within: dt.timedelta | None = None,
    ) -> tuple[Decision, ...]:
        end = self._arguments(now, since, within)
        user_id = user_id_of(user)
        values, skew = self.read(user, now, user_id, self.active)
        past = parse_history(history, self.engine.naive_zone, user_id) if history else ()
        decisions = []
        for rule, program in self.active:
            zone, zone_name, fallback = self.engine.zone(rule, user)
            warnings = (*skew, fallback) if fallback else skew
            outcome = search(rule, program, values, user, user_id, zone, zone_name, now, since, past, warnings, False, end)
            if outcome.decision is not None:
                decisions.append(outcome.decision)
        if len(decisions) > 1:
            decisions.sort(key=decision_order)
        return tuple(decisions)

    def in_segment(self, user: Mapping[str, Any], at: dt.datetime) -> Mapping[str, bool | None]:
        self._instant(at, "at")
        if not isinstance(user, Mapping):
            user_id_of(user)  # raises: a record must be a mapping
        # no user_id needed: it is looked up only to name the user in an error
        values = self.read(user, at, maybe_user_id(user), zip(self.rules, self.programs, strict=True))[0]
        out: list[bool | None] = []
        for rule, program in zip(self.rules, self.programs, strict=True):
            if program.static(values) is False:  # false whatever the time: no zone or window work
                out.append(False)
                continue
            out.append(program.segment(values, self.engine.moment(at, self.engine.zone(rule, user)[0])))
        return self.engine.results.of(tuple(out))

    def read(
        self, user: Mapping[str, Any], now: dt.datetime, user_id: str | None, pairs: Iterable[tuple[CheckedRule, Program]]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Every attribute but the lazy ones, then the lazy ones read by a rule of ``pairs`` whose
        static answer is open."""
        values, skew = self._read(user, now, user_id, self.engine.eager)
        need = self._needed(values, pairs)
        if need:
            more, more_skew = self._read(user, now, user_id, need)
            values.update(more)
            skew += more_skew
        for path in self.engine.lazy - need:
            values[path] = None
        return values, skew

    def _needed(self, values: Any, pairs: Iterable[tuple[CheckedRule, Program]]) -> set[str]:
        need: set[str] = set()
        for rule, program in pairs:
            lazy = self.engine.lazy_of[rule.name]
            # a static answer of true or false holds whatever the window attributes say (an unread
            # one stays None, unknown, exactly what the static test assumed)
            if lazy and not need.issuperset(lazy) and program.static(values) is None:
                need |= lazy
        return need

    def _read(
        self, user: Mapping[str, Any], now: dt.datetime, user_id: str | None, paths: Collection[str]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        values = self.engine.reader.read(user, user_id, paths)
        warnings: list[str] = []
        for path in self.engine.clamped:
            x = values.get(path)
            if x is not None and x > now:
                values[path] = now
                warnings.append(skew_warning(path, x))
        return values, tuple(warnings)

    def explain(
        self, user: Mapping[str, Any], now: dt.datetime, *, since: dt.datetime | None = None,
        history: Iterable[Mapping[str, Any]] = (),
    ) -> Explanation:
        """Per rule: each condition's value at the next occurrence and why the rule does or does not
        produce a decision. Drafts and paused campaigns are explained too."""
        require_instant(now, "now")
        if since is not None:
            require_instant(since, "since")
        user_id = user_id_of(user)
        values, skew = self._read(user, now, user_id, self.engine.eager)
        need = self._needed(values, zip(self.rules, self.programs, strict=True))
        notes = list(skew)
        for path in sorted(self.engine.lazy):
            try:
                more, more_skew = self._read(user, now, user_id, (path,))
            except UserDataError as exc:
                if path in need:
                    raise
                # evaluate would not read it either: no rule reading it has an open answer
                more, more_skew = {path: None}, (f"{exc}; not needed: the other conditions decide every rule that reads it",)
            values.update(more)
            notes += more_skew
        past = parse_history(history, self.engine.naive_zone, user_id)
        traces = []
        for rule in self.rules:
            zone, zone_name, fallback = delivery_zone(rule, user, self.engine.default_timezone)
            if fallback and fallback not in notes:
                notes.append(fallback)
            own = schedule_for(rule, user, user_id)  # the user's variant's, at the user's own time
            if own.warning is not None and own.warning not in notes:
                notes.append(own.warning)
            moment = next_occurrence(own.schedule, zone, now, rule.from_date)
            conditions = condition_traces(rule.written, values, moment) if moment else []
            first = truth(rule.segment, values, moment) if moment else None
            preview = rule if rule.status == "active" else as_active(rule)
            outcome = search(preview, ReferenceProgram(preview), values, user, user_id, zone, zone_name, now, since, past, ())
            reason = summary(outcome, first, conditions)
            if rule.status != "active":
                reason = f"status {rule.status}: never sends" + (f"; if active it would: {reason}" if reason else "")
                outcome = attrs.evolve(outcome, decision=None)
            traces.append(
                RuleTrace(rule.name, rule.status, zone_name, moment.at.astimezone(zone) if moment else None, first,
                          tuple(conditions), outcome.decision, reason, own_schedule(own) if rule.personal else None)
            )
        return Explanation(user_id, now, tuple(traces), tuple(notes))


class CompiledEvaluator(_Checked):
    """The generated path. ``evaluate`` and ``in_segment`` are the fused functions when the rule
    set is small and unchanged (they fall back to :meth:`general_evaluate` and
    :meth:`general_in_segment` for the calls they do not serve), else those methods."""

    def __init__(self, engine: Engine, rules: tuple[CheckedRule, ...], *, fuse: bool) -> None:
        super().__init__()
        self.engine = engine
        self.rules = rules
        self.active_mask = sum(1 << k for k, r in enumerate(rules) if r.status == "active")
        self.evaluate: Callable[..., tuple[Decision, ...]] = self.general_evaluate
        self.in_segment: Callable[..., Mapping[str, bool | None]] = self.general_in_segment
        self.fused: Fused | None = None
        # the last call's window tables by (group, zone): a batch asks with one now/end/since
        self._recent: tuple[object, object, object, bool, dict[tuple[int, Tz], Any]] = (None, None, None, False, {})
        if fuse and len(rules) <= FUSE_MAX:
            indexed = len(rules) >= INDEXED_FROM
            self.fused = Fused(engine.compiled, engine.extractor, engine.zone, self.general_evaluate,
                               self.general_in_segment, require_instant, engine.results, within_general=indexed)
            self.evaluate = self.fused.evaluate
            if not indexed:
                self.in_segment = self.fused.in_segment

    def general_evaluate(
        self, user: Mapping[str, Any], now: dt.datetime, *, since: dt.datetime | None = None,
        history: Iterable[Mapping[str, Any]] = (), within: dt.timedelta | None = None,
    ) -> tuple[Decision, ...]:
        end = self._arguments(now, since, within)
        engine = self.engine
        user_id = user.get("user_id") if user.__class__ is dict else None
        if user_id.__class__ is not str or not user_id:
            user_id = user_id_of(user)
        values, w = engine.extractor.extract(user, now, user_id)
        mask, w = self._complete(user, now, user_id, values, w, self.active_mask)
        skew = tuple(w) if w else ()
        past = parse_history(history, engine.naive_zone, user_id) if history else ()
        decisions = []
        for (zone, zone_name, fallback), ks, listed in self._candidates(user, values, mask, True, now, since, end):
            warnings = (*skew, fallback) if fallback else skew
            for k in ks:
                outcome = search(self.rules[k], engine.compiled[k], values, user, user_id, zone, zone_name, now, since,
                                 past, warnings, False, end, listed.get(k), engine.personal.cursor)
                if outcome.decision is not None:
                    decisions.append(outcome.decision)
        if len(decisions) > 1:
            decisions.sort(key=decision_order)
        return tuple(decisions)

    def general_in_segment(self, user: Mapping[str, Any], at: dt.datetime) -> Mapping[str, bool | None]:
        self._instant(at, "at")
        if user.__class__ is not dict and not isinstance(user, Mapping):
            user_id_of(user)  # raises: a record must be a mapping
        engine = self.engine
        values, w = engine.extractor.extract(user, at, maybe_user_id(user))
        mask = self._complete(user, at, maybe_user_id(user), values, w, engine.portfolio.all)[0]
        found: dict[int, bool | None] = {}
        for (zone, _, _), ks, _ in self._candidates(user, values, mask, False, at, None, None):
            moment = engine.moment(at, zone)
            for k in ks:
                answer = engine.compiled[k].segment(values, moment)
                if answer is not False:
                    found[k] = answer
        return Answers(engine.portfolio.names, found)

    def _complete(
        self, user: Mapping[str, Any], now: dt.datetime, user_id: str | None, values: list[Any], w: list[str] | None,
        mask: int,
    ) -> tuple[int, list[str] | None]:
        """The campaigns of ``mask`` that the static index leaves, after reading the lazy
        attributes some of them need (docs/semantics.md, "Which attributes are read"): one is read
        when a campaign reading it has an open static answer, as the reference path decides."""
        engine = self.engine
        portfolio = engine.portfolio
        mask &= portfolio.static_mask(values)
        for slot in engine.extractor.lazy:
            readers = portfolio.readers.get(slot, 0) & mask
            if readers and _any_open(engine.compiled, readers, values):
                w = engine.extractor.complete(user, now, user_id, w, values, {slot})
            else:
                # unread: a campaign windowed on it has a static answer, and it cannot be True
                mask &= ~portfolio.windowed.get(slot, 0)
        return mask, w

    def _candidates(
        self, user: Mapping[str, Any], values: list[Any], mask: int, due: bool, now: dt.datetime,
        since: dt.datetime | None, end: dt.datetime | None,
    ) -> Iterator[tuple[Zoned, list[int], Mapping[int, list[Moment]]]]:
        """Per zone group: the delivery zone, the campaigns of ``mask`` to decide, and the
        occurrences before ``end`` of those the window tables placed: for an ``evaluate``
        (``due``) at ``now`` with ``since`` and ``end``, else for ``in_segment`` at ``now``.
        Without an ``end`` every campaign whose window attribute is known is a candidate."""
        engine = self.engine
        for group in engine.portfolio.groups:
            in_group = mask & group.mask
            if not in_group:
                continue
            zoned = engine.zone(self.rules[group.first], user)
            ks = list(bits(in_group & group.plain)) if in_group & group.plain else []
            stabs = None
            listed: Mapping[int, list[Moment]] = _NONE
            for slot, windowed in group.windows.items():
                candidates = in_group & windowed
                if not candidates:
                    continue
                x = values[slot]
                if x is None:  # the window is unknown: the answer too, or False; never a decision
                    if not due:
                        ks += bits(candidates)
                    continue
                if due and end is None:
                    ks += bits(candidates)
                    continue
                if stabs is None:
                    stabs, listed = self._stabs(group, zoned[0], due, now, since, end)
                ks += [k for k in stabs[slot].find(x.timestamp()) if candidates >> k & 1]
            yield zoned, ks, listed

    def _stabs(
        self, group: Group, zone: Tz, due: bool, now: dt.datetime, since: dt.datetime | None, end: dt.datetime | None,
    ) -> tuple[dict[int, Stab], Mapping[int, list[Moment]]]:
        """The window tables of ``group`` in ``zone`` for this call, and (for an ``evaluate``)
        each placed campaign's occurrences from its search's start to before ``end``."""
        recent = self._recent
        if recent[0] is not now or recent[1] != end or recent[2] != since or recent[3] is not due:
            recent = self._recent = (now, end, since, due, {})  # one tuple: threads never mix two calls' tables
        found_tables: tuple[dict[int, Stab], Mapping[int, list[Moment]]] | None = recent[4].get((group.number, zone))
        if found_tables is None:
            found_tables = recent[4][(group.number, zone)] = self._build_stabs(group, zone, due, now, since, end)
        return found_tables

    def _build_stabs(
        self, group: Group, zone: Tz, due: bool, now: dt.datetime, since: dt.datetime | None, end: dt.datetime | None,
    ) -> tuple[dict[int, Stab], Mapping[int, list[Moment]]]:
        engine = self.engine
        portfolio = engine.portfolio
        key = (group.number, zone, now) if not due else (group.number, zone, now, end, since)
        if not due:
            return portfolio.stabs(key, lambda: (portfolio.at_instant(group, engine.moment(now, zone)), _NONE))
        shared: dict[tuple[Any, ...], list[Moment] | None] = {}  # campaigns of a ladder share schedules
        listed: dict[int, list[Moment]] = {}

        def found(k: int) -> Iterator[Moment] | None:
            rule = self.rules[k]
            if rule.personal:  # each user has their own occurrences: always a candidate, never listed
                return None
            start = search_start(rule, zone, search_lower(rule, zone, now, since))
            key = (rule.schedule, rule.from_date, start)
            if key not in shared:
                shared[key] = _occurrences_before(rule, zone, start, end)
            moments = shared[key]
            if moments is None:
                return None
            listed[k] = moments
            return iter(moments)

        # the tables place every windowed campaign of the group: the caller's mask picks the active ones
        return portfolio.stabs(key, lambda: (portfolio.over(group, portfolio.all, found), listed))


_NONE: Mapping[int, list[Moment]] = {}  # (never written to)


def _any_open(compiled: tuple[CompiledProgram, ...], mask: int, values: list[Any]) -> bool:
    """Whether a campaign of ``mask`` has an open static answer. Lowest bit first: the first one
    usually has, so this costs a few big-int operations, not a pass over the catalog."""
    while mask:
        low = mask & -mask
        if compiled[low.bit_length() - 1].static(values) is None:
            return True
        mask ^= low
    return False


def _occurrences_before(rule: CheckedRule, zone: Tz, start: dt.datetime, end: dt.datetime | None) -> list[Moment] | None:
    """The rule's occurrences from ``start`` to before ``end`` (Moments: their window bounds are
    cached on them, for every campaign of the schedule), or None when there are too many to pay."""
    if end is None:
        return None
    moments: list[Moment] = []
    for occ in occurrences(rule.schedule, zone, start, rule.from_date):
        if occ.at >= end:
            return moments
        moments.append(Moment(occ.at, occ.wall, zone))
        if len(moments) > MAX_OCCURRENCES:
            return None
    return moments


def as_active(rule: CheckedRule) -> CheckedRule:
    return attrs.evolve(rule, status="active")
