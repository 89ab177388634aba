"""Edits an editor offers: the fix a diagnostic suggests ("did you mean 'last_used'?", "write
'thu'") as a code action, and the canonical layout of ``lapse fmt``.

The checker and the syntax hints set a diagnostic's :class:`~lapse_dsl.errors.Fix` where they
compose its message, from the same suggestion; the message is never read back here, so rewording
it cannot cost the quick fix (tests/test_lsp.py applies every kind and checks the file again).
"""

from __future__ import annotations

import attrs

from ..errors import Diagnostic, LapseSyntaxError
from ..format import format_file
from ..parse import parse
from .folder import Document, Range

__all__ = ["Edit", "fixes", "formatted"]


@attrs.frozen
class Edit:
    """Replace ``range`` with ``new_text``; ``title`` says so in the editor's menu."""

    title: str
    range: Range
    new_text: str


def fixes(doc: Document, diagnostic: Diagnostic) -> list[Edit]:
    """The fix ``diagnostic`` suggests, as an edit of ``doc`` (none when it suggests none)."""
    fix = diagnostic.fix
    if fix is None:
        return []
    at = doc.at_column(diagnostic.line, diagnostic.column)
    return [Edit(f"Change to {fix.replacement.strip()}", doc.range(at, at + fix.length), fix.replacement)]


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
