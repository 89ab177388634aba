"""The rule folder an editor works in: its texts (open buffers over the files on disk), parsed and
checked exactly as ``lapse check FOLDER`` does, and positions in them.

Positions here are 0-based lines and characters counted in code points, on the text as the editor
holds it (a byte order mark included); :mod:`lapse_dsl.lsp.server` converts them to the client's
units. Offsets are into the text the parser read (without the byte order mark), as
:attr:`lapse_dsl.nodes.Span.start` and ``end`` are.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import attrs

from .. import nodes as n
from ..check import check
from ..errors import Diagnostic, LapseError, LapseSyntaxError
from ..model import CheckResult
from ..parse import BOM
from ..ruleset import parse_sources, read_text, rule_files

__all__ = ["Document", "Position", "Range", "Snapshot", "analyse", "chain_at", "read_folder", "walk"]


@attrs.frozen
class Position:
    line: int
    character: int


@attrs.frozen
class Range:
    start: Position
    end: Position


@attrs.frozen
class Document:
    """One file's text and the arithmetic between offsets, positions and the checker's columns."""

    path: str
    text: str
    _bom: int = attrs.field(init=False, repr=False)
    _starts: tuple[int, ...] = attrs.field(init=False, repr=False)  # offset of each line in the parsed text

    def __attrs_post_init__(self) -> None:
        body = self.text.removeprefix(BOM)
        starts = [0]
        starts.extend(i + 1 for i, c in enumerate(body) if c == "\n")
        object.__setattr__(self, "_bom", len(self.text) - len(body))
        object.__setattr__(self, "_starts", tuple(starts))

    @property
    def body(self) -> str:
        """The text the parser reads (without a byte order mark)."""
        return self.text[self._bom:]

    @property
    def lines(self) -> list[str]:
        """The editor's lines (split at ``\\n`` only, as the parser and LSP count them)."""
        return self.text.split("\n")

    def offset(self, pos: Position) -> int:
        """The offset in :attr:`body` of an editor position (clamped into the text)."""
        line = min(max(pos.line, 0), len(self._starts) - 1)
        start = self._starts[line]
        end = self._starts[line + 1] - 1 if line + 1 < len(self._starts) else len(self.body)
        character = pos.character - (self._bom if line == 0 else 0)
        return min(max(start + character, start), end)

    def position(self, offset: int) -> Position:
        """The editor position of an offset in :attr:`body`."""
        offset = min(max(offset, 0), len(self.body))
        line = bisect.bisect_right(self._starts, offset) - 1
        return Position(line, offset - self._starts[line] + (self._bom if line == 0 else 0))

    def at_column(self, line: int, column: int) -> int:
        """The offset of a 1-based line and column as :class:`~lapse_dsl.errors.Diagnostic` and
        :class:`~lapse_dsl.nodes.Span` count them (after the byte order mark)."""
        index = min(max(line - 1, 0), len(self._starts) - 1)
        return min(self._starts[index] + max(column - 1, 0), len(self.body))

    def range(self, start: int, end: int) -> Range:
        return Range(self.position(start), self.position(end))

    def span_range(self, span: n.Span) -> Range:
        return self.range(span.start, span.end)


@attrs.frozen
class Snapshot:
    """A rule folder at one moment: every file's text, the files that parse, and every
    diagnostic ``lapse check`` prints for the folder, in its order."""

    documents: Mapping[str, Document]
    files: Mapping[str, n.File]
    diagnostics: tuple[Diagnostic, ...]
    result: CheckResult

    def file_items(self) -> Iterator[tuple[n.File, n.Item]]:
        for file in self.files.values():
            for item in file.items:
                yield file, item


# a file on disk that is not UTF-8: its text (undecodable bytes replaced, for positions only) and
# the diagnostic `lapse check` gives it
Unreadable = Mapping[str, tuple[str, Sequence[Diagnostic]]]


def read_folder(root: str | None, overrides: Mapping[str, str]) -> tuple[dict[str, str], dict[str, tuple[str, list[Diagnostic]]]]:
    """The texts of every ``.lapse`` file under ``root`` (as ``lapse check ROOT`` reads them), the
    editor's ``overrides`` (open buffers, by path) winning over the disk; and the files on disk
    that are not UTF-8 (and not open)."""
    texts: dict[str, str] = {}
    unreadable: dict[str, tuple[str, list[Diagnostic]]] = {}
    paths: list[Path] = []
    if root is not None:
        try:
            paths = rule_files(root)
        except (LapseError, OSError):  # a folder without rule files yet: only the open buffers
            paths = []
    for path in paths:
        name = str(path)
        if name in overrides:
            continue
        try:
            texts[name] = read_text(path)
        except LapseSyntaxError as exc:  # not UTF-8
            unreadable[name] = (path.read_bytes().decode("utf-8", "replace"), list(exc.diagnostics))
        except OSError:  # deleted since it was listed
            continue
    texts.update(overrides)
    return dict(sorted(texts.items())), unreadable


def analyse(texts: Mapping[str, str], unreadable: Unreadable | None = None) -> Snapshot:
    """Parse and check ``texts`` (path -> text) as one rule set, the way ``lapse check`` does: the
    unreadable files' diagnostics, then every syntax error, then the checker's."""
    unreadable = unreadable or {}
    documents = {path: Document(path, text) for path, (text, _) in unreadable.items()}
    documents.update((path, Document(path, text)) for path, text in texts.items())
    files, syntax = parse_sources(list(texts.items()))
    result = check(files)
    early = [d for _, found in unreadable.values() for d in found]
    diagnostics = (*early, *syntax, *result.diagnostics)
    return Snapshot(dict(sorted(documents.items())), {f.source: f for f in files}, diagnostics, result)


# finding nodes ----------------------------------------------------------------------------------


def _children(node: object) -> Iterator[object]:
    kind = type(node)
    if not attrs.has(kind):
        return
    for field in attrs.fields(kind):
        if field.name == "span":
            continue
        value = getattr(node, field.name)
        if isinstance(value, tuple):
            yield from (v for v in value if attrs.has(type(v)))
        elif attrs.has(type(value)):
            yield value


def walk(node: object) -> Iterator[object]:
    """``node`` and every node below it, depth first in source order (without recursion: a
    condition may nest a hundred levels)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(_children(current))))


def chain_at(file: n.File, offset: int) -> list[object]:
    """The nodes of ``file`` whose source holds ``offset`` (its end included, where a cursor
    stands after a word), outermost first: the item, its clause, ..., the innermost node."""
    chain: list[object] = []
    level: Sequence[object] = file.items
    while True:
        inside = [c for c in level if _holds(c, offset)]
        if not inside:
            return chain
        node = inside[-1]  # (touching nodes: the later one, where the cursor starts a word)
        chain.append(node)
        level = list(_children(node))


def _holds(node: object, offset: int) -> bool:
    span = getattr(node, "span", None)
    return isinstance(span, n.Span) and span != n.NO_SPAN and span.start <= offset <= span.end
