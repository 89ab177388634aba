"""Session events for ``lapse insights`` and ``lapse report``: one record per session, with
``user_id``, ``at`` (when the session started) and optionally ``timezone``, read from the same
sources as users (:func:`lapse_dsl.sources.open_source`: JSON lines, CSV, SQLite, Parquet,
standard input) or from a DuckDB table (``duckdb:PATH``).

Each row becomes a :class:`Session` or the reason it cannot be one (a :class:`BadSession`, which
is a ``str``), in input order, so every event is accounted for and a bad one costs itself only;
nothing is loaded whole.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
from sqlglot import exp

from .errors import UserDataError
from .sources import CSV, JSONL, PARQUET, SQLITE, Row, Source, SourceError, open_source, problem, put, redact
from .timecalc import Tz
from .userdata import as_string, parse_time, user_id_of
from .warehouse import table_problem

__all__ = ["DUCKDB", "SESSION_SCHEMA", "BadSession", "Session", "SessionRows", "open_duckdb", "open_sessions"]

# how CSV cells and SQLite values are typed
SESSION_SCHEMA = {"user_id": "string", "at": "time", "timezone": "string"}
DUCKDB = "duckdb:"
FILE_TYPES = JSONL + CSV + PARQUET + SQLITE
_BATCH = 10_000


@attrs.frozen
class Session:
    user_id: str
    at: dt.datetime  # aware, UTC
    timezone: str | None  # the event's own zone, when the record names one


class BadSession(str):
    """Why a row is not a session: the message itself (a ``str``), and ``kind``, what a summary
    groups it under: ``unreadable`` (not a record: invalid JSON, a bad CSV row), ``user_id`` (none,
    or not a string or whole number), ``at`` (missing or not a time) or ``other``."""

    kind: str

    def __new__(cls, message: str, kind: str) -> BadSession:
        made = super().__new__(cls, message)
        made.kind = kind
        return made


class SessionRows:
    """An opened session source: iterate for ``(line, Session or BadSession)``; ``size`` and
    ``position`` drive a progress bar as for users."""

    def __init__(self, source: Source, naive_zone: Tz | None) -> None:
        self.source = source
        self.size = source.size
        self.position = source.position
        self._naive_zone = naive_zone

    def __iter__(self) -> Iterator[tuple[int, Session | str]]:
        naive_zone = self._naive_zone
        for line, record in self.source:
            if isinstance(record, str):
                yield line, BadSession(record, "unreadable")
                continue
            try:
                yield line, session_of(record, naive_zone)
            except UserDataError as exc:
                kind = exc.attribute if exc.attribute in ("user_id", "at") else "other"
                yield line, BadSession(exc.render("cli"), kind)  # sessions are read by commands
            except Exception as exc:  # any other failure costs this event only
                yield line, BadSession(problem(exc), "other")

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> SessionRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def session_of(record: object, naive_zone: Tz | None = None) -> Session:
    """A record -> a :class:`Session`, or :class:`UserDataError` saying what is wrong. A
    ``timezone`` that is not a string is no zone (the user's is used)."""
    try:
        user_id = user_id_of(record)
    except UserDataError as exc:  # in a session's words, not a user record's
        raise UserDataError(exc.reason.replace("user record", "session"), attribute="user_id") from None
    assert isinstance(record, dict) or hasattr(record, "get")
    raw = record.get("at")
    if raw is None:
        raise UserDataError("session has no 'at' time", user_id=user_id, attribute="at")
    at = parse_time(raw, "at", naive_zone, user_id)
    zone = record.get("timezone")
    return Session(user_id, at, as_string(zone) if zone is not None else None)


def open_sessions(spec: str, table: str | None = None, naive_zone: Tz | None = None) -> SessionRows:
    """Open a session source: a file as for users, or ``duckdb:PATH`` (``table``: the SQLite or
    DuckDB table, default ``sessions``). Raises :class:`lapse_dsl.sources.SourceError` when it
    cannot be opened at all."""
    table = "sessions" if table is None else table
    if spec.startswith(DUCKDB):
        return SessionRows(open_duckdb(spec, table, ("user_id", "at"), ("timezone",)), naive_zone)
    if spec != "-":  # open_source's own messages speak of users
        suffix = Path(spec).suffix.lower()
        if suffix not in FILE_TYPES:
            raise SourceError(f"{spec}: unknown sessions file type '{suffix or '(none)'}'; use "
                              f"{', '.join(FILE_TYPES)}, duckdb:PATH or - for standard input")
        if not Path(spec).is_file():
            raise SourceError(f"{spec}: no such sessions file")
    return SessionRows(open_source(spec, SESSION_SCHEMA, table), naive_zone)


def open_duckdb(spec: str, table: str, required: Sequence[str], optional: Sequence[str] = ()) -> Source:
    """The rows of a DuckDB table (``spec`` is ``duckdb:PATH``, opened read-only) as records of
    the ``required`` columns and those ``optional`` ones the table has; NULL is a missing value.
    The table is read in batches, so memory stays flat. A table or a required column that does
    not exist is a :class:`SourceError` listing what there is."""
    why = table_problem(table)
    if why is not None:
        raise SourceError(f"table {table!r} is not a table name: {why}")
    try:
        duckdb = importlib.import_module("duckdb")
    except ImportError:
        raise SourceError("reading a DuckDB database needs the duckdb package: pip install 'lapse-dsl[warehouse]'") from None
    try:
        conn = duckdb.connect(spec[len(DUCKDB):], read_only=True)
    except Exception as exc:  # duckdb raises its own IOException family
        raise SourceError(redact(f"{spec}: cannot open the DuckDB database ({_first_line(exc)})", spec)) from None
    name = exp.to_table(table).sql(dialect="duckdb")
    try:
        have = [d[0] for d in conn.execute(f"SELECT * FROM {name} LIMIT 0").description]
        missing = [c for c in required if c not in have]
        if missing:
            raise SourceError(redact(
                f"{spec}: table {table} has no column {missing[0]!r}; its columns: {', '.join(have)}", spec))
        columns = [c for c in (*required, *optional) if c in have]
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        cursor = conn.execute(f"SELECT {quoted} FROM {name}")
    except SourceError:
        conn.close()
        raise
    except Exception as exc:  # no such table, no permission
        conn.close()
        raise SourceError(redact(f"{spec}: cannot read table {table} ({_first_line(exc)})", spec)) from None
    return Source(_duckdb_rows(conn, cursor, columns, spec), None, lambda: 0, conn.close)


def _duckdb_rows(conn: Any, cursor: Any, columns: list[str], spec: str) -> Iterator[Row]:
    number = 0
    try:
        while True:
            try:
                batch = cursor.fetchmany(_BATCH)
            except Exception as exc:  # the source, not a record, failed
                raise SourceError(redact(f"{spec}: reading failed after row {number} ({_first_line(exc)})", spec)) from None
            if not batch:
                return
            for values in batch:
                number += 1
                record: dict[str, Any] = {}
                for name, value in zip(columns, values, strict=True):
                    if value is not None:
                        put(record, name, value)
                yield number, record
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
