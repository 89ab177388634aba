"""Hostile input never stops ``lapse run`` and never loses a record (issue 11, items 5, 6, 21).

Whatever goes wrong while reading, deciding or writing one record rejects that record with its
line and a reason; every other record is decided, the output files are complete, and the summary's
equation holds. A quote that is never closed in a CSV file costs its row, not the rows after it.
An attribute no record has is a warning, and every campaign is listed, even with no decision.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import lapse_dsl.batch
import lapse_dsl.sources
from lapse_dsl import LapseError, Plugin
from lapse_dsl.cli import main
from lapse_dsl.sources import open_source

ROOT = Path(__file__).resolve().parent.parent
BRAZE = str(ROOT / "rules" / "braze_lapsing.lapse")
NOW = "2026-11-30T00:00:00Z"
MAX_FIELD_LINES = 100  # docs/cli.md: the lines one CSV quoted field may span
EQUATION = re.compile(r"accounted for: (\d+) read = (\d+) with \+ (\d+) without \+ (\d+) rejected \(([^)]+)\)$")


@attrs.frozen
class Outcome:
    code: int
    err: str
    decisions: list[dict[str, Any]]
    rejections: list[dict[str, Any]]

    @property
    def equation(self) -> tuple[int, int, int, int, str]:
        found = EQUATION.fullmatch(self.err.rstrip().splitlines()[-1])
        assert found is not None, self.err
        read, with_, without, rejected = (int(found.group(i)) for i in range(1, 5))
        assert read == with_ + without + rejected
        return read, with_, without, rejected, found.group(5)


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, users: Path, *extra: str, rules: str = BRAZE) -> Outcome:
    """``lapse run`` with --out and --errors files; both must hold only whole JSON lines (or CSV)."""
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    code = main(["run", rules, "--users", str(users), "--now", NOW, "--out", str(out), "--errors", str(errors), *extra])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.out == ""
    text = out.read_text(encoding="utf-8")
    decisions = [] if "csv" in extra else [json.loads(line) for line in text.splitlines()]
    rejections = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert all(list(r) == ["line", "user_id", "error"] for r in rejections)
    return Outcome(code, captured.err, decisions, rejections)


def good(user_id: str, **fields: Any) -> dict[str, Any]:
    """A user with one decision (lapsed two weeks before NOW)."""
    return {"user_id": user_id, "last_used": "2026-11-16T10:00:00Z", "push_opted_in": True,
            "timezone": "Europe/Berlin", "first_name": "Ana", **fields}


def jsonl(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines))
    return path


def around(bad: str | bytes) -> list[str | bytes]:
    """Good users on lines 1, 2, 4, 5 and ``bad`` on line 3."""
    return [json.dumps(good("g1")), json.dumps(good("g2")), bad, json.dumps(good("g4")), json.dumps(good("g5"))]


DIGITS = "7" * 5000
DEEP = 100_000

# line 3 of a JSON lines file -> the user_id of its rejection and a part of the reason
HOSTILE_LINES: dict[str, tuple[str | bytes, str | None, str]] = {
    "5000-digit number, unread attribute": (f'{{"user_id": "x", "sessions": {DIGITS}}}', None, "more than 4300 digits"),
    "5000-digit number, read attribute": (f'{{"user_id": "x", "last_used": {DIGITS}}}', None, "more than 4300 digits"),
    "5000-digit negative number in a list": (f'{{"user_id": "x", "tags": [1, -{DIGITS}]}}', None, "4300 digits"),
    "nested arrays": ('{"user_id": "x", "deep": ' + "[" * DEEP + "]" * DEEP + "}", None, "nested too deeply"),
    "nested objects": ('{"user_id": "x", "deep": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}", None, "nested too deeply"),
    "unclosed deep nesting": ("[" * DEEP, None, "invalid JSON"),
    "lone high surrogate in user_id": ('{"user_id": "\\ud800", "last_used": "2026-11-16T10:00:00Z", '
                                       '"push_opted_in": true}', "\ud800", "user_id is not valid Unicode"),
    "lone low surrogate in user_id": ('{"user_id": "a\\udfff", "last_used": "2026-11-16T10:00:00Z", '
                                      '"push_opted_in": true}', "a\udfff", "not valid Unicode"),
    "lone surrogate in a message variable": ('{"user_id": "x", "last_used": "2026-11-16T10:00:00Z", '
                                             '"push_opted_in": true, "first_name": "\\udc80"}', "x", ""),
    "surrogate pair split by text": ('{"user_id": "\\ud83dx\\ude00", "last_used": "2026-11-16T10:00:00Z", '
                                     '"push_opted_in": true}', "\ud83dx\ude00", "not valid Unicode"),
    "invalid UTF-8 byte": (b'{"user_id": "caf\xe9"}', None, "not valid UTF-8"),
    "NUL bytes": (b'{"user_id": "a\x00b"}', None, "invalid JSON"),
}


@pytest.mark.parametrize("kind", list(HOSTILE_LINES))
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_hostile_json_line_is_one_rejection_and_the_run_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, fmt: str
) -> None:
    line, user_id, reason = HOSTILE_LINES[kind]
    outcome = run(capsys, tmp_path, jsonl(tmp_path / "u.jsonl", *around(line)), "--format", fmt)
    assert outcome.code == 0
    assert [(r["line"], r["user_id"]) for r in outcome.rejections] == [(3, user_id)]
    assert reason in outcome.rejections[0]["error"]
    assert outcome.equation == (5, 4, 0, 1, "incomplete: 1 record rejected")
    written = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    if fmt == "jsonl":
        assert [d["user_id"] for d in outcome.decisions] == ["g1", "g2", "g4", "g5"]
    else:
        assert [row.split(",")[2] for row in written.splitlines()[1:]] == ["g1", "g2", "g4", "g5"]


def test_a_line_longer_than_the_bound_is_one_rejection(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lapse_dsl.sources, "MAX_LINE", 1000)  # the real bound is 16 MiB
    long_line = json.dumps(good("x", padding="p" * 5000))
    outcome = run(capsys, tmp_path, jsonl(tmp_path / "u.jsonl", *around(long_line)))
    assert [(r["line"], r["error"]) for r in outcome.rejections] == [(3, "line is longer than 1000 bytes")]
    assert [d["user_id"] for d in outcome.decisions] == ["g1", "g2", "g4", "g5"]
    csv_path = tmp_path / "u.csv"
    csv_path.write_text("user_id,last_used,push_opted_in\na,2026-11-16T10:00:00Z,true\n"
                        f"b,{'x' * 3000},true\nc,2026-11-16T10:00:00Z,true\n", encoding="utf-8")
    outcome = run(capsys, tmp_path, csv_path)
    assert [(r["line"], r["error"]) for r in outcome.rejections] == [(3, "line is longer than 1000 characters")]
    assert [d["user_id"] for d in outcome.decisions] == ["a", "c"]


@pytest.mark.parametrize(("column", "cell"), [
    ("sessions", DIGITS),
    ("sessions", "-" + DIGITS),
    ("last_used", DIGITS),
    ("last_used", "+" + DIGITS),
])
def test_a_csv_number_with_too_many_digits_rejects_its_row(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, column: str, cell: str
) -> None:
    path = tmp_path / "u.csv"
    row = {"user_id": "x", "last_used": "2026-11-16T10:00:00Z", "sessions": "3", "push_opted_in": "true", column: cell}
    lines = ["user_id,last_used,sessions,push_opted_in", "a,2026-11-16T10:00:00Z,1,true", ",".join(row.values()),
             "c,2026-11-16T10:00:00Z,2,true"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = run(capsys, tmp_path, path)
    assert [(r["line"], r["error"]) for r in outcome.rejections] == [(3, f"{column}: a number has more than 4300 digits")]
    assert [d["user_id"] for d in outcome.decisions] == ["a", "c"]
    assert outcome.equation[:4] == (3, 2, 0, 1)


@pytest.mark.parametrize("column", ["user_id", "first_name", "unread"])
def test_a_sqlite_text_cell_that_is_not_utf8_rejects_its_row(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, column: str
) -> None:
    path = tmp_path / "u.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (user_id TEXT, last_used TEXT, push_opted_in INTEGER, first_name TEXT, unread TEXT)")
    for i in range(5):
        conn.execute("INSERT INTO users VALUES (?, '2026-11-16T10:00:00Z', 1, 'Ana', 'x')", (f"u{i}",))
    conn.execute(f"UPDATE users SET {column} = CAST(x'636166e9' AS TEXT) WHERE rowid = 3")  # 'caf' + Latin-1 é
    conn.commit()
    conn.close()
    outcome = run(capsys, tmp_path, path)
    assert [(r["line"], r["error"]) for r in outcome.rejections] == [(3, f"{column}: the text is not valid UTF-8")]
    assert [d["user_id"] for d in outcome.decisions] == ["u0", "u1", "u3", "u4"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), MemoryError(), RecursionError("deep"), ValueError("odd"),
                                   KeyError("k"), ZeroDivisionError("x"), OverflowError("far"), UnicodeEncodeError(
                                       "utf-8", "\ud800", 0, 1, "surrogates not allowed")])
def test_an_unexpected_error_while_deciding_one_user_rejects_that_user(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    real = lapse_dsl.batch.history_of

    def failing(user: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        if user["user_id"] == "x":
            raise error
        return real(user)

    monkeypatch.setattr(lapse_dsl.batch, "history_of", failing)
    outcome = run(capsys, tmp_path, jsonl(tmp_path / "u.jsonl", *around(json.dumps(good("x")))))
    assert outcome.code == 0
    assert [(r["line"], r["user_id"]) for r in outcome.rejections] == [(3, "x")]
    assert outcome.rejections[0]["error"].startswith(f"this user cannot be evaluated: {type(error).__name__}")
    assert [d["user_id"] for d in outcome.decisions] == ["g1", "g2", "g4", "g5"]
    assert outcome.equation == (5, 4, 0, 1, "incomplete: 1 record rejected")


def test_keyboard_interrupt_still_stops_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(user: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        raise KeyboardInterrupt

    monkeypatch.setattr(lapse_dsl.batch, "history_of", interrupted)
    code = main(["run", BRAZE, "--users", str(jsonl(tmp_path / "u.jsonl", *around("{}"))), "--now", NOW])
    assert code == 130
    assert "accounted for" not in capsys.readouterr().err


def test_an_errors_stream_that_cannot_encode_still_gets_every_line(tmp_path: Path) -> None:
    """The rejection line of a user_id with a lone surrogate, or on an ASCII-only stream, is
    written with JSON escapes instead of failing."""
    path = jsonl(tmp_path / "u.jsonl", json.dumps(good("\ud800")), '{"user_id": "caf\\u00e9", "history": 1}',
                 json.dumps(good("g")))
    errors_path, out_path = tmp_path / "errors.txt", tmp_path / "out.jsonl"
    plugin = Plugin.from_path(BRAZE)
    source = open_source(str(path), plugin.rules.schema)
    with open(errors_path, "w", encoding="ascii") as errors, open(out_path, "w", encoding="utf-8") as out:
        summary = lapse_dsl.batch.run_batch(plugin, source, dt.datetime(2026, 11, 30, tzinfo=dt.UTC), since=None,
                                            due_only=False, out=out, fmt="jsonl", errors=errors, progress=False)
    rejections = [json.loads(line) for line in errors_path.read_text(encoding="ascii").splitlines()]
    assert [r["user_id"] for r in rejections] == ["\ud800", "café"]
    assert (summary.read, summary.with_decision, summary.rejected) == (3, 1, 2)


# Plugin.evaluate_many ----------------------------------------------------------------------------------


def test_evaluate_many_turns_any_exception_into_that_users_error() -> None:
    plugin = Plugin.from_path(BRAZE)
    errors: dict[str, BaseException] = {"r": RuntimeError("boom"), "m": MemoryError(), "d": RecursionError("deep")}

    def history(user: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        if user["user_id"] in errors:
            raise errors[user["user_id"]]
        return []

    users = [good("a"), good("r"), good("m"), good("b"), good("d"), good("c")]
    results = list(plugin.evaluate_many(users, dt.datetime(2026, 11, 30, tzinfo=dt.UTC), history=history))
    assert [r.user_id for r in results] == ["a", "r", "m", "b", "d", "c"]
    for result in results:
        if result.user_id in errors:
            assert isinstance(result.error, LapseError) and result.decisions == ()
            assert result.error.__cause__ is errors[result.user_id]
        else:
            assert result.error is None and len(result.decisions) == 1

    def interrupted(user: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(plugin.evaluate_many([good("a")], dt.datetime(2026, 11, 30, tzinfo=dt.UTC), history=interrupted))


# CSV: an unclosed quote costs its row ---------------------------------------------------------------


HEADER = "user_id,platform,last_used,push_opted_in"


def csv_rows(n: int, start: int = 0) -> list[str]:
    return [f"u{i},ios,2026-11-16T10:00:00Z,true" for i in range(start, start + n)]


def read_csv(tmp_path: Path, lines: list[str], end: str = "\n") -> list[tuple[int, Any]]:
    path = tmp_path / "u.csv"
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return list(open_source(str(path), {"push_opted_in": "boolean"}))


# (lines, the line where the quote opens, the error's detail)
SHAPES: dict[str, tuple[list[str], int, str]] = {
    "first column": ([HEADER, *csv_rows(3), '"u3,ios,2026-11-16T10:00:00Z,true', *csv_rows(500, 4)], 5,
                     "within 100 lines"),
    "middle column": ([HEADER, *csv_rows(3), 'u3,"ios,2026-11-16T10:00:00Z,true', *csv_rows(500, 4)], 5,
                      "within 100 lines"),
    "last column": ([HEADER, *csv_rows(3), 'u3,ios,2026-11-16T10:00:00Z,"true', *csv_rows(500, 4)], 5,
                    "within 100 lines"),
    "before the end of the file": ([HEADER, *csv_rows(3), 'u3,ios,"2026-11-16T10:00:00Z,true', *csv_rows(20, 4)], 5,
                                   "before the end of the file"),
    "on the last line": ([HEADER, *csv_rows(3), 'u3,ios,2026-11-16T10:00:00Z,"true'], 5, "before the end of the file"),
    "closed by a later quoted field": ([HEADER, *csv_rows(3), 'u3,"ios,2026-11-16T10:00:00Z,true', *csv_rows(30, 4),
                                        'u34,"ios",2026-11-16T10:00:00Z,true', *csv_rows(10, 35)], 5,
                                       "',' expected after '\"'"),
    "closed by a quote before a comma": ([HEADER, *csv_rows(3), 'u3,ios,2026-11-16T10:00:00Z,"true', *csv_rows(30, 4),
                                          'u34,5\'11",2026-11-16T10:00:00Z,true', *csv_rows(10, 35)], 5,
                                         "leaving a row of"),
    "after a legitimate multi-line field": ([HEADER, *csv_rows(3), 'u3,"i\nos",2026-11-16T10:00:00Z,"true',
                                             *csv_rows(200, 4)], 6, "within 100 lines"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("final", [True, False])
def test_an_unclosed_quote_costs_its_row_only(tmp_path: Path, shape: str, newline: str, final: bool) -> None:
    lines, opening, detail = SHAPES[shape]
    path = tmp_path / "u.csv"
    path.write_bytes((newline.join(lines) + (newline if final else "")).replace("\n", newline).replace(
        "\r\r\n", "\r\n").encode("utf-8"))
    got = list(open_source(str(path), {"push_opted_in": "boolean"}))
    errors = [(line, e) for line, e in got if isinstance(e, str)]
    assert len(errors) == 1, errors
    error = errors[0][1]
    assert error.startswith(f"unclosed quote on line {opening}: its field is not closed"), error
    assert detail in error
    ids = [text.split(",")[0] for text in "\n".join(lines[1:]).split("\n") if text.startswith("u")]
    records = [r for _, r in got if not isinstance(r, str)]
    assert [r["user_id"] for r in records] == [u for u in ids if u != "u3"]
    assert {r["platform"] for r in records} <= {"ios", "5'11\""}


def test_an_unclosed_quote_through_lapse_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("\n".join([HEADER, *csv_rows(3), 'u3,"ios,2026-11-16T10:00:00Z,true', *csv_rows(3000, 4)]) + "\n",
                    encoding="utf-8")
    outcome = run(capsys, tmp_path, path)
    assert [r["line"] for r in outcome.rejections] == [5]
    assert outcome.rejections[0]["error"].startswith("unclosed quote on line 5")
    assert len(outcome.decisions) == 3003
    assert outcome.equation == (3004, 3003, 0, 1, "incomplete: 1 record rejected")


def test_several_unclosed_quotes_each_cost_one_row(tmp_path: Path) -> None:
    lines = [HEADER, *csv_rows(500)]
    for i in (3, 50, 51, 300, 499):
        lines[i + 1] = lines[i + 1].replace(",ios", ',"ios')
    got = read_csv(tmp_path, lines)
    assert [line for line, e in got if isinstance(e, str)] == [5, 52, 53, 302, 501]
    assert len([r for _, r in got if not isinstance(r, str)]) == 495


@pytest.mark.parametrize("span", [2, 10, MAX_FIELD_LINES - 1])
def test_legitimate_multi_line_fields_still_work(tmp_path: Path, span: int) -> None:
    note = "\n".join(f"line {i}, with a comma and a \"\"quote\"\"" for i in range(span))
    lines = [HEADER + ",note", *(row + ",x" for row in csv_rows(2)), f'u2,ios,2026-11-16T10:00:00Z,true,"{note}"',
             *(row + ',"a\nb"' for row in csv_rows(2, 3))]
    got = read_csv(tmp_path, lines)
    assert all(not isinstance(r, str) for _, r in got), got
    assert [line for line, _ in got] == [2, 3, 4, 4 + span, 4 + span + 2]
    assert got[2][1]["note"] == note.replace('""', '"')
    assert got[3][1]["note"] == "a\nb"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(st.sampled_from(["ios", "web", "a b", "", "x1", "multi\nline", "with, comma"]),
                           min_size=3, max_size=3), min_size=1, max_size=150),
    stray=st.integers(min_value=0), column=st.integers(min_value=0, max_value=3),
)
def test_property_one_stray_quote_costs_exactly_its_row(
    tmp_path: Path, rows: list[list[str]], stray: int, column: int
) -> None:
    """Rows with quoted fields (some over several lines) and one row whose column starts with a
    stray quote: that row is the only one lost, and every other row reads as written."""
    bad = stray % len(rows)
    lines = ["user_id,a,b,c"]
    for i, cells in enumerate(rows):
        written = [f"u{i}"] + [f'"{c}"' if ("\n" in c or "," in c) and i != bad else c.replace("\n", " ").replace(",", " ")
                               for c in cells]
        if i == bad:
            written[column] = '"' + written[column]
        lines.append(",".join(written))
    got = read_csv(tmp_path, lines)
    errors = [e for _, e in got if isinstance(e, str)]
    records = [r for _, r in got if not isinstance(r, str)]
    assert len(errors) == 1, got
    assert [r["user_id"] for r in records] == [f"u{i}" for i in range(len(rows)) if i != bad]
    for record in records:
        cells = rows[int(record["user_id"][1:])]
        assert [record.get(k, "") for k in "abc"] == cells


# attributes no record has; campaigns with no decision --------------------------------------------


TWO_CAMPAIGNS = """\
default timezone "UTC"
attribute custom.tier: string

campaign "Lapsed" {
    segment last_used between 2w and 3w and push_opted_in
    send push weekly thu 10:00 local
}

campaign "Gold" {
    segment custom.tier = "gold" and platform = "ios"
    send email weekly mon 09:00 local
}
"""

# records as CSV text -> the attributes the warnings must name, each with its hint (or None)
ABSENT: dict[str, tuple[str, list[tuple[str, str | None]]]] = {
    "misspelt header": ("user_id,last_seen,push_opted_in,custom.tier,platform\na,2026-11-16T10:00:00Z,true,gold,ios\n",
                        [("last_used", "last_seen")]),
    "two missing": ("user_id,last_used,push_opted_in,custom.teir\na,2026-11-16T10:00:00Z,true,gold\n",
                    [("custom.tier", "custom.teir"), ("platform", None)]),
    "a column with no value": ("user_id,last_used,push_opted_in,custom.tier,platform\na,2026-11-16T10:00:00Z,true,,ios\n"
                               "b,2026-11-16T10:00:00Z,true,,web\n", [("custom.tier", None)]),  # empty cells: no key
    "nothing missing": ("user_id,last_used,push_opted_in,custom.tier,platform\na,2026-11-16T10:00:00Z,true,,ios\n"
                        "b,,,gold,\n", []),
}


def expected_warnings(missing: list[tuple[str, str | None]]) -> list[str]:
    """The warnings; a hint "" says the attribute's column is there but always empty."""
    hints = {None: "", "": " (its column is always empty)"}
    return [f"warning: no record read has {path}, so every condition on it was unknown"
            + hints.get(close, f" (closest column: {close})") for path, close in missing]


@pytest.mark.parametrize("case", list(ABSENT))
def test_run_and_plan_warn_about_attributes_no_record_has(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    text, missing = ABSENT[case]
    rules = tmp_path / "two.lapse"
    rules.write_text(TWO_CAMPAIGNS, encoding="utf-8")
    users = tmp_path / "u.csv"
    users.write_text(text, encoding="utf-8")
    outcome = run(capsys, tmp_path, users, rules=str(rules))
    assert [line for line in outcome.err.splitlines() if line.startswith("warning:")] == expected_warnings(missing)
    assert main(["plan", str(rules), "--users", str(users), "--now", NOW]) == 0
    plan = capsys.readouterr().out.splitlines()
    assert [line for line in plan if line.startswith("warning:")] == expected_warnings(missing)
    assert plan[1 + len(missing)] == ""  # the warnings follow the header line


def test_json_records_and_nested_names_count_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = tmp_path / "two.lapse"
    rules.write_text(TWO_CAMPAIGNS, encoding="utf-8")
    users = jsonl(tmp_path / "u.jsonl", json.dumps({"user_id": "a", "custom": {"teir": "gold"}, "platform": None}),
                  json.dumps({"user_id": "b", "custom": "flat", "last_used": "2026-11-16T10:00:00Z",
                              "push_opted_in": True}))
    outcome = run(capsys, tmp_path, users, rules=str(rules))
    assert [line for line in outcome.err.splitlines() if line.startswith("warning:")] == expected_warnings(
        [("custom.tier", "custom.teir"), ("platform", "")])


def test_no_warning_when_no_record_was_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outcome = run(capsys, tmp_path, jsonl(tmp_path / "u.jsonl", "not json"))
    assert "warning:" not in outcome.err


def test_campaigns_without_decisions_are_listed_with_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = tmp_path / "two.lapse"
    rules.write_text(TWO_CAMPAIGNS, encoding="utf-8")
    users = jsonl(tmp_path / "u.jsonl", json.dumps(good("a")))
    outcome = run(capsys, tmp_path, users, rules=str(rules))
    table = {line.split("  ")[0]: line.split() for line in outcome.err.splitlines() if line.startswith(("Gold", "Lapsed"))}
    assert table["Gold"][-4:] == ["email", "0", "0", "0"]
    assert table["Lapsed"][-4:] == ["push", "1", "0", "0"]
    assert main(["plan", str(rules), "--users", str(users), "--now", NOW, "--weeks", "1"]) == 0
    plan = capsys.readouterr().out.splitlines()
    table = plan.index("") + 2  # after the table's heading: one row per campaign, a column per week
    assert plan[table].split() == ["campaign", "2026-11-30", "total", "held", "out"]
    assert plan[table + 1].split() == ["Gold", "0", "0", "0"]
    assert plan[table + 2].split() == ["Lapsed", "1", "1", "0"]


# lapse explain: the same class, one record on the command line -------------------------------------


@pytest.mark.parametrize(("user", "message"), [
    ('{"user_id": "a", "sessions": ' + DIGITS + "}", "--user is not valid JSON: a number has more than 4300 digits"),
    ('{"user_id": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}", "--user is not valid JSON: nested too deeply"),
    ('{"user_id": "a", "x": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}", "--user is not valid JSON: nested too deeply"),
])
def test_explain_with_a_hostile_user_is_a_usage_error(capsys: pytest.CaptureFixture[str], user: str, message: str) -> None:
    code = main(["explain", BRAZE, "--now", NOW, "--user", user])
    captured = capsys.readouterr()
    assert code == 2 and captured.err == f"lapse: error: {message}\n" and captured.out == ""


def test_explain_survives_an_unexpected_error_and_a_lone_surrogate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = json.dumps(good("\ud800"))
    assert main(["explain", BRAZE, "--now", NOW, "--user", user]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("user \\ud800 at 2026-11-30T00:00:00Z\n")

    def boom(user: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        raise RuntimeError("boom")

    monkeypatch.setattr("lapse_dsl.cli.history_of", boom)
    assert main(["explain", BRAZE, "--now", NOW, "--user", json.dumps(good("a"))]) == 1
    captured = capsys.readouterr()
    assert captured.err == "lapse: error: the user record cannot be evaluated: RuntimeError: boom\n"
    assert "Traceback" not in captured.out + captured.err
