"""Usage errors of the command line (issue 11, items 7, 9, 20, 22): each is exit 2 with one clear
``lapse: error:`` (or argparse) line, never a traceback, and nothing is written.

- ``--out``/``--errors`` that name an input file (however it is spelt) or each other;
- instants at the ends of the calendar, ``plan --weeks`` beyond ten years, ``--table`` values that
  are not table names, ``--since`` later than ``--now``;
- ``--table``/``--column`` where the source does not use them, a ``--column`` for an unknown
  attribute or a column the table lacks; a column the table lacks that only some rules read is a
  missing value, as in a file;
- counts in the right number: ``1 record``, ``2 records``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import duckdb
import pytest

from lapse_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
BRAZE = ROOT / "rules" / "braze_lapsing.lapse"
NOW = "2026-11-30T00:00:00Z"
USER = {"user_id": "a", "last_used": "2026-11-16T10:00:00Z", "push_opted_in": True, "timezone": "Europe/Berlin"}


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


def usage_error(result: Result, message: str) -> None:
    assert result.code == 2, result
    assert message in result.err, result.err
    assert result.out == ""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch folder, also the working directory, with rules and users in every file format."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "braze.lapse").write_text(BRAZE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "users.jsonl").write_text(json.dumps(USER) + "\n", encoding="utf-8")
    (tmp_path / "users.csv").write_text("user_id,last_used,push_opted_in\na,2026-11-16T10:00:00Z,true\n", encoding="utf-8")
    conn = sqlite3.connect(tmp_path / "users.db")
    conn.execute("CREATE TABLE users (user_id TEXT, last_used TEXT, push_opted_in INTEGER)")
    conn.execute("INSERT INTO users VALUES ('a', '2026-11-16T10:00:00Z', 1)")
    conn.commit()
    conn.close()
    db = duckdb.connect(str(tmp_path / "users.duckdb"))
    db.execute("CREATE TABLE users (user_id VARCHAR, last_used TIMESTAMPTZ, push_opted_in BOOLEAN)")
    db.execute("INSERT INTO users VALUES ('a', '2026-11-16T10:00:00Z', true)")
    db.close()
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# item 7: --out and --errors never overwrite an input or each other -------------------------------

SOURCES = {"jsonl": "users.jsonl", "csv": "users.csv", "sqlite": "users.db", "duckdb": "duckdb:users.duckdb"}


def spellings(folder: Path, name: str) -> dict[str, str]:
    """Ways to name the file ``name`` of ``folder`` (the working directory)."""
    (folder / "sub").mkdir(exist_ok=True)
    link = folder / f"link-{name}"
    if not link.exists():
        link.symlink_to(folder / name)
    hard = folder / f"hard-{name}"
    if not hard.exists():
        os.link(folder / name, hard)
    return {"same": name, "dot": f"./{name}", "absolute": str(folder / name), "dotdot": f"sub/../{name}",
            "symlink": link.name, "hardlink": hard.name}


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("flag", ["--out", "--errors"])
@pytest.mark.parametrize("spelling", ["same", "dot", "absolute", "dotdot", "symlink", "hardlink"])
def test_out_or_errors_that_is_the_users_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folder: Path, source: str, flag: str, spelling: str
) -> None:
    spec = SOURCES[source]
    path = spellings(folder, spec.removeprefix("duckdb:"))[spelling]
    before = snapshot(folder)
    result = lapse(capsys, "run", "rules", "--users", spec, "--now", NOW, flag, path)
    usage_error(result, f"{flag} {path} is the users file")
    assert "writing it would destroy the input" in result.err
    assert snapshot(folder) == before


@pytest.mark.parametrize("flag", ["--out", "--errors"])
@pytest.mark.parametrize("rules", ["rules", "rules/braze.lapse"])
def test_out_or_errors_that_is_a_rule_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folder: Path, flag: str, rules: str
) -> None:
    before = snapshot(folder)
    for path in ("rules/braze.lapse", "./rules/../rules/braze.lapse", str(folder / "rules" / "braze.lapse")):
        result = lapse(capsys, "run", rules, "--users", "users.jsonl", "--now", NOW, flag, path)
        usage_error(result, "rule file")
    assert snapshot(folder) == before


@pytest.mark.parametrize(("out", "errors"), [
    ("both.jsonl", "both.jsonl"),  # neither exists yet
    ("both.jsonl", "./both.jsonl"),
    ("sub/../both.jsonl", "both.jsonl"),
    ("existing.jsonl", "link-existing.jsonl"),  # an existing file and a link to it
])
def test_out_and_errors_that_are_one_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folder: Path, out: str, errors: str
) -> None:
    (folder / "sub").mkdir()
    (folder / "existing.jsonl").write_text("keep\n", encoding="utf-8")
    (folder / "link-existing.jsonl").symlink_to(folder / "existing.jsonl")
    before = snapshot(folder)
    result = lapse(capsys, "run", "rules", "--users", "users.jsonl", "--now", NOW, "--out", out, "--errors", errors)
    usage_error(result, "--out and --errors are the same file")
    assert snapshot(folder) == before  # nothing created, nothing truncated


def test_devices_may_be_shared_and_distinct_files_are_fine(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    assert lapse(capsys, "run", "rules", "--users", "users.jsonl", "--now", NOW, "--out", os.devnull,
                 "--errors", os.devnull).code == 0
    result = lapse(capsys, "run", "rules", "--users", "users.jsonl", "--now", NOW, "--out", "out.jsonl",
                   "--errors", "errors.jsonl")
    assert result.code == 0
    assert json.loads((folder / "out.jsonl").read_text(encoding="utf-8"))["user_id"] == "a"


# item 9: instants, weeks and table names at and past the edges ------------------------------------

OUT_OF_RANGE = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0001-01-01T23:59:59-14:00", "0999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "9999-12-31T00:00:00+14:00", "9000-01-01T00:00:00Z",
    "8999-12-31T23:00:00-01:00",
]
IN_RANGE = ["1000-01-01T00:00:00Z", "1000-01-01T00:00:00-14:00", "8999-12-31T23:59:59.999999Z",
            "9000-01-01T13:00:00+14:00"]


def commands_with(flag: str, value: str) -> list[list[str]]:
    users = ["--users", "users.jsonl"]
    if flag == "--now":
        return [["run", "rules", *users, "--now", value], ["plan", "rules", *users, "--now", value],
                ["explain", "rules", "--user", json.dumps(USER), "--now", value]]
    if flag == "--since":
        return [["run", "rules", *users, "--now", NOW, "--since", value]]
    return [["sql", "rules", "--dialect", "duckdb", "--at", value]]


@pytest.mark.parametrize("flag", ["--now", "--since", "--at"])
@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_instants_past_the_supported_range_are_usage_errors(
    capsys: pytest.CaptureFixture[str], folder: Path, flag: str, value: str
) -> None:
    for command in commands_with(flag, value):
        result = lapse(capsys, *command)
        usage_error(result, f"argument {flag}: '{value}' is out of range: lapse takes instants from "
                            "1000-01-01T00:00:00Z to before 9000-01-01T00:00:00Z")


@pytest.mark.parametrize("value", IN_RANGE)
def test_instants_at_the_edges_of_the_range_work(capsys: pytest.CaptureFixture[str], folder: Path, value: str) -> None:
    for command in commands_with("--now", value) + commands_with("--at", value):
        result = lapse(capsys, *command)
        assert result.code == 0, (command, result)
    assert lapse(capsys, "plan", "rules", "--users", "users.jsonl", "--now", value, "--weeks", "520").code == 0


@pytest.mark.parametrize("weeks", ["521", "999999999", "1" + "0" * 40, "0" * 10 + "521", "9" * 5000])
def test_plan_weeks_beyond_ten_years_is_a_usage_error(capsys: pytest.CaptureFixture[str], folder: Path, weeks: str) -> None:
    usage_error(lapse(capsys, "plan", "rules", "--users", "users.jsonl", "--now", NOW, "--weeks", weeks),
                "is too many: at most 520 weeks (ten years)")


@pytest.mark.parametrize("weeks", ["0", "000", "-3", "²", "1.5", ""])
def test_plan_weeks_that_are_not_a_count_are_a_usage_error(capsys: pytest.CaptureFixture[str], folder: Path,
                                                           weeks: str) -> None:
    usage_error(lapse(capsys, "plan", "rules", "--users", "users.jsonl", "--now", NOW, "--weeks", weeks),
                "is not a whole number of at least 1")


BAD_TABLES = ['users"', "'", "`", "users--", "users /* note */", "a..b", "a.b.c.d", "", '""', "users\x00",
              "read_csv('x.csv')", "a.b."]


@pytest.mark.parametrize("table", BAD_TABLES)
def test_a_table_that_is_not_a_table_name_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folder: Path, table: str
) -> None:
    sql = lapse(capsys, "sql", "rules", "--dialect", "postgres", "--at", NOW, "--table", table)
    usage_error(sql, f"--table {table!r} is not a table name: ")
    for command in ("run", "plan"):
        result = lapse(capsys, command, "rules", "--users", "duckdb:users.duckdb", "--now", NOW, "--table", table)
        usage_error(result, f"--table {table!r} is not a table name: ")


@pytest.mark.parametrize("table", ["users", "main.users", '"users"', "memory.main.users", '"my table"', "café", "1users"])
def test_table_names_that_are_fine(capsys: pytest.CaptureFixture[str], folder: Path, table: str) -> None:
    assert lapse(capsys, "sql", "rules", "--dialect", "duckdb", "--at", NOW, "--table", table).code == 0


# item 22: --since, counts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "since"), [
    ("2026-11-30T00:00:00Z", "2026-11-30T00:00:00.000001Z"),
    ("2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"),
    ("2026-11-30T00:00:00+01:00", "2026-11-30T00:00:00Z"),  # an hour later, though it reads the same
    ("1000-01-01T00:00:00Z", "8999-12-31T00:00:00Z"),
])
def test_since_later_than_now_is_a_usage_error(capsys: pytest.CaptureFixture[str], folder: Path, now: str, since: str) -> None:
    before = snapshot(folder)
    result = lapse(capsys, "run", "rules", "--users", "users.jsonl", "--now", now, "--since", since, "--out", "out.jsonl")
    usage_error(result, "is later than --now")
    assert snapshot(folder) == before


def test_since_equal_to_now_is_fine(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    assert lapse(capsys, "run", "rules", "--users", "users.jsonl", "--now", NOW, "--since", NOW).code == 0


def test_counts_are_in_the_right_number(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    (folder / "one.jsonl").write_text(json.dumps(USER) + "\nnot json\n", encoding="utf-8")
    run = lapse(capsys, "run", "rules", "--users", "one.jsonl", "--now", NOW, "--errors", os.devnull)
    assert run.err.rstrip().endswith("(incomplete: 1 record rejected)")
    plan = lapse(capsys, "plan", "rules", "--users", "one.jsonl", "--now", NOW, "--weeks", "1")
    assert plan.out.splitlines()[0].endswith("for 1 week: 1 send (0 held out) to 1 user; 2 records read, 1 rejected")
    (folder / "two.jsonl").write_text(json.dumps(USER) + "\n" + json.dumps({**USER, "user_id": "b"}) + "\n",
                                      encoding="utf-8")
    plan = lapse(capsys, "plan", "rules", "--users", "two.jsonl", "--now", NOW, "--weeks", "2")
    assert plan.out.splitlines()[0].endswith("for 2 weeks: 2 sends (0 held out) to 2 users; 2 records read, 0 rejected")
    check = lapse(capsys, "check", "rules")
    assert check.err == "1 file, 1 rule: 0 errors, 0 warnings\n"
    (folder / "more").mkdir()
    for name in ("a", "b"):
        (folder / "more" / f"{name}.lapse").write_text(f"segment last_usd between 2w and 3w; send push daily 10:0{len(name)} "
                                                       "utc\n", encoding="utf-8")
    check = lapse(capsys, "check", "more")
    assert check.err == "2 files, 2 rules: 2 errors, 0 warnings\n"
    (folder / "short.csv").write_text("user_id,last_used\nx\n", encoding="utf-8")
    run = lapse(capsys, "run", "rules", "--users", "short.csv", "--now", NOW, "--errors", "errors.jsonl")
    assert json.loads((folder / "errors.jsonl").read_text(encoding="utf-8"))["error"] == "row has 1 cell, the header has 2"


def test_plan_header_counts_recipients_not_users_read(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    lines = [json.dumps({**USER, "user_id": f"u{i}", "push_opted_in": i % 3 == 0}) for i in range(9)]
    (folder / "nine.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    plan = lapse(capsys, "plan", "rules", "--users", "nine.jsonl", "--now", NOW)
    assert plan.out.splitlines()[0].endswith(": 3 sends (0 held out) to 3 users; 9 records read, 0 rejected")


# item 20: flags where the source does not use them, and missing columns ------------------------------


@pytest.mark.parametrize("source", ["users.jsonl", "users.csv", "-"])
@pytest.mark.parametrize("command", ["run", "plan"])
def test_table_where_the_source_has_no_tables_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folder: Path, source: str, command: str
) -> None:
    usage_error(lapse(capsys, command, "rules", "--users", source, "--now", NOW, "--table", "users"),
                "--table applies to a SQLite file or a database source, not to JSON lines or CSV")


@pytest.mark.parametrize("source", ["users.jsonl", "users.csv", "users.db", "-"])
@pytest.mark.parametrize("command", ["run", "plan"])
def test_column_where_the_source_has_no_mapping_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folder: Path, source: str, command: str
) -> None:
    usage_error(lapse(capsys, command, "rules", "--users", source, "--now", NOW, "--column", "last_used=seen"),
                "--column applies to a database source")


@pytest.mark.parametrize("command", [["run", "rules", "--users", "duckdb:users.duckdb", "--now", NOW],
                                     ["plan", "rules", "--users", "duckdb:users.duckdb", "--now", NOW],
                                     ["sql", "rules", "--dialect", "duckdb", "--at", NOW]])
def test_column_for_an_attribute_the_rules_do_not_have_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], folder: Path, command: list[str]
) -> None:
    usage_error(lapse(capsys, *command, "--column", "last_usd=seen"),
                "--column last_usd=seen: the rules have no attribute 'last_usd'; did you mean 'last_used'?")
    usage_error(lapse(capsys, *command, "--column", "last_used=a", "--column", "last_used=b"),
                "--column last_used=...: given twice (a and b)")


@pytest.mark.parametrize("mapping", ["last_used=last_seen", "user_id=id", "timezone=tz", "first_name=name"])
def test_a_mapped_column_the_table_lacks_is_an_error_naming_its_columns(
    capsys: pytest.CaptureFixture[str], folder: Path, mapping: str
) -> None:
    column = mapping.split("=")[1]
    for command in ("run", "plan"):
        result = lapse(capsys, command, "rules", "--users", "duckdb:users.duckdb", "--now", NOW, "--column", mapping)
        usage_error(result, f"table users has no column '{column}' (--column {mapping}); "
                            "its columns: user_id, last_used, push_opted_in")


def test_a_table_without_user_id_is_an_error(capsys: pytest.CaptureFixture[str], folder: Path) -> None:
    db = duckdb.connect(str(folder / "users.duckdb"))
    db.execute("CREATE TABLE people (id VARCHAR, last_used TIMESTAMPTZ)")
    db.close()
    result = lapse(capsys, "run", "rules", "--users", "duckdb:users.duckdb", "--table", "people", "--now", NOW)
    usage_error(result, "table people has no column 'user_id' for user_id; map one with --column user_id=COLUMN "
                        "(its columns: id, last_used)")
    assert lapse(capsys, "run", "rules", "--users", "duckdb:users.duckdb", "--table", "people", "--now", NOW,
                 "--column", "user_id=id").code == 0


TWO_RULES = """\
default timezone "UTC"
attribute custom.tier: string

campaign "iOS" {
    segment last_used between 2w and 3w and platform = "ios"
    send push weekly thu 10:00 local
}

campaign "Everyone" {
    segment last_used between 2w and 3w
    send email weekly thu 11:00 local
}

campaign "Gold" {
    segment custom.tier = "gold" or not push_opted_in
    send email weekly fri 11:00 utc
}
"""


@pytest.mark.parametrize("missing", [("platform",), ("custom_tier",), ("push_opted_in",), ("platform", "custom_tier"),
                                     ("platform", "custom_tier", "push_opted_in", "timezone")])
def test_a_database_column_only_some_rules_read_is_a_missing_value_as_in_a_file(
    capsys: pytest.CaptureFixture[str], folder: Path, missing: tuple[str, ...]
) -> None:
    """Decisions over a DuckDB table that lacks columns equal those over JSON lines without them."""
    columns = {"user_id": "VARCHAR", "last_used": "TIMESTAMPTZ", "platform": "VARCHAR", "custom_tier": "VARCHAR",
               "push_opted_in": "BOOLEAN", "timezone": "VARCHAR"}
    kept = [c for c in columns if c not in missing]
    users: list[dict[str, Any]] = [
        {"user_id": f"u{i}", "last_used": f"2026-11-{10 + i % 8:02d}T10:00:00Z", "platform": ["ios", "web", None][i % 3],
         "custom_tier": ["gold", None][i % 2], "push_opted_in": [True, False, None][i % 3],
         "timezone": ["Asia/Tokyo", "America/Denver", None][i % 3]}
        for i in range(30)
    ]
    (folder / "rules.lapse").write_text(TWO_RULES, encoding="utf-8")
    db = duckdb.connect(str(folder / "gaps.duckdb"))
    db.execute(f"CREATE TABLE users ({', '.join(f'{c} {columns[c]}' for c in kept)})")
    db.executemany(f"INSERT INTO users VALUES ({', '.join('?' for _ in kept)})", [[u[c] for c in kept] for u in users])
    db.close()
    records = []
    for u in users:
        record = {("custom" if c == "custom_tier" else c): ({"tier": u[c]} if c == "custom_tier" else u[c])
                  for c in kept if u[c] is not None}
        records.append(json.dumps(record))
    (folder / "gaps.jsonl").write_text("\n".join(records) + "\n", encoding="utf-8")

    def decisions(source: str) -> list[tuple[str, str, str]]:
        result = lapse(capsys, "run", "rules.lapse", "--users", source, "--now", NOW)
        assert result.code == 0, result
        return sorted((d["user_id"], d["campaign"], d["send_at"]) for d in map(json.loads, result.out.splitlines()))

    from_file = decisions("gaps.jsonl")
    assert decisions("duckdb:gaps.duckdb") == from_file
    assert from_file  # the rules that do not read the missing columns still decide
