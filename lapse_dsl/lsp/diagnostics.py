"""Diagnostics for every file of a rule folder: ``lapse check``'s, each at its position, over the
word it points at (or the text its fix replaces)."""

from __future__ import annotations

import re

import attrs

from ..errors import Diagnostic
from .folder import Range, Snapshot

__all__ = ["Finding", "findings", "token_end"]


@attrs.frozen
class Finding:
    """One diagnostic as the editor shows it: ``message`` and ``severity`` exactly as ``lapse
    check`` prints them; ``range`` from its line and column to the end of the word there, or of
    the text its fix replaces (all of ``5:45 PM``, ``1 month``)."""

    range: Range
    severity: str  # "error" or "warning"
    message: str
    diagnostic: Diagnostic


def findings(snapshot: Snapshot) -> dict[str, list[Finding]]:
    """Every document of the folder, each with its findings (none for a clean file, so that an
    editor clears what it showed)."""
    out: dict[str, list[Finding]] = {path: [] for path in snapshot.documents}
    for d in snapshot.diagnostics:
        doc = snapshot.documents.get(d.source)
        if doc is None:  # (a file the folder no longer holds)
            continue
        start = doc.at_column(d.line, d.column)
        end = start + d.fix.length if d.fix is not None and d.fix.length else token_end(doc.body, start)
        out[d.source].append(Finding(doc.range(start, end), d.severity, d.message, d))
    return out


_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"?')
_CURLY = re.compile("[\u201c\u201d\u201e\u201f\u2033\u2018\u2019\u201a\u201b\u2032\u00ab\u00bb][^\n;]*?"
                    "(?:[\u201c\u201d\u201e\u201f\u2033\u2018\u2019\u201a\u201b\u2032\u00ab\u00bb]|$)", re.MULTILINE)
_WORD = re.compile(r"[\w.:%+\-/]+")
_OPERATOR = re.compile(r"[=!<>&|]+")


def token_end(text: str, start: int) -> int:
    """Where the token that starts at ``start`` ends: a quoted string, a word (names, durations,
    clocks, dates), an operator, else one character (nothing at the end of a line)."""
    for pattern in (_STRING, _CURLY, _WORD, _OPERATOR):
        found = pattern.match(text, start)
        if found and found.end() > start:
            return found.end()
    return start if start >= len(text) or text[start] in "\r\n" else start + 1
