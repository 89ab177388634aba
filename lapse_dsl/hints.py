"""Lark's parse errors in the language's own words: what was expected after what, and hints for the
mistakes people make most (an unquoted value, a 12-hour time, curly quotes, a month unit, ``&&``...).

:func:`describe` words an error for :mod:`lapse_dsl.parse`; :func:`unit_problem` words a bad duration
unit for its transformer; :func:`twelve_hour` is also used by the checker (``quiet hours ... to 7am``).
Where a message names the text to write, its :class:`~lapse_dsl.errors.Fix` comes with it."""

from __future__ import annotations

import re
from typing import get_args

import attrs
import lark
from lark import Token
from lark.lexer import PatternStr

from . import nodes as n
from .errors import Fix
from .format import quote
from .schema import CHANNELS, DAY_ALIASES, DAYS, MESSAGE_FIELDS, did_you_mean_word

__all__ = ["MAX_INT_DIGITS", "Hint", "describe", "twelve_hour", "unit_problem"]

MAX_INT_DIGITS = 9  # counts, days and intervals beyond this are typos (and int() of huge text raises)
_UNITS = get_args(n.Unit)  # m, h, d, w, mo

_DESCRIBE = {
    "NAME": "an attribute name",
    "STRING": 'a quoted string such as "text"',
    "DURATION": "a duration such as 2w",
    "PERCENT": "a percentage such as 10%",
    "CLOCK": "a time such as 17:45",
    "DATE": "a date such as 2026-12-03",
    "DATETIME": "a date-time such as 2026-12-03T17:45:00Z",
    "INT": "a whole number",
    "NUMBER": "a number",
    "COMPARE": "a comparison (=, !=, <, <=, >, >=)",
    "_NL": "a new line",
    "$END": "the end of the file",
    "AGO": "'ago'",
    "AHEAD": "'ahead'",
}

# What a NAME means depends on the word before it.
_NAME_AFTER = {
    "send": "a channel such as push",
    "weekly": "a day such as thu",
    "weeks": "a day such as thu",
    ",": "a day such as thu",
    "status": "a status (active, paused or draft)",
    "message": "a message field such as title",
    ":": "an attribute name or a type (string, number, boolean, time, clock)",
    "attribute": "an attribute name",
}


@attrs.frozen
class Hint:
    """A parse error in the language's words: its 1-based position, the message, and the fix
    the message names (the text from the position on that it replaces), if it names one."""

    line: int
    column: int
    message: str
    fix: Fix | None = None


def _describe_found(tok: Token | None, text: str) -> str:
    if tok is None or tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line"
    # the lexer may have taken only the start of a word (`3` of `3w` where no duration fits)
    start = tok.start_pos if tok.start_pos is not None else -1
    word = re.match(r"[A-Za-z0-9_]+", text[start:]) if start >= 0 and tok.value[-1:].isalnum() else None
    return f"'{word.group()}'" if word and word.group().startswith(tok.value) else f"'{tok.value}'"


def describe(
    exc: lark.UnexpectedInput,
    accepts: set[str],
    seen: list[Token],
    text: str,
    parser: lark.Lark,
) -> Hint:
    """The position, message and fix for a parse error. ``accepts`` is what the parser would take
    at the error (Lark's own list when empty), ``seen`` the tokens read before it."""
    if isinstance(exc, lark.UnexpectedToken):
        found: Token | None = exc.token
        expected = set(exc.expected)
        prev = seen[-2] if len(seen) >= 2 and seen[-1] is exc.token else (seen[-1] if seen else None)
        if exc.token.type == "$END":
            prev = seen[-1] if seen else None
    elif isinstance(exc, lark.UnexpectedCharacters):
        found = None
        expected = set(exc.allowed or ())
        prev = seen[-1] if seen else None
    else:  # UnexpectedEOF
        found = None
        expected = set(getattr(exc, "expected", ()) or ())
        prev = seen[-1] if seen else None

    if accepts:
        expected = accepts
    line, column = _error_position(exc, found, text)
    hint = _hint(prev, found, text, exc, expected, seen)
    if hint is not None:
        return hint

    at_end = not isinstance(exc, lark.UnexpectedCharacters) and (found is None or found.type == "$END")
    block = _open_block(seen)
    if at_end and block is not None and "RBRACE" in expected:
        message = f"the campaign block opened at line {block} is not closed: expected '}}', found the end of the file"
        return Hint(line, column, message)

    prev_word = prev.value if prev is not None and prev.type != "_NL" else None
    wanted = _expected_words(expected, prev_word, parser)
    message = f"expected {wanted}"
    if prev_word is not None:
        message += f" after '{prev_word}'"
    if isinstance(exc, lark.UnexpectedCharacters):
        rest = text[exc.pos_in_stream :]
        snippet = _VISIBLE.match(rest)  # never echo a control or an invisible character
        if snippet:
            got = f"'{snippet.group()}'"
        elif rest[:1] in ("", "\n", "\r"):
            got = "the end of the line"
        elif re.match(r"[\x00-\x1f\x7f-\x9f]", rest):
            got = f"the control character U+{ord(rest[0]):04X}"
        else:  # an unusual space or invisible character: a form feed, U+2028, a byte order mark
            got = f"the character U+{ord(rest[0]):04X}"
        message += f", found {got}"
    else:
        message += f", found {_describe_found(found, text)}"
    paren = _open_paren(seen)
    if paren is not None and "RPAR" in expected:
        message += f" (the '(' at {paren.line}:{paren.column} is not closed)"
    return Hint(line, column, message)


def _open_block(seen: list[Token]) -> int | None:
    """The line of the ``{`` of a campaign block still open at the end of ``seen``."""
    opened: int | None = None
    for tok in seen:
        if tok.type == "LBRACE":
            opened = tok.line
        elif tok.type == "RBRACE":
            opened = None
    return opened


_VISIBLE = re.compile("[^\\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]+")


def _open_paren(seen: list[Token]) -> Token | None:
    """The innermost ``(`` still open at the end of ``seen``."""
    opened: list[Token] = []
    for tok in seen:
        if tok.type == "LPAR":
            opened.append(tok)
        elif tok.type == "RPAR" and opened:
            opened.pop()
    return opened[-1] if opened else None


def _error_position(exc: lark.UnexpectedInput, found: Token | None, text: str) -> tuple[int, int]:
    if found is not None and found.type != "$END" and found.line is not None:
        return found.line, found.column or 1
    if isinstance(exc, lark.UnexpectedCharacters):
        return exc.line, exc.column
    # the end of the file: point just past the last character
    stripped = text.rstrip("\r\n")
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, column


_CLAUSES = {"SEGMENT", "SEND", "MESSAGE", "VARIANT", "HOLDOUT", "SALT", "REELIGIBLE", "CAP", "QUIET",
            "FROM", "UNTIL", "GRACE", "STATUS"}
_TESTS = {"BETWEEN", "MORE", "LESS", "BEFORE", "AFTER", "COMPARE", "IN", "IS", "NOT"}
_ITEMS = {"DEFAULT", "ATTRIBUTE", "CAMPAIGN"}


def _expected_words(expected: set[str], prev_word: str | None, parser: lark.Lark) -> str:
    words: list[str] = []
    if expected >= _CLAUSES:
        words.append("a clause (segment, send, message, variant, holdout, salt, reeligible, cap, quiet, "
                     "from, until, grace, status)")
        expected = expected - _CLAUSES - _ITEMS
    if {"LOCAL", "UTC", "STRING"} <= expected:  # the end of a schedule
        words.append('a time zone (local, utc or a quoted name such as "Europe/Paris")')
        expected = expected - {"LOCAL", "UTC", "STRING"}
    if {"BETWEEN", "COMPARE", "IS"} <= expected:
        words.append("a test such as between, more than, less than, before, after, =, in or is set")
        expected = expected - _TESTS
    for name in sorted(expected, key=_expected_order):
        if name in ("COMMENT", "__IGNORE_0"):
            continue
        if name == "NAME" and prev_word is not None and prev_word in _NAME_AFTER:
            word = _NAME_AFTER[prev_word]
        elif name == "STRING" and "NAME" in expected:  # where a condition starts
            word = 'a named segment such as "Lapsed users"'
        elif name in _DESCRIBE:
            word = _DESCRIBE[name]
        else:
            try:
                pattern = parser.get_terminal(name).pattern
            except KeyError:
                continue
            word = f"'{pattern.value}'" if isinstance(pattern, PatternStr) else name.lower()
        if word not in words:
            words.append(word)
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _expected_order(name: str) -> tuple[int, str]:
    # named terminals (a duration, a time...) read better before punctuation and keywords
    return (0 if name in _DESCRIBE and name not in ("_NL", "$END") else 1, name)


def _hint(
    prev: Token | None,
    found: Token | None,
    text: str,
    exc: lark.UnexpectedInput,
    expected: set[str],
    seen: list[Token],
) -> Hint | None:
    """Friendly messages for the mistakes people make most, in the language's own words."""
    at = _error_offset(exc, found)
    rest = text[at:] if at is not None else ""
    here = (exc.line, exc.column) if found is None or found.line is None else (found.line, found.column or 1)
    if prev is not None and prev.type == "CAMPAIGN":
        # an unquoted name: a word where the quoted string should be
        if found is not None and found.type == "NAME" and found.line:
            return Hint(found.line, found.column or 1, 'a campaign name is a quoted string: campaign "Lapsed users" { ... }')
        if isinstance(exc, lark.UnexpectedCharacters) and re.match(r"[A-Za-z_]", text[exc.pos_in_stream:]):
            return Hint(exc.line, exc.column, 'a campaign name is a quoted string: campaign "Lapsed users" { ... }')
    if prev is not None and prev.type == "DURATION" and prev.value.isdigit():
        spaced = re.match(r"([A-Za-z]+)\b", rest)  # `1 month`, `14 days`: the unit as a word apart
        written = _written_duration(prev.value, spaced.group(1)) if spaced else None
        if spaced is not None and written is not None and at is not None:
            return Hint(prev.line or 1, prev.column or 1, f"write the number and its unit together: {written}",
                        _between(prev, at + spaced.end(), written))
        return Hint(
            prev.line or 1,
            prev.column or 1,
            f"'{prev.value}' needs a unit: write {prev.value}m, {prev.value}h, "
            f"{prev.value}d, {prev.value}w or {prev.value}mo",
        )
    # (a second `=` lexes as the `=` of a named segment's definition)
    if prev is not None and prev.type == "COMPARE" and found is not None and found.type in ("COMPARE", "EQUAL"):
        return Hint(prev.line or 1, prev.column or 1, f"use '{prev.value}' alone, not '{prev.value}{found.value}'",
                    _between(prev, found.end_pos, prev.value))
    curly = _CURLY.match(rest)
    if curly:
        inner = curly.group(1)
        straight = quote(inner) if inner is not None else None  # (None: no closing quote on the line)
        shown = straight if straight is not None else '"text"'
        return Hint(*here, f"use straight quotes: write {shown}",
                    Fix(straight, curly.end()) if straight is not None else None)
    for hint in (_send_hint, _clock_hint, _time_compare_hint, _unquoted_hint, _day_hint):
        found_hint = hint(prev, text, rest, here, expected, seen)
        if found_hint is not None:
            return found_hint
    if isinstance(exc, lark.UnexpectedCharacters):
        for wrong, right in (("&&", "and"), ("||", "or")):
            if rest.startswith(wrong):
                return Hint(exc.line, exc.column, f"use '{right}' instead of '{wrong}'",
                            Fix(_spaced(text, len(text) - len(rest), len(wrong), right), len(wrong)))
        if rest.startswith('"'):  # the string terminal did not match: no closing quote on this line
            return Hint(exc.line, exc.column, 'unterminated string: add the closing " before the end of the line')
        if rest.startswith("'"):
            return Hint(exc.line, exc.column, 'strings use double quotes: "text"')
        word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", rest)
        if word and word.group() != word.group().lower():
            low = word.group().lower()
            return Hint(exc.line, exc.column, f"keywords and names are lower case: write '{low}'", Fix(low, word.end()))
    return None


def _between(first: Token, end: int | None, replacement: str) -> Fix | None:
    """The fix that writes ``replacement`` over the text from ``first`` (where the hint is) to
    the offset ``end``."""
    if first.start_pos is None or end is None or end <= first.start_pos:
        return None
    return Fix(replacement, end - first.start_pos)


def _spaced(text: str, at: int, length: int, word: str) -> str:
    """``word`` to write over ``text[at:at + length]``, with a space on each side where the text
    there has none (``a&&b`` becomes ``a and b``, not ``aandb``)."""
    before = " " if at > 0 and not text[at - 1].isspace() else ""
    after = " " if at + length < len(text) and not text[at + length].isspace() else ""
    return f"{before}{word}{after}"


def _error_offset(exc: lark.UnexpectedInput, found: Token | None) -> int | None:
    if found is not None and found.type != "$END" and found.start_pos is not None:
        return found.start_pos
    if isinstance(exc, lark.UnexpectedCharacters):
        return exc.pos_in_stream
    return None


_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u2018\u2019\u201a\u201b\u2032\u00ab\u00bb"  # curly quotes, primes, guillemets
_CURLY = re.compile(f"[{_QUOTES}](?:([^{_QUOTES}\n]*)[{_QUOTES}])?")
_SCHEDULES = ("daily", "weekly", "every", "monthly", "cron", "once")
_Here = tuple[int, int]


def _send_hint(
    prev: Token | None, text: str, rest: str, here: _Here, expected: set[str], seen: list[Token]
) -> Hint | None:
    """`send weekly ...` (no channel) and `monthly 17:45` (no day)."""
    if prev is None:
        return None
    before = _token_before(prev, seen)
    if prev.type == "NAME" and prev.value in _SCHEDULES and before is not None and before.type == "SEND":
        return Hint(prev.line or 1, prev.column or 1,
                    f"'send' needs a channel before the schedule: write 'send push {prev.value} ...' "
                    f"(channels: {', '.join(CHANNELS)})")
    if prev.type == "INT" and before is not None and before.type == "MONTHLY" and rest.startswith(":"):
        clock = prev.value + rest[: 1 + len(rest[1:]) - len(rest[1:].lstrip("0123456789"))]
        return Hint(prev.line or 1, prev.column or 1,
                    f"'monthly' needs a day of the month before the time: write 'monthly 1 {clock}' for the 1st")
    if prev.type == "MONTHLY" and expected == {"INT"}:
        return Hint(*here, "'monthly' needs a day of the month (1 to 31) before the time, as in 'monthly 1 17:45'")
    return None


_AM_PM = re.compile(r"([0-9]{1,2})(?::([0-9]{2}))?\s*([aApP])\.?[mM]\.?(?![A-Za-z0-9])")


def twelve_hour(text: str, pos: int = 0) -> tuple[str, Fix] | None:
    """The message for a 12-hour time such as ``5:45pm`` at ``text[pos:]``, and its fix there; or None."""
    m = _AM_PM.match(text, pos)
    if m is None:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if not 1 <= hour <= 12 or minute > 59:
        return None
    hour = hour % 12 + (12 if m.group(3) in "pP" else 0)
    clock = f"{hour:02d}:{minute:02d}"
    return f"write times on a 24-hour clock: {clock}, not '{m.group()}'", Fix(clock, len(m.group()))


def _clock_hint(
    prev: Token | None, text: str, rest: str, here: _Here, expected: set[str], seen: list[Token]
) -> Hint | None:
    """`5:45pm`, `5:45 PM`, `9am`: times are written on a 24-hour clock."""
    clock = prev
    if prev is not None and prev.type == "NAME":  # `to 7a.m.`: the `a` was read as a quiet-hours mode
        clock = _token_before(prev, seen)
    if clock is not None and clock.type == "CLOCK":
        twelve = twelve_hour(text, clock.start_pos or 0)
        where: _Here = (clock.line or 1, clock.column or 1)
    elif "CLOCK" in expected:
        twelve = twelve_hour(rest)
        where = here
    else:
        return None
    return None if twelve is None else Hint(*where, *twelve)


def _time_compare_hint(
    prev: Token | None, text: str, rest: str, here: _Here, expected: set[str], seen: list[Token]
) -> Hint | None:
    """`last_used > 14d`: a comparison with a duration means a window."""
    compare = _token_before(prev, seen) if prev is not None and prev.type == "NUMBER" else None
    if prev is None or compare is None or compare.type != "COMPARE":
        return None
    unit = re.match(r"[A-Za-z]+", rest)
    if unit is None or prev.value.startswith("-") or "." in prev.value:
        return None
    duration = _written_duration(prev.value, unit.group())
    if duration is None:
        return None
    path = _path_before(compare, seen)
    op = compare.value
    window = {">": "more", ">=": "more", "<": "less", "<=": "less"}.get(op)
    if window is not None:
        test = f"{window} than {duration} ago"
        message = f"'{op}' compares numbers; to compare a time with a duration, write '{path} {test}'"
        # (from the operator to the end of the unit: the path stays as written)
        return Hint(compare.line or 1, compare.column or 1, message,
                    _between(compare, len(text) - len(rest) + unit.end(), test))
    message = (f"'{op}' does not compare a time with a duration: write '{path} more than {duration} ago' "
               f"or '{path} less than {duration} ago'")
    return Hint(compare.line or 1, compare.column or 1, message)


# What an unquoted word in a string's place is, by the keyword before it.
_STRING_AFTER = {"TIMEZONE": "a time zone name", "SALT": "a salt", "VARIANT": "a variant name"}


def _unquoted_hint(
    prev: Token | None, text: str, rest: str, here: _Here, expected: set[str], seen: list[Token]
) -> Hint | None:
    """A bare word where a quoted string belongs: `country in [US]`, `17:45 Europe/Paris`, `title We miss you`."""
    if prev is not None and prev.type == "CRON" and rest[:1] not in ('"', ""):
        body = _clause_rest(rest)
        body = re.sub(r'(^|\s+)(local|utc|"[^"]*")$', "", body)
        if body:
            return Hint(*here, f'a cron expression is a quoted string: write cron "{body}"', _quoting(body))
    if "STRING" not in expected or not re.match(r"[A-Za-z_]", rest):
        return None
    word = re.match(r"[^\s,\];)#]+", rest)
    assert word is not None
    if word.group().lower() in _KEYWORD_VALUES and word.group().lower().upper() in expected:
        return None  # `UTC`, `True`: the lower-case keyword, which the next hint suggests
    if {"LOCAL", "UTC"} <= expected:
        return Hint(*here, f'a time zone name is a quoted string: write "{word.group()}"', _quoting(word.group()))
    if "NUMBER" in expected:
        return Hint(*here, f'a string value is quoted: write "{word.group()}"', _quoting(word.group()))
    if expected == {"STRING"} and prev is not None and prev.type == "NAME":  # a message field's text
        body = _clause_rest(rest)
        nxt = re.search(r"\s(?:" + "|".join(MESSAGE_FIELDS) + r")\s", body)
        body = body[: nxt.start()] if nxt else body
        if body.count("}") > body.count("{"):  # `... title We miss you }`: the campaign block's brace
            body = body[: body.rindex("}")].rstrip()
        return Hint(*here, f'message text is a quoted string: write {prev.value} "{body}"', _quoting(body))
    what = _STRING_AFTER.get(prev.type) if prev is not None else None
    if what is not None:
        return Hint(*here, f'{what} is a quoted string: write "{word.group()}"', _quoting(word.group()))
    return None


def _quoting(body: str) -> Fix | None:
    """The fix that puts ``body`` (the text at the hint, as written) in double quotes; None when
    it holds a quote or a backslash, whose meaning inside a string is not what was written."""
    return None if '"' in body or "\\" in body else Fix(f'"{body}"', len(body))


_KEYWORD_VALUES = ("utc", "local", "true", "false")


def _clause_rest(rest: str) -> str:
    """The rest of the clause: up to a ``;``, a comment or the end of the line."""
    return re.split(r"[;#\n]", rest, maxsplit=1)[0].rstrip()


def _day_hint(
    prev: Token | None, text: str, rest: str, here: _Here, expected: set[str], seen: list[Token]
) -> Hint | None:
    """`weekly Thursday`: the day as the language writes it, at once."""
    if prev is None or prev.type not in ("WEEKLY", "WEEKS", "COMMA") or expected != {"NAME"}:
        return None
    word = re.match(r"[A-Za-z]+", rest)
    if word is None:
        return None
    low = word.group().lower()
    day = low if low in DAYS else DAY_ALIASES.get(low)
    if day is None:
        if word.group() == low:
            return None
        # not a day at all: the checker's message at once, not "write it in lower case" first
        hint, meant = did_you_mean_word(low, DAYS, DAY_ALIASES)
        return Hint(*here, f"unknown day '{word.group()}'{hint} (days: {' '.join(DAYS)})",
                    Fix(meant, word.end()) if meant is not None else None)
    return Hint(*here, f"unknown day '{word.group()}': write '{day}' (days: {' '.join(DAYS)})", Fix(day, word.end()))


def _token_before(tok: Token, seen: list[Token]) -> Token | None:
    for i in range(len(seen) - 1, 0, -1):
        if seen[i] is tok:
            return seen[i - 1]
    return None


def _path_before(tok: Token, seen: list[Token]) -> str:
    """The dotted attribute name just before ``tok`` in ``seen``."""
    parts: list[str] = []
    prev = _token_before(tok, seen)
    while prev is not None and prev.type in ("NAME", "DOT"):
        parts.append(prev.value)
        prev = _token_before(prev, seen)
    return "".join(reversed(parts)) or "ATTRIBUTE"


_UNIT_WORDS = {"min": "m", "mins": "m", "minute": "m", "minutes": "m", "hours": "h", "hour": "h", "hr": "h",
               "hrs": "h", "days": "d", "day": "d", "weeks": "w", "week": "w", "wk": "w", "wks": "w"}
_MONTH_WORDS = ("mo", "mos", "mon", "mons", "mth", "mths", "month", "months")
_YEAR_WORDS = ("y", "yr", "yrs", "year", "years")
_SECOND_WORDS = ("s", "sec", "secs", "second", "seconds")


def _written_duration(digits: str, unit: str) -> str | None:
    """A duration as the language writes it, for a number and a unit as people write them
    (``14 days`` -> ``14d``, ``2 months`` -> ``2mo``); None when the unit is not a unit of time."""
    amount = int(digits.lstrip("0") or "0") if len(digits) <= MAX_INT_DIGITS else None
    low = unit.lower()
    if amount is None:
        return None
    if low in _UNITS and unit != "M":
        return f"{amount}{low}"
    if low in _UNIT_WORDS:
        return f"{amount}{_UNIT_WORDS[low]}"
    if low in _MONTH_WORDS or unit == "M":
        return f"{amount}mo"
    if low in _YEAR_WORDS:
        return f"{amount * 12}mo"
    return None


def unit_problem(text: str, amount: int, unit: str) -> tuple[str, str | None]:
    """What is wrong with a duration whose unit is not m, h, d, w or mo, and the duration to
    write over it (None when the message gives only an example)."""
    low = unit.lower()
    if not unit:
        return f"'{text}' needs a unit: write m, h, d, w or mo, as in {amount}d", None
    if low in _MONTH_WORDS or unit == "M":
        months = f"{amount}mo"
        return f"months are written mo: write {months} (calendar months: the same day, clamped to the month's end)", months
    if low in _YEAR_WORDS:
        months = f"{amount * 12}mo"
        return f"there is no year unit: write {months}", months
    if low in _SECOND_WORDS:
        return "there is no seconds unit: the shortest unit is m (minutes), as in 1m", None
    if low in _UNITS:
        lower = f"{amount}{low}"
        return f"duration units are lower case: write {lower}", lower
    if low in _UNIT_WORDS:  # `2weeks`: the unit people mean, written as the language writes it
        written = f"{amount}{_UNIT_WORDS[low]}"
        return f"unknown duration unit '{unit}': write m, h, d, w or mo, as in {written}", written
    return f"unknown duration unit '{unit}': write m, h, d, w or mo, as in {amount}d", None

