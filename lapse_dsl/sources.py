"""User sources for batch runs: JSON lines, CSV, SQLite, standard input. Each yields, in input
order, ``(line, record)`` or ``(line, error message)`` so that every input is accounted for; nothing
is loaded whole, so memory stays flat however large the input."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO

__all__ = ["Row", "SourceError", "open_source"]

Row = tuple[int, dict[str, Any] | str]  # (1-based line or row number, record or error)

JSONL = (".jsonl", ".ndjson")
CSV = (".csv",)
SQLITE = (".db", ".sqlite", ".sqlite3")
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class SourceError(Exception):
    """The source cannot be opened at all (a usage error: exit 2)."""


class Source:
    """An opened user source; iterate it for rows. ``size``/``position`` drive the progress bar.
    Iterating to the end closes it; ``close()`` (or ``with``) releases it early."""

    def __init__(
        self, rows: Iterator[Row], size: int | None, position: Any, close: Callable[[], object] | None = None
    ) -> None:
        self._rows = rows
        self.size = size
        self.position = position
        self._close = close

    def __iter__(self) -> Iterator[Row]:
        return self._rows

    def close(self) -> None:
        if self._close is not None:
            self._close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(spec: str, schema: Mapping[str, str], table: str = "users") -> Source:
    """Open ``spec`` (a path whose extension names the format, or ``-`` for JSON lines on
    standard input). ``schema`` types CSV cells and SQLite values."""
    if spec == "-":
        return Source(_jsonl(sys.stdin.buffer), None, lambda: 0)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in JSONL + CSV + SQLITE:
        raise SourceError(
            f"{spec}: unknown users file type '{suffix or '(none)'}'; use .jsonl, .ndjson, .csv, "
            ".db, .sqlite, .sqlite3 or - for standard input"
        )
    if not path.is_file():
        raise SourceError(f"{spec}: no such users file")
    size = path.stat().st_size
    if suffix in SQLITE:
        return _sqlite(path, table, schema)
    raw = path.open("rb")
    if suffix in CSV:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark. surrogateescape: a bad
        # byte must cost only its own row (a strict decoder fails a whole 8 KiB chunk of rows).
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        return Source(_closing(_csv(text, schema), text), size, lambda: _tell(raw), text.close)
    return Source(_closing(_jsonl(raw), raw), size, lambda: _tell(raw), raw.close)


def _tell(fh: BinaryIO) -> int:
    try:
        return os.lseek(fh.fileno(), 0, os.SEEK_CUR)
    except (OSError, ValueError):
        return 0


def _closing(rows: Iterator[Row], fh: IO[Any]) -> Iterator[Row]:
    try:
        yield from rows
    finally:
        fh.close()


def _jsonl(fh: BinaryIO) -> Iterator[Row]:
    line = 0
    for data in fh:
        line += 1
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield line, f"line is not valid UTF-8 (byte {exc.start + 1})"
            continue
        if line == 1 and text.startswith("\ufeff"):
            text = text[1:]  # a byte-order mark
        if not text.strip():
            continue  # blank lines hold no record
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line, f"invalid JSON: {exc.msg} at character {exc.pos + 1}"
            continue
        if not isinstance(record, dict):
            yield line, f"a user record must be a JSON object, not {_JSON_TYPES.get(type(record), 'a value')}"
            continue
        yield line, record


def _csv(fh: TextIO, schema: Mapping[str, str]) -> Iterator[Row]:
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, f"unreadable CSV header: {exc}"
        return
    if not _utf8(header):
        yield 1, "the CSV header is not valid UTF-8"
        return
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, f"unreadable CSV row: {exc}"
            continue
        line = reader.line_num
        if not any(cells):
            continue
        if not _utf8(cells):
            yield line, "row is not valid UTF-8"
            continue
        if len(cells) != len(header):
            yield line, f"row has {len(cells)} cells, the header has {len(header)}"
            continue
        record: dict[str, Any] = {}
        for name, cell in zip(header, cells, strict=True):
            if cell == "":
                continue  # an empty cell is a missing value
            put(record, name, _typed(cell, schema.get(name)))
        yield line, record


def _utf8(cells: list[str]) -> bool:
    """False when a cell holds bytes that were not UTF-8 (decoded as lone surrogates)."""
    text = "".join(cells)
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _typed(cell: str, kind: str | None) -> object:
    """CSV text -> a value of the attribute's declared type; cells that do not convert stay text
    and are rejected by the evaluator with a message naming the attribute."""
    if kind == "boolean":
        low = cell.strip().lower()
        return True if low == "true" else False if low == "false" else cell
    if kind in ("number", "time") and _NUMBER.match(cell.strip()):
        text = cell.strip()
        return float(text) if any(c in text for c in ".eE") else int(text)
    return cell


def put(record: dict[str, Any], name: str, value: object) -> None:
    """Store ``value`` at the dotted path ``name`` (``custom.tier`` -> ``record['custom']['tier']``)."""
    parts = name.split(".")
    target = record
    for part in parts[:-1]:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[parts[-1]] = value


def _sqlite(path: Path, table: str, schema: Mapping[str, str]) -> Source:
    try:
        # as_uri() percent-encodes '#', '?' and '%', which a raw "file:" URI would misread
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: not a readable SQLite database ({exc})") from None
    if table not in names:
        conn.close()
        listed = ", ".join(sorted(names)) or "none"
        raise SourceError(f"{path}: no table '{table}' (tables: {listed}); choose one with --table")
    return Source(_sqlite_rows(conn, table, schema), None, lambda: 0, conn.close)


def _sqlite_rows(conn: sqlite3.Connection, table: str, schema: Mapping[str, str]) -> Iterator[Row]:
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        cursor = conn.execute(f"SELECT * FROM {quoted}")
        columns = [d[0] for d in cursor.description]
        row_number = 0
        for values in cursor:
            row_number += 1
            record: dict[str, Any] = {}
            for name, value in zip(columns, values, strict=True):
                if value is None:
                    continue
                if schema.get(name) == "boolean" and value in (0, 1) and not isinstance(value, bool):
                    value = bool(value)  # SQLite stores booleans as 0/1
                put(record, name, value)
            yield row_number, record
    finally:
        conn.close()
