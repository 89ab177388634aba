"""Named segments: ``segment "NAME" = CONDITION`` at the top level of any file of a rule set, and
the quoted name alone, in any condition, refers to it.

The checker resolves every reference here (:class:`Resolver`, called from
:func:`lapse_dsl.check.check`): names are unique per rule set; an unknown name, a cycle or a
definition that would grow too large once written out is an error; each definition's condition is
checked once, where it is written. A campaign then gets two conditions
(:class:`lapse_dsl.model.CheckedRule`): ``written``, each reference a :class:`~lapse_dsl.nodes.Named`
node (what ``explain`` shows), and ``segment``, every reference written out, an ``and`` inside an
``and`` and an ``or`` inside an ``or`` flattened (Kleene ``and``/``or`` are associative, so that
changes no answer). The back ends only ever see ``segment``.

Definitions that build on each other can grow without bound when written out (40 definitions each
using the previous one twice hold 2^40 predicates), so sizes and depths are computed per
definition, memoised, before anything is written out:

- a condition that uses named segments may hold at most :data:`MAX_PREDICATES` predicates written
  out, and the campaigns of a rule set that use named segments :data:`MAX_TOTAL` together;
- it may nest at most :data:`lapse_dsl.nodes.MAX_DEPTH` levels, counting each named segment as a
  level (as ``explain`` shows it): each ``not``, each ``and``/``or`` and each named segment is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

import attrs

from . import nodes as n
from .errors import Diagnostic, Fix
from .format import quote
from .model import CheckedRule
from .schema import suggest

__all__ = ["MAX_PREDICATES", "MAX_TOTAL", "Definition", "Resolved", "Resolver", "as_campaigns", "used_by", "uses"]

MAX_PREDICATES = 10_000  # in one condition, once its named segments are written out
MAX_TOTAL = 1_000_000  # in all the campaigns of a rule set that use named segments, written out


@attrs.frozen
class Definition:
    """A named segment that resolved: where it is defined, its condition as written, with its
    references as :class:`~lapse_dsl.nodes.Named` nodes (``written``) and written out (``segment``)."""

    name: str
    source: str
    line: int  # of the quoted name
    column: int
    condition: n.Condition
    written: n.Condition = attrs.field(eq=False, repr=False)
    segment: n.Condition = attrs.field(eq=False, repr=False)
    uses: tuple[str, ...]  # the named segments its condition refers to, each once, in source order
    file: n.File = attrs.field(eq=False, repr=False)


@attrs.frozen
class Resolved:
    """A campaign's segment with its references resolved (see :class:`Resolver`)."""

    written: n.Condition
    segment: n.Condition

    def located(self, found: Iterable[tuple[n.Span, str]]) -> Iterator[tuple[n.Span, str]]:
        """``found`` (warnings about ``segment``) with each span that lies in a definition (in
        another place, maybe another file) moved to the campaign's reference that brought it in."""
        origin: dict[int, n.Span] | None = None
        for span, message in found:
            if origin is None:
                origin = _origins(self.written) if self.written is not self.segment else {}
            yield origin.get(id(span), span), message


class Checks(Protocol):
    """What the resolver asks of the checker (:mod:`lapse_dsl.check`): report at a span of
    ``file``, and check a condition's attributes and types."""

    file: n.File
    schema: dict[str, str]
    diagnostics: list[Diagnostic]

    def error(self, span: n.Span, message: str, fix: Fix | None = None) -> None: ...

    def plain(self, span: n.Span, value: str, what: str) -> bool: ...

    def condition(self, cond: n.Condition, schema: dict[str, str]) -> None: ...


@attrs.define
class _Def:
    node: n.SegmentDef
    file: n.File
    refs: list[n.SegmentRef]
    ok: bool = True  # its condition checks, and every segment it uses resolved
    size: int = 0  # predicates, written out
    levels: int = 0  # nesting levels with each named segment a level
    written: n.Condition | None = None
    segment: n.Condition | None = None

    @property
    def name(self) -> str:
        return self.node.name.value


class Resolver:
    """The named segments of a rule set (``files``), resolved in dependency order. With a
    ``checker``, every problem is reported through it; without, the files are taken as checked
    (as ``lapse segments`` does after :func:`lapse_dsl.check.check` passed)."""

    def __init__(self, files: Sequence[n.File], checker: Checks | None = None) -> None:
        self._checker = checker
        self._defs: dict[str, _Def] = {}
        self._total = 0  # predicates written out into campaigns so far
        self._over_budget = False
        for file in files:
            for item in file.items:
                if isinstance(item, n.SegmentDef):
                    self._collect(item, file)
        for d in self._defs.values():
            self._check(d)
        for d in self._order():
            self._resolve(d)

    @property
    def definitions(self) -> tuple[Definition, ...]:
        """The definitions that resolved, in the order of the files and within each file."""
        out = []
        for d in self._defs.values():
            if d.ok and d.written is not None and d.segment is not None:
                span = d.node.name.span
                out.append(Definition(d.name, d.file.source, span.line, span.column, d.node.condition, d.written,
                                      d.segment, tuple(dict.fromkeys(r.name.value for r in d.refs)), d.file))
        return tuple(out)

    def campaign(self, file: n.File, segment: n.Segment) -> Resolved | None:
        """A campaign's segment clause (in ``file``) resolved; None when it cannot be, with an
        error reported unless the error is at a definition it uses."""
        cond = segment.condition
        refs = _references(cond)
        if not refs:
            return Resolved(cond, cond)
        if not self._known(file, refs) or not all(self._defs[r.name.value].ok for r in refs) or self._over_budget:
            return None  # (a definition it uses has an error of its own, or the budget is spent)
        size, levels = self._measure(cond)
        if not self._fits(file, segment.span, "this segment", size, levels):
            return None
        self._total += size
        if self._total > MAX_TOTAL:
            self._over_budget = True
            self._error(file, segment.span,
                        f"the campaigns of this rule set would hold more than {MAX_TOTAL:,} predicates once their "
                        f"named segments are written out ({self._total:,} up to this one); the limit keeps every "
                        "segment cheap to compile: share fewer or smaller named segments")
            return None
        return Resolved(self._named(cond), self._write_out(cond))

    # collecting and checking

    def _error(self, file: n.File, span: n.Span, message: str, fix: Fix | None = None) -> None:
        if self._checker is not None:
            self._checker.file = file
            self._checker.error(span, message, fix)

    def _collect(self, item: n.SegmentDef, file: n.File) -> None:
        name = item.name.value
        if self._checker is not None:
            self._checker.file = file
            self._checker.plain(item.name.span, name, "a segment name")
        if not name.strip():
            self._error(file, item.name.span, "a segment name cannot be empty")
        first = self._defs.get(name)
        if first is not None:
            at = first.node.name.span
            self._error(file, item.name.span, f"segment {quote(name)} is already defined at {first.file.source}:"
                        f"{at.line}:{at.column}; segment names must be unique in a rule set")
            return
        self._defs[name] = _Def(item, file, _references(item.condition))

    def _check(self, d: _Def) -> None:
        checker = self._checker
        if checker is not None:
            checker.file = d.file
            before = len(checker.diagnostics)
            checker.condition(d.node.condition, checker.schema)
            d.ok = not any(x.severity == "error" for x in checker.diagnostics[before:])
        d.ok = self._known(d.file, d.refs) and d.ok

    def _known(self, file: n.File, refs: list[n.SegmentRef]) -> bool:
        """Whether every reference names a definition; an error at each one that does not."""
        ok = True
        for ref in refs:
            name = ref.name.value
            if name in self._defs:
                continue
            ok = False
            close = suggest(name, self._defs)
            fix = None
            if close is not None:
                hint = f"; did you mean {quote(close)}?"
                fix = Fix(quote(close), ref.span.end - ref.span.start)  # (the span is the quoted name's)
            else:
                hint = f"; define it at the top level of a file with 'segment {quote(name)} = CONDITION'"
            self._error(file, ref.span, f"unknown segment {quote(name)}{hint}", fix)
        return ok

    def _order(self) -> list[_Def]:
        """The definitions, each after those it uses (a depth-first walk without recursion: a
        chain of definitions may be long). A cycle is an error at the reference that closes it,
        and every definition on it is left unresolved."""
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        order: list[_Def] = []
        for root in self._defs.values():
            if root.name in state:
                continue
            path = [root]
            state[root.name] = 1
            pending = [iter(root.refs)]
            while pending:
                ref = next(pending[-1], None)
                if ref is None:
                    pending.pop()
                    done = path.pop()
                    state[done.name] = 2
                    order.append(done)
                    continue
                target = self._defs.get(ref.name.value)
                if target is None:
                    continue  # unknown: already an error
                seen = state.get(target.name)
                if seen == 1:
                    loop = path[[p.name for p in path].index(target.name):]
                    for p in loop:
                        p.ok = False
                    names = " -> ".join(quote(p.name) for p in [path[-1], *loop])
                    self._error(path[-1].file, ref.span, f"segment {quote(path[-1].name)} refers to itself: {names}")
                elif seen is None:
                    path.append(target)
                    state[target.name] = 1
                    pending.append(iter(target.refs))
        return order

    def _resolve(self, d: _Def) -> None:
        if not d.ok or any(not self._defs[r.name.value].ok for r in d.refs):
            d.ok = False  # a definition it uses has an error of its own: one message is enough
            return
        d.size, d.levels = self._measure(d.node.condition)
        if d.refs and not self._fits(d.file, d.node.name.span, f"segment {quote(d.name)}", d.size, d.levels):
            d.ok = False
            return
        d.written, d.segment = self._named(d.node.condition), self._write_out(d.node.condition)

    def _fits(self, file: n.File, span: n.Span, what: str, size: int, levels: int) -> bool:
        if levels > n.MAX_DEPTH:
            self._error(file, span, f"{what} nests {levels} levels deep once its named segments are written out "
                        f"(each 'not', each 'and'/'or' and each named segment is a level; the limit is "
                        f"{n.MAX_DEPTH}): build it from fewer layers of named segments")
            return False
        if size > MAX_PREDICATES:
            self._error(file, span, f"{what} would hold {_count(size)} predicates once its named segments are "
                        f"written out (the limit is {MAX_PREDICATES:,}): use each named segment fewer times")
            return False
        return True

    # the three forms of a condition whose references all resolved

    def _measure(self, cond: n.Condition) -> tuple[int, int]:
        """Predicates written out, and nesting levels (a named segment is one), from the
        definitions' own measures: no definition is walked twice. Recursive over one condition
        as written, which the parser keeps within ``MAX_DEPTH`` levels."""
        if isinstance(cond, n.SegmentRef):
            d = self._defs[cond.name.value]
            return d.size, d.levels + 1
        if isinstance(cond, (n.And, n.Or)):
            measures = [self._measure(op) for op in cond.operands]
            return sum(s for s, _ in measures), 1 + max(level for _, level in measures)
        if isinstance(cond, n.Not):
            size, levels = self._measure(cond.operand)
            return size, levels + 1
        return 1, 0

    def _named(self, cond: n.Condition) -> n.Condition:
        """``cond`` with each reference a :class:`~lapse_dsl.nodes.Named` node at the reference's span."""
        if isinstance(cond, n.SegmentRef):
            d = self._defs[cond.name.value]
            assert d.written is not None  # resolved before anything that uses it
            return n.Named(d.name, d.written, span=cond.span)
        if isinstance(cond, (n.And, n.Or)):
            operands = tuple(self._named(op) for op in cond.operands)
            changed = any(new is not op for new, op in zip(operands, cond.operands, strict=True))
            return attrs.evolve(cond, operands=operands) if changed else cond
        if isinstance(cond, n.Not):
            operand = self._named(cond.operand)
            return cond if operand is cond.operand else attrs.evolve(cond, operand=operand)
        return cond

    def _write_out(self, cond: n.Condition) -> n.Condition:
        """``cond`` with each reference replaced by its definition written out (shared, not
        copied), an ``and`` in an ``and`` and an ``or`` in an ``or`` flattened."""
        if isinstance(cond, n.SegmentRef):
            d = self._defs[cond.name.value]
            assert d.segment is not None  # resolved before anything that uses it
            return d.segment
        if isinstance(cond, (n.And, n.Or)):
            operands: list[n.Condition] = []
            changed = False
            for op in cond.operands:
                new = self._write_out(op)
                changed = changed or new is not op
                if type(new) is type(cond):
                    assert isinstance(new, (n.And, n.Or))
                    operands.extend(new.operands)
                else:
                    operands.append(new)
            return attrs.evolve(cond, operands=tuple(operands)) if changed else cond
        if isinstance(cond, n.Not):
            operand = self._write_out(cond.operand)
            return cond if operand is cond.operand else attrs.evolve(cond, operand=operand)
        return cond


def _references(cond: n.Condition) -> list[n.SegmentRef]:
    """The references in a condition as written, in source order (without recursion)."""
    out: list[n.SegmentRef] = []
    stack = [cond]
    while stack:
        c = stack.pop()
        if isinstance(c, n.SegmentRef):
            out.append(c)
        elif isinstance(c, (n.And, n.Or)):
            stack.extend(reversed(c.operands))
        elif isinstance(c, n.Not):
            stack.append(c.operand)
    return out


def _origins(written: n.Condition) -> dict[int, n.Span]:
    """For each predicate a definition brought into ``written`` (by the identity of its span), the
    span of the campaign's reference that brought it in (the outermost one)."""
    out: dict[int, n.Span] = {}
    stack: list[tuple[n.Condition, n.Span | None]] = [(written, None)]
    while stack:
        c, ref = stack.pop()
        if isinstance(c, n.Named):
            stack.append((c.condition, ref or c.span))
        elif isinstance(c, (n.And, n.Or)):
            stack.extend((op, ref) for op in c.operands)
        elif isinstance(c, n.Not):
            stack.append((c.operand, ref))
        elif ref is not None and not isinstance(c, n.SegmentRef):
            out.setdefault(id(c.span), ref)
    return out


def _count(size: int) -> str:
    return f"{size:,}" if size < 10**12 else f"about 10^{len(str(size)) - 1}"


def uses(written: n.Condition) -> list[str]:
    """The named segments a resolved condition refers to directly (not through another one), each
    once, in order."""
    out: dict[str, None] = {}
    stack = [written]
    while stack:
        c = stack.pop()
        if isinstance(c, n.Named):
            out.setdefault(c.name)
        elif isinstance(c, (n.And, n.Or)):
            stack.extend(reversed(c.operands))
        elif isinstance(c, n.Not):
            stack.append(c.operand)
    return list(out)


def used_by(definitions: Sequence[Definition], rules: Sequence[CheckedRule]) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """For each named segment, the campaigns that use it: ``(campaign, through)``, ``through``
    empty when the campaign names it, else the named segments it names that use it."""
    by_name = {d.name: d for d in definitions}
    reach: dict[str, frozenset[str]] = {}

    def within(name: str) -> frozenset[str]:  # the segment and every one it uses (a chain nests under MAX_DEPTH)
        if name not in reach:
            reach[name] = frozenset({name}).union(*(within(u) for u in by_name[name].uses))
        return reach[name]

    out: dict[str, list[tuple[str, tuple[str, ...]]]] = {d.name: [] for d in definitions}
    for rule in rules:
        named = uses(rule.written)
        for name in set().union(*(within(u) for u in named)):
            out[name].append((rule.name, () if name in named else tuple(u for u in named if name in within(u))))
    return out


_EVERY_DAY = n.Daily(n.Clock(0, 0), n.Zone("local"))


def as_campaigns(definitions: Sequence[Definition], default_timezones: Mapping[str, str | None]) -> tuple[CheckedRule, ...]:
    """Each named segment as a campaign named after it, whose ``in_segment`` is the segment's truth
    on each user's own wall clock (a ``local`` schedule: the ``timezone`` attribute, else the
    ``default timezone`` of the file that defines it, from ``default_timezones`` by source, else
    the rule set's). Only ``segment`` and the zone matter; the schedule and controls never run."""
    return tuple(
        CheckedRule(
            name=d.name, source=d.source, line=d.line, segment=d.segment, segment_name=d.name, channel="push",
            schedule=_EVERY_DAY, message=(), variants=(), holdout=None, salt=d.name, reeligible=None, cap=None,
            quiet=None, from_date=None, until_date=None, grace=n.Duration(1, "h"), status="active",
            default_timezone=default_timezones.get(d.source), rule=n.Rule(None, ()), written=d.written,
        )
        for d in definitions
    )
