"""No credential of a users source ever appears in lapse's output (issue 11, item 13).

One function, :func:`lapse_dsl.sources.redact`, hides the password of a ``scheme://user:password@``
URL, the value of a ``password=`` (and similar) key in a query string or a keyword/value DSN, and
every literal secret of the source spec wherever a driver echoes it; every message that names a
source goes through it. The command-line tests make each kind of failure (connection refused, a
malformed spec, a bad database, table or column) and look for the password in everything printed.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import sql_support as s

from lapse_dsl import sources
from lapse_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
BRAZE = str(ROOT / "rules" / "braze_lapsing.lapse")
NOW = "2026-11-30T00:00:00Z"
SECRET = "Hunter2-S3cret"


# the function -----------------------------------------------------------------------------------

# text holding a credential -> the text as it must read after redaction
REDACTED = {
    f"postgresql://bob:{SECRET}@db.internal:5432/crm": "postgresql://bob:***@db.internal:5432/crm",
    f"postgres://bob:{SECRET}@db.internal/crm?sslmode=require": "postgres://bob:***@db.internal/crm?sslmode=require",
    f"mysql://root:{SECRET}@10.0.0.1/users": "mysql://root:***@10.0.0.1/users",
    f"https://user:{SECRET}@example.com/users.csv": "https://user:***@example.com/users.csv",
    f"redis://:{SECRET}@cache:6379/0": "redis://:***@cache:6379/0",
    "postgresql://bob:p%40ss%2Fw0rd%3A@db/crm": "postgresql://bob:***@db/crm",
    "postgresql://bob:p@ss@w0rd@db/crm": "postgresql://bob:***@db/crm",
    f"postgresql://db.internal/crm?user=bob&password={SECRET}&sslmode=require":
        "postgresql://db.internal/crm?user=bob&password=***&sslmode=require",
    f"postgresql://db.internal/crm?PASSWORD={SECRET}": "postgresql://db.internal/crm?PASSWORD=***",
    f"host=db.internal user=bob password={SECRET} dbname=crm": "host=db.internal user=bob password=*** dbname=crm",
    "host=db user=bob password='a secret with spaces' dbname=crm": "host=db user=bob password=*** dbname=crm",
    f"host=db password = {SECRET}": "host=db password = ***",
    f"sslpassword={SECRET} host=db": "sslpassword=*** host=db",
    f'cannot connect ({{"password": "{SECRET}"}})': 'cannot connect ({"password": ***})',
    f"https://api.example.com/v1?token={SECRET}&x=1": "https://api.example.com/v1?token=***&x=1",
    f"mongodb+srv://app:{SECRET}@cluster0.example.net/db": "mongodb+srv://app:***@cluster0.example.net/db",
}

PLAIN = [
    "users.jsonl: no such users file",
    "postgresql://bob@db.internal:5432/crm",
    "the run did not pass: 3 records rejected",
    "a password is needed (use password=...)",
    "duckdb:/data/warehouse.duckdb: cannot open the DuckDB database",
]


@pytest.mark.parametrize("text", list(REDACTED))
def test_redact_hides_every_credential_form(text: str) -> None:
    assert sources.redact(text) == REDACTED[text]
    assert sources.redact(f"error: {text} (details)", text) == f"error: {REDACTED[text]} (details)"


@pytest.mark.parametrize("text", PLAIN)
def test_redact_leaves_text_without_credentials_alone(text: str) -> None:
    assert sources.redact(text, "postgresql://bob@db/crm") == text.replace("password=...", "password=***")


@pytest.mark.parametrize("spec", [f"postgresql://bob:{SECRET}@db/crm", f"postgresql://db/crm?password={SECRET}",
                                  f"host=db password={SECRET}", "postgresql://bob:Hunter2%2DS3cret@db/crm"])
def test_a_driver_echoing_the_secret_anywhere_is_redacted_too(spec: str) -> None:
    echoed = f'invalid value "{SECRET}" near {SECRET[:3]}'
    assert SECRET not in sources.redact(echoed, spec)


# the command line, without a server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def closed_port() -> int:
    return s.free_port()  # bound and released: nothing listens there


def specs(port: int) -> dict[str, tuple[str, str]]:
    """A spec per kind of failure -> (the spec, its secret)."""
    return {
        "connection refused": (f"postgresql://bob:{SECRET}@127.0.0.1:{port}/crm", SECRET),
        "postgres scheme": (f"postgres://bob:{SECRET}@127.0.0.1:{port}/crm", SECRET),
        "password in the query": (f"postgresql://bob@127.0.0.1:{port}/crm?password={SECRET}", SECRET),
        "percent-encoded password": (f"postgresql://bob:p%40{SECRET}@127.0.0.1:{port}/crm", f"p@{SECRET}"),
        "malformed percent-encoding": (f"postgresql://bob:{SECRET}%zz@127.0.0.1:{port}/crm", SECRET),
        "bad port": (f"postgresql://bob:{SECRET}@127.0.0.1:port{port}/crm", SECRET),
        "unknown query parameter": (f"postgresql://bob:{SECRET}@127.0.0.1:{port}/crm?passwrd=x", SECRET),
        "not a database scheme": (f"mysql://bob:{SECRET}@127.0.0.1:{port}/users.csv", SECRET),
        "keyword DSN": (f"host=127.0.0.1 port={port} password={SECRET} dbname=crm", SECRET),
    }


@pytest.mark.parametrize("kind", list(specs(0)))
@pytest.mark.parametrize("command", ["run", "plan"])
def test_no_failure_to_read_a_database_shows_its_password(
    capsys: pytest.CaptureFixture[str], closed_port: int, kind: str, command: str
) -> None:
    spec, secret = specs(closed_port)[kind]
    code = main([command, BRAZE, "--users", spec, "--now", NOW])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("lapse: error: ") and "Traceback" not in err
    for shown in (secret, urllib.parse.quote(secret), secret[:8]):
        assert shown not in out + err
    assert "***" in err


# the command line, against a server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[str, str]]:
    """A URL of a PostgreSQL database with a ``users`` table, and the password it carries (any
    password is accepted by the throwaway cluster's trust authentication)."""
    import psycopg

    url = os.environ.get("LAPSE_TEST_POSTGRES")
    server = None
    if not url:
        try:
            server = s.ThrowawayPostgres()
            url = server.start()
        except Exception as exc:  # no PostgreSQL on this machine
            pytest.fail(f"LAPSE_TEST_POSTGRES is not set and no throwaway PostgreSQL could be started: {exc}",
                        pytrace=False)
    parts = urllib.parse.urlsplit(url)
    secret = parts.password or SECRET
    netloc = f"{parts.username or 'postgres'}:{urllib.parse.quote(secret)}@{parts.hostname}:{parts.port or 5432}"
    with_password = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    with psycopg.connect(with_password, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS lapse_redaction_users")
        conn.execute("CREATE TABLE lapse_redaction_users (user_id text, last_used timestamptz, timezone text)")
        conn.execute("INSERT INTO lapse_redaction_users VALUES ('a', '2026-11-16T10:00:00Z', 'Europe/Berlin'), "
                     "('b', '2026-11-20T10:00:00Z', NULL)")
    try:
        yield with_password, secret
    finally:
        with psycopg.connect(with_password, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS lapse_redaction_users")
        if server is not None:
            server.stop()


@pytest.mark.warehouse
def test_no_error_from_a_live_database_shows_its_password(
    capsys: pytest.CaptureFixture[str], postgres: tuple[str, str]
) -> None:
    url, secret = postgres
    parts = urllib.parse.urlsplit(url)
    cases = {
        "bad database": ([parts._replace(path="/no_such_database").geturl()], "no_such_database"),
        "bad table": ([url, "--table", "no_such_table"], "no_such_table"),
        "missing mapped column": ([url, "--table", "lapse_redaction_users", "--column", "last_used=seen"],
                                  "its columns: user_id, last_used, timezone"),
        "no user_id column": ([url, "--table", "lapse_redaction_users", "--column", "user_id=id"], "'id'"),
    }
    for users, expected in cases.values():
        code = main(["run", BRAZE, "--users", *users, "--now", NOW])
        out, err = capsys.readouterr()
        assert code == 2 and expected in err, err
        assert secret not in out + err and urllib.parse.quote(secret) not in out + err
        assert "***" in err


@pytest.mark.warehouse
def test_a_live_database_missing_a_column_only_some_rules_read(
    capsys: pytest.CaptureFixture[str], postgres: tuple[str, str], tmp_path: Path
) -> None:
    """push_opted_in is not in the table: unknown for every user, as if it were absent from a file."""
    url, _ = postgres
    code = main(["run", BRAZE, "--users", url, "--table", "lapse_redaction_users", "--now", NOW])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == ""  # the rule needs push_opted_in: unknown, so nobody is in the segment
    assert "no record read has push_opted_in" in err
    assert "accounted for: 2 read = 0 with + 2 without + 0 rejected (ok)" in err
    rules = tmp_path / "either.lapse"
    rules.write_text('default timezone "UTC"\nsegment last_used between 1w and 3w or push_opted_in; '
                     "send push weekly thu 10:00 local\n", encoding="utf-8")
    code = main(["run", str(rules), "--users", url, "--table", "lapse_redaction_users", "--now", NOW])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(json.loads(line)["user_id"] for line in out.splitlines()) == ["a", "b"]


@pytest.mark.warehouse
def test_a_database_that_fails_while_being_read_is_one_redacted_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The connection drops after the first rows: exit 2 with the row count, the password hidden."""
    import duckdb

    from lapse_dsl import warehouse

    db = duckdb.connect(str(tmp_path / "u.duckdb"))
    db.execute("CREATE TABLE users (user_id VARCHAR, last_used TIMESTAMPTZ, push_opted_in BOOLEAN)")
    db.execute("INSERT INTO users SELECT 'u' || i, TIMESTAMPTZ '2026-11-16 10:00:00+00', true FROM range(5) t(i)")
    db.close()

    class Dropping:
        def __init__(self, cursor: object) -> None:
            self.cursor = cursor
            self.description = cursor.description  # type: ignore[attr-defined]
            self.calls = 0

        def fetchmany(self, size: int) -> list[tuple[object, ...]]:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError(f"server closed the connection (postgresql://bob:{SECRET}@db/crm)")
            return self.cursor.fetchmany(size)  # type: ignore[attr-defined, no-any-return]

    real = warehouse._rows
    monkeypatch.setattr(warehouse, "_rows", lambda conn, cursor, *rest: real(conn, Dropping(cursor), *rest))
    code = main(["run", BRAZE, "--users", f"duckdb:{tmp_path / 'u.duckdb'}", "--now", NOW, "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 2
    assert "reading failed after row 5 (server closed the connection (postgresql://bob:***@db/crm))" in err
    assert SECRET not in out + err and "Traceback" not in err
