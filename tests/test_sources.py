"""User sources for ``lapse run``: every format yields ``(line, record)`` or ``(line, error)`` in
input order, typed by the rule set's schema, and never loads the whole input."""

from __future__ import annotations

import io
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from lapse_dsl.sources import SourceError, open_source

SCHEMA = {
    "user_id": "string",
    "last_used": "time",
    "sessions": "number",
    "push_opted_in": "boolean",
    "platform": "string",
    "app_version": "string",
    "custom.tier": "string",
    "custom.lifetime_value": "number",
}


def rows(path: Path, schema: dict[str, str] | None = None, table: str = "users") -> list[tuple[int, Any]]:
    return list(open_source(str(path), SCHEMA if schema is None else schema, table))


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# JSON lines -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".JSONL"])
def test_jsonl_yields_records_with_line_numbers(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"users{suffix}", '{"user_id": "a"}\n\n   \n{"user_id": "b", "sessions": 3}\n')
    assert rows(path) == [(1, {"user_id": "a"}), (4, {"user_id": "b", "sessions": 3})]


def test_jsonl_last_line_without_newline_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "u.jsonl", '{"user_id": "a"}\r\n{"user_id": "b"}')
    assert rows(path) == [(1, {"user_id": "a"}), (2, {"user_id": "b"})]


def test_jsonl_bad_lines_are_errors_in_place(tmp_path: Path) -> None:
    data = b"\n".join([
        b'{"user_id": "a"}',
        b'{"user_id": "b", ',  # truncated
        b"null",
        b"[1, 2]",
        b'"text"',
        b"42",
        b'{"user_id": "caf\xe9"}',  # Latin-1, not UTF-8
        b'{"user_id": "z"}',
    ]) + b"\n"
    got = rows(write(tmp_path / "u.jsonl", data))
    assert [line for line, _ in got] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert got[0] == (1, {"user_id": "a"})
    assert got[-1] == (8, {"user_id": "z"})
    errors = [e for _, e in got[1:-1]]
    assert all(isinstance(e, str) for e in errors)
    assert errors[0].startswith("invalid JSON")
    assert errors[1] == "a user record must be a JSON object, not null"
    assert errors[2] == "a user record must be a JSON object, not an array"
    assert errors[3] == "a user record must be a JSON object, not a string"
    assert errors[4] == "a user record must be a JSON object, not a number"
    assert "not valid UTF-8" in errors[5]


def test_jsonl_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "u.jsonl", b'\xef\xbb\xbf{"user_id": "a"}\n{"user_id": "b"}\n')
    assert rows(path) == [(1, {"user_id": "a"}), (2, {"user_id": "b"})]


def test_jsonl_is_streamed_not_loaded(tmp_path: Path) -> None:
    path = write(tmp_path / "u.jsonl", "".join(f'{{"user_id": "u{i}"}}\n' for i in range(1000)))
    source = open_source(str(path), SCHEMA)
    it = iter(source)
    assert next(it) == (1, {"user_id": "u0"})
    assert source.size == path.stat().st_size
    assert 0 < source.position() < source.size  # read ahead by a buffer, not the whole file
    assert sum(1 for _ in it) == 999


def test_stdin_dash_reads_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"user_id": "a"}\nnope\n{"user_id": "b"}\n'), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    got = list(open_source("-", SCHEMA))
    assert got[0] == (1, {"user_id": "a"})
    assert got[1][0] == 2 and str(got[1][1]).startswith("invalid JSON")
    assert got[2] == (3, {"user_id": "b"})


# CSV --------------------------------------------------------------------------------------------


def test_csv_cells_are_typed_by_the_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", (
        "user_id,last_used,sessions,push_opted_in,app_version,custom.tier,custom.lifetime_value,note\n"
        "a,2026-11-16T10:00:00Z,12,true,5,gold,99.5,42\n"
        "b,1794823200,,FALSE,6.0.2,,,\n"
        "c,1794823200.5,1e3,yes,,,,\n"
    ))
    got = rows(path)
    assert got[0] == (2, {
        "user_id": "a", "last_used": "2026-11-16T10:00:00Z", "sessions": 12, "push_opted_in": True,
        "app_version": "5", "custom": {"tier": "gold", "lifetime_value": 99.5}, "note": "42",
    })
    # empty cell = missing; epoch seconds become numbers for a time attribute
    assert got[1] == (3, {"user_id": "b", "last_used": 1794823200, "push_opted_in": False, "app_version": "6.0.2"})
    # a boolean that is not true/false stays text, for the evaluator to reject by name
    assert got[2] == (4, {"user_id": "c", "last_used": 1794823200.5, "sessions": 1000.0, "push_opted_in": "yes"})


def test_csv_numbers_without_a_number_schema_stay_text(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,sessions\n007,3\n")
    assert rows(path, {}) == [(2, {"user_id": "007", "sessions": "3"})]


def test_csv_line_numbers_are_the_lines_rows_start_on(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", 'user_id,platform\na,"multi\nline"\n\nb,ios\n')
    assert rows(path) == [(2, {"user_id": "a", "platform": "multi\nline"}), (5, {"user_id": "b", "platform": "ios"})]


def test_csv_row_with_wrong_cell_count_is_one_error(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,platform\na,ios\nb,ios,extra\nc\nd,web\n")
    got = rows(path)
    assert got[0] == (2, {"user_id": "a", "platform": "ios"})
    assert got[1] == (3, "row has 3 cells, the header has 2")
    assert got[2] == (4, "row has 1 cell, the header has 2")
    assert got[3] == (5, {"user_id": "d", "platform": "web"})


def test_csv_non_utf8_row_costs_only_that_row(tmp_path: Path) -> None:
    lines = [b"user_id,platform\n"] + [b"u%d,ios\n" % i for i in range(3000)]
    lines[1501] = b"caf\xe9,ios\n"  # the user on input line 1502
    got = rows(write(tmp_path / "u.csv", b"".join(lines)))
    assert len(got) == 3000
    bad = [(line, e) for line, e in got if isinstance(e, str)]
    assert bad == [(1502, "row is not valid UTF-8")]
    assert got[-1] == (3001, {"user_id": "u2999", "platform": "ios"})


def test_csv_byte_order_mark_does_not_rename_the_first_column(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", b"\xef\xbb\xbfuser_id,platform\r\na,ios\r\n")
    assert rows(path) == [(2, {"user_id": "a", "platform": "ios"})]


def test_csv_empty_file_has_no_rows(tmp_path: Path) -> None:
    assert rows(write(tmp_path / "u.csv", "")) == []
    assert rows(write(tmp_path / "h.csv", "user_id,platform\n")) == []


# SQLite -----------------------------------------------------------------------------------------


def make_db(path: Path, table: str = "users") -> Path:
    conn = sqlite3.connect(path)
    conn.execute(f'CREATE TABLE "{table}" (user_id TEXT, last_used TEXT, sessions INTEGER, push_opted_in INTEGER, '
                 '"custom.tier" TEXT)')
    conn.executemany(f'INSERT INTO "{table}" VALUES (?, ?, ?, ?, ?)', [
        ("a", "2026-11-16T10:00:00Z", 3, 1, "gold"),
        ("b", None, 0, 0, None),
        ("c", "2026-11-16T10:00:00Z", None, 2, None),
    ])
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("suffix", [".db", ".sqlite", ".sqlite3"])
def test_sqlite_default_table_and_booleans(tmp_path: Path, suffix: str) -> None:
    got = rows(make_db(tmp_path / f"u{suffix}"))
    assert got == [
        (1, {"user_id": "a", "last_used": "2026-11-16T10:00:00Z", "sessions": 3, "push_opted_in": True,
             "custom": {"tier": "gold"}}),
        (2, {"user_id": "b", "sessions": 0, "push_opted_in": False}),  # NULL = missing; 0 stays a number
        (3, {"user_id": "c", "last_used": "2026-11-16T10:00:00Z", "push_opted_in": 2}),  # 2 is no boolean
    ]
    assert got[0][1]["push_opted_in"] is True and got[1][1]["sessions"] == 0


def test_sqlite_named_table(tmp_path: Path) -> None:
    path = make_db(tmp_path / "u.db", table="app users")
    assert [r["user_id"] for _, r in rows(path, table="app users")] == ["a", "b", "c"]
    with pytest.raises(SourceError, match=r"no table 'users' \(tables: app users\); choose one with --table"):
        open_source(str(path), SCHEMA)


def test_sqlite_path_with_uri_characters(tmp_path: Path) -> None:
    folder = tmp_path / "exports #1?v=100%"
    folder.mkdir()
    assert len(rows(make_db(folder / "u.db"))) == 3


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = write(tmp_path / "u.db", "user_id\na\n")
    with pytest.raises(SourceError, match="not a readable SQLite database"):
        open_source(str(path), SCHEMA)


# opening ----------------------------------------------------------------------------------------


def test_unknown_extension_is_a_source_error(tmp_path: Path) -> None:
    path = write(tmp_path / "users.txt", '{"user_id": "a"}\n')
    with pytest.raises(SourceError, match=r"unknown users file type '\.txt'; use \.jsonl"):
        open_source(str(path), SCHEMA)
    with pytest.raises(SourceError, match=r"unknown users file type '\(none\)'"):
        open_source(str(tmp_path / "users"), SCHEMA)


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such users file"):
        open_source(str(tmp_path / "absent.jsonl"), SCHEMA)
