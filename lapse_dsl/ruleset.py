"""The public entry points: ``compile`` text or ``load`` files into a :class:`RuleSet`."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import gc
import hashlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MethodType
from typing import Any

import attrs

from . import nodes as n
from .check import CheckedRule, CheckResult, check
from .codegen import Extractor, compile_rules
from .errors import Diagnostic, LapseCheckError, LapseError, LapseSyntaxError, UserDataError
from .evaluate import (
    Decision,
    Moment,
    Program,
    ReferenceProgram,
    decision_order,
    delivery_zone,
    next_occurrence,
    parse_history,
    require_within,
    search,
    search_end,
    search_lower,
    search_start,
    truth,
)
from .explain import Explanation, RuleTrace, condition_traces, summary
from .fuse import FUSE_MAX, Fused, Results
from .parse import parse
from .plan import lower
from .portfolio import MAX_OCCURRENCES, Answers, Group, Portfolio, Stab, bits
from .schedule import occurrences
from .timecalc import Tz
from .userdata import Reader, maybe_user_id, skew_warning, user_id_of
from .zones import get_zone

__all__ = [
    "FIRST_INSTANT", "LAST_INSTANT", "RuleSet", "compile", "load", "parse_sources", "read_sources", "read_text",
    "require_instant", "rule_files",
]


class RuleSet:
    """Checked rules, ready to evaluate. Immutable; safe to share between threads."""

    def __init__(
        self,
        result: CheckResult,
        *,
        default_timezone: str = "UTC",
        naive_timezone: str | None = None,
        version: str = "",
    ) -> None:
        self.rules: tuple[CheckedRule, ...] = result.rules
        self.schema: dict[str, str] = dict(result.schema)
        self.warnings: tuple[Diagnostic, ...] = result.warnings
        self.default_timezone = default_timezone
        self.naive_timezone = naive_timezone
        self.version = version
        self._naive_zone = get_zone(naive_timezone) if naive_timezone else None
        self.plan = plan = lower(self.rules, self.schema)
        paths = [read.path for read in plan.reads]
        # Time attributes that only window conditions read are read only for users for whom a rule
        # reading them has an open static answer (docs/semantics.md, "Which attributes are read").
        self._lazy = frozenset(read.path for read in plan.reads if read.lazy)
        self._lazy_of = {c.rule.name: frozenset(paths[slot] for slot in c.lazy) for c in plan.campaigns}
        self._eager = tuple(read.path for read in plan.reads if not read.lazy)
        self._reader = Reader(paths, self.schema, self._naive_zone)
        self._clamped = tuple(read.path for read in plan.reads if read.clamped)
        self._extractor = Extractor(self.schema, paths, self._naive_zone, self._lazy)
        compiled = compile_rules(self.rules, self._extractor)
        self._compiled: tuple[Program, ...] = tuple(compiled)
        self._reference_programs: tuple[Program, ...] = tuple(ReferenceProgram(r) for r in self.rules)
        self._programs = self._compiled
        self._portfolio = Portfolio(plan)
        self._active = self._active_programs()
        self._zones: dict[str | None, dict[str, tuple[Tz, str, str | None]]] = {}
        self._results = Results([rule.name for rule in self.rules])
        self._fused = None
        if len(self.rules) <= FUSE_MAX:
            # the class's methods, bound to this rule set, are the general path the fused ones fall back to
            self._fused = Fused(compiled, self._extractor, self._zone, MethodType(RuleSet.evaluate, self),
                                MethodType(RuleSet.in_segment, self), require_instant, self._results)
            # The generated functions take the methods' place on this instance: a host calls them
            # once per user, and a wrapper call would cost a tenth of the whole evaluation.
            for name in ("evaluate", "in_segment"):
                function = getattr(self._fused, name)
                function.__doc__ = getattr(RuleSet, name).__doc__
                function.__qualname__ = f"RuleSet.{name}"
            self.evaluate = self._fused.evaluate  # type: ignore[method-assign]
            self.in_segment = self._fused.in_segment  # type: ignore[method-assign]
        self._moments: tuple[dt.datetime | None, dict[Tz, Moment]] = (None, {})
        self._checked_now: object = None  # the last `now` validated, so a batch validates it once

    def __repr__(self) -> str:
        return f"<RuleSet {len(self.rules)} rules version={self.version[:12]}>"

    def generated_source(self) -> str:
        """The Python source generated for these rules (``lapse compile --emit python``): the same
        rules give the same source, byte for byte."""
        from .codegen import python_source

        return python_source(self._extractor, self._compiled, self._fused)

    def preview(self) -> RuleSet:
        """A copy in which draft campaigns behave as active, to see what they would send."""
        return self._derive(tuple(_as_active(r) if r.status == "draft" else r for r in self.rules), self._programs)

    def reference(self) -> RuleSet:
        """A copy that evaluates by walking the AST instead of running generated code: slower,
        and the definition the compiled path is tested against."""
        return self._derive(self.rules, self._reference_programs)

    def _derive(self, rules: tuple[CheckedRule, ...], programs: tuple[Program, ...]) -> RuleSet:
        clone = copy.copy(self)
        clone.rules = rules
        clone._programs = programs
        clone._active = clone._active_programs()
        clone._fused = None  # the fused functions belong to the original rules and programs
        for name in ("evaluate", "in_segment"):
            clone.__dict__.pop(name, None)  # back to the general methods
        return clone

    def _active_programs(self) -> tuple[tuple[CheckedRule, Program], ...]:
        """Rules that can send (drafts and paused campaigns never yield a decision); sets
        ``_active_mask``, the same rules as a mask of the portfolio's bits."""
        self._active_mask = sum(1 << k for k, r in enumerate(self.rules) if r.status == "active")
        return tuple((r, p) for r, p in zip(self.rules, self._programs, strict=True) if r.status == "active")

    # per-user entry points -------------------------------------------------------------------

    def _read(
        self, user: Mapping[str, Any], now: dt.datetime, user_id: str | None, pairs: Iterable[tuple[CheckedRule, Program]]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The reference path's read: every attribute but the lazy ones, then the lazy ones read
        by a rule of ``pairs`` whose static answer is open."""
        values, skew = self._read_reference(user, now, user_id, self._eager)
        need = self._needed(values, pairs)
        if need:
            more, more_skew = self._read_reference(user, now, user_id, need)
            values.update(more)
            skew += more_skew
        for path in self._lazy - need:
            values[path] = None
        return values, skew

    def _needed(self, values: Any, pairs: Iterable[tuple[CheckedRule, Program]]) -> set[str]:
        need: set[str] = set()
        for rule, program in pairs:
            lazy = self._lazy_of[rule.name]
            # a static answer of true or false holds whatever the window attributes say (an unread
            # one stays None, unknown, exactly what the static test assumed)
            if lazy and not need.issuperset(lazy) and program.static(values) is None:
                need |= lazy
        return need
    def _read_reference(
        self, user: Mapping[str, Any], now: dt.datetime, user_id: str | None, paths: Collection[str]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        values = self._reader.read(user, user_id, paths)
        warnings: list[str] = []
        for path in self._clamped:
            x = values.get(path)
            if x is not None and x > now:
                values[path] = now
                warnings.append(skew_warning(path, x))
        return values, tuple(warnings)

    def _zone(self, rule: CheckedRule, user: Mapping[str, Any]) -> tuple[Tz, str, str | None]:
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

    def evaluate(
        self,
        user: Mapping[str, Any],
        now: dt.datetime,
        *,
        since: dt.datetime | None = None,
        history: Iterable[Mapping[str, Any]] = (),
        within: dt.timedelta | None = None,
    ) -> tuple[Decision, ...]:
        """At most one decision per rule: the earliest qualifying occurrence, ordered by
        ``(send_at, campaign)``. With ``within``, only the decisions with ``send_at < now +
        within``, and the search stops there. Raises :class:`UserDataError` for a malformed record."""
        # (A fused rule set answers with its generated function instead; see __init__.)
        if now is not self._checked_now:
            require_instant(now, "now")
            self._checked_now = now
        if since is not None:
            require_instant(since, "since")
        require_within(within)
        end = search_end(now, within)
        if self._programs is self._reference_programs:
            return self._evaluate_reference(user, now, since, history, end)
        user_id = user.get("user_id") if user.__class__ is dict else None
        if user_id.__class__ is not str or not user_id:
            user_id = user_id_of(user)
        values, w = self._extractor.extract(user, now, user_id)
        mask, w = self._complete(user, now, user_id, values, w, self._active_mask)
        skew = tuple(w) if w else ()
        past = parse_history(history, self._naive_zone, user_id) if history else ()
        decisions = []
        for (zone, zone_name, fallback), ks in self._candidates(user, values, mask, True, now, since, end):
            warnings = (*skew, fallback) if fallback else skew
            for k in ks:
                outcome = search(self.rules[k], self._compiled[k], values, user, user_id, zone, zone_name, now, since,
                                 past, warnings, False, end)
                if outcome.decision is not None:
                    decisions.append(outcome.decision)
        if len(decisions) > 1:
            decisions.sort(key=decision_order)
        return tuple(decisions)

    def _evaluate_reference(
        self, user: Mapping[str, Any], now: dt.datetime, since: dt.datetime | None, history: Iterable[Mapping[str, Any]],
        end: dt.datetime | None,
    ) -> tuple[Decision, ...]:
        """Rule by rule, walking the AST: the definition the generated path is tested against."""
        user_id = user_id_of(user)
        values, skew = self._read(user, now, user_id, self._active)
        past = parse_history(history, self._naive_zone, user_id) if history else ()
        decisions = []
        for rule, program in self._active:
            zone, zone_name, fallback = self._zone(rule, user)
            warnings = (*skew, fallback) if fallback else skew
            outcome = search(rule, program, values, user, user_id, zone, zone_name, now, since, past, warnings, False, end)
            if outcome.decision is not None:
                decisions.append(outcome.decision)
        if len(decisions) > 1:
            decisions.sort(key=decision_order)
        return tuple(decisions)

    def _complete(
        self, user: Mapping[str, Any], now: dt.datetime, user_id: str | None, values: list[Any], w: list[str] | None,
        mask: int,
    ) -> tuple[int, list[str] | None]:
        """The campaigns of ``mask`` that the static index leaves, after reading the lazy
        attributes some of them need (docs/semantics.md, "Which attributes are read"): one is read
        when a campaign reading it has an open static answer, as the reference path decides."""
        portfolio = self._portfolio
        mask &= portfolio.static_mask(values)
        for slot in self._extractor.lazy:
            readers = portfolio.readers.get(slot, 0) & mask
            if readers and any(self._compiled[k].static(values) is None for k in bits(readers)):
                w = self._extractor.complete(user, now, user_id, w, values, {slot})
            else:
                # unread: a campaign windowed on it has a static answer, and it cannot be True
                mask &= ~portfolio.windowed.get(slot, 0)
        return mask, w

    def _candidates(
        self, user: Mapping[str, Any], values: list[Any], mask: int, due: bool, now: dt.datetime,
        since: dt.datetime | None, end: dt.datetime | None,
    ) -> Iterator[tuple[tuple[Tz, str, str | None], list[int]]]:
        """Per zone group: the delivery zone and the campaigns of ``mask`` to decide: for an
        ``evaluate`` (``due``) at ``now`` with ``since`` and ``end``, else for ``in_segment`` at
        ``now``. Without an ``end`` every campaign whose window attribute is known is a candidate."""
        portfolio = self._portfolio
        for group in portfolio.groups:
            in_group = mask & group.mask
            if not in_group:
                continue
            zoned = self._zone(self.rules[group.first], user)
            ks = list(bits(in_group & group.plain)) if in_group & group.plain else []
            stabs = None
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
                    stabs = self._stabs(group, zoned[0], due, now, since, end)
                ks += [k for k in stabs[slot].find(x.timestamp()) if candidates >> k & 1]
            yield zoned, ks

    def _stabs(
        self, group: Group, zone: Tz, due: bool, now: dt.datetime, since: dt.datetime | None, end: dt.datetime | None,
    ) -> dict[int, Stab]:
        portfolio = self._portfolio
        if not due:
            return portfolio.stabs((group.number, zone, now), lambda: portfolio.at_instant(group, self._moment(now, zone)))

        shared: dict[tuple[Any, ...], list[Moment] | None] = {}  # campaigns of a ladder share schedules

        def occurrences(k: int) -> Iterator[Moment] | None:
            rule = self.rules[k]
            start = search_start(rule, zone, search_lower(rule, zone, now, since))
            key = (rule.schedule, rule.from_date, start)
            if key not in shared:
                shared[key] = _occurrences_before(rule, zone, start, end)
            found = shared[key]
            return None if found is None else iter(found)

        return portfolio.stabs((group.number, zone, now, end, since), lambda: portfolio.over(group, portfolio.all, occurrences))

    def _moment(self, at: dt.datetime, zone: Tz) -> Moment:
        """``at`` in ``zone``, shared by every user and rule of the instant (with its window bounds)."""
        cache = self._moments
        if cache[0] is not at:
            cache = self._moments = (at, {})  # one tuple: a thread never pairs an instant with another's moments
        moment = cache[1].get(zone)
        if moment is None:
            moment = cache[1][zone] = Moment.of(at, zone)
        return moment

    def in_segment(self, user: Mapping[str, Any], at: dt.datetime) -> Mapping[str, bool | None]:
        """Each rule's segment at instant ``at``: True, False or None (unknown), as a read-only
        mapping from campaign name (shared between calls with the same answers)."""
        if at is not self._checked_now:
            require_instant(at, "at")
            self._checked_now = at
        if user.__class__ is not dict and not isinstance(user, Mapping):
            user_id_of(user)  # raises: a record must be a mapping
        # no user_id needed: it is looked up only to name the user in an error
        if self._programs is self._reference_programs:
            values = self._read(user, at, maybe_user_id(user), zip(self.rules, self._programs, strict=True))[0]
            out: list[bool | None] = []
            for rule, program in zip(self.rules, self._programs, strict=True):
                if program.static(values) is False:  # false whatever the time: no zone or window work
                    out.append(False)
                    continue
                out.append(program.segment(values, self._moment(at, self._zone(rule, user)[0])))
            return self._results.of(tuple(out))
        values, w = self._extractor.extract(user, at, maybe_user_id(user))
        mask = self._complete(user, at, maybe_user_id(user), values, w, self._portfolio.all)[0]
        found: dict[int, bool | None] = {}
        for (zone, _, _), ks in self._candidates(user, values, mask, False, at, None, None):
            moment = self._moment(at, zone)
            for k in ks:
                answer = self._compiled[k].segment(values, moment)
                if answer is not False:
                    found[k] = answer
        return Answers(self._portfolio.names, found)

    def explain(
        self,
        user: Mapping[str, Any],
        now: dt.datetime,
        *,
        since: dt.datetime | None = None,
        history: Iterable[Mapping[str, Any]] = (),
    ) -> Explanation:
        """Per rule: each condition's value at the next occurrence and why the rule does or does not
        produce a decision. Drafts and paused campaigns are explained too."""
        require_instant(now, "now")
        if since is not None:
            require_instant(since, "since")
        user_id = user_id_of(user)
        values, skew = self._read_reference(user, now, user_id, self._eager)
        need = self._needed(values, zip(self.rules, self._reference_programs, strict=True))
        notes = list(skew)
        for path in sorted(self._lazy):
            try:
                more, more_skew = self._read_reference(user, now, user_id, (path,))
            except UserDataError as exc:
                if path in need:
                    raise
                # evaluate would not read it either: no rule reading it has an open answer
                more, more_skew = {path: None}, (f"{exc}; not needed: the other conditions decide every rule that reads it",)
            values.update(more)
            notes += more_skew
        past = parse_history(history, self._naive_zone, user_id)
        traces = []
        for rule in self.rules:
            zone, zone_name, fallback = delivery_zone(rule, user, self.default_timezone)
            if fallback and fallback not in notes:
                notes.append(fallback)
            moment = next_occurrence(rule.schedule, zone, now, rule.from_date)
            conditions = condition_traces(rule.segment, values, moment) if moment else []
            first = truth(rule.segment, values, moment) if moment else None
            preview = rule if rule.status == "active" else _as_active(rule)
            program = ReferenceProgram(preview)
            outcome = search(preview, program, values, user, user_id, zone, zone_name, now, since, past, ())
            reason = summary(outcome, first, conditions)
            if rule.status != "active":
                reason = f"status {rule.status}: never sends" + (f"; if active it would: {reason}" if reason else "")
                outcome = attrs.evolve(outcome, decision=None)
            traces.append(
                RuleTrace(rule.name, rule.status, zone_name, moment.at.astimezone(zone) if moment else None, first,
                          tuple(conditions), outcome.decision, reason)
            )
        return Explanation(user_id, now, tuple(traces), tuple(notes))


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


def _occurrences_before(rule: CheckedRule, zone: Tz, start: dt.datetime, end: dt.datetime | None) -> list[Moment] | None:
    """The rule's occurrences from ``start`` to before ``end`` (Moments: their window bounds are
    cached on them, for every campaign of the schedule), or None when there are too many to pay."""
    found: list[Moment] = []
    if end is None:
        return None
    for occ in occurrences(rule.schedule, zone, start, rule.from_date):
        if occ.at >= end:
            return found
        found.append(Moment(occ.at, occ.wall, zone))
        if len(found) > MAX_OCCURRENCES:
            return None
    return found


def _as_active(rule: CheckedRule) -> CheckedRule:
    return attrs.evolve(rule, status="active")


def _validate_zone_option(name: str | None, option: str) -> None:
    if name is not None and get_zone(name) is None:
        raise ValueError(f"{option}={name!r} is not a time zone name known to tzdata")


def _build(
    files: Sequence[n.File], texts: Sequence[str], default_timezone: str, naive_timezone: str | None
) -> RuleSet:
    _validate_zone_option(default_timezone, "default_timezone")
    _validate_zone_option(naive_timezone, "naive_timezone")
    result = check(files)
    if result.errors:
        raise LapseCheckError(result.errors)
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return RuleSet(
        result,
        default_timezone=default_timezone,
        naive_timezone=naive_timezone,
        version=digest.hexdigest(),
    )


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Large rule sets allocate millions of small objects that all stay alive; the cyclic GC would
    rescan them again and again and make compile time grow faster than the rule count. Nothing
    here creates cycles worth collecting early, so collection waits until the end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile(  # noqa: A001 - the name users expect, as in re.compile
    text: str,
    *,
    source: str = "<string>",
    default_timezone: str = "UTC",
    naive_timezone: str | None = None,
) -> RuleSet:
    """Parse and check rule text. Raises :class:`LapseSyntaxError` or :class:`LapseCheckError`."""
    with _no_gc_pauses():
        return _build([parse(text, source=source)], [text], default_timezone, naive_timezone)


def rule_files(path: str | Path) -> list[Path]:
    """A ``.lapse`` file, or every ``*.lapse`` file under a folder (recursively, sorted)."""
    root = Path(path)
    if root.is_dir():
        paths = sorted(p for p in root.rglob("*.lapse") if p.is_file())
        if not paths:
            raise LapseError(f"{path}: no .lapse files in this folder")
        return paths
    if root.is_file():
        return [root]
    raise LapseError(f"{path}: no such file or folder")


def read_sources(path: str | Path) -> list[tuple[str, str]]:
    """``(source name, text)`` for each file of :func:`rule_files`."""
    return [(str(p), read_text(p)) for p in rule_files(path)]


def read_text(path: Path) -> str:
    """A rule file's text; :class:`LapseSyntaxError` at the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + 1
        column = len(head) - (head.rfind(b"\n") + 1) + 1
        raise LapseSyntaxError(
            [Diagnostic(str(path), line, column, "error", "the file is not valid UTF-8")]
        ) from None


def load(
    path: str | Path,
    *,
    default_timezone: str = "UTC",
    naive_timezone: str | None = None,
) -> RuleSet:
    """Parse and check a ``.lapse`` file or a folder of them as one rule set."""
    sources = read_sources(path)
    with _no_gc_pauses():
        files, syntax = parse_sources(sources)
        if syntax:
            raise LapseSyntaxError(syntax)
        return _build(files, [t for _, t in sources], default_timezone, naive_timezone)


def parse_sources(sources: Sequence[tuple[str, str]]) -> tuple[list[n.File], list[Diagnostic]]:
    """Parse every ``(source, text)``; the files that parse, and the syntax errors of the rest."""
    files: list[n.File] = []
    diagnostics: list[Diagnostic] = []
    for source, text in sources:
        try:
            files.append(parse(text, source=source))
        except LapseSyntaxError as exc:
            diagnostics.extend(exc.diagnostics)
    return files, diagnostics
