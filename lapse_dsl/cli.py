"""The ``lapse`` command. Exit codes: 0 success, 1 rule errors, 2 usage errors, 3 rejected
records under ``--strict``. No Python traceback ever reaches the user."""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from . import __version__
from . import nodes as n
from .batch import history_of, run_batch
from .check import check
from .errors import Diagnostic, LapseCheckError, LapseError, LapseSyntaxError, UnsupportedError, UserDataError, render
from .format import format_condition, format_file, quote
from .model import CheckResult
from .parse import parse
from .plugin import Plugin
from .projection import project
from .ruleset import FIRST_INSTANT, LAST_INSTANT, RuleSet, parse_sources, read_sources, read_text, rule_files
from .schema import did_you_mean
from .segments import Resolver, as_campaigns, used_by
from .sources import SQLITE, Source, SourceError, counted, open_source, problem, redact
from .sql import DIALECTS, candidates_sql, next_occurrence_sql, segment_sql
from .userdata import user_id_of
from .warehouse import is_database, open_database, table_problem
from .zones import get_zone, zone_problem

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

    r = sub.add_parser("run", help="evaluate rules over a user file and write the send plan")
    r.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    _users_options(r)
    r.add_argument("--since", type=_instant, help="only occurrences after this instant (the previous tick)")
    r.add_argument("--due-only", action="store_true", help="write only decisions that are due now")
    r.add_argument("--within", type=_within, metavar="DURATION",
                   help="only decisions that send before now + DURATION (15m, 1h, 1d, 1w: exact lengths)")
    r.add_argument("--out", metavar="PATH", help="write decisions here (default: standard output)")
    r.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="decision format (default: jsonl)")
    r.add_argument("--errors", metavar="PATH", help="write rejected records here (default: standard error)")
    r.add_argument("--strict", action="store_true", help="exit 3 when any record was rejected")
    r.add_argument("--summary", action="store_true", help="also print the weekly/hourly send plan table")
    r.set_defaults(func=_cmd_run)

    pl = sub.add_parser("plan", help="show sends per week and per UTC hour for the next weeks")
    pl.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    _users_options(pl)
    pl.add_argument("--weeks", type=_weeks, default=4, help=f"how many weeks ahead (default: 4, at most {MAX_WEEKS})")
    pl.set_defaults(func=_cmd_plan)

    q = sub.add_parser("sql", help="print the SQL that selects a rule's segment in a warehouse")
    q.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    q.add_argument("--dialect", required=True, choices=DIALECTS, help="the SQL dialect")
    q.add_argument("--at", type=_instant, help="the instant to judge the segment at (default: the current time)")
    q.add_argument("--table", default="users", help="the users table (default: users)")
    q.add_argument("--column", action="append", default=[], metavar="ATTR=COLUMN", type=_column,
                   help="column holding an attribute (repeatable; default: the attribute name, . as _)")
    q.add_argument("--rule", metavar="NAME", help="the campaign (needed when the rules hold several)")
    shape = q.add_mutually_exclusive_group()
    shape.add_argument("--next", action="store_true",
                       help="users in the segment at each one's next occurrence, with send_at (UTC)")
    shape.add_argument("--candidates", action="store_true",
                       help="users that can be in the segment at some occurrence (the push-down filter)")
    _zone_options(q)
    q.set_defaults(func=_cmd_sql)

    co = sub.add_parser("compile", help="print the Python code the rules compile to")
    co.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    co.add_argument("--emit", required=True, choices=("python",), help="what to print: python, the generated source")
    # the zones are run-time inputs of the generated code, not part of it
    co.set_defaults(func=_cmd_compile, default_timezone="UTC", naive_timezone=None)

    e = sub.add_parser("explain", help="explain, rule by rule, why a user is or is not messaged")
    e.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    e.add_argument("--user", required=True, metavar="JSON", help="the user record as a JSON object")
    e.add_argument("--now", type=_instant, help="evaluation instant, ISO-8601 with offset (default: the current time)")
    _zone_options(e)
    e.set_defaults(func=_cmd_explain)

    sg = sub.add_parser(
        "segments", help="list named segments, the campaigns that use them and their sizes",
        description="List each named segment (segment \"NAME\" = CONDITION): where it is defined,\n"
                    "its definition and the campaigns that use it, directly or through another\n"
                    "named segment. With --users, count the users in it at --now, on each user's\n"
                    "own wall clock.",
        epilog="example:\n  lapse segments rules/ --users users.jsonl --now 2026-11-30T00:00:00Z",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sg.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    sg.add_argument("--users", metavar="SOURCE",
                    help="count each segment's users: .jsonl/.ndjson, .csv, .db/.sqlite/.sqlite3, or - for JSON lines "
                         "on stdin")
    sg.add_argument("--table", help="SQLite table to read (default: users)")
    sg.add_argument("--now", type=_instant, help="the instant to count at, ISO-8601 with offset (default: the current time)")
    sg.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _zone_options(sg)
    sg.set_defaults(func=_cmd_segments)
    return p


def _users_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--users", required=True, metavar="SOURCE",
                   help="users: .jsonl/.ndjson, .csv, .db/.sqlite/.sqlite3, - for JSON lines on stdin, or a "
                        "database (duckdb:PATH or postgresql://...) that returns the candidates")
    p.add_argument("--table", help="SQLite or database table to read (default: users)")
    p.add_argument("--column", action="append", default=[], metavar="ATTR=COLUMN", type=_column,
                   help="database column holding an attribute (repeatable; default: the attribute name, . as _)")
    p.add_argument("--now", type=_instant, help="evaluation instant, ISO-8601 with offset (default: the current time)")
    _zone_options(p)


def _zone_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--default-timezone", default="UTC", metavar="ZONE",
                   help="zone for users without a valid timezone when the rule file sets none (default: UTC)")
    p.add_argument("--naive-timezone", metavar="ZONE", help="zone assumed for user times without an offset")


MAX_WEEKS = 520  # ten years: `plan` from the last instant lapse takes still ends inside the calendar


def _instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO-8601 instant such as 2026-11-30T00:00:00Z") from None
    if value.tzinfo is None:
        example = value.isoformat() + "Z" if "T" in text or " " in text else f"{text}T00:00:00Z"
        raise argparse.ArgumentTypeError(f"'{text}' has no UTC offset; add one, as in {example}")
    if not FIRST_INSTANT <= value < LAST_INSTANT:  # the range every evaluation entry point takes
        raise argparse.ArgumentTypeError(
            f"'{text}' is out of range: lapse takes instants from {_iso(FIRST_INSTANT)} to before {_iso(LAST_INSTANT)}"
        )
    return value


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _column(text: str) -> tuple[str, str]:
    attribute, sep, column = text.partition("=")
    if not sep or not attribute or not column:
        raise argparse.ArgumentTypeError(f"'{text}' is not ATTR=COLUMN, as in last_used=last_seen_at")
    return attribute, column


def _cmd_sql(args: argparse.Namespace) -> int:
    plugin = _load_plugin(args)
    at = args.at or dt.datetime.now(dt.UTC)
    _check_table(args.table)
    options = {"dialect": args.dialect, "table": args.table, "columns": _columns(args, plugin), "rule": args.rule}
    try:
        if args.candidates:
            text = candidates_sql(plugin.rules, **options)
        elif args.next:
            text = next_occurrence_sql(plugin.rules, at=at, pretty=True, **options)
        else:
            text = segment_sql(plugin.rules, at=at, pretty=True, **options)
    except ValueError as exc:  # no such rule, or several and none named
        raise UsageError(str(exc)) from None
    except UnsupportedError as exc:
        print(f"lapse: error: {exc}", file=sys.stderr)
        return 1
    _print(text)
    return 0


def _cmd_compile(args: argparse.Namespace) -> int:
    source = _load_plugin(args).rules.generated_source()
    _print(source.removesuffix("\n"))  # exactly the source: print adds the last new line back
    return 0


_WITHIN_UNITS = {"m": dt.timedelta(minutes=1), "h": dt.timedelta(hours=1), "d": dt.timedelta(days=1),
                 "w": dt.timedelta(weeks=1)}
_WITHIN_MAX = 400 * 24 * 60  # minutes: the search horizon; a longer --within limits nothing


def _within(text: str) -> dt.timedelta:
    """``--within``: a whole number and a unit, m, h, d or w, as exact elapsed time (a day is 24
    hours here: the flag bounds a search, it is not a calendar window)."""
    amount, unit = text[:-1], text[-1:]
    if unit not in _WITHIN_UNITS or not (amount.isascii() and amount.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration such as 15m, 1h, 1d or 1w")
    digits = amount.lstrip("0") or "0"
    if len(digits) > 7 or int(digits) * _WITHIN_UNITS[unit] > dt.timedelta(minutes=_WITHIN_MAX):
        raise argparse.ArgumentTypeError(f"'{text}' is too long: at most 400d (the search horizon)")
    return int(digits) * _WITHIN_UNITS[unit]


def _weeks(text: str) -> int:
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit()) or not digits:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    if len(digits) > len(str(MAX_WEEKS)) or int(digits) > MAX_WEEKS:  # (no int() of a 5000-digit string)
        raise argparse.ArgumentTypeError(f"'{text}' is too many: at most {MAX_WEEKS} weeks (ten years)")
    return int(digits)


def _check_table(table: str) -> None:
    why = table_problem(table)
    if why is not None:
        raise UsageError(f"--table {table!r} is not a table name: {why}")


def _columns(args: argparse.Namespace, plugin: Plugin) -> dict[str, str]:
    """``--column`` as a mapping; an attribute the rules do not know, or one mapped twice, is a usage error."""
    mapping: dict[str, str] = {}
    for attribute, column in args.column:
        if attribute not in plugin.rules.schema:
            hint = did_you_mean(attribute, plugin.rules.schema)
            raise UsageError(f"--column {attribute}={column}: the rules have no attribute '{attribute}'{hint}")
        if attribute in mapping:
            raise UsageError(f"--column {attribute}=...: given twice ({mapping[attribute]} and {column})")
        mapping[attribute] = column
    return mapping


def _load_plugin(args: argparse.Namespace) -> Plugin:
    if not Path(args.rules).exists():
        raise UsageError(f"{args.rules}: no such file or folder")
    try:
        return Plugin.from_path(args.rules, default_timezone=args.default_timezone,
                                naive_timezone=args.naive_timezone)
    except ValueError:  # an unknown zone in --default-timezone / --naive-timezone
        for flag, zone in (("--default-timezone", args.default_timezone), ("--naive-timezone", args.naive_timezone)):
            if zone is not None and get_zone(zone) is None:
                raise UsageError(f"{flag} {zone}: {zone_problem(zone)}") from None
        raise


def _open_users(args: argparse.Namespace, plugin: Plugin) -> Source:
    """The users source; ``--table`` and ``--column`` where the source does not use them are usage errors."""
    columns = _columns(args, plugin)
    database = is_database(args.users)
    if columns and not database:
        raise UsageError("--column applies to a database source (duckdb:PATH, postgresql://...); the columns of a "
                         "users file are named as the attributes")
    if args.table is not None and not database and Path(args.users).suffix.lower() not in SQLITE:
        raise UsageError("--table applies to a SQLite file or a database source, not to JSON lines or CSV")
    try:
        if database:
            table = "users" if args.table is None else args.table
            _check_table(table)
            return open_database(args.users, plugin.rules, table, columns)
        return open_source(args.users, plugin.rules.schema, args.table)
    except SourceError as exc:
        raise UsageError(str(exc)) from None


def _input_files(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(what, path)`` of every file ``lapse run`` reads: the rule files and a users file."""
    files = [("a rule file", str(f)) for f in rule_files(args.rules)] if Path(args.rules).is_dir() else [
        ("the rule file", args.rules)]
    users = args.users[len("duckdb:"):] if args.users.startswith("duckdb:") else args.users
    if users != "-" and not is_database(users):
        files.append(("the users file", users))
    return files


def _same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one regular file (or one that does not exist yet), through
    relative paths, symbolic and hard links. Devices such as /dev/null or /dev/stdout may be shared."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()
    return stat.S_ISREG(sa.st_mode) and os.path.samestat(sa, sb)


def _check_outputs(args: argparse.Namespace) -> None:
    """Before anything is opened for writing: --out and --errors must not be an input or each other."""
    outputs = [(flag, path) for flag, path in (("--out", args.out), ("--errors", args.errors)) if path]
    if len(outputs) == 2 and _same_file(args.out, args.errors):
        raise UsageError(f"--out and --errors are the same file ({args.errors}): give each its own")
    for flag, path in outputs:
        for what, source in _input_files(args):
            if _same_file(path, source):
                raise UsageError(f"{flag} {path} is {what} ({source}): writing it would destroy the input")


def _cmd_run(args: argparse.Namespace) -> int:
    plugin = _load_plugin(args)
    if args.summary and args.users == "-":
        raise UsageError("--summary reads the users a second time, so it needs a file, not - (standard input)")
    now = args.now or dt.datetime.now(dt.UTC)
    if args.since is not None and args.since > now:
        raise UsageError(f"--since {_iso(args.since)} is later than --now {_iso(now)}: it names the previous run's --now")
    _check_outputs(args)
    source = _open_users(args, plugin)
    with contextlib.ExitStack() as stack:
        stack.enter_context(source)  # closed even when --out or --errors cannot be opened
        out = stack.enter_context(_open_out(args.out)) if args.out else sys.stdout
        errors = stack.enter_context(_open_out(args.errors)) if args.errors else sys.stderr
        summary = run_batch(plugin, source, now, since=args.since, due_only=args.due_only, within=args.within,
                            out=out, fmt=args.format, errors=errors)
    print(summary.render(), file=sys.stderr)
    if args.summary:
        plan = project(plugin.rules, _open_users(args, plugin), now, 4)
        print("\n" + plan.render(), file=sys.stderr)
    return 3 if args.strict and summary.rejected else 0


def _open_out(path: str) -> IO[str]:
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror})") from None


def _cmd_plan(args: argparse.Namespace) -> int:
    plugin = _load_plugin(args)
    now = args.now or dt.datetime.now(dt.UTC)
    _print(project(plugin.rules, _open_users(args, plugin), now, args.weeks).render())
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    plugin = _load_plugin(args)
    try:
        user = json.loads(args.user)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--user is not valid JSON: {exc.msg}") from None
    except Exception as exc:  # RecursionError, a 5000-digit number
        raise UsageError(f"--user is not valid JSON: {problem(exc)}") from None
    if not isinstance(user, dict):
        raise UsageError("--user must be a JSON object")
    try:
        history = history_of(user)
        explanation = plugin.rules.explain(user, args.now or dt.datetime.now(dt.UTC), history=history)
    except UserDataError as exc:
        print(f"lapse: error: the user record cannot be evaluated: {exc.render('cli')}", file=sys.stderr)
        return 1
    except Exception as exc:  # as Plugin.evaluate_many: never a traceback for one record
        print(f"lapse: error: the user record cannot be evaluated: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    _print(str(explanation))
    return 0


def _cmd_segments(args: argparse.Namespace) -> int:
    for flag, zone in (("--default-timezone", args.default_timezone), ("--naive-timezone", args.naive_timezone)):
        if zone is not None and get_zone(zone) is None:
            raise UsageError(f"{flag} {zone}: {zone_problem(zone)}")
    if args.users is None:
        for flag in ("--now", "--table"):
            if getattr(args, flag[2:]) is not None:
                raise UsageError(f"{flag} applies with --users (the sizes are counted over its users)")
    elif is_database(args.users):
        raise UsageError("lapse segments counts every user, so --users is a file or - (standard input): a database "
                         "source returns only the users a campaign may select")
    elif args.table is not None and Path(args.users).suffix.lower() not in SQLITE:
        raise UsageError("--table applies to a SQLite file, not to JSON lines or CSV")
    if not Path(args.rules).exists():
        raise UsageError(f"{args.rules}: no such file or folder")
    files, syntax = parse_sources(read_sources(args.rules))
    if syntax:
        raise LapseSyntaxError(syntax)
    result = check(files)
    if result.errors:
        raise LapseCheckError(result.errors)
    definitions = Resolver(files).definitions  # the files checked: resolving again reports nothing
    users = used_by(definitions, result.rules)
    sizes: dict[str, collections.Counter[str]] | None = None
    read = rejected = 0
    now = args.now or dt.datetime.now(dt.UTC)
    if args.users is not None:
        try:
            source = open_source(args.users, result.schema, args.table)
        except SourceError as exc:
            raise UsageError(str(exc)) from None
        zones = {f.source: next((i.name.value for i in f.items if isinstance(i, n.DefaultTimezone)), None) for f in files}
        counter = RuleSet(CheckResult(as_campaigns(definitions, zones), result.schema, ()),
                          default_timezone=args.default_timezone, naive_timezone=args.naive_timezone)
        sizes = {d.name: collections.Counter() for d in definitions}
        with source:
            for line, record in source:
                read += 1
                user_id: str | None = None
                try:
                    if isinstance(record, str):
                        raise UserDataError(record)  # a line that is not a record
                    user_id = user_id_of(record)  # as `lapse run`: a record without one is rejected
                    answers = counter.in_segment(record, now)
                except Exception as exc:  # a bad record costs that record only, never a traceback
                    rejected += 1
                    reason = exc.render("cli") if isinstance(exc, UserDataError) else problem(exc)
                    print(json.dumps({"line": line, "user_id": user_id, "error": reason}), file=sys.stderr)
                    continue
                for name, counts in sizes.items():
                    counts[_VERDICT[answers.get(name, False)]] += 1
    if args.format == "json":
        listed = [{
            "name": d.name, "source": d.source, "line": d.line, "column": d.column,
            "definition": format_condition(d.condition), "uses": list(d.uses),
            "used_by": [{"campaign": c, "through": list(through)} for c, through in users[d.name]],
            "users": None if sizes is None else {**{k: sizes[d.name][k] for k in _VERDICT.values()}, "rejected": rejected},
        } for d in definitions]
        at = None if sizes is None else _iso(now)
        _print(json.dumps({"at": at, "read": None if sizes is None else read, "segments": listed}, indent=2,
                          ensure_ascii=False))
        return 0
    if not definitions:
        print("no named segments: define one at the top level of a file with 'segment \"NAME\" = CONDITION'",
              file=sys.stderr)
    blocks = []
    for d in definitions:
        lines = [f"segment {quote(d.name)} = {format_condition(d.condition)}", f"  defined at {d.source}:{d.line}:{d.column}"]
        named = [quote(c) + (f" (through {', '.join(quote(t) for t in through)})" if through else "")
                 for c, through in users[d.name]]
        lines.append(f"  used by {', '.join(named)}" if named else "  used by no campaign")
        if sizes is not None:
            c = sizes[d.name]
            lines.append(f"  at {_iso(now)}: {c['in']} in, {c['out']} out, {c['unknown']} unknown, "
                         f"{rejected} rejected ({counted(read, 'record')} read)")
        blocks.append("\n".join(lines))
    if blocks:
        _print("\n\n".join(blocks))
    return 0


_VERDICT = {True: "in", False: "out", None: "unknown"}


def _print(text: str) -> None:
    """``text`` on standard output; characters it cannot encode (a lone surrogate from a JSON
    escape or a command-line byte that is not UTF-8) are written as backslash escapes."""
    try:
        print(text)
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding or "utf-8"
        print(text.encode(encoding, "backslashreplace").decode(encoding))


def _sources(paths: Sequence[str]) -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    """``(source, text)`` of every rule file under ``paths``, each file once, and a diagnostic for
    each file that cannot be read as UTF-8 (the other files are still read)."""
    files: list[Path] = []
    for path in paths:
        if not Path(path).exists():
            raise UsageError(f"{path}: no such file or folder")
        files.extend(rule_files(path))  # an empty folder: LapseError, exit 1, as for `lapse run`
    out: list[tuple[str, str]] = []
    unreadable: list[Diagnostic] = []
    seen: set[Path] = set()
    for file in files:
        if file.resolve() in seen:
            continue
        seen.add(file.resolve())
        try:
            out.append((str(file), read_text(file)))
        except LapseSyntaxError as exc:  # not UTF-8
            unreadable.extend(exc.diagnostics)
    return out, unreadable


def _cmd_check(args: argparse.Namespace) -> int:
    sources, early = _sources(args.paths)
    files, diagnostics = parse_sources(sources)
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
            f"{counted(len(sources) + len(early), 'file')}, {counted(rules, 'rule')}: {counted(errors, 'error')}, "
            f"{counted(warnings, 'warning')}",
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
    sources, unreadable = _sources(args.paths)
    for d in unreadable:
        print(d, file=sys.stderr)
    status = 1 if unreadable else 0
    for source, text in sources:
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
    spec: str | None = None  # the users source, whose credentials no message may show

    def say(text: str) -> None:
        print(redact(text, spec), file=sys.stderr)

    try:
        args = parser.parse_args(argv)
        spec = getattr(args, "users", None)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args))
    except (UsageError, SourceError) as exc:  # a SourceError here: the source failed while being read
        say(f"lapse: error: {exc}")
        return 2
    except LapseError as exc:
        say(render(exc, "cli"))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        say(f"lapse: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return 2


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
