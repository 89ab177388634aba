"""Performance benchmark: lapse-dsl against the hand-written floor (../shared/bench/floor.py).

    python bench/run.py                 # the full run (about 5-10 minutes on 2 cores)
    python bench/run.py --quick         # 20,000 users, no 1M-user run: a smoke test

In one process and on the same users it (1) checks that the project and the floor agree user by
user, (2) reports us/user and the ratio project/floor for evaluate vs decide and in_segment vs
in_segment (median of the passes), (3) reports parse+check+compile time for 100, 1,000 and 10,000
campaigns, and (4) reports `lapse run` throughput on 1,000,000 users against a floor that only reads
and decodes the same JSONL file and writes the same number of lines. It prints a table; it asserts
nothing about speed (machines here are shared and noisy: compare the ratios).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLOOR_DIR = Path(os.environ.get("LAPSE_FLOOR_DIR", ROOT.parent / "shared" / "bench"))
sys.path.insert(0, str(FLOOR_DIR))
sys.path.insert(0, str(ROOT))

import floor  # type: ignore[import-not-found]  # noqa: E402

import lapse_dsl  # noqa: E402

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


def timed_passes(fn: Callable[[], Any], passes: int) -> list[float]:
    out = []
    for _ in range(passes):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def agreement(rs: lapse_dsl.RuleSet, users: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(users compared, decision mismatches, membership mismatches)."""
    campaign = rs.rules[0].name
    bad_decisions = bad_members = 0
    for user in users:
        mine = rs.evaluate(user, NOW)
        theirs = floor.decide(user, NOW)
        if (theirs is None) != (not mine) or (
            theirs is not None and (theirs["send_at"] != mine[0].send_at or theirs["timezone"] != mine[0].timezone)
        ):
            bad_decisions += 1
        if (rs.in_segment(user, NOW)[campaign] is True) != floor.in_segment(user, NOW):
            bad_members += 1
    return len(users), bad_decisions, bad_members


def per_user(rs: lapse_dsl.RuleSet, users: list[dict[str, Any]], passes: int) -> list[tuple[str, float, float]]:
    evaluate, in_segment = rs.evaluate, rs.in_segment
    decide, floor_in = floor.decide, floor.in_segment
    rows = []
    pairs = [
        ("evaluate vs decide", lambda: [evaluate(u, NOW) for u in users], lambda: [decide(u, NOW) for u in users]),
        ("in_segment vs in_segment", lambda: [in_segment(u, NOW) for u in users], lambda: [floor_in(u, NOW) for u in users]),
    ]
    for label, mine, theirs in pairs:
        mine(), theirs()  # warm caches on both sides
        m, t = [], []
        for _ in range(passes):  # interleaved, so both see the same machine load
            m += timed_passes(mine, 1)
            t += timed_passes(theirs, 1)
        rows.append((label, statistics.median(m) / len(users) * 1e6, statistics.median(t) / len(users) * 1e6))
    return rows


def rule_file(campaigns: int) -> str:
    zones = ["local", "utc", '"Europe/Paris"', '"America/New_York"']
    days = ["mon", "tue", "wed", "thu", "fri"]
    out = ['default timezone "America/New_York"', "attribute first_name: string", ""]
    for i in range(campaigns):
        weeks = 2 + i % 6
        out += [
            f'campaign "Lapse tier {i}" {{',
            f'    segment last_used between {weeks}w and {weeks + 1}w and platform in ["ios", "android"] and push_opted_in',
            f"    send push weekly {days[i % 5]} {8 + i % 12:02d}:{i % 60:02d} {zones[i % 4]}",
            f'    message title "We miss you" body "Hi {{{{ first_name | default: \'there\' }}}}, campaign {i}"',
            f"    holdout {1 + i % 20}%",
            "}",
        ]
    return "\n".join(out) + "\n"


def compile_times(sizes: list[int]) -> list[tuple[int, float]]:
    rows = []
    for size in sizes:
        text = rule_file(size)
        times = timed_passes(lambda text=text: lapse_dsl.compile(text, source="bench.lapse"), 3 if size <= 1000 else 1)
        rows.append((size, min(times)))
    return rows


def run_throughput(users: int, workdir: Path) -> tuple[int, float, float, int]:
    """(users, lapse run seconds, floor seconds, output lines)."""
    path = workdir / f"users-{users}.jsonl"
    if not path.exists():
        with path.open("w", encoding="utf-8") as fh:
            for start in range(0, users, 100_000):
                batch = floor.make_users(min(100_000, users - start), NOW, seed=start + 1)
                for i, u in enumerate(batch):
                    u["user_id"] = f"u{start + i:08d}"
                    fh.write(json.dumps(u) + "\n")
    rules = workdir / "floor.lapse"
    rules.write_text(floor.RULE + "\n", encoding="utf-8")
    out = workdir / "out.jsonl"
    lapse = Path(sys.executable).with_name("lapse")
    command = [str(lapse)] if lapse.exists() else [sys.executable, "-m", "lapse_dsl"]
    start = time.perf_counter()
    subprocess.run(
        [*command, "run", str(rules), "--users", str(path), "--now", NOW.isoformat(), "--out", str(out),
         "--errors", os.devnull],
        check=True, stderr=subprocess.DEVNULL,
    )
    mine = time.perf_counter() - start
    with out.open(encoding="utf-8") as fh:
        lines = sum(1 for _ in fh)
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--read-floor", str(path), str(lines), str(workdir / "floor-out.jsonl")],
                   check=True)
    theirs = time.perf_counter() - start
    return users, mine, theirs, lines


def read_floor(path: str, lines: int, out_path: str) -> None:
    """The floor for `lapse run`: read and decode every line, write `lines` lines."""
    written = 0
    with open(path, encoding="utf-8") as fh, open(out_path, "w", encoding="utf-8") as out:
        for line in fh:
            user = json.loads(line)
            if written < lines:
                out.write(json.dumps(user) + "\n")
                written += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--run-users", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 users, 3 passes, 100,000-user run")
    parser.add_argument("--read-floor", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_floor:
        read_floor(args.read_floor[0], int(args.read_floor[1]), args.read_floor[2])
        return
    if args.quick:
        args.users, args.passes, args.run_users = 20_000, 3, 100_000

    users = floor.make_users(args.users, NOW)
    rs = lapse_dsl.compile(floor.RULE)
    print(f"lapse-dsl benchmark, {dt.date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    compared, bad_decisions, bad_members = agreement(rs, users)
    print(f"\nagreement on {compared:,} users: {bad_decisions} decision mismatches, {bad_members} membership mismatches")

    title = f"per user (median of {args.passes} passes)"
    print(f"\n{title:<34} {'project us':>10} {'floor us':>9} {'ratio':>6} target")
    targets = {"evaluate vs decide": 3.0, "in_segment vs in_segment": 2.0}
    for label, mine, theirs in per_user(rs, users, args.passes):
        ratio = mine / theirs
        print(f"{label:<34} {mine:>10.2f} {theirs:>9.2f} {ratio:>6.2f} <= {targets[label]:.0f}x")

    print(f"\n{'parse+check+compile':<34} {'seconds':>10} {'per campaign ms':>16}")
    rows = compile_times([100, 1000, 10000])
    for size, seconds in rows:
        print(f"{str(size) + ' campaigns':<34} {seconds:>10.2f} {seconds / size * 1000:>16.2f}")
    print(f"{'10,000 / 1,000 ratio':<34} {rows[2][1] / rows[1][1]:>10.2f}  (target <= 12)")

    with tempfile.TemporaryDirectory() as tmp:
        n, mine_s, floor_s, lines = run_throughput(args.run_users, Path(tmp))
    print(f"\n{'lapse run on ' + format(n, ',') + ' users':<34} {'seconds':>10} {'users/s':>10}")
    print(f"{'lapse run':<34} {mine_s:>10.2f} {n / mine_s:>10,.0f}")
    print(f"{'floor: read, decode, write':<34} {floor_s:>10.2f} {n / floor_s:>10,.0f}")
    print(f"{'ratio':<34} {mine_s / floor_s:>10.2f}  (target <= 3x; {lines:,} decisions written)")


if __name__ == "__main__":
    main()
