"""Rules that pass `lapse check` never crash another command (issue 11, items 8 and 9).

- Dates: every date a rule names (`before`/`after` dates and instants, `from`, `until`, `once`)
  lies in nodes.MIN_DATE..MAX_DATE, or `check` reports a positioned error; at the ends of that
  range every command works.
- Control characters (C0, DEL, C1) in names (campaign, segment, variant, salt, zone, cron) are
  positioned errors; in values and messages only tab and new line are allowed.
- A file with no rules is a valid, empty rule set: `check` says so with a warning, and every command
  runs on it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_nesting import every_command

import lapse_dsl
from lapse_dsl import cli
from lapse_dsl import nodes as n
from lapse_dsl.check import check
from lapse_dsl.errors import Diagnostic
from lapse_dsl.ruleset import FIRST_INSTANT, LAST_INSTANT

UTC = dt.UTC
SEND = "send push daily 09:00 local"

# Each position a date can take in a rule; {d} is the date (YYYY-MM-DD).
DATE_POSITIONS = {
    "after date": "segment last_used after {d}; " + SEND,
    "before date": "segment first_used before {d}; " + SEND,
    "after instant Z": "segment last_used after {d}T00:00:00Z; " + SEND,
    "before instant +14:00": "segment last_used before {d}T23:00:00+14:00; " + SEND,  # the same date in UTC
    "after instant -12:00": "segment last_used after {d}T00:00:00-12:00; " + SEND,
    "from": "segment last_used between 2w and 3w; send push weekly thu 17:45 local; from {d}",
    "until": "segment last_used between 2w and 3w; send push weekly thu 17:45 local; until {d}",
    "once": "segment last_used more than 1w ago; send push once {d} 18:00 local",
    "once in a named zone": 'segment last_used more than 1w ago; send push once {d} 23:59 "Pacific/Kiritimati"',
}
OUTSIDE = ["0001-01-01", "0001-12-31", "0002-06-15", "0999-12-31", "1000-01-01", "1899-12-31",
           "9001-01-01", "9500-06-15", "9998-12-31", "9999-12-30", "9999-12-31"]
INSIDE = [n.MIN_DATE.isoformat(), "1900-01-02", "2026-06-15", "8999-12-31", n.MAX_DATE.isoformat()]


def _errors(text: str) -> list[Diagnostic]:
    return [d for d in check([lapse_dsl.parse(text)]).diagnostics if d.severity == "error"]


@pytest.mark.parametrize("position", DATE_POSITIONS)
@pytest.mark.parametrize("date", OUTSIDE)
def test_a_date_outside_the_range_is_a_positioned_check_error(position: str, date: str) -> None:
    text = DATE_POSITIONS[position].format(d=date)
    (error,) = _errors(text)
    column = text.index(date) + 1
    assert (error.line, error.column) == (1, column)
    assert f"outside the dates a rule can name, {n.MIN_DATE} to {n.MAX_DATE}" in error.message
    with pytest.raises(lapse_dsl.LapseCheckError):  # and never an OverflowError
        lapse_dsl.compile(text)


@pytest.mark.parametrize(
    ("instant", "inside"),
    [
        ("1900-01-01T00:00:00Z", True),
        ("1900-01-01T00:00:00+00:01", False),  # 1899-12-31 in UTC
        ("1899-12-31T23:00:00-01:00", True),  # 1900-01-01 in UTC, but 1899 as written
        ("9000-12-31T23:59:59Z", True),
        ("9000-12-31T23:59:59-00:01", False),  # 9001-01-01 in UTC
        ("9001-01-01T00:30:00+01:00", False),
    ],
)
def test_an_instant_is_inside_when_both_its_written_and_its_utc_date_are(instant: str, inside: bool) -> None:
    text = f"segment last_used after {instant}; {SEND}"
    assert (_errors(text) == []) is (inside and not instant.startswith("1899"))


@pytest.mark.slow
@pytest.mark.parametrize("date", INSIDE)
def test_every_command_works_at_the_ends_of_the_range(date: str, tmp_path: Path) -> None:
    # one file: each position of the date in its own campaign
    text = "".join(
        f'campaign "{position}" {{ {rule.format(d=date)} }}\n' for position, rule in DATE_POSITIONS.items()
    )
    rules = every_command(text, tmp_path, dialects=("duckdb", "postgres"))
    assert len(rules.rules) == len(DATE_POSITIONS)
    # and evaluated around the date itself, where the search horizon and window shifts reach (at the
    # instants evaluation takes: compile's callers refuse a `now` outside FIRST_INSTANT..LAST_INSTANT)
    day = dt.date.fromisoformat(date)
    around = [dt.datetime.combine(day, dt.time(12), UTC) + dt.timedelta(days=d) for d in (-400, -1, 0, 1, 400)]
    for now in [t for t in around if FIRST_INSTANT <= t < LAST_INSTANT]:
        user = {"user_id": "u", "timezone": "Pacific/Kiritimati", "last_used": (now - dt.timedelta(days=10)).isoformat(),
                "first_used": (now - dt.timedelta(days=20)).isoformat()}
        assert rules.evaluate(user, now) == rules.reference().evaluate(user, now)
        rules.explain(user, now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.sampled_from(sorted(DATE_POSITIONS)), day=st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)))
def test_any_date_is_an_error_or_works(position: str, day: dt.date) -> None:
    text = DATE_POSITIONS[position].format(d=f"{day.year:04d}-{day.month:02d}-{day.day:02d}")
    try:
        rules = lapse_dsl.compile(text)
    except lapse_dsl.LapseCheckError as exc:
        assert not n.MIN_DATE <= day <= n.MAX_DATE or "+14:00" in text or "-12:00" in text
        assert "outside the dates a rule can name" in exc.message
        return
    assert n.MIN_DATE <= day <= n.MAX_DATE
    user = {"user_id": "u", "last_used": "2026-11-01T00:00:00Z", "first_used": "2025-01-01T00:00:00Z"}
    nows = [dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime.combine(day, dt.time(), UTC)]
    for now in [t for t in nows if FIRST_INSTANT <= t < LAST_INSTANT]:
        assert rules.evaluate(user, now) == rules.reference().evaluate(user, now)
        rules.in_segment(user, now)
        rules.explain(user, now)


# Control characters -------------------------------------------------------------------------------

VARIANT_B = 'variant "B" 50% message title "b"'
CONTROLS = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]]
NAMES = {  # {s} is the string's content; every control character is an error there
    "campaign name": 'campaign "A{s}B" {{ segment push_opted_in; ' + SEND + " }}",
    "segment name": 'segment "A{s}B": push_opted_in; ' + SEND,
    "variant name": 'segment push_opted_in; ' + SEND + '; variant "A{s}" 50% message title "a"; ' + VARIANT_B,
    "salt": "segment push_opted_in; " + SEND + '; salt "s{s}alt"',
    "zone": 'segment push_opted_in; send push daily 09:00 "Europe/Paris{s}"',
    "default timezone": 'default timezone "Europe/{s}Paris"\nsegment push_opted_in; ' + SEND,
    "cron": 'segment push_opted_in; send push cron "0 9 * * *{s}" utc',
}
TEXTS = {  # tab and new line are allowed here, every other control character is an error
    "value": 'segment user_id = "A{s}B"; ' + SEND,
    "value in a list": 'segment country in ["US", "A{s}B"]; ' + SEND,
    "message": 'segment push_opted_in; ' + SEND + '; message title "Hi" body "A{s}B"',
    "variant message": 'segment push_opted_in; ' + SEND + '; variant "A" 50% message title "a{s}"; ' + VARIANT_B,
}
ESCAPES = {"\t": "\\t", "\n": "\\n"}


def _written(char: str) -> list[str]:
    """How the character can appear inside a quoted string: raw, and as an escape if it has one.
    (A raw new line ends the string, so only its escape is tried.)"""
    forms = [] if char == "\n" else [char]
    return forms + ([ESCAPES[char]] if char in ESCAPES else [])


@pytest.mark.parametrize("where", NAMES)
def test_a_control_character_in_a_name_is_a_positioned_error(where: str) -> None:
    for char in CONTROLS:
        for written in _written(char):
            text = NAMES[where].format(s=written)
            errors = _errors(text)
            column = text.index(written) + 1
            assert [(e.line, e.column) for e in errors] == [(1, column)], (where, hex(ord(char)))
            assert f"control character U+{ord(char):04X}" in errors[0].message
            assert "cannot contain control characters" in errors[0].message
            assert char not in errors[0].message  # the message names the character, never prints it


@pytest.mark.parametrize("where", TEXTS)
def test_in_values_and_messages_only_tab_and_new_line_are_allowed(where: str) -> None:
    for char in CONTROLS:
        for written in _written(char):
            text = TEXTS[where].format(s=written)
            errors = _errors(text)
            if char in "\t\n":
                assert errors == [], (where, hex(ord(char)))
                continue
            column = text.index(written) + 1
            assert [(e.line, e.column) for e in errors] == [(1, column)], (where, hex(ord(char)))
            assert f"control character U+{ord(char):04X} in a quoted string: only tabs and new lines" in errors[0].message


def test_a_control_character_after_escapes_is_pointed_at_exactly() -> None:
    text = 'segment user_id = "a\\"b\\\\c\\td\x00"; ' + SEND
    (error,) = _errors(text)
    assert error.column == text.index("\x00") + 1


def test_a_control_character_outside_a_string_is_named_not_printed() -> None:
    for char in CONTROLS:
        if char in "\t\n\x0c\r":  # spaces and line ends the grammar allows
            continue
        with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
            lapse_dsl.parse(f"segment push_opted_in{char}; {SEND}")
        assert info.value.message.endswith(f"found the control character U+{ord(char):04X}")
        assert char not in info.value.message


def test_accepted_tabs_and_new_lines_work_in_every_command(tmp_path: Path) -> None:
    text = (
        'campaign "tabs" { segment user_id = "a\tb" or country in ["x\\ty"]; ' + SEND
        + '; message title "Hi\\tthere" body "line one\\nline two\ttab" }\n'
        'campaign "variants" { segment push_opted_in; ' + SEND
        + '; variant "A" 50% message title "a\\nb"; variant "B" 50% message title "b\tc" }\n'
    )
    rules = every_command(text, tmp_path, users=({"user_id": "a\tb", "push_opted_in": True},), dialects=("duckdb",))
    (decision,) = (d for d in rules.evaluate({"user_id": "a\tb"}, dt.datetime(2026, 11, 30, tzinfo=UTC)))
    assert decision.message == {"title": "Hi\tthere", "body": "line one\nline two\ttab"}


# A file with no rules ------------------------------------------------------------------------------

EMPTY_FILES = {
    "empty": "",
    "blank lines": "\n\n  \n",
    "comments": "# nothing here yet\n# more\n",
    "declarations": 'attribute tier: string\nattribute score: number  # why\n',
    "settings and declarations": 'default timezone "Europe/Paris"\nattribute tier: string\n',
    "a BOM and a comment": "\ufeff# hello\n",
}
NO_RULES = ("this file has no rules (no 'segment ...; send ...' line and no campaign block): "
            "it is a valid, empty rule set that decides nothing")


@pytest.mark.parametrize("name", EMPTY_FILES)
def test_a_file_without_rules_is_an_empty_rule_set_with_a_warning(name: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    text = EMPTY_FILES[name]
    result = check([lapse_dsl.parse(text, source="f.lapse")])
    assert result.errors == () and result.rules == ()
    assert [(d.source, d.line, d.column, d.severity, d.message) for d in result.diagnostics] == [
        ("f.lapse", 1, 1, "warning", NO_RULES)]
    path = tmp_path / "f.lapse"
    path.write_text(text, encoding="utf-8")
    assert cli.main(["check", str(path)]) == 0
    assert f"{path}:1:1: warning: {NO_RULES}" in capsys.readouterr().out
    assert cli.main(["check", "--strict", str(path)]) == 1


def test_every_command_runs_on_an_empty_rule_set(tmp_path: Path) -> None:
    rules = every_command(EMPTY_FILES["declarations"], tmp_path)
    assert rules.rules == ()
    assert rules.evaluate({"user_id": "u"}, dt.datetime(2026, 11, 30, tzinfo=UTC)) == ()


def test_no_warning_when_another_file_of_the_set_has_rules() -> None:
    files = [lapse_dsl.parse(EMPTY_FILES["declarations"], source="schema.lapse"),
             lapse_dsl.parse("segment tier = \"gold\"; " + SEND, source="rules.lapse")]
    assert check(files).diagnostics == ()


def test_every_file_of_an_empty_set_gets_the_warning() -> None:
    files = [lapse_dsl.parse(text, source=f"{name}.lapse") for name, text in EMPTY_FILES.items()]
    warned = [d.source for d in check(files).diagnostics if d.message == NO_RULES]
    assert warned == sorted(f"{name}.lapse" for name in EMPTY_FILES)


def test_no_empty_set_warning_on_top_of_errors() -> None:
    result = check([lapse_dsl.parse("attribute tier: strin\n")])
    assert [d.severity for d in result.diagnostics] == ["error"]
