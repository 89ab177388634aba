"""AST -> checked rules. Types every condition against the user schema, validates names, zones,
clocks and percentages, and warns about campaigns that would silently miss or double-message users.

Every error of every file is collected; nothing stops at the first.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import PurePath
from typing import TypeVar

import attrs
from croniter import CroniterError, croniter

from . import nodes as n
from .errors import Diagnostic
from .parse import MAX_DURATION_DAYS, source_lines
from .schema import (
    BUILTIN_ATTRIBUTES,
    CHANNELS,
    DAY_ALIASES,
    DAYS,
    MESSAGE_FIELDS,
    QUIET_MODES,
    STATUSES,
    TYPES,
    did_you_mean,
)
from .templates import Template, TemplateError
from .zones import zone_problem

__all__ = ["CheckResult", "CheckedRule", "Variant", "check", "schedule_gaps"]

DEFAULT_GRACE = n.Duration(1, "h")


@attrs.frozen
class Variant:
    name: str
    percent: float
    message: tuple[tuple[str, Template], ...] = attrs.field(eq=False)


@attrs.frozen
class CheckedRule:
    """A rule that passed the checker, with every clause resolved to a plain value."""

    name: str
    source: str
    line: int
    segment: n.Condition
    segment_name: str | None
    channel: str
    schedule: n.Schedule
    message: tuple[tuple[str, Template], ...] = attrs.field(eq=False)
    variants: tuple[Variant, ...]
    holdout: float | None
    salt: str
    reeligible: n.Duration | None
    cap: n.Cap | None
    quiet: n.QuietHours | None
    from_date: dt.date | None
    until_date: dt.date | None
    grace: n.Duration
    status: str
    default_timezone: str | None  # the file's `default timezone`
    rule: n.Rule = attrs.field(eq=False, repr=False)

    @property
    def controlled(self) -> bool:
        """True when a delivery control can block or move an occurrence."""
        return self.reeligible is not None or self.cap is not None or self.quiet is not None

    @property
    def quiet_mode(self) -> str:
        return self.quiet.mode.value if self.quiet and self.quiet.mode else "defer"


@attrs.frozen
class CheckResult:
    rules: tuple[CheckedRule, ...]
    schema: dict[str, str]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


def check(files: Sequence[n.File]) -> CheckResult:
    """Check a rule set (one or more parsed files). Returns every diagnostic; the caller decides
    whether errors are fatal (``compile`` raises :class:`LapseCheckError`)."""
    checker = _Checker()
    schema = checker.collect_schema(files)
    rules: list[CheckedRule] = []
    names: dict[str, tuple[str, int]] = {}  # where each campaign name was first defined
    for file in files:
        checker.file = file
        default_tz = checker.file_settings(file)
        for item in file.items:
            if not isinstance(item, n.Rule):
                continue
            name = rule_name(item, file.source)
            if name in names:
                where = names[name]
                checker.error(
                    item.name.span if item.name else item.span,
                    f"campaign name '{name}' is already used at {where[0]}:{where[1]}; "
                    "campaign names must be unique in a rule set",
                )
            names.setdefault(name, (file.source, item.span.line))
            rule = checker.rule(item, schema, default_tz)
            if rule is not None:
                rules.append(rule)
    ordered = sorted(checker.diagnostics, key=lambda d: (d.source, d.line, d.column))
    return CheckResult(tuple(rules), schema, tuple(ordered))


def rule_name(rule: n.Rule, source: str) -> str:
    """Campaigns are named by their block; one-line rules are ``<source stem>:<line>``."""
    if rule.name is not None:
        return rule.name.value
    return f"{PurePath(source).stem}:{rule.span.line}"


class _Checker:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.file: n.File = n.File(())
        self._lines: dict[str, list[str]] = {}

    # reporting
    def _report(self, span: n.Span, severity: str, message: str) -> None:
        source = self.file.source
        lines = self._lines.get(source)
        if lines is None:
            lines = self._lines[source] = source_lines(self.file.text)
        text = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
        self.diagnostics.append(Diagnostic(source, span.line, span.column, severity, message, text))

    def error(self, span: n.Span, message: str) -> None:
        self._report(span, "error", message)

    def warning(self, span: n.Span, message: str) -> None:
        self._report(span, "warning", message)

    # settings
    def collect_schema(self, files: Sequence[n.File]) -> dict[str, str]:
        schema = dict(BUILTIN_ATTRIBUTES)
        declared_at: dict[str, tuple[str, n.Span]] = {}  # an identical declaration in another file is fine
        for file in files:
            self.file = file
            for item in file.items:
                if not isinstance(item, n.AttributeDecl):
                    continue
                name, kind = str(item.path), item.type.value
                if kind not in TYPES:
                    self.error(
                        item.type.span,
                        f"unknown type '{kind}'{did_you_mean(kind, TYPES)} "
                        "(types: string, number, boolean, time)",
                    )
                    schema.setdefault(name, _UNTYPED)
                    continue
                if name in BUILTIN_ATTRIBUTES:
                    self.error(item.path.span, f"'{name}' is built in (a {BUILTIN_ATTRIBUTES[name]}); remove this line")
                    continue
                if name in schema and schema[name] != kind:
                    self.error(item.path.span, f"'{name}' is already declared as a {schema[name]}")
                    continue
                if name in declared_at and declared_at[name][0] == file.source:
                    self.error(item.path.span, f"'{name}' is already declared on line {declared_at[name][1].line}")
                    continue
                prefix = _prefix_conflict(name, schema)
                if prefix is not None:
                    message = f"'{name}' conflicts with '{prefix}': an attribute cannot be both a value and a map"
                    self.error(item.path.span, message)
                    continue
                schema[name] = kind
                declared_at.setdefault(name, (file.source, item.path.span))
        return schema

    def file_settings(self, file: n.File) -> str | None:
        default_tz: str | None = None
        seen = False
        for item in file.items:
            if isinstance(item, n.DefaultTimezone):
                if seen:
                    self.error(item.span, "a file has at most one 'default timezone'")
                    continue
                seen = True
                problem = zone_problem(item.name.value)
                if problem:
                    self.error(item.name.span, problem)
                else:
                    default_tz = item.name.value
        return default_tz

    # rules
    def rule(self, rule: n.Rule, schema: dict[str, str], default_tz: str | None) -> CheckedRule | None:
        start = len(self.diagnostics)
        name = rule_name(rule, self.file.source)
        if rule.name is not None and not rule.name.value.strip():
            self.error(rule.name.span, "a campaign name cannot be empty")
        what = f"campaign '{name}'" if rule.name else "this rule"
        by_type: dict[type, list[n.Clause]] = {}
        for clause in rule.clauses:
            by_type.setdefault(type(clause), []).append(clause)
        for kind, clauses in by_type.items():
            if kind is not n.Variant and len(clauses) > 1:
                for extra in clauses[1:]:
                    self.error(extra.span, f"{what} has more than one '{_keyword(kind)}' clause")
        segment = _first(by_type, n.Segment)
        send = _first(by_type, n.Send)
        if segment is None:
            self.error(rule.span, f"{what} has no segment clause; add one such as 'segment last_used between 2w and 3w'")
        if send is None:
            self.error(rule.span, f"{what} has no send clause; add one such as 'send push weekly thu 17:45 local'")
        if segment is not None:
            self.condition(segment.condition, schema)
        schedule_ok = send is not None and self.send(send)
        message = _first(by_type, n.Message)
        checked_message = self.message_fields(message.fields) if message else ()
        variants = [c for c in by_type.get(n.Variant, []) if isinstance(c, n.Variant)]
        checked_variants = self.variants(variants, rule)
        holdout = _first(by_type, n.Holdout)
        if holdout is not None:
            self.percent(holdout.percent, holdout.span, "holdout")
        salt = _first(by_type, n.Salt)
        if salt is not None and not salt.value.value:
            self.error(salt.value.span, "a salt cannot be empty")
        reeligible = _first(by_type, n.Reeligible)
        if reeligible is not None and reeligible.after.amount == 0:
            self.error(reeligible.after.span, "'reeligible after' needs a duration longer than zero")
        cap = _first(by_type, n.Cap)
        if cap is not None:
            self.cap(cap)
        quiet = _first(by_type, n.QuietHours)
        if quiet is not None:
            self.quiet(quiet)
        from_ = _first(by_type, n.From)
        until = _first(by_type, n.Until)
        if from_ is not None and until is not None and until.date.value < from_.date.value:
            self.error(until.date.span, f"'until {until.date.value}' is before 'from {from_.date.value}'")
        if send is not None and isinstance(send.schedule, n.EveryWeeks) and from_ is None:
            self.error(
                send.schedule.span,
                f"'every {send.schedule.interval} weeks' needs a 'from' date to anchor the weeks; "
                "add a clause such as 'from 2026-12-07'",
            )
        status = _first(by_type, n.Status)
        if status is not None and status.value.value not in STATUSES:
            self.error(
                status.value.span,
                f"unknown status '{status.value.value}'{did_you_mean(status.value.value, STATUSES)} "
                "(active, paused or draft)",
            )
        grace = _first(by_type, n.Grace)
        if segment is not None and send is not None and schedule_ok:
            self.coverage(segment, send.schedule, reeligible)
        if any(d.severity == "error" for d in self.diagnostics[start:]):
            return None
        assert segment is not None and send is not None
        return CheckedRule(
            name=name,
            source=self.file.source,
            line=rule.span.line,
            segment=segment.condition,
            segment_name=segment.name.value if segment.name else None,
            channel=send.channel.value,
            schedule=send.schedule,
            message=checked_message,
            variants=checked_variants,
            holdout=holdout.percent if holdout else None,
            salt=salt.value.value if salt else name,
            reeligible=reeligible.after if reeligible else None,
            cap=cap,
            quiet=quiet,
            from_date=from_.date.value if from_ else None,
            until_date=until.date.value if until else None,
            grace=grace.duration if grace else DEFAULT_GRACE,
            status=status.value.value if status else "active",
            default_timezone=default_tz,
            rule=rule,
        )

    # conditions
    def condition(self, cond: n.Condition, schema: dict[str, str]) -> None:
        if isinstance(cond, (n.And, n.Or)):
            for op in cond.operands:
                self.condition(op, schema)
            return
        if isinstance(cond, n.Not):
            self.condition(cond.operand, schema)
            return
        kind = self.attribute(cond.path, schema, _implied_type(cond))
        if kind is None:
            return
        attr = str(cond.path)
        if isinstance(cond, (n.Between, n.MoreThanAgo, n.LessThanAgo, n.Before, n.After)):
            if kind != "time":
                self.error(cond.path.span, f"'{attr}' is a {kind}, but '{_keyword(type(cond))}' needs a time attribute")
                return
            if isinstance(cond, n.Between) and cond.low.nominal() >= cond.high.nominal():
                self.error(
                    cond.low.span,
                    f"'between {cond.low} and {cond.high}' is empty: the first duration must be shorter "
                    f"than the second (write 'between {cond.high} and {cond.low}'?)"
                    if cond.low.nominal() > cond.high.nominal()
                    else f"'between {cond.low} and {cond.high}' is empty: the two durations are equal",
                )
        elif isinstance(cond, n.Compare):
            self.compare(cond, attr, kind)
        elif isinstance(cond, n.InList):
            if not cond.values:
                self.error(cond.span, f"'{'not in' if cond.negated else 'in'} []' needs at least one value")
            if kind == "time":
                self.error(cond.path.span, f"'{attr}' is a time; compare times with before, after or between")
                return
            for value in cond.values:
                self.literal(value, attr, kind)
        elif isinstance(cond, n.Truthy) and kind != "boolean":
            self.error(
                cond.path.span,
                f"'{attr}' is a {kind}, not a boolean; write a comparison such as '{attr} is set'",
            )

    def attribute(self, path: n.Path, schema: dict[str, str], implied: str) -> str | None:
        """The attribute's type; None (with an error) when it is unknown. ``implied`` is the type
        the predicate suggests, for the "declare it" hint."""
        name = str(path)
        kind = schema.get(name)
        if kind == _UNTYPED:
            return None  # its declaration already has an error; one message is enough
        if kind is None:
            hint = did_you_mean(name, [k for k, v in schema.items() if v != _UNTYPED])
            self.error(
                path.span,
                f"unknown attribute '{name}'{hint}" + ("" if hint else f"; declare it with 'attribute {name}: {implied}'"),
            )
        return kind

    def compare(self, cond: n.Compare, attr: str, kind: str) -> None:
        if kind == "time":
            self.error(cond.path.span, f"'{attr}' is a time; compare times with before, after or between")
            return
        if cond.op in ("<", "<=", ">", ">=") and kind != "number":
            self.error(cond.span, f"'{cond.op}' needs a number attribute, but '{attr}' is a {kind}")
            return
        self.literal(cond.value, attr, kind)

    def literal(self, value: n.Literal, attr: str, kind: str) -> None:
        got = _literal_type(value.value)
        if got != kind:
            example = {"string": '"text"', "number": "3", "boolean": "true"}[kind]
            self.error(value.span, f"'{attr}' is a {kind}, but this value is a {got}; write a {kind} such as {example}")

    # schedules
    def send(self, send: n.Send) -> bool:
        """Check a send clause; False when its schedule is wrong (no coverage warnings then)."""
        start = len(self.diagnostics)
        channel = send.channel.value
        if channel not in CHANNELS:
            self.error(
                send.channel.span,
                f"unknown channel '{channel}'{did_you_mean(channel, CHANNELS)} (channels: {', '.join(CHANNELS)})",
            )
        sched = send.schedule
        if isinstance(sched, n.Cron):
            self.cron(sched)
        else:
            self.clock(sched.at)
        if isinstance(sched, (n.Weekly, n.EveryWeeks)):
            self.days(sched.days)
        if isinstance(sched, n.EveryWeeks) and sched.interval < 1:
            self.error(sched.span, "'every 0 weeks' never fires; use 'every 1 weeks' or 'weekly'")
        if isinstance(sched, n.EveryWeeks) and sched.interval * 7 > MAX_DURATION_DAYS:
            self.error(sched.span, f"'every {sched.interval} weeks' is longer than 100 years")
        if isinstance(sched, n.Monthly) and not 1 <= sched.day <= 31:
            self.error(sched.span, f"day of month {sched.day} is not between 1 and 31")
        if sched.zone.kind == "named":
            problem = zone_problem(sched.zone.name or "")
            if problem:
                self.error(sched.zone.span, problem)
        return len(self.diagnostics) == start

    def clock(self, clock: n.Clock) -> None:
        if clock.hour > 23 or clock.minute > 59:
            self.error(clock.span, f"'{clock.hour:02d}:{clock.minute:02d}' is not a time of day (00:00 to 23:59)")

    def days(self, days: tuple[n.Name, ...]) -> None:
        seen: set[str] = set()
        for day in days:
            if day.value not in DAYS:
                hint = did_you_mean(day.value, DAYS, DAY_ALIASES)
                self.error(day.span, f"unknown day '{day.value}'{hint} (days: mon tue wed thu fri sat sun)")
            elif day.value in seen:
                self.error(day.span, f"day '{day.value}' is listed twice")
            seen.add(day.value)

    def cron(self, cron: n.Cron) -> None:
        fields = cron.expression.split()
        if len(fields) != 5:
            self.error(
                cron.span,
                f'cron expression "{cron.expression}" must have 5 fields '
                f"(minute hour day-of-month month day-of-week), not {len(fields)}",
            )
        elif not croniter.is_valid(cron.expression):
            self.error(cron.span, f"invalid cron expression \"{cron.expression}\"")
        elif any(_RANDOM_CRON.match(part) for field in fields for part in field.split(",")):
            # croniter draws a new value for R each time it reads the expression: not a schedule
            self.error(cron.span, f"cron expression \"{cron.expression}\" uses R (a random value); write the times out")
        elif not _cron_fires(cron.expression):
            self.error(cron.span, f"cron expression \"{cron.expression}\" never fires (no such date)")

    # delivery controls
    def percent(self, value: float, span: n.Span, what: str) -> bool:
        if not 0 < value <= 100:
            self.error(span, f"{what} percentage {value:g}% must be more than 0% and at most 100%")
            return False
        if _decimals(value) > 2:
            self.error(span, f"{what} percentage {value:g}% has more than two decimals (buckets are 0.01% wide)")
            return False
        return True

    def variants(self, variants: list[n.Variant], rule: n.Rule) -> tuple[Variant, ...]:
        if not variants:
            return ()
        if len(variants) == 1:
            self.error(variants[0].span, "a campaign with variants needs at least two of them")
        out = []
        names: set[str] = set()
        ok = True
        for variant in variants:
            ok = self.percent(variant.percent, variant.span, f"variant '{variant.name.value}'") and ok
            if variant.name.value in names:
                self.error(variant.name.span, f"variant '{variant.name.value}' is defined twice")
            names.add(variant.name.value)
            out.append(Variant(variant.name.value, variant.percent, self.message_fields(variant.fields)))
        total = sum(v.percent for v in variants)
        if ok and len(variants) > 1 and round(total * 100) != 10000:
            self.error(variants[0].span, f"variant percentages add up to {total:g}%, not 100%")
        return tuple(out)

    def message_fields(self, fields: tuple[n.MessageField, ...]) -> tuple[tuple[str, Template], ...]:
        out = []
        seen: set[str] = set()
        for field in fields:
            name = field.name.value
            if name not in MESSAGE_FIELDS:
                hint = did_you_mean(name, MESSAGE_FIELDS)
                self.error(field.name.span, f"unknown message field '{name}'{hint} (fields: {', '.join(MESSAGE_FIELDS)})")
                continue
            if name in seen:
                self.error(field.name.span, f"message field '{name}' is given twice")
                continue
            seen.add(name)
            try:
                out.append((name, Template(field.template.value)))
            except TemplateError as exc:
                span = field.template.span
                # point into the string: one for the opening quote (exact when there are no escapes)
                at = attrs.evolve(span, column=span.column + 1 + exc.index) if span.line == span.end_line else span
                self.error(at, f"template does not parse: {exc}")
        return tuple(out)

    def cap(self, cap: n.Cap) -> None:
        if cap.count < 1:
            self.error(cap.span, "'cap 0 per ...' would block every send; remove the campaign or use 'status paused'")
        if cap.per.amount == 0:
            self.error(cap.per.span, "a cap period must be longer than zero")
        if cap.scope is not None and cap.scope.value != "all" and cap.scope.value not in CHANNELS:
            choices = (*CHANNELS, "all")
            hint = did_you_mean(cap.scope.value, choices)
            self.error(cap.scope.span, f"unknown cap scope '{cap.scope.value}'{hint} (a channel or 'all')")

    def quiet(self, quiet: n.QuietHours) -> None:
        self.clock(quiet.start)
        self.clock(quiet.end)
        if (quiet.start.hour, quiet.start.minute) == (quiet.end.hour, quiet.end.minute):
            self.error(quiet.span, "quiet hours start and end at the same time")
        if quiet.mode is not None and quiet.mode.value not in QUIET_MODES:
            hint = did_you_mean(quiet.mode.value, QUIET_MODES)
            self.error(quiet.mode.span, f"unknown quiet hours mode '{quiet.mode.value}'{hint} (defer or drop)")

    # coverage warnings
    def coverage(self, segment: n.Segment, schedule: n.Schedule, reeligible: n.Reeligible | None) -> None:
        gaps = schedule_gaps(schedule)
        if gaps is None:
            return
        smallest, largest = gaps
        for window in _windows(segment.condition):
            width = window.high.nominal() - window.low.nominal()
            if width <= dt.timedelta(0):  # an empty `between` is already an error
                continue
            if width < largest:
                self.warning(
                    segment.span,
                    f"the window {window.text} is {_fmt_td(width)} wide but this schedule's occurrences "
                    f"are up to {_fmt_td(largest)} apart: users whose {window.attr} falls in a hole of "
                    f"{_fmt_td(largest - width)} between occurrences are never captured; widen the "
                    f"window to {_fmt_td(largest)}",
                )
            if reeligible is not None and reeligible.after.nominal() < width and smallest < width:
                self.warning(
                    segment.span,
                    f"'reeligible after {reeligible.after}' is shorter than the {_fmt_td(width)} window "
                    f"{window.text}: one lapse episode can be messaged more than once; use "
                    f"'reeligible after {_fmt_td(width)}' or longer",
                )
            if window.split is not None:
                self.warning(
                    segment.span,
                    f"'{window.attr} more than {window.low} ago and {window.attr} less than {window.high} ago' "
                    f"leaves out users whose {window.attr} is exactly {window.low} before an occurrence; "
                    f"write '{window.attr} between {window.low} and {window.high}' to include them",
                )


@attrs.frozen
class _Window:
    attr: str
    low: n.Duration
    high: n.Duration
    text: str
    split: bool | None = None  # True when written as `more than A ago and less than B ago`


def _windows(cond: n.Condition) -> Iterator[_Window]:
    """Time windows in positive positions: a `between`, or `more than A ago` and `less than B ago`
    on the same attribute in one conjunction. Windows under `not` are holes, not windows."""
    if isinstance(cond, n.Between):
        yield _Window(str(cond.path), cond.low, cond.high, f"'{cond.path} between {cond.low} and {cond.high}'")
    elif isinstance(cond, n.Or):
        for op in cond.operands:
            yield from _windows(op)
    elif isinstance(cond, n.And):
        more = {str(o.path): o for o in cond.operands if isinstance(o, n.MoreThanAgo)}
        less = {str(o.path): o for o in cond.operands if isinstance(o, n.LessThanAgo)}
        for attr, m in more.items():
            if attr in less and m.duration.nominal() < less[attr].duration.nominal():
                text = f"'{attr} more than {m.duration} ago and less than {less[attr].duration} ago'"
                yield _Window(attr, m.duration, less[attr].duration, text, True)
        for op in cond.operands:
            if not isinstance(op, (n.MoreThanAgo, n.LessThanAgo)):
                yield from _windows(op)


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


_RANDOM_CRON = re.compile(r"^[rR](\(\d+-\d+\))?(/\d+)?$")


def _cron_fires(expression: str) -> bool:
    """False for a well-formed expression with no date, such as "0 0 30 2 *"."""
    try:
        croniter(expression, dt.datetime(2026, 1, 1)).get_next(dt.datetime)
    except CroniterError:
        return False
    return True


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


def _decimals(value: float) -> int:
    """Decimal places as written (``repr`` is the shortest text that reads back as the value):
    ``value * 100`` is not exact in binary, 33.34 * 100 == 3333.9999999999995."""
    exponent = Decimal(repr(value)).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


_UNTYPED = "?"  # a declared attribute whose type is wrong: referenced silently, the declaration errs


def _implied_type(cond: n.Predicate) -> str:
    """The type a predicate expects of its attribute, for the "declare it" hint."""
    if isinstance(cond, (n.Between, n.MoreThanAgo, n.LessThanAgo, n.Before, n.After)):
        return "time"
    if isinstance(cond, n.Truthy):
        return "boolean"
    if isinstance(cond, n.Compare):
        return "number" if cond.op in ("<", "<=", ">", ">=") else _literal_type(cond.value.value)
    if isinstance(cond, n.InList) and cond.values:
        return _literal_type(cond.values[0].value)
    return "string"


def _literal_type(value: n.Value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _prefix_conflict(name: str, schema: dict[str, str]) -> str | None:
    parts = name.split(".")
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) in schema:
            return ".".join(parts[:i])
    for other in schema:
        if other.startswith(name + "."):
            return other
    return None


_KEYWORDS = {
    n.Segment: "segment", n.Send: "send", n.Message: "message", n.Variant: "variant",
    n.Holdout: "holdout", n.Salt: "salt", n.Reeligible: "reeligible after", n.Cap: "cap",
    n.QuietHours: "quiet hours", n.From: "from", n.Until: "until", n.Grace: "grace",
    n.Status: "status", n.Between: "between", n.MoreThanAgo: "more than ... ago",
    n.LessThanAgo: "less than ... ago", n.Before: "before", n.After: "after",
}


def _keyword(kind: type) -> str:
    return _KEYWORDS.get(kind, kind.__name__.lower())


_T = TypeVar("_T")


def _first(by_type: dict[type, list[n.Clause]], kind: type[_T]) -> _T | None:
    clauses = by_type.get(kind)
    if not clauses:
        return None
    first = clauses[0]
    assert isinstance(first, kind)
    return first
