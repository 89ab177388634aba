"""Every fenced code block in README.md and docs/*.md is run, or is the checked output of one that is.

Each block says what it is in its info string, and one test runs each kind:

- ``lapse`` / ``lapse-error`` (+ the ``text`` block after it): tests/test_docs_examples.py.
- ``console`` (``$ command`` lines, each followed by its exact output): tests/test_docs_cli.py runs
  those of docs/cli.md; this module runs those of every other page the same way.
- ``python``: run from the repository root; when a ``text`` block follows it directly, that is its
  exact standard output. docs/hosts.md's are run by tests/test_hosts_examples.py.
- ``sh``: run as one ``bash -euo pipefail`` script in a scratch folder holding a copy of ``rules/``,
  ``docs/examples/`` and ``examples/``, a DuckDB file ``warehouse.duckdb`` with a ``users`` table,
  and ``$WAREHOUSE_URL`` naming a PostgreSQL database whose search path finds the same ``users`` table. It must exit 0
  with no traceback.
- ``sql``: the output of the command in the HTML comment right before it
  (``<!-- output of: lapse sql ... -->``), line for line, where a line starting ``-- ...`` stands for any
  number of lines left out. The whole output is then run in DuckDB over the same users, and must
  select exactly the users the plugin selects.
- ``json``: parses as JSON.
- ``text``: output or a synopsis; never run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sql_support as s
from test_docs_examples import Block, doc_files, fenced_blocks

import lapse_dsl
from lapse_dsl.sql import DIALECTS

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("lapse", "lapse-error", "text", "console", "python", "sh", "sql", "json")
# pages whose blocks of a kind another test module runs
RUN_ELSEWHERE = {("console", "docs/cli.md"), ("python", "docs/hosts.md")}
_OUTPUT_OF = re.compile(r"^<!-- output of: (?P<command>.+) -->$")
_ELISION = "-- ..."
N_USERS = 3000
AT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
DOCS_SCHEMA = "lapse_docs"  # $WAREHOUSE_URL's search_path: its users table


def _all_blocks() -> list[tuple[Block, Block | None, str]]:
    """(block, the block directly after it with no prose between, the line before its fence)."""
    out: list[tuple[Block, Block | None, str]] = []
    for path in doc_files():
        blocks = fenced_blocks(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, block in enumerate(blocks):
            follower = blocks[i + 1] if i + 1 < len(blocks) else None
            if follower is not None and any(x.strip() for x in lines[block.end : follower.line - 1]):
                follower = None
            before = lines[block.line - 2] if block.line >= 2 else ""
            out.append((block, follower, before))
    return out


BLOCKS = _all_blocks()


def _page(block: Block) -> str:
    return block.doc.relative_to(ROOT).as_posix()


def _of_kind(kind: str) -> list[Any]:
    return [
        pytest.param(b, f, before, id=b.id)
        for b, f, before in BLOCKS
        if b.info == kind and (kind, _page(b)) not in RUN_ELSEWHERE
    ]


@pytest.mark.parametrize(("block", "follower", "before"), _of_kind("text") + _of_kind("json"))
def test_every_block_says_what_it_is(block: Block, follower: Block | None, before: str) -> None:
    if block.info == "json":
        json.loads(block.text)


def test_every_block_has_a_known_kind() -> None:
    unknown = [f"{b.id}: '{b.info}'" for b, _, _ in BLOCKS if b.info not in KINDS]
    assert not unknown, f"blocks without a known info string (one of {', '.join(KINDS)}): {unknown}"


def test_the_runner_finds_every_kind() -> None:
    found = {b.info for b, _, _ in BLOCKS}
    assert {"python", "sh", "sql", "console"} <= found


def test_every_sql_block_names_its_command() -> None:
    missing = [b.id for b, _, before in BLOCKS if b.info == "sql" and not _OUTPUT_OF.match(before)]
    assert not missing, f"sql blocks need '<!-- output of: lapse sql ... -->' on the line before: {missing}"


# The environment the blocks run in ---------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "80"
    env["NO_COLOR"] = "1"
    for name in ("FORCE_COLOR", "PYTHON_COLORS", "PYTHONPATH"):
        env.pop(name, None)
    env.update(extra)
    return env


def make_rows(n: int = N_USERS, seed: int = 20261130) -> list[tuple[Any, ...]]:
    """Users spread over the ten weeks before AT, in a few zones, with missing values: rows of
    the users table (sql_support.COLUMNS order)."""
    rng = random.Random(seed)
    zones = ["America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Sydney", "UTC", None, "not/a_zone"]
    rows = []
    for i in range(n):
        def maybe(value: Any, rng: random.Random = rng) -> Any:
            return None if rng.random() < 0.08 else value

        last = AT - dt.timedelta(seconds=rng.randrange(70 * 86400))
        first = last - dt.timedelta(days=rng.randrange(400))
        tier = maybe(rng.choice(["gold", "silver", "free"]))
        values = {
            "user_id": f"u{i}", "timezone": rng.choice(zones), "last_used": maybe(last), "first_used": maybe(first),
            "renewal_at": None, "sessions": maybe(float(rng.randrange(100))),
            "platform": maybe(rng.choice(["ios", "android", "web"])), "push_opted_in": maybe(rng.random() < 0.7),
            "email_subscribed": maybe(rng.random() < 0.5), "country": maybe(rng.choice(["US", "FR", "IN"])),
            "language": None, "app_version": None, "custom_tier": tier,
            "custom_lifetime_value": maybe(float(rng.randrange(200))), "tier_override": tier,
        }
        rows.append(tuple(values[c] for c, _ in s.COLUMNS))
    return rows


def as_user(row: Sequence[Any]) -> dict[str, Any]:
    """A row as the plugin reads it: columns, dotted attributes from their ``_`` columns."""
    user = {c: v for (c, _), v in zip(s.COLUMNS, row, strict=True) if v is not None}
    user["custom"] = {k: user.pop(f"custom_{k}") for k in ("tier", "lifetime_value") if f"custom_{k}" in user}
    return user


@pytest.fixture(scope="module")
def rows() -> list[tuple[Any, ...]]:
    return make_rows()


@pytest.fixture(scope="module")
def warehouse_url(rows: list[tuple[Any, ...]]) -> Iterator[str]:
    """A PostgreSQL database with the users table (LAPSE_TEST_POSTGRES, or a throwaway cluster)."""
    psycopg = pytest.importorskip("psycopg")
    url = os.environ.get("LAPSE_TEST_POSTGRES")
    server = None
    if not url:
        try:
            server = s.ThrowawayPostgres()
            url = server.start()
        except Exception as exc:  # no PostgreSQL here
            pytest.fail(f"no PostgreSQL for the docs' sh blocks ({exc}); set LAPSE_TEST_POSTGRES or install postgresql",
                        pytrace=False)
    try:
        # a schema of its own: other modules share LAPSE_TEST_POSTGRES and its public.users table
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {DOCS_SCHEMA}")
            s.load_postgres(con, rows, f"{DOCS_SCHEMA}.users")
        yield url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{DOCS_SCHEMA}"
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[Any, ...]]) -> Path:
    duckdb = pytest.importorskip("duckdb")
    root = tmp_path_factory.mktemp("docs")
    for folder in ("rules", "docs/examples", "examples"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    s.load_duckdb(con, rows)
    con.close()
    return root


# python -------------------------------------------------------------------------------------------


def _python_blocks() -> list[Any]:
    """The python blocks; those of docs/warehouse.md query DuckDB."""
    return [pytest.param(*p.values, id=p.id, marks=pytest.mark.warehouse) if _page(p.values[0]) == "docs/warehouse.md"
            else p for p in _of_kind("python")]


@pytest.mark.parametrize(("block", "follower", "before"), _python_blocks())
def test_python_block_runs(block: Block, follower: Block | None, before: str) -> None:
    done = subprocess.run([sys.executable, "-c", block.text], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{block.id}:\n{done.stderr}"
    if follower is not None and follower.info == "text":
        assert done.stdout.splitlines() == follower.text.splitlines(), f"{block.id}: the output is not the text block after it"


# console (pages other than cli.md) -----------------------------------------------------------------


def _console_commands(block: Block) -> list[tuple[str, list[str]]]:
    body = block.text.splitlines()
    assert body and body[0].startswith("$ "), f"{block.id}: a console block starts with a '$ ' command"
    out: list[tuple[str, list[str]]] = []
    for line in body:
        if line.startswith("$ "):
            out.append((line[2:], []))
        else:
            out[-1][1].append(line.rstrip())
    return out


@pytest.mark.parametrize(("block", "follower", "before"), _of_kind("console"))
def test_console_block_prints_what_it_shows(block: Block, follower: Block | None, before: str, scratch: Path) -> None:
    for command, expected in _console_commands(block):
        done = subprocess.run(["bash", "-c", command], cwd=scratch, env=_env(), capture_output=True, text=True, timeout=300)
        assert "Traceback" not in done.stderr, f"{block.id}: $ {command}\n{done.stderr}"
        actual = [x.rstrip() for x in done.stdout.splitlines()]
        while expected and not expected[-1]:
            expected.pop()
        if expected:
            assert actual == expected, f"{block.id}: $ {command}\nstderr:\n{done.stderr}"
        else:
            assert done.returncode == 0, f"{block.id}: $ {command}\n{done.stderr}"


# sh -------------------------------------------------------------------------------------------------


@pytest.mark.warehouse  # DuckDB and PostgreSQL
@pytest.mark.parametrize(("block", "follower", "before"), _of_kind("sh"))
def test_sh_block_runs(block: Block, follower: Block | None, before: str, scratch: Path, warehouse_url: str) -> None:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=scratch,
                          env=_env(WAREHOUSE_URL=warehouse_url), capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, f"{block.id}:\n{done.stderr}"
    assert done.returncode == 0, f"{block.id}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"


# sql --------------------------------------------------------------------------------------------------


def matches_with_elisions(shown: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether ``shown`` is ``actual`` with some runs of lines replaced by a ``-- ...`` line each."""
    def match(i: int, j: int) -> bool:
        while i < len(shown):
            if shown[i].strip().startswith(_ELISION):
                return any(match(i + 1, k) for k in range(j, len(actual) + 1))
            if j >= len(actual) or shown[i].rstrip() != actual[j].rstrip():
                return False
            i, j = i + 1, j + 1
        return j == len(actual)

    return match(0, 0)


def test_elision_matching() -> None:
    assert matches_with_elisions(["a", "-- ...", "d"], ["a", "b", "c", "d"])
    assert matches_with_elisions(["a", "  -- ...", "b"], ["a", "b"])
    assert not matches_with_elisions(["a", "-- ...", "d"], ["a", "b", "c"])
    assert not matches_with_elisions(["a", "b"], ["a", "b", "c"])


def _sql_options(command: str) -> dict[str, str | bool]:
    words = shlex.split(command)
    assert words[:2] == ["lapse", "sql"], command
    options: dict[str, str | bool] = {"rules": words[2]}
    i = 3
    while i < len(words):
        if words[i] in ("--next", "--candidates"):
            options[words[i][2:]] = True
            i += 1
        else:
            options[words[i][2:]] = words[i + 1]
            i += 2
    return options


@pytest.mark.warehouse
@pytest.mark.parametrize(("block", "follower", "before"), _of_kind("sql"))
def test_sql_block_is_real_output_and_selects_the_plugins_users(
    block: Block, follower: Block | None, before: str, scratch: Path, rows: list[tuple[Any, ...]]
) -> None:
    duckdb = pytest.importorskip("duckdb")
    found = _OUTPUT_OF.match(before)
    assert found is not None, f"{block.id}: no '<!-- output of: ... -->' before the block"
    command = found.group("command")
    options = _sql_options(command)
    assert options.get("dialect") == "duckdb", f"{block.id}: show DuckDB output, which this test can run"
    assert "table" not in options and "column" not in options, f"{block.id}: run over the users table as is"
    done = subprocess.run(["bash", "-c", command], cwd=scratch, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{block.id}: $ {command}\n{done.stderr}"
    actual = done.stdout.rstrip("\n").splitlines()
    assert matches_with_elisions(block.text.rstrip("\n").splitlines(), actual), (
        f"{block.id}: the block is not the output of `{command}` (with '-- ...' for lines left out):\n{done.stdout}"
    )
    con = duckdb.connect(str(scratch / "warehouse.duckdb"), read_only=True)
    try:
        got = con.execute(done.stdout).fetchall()
    finally:
        con.close()
    rules = lapse_dsl.load(scratch / str(options["rules"]), default_timezone=str(options.get("default-timezone", "UTC")))
    assert len(rules.rules) == 1
    name = rules.rules[0].name
    at = dt.datetime.fromisoformat(str(options["at"]).replace("Z", "+00:00"))
    users = [as_user(r) for r in rows]
    if options.get("candidates"):
        # a superset: every user the rule can select at any occurrence is a candidate
        chosen = {str(r[0]) for r in got}
        assert s.segment_reference(rules, users, at)[name] <= chosen
        assert len(chosen) < len(users), f"{block.id}: the filter drops nobody: it shows nothing"
    elif options.get("next"):
        expected = s.next_reference(rules, users, at)[name]
        assert {str(r[0]): r[1].astimezone(dt.UTC) for r in got} == expected
        assert expected, f"{block.id}: nobody selected: the example shows nothing"
    else:
        expected_ids = s.segment_reference(rules, users, at)[name]
        assert {str(r[0]) for r in got} == expected_ids
        assert expected_ids, f"{block.id}: nobody selected: the example shows nothing"


def test_sql_docs_show_every_verified_dialect_flag() -> None:
    # the dialects named in warehouse.md's --dialect row are the ones the tool has
    text = (ROOT / "docs" / "warehouse.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `--dialect` |"))
    assert sorted(re.findall(r"`(\w+)`", row.split("|")[2])) == sorted(DIALECTS)


# rule files the pages show -------------------------------------------------------------------------

_NAMES_FILE = re.compile(r"`(?P<path>docs/examples/[\w.-]+\.lapse)`:?\s*$")


def _shown_files() -> list[Any]:
    out = []
    for b, _, before in BLOCKS:
        found = _NAMES_FILE.search(before)
        if b.info == "lapse" and found:
            out.append(pytest.param(b, found.group("path"), id=b.id))
    return out


@pytest.mark.parametrize(("block", "path"), _shown_files())
def test_a_rule_file_shown_is_the_file(block: Block, path: str) -> None:
    # "A rule file, `docs/examples/x.lapse`:" before a block: the commands below it read that file
    assert (ROOT / path).read_text(encoding="utf-8") == block.text, f"{block.id}: {path} differs from the block"
