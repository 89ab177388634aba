"""The pygls wiring of ``lapse lsp``: LSP messages in, the pure functions of this package called,
their answers converted to lsprotocol types.

A document's rule folder is the workspace folder that holds it (every ``.lapse`` file under it,
as ``lapse check FOLDER`` reads them), else the document's own folder; open buffers win over the
files on disk. A folder is checked again 0.3 s after the last change to any of its buffers, and
diagnostics are published for each of its files. No handler's failure reaches the client as a
traceback or stops the server: it is logged (``window/logMessage``) and the answer is empty.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .. import __version__
from .actions import Edit, fixes, formatted
from .completion import complete
from .diagnostics import findings
from .folder import Document, Position, Range, Snapshot, analyse, read_folder
from .hover import hover
from .navigation import Location, definitions, references, symbol_at

__all__ = ["DEBOUNCE", "build", "serve"]

DEBOUNCE = 0.3  # seconds after the last keystroke before a folder is checked again

_KINDS = {
    "keyword": t.CompletionItemKind.Keyword, "attribute": t.CompletionItemKind.Field,
    "zone": t.CompletionItemKind.Value, "day": t.CompletionItemKind.EnumMember,
    "channel": t.CompletionItemKind.EnumMember, "field": t.CompletionItemKind.Property,
    "value": t.CompletionItemKind.EnumMember, "type": t.CompletionItemKind.TypeParameter,
    "segment": t.CompletionItemKind.Reference,
}
_SEVERITY = {"error": t.DiagnosticSeverity.Error, "warning": t.DiagnosticSeverity.Warning}

P = ParamSpec("P")
R = TypeVar("R")


class _Folders:
    """The rule folders of the open documents: their snapshots, checked when first asked for
    after a change, and the documents each last published diagnostics for."""

    def __init__(self, ls: LanguageServer) -> None:
        self.ls = ls
        self._snapshots: dict[str, Snapshot] = {}
        self._published: dict[str, set[str]] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}

    def roots(self) -> list[str]:
        found = [to_fs_path(f.uri) for f in self.ls.workspace.folders.values()]
        if not found and self.ls.workspace.root_path:
            found = [self.ls.workspace.root_path]
        return [os.path.abspath(p) for p in found if p]

    def of(self, uri: str) -> tuple[str, str]:
        """(the rule folder, the source path) of a document."""
        path = to_fs_path(uri) if uri.startswith("file:") else None
        if path is None:  # an unsaved, untitled buffer: a folder of its own
            return uri, uri
        path = os.path.abspath(path)
        inside = [r for r in self.roots() if os.path.commonpath([r, path]) == r]
        return (max(inside, key=len) if inside else os.path.dirname(path)), path

    def snapshot(self, folder: str) -> Snapshot:
        found = self._snapshots.get(folder)
        if found is None:
            overrides: dict[str, str] = {}
            for uri, doc in list(self.ls.workspace.text_documents.items()):
                home, path = self.of(uri)
                if home == folder:
                    overrides[path] = doc.source
            root = folder if os.path.isdir(folder) else None
            texts, unreadable = read_folder(root, overrides)
            found = self._snapshots[folder] = analyse(texts, unreadable)
        return found

    def changed(self, uri: str, delay: float) -> None:
        """Check the document's folder again ``delay`` seconds from now (a later change restarts
        the wait) and publish its diagnostics."""
        folder, _ = self.of(uri)
        self._snapshots.pop(folder, None)
        pending = self._pending.pop(folder, None)
        if pending is not None:
            pending.cancel()
        loop = asyncio.get_running_loop()
        self._pending[folder] = loop.call_later(delay, _guarded(self.ls, "diagnostics")(self.publish), folder)

    def publish(self, folder: str) -> None:
        self._pending.pop(folder, None)
        snap = self.snapshot(folder)
        codec = self.ls.workspace.position_codec
        now: set[str] = set()
        for path, found in findings(snap).items():
            doc = snap.documents[path]
            uri = _uri(path)
            now.add(uri)
            diagnostics = [
                t.Diagnostic(range=_range(codec, doc, f.range), message=f.message, severity=_SEVERITY[f.severity],
                             source="lapse")
                for f in found
            ]
            self.ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))
        for uri in self._published.get(folder, set()) - now:  # a file gone from the folder: clear it
            self.ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        self._published[folder] = now

    def at(self, uri: str, position: t.Position) -> tuple[Snapshot, Document, int] | None:
        """The snapshot, document and offset a request points at."""
        folder, path = self.of(uri)
        snap = self.snapshot(folder)
        doc = snap.documents.get(path)
        if doc is None:
            return None
        server = self.ls.workspace.position_codec.position_from_client_units(doc.lines, position)
        return snap, doc, doc.offset(Position(server.line, server.character))


def _uri(path: str) -> str:
    return path if ":" in path and not os.path.isabs(path) else (from_fs_path(path) or path)


def _position(codec: object, doc: Document, pos: Position) -> t.Position:
    return codec.position_to_client_units(doc.lines, t.Position(pos.line, pos.character))  # type: ignore[attr-defined, no-any-return]


def _range(codec: object, doc: Document, r: Range) -> t.Range:
    return t.Range(start=_position(codec, doc, r.start), end=_position(codec, doc, r.end))


def _guarded(ls: LanguageServer, what: str) -> Callable[[Callable[P, R | None]], Callable[P, R | None]]:
    """A handler whose failure is logged and answered with null (the server lives on)."""
    def wrap(fn: Callable[P, R | None]) -> Callable[P, R | None]:
        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # any bug or hostile input: log it, never die
                ls.window_log_message(t.LogMessageParams(
                    type=t.MessageType.Error, message=f"lapse lsp: {what} failed: {type(exc).__name__}: {exc}"))
                return None
        return guarded
    return wrap


def build(now: dt.datetime | None = None) -> LanguageServer:
    """The server. ``now``: the instant hovers compute dates from (default: the current time at
    each hover; a fixed one for tests)."""
    ls = LanguageServer("lapse", __version__, text_document_sync_kind=t.TextDocumentSyncKind.Incremental)
    folders = _Folders(ls)

    def clock() -> dt.datetime:
        return now if now is not None else dt.datetime.now(dt.UTC)

    @ls.feature(t.TEXT_DOCUMENT_DID_OPEN)
    @_guarded(ls, "open")
    def did_open(params: t.DidOpenTextDocumentParams) -> None:
        folders.changed(params.text_document.uri, 0)

    @ls.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    @_guarded(ls, "change")
    def did_change(params: t.DidChangeTextDocumentParams) -> None:
        folders.changed(params.text_document.uri, DEBOUNCE)

    @ls.feature(t.TEXT_DOCUMENT_DID_SAVE)
    @_guarded(ls, "save")
    def did_save(params: t.DidSaveTextDocumentParams) -> None:
        folders.changed(params.text_document.uri, 0)

    @ls.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    @_guarded(ls, "close")
    def did_close(params: t.DidCloseTextDocumentParams) -> None:
        folders.changed(params.text_document.uri, 0)  # the file on disk (or nothing) takes its place

    @ls.feature(t.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    @_guarded(ls, "watched files")
    def did_change_files(params: t.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            folders.changed(change.uri, 0)

    @ls.feature(t.TEXT_DOCUMENT_HOVER)
    @_guarded(ls, "hover")
    def on_hover(params: t.HoverParams) -> t.Hover | None:
        found = folders.at(params.text_document.uri, params.position)
        if found is None:
            return None
        snap, doc, offset = found
        answer = hover(snap, doc.path, offset, clock())
        if answer is None:
            return None
        codec = ls.workspace.position_codec
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=answer.markdown),
                       range=_range(codec, doc, answer.range))

    @ls.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=['"', "/", "."]))
    @_guarded(ls, "completion")
    def on_completion(params: t.CompletionParams) -> t.CompletionList | None:
        found = folders.at(params.text_document.uri, params.position)
        if found is None:
            return None
        snap, doc, offset = found
        codec = ls.workspace.position_codec
        items = [
            t.CompletionItem(label=i.label, kind=_KINDS[i.kind], detail=i.detail, filter_text=i.new_text,
                             text_edit=t.TextEdit(range=_range(codec, doc, i.range), new_text=i.new_text))
            for i in complete(snap, doc.path, offset)
        ]
        return t.CompletionList(is_incomplete=False, items=items)

    def locations(snap: Snapshot, found: list[Location]) -> list[t.Location]:
        codec = ls.workspace.position_codec
        return [t.Location(uri=_uri(loc.path), range=_range(codec, snap.documents[loc.path], loc.range)) for loc in found]

    @ls.feature(t.TEXT_DOCUMENT_DEFINITION)
    @_guarded(ls, "definition")
    def on_definition(params: t.DefinitionParams) -> list[t.Location] | None:
        found = folders.at(params.text_document.uri, params.position)
        symbol = None if found is None else symbol_at(found[0], found[1].path, found[2])
        if found is None or symbol is None:
            return None
        return locations(found[0], definitions(found[0], symbol)) or None

    @ls.feature(t.TEXT_DOCUMENT_REFERENCES)
    @_guarded(ls, "references")
    def on_references(params: t.ReferenceParams) -> list[t.Location] | None:
        found = folders.at(params.text_document.uri, params.position)
        symbol = None if found is None else symbol_at(found[0], found[1].path, found[2])
        if found is None or symbol is None:
            return None
        return locations(found[0], references(found[0], symbol, params.context.include_declaration))

    def edits(doc: Document, found: list[Edit]) -> list[t.TextEdit]:
        codec = ls.workspace.position_codec
        return [t.TextEdit(range=_range(codec, doc, e.range), new_text=e.new_text) for e in found]

    @ls.feature(t.TEXT_DOCUMENT_FORMATTING)
    @_guarded(ls, "formatting")
    def on_formatting(params: t.DocumentFormattingParams) -> list[t.TextEdit] | None:
        found = folders.at(params.text_document.uri, t.Position(0, 0))
        return None if found is None else edits(found[1], formatted(found[1]))

    @ls.feature(t.TEXT_DOCUMENT_CODE_ACTION, t.CodeActionOptions(code_action_kinds=[t.CodeActionKind.QuickFix]))
    @_guarded(ls, "code action")
    def on_code_action(params: t.CodeActionParams) -> list[t.CodeAction] | None:
        uri = params.text_document.uri
        found = folders.at(uri, params.range.start)
        if found is None:
            return None
        snap, doc, start = found
        server_end = ls.workspace.position_codec.position_from_client_units(doc.lines, params.range.end)
        end = doc.offset(Position(server_end.line, server_end.character))
        codec = ls.workspace.position_codec
        actions = []
        for f in findings(snap).get(doc.path, []):
            lo, hi = doc.offset(f.range.start), doc.offset(f.range.end)
            if hi < start or lo > end:
                continue
            for fix in fixes(doc, f.diagnostic):
                diagnostic = t.Diagnostic(range=_range(codec, doc, f.range), message=f.message,
                                          severity=_SEVERITY[f.severity], source="lapse")
                actions.append(t.CodeAction(title=fix.title, kind=t.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                                            is_preferred=True,
                                            edit=t.WorkspaceEdit(changes={uri: edits(doc, [fix])})))
        return actions

    return ls


class _OneLine(logging.Formatter):
    """Log records as one line each, without tracebacks: the editor shows standard error to
    its user (pygls logs a traceback for a message it cannot read)."""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return super().format(record).splitlines()[0]


def serve(now: dt.datetime | None = None) -> None:
    """Run the server over standard input and output until the client exits."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("lapse lsp: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    build(now).start_io()
