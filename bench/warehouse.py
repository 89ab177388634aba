"""Warehouse benchmark: a lapse segment over millions of users in DuckDB.

    python bench/warehouse.py                    # 10,000,000 users (a few minutes on 2 cores)
    python bench/warehouse.py --users 200000     # a smoke test

The rule, judged at 2026-11-30T00:00:00Z:

    segment last_used between 2w and 3w and platform = "ios" and push_opted_in; send push weekly thu 17:45 local

It builds an in-memory DuckDB ``users`` table in SQL (``range()`` and ``hash()``: 24 real zones plus
invalid and NULL ones, NULLs in every attribute) and times, median of ``--runs`` runs each:

(a) ``lapse_dsl.sql.segment_sql`` on DuckDB (the per-zone constants table joined on ``timezone``);
    generating the SQL is timed separately;
(b) a hand-written DuckDB query for the same rule, written the natural way with DuckDB's ICU
    ``timezone()`` functions per row. It is a *speed reference*, not an oracle: in a DST fold ICU
    picks the later instant where lapse picks the first (PEP 495 fold=0), so the two can differ on
    fold edges (the line "differ" counts the users they disagree on at this instant);
(c) the plugin in Python (``RuleSet.in_segment``) on a ``--sample``-user sample fetched from DuckDB
    (the fetch is not timed), extrapolated linearly to the table size and to 10M users.

It prints a table with the ratio (a)/(b) (target: at most 1.2) and checks that (a) equals the
plugin on the sample, user by user. It asserts nothing about speed: machines here are shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

import lapse_dsl  # noqa: E402
from lapse_dsl.sql import segment_sql  # noqa: E402

AT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
RULE = 'segment last_used between 2w and 3w and platform = "ios" and push_opted_in; send push weekly thu 17:45 local'
ZONES = [
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo",
    "America/Mexico_City", "America/Toronto", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Madrid",
    "Europe/Moscow", "Africa/Lagos", "Africa/Johannesburg", "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo",
    "Asia/Singapore", "Asia/Dubai", "Asia/Jakarta", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Auckland",
    "Pacific/Apia",
]
INVALID = ["america/new_york", "", "+05:30", "localtime", "Mars/Olympus"]
PLATFORMS = ["ios", "ios", "android", "web"]

HAND_WRITTEN = """
WITH known AS (SELECT name FROM pg_timezone_names()),
zoned AS (
    SELECT users.user_id, users.last_used, users.platform, users.push_opted_in,
           COALESCE(known.name, 'UTC') AS tz  -- invalid or NULL zone: the fallback zone
    FROM users LEFT JOIN known ON known.name = users.timezone
)
SELECT user_id FROM zoned
WHERE platform = 'ios' AND push_opted_in
  AND last_used >  timezone(tz, timezone(tz, TIMESTAMPTZ '2026-11-30 00:00:00+00') - INTERVAL 21 DAY)
  AND last_used <= timezone(tz, timezone(tz, TIMESTAMPTZ '2026-11-30 00:00:00+00') - INTERVAL 14 DAY)
"""


def make_users(con: Any, users: int) -> None:
    """``users`` pseudo-random users, deterministic in the row number."""
    zones = "[" + ", ".join(f"'{z}'" for z in ZONES) + "]"
    invalid = "[" + ", ".join(f"'{z}'" for z in INVALID) + ", NULL]"
    platforms = "[" + ", ".join(f"'{p}'" for p in PLATFORMS) + "]"
    con.execute(f"""
        CREATE TABLE users AS
        SELECT
            'u' || i AS user_id,
            CASE WHEN hash(i, 'zone?') % 100 < 95 THEN {zones}[1 + (hash(i, 'zone') % {len(ZONES)})::INTEGER]
                 ELSE {invalid}[1 + (hash(i, 'bad') % {len(INVALID) + 1})::INTEGER] END AS timezone,
            CASE WHEN hash(i, 'seen?') % 50 = 0 THEN NULL
                 -- up to 60 days back, microsecond resolution, and a few (clock skew) up to a day ahead
                 ELSE TIMESTAMPTZ '2026-12-01 00:00:00+00'
                      - to_microseconds((hash(i, 'seen') % (61 * 86400000000))::BIGINT) END AS last_used,
            CASE WHEN hash(i, 'platform?') % 40 = 0 THEN NULL
                 ELSE {platforms}[1 + (hash(i, 'platform') % {len(PLATFORMS)})::INTEGER] END AS platform,
            CASE WHEN hash(i, 'push?') % 30 = 0 THEN NULL ELSE hash(i, 'push') % 4 <> 0 END AS push_opted_in
        FROM range({users}) AS t(i)
    """)


def median_seconds(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def count(con: Any, sql: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM ({sql}) AS q").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000_000, help="users in the table (default: 10,000,000)")
    parser.add_argument("--sample", type=int, default=1_000_000, help="users the plugin evaluates (default: 1,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported (default: 3)")
    args = parser.parse_args()
    sample = min(args.sample, args.users)

    con = duckdb.connect()
    start = time.perf_counter()
    make_users(con, args.users)
    built = time.perf_counter() - start
    rules = lapse_dsl.compile(RULE)

    generate, ours = median_seconds(lambda: segment_sql(rules, dialect="duckdb", at=AT), args.runs)
    t_ours, n_ours = median_seconds(lambda: count(con, ours), args.runs)
    t_hand, n_hand = median_seconds(lambda: count(con, HAND_WRITTEN), args.runs)
    differ = count(con, f"(({ours}) EXCEPT ({HAND_WRITTEN})) UNION ALL (({HAND_WRITTEN}) EXCEPT ({ours}))")

    # the plugin on a sample, the rows as user records (NULL = missing, as the warehouse source does)
    start = time.perf_counter()
    cursor = con.execute(f"SELECT user_id, timezone, last_used, platform, push_opted_in FROM users LIMIT {sample}")
    names = [d[0] for d in cursor.description]
    records = [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in cursor.fetchall()]
    fetched = time.perf_counter() - start
    name = rules.rules[0].name

    def plugin() -> set[str]:
        return {r["user_id"] for r in records if rules.in_segment(r, AT)[name] is True}

    t_plugin, in_plugin = median_seconds(plugin, args.runs)
    sampled = {r["user_id"] for r in records}
    from_sql = {row[0] for row in con.execute(ours).fetchall() if row[0] in sampled}
    agree = from_sql == in_plugin

    per_10m = 10_000_000 / args.users
    plugin_table = t_plugin * args.users / sample
    rows = [
        ("(a) segment_sql on DuckDB", t_ours, t_ours * per_10m, f"{n_ours:,} users"),
        ("    (generating that SQL)", generate, generate, f"{len(ours):,} characters"),
        ("(b) hand-written DuckDB, timezone()", t_hand, t_hand * per_10m, f"{n_hand:,} users; speed reference only"),
        (f"(c) plugin in Python, {sample:,} sample", t_plugin, t_plugin * 10_000_000 / sample,
         f"extrapolated: {plugin_table:.1f} s for the table"),
    ]
    print(f"lapse warehouse benchmark: {args.users:,} users, DuckDB {duckdb.__version__}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, median of {args.runs}")
    print(f"rule at {AT.isoformat()}: {RULE}")
    print(f"table built in {built:.1f} s; plugin sample fetched in {fetched:.1f} s (not timed)\n")
    print(f"{'':40} {'seconds':>9} {'per 10M':>9}  notes")
    for label, seconds, scaled, note in rows:
        print(f"{label:40} {seconds:9.3f} {scaled:9.3f}  {note}")
    print(f"\nratio (a)/(b): {t_ours / t_hand:.2f}x (target <= 1.2x); with SQL generation: "
          f"{(t_ours + generate) / t_hand:.2f}x")
    print(f"ratio (c)/(a), per 10M users: {t_plugin * 10_000_000 / sample / (t_ours * per_10m):.0f}x (extrapolated)")
    print(f"(a) vs (b): {differ:,} users differ (fold/gap resolution and clock skew are lapse's, not ICU's)")
    print(f"(a) vs plugin on the sample: {'identical' if agree else 'DIFFERENT'} ({len(in_plugin):,} users in segment)")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
