"""Checked rules -> fast evaluators: generated Python code, one function per rule set or rule.

What the reference path (:mod:`lapse_dsl.evaluate`) does by walking the AST for every user, the
compiled path does in straight-line code generated once per rule set: attribute reads and
validation are unrolled, a segment becomes early-exit statements in three-valued logic with the
static predicates first, and everything that is the same for many users is computed once and cached
(zones, occurrence tables per zone and start, window bounds per occurrence). Both paths must agree
on every case; the test suite runs the golden cases through both.

The generated source is meant to be read (``lapse compile --emit python``, :func:`python_source`):

- The same rules give the same source, byte for byte, in every process: names come from a rule's
  position in the rule set (``_seg3``, its static test ``_seg3_static``, its change function
  ``_seg3_change``), helper functions from a counter per rule and namespace (``_seg3_f0``,
  ``_seg3_f1_static``; ``_seg3_fused_f0`` in the fused functions, which are generated afresh
  each time) and constants likewise (``_seg3_K0``), so they stay unique in the namespace the
  fused functions of fuse.py share. Nothing that reaches the source iterates a set.
- Each piece is compiled under the file name ``<lapse-generated:DIGEST:PART>``, DIGEST the first
  12 hex digits of the SHA-256 of its source and PART ``extract``, ``_seg<k>`` or ``fused``, and
  its lines are registered with :mod:`linecache` as attrs does (an entry whose mtime is None,
  which ``linecache.checkcache`` keeps): tracebacks show the generated lines and
  ``inspect.getsource`` works. The entry is dropped once the functions compiled from it are gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import linecache
import threading
import weakref
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import nodes as n
from .evaluate import FLIP_MARGIN, HORIZON, Edge, Moment, flip_lengths, search_start
from .plan import CampaignPlan, depends_on_time
from .schedule import occurrences
from .sources import counted
from .tables import Table, TableCursor
from .timecalc import UTC, Tz
from .userdata import CLOCK_SKEW_ATTRIBUTES, lookup, parse_time, read_value, skew_warning
from .windows import Offset, bounds, offsets

if TYPE_CHECKING:
    from .evaluate import Program
    from .fuse import Fused

__all__ = [
    "CompiledProgram", "Emitter", "Entry", "Extractor", "compile_rules", "exec_source", "helper_names", "python_source",
]

_TABLES_MAX = 4096  # cached occurrence tables per rule; cleared wholesale when full (batches reuse a handful)
# (zone, zone name, fallback warning, occurrence table, index of the first occurrence, horizon)
Entry = tuple[Tz, str, "str | None", Table, int, dt.datetime]


class CompiledProgram:
    """One rule's generated segment code plus its cached occurrence tables. The campaign's index,
    its position in its rule set, names the generated functions and constants: ``_seg<index>...``."""

    def __init__(self, campaign: CampaignPlan, slots: Mapping[str, int]) -> None:
        self.rule = rule = campaign.rule
        index = campaign.index
        self._tables: dict[tuple[Tz, dt.datetime], Table] = {}
        self._cursors: dict[tuple[Tz, dt.datetime], tuple[Table, int]] = {}
        self.index = index
        self.name = name = f"_seg{index}"
        self.slots = slots
        self.constants = _Constants()
        names = helper_names(name)
        self.durations: list[Offset] = []  # the layout of the bounds tuple every function shares
        e = Emitter()
        _segment_source(e, name, rule.segment, slots, self.constants, self.durations, names, static=False)
        _segment_source(e, name + "_static", rule.segment, slots, self.constants, self.durations, names, static=True)
        self.flips = tuple((slots[edge.path], edge) for edge in flip_lengths(rule.segment))
        _change_source(e, name + "_change", self.flips, self.constants)
        source = e.getvalue()
        self.bounds_names = _bounds_names(name)
        if self.durations:  # complete now: the layout of this rule's bounds tuple, and its key in a moment's cache
            self.constants[self.bounds_names[1]] = self.durations
            # the key names the layout, not the rule: rules (of any rule set) sharing a moment share a layout's bounds
            self.constants[self.bounds_names[0]] = "bounds " + " ".join(
                f"{'-' if sign < 0 else '+'}{d.amount}{d.unit}" for d, sign in self.durations)
        namespace: dict[str, Any] = dict(self.constants)
        self.filename = exec_source(source, name, namespace, name)
        self.segment = namespace[name]
        self.static = namespace[name + "_static"]
        self.change = namespace[name + "_change"]
        self.leaves = n.predicates(rule.segment)
        self.split = campaign.split
        # whether the segment's truth depends on the occurrence (else the static test decides it)
        self.timed = campaign.timed
        self.source = source  # kept for debugging and tests

    def inline(self, *, static: bool, names: Iterator[str], acquire: Sequence[str] = (),
               cond: n.Condition | None = None) -> tuple[str, list[str]]:
        """The segment (or its static test) as statements for a fused function (fuse.py): they
        run inside ``while True:`` and leave the truth in ``s``, reading the values from locals
        ``x<slot>``. ``acquire`` sets ``m``, the moment, and is emitted before its first use.
        ``cond`` is a part of the segment to generate instead of the whole. ``names`` names the
        helper functions (one iterator per rule and fused namespace: :func:`helper_names`).
        Returns (helper functions' source, statements); constants go to :attr:`constants`."""
        gen = _Gen(self.slots, static, self.constants, self.durations, self.name, names, inline=True, acquire=acquire)
        known = len(self.durations)
        lines = gen.body(self.rule.segment if cond is None else cond)
        assert len(self.durations) == known  # the bounds layout and its key were complete at construction
        helpers = Emitter()
        gen.write_helpers(helpers)
        return helpers.getvalue(), lines

    def inline_windows(self, start: str, fetch: Sequence[str] | None = None) -> list[str]:
        """For a :attr:`split` segment: statements (inside ``while True:``) setting ``s`` to the
        truth of its window predicates and'ed onto ``start``, the truth of its static part.
        ``fetch`` sets ``b``, the bounds tuple, itself (default: from the moment ``m``)."""
        assert self.split is not None
        gen = _Gen(self.slots, False, self.constants, self.durations, self.name, iter(()), inline=True, fetch=fetch,
                   start=start)
        known = len(self.durations)
        lines = gen.body(n.And(self.split[0]))
        assert not gen.pending  # window predicates only: no nested junction, no helper function
        assert len(self.durations) == known  # the bounds layout and its key were complete at construction
        return lines

    def change_lines(self, after: str) -> list[str]:
        """:meth:`change` as statements for a fused function (see :func:`change_lines`)."""
        return change_lines(self.name + "_change", self.flips, self.constants, after)

    def entry(self, zone: Tz, zone_name: str, fallback: str | None, now: dt.datetime) -> Entry:
        """Where the search starts for users of ``zone`` at ``now`` without ``since``: the
        zone, its name, the fallback warning, the occurrence table, the index in it, the horizon."""
        cursor = self.moments(zone, search_start(self.rule, zone, now))
        return zone, zone_name, fallback, cursor.table, cursor.i, now + HORIZON

    def moments(self, zone: Tz, start: dt.datetime) -> TableCursor:
        found = self._cursors.get((zone, start))
        if found is not None:  # most users of a batch start at the same place
            return TableCursor(found[0], found[1])
        cursor = self._new_cursor(zone, start)
        if len(self._cursors) >= _TABLES_MAX:
            self._cursors.clear()
        self._cursors[(zone, start)] = (cursor.table, cursor.i)
        return cursor

    def _new_cursor(self, zone: Tz, start: dt.datetime) -> TableCursor:
        # Tables start at the UTC midnight before `start`, so every call within a day (a batch, or
        # a host ticking every few minutes with a new `now`) shares one table and just seeks in it.
        base = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        key = (zone, base)
        table = self._tables.get(key)
        if table is None:
            if len(self._tables) >= _TABLES_MAX:
                self._tables.clear()

            def source(at: dt.datetime) -> Iterator[Moment]:
                return (Moment(o.at, o.wall, zone) for o in occurrences(self.rule.schedule, zone, at, self.rule.from_date))

            def restart(at: dt.datetime) -> TableCursor:
                return self._new_cursor(zone, at)

            table = self._tables.setdefault(key, Table(source, base, restart))
        # within the first day the table's own run serves (its indices are the fused code's fast path)
        return TableCursor(table, table.index(start, jump=False) if start > base else 0)


# Source text and its registration ----------------------------------------------------------


class Emitter:
    """Python source written line by line, after jinja2's ``CodeGenerator``: ``writeline`` at the
    current indentation, ``indent``/``outdent`` (or ``with block(head):``) around a block,
    ``getvalue`` for the text."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._level = 0

    def writeline(self, line: str = "") -> None:
        self._lines.append("    " * self._level + line if line else "")

    def writelines(self, lines: Iterable[str]) -> None:
        """Statements generated elsewhere, indented relative to each other."""
        prefix = "    " * self._level
        self._lines.extend(prefix + line if line else "" for line in lines)

    def indent(self) -> None:
        self._level += 1

    def outdent(self, step: int = 1) -> None:
        assert self._level >= step, "outdent below column 0"
        self._level -= step

    @contextlib.contextmanager
    def block(self, head: str) -> Iterator[None]:
        """``head`` (``def ...:``, ``if ...:``, ``else:``) and what is written inside, one level deeper."""
        self.writeline(head)
        self.indent()
        yield
        self.outdent()

    def getvalue(self) -> str:
        return "".join(line + "\n" for line in self._lines)


_live: dict[str, int] = {}  # registered file name -> how many compiled pieces use it
_dead: list[str] = []  # file names of pieces collected, not yet taken off _live (see _release)
_live_lock = threading.Lock()


def exec_source(source: str, part: str, namespace: dict[str, Any], owner: str) -> str:
    """Compile and run ``source`` in ``namespace`` under a file name registered with linecache
    (see the module docstring); returns the name. The entry lives as long as the function
    ``owner`` it defines: every function of the piece holds the namespace, so it outlives none."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    # Python numbers lines at "\n" only; str.splitlines would also split at \x0c or \u2028
    lines = [line + "\n" for line in source.split("\n")]
    if lines[-1] == "\n":
        lines.pop()
    base = f"<lapse-generated:{digest}:{part}>"
    filename, count = base, 0
    with _live_lock:
        _drain()
        while True:
            entry = (len(source), None, lines, filename)
            if linecache.cache.setdefault(filename, entry) == entry:
                break
            count += 1  # a different source under this name (not ours): take the next free one
            filename = f"{base[:-1]}-{count}>"
        _live[filename] = _live.get(filename, 0) + 1
        _drain()  # pieces collected meanwhile
    try:
        exec(compile(source, filename, "exec"), namespace)
    except BaseException:
        _release(filename)
        raise
    weakref.finalize(namespace[owner], _release, filename).atexit = False
    return filename


def _release(filename: str) -> None:
    # The garbage collector runs this at any allocation, in this thread even while it holds the
    # lock (in exec_source): then the name waits in _dead for whoever takes the lock next.
    _dead.append(filename)
    if _live_lock.acquire(blocking=False):
        try:
            _drain()
        finally:
            _live_lock.release()


def _drain() -> None:
    """Take the collected pieces off :data:`_live` (with the lock held); a file name no piece
    uses any more leaves linecache."""
    while _dead:
        filename = _dead.pop()
        left = _live.get(filename, 0) - 1
        if left > 0:
            _live[filename] = left
        else:
            _live.pop(filename, None)
            linecache.cache.pop(filename, None)


# Segment code generation -------------------------------------------------------------------


def _segment_source(e: Emitter, name: str, cond: n.Condition, slots: Mapping[str, int], constants: _Constants,
                    durations: list[Offset], names: Iterator[str], *, static: bool) -> None:
    """A function ``name(v, m)`` (``name(v)`` when static) returning the three-valued truth,
    after the helper functions it calls."""
    gen = _Gen(slots, static, constants, durations, name.removesuffix("_static"), names)
    body = gen.body(cond)
    gen.write_helpers(e)
    _function(e, f"def {name}({gen.args}):", gen.prelude + body)


def helper_names(prefix: str) -> Iterator[str]:
    """Names for a rule's helper functions in one namespace: ``<prefix>_f0``, ``<prefix>_f1``..."""
    return (f"{prefix}_f{i}" for i in itertools.count())


def _function(e: Emitter, head: str, body: Iterable[str]) -> None:
    with e.block(head):
        e.writelines(body)
    e.writeline()


class _Gen:
    """Generates one function body. Junctions are emitted inline with early returns only at the
    top level of a function; nested ones get their own function, generated later from a work list
    (:meth:`write_helpers`), so a segment nested to any depth costs no Python stack.

    Inline mode (for fused functions) emits statements instead: exits set ``s`` and break out of
    an enclosing ``while True:``, values are the caller's locals, and the moment ``m`` is set by
    the caller's ``acquire`` statements just before it is first needed, so a user whom the static
    predicates (always first) exclude costs no zone or window work."""

    def __init__(self, slots: Mapping[str, int], static: bool, constants: _Constants,
                 durations: list[Offset], key: str, names: Iterator[str], *, inline: bool = False,
                 acquire: Sequence[str] = (), fetch: Sequence[str] | None = None, start: str = "") -> None:
        self.slots = slots
        self.static = static
        self.inline = inline
        self.constants = constants  # shared by every function of the program
        self.durations = durations  # the program's window offsets, in the order of its bounds tuple
        self.key = key  # the program's name: the prefix of every name generated for it
        self.names = names  # the names of the helper functions, shared by every function of a namespace
        self.fetch = self.fetched = False
        self.moment = False  # whether a statement so far needs `m`
        self.acquire = list(acquire)
        self.custom_fetch = fetch  # inline mode: statements that set `b` themselves (no `m` needed)
        self.start = start  # inline mode: the truth an `and` starts from (what is already known)
        self.ready: set[str] = set() if inline else {"m", "v"}  # what is set before use (inline mode)
        self.prelude: list[str] = []
        self.pending: list[tuple[str, n.Condition]] = []  # helper functions named but not yet generated
        self.args = "v" if static else "v, m"

    def const(self, value: object) -> str:
        return _const(self.constants, self.key, value)

    def bound(self, offset: Offset) -> str:
        """``T(±D)`` for this occurrence, from a tuple of bounds computed once per occurrence and
        shared by every user: ``b[k]``."""
        if offset not in self.durations:
            self.durations.append(offset)
        self.fetch = True
        self.moment = self.moment or self.custom_fetch is None
        return f"b[{self.durations.index(offset)}]"

    def _fetched(self, lines: list[str]) -> list[str]:
        """Prefix ``lines`` with what they need first: ``m`` (inline mode) and ``b``."""
        out = []
        if self.moment and "m" not in self.ready:
            self.ready.add("m")
            out += self.acquire
        if self.fetch and not self.fetched:
            self.fetched = True
            if self.custom_fetch is not None:
                out += self.custom_fetch
            else:
                key, durations = self.bounds_names()
                out += [f"b = m.cache.get({key})", "if b is None:", f"    b = m.fill({key}, {durations})"]
        return out + lines

    def bounds_names(self) -> tuple[str, str]:
        return _bounds_names(self.key)

    def _call(self, cond: n.Condition, out: str) -> list[str]:
        """``out = helper(v[, m])`` for a nested junction, with ``v`` and ``m`` set first inline."""
        lines = []
        if "v" not in self.ready:
            self.ready.add("v")
            values = ", ".join(f"x{i}" for i in self.slots.values())
            lines.append(f"v = ({values}{',' if len(self.slots) == 1 else ''})")
        self.moment = self.moment or not self.static
        return self._fetched([*lines, f"{out} = {self.function(cond)}({self.args})"])

    def _exit(self, value: str) -> list[str]:
        return [f"s = {value}", "break"] if self.inline else [f"return {value}"]

    def _indent(self, lines: list[str]) -> list[str]:
        return ["    " + line for line in lines]

    def _var(self, path: n.Path) -> str:
        index = self.slots[str(path)]
        line = f"x{index} = v[{index}]"
        if line not in self.prelude:
            self.prelude.append(line)
        return f"x{index}"

    def body(self, cond: n.Condition) -> list[str]:
        """Statements ending in ``return`` of the truth of ``cond``."""
        if isinstance(cond, (n.And, n.Or)):
            return self._junction(cond)
        return [*self._value(cond, "r"), *self._exit("r")]

    def _value(self, cond: n.Condition, out: str) -> list[str]:
        """Statements that set ``out`` (no early return)."""
        if isinstance(cond, (n.And, n.Or)):
            return self._call(cond, out)
        if isinstance(cond, n.Not):
            negations = 0
            while isinstance(cond, n.Not):  # a chain of nots, peeled without recursion
                cond, negations = cond.operand, negations + 1
            inner = out + "n"
            # not not x is x, unknown included
            last = f"{out} = None if {inner} is None else not {inner}" if negations % 2 else f"{out} = {inner}"
            return [*self._value(cond, inner), last]
        cond = n.leaf(cond)
        test, nullable = self.predicate(cond)
        if test is None:
            return [f"{out} = None"]
        if not nullable:
            return self._fetched([f"{out} = {test}"])
        return self._fetched([f"{out} = None if {self._var(cond.path)} is None else ({test})"])

    def _junction(self, cond: n.And | n.Or) -> list[str]:
        is_and = isinstance(cond, n.And)
        stop = "False" if is_and else "True"
        negate = "not " if is_and else ""
        lines = [f"r = {self.start or ('True' if is_and else 'False')}"]
        # static predicates first: a user they exclude costs no window arithmetic
        for i, op in enumerate(sorted(cond.operands, key=depends_on_time)):
            if isinstance(op, (n.And, n.Or, n.Not)):
                t = f"t{i}"
                lines += self._value(op, t)
                lines += [f"if {t} is {stop}:", *self._indent(self._exit(stop)), f"if {t} is None:", "    r = None"]
                continue
            op = n.leaf(op)
            test, nullable = self.predicate(op)
            if test is None:
                lines.append("r = None")
            elif not nullable:
                lines += self._fetched([f"if {negate}({test}):", *self._indent(self._exit(stop))])
            else:
                lines += self._fetched([
                    f"if {self._var(op.path)} is None:", "    r = None",
                    f"elif {negate}({test}):", *self._indent(self._exit(stop)),
                ])
        return [*lines, *self._exit("r")]


    def function(self, cond: n.Condition) -> str:
        """The name of a helper function returning the truth of ``cond`` (see :meth:`write_helpers`)."""
        name = next(self.names) + ("_static" if self.static else "")
        self.pending.append((name, cond))
        return name

    def write_helpers(self, e: Emitter) -> None:
        """Every helper function the statements generated so far call, and the helpers those
        call, in turn."""
        while self.pending:
            name, cond = self.pending.pop()
            sub = _Gen(self.slots, self.static, self.constants, self.durations, self.key, self.names)
            sub.pending = self.pending  # its own nested junctions join the work list
            body = sub.body(cond)
            _function(e, f"def {name}({self.args}):", sub.prelude + body)

    def predicate(self, p: n.Predicate) -> tuple[str | None, bool]:
        """(Python test assuming the attribute is set, whether a null makes it unknown); a test of
        None means "unknown" (an occurrence-dependent predicate in the static function)."""
        if isinstance(p, n.IsSet):
            var = self._var(p.path)
            return (f"{var} is None" if p.negated else f"{var} is not None"), False
        if isinstance(p, n.WINDOWS) and self.static:
            return None, True
        if isinstance(p, (n.Before, n.After)) and isinstance(p.point, n.DateLit) and self.static:
            return None, True  # a date is local midnight in the delivery zone
        var = self._var(p.path)
        if isinstance(p, n.WINDOWS):  # lapse_dsl.windows: which instants, and whether each edge is inside
            for offset in offsets(p):  # the bounds tuple's layout: in the order written
                self.bound(offset)
            low, high = bounds(p)
            if low is not None and high is not None:
                return (f"{self.bound(low.offset)} {'<=' if low.inclusive else '<'} {var} "
                        f"{'<=' if high.inclusive else '<'} {self.bound(high.offset)}"), True
            if low is not None:
                return f"{var} {'>=' if low.inclusive else '>'} {self.bound(low.offset)}", True
            assert high is not None
            return f"{var} {'<=' if high.inclusive else '<'} {self.bound(high.offset)}", True
        if isinstance(p, (n.Before, n.After)):
            op = "<" if isinstance(p, n.Before) else ">"
            if isinstance(p.point, n.InstantLit):
                return f"{var} {op} {self.const(p.point.value.astimezone(UTC))}", True
            self.moment = True
            return f"{var} {op} m.point({self.const(p.point)})", True
        if isinstance(p, n.Compare):
            value = p.value.value
            if isinstance(value, bool):
                return (f"{var} is {value!r}" if p.op == "=" else f"{var} is not {value!r}"), True
            op = {"=": "==", "!=": "!="}.get(p.op, p.op)
            if isinstance(value, str):
                return f"{var} {op} {self.const(value)}", True
            return f"{var} {op} {value!r}", True
        if isinstance(p, n.InList):
            values = [v.value for v in p.values]
            if any(isinstance(v, bool) for v in values):
                test = " or ".join(f"{var} is {v!r}" if isinstance(v, bool) else f"{var} == {v!r}" for v in values)
                test = f"({test})"
            else:
                test = f"{var} in {self.const(frozenset(values))}" if values else "False"
            return (f"not {test}" if p.negated else test), True
        assert isinstance(p, n.Truthy)
        return f"{var} is True", True


def _change_source(e: Emitter, name: str, flips: Sequence[tuple[int, Edge]], constants: _Constants) -> None:
    """``name(v, after)``: :func:`lapse_dsl.evaluate.next_change` unrolled over the rule's window edges."""
    slots = sorted({slot for slot, _ in flips})
    body = [*(f"x{slot} = v[{slot}]" for slot in slots), *change_lines(name, flips, constants, "after"), "return ch"]
    _function(e, f"def {name}(v, after):", body)


def change_lines(name: str, flips: Sequence[tuple[int, Edge]], constants: dict[str, object],
                 after: str) -> list[str]:
    """Statements setting ``ch`` to :func:`lapse_dsl.evaluate.next_change` of the locals
    ``x<slot>`` after the instant ``after``."""
    constants[f"{name}_M"] = FLIP_MARGIN
    lines = ["ch = None"]
    for slot in sorted({slot for slot, _ in flips}):
        lines.append(f"if x{slot} is not None:")
        for k, (edge_slot, edge) in enumerate(flips):
            if edge_slot == slot:
                constants[f"{name}_L{k}"] = edge.offset
                # the values whose flip is computable (evaluate.Edge): others lie outside every search
                bounds = [] if edge.lowest is not None or edge.highest is not None else ["True or "]
                if edge.lowest is not None:
                    constants[f"{name}_A{k}"] = edge.lowest
                    bounds.append(f"{name}_A{k} <= ")
                bounds.append(f"x{slot}")
                if edge.highest is not None:
                    constants[f"{name}_Z{k}"] = edge.highest
                    bounds.append(f" <= {name}_Z{k}")
                lines += [f"    if {''.join(bounds)}:", f"        f = x{slot} + {name}_L{k}",
                          f"        if f + {name}_M > {after} and (ch is None or f < ch):", "            ch = f"]
    if flips:
        lines += ["if ch is not None:", f"    ch -= {name}_M"]
    return lines


class _Constants(dict[str, object]):
    """The constants of a program's generated code, by name, indexed by value: a segment with
    thousands of literals must not cost a scan of them all per literal."""

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[tuple[type, object], str] = {}


def _const(constants: _Constants, prefix: str, value: object) -> str:
    """The name of a constant of the generated code holding ``value`` (added if new); values of
    different types (1, 1.0, True) are different constants."""
    key: tuple[type, object] | None = (type(value), value)
    try:
        found = constants.names.get(key)  # type: ignore[arg-type]
    except TypeError:  # unhashable (a bounds layout, a list): compared one by one, there are few
        key, found = None, next((name for name, existing in constants.items()
                                 if type(existing) is type(value) and existing == value), None)
    if found is None:
        found = f"{prefix}_K{len(constants)}"  # unique across programs: fused code shares a namespace
        constants[found] = value
        if key is not None:
            constants.names[key] = found
    return found


def _bounds_names(key: str) -> tuple[str, str]:
    """The constants of program ``key`` naming its bounds tuple in a moment's cache, and its layout
    (set once the program's code is generated: only then is the layout complete)."""
    return f"{key}_B", f"{key}_D"


# Attribute reading -------------------------------------------------------------------------


class Extractor:
    """Generated reader for the attributes a rule set uses: a list (indexed by ``slots``) of
    typed values, None for missing or null, and the clock-skew warnings.

    ``lazy`` attributes (time attributes that only window conditions read) are left None by
    ``extract``; ``complete`` reads the ones some rule still needs once the static tests ran."""

    def __init__(self, schema: Mapping[str, str], paths: Sequence[str], naive_zone: Tz | None,
                 lazy: Collection[str] = ()) -> None:
        self.slots = {p: i for i, p in enumerate(paths)}
        self.lazy = tuple(sorted(self.slots[p] for p in lazy))
        self._kinds = {i: (path, schema[path]) for path, i in self.slots.items()}
        values = ", ".join(f"x{i}" for i in self.slots.values())
        self.values = f"({values}{',' if len(self.slots) == 1 else ''})"
        self.namespace: dict[str, Any] = {
            "_fromiso": dt.datetime.fromisoformat, "_time": parse_time, "_NAIVE": naive_zone, "_UTC": UTC,
            "_read": read_value, "_skew": _skew, "_lookup": lookup,
        }
        e = Emitter()
        with e.block("def extract(user, now, uid):"):
            e.writelines(self.statements("uid"))
            e.writeline(f"return [{self.values[1:-1]}], w")
        e.writeline()
        with e.block("def complete(user, now, uid, w, v, need):"):
            for i in self.lazy:
                with e.block(f"if {i} in need:"):
                    e.writelines(self.read(i, "uid"))
                    e.writeline(f"v[{i}] = x{i}")
            e.writeline("return w")
        self.source = e.getvalue()
        namespace = dict(self.namespace)
        self.filename = exec_source(self.source, "extract", namespace, "extract")
        self.extract = namespace["extract"]
        self.complete = namespace["complete"]

    def statements(self, uid: str) -> list[str]:
        """Statements reading ``user`` into locals ``x<slot>`` (lazy ones None) and the
        clock-skew warnings into ``w``, given ``now``; ``uid`` is the expression naming the user
        in an error (evaluated only then). The fused functions of fuse.py paste them too."""
        lines = ["w = None"]
        for i in self._kinds:
            lines += [f"x{i} = None"] if i in self.lazy else self.read(i, uid)
        return lines

    def read(self, slot: int, uid: str) -> list[str]:
        """Statements reading one attribute into ``x<slot>``."""
        path, kind = self._kinds[slot]
        return _read_lines(path, slot, kind, uid)


def _read_lines(path: str, i: int, kind: str, uid: str) -> list[str]:
    var = f"x{i}"
    parts = path.split(".")
    if len(parts) == 1:
        lines = [f"{var} = user.get({path!r})"]
    else:
        lines = [f"{var} = _lookup(user, {tuple(parts)!r}, {path!r})"]
    if kind == "time":
        lines += [
            f"if {var} is not None:",
            f"    if {var}.__class__ is str:",
            "        try:",
            f"            t = _fromiso({var})",
            "        except ValueError:",
            f"            t = _time({var}, {path!r}, _NAIVE, {uid})",
            "        if t.tzinfo is not _UTC:",
            f"            t = _time({var}, {path!r}, _NAIVE, {uid})",
            f"        {var} = t",
            "    else:",
            f"        {var} = _time({var}, {path!r}, _NAIVE, {uid})",
        ]
        if path in CLOCK_SKEW_ATTRIBUTES:
            lines += [f"    if {var} > now:", f"        w = _skew(w, {path!r}, {var})", f"        {var} = now"]
        return lines
    # the plain types are tested inline; anything else is converted or rejected by read_value
    unusual = {
        "string": f"{var}.__class__ is not str",
        "boolean": f"{var}.__class__ is not bool",
        "number": f"({var}.__class__ is not int and {var}.__class__ is not float or {var} != {var})",
    }[kind]
    return [*lines, f"if {var} is not None and {unusual}:", f"    {var} = _read({kind!r}, {var}, {path!r}, {uid})"]


def _skew(warnings: list[str] | None, path: str, value: dt.datetime) -> list[str]:
    out = warnings or []
    out.append(skew_warning(path, value))
    return out


def compile_rules(campaigns: Sequence[CampaignPlan], extractor: Extractor) -> list[CompiledProgram]:
    return [CompiledProgram(campaign, extractor.slots) for campaign in campaigns]


# The listing of a rule set's code ------------------------------------------------------------


def python_source(extractor: Extractor, programs: Sequence[Program], fused: Fused | None) -> str:
    """The generated code of a rule set as one text to read (``lapse compile --emit python``): a
    header, the attribute reader, each rule's functions and constants, and the fused functions
    (``fused`` is None for a rule set too big to fuse). Each part is headed by the file name it
    was compiled under. The code reads objects its namespace is given (``_read``, ``_S``...), so
    the text is for reading, not for importing."""
    e = Emitter()
    e.writelines([
        f"# Python generated by lapse-dsl for {counted(len(programs), 'rule')} (lapse compile --emit python).",
        "# The same rules give this text byte for byte. Each part below was compiled on its own, under",
        "# the file name in its heading: line N of a traceback through it is the N-th line after the heading.",
        "#",
        "# x<slot> holds an attribute's value (None when missing or null):",
    ])
    for slot, (path, kind) in extractor._kinds.items():
        lazy = ", read only when a rule still needs it" if slot in extractor.lazy else ""
        e.writeline(f"#   x{slot}: {_printable(path)} ({kind}{lazy})")
    e.writelines([
        "# A truth is True, False or None (unknown); m is the occurrence a segment is judged at (a Moment),",
        "# b its window bounds; the constants a rule's code reads follow it.",
    ])
    if fused is None:
        e.writeline("# Too many rules to fuse: evaluate and in_segment call each rule's functions.")
    _part(e, "attribute reader", extractor.filename, extractor.source)
    for k, program in enumerate(programs):
        if not isinstance(program, CompiledProgram):
            raise TypeError(f"python_source takes compiled programs, not {type(program).__name__}")
        rule = program.rule
        _part(e, f"rule {k} {rule.name!r} ({_printable(rule.source)}:{rule.line})", program.filename, program.source)
        if program.constants:
            e.writeline()
            e.writeline(f"# {program.name}'s constants:")
            for name, value in program.constants.items():
                e.writeline(f"# {name} = {_shown(value)}")
    if fused is not None:
        _part(e, f"evaluate and in_segment of {counted(len(programs), 'rule')}, fused", fused.filename, fused.source)
    return e.getvalue()


def _part(e: Emitter, title: str, filename: str, source: str) -> None:
    e.writeline()
    e.writeline(f"# --- {title}: {filename}")
    e.writelines(source.rstrip("\n").split("\n"))


def _printable(text: str) -> str:
    """``text`` as it can stand in a comment: a new line there would end the comment."""
    return text if text.isprintable() else repr(text)[1:-1]


def _shown(value: object) -> str:
    """A constant's value for the listing, on one line, the same in every process."""
    if isinstance(value, frozenset):  # its repr's order depends on PYTHONHASHSEED
        text = "frozenset({" + ", ".join(sorted(map(repr, value))) + "})"
    else:
        text = repr(value)
    text = _printable(text)
    return text if len(text) <= 200 else text[:200] + " ..."
