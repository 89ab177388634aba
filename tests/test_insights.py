"""``lapse insights`` (issue 14, item 1) and the example sessions (item 6).

The expectations are computed here, straight from the JSON lines with ``zoneinfo``: each session
on the wall clock of the event's zone, else the user's, else UTC. The planted rhythm and returns
are those that examples/make_sessions.py documents.
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import importlib.util
import io
import json
import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest

from lapse_dsl import insights
from lapse_dsl.cli import main
from lapse_dsl.sessions import open_sessions

ROOT = Path(__file__).resolve().parent.parent
USERS = ROOT / "examples" / "users.jsonl"
SESSIONS = ROOT / "examples" / "sessions.jsonl"
RULES = ROOT / "rules" / "send_time_experiment.lapse"
NOW = "2026-11-30T00:00:00Z"
# tzdata's zone names; "localtime" is a file of some hosts, not a zone lapse knows
ZONES = zoneinfo.available_timezones() - {"localtime"}
Matrix = list[list[int]]


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


def make_sessions_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sessions", ROOT / "examples" / "make_sessions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PLANTED = make_sessions_module()


def user_zones(path: Path) -> dict[str, str | None]:
    """Each user's valid zone (None without one), first record of an id kept."""
    zones: dict[str, str | None] = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(text)
        except ValueError:
            continue
        user_id = record.get("user_id")
        if isinstance(user_id, str) and user_id and user_id not in zones:
            zone = record.get("timezone")
            zones[user_id] = zone if zone in ZONES else None
    return zones


def placed(users: Path, sessions: Path, end: dt.datetime | None = None,
           start: dt.datetime | None = None) -> Iterator[tuple[str, str, dt.datetime]]:
    """(user_id, zone, local time) of each session insights should count."""
    zones = user_zones(users)
    for text in sessions.read_text(encoding="utf-8").splitlines():
        record = json.loads(text)
        user_id = record.get("user_id")
        try:
            at = dt.datetime.fromisoformat(record["at"])
        except (KeyError, ValueError):
            continue
        if user_id not in zones or (end is not None and at > end) or (start is not None and at <= start):
            continue
        own = record.get("timezone")
        zone = own if own in ZONES else zones[user_id] or "UTC"
        yield user_id, zone, at.astimezone(zoneinfo.ZoneInfo(zone))


def matrix_of(times: list[dt.datetime]) -> Matrix:
    matrix = [[0] * 24 for _ in range(7)]
    for local in times:
        matrix[local.weekday()][local.hour] += 1
    return matrix


def busiest(row: list[int]) -> int:
    return max(range(24), key=lambda h: (row[h], -h))


@pytest.fixture(scope="module")
def by_zone() -> dict[str, Matrix]:
    times: dict[str, list[dt.datetime]] = collections.defaultdict(list)
    for _, zone, local in placed(USERS, SESSIONS):
        times[zone].append(local)
    return {zone: matrix_of(t) for zone, t in times.items()}


# the planted peaks -------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Asia/Kolkata"])
def test_insights_finds_the_planted_peak_of_each_zone(
    capsys: pytest.CaptureFixture[str], by_zone: dict[str, Matrix], zone: str
) -> None:
    weekday_peak, weekend_peak = PLANTED.PEAKS[zone.split("/")[0]]
    expected = by_zone[zone]
    # the file holds what the generator says it planted ...
    assert [busiest(row) for row in expected] == [weekday_peak] * 5 + [weekend_peak] * 2
    # ... and insights finds it, from the same counts
    run = lapse(capsys, "insights", "--users", USERS, "--sessions", SESSIONS, "--zone", zone, "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["matrix"] == expected
    assert [p["peak_hour"] for p in report["peaks"]] == [f"{weekday_peak:02d}:00"] * 5 + [f"{weekend_peak:02d}:00"] * 2
    assert [p["send_at"] for p in report["peaks"]] == [f"{weekday_peak - 1:02d}:00"] * 5 + [f"{weekend_peak - 1:02d}:00"] * 2
    for row, peak in zip(expected, report["peaks"], strict=True):
        hour = busiest(row)
        assert (peak["peak_sessions"], peak["day_sessions"], peak["send_hour_sessions"]) == (row[hour], sum(row), row[hour - 1])
        assert peak["peak_share"] == round(row[hour] / sum(row), 4)


def test_the_whole_week_and_the_window(capsys: pytest.CaptureFixture[str]) -> None:
    end = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    start = end - dt.timedelta(weeks=12)
    expected = matrix_of([local for _, _, local in placed(USERS, SESSIONS, end, start)])
    run = lapse(capsys, "insights", "--users", USERS, "--sessions", SESSIONS, "--now", NOW, "--weeks", "12",
                "--format", "json")
    report = json.loads(run.out)
    assert report["matrix"] == expected
    total = sum(map(sum, expected))
    lines = len(SESSIONS.read_text(encoding="utf-8").splitlines())
    s = report["sessions"]
    assert (s["read"], s["counted"], s["rejected"]) == (lines, total, len(PLANTED.BAD_ROWS))
    assert s["read"] == s["counted"] + s["outside_window"] + s["other_zones"] + s["rejected"]
    assert report["window"] == {"after": "2026-09-07T00:00:00Z", "until": NOW}
    every = [sum(row[h] for row in expected) for h in range(24)]
    assert report["every_day"]["peak_hour"] == f"{busiest(every):02d}:00"


# the text heatmap and the chart -----------------------------------------------------------------


def write_jsonl(path: Path, *records: dict[str, Any] | str) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def at(day: int, hour: int, minute: int = 0) -> str:
    """An instant in UTC in the week of Monday 2026-11-02 (day 0 is Monday)."""
    return (dt.datetime(2026, 11, 2, hour, minute, tzinfo=dt.UTC) + dt.timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    """Monday: 9 sessions at 20:00, 3 at 19:00; Saturday: 2 at 00:00 (a peak at midnight), 1 at 23:00
    on Friday. All in UTC, one through the event's zone."""
    users = write_jsonl(tmp_path / "users.jsonl", {"user_id": "a", "timezone": "UTC"}, {"user_id": "b"})
    sessions = [{"user_id": "a", "at": at(0, 20, m)} for m in range(9)]
    sessions += [{"user_id": "b", "at": at(0, 19, m)} for m in range(3)]
    sessions += [{"user_id": "b", "at": at(5, 0, 1)}, {"user_id": "a", "at": at(5, 0, 2)}]
    sessions += [{"user_id": "b", "at": at(4, 23), "timezone": "UTC"}]
    return users, write_jsonl(tmp_path / "sessions.jsonl", *sessions)


def test_text_heatmap_shades_marks_peaks_and_recommends(capsys: pytest.CaptureFixture[str], small: tuple[Path, Path]) -> None:
    users, sessions = small
    run = lapse(capsys, "insights", "--users", users, "--sessions", sessions)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    header = lines[2]
    rows = {line[:3]: line for line in lines[3:11]}

    def cell(day: str, hour: int) -> str:
        """The hour's two characters and the separators either side (the peak's brackets)."""
        start = header.index(f" {hour:02d}")
        return rows[day][start:start + 4]

    assert cell("Mon", 20) == "[@@]"  # 9 sessions: the busiest cell, and Monday's peak
    assert cell("Mon", 19) == " --["  # 3 of 9: the third shade
    assert cell("Mon", 18) == "    "  # no session: blank
    assert cell("Sat", 0) == "[::]"  # 2 of 9, and Saturday's peak, at midnight
    assert cell("Fri", 23) == "[..]"
    assert rows["Tue"].rstrip().endswith("  -") and "[" not in rows["Tue"]  # no session, no peak
    assert rows["Mon"].split()[-4:] == ["20:00", "9", "75.0%", "19:00"]
    assert rows["Sat"].split()[-4:] == ["00:00", "2", "100.0%", "23:00*"]  # 23:00 on Friday
    assert rows["all"].split()[-4:] == ["20:00", "9", "60.0%", "19:00"]
    assert "busiest hour: Mon 20:00, 9 sessions" in run.out
    assert "shades, sessions in the hour: .. 1  :: 2  -- 3  == 4  ++ 5  ** 6  ## 7  %% 8  @@ 9" in run.out


def test_chart_draws_the_counts_matrix(tmp_path: Path, capsys: pytest.CaptureFixture[str], small: tuple[Path, Path]) -> None:
    users, sessions = small
    expected = matrix_of([local for _, _, local in placed(users, sessions)])
    table, read, rejected = insights.read_users(insights.open_users(str(users), None), "users", per_user=False)
    with open_sessions(str(sessions)) as rows:
        result = insights.analyse(table, rows, "sessions", users_read=read, users_rejected=rejected)
    drawn = insights.draw_chart(result, str(tmp_path / "chart.png"))
    assert [list(row) for row in drawn] == expected
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    run = lapse(capsys, "insights", "--users", users, "--sessions", sessions, "--chart", tmp_path / "cli.png")
    assert run.code == 0 and f"chart written to {tmp_path / 'cli.png'}" in run.err
    assert (tmp_path / "cli.png").read_bytes().startswith(b"\x89PNG")


# each user's own hour ---------------------------------------------------------------------------


@pytest.mark.parametrize("minimum", ["5", "20"])
def test_per_user_preferred_time(tmp_path: Path, capsys: pytest.CaptureFixture[str], minimum: str) -> None:
    hours: dict[str, list[int]] = {}
    for user_id, _, local in placed(USERS, SESSIONS):
        hours.setdefault(user_id, [0] * 24)[local.hour] += 1
    expected = []
    for user_id in user_zones(USERS):  # in the order of the users file
        row = hours.get(user_id, [0] * 24)
        if sum(row) >= int(minimum):
            expected.append({"user_id": user_id, "preferred_time": f"{(busiest(row) - 1) % 24:02d}:00",
                             "sessions": sum(row)})
    out = tmp_path / "preferred.jsonl"
    run = lapse(capsys, "insights", "--users", USERS, "--sessions", SESSIONS, "--per-user", out, "--min-sessions", minimum)
    assert run.code == 0, run.err
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == expected
    assert f"preferred_time of {len(expected)} users with at least {minimum} sessions" in run.err
    assert len(expected) > 100  # the example data has enough users for the test to mean something


def test_per_user_midnight_and_ties(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = write_jsonl(tmp_path / "u.jsonl", {"user_id": "a"}, {"user_id": "b"}, {"user_id": "c"})
    sessions = write_jsonl(
        tmp_path / "s.jsonl",
        *[{"user_id": "a", "at": at(d, 0)} for d in range(3)],  # busiest at 00:00: 23:00
        *[{"user_id": "b", "at": at(d, h)} for d in range(2) for h in (9, 15)],  # a tie: the earlier hour
        {"user_id": "c", "at": at(0, 9)},  # too few
    )
    out = tmp_path / "p.jsonl"
    assert lapse(capsys, "insights", "--users", users, "--sessions", sessions, "--per-user", out,
                 "--min-sessions", "3").code == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        '{"user_id": "a", "preferred_time": "23:00", "sessions": 3}',
        '{"user_id": "b", "preferred_time": "08:00", "sessions": 4}',
    ]


# every row accounted for ------------------------------------------------------------------------


def test_bad_rows_are_counted_and_reported_never_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = write_jsonl(tmp_path / "users.jsonl", {"user_id": "a", "timezone": "Europe/Paris"}, {"timezone": "UTC"},
                        {"user_id": "a", "timezone": "Asia/Tokyo"}, "{not json", {"user_id": "b", "timezone": "Mars/Base"})
    sessions = write_jsonl(
        tmp_path / "sessions.jsonl",
        {"user_id": "a", "at": at(0, 19)},  # counted: 20:00 in Paris
        {"at": at(0, 19)},  # 2: no user_id
        {"user_id": "a", "at": "yesterday"},  # 3: not a time
        {"user_id": "a", "at": "2026-11-02T19:00:00"},  # 4: no offset
        {"user_id": "zz", "at": at(0, 19)},  # 5: unknown user
        "[1, 2",  # 6: not JSON
        {"user_id": "a"},  # 7: no at
        {"user_id": "b", "at": at(1, 9)},  # counted: the fallback zone (b's zone is not one)
        {"user_id": "a", "at": at(2, 9), "timezone": "Moon/Crater"},  # counted: a's zone (the event's is unknown)
        {"user_id": "a", "at": "2027-01-01T00:00:00Z"},  # after --now
    )
    run = lapse(capsys, "insights", "--users", users, "--sessions", sessions, "--now", NOW, "--format", "json")
    assert run.code == 0
    report = json.loads(run.out)
    assert report["sessions"] == {"read": 10, "counted": 3, "outside_window": 1, "other_zones": 0, "rejected": 6,
                                  "rejected_by": {"unreadable": 1, "no user_id": 1, "bad time": 3, "unknown user": 1}}
    assert report["users"] == {"read": 5, "kept": 2, "rejected": 3}
    assert report["zone_from"] == {"event": 0, "user": 2, "default": 1, "unknown_event_zone": 1, "fallback": "UTC"}
    assert report["matrix"][0][20] == 1 and report["matrix"][1][9] == 1 and report["matrix"][2][10] == 1
    shown = [f"{r['source']}:{r['line']}" for r in report["rejected_examples"]]
    assert shown == [f"{users}:{n}" for n in (2, 3, 4)] + [f"{sessions}:{n}" for n in (2, 3, 4, 5, 6)]
    text = lapse(capsys, "insights", "--users", users, "--sessions", sessions, "--now", NOW)
    assert f"{sessions}: 10 sessions read = 3 counted + 1 outside the window + 0 in other zones + 6 rejected " \
           "(unreadable 1, no user_id 1, bad time 3, unknown user 1)" in text.err
    assert f"rejected: {sessions}:2: session has no user_id" in text.err
    assert f"rejected: {sessions}:4: at: '2026-11-02T19:00:00' has no UTC offset; add one (such as Z) or use " \
           "--naive-timezone" in text.err
    assert f"rejected: {sessions}:5: no user with user_id 'zz' among the users" in text.err
    assert f"rejected: {users}:3: user_id 'a' is repeated: its first record is kept" in text.err
    assert "rejected: ... and 1 more" in text.err  # the 7th line: only the first 5 of each input are shown
    naive = lapse(capsys, "insights", "--users", users, "--sessions", sessions, "--now", NOW, "--format", "json",
                  "--naive-timezone", "UTC")
    assert json.loads(naive.out)["sessions"]["counted"] == 4


# usage errors -----------------------------------------------------------------------------------


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], small: tuple[Path, Path]) -> None:
    users, sessions = small
    cases = [
        (["--table", "t"], "--table applies to a SQLite file or duckdb:PATH, not to --users"),
        (["--sessions-table", "t"], "--sessions-table applies to a SQLite file or duckdb:PATH, not to --sessions"),
        (["--chart", str(tmp_path / "c.svg")], "the chart is a PNG image"),
        (["--per-user", str(sessions)], f"--per-user {sessions} is the sessions ({sessions})"),
        (["--zone", "Europe/Pariss"], 'did you mean "Europe/Paris"?'),
        (["--default-timezone", "+01:00"], "is a fixed UTC offset"),
        (["--min-sessions", "0"], "'0' is not a whole number of at least 1"),
    ]
    before = sessions.read_bytes()
    for extra, message in cases:
        run = lapse(capsys, "insights", "--users", users, "--sessions", sessions, *extra)
        assert run.code == 2 and message in run.err and run.out == "", (extra, run)
    assert sessions.read_bytes() == before
    both = lapse(capsys, "insights", "--users", "-", "--sessions", "-")
    assert both.code == 2 and "cannot both be -" in both.err
    missing = lapse(capsys, "insights", "--users", users, "--sessions", tmp_path / "nope.jsonl")
    assert missing.code == 2 and "nope.jsonl: no such sessions file" in missing.err
    unknown = lapse(capsys, "insights", "--users", users, "--sessions", tmp_path / "sessions.txt")
    assert unknown.code == 2 and "sessions.txt: unknown sessions file type '.txt'" in unknown.err


def test_missing_matplotlib_is_a_clear_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, small: tuple[Path, Path]) -> None:
    users, sessions = small
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as when it is not installed
    run = lapse(capsys, "insights", "--users", users, "--sessions", sessions, "--chart", tmp_path / "c.png",
                "--per-user", tmp_path / "p.jsonl")
    assert run.code == 2 and run.out == ""
    assert run.err == "lapse: error: --chart needs matplotlib: pip install 'lapse-dsl[charts]'\n"
    assert not (tmp_path / "c.png").exists() and not (tmp_path / "p.jsonl").exists()  # checked before anything


# progress ---------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    table, _, _ = insights.read_users(insights.open_users(str(USERS), None), "users", per_user=False)
    with open_sessions(str(SESSIONS)) as rows:
        insights.analyse(table, rows, "sessions", progress_source=rows.source)
    if terminal:
        assert "%" in stream.getvalue() and "sessions" in stream.getvalue()
        assert stream.getvalue().endswith("\r")  # the bar is wiped at the end
    else:
        assert stream.getvalue() == ""


# the example data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan() -> str:
    """The plan the report helper's tests make: ``lapse run`` of the experiment over the example users."""
    run = subprocess.run([sys.executable, "-m", "lapse_dsl", "run", str(RULES), "--users", str(USERS), "--now", NOW],
                         check=True, capture_output=True, text=True)
    return run.stdout


@pytest.mark.slow  # generating the sessions evaluates the 4,000 users: about 5 seconds
def test_make_sessions_writes_the_bundled_file_and_agrees_with_lapse_run(tmp_path: Path, plan: str) -> None:
    out, written = tmp_path / "sessions.jsonl", tmp_path / "plan.jsonl"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_sessions.py"), "--out", str(out), "--plan", str(written)],
                   check=True, capture_output=True)
    assert out.read_bytes() == SESSIONS.read_bytes()
    assert SESSIONS.stat().st_size < 4_000_000
    assert written.read_text(encoding="utf-8") == plan


def test_the_planted_returns_are_in_the_plan_windows(plan: str) -> None:
    times: dict[str, list[dt.datetime]] = collections.defaultdict(list)
    for text in SESSIONS.read_text(encoding="utf-8").splitlines():
        record = json.loads(text)
        try:
            times[record["user_id"]].append(dt.datetime.fromisoformat(record["at"]))
        except (KeyError, ValueError):
            continue
    for found in times.values():
        found.sort()
    sent: collections.Counter[tuple[str, str]] = collections.Counter()
    back: collections.Counter[tuple[str, str]] = collections.Counter()
    for text in plan.splitlines():
        d = json.loads(text)
        group = (d["campaign"], "holdout" if d["held_out"] else d["variant"] or "all")
        send = dt.datetime.fromisoformat(d["send_at"])
        found = times[d["user_id"]]
        i = bisect.bisect_right(found, send)
        sent[group] += 1
        back[group] += i < len(found) and found[i] <= send + dt.timedelta(days=7)
        if d["campaign"] == PLANTED.TEST:  # the first send: nothing between the history and it
            assert all(t < dt.datetime.fromisoformat(NOW) for t in found[:i])
    assert set(sent) == set(PLANTED.RATES)
    for group, rate in PLANTED.RATES.items():
        assert back[group] == round(rate * sent[group]), group
    evening, holdout = PLANTED.RATES[(PLANTED.TEST, "evening")], PLANTED.RATES[(PLANTED.TEST, "holdout")]
    assert evening - holdout == pytest.approx(0.12) and PLANTED.RATES[(PLANTED.TEST, "noon")] == holdout
