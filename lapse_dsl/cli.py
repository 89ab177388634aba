"""The ``lapse`` command. Exit codes: 0 success, 1 rule errors, 2 usage errors, 3 rejected
records under ``--strict``. No Python traceback ever reaches the user."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .check import check
from .errors import Diagnostic, LapseError, LapseSyntaxError
from .format import format_file
from .nodes import File
from .parse import parse
from .ruleset import read_sources

__all__ = ["main"]


class UsageError(Exception):
    """A wrong flag or a path that does not exist: exit 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lapse",
        description="Re-engagement campaigns as text: check, format and run lapse rule files.",
    )
    p.add_argument("--version", action="version", version=f"lapse {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("check", help="check rule files and print every error and warning")
    c.add_argument("paths", nargs="+", metavar="PATH", help="a .lapse file or a folder of them")
    c.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    c.add_argument("--strict", action="store_true", help="fail (exit 1) on warnings too")
    c.set_defaults(func=_cmd_check)

    f = sub.add_parser("fmt", help="rewrite rule files in the canonical layout")
    f.add_argument("paths", nargs="+", metavar="PATH", help="a .lapse file, a folder of them, or - for stdin")
    f.add_argument("--check", action="store_true", help="only report files that are not formatted (exit 1)")
    f.set_defaults(func=_cmd_fmt)
    return p


def _sources(paths: Sequence[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in paths:
        if not Path(path).exists():
            raise UsageError(f"{path}: no such file or folder")
        out.extend(read_sources(path))
    return out


def _parse_all(sources: list[tuple[str, str]]) -> tuple[list[File], list[Diagnostic]]:
    files: list[File] = []
    diagnostics: list[Diagnostic] = []
    for source, text in sources:
        try:
            files.append(parse(text, source=source))
        except LapseSyntaxError as exc:
            diagnostics.extend(exc.diagnostics)
    return files, diagnostics


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        sources = _sources(args.paths)
    except LapseSyntaxError as exc:  # a file that is not UTF-8
        sources, early = [], list(exc.diagnostics)
    else:
        early = []
    files, diagnostics = _parse_all(sources)
    diagnostics = early + diagnostics + list(check(files).diagnostics)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    if args.format == "json":
        print(json.dumps([d.to_json() for d in diagnostics], indent=2))
    else:
        for d in diagnostics:
            print(d)
        rules = sum(1 for f in files for item in f.items if item.__class__.__name__ == "Rule")
        print(
            f"{len(sources)} file(s), {rules} rule(s): {errors} error(s), {warnings} warning(s)",
            file=sys.stderr,
        )
    return 1 if errors or (args.strict and warnings) else 0


def _cmd_fmt(args: argparse.Namespace) -> int:
    if args.paths == ["-"]:
        text = sys.stdin.read()
        try:
            sys.stdout.write(format_file(parse(text, source="<stdin>")))
        except LapseSyntaxError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    status = 0
    for source, text in _sources(args.paths):
        try:
            formatted = format_file(parse(text, source=source))
        except LapseSyntaxError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        if formatted == text:
            continue
        if args.check:
            print(f"{source}: not formatted", file=sys.stderr)
            status = 1
        else:
            Path(source).write_text(formatted, encoding="utf-8")
            print(f"{source}: formatted", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args))
    except UsageError as exc:
        print(f"lapse: error: {exc}", file=sys.stderr)
        return 2
    except LapseError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"lapse: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
