"""``lapse plan`` (sends per campaign and week, per local and UTC hour) and ``lapse explain`` (why a
user is or is not messaged), driven through the command line."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from test_plan_people import parse_plan  # the text layout, read back as documented

from lapse_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
BRAZE = str(ROOT / "rules" / "braze_lapsing.lapse")
USERS = str(ROOT / "examples" / "users.jsonl")
NOW = "2026-11-30T00:00:00Z"
REELIGIBLE = """\
default timezone "UTC"

campaign "Weekly" {
    segment "Everyone opted in": push_opted_in
    send push weekly thu 10:00 local
    message title "Hi"
    reeligible after 1w
}

campaign "Draft" {
    segment "Everyone opted in": push_opted_in
    send push daily 09:00 local
    message title "Hi"
    status draft
}

campaign "Paused" {
    segment "Everyone opted in": push_opted_in
    send push daily 08:00 local
    message title "Hi"
    status paused
}
"""


def lapse(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def write_users(path: Path, *users: dict[str, Any] | str) -> Path:
    path.write_text("".join((u if isinstance(u, str) else json.dumps(u)) + "\n" for u in users), encoding="utf-8")
    return path


# lapse plan ----------------------------------------------------------------------------------


def test_plan_totals_equal_the_decisions_of_a_campaign_without_reeligibility(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = lapse(capsys, "run", BRAZE, "--users", USERS, "--now", NOW)
    assert code == 0
    decisions = [json.loads(line) for line in out.splitlines()]
    rejections = [line for line in err.splitlines() if line.startswith("{")]
    assert len(decisions) > 100 and len(rejections) == 4

    code, out, err = lapse(capsys, "plan", BRAZE, "--users", USERS, "--now", NOW)
    assert code == 0 and err.splitlines() == rejections  # reported as lapse run reports them
    table = parse_plan(out)
    weeks, sends, held_out, recipients, read, rejected = table.header
    assert (weeks, held_out, read, rejected) == (4, 0, 4000, 4)
    assert recipients == len({d["user_id"] for d in decisions})  # users with a send, not users read
    assert sends == len(decisions)
    assert list(table.weeks) == ["2026-11-30", "2026-12-07", "2026-12-14", "2026-12-21"]
    assert sum(row[-1] for row in table.weeks.values()) == len(decisions)
    assert all(row[0] == row[-1] for row in table.weeks.values())  # one campaign: its column is the total
    assert sum(table.hours.values()) == len(decisions)
    # the same sends, bucketed independently from `lapse run`'s output
    start = dt.datetime.fromisoformat(NOW)
    by_week = [0] * 4
    by_hour = [0] * 24
    for d in decisions:
        at = dt.datetime.fromisoformat(d["send_at"])
        by_week[(at - start) // dt.timedelta(weeks=1)] += 1
        by_hour[at.hour] += 1
    assert [row[-1] for row in table.weeks.values()] == by_week
    assert [table.hours[h] for h in range(24)] == by_hour


def test_plan_projects_reeligible_and_draft_campaigns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "weekly.lapse"
    rules.write_text(REELIGIBLE, encoding="utf-8")
    users = write_users(tmp_path / "u.jsonl", {"user_id": "a", "push_opted_in": True},
                        {"user_id": "b", "push_opted_in": False}, {"user_id": "c", "push_opted_in": "yes"}, "[]")
    code, out, _ = lapse(capsys, "plan", str(rules), "--users", str(users), "--now", NOW, "--weeks", "3")
    assert code == 0
    table = parse_plan(out)
    assert table.header == (3, 4, 0, 1, 4, 2)  # 3 weekly sends + 1 draft send to 1 user; 4 records, 2 rejected
    assert table.campaigns == ["Draft", "Paused", "Weekly"]  # a paused campaign never sends: listed with 0
    assert table.weeks == {"2026-11-30": [1, 0, 1, 2], "2026-12-07": [0, 0, 1, 1], "2026-12-14": [0, 0, 1, 1]}
    assert table.hours[10] == 3 and table.hours[9] == 1 and sum(table.hours.values()) == 4


def test_plan_from_csv_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "weekly.lapse"
    rules.write_text(REELIGIBLE, encoding="utf-8")
    csv_users = tmp_path / "u.csv"
    csv_users.write_text("user_id,push_opted_in\na,true\nb,false\n", encoding="utf-8")
    code, out, _ = lapse(capsys, "plan", str(rules), "--users", str(csv_users), "--now", NOW, "--weeks", "2")
    assert code == 0 and parse_plan(out).header == (2, 3, 0, 1, 2, 0)
    data = b'{"user_id": "a", "push_opted_in": true}\n{"user_id": "b", "push_opted_in": true}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code, out, _ = lapse(capsys, "plan", str(rules), "--users", "-", "--now", NOW, "--weeks", "1")
    assert code == 0 and parse_plan(out).header == (1, 4, 0, 2, 2, 0)


def test_plan_rejects_a_bad_history_instead_of_crashing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = write_users(tmp_path / "u.jsonl", {"user_id": "a", "push_opted_in": True, "history": 5},
                        {"user_id": "b", "push_opted_in": True, "history": "sent"})
    code, out, _ = lapse(capsys, "plan", BRAZE, "--users", str(users), "--now", NOW)
    assert code == 0 and parse_plan(out).header == (4, 0, 0, 0, 2, 2)


@pytest.mark.parametrize("weeks", ["0", "-1", "two"])
def test_plan_weeks_must_be_positive(capsys: pytest.CaptureFixture[str], weeks: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", BRAZE, "--users", USERS, "--weeks", weeks])
    assert exit_info.value.code == 2
    assert "is not a whole number of at least 1" in capsys.readouterr().err


def test_plan_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = lapse(capsys, "plan", BRAZE, "--users", str(tmp_path / "missing.csv"))
    assert code == 2 and out == "" and "missing.csv: no such users file" in err
    code, out, err = lapse(capsys, "plan", str(tmp_path / "none.lapse"), "--users", USERS)
    assert code == 2 and "none.lapse: no such file or folder" in err


# lapse explain -------------------------------------------------------------------------------


def test_explain_prints_a_readable_account(capsys: pytest.CaptureFixture[str]) -> None:
    user = {"user_id": "a", "last_used": "2026-11-16T10:00:00Z", "push_opted_in": True, "timezone": "Europe/Paris"}
    code, out, err = lapse(capsys, "explain", BRAZE, "--user", json.dumps(user), "--now", NOW)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "user a at 2026-11-30T00:00:00Z"
    assert lines[1] == ("Lapsed users - 2 weeks [active] in Europe/Paris: sends 2026-12-03T17:45:00+01:00 "
                        "(2026-12-03T16:45:00Z)")
    assert "segment is true" in lines[2]
    assert any(re.match(r"\s+true\s+last_used between 2w and 3w\s+\(last_used is 17d", line) for line in lines)
    assert any(re.match(r"\s+true\s+push_opted_in\s+\(push_opted_in is true\)", line) for line in lines)


def test_explain_says_why_not(capsys: pytest.CaptureFixture[str]) -> None:
    user = {"user_id": "b", "last_used": "2026-11-16T10:00:00Z", "push_opted_in": False}
    code, out, _ = lapse(capsys, "explain", BRAZE, "--user", json.dumps(user), "--now", NOW)
    assert code == 0
    assert "Lapsed users - 2 weeks [active] in America/New_York: not in segment" in out
    assert re.search(r"\s+false\s+push_opted_in\s+\(push_opted_in is false\)", out)
    assert "warning: no timezone attribute; delivered in America/New_York" in out


def test_explain_accepts_the_zone_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "nozone.lapse"
    rules.write_text("segment last_used between 2w and 3w; send push weekly thu 17:45 local\n", encoding="utf-8")
    user = json.dumps({"user_id": "a", "last_used": "2026-11-16 10:00:00"})
    code, out, _ = lapse(capsys, "explain", str(rules), "--user", user, "--now", NOW,
                         "--default-timezone", "Asia/Tokyo", "--naive-timezone", "Asia/Tokyo")
    assert code == 0
    assert "[active] in Asia/Tokyo: sends 2026-12-03T17:45:00+09:00 (2026-12-03T08:45:00Z)" in out
    code, _, err = lapse(capsys, "explain", str(rules), "--user", user, "--default-timezone", "Mars/Base")
    assert code == 2 and "Mars/Base" in err


@pytest.mark.parametrize(
    ("user", "code", "message"),
    [
        ("{not json", 2, "--user is not valid JSON"),
        ("[1, 2]", 2, "--user must be a JSON object"),
        ('{"last_used": "2026-11-16T10:00:00Z"}', 1, "no user_id"),
        ('{"user_id": "a", "last_used": "2026-11-16 10:00"}', 1, "has no UTC offset"),
    ],
)
def test_explain_errors(capsys: pytest.CaptureFixture[str], user: str, code: int, message: str) -> None:
    got, out, err = lapse(capsys, "explain", BRAZE, "--user", user, "--now", NOW)
    assert got == code and out == "" and message in err
