"""Batch runs over a database: ``lapse run --users duckdb:PATH`` or ``postgresql://...``.

The database evaluates the time-independent part of every rule's segment
(:func:`lapse_dsl.sql.candidates_sql`) and returns only the users that can be in a segment; the
plugin then evaluates those exactly. Rows become user records: a column per attribute (``custom_tier``
for ``custom.tier`` unless mapped otherwise), NULL is a missing value.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from .ruleset import RuleSet
from .sources import Row, Source, SourceError, put
from .sql import candidates_sql

__all__ = ["is_database", "open_database"]

_PREFIXES = ("duckdb:", "postgresql://", "postgres://")
_BATCH = 10_000


def is_database(spec: str) -> bool:
    return spec.startswith(_PREFIXES)


def open_database(spec: str, rules: RuleSet, table: str = "users", columns: Mapping[str, str] | None = None) -> Source:
    """Run the candidate query and stream its rows as user records."""
    mapping = dict(columns or {})
    if spec.startswith("duckdb:"):
        duckdb = _require("duckdb", "duckdb")
        path = spec[len("duckdb:"):]
        try:
            conn = duckdb.connect(path, read_only=True)
        except Exception as exc:  # duckdb raises its own IOException family
            raise SourceError(f"{spec}: cannot open the DuckDB database ({exc})") from None
        dialect = "duckdb"
    else:
        psycopg = _require("psycopg", "psycopg[binary]")
        try:
            conn = psycopg.connect(spec)
        except Exception as exc:  # OperationalError and friends
            raise SourceError(f"cannot connect to {spec.split('@')[-1]} ({exc})") from None
        dialect = "postgres"
    query = candidates_sql(rules, dialect=dialect, table=table, columns=mapping, select_all=True)
    try:
        cursor = conn.execute(query)
    except Exception as exc:  # a missing table or column
        conn.close()
        raise SourceError(f"{spec}: the candidate query failed ({str(exc).splitlines()[0]})") from None
    names = [d[0] for d in cursor.description]
    paths = _paths(rules.schema, mapping, names)
    return Source(_rows(conn, cursor, names, paths), None, lambda: 0, conn.close)


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


def _rows(conn: Any, cursor: Any, names: list[str], paths: list[str]) -> Iterator[Row]:
    number = 0
    try:
        while True:
            batch = cursor.fetchmany(_BATCH)
            if not batch:
                return
            for values in batch:
                number += 1
                record: dict[str, Any] = {}
                for path, value in zip(paths, values, strict=True):
                    if value is not None:
                        put(record, path, value)
                yield number, record
    finally:
        conn.close()
