"""Sources of users and sessions added for issue 14: Parquet files (streamed by record batch, typed
columns, a bad value costs its row only) for every command that reads users or sessions, and
DuckDB, SQLite and CSV sessions. A Parquet copy of the example data gives byte for byte the
results of its JSON lines."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import attrs
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lapse_dsl import sources
from lapse_dsl.cli import main
from lapse_dsl.sessions import BadSession, Session, open_sessions
from lapse_dsl.sources import SourceError, open_source
from lapse_dsl.zones import get_zone

ROOT = Path(__file__).resolve().parent.parent
USERS = ROOT / "examples" / "users.jsonl"
SESSIONS = ROOT / "examples" / "sessions.jsonl"
RULES = ROOT / "rules" / "send_time_experiment.lapse"
NOW = "2026-11-30T00:00:00Z"
UTC = dt.UTC


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


def lapse(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return Result(code, out, err)


# Parquet: typed columns, row by row -------------------------------------------------------------


def test_parquet_columns_keep_their_types(tmp_path: Path) -> None:
    table = pa.table({
        "user_id": pa.array(["a", "b", None]),
        "last_used": pa.array([dt.datetime(2026, 11, 14, 9, tzinfo=UTC), None, None], pa.timestamp("us", tz="UTC")),
        "seen": pa.array([dt.datetime(2026, 11, 14, 9), None, None], pa.timestamp("ms")),  # no zone
        "exact": pa.array([1_700_000_000_123_456_789, None, None], pa.timestamp("ns", tz="Europe/Paris")),
        "sessions": pa.array([3, None, 5], pa.int64()),
        "score": pa.array([2.5, None, None], pa.float32()),
        "push_opted_in": pa.array([True, False, None]),
        "custom": pa.array([{"tier": "gold"}, None, {"tier": None}], pa.struct([("tier", pa.string())])),
        "custom.region": pa.array(["eu", None, None]),
        "history": pa.array([[{"campaign": "x", "channel": "push", "at": "2026-11-01T00:00:00Z"}], None, []]),
    })
    path = tmp_path / "users.parquet"
    pq.write_table(table, path)
    rows = list(open_source(str(path), {}))
    assert rows == [
        (1, {
            "user_id": "a", "last_used": dt.datetime(2026, 11, 14, 9, tzinfo=UTC), "seen": dt.datetime(2026, 11, 14, 9),
            "exact": dt.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC), "sessions": 3, "score": 2.5,
            "push_opted_in": True, "custom": {"tier": "gold", "region": "eu"},
            "history": [{"campaign": "x", "channel": "push", "at": "2026-11-01T00:00:00Z"}],
        }),
        (2, {"user_id": "b", "push_opted_in": False}),
        (3, {"sessions": 5, "custom": {"tier": None}, "history": []}),
    ]
    exact = rows[0][1]["exact"]  # type: ignore[index]
    assert type(exact) is dt.datetime and exact.tzinfo is not None  # not a pandas Timestamp


def test_a_bad_parquet_value_costs_its_row_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_PARQUET_BATCH", 3)  # the bad row in the middle of the second batch
    year_10000 = 253_402_300_800 * 1_000_000  # microseconds: the first instant Python cannot hold
    times = [i * 1_000_000 for i in range(8)]
    times[4] = year_10000
    path = tmp_path / "sessions.parquet"
    pq.write_table(pa.table({"user_id": [f"u{i}" for i in range(8)], "at": pa.array(times, pa.timestamp("us", tz="UTC"))}),
                   path)
    rows = list(open_source(str(path), {}))
    assert [line for line, _ in rows] == list(range(1, 9))
    assert rows[4] == (5, "at: OverflowError: date value out of range")
    good = [r for _, r in rows if isinstance(r, dict)]
    assert [r["user_id"] for r in good] == ["u0", "u1", "u2", "u3", "u5", "u6", "u7"]
    assert good[4]["at"] == dt.datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_parquet_streams_and_reports_its_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_PARQUET_BATCH", 10)
    path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"user_id": [f"u{i}" for i in range(25)]}), path, row_group_size=10)
    source = open_source(str(path), {})
    assert source.size == path.stat().st_size and source.position() == 0
    seen = []
    for line, _ in source:
        seen.append((line, source.position()))
    assert [p for line, p in seen if line in (1, 11, 21)] == [0, source.size * 10 // 25, source.size * 20 // 25]
    assert source.position() == source.size


def test_a_file_that_is_not_parquet_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "users.parquet").write_text('{"user_id": "a"}\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"users\.parquet: not a readable Parquet file \("):
        open_source(str(tmp_path / "users.parquet"), {})
    run = lapse(capsys, "run", RULES, "--users", tmp_path / "users.parquet", "--now", NOW)
    assert run.code == 2 and run.err.startswith(f"lapse: error: {tmp_path / 'users.parquet'}: not a readable Parquet")


def test_missing_pyarrow_is_a_clear_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users.parquet"
    pq.write_table(pa.table({"user_id": ["a"]}), path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import fails as when it is not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    expected = f"lapse: error: {path}: reading Parquet needs pyarrow: pip install 'lapse-dsl[parquet]'\n"
    run = lapse(capsys, "run", RULES, "--users", path, "--now", NOW)
    assert (run.code, run.out, run.err) == (2, "", expected)
    users = tmp_path / "users.jsonl"
    users.write_text('{"user_id": "a"}\n', encoding="utf-8")
    run = lapse(capsys, "insights", "--users", users, "--sessions", path)
    assert (run.code, run.out, run.err) == (2, "", expected)


# Parquet round trip: the example data -----------------------------------------------------------

TIMES = ("last_used", "first_used", "trial_ends")
USER_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("first_name", pa.string()), ("last_used", pa.timestamp("us", tz="UTC")),
    ("first_used", pa.timestamp("us", tz="UTC")), ("sessions", pa.int64()), ("platform", pa.string()),
    ("timezone", pa.string()), ("push_opted_in", pa.bool_()), ("email_subscribed", pa.bool_()),
    ("country", pa.string()), ("language", pa.string()), ("app_version", pa.string()),
    ("custom", pa.struct([("tier", pa.string())])), ("trial_ends", pa.timestamp("us", tz="UTC")),
    ("preferred_time", pa.string()),
])


def well_formed(path: Path, times: tuple[str, ...]) -> list[dict[str, Any]]:
    """The records of a JSON lines file that a typed table can hold: JSON objects whose times
    have an offset (the malformed lines on purpose are left out of both copies)."""
    records = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(text)
            if not isinstance(record.get("user_id"), str):
                continue
            for name in times:
                if name in record:
                    record[name] = dt.datetime.fromisoformat(record[name]).astimezone(UTC)
                    assert record[name].utcoffset() is not None
        except (ValueError, TypeError, AttributeError):
            continue
        records.append(record)
    return records


def as_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    def plain(value: Any) -> Any:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(value, dt.datetime) else value

    path.write_text("".join(json.dumps({k: plain(v) for k, v in r.items()}, ensure_ascii=False) + "\n"
                            for r in records), encoding="utf-8")
    return path


def test_lapse_run_on_parquet_users_is_byte_for_byte_the_jsonl_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = well_formed(USERS, TIMES)
    assert len(records) > 3900
    pq.write_table(pa.Table.from_pylist(records, schema=USER_SCHEMA), tmp_path / "users.parquet")
    jsonl = as_jsonl(tmp_path / "users.jsonl", records)
    rules = tmp_path / "rules"  # campaigns reading times, strings, booleans, a clock, a nested default
    rules.mkdir()
    for name in ("send_time_experiment.lapse", "trial_ending.lapse"):
        (rules / name).write_bytes((ROOT / "rules" / name).read_bytes())
    from_jsonl = lapse(capsys, "run", rules, "--users", jsonl, "--now", NOW)
    from_parquet = lapse(capsys, "run", rules, "--users", tmp_path / "users.parquet", "--now", NOW)
    assert from_jsonl.code == from_parquet.code == 0
    assert from_parquet.out == from_jsonl.out
    assert from_jsonl.out.count("\n") > 1000  # decisions, of several campaigns
    assert from_parquet.err == from_jsonl.err  # the same summary, the same rejections (none)


def test_lapse_insights_on_parquet_is_byte_for_byte_the_jsonl_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = well_formed(USERS, TIMES)
    pq.write_table(pa.Table.from_pylist(users, schema=USER_SCHEMA), tmp_path / "users.parquet")
    sessions = well_formed(SESSIONS, ("at",))
    assert len(sessions) == len(SESSIONS.read_text(encoding="utf-8").splitlines()) - 2  # all but 2 bad rows
    session_schema = pa.schema([("user_id", pa.string()), ("at", pa.timestamp("s", tz="UTC")),
                                ("timezone", pa.string())])
    pq.write_table(pa.Table.from_pylist(sessions, schema=session_schema), tmp_path / "sessions.parquet",
                   row_group_size=5000)
    as_jsonl(tmp_path / "users.jsonl", users)
    as_jsonl(tmp_path / "sessions.jsonl", sessions)
    outputs = {}
    for kind in ("jsonl", "parquet"):
        (tmp_path / kind).mkdir()
        run = lapse(capsys, "insights", "--users", tmp_path / f"users.{kind}", "--sessions", tmp_path / f"sessions.{kind}",
                    "--now", NOW, "--weeks", "12", "--per-user", tmp_path / kind / "preferred.jsonl")
        assert run.code == 0, run.err
        err = run.err.replace(str(tmp_path), "TMP").replace(f"TMP/{kind}/", "TMP/X/")
        err = err.replace(f"users.{kind}", "users.X").replace(f"sessions.{kind}", "sessions.X")
        outputs[kind] = (run.out, (tmp_path / kind / "preferred.jsonl").read_bytes(), err)
    assert outputs["parquet"] == outputs["jsonl"]
    assert "sessions read" in outputs["jsonl"][2] and outputs["jsonl"][1].count(b"\n") > 500


# sessions from every kind of source -------------------------------------------------------------

SESSION_ROWS = [("a", "2026-11-02T19:00:00Z", "Europe/Paris"), ("b", "2026-11-03T08:00:00Z", None)]
EXPECTED = [(1, Session("a", dt.datetime(2026, 11, 2, 19, tzinfo=UTC), "Europe/Paris")),
            (2, Session("b", dt.datetime(2026, 11, 3, 8, tzinfo=UTC), None))]


def read(spec: str, table: str | None = None) -> list[tuple[int, Session | str]]:
    with open_sessions(spec, table) as rows:
        return list(rows)


def test_sessions_from_sqlite_and_csv(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "events.db")
    conn.execute("CREATE TABLE sessions (user_id TEXT, at TEXT, timezone TEXT)")
    conn.executemany("INSERT INTO sessions VALUES (?, ?, ?)", SESSION_ROWS)
    conn.execute("CREATE TABLE app_sessions AS SELECT * FROM sessions")
    conn.commit()
    conn.close()
    assert read(str(tmp_path / "events.db")) == EXPECTED
    assert read(str(tmp_path / "events.db"), "app_sessions") == EXPECTED
    epoch = int(dt.datetime(2026, 11, 3, 8, tzinfo=UTC).timestamp())
    (tmp_path / "s.csv").write_text(f"user_id,at,timezone\na,2026-11-02T19:00:00Z,Europe/Paris\nb,{epoch},\n",
                                    encoding="utf-8")
    assert read(str(tmp_path / "s.csv")) == [(line + 1, session) for line, session in EXPECTED]  # the header is line 1


def duck(path: Path, sql: str, rows: list[tuple[Any, ...]] = SESSION_ROWS) -> str:
    conn = duckdb.connect(str(path))
    conn.execute(sql)
    name = sql.split()[2]
    conn.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    conn.close()
    return f"duckdb:{path}"


def test_sessions_from_duckdb(tmp_path: Path) -> None:
    spec = duck(tmp_path / "w.duckdb", 'CREATE TABLE sessions (user_id VARCHAR, "at" TIMESTAMPTZ, timezone VARCHAR)')
    assert read(spec) == EXPECTED
    duck(tmp_path / "w.duckdb", 'CREATE TABLE events (user_id BIGINT, "at" TIMESTAMP, extra INTEGER)',
         [(7, dt.datetime(2026, 11, 2, 19), 1)])
    naive = read(spec, "events")
    assert naive == [(1, "at: '2026-11-02 19:00:00' has no UTC offset; add one (such as Z) or use --naive-timezone")]
    assert isinstance(naive[0][1], BadSession) and naive[0][1].kind == "at"
    with open_sessions(spec, "events", naive_zone=get_zone("Asia/Tokyo")) as rows:
        assert list(rows) == [(1, Session("7", dt.datetime(2026, 11, 2, 10, tzinfo=UTC), None))]
    with pytest.raises(SourceError, match=r"table nope"):
        read(spec, "nope")
    duck(tmp_path / "w.duckdb", "CREATE TABLE clicks (user_id VARCHAR, ts TIMESTAMPTZ)", [("a", None)])
    with pytest.raises(SourceError, match=r"table clicks has no column 'at'; its columns: user_id, ts"):
        read(spec, "clicks")
    with pytest.raises(SourceError, match="is not a table name: it holds an SQL comment"):
        read(spec, "sessions -- all of them")
    with pytest.raises(SourceError, match="Table with name x; DROP TABLE sessions does not exist"):
        read(spec, "x; DROP TABLE sessions")  # one name, quoted: nothing else runs
    assert read(spec) == EXPECTED


def test_insights_reads_duckdb_users_and_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.duckdb"
    spec = duck(path, 'CREATE TABLE app_sessions (user_id VARCHAR, "at" TIMESTAMPTZ, timezone VARCHAR)')
    duck(path, "CREATE TABLE people (user_id VARCHAR, timezone VARCHAR, name VARCHAR)",
         [("a", "Asia/Tokyo", "Ana"), ("b", "America/New_York", "Ben")])
    run = lapse(capsys, "insights", "--users", spec, "--table", "people", "--sessions", spec,
                "--sessions-table", "app_sessions", "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    # a: its event's zone, Paris (20:00 on Monday); b: its own zone, New York (03:00 on Tuesday)
    assert report["matrix"][0][20] == 1 and report["matrix"][1][3] == 1 and report["sessions"]["counted"] == 2
    missing = lapse(capsys, "insights", "--users", spec, "--sessions", spec, "--sessions-table", "app_sessions")
    assert missing.code == 2 and "cannot read table users" in missing.err


def test_bad_session_kinds(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"at": "2026-11-02T19:00:00Z"}\n{"user_id": "a"}\n{"user_id": "a", "at": true}\nnope\n'
                    '{"user_id": ["a"], "at": "2026-11-02T19:00:00Z"}\n', encoding="utf-8")
    rows = read(str(path))
    assert [(line, r.kind) for line, r in rows if isinstance(r, BadSession)] == [
        (1, "user_id"), (2, "at"), (3, "at"), (4, "unreadable"), (5, "user_id")]
    assert rows[0][1] == "session has no user_id" and rows[1][1] == "session has no 'at' time"
