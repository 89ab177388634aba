"""``lapse run``: a rule set over a user file, out comes the send plan, with nothing lost.

Every input record ends in exactly one place (a user with decisions, a user without, or one error
line), the summary's equation says so, and no input ever produces a traceback.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from lapse_dsl.batch import DECISION_FIELDS
from lapse_dsl.cli import main
from lapse_dsl.evaluate import Decision
from lapse_dsl.plugin import Plugin, Result

ROOT = Path(__file__).resolve().parent.parent
BRAZE = str(ROOT / "rules" / "braze_lapsing.lapse")
CAMPAIGN = "Lapsed users - 2 weeks"
NOW = "2026-11-30T00:00:00Z"  # a Monday; the campaign sends on Thursdays at 17:45 local
SUMMARY = re.compile(r"accounted for: (\d+) read = (\d+) with \+ (\d+) without \+ (\d+) rejected \(([^)]+)\)")


def verdict(rejected: int) -> str:
    """The summary's last word: ok only when no record was rejected."""
    return "ok" if rejected == 0 else f"incomplete: {rejected} record{'' if rejected == 1 else 's'} rejected"



@attrs.frozen
class Run:
    code: int
    out: str
    err: str

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Rejections written to stderr (the default --errors)."""
        return [json.loads(line) for line in self.err.splitlines() if line.startswith("{")]

    @property
    def summary(self) -> tuple[int, int, int, int]:
        assert len(SUMMARY.findall(self.err)) == 1, self.err
        found = SUMMARY.fullmatch(self.err.rstrip().splitlines()[-1])  # the summary ends with the equation
        assert found is not None, self.err
        read, with_, without, rejected = (int(found.group(i)) for i in range(1, 5))
        assert found.group(5) == verdict(rejected)
        return read, with_, without, rejected


def lapse(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return Run(code, captured.out, captured.err)


def user(user_id: str, **fields: Any) -> dict[str, Any]:
    """A user who lapsed 2 weeks before NOW: one decision, Thursday 2026-12-03 at 17:45 local."""
    base: dict[str, Any] = {"user_id": user_id, "last_used": "2026-11-16T10:00:00Z", "push_opted_in": True,
                            "timezone": "Europe/Berlin", "first_name": "Ana"}
    base.update(fields)
    return base


def jsonl(path: Path, *records: Mapping[str, Any] | str | bytes) -> Path:
    data = b""
    for r in records:
        if isinstance(r, bytes):
            data += r + b"\n"
        elif isinstance(r, str):
            data += r.encode("utf-8") + b"\n"
        else:
            data += json.dumps(r).encode("utf-8") + b"\n"
    path.write_bytes(data)
    return path


GOOD = [user("g1"), user("g2", push_opted_in=False), None, user("g4", timezone="Asia/Tokyo"), user("g5", push_opted_in=False)]


def with_bad_line(path: Path, bad: str | bytes) -> Path:
    return jsonl(path, *[bad if r is None else r for r in GOOD])


# the main job --------------------------------------------------------------------------------


def test_readme_main_job(capsys: pytest.CaptureFixture[str]) -> None:
    run = lapse(capsys, "run", BRAZE, "--users", str(ROOT / "examples" / "users.jsonl"), "--now", NOW)
    assert run.code == 0
    read, with_, without, rejected = run.summary
    assert rejected == 4
    assert len(run.errors) == 4
    text = (ROOT / "examples" / "users.jsonl").read_text(encoding="utf-8")
    assert read == sum(1 for line in text.splitlines() if line.strip())
    assert read == with_ + without + rejected
    assert with_ > 100
    assert len(run.records) == with_  # one campaign: one decision per user with a decision
    assert len({r["user_id"] for r in run.records}) == with_
    assert {r["campaign"] for r in run.records} == {CAMPAIGN}
    assert f"{CAMPAIGN}  push" in run.err


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("lapse")
    out = tmp_path / "plan.jsonl"
    proc = subprocess.run(
        [str(script), "run", BRAZE, "--users", str(ROOT / "examples" / "users.jsonl"), "--now", NOW,
         "--out", str(out), "--errors", str(tmp_path / "rejected.jsonl")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    found = SUMMARY.search(proc.stderr)
    assert found is not None and found.group(5) == verdict(4)
    assert int(found.group(4)) == 4 == len((tmp_path / "rejected.jsonl").read_text().splitlines())
    assert len(out.read_text(encoding="utf-8").splitlines()) == int(found.group(2))
    missing = subprocess.run([str(script), "run", BRAZE, "--users", str(tmp_path / "nope.jsonl")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and "no such users file" in missing.stderr


# output records ------------------------------------------------------------------------------


def test_output_records_hold_every_decision_field_with_iso_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = jsonl(tmp_path / "u.jsonl", user("a"), user("b", timezone="Asia/Kathmandu"))
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW)
    assert run.code == 0
    fields = [f.name for f in attrs.fields(Decision)]
    assert list(DECISION_FIELDS) == fields
    by_id = {r["user_id"]: r for r in run.records}
    assert set(by_id) == {"a", "b"}
    for record in by_id.values():
        assert list(record) == fields
        send_at = dt.datetime.fromisoformat(record["send_at"])
        local = dt.datetime.fromisoformat(record["local_send_at"])
        assert record["send_at"].endswith("Z") and send_at.utcoffset() == dt.timedelta(0)
        assert local.utcoffset() is not None and local == send_at
        assert local.strftime("%a %H:%M") == "Thu 17:45"
        assert record["campaign"] == CAMPAIGN and record["channel"] == "push"
        assert record["due"] is False and record["held_out"] is False and record["variant"] is None
        assert record["message"] == {"title": "We miss you", "body": "Hi Ana, new levels are waiting"}
        assert isinstance(record["idempotency_key"], str) and record["idempotency_key"]
        assert record["warnings"] == []
    assert by_id["a"]["send_at"] == "2026-12-03T16:45:00Z"
    assert by_id["b"]["local_send_at"] == "2026-12-03T17:45:00+05:45"


def test_format_csv_parses_back_with_every_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = jsonl(tmp_path / "u.jsonl", user("a", first_name='Zoë "Z", Jr.'), user("b", timezone="Mars/Base"),
                 user("c", push_opted_in=False))
    as_json = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW).records
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW, "--format", "csv")
    assert run.code == 0
    assert run.out.splitlines()[0] == ",".join(DECISION_FIELDS)
    reader = csv.DictReader(io.StringIO(run.out))
    assert reader.fieldnames == list(DECISION_FIELDS)
    rows = list(reader)
    assert len(rows) == len(as_json) == 2
    for row, record in zip(rows, as_json, strict=True):
        assert row["campaign"] == record["campaign"] and row["user_id"] == record["user_id"]
        assert row["send_at"] == record["send_at"] and row["local_send_at"] == record["local_send_at"]
        assert row["timezone"] == record["timezone"]
        assert row["due"] == "false" and row["held_out"] == "false" and row["variant"] == ""
        assert json.loads(row["message"]) == record["message"]
        assert row["idempotency_key"] == record["idempotency_key"]
        assert row["warnings"] == "; ".join(record["warnings"])
    assert json.loads(rows[0]["message"])["body"] == 'Hi Zoë "Z", Jr., new levels are waiting'
    assert "Mars/Base" in rows[1]["warnings"]  # the fallback zone is explained


# input formats -------------------------------------------------------------------------------


USERS = [user("a"), user("b", timezone="America/Sao_Paulo", push_opted_in=False), user("c", timezone="Asia/Tokyo")]


def decisions(run: Run) -> list[tuple[str, str, str]]:
    return [(r["user_id"], r["send_at"], r["idempotency_key"]) for r in run.records]


@pytest.fixture
def expected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, str]]:
    run = lapse(capsys, "run", BRAZE, "--users", str(jsonl(tmp_path / "ref.jsonl", *USERS)), "--now", NOW)
    assert run.code == 0 and run.summary == (3, 2, 1, 0)
    assert [d[0] for d in decisions(run)] == ["a", "c"]
    return decisions(run)


def test_ndjson(tmp_path: Path, capsys: pytest.CaptureFixture[str], expected: list[tuple[str, str, str]]) -> None:
    run = lapse(capsys, "run", BRAZE, "--users", str(jsonl(tmp_path / "u.ndjson", *USERS)), "--now", NOW)
    assert (run.code, run.summary, decisions(run)) == (0, (3, 2, 1, 0), expected)


def test_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str], expected: list[tuple[str, str, str]]) -> None:
    path = tmp_path / "u.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, ["user_id", "last_used", "push_opted_in", "timezone", "first_name"])
        writer.writeheader()
        for u in USERS:
            writer.writerow({**u, "push_opted_in": str(u["push_opted_in"]).lower()})
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW)
    assert (run.code, run.summary, decisions(run)) == (0, (3, 2, 1, 0), expected)


def test_csv_epoch_seconds_and_nested_headers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "tier.lapse"
    rules.write_text('attribute custom.tier: string\n'
                     'segment last_used between 2w and 3w and custom.tier = "gold"; send push weekly thu 17:45 local\n')
    last_used = int(dt.datetime(2026, 11, 16, 10, tzinfo=dt.UTC).timestamp())
    path = tmp_path / "u.csv"
    path.write_text(f"user_id,last_used,custom.tier,sessions\na,{last_used},gold,lots\nb,{last_used},,3\n"
                    f"c,{last_used},silver,\n")
    run = lapse(capsys, "run", str(rules), "--users", str(path), "--now", NOW)
    assert run.code == 0 and run.summary == (3, 1, 2, 0)  # 'lots' is not read by the rules: no error
    assert [r["user_id"] for r in run.records] == ["a"]


@pytest.mark.parametrize("table", [None, "exported users"])
def test_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str], expected: list[tuple[str, str, str]],
                table: str | None) -> None:
    path = tmp_path / "u.sqlite3"
    conn = sqlite3.connect(path)
    name = table or "users"
    conn.execute(f'CREATE TABLE "{name}" (user_id TEXT, last_used TEXT, push_opted_in INTEGER, timezone TEXT, '
                 "first_name TEXT)")
    conn.executemany(f'INSERT INTO "{name}" VALUES (?, ?, ?, ?, ?)',
                     [(u["user_id"], u["last_used"], int(u["push_opted_in"]), u["timezone"], u["first_name"])
                      for u in USERS])
    conn.commit()
    conn.close()
    extra = ["--table", table] if table else []
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW, *extra)
    assert (run.code, run.summary, decisions(run)) == (0, (3, 2, 1, 0), expected)
    if table:
        wrong = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW)
        assert wrong.code == 2
        assert "no table 'users' (tables: exported users); choose one with --table" in wrong.err


def stdin_of(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               expected: list[tuple[str, str, str]]) -> None:
    stdin_of(monkeypatch, b"".join(json.dumps(u).encode() + b"\n" for u in USERS) + b"{oops\n")
    run = lapse(capsys, "run", BRAZE, "--users", "-", "--now", NOW)
    assert (run.code, run.summary, decisions(run)) == (0, (4, 2, 1, 1), expected)
    assert [(e["line"], e["user_id"]) for e in run.errors] == [(4, None)]


# bad records ---------------------------------------------------------------------------------


BAD: dict[str, tuple[str | bytes, str | None, str]] = {
    "invalid JSON": ('{"user_id": "x3", "last_used": ', None, "invalid JSON"),
    "non-object": ('["x3"]', None, "must be a JSON object, not an array"),
    "no user_id": ('{"last_used": "2026-11-16T10:00:00Z", "push_opted_in": true}', None, "no user_id"),
    "naive time": ('{"user_id": "x3", "last_used": "2026-11-16 10:00:00", "push_opted_in": true}', "x3",
                   "last_used: '2026-11-16 10:00:00' has no UTC offset"),
    "unparseable time": ('{"user_id": "x3", "last_used": "last tuesday", "push_opted_in": true}', "x3",
                         "last_used: 'last tuesday' is not an ISO-8601 time"),
    "wrong type": ('{"user_id": "x3", "last_used": "2026-11-16T10:00:00Z", "push_opted_in": "yes"}', "x3",
                   "push_opted_in: expected a boolean, got str"),
    "wrong time type": ('{"user_id": "x3", "last_used": true, "push_opted_in": true}', "x3",
                        "last_used: expected a time"),
    "time out of range": ('{"user_id": "x3", "last_used": "0001-01-01T00:00:00+14:00", "push_opted_in": true}', "x3",
                          "last_used: '0001-01-01T00:00:00+14:00' is out of the range"),
    "epoch out of range": ('{"user_id": "x3", "last_used": 99999999999999999999999}', "x3",
                           "last_used: epoch seconds 99999999999999999999999 are out of range"),
    "history not a list": ('{"user_id": "x3", "last_used": "2026-11-16T10:00:00Z", "history": 5}', "x3",
                           "history must be a list"),
    "bad history entry": ('{"user_id": "x3", "history": [{"campaign": "c", "channel": "push", "at": "soon"}]}',
                          "x3", "history[0].at: 'soon' is not an ISO-8601 time"),
    "non-UTF-8": (b'{"user_id": "x\xe93"}', None, "not valid UTF-8"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_record_is_one_error_line_and_the_rest_continue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    line, user_id, message = BAD[kind]
    run = lapse(capsys, "run", BRAZE, "--users", str(with_bad_line(tmp_path / "u.jsonl", line)), "--now", NOW)
    assert run.code == 0
    assert len(run.errors) == 1
    error = run.errors[0]
    assert list(error) == ["line", "user_id", "error"]
    assert error["line"] == 3
    assert error["user_id"] == user_id
    assert message in error["error"]
    assert run.summary == (5, 2, 2, 1)
    assert [r["user_id"] for r in run.records] == ["g1", "g4"]  # in input order


def test_bad_csv_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(
        b"user_id,last_used,push_opted_in\n"
        b"a,2026-11-16T10:00:00Z,true\n"
        b"b,2026-11-16T10:00:00Z,true,surplus\n"  # wrong number of cells
        b"c,2026-11-16T10:00:00Z,yes\n"  # not a boolean
        b"\n"
        b"caf\xe9,2026-11-16T10:00:00Z,true\n"  # not UTF-8
        b"e,2026-11-16 10:00,true\n"  # naive time
        b",2026-11-16T10:00:00Z,true\n"  # no user_id
        b"h,2026-11-16T10:00:00Z,false\n"
    )
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW)
    assert run.code == 0
    got = [(e["line"], e["user_id"]) for e in run.errors]
    assert got == [(3, None), (4, "c"), (6, None), (7, "e"), (8, None)]
    assert "row has 4 cells, the header has 3" in run.errors[0]["error"]
    assert "push_opted_in" in run.errors[1]["error"]
    assert run.summary == (7, 1, 1, 5)
    assert [r["user_id"] for r in run.records] == ["a"]


def test_only_attributes_the_rules_read_are_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = jsonl(tmp_path / "u.jsonl", user("a", sessions="many", country=5, email_subscribed="yes"))
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW)
    assert run.code == 0 and run.summary == (1, 1, 0, 0) and run.errors == []


def test_history_is_the_users_send_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sent = {"campaign": CAMPAIGN, "channel": "push", "at": "2026-10-01T16:45:00Z"}
    other = {"campaign": "Another campaign", "channel": "push", "at": "2026-10-01T16:45:00Z"}
    path = jsonl(tmp_path / "u.jsonl", user("a", history=[sent]), user("b", history=[other]), user("c", history=[]))
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW)
    assert run.code == 0 and run.summary == (3, 2, 1, 0)
    assert sorted(r["user_id"] for r in run.records) == ["b", "c"]


def test_mixed_file_accounts_for_every_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records: list[Mapping[str, Any] | str | bytes] = []
    expected_rejections: list[tuple[int, str | None]] = []
    kinds = list(BAD)
    for i in range(60):
        if i % 10 == 3:
            line, user_id, _ = BAD[kinds[i // 10]]
            records.append(line)
            expected_rejections.append((len(records), user_id))
        elif i % 4 == 0:
            records.append(user(f"w{i}", push_opted_in=False))
        else:
            records.append(user(f"d{i}", timezone=["Asia/Tokyo", "America/Denver", "Pacific/Auckland"][i % 3]))
        if i % 7 == 0:
            records.append("")  # blank lines are not records, but they do count as input lines
    path = jsonl(tmp_path / "u.jsonl", *records)
    errors = tmp_path / "errors.jsonl"
    out = tmp_path / "out.jsonl"
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW, "--out", str(out), "--errors", str(errors))
    assert run.code == 0
    read, with_, without, rejected = run.summary
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    rejections = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert read == 60 == with_ + without + rejected
    assert rejected == len(rejections) == 6
    assert [(r["line"], r["user_id"]) for r in rejections] == expected_rejections
    assert with_ == len(written) == len({r["user_id"] for r in written}) == 39
    assert {r["user_id"][0] for r in written} == {"d"}
    assert without == 15
    assert f"users read          {read:>9}" in run.err
    assert f"  rejected          {rejected:>9}" in run.err


def test_run_uses_plugin_evaluate_many(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = Plugin.evaluate_many

    def spy(self: Plugin, users: Any, now: dt.datetime, **kwargs: Any) -> Iterator[Result]:
        calls.append(1)
        yield from original(self, users, now, **kwargs)

    monkeypatch.setattr(Plugin, "evaluate_many", spy)
    run = lapse(capsys, "run", BRAZE, "--users", str(jsonl(tmp_path / "u.jsonl", *USERS)), "--now", NOW)
    assert run.code == 0 and len(run.records) == 2 and calls == [1]


# options -------------------------------------------------------------------------------------


def test_due_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = "2026-12-03T22:45:00Z"  # Thursday 17:45 in New York
    path = jsonl(tmp_path / "u.jsonl", user("ny", timezone="America/New_York"),
                 user("tokyo", timezone="Asia/Tokyo", last_used="2026-11-22T10:00:00Z"))
    everything = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", now)
    assert sorted((r["user_id"], r["due"]) for r in everything.records) == [("ny", True), ("tokyo", False)]
    due = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", now, "--due-only")
    assert due.code == 0
    assert [(r["user_id"], r["due"], r["send_at"]) for r in due.records] == [("ny", True, now)]
    assert due.summary == (2, 2, 0, 0)  # the summary still counts every decision
    assert "due now 1" in due.err


def test_since_catches_up_a_missed_occurrence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = "2026-12-03T23:00:00Z"  # 15 minutes after Thursday 17:45 in New York
    path = jsonl(tmp_path / "u.jsonl", user("ny", timezone="America/New_York"))
    late = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", now)
    assert late.records == [] and late.summary == (1, 0, 1, 0)  # next Thursday it has lapsed too long
    caught = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", now, "--since", "2026-12-03T22:30:00Z")
    assert [(r["send_at"], r["due"]) for r in caught.records] == [("2026-12-03T22:45:00Z", True)]
    after = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", now, "--since", "2026-12-03T22:50:00Z")
    assert after.records == []


def test_out_and_errors_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = with_bad_line(tmp_path / "u.jsonl", "not json")
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--now", NOW, "--out", str(out), "--errors", str(errors))
    assert run.code == 0 and run.out == ""
    assert not any(line.startswith("{") for line in run.err.splitlines())
    assert [json.loads(line)["user_id"] for line in out.read_text().splitlines()] == ["g1", "g4"]
    assert [json.loads(line)["line"] for line in errors.read_text().splitlines()] == [3]
    assert run.summary == (5, 2, 2, 1)
    assert "\r" not in run.err  # no progress bar when stderr is not a terminal


def test_out_into_a_missing_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = jsonl(tmp_path / "u.jsonl", *USERS)
    run = lapse(capsys, "run", BRAZE, "--users", str(path), "--out", str(tmp_path / "no" / "out.jsonl"))
    assert run.code == 2 and "cannot write" in run.err


# exit codes ----------------------------------------------------------------------------------


def test_exit_0_with_rejections_and_3_under_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = with_bad_line(tmp_path / "bad.jsonl", "{}")
    assert lapse(capsys, "run", BRAZE, "--users", str(bad), "--now", NOW).code == 0
    strict = lapse(capsys, "run", BRAZE, "--users", str(bad), "--now", NOW, "--strict")
    assert strict.code == 3 and len(strict.records) == 2 and strict.summary == (5, 2, 2, 1)
    clean = jsonl(tmp_path / "clean.jsonl", *USERS)
    assert lapse(capsys, "run", BRAZE, "--users", str(clean), "--now", NOW, "--strict").code == 0


def test_exit_1_for_rule_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = str(jsonl(tmp_path / "u.jsonl", *USERS))
    broken = tmp_path / "broken.lapse"
    broken.write_text("segment last_used between 2w and 3w; send push weekly thursday at 17:45\n")
    run = lapse(capsys, "run", str(broken), "--users", users, "--now", NOW)
    assert run.code == 1 and "broken.lapse:1:" in run.err and "error" in run.err and run.out == ""
    unchecked = tmp_path / "unchecked.lapse"
    unchecked.write_text("segment last_usd between 2w and 3w; send push weekly thu 17:45 local\n")
    run = lapse(capsys, "run", str(unchecked), "--users", users, "--now", NOW)
    assert run.code == 1 and "last_usd" in run.err
    empty = tmp_path / "empty"
    empty.mkdir()
    run = lapse(capsys, "run", str(empty), "--users", users, "--now", NOW)
    assert run.code == 1 and "no .lapse files" in run.err


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ("users.txt", "unknown users file type '.txt'; use .jsonl, .ndjson, .csv, .parquet, .db, .sqlite, .sqlite3 or -"),
        ("users.parquet", "users.parquet: not a readable Parquet file"),
        ("missing.jsonl", "missing.jsonl: no such users file"),
        ("missing.db", "missing.db: no such users file"),
    ],
)
def test_exit_2_for_bad_users_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      users: str, message: str) -> None:
    (tmp_path / "users.txt").write_text('{"user_id": "a"}\n')
    (tmp_path / "users.parquet").write_text("")
    run = lapse(capsys, "run", BRAZE, "--users", str(tmp_path / users), "--now", NOW)
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("lapse: error: ") and message in run.err
    assert len(run.err.splitlines()) == 1


def test_exit_2_for_a_missing_rules_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = lapse(capsys, "run", str(tmp_path / "nope.lapse"), "--users", str(jsonl(tmp_path / "u.jsonl", *USERS)))
    assert run.code == 2 and "nope.lapse: no such file or folder" in run.err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--now", "yesterday", "'yesterday' is not an ISO-8601 instant"),
        ("--now", "2026-11-30T00:00:00", "has no UTC offset"),
        ("--since", "2026-13-01T00:00:00Z", "is not an ISO-8601 instant"),
        ("--format", "xml", "invalid choice: 'xml'"),
    ],
)
def test_exit_2_for_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              flag: str, value: str, message: str) -> None:
    users = str(jsonl(tmp_path / "u.jsonl", *USERS))
    with pytest.raises(SystemExit) as exit_info:
        main(["run", BRAZE, "--users", users, flag, value])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err


def test_exit_2_for_summary_over_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin_of(monkeypatch, b"".join(json.dumps(u).encode() + b"\n" for u in USERS))
    run = lapse(capsys, "run", BRAZE, "--users", "-", "--now", NOW, "--summary")
    assert run.code == 2 and "--summary" in run.err and run.out == ""


def test_summary_flag_adds_the_plan_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = lapse(capsys, "run", BRAZE, "--users", str(jsonl(tmp_path / "u.jsonl", *USERS)), "--now", NOW, "--summary")
    assert run.code == 0
    assert "send plan from 2026-11-30T00:00:00+00:00 for 4 weeks: 2 sends" in run.err
    assert "sends per campaign and week" in run.err
    assert "sends per hour of the day: local (each user's own clock) and UTC" in run.err
