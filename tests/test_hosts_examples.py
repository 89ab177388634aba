"""The host integration examples: examples/host_tick.py and examples/host_planner.py run and print
exactly what docs/hosts.md says, every Python block of docs/hosts.md prints the text block that
follows it, and the plugin is reachable through its ``rules_engines`` entry point.

The expected outputs were computed by running the programs and checked by hand against the rule
(rules/braze_lapsing.lapse: a push on Thursdays at 17:45 local time to opted-in users whose
last_used is 2 to 3 calendar weeks before):

- u5 Pacific/Kiritimati (UTC+14): Thu 2026-12-03 17:45 = 03:45Z; last_used 2026-11-13T10:00Z lies
  in (2026-11-12T03:45Z, 2026-11-19T03:45Z].
- u3 Asia/Kathmandu (UTC+05:45): 17:45 = 12:00Z; last_used 2026-11-18T06:00Z is in its window.
- u1 Europe/Paris (UTC+1): 16:45Z falls in the 16:00Z-17:00Z outage, so the 17:00Z tick (since
  16:00Z) reports it 15 minutes late, within the 1h grace.
- u6 has no timezone: the file's default America/New_York, 22:45Z, with a warning.
- u4 Pacific/Pago_Pago (UTC-11): Thu 17:45 = Fri 2026-12-04T04:45Z.
- u2 (last_used 2026-11-25T23:30Z) enters on Thu 2026-12-10, after the simulated week; u7 is not
  opted in; u8's naive time is rejected (logged once).

In the planner, u3 opens the app on 2026-12-01T09:00Z: at the 2026-12-03 re-check last_used is 2
days old, so the send is cancelled and re-planned for Thu 2026-12-17 (window (11-26 12:00Z,
12-03 12:00Z] holds 12-01T09:00Z). After each send the history holds it and the campaign has no
`reeligible after`, so nothing more is planned.
"""

from __future__ import annotations

import datetime as dt
import re
import runpy
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import lapse_dsl.plugin

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "hosts.md"
TICK = ROOT / "examples" / "host_tick.py"
PLANNER = ROOT / "examples" / "host_planner.py"

TICK_OUTPUT = [
    "2026-11-30T00:15Z  rejected u8: last_used: '2026-11-14 09:00' has no UTC offset; add one (such as Z) or compile"
    " with naive_timezone=",
    "2026-12-03T03:45Z  push to u5 at Thu 17:45 Pacific/Kiritimati: Hi Teuea, new levels are waiting",
    "2026-12-03T12:00Z  push to u3 at Thu 17:45 Asia/Kathmandu: Hi Chandra, new levels are waiting",
    "2026-12-03T17:00Z  push to u1 at Thu 17:45 Europe/Paris: Hi Ana, new levels are waiting  [catch-up, 15 min late]",
    "2026-12-03T22:45Z  push to u6 at Thu 17:45 America/New_York: Hi there, new levels are waiting",
    "                   warning: no timezone attribute; delivered in America/New_York (the file's default timezone)",
    "2026-12-04T04:45Z  push to u4 at Thu 17:45 Pacific/Pago_Pago: Hi Tavita, new levels are waiting",
    "672 ticks (3 missed in the outage), 5 sends, each occurrence once",
]

PLANNER_OUTPUT = [
    "2026-11-30T00:00Z  planning",
    "                   u1: planned 2026-12-03T16:45Z (Thu 17:45 Europe/Paris)",
    "                   u2: planned 2026-12-10T22:45Z (Thu 17:45 America/New_York)",
    "                   u3: planned 2026-12-03T12:00Z (Thu 17:45 Asia/Kathmandu)",
    "                   u4: planned 2026-12-04T04:45Z (Thu 17:45 Pacific/Pago_Pago)",
    "2026-12-01T09:00Z  u3 opens the app",
    "2026-12-03T12:00Z  u3: cancelled (no longer in the segment); planned 2026-12-17T12:00Z (Thu 17:45 Asia/Kathmandu)",
    "2026-12-03T16:45Z  u1: push sent: Hi Ana, new levels are waiting; then nothing planned",
    "2026-12-04T04:45Z  u4: push sent: Hi Tavita, new levels are waiting; then nothing planned",
    "2026-12-10T22:45Z  u2: push sent: Hi Ben, new levels are waiting; then nothing planned",
    "2026-12-17T12:00Z  u3: push sent: Hi Chandra, new levels are waiting; then nothing planned",
]


def _run_program(path: Path, cwd: Path) -> list[str]:
    done = subprocess.run([sys.executable, str(path)], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.splitlines()


def test_entry_point_loads_the_plugin() -> None:
    found = entry_points(group="rules_engines")
    assert "lapse" in found.names
    entry = found["lapse"]
    assert entry.value == "lapse_dsl.plugin:Plugin"
    assert entry.load() is lapse_dsl.plugin.Plugin


def test_tick_example_output(tmp_path: Path) -> None:
    assert _run_program(TICK, tmp_path) == TICK_OUTPUT  # from any working directory


def test_planner_example_output(tmp_path: Path) -> None:
    assert _run_program(PLANNER, tmp_path) == PLANNER_OUTPUT


def test_tick_example_sends_each_user_once() -> None:
    sends = [line.split()[3] for line in TICK_OUTPUT if " push to " in line]
    assert sorted(sends) == ["u1", "u3", "u4", "u5", "u6"]
    times = [line[:17] for line in TICK_OUTPUT if " push to " in line]
    assert times == sorted(times)


def _simulate_ticks(minutes: int) -> tuple[list[tuple[str, dt.datetime]], set[tuple[str, dt.datetime]]]:
    """A week of ticks of the given length over the tick example's good users: the (key, send_at)
    of every due decision reported, in order, and the set a planner finds for the same week."""
    module: dict[str, Any] = runpy.run_path(str(TICK), run_name="host_tick")
    plugin = module["Plugin"].from_path(module["RULES"])
    users = [u for u in module["USERS"] if u["user_id"] != "u8"]
    start: dt.datetime = module["START"]
    end = start + dt.timedelta(weeks=1)
    reported: list[tuple[str, dt.datetime]] = []
    previous, now = start, start
    while now < end:
        now = min(now + dt.timedelta(minutes=minutes), end)
        for user in users:
            for d in plugin.evaluate(user, now, since=previous):
                if d.due:
                    assert previous < d.send_at <= now
                    assert now - d.send_at <= dt.timedelta(hours=1)  # the rule's grace
                    reported.append((d.idempotency_key, d.send_at))
        previous = now
    planned = {
        (d.idempotency_key, d.send_at) for user in users for d in plugin.evaluate(user, start) if d.send_at <= end
    }
    return reported, planned


@pytest.mark.parametrize("minutes", [5, 7, 15, 45, 60])
def test_ticks_up_to_grace_report_each_occurrence_once(minutes: int) -> None:
    """The tick contract the example relies on: with ticks no longer than the rule's grace (1h),
    the occurrences reported over a week are exactly those a planner finds, each by one tick."""
    reported, planned = _simulate_ticks(minutes)
    keys = [k for k, _ in reported]
    assert len(keys) == len(set(keys)) == 5
    assert set(reported) == planned


def test_ticks_longer_than_grace_skip_stale_occurrences() -> None:
    """As docs/hosts.md warns: a 3-hour tick only reports occurrences at most 1h (the grace) old;
    of the five Thursday sends only Kathmandu's 12:00Z, which falls exactly on a tick, survives."""
    reported, planned = _simulate_ticks(180)
    assert [t for _, t in reported] == [dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)]
    assert len(planned) == 5


# docs/hosts.md --------------------------------------------------------------------------------

_FENCE = re.compile(r"^```(\S*)$")


def _blocks() -> list[tuple[int, str, str]]:
    """(line of the opening fence, info string, text) of every fenced block of docs/hosts.md."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    out: list[tuple[int, str, str]] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j] != "```":
            j += 1
        assert j < len(lines), f"hosts.md:{i + 1}: code block is never closed"
        out.append((i + 1, opening.group(1), "\n".join(lines[i + 1 : j]) + "\n"))
        i = j + 1
    return out


def _python_blocks() -> list[Any]:
    blocks = _blocks()
    params = []
    for index, (line, info, text) in enumerate(blocks):
        if info != "python":
            continue
        follower = blocks[index + 1] if index + 1 < len(blocks) else None
        params.append(pytest.param(text, follower, id=f"hosts.md:{line}"))
    return params


@pytest.mark.parametrize(("code", "follower"), _python_blocks())
def test_hosts_python_block_prints_the_following_text(code: str, follower: tuple[int, str, str] | None) -> None:
    assert follower is not None and follower[1] == "text", "a python block is followed by a ```text block (its output)"
    listing = next((p for p in (TICK, PLANNER) if p.read_text(encoding="utf-8") == code), None)
    if listing is not None:
        expected = TICK_OUTPUT if listing == TICK else PLANNER_OUTPUT
    else:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        expected = done.stdout.splitlines()
    assert follower[2].splitlines() == expected


def test_hosts_doc_shows_both_example_programs() -> None:
    texts = [text for _, info, text in _blocks() if info == "python"]
    for program in (TICK, PLANNER):
        assert program.read_text(encoding="utf-8") in texts, f"docs/hosts.md does not show the current {program.name}"
