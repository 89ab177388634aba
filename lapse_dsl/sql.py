"""Checked rules -> SQL for warehouses (duckdb, postgres, spark, trino, bigquery, snowflake, sqlite).

The SQL is built as a sqlglot expression tree and sqlglot writes each dialect. Everything about
time that engines disagree on (time-zone databases, DST gaps and folds, calendar arithmetic) is
computed here, in Python, by the same code the plugin uses: for the instant asked about (or each
zone's next occurrence), every window bound ``T(-D)`` and every local-midnight date is computed
per delivery zone and shipped to the engine as a small table of constants, joined on the user's
``timezone`` column. The engine then only compares timestamps, so its answer is the plugin's
answer, user by user, on every engine.

What an engine still has to do is three-valued logic, which SQL's NULL logic gives exactly
(``NULL AND FALSE`` is false, ``NOT NULL`` is null, a row is selected only when the condition is
true). A construct a dialect cannot express exactly raises :class:`UnsupportedError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import threading
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any

import attrs
from sqlglot import exp

from . import nodes as n
from .errors import UnsupportedError
from .evaluate import Moment, next_occurrence, require_instant, time_predicates
from .format import format_condition
from .model import CheckedRule
from .plan import Plan, fallback_zone, fixed_zone, needs_moment
from .ruleset import RuleSet
from .timecalc import UTC, Tz, local_midnight
from .userdata import CLOCK_SKEW_ATTRIBUTES
from .windows import Offset, bounds, offsets
from .zones import get_zone, zone_names

__all__ = [
    "DIALECTS", "candidates_predicate", "candidates_sql", "next_occurrence_sql", "segment_predicate", "segment_sql",
    "static_reads",
]

DIALECTS = ("duckdb", "postgres", "spark", "trino", "bigquery", "snowflake", "sqlite")
_TIMESTAMP = exp.DataType.build("TIMESTAMPTZ")


@attrs.frozen
class _Target:
    """Where the attributes live: a table alias and a column per attribute path."""

    alias: str
    columns: Mapping[str, str]

    def column(self, path: str) -> exp.Column:
        return exp.column(self.columns.get(path, path.replace(".", "_")), self.alias, quoted=True)


def _instant(value: dt.datetime) -> exp.Expr:
    text = value.astimezone(UTC).isoformat(sep=" ")
    return exp.cast(exp.Literal.string(text), _TIMESTAMP)


class _Bounds:
    """The time constants a segment needs at one moment in one zone: ``T(-D)`` for each window
    length and local midnight for each date, in a fixed order (the zone table's columns)."""

    def __init__(self, rule: CheckedRule) -> None:
        self.durations: list[Offset] = []  # T(±D): lapse_dsl.windows
        self.dates: list[dt.date] = []
        for p in time_predicates(rule.segment):
            for offset in offsets(p):
                if offset not in self.durations:
                    self.durations.append(offset)
        for q in n.predicates(rule.segment):
            if isinstance(q, (n.Before, n.After)) and isinstance(q.point, n.DateLit) and q.point.value not in self.dates:
                self.dates.append(q.point.value)

    @property
    def names(self) -> list[str]:
        return [f"b{i}" for i in range(len(self.durations))] + [f"d{i}" for i in range(len(self.dates))]

    def values(self, moment: Moment) -> list[dt.datetime]:
        midnights = [local_midnight(day, moment.zone) for day in self.dates]
        return [moment.bound(o) for o in self.durations] + midnights

    def __bool__(self) -> bool:
        return bool(self.durations or self.dates)


class _Compiler:
    """Segment AST -> sqlglot condition. Time constants come from ``bound`` (an expression per
    name of :class:`_Bounds`); with ``static`` every occurrence-dependent predicate is NULL."""

    def __init__(self, rule: CheckedRule, target: _Target, bounds: _Bounds, bound: Mapping[str, exp.Expr],
                 at: exp.Expr | None, *, static: bool = False,
                 clamp_windows: bool = True) -> None:
        self.rule, self.target, self.bounds, self.bound, self.at = rule, target, bounds, bound, at
        self.static, self.clamp_windows = static, clamp_windows

    def condition(self, cond: n.Condition) -> exp.Expr:
        # `a or a` is `a` (and `a and a` is `a`), unknown included: a repeated operand is written
        # once, so a long chain's SQL grows with its distinct conditions only
        if isinstance(cond, n.And):
            return exp.and_(*(exp.paren(self.condition(c), copy=False) for c in dict.fromkeys(cond.operands)), copy=False)
        if isinstance(cond, n.Or):
            return exp.or_(*(exp.paren(self.condition(c), copy=False) for c in dict.fromkeys(cond.operands)), copy=False)
        if isinstance(cond, n.Not):
            return _negate(self.condition(cond.operand))
        return self.predicate(n.leaf(cond))

    def _value(self, p: n.Predicate) -> exp.Expr:
        column = self.target.column(str(p.path))
        if str(p.path) in CLOCK_SKEW_ATTRIBUTES and self.at is not None and _skew_matters(p, self.clamp_windows):
            # clock skew: a time later than the instant asked about counts as that instant
            return exp.Case().when(column > self.at, self.at.copy()).else_(column.copy())
        return column

    def predicate(self, p: n.Predicate) -> exp.Expr:
        if isinstance(p, n.IsSet):
            test: exp.Expr = exp.Is(this=self.target.column(str(p.path)), expression=exp.Null())
            return test if p.negated else _negate(test)
        if self.static and _moves(p):
            return exp.Null()
        x = self._value(p)
        if isinstance(p, n.WINDOWS):  # lapse_dsl.windows: which instants, and whether each edge is inside
            tests: list[exp.Expr] = []
            low, high = bounds(p)
            if low is not None:
                edge = self.bound[f"b{self.bounds.durations.index(low.offset)}"].copy()
                # alone, written `x > edge` (as the generated Python does)
                tests.append((x.copy() >= edge if low.inclusive else x.copy() > edge) if high is None
                             else (edge <= x.copy() if low.inclusive else edge < x.copy()))
            if high is not None:
                edge = self.bound[f"b{self.bounds.durations.index(high.offset)}"].copy()
                tests.append(x.copy() <= edge if high.inclusive else x.copy() < edge)
            return tests[0] if len(tests) == 1 else exp.and_(*tests)
        if isinstance(p, (n.Before, n.After)):
            point = (_instant(p.point.value) if isinstance(p.point, n.InstantLit)
                     else self.bound[f"d{self.bounds.dates.index(p.point.value)}"].copy())
            return x < point if isinstance(p, n.Before) else x > point
        if isinstance(p, n.Compare):
            value = _literal(p.value.value)
            ops = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
            return ops[p.op](this=x, expression=value)
        if isinstance(p, n.InList):
            test = x.isin(*(_literal(v.value) for v in p.values))
            return _negate(test) if p.negated else test
        return exp.EQ(this=x, expression=exp.true())  # Truthy: NULL stays NULL


def _moves(p: n.Predicate) -> bool:
    """Whether ``p`` is unknown without an instant: windows and dates move with it, and a clamped
    time after "now" counts as now, so even a fixed instant's answer depends on when the query runs."""
    return needs_moment(p) or (isinstance(p, (n.Before, n.After)) and str(p.path) in CLOCK_SKEW_ATTRIBUTES)


def _negate(condition: exp.Expr) -> exp.Expr:
    """``NOT condition``, and never ``NOT NOT``: in SQL's three-valued logic, as in the plugin's,
    ``NOT NOT x`` is ``x`` (NULL included), so a negated negation is its operand."""
    inner = condition.unnest()
    if isinstance(inner, exp.Not):
        operand: exp.Expr = inner.this
        return operand.unnest()
    operand = condition if isinstance(condition, (exp.Paren, exp.Is, exp.In)) else exp.paren(condition, copy=False)
    return exp.not_(operand, copy=False)  # the parts are new trees: copying them at every level is quadratic


def _skew_matters(p: n.Predicate, windows: bool) -> bool:
    """Whether clamping a future time to the instant can change the predicate: always for fixed
    points; for windows only when some bound is not strictly before the instant (``windows``),
    since otherwise a time after the instant compares exactly as the instant itself does."""
    if isinstance(p, (n.Between, n.MoreThanAgo, n.LessThanAgo)):
        return windows
    return isinstance(p, (n.Before, n.After))


def _literal(value: n.Value) -> exp.Expr:
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, (int, float)):
        return exp.Literal.number(repr(value) if isinstance(value, float) else str(value))
    return exp.Literal.string(value)



# The zone table --------------------------------------------------------------------------------


def _zone_rows(plan: Plan, rule: CheckedRule, bounds: _Bounds, moment_of: Any) -> tuple[list[list[Any]], list[Any]]:
    """One row per tzdata zone (zone name, then the constants) and the fallback row's constants;
    ``moment_of(zone)`` gives the moment to judge at in that zone (or None: no row)."""
    rows = []
    for name in sorted(zone_names()):
        zone = get_zone(name)
        moment = moment_of(zone)
        # a zone with no occurrence keeps a row of NULLs: its users must not fall back
        rows.append([name, *(_row_values(bounds, moment) if moment is not None else [None] * (1 + len(bounds.names)))])
    fallback = moment_of(fallback_zone(rule, plan.default_timezone)[0])
    return rows, (_row_values(bounds, fallback) if fallback is not None else [])


def _fixed(rule: CheckedRule) -> Tz | None:
    found = fixed_zone(rule)
    return None if found is None else found[0]


def _row_values(bounds: _Bounds, moment: Moment) -> list[Any]:
    return [moment.at, *bounds.values(moment)]


# Public API ------------------------------------------------------------------------------------


def _plan(source: RuleSet | Plan) -> Plan:
    """Every SQL target reads the plan; a rule set gives its own."""
    return source.plan if isinstance(source, RuleSet) else source


def _pick(plan: Plan, rule: str | None) -> CheckedRule:
    rules = plan.rules
    if not rules:
        raise ValueError("the rule set has no rules: there is no segment to write as SQL")
    if rule is None:
        if len(rules) != 1:
            names = ", ".join(r.name for r in rules)
            raise ValueError(f"the rule set has {len(rules)} rules; name one (--rule, or rule= in Python): {names}")
        return rules[0]
    for candidate in rules:
        if candidate.name == rule:
            return candidate
    raise ValueError(f"no rule named {rule!r}")


def _check_dialect(dialect: str, rule: CheckedRule, bounds: _Bounds) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}")
    timed = [p for p in n.predicates(rule.segment) if isinstance(p, (n.Between, n.MoreThanAgo, n.LessThanAgo, n.Before, n.After))]
    if dialect == "sqlite" and timed:
        raise UnsupportedError(
            f"{rule.name}: '{format_condition(timed[0])}' cannot be compiled for sqlite: sqlite has no timestamp "
            "type, so time conditions cannot be compared exactly there; use duckdb (which reads sqlite files) "
            "or a warehouse dialect"
        )


def _build(plan: Plan, rule: CheckedRule, dialect: str, table: str, columns: Mapping[str, str] | None,
           moment_of: Any, at: dt.datetime | None, *, select_send_at: bool) -> exp.Select:
    target = _Target("u", dict(columns or {}))
    bounds = _Bounds(rule)
    _check_dialect(dialect, rule, bounds)
    user_id = target.column("user_id")
    query = exp.select(user_id.as_("user_id", quoted=True)).from_(exp.to_table(table).as_("u", quoted=True))
    at_expr = _instant(at) if at is not None else None
    names = ["send_at", *bounds.names]
    fixed = _fixed(rule)
    window_values: list[dt.datetime] = []  # every T(-D) the query compares with
    if not bounds and not select_send_at:
        bound: dict[str, exp.Expr] = {}  # no time constants: no zone table to join
    elif fixed is not None:
        moment = moment_of(fixed)
        if moment is None:
            return query.where(exp.false())
        row = _row_values(bounds, moment)
        window_values = row[1:1 + len(bounds.durations)]
        bound = _constants(names, row)
    else:
        if dialect == "sqlite":
            raise UnsupportedError(f"{rule.name}: sqlite cannot name the columns of the per-zone table this query joins")
        rows, fallback = _zone_rows(plan, rule, bounds, moment_of)
        for r in [*rows, ["", *fallback]] if fallback else rows:
            window_values += [v for v in r[2:2 + len(bounds.durations)] if v is not None]
        values = exp.values([tuple(_cell(v) for v in row) for row in rows], alias="z", columns=["zone", *names])
        query = query.join(values, on=exp.column("zone", "z").eq(target.column("timezone")), join_type="left")
        no_zone = exp.Is(this=exp.column("zone", "z"), expression=exp.Null())  # the fallback zone applies
        own_zone = _negate(no_zone)
        bound = {}
        for i, name in enumerate(names):
            zone_value: exp.Expr = exp.column(name, "z")
            bound[name] = (exp.Case().when(own_zone.copy(), zone_value).else_(_instant(fallback[i]))
                           if fallback else zone_value)
        if not fallback:  # the fallback zone has no occurrence: only users with a zone of their own
            query = query.where(own_zone.copy())
        if select_send_at:  # a user whose own zone has no next occurrence gets none
            query = query.where(exp.or_(no_zone.copy(), _negate(exp.column("send_at", "z").is_(exp.Null()))))
    clamp = select_send_at or (at is not None and any(v >= at for v in window_values))
    compiler = _Compiler(rule, target, bounds, bound, at_expr, clamp_windows=clamp)
    condition = compiler.condition(rule.segment)
    if select_send_at:
        query = query.select(bound["send_at"].as_("send_at", quoted=True))
    return query.where(condition)


def _constants(names: list[str], row: list[Any]) -> dict[str, exp.Expr]:
    """The time constants of one zone's row, by name, for a rule whose zone does not vary."""
    return {name: _instant(value) for name, value in zip(names, row, strict=True)}


def _cell(value: object) -> exp.Expr:
    if value is None:
        return exp.cast(exp.Null(), _TIMESTAMP)
    return _instant(value) if isinstance(value, dt.datetime) else exp.Literal.string(str(value))


def _at_moment(at: dt.datetime) -> Any:
    def moment_of(zone: Tz) -> Moment:
        return Moment.of(at, zone)
    return moment_of


def _next_moment(rule: CheckedRule, at: dt.datetime) -> Any:
    def moment_of(zone: Tz) -> Moment | None:
        moment = next_occurrence(rule.schedule, zone, at, rule.from_date)
        if moment is None or (rule.until_date is not None and moment.wall.date() > rule.until_date):
            return None
        return moment
    return moment_of


# Deep segments -----------------------------------------------------------------------------------

# sqlglot writes SQL recursively: up to about 10 Python frames per nesting level of a segment
# (a parenthesis, a connector, a NOT), so a segment nested as deep as the language allows
# (nodes.MAX_DEPTH) needs more than Python's default limit of 1,000 frames. Following sqlglot's
# own advice, the limit is raised while such a segment is written, never lowered, and restored
# when the last writer is done.
_FRAMES_PER_LEVEL = 12
_HEADROOM = 200
_limit_lock = threading.Lock()
_limit_users = 0
_limit_saved = 0


def _depth(cond: n.Condition) -> int:
    """How deeply ``cond`` nests (a predicate is 1), without recursion."""
    deepest, stack = 0, [(cond, 1)]
    while stack:
        c, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(c, (n.And, n.Or)):
            stack.extend((op, level + 1) for op in c.operands)
        elif isinstance(c, n.Not):
            stack.append((c.operand, level + 1))
    return deepest


@contextlib.contextmanager
def _stack_for(plan: Plan) -> Iterator[None]:
    """Room on the stack for writing the rule set's deepest segment (a no-op for usual ones)."""
    global _limit_users, _limit_saved
    depth = max((_depth(r.segment) for r in plan.rules), default=0)
    frame: FrameType | None = sys._getframe()
    used = 0
    while frame is not None:
        frame, used = frame.f_back, used + 1
    needed = used + depth * _FRAMES_PER_LEVEL + _HEADROOM
    with _limit_lock:
        if _limit_users == 0:
            _limit_saved = sys.getrecursionlimit()
        _limit_users += 1
        if needed > sys.getrecursionlimit():
            sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0 and sys.getrecursionlimit() > _limit_saved:
                sys.setrecursionlimit(_limit_saved)


def segment_sql(rules: RuleSet | Plan, *, dialect: str, at: dt.datetime, table: str = "users",
                columns: Mapping[str, str] | None = None, rule: str | None = None, pretty: bool = False) -> str:
    """``SELECT user_id`` of the users in ``rule``'s segment at instant ``at`` (the SQL form of
    :meth:`RuleSet.in_segment`: calendar windows from the wall-clock reading of ``at`` in each
    user's delivery zone)."""
    require_instant(at, "at")
    plan = _plan(rules)
    chosen = _pick(plan, rule)
    with _stack_for(plan):
        query = _build(plan, chosen, dialect, table, columns, _at_moment(at), at, select_send_at=False)
        return query.sql(dialect=dialect, pretty=pretty)


def next_occurrence_sql(rules: RuleSet | Plan, *, dialect: str, at: dt.datetime, table: str = "users",
                        columns: Mapping[str, str] | None = None, rule: str | None = None, pretty: bool = False) -> str:
    """``SELECT user_id, send_at`` (UTC) for every user in the segment at the rule's next
    occurrence at or after ``at`` in the user's delivery zone (within the rule's from/until).
    A campaign whose schedule depends on the user raises :class:`UnsupportedError` (see
    :func:`_personal_problem`)."""
    require_instant(at, "at")
    plan = _plan(rules)
    chosen = _pick(plan, rule)
    problem = _personal_problem(chosen)
    if problem is not None:
        raise UnsupportedError(problem)
    with _stack_for(plan):
        query = _build(plan, chosen, dialect, table, columns, _next_moment(chosen, at), at, select_send_at=True)
        return query.sql(dialect=dialect, pretty=pretty)


def _personal_problem(rule: CheckedRule) -> str | None:
    """Why the next send of ``rule`` cannot be written as SQL, or None. The query joins one row of
    constants per zone (the zone's next occurrence and its window bounds); a campaign whose
    schedule depends on the user would need one per zone and schedule, chosen per user by a
    SHA-256 bucket or a clock attribute, which the SQL does not compute. The segment at an instant
    (without --next) does not depend on the schedule and is unaffected."""
    if not rule.personal:
        return None
    in_use = {v.schedule or rule.schedule for v in rule.variants}
    own = next((v for v in rule.variants if v.schedule is not None), None)
    if own is not None and len(in_use) > 1:
        construct = (f"variant '{own.name}' has a schedule of its own (a send-time experiment), so each user's "
                     "next send depends on their variant bucket")
    else:
        schedules = [rule.schedule, *(v.schedule for v in rule.variants if v.schedule is not None)]
        clock = next(s.at for s in schedules if not isinstance(s, n.Cron) and isinstance(s.at, n.UserClock))
        construct = f"the schedule's time of day is each user's own ('{clock}'), so each user's next send depends on it"
    return (f"{rule.name}: the next send cannot be computed in SQL: {construct}; use 'lapse run' (or "
            "RuleSet.evaluate) for send times, or the segment SQL without --next")


def candidates_sql(rules: RuleSet | Plan, *, dialect: str, table: str = "users", columns: Mapping[str, str] | None = None,
                   rule: str | None = None, select_all: bool = False) -> str:
    """The users that *can* be in a segment at some occurrence: the segment with every
    occurrence-dependent condition unknown is not false. A superset, so a batch run can push it
    into the database and evaluate only these users exactly. Without ``rule``, users that can be
    in any rule's segment; ``select_all`` selects every column instead of ``user_id``."""
    plan = _plan(rules)
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}")
    target = _Target("u", dict(columns or {}))
    query = exp.select(exp.Star() if select_all else target.column("user_id").as_("user_id", quoted=True))
    query = query.from_(exp.to_table(table).as_("u", quoted=True))
    with _stack_for(plan):  # building and writing a deep condition both recurse
        return query.where(_candidates(plan, rule, target)).sql(dialect=dialect)


def candidates_predicate(rules: RuleSet | Plan, *, dialect: str, columns: Mapping[str, str] | None = None,
                         rule: str | None = None, alias: str = "u") -> str:
    """The condition of :func:`candidates_sql` alone, over a table aliased ``alias`` (a Spark
    DataFrame filter: ``lapse_dsl.spark``)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}")
    plan = _plan(rules)
    with _stack_for(plan):
        return _candidates(plan, rule, _Target(alias, dict(columns or {}))).sql(dialect=dialect)


def _candidates(plan: Plan, rule: str | None, target: _Target) -> exp.Expr:
    """Every chosen rule's static part, unknown counted as true, or-ed (inside :func:`_stack_for`)."""
    chosen = [_pick(plan, rule)] if rule is not None else list(plan.rules)
    if not chosen:
        return exp.false()
    conditions = []
    for r in chosen:
        compiler = _Compiler(r, target, _Bounds(r), {}, None, static=True)
        conditions.append(exp.func("COALESCE", compiler.condition(r.segment), exp.true()))
    return exp.or_(*conditions)


def static_reads(rule: CheckedRule) -> tuple[set[str], set[str]]:
    """The attribute paths :func:`candidates_sql` reads for ``rule``: those whose values it
    compares (their column types matter), and those it only tests for NULL (``is set``)."""
    compared: set[str] = set()
    tested: set[str] = set()
    for p in n.predicates(rule.segment):
        if isinstance(p, n.IsSet):
            tested.add(str(p.path))
        elif not _moves(p):
            compared.add(str(p.path))
    return compared, tested


def segment_predicate(rules: RuleSet | Plan, *, dialect: str, at: dt.datetime, columns: Mapping[str, str] | None = None,
                      rule: str | None = None, alias: str = "u") -> str:
    """The segment at ``at`` as a bare SQL condition over a table aliased ``alias``. Per-zone
    constants become a CASE over the user's timezone column, repeated at each use (a full SELECT
    joins a table instead, which is faster on large tables)."""
    require_instant(at, "at")
    plan = _plan(rules)
    chosen = _pick(plan, rule)
    with _stack_for(plan):
        return _predicate(plan, chosen, dialect, at, columns, alias)


def _predicate(plan: Plan, chosen: CheckedRule, dialect: str, at: dt.datetime, columns: Mapping[str, str] | None,
               alias: str) -> str:
    bounds = _Bounds(chosen)
    _check_dialect(dialect, chosen, bounds)
    target = _Target(alias, dict(columns or {}))
    moment_of = _at_moment(at)
    names = ["send_at", *bounds.names]
    fixed = _fixed(chosen)
    bound: dict[str, exp.Expr] = {}
    if fixed is not None:
        bound = _constants(names, _row_values(bounds, moment_of(fixed)))
    else:
        rows, fallback = _zone_rows(plan, chosen, bounds, moment_of)
        for i, name in enumerate(names):
            case = exp.Case(this=target.column("timezone"))
            for row in rows:
                case = case.when(exp.Literal.string(row[0]), _instant(row[i + 1]), copy=False)
            bound[name] = case.else_(_instant(fallback[i]))
    compiler = _Compiler(chosen, target, bounds, bound, _instant(at))
    return compiler.condition(chosen.segment).sql(dialect=dialect)

