"""One generated function per rule set for each per-user hot path: ``evaluate`` (without ``since``
or history) and ``in_segment``.

:mod:`lapse_dsl.codegen` generates code per rule. Called rule by rule, a user would still cost a
call per layer: the reader, each rule's static test, the zone lookup, a cursor, the search. Here
those pieces are pasted into one function per rule set, in three phases:

1. the attribute reads and checks (:meth:`Extractor.statements`), then every rule's static test;
2. the window-only time attributes that a rule whose static answer is still open reads
   (docs/semantics.md, "Which attributes are read");
3. per rule that is not excluded, the zone and the occurrence cursor from a cache that lives for
   one ``now`` and is keyed by the raw ``timezone`` string, and the search (or, for
   ``in_segment``, the segment) inline.

Everything else (a ``since``, a history, a record that is not a ``dict``, a rule set too big to
fuse, and every ``evaluate`` of a rule set with a campaign whose schedule depends on the user)
takes the general path; the test suite holds both to the reference evaluator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from . import nodes as n
from .codegen import CompiledProgram, Emitter, Entry, Extractor, exec_source, helper_names
from .evaluate import (
    HORIZON,
    Moment,
    controls,
    decision,
    require_within,
    search_end,
)
from .model import CheckedRule, Decision, decision_order
from .plan import needs_moment
from .timecalc import Tz
from .userdata import maybe_user_id, user_id_of

__all__ = ["FUSE_MAX", "Fused", "Results"]

FUSE_MAX = 256  # rules; beyond this the general path is used (its per-rule cost dominates anyway)
_CACHE_MAX = 100_000  # entries per rule and instant: junk timezone values must not grow it unbounded
_NO_KEY = object()  # a timezone value that is not a string (nor missing): never cached

ZoneOf = Callable[[CheckedRule, Mapping[str, Any]], tuple[Tz, str, "str | None"]]
Evaluate = Callable[..., tuple[Decision, ...]]
InSegment = Callable[..., Mapping[str, "bool | None"]]


class Results:
    """``in_segment`` answers as read-only mappings shared between calls: a host that keeps the
    answers for a million users then holds a handful of objects, not a million dicts."""

    MAX = 4096  # distinct answer combinations kept; past that each answer is a new mapping

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.cache: dict[tuple[bool | None, ...], Mapping[str, bool | None]] = {}
        self.one = {v: self.of((v,)) for v in (True, False, None)} if len(self.names) == 1 else {}

    def of(self, answers: tuple[bool | None, ...]) -> Mapping[str, bool | None]:
        found = self.cache.get(answers)
        if found is None:
            found = MappingProxyType(dict(zip(self.names, answers, strict=True)))
            if len(self.cache) < self.MAX:
                self.cache[answers] = found
        return found


class Fused:
    """The generated ``evaluate(user, now)`` and ``in_segment(user, at)`` of one rule set, with
    their per-instant caches. Thread-safe: a cache is one tuple swapped whole when the instant
    changes, and each call works with the tuple it read."""

    def __init__(
        self,
        programs: Sequence[CompiledProgram],
        extractor: Extractor,
        zone_of: ZoneOf,
        general_evaluate: Evaluate,
        general_in_segment: InSegment,
        require_aware: Callable[[object, str], None],
        results: Results,
        *,
        within_general: bool = False,
    ) -> None:
        """``within_general``: calls with ``within`` take the general path (for a catalog whose
        index beats the scan of every rule, see engine.INDEXED_FROM)."""
        # one namespace for every rule's pasted code: their names (_seg<k>...) must differ
        assert len({p.name for p in programs}) == len(programs), "programs of one rule set have distinct names"
        self._programs = programs
        self._active = [p for p in programs if p.rule.status == "active"]
        self._zone_of = zone_of
        self._require_aware = require_aware
        self.cache: tuple[object, list[dict[object, Entry]], object] = (None, [], None)
        self.segment_cache: tuple[object, list[dict[object, Any]], dict[Tz, Moment]] = (None, [], {})
        helpers = _Helpers()
        source = _evaluate_source(self._active, extractor, helpers, within_general)
        source += _in_segment_source(programs, extractor, helpers)
        self.source = "".join(helpers.sources) + source
        namespace: dict[str, Any] = dict(extractor.namespace)
        for program in programs:
            namespace.update(program.constants)  # the pasted segments' constants (unique names)
        namespace.update({
            "_S": self, "_uid": user_id_of, "_idof": maybe_user_id, "_order": decision_order, "_NO_KEY": _NO_KEY,
            "_general": general_evaluate, "_general_in": general_in_segment, "_controls": controls,
            "_decide": _decide, "_RESULTS": results, "_ONE": results.one, "_within": require_within,
            "_end": search_end, "_TICK": dt.timedelta(microseconds=1),
        })
        for k, program in enumerate(self._active):
            namespace[f"_R{k}"] = program.rule
        self.filename = exec_source(self.source, "fused", namespace, "evaluate")
        self.evaluate: Evaluate = namespace["evaluate"]
        self.in_segment: InSegment = namespace["in_segment"]

    # called by the generated code when the instant changes or a zone is new ------------------

    def renew(self, now: dt.datetime) -> tuple[object, list[dict[object, Entry]], dt.datetime]:
        self._require_aware(now, "now")
        cache = self.cache = (now, [{} for _ in self._active], now + HORIZON)  # the search's last instant
        return cache

    def renew_segment(self, at: dt.datetime) -> tuple[object, list[dict[object, Any]], dict[Tz, Moment]]:
        self._require_aware(at, "at")
        cache = self.segment_cache = (at, [{} for _ in self._programs], {})
        return cache

    def entry(self, k: int, cache: dict[object, Entry], user: Mapping[str, Any], now: dt.datetime, key: object) -> Entry:
        program = self._active[k]
        entry = program.entry(*self._zone_of(program.rule, user), now)
        _remember(cache, key, entry)
        return entry

    def moment(self, k: int, cache: dict[object, Any], shared: dict[Tz, Moment], user: Mapping[str, Any],
               at: dt.datetime, key: object) -> Moment:
        moment = self._moment(k, shared, user, at)
        _remember(cache, key, moment)
        return moment

    def bounds(self, k: int, cache: dict[object, Any], shared: dict[Tz, Moment], user: Mapping[str, Any],
               at: dt.datetime, key: object, name: str, durations: list[Any]) -> tuple[dt.datetime, ...]:
        moment = self._moment(k, shared, user, at)
        bounds = moment.cache.get(name)
        if bounds is None:
            bounds = moment.fill(name, durations)
        _remember(cache, key, bounds)
        return bounds

    def _moment(self, k: int, shared: dict[Tz, Moment], user: Mapping[str, Any], at: dt.datetime) -> Moment:
        zone = self._zone_of(self._programs[k].rule, user)[0]
        moment = shared.get(zone)  # one Moment per zone, so its window bounds serve every rule
        if moment is None:
            moment = shared[zone] = Moment.of(at, zone)
        return moment


def _remember(cache: dict[object, Any], key: object, value: object) -> None:
    if key is not _NO_KEY:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = value


class _Helpers:
    """The helper functions the pasted segments call, and each rule's names for them: fresh for
    each fused build, so the same rules give the same source however often they are fused."""

    def __init__(self) -> None:
        self.sources: list[str] = []
        self._names: dict[str, Iterator[str]] = {}

    def names(self, program: CompiledProgram) -> Iterator[str]:
        found = self._names.get(program.name)
        if found is None:
            found = self._names[program.name] = helper_names(program.name + "_fused")
        return found


def _prologue(e: Emitter, cache: str, renew: str) -> None:
    """The instant's cache ``c``, renewed when ``now`` is not the instant it holds."""
    e.writeline(f"c = _S.{cache}")
    with e.block("if c[0] is not now and c[0] != now:"):
        e.writeline(f"c = _S.{renew}(now)")


def _dict_only(e: Emitter, general: str) -> None:
    """Any record that is not a ``dict`` takes the general path."""
    with e.block("if user.__class__ is not dict:"):
        e.writeline(f"return {general}")


def _heading(program: CompiledProgram) -> str:
    return f"# rule {program.index} {program.rule.name!r}"


def _static_phase(e: Emitter, programs: Sequence[CompiledProgram], extractor: Extractor, helpers: _Helpers,
                  uid: str) -> None:
    """Every rule's static test into ``s<k>``, then the lazy attributes read by a rule whose static
    test left the answer open (in slot order, as the general path reads them). An unread one stays
    None, which is what the static test assumed: the answer is the same."""
    lazy = {i: [k for k, p in enumerate(programs) if i in _lazy_slots(p, extractor)] for i in extractor.lazy}
    lazy = {i: users for i, users in lazy.items() if users}
    flagged = sorted(i for i, users in lazy.items() if len(users) > 3)  # else test the answers directly
    for i in flagged:
        e.writeline(f"n{i} = False")
    for k, program in enumerate(programs):
        e.writeline(_heading(program))
        if program.split is None:
            _block(e, program, helpers, static=True)
            e.writeline(f"s{k} = s")
        else:  # a{k}: the static part's truth; the windows are unknown until an occurrence
            static_part = program.split[1]
            if static_part is None:
                e.writeline("s = True")
            else:
                _block(e, program, helpers, static=True, cond=static_part)
            e.writeline(f"a{k} = s")
            e.writeline(f"s{k} = s if s is False else None")
        needs = [i for i in _lazy_slots(program, extractor) if i in flagged]
        if needs:  # true or false whatever the windows say: they need not be read
            with e.block(f"if s{k} is None:"):
                e.writelines(f"n{i} = True" for i in needs)
    for i, users in lazy.items():
        test = f"n{i}" if i in flagged else " or ".join(f"s{k} is None" for k in users)
        with e.block(f"if {test}:"):
            e.writelines(extractor.read(i, uid))


def _lazy_slots(program: CompiledProgram, extractor: Extractor) -> list[int]:
    return sorted({extractor.slots[str(p.path)] for p in program.leaves}.intersection(extractor.lazy))


def _key(program: CompiledProgram) -> tuple[list[str], str]:
    """Statements computing the cache key of the user's delivery zone, and the key: the raw
    ``timezone`` value for ``local`` rules, None for a fixed zone."""
    if program.rule.schedule.zone.kind != "local":
        return [], "None"
    return ["key = user.get('timezone')",
            "if key.__class__ is not str and key is not None:",
            "    key = _NO_KEY"], "key"


def _block(e: Emitter, program: CompiledProgram, helpers: _Helpers, *, static: bool, acquire: Sequence[str] = (),
           cond: n.Condition | None = None) -> None:
    """The rule's segment (or static test, or ``cond``, a part of it) as statements setting ``s``."""
    if static and cond is None and all(needs_moment(p) for p in program.leaves):
        e.writeline("s = None")  # nothing static to test
        return
    functions, lines = program.inline(static=static, names=helpers.names(program), acquire=acquire, cond=cond)
    helpers.sources.append(functions)
    with e.block("while True:"):
        e.writelines(lines)


def _segment(e: Emitter, program: CompiledProgram, helpers: _Helpers, k: int) -> None:
    """The segment at the moment ``m`` as statements setting ``s``: for a split rule only its
    windows, and'ed onto the static part's truth ``a<k>``."""
    if program.split is None:
        _block(e, program, helpers, static=False)
        return
    with e.block("while True:"):
        e.writelines(program.inline_windows(f"a{k}"))


def _evaluate_source(programs: Sequence[CompiledProgram], extractor: Extractor, helpers: _Helpers,
                     within_general: bool = False) -> str:
    """:func:`lapse_dsl.evaluate.search` without ``since`` or history, pasted once per rule: walk
    the shared occurrence table from the zone's entry, test the segment inline, and on a miss
    skip to where its truth can next change."""
    general = "_general(user, now, since=since, history=history, within=within)"
    e = Emitter()
    if any(p.rule.personal for p in programs):
        # A campaign whose schedule depends on the user (docs/semantics.md, "Send-time experiments
        # and each user's own hour") has no one occurrence table, which is what this function
        # pastes for every rule: the whole rule set takes the general path. (in_segment does not
        # depend on schedules: it stays fused.)
        with e.block("def evaluate(user, now, *, since=None, history=(), within=None):"):
            e.writeline("# a campaign's schedule depends on the user: the general path decides")
            e.writeline(f"return {general}")
        e.writeline()
        return e.getvalue()
    with e.block("def evaluate(user, now, *, since=None, history=(), within=None):"):
        with e.block("if since is not None or history" + (" or within is not None:" if within_general else ":")):
            e.writeline(f"return {general}")
        _prologue(e, "cache", "renew")
        # after `now` is checked: the last instant an occurrence may have, the horizon or before `end`
        with e.block("if within is None:"):
            e.writelines(["end = None", "last = c[2]"])
        with e.block("else:"):
            e.writelines(["_within(within)", "end = _end(now, within)", "last = c[2] if end is None else end - _TICK"])
        _dict_only(e, general)
        e.writeline("uid = user.get('user_id')")
        with e.block("if uid.__class__ is not str or not uid:"):
            e.writeline("uid = _uid(user)")
        e.writelines(extractor.statements("uid"))
        _static_phase(e, programs, extractor, helpers, "uid")
        e.writelines(["E = c[1]", "out = None"])
        local = next((p for p in programs if _key(p)[0]), None)
        if local is not None:  # one zone key for every `local` rule
            e.writelines(_key(local)[0])
        for k, program in enumerate(programs):
            _search(e, program, helpers, k)
        with e.block("if out is None:"):
            e.writeline("return ()")
        with e.block("if len(out) > 1:"):
            e.writeline("out.sort(key=_order)")
        e.writeline("return tuple(out)")
    e.writeline()
    return e.getvalue()


def _search(e: Emitter, program: CompiledProgram, helpers: _Helpers, k: int) -> None:
    """One rule's part of ``evaluate``: its decision, if any, appended to ``out``."""
    rule = program.rule
    key = _key(program)[1]  # (set once before the rules)
    e.writeline(_heading(program))
    with e.block(f"if s{k} is not False:"):
        e.writelines([
            f"e = E[{k}].get({key})",
            "if e is None:",
            f"    e = _S.entry({k}, E[{k}], user, now, {key})",
            "table = e[3]",
            "moments = table.moments",
            "i = e[4]",
        ])
        with e.block("while True:"):
            e.writelines([
                "m = moments[i] if i < len(moments) else table.get(i)",
                "if m is None or m.at > last:",
                "    break",
                "i += 1",
            ])
            if rule.until_date is not None:
                with e.block(f"if m.wall.date() > _R{k}.until_date:"):
                    e.writeline("break")
            _segment(e, program, helpers, k)
            with e.block("if s is not True:"):  # on a miss, on to where the truth can next change
                e.writelines(program.change_lines("m.at"))
                # no change before the last instant: no later occurrence qualifies either
                e.writelines(["if ch is None or ch > last:", "    break", "if ch > m.at:", "    i = table.index(ch, i)",
                              "continue"])
            if rule.controlled:
                e.writelines([
                    f"send_at, blocked, ch = _controls(_R{k}, m, [], ())",
                    "if send_at < now:",
                    "    continue",
                    "if blocked:",
                    "    if ch is not None and ch > m.at:",
                    "        i = table.index(ch, i)",
                    "    continue",
                    "if end is not None and send_at >= end:",  # deferred past the end
                    "    break",
                ])
            else:
                e.writeline("send_at = m.at")
            e.writelines([
                f"d = _decide(_R{k}, user, uid, e, m, send_at, now, w)",
                "if out is None:",
                "    out = [d]",
                "else:",
                "    out.append(d)",
                "break",
            ])


def _decide(rule: CheckedRule, user: Mapping[str, Any], uid: str, entry: Entry, moment: Moment,
            send_at: dt.datetime, now: dt.datetime, skew: list[str] | None) -> Decision:
    zone, zone_name, fallback = entry[0], entry[1], entry[2]
    warnings = tuple(skew) if skew else ()
    if fallback:
        warnings = (*warnings, fallback)
    return decision(rule, user, uid, zone, zone_name, moment, send_at, now, warnings)


def _in_segment_source(programs: Sequence[CompiledProgram], extractor: Extractor, helpers: _Helpers) -> str:
    e = Emitter()
    with e.block("def in_segment(user, at):"):
        e.writeline("now = at")  # clock skew is judged against `at`
        _prologue(e, "segment_cache", "renew_segment")
        _dict_only(e, "_general_in(user, at)")
        # in_segment does not need the user_id: it is looked up only to name the user in an error
        e.writelines(extractor.statements("_idof(user)"))
        _static_phase(e, programs, extractor, helpers, "_idof(user)")
        e.writeline("M = c[1]")
        for k, program in enumerate(programs):
            if not program.timed:
                continue  # the static test is the whole answer: no zone, no window
            key_lines, key = _key(program)
            e.writeline(_heading(program))
            with e.block(f"if s{k} is not False:"):
                if program.split is not None:  # only the windows, from the bounds cached per zone key
                    bkey, durations = program.bounds_names
                    fetch = [*key_lines, f"b = M[{k}].get({key})", "if b is None:",
                             f"    b = _S.bounds({k}, M[{k}], c[2], user, now, {key}, {bkey}, {durations})"]
                    with e.block("while True:"):
                        e.writelines(program.inline_windows(f"a{k}", fetch))
                else:  # the whole segment; the moment is looked up just before it is first needed
                    acquire = [*key_lines, f"m = M[{k}].get({key})", "if m is None:",
                               f"    m = _S.moment({k}, M[{k}], c[2], user, now, {key})"]
                    _block(e, program, helpers, static=False, acquire=acquire)
                e.writeline(f"s{k} = s")
        if not programs:  # a file with no rules: a valid, empty rule set
            e.writeline("return _RESULTS.of(())")
        elif len(programs) == 1:
            e.writeline("return _ONE[s0]")
        else:
            answers = ", ".join(f"s{k}" for k in range(len(programs)))
            e.writeline(f"r = _RESULTS.cache.get(({answers},))")
            e.writeline(f"return _RESULTS.of(({answers},)) if r is None else r")
    e.writeline()
    return e.getvalue()
