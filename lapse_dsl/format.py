"""AST -> text in the one canonical layout (``lapse fmt``).

Formatting never changes meaning: the output parses to an equal AST, and formatting it again
changes nothing. Comments are kept: a comment after code stays at the end of that code's line,
a comment on its own line stays before the code that follows it. Runs of blank lines become one.
"""

from __future__ import annotations

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
    path = str(cond.path)
    if isinstance(cond, n.Between):
        return f"{path} between {cond.low} and {cond.high}" + (" ago" if cond.ago else "")
    if isinstance(cond, n.MoreThanAgo):
        return f"{path} more than {cond.duration} ago"
    if isinstance(cond, n.LessThanAgo):
        return f"{path} less than {cond.duration} ago"
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
        return f"variant {quote(c.name.value)} {_percent(c.percent)} message {_fields(c.fields)}"
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
    return "\n".join(line.text for line in _rule_lines(rule))


@attrs.frozen
class _Line:
    text: str
    start: int  # source lines this output line stands for
    end: int
    comment_indent: str = ""  # indentation for a comment placed before this line
    opens: bool = False  # a block header: no blank line after it
    closes: bool = False  # a block's '}': no blank line before it


def _rule_lines(rule: n.Rule) -> list[_Line]:
    if rule.name is None:
        text = "; ".join(format_clause(c) for c in rule.clauses)
        return [_Line(text, rule.span.line, rule.span.end_line)]
    lines = [_Line(f"campaign {quote(rule.name.value)} {{", rule.span.line, rule.span.line, opens=True)]
    for c in rule.clauses:
        lines.append(_Line(INDENT + format_clause(c), c.span.line, c.span.end_line, INDENT))
    lines.append(_Line("}", rule.span.end_line, rule.span.end_line, INDENT, closes=True))
    return lines


def _item_lines(item: n.Item) -> list[_Line]:
    if isinstance(item, n.Rule):
        return _rule_lines(item)
    if isinstance(item, n.DefaultTimezone):
        text = f"default timezone {quote(item.name.value)}"
    else:
        text = f"attribute {item.path}: {item.type.value}"
    return [_Line(text, item.span.line, item.span.end_line)]


def format_file(file: n.File) -> str:
    """The canonical text of a parsed file, comments included."""
    code = [line for item in file.items for line in _item_lines(item)]
    source_lines = file.text.split("\n")  # as the parser counts lines (not str.splitlines)
    blank = {i + 1 for i, text in enumerate(source_lines) if not text.strip()}

    trailing: dict[int, list[str]] = {}
    standalone: list[n.Comment] = []
    for comment in file.comments:
        before = source_lines[comment.line - 1][: comment.column - 1] if comment.line <= len(source_lines) else ""
        owner = _last_covering(code, comment.line) if before.strip() else None
        if owner is None:
            standalone.append(comment)
        else:
            trailing.setdefault(owner, []).append(comment.text)

    entries: list[_Line] = []
    pending = list(standalone)
    for index, line in enumerate(code):
        while pending and pending[0].line < line.start:
            c = pending.pop(0)
            entries.append(_Line(line.comment_indent + c.text, c.line, c.line, line.comment_indent))
        text = line.text
        if index in trailing:
            text += "  " + " ".join(trailing[index])
        entries.append(attrs.evolve(line, text=text))
    for c in pending:
        entries.append(_Line(c.text, c.line, c.line))

    out: list[str] = []
    for i, entry in enumerate(entries):
        if i:
            prev = entries[i - 1]
            gap = any(b in blank for b in range(prev.end + 1, entry.start))
            if gap and not prev.opens and not entry.closes:
                out.append("")
        out.append(entry.text)
    return "\n".join(out) + "\n" if out else ""


def _last_covering(code: list[_Line], line: int) -> int | None:
    found = None
    for index, entry in enumerate(code):
        if entry.start <= line <= entry.end:
            found = index
    return found
