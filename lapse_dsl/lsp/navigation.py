"""Go to definition and find references, across the files of a rule folder, for the two names a
folder shares: named segments (``segment "NAME" = ...``, used as ``"NAME"``) and declared
attributes (``attribute NAME: TYPE``, used in conditions and ``at NAME or HH:MM``)."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from .. import nodes as n
from .folder import Range, Snapshot, chain_at, walk

__all__ = ["Location", "Symbol", "definitions", "references", "symbol_at"]


@attrs.frozen
class Symbol:
    kind: str  # "segment" or "attribute"
    name: str


@attrs.frozen
class Location:
    path: str
    range: Range


def symbol_at(snapshot: Snapshot, path: str, offset: int) -> Symbol | None:
    """The named segment or attribute at ``offset`` of ``path``, if any."""
    file = snapshot.files.get(path)
    if file is None:
        return None
    for node in reversed(chain_at(file, offset)):
        if isinstance(node, n.SegmentRef):
            return Symbol("segment", node.name.value)
        if isinstance(node, n.SegmentDef) and node.name.span.start <= offset <= node.name.span.end:
            return Symbol("segment", node.name.value)
        if isinstance(node, n.Path):
            return Symbol("attribute", str(node))
    return None


def definitions(snapshot: Snapshot, symbol: Symbol) -> list[Location]:
    """Where ``symbol`` is defined: a segment's definition, every declaration of an attribute
    (each file may repeat it); none for a built-in attribute."""
    return [loc for loc, is_definition in _occurrences(snapshot, symbol) if is_definition]


def references(snapshot: Snapshot, symbol: Symbol, include_definitions: bool) -> list[Location]:
    """Every use of ``symbol`` in the folder, in file and source order (with its definitions
    when ``include_definitions``)."""
    return [loc for loc, is_definition in _occurrences(snapshot, symbol) if include_definitions or not is_definition]


def _occurrences(snapshot: Snapshot, symbol: Symbol) -> Iterator[tuple[Location, bool]]:
    for path, file in snapshot.files.items():
        doc = snapshot.documents[path]
        declared: set[int] = set()  # a declaration's own path is no use of it
        for node in walk(file):
            if isinstance(node, n.AttributeDecl):
                declared.add(id(node.path))
            span, is_definition = _names(node, symbol)
            if span is not None and id(node) not in declared:
                yield Location(path, doc.span_range(span)), is_definition


def _names(node: object, symbol: Symbol) -> tuple[n.Span | None, bool]:
    if symbol.kind == "segment":
        if isinstance(node, n.SegmentDef) and node.name.value == symbol.name:
            return node.name.span, True
        if isinstance(node, n.SegmentRef) and node.name.value == symbol.name:
            return node.span, False
    elif isinstance(node, n.AttributeDecl) and str(node.path) == symbol.name:
        return node.path.span, True
    elif isinstance(node, n.Path) and str(node) == symbol.name:
        return node.span, False
    return None, False
