"""Text -> AST: the Lark parser, its postlexer, the nesting-depth check and the tree -> AST
transformer. The Lark tree never leaves this module; Lark's exceptions are turned into
:class:`LapseSyntaxError`, worded in the language's own terms by :mod:`lapse_dsl.hints`."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

import lark
from lark import Token, Transformer, v_args

from . import nodes as n
from .errors import Diagnostic, Fix, LapseSyntaxError
from .hints import MAX_INT_DIGITS, describe, unit_problem

__all__ = ["expected_at", "grammar_text", "parse", "source_lines"]

BOM = "\ufeff"
MAX_DURATION_DAYS = 36_525  # 100 years: longer windows are typos and overflow date arithmetic
_MAX_NUMBER_DIGITS = 300  # attribute values: beyond a float's range


def grammar_text() -> str:
    """The grammar, from inside the installed package or, in a checkout, from ``grammar/``."""
    packaged = importlib.resources.files("lapse_dsl").joinpath("grammar/lapse.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = FsPath(__file__).resolve().parent.parent / "grammar" / "lapse.lark"
    return checkout.read_text(encoding="utf-8")


class _Postlex:
    """Newlines separate clauses, except inside ``( )`` and ``[ ]``, where a long condition or
    list may wrap."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        last = ""
        for tok in stream:
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif tok.type == "_NL" and (depth or last == "_NL"):
                continue  # a comment line between blank lines makes two newline tokens: one is enough
            last = tok.type
            yield tok


_lock = threading.Lock()


@functools.cache
def _parser() -> lark.Lark:
    return lark.Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        postlex=_Postlex(),
    )


def parse(text: str, *, source: str = "<string>") -> n.File:
    """Parse rule text into a :class:`~lapse_dsl.nodes.File`.

    Raises :class:`LapseSyntaxError` with the position of the first thing that is not in the
    language, or of every malformed literal (``2026-02-30``, ``2weeks``) in the file.
    """
    with _lock:  # building the tables once; parsing itself holds no shared state
        parser = _parser()
    text = text.removeprefix(BOM)  # editors on Windows start UTF-8 files with one; positions count after it
    comments: list[n.Comment] = []
    lines = source_lines(text)
    interactive = parser.parse_interactive(text)
    seen: list[Token] = []
    try:
        for tok in interactive.iter_parse():
            seen.append(tok)
        tree = interactive.feed_eof()  # type: ignore[no-untyped-call]
    except lark.UnexpectedInput as exc:
        try:
            accepts = set(interactive.accepts())  # type: ignore[no-untyped-call]
        except lark.LarkError:  # pragma: no cover - defensive: fall back to Lark's own list
            accepts = set()
        hint = describe(exc, accepts, seen, text, parser)
        raise LapseSyntaxError([_diagnostic(source, lines, hint.line, hint.column, hint.message, hint.fix)]) from None
    deep = _too_deep(tree)
    if deep is not None:
        message = (f"this condition nests more than {n.MAX_DEPTH} levels deep (each 'not', and each 'and'/'or' "
                   f"inside another condition, is a level; the limit is {n.MAX_DEPTH}): write it with less nesting")
        raise LapseSyntaxError([_diagnostic(source, lines, deep.meta.line, deep.meta.column, message)])
    comments = _comments(text)
    builder = _Builder(source, lines)
    items = builder.transform(tree)
    if builder.errors:
        raise LapseSyntaxError(builder.errors)
    return n.File(tuple(items), source=source, comments=tuple(comments), text=text)


def expected_at(text: str) -> tuple[frozenset[str], tuple[tuple[str, str], ...]] | None:
    """For an editor's completion: what the grammar accepts after ``text`` (a prefix of a file that
    ends between tokens), each keyword or punctuation as written (``between``, ``;``) and each other
    kind of token by its terminal name (``NAME``, ``STRING``, ``DURATION``); and the tokens read,
    as ``(terminal, text)``. None when ``text`` is not the start of any file."""
    with _lock:
        parser = _parser()
    interactive = parser.parse_interactive(text.removeprefix(BOM))
    seen: list[tuple[str, str]] = []
    try:
        for tok in interactive.iter_parse():
            seen.append((tok.type, str(tok)))
        accepts = interactive.accepts()  # type: ignore[no-untyped-call]
    except lark.LarkError:
        return None
    words = set()
    for name in accepts:
        if name == "$END":
            continue
        pattern = parser.get_terminal(name).pattern
        words.add(pattern.value if isinstance(pattern, lark.lexer.PatternStr) else name)
    return frozenset(words), tuple(seen)


_NESTING = ("or_", "and_", "not_")


def _too_deep(tree: lark.Tree[Token]) -> lark.Tree[Token] | None:
    """The first condition node (in source order) nested deeper than ``MAX_DEPTH`` as written,
    found without recursion, so that a pathological file fails here and not with a RecursionError
    in the tree walk that follows. (``(a or b) or c`` is written two levels deep, though the AST
    flattens it; ``((a))`` is no level at all.)"""
    stack: list[tuple[lark.Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, level = stack.pop()
        if node.data in _NESTING:
            level += 1
            if level > n.MAX_DEPTH:
                return node
        stack.extend((c, level) for c in reversed(node.children) if isinstance(c, lark.Tree))
    return None


def source_lines(text: str) -> list[str]:
    """The text's lines as the parser numbers them: split at ``\\n`` only (``str.splitlines``
    also splits at form feeds, ``\\x85`` and ``\\u2028``, which would shift every line after)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|#(?:[^\r\n]|\r(?!\n))*')


def _comments(text: str) -> list[n.Comment]:
    out = []
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    for m in _COMMENT_OR_STRING.finditer(text):
        if m.group().startswith("#"):
            line = _line_of(line_starts, m.start())
            out.append(n.Comment(m.group().rstrip(), line, m.start() - line_starts[line - 1] + 1))
    return out


def _line_of(line_starts: list[int], pos: int) -> int:
    lo, hi = 0, len(line_starts)
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if line_starts[mid] <= pos:
            lo = mid
        else:
            hi = mid
    return lo + 1


# Errors ---------------------------------------------------------------------------------------


def _diagnostic(source: str, lines: list[str], line: int, column: int, message: str,
                fix: Fix | None = None) -> Diagnostic:
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    return Diagnostic(source, line, column, "error", message, source_line, fix)


# Tree -> AST ----------------------------------------------------------------------------------


def _span_of(meta: Any) -> n.Span:
    if getattr(meta, "empty", True):
        return n.NO_SPAN
    return n.Span(meta.line, meta.column, meta.end_line, meta.end_column, meta.start_pos, meta.end_pos)


def _tok_span(tok: Token) -> n.Span:
    return n.Span(
        tok.line or 0,
        tok.column or 0,
        tok.end_line or 0,
        tok.end_column or 0,
        tok.start_pos or 0,
        tok.end_pos or 0,
    )


# (a month as the average of the Gregorian calendar's, so that 1200mo is exactly 100 years)
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 7 * 1440, "mo": 36_525 * 1440 // 1200}


def _short(text: str) -> str:
    """A literal for a message: very long ones are cut (they are only ever typos)."""
    return text if len(text) <= 24 else text[:20] + "..."


_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)


@v_args(meta=True)
class _Builder(Transformer[Token, Any]):
    """Builds AST nodes; malformed literals are collected in ``errors`` instead of stopping."""

    def __init__(self, source: str, lines: list[str]) -> None:
        super().__init__()
        self.source = source
        self.lines = lines
        self.errors: list[Diagnostic] = []

    def _error(self, tok: Token, message: str, fix: Fix | None = None) -> None:
        self.errors.append(_diagnostic(self.source, self.lines, tok.line or 1, tok.column or 1, message, fix))

    # literals
    def _string(self, tok: Token) -> n.StringLit:
        body = tok.value[1:-1]

        def unescape(m: re.Match[str]) -> str:
            if m.group(1) not in _ESCAPES:
                self._error(tok, f"unknown escape '\\{m.group(1)}' in string; use \\\" or \\\\")
            return _ESCAPES.get(m.group(1), m.group(1))

        return n.StringLit(_ESCAPE.sub(unescape, body), span=_tok_span(tok))

    def _duration(self, tok: Token) -> n.Duration:
        m = re.fullmatch(r"([0-9]+)([a-zA-Z]*)", tok.value)
        assert m is not None  # the terminal's own pattern
        digits, unit = m.group(1).lstrip("0") or "0", m.group(2)
        if len(digits) > MAX_INT_DIGITS:  # int() of thousands of digits raises
            self._error(tok, f"duration {_short(tok.value)} is longer than 100 years")
            return n.Duration(0, "d", span=_tok_span(tok))
        amount = int(digits)
        if unit not in _UNIT_MINUTES:
            message, written = unit_problem(tok.value, amount, unit)
            self._error(tok, message, Fix(written, len(tok.value)) if written is not None else None)
            unit = "d"
        # compared in minutes, not as a timedelta, which overflows long before 9 digits of weeks
        if amount * _UNIT_MINUTES[unit] > MAX_DURATION_DAYS * 1440:
            self._error(tok, f"duration {tok.value} is longer than 100 years")
            return n.Duration(0, "d", span=_tok_span(tok))
        return n.Duration(amount, unit, span=_tok_span(tok))  # type: ignore[arg-type]

    def _date(self, tok: Token) -> n.DateLit:
        try:
            return n.DateLit(dt.date.fromisoformat(tok.value), span=_tok_span(tok))
        except ValueError:
            self._error(tok, f"'{tok.value}' is not a calendar date (YYYY-MM-DD)")
            return n.DateLit(dt.date(1970, 1, 1), span=_tok_span(tok))

    def _instant(self, tok: Token) -> n.InstantLit:
        m = _DATETIME.match(tok.value)
        value = None
        if m is not None and m.group(8) is not None:
            try:
                value = dt.datetime.fromisoformat(tok.value.upper().replace("Z", "+00:00"))
            except ValueError:
                value = None
        if value is None:
            if m is not None and m.group(8) is None:
                self._error(tok, f"date-time '{tok.value}' needs an offset or Z, as in {tok.value}Z")
            else:
                self._error(tok, f"'{tok.value}' is not an ISO-8601 date-time such as 2026-12-03T17:45:00Z")
            value = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return n.InstantLit(value, tok.value, span=_tok_span(tok))

    def _clock(self, tok: Token) -> n.Clock:
        hour, minute = tok.value.split(":")
        return n.Clock(int(hour), int(minute), span=_tok_span(tok))

    def _percent(self, tok: Token) -> float:
        value = float(tok.value[:-1])
        if not math.isfinite(value):  # a number too long for a float would format as 'Infinity%'
            self._error(tok, f"percentage {_short(tok.value)} is too large")
            return 0.0
        return value

    def _int(self, tok: Token) -> int:
        digits = tok.value.lstrip("0") or "0"
        if len(digits) > MAX_INT_DIGITS:
            self._error(tok, f"{_short(tok.value)} is too large")
            return 0
        return int(digits)

    def _name(self, tok: Token) -> n.Name:
        return n.Name(tok.value, span=_tok_span(tok))

    def _fields(self, fields: list[Any]) -> tuple[n.MessageField, ...]:
        return tuple(fields)

    # top level
    def start(self, meta: Any, children: list[Any]) -> list[n.Item]:
        return [c for c in children if c is not None]

    def default_timezone(self, meta: Any, c: list[Token]) -> n.DefaultTimezone:
        return n.DefaultTimezone(self._string(c[0]), span=_span_of(meta))

    def attribute_decl(self, meta: Any, c: list[Any]) -> n.AttributeDecl:
        return n.AttributeDecl(c[0], self._name(c[1]), span=_span_of(meta))

    def segment_def(self, meta: Any, c: list[Any]) -> n.SegmentDef:
        return n.SegmentDef(self._string(c[0]), c[1], span=_span_of(meta))

    def rule(self, meta: Any, c: list[Any]) -> n.Rule:
        return n.Rule(None, tuple(c), span=_span_of(meta))

    def campaign(self, meta: Any, c: list[Any]) -> n.Rule:
        return n.Rule(self._string(c[0]), tuple(c[1:]), span=_span_of(meta))

    # clauses
    def segment(self, meta: Any, c: list[Any]) -> n.Segment:
        name = self._string(c[0]) if c[0] is not None else None
        return n.Segment(name, c[1], span=_span_of(meta))

    def send(self, meta: Any, c: list[Any]) -> n.Send:
        return n.Send(self._name(c[0]), c[1], span=_span_of(meta))

    def message_field(self, meta: Any, c: list[Token]) -> n.MessageField:
        return n.MessageField(self._name(c[0]), self._string(c[1]), span=_span_of(meta))

    def message(self, meta: Any, c: list[Any]) -> n.Message:
        return n.Message(self._fields(c), span=_span_of(meta))

    def variant(self, meta: Any, c: list[Any]) -> n.Variant:
        send = c[2] if len(c) > 2 and isinstance(c[2], n.Send) else None
        fields = [f for f in c[2:] if isinstance(f, n.MessageField)]
        return n.Variant(self._string(c[0]), self._percent(c[1]), self._fields(fields), send, span=_span_of(meta))

    def variant_send(self, meta: Any, c: list[Any]) -> n.Send:
        return self.send(meta, c)

    def holdout(self, meta: Any, c: list[Token]) -> n.Holdout:
        return n.Holdout(self._percent(c[0]), span=_span_of(meta))

    def salt(self, meta: Any, c: list[Token]) -> n.Salt:
        return n.Salt(self._string(c[0]), span=_span_of(meta))

    def reeligible(self, meta: Any, c: list[Token]) -> n.Reeligible:
        return n.Reeligible(self._duration(c[0]), span=_span_of(meta))

    def cap(self, meta: Any, c: list[Token | None]) -> n.Cap:
        count, per, scope = c
        assert count is not None and per is not None
        return n.Cap(
            self._int(count), self._duration(per), self._name(scope) if scope else None, span=_span_of(meta)
        )

    def quiet_hours(self, meta: Any, c: list[Token | None]) -> n.QuietHours:
        start, end, mode = c
        assert start is not None and end is not None
        return n.QuietHours(
            self._clock(start), self._clock(end), self._name(mode) if mode else None, span=_span_of(meta)
        )

    def from_date(self, meta: Any, c: list[Token]) -> n.From:
        return n.From(self._date(c[0]), span=_span_of(meta))

    def until_date(self, meta: Any, c: list[Token]) -> n.Until:
        return n.Until(self._date(c[0]), span=_span_of(meta))

    def grace(self, meta: Any, c: list[Token]) -> n.Grace:
        return n.Grace(self._duration(c[0]), span=_span_of(meta))

    def status(self, meta: Any, c: list[Token]) -> n.Status:
        return n.Status(self._name(c[0]), span=_span_of(meta))

    # schedules
    def days(self, meta: Any, c: list[Token]) -> tuple[n.Name, ...]:
        return tuple(self._name(t) for t in c)

    def zone_local(self, meta: Any, c: list[Token]) -> n.Zone:
        return n.Zone("local", span=_span_of(meta))

    def zone_utc(self, meta: Any, c: list[Token]) -> n.Zone:
        return n.Zone("utc", span=_span_of(meta))

    def zone_named(self, meta: Any, c: list[Token]) -> n.Zone:
        return n.Zone("named", self._string(c[0]).value, span=_tok_span(c[0]))

    def _time_of_day(self, c: Token | n.UserClock) -> n.TimeOfDay:
        return c if isinstance(c, n.UserClock) else self._clock(c)

    def user_clock(self, meta: Any, c: list[Any]) -> n.UserClock:
        return n.UserClock(c[0], self._clock(c[1]), span=_span_of(meta))

    def daily(self, meta: Any, c: list[Any]) -> n.Daily:
        return n.Daily(self._time_of_day(c[0]), c[1], span=_span_of(meta))

    def weekly(self, meta: Any, c: list[Any]) -> n.Weekly:
        return n.Weekly(c[0], self._time_of_day(c[1]), c[2], span=_span_of(meta))

    def every_weeks(self, meta: Any, c: list[Any]) -> n.EveryWeeks:
        return n.EveryWeeks(self._int(c[0]), c[1], self._time_of_day(c[2]), c[3], span=_span_of(meta))

    def monthly(self, meta: Any, c: list[Any]) -> n.Monthly:
        return n.Monthly(self._int(c[0]), self._time_of_day(c[1]), c[2], span=_span_of(meta))

    def cron(self, meta: Any, c: list[Any]) -> n.Cron:
        return n.Cron(self._string(c[0]).value, c[1], span=_span_of(meta))

    def once(self, meta: Any, c: list[Any]) -> n.Once:
        return n.Once(self._date(c[0]), self._time_of_day(c[1]), c[2], span=_span_of(meta))

    # conditions
    def or_(self, meta: Any, c: list[Any]) -> n.Or:
        return n.Or(_flatten(n.Or, c), span=_span_of(meta))

    def and_(self, meta: Any, c: list[Any]) -> n.And:
        return n.And(_flatten(n.And, c), span=_span_of(meta))

    def not_(self, meta: Any, c: list[Any]) -> n.Not:
        return n.Not(c[0], span=_span_of(meta))

    def path(self, meta: Any, c: list[Token]) -> n.Path:
        return n.Path(tuple(t.value for t in c), span=_span_of(meta))

    def between(self, meta: Any, c: list[Any]) -> n.Between:
        word = c[3].type if c[3] is not None else None
        return n.Between(c[0], self._duration(c[1]), self._duration(c[2]), word == "AGO", word == "AHEAD",
                         span=_span_of(meta))

    def more_than_ago(self, meta: Any, c: list[Any]) -> n.MoreThanAgo:
        return n.MoreThanAgo(c[0], self._duration(c[1]), c[2].type == "AHEAD", span=_span_of(meta))

    def less_than_ago(self, meta: Any, c: list[Any]) -> n.LessThanAgo:
        return n.LessThanAgo(c[0], self._duration(c[1]), c[2].type == "AHEAD", span=_span_of(meta))

    def segment_ref(self, meta: Any, c: list[Token]) -> n.SegmentRef:
        return n.SegmentRef(self._string(c[0]), span=_tok_span(c[0]))

    def _point(self, tok: Token) -> n.TimePoint:
        return self._instant(tok) if tok.type == "DATETIME" else self._date(tok)

    def before(self, meta: Any, c: list[Any]) -> n.Before:
        return n.Before(c[0], self._point(c[1]), span=_span_of(meta))

    def after(self, meta: Any, c: list[Any]) -> n.After:
        return n.After(c[0], self._point(c[1]), span=_span_of(meta))

    def compare(self, meta: Any, c: list[Any]) -> n.Compare:
        return n.Compare(c[0], c[1].value, c[2], span=_span_of(meta))

    def value_list(self, meta: Any, c: list[Any]) -> tuple[n.Literal, ...]:
        return tuple(v for v in c if v is not None)

    def in_list(self, meta: Any, c: list[Any]) -> n.InList:
        return n.InList(c[0], c[1], False, span=_span_of(meta))

    def not_in_list(self, meta: Any, c: list[Any]) -> n.InList:
        return n.InList(c[0], c[1], True, span=_span_of(meta))

    def is_set(self, meta: Any, c: list[Any]) -> n.IsSet:
        return n.IsSet(c[0], False, span=_span_of(meta))

    def is_not_set(self, meta: Any, c: list[Any]) -> n.IsSet:
        return n.IsSet(c[0], True, span=_span_of(meta))

    def truthy(self, meta: Any, c: list[Any]) -> n.Truthy:
        return n.Truthy(c[0], span=_span_of(meta))

    def string(self, meta: Any, c: list[Token]) -> n.Literal:
        return n.Literal(self._string(c[0]).value, span=_tok_span(c[0]))

    def number(self, meta: Any, c: list[Token]) -> n.Literal:
        text = c[0].value
        value: int | float = float(text) if "." in text else int(text) if len(text) <= _MAX_NUMBER_DIGITS else math.inf
        if not math.isfinite(value):  # would format as 'Infinity', which is not in the language
            self._error(c[0], f"number {_short(text)} is too large")
            value = 0
        return n.Literal(value, span=_tok_span(c[0]))

    def true(self, meta: Any, c: list[Any]) -> n.Literal:
        return n.Literal(True, span=_span_of(meta))

    def false(self, meta: Any, c: list[Any]) -> n.Literal:
        return n.Literal(False, span=_span_of(meta))


def _flatten(kind: type[n.And] | type[n.Or], operands: list[Any]) -> tuple[n.Condition, ...]:
    out: list[n.Condition] = []
    for op in operands:
        if isinstance(op, kind):
            out.extend(op.operands)
        else:
            out.append(op)
    return tuple(out)
