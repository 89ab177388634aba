"""Whole campaign runs on Spark (issue 15): ``lapse run --users spark:...`` and
``lapse_dsl.spark.decide`` give, row for row, the decisions and rejections of ``lapse run`` over the
same Parquet users: the bundled example users, and users on every window edge of the SQL
differential rules in DST weeks and far zones, with hostile rows (no user_id, NaN numbers,
malformed history entries). The push-down filter is real (excluded users never reach Python) and
loses nothing. Spark runs in local mode on 127.0.0.1, as the warehouse tests do."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sql_support as s
from test_parquet import USER_SCHEMA, example_records, lapse

from lapse_dsl import LapseCheckError, spark
from lapse_dsl.batch import parquet_schema
from lapse_dsl.timecalc import iso_utc
from lapse_dsl.userdata import parse_time

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-30T00:00:00Z"
UTC = dt.UTC
STAMP = pa.timestamp("us", tz="UTC")
HISTORY = pa.list_(pa.struct([("at", STAMP), ("campaign", pa.string()), ("channel", pa.string())]))
EDGE_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("timezone", pa.string()), ("last_used", STAMP), ("first_used", STAMP),
    ("renewal_at", STAMP), ("sessions", pa.float64()), ("platform", pa.string()), ("push_opted_in", pa.bool_()),
    ("email_subscribed", pa.bool_()), ("country", pa.string()), ("language", pa.string()),
    ("app_version", pa.string()), ("custom", pa.struct([("tier", pa.string()), ("lifetime_value", pa.float64())])),
    ("history", HISTORY),
])
# A catalog whose static conditions exclude most example users: the push-down has work to do.
NARROW = '''attribute custom.tier: string

campaign "ios gold" {
    segment platform = "ios" and custom.tier = "gold" and last_used between 2w and 3w
    send push weekly thu 17:45 local
}
campaign "android opted in" {
    segment platform = "android" and push_opted_in and sessions >= 40 and last_used more than 3w ago
    send push daily 10:00 local
}
'''


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = spark.session("local[2]")  # the command's own session
    zone = session.conf.get("spark.sql.session.timeZone")
    session.conf.set("spark.sql.session.timeZone", "Pacific/Chatham")  # the run must not depend on it
    partitions = session.conf.get("spark.sql.shuffle.partitions")
    session.conf.set("spark.sql.shuffle.partitions", "4")  # small data: fewer, not 200 tiny, tasks
    yield session
    session.conf.set("spark.sql.session.timeZone", zone)
    session.conf.set("spark.sql.shuffle.partitions", partitions)


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value, "t", None).astimezone(UTC)
    except Exception:  # a time no Parquet timestamp holds: missing in this copy
        return None


def edge_records() -> list[dict[str, Any]]:
    """The SQL differential population (on every window edge, in DST and far zones) typed for
    Parquet, and hostile rows: each one is rejected by ``lapse run`` whatever its segment."""
    records = []
    for user in s.make_users(1_500):
        record = dict(user)
        for name in s.TIME_ATTRIBUTES:
            record[name] = _time(record.get(name))
        if record.get("sessions") is not None:
            record["sessions"] = float(record["sessions"])
        custom = record.get("custom")
        if isinstance(custom, dict) and custom.get("lifetime_value") is not None:
            custom["lifetime_value"] = float(custom["lifetime_value"])
        records.append(record)
    excluded = {"platform": "web", "sessions": 0.0, "push_opted_in": False, "timezone": "Asia/Tokyo",
                "last_used": dt.datetime(2020, 1, 1, tzinfo=UTC)}
    at = dt.datetime(2026, 3, 1, tzinfo=UTC)
    hostile = [
        {**excluded, "user_id": None},
        {**excluded, "user_id": ""},
        {**excluded, "user_id": "nan-sessions", "sessions": math.nan},
        {**excluded, "user_id": "history-without-campaign", "history": [{"at": at, "campaign": None, "channel": "push"}]},
        {**excluded, "user_id": "history-without-time", "history": [{"at": None, "campaign": "c", "channel": "push"}]},
        {**excluded, "user_id": "history-far-ahead",
         "history": [{"at": dt.datetime(9500, 1, 1, tzinfo=UTC), "campaign": "c", "channel": "push"}]},
        {**excluded, "user_id": "history-fine", "history": [{"at": at, "campaign": "lapsed_2w", "channel": "push"}]},
        {**excluded, "user_id": "inf-sessions", "sessions": math.inf},
    ]
    return records[:700] + hostile + records[700:]


def and3(*values: bool | None) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def write(path: Path, records: list[dict[str, Any]], schema: pa.Schema, row_group_size: int = 400) -> Path:
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path, row_group_size=row_group_size)
    return path


def run_both(capsys: pytest.CaptureFixture[str], tmp_path: Path, rules: Path, users: Path, now: str,
             *extra: str) -> tuple[Any, Any]:
    """``lapse run`` over the Parquet file, then over Spark; their outputs and errors as files."""
    runs = []
    for name, spec in (("one", str(users)), ("spark", f"spark:{users}")):
        out, errors = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.errors"
        args = ["run", rules, "--users", spec, "--now", now, "--out", out, "--errors", errors, *extra]
        result = lapse(capsys, *args, *(["--spark-master", "local[2]"] if name == "spark" else []))
        runs.append((result, out.read_bytes(), errors.read_bytes()))
    return runs[0], runs[1]


def test_the_example_users_decided_on_spark_equal_lapse_run(session: Any, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    users = write(tmp_path / "users.parquet", example_records(), USER_SCHEMA, row_group_size=700)
    one, on_spark = run_both(capsys, tmp_path, ROOT / "rules", users, NOW)
    assert one[0].code == on_spark[0].code == 0
    assert one[1].count(b"\n") > 5_000 and one[2].count(b"\n") == 1  # decisions, and the row without user_id
    assert on_spark[1:] == one[1:]  # decisions and rejections, byte for byte
    assert on_spark[0].err == one[0].err  # the summary, warnings included


@pytest.mark.parametrize("now", s.NY_DST_WEEKS, ids=["spring", "fall"])
def test_edge_users_in_dst_weeks_decided_on_spark_equal_lapse_run(session: Any, tmp_path: Path, now: dt.datetime,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.lapse"
    rules.write_text(s.RULES_A, encoding="utf-8")
    users = write(tmp_path / "users.parquet", edge_records(), EDGE_SCHEMA)
    one, on_spark = run_both(capsys, tmp_path, rules, users, now.isoformat(), "--within", "7d")
    assert one[0].code == on_spark[0].code == 0
    rejected = [json.loads(line) for line in one[2].decode().splitlines()]
    assert {r["user_id"] for r in rejected} >= {None, "nan-sessions", "history-without-campaign",
                                                "history-without-time", "history-far-ahead"}
    assert on_spark[1:] == one[1:]
    assert on_spark[0].err == one[0].err


def test_push_down_keeps_python_from_excluded_users_and_loses_none(session: Any, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "narrow.lapse"
    rules.write_text(NARROW, encoding="utf-8")
    records = example_records()
    users = write(tmp_path / "users.parquet", records, USER_SCHEMA)
    decided = spark.decide(session.read.parquet(str(users)), rules, dt.datetime(2026, 11, 30, tzinfo=UTC))
    assert decided.pushdown is not None and decided.why_not is None
    counts = decided.rows.where(f"{spark._KIND} = '{spark.COUNT}'").select("_lapse_read").collect()
    reached = sum(r["_lapse_read"] for r in counts)
    # who can be in a segment by the static conditions alone (not false in three-valued logic), or
    # is rejected whatever its segment, counted here from the records
    def can_be(r: dict[str, Any]) -> bool:
        platform, tier = r.get("platform"), (r.get("custom") or {}).get("tier")
        sessions = r.get("sessions")
        ios = and3(None if platform is None else platform == "ios", None if tier is None else tier == "gold")
        android = and3(None if platform is None else platform == "android", r.get("push_opted_in"),
                       None if sessions is None else sessions >= 40)
        return not r.get("user_id") or ios is not False or android is not False

    static = sum(map(can_be, records))
    assert reached == static < len(records) // 3
    one, on_spark = run_both(capsys, tmp_path, rules, users, NOW)
    assert one[1].count(b"\n") > 10
    assert on_spark[1:] == one[1:] and on_spark[0].err == one[0].err


def test_rows_rejected_whatever_their_segment_pass_the_filter(session: Any, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The hostile rows are on the web platform, so no rule of NARROW can hold for them: only the
    filter's own clauses bring them to Python, where ``lapse run`` rejects them."""
    rules = tmp_path / "narrow.lapse"
    rules.write_text(NARROW, encoding="utf-8")
    users = write(tmp_path / "users.parquet", edge_records(), EDGE_SCHEMA)
    one, on_spark = run_both(capsys, tmp_path, rules, users, NOW)
    rejected = {json.loads(line)["user_id"] for line in one[2].decode().splitlines()}
    assert rejected == {None, "nan-sessions", "history-without-campaign", "history-without-time", "history-far-ahead"}
    assert on_spark[1:] == one[1:] and on_spark[0].err == one[0].err


def test_the_api_frames_hold_the_decisions_and_the_rejections_with_their_lines(session: Any, tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.lapse"
    rules.write_text(s.RULES_A, encoding="utf-8")
    users = write(tmp_path / "users.parquet", edge_records(), EDGE_SCHEMA)
    now = s.NY_DST_WEEKS[1]
    decided = spark.decide(session.read.parquet(str(users)), rules, now, within=dt.timedelta(days=7))
    types = importlib.import_module("pyspark.sql.pandas.types")
    expected_types = types.from_arrow_schema(parquet_schema(pa))
    assert [(f.name, f.dataType) for f in decided.decisions.schema] == [(f.name, f.dataType) for f in expected_types]
    one = lapse(capsys, "run", rules, "--users", users, "--now", now.isoformat(), "--within", "7d")
    expected = [json.loads(line) for line in one.out.splitlines()]
    got = decided.decisions.toArrow().to_pylist()
    assert len(got) > 100
    assert sorted((d["user_id"], d["campaign"], iso_utc(d["send_at"]), sorted(d["message"]), d["warnings"])
                  for d in got) == sorted((d["user_id"], d["campaign"], d["send_at"], sorted(d["message"].items()),
                                           d["warnings"]) for d in expected)  # a DataFrame has no order
    rejected = [json.loads(line) for line in one.err.splitlines() if line.startswith("{")]
    assert len(rejected) >= 5
    assert [r.asDict() for r in decided.rejected.orderBy("line").collect()] == rejected


def test_history_joined_from_a_dataframe_is_each_users_history(session: Any, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    records = [r for r in edge_records() if r.get("user_id")]
    sends = [{"user_id": r["user_id"], "campaign": campaign, "channel": channel, "at": r["last_used"] + lag}
             for i, r in enumerate(records) if r.get("last_used") is not None and i % 3 == 0
             for campaign, channel, lag in (("lapsed_2w", "push", dt.timedelta(days=8)),
                                           ("quiet_capped", "push", dt.timedelta(days=4)))]
    sends.append({"user_id": records[5]["user_id"], "campaign": None, "channel": "push", "at": s.NY_DST_WEEKS[0]})
    with_history = []
    for r in records:
        own = sorted(({"at": e["at"], "campaign": e["campaign"], "channel": e["channel"]} for e in sends
                      if e["user_id"] == r["user_id"]), key=lambda e: (e["at"], e["campaign"] or "", e["channel"]))
        with_history.append({**{k: v for k, v in r.items() if k != "history"}, "history": own or None})
    users = write(tmp_path / "with_history.parquet", with_history, EDGE_SCHEMA)
    rules = tmp_path / "rules.lapse"
    rules.write_text(s.RULES_A, encoding="utf-8")
    now = s.NY_DST_WEEKS[0]
    one = lapse(capsys, "run", rules, "--users", users, "--now", now.isoformat())
    assert one.out.count("\n") > 100 and '"history[0] needs string' in one.err

    plain = write(tmp_path / "plain.parquet", [{k: v for k, v in r.items() if k != "history"} for r in records],
                  EDGE_SCHEMA.remove(EDGE_SCHEMA.get_field_index("history")))
    history = session.createDataFrame([(e["user_id"], e["campaign"], e["channel"], e["at"]) for e in sends],
                                      "user_id string, campaign string, channel string, at timestamp")
    decided = spark.decide(session.read.parquet(str(plain)), rules, now, history=history)
    out, errors = tmp_path / "spark.jsonl", tmp_path / "spark.errors"
    with out.open("w", encoding="utf-8") as o, errors.open("w", encoding="utf-8") as e:
        summary = spark.run(decided, out=o, fmt="jsonl", errors=e)
    assert out.read_text(encoding="utf-8") == one.out
    assert errors.read_text(encoding="utf-8") == "".join(line + "\n" for line in one.err.splitlines()
                                                         if line.startswith("{"))
    assert summary.render() in one.err


def test_a_column_of_another_type_than_the_rules_read_turns_the_push_down_off(session: Any, tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "narrow.lapse"
    rules.write_text(NARROW, encoding="utf-8")
    records = [{**r, "sessions": None if r.get("sessions") is None else str(r["sessions"])} for r in example_records()]
    records[3]["sessions"] = "a lot"  # malformed: lapse run rejects it, whatever its platform
    schema = USER_SCHEMA.set(USER_SCHEMA.get_field_index("sessions"), pa.field("sessions", pa.string()))
    users = write(tmp_path / "users.parquet", records, schema)
    decided = spark.decide(session.read.parquet(str(users)), rules, dt.datetime(2026, 11, 30, tzinfo=UTC))
    assert decided.pushdown is None and "column sessions is string" in (decided.why_not or "")
    one, on_spark = run_both(capsys, tmp_path, rules, users, NOW)
    assert b'"user_id": "' + records[3]["user_id"].encode() in one[2]
    assert on_spark[1:] == one[1:]
    assert "no push-down filter ran before Python: column sessions is string" in on_spark[0].err


def test_spark_sources_are_checked_before_any_job(session: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rules = ROOT / "rules" / "braze_lapsing.lapse"
    cases = [
        (["--users", "spark:no_such_table"], "spark:no_such_table: cannot be read"),
        (["--users", "spark:"], "spark: needs a Parquet path or a table name"),
        (["--users", "spark:a b;c"], "lapse: error: spark:a b;c: "),
        (["--users", "spark:users.parquet", "--workers", "2"], "--workers does not apply to --users spark:"),
        (["--users", "spark:users.parquet", "--summary"], "--summary does not apply"),
        (["--users", str(ROOT / "examples" / "users.jsonl"), "--spark-master", "local[2]"],
         "--spark-master applies to --users spark:PATH_OR_TABLE"),
    ]
    for args, message in cases:
        result = lapse(capsys, "run", rules, *args, "--now", NOW)
        assert result.code == 2 and message in result.err, args
    plan = lapse(capsys, "plan", rules, "--users", "spark:users", "--now", NOW)
    assert plan.code == 2 and "Spark runs whole campaigns with lapse run only" in plan.err


def test_the_api_refuses_bad_rules_and_history_before_any_job(session: Any, tmp_path: Path) -> None:
    users = session.createDataFrame([("u1", "ios")], "user_id string, platform string")
    now = dt.datetime(2026, 11, 30, tzinfo=UTC)
    broken = tmp_path / "broken.lapse"
    broken.write_text("segment last_usd between 2w and 3w; send push weekly thu 17:45 local\n", encoding="utf-8")
    with pytest.raises(LapseCheckError, match="did you mean 'last_used'"):
        spark.decide(users, broken, now)
    rules = ROOT / "rules" / "braze_lapsing.lapse"
    with pytest.raises(ValueError, match="it lacks at, channel"):
        spark.decide(users, rules, now, history=session.createDataFrame([("u1", "c")], "user_id string, campaign string"))
    with pytest.raises(TypeError, match="now must be an aware datetime"):
        spark.decide(users, rules, dt.datetime(2026, 11, 30))
