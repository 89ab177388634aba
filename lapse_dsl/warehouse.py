"""Batch runs over a database: ``lapse run --users duckdb:PATH`` or ``postgresql://...``.

The database evaluates the time-independent part of every rule's segment
(:func:`lapse_dsl.sql.candidates_sql`) and returns only the users that can be in a segment; the
plugin then evaluates those exactly. Rows become user records: a column per attribute (``custom_tier``
for ``custom.tier`` unless mapped otherwise), NULL is a missing value. A column that a condition
reads and the table lacks is a missing value too (as an absent CSV column is), so the query reads
it as a typed NULL; a column mapped with ``--column`` that the table lacks is an error.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from . import nodes as n
from .ruleset import RuleSet
from .sources import Row, Source, SourceError, problem, put, redact
from .sql import candidates_sql

__all__ = ["is_database", "open_database", "table_problem"]

_PREFIXES = ("duckdb:", "postgresql://", "postgres://")
_BATCH = 10_000
_IDENTIFIER = re.compile(r"[^\W\d][\w$]*")
_NULL_TYPES = {"time": "TIMESTAMPTZ", "number": "DOUBLE", "string": "TEXT", "boolean": "BOOLEAN"}
_FILLED = "lapse_users"  # the table with NULL columns for the missing ones


def is_database(spec: str) -> bool:
    return spec.startswith(_PREFIXES)


def table_problem(table: str) -> str | None:
    """Why ``table`` cannot name a table in the generated SQL (``NAME``, ``SCHEMA.NAME`` or
    ``CATALOG.SCHEMA.NAME``, a part in double quotes when it needs them), or None."""
    if "\x00" in table:
        return "it holds a NUL character"
    try:
        parsed = exp.to_table(table)
    except SqlglotError as exc:
        return f"it cannot be read as SQL: {str(exc).splitlines()[0]}"
    if any(node.comments for node in parsed.walk()):
        return "it holds an SQL comment, which would be dropped"
    for key in ("catalog", "db", "this"):
        part = parsed.args.get(key)
        if part is None:
            continue
        if not isinstance(part, exp.Identifier) or not part.name:
            return "it is not one to three dot-separated names"
        if not part.args.get("quoted") and not _IDENTIFIER.fullmatch(part.name):
            return f"{part.name!r} is not a name; put it in double quotes"
    return None


def open_database(spec: str, rules: RuleSet, table: str = "users", columns: Mapping[str, str] | None = None) -> Source:
    """Run the candidate query and stream its rows as user records. Every message names ``spec``
    with its credentials hidden."""
    mapping = dict(columns or {})
    why = table_problem(table)
    if why is not None:
        raise SourceError(f"table {table!r} is not a table name: {why}")
    if spec.startswith("duckdb:"):
        duckdb = _require("duckdb", "duckdb")
        try:
            conn = duckdb.connect(spec[len("duckdb:"):], read_only=True)
        except Exception as exc:  # duckdb raises its own IOException family
            raise SourceError(redact(f"{spec}: cannot open the DuckDB database ({_first_line(exc)})", spec)) from None
        dialect = "duckdb"
    else:
        psycopg = _require("psycopg", "psycopg[binary]")
        try:
            conn = psycopg.connect(spec)
        except Exception as exc:  # OperationalError, ProgrammingError for a malformed spec, and friends
            raise SourceError(redact(f"cannot connect to {spec} ({_first_line(exc)})", spec)) from None
        dialect = "postgres"
    try:
        query = _query(conn, spec, rules, table, mapping, dialect)
        cursor = conn.execute(query)
    except SourceError:
        conn.close()
        raise
    except Exception as exc:
        conn.close()
        raise SourceError(redact(f"{spec}: the candidate query failed ({_first_line(exc)})", spec)) from None
    names = [d[0] for d in cursor.description]
    paths = _paths(rules.schema, mapping, names)
    return Source(_rows(conn, cursor, names, paths, spec), None, lambda: 0, conn.close)


def _query(conn: Any, spec: str, rules: RuleSet, table: str, mapping: Mapping[str, str], dialect: str) -> str:
    """The candidate query, over the table with a typed NULL column for each column a condition
    reads that the table lacks. Mapped columns and ``user_id`` must exist."""
    probe = exp.select("*").from_(exp.to_table(table)).limit(0).sql(dialect=dialect)
    try:
        have = [d[0] for d in conn.execute(probe).description]
    except Exception as exc:  # no such table, no permission
        raise SourceError(redact(f"{spec}: cannot read table {table} ({_first_line(exc)})", spec)) from None
    listed = ", ".join(have)
    for attribute, column in sorted(mapping.items()):
        if column not in have:
            raise SourceError(redact(
                f"{spec}: table {table} has no column {column!r} (--column {attribute}={column}); its columns: {listed}", spec
            ))
    user_id = mapping.get("user_id", "user_id")
    if user_id not in have:
        raise SourceError(redact(
            f"{spec}: table {table} has no column {user_id!r} for user_id; map one with --column user_id=COLUMN "
            f"(its columns: {listed})", spec
        ))
    read = sorted({str(p.path) for rule in rules.rules for p in n.predicates(rule.segment)})
    missing = [(path, mapping.get(path, path.replace(".", "_"))) for path in read]
    missing = [(path, column) for path, column in missing if column not in have]
    if not missing:
        return candidates_sql(rules, dialect=dialect, table=table, columns=mapping, select_all=True)
    nulls = [exp.cast(exp.Null(), exp.DataType.build(_NULL_TYPES[rules.schema[path]])).as_(column, quoted=True)
             for path, column in missing]
    filled = exp.select("*", *nulls).from_(exp.to_table(table)).sql(dialect=dialect)
    return f"WITH {_FILLED} AS ({filled}) " + candidates_sql(
        rules, dialect=dialect, table=_FILLED, columns=mapping, select_all=True
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _require(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SourceError(f"reading a database needs the {package} package: pip install 'lapse-dsl[warehouse]'") from None


def _paths(schema: Mapping[str, str], mapping: Mapping[str, str], names: list[str]) -> list[str]:
    """The attribute path each column holds: mapped, or the schema path whose column name it is."""
    by_column = {column: path for path, column in mapping.items()}
    for path in schema:
        by_column.setdefault(path.replace(".", "_"), path)
    return [by_column.get(name, name) for name in names]


def _rows(conn: Any, cursor: Any, names: list[str], paths: list[str], spec: str) -> Iterator[Row]:
    number = 0
    try:
        while True:
            try:
                batch = cursor.fetchmany(_BATCH)
            except Exception as exc:  # the connection dropped: the source, not a record, failed
                raise SourceError(redact(f"{spec}: reading failed after row {number} ({_first_line(exc)})", spec)) from None
            if not batch:
                return
            for values in batch:
                number += 1
                yield number, _record(paths, values)
    finally:
        conn.close()


def _record(paths: list[str], values: Any) -> dict[str, Any] | str:
    record: dict[str, Any] = {}
    try:
        for path, value in zip(paths, values, strict=True):
            if value is not None:
                put(record, path, value)
    except Exception as exc:  # it costs this row only
        return problem(exc)
    return record
