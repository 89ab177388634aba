"""``lapse lsp`` end to end: a real LSP client (pytest-lsp) talks to ``python -m lapse_dsl lsp``
over standard input and output, as an editor does. One server serves the whole module; each test
works in its own folder of rule files (a workspace folder added for it), with ``--now`` fixed so
that hover dates can be worked out here, independently, with zoneinfo."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types as t
from pytest_lsp import ClientServerConfig, LanguageClient

from lapse_dsl import compile as compile_rules
from lapse_dsl.cli import main
from lapse_dsl.errors import LapseCheckError, LapseSyntaxError

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = dt.datetime(2026, 11, 9, 12, 0, tzinfo=dt.UTC)  # a Monday; DST ended in New York on 1 Nov
NEW_YORK = ZoneInfo("America/New_York")


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "lapse_dsl", "lsp", "--now", NOW.isoformat()]),
)
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    await lsp_client.initialize_session(t.InitializeParams(capabilities=t.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


# an editor's moves ----------------------------------------------------------------------------


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


async def _open_folder(client: LanguageClient, folder: Path) -> None:
    client.workspace_did_change_workspace_folders(t.DidChangeWorkspaceFoldersParams(
        event=t.WorkspaceFoldersChangeEvent(added=[t.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)], removed=[])))


async def _published(client: LanguageClient, uri: str) -> list[t.Diagnostic]:
    """The diagnostics published for ``uri`` since :func:`_forget` (waiting for them)."""
    while uri not in client.diagnostics:
        await asyncio.wait_for(client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 30)
    return list(client.diagnostics[uri])


def _forget(client: LanguageClient, *uris: str) -> None:
    for uri in uris:
        client.diagnostics.pop(uri, None)


def _change(client: LanguageClient, uri: str, version: int, text: str) -> None:
    _forget(client, uri)
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)]))


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> list[t.Diagnostic]:
    uri = path.as_uri()
    _forget(client, uri)
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=uri, language_id="lapse", version=1, text=path.read_text(encoding="utf-8") if text is None else text)))
    return await _published(client, uri)


def _at(text: str, needle: str, offset: int = 0) -> t.Position:
    """The position of ``needle`` (plus ``offset`` characters) in ``text``; ASCII test texts."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return t.Position(line=line, character=index - (text.rfind("\n", 0, index) + 1))


def _apply(text: str, edits: Sequence[t.TextEdit]) -> str:
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        lo = starts[e.range.start.line] + e.range.start.character
        hi = starts[e.range.end.line] + e.range.end.character
        text = text[:lo] + e.new_text + text[hi:]
    return text


def _check_output(folder: Path, capsys: pytest.CaptureFixture[str]) -> list[tuple[int, int, str, str]]:
    """What ``lapse check FOLDER --format json`` reports: (line, column, severity, message)."""
    capsys.readouterr()
    main(["check", str(folder), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    return [(d["line"], d["column"], d["severity"], d["message"]) for d in out]


def _as_check(diagnostics: Sequence[t.Diagnostic]) -> list[tuple[int, int, str, str]]:
    words = {t.DiagnosticSeverity.Error: "error", t.DiagnosticSeverity.Warning: "warning"}
    return [(d.range.start.line + 1, d.range.start.character + 1, words[d.severity or t.DiagnosticSeverity.Error],
             d.message) for d in diagnostics]


def _wall(moment: dt.datetime) -> str:
    """``Thu 12 Nov 2026 17:45``, written here without the project's helpers."""
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M}"


# the editor session of the issue --------------------------------------------------------------


RULES = """default timezone "America/New_York"
attribute tier: string

segment last_used between 2w and 3w; send push weekly thu 17:45 local
"""


async def test_an_ops_session_typo_fix_hover_and_zone(client: LanguageClient, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Open a folder, type a rule with a typo, see the diagnostic, take the fix, hover the window,
    complete a zone: the session the issue asks for."""
    folder = _folder(tmp_path, {"winback.lapse": RULES})
    await _open_folder(client, folder)
    path = folder / "winback.lapse"
    uri = path.as_uri()
    assert await _open(client, path) == []

    # type a second rule, with a typo
    typed = RULES + 'segment tier = "gold" and last_usd more than 4w ago; send email weekly mon 09:00 local\n'
    _change(client, uri, 2, typed)
    shown = await _published(client, uri)
    typo = _at(typed, "last_usd")
    assert [(d.range.start, d.range.end, d.message) for d in shown] == [
        (typo, t.Position(typo.line, typo.character + len("last_usd")),
         "unknown attribute 'last_usd'; did you mean 'last_used'?")]
    assert shown[0].severity == t.DiagnosticSeverity.Error
    path.write_text(typed, encoding="utf-8")  # the same text on disk: `lapse check` agrees, to the column
    assert _as_check(shown) == _check_output(folder, capsys)

    # take the fix the editor offers on it
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), range=shown[0].range,
        context=t.CodeActionContext(diagnostics=list(shown))))
    assert actions is not None and len(actions) == 1
    action = actions[0]
    assert isinstance(action, t.CodeAction) and action.kind == t.CodeActionKind.QuickFix
    assert action.edit is not None and action.edit.changes is not None
    fixed = _apply(typed, action.edit.changes[uri])
    assert fixed == typed.replace("last_usd", "last_used")
    compile_rules(fixed)  # the file checks now
    _change(client, uri, 3, fixed)
    assert await _published(client, uri) == []

    # hover the window: its dates at the next Thursday 17:45 in New York, worked out here
    answer = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=_at(fixed, "between")))
    assert answer is not None and isinstance(answer.contents, t.MarkupContent)
    local_now = NOW.astimezone(NEW_YORK)
    send = dt.datetime.combine(local_now.date() + dt.timedelta(days=(3 - local_now.weekday()) % 7),
                               dt.time(17, 45), NEW_YORK)
    if send < NOW:
        send += dt.timedelta(weeks=1)
    # calendar weeks on New York's wall clock (this pair straddles the end of DST on 1 Nov)
    high = dt.datetime.combine(send.date() - dt.timedelta(weeks=2), dt.time(17, 45), NEW_YORK)
    low = dt.datetime.combine(send.date() - dt.timedelta(weeks=3), dt.time(17, 45), NEW_YORK)
    text = answer.contents.value
    assert (f"last used after {_wall(low)} and at or before {_wall(high)} New York time, "
            f"for the send on {_wall(send)} New York time") in text
    utc = [low.astimezone(dt.UTC), high.astimezone(dt.UTC)]
    assert low.utcoffset() != send.utcoffset()  # the test straddles DST, so the UTC hours differ
    assert (f"{utc[0]:%Y-%m-%dT%H:%M:%SZ} < last_used <= {utc[1]:%Y-%m-%dT%H:%M:%SZ}") in text
    assert "file's default timezone, America/New_York" in text

    # change the rule's zone: type `"Europe/Pa` and complete it
    zoned = fixed.replace('09:00 local', '09:00 "Europe/Pa')
    _change(client, uri, 4, zoned)
    cursor = _at(zoned, '"Europe/Pa', len('"Europe/Pa'))
    found = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=cursor))
    assert isinstance(found, t.CompletionList)
    paris = [i for i in found.items if i.label == "Europe/Paris"]
    assert len(paris) == 1 and isinstance(paris[0].text_edit, t.TextEdit)
    assert "Asia/Tokyo" in {i.label for i in found.items}  # every zone: the client filters
    completed = _apply(zoned, [paris[0].text_edit])
    assert completed == fixed.replace("09:00 local", '09:00 "Europe/Paris"')
    compile_rules(completed)


# diagnostics over a folder ----------------------------------------------------------------------


async def test_named_segment_in_another_file_resolves_and_every_file_is_published(
        client: LanguageClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, {
        "shared.lapse": 'segment "Lapsed" = last_used between 2w and 3w\n',
        "campaign.lapse": 'segment "Lapsed" and platform = "ios"; send push weekly thu 17:45 local\n',
        "other.lapse": "segment last_used more than 3m ago; send email monthly 1 10:00 local\n",
    })
    await _open_folder(client, folder)
    other = (folder / "other.lapse").as_uri()
    _forget(client, other)
    assert await _open(client, folder / "campaign.lapse") == []
    warned = await _published(client, other)  # the folder's other files come in the same round
    assert _as_check(warned) == _check_output(folder, capsys)
    assert warned[0].severity == t.DiagnosticSeverity.Warning

    # an unsaved buffer wins over the disk: the definition renamed in the editor only
    shared = folder / "shared.lapse"
    campaign_uri = (folder / "campaign.lapse").as_uri()
    _forget(client, campaign_uri)
    await _open(client, shared, 'segment "Lapsed users" = last_used between 2w and 3w\n')
    assert [d.message for d in await _published(client, campaign_uri)] == [
        'unknown segment "Lapsed"; did you mean "Lapsed users"?']


# hover, definition, references ------------------------------------------------------------------


TWO_FILES = {
    "segments.lapse": 'attribute tier: string\nsegment "Gold lapsed" = tier = "gold" and last_used more than 4w ago\n',
    "campaigns.lapse": ('attribute tier: string\n'
                        'campaign "Gold" {\n'
                        '    segment "Gold lapsed" and push_opted_in\n'
                        '    send push weekly fri 18:00 "Europe/Paris"\n'
                        '}\n'
                        'segment tier = "silver"; send email daily 09:00 utc\n'),
}


@pytest_asyncio.fixture(loop_scope="module")
async def two_files(client: LanguageClient, tmp_path: Path) -> Path:
    folder = _folder(tmp_path, TWO_FILES)
    await _open_folder(client, folder)
    assert await _open(client, folder / "campaigns.lapse") == []
    return folder


async def test_definition_and_references_across_two_files(client: LanguageClient, two_files: Path) -> None:
    campaigns, segments = two_files / "campaigns.lapse", two_files / "segments.lapse"
    text, other = TWO_FILES["campaigns.lapse"], TWO_FILES["segments.lapse"]
    doc = t.TextDocumentIdentifier(uri=campaigns.as_uri())

    found = await client.text_document_definition_async(t.DefinitionParams(
        text_document=doc, position=_at(text, '"Gold lapsed"', 3)))
    assert isinstance(found, list) and len(found) == 1 and isinstance(found[0], t.Location)
    assert found[0].uri == segments.as_uri()
    assert found[0].range.start == _at(other, '"Gold lapsed"')

    refs = await client.text_document_references_async(t.ReferenceParams(
        text_document=doc, position=_at(text, '"Gold lapsed"', 3), context=t.ReferenceContext(include_declaration=True)))
    assert refs is not None
    assert sorted((r.uri, r.range.start.line) for r in refs) == sorted(
        [(campaigns.as_uri(), 2), (segments.as_uri(), 1)])

    # the attribute `tier`: declared in both files (each may repeat it), used in both
    refs = await client.text_document_references_async(t.ReferenceParams(
        text_document=doc, position=_at(text, 'tier = "silver"'), context=t.ReferenceContext(include_declaration=False)))
    assert refs is not None
    assert sorted((r.uri, r.range.start.line, r.range.start.character) for r in refs) == sorted(
        [(campaigns.as_uri(), 5, 8), (segments.as_uri(), 1, 24)])
    found = await client.text_document_definition_async(t.DefinitionParams(
        text_document=doc, position=_at(text, 'tier = "silver"', 2)))
    assert isinstance(found, list)
    assert sorted((f.uri, f.range.start.line) for f in found if isinstance(f, t.Location)) == sorted(
        [(campaigns.as_uri(), 0), (segments.as_uri(), 0)])

    # a built-in attribute has no definition to go to
    assert await client.text_document_definition_async(t.DefinitionParams(
        text_document=doc, position=_at(text, "push_opted_in"))) is None


async def test_hover_attribute_segment_and_schedule(client: LanguageClient, two_files: Path) -> None:
    text = TWO_FILES["campaigns.lapse"]
    doc = t.TextDocumentIdentifier(uri=(two_files / "campaigns.lapse").as_uri())

    async def hover(needle: str, offset: int = 0) -> str:
        answer = await client.text_document_hover_async(t.HoverParams(text_document=doc, position=_at(text, needle, offset)))
        assert answer is not None and isinstance(answer.contents, t.MarkupContent)
        return answer.contents.value

    assert "**tier**: string, declared at" in await hover('tier = "silver"')
    assert "campaigns.lapse:1" in await hover('tier = "silver"')
    assert "**push_opted_in**: boolean, built into the user schema" in await hover("push_opted_in")
    assert 'segment "Gold lapsed" = tier = "gold" and last_used more than 4w ago' in await hover('"Gold lapsed"', 2)

    # the schedule's next three sends, Fridays 18:00 in Paris, worked out here
    paris = ZoneInfo("Europe/Paris")
    local = NOW.astimezone(paris)
    first = dt.datetime.combine(local.date() + dt.timedelta(days=(4 - local.weekday()) % 7), dt.time(18), paris)
    sends = [first + dt.timedelta(weeks=k) for k in range(3)]
    said = await hover("weekly fri")
    listed = re.findall(r"`(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)`", said)
    assert listed == [f"{s.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}" for s in sends]
    assert f"- {_wall(sends[0])} Paris time" in said


# formatting and the other fixes ------------------------------------------------------------------


async def test_formatting_gives_the_lapse_fmt_layout(client: LanguageClient, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    messy = ('campaign "C" {   segment last_used between 2w and 3w ;send push weekly thu 17:45 local  # hi\n}\n'
             '\n\n\nsegment  (platform="ios") ; send push daily 09:00 utc\n')
    folder = _folder(tmp_path, {"messy.lapse": messy})
    await _open_folder(client, folder)
    path = folder / "messy.lapse"
    await _open(client, path)
    edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=t.TextDocumentIdentifier(uri=path.as_uri()), options=t.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert edits
    capsys.readouterr()
    assert main(["fmt", str(path)]) == 0  # `lapse fmt` rewrites the file on disk
    assert _apply(messy, edits) == path.read_text(encoding="utf-8") != messy

    # a formatted file needs no edit
    _change(client, path.as_uri(), 2, path.read_text(encoding="utf-8"))
    assert not await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=t.TextDocumentIdentifier(uri=path.as_uri()), options=t.FormattingOptions(tab_size=4, insert_spaces=True)))


FIXABLE = [  # (a rule with a mistake, the text the quick fix must leave)
    ("segment last_used between 2w and 3w; send psh weekly thu 17:45 local", "send push"),
    ("segment last_used between 2w and 3w; send push weekly thursday 17:45 local", "weekly thu "),
    ("segment last_used between 2w and 3w; send push weekly Thursday 17:45 local", "weekly thu "),
    ("Segment last_used between 2w and 3w; send push weekly thu 17:45 local", "segment last_used"),
    ("segment last_used between 2w and 3w; send push weekly thu 5:45pm local", "thu 17:45 local"),
    ('segment platform == "ios"; send push weekly thu 17:45 local', 'platform = "ios"'),
    ('segment platform = "ios" && sessions > 3; send push weekly thu 17:45 local', '"ios" and sessions'),
    ("segment last_used more than 1 month ago; send push weekly thu 17:45 local", "more than 1mo ago"),
    ("segment platform = \u201cios\u201d; send push weekly thu 17:45 local", 'platform = "ios";'),
    ("segment country in [US]; send push weekly thu 17:45 local", 'in ["US"]'),
    ("segment last_used between 2w and 3w; send push weekly thu 17:45 Europe/Paris", '17:45 "Europe/Paris"'),
    ('segment last_used between 2w and 3w; send push weekly thu 17:45 "Europ/Paris"', '17:45 "Europe/Paris"'),
    ('campaign "C" { segment last_used between 2w and 3w; send push weekly thu 17:45 local; status actve }', "status active"),
    ('campaign "C" { segment last_used between 2w and 3w; send push weekly thu 17:45 local; message titel "x" }',
     'message title "x"'),
    ('attribute tier: strin\nsegment tier = "a"; send push weekly thu 17:45 local', "tier: string"),
    ('segment "Lapsed" = last_used more than 2w ago\nsegment "Lapsd"; send push weekly thu 17:45 local',
     'segment "Lapsed"; send'),
    ("segment last_used between 2w and 3w; send push weekly thu 17:45 local; quiet hours 22:00 to 7am",
     "to 07:00"),
    ("segment push_opted_in||email_subscribed; send push weekly thu 17:45 local", "push_opted_in or email_subscribed"),
    ("segment last_used more than 2weeks ago; send push weekly thu 17:45 local", "more than 2w ago"),
    ("segment last_used > 14d; send push weekly thu 17:45 local", "last_used more than 14d ago"),
    ("segment last_used between 2w and 3w; send push cron 0 9 * * 1 local", 'cron "0 9 * * 1" local'),
    ('campaign "C" { segment last_used between 2w and 3w; send push weekly thu 17:45 local; message title Hi }',
     'title "Hi" }'),
    ('campaign "x" {\n  segment last_used more than 3d ago\n  send push weekly thu 17:45 local\n'
     '  variant "a" 50% send email weekly thu 12:00 local\n  variant "b" 50% message title "t"\n}',
     'variant "a" 50% send push weekly'),
]


async def test_every_kind_of_quick_fix_leaves_a_file_that_checks(client: LanguageClient, tmp_path: Path) -> None:
    """Each fix the messages suggest, taken in the editor: the file then checks without errors
    (a syntax fix may reveal no further error either)."""
    await _open_folder(client, tmp_path)
    for k, (text, expected) in enumerate(FIXABLE):
        path = tmp_path / f"fix{k}.lapse"
        text += "\n"
        # whole or not at all: the server may be reading the folder for the last file's close
        (tmp_path / "partial").write_text(text, encoding="utf-8")
        os.replace(tmp_path / "partial", path)
        shown = await _open(client, path)
        assert len(shown) == 1, (text, shown)
        actions = await client.text_document_code_action_async(t.CodeActionParams(
            text_document=t.TextDocumentIdentifier(uri=path.as_uri()), range=shown[0].range,
            context=t.CodeActionContext(diagnostics=list(shown))))
        assert actions and isinstance(actions[0], t.CodeAction), (text, shown[0].message)
        assert actions[0].edit is not None and actions[0].edit.changes is not None
        fixed = _apply(text, actions[0].edit.changes[path.as_uri()])
        assert expected in fixed, (text, fixed)
        try:
            compile_rules(fixed)
        except (LapseSyntaxError, LapseCheckError) as exc:  # pragma: no cover - the assertion's message
            pytest.fail(f"{text!r} fixed to {fixed!r}: {exc}")
        path.unlink()
        client.text_document_did_close(t.DidCloseTextDocumentParams(text_document=t.TextDocumentIdentifier(uri=path.as_uri())))


async def test_no_fix_where_the_message_suggests_none(client: LanguageClient, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"x.lapse": "segment last_used between 2w and 3w\n"})
    await _open_folder(client, folder)
    shown = await _open(client, folder / "x.lapse")
    assert [d.message for d in shown] == ["this rule has no send clause; add one such as 'send push weekly thu 17:45 local'"]
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri=(folder / "x.lapse").as_uri()), range=shown[0].range,
        context=t.CodeActionContext(diagnostics=list(shown))))
    assert not actions


# completion -----------------------------------------------------------------------------------------


COMPLETE = [  # (text before the cursor, a label that must be offered, a label that must not)
    ("segment last_used ", "between", "weekly"),
    ("segment ", "last_used", "between"),
    ("segment ", "tier", "thu"),
    ("segment ", '"Lapsed"', "push"),
    ("segment last_used between 2w and 3w; send ", "push", "last_used"),
    ("segment last_used between 2w and 3w; send push weekly ", "thu", "push"),
    ("segment last_used between 2w and 3w; send push weekly thu 17:45 ", "local", "thu"),
    ('campaign "C" {\n    message ', "title", "last_used"),
    ('campaign "C" {\n    ', "holdout", "between"),
    ("attribute score: ", "number", "last_used"),
    ('default timezone "Asia/Ko', "Asia/Kolkata", "local"),
]


async def test_completion_offers_what_the_grammar_allows(client: LanguageClient, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"shared.lapse": 'attribute tier: string\nsegment "Lapsed" = last_used more than 2w ago\n'})
    await _open_folder(client, folder)
    path = folder / "typing.lapse"
    uri = path.as_uri()
    await _open(client, path, "")
    for version, (before, wanted, unwanted) in enumerate(COMPLETE, start=2):
        _change(client, uri, version, before)
        found = await client.text_document_completion_async(t.CompletionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=_at(before + "\x00", "\x00")))
        assert isinstance(found, t.CompletionList)
        labels = {i.label for i in found.items}
        assert wanted in labels or wanted.strip('"') in labels, (before, sorted(labels)[:40])
        assert unwanted not in labels, before
    # inside a comment, nothing
    _change(client, uri, 100, "# segment ")
    found = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=t.Position(0, 10)))
    assert found is None or not (found.items if isinstance(found, t.CompletionList) else found)


# hostile input ---------------------------------------------------------------------------------------


async def test_hostile_input_gets_a_diagnostic_and_the_server_lives(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "latin1.lapse").write_bytes("segment country = \"Espa\u00f1a\"\n".encode("latin-1"))
    latin1 = (tmp_path / "latin1.lapse").as_uri()
    _forget(client, latin1)
    await _open_folder(client, tmp_path)
    deep = "segment " + "(push_opted_in or " * 3000 + "push_opted_in" + ")" * 3000 + "; send push weekly thu 17:45 local\n"
    nested = "segment " + "not " * 150 + "push_opted_in; send push weekly thu 17:45 local\n"
    huge = "segment last_used between 2w and 3w; send push weekly thu 17:45 local\n" * 5_000 + "oops\n"
    controls = 'segment platform = "\x00\x85\ufffd\ud7ff"; send push weekly thu 17:45 local\n\x0c\x00 \u2028\n'
    cases = {
        "deep.lapse": (deep, "this condition nests more than 100 levels deep"),
        "nested.lapse": (nested, "this condition nests more than 100 levels deep"),
        "huge.lapse": (huge, "expected"),
        "controls.lapse": (controls, None),
    }
    for name, (text, message) in cases.items():
        shown = await _open(client, tmp_path / name, text)
        assert shown, name
        if message is not None:
            assert message in shown[0].message, (name, shown[0].message)
    assert [(d.range.start, d.message) for d in await _published(client, latin1)] == [
        (t.Position(0, len('segment country = "Espa')), "the file is not valid UTF-8")]
    # still answering
    answer = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=(tmp_path / "nested.lapse").as_uri()), position=t.Position(0, 2)))
    assert answer is None
    found = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=(tmp_path / "huge.lapse").as_uri()), position=t.Position(5_000, 4)))
    assert found is not None
