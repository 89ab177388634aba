"""Every diagnostic that suggests a replacement carries it as data (``Diagnostic.fix``, the
``fix`` of ``lapse check --format json``), set where its message is composed: one row per
producer. The fix must sit exactly over the mistake, agree with the message, and leave a file
that checks without that diagnostic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lapse_dsl
from lapse_dsl.check import check
from lapse_dsl.cli import main
from lapse_dsl.errors import Diagnostic, Fix

WINDOW = "segment last_used between 2w and 3w; "
SEND = "send push weekly thu 17:45 local"
LAPSED = 'segment "Lapsed" = last_used more than 2w ago\n'


def _campaign(*clauses: str) -> str:
    return 'campaign "C" {\n  ' + "\n  ".join((WINDOW.removesuffix("; "), SEND, *clauses)) + "\n}"


def _experiment(variant_send: str) -> str:
    return ('campaign "x" {\n  segment last_used more than 3d ago\n  send push weekly thu 17:45 local\n'
            f'  variant "a" 50% {variant_send}\n  variant "b" 50% message title "t"\n}}')


# (what produces the hint, a file with that one mistake, the mistake as written)
FIXABLE = [
    # the checker's "did you mean"
    ("check: type", 'attribute tier: strin\nsegment tier = "a"; ' + SEND, "strin"),
    ("check: attribute", "segment last_usd between 2w and 3w; " + SEND, "last_usd"),
    ("check: dotted attribute", 'attribute profile.tier: string\nsegment profile.tir = "a"; ' + SEND, "profile.tir"),
    ("check: channel", WINDOW + "send psh weekly thu 17:45 local", "psh"),
    ("check: day", WINDOW + "send push weekly thursdy 17:45 local", "thursdy"),
    ("check: day in a list", WINDOW + "send push weekly mon, fir 17:45 local", "fir"),
    ("check: status", _campaign("status actve"), "actve"),
    ("check: message field", _campaign('message titel "x"'), "titel"),
    ("check: cap scope", WINDOW + SEND + "; cap 1 per 1d emial", "emial"),
    ("check: quiet hours mode", WINDOW + SEND + "; quiet hours 22:00 to 07:00 defr", "defr"),
    ("check: quiet hours 12-hour clock", WINDOW + SEND + "; quiet hours 22:00 to 7am", "7am"),
    ("check: zone", WINDOW + 'send push weekly thu 17:45 "Europ/Paris"', '"Europ/Paris"'),
    ("check: default zone", 'default timezone "europe/paris"\n' + WINDOW + SEND, '"europe/paris"'),
    ("check: variant channel", _experiment("send email weekly thu 12:00 local"), "email"),
    ("check: variant zone", _experiment('send push weekly thu 12:00 "Europe/Paris"'), '"Europe/Paris"'),
    ("check: template variable", "attribute first_name: string\n" + _campaign('message title "Hi {{ first_nme }}"'),
     "first_nme"),
    ("check: minutes meant as months", "segment last_used more than 1m ago; " + SEND, "1m"),
    # named segments
    ("segments: unknown name", LAPSED + 'segment "Lapsd"; ' + SEND, '"Lapsd"'),
    # the syntax hints
    ("parse: 12-hour clock", WINDOW + "send push weekly thu 5:45pm local", "5:45pm"),
    ("parse: spaced 12-hour clock", WINDOW + "send push daily 9 A.M. local", "9 A.M."),
    ("parse: &&", 'segment platform = "ios" && sessions > 3; ' + SEND, "&&"),
    ("parse: || without spaces", "segment push_opted_in||email_subscribed; " + SEND, "||"),
    ("parse: ==", 'segment platform == "ios"; ' + SEND, "=="),
    ("parse: !==", 'segment platform !== "ios"; ' + SEND, "!=="),
    ("parse: upper-case keyword", "Segment last_used between 2w and 3w; " + SEND, "Segment"),
    ("parse: upper-case zone keyword", WINDOW + "send push weekly thu 17:45 UTC", "UTC"),
    ("parse: spaced duration", "segment last_used more than 1 month ago; " + SEND, "1 month"),
    ("parse: spaced duration in a window", "segment last_used between 2 weeks and 3w; " + SEND, "2 weeks"),
    ("parse: unit as a word", "segment last_used more than 2weeks ago; " + SEND, "2weeks"),
    ("parse: month unit", "segment last_used more than 2M ago; " + SEND, "2M"),
    ("parse: year unit", "segment last_used more than 1y ago; " + SEND, "1y"),
    ("parse: upper-case unit", "segment last_used more than 2W ago; " + SEND, "2W"),
    ("parse: > with a duration", "segment last_used > 14d; " + SEND, "> 14d"),
    ("parse: curly quotes", "segment platform = \u201cios\u201d; " + SEND, "\u201cios\u201d"),
    ("parse: unquoted value", "segment country in [US]; " + SEND, "US"),
    ("parse: unquoted zone", WINDOW + "send push weekly thu 17:45 Europe/Paris", "Europe/Paris"),
    ("parse: unquoted default zone", "default timezone Europe/Paris\n" + WINDOW + SEND, "Europe/Paris"),
    ("parse: unquoted cron", WINDOW + "send push cron 0 9 * * 1 local", "0 9 * * 1"),
    ("parse: unquoted message text", WINDOW + SEND + "; message title We miss you", "We miss you"),
    ("parse: unquoted message text in a block", 'campaign "C" { ' + WINDOW + SEND + "; message title We miss you }",
     "We miss you"),
    ("parse: unquoted salt", WINDOW + SEND + "; salt abc", "abc"),
    ("parse: day written out", WINDOW + "send push weekly Thursday 17:45 local", "Thursday"),
    ("parse: day misspelt in capitals", WINDOW + "send push weekly Thursdy 17:45 local", "Thursdy"),
]


def _diagnostics(text: str) -> list[Diagnostic]:
    try:
        files = [lapse_dsl.parse(text, source="rules.lapse")]
    except lapse_dsl.LapseSyntaxError as exc:
        return list(exc.diagnostics)
    return list(check(files).diagnostics)


def _offset(text: str, line: int, column: int) -> int:
    return sum(len(row) + 1 for row in text.split("\n")[: line - 1]) + column - 1


def _applied(text: str, line: int, column: int, fix: Fix) -> tuple[str, str]:
    """``text`` with ``fix`` applied at ``line``:``column``, and the text it replaced."""
    at = _offset(text, line, column)
    return text[:at] + fix.replacement + text[at + fix.length:], text[at:at + fix.length]


@pytest.mark.parametrize(("text", "mistake"), [pytest.param(text, mistake, id=what) for what, text, mistake in FIXABLE])
def test_the_fix_replaces_the_mistake_and_the_file_then_checks(text: str, mistake: str) -> None:
    found = _diagnostics(text)
    assert len(found) == 1, found
    (diagnostic,) = found
    assert diagnostic.fix is not None, diagnostic.message
    fixed, replaced = _applied(text, diagnostic.line, diagnostic.column, diagnostic.fix)
    assert replaced == mistake
    assert diagnostic.fix.replacement.strip() in diagnostic.message  # the message names what the fix writes
    after = _diagnostics(fixed)
    assert not [d for d in after if d.severity == "error"], (fixed, after)
    assert diagnostic.message not in [d.message for d in after]


@pytest.mark.parametrize("text", [
    pytest.param("segment last_used between 2w and 3w", id="no send clause"),
    pytest.param("segment last_used more than 3 ago; " + SEND, id="a unit, but which"),
    pytest.param(WINDOW + 'send push weekly thu 17:45 "Mars/Olympus"', id="no zone near it"),
    pytest.param(WINDOW + 'send push weekly thu 17:45 "+05:30"', id="a fixed offset"),
    pytest.param("segment last_used = 14d; " + SEND, id="= with a duration: more or less"),
    pytest.param(WINDOW + "send weekly thu 17:45 local", id="send without a channel"),
    pytest.param(WINDOW + "send push weekly thu 17:45 local; message title Say \"hi\"", id="text with a quote"),
    pytest.param("segment last_used more than 2sec ago; " + SEND, id="no seconds unit"),
    pytest.param(LAPSED + 'segment "Churned"; ' + SEND, id="no segment near it"),
    pytest.param(_campaign('message title "Hi {{ zqxjv }}"'), id="no template variable near it"),
])
def test_no_fix_where_the_message_names_no_one_replacement(text: str) -> None:
    found = _diagnostics(text)
    assert found
    assert [d.fix for d in found] == [None] * len(found), [d.message for d in found]


def test_check_json_carries_the_fix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = 'segment last_usd between 2w and 3w; send psh weekly thu 17:45 local\nsegment platform = "ios"\n'
    path = tmp_path / "bad.lapse"
    path.write_text(text, encoding="utf-8")
    for source in (text, text.replace("ios\"\n", "ios\"; send push weekly thu 17:45 local\n")):
        path.write_text(source, encoding="utf-8")
        assert main(["check", "--format", "json", str(path)]) == 1
        data = json.loads(capsys.readouterr().out)
        expected = [d.to_json() for d in _diagnostics(source)]
        assert [{k: v for k, v in d.items() if k != "source"} for d in data] == [
            {k: v for k, v in d.items() if k != "source"} for d in expected]
        for d in data:  # present exactly when the diagnostic suggests one replacement
            assert ("fix" in d) == ("did you mean" in d["message"]), d
            if "fix" in d:
                assert set(d["fix"]) == {"replacement", "length"}
                fixed, _ = _applied(source, d["line"], d["column"], Fix(**d["fix"]))
                assert d["message"] not in [x.message for x in _diagnostics(fixed)]


def test_the_fix_is_not_part_of_a_diagnostics_equality() -> None:
    (diagnostic,) = _diagnostics(WINDOW + "send psh weekly thu 17:45 local")
    assert diagnostic.fix is not None
    bare = Diagnostic(diagnostic.source, diagnostic.line, diagnostic.column, diagnostic.severity, diagnostic.message)
    assert bare == diagnostic
    assert "fix" not in bare.to_json() and "fix" in diagnostic.to_json()
