"""Portfolio benchmark: lapse-dsl on a catalog of N campaigns against the hand-written loop of
../shared/bench/portfolio.py (issue 12).

    python bench/portfolio.py                    # 1 to 10,000 campaigns on 20,000 users (10,000: 1,000 users)
    python bench/portfolio.py --quick            # 2,000 users, 3 passes, 1 to 1,000 campaigns: a smoke test
    python bench/portfolio.py --run-users 1000000   # also time `lapse run` on 1M users, 100 campaigns

For each catalog size, in one process and on the same users, it (1) checks that lapse and the loop
agree user by user (in_segment, and evaluate(within=1h/1d) against Loop.due), (2) reports us/user
for both and the ratio lapse/loop (median of interleaved passes after one warm-up each), (3) reports
compile time and memory per campaign; optionally (4) `lapse run` throughput. It prints a table and
asserts nothing about speed (machines here are shared and noisy: compare the ratios).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared import SHARED_DIR, load_portfolio  # noqa: E402  (bench/shared.py, beside this script)

import lapse_dsl  # noqa: E402

pf = load_portfolio()

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # one object: lapse caches per `now` by identity
WINDOWS = {"evaluate 1h": dt.timedelta(hours=1), "evaluate 1d": dt.timedelta(days=1)}
QUESTIONS = ("in_segment", *WINDOWS)
# (question, campaigns) -> the ratio lapse/loop to stay under (issue 12)
TARGETS = {
    ("in_segment", 10): 1.5, ("in_segment", 1000): 0.5, ("in_segment", 10000): 0.25,
    ("evaluate 1d", 10): 2.0, ("evaluate 1d", 1000): 0.5, ("evaluate 1d", 10000): 0.25,
}
SHOW_MISMATCHES = 3  # per question and catalog size, on stderr


def progress(message: str) -> None:
    print(f"[portfolio {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def agreement(rs: lapse_dsl.RuleSet, loop: Any, names: list[str], users: list[dict[str, Any]]) -> dict[str, int]:
    """Users whose answers differ, per question; the first few go to stderr."""
    bad = dict.fromkeys(QUESTIONS, 0)

    def report(question: str, user: dict[str, Any], detail: str) -> None:
        bad[question] += 1
        if bad[question] <= SHOW_MISMATCHES:
            print(f"mismatch ({len(names)} campaigns, {question}) {json.dumps(user)}\n    {detail}", file=sys.stderr)

    for user in users:
        answers: Mapping[str, bool | None] = rs.in_segment(user, NOW)
        expected = loop.in_segment(user, NOW)
        # lapse answers True/False/None; the loop's False covers both of lapse's False and None
        differ = [f"{n}: lapse {answers[n]!r}, loop {expected[n]!r}" for n in names if (answers[n] is True) != expected[n]]
        if differ:
            report("in_segment", user, "; ".join(differ[:5]) + (f" (+{len(differ) - 5} more)" if len(differ) > 5 else ""))
        for question, within in WINDOWS.items():
            mine = [(d.campaign, d.send_at) for d in rs.evaluate(user, NOW, within=within)]
            theirs = loop.due(user, NOW, within)
            if mine != theirs:
                only_mine = [f"{c} {t:%Y-%m-%dT%H:%M}Z" for c, t in mine if (c, t) not in theirs]
                only_theirs = [f"{c} {t:%Y-%m-%dT%H:%M}Z" for c, t in theirs if (c, t) not in mine]
                report(question, user, f"only lapse: {only_mine[:5]}, only loop: {only_theirs[:5]}"
                       + (" (same pairs, other order)" if set(mine) == set(theirs) else ""))
    return bad


def interleaved(mine: Callable[[], object], theirs: Callable[[], object], passes: int) -> tuple[float, float]:
    """Median seconds of each side, passes interleaved after one warm-up each (as bench/run.py)."""
    mine(), theirs()  # fill both sides' per-(zone, now) caches
    m, t = [], []
    for _ in range(passes):  # interleaved, so both see the same machine load
        start = time.perf_counter()
        mine()
        m.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs()
        t.append(time.perf_counter() - start)
    return statistics.median(m), statistics.median(t)


def per_user(rs: lapse_dsl.RuleSet, loop: Any, users: list[dict[str, Any]], passes: int) -> dict[str, tuple[float, float]]:
    """question -> (lapse us/user, loop us/user)."""
    evaluate, in_segment, due, loop_in = rs.evaluate, rs.in_segment, loop.due, loop.in_segment
    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "in_segment": (lambda: [in_segment(u, NOW) for u in users], lambda: [loop_in(u, NOW) for u in users]),
    }
    for question, w in WINDOWS.items():
        pairs[question] = (lambda w=w: [evaluate(u, NOW, within=w) for u in users], lambda w=w: [due(u, NOW, w) for u in users])
    out = {}
    for question, (mine, theirs) in pairs.items():
        m, t = interleaved(mine, theirs, passes)
        out[question] = (m / len(users) * 1e6, t / len(users) * 1e6)
    return out


def compile_cost(text: str, campaigns: int) -> tuple[lapse_dsl.RuleSet, float, int, int]:
    """(rule set, best compile seconds, tracemalloc peak bytes, bytes retained by the rule set)."""
    # memory first, in a compile of its own: tracemalloc slows allocation several times over
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rs = lapse_dsl.compile(text, source="portfolio.lapse")
    gc.collect()  # compile runs with the collector paused: count only what it keeps
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del rs
    times = []
    for _ in range(3 if campaigns <= 1000 else 1):
        start = time.perf_counter()
        rs = lapse_dsl.compile(text, source="portfolio.lapse")
        times.append(time.perf_counter() - start)
    return rs, min(times), peak - base, current - base


def write_users(path: Path, count: int) -> None:
    """`count` make_users users as JSON lines, generated and written 100,000 at a time."""
    with path.open("w", encoding="utf-8") as fh:
        for start in range(0, count, 100_000):
            for i, user in enumerate(pf.make_users(min(100_000, count - start), NOW, seed=start + 1)):
                user["user_id"] = f"u{start + i:08d}"  # each batch numbers its users from 0
                fh.write(json.dumps(user) + "\n")


RUN_FLAGS = {"every decision (400 days)": [], "--within 1d (a daily run)": ["--within", "1d"]}


def run_throughput(count: int, campaigns: int, workdir: Path) -> dict[str, float]:
    """Seconds of `python -m lapse_dsl run` over `count` users and `campaigns` campaigns, without
    and with `--within 1d`."""
    users, rules = workdir / "users.jsonl", workdir / "catalog.lapse"
    progress(f"writing {count:,} users to {users}")
    write_users(users, count)
    rules.write_text(pf.catalog(campaigns), encoding="utf-8")
    out = {}
    for label, flags in RUN_FLAGS.items():
        progress(f"lapse run: {count:,} users, {campaigns} campaigns, {label}")
        command = [sys.executable, "-m", "lapse_dsl", "run", str(rules), "--users", str(users),
                   "--now", NOW.isoformat(), "--out", os.devnull, *flags]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        out[label] = time.perf_counter() - start
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            sys.exit(f"lapse run exited with {done.returncode}")
    return out


def verdict(question: str, campaigns: int, ratio: float) -> str:
    target = TARGETS.get((question, campaigns))
    if target is None:
        return ""
    return f"<= {target:g}x  {'met' if ratio <= target else 'MISSED'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", help="catalog sizes, comma-separated (default 1,10,100,1000,10000)")
    parser.add_argument("--users", type=int, help="users per catalog size (default 20,000)")
    parser.add_argument("--large-users", type=int, default=1000,
                        help="users for catalogs of more than 1,000 campaigns, where both sides take ms per user "
                             "(default 1,000; never more than --users)")
    parser.add_argument("--passes", type=int, help="timed passes per side (default 5)")
    parser.add_argument("--run-users", type=int, default=0, help="also time `lapse run` on this many users (0: skip)")
    parser.add_argument("--run-campaigns", type=int, default=100, help="catalog size for --run-users (default 100)")
    parser.add_argument("--quick", action="store_true",
                        help="defaults of 2,000 users, 3 passes, campaigns 1,10,100,1000")
    args = parser.parse_args()
    quick = args.quick
    sizes = [int(s) for s in (args.campaigns or ("1,10,100,1000" if quick else "1,10,100,1000,10000")).split(",")]
    users_wanted = args.users or (2_000 if quick else 20_000)
    passes = args.passes or (3 if quick else 5)

    lapse_dsl.compile(pf.catalog(1))  # load the grammar once, so the first row's compile does not pay for it
    users = pf.make_users(users_wanted, NOW)

    print(f"lapse-dsl portfolio benchmark, {dt.date.today()}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(f"lapse vs the Loop of {SHARED_DIR / 'portfolio.py'}; make_users(n, now), now = {NOW.isoformat()}")
    print(f"\nper user: median of {passes} interleaved passes after a warm-up; mismatches: users whose answers differ")
    header = (f"{'campaigns':>9} {'users':>7}  {'question':<12} {'mismatches':>10} {'lapse us':>10} {'loop us':>10} "
              f"{'ratio':>7}  target")
    print(header)
    print("-" * len(header))
    sys.stdout.flush()

    started = time.perf_counter()
    compiled: list[tuple[int, float, int, int]] = []
    met = missed = mismatched = 0
    capped = []
    for n in sizes:
        count = min(users_wanted, args.large_users) if n > 1000 else users_wanted
        if count < users_wanted:
            capped.append((n, count))
        sample = users[:count]
        progress(f"{n:,} campaigns: compile")
        rs, seconds, peak, retained = compile_cost(pf.catalog(n), n)
        compiled.append((n, seconds, peak, retained))
        catalog = pf.campaigns(n)
        loop = pf.Loop(catalog)
        progress(f"{n:,} campaigns: agreement on {count:,} users")
        bad = agreement(rs, loop, [c.name for c in catalog], sample)
        progress(f"{n:,} campaigns: timing")
        timings = per_user(rs, loop, sample, passes)
        for i, question in enumerate(QUESTIONS):
            mine, theirs = timings[question]
            ratio = mine / theirs
            verdict_text = verdict(question, n, ratio)
            met += verdict_text.endswith("met")
            missed += verdict_text.endswith("MISSED")
            mismatched += bad[question]
            lead = f"{n:>9,} {count:>7,}" if i == 0 else " " * 17
            print(f"{lead}  {question:<12} {bad[question]:>10,} {mine:>10.2f} {theirs:>10.2f} {ratio:>7.2f}  {verdict_text}")
        sys.stdout.flush()
        del rs, loop
    for n, count in capped:
        print(f"({n:,} campaigns: {count:,} users of the {users_wanted:,}, see --large-users)")

    print(f"\n{'lapse_dsl.compile(catalog(n))':<30} {'seconds':>9} {'ms/campaign':>12} {'peak KB/camp':>13} "
          f"{'kept KB/camp':>13}")
    for n, seconds, peak, retained in compiled:
        print(f"{format(n, ',') + (' campaign' if n == 1 else ' campaigns'):<30} {seconds:>9.2f} {seconds / n * 1000:>12.2f} "
              f"{peak / n / 1024:>13.1f} {retained / n / 1024:>13.1f}")
    print("seconds: best of 3 (1 above 1,000 campaigns). peak: tracemalloc peak during compile, above the memory held "
          "before it;\nkept: what the compiled rule set still holds after gc, before any evaluation fills its caches.")

    if args.run_users:
        with tempfile.TemporaryDirectory() as tmp:
            timings = run_throughput(args.run_users, args.run_campaigns, Path(tmp))
        print(f"\n{'lapse run':<30} {'users':>11} {'campaigns':>10} {'seconds':>9} {'users/s':>10}")
        for label, seconds in timings.items():
            print(f"{label:<30} {args.run_users:>11,} {args.run_campaigns:>10,} {seconds:>9.2f} "
                  f"{args.run_users / seconds:>10,.0f}")
        print("(wall time of the whole process: start-up and compile included; --out /dev/null)")

    print(f"\ntargets: {met} met, {missed} missed; mismatching answers: {mismatched}; "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
