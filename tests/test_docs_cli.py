"""Every example in docs/cli.md is real.

A ```` ```console ```` block holds commands (lines starting with ``$ ``) each followed by its exact
standard output. Each command is run with ``bash -c`` from the repository root, with this Python's
``bin`` directory first on ``PATH`` (so ``lapse`` is the one installed here), and its standard
output must equal the documented lines (trailing whitespace and trailing blank lines ignored).
The other tests check that every command and every flag of the ``lapse`` parser is documented.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from lapse_dsl.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([^`\s]*)")


@attrs.frozen
class Example:
    line: int  # 1-based line of the `$ ` command in docs/cli.md
    command: str
    expected: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"cli.md:{self.line}"


def console_examples(path: Path = DOC) -> list[Example]:
    """Every ``$ `` command of every ```console block, with the lines that follow it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, info = opening.groups()
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != fence:
            j += 1
        assert j < len(lines), f"{path.name}:{i + 1}: code block is never closed"
        if info == "console":
            body = lines[i + 1 : j]
            assert body and body[0].startswith("$ "), f"{path.name}:{i + 2}: a console block starts with a '$ ' command"
            start = None
            for k, text in enumerate([*body, "$ "]):
                if text.startswith("$ "):
                    if start is not None:
                        expected = [x.rstrip() for x in body[start + 1 : k]]
                        while expected and not expected[-1]:
                            expected.pop()
                        examples.append(Example(i + 2 + start, body[start][2:], tuple(expected)))
                    start = k
        i = j + 1
    return examples


EXAMPLES = console_examples()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "80"  # argparse wraps --help to the terminal width
    env["NO_COLOR"] = "1"
    for name in ("FORCE_COLOR", "PYTHON_COLORS", "PYTHONPATH"):
        env.pop(name, None)
    return env


def _run(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)


@functools.cache
def _all_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """Every documented command, run once and in parallel (each takes a second to start Python).
    The commands are independent: they only read the repository or write to their own temp dirs."""
    commands = sorted({e.command for e in EXAMPLES})
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return dict(zip(commands, pool.map(_run, commands), strict=True))


@pytest.mark.slow  # together: every documented command, about 20 seconds of starting Python
@pytest.mark.parametrize("example", [pytest.param(e, id=e.id) for e in EXAMPLES])
def test_console_example(example: Example) -> None:
    done = _all_runs()[example.command]
    assert "Traceback" not in done.stderr, f"{example.id}: a traceback reached the user:\n{done.stderr}"
    actual = [x.rstrip() for x in done.stdout.splitlines()]
    while actual and not actual[-1]:
        actual.pop()
    assert actual == list(example.expected), f"{example.id}: $ {example.command}\nstderr:\n{done.stderr}"


def test_parser_reads_commands_and_outputs(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("intro\n```console\n$ a\none\n\n$ b\n```\n```text\n$ not run\n```\n````console\n$ c\n  two  \n````\n",
                   encoding="utf-8")
    assert [(e.line, e.command, e.expected) for e in console_examples(doc)] == [
        (3, "a", ("one",)),
        (6, "b", ()),
        (12, "c", ("  two",)),
    ]


def _commands() -> dict[str, list[argparse.Action]]:
    """Each ``lapse`` command and its arguments, read from the command line's parser: argparse has
    no public way to list them, so this file's reach-ins (``_parser``, ``_actions``) are here."""
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {name: list(sub._actions) for name, sub in action.choices.items()}
    raise AssertionError("the lapse parser has no subcommands")


def test_every_command_has_a_real_example() -> None:
    commands = [e.command for e in EXAMPLES]
    for name in _commands():
        assert any(re.search(rf"\blapse {name}\b", c) for c in commands), f"no example runs 'lapse {name}'"
    for flag in ("--help", "--version"):
        assert any(re.search(rf"\blapse {flag}\b", c) for c in commands), f"no example runs 'lapse {flag}'"


def test_every_flag_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, actions in _commands().items():
        section = text.split(f"## `lapse {name}`", 1)
        assert len(section) == 2, f"docs/cli.md has no '## `lapse {name}`' section"
        for action in actions:
            for flag in action.option_strings:
                if flag in ("-h", "--help"):
                    continue
                assert flag in text, f"lapse {name} {flag} is not documented in docs/cli.md"
                if action.choices:
                    for choice in action.choices:
                        assert f"{flag} {choice}" in text, f"'lapse {name} {flag} {choice}' is not documented"


def test_exit_codes_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = re.findall(r"^\| ([0-3]) \|", text, flags=re.MULTILINE)
    assert table == ["0", "1", "2", "3"]


def test_example_database_matches_its_script(tmp_path: Path) -> None:
    fresh = tmp_path / "users.db"
    subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "make_users_db.py"), str(fresh)], check=True)

    def rows(path: Path) -> list[tuple[object, ...]]:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return list(conn.execute("SELECT * FROM app_users"))

    assert rows(ROOT / "docs" / "examples" / "users.db") == rows(fresh)
