"""Parquet in and out of ``lapse run`` (issue 15): users from a Parquet file, a folder or a glob of
them give byte for byte the run of the same users as JSON lines; ``--out plan.parquet`` holds, in a
fixed typed schema, field for field what ``--out plan.jsonl`` holds; typed columns read as their
JSON equivalents; a bad row costs only itself."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lapse_dsl import batch, sources
from lapse_dsl.batch import DECISION_FIELDS, parquet_schema
from lapse_dsl.cli import main
from lapse_dsl.sources import SourceError, open_source, parquet_files
from lapse_dsl.timecalc import iso_utc

ROOT = Path(__file__).resolve().parent.parent
USERS = ROOT / "examples" / "users.jsonl"
NOW = "2026-11-30T00:00:00Z"
UTC = dt.UTC
TIMES = ("last_used", "first_used", "trial_ends")
USER_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("first_name", pa.string()), ("last_used", pa.timestamp("us", tz="UTC")),
    ("first_used", pa.timestamp("us", tz="UTC")), ("sessions", pa.int64()), ("platform", pa.string()),
    ("timezone", pa.string()), ("push_opted_in", pa.bool_()), ("email_subscribed", pa.bool_()),
    ("country", pa.string()), ("language", pa.string()), ("app_version", pa.string()),
    ("custom", pa.struct([("tier", pa.string())])), ("trial_ends", pa.timestamp("us", tz="UTC")),
    ("preferred_time", pa.string()),
])


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


def example_records() -> list[dict[str, Any]]:
    """The example users a typed table can hold (the malformed lines on purpose are left out),
    their times as aware datetimes; the 101st has no user_id (a rejection in both copies)."""
    records = []
    for text in USERS.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(text)
            if not isinstance(record.get("user_id"), str):
                continue
            for name in TIMES:
                if name in record:
                    record[name] = dt.datetime.fromisoformat(record[name]).astimezone(UTC)
        except (ValueError, TypeError, AttributeError):
            continue
        records.append(record)
    del records[100]["user_id"]
    return records


def jsonl_of(path: Path, records: list[dict[str, Any]]) -> Path:
    def plain(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.isoformat(sep=" ") if value.tzinfo is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
        if isinstance(value, decimal.Decimal):
            return float(value) if value.as_tuple().exponent else int(value)  # type: ignore[operator]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    path.write_text("".join(json.dumps({k: plain(v) for k, v in r.items() if v is not None}, ensure_ascii=False)
                            + "\n" for r in records), encoding="utf-8")
    return path


def rules_folder(tmp_path: Path) -> Path:
    """Campaigns reading times, strings, booleans, a clock and a nested attribute, with holdouts,
    variants, messages and time-zone warnings: every kind of output field."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("send_time_experiment.lapse", "trial_ending.lapse", "production_vip_winback.lapse"):
        (rules / name).write_bytes((ROOT / "rules" / name).read_bytes())
    return rules


def folder_of_parts(folder: Path, records: list[dict[str, Any]]) -> list[Path]:
    """``records`` split over three files in a Spark-like folder (nested, with marker and hidden
    files that are not users); the parts in the order they must be read."""
    folder.mkdir()
    (folder / "z").mkdir()
    parts = [folder / "part-00000.parquet", folder / "part-00001.parquet", folder / "z" / "part-00002.parquet"]
    for path, chunk in zip(parts, (records[:70], records[70:1500], records[1500:]), strict=True):
        pq.write_table(pa.Table.from_pylist(chunk, schema=USER_SCHEMA), path, row_group_size=500)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.parquet").write_text("not Parquet: hidden, so not read")
    (folder / "_temporary").mkdir()
    (folder / "_temporary" / "attempt.parquet").write_text("not Parquet: a job still writing")
    return parts


# Users: a file, a folder, a glob -------------------------------------------------------------------


def test_a_file_a_folder_and_a_glob_give_the_jsonl_run_byte_for_byte(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    records = example_records()
    rules = rules_folder(tmp_path)
    jsonl = jsonl_of(tmp_path / "users.jsonl", records)
    pq.write_table(pa.Table.from_pylist(records, schema=USER_SCHEMA), tmp_path / "users.parquet")
    folder_of_parts(tmp_path / "users", records)
    from_jsonl = lapse(capsys, "run", rules, "--users", jsonl, "--now", NOW)
    assert from_jsonl.code == 0 and from_jsonl.out.count("\n") > 1000
    assert '{"line": 101, "user_id": null, "error": "user record has no user_id"}' in from_jsonl.err
    for users in (tmp_path / "users.parquet", tmp_path / "users", f"{tmp_path}/users/**/part-*.parquet"):
        run = lapse(capsys, "run", rules, "--users", users, "--now", NOW)
        assert (run.code, run.out, run.err) == (0, from_jsonl.out, from_jsonl.err), users


def test_a_folder_is_its_parquet_files_sorted_by_path_and_a_glob_its_matches(tmp_path: Path) -> None:
    parts = folder_of_parts(tmp_path / "users", example_records())
    assert parquet_files(str(tmp_path / "users")) == parts
    assert parquet_files(str(tmp_path / "users" / "part-*.parquet")) == parts[:2]
    assert parquet_files(str(parts[0])) is None  # one file: not a folder or a glob
    assert parquet_files(str(tmp_path / "users.jsonl")) is None


@pytest.mark.parametrize(("spec", "message"), [
    ("empty", "empty: a folder without .parquet files"),
    ("users/none-*.parquet", "users/none-*.parquet: no file matches"),
    ("users/*.jsonl", "users/*.jsonl: a glob must name .parquet files (such as 'users/part-*.parquet')"),
], ids=["empty folder", "glob without matches", "glob of other files"])
def test_a_folder_or_glob_without_parquet_files_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                spec: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "users.jsonl").write_text('{"user_id": "a"}\n', encoding="utf-8")
    folder_of_parts(tmp_path / "users", example_records()[:200])
    with pytest.raises(SourceError) as caught:
        open_source(str(tmp_path / spec), {})
    assert str(caught.value) == f"{tmp_path}/{message}"
    run = lapse(capsys, "run", rules_folder(tmp_path), "--users", tmp_path / spec, "--now", NOW)
    assert (run.code, run.out, run.err) == (2, "", f"lapse: error: {tmp_path}/{message}\n")


def test_a_part_that_is_not_parquet_stops_the_run_before_any_output(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    parts = folder_of_parts(tmp_path / "users", example_records())
    parts[2].write_bytes(b"PAR1 but not really")  # the last part: still found before the first row is read
    plan = tmp_path / "plan.jsonl"
    run = lapse(capsys, "run", rules_folder(tmp_path), "--users", tmp_path / "users", "--now", NOW, "--out", plan)
    assert run.code == 2 and run.out == ""
    assert run.err.startswith(f"lapse: error: {parts[2]}: not a readable Parquet file (")
    assert not plan.exists()


def test_out_cannot_be_one_of_the_parquet_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parts = folder_of_parts(tmp_path / "users", example_records()[:50])
    run = lapse(capsys, "run", rules_folder(tmp_path), "--users", tmp_path / "users", "--now", NOW, "--out", parts[1])
    assert run.code == 2
    assert run.err == (f"lapse: error: --out {parts[1]} is a users file ({parts[1]}): writing it would destroy "
                       "the input\n")


def test_rows_are_numbered_and_progress_measured_across_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_PARQUET_BATCH", 100)
    records = example_records()
    parts = folder_of_parts(tmp_path / "users", records)
    sizes = [p.stat().st_size for p in parts]
    source = open_source(str(tmp_path / "users"), {})
    assert (source.size, source.position()) == (sum(sizes), 0)
    positions = {}
    for line, record in source:
        positions[line] = source.position()
        if isinstance(record, dict):
            assert record.get("user_id") == records[line - 1].get("user_id")
    assert sorted(positions) == list(range(1, len(records) + 1))
    # a part's first row is read when the parts before it are done; the first batch of the last part is done by row 1601
    assert positions[71] == sizes[0] and positions[1501] == sizes[0] + sizes[1]
    assert positions[1601] == sizes[0] + sizes[1] + sizes[2] * 100 // (len(records) - 1500)
    assert list(positions.values()) == sorted(positions.values())
    assert source.position() == source.size


# Typed columns ----------------------------------------------------------------------------------

TYPED_RULES = """\
default timezone "America/New_York"
attribute first_name: string
attribute custom.tier: string
attribute custom.score: number
attribute visits: number
attribute signup: time
attribute tag: string

campaign "Typed" {
    segment (last_used between 1w and 3w and push_opted_in and custom.tier in ["gold", "silver"]
        and custom.score >= 2.5 and (visits >= 3 or tag in ["vip"]) and signup before 2026-06-01T00:00Z)
    send push weekly thu 17:45 local
    cap 1 per 7d all
    message title "Hi {{ first_name | default: 'you' }}" body "{{ visits }} visits, score {{ custom.score }}, {{ signup }}"
}
"""
PARIS = pa.timestamp("us", tz="Europe/Paris")
TYPED_SCHEMA = pa.schema([
    ("user_id", pa.string()),
    ("first_name", pa.string()),
    ("last_used", PARIS),  # a zone other than UTC
    ("signup", pa.timestamp("ms")),  # no zone: naive times
    ("push_opted_in", pa.bool_()),
    ("custom", pa.struct([("tier", pa.string()), ("score", pa.decimal128(10, 2))])),
    ("visits", pa.decimal128(12, 0)),
    ("tag", pa.list_(pa.string())),  # a list where the rules read a string: rejected as a JSON array is
    ("timezone", pa.string()),
    ("history", pa.list_(pa.struct([("campaign", pa.string()), ("channel", pa.string()),
                                    ("at", pa.timestamp("us", tz="UTC"))]))),
])


def typed_records() -> list[dict[str, Any]]:
    paris = dt.timezone(dt.timedelta(hours=1))
    good = {
        "user_id": "u1", "first_name": "Ana", "last_used": dt.datetime(2026, 11, 16, 9, 30, tzinfo=paris),
        "signup": dt.datetime(2026, 1, 5, 10, 0, 0, 250000), "push_opted_in": True,
        "custom": {"tier": "gold", "score": decimal.Decimal("3.50")}, "visits": decimal.Decimal(12),
        "tag": None, "timezone": "Europe/Paris", "history": None,
    }

    def user(user_id: str, **changes: Any) -> dict[str, Any]:
        return {**good, "user_id": user_id, **changes}

    return [
        good,
        user("u2", custom={"tier": "silver", "score": decimal.Decimal("2.49")}),  # out: score
        user("u3", push_opted_in=None),  # unknown
        user("u4", custom={"tier": None, "score": decimal.Decimal("9.99")}, first_name=None),  # unknown tier
        user("u5", history=[{"campaign": "Typed", "channel": "push", "at": dt.datetime(2026, 11, 28, tzinfo=UTC)}]),
        user("u6", push_opted_in=False),
        user("u7", tag=["vip"]),  # a list: rejected, as a JSON array
        user("u8", visits=decimal.Decimal(1), tag=None, timezone=None),  # visits < 3, tag unknown: unknown
        user("u9", signup=dt.datetime(2026, 7, 1)),  # out: signup
        user("u10", first_name="Zoë 🎉", timezone="Asia/Kolkata"),
    ]


@pytest.mark.parametrize("naive", [None, "Europe/Berlin"], ids=["naive times rejected", "--naive-timezone"])
def test_typed_columns_decide_as_their_json_equivalents(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       naive: str | None) -> None:
    rules = tmp_path / "typed.lapse"
    rules.write_text(TYPED_RULES, encoding="utf-8")
    records = typed_records()
    pq.write_table(pa.Table.from_pylist(records, schema=TYPED_SCHEMA), tmp_path / "users.parquet")
    jsonl = jsonl_of(tmp_path / "users.jsonl", records)
    zone = ["--naive-timezone", naive] if naive else []
    from_jsonl = lapse(capsys, "run", rules, "--users", jsonl, "--now", NOW, *zone)
    from_parquet = lapse(capsys, "run", rules, "--users", tmp_path / "users.parquet", "--now", NOW, *zone)
    assert (from_parquet.code, from_parquet.out, from_parquet.err) == (0, from_jsonl.out, from_jsonl.err)
    decided = [json.loads(line) for line in from_parquet.out.splitlines()]
    rejected = [json.loads(line) for line in from_parquet.err.splitlines() if line.startswith("{")]
    if naive is None:  # every user's naive signup rejects it
        assert decided == [] and len(rejected) == len(records)
        assert rejected[0] == {"line": 1, "user_id": "u1",
                               "error": "signup: '2026-01-05 10:00:00.250000' has no UTC offset; add one (such as Z) "
                                        "or use --naive-timezone"}
        return
    assert [d["user_id"] for d in decided] == ["u1", "u10"]  # u5 is u1 with a send 2 days ago: capped
    assert decided[0]["message"]["body"] == "12 visits, score 3.5, 2026-01-05 10:00:00.250000"
    assert decided[1]["message"]["title"] == "Hi Zoë 🎉"
    assert [(r["user_id"], r["error"].split(":")[0]) for r in rejected] == [("u7", "tag")]


def test_a_null_and_a_missing_column_are_the_same(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "typed.lapse"
    rules.write_text(TYPED_RULES, encoding="utf-8")
    records = typed_records()
    nulls = pa.Table.from_pylist(records, schema=TYPED_SCHEMA)
    for name in ("first_name", "push_opted_in", "tag"):
        index = nulls.schema.get_field_index(name)
        nulls = nulls.set_column(index, name, pa.nulls(len(records), nulls.schema.field(name).type))
    pq.write_table(nulls, tmp_path / "nulls.parquet")
    pq.write_table(nulls.drop_columns(["first_name", "push_opted_in", "tag"]), tmp_path / "missing.parquet")
    runs = [lapse(capsys, "run", rules, "--users", tmp_path / f"{kind}.parquet", "--now", NOW,
                  "--naive-timezone", "UTC") for kind in ("nulls", "missing")]
    assert runs[0] == runs[1]
    assert runs[0].out == "" and "users read                 10\n  with a decision           0\n" in runs[0].err


def test_decimals_read_as_a_json_reader_reads_their_digits(tmp_path: Path) -> None:
    table = pa.table({
        "whole": pa.array([decimal.Decimal(10) ** 30, decimal.Decimal(-7)], pa.decimal128(38, 0)),
        "cents": pa.array([decimal.Decimal("2.50"), decimal.Decimal("-0.01")], pa.decimal128(10, 2)),
        "listed": pa.array([[decimal.Decimal("1.0"), None], None], pa.list_(pa.decimal128(4, 1))),
        "nested": pa.array([{"d": decimal.Decimal("3.25"), "s": "x"}, {"d": None, "s": "y"}],
                           pa.struct([("d", pa.decimal128(5, 2)), ("s", pa.string())])),
    })
    pq.write_table(table, tmp_path / "d.parquet")
    rows = list(open_source(str(tmp_path / "d.parquet"), {}))
    assert rows == [
        (1, {"whole": 10 ** 30, "cents": 2.5, "listed": [1, None], "nested": {"d": 3.25, "s": "x"}}),
        (2, {"whole": -7, "cents": -0.01, "nested": {"d": None, "s": "y"}}),
    ]
    first = rows[0][1]
    assert isinstance(first, dict) and type(first["whole"]) is int and type(first["cents"]) is float


def test_a_value_python_cannot_hold_costs_its_row_only(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_PARQUET_BATCH", 64)
    records = example_records()
    rules = rules_folder(tmp_path)
    parts = folder_of_parts(tmp_path / "users", records)
    table = pq.read_table(parts[1])
    bad = 200  # row 201 of the second part, row 271 of the whole input
    times = table.column("last_used").cast(pa.int64()).to_pylist()
    times[bad] = 253_402_300_800 * 1_000_000  # microseconds: 10000-01-01, the first instant Python cannot hold
    pq.write_table(table.set_column(table.schema.get_field_index("last_used"), "last_used",
                                    pa.array(times, pa.timestamp("us", tz="UTC"))), parts[1])
    run = lapse(capsys, "run", rules, "--users", tmp_path / "users", "--now", NOW)
    others = jsonl_of(tmp_path / "others.jsonl", records[:270] + records[271:])
    expected = lapse(capsys, "run", rules, "--users", others, "--now", NOW)
    assert run.code == 0 and run.out == expected.out  # every other user decided as without the bad row
    assert ('{"line": 271, "user_id": null, "error": "last_used: OverflowError: date value out of range"}\n'
            in run.err)
    read = len(records)
    assert f"users read          {read:>9}" in run.err and "  rejected                  2\n" in run.err
    assert f"accounted for: {read} read = " in run.err and "+ 2 rejected (incomplete: 2 records rejected)" in run.err


# Decisions out as Parquet -----------------------------------------------------------------------


def as_jsonl_record(row: dict[str, Any]) -> dict[str, Any]:
    """A row read back from the Parquet plan, in the JSON output's form."""
    return {**row, "send_at": iso_utc(row["send_at"]), "message": dict(row["message"])}


def test_out_parquet_read_back_is_the_jsonl_output_field_by_field(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "PARQUET_ROWS", 300)  # several record batches, and a rest written at the end
    users = jsonl_of(tmp_path / "users.jsonl", example_records())
    rules = rules_folder(tmp_path)
    as_jsonl = lapse(capsys, "run", rules, "--users", users, "--now", NOW, "--out", tmp_path / "plan.jsonl")
    as_parquet = lapse(capsys, "run", rules, "--users", users, "--now", NOW, "--out", tmp_path / "plan.parquet")
    assert (as_parquet.code, as_parquet.out, as_parquet.err) == (0, "", as_jsonl.err)
    expected = [json.loads(line) for line in (tmp_path / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    file = pq.ParquetFile(tmp_path / "plan.parquet")
    assert file.schema_arrow == parquet_schema(pa) and file.schema_arrow.names == list(DECISION_FIELDS)
    assert file.metadata.num_row_groups == -(-len(expected) // 300) > 2
    rows = file.read().to_pylist()
    assert [as_jsonl_record(r) for r in rows] == expected
    assert [list(r["message"]) for r in rows] == [list(e["message"].items()) for e in expected]  # fields in order
    # every kind of value was there to compare
    assert {r["held_out"] for r in rows} == {True, False} and {r["variant"] for r in rows} == {None, "noon", "evening"}
    assert any(r["warnings"] for r in rows) and any(r["message"] == [] for r in rows)


def test_format_parquet_and_the_extension_choose_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = jsonl_of(tmp_path / "users.jsonl", example_records()[:300])
    rules = rules_folder(tmp_path)
    by_extension = lapse(capsys, "run", rules, "--users", users, "--now", NOW, "--out", tmp_path / "a.PARQUET")
    by_flag = lapse(capsys, "run", rules, "--users", users, "--now", NOW, "--out", tmp_path / "b.bin",
                    "--format", "parquet")
    assert by_extension.code == by_flag.code == 0
    assert pq.read_table(tmp_path / "a.PARQUET").equals(pq.read_table(tmp_path / "b.bin"))
    assert pq.read_table(tmp_path / "b.bin").num_rows > 10


@pytest.mark.parametrize(("flags", "message"), [
    (["--format", "parquet"], "--format parquet needs --out PATH: Parquet is binary and ends with a footer, so it "
                              "is written to a file"),
    (["--format", "csv", "--out", "plan.parquet"],
     "--format csv with --out plan.parquet: a .parquet file holds Parquet; drop --format or rename the file"),
], ids=["no --out", "another format"])
def test_parquet_output_misuse_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, flags: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    users = jsonl_of(tmp_path / "users.jsonl", example_records()[:10])
    run = lapse(capsys, "run", rules_folder(tmp_path), "--users", users, "--now", NOW, *flags)
    assert (run.code, run.out, run.err) == (2, "", f"lapse: error: {message}\n")
    assert not (tmp_path / "plan.parquet").exists()


def test_an_empty_run_writes_an_empty_parquet_file_with_the_schema(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pq.write_table(USER_SCHEMA.empty_table(), tmp_path / "none.parquet")
    run = lapse(capsys, "run", rules_folder(tmp_path), "--users", tmp_path / "none.parquet", "--now", NOW,
                "--out", tmp_path / "plan.parquet")
    assert run.code == 0 and "users read                  0\n" in run.err
    table = pq.read_table(tmp_path / "plan.parquet")
    assert table.num_rows == 0 and table.schema == parquet_schema(pa)


def test_a_user_whose_decision_cannot_be_written_is_rejected_whole(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.lapse"
    rules.write_text('attribute name: string\n'
                     'campaign "A" {\n segment push_opted_in\n send push daily 10:00 local\n message title "{{ name }}"\n}\n'
                     'campaign "B" {\n segment push_opted_in\n send push daily 11:00 local\n}\n', encoding="utf-8")
    users = tmp_path / "users.jsonl"
    users.write_text('{"user_id": "a", "push_opted_in": true, "name": "Ana"}\n'
                     '{"user_id": "b\\ud800", "push_opted_in": true, "name": "Ben"}\n'
                     '{"user_id": "c", "push_opted_in": true}\n', encoding="utf-8")
    as_jsonl = lapse(capsys, "run", rules, "--users", users, "--now", NOW, "--out", tmp_path / "plan.jsonl")
    as_parquet = lapse(capsys, "run", rules, "--users", users, "--now", NOW, "--out", tmp_path / "plan.parquet")
    assert as_parquet.err == as_jsonl.err
    assert '{"line": 2, "user_id": "b\\ud800", "error": "user_id is not valid Unicode' in as_parquet.err
    rows = pq.read_table(tmp_path / "plan.parquet").to_pylist()
    assert [(r["user_id"], r["campaign"]) for r in rows] == [("a", "A"), ("a", "B"), ("c", "A"), ("c", "B")]
    expected = [json.loads(line) for line in (tmp_path / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [as_jsonl_record(r) for r in rows] == expected


# Without pyarrow --------------------------------------------------------------------------------


def test_missing_pyarrow_is_a_usage_error_naming_the_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    users = jsonl_of(tmp_path / "users.jsonl", example_records()[:10])
    folder_of_parts(tmp_path / "parts", example_records()[:200])
    rules = rules_folder(tmp_path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import fails as when it is not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    plan = tmp_path / "plan.parquet"
    run = lapse(capsys, "run", rules, "--users", users, "--now", NOW, "--out", plan)
    assert (run.code, run.out) == (2, "")
    assert run.err == f"lapse: error: --out {plan}: writing Parquet needs pyarrow: pip install 'lapse-dsl[parquet]'\n"
    assert not plan.exists()
    run = lapse(capsys, "run", rules, "--users", tmp_path / "parts", "--now", NOW)
    assert (run.code, run.out) == (2, "")
    assert run.err == (f"lapse: error: {tmp_path / 'parts'}: reading Parquet needs pyarrow: "
                       "pip install 'lapse-dsl[parquet]'\n")


def test_the_documented_parquet_schema_is_the_one_written() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    table = text[text.index("| column | Parquet type | as in JSON |"):].split("\n\n")[0].splitlines()[2:]
    documented = [tuple(cell.strip("|` ") for cell in row.split(" | ")[:2]) for row in table]
    written = [(f.name, str(f.type).replace("item: ", "") + ("" if f.nullable else " not null"))
               for f in parquet_schema(pa)]
    assert documented == written
