"""Completion: what the grammar accepts at the cursor (:func:`lapse_dsl.parse.expected_at` runs
the parser up to it), filled in with the words the checker knows for each place: keywords,
attributes (built in and declared in the folder), IANA zone names inside a zone's string, days,
channels, message fields, statuses, types and named segments.

The folder's declarations are read from every file's text line by line, not from the checked rule
set, so that the file being typed, which rarely parses mid-word, still offers its own.
"""

from __future__ import annotations

import re

import attrs

from ..format import quote
from ..parse import expected_at
from ..schema import BUILTIN_ATTRIBUTES, CHANNELS, DAYS, MESSAGE_FIELDS, QUIET_MODES, STATUSES, TYPES
from ..zones import zone_names
from .folder import Document, Range, Snapshot

__all__ = ["Item", "complete"]


@attrs.frozen
class Item:
    """One completion: ``new_text`` replaces ``range`` (the word or string being typed)."""

    label: str
    kind: str  # keyword, attribute, zone, day, channel, field, value, type, segment
    detail: str
    range: Range
    new_text: str


_DECLARATION = re.compile(r"^[ \t]*attribute[ \t]+([a-z_][a-z0-9_.]*)[ \t]*:[ \t]*([a-z]+)", re.MULTILINE)
_DEFINITION = re.compile(r'^[ \t]*segment[ \t]+("(?:[^"\\\n]|\\.)*")[ \t]*=', re.MULTILINE)
_WORD_BEFORE = re.compile(r"[A-Za-z0-9_.]*\Z")
_WORD_AFTER = re.compile(r"[A-Za-z0-9_.]*")


def complete(snapshot: Snapshot, path: str, offset: int) -> list[Item]:
    """The completions at ``offset`` of the file ``path`` (none inside a comment)."""
    doc = snapshot.documents.get(path)
    if doc is None:
        return []
    body = doc.body
    line_start = body.rfind("\n", 0, offset) + 1
    opened = _open_string(body[line_start:offset])
    if opened == -1:
        return []
    if opened is not None:
        start = line_start + opened
        close = re.compile(r'(?:[^"\\\n]|\\.)*"?').match(body, offset)
        end = close.end() if close else offset
        return _strings(snapshot, _expected(body, start, line_start), doc.range(start, end))
    found = _WORD_BEFORE.search(body, line_start, offset)
    start = found.start() if found else offset
    after = _WORD_AFTER.match(body, offset)
    end = after.end() if after else offset
    expected = _expected(body, start, line_start)
    if expected is None:
        return []
    where = doc.range(start, end)
    accepted, tokens = expected
    items = [Item(w, "keyword", "keyword", where, w) for w in sorted(accepted) if w.isalpha() and w.islower()]
    if "NAME" in accepted:
        items.extend(_names(snapshot, tokens, where))
    if "STRING" in accepted:
        items.extend(_strings(snapshot, expected, where))
    return items


def _open_string(before: str) -> int | None:
    """Where the string the cursor is in opens on its line; None outside strings; -1 in a comment."""
    at = 0
    while at < len(before):
        c = before[at]
        if c == "#":
            return -1
        if c == '"':
            found = re.compile(r'"(?:[^"\\\n]|\\.)*"').match(before, at)
            if found is None:
                return at
            at = found.end()
            continue
        at += 1
    return None


Expected = tuple[frozenset[str], tuple[tuple[str, str], ...]]


def _expected(body: str, start: int, line_start: int) -> Expected | None:
    """What the grammar accepts at ``start``: after the whole text before it, else (when an
    earlier line has a syntax error) after its own line alone, or as a line of a campaign block."""
    line = body[line_start:start]
    for prefix in (body[:start], line, 'campaign "" {\n' + line):
        found = expected_at(prefix)
        if found is not None:
            return found
    return None


def _names(snapshot: Snapshot, tokens: tuple[tuple[str, str], ...], where: Range) -> list[Item]:
    """The words a NAME may be here, by the tokens before it."""
    last = tokens[-1][0] if tokens else ""
    item = _item_tokens(tokens)
    if last == "SEND":
        return [Item(c, "channel", "channel", where, c) for c in CHANNELS]
    if last in ("WEEKLY", "WEEKS", "COMMA"):
        return [Item(d, "day", "day", where, d) for d in DAYS]
    if last in ("MESSAGE", "STRING"):
        return [Item(f, "field", "message field", where, f) for f in MESSAGE_FIELDS]
    if last == "STATUS":
        return [Item(s, "value", "status", where, s) for s in STATUSES]
    if last == "DURATION":  # cap N per D [scope]
        return [Item(c, "channel", "cap scope", where, c) for c in (*CHANNELS, "all")]
    if last == "CLOCK":  # quiet hours A to B [mode]
        return [Item(m, "value", "quiet hours mode", where, m) for m in QUIET_MODES]
    if item[:1] == ("ATTRIBUTE",):
        return [Item(t, "type", "type", where, t) for t in TYPES] if last == "COLON" else []
    return [Item(name, "attribute", detail, where, name) for name, detail in _attributes(snapshot).items()]


def _item_tokens(tokens: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The kinds of the tokens since the last new line."""
    kinds = [kind for kind, _ in tokens]
    while "_NL" in kinds:
        kinds = kinds[kinds.index("_NL") + 1:]
    return tuple(kinds)


def _attributes(snapshot: Snapshot) -> dict[str, str]:
    out = {name: f"{kind}, built in" for name, kind in BUILTIN_ATTRIBUTES.items()}
    for doc in snapshot.documents.values():
        for found in _DECLARATION.finditer(doc.body):
            out.setdefault(found.group(1), f"{found.group(2)}, declared in {_name_of(doc)}")
    return out


def _name_of(doc: Document) -> str:
    return doc.path.replace("\\", "/").rsplit("/", 1)[-1]


def _strings(snapshot: Snapshot, expected: Expected | None, where: Range) -> list[Item]:
    """Zone names where a zone goes, named segments where a condition goes."""
    if expected is None or "STRING" not in expected[0]:
        return []
    accepted, tokens = expected
    last = tokens[-1][0] if tokens else ""
    if {"local", "utc"} <= accepted or last == "TIMEZONE":
        return [Item(z, "zone", "time zone", where, quote(z)) for z in sorted(zone_names())]
    if "not" in accepted or "(" in accepted:
        names = dict.fromkeys(found.group(1) for doc in snapshot.documents.values()
                              for found in _DEFINITION.finditer(doc.body))
        return [Item(name, "segment", "named segment", where, name) for name in names]
    return []
