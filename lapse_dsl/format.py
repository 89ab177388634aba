"""AST -> text in the one canonical layout (``lapse fmt``).

Formatting never changes meaning: the output parses to an equal AST, and formatting it again
changes nothing. Comments are kept: a comment after code stays at the end of that code's line,
a comment on its own line stays before the code that follows it. Runs of blank lines become one.
"""

from __future__ import annotations

import bisect
import itertools
import re
from decimal import Decimal

import attrs

from . import nodes as n

__all__ = ["format_condition", "format_file", "format_rule", "quote"]

INDENT = "    "


def quote(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{body}"'


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if value == 0:  # -0.0 would be written "-0", which reads back as the integer 0 and then prints "0"
        return "0"
    text = format(Decimal(repr(value)), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    # `1.0` is written `1`, but a large float is not the integer its shortest digits spell
    # (1e23 != 10**23): keep it a float so the text parses back to the same value.
    return text if "." in text or int(text) == value else text + ".0"


def _literal(lit: n.Literal) -> str:
    value = lit.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    return quote(value)


def _percent(value: float) -> str:
    return f"{_number(value)}%"


_PREC = {n.Or: 1, n.And: 2, n.Not: 3}


def format_condition(cond: n.Condition) -> str:
    if isinstance(cond, n.Or):
        return " or ".join(_wrap(op, 2) for op in cond.operands)
    if isinstance(cond, n.And):
        return " and ".join(_wrap(op, 3) for op in cond.operands)
    if isinstance(cond, n.Not):
        return "not " + _wrap(cond.operand, 3)
    if isinstance(cond, n.SegmentRef):
        return quote(cond.name.value)
    if isinstance(cond, n.Named):  # a resolved reference reads as the reference
        return quote(cond.name)
    path = str(cond.path)
    if isinstance(cond, n.Between):
        return f"{path} between {cond.low} and {cond.high}" + (" ahead" if cond.ahead else " ago" if cond.ago else "")
    if isinstance(cond, n.MoreThanAgo):
        return f"{path} more than {cond.duration} {'ahead' if cond.ahead else 'ago'}"
    if isinstance(cond, n.LessThanAgo):
        return f"{path} less than {cond.duration} {'ahead' if cond.ahead else 'ago'}"
    if isinstance(cond, (n.Before, n.After)):
        word = "before" if isinstance(cond, n.Before) else "after"
        point = cond.point
        text = _instant(point.value) if isinstance(point, n.InstantLit) else point.value.isoformat()
        return f"{path} {word} {text}"
    if isinstance(cond, n.Compare):
        return f"{path} {cond.op} {_literal(cond.value)}"
    if isinstance(cond, n.InList):
        values = ", ".join(_literal(v) for v in cond.values)
        return f"{path} {'not in' if cond.negated else 'in'} [{values}]"
    if isinstance(cond, n.IsSet):
        return f"{path} is not set" if cond.negated else f"{path} is set"
    return path  # Truthy


def _instant(value: object) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _wrap(cond: n.Condition, minimum: int) -> str:
    text = format_condition(cond)
    return f"({text})" if _PREC.get(type(cond), 4) < minimum else text


def _zone(zone: n.Zone) -> str:
    return quote(zone.name or "") if zone.kind == "named" else zone.kind


def format_schedule(s: n.Schedule) -> str:
    if isinstance(s, n.Daily):
        return f"daily {s.at} {_zone(s.zone)}"
    if isinstance(s, n.Weekly):
        return f"weekly {','.join(d.value for d in s.days)} {s.at} {_zone(s.zone)}"
    if isinstance(s, n.EveryWeeks):
        return f"every {s.interval} weeks {','.join(d.value for d in s.days)} {s.at} {_zone(s.zone)}"
    if isinstance(s, n.Monthly):
        return f"monthly {s.day} {s.at} {_zone(s.zone)}"
    if isinstance(s, n.Cron):
        return f"cron {quote(s.expression)} {_zone(s.zone)}"
    return f"once {s.date.value.isoformat()} {s.at} {_zone(s.zone)}"


def _fields(fields: tuple[n.MessageField, ...]) -> str:
    return " ".join(f"{f.name.value} {quote(f.template.value)}" for f in fields)


def format_clause(c: n.Clause) -> str:
    if isinstance(c, n.Segment):
        name = f"{quote(c.name.value)}: " if c.name is not None else ""
        return f"segment {name}{format_condition(c.condition)}"
    if isinstance(c, n.Send):
        return f"send {c.channel.value} {format_schedule(c.schedule)}"
    if isinstance(c, n.Message):
        return f"message {_fields(c.fields)}"
    if isinstance(c, n.Variant):
        send = f" send {c.send.channel.value} {format_schedule(c.send.schedule)}" if c.send is not None else ""
        message = f" message {_fields(c.fields)}" if c.fields else ""
        return f"variant {quote(c.name.value)} {_percent(c.percent)}{send}{message}"
    if isinstance(c, n.Holdout):
        return f"holdout {_percent(c.percent)}"
    if isinstance(c, n.Salt):
        return f"salt {quote(c.value.value)}"
    if isinstance(c, n.Reeligible):
        return f"reeligible after {c.after}"
    if isinstance(c, n.Cap):
        return f"cap {c.count} per {c.per}" + (f" {c.scope.value}" if c.scope else "")
    if isinstance(c, n.QuietHours):
        return f"quiet hours {c.start} to {c.end}" + (f" {c.mode.value}" if c.mode else "")
    if isinstance(c, n.From):
        return f"from {c.date.value.isoformat()}"
    if isinstance(c, n.Until):
        return f"until {c.date.value.isoformat()}"
    if isinstance(c, n.Grace):
        return f"grace {c.duration}"
    return f"status {c.value.value}"


def format_rule(rule: n.Rule) -> str:
    """A rule as text: a one-line rule on one line, a campaign as an indented block."""
    return "\n".join(line.text for line in _rule_lines(rule, None))


@attrs.frozen
class _Line:
    text: str
    start: int  # source lines this output line stands for
    end: int
    first: int | None  # source offset of the first token printed on this line (None: a token the formatter adds)
    comment_indent: str = ""  # indentation for a comment placed before this line
    opens: bool = False  # a block header: no blank line after it
    closes: bool = False  # a block's '}': no blank line before it
    inner: bool = False  # a continuation of a wrapped condition: never a blank line before it


class _Source:
    """The text a file was parsed from and where its comments are: a condition with a comment
    inside is wrapped over several lines (inside parentheses or brackets, where the language allows
    new lines), so that each comment stays on its own line or after the code it followed."""

    def __init__(self, text: str, comments: list[int]) -> None:
        self.text = text
        self.comments = comments  # ascending character offsets
        self.closed = -1  # the last closing bracket already printed

    def comment_between(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_right(self.comments, lo)
        return i < len(self.comments) and self.comments[i] < hi

    def breaks(self, cond: n.Condition, start: int | None = None) -> bool:
        """True when ``cond`` must be wrapped: a comment sits before the start of its last test (or
        list value), so more of ``cond`` follows the comment's line end. ``start`` widens ``cond``
        to the left (to its opening parenthesis)."""
        lo = cond.span.start if start is None else start
        last = cond
        while True:  # down the last operands: iterative, conditions nest up to MAX_DEPTH levels
            if isinstance(last, (n.And, n.Or)):
                last = last.operands[-1]
            elif isinstance(last, n.Not):
                last = last.operand
            elif isinstance(last, n.InList) and last.values:
                return self.comment_between(lo, last.values[-1].span.start)
            else:
                return self.comment_between(lo, last.span.start)

    def _token(self, pos: int) -> tuple[int, str]:
        """The next token at or after ``pos``, skipping spaces and comments: (offset, text)."""
        m = _GAP_TOKEN.match(self.text, pos)
        while m is not None and m.group(1) is None:
            pos = m.end()
            m = _GAP_TOKEN.match(self.text, pos)
        return (m.start(1), m.group(1)) if m is not None else (len(self.text), "")

    def closing(self, after: int, char: str) -> int | None:
        """The offset of the ``)`` or ``]`` that closes a construct ending at ``after``, when the
        source has one there; None when the formatter adds it."""
        at, token = self._token(max(after, self.closed + 1))
        if token != char:
            return None
        self.closed = at
        return at

    def opening(self, after: int, before: int) -> int | None:
        """The offset of the ``(`` that opens a construct starting at ``before``, when the source
        has one after ``after`` (past a segment name's ``:``)."""
        at, token = self._token(after)
        if token == ":":
            at, token = self._token(at + 1)
        return at if token == "(" and at < before else None

    def keyword(self, after: int, before: int, word: str) -> int:
        """The offset of the ``and``/``or`` between two operands (the second one's start if absent)."""
        pos = max(after, self.closed + 1)
        while pos < before:
            at, token = self._token(pos)
            if at >= before or not token:
                break
            if token == word:
                return at
            pos = at + len(token)
        return before


_GAP_TOKEN = re.compile(r"\s*(?:#[^\n]*|([A-Za-z_][A-Za-z0-9_]*|\S))")


@attrs.frozen
class _Piece:
    """One output line of a clause: indentation (in levels), text, first source token."""

    level: int
    text: str
    first: int | None


def _layout(cond: n.Condition, prefix: str, first: int, level: int, src: _Source, minimum: int,
            after: int) -> list[_Piece]:
    """``cond`` as lines, the first starting with ``prefix``: on one line unless a comment inside
    needs it wrapped. A wrapped ``and``/``or`` puts one operand per line inside parentheses, a
    wrapped list one value per line inside its brackets, and a condition whose own ``(`` is
    followed by a comment stays inside those parentheses.

    ``first`` is the source offset that the first line stands for (the operand's start: a comment
    after the ``or`` before it stays on the line before, with the code it followed; the opening
    parenthesis, when the source has one); ``after`` is where that ``(`` may start."""
    paren = src.opening(after, cond.span.start)
    lead = paren is not None and src.comment_between(paren, cond.span.start)
    if isinstance(cond, n.Not) and not lead:  # `not` and its operand's layout (its own parentheses, if any)
        return _layout(cond.operand, prefix + "not ", first, level, src, 3, cond.span.start + len("not"))
    if not lead and not src.breaks(cond):
        return [_Piece(level, prefix + _wrap(cond, minimum), first)]
    if isinstance(cond, n.InList) and not lead:
        lines = [_Piece(level, f"{prefix}{cond.path} {'not in' if cond.negated else 'in'} [", first)]
        for i, value in enumerate(cond.values):
            comma = "," if i < len(cond.values) - 1 else ""
            lines.append(_Piece(level + 1, _literal(value) + comma, value.span.start))
        lines.append(_Piece(level, "]", src.closing(cond.values[-1].span.end, "]")))
        return lines
    lines = [_Piece(level, prefix + "(", first if paren is None else paren)]
    inside = after if paren is None else paren + 1
    if not isinstance(cond, (n.And, n.Or)):  # kept in its parentheses for the comment after the '('
        lines += _layout(cond, "", cond.span.start, level + 1, src, 0, inside)
    else:
        word, inner = ("or", 2) if isinstance(cond, n.Or) else ("and", 3)
        end = cond.span.start
        for i, op in enumerate(cond.operands):
            start = inside if i == 0 else src.keyword(end, op.span.start, word) + len(word)
            lines += _layout(op, f"{word} " if i else "", op.span.start, level + 1, src, inner, start)
            end = op.span.end
    lines.append(_Piece(level, ")", src.closing(cond.span.end, ")")))
    return lines


def _clause_pieces(c: n.Clause, src: _Source | None) -> list[_Piece]:
    if not isinstance(c, n.Segment) or src is None:
        return [_Piece(0, format_clause(c), c.span.start)]
    head = "segment " + (f"{quote(c.name.value)}: " if c.name is not None else "")
    after = c.name.span.end if c.name is not None else c.span.start + len("segment")
    return _layout(c.condition, head, c.span.start, 0, src, 0, after)


def _definition_pieces(item: n.SegmentDef, src: _Source | None) -> list[_Piece]:
    """``segment "NAME" = CONDITION``, the condition laid out as a segment clause's."""
    head = f"segment {quote(item.name.value)} = "
    if src is None:
        return [_Piece(0, head + format_condition(item.condition), item.span.start)]
    at, token = src._token(item.name.span.end)
    after = at + 1 if token == "=" else item.name.span.end  # where the condition's own '(' may start
    return _layout(item.condition, head, item.span.start, 0, src, 0, after)


def _rule_lines(rule: n.Rule, src: _Source | None) -> list[_Line]:
    first_line, last_line = rule.span.line, rule.span.end_line
    if rule.name is None:
        pieces: list[_Piece] = []
        for c in rule.clauses:
            more = _clause_pieces(c, src)
            if pieces:  # the next clause continues the line the previous one ended on
                last = pieces.pop()
                more[0] = _Piece(last.level, f"{last.text}; {more[0].text}", last.first if last.first is not None
                                 else more[0].first)
            pieces += more
        return _lines(pieces, "", first_line, last_line)
    lines = [_Line(f"campaign {quote(rule.name.value)} {{", first_line, first_line, rule.span.start, opens=True)]
    for c in rule.clauses:
        lines += _lines(_clause_pieces(c, src), INDENT, c.span.line, c.span.end_line)
    brace = rule.span.end - 1 if rule.span.end else None
    lines.append(_Line("}", last_line, last_line, brace, INDENT, closes=True))
    return lines


def _lines(pieces: list[_Piece], indent: str, first_line: int, last_line: int) -> list[_Line]:
    out = []
    for i, piece in enumerate(pieces):
        pad = indent + INDENT * piece.level
        start = first_line if i == 0 else last_line
        out.append(_Line(pad + piece.text, start, last_line if i == len(pieces) - 1 else start, piece.first,
                         pad, inner=i > 0))
    return out


def _item_lines(item: n.Item, src: _Source | None) -> list[_Line]:
    if isinstance(item, n.Rule):
        return _rule_lines(item, src)
    if isinstance(item, n.SegmentDef):
        return _lines(_definition_pieces(item, src), "", item.span.line, item.span.end_line)
    if isinstance(item, n.DefaultTimezone):
        text = f"default timezone {quote(item.name.value)}"
    else:
        text = f"attribute {item.path}: {item.type.value}"
    return [_Line(text, item.span.line, item.span.end_line, item.span.start)]


def format_file(file: n.File) -> str:
    """The canonical text of a parsed file, comments included. A comment after code stays after
    the code it followed (the last token before it); a comment on its own line stays before the
    code that follows it. Inside a wrapped condition or list, that keeps the condition wrapped."""
    source_lines = file.text.split("\n")  # as the parser counts lines (not str.splitlines)
    line_starts = list(itertools.accumulate((len(line) + 1 for line in source_lines), initial=0))
    offsets = [line_starts[c.line - 1] + c.column - 1 for c in file.comments]
    src = _Source(file.text, offsets)
    code = [line for item in file.items for line in _item_lines(item, src)]
    blank = {i + 1 for i, text in enumerate(source_lines) if not text.strip()}

    starts = sorted((line.first, index) for index, line in enumerate(code) if line.first is not None)
    trailing: dict[int, list[str]] = {}
    standalone: list[tuple[int, n.Comment]] = []
    for comment, offset in zip(file.comments, offsets, strict=True):
        before = source_lines[comment.line - 1][: comment.column - 1] if comment.line <= len(source_lines) else ""
        # the last character of code before the comment, and the output line that prints it
        last = line_starts[comment.line - 1] + len(before.rstrip()) - 1
        found = bisect.bisect_right(starts, (last, len(code))) if before.strip() else 0
        if found:
            trailing.setdefault(starts[found - 1][1], []).append(comment.text)
        else:
            standalone.append((offset, comment))

    entries: list[_Line] = []
    pending = standalone
    for index, line in enumerate(code):
        while pending and line.first is not None and pending[0][0] < line.first:
            c = pending.pop(0)[1]
            entries.append(_Line(line.comment_indent + c.text, c.line, c.line, None, line.comment_indent,
                                 inner=line.inner))
        text = line.text
        if index in trailing:
            text += "  " + " ".join(trailing[index])
        entries.append(attrs.evolve(line, text=text))
    for _, c in pending:
        entries.append(_Line(c.text, c.line, c.line, None))

    out: list[str] = []
    for i, entry in enumerate(entries):
        if i:
            prev = entries[i - 1]
            gap = any(b in blank for b in range(prev.end + 1, entry.start))
            if gap and not prev.opens and not entry.closes and not entry.inner:
                out.append("")
        out.append(entry.text)
    return "\n".join(out) + "\n" if out else ""
