"""Edits an editor offers: the fix a diagnostic suggests ("did you mean 'last_used'?", "write
'thu'") as a code action, and the canonical layout of ``lapse fmt``.

The checker and the syntax hints say their fix in the message; each pattern below reads one way
of saying it, and names the text at the diagnostic's position that the fix replaces. A fix is
offered only when that text is really there, so a reworded message costs the quick fix, never a
wrong edit (tests/test_lsp.py applies every kind and checks the file again).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from ..errors import Diagnostic, LapseSyntaxError
from ..format import format_file
from ..parse import parse
from .diagnostics import _CURLY, _STRING
from .folder import Document, Range

__all__ = ["Edit", "fixes", "formatted"]


@attrs.frozen
class Edit:
    """Replace ``range`` with ``new_text``; ``title`` says so in the editor's menu."""

    title: str
    range: Range
    new_text: str


# What a fix replaces, at the diagnostic's offset in the text: its length there, or None when the
# text there is not what the message names.
_Old = Callable[[str, int], int | None]


def _literal(old: str) -> _Old:
    return lambda text, at: len(old) if text.startswith(old, at) else None


def _quoted(text: str, at: int) -> int | None:
    found = _STRING.match(text, at)
    return found.end() - at if found and found.group().endswith('"') and len(found.group()) > 1 else None


def _curly(text: str, at: int) -> int | None:
    found = _CURLY.match(text, at)
    return found.end() - at if found else None


def _spaced_duration(new: str) -> _Old:
    digits = re.match(r"\d+", new)

    def old(text: str, at: int) -> int | None:
        found = re.compile(r"(\d+)[ \t]+[A-Za-z]+").match(text, at)
        return found.end() - at if found and digits and found.group(1) == digits.group() else None
    return old


def _same_word(new: str) -> _Old:
    """The word at the offset, written in another case (``Segment`` for ``segment``)."""
    return lambda text, at: len(new) if text[at:at + len(new)].lower() == new and text[at:at + len(new)] != new else None


# (message pattern, what it replaces, the replacement); the first that matches and applies wins
_FIXES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], _Old], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"'(?P<old>[^']+)'; did you mean '(?P<new>[^']+)'\?"),
     lambda m: _literal(m["old"]), lambda m: m["new"]),
    (re.compile(r'"(?:[^"\\]|\\.)*"; did you mean (?P<new>"(?:[^"\\]|\\.)*")\?'),
     lambda m: _quoted, lambda m: m["new"]),
    (re.compile(r"unknown day '(?P<old>[^']+)': write '(?P<new>[^']+)'"),
     lambda m: _literal(m["old"]), lambda m: m["new"]),
    (re.compile(r"keywords and names are lower case: write '(?P<new>[^']+)'"),
     lambda m: _same_word(m["new"]), lambda m: m["new"]),
    (re.compile(r"write times on a 24-hour clock: (?P<new>\d+:\d+), not '(?P<old>[^']+)'"),
     lambda m: _literal(m["old"]), lambda m: m["new"]),
    (re.compile(r"use '(?P<new>[^']+)' alone, not '(?P<old>[^']+)'"),
     lambda m: _literal(m["old"]), lambda m: m["new"]),
    (re.compile(r"use '(?P<new>[^']+)' instead of '(?P<old>[^']+)'"),
     lambda m: _literal(m["old"]), lambda m: m["new"]),
    (re.compile(r"write the number and its unit together: (?P<new>\d+[a-z]+)$"),
     lambda m: _spaced_duration(m["new"]), lambda m: m["new"]),
    (re.compile(r'use straight quotes: write (?P<new>"[^"]*")$'),
     lambda m: _curly, lambda m: m["new"]),
    (re.compile(r'(?:is a quoted string|is quoted): write (?P<new>"(?P<inner>[^"]*)")$'),
     lambda m: _literal(m["inner"]), lambda m: m["new"]),
)



def fixes(doc: Document, diagnostic: Diagnostic) -> list[Edit]:
    """The fix ``diagnostic`` suggests, as an edit of ``doc`` (none when it suggests none)."""
    at = doc.at_column(diagnostic.line, diagnostic.column)
    for pattern, old, new in _FIXES:
        found = pattern.search(diagnostic.message)
        if found is None:
            continue
        length = old(found)(doc.body, at)
        if length is None:
            continue
        replacement = new(found)
        return [Edit(f"Change to {replacement}", doc.range(at, at + length), replacement)]
    return []


def formatted(doc: Document) -> list[Edit]:
    """``lapse fmt``'s layout as one edit of the whole text; none when the text is already in it or
    does not parse (formatting never guesses around a syntax error)."""
    try:
        text = format_file(parse(doc.body, source=doc.path))
    except LapseSyntaxError:
        return []
    if text == doc.body:
        return []
    return [Edit("Format", doc.range(0, len(doc.body)), text)]
