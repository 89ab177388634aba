"""`lapse segments`: each named segment, where it is defined, the campaigns that use it, and with
`--users` how many users it holds at `--now` on each user's own wall clock. The counts are checked
against the reference interpreter over the same conditions written inline, never hard-coded; every
record read is in, out, unknown or rejected (with its reason on standard error)."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from test_cli import lapse, write

import lapse_dsl

NOW = dt.datetime(2026, 11, 30, 6, 30, tzinfo=dt.UTC)
SHARED = """\
# shared segments: users without a timezone are counted in New York
default timezone "America/New_York"

segment "Lapsed - 2 weeks" = last_used between 2w and 3w and push_opted_in
segment "Lapsed iOS" = "Lapsed - 2 weeks" and platform = "ios"
segment "Gone" = last_used more than 60d ago
"""
MORE = """\
segment "Regulars" = sessions >= 3 or country in ["FR", "US"]
segment "Spare" = last_used more than 60d ago
campaign "Win-back push" {
    segment "Lapsed - 2 weeks" and not "Regulars"
    send push weekly thu 17:45 local
}
campaign "Win-back iOS" {
    segment "Lapsed iOS" and "Regulars"
    send push weekly thu 18:00 local
}
"""
# each segment written inline, with the default timezone of the file that defines it
NEW_YORK = 'default timezone "America/New_York"'
INLINE = {
    "Lapsed - 2 weeks": (NEW_YORK, "last_used between 2w and 3w and push_opted_in"),
    "Lapsed iOS": (NEW_YORK, 'last_used between 2w and 3w and push_opted_in and platform = "ios"'),
    "Gone": (NEW_YORK, "last_used more than 60d ago"),
    "Regulars": ("", 'sessions >= 3 or country in ["FR", "US"]'),
    "Spare": ("", "last_used more than 60d ago"),
}
# --default-timezone: for users of MORE's segments without a timezone. 60 days before NOW on the
# wall clock is 05:30Z in New York (back across the end of summer time), 07:30Z in Sydney (across
# its start) and 06:30Z in UTC: users without a timezone between those tell the zones apart.
DEFAULT_ZONE = "Australia/Sydney"
EDGES = [dt.datetime(2026, 10, 1, hour, tzinfo=dt.UTC) for hour in (5, 6, 7, 8)]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    write(tmp_path / "rules" / "a_shared.lapse", SHARED)
    write(tmp_path / "rules" / "b_more.lapse", MORE)
    return tmp_path / "rules"


def _users(seed: int = 13) -> list[str]:
    """JSON lines: users spread over the ten weeks before NOW in several zones, with missing
    values, and records that cannot be counted."""
    rng = random.Random(seed)
    lines = []
    for i in range(120):
        user: dict[str, Any] = {"user_id": f"u{i}"}
        if rng.random() < 0.9:
            user["last_used"] = (NOW - dt.timedelta(seconds=rng.randrange(70 * 86400))).isoformat()
        for key, values in (("timezone", ["Europe/Paris", "America/New_York", "Pacific/Auckland", "not/a zone"]),
                            ("platform", ["ios", "android"]), ("push_opted_in", [True, False]),
                            ("sessions", [0, 2, 5]), ("country", ["FR", "DE"])):
            if rng.random() < 0.8:
                user[key] = rng.choice(values)
        lines.append(json.dumps(user))
    lines[7] = '{"user_id": "bad time", "last_used": "yesterday"}'
    lines[30] = "not json"
    lines[31] = "[1, 2]"
    lines[64] = '{"last_used": "2026-11-20T00:00:00Z"}'  # no user_id: rejected, as by lapse run
    lines[90] = '{"user_id": "u90", "sessions": "many"}'
    return lines + [json.dumps({"user_id": f"edge{i}", "last_used": t.isoformat()}) for i, t in enumerate(EDGES)]


def _expected(lines: list[str], zones: bool = True) -> tuple[dict[str, dict[str, int]], list[int]]:
    """Per segment the in/out/unknown counts, and the rejected line numbers, from the reference
    interpreter over each segment written inline (with ``zones`` False: as if every user without
    a timezone were in UTC)."""
    inline = {name: lapse_dsl.compile(f"{setting if zones else ''}\nsegment {cond}; send push daily 00:00 local\n",
                                      default_timezone=DEFAULT_ZONE if zones else "UTC").reference()
              for name, (setting, cond) in INLINE.items()}
    counts = {name: {"in": 0, "out": 0, "unknown": 0} for name in INLINE}
    rejected = []
    for number, line in enumerate(lines, start=1):
        try:
            user = json.loads(line)
            if not isinstance(user, dict) or not isinstance(user.get("user_id"), str):
                raise lapse_dsl.UserDataError("not a user")
            answers = {name: rules.in_segment(user, NOW)["<string>:2"] for name, rules in inline.items()}
        except (ValueError, lapse_dsl.UserDataError):
            rejected.append(number)
            continue
        for name, answer in answers.items():
            counts[name][{True: "in", False: "out", None: "unknown"}[answer]] += 1
    return counts, rejected


def test_lists_each_segment_where_it_is_defined_and_who_uses_it(capsys: pytest.CaptureFixture[str], rules: Path) -> None:
    run = lapse(capsys, "segments", str(rules))
    assert run.code == 0
    shared, more = rules / "a_shared.lapse", rules / "b_more.lapse"
    assert run.out.split("\n\n") == [
        f'segment "Lapsed - 2 weeks" = last_used between 2w and 3w and push_opted_in\n  defined at {shared}:4:9\n'
        '  used by "Win-back push", "Win-back iOS" (through "Lapsed iOS")',
        f'segment "Lapsed iOS" = "Lapsed - 2 weeks" and platform = "ios"\n  defined at {shared}:5:9\n'
        '  used by "Win-back iOS"',
        f'segment "Gone" = last_used more than 60d ago\n  defined at {shared}:6:9\n  used by no campaign',
        f'segment "Regulars" = sessions >= 3 or country in ["FR", "US"]\n  defined at {more}:1:9\n'
        '  used by "Win-back push", "Win-back iOS"',
        f'segment "Spare" = last_used more than 60d ago\n  defined at {more}:2:9\n  used by no campaign\n',
    ]


def test_counts_every_user_on_their_own_wall_clock(capsys: pytest.CaptureFixture[str], rules: Path, tmp_path: Path) -> None:
    lines = _users()
    users = write(tmp_path / "users.jsonl", "\n".join(lines) + "\n")
    counts, rejected = _expected(lines)
    assert rejected and all(c["in"] and c["out"] for c in counts.values())  # the input tests something
    assert counts != _expected(lines, zones=False)[0]  # and the zones
    run = lapse(capsys, "segments", str(rules), "--users", str(users), "--now", NOW.isoformat(),
                "--default-timezone", DEFAULT_ZONE)
    assert run.code == 0
    found = re.findall(r'^segment "([^"]+)".*?\n  at (\S+): (\d+) in, (\d+) out, (\d+) unknown, (\d+) rejected '
                       r"\((\d+) records read\)$", run.out, flags=re.MULTILINE | re.DOTALL)
    at = NOW.isoformat().replace("+00:00", "Z")
    assert found == [(name, at, str(c["in"]), str(c["out"]), str(c["unknown"]), str(len(rejected)), str(len(lines)))
                     for name, c in counts.items()]
    assert [json.loads(line)["line"] for line in run.err.splitlines()] == rejected


def test_json_output(capsys: pytest.CaptureFixture[str], rules: Path, tmp_path: Path) -> None:
    lines = _users(seed=7)
    users = write(tmp_path / "users.jsonl", "\n".join(lines) + "\n")
    counts, rejected = _expected(lines)
    run = lapse(capsys, "segments", str(rules), "--users", str(users), "--now", NOW.isoformat(),
                "--default-timezone", DEFAULT_ZONE, "--format", "json")
    assert run.code == 0
    out = json.loads(run.out)
    assert (out["at"], out["read"]) == (NOW.isoformat().replace("+00:00", "Z"), len(lines))
    assert [s["name"] for s in out["segments"]] == list(INLINE)
    for listed in out["segments"]:
        assert listed["users"] == {**counts[listed["name"]], "rejected": len(rejected)}
    ios = out["segments"][1]
    assert {k: ios[k] for k in ("source", "line", "column", "definition", "uses", "used_by")} == {
        "source": str(rules / "a_shared.lapse"), "line": 5, "column": 9,
        "definition": '"Lapsed - 2 weeks" and platform = "ios"', "uses": ["Lapsed - 2 weeks"],
        "used_by": [{"campaign": "Win-back iOS", "through": []}],
    }
    assert out["segments"][0]["used_by"] == [{"campaign": "Win-back push", "through": []},
                                             {"campaign": "Win-back iOS", "through": ["Lapsed iOS"]}]


def test_json_output_without_users_has_no_counts(capsys: pytest.CaptureFixture[str], rules: Path) -> None:
    out = json.loads(lapse(capsys, "segments", str(rules), "--format", "json").out)
    assert (out["at"], out["read"]) == (None, None)
    assert [s["users"] for s in out["segments"]] == [None] * len(INLINE)


def test_reads_users_from_standard_input(capsys: pytest.CaptureFixture[str], rules: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    lines = _users(seed=3)[:20]
    counts, rejected = _expected(lines)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(lines) + "\n").encode())))
    run = lapse(capsys, "segments", str(rules), "--users", "-", "--now", NOW.isoformat(), "--default-timezone",
                DEFAULT_ZONE, "--format", "json")
    assert [s["users"] for s in json.loads(run.out)["segments"]] == [
        {**c, "rejected": len(rejected)} for c in counts.values()]


def test_rule_errors_are_printed_as_by_the_other_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "bad.lapse", 'segment "Lapsed" = sessions > 1\nsegment "Lapsd"; send push daily 09:00 utc\n')
    run = lapse(capsys, "segments", str(path))
    assert run.code == 1
    assert run.err.startswith(f'{path}:2:9: error: unknown segment "Lapsd"; did you mean "Lapsed"?')


def test_rules_without_named_segments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "plain.lapse", "segment last_used between 2w and 3w; send push weekly thu 17:45 local\n")
    run = lapse(capsys, "segments", str(path))
    assert (run.code, run.out) == (0, "")
    assert run.err.startswith("no named segments")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--now", "2026-11-30T00:00:00Z"], "--now applies with --users"),
        (["--table", "people"], "--table applies with --users"),
        (["--users", "duckdb:warehouse.duckdb"], "lapse segments counts every user, so --users is a file"),
        (["--users", "USERS", "--table", "people"], "--table applies to a SQLite file"),
        (["--users", "missing.jsonl"], "missing.jsonl: no such users file"),
        (["--default-timezone", "Mars/Olympus"], "--default-timezone Mars/Olympus:"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], rules: Path, tmp_path: Path, flags: list[str],
                             message: str) -> None:
    users = write(tmp_path / "users.jsonl", "")
    run = lapse(capsys, "segments", str(rules), *[str(users) if f == "USERS" else f for f in flags])
    assert run.code == 2
    assert run.err.startswith(f"lapse: error: {message}")


def test_a_missing_rules_path_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = lapse(capsys, "segments", str(tmp_path / "nowhere"))
    assert (run.code, run.err) == (2, f"lapse: error: {tmp_path / 'nowhere'}: no such file or folder\n")


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    run = lapse(capsys, "segments", "--help")
    assert run.code == 0
    assert "example:\n  lapse segments rules/ --users users.jsonl --now 2026-11-30T00:00:00Z" in run.out
    assert "segments" in lapse(capsys, "--help").out
