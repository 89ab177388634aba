"""Rule tests (``*.lapsetest`` beside the rules, ``lapse test``): the format parses with positions,
a malformed file is a positioned error (exit 2), a failure prints the expectation's and the
campaign's positions with what was expected and what was got (exit 1), a disagreement between
the compiled path and the reference interpreter is an internal error of its own, and the tests
written for rules/ pass (and fail when one of them is made wrong).

Expected instants are computed here with zoneinfo and the documented bucket formula
(docs/semantics.md), never read from the code under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from lapse_dsl.cli import main
from lapse_dsl.ruleset import RuleSet
from lapse_dsl.ruletests import DecisionExpectation, SegmentExpectation, parse_tests

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.UTC
NY = ZoneInfo("America/New_York")

RULES = """\
default timezone "America/New_York"

campaign "Lapsed" {
    segment last_used between 2w and 3w and push_opted_in
    send push weekly thu 17:45 local
}

campaign "Split" {
    segment last_used between 2w and 3w
    send push weekly thu 12:00 local
    holdout 50%
    variant "a" 50% message title "A"
    variant "b" 50% message title "B"
    salt "split-salt"
}
"""
NOW = "2026-11-30T00:00:00Z"  # a Monday; the next Thursday is 3 December
LAST_USED = "2026-11-14T09:00:00Z"  # 2 to 3 weeks before Thursday 3 December, any time of day


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


def lapse(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return Result(code, out, err)


def wall(zone: str, text: str) -> dt.datetime:
    """A wall-clock time in ``zone`` (fold=0), as an aware datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def bucket(purpose: str, salt: str, user_id: str) -> int:
    """The documented portable bucket (docs/semantics.md, Buckets), written out independently."""
    s = salt.encode()
    data = b"lapse-bucket/v1:%s:%d:%s:%s" % (purpose.encode(), len(s), s, user_id.encode())
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big") * 10000 >> 32


def user_where(predicate: Any) -> str:
    return next(f"u{i}" for i in range(1000) if predicate(f"u{i}"))


def user(user_id: str = "u1", **extra: Any) -> str:
    """A New York user lapsed 2 to 3 weeks before Thursday 3 December, as a JSON object."""
    return json.dumps({"user_id": user_id, "timezone": "America/New_York", "last_used": LAST_USED,
                       "push_opted_in": True, **extra})


def case(name: str, *lines: str, record: str | None = None, now: str = NOW) -> str:
    body = "\n".join(f"    {x}" for x in (f"user {record or user()}", f"now {now}", *lines))
    return f'test "{name}" {{\n{body}\n}}\n'


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "c.lapse").write_text(RULES, encoding="utf-8")
    return tmp_path


THURSDAY_1745 = wall("America/New_York", "2026-12-03T17:45")
THURSDAY_NOON = wall("America/New_York", "2026-12-03T12:00")


# the format ---------------------------------------------------------------------------------------


def test_the_format_parses_with_positions() -> None:
    text = """\
# a comment line
test "one" {  # a comment after the brace
    user {"user_id": "u1",
          "last_used": "2026-11-14T09:00:00Z"}
    now 2026-11-30T00:00:00+01:00
    since 2026-11-29T23:00:00Z
    within 90m
    history [{"campaign": "Lapsed", "channel": "push", "at": "2026-06-04T21:45:00Z"}]
    expect "Lapsed" send at 2026-12-03T17:45:00-05:00 variant "a" warning "no timezone" warning "x \\"y\\""
    expect "Lapsed" in segment
    expect "Split" held out at 2026-12-03T17:00:00Z
    expect "Other" nothing
    expect "Split" not in segment at 2026-12-10T12:00:00Z
    expect "Other" segment unknown
}

test "two" {
    user {"user_id": "u2"}
    now 2026-11-30T00:00:00Z
    expect "Lapsed" nothing
}
"""
    parsed, diagnostics = parse_tests(text, "x.lapsetest")
    assert diagnostics == []
    one, two = parsed.tests
    assert (one.name, one.source, one.line, one.user_line, one.history_line) == ("one", "x.lapsetest", 2, 3, 8)
    assert one.user == {"user_id": "u1", "last_used": "2026-11-14T09:00:00Z"}
    assert one.now == dt.datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert one.since == dt.datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert one.within == dt.timedelta(minutes=90)
    assert one.history == ({"campaign": "Lapsed", "channel": "push", "at": "2026-06-04T21:45:00Z"},)
    assert one.expectations == (
        DecisionExpectation("Lapsed", 9, 12, "send", dt.datetime(2026, 12, 3, 22, 45, tzinfo=UTC), "a", 63,
                            ("no timezone", 'x "y"')),
        SegmentExpectation("Lapsed", 10, 12, True),
        DecisionExpectation("Split", 11, 12, "held out", dt.datetime(2026, 12, 3, 17, 0, tzinfo=UTC)),
        DecisionExpectation("Other", 12, 12, "nothing"),
        SegmentExpectation("Split", 13, 12, False, dt.datetime(2026, 12, 10, 12, 0, tzinfo=UTC)),
        SegmentExpectation("Other", 14, 12, None),
    )
    assert (two.name, two.line, two.user_line, two.since, two.within, two.history) == ("two", 17, 18, None, None, None)


MALFORMED = [
    ("unquoted campaign", 'expect Lapsed nothing', "3:12: expected the campaign's name in double quotes after 'expect', "
                                                   "found 'Lapsed': write \"Lapsed\""),
    ("unknown outcome", 'expect "Lapsed" sends at 2026-12-03T22:45:00Z',
     "3:21: expected 'send', 'held', 'nothing', 'in', 'not' or 'segment' after '\"Lapsed\"', found 'sends'; "
     "did you mean 'send'?"),
    ("send without at", 'expect "Lapsed" send 2026-12-03T22:45:00Z',
     "3:26: expected 'at' after 'send', found '2026-12-03T22:45:00Z'"),
    ("naive instant", 'expect "Lapsed" send at 2026-12-03T22:45:00',
     "3:29: '2026-12-03T22:45:00' has no UTC offset; add one, as in 2026-12-03T22:45:00Z"),
    ("not an instant", 'expect "Lapsed" send at thursday',
     "3:29: 'thursday' is not an ISO-8601 instant such as 2026-11-30T00:00:00Z"),
    ("instant out of range", 'expect "Lapsed" in segment at 9999-01-01T00:00:00Z',
     "3:35: '9999-01-01T00:00:00Z' is out of range: lapse takes instants from 1000-01-01T00:00:00Z to before "
     "9000-01-01T00:00:00Z"),
    ("held out with a variant", 'expect "Split" held out at 2026-12-03T17:00:00Z variant "a"',
     "3:53: a held-out user gets no variant: remove 'variant'"),
    ("two variants", 'expect "Split" send at 2026-12-03T17:00:00Z variant "a" variant "b"',
     "3:61: 'variant' is already given on this line"),
    ("unterminated string", 'expect "Lapsed nothing', '3:12: unterminated string: add the closing " before the end of '
                                                      "the line"),
    ("unknown escape", 'expect "La\\psed" nothing', "3:15: unknown escape '\\p' in string; use \\\" or \\\\"),
    ("curly quotes", "expect \u201cLapsed\u201d nothing", '3:12: use straight quotes: write "..."'),
    ("unknown keyword", "nw 2026-11-30T00:00:00Z", "3:5: expected user, now, since, within, history, expect or '}' in "
                                                   "a test block, found 'nw'; did you mean 'now'?"),
    ("repeated now", "now 2026-11-30T00:00:00Z", "3:5: 'now' is already given on line 2"),
    ("bad within", "within 2 days", "3:12: expected a duration such as 15m, 1h, 1d or 1w after 'within', found '2'"),
    ("too long within", "within 401d", "3:12: '401d' is too long: at most 400d (the search horizon)"),
    ("since after now", "since 2026-11-30T00:00:01Z",
     "3:11: since 2026-11-30T00:00:01Z is later than now 2026-11-30T00:00:00Z: it is the previous tick's now"),
    ("history not an array", 'history {"campaign": "x"}', "3:13: expected a JSON array after 'history', on the same "
                                                          "line"),
    ("a second decision", 'expect "Lapsed" nothing\n    expect "Lapsed" send at 2026-12-03T22:45:00Z',
     "4:12: this test already expects a decision of 'Lapsed' on line 3"),
    ("trailing words", 'expect "Lapsed" nothing please', "3:29: expected the end of the line after 'nothing', found "
                                                         "'please'"),
]


@pytest.mark.parametrize(("line", "message"), [pytest.param(x[1], x[2], id=x[0]) for x in MALFORMED])
def test_a_malformed_line_is_a_positioned_error(line: str, message: str) -> None:
    text = (f'test "t" {{\n    now 2026-11-30T00:00:00Z\n    {line}\n    user {{"user_id": "u1"}}\n'
            '    expect "Lapsed" in segment\n}\n')
    _, diagnostics = parse_tests(text, "t.lapsetest")
    first = diagnostics[0]
    assert f"{first.line}:{first.column}: {first.message}" == message
    assert first.source == "t.lapsetest" and first.severity == "error"


@pytest.mark.parametrize(("text", "message"), [
    pytest.param('test "t" {\n    now 2026-11-30T00:00:00Z\n    expect "L" nothing\n}\n',
                 "1:1: test 't' has no user line: add one such as 'user {\"user_id\": \"u1\"}'", id="no user"),
    pytest.param('test "t" {\n    user {"user_id": "u1"}\n    expect "L" nothing\n}\n',
                 "1:1: test 't' has no now line: add one such as 'now 2026-11-30T00:00:00Z'", id="no now"),
    pytest.param('test "t" {\n    user {"user_id": "u1"}\n    now 2026-11-30T00:00:00Z\n}\n',
                 "1:1: test 't' expects nothing: add an expect line", id="no expectation"),
    pytest.param('test "t" {\n    user {"user_id": "u1"}\n    now 2026-11-30T00:00:00Z\n    expect "L" nothing\n',
                 "4:23: the test block opened at line 1 is not closed: expected '}', found the end of the file",
                 id="unclosed"),
    pytest.param('test "t"\n', "1:9: expected '{' after the test's name, on the same line", id="brace on the next line"),
    pytest.param('test t {\n}\n', "1:6: expected the test's name in double quotes after 'test', found 't': write \"t\"",
                 id="unquoted name"),
    pytest.param("now 2026-11-30T00:00:00Z\n", "1:1: 'now' belongs inside a test block: test \"NAME\" { ... }",
                 id="outside a block"),
    pytest.param("}\n", "1:1: unmatched '}': no test block is open", id="unmatched brace"),
    pytest.param('test "a" {\n    user {"user_id": "u1"}\n    now 2026-11-30T00:00:00Z\n    expect "L" nothing\n}\n'
                 'test "a" {\n}\n', "6:6: test name 'a' is already used on line 1; test names are unique in a file",
                 id="a name twice"),
    pytest.param('test "t" {\n    user {"user_id": "u1",\n          "last_used": 2026}}\n'
                 '    now 2026-11-30T00:00:00Z\n    expect "L" nothing\n}\n',
                 "3:29: expected the end of the line after the user, found '}'", id="after the user"),
    pytest.param('test "t" {\n    user {"user_id": "u1",\n          "last_used" 1}\n'
                 '    now 2026-11-30T00:00:00Z\n    expect "L" nothing\n}\n',
                 "3:23: user is not valid JSON: Expecting ':' delimiter (in the user that starts on line 2)",
                 id="JSON error on a later line"),
    pytest.param('test "t" {\n    user {"user_id": "u1", "history": []}\n    now 2026-11-30T00:00:00Z\n    history []\n'
                 '    expect "L" nothing\n}\n',
                 "4:1: the user record has a history of its own: give the history once", id="two histories"),
])
def test_a_malformed_block_is_a_positioned_error(text: str, message: str) -> None:
    parsed, diagnostics = parse_tests(text, "t.lapsetest")
    first = diagnostics[0]
    assert f"{first.line}:{first.column}: {first.message}" == message
    assert parsed.tests == () or first.message.startswith("test name")


def test_every_error_of_a_file_is_reported_and_no_test_runs(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "rules" / "c.lapsetest").write_text(
        case("fine", 'expect "Lapsed" nothing') + case("bad", 'expect "Lapsed" sned at 2026-12-03T22:45:00Z', "within 1y"),
        encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 2
    assert result.out == ""
    assert result.err.splitlines()[0] == ("rules/c.lapsetest:9:21: error: expected 'send', 'held', 'nothing', 'in', "
                                          "'not' or 'segment' after '\"Lapsed\"', found 'sned'; did you mean 'send'?")
    assert "rules/c.lapsetest:10:12: error: expected a duration such as 15m, 1h, 1d or 1w" in result.err
    assert result.err.splitlines()[-1] == "2 errors in the test files: no test was run"


def test_a_file_that_is_not_utf8_is_a_positioned_error(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "rules" / "c.lapsetest").write_bytes(b'test "caf\xe9" {\n')
    result = lapse(capsys, "test", "rules")
    assert result.code == 2
    assert result.err.startswith("rules/c.lapsetest:1:10: error: the file is not valid UTF-8")


# names against the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "message"), [
    ('expect "Lapsd" nothing', "4:12: error: unknown campaign 'Lapsd'; did you mean 'Lapsed'?"),
    ('expect "Lapsed" send at 2026-12-03T22:45:00Z variant "a"', "4:58: error: campaign 'Lapsed' has no variants"),
    ('expect "Split" send at 2026-12-03T17:00:00Z variant "bb"',
     "4:57: error: campaign 'Split' has no variant 'bb'; did you mean 'b'? (its variants: a, b)"),
    ('expect "Lapsed" held out at 2026-12-03T22:45:00Z', "4:12: error: campaign 'Lapsed' has no holdout: no user is "
                                                         "held out of it"),
    ('expect "Lapsed users" in segment', "4:12: error: unknown campaign 'Lapsed users'; did you mean 'Lapsed'?"),
])
def test_a_name_the_rules_do_not_have_is_a_positioned_error(
    capsys: pytest.CaptureFixture[str], folder: Path, line: str, message: str
) -> None:
    (folder / "rules" / "c.lapsetest").write_text(case("t", line), encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 2
    assert result.out == ""
    assert result.err.splitlines()[0] == f"rules/c.lapsetest:{message}"


# running ---------------------------------------------------------------------------------------------


def test_a_passing_file(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    held = user_where(lambda u: bucket("holdout", "split-salt", u) < 5000)
    sent_a = user_where(lambda u: bucket("holdout", "split-salt", u) >= 5000 and bucket("variant", "split-salt", u) < 5000)
    text = (
        case("local offset", f"expect \"Lapsed\" send at {THURSDAY_1745.isoformat()}", "expect \"Lapsed\" in segment")
        + case("utc", f"expect \"Lapsed\" send at {iso(THURSDAY_1745)}")
        + case("held", f"expect \"Split\" held out at {iso(THURSDAY_NOON)}", record=user(held))
        + case("variant", f"expect \"Split\" send at {iso(THURSDAY_NOON)} variant \"a\"", record=user(sent_a))
        + case("no zone", f"expect \"Lapsed\" send at {iso(THURSDAY_1745)} warning \"no timezone attribute\"",
               record='{"user_id": "u1", "last_used": "2026-11-14T09:00:00Z", "push_opted_in": true}')
        + case("opted out", "expect \"Lapsed\" nothing", "expect \"Lapsed\" not in segment",
               record=user(push_opted_in=False))
        + case("unknown", "expect \"Lapsed\" segment unknown", record=user(push_opted_in=None))
        + case("later", f"expect \"Lapsed\" in segment at {iso(THURSDAY_1745)}",
               f"expect \"Lapsed\" not in segment at {iso(THURSDAY_1745 + dt.timedelta(weeks=1))}")
        + case("within", "within 3d", "expect \"Lapsed\" nothing")
        + case("tick", "since 2026-12-03T22:40:00Z", f"expect \"Lapsed\" send at {iso(THURSDAY_1745)}",
               now="2026-12-03T22:50:00Z")
    )
    (folder / "rules" / "c.lapsetest").write_text(text, encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert (result.code, result.out, result.err) == (0, "10 tests in 1 file: 10 passed, 0 failed\n", "")
    verbose = lapse(capsys, "test", "rules", "--verbose")
    names = re.findall(r'^test "([^"]+)"', text, flags=re.MULTILINE)
    lines = [i + 1 for i, x in enumerate(text.splitlines()) if x.startswith("test ")]
    passed = [f'rules/c.lapsetest:{n}: PASS "{name}"' for n, name in zip(lines, names, strict=True)]
    assert verbose.out.splitlines()[:-1] == passed


def test_a_failure_prints_both_positions_and_what_was_expected_and_got(
    capsys: pytest.CaptureFixture[str], folder: Path
) -> None:
    wrong = THURSDAY_1745 + dt.timedelta(hours=1)
    (folder / "rules" / "c.lapsetest").write_text(
        case("first", 'expect "Lapsed" nothing')
        + case("wrong hour", 'expect "Lapsed" in segment', f'expect "Lapsed" send at {wrong.isoformat()}'),
        encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 1
    assert result.err == ""
    paris = THURSDAY_1745.isoformat()
    assert result.out.splitlines() == [
        'rules/c.lapsetest:4: FAIL "first": "Lapsed" (rules/c.lapse:3)',
        "    expected: nothing (no decision)",
        f"    got:      send at {iso(THURSDAY_1745)} ({paris} in America/New_York)",
        'rules/c.lapsetest:10: FAIL "wrong hour": "Lapsed" (rules/c.lapse:3)',
        f"    expected: send at {iso(wrong)} (written {wrong.isoformat()})",
        f"    got:      send at {iso(THURSDAY_1745)} ({paris} in America/New_York)",
        "2 tests in 1 file: 0 passed, 2 failed",
    ]


def test_a_missing_decision_says_why(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "rules" / "c.lapsetest").write_text(
        case("opted out", f'expect "Lapsed" send at {iso(THURSDAY_1745)}', record=user(push_opted_in=False)),
        encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 1
    out = result.out.splitlines()
    assert out[1:3] == [f"    expected: send at {iso(THURSDAY_1745)}", "    got:      nothing (no decision)"]
    assert out[3].startswith("    explain:  not in segment: push_opted_in is false")


@pytest.mark.parametrize(("warnings", "passes"), [
    ((), False),  # a warning on the decision must be expected
    (("no timezone attribute",), True),
    (("delivered in America/New_York",), True),  # any part of it
    (("no timezone attribute", "no timezone attribute"), False),  # one for one
    (("delivered in Europe/Paris",), False),
])
def test_warnings_are_matched_one_for_one(
    capsys: pytest.CaptureFixture[str], folder: Path, warnings: tuple[str, ...], passes: bool
) -> None:
    parts = "".join(f' warning "{w}"' for w in warnings)
    record = '{"user_id": "u1", "last_used": "2026-11-14T09:00:00Z", "push_opted_in": true}'
    (folder / "rules" / "c.lapsetest").write_text(case("t", f'expect "Lapsed" send at {iso(THURSDAY_1745)}{parts}',
                                                       record=record), encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == (0 if passes else 1)
    if not passes:
        assert '; warnings: "no timezone attribute; delivered in America/New_York' in result.out


def test_held_out_and_variants_are_checked(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    held = user_where(lambda u: bucket("holdout", "split-salt", u) < 5000)
    sent_b = user_where(lambda u: bucket("holdout", "split-salt", u) >= 5000 and bucket("variant", "split-salt", u) >= 5000)
    (folder / "rules" / "c.lapsetest").write_text(
        case("held, expected sent", f'expect "Split" send at {iso(THURSDAY_NOON)}', record=user(held))
        + case("b, expected a", f'expect "Split" send at {iso(THURSDAY_NOON)} variant "a"', record=user(sent_b))
        + case("b, expected held", f'expect "Split" held out at {iso(THURSDAY_NOON)}', record=user(sent_b)),
        encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 1
    got = [x.strip() for x in result.out.splitlines() if x.strip().startswith("got:")]
    local = THURSDAY_NOON.isoformat()
    assert got == [f"got:      held out at {iso(THURSDAY_NOON)} ({local} in America/New_York)",
                   f'got:      send at {iso(THURSDAY_NOON)} ({local} in America/New_York), variant "b"',
                   f'got:      send at {iso(THURSDAY_NOON)} ({local} in America/New_York), variant "b"']
    assert result.out.splitlines()[-1] == "3 tests in 1 file: 0 passed, 3 failed"


def test_a_record_that_cannot_be_evaluated_fails_at_its_line(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "rules" / "c.lapsetest").write_text(
        case("no id", 'expect "Lapsed" nothing', record='{"last_used": "2026-11-14T09:00:00Z"}')
        + 'test "bad history" {\n    user {"user_id": "u1"}\n    now 2026-11-30T00:00:00Z\n'
          '    history [{"campaign": "x", "channel": "push", "at": "yesterday"}]\n    expect "Lapsed" nothing\n}\n',
        encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 1
    assert result.out.splitlines()[:4] == [
        'rules/c.lapsetest:2: FAIL "no id": the user record cannot be evaluated',
        "    error: user record has no user_id",
        'rules/c.lapsetest:9: FAIL "bad history": the user record cannot be evaluated',
        "    error: history[0].at: 'yesterday' is not an ISO-8601 time such as 2026-11-19T22:45:00Z",
    ]


class _Skewed:
    """A stand-in for the reference interpreter that answers an hour later for "Lapsed" and flips
    its segment: what a bug in the generated code would look like from the other side."""

    def __init__(self, base: RuleSet) -> None:
        self.base = base

    def evaluate(self, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return tuple(attrs.evolve(d, send_at=d.send_at + dt.timedelta(hours=1)) if d.campaign == "Lapsed" else d
                     for d in self.base.evaluate(*args, **kwargs))

    def in_segment(self, user: Any, at: dt.datetime) -> dict[str, bool | None]:
        return {k: (None if k == "Lapsed" and v is True else v) for k, v in self.base.in_segment(user, at).items()}

    def explain(self, *args: Any, **kwargs: Any) -> Any:
        return self.base.explain(*args, **kwargs)


def test_a_disagreement_with_the_reference_is_an_internal_error(
    capsys: pytest.CaptureFixture[str], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RuleSet, "reference", lambda self: _Skewed(self))
    (folder / "rules" / "c.lapsetest").write_text(
        case("t", f'expect "Lapsed" send at {iso(THURSDAY_1745)}', 'expect "Lapsed" in segment'), encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 1
    out = result.out.splitlines()
    assert out[0] == ('rules/c.lapsetest:1: INTERNAL ERROR "t": "Lapsed" (rules/c.lapse:3): evaluate: the generated '
                      "code and the reference interpreter disagree (a lapse-dsl bug)")
    assert out[1].startswith(f"    compiled:  send at {iso(THURSDAY_1745)} ")
    assert out[2].startswith(f"    reference: send at {iso(THURSDAY_1745 + dt.timedelta(hours=1))} ")
    assert out[3] == ('rules/c.lapsetest:1: INTERNAL ERROR "t": "Lapsed" (rules/c.lapse:3): in_segment at '
                      f"{NOW}: the generated code and the reference interpreter disagree (a lapse-dsl bug)")
    assert out[4:6] == ["    compiled:  in segment", "    reference: segment unknown"]
    # the expectations themselves hold on the compiled path: only the disagreements fail
    assert out[6:] == ["1 test in 1 file: 0 passed, 1 failed (2 internal errors: please report them)"]


# finding test files, exit codes ---------------------------------------------------------------------


def test_which_files_run(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "rules" / "sub").mkdir()
    (folder / "rules" / "c.lapsetest").write_text(case("a", 'expect "Lapsed" in segment'), encoding="utf-8")
    (folder / "rules" / "sub" / "more.lapsetest").write_text(case("b", 'expect "Lapsed" in segment'), encoding="utf-8")
    (folder / "elsewhere.lapsetest").write_text(case("c", 'expect "Lapsed" in segment'), encoding="utf-8")
    summary = {
        ("rules",): "2 tests in 2 files",  # a folder: every test file under it
        ("rules/c.lapse",): "1 test in 1 file",  # a rule file: the one beside it
        ("rules", "elsewhere.lapsetest"): "1 test in 1 file",  # named files only
        ("rules", "rules", "rules/c.lapsetest"): "2 tests in 2 files",  # each file once
    }
    for args, expected in summary.items():
        result = lapse(capsys, "test", *args)
        assert result.code == 0 and result.out.startswith(expected + ":"), (args, result)


@pytest.mark.parametrize(("args", "message"), [
    (["rules"], "lapse: error: rules: no .lapsetest files in this folder"),
    (["rules/c.lapse"], "lapse: error: rules/c.lapse: no test file beside it (rules/c.lapsetest)"),
    (["rules", "rules/c.lapse"], "lapse: error: rules/c.lapse: not a test file (test files end in .lapsetest)"),
    (["rules", "nowhere.lapsetest"], "lapse: error: nowhere.lapsetest: no such file or folder"),
    (["nowhere"], "lapse: error: nowhere: no such file or folder"),
])
def test_no_test_files_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folder: Path, args: list[str], message: str
) -> None:
    result = lapse(capsys, "test", *args)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith(message)


def test_rules_that_do_not_check_are_exit_1(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "rules" / "c.lapse").write_text("segment last_usd between 2w and 3w; send push weekly thu 17:45 local\n",
                                              encoding="utf-8")
    (folder / "rules" / "c.lapsetest").write_text(case("a", 'expect "c:1" nothing'), encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 1
    assert "rules/c.lapse:1:9: error: unknown attribute 'last_usd'" in result.err


# the tests written for rules/ ------------------------------------------------------------------------

RULE_TESTS = sorted((ROOT / "rules").glob("*.lapsetest"))


def test_rules_folder_tests_pass(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    cases = sum(len(re.findall(r'^test "', p.read_text(encoding="utf-8"), flags=re.MULTILINE)) for p in RULE_TESTS)
    result = lapse(capsys, "test", "rules/")
    assert result.code == 0, result.out
    assert result.out == f"{cases} tests in {len(RULE_TESTS)} files: {cases} passed, 0 failed\n"


def test_every_rule_file_and_campaign_has_tests() -> None:
    rule_files = sorted((ROOT / "rules").glob("*.lapse"))
    assert [p.stem for p in RULE_TESTS] == [p.stem for p in rule_files]
    campaigns = set(re.findall(r'^campaign "([^"]+)"', "".join(p.read_text(encoding="utf-8") for p in rule_files),
                               flags=re.MULTILINE))
    named = set(re.findall(r'expect "([^"]+)"', "".join(p.read_text(encoding="utf-8") for p in RULE_TESTS)))
    assert campaigns and campaigns <= named


def test_a_deliberately_wrong_expectation_in_rules_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "rules" / "trial_ending.lapsetest"
    lines = path.read_text(encoding="utf-8").splitlines()
    # the first send expectation, moved an hour later
    index = next(i for i, x in enumerate(lines) if " send at " in x)
    instant = dt.datetime.fromisoformat(lines[index].split(" send at ")[1].split()[0])
    later = instant + dt.timedelta(hours=1)
    lines[index] = lines[index].replace(instant.isoformat(), later.isoformat())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = lapse(capsys, "test", "rules")
    assert result.code == 1
    out = result.out.splitlines()
    assert re.fullmatch(rf'rules/trial_ending\.lapsetest:{index + 1}: FAIL "[^"]+": "Trial ends in 3 days" '
                        r"\(rules/trial_ending\.lapse:9\)", out[0])
    assert out[1] == f"    expected: send at {iso(later)} (written {later.isoformat()})"
    assert out[2].startswith(f"    got:      send at {iso(instant)} ")
    assert out[-1].endswith(" 1 failed")


def test_ci_runs_the_rule_tests_right_after_mypy() -> None:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    at = lines.index("mypy --strict lapse_dsl")
    assert lines[at + 1 : at + 3] == ['echo "== lapse test rules/"', "lapse test rules/"]
