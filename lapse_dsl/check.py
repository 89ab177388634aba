"""AST -> checked rules. Types every condition against the user schema, validates names, zones,
clocks and percentages; the warnings about campaigns that can never send, or would silently miss
or double-message users, come from :mod:`lapse_dsl.reach`.

Every error of every file is collected; nothing stops at the first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import PurePath
from typing import TypeVar

import attrs
from croniter import CroniterError, croniter

from . import nodes as n
from .errors import Diagnostic, Fix
from .format import format_condition, quote
from .hints import twelve_hour
from .model import CheckedRule, CheckResult, Variant
from .parse import MAX_DURATION_DAYS, source_lines
from .reach import Use, coverage, never_sends, per_schedule
from .schema import (
    BUILTIN_ATTRIBUTES,
    CHANNELS,
    DAY_ALIASES,
    DAYS,
    MESSAGE_FIELDS,
    QUIET_MODES,
    STATUSES,
    TYPES,
    did_you_mean_word,
)
from .segments import Resolved, Resolver
from .templates import Template, TemplateError, source_index, unknown_variable
from .zones import zone_advice

__all__ = ["CheckResult", "CheckedRule", "Variant", "check"]  # (the first three are the model's, re-exported)

DEFAULT_GRACE = n.Duration(1, "h")


def check(files: Sequence[n.File]) -> CheckResult:
    """Check a rule set (one or more parsed files). Returns every diagnostic; the caller decides
    whether errors are fatal (``compile`` raises :class:`LapseCheckError`)."""
    checker = _Checker()
    schema = checker.collect_schema(files)
    checker.segments = Resolver(files, checker)  # named segments: before the campaigns that use them
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
    errors = any(d.severity == "error" for d in checker.diagnostics)  # an error is enough to read then
    if files and not errors and not any(isinstance(item, n.Rule) for file in files for item in file.items):
        for file in files:
            checker.file = file
            checker.warning(_FILE_START, "this file has no rules (no 'segment ...; send ...' line and no campaign "
                            "block): it is a valid, empty rule set that decides nothing")
    ordered = sorted(checker.diagnostics, key=lambda d: (d.source, d.line, d.column))
    return CheckResult(tuple(rules), schema, tuple(ordered))


_FILE_START = n.Span(1, 1, 1, 1)


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
        self.schema: dict[str, str] = dict(BUILTIN_ATTRIBUTES)  # the rule set's, once collect_schema ran
        self.segments = Resolver(())  # the rule set's named segments, once check() resolved them

    # reporting
    def _report(self, span: n.Span, severity: str, message: str, fix: Fix | None) -> None:
        source = self.file.source
        lines = self._lines.get(source)
        if lines is None:
            lines = self._lines[source] = source_lines(self.file.text)
        text = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
        self.diagnostics.append(Diagnostic(source, span.line, span.column, severity, message, text, fix))

    def error(self, span: n.Span, message: str, fix: Fix | None = None) -> None:
        self._report(span, "error", message, fix)

    def warning(self, span: n.Span, message: str, fix: Fix | None = None) -> None:
        self._report(span, "warning", message, fix)

    def zone_error(self, span: n.Span, problem: str, suggestion: str | None) -> None:
        """A bad time zone name at ``span`` (the quoted string), fixed to the zone it suggests."""
        self.error(span, problem, _replacing(span, quote(suggestion) if suggestion is not None else None))

    def warn(self, found: Iterable[tuple[n.Span, str]]) -> None:
        """Report each ``(span, message)`` an analysis in :mod:`lapse_dsl.reach` found."""
        for span, message in found:
            self.warning(span, message)

    # quoted text and dates
    def plain(self, span: n.Span, value: str, what: str) -> bool:
        """A name (campaign, segment, variant, salt, zone, cron) is printable text: an error for a
        control character, which would end up in idempotency keys, generated code and output."""
        return self._controls(span, value, _CONTROL, f"{what} cannot contain control characters such as tabs and new lines")

    def value_text(self, value: n.Literal) -> None:
        if isinstance(value.value, str):
            self._controls(value.span, value.value, _CONTROL_IN_TEXT, _TEXT_CONTROLS)

    def texts(self, fields: tuple[n.MessageField, ...]) -> None:
        for field in fields:
            self._controls(field.template.span, field.template.value, _CONTROL_IN_TEXT, _TEXT_CONTROLS)

    def _controls(self, span: n.Span, value: str, pattern: re.Pattern[str], rule: str) -> bool:
        bad = pattern.search(value)
        if bad is None:
            return True
        char = bad.group()
        at = _column_in_string(self.file.text, span, pattern)
        self.error(attrs.evolve(span, column=at), f"control character U+{ord(char):04X} in a quoted string: {rule}")
        return False

    def in_range(self, point: n.DateLit | n.InstantLit) -> None:
        """Dates outside ``MIN_DATE``..``MAX_DATE`` would overflow the date arithmetic downstream."""
        if isinstance(point, n.InstantLit):
            local = point.value.date()
            inside = n.MIN_DATE <= local <= n.MAX_DATE and n.MIN_DATE <= point.value.astimezone(dt.UTC).date() <= n.MAX_DATE
            text = point.text
        else:
            inside = n.MIN_DATE <= point.value <= n.MAX_DATE
            text = point.value.isoformat()
        if not inside:
            self.error(point.span, f"'{text}' is outside the dates a rule can name, {n.MIN_DATE} to {n.MAX_DATE}")

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
                    hint, word = did_you_mean_word(kind, TYPES)
                    self.error(item.type.span, f"unknown type '{kind}'{hint} (types: {', '.join(TYPES)})",
                               _replacing(item.type.span, word))
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
        self.schema = schema
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
                if not self.plain(item.name.span, item.name.value, "a time zone name"):
                    continue
                advice = zone_advice(item.name.value)
                if advice is not None:
                    self.zone_error(item.name.span, *advice)
                else:
                    default_tz = item.name.value
        return default_tz

    # rules
    def rule(self, rule: n.Rule, schema: dict[str, str], default_tz: str | None) -> CheckedRule | None:
        start = len(self.diagnostics)
        name = rule_name(rule, self.file.source)
        if rule.name is not None and not rule.name.value.strip():
            self.error(rule.name.span, "a campaign name cannot be empty")
        if rule.name is not None:
            self.plain(rule.name.span, rule.name.value, "a campaign name")
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
        variants = [c for c in by_type.get(n.Variant, []) if isinstance(c, n.Variant)]
        unsent = next((v for v in variants if v.send is None), None)
        if send is None and (unsent is not None or not variants):  # a send-time experiment needs none
            also = (f" (variant '{unsent.name.value}' has no send of its own)"
                    if unsent is not None and any(v.send is not None for v in variants) else "")
            self.error(rule.span, f"{what} has no send clause{also}; add one such as 'send push weekly thu 17:45 local'")
        resolved: Resolved | None = None
        if segment is not None:
            if segment.name is not None:
                self.plain(segment.name.span, segment.name.value, "a segment name")
            self.condition(segment.condition, schema)
            resolved = self.segments.campaign(self.file, segment)
        campaign_ok = send is not None and self.send(send)
        schedule_ok = self.variant_sends(variants, send) and (campaign_ok or send is None)
        delivery = send if send is not None else next((v.send for v in variants if v.send is not None), None)
        message = _first(by_type, n.Message)
        checked_message = self.message_fields(message.fields) if message else ()
        checked_variants = self.variants(variants, rule)
        for fields in [message.fields] if message else []:
            self.texts(fields)
        for variant in variants:
            self.plain(variant.name.span, variant.name.value, "a variant name")
            self.texts(variant.fields)
        holdout = _first(by_type, n.Holdout)
        if holdout is not None:
            self.percent(holdout.percent, holdout.span, "holdout")
        salt = _first(by_type, n.Salt)
        if salt is not None and not salt.value.value:
            self.error(salt.value.span, "a salt cannot be empty")
        if salt is not None:
            self.plain(salt.value.span, salt.value.value, "a salt")
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
        for date in (from_, until):
            if date is not None:
                self.in_range(date.date)
        if from_ is not None and until is not None and until.date.value < from_.date.value:
            self.error(until.date.span, f"'until {until.date.value}' is before 'from {from_.date.value}'")
        for sent in [send, *(v.send for v in variants)]:
            if sent is not None and isinstance(sent.schedule, n.EveryWeeks) and from_ is None:
                self.error(
                    sent.schedule.span,
                    f"'every {sent.schedule.interval} weeks' needs a 'from' date to anchor the weeks; "
                    "add a clause such as 'from 2026-12-07'",
                )
        status = _first(by_type, n.Status)
        if status is not None and status.value.value not in STATUSES:
            hint, word = did_you_mean_word(status.value.value, STATUSES)
            self.error(status.value.span, f"unknown status '{status.value.value}'{hint} (active, paused or draft)",
                       _replacing(status.value.span, word))
        grace = _first(by_type, n.Grace)
        uses = _uses(send, variants)  # each schedule users get, with the variants that use it
        if segment is not None and uses and schedule_ok:
            covered = attrs.evolve(segment, condition=resolved.segment) if resolved else segment
            self.warn(per_schedule(uses, lambda schedule: coverage(covered, schedule, reeligible)))
        if any(d.severity == "error" for d in self.diagnostics[start:]) or resolved is None:
            return None  # (no resolved segment: the error is at a named segment it uses)
        assert segment is not None and delivery is not None
        written_out = attrs.evolve(segment, condition=resolved.segment)
        self.warn(resolved.located(
            per_schedule(uses, lambda schedule: never_sends(written_out, schedule, quiet, from_, until))))
        return CheckedRule(
            name=name,
            source=self.file.source,
            line=rule.span.line,
            segment=resolved.segment,
            written=resolved.written,
            segment_name=segment.name.value if segment.name else None,
            channel=delivery.channel.value,
            schedule=delivery.schedule,
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
        if isinstance(cond, (n.SegmentRef, n.Named)):
            return  # resolved, and its definition checked, by lapse_dsl.segments
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
        if kind == "clock":  # read only by schedules, never by the segment's back ends
            self.error(cond.path.span, f"'{attr}' is a clock: it gives a schedule its time of day "
                       f"('weekly thu at {attr} or 17:45 local') and cannot be tested in a condition")
            return
        if isinstance(cond, (n.Before, n.After)):
            self.in_range(cond.point)
        if isinstance(cond, (n.Between, n.MoreThanAgo, n.LessThanAgo, n.Before, n.After)):
            if kind != "time":
                self.error(cond.path.span, f"'{attr}' is a {kind}, but '{_keyword(type(cond))}' needs a time attribute")
                return
            if isinstance(cond, n.WINDOWS):
                self.window(cond)
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
                self.value_text(value)
        elif isinstance(cond, n.Truthy) and kind != "boolean":
            self.error(
                cond.path.span,
                f"'{attr}' is a {kind}, not a boolean; write a comparison such as '{attr} is set'",
            )

    def window(self, cond: n.Between | n.MoreThanAgo | n.LessThanAgo) -> None:
        if isinstance(cond, n.Between) and cond.low.shortest() >= cond.high.longest():
            self.error(
                cond.low.span,
                f"'between {cond.low} and {cond.high}' is empty: the first duration must be shorter "
                f"than the second (write 'between {cond.high} and {cond.low}'?)"
                if cond.low.nominal() > cond.high.nominal()
                else f"'between {cond.low} and {cond.high}' is empty: the two durations are equal",
            )
        elif isinstance(cond, n.Between) and cond.low.longest() > cond.high.shortest():
            self.warning(
                cond.low.span,
                f"'between {cond.low} and {cond.high}' is empty at some occurrences: a month is 28 to 31 days, "
                f"so {cond.low} can be longer than {cond.high}; write both in months or in days",
            )
        for duration in (cond.low, cond.high) if isinstance(cond, n.Between) else (cond.duration,):
            if duration.unit == "m" and 1 <= duration.amount <= 24:
                minutes = "1 minute" if duration.amount == 1 else f"{duration.amount} minutes"
                months = f"{duration.amount}mo"
                self.warning(duration.span, f"'{format_condition(cond)}': {duration} is {minutes}; "
                             f"for months write {months}", _replacing(duration.span, months))

    def attribute(self, path: n.Path, schema: dict[str, str], implied: str) -> str | None:
        """The attribute's type; None (with an error) when it is unknown. ``implied`` is the type
        the predicate suggests, for the "declare it" hint."""
        name = str(path)
        kind = schema.get(name)
        if kind == _UNTYPED:
            return None  # its declaration already has an error; one message is enough
        if kind is None:
            hint, word = did_you_mean_word(name, [k for k, v in schema.items() if v != _UNTYPED])
            self.error(
                path.span,
                f"unknown attribute '{name}'{hint}" + ("" if hint else f"; declare it with 'attribute {name}: {implied}'"),
                _replacing(path.span, word),
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
        self.value_text(cond.value)

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
            hint, word = did_you_mean_word(channel, CHANNELS)
            self.error(send.channel.span, f"unknown channel '{channel}'{hint} (channels: {', '.join(CHANNELS)})",
                       _replacing(send.channel.span, word))
        sched = send.schedule
        if isinstance(sched, n.Cron):
            if self.plain(sched.span, sched.expression, "a cron expression"):
                self.cron(sched)
        else:
            self.time_of_day(sched.at)
        if isinstance(sched, n.Once):
            self.in_range(sched.date)
        if isinstance(sched, (n.Weekly, n.EveryWeeks)):
            self.days(sched.days)
        if isinstance(sched, n.EveryWeeks) and sched.interval < 1:
            self.error(sched.span, "'every 0 weeks' never fires; use 'every 1 weeks' or 'weekly'")
        if isinstance(sched, n.EveryWeeks) and sched.interval * 7 > MAX_DURATION_DAYS:
            self.error(sched.span, f"'every {sched.interval} weeks' is longer than 100 years")
        if isinstance(sched, n.Monthly) and not 1 <= sched.day <= 31:
            self.error(sched.span, f"day of month {sched.day} is not between 1 and 31")
        if sched.zone.kind == "named" and self.plain(sched.zone.span, sched.zone.name or "", "a time zone name"):
            advice = zone_advice(sched.zone.name or "")
            if advice is not None:
                self.zone_error(sched.zone.span, *advice)
        return len(self.diagnostics) == start

    def time_of_day(self, at: n.TimeOfDay) -> None:
        """A schedule's time: a valid clock, or ``at ATTR or HH:MM`` with a ``clock`` attribute."""
        if isinstance(at, n.Clock):
            self.clock(at)
            return
        self.clock(at.fallback)
        attr = str(at.path)
        kind = self.attribute(at.path, self.schema, "clock")
        if kind is not None and kind != "clock":
            self.error(
                at.path.span,
                f"'{attr}' is a {kind}, but 'at {attr} or {at.fallback}' needs a clock attribute (a time of day "
                "\"HH:MM\"), declared such as 'attribute preferred_time: clock'",
            )

    def variant_sends(self, variants: list[n.Variant], send: n.Send | None) -> bool:
        """Check the variants' own sends (a send-time experiment); False when one is wrong. Every
        variant sends on the campaign's channel in the campaign's zone (without a campaign send,
        the first variant's): an experiment varies when a message goes out, never how or in which
        zone, so that a campaign keeps one delivery zone for every user."""
        ok = True
        sends = [(v, v.send) for v in variants if v.send is not None]
        reference = send if send is not None else sends[0][1] if sends else None
        whose = "the campaign" if send is not None else f"variant '{sends[0][0].name.value}'" if sends else ""
        for variant, own in sends:
            ok = self.send(own) and ok
            if reference is None or own is reference:
                continue
            name = variant.name.value
            if own.channel.value != reference.channel.value:
                self.error(
                    own.channel.span,
                    f"variant '{name}' sends by {own.channel.value}, but {whose} sends by {reference.channel.value}: "
                    f"variants test when, not how; write 'send {reference.channel.value} ...'",
                    _replacing(own.channel.span, reference.channel.value),
                )
                ok = False
            if own.schedule.zone != reference.schedule.zone:
                zone = _zone_text(reference.schedule.zone)
                self.error(
                    own.schedule.zone.span,
                    f"variant '{name}' delivers in {_zone_text(own.schedule.zone)}, but {whose} delivers in "
                    f"{zone}: variants test when, not where; end its schedule in {zone}",
                    _replacing(own.schedule.zone.span, zone),
                )
                ok = False
        return ok

    def clock(self, clock: n.Clock) -> None:
        if clock.hour > 23 or clock.minute > 59:
            self.error(clock.span, f"'{clock.hour:02d}:{clock.minute:02d}' is not a time of day (00:00 to 23:59)")

    def days(self, days: tuple[n.Name, ...]) -> None:
        seen: set[str] = set()
        for day in days:
            if day.value not in DAYS:
                hint, word = did_you_mean_word(day.value, DAYS, DAY_ALIASES)
                self.error(day.span, f"unknown day '{day.value}'{hint} (days: mon tue wed thu fri sat sun)",
                           _replacing(day.span, word))
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
            if variant.send is None and not variant.fields:
                self.error(variant.span, f"variant '{variant.name.value}' has neither a send nor a message; give it "
                           "'send CHANNEL SCHEDULE' (its own send time), 'message FIELD \"TEXT\"', or both")
            out.append(Variant(variant.name.value, variant.percent, self.message_fields(variant.fields),
                               variant.send.schedule if variant.send is not None else None))
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
                hint, word = did_you_mean_word(name, MESSAGE_FIELDS)
                self.error(field.name.span, f"unknown message field '{name}'{hint} (fields: {', '.join(MESSAGE_FIELDS)})",
                           _replacing(field.name.span, word))
                continue
            if name in seen:
                self.error(field.name.span, f"message field '{name}' is given twice")
                continue
            seen.add(name)
            span = field.template.span
            literal = self.file.text[span.start:span.end]

            def within(index: int, literal: str = literal) -> int:
                """Where the template's character ``index`` is in the literal's source text."""
                return source_index(literal, index) if literal.startswith('"') else 1 + index

            def at(index: int, span: n.Span = span) -> n.Span:
                """The template's character ``index`` in the rule file (a string is on one line)."""
                if span.line != span.end_line:
                    return span
                return attrs.evolve(span, column=span.column + within(index))

            try:
                template = Template(field.template.value)
            except TemplateError as exc:
                self.error(at(exc.index), f"template does not parse: {exc}")
                continue
            out.append((name, template))
            # a misspelt name would render empty for every user: `| default:` hides it, it does not excuse it
            for variable in template.variables():
                unknown = unknown_variable(variable.path, self.schema)
                if unknown is None:
                    continue
                problem, word = unknown
                written = ".".join(variable.path)
                start = within(variable.offset)
                # a fix only where the name is written as is (not through an escape) on the string's line
                same = span.line == span.end_line and literal[start:start + len(written)] == written
                self.error(at(variable.offset), problem, Fix(word, len(written)) if word is not None and same else None)
        return tuple(out)

    def cap(self, cap: n.Cap) -> None:
        if cap.count < 1:
            self.error(cap.span, "'cap 0 per ...' would block every send; remove the campaign or use 'status paused'")
        if cap.per.amount == 0:
            self.error(cap.per.span, "a cap period must be longer than zero")
        if cap.scope is not None and cap.scope.value != "all" and cap.scope.value not in CHANNELS:
            choices = (*CHANNELS, "all")
            hint, word = did_you_mean_word(cap.scope.value, choices)
            self.error(cap.scope.span, f"unknown cap scope '{cap.scope.value}'{hint} (a channel or 'all')",
                       _replacing(cap.scope.span, word))

    def quiet(self, quiet: n.QuietHours) -> None:
        self.clock(quiet.start)
        self.clock(quiet.end)
        if (quiet.start.hour, quiet.start.minute) == (quiet.end.hour, quiet.end.minute):
            self.error(quiet.span, "quiet hours start and end at the same time")
        twelve = twelve_hour(self.file.text, quiet.end.span.start) if quiet.mode is not None else None
        if twelve is not None:  # `to 7am`: the grammar read `am` as the mode
            self.error(quiet.end.span, *twelve)
        elif quiet.mode is not None and quiet.mode.value not in QUIET_MODES:
            hint, word = did_you_mean_word(quiet.mode.value, QUIET_MODES)
            self.error(quiet.mode.span, f"unknown quiet hours mode '{quiet.mode.value}'{hint} (defer or drop)",
                       _replacing(quiet.mode.span, word))


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc: C0, DEL and C1
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # the same, less tab and new line
_TEXT_CONTROLS = "only tabs and new lines (written \\t and \\n) are allowed in values and messages"
_STRING_ESCAPES = {"n": "\n", "t": "\t"}


def _column_in_string(text: str, span: n.Span, pattern: re.Pattern[str]) -> int:
    """The column of the first character of a quoted string (raw or written as an escape) that
    ``pattern`` matches; the string's own column when the source is not at hand."""
    raw = text[span.start : span.end] if span.end > span.start else ""
    quote = raw.find('"')
    if quote < 0:
        return span.column
    i = quote + 1
    while i < len(raw) - 1:
        char = _STRING_ESCAPES.get(raw[i + 1], raw[i + 1]) if raw[i] == "\\" else raw[i]
        if pattern.match(char):
            return span.column + i
        i += 2 if raw[i] == "\\" else 1
    return span.column


def _replacing(span: n.Span, replacement: str | None) -> Fix | None:
    """The fix that writes ``replacement`` over the text of ``span`` (a diagnostic at ``span``);
    None without a replacement, or for a node with no text (made up, not parsed)."""
    if replacement is None or span.end <= span.start:
        return None
    return Fix(replacement, span.end - span.start)


_RANDOM_CRON = re.compile(r"^[rR](\(\d+-\d+\))?(/\d+)?$")


def _cron_fires(expression: str) -> bool:
    """False for a well-formed expression with no date, such as "0 0 30 2 *"."""
    try:
        croniter(expression, dt.datetime(2026, 1, 1)).get_next(dt.datetime)
    except CroniterError:
        return False
    return True


def _decimals(value: float) -> int:
    """Decimal places as written (``repr`` is the shortest text that reads back as the value):
    ``value * 100`` is not exact in binary, 33.34 * 100 == 3333.9999999999995."""
    exponent = Decimal(repr(value)).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _uses(send: n.Send | None, variants: list[n.Variant]) -> list[Use]:
    """The schedules a campaign's users get, each with the variants whose users get it (the
    campaign's own is used by the variants without a send, or by everyone without variants)."""
    by_schedule: dict[n.Schedule, list[str]] = {}
    if send is not None and (not variants or any(v.send is None for v in variants)):
        by_schedule[send.schedule] = [v.name.value for v in variants if v.send is None]
    for v in variants:
        if v.send is not None:
            by_schedule.setdefault(v.send.schedule, []).append(v.name.value)
    return [(tuple(names), schedule) for schedule, names in by_schedule.items()]


def _zone_text(zone: n.Zone) -> str:
    return f'"{zone.name}"' if zone.kind == "named" else zone.kind


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
