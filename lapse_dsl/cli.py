"""The ``lapse`` command. Exit codes: 0 success, 1 rule errors, 2 usage errors, 3 rejected
records under ``--strict``, 4 a ``--workers`` run that could not finish (a worker died, or the
rule files changed under it). No Python traceback ever reaches the user."""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import importlib
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
from .progress import Progress, with_progress
from .projection import charts_missing, draw_chart, project, rejection_writer, to_csv, to_json
from .ruleset import FIRST_INSTANT, LAST_INSTANT, RuleSet, parse_sources, read_sources, read_text, rule_files
from .ruletests import check_tests, find_test_files, read_tests, run_tests
from .schema import did_you_mean
from .segments import Resolver, as_campaigns, used_by
from .sources import PARQUET, SQLITE, Source, SourceError, counted, open_source, parquet_files, problem, redact
from .spark import is_spark
from .sql import DIALECTS, candidates_sql, next_occurrence_sql, segment_sql
from .timecalc import SEARCH_HORIZON, exact_duration
from .userdata import user_id_of
from .warehouse import is_database, open_database, table_problem
from .workers import MAX_WORKERS, MIN_BYTES, WorkerError, choose_workers, run_parallel
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

    ls = sub.add_parser("lsp", help="run the language server for editors (LSP over standard input and output)",
                        description="Run the lapse language server over standard input and output, for editors: "
                                    "diagnostics, hover, completion, definitions, references, formatting and "
                                    "quick fixes (docs/editors.md). Needs the lsp extra: pip install 'lapse-dsl[lsp]'.")
    ls.add_argument("--now", type=_instant,
                    help="the instant hovers compute dates from, ISO-8601 with offset (default: the current time)")
    ls.set_defaults(func=_cmd_lsp)

    r = sub.add_parser("run", help="evaluate rules over a user file and write the send plan")
    r.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    _users_options(r)
    r.add_argument("--since", type=_instant, help="only occurrences after this instant (the previous tick)")
    r.add_argument("--due-only", action="store_true", help="write only decisions that are due now")
    r.add_argument("--within", type=_within, metavar="DURATION",
                   help="only decisions that send before now + DURATION (15m, 1h, 1d, 1w: exact lengths)")
    r.add_argument("--out", metavar="PATH", help="write decisions here (default: standard output)")
    r.add_argument("--format", choices=("jsonl", "csv", "parquet"),
                   help="decision format (default: parquet when --out ends in .parquet, else jsonl)")
    r.add_argument("--errors", metavar="PATH", help="write rejected records here (default: standard error)")
    r.add_argument("--strict", action="store_true", help="exit 3 when any record was rejected")
    r.add_argument("--summary", action="store_true", help="also print the weekly/hourly send plan table")
    r.add_argument("--workers", type=_workers, metavar="N",
                   help="decide in N processes, same output (default: every core for a users file of "
                        f"{MIN_BYTES // 1_000_000} MB or more, else 1)")
    r.add_argument("--spark-master", metavar="MASTER",
                   help="with --users spark:PATH_OR_TABLE, the Spark master (local[2], yarn, spark://...; default: "
                        "the session spark-submit set up)")
    r.set_defaults(func=_cmd_run)

    pl = sub.add_parser(
        "plan", help="project sends per campaign, week and hour for the next weeks",
        description="Project every user over the next --weeks weeks, assuming no new activity (drafts\n"
                    "included, each planned send added to the user's history), and show the sends per\n"
                    "campaign and week, and per hour of the day on each user's own clock and in UTC.",
        epilog="example:\n  lapse plan rules/ --users users.jsonl --now 2026-11-30T00:00:00Z --chart plan.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pl.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    _users_options(pl)
    pl.add_argument("--weeks", type=_weeks, default=4, help=f"how many weeks ahead (default: 4, at most {MAX_WEEKS})")
    pl.add_argument("--format", choices=("text", "csv", "json"), default="text",
                    help="text tables (default), csv (one row per campaign and week, day or hour) or json")
    pl.add_argument("--chart", metavar="FILE.png", help="also draw sends per day and per local hour as a PNG")
    pl.add_argument("--errors", metavar="PATH", help="write rejected records here (default: standard error)")
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

    ds = sub.add_parser(
        "describe", help="each campaign in plain words: who, what, when, controls, notes",
        description="Each campaign in plain words, for a review before launch: who (each condition,\n"
                    "with a window's dates at the next send), what (channel, message, variants,\n"
                    "holdout), when (the next sends in a few zones, the fallback zone), the delivery\n"
                    "controls, and lapse check's warnings about it.",
        epilog="example:\n  lapse describe rules/braze_lapsing.lapse --now 2026-11-30T00:00:00Z --zones Europe/Paris,Asia/Tokyo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ds.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    ds.add_argument("--now", type=_instant, help="describe the sends after this instant (default: the current time)")
    ds.add_argument("--zones", type=_zone_list, metavar="Z1,Z2,...",
                    help="zones to list a local campaign's next sends in, after its fallback zone (default: "
                         "America/New_York,Europe/London,Asia/Tokyo)")
    ds.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    ds.add_argument("--default-timezone", default="UTC", metavar="ZONE",
                    help="zone for users without a valid timezone when the rule file sets none (default: UTC)")
    ds.set_defaults(func=_cmd_describe)

    df = sub.add_parser(
        "diff", help="who enters, leaves or moves between two versions of the rules",
        description="Evaluate every user with the OLD and the NEW rules at --now and count, per\n"
                    "campaign, the users who enter (a decision in NEW, none in OLD), leave, change\n"
                    "send time, variant or holdout group. OLD and NEW are a .lapse file, a folder,\n"
                    "or a git revision of one written REV:PATH (HEAD~1:rules/).",
        epilog="example:\n  lapse diff HEAD~1:rules/ rules/ --users examples/users.jsonl --now 2026-11-30T00:00:00Z",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    df.add_argument("old", metavar="OLD", help="the rules before: a file, a folder, or REV:PATH")
    df.add_argument("new", metavar="NEW", help="the rules after: a file, a folder, or REV:PATH")
    df.add_argument("--users", required=True, metavar="SOURCE",
                    help="users: .jsonl/.ndjson, .csv, .db/.sqlite/.sqlite3, or - for JSON lines on stdin")
    df.add_argument("--table", help="SQLite table to read (default: users)")
    df.add_argument("--now", type=_instant, help="evaluation instant, ISO-8601 with offset (default: the current time)")
    df.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    df.add_argument("--examples", type=_examples, default=3, metavar="N",
                    help="example user ids per campaign and change (default: 3; 0 for none)")
    _zone_options(df)
    df.set_defaults(func=_cmd_diff)

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

    te = sub.add_parser(
        "test", help="run the rule tests (.lapsetest files) written beside the rules",
        description="Run the expectations written beside the rules (.lapsetest files, see\n"
                    "docs/language.md, Rule tests): each test's user at its instant, on the\n"
                    "compiled rules and on the reference interpreter. Prints each failure with\n"
                    "the expectation's and the campaign's positions, then a summary line.\n"
                    "Exit 0 when every test passes, 1 on a failure, 2 on a malformed test file.",
        epilog="examples:\n  lapse test rules/\n  lapse test rules/braze_lapsing.lapse rules/braze_lapsing.lapsetest",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    te.add_argument("rules", metavar="RULES", help="a .lapse file or a folder of them")
    te.add_argument("tests", nargs="*", metavar="TESTS",
                    help="test files or folders of them (default: the .lapsetest files beside RULES)")
    te.add_argument("-v", "--verbose", action="store_true", help="also list each test that passed")
    _zone_options(te)
    te.set_defaults(func=_cmd_test)

    rp = sub.add_parser(
        "report", help="who came back after a send: lift over holdout and variants",
        description="Per campaign, variant and holdout group of a plan (lapse run --out): the users\n"
                    "sent (or held out), those with a session in (send_at, send_at + window], the\n"
                    "rate, and each variant's lift over the holdout and over the other variants,\n"
                    "with a confidence interval and p-value (statsmodels). Decisions whose window\n"
                    "ends after --now (default: the latest session read) are left out and counted.",
        epilog="example:\n  lapse run rules/send_time_experiment.lapse --users examples/users.jsonl \\\n"
               "      --now 2026-11-30T00:00:00Z --out plan.jsonl\n"
               "  lapse report --sends plan.jsonl --sessions examples/sessions.jsonl --chart lift.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rp.add_argument("--sends", required=True, metavar="PLAN",
                    help="the decisions: lapse run's output, .jsonl/.ndjson or .csv, or - for JSON lines on stdin")
    rp.add_argument("--sessions", required=True, metavar="SOURCE",
                    help="session events (user_id, at): .jsonl/.ndjson, .csv, .parquet, .db/.sqlite/.sqlite3, "
                         "duckdb:PATH, or -")
    rp.add_argument("--sessions-table", metavar="TABLE", help="SQLite or DuckDB table of the sessions (default: sessions)")
    rp.add_argument("--naive-timezone", metavar="ZONE", help="zone assumed for session times without an offset")
    rp.add_argument("--window", type=_report_window, default="7d", metavar="DURATION",
                    help="how long after a send a session counts as coming back: 12h, 7d, 2w (default: 7d)")
    rp.add_argument("--now", type=_instant,
                    help="the sessions are complete up to here, ISO-8601 with offset (default: the latest session)")
    rp.add_argument("--alpha", type=_alpha, default=0.05,
                    help="significance level; intervals are 1 - alpha (default: 0.05, 95%% intervals)")
    rp.add_argument("--min-group", type=_min_group, default=50, metavar="N",
                    help="a group with fewer users is too small to conclude from (default: 50)")
    rp.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    rp.add_argument("--chart", metavar="FILE.png", help="also draw each group's rate and interval per campaign")
    rp.set_defaults(func=_cmd_report)

    ins = sub.add_parser(
        "insights", help="sessions by local weekday and hour: peaks and when to send",
        description="Count sessions by local weekday and hour, each on its own zone's wall clock (the\n"
                    "event's timezone, else the user's, else --default-timezone), show them as a text\n"
                    "heatmap (and a PNG with --chart), mark each weekday's peak hour and recommend the\n"
                    "start of the hour before it. --per-user writes each user's own preferred_time.",
        epilog="example:\n  lapse insights --users examples/users.jsonl --sessions examples/sessions.jsonl \\\n"
               "      --now 2026-11-30T00:00:00Z --weeks 12 --chart sessions.png --per-user preferred.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ins.add_argument("--users", required=True, metavar="SOURCE",
                     help="users (user_id, timezone): .jsonl/.ndjson, .csv, .parquet, .db/.sqlite/.sqlite3, "
                          "duckdb:PATH, or -")
    ins.add_argument("--sessions", required=True, metavar="SOURCE",
                     help="sessions (user_id, at, timezone): the same kinds of source as --users")
    ins.add_argument("--table", help="SQLite or DuckDB table of the users (default: users)")
    ins.add_argument("--sessions-table", metavar="TABLE", help="SQLite or DuckDB table of the sessions (default: sessions)")
    ins.add_argument("--now", type=_instant, help="leave out sessions after this instant (default: none left out)")
    ins.add_argument("--weeks", type=_weeks, metavar="N", help="only the sessions of the N weeks up to --now (default: all)")
    ins.add_argument("--zone", action="append", metavar="ZONE",
                     help="only the sessions placed in this zone (repeatable; default: every zone)")
    ins.add_argument("--chart", metavar="FILE.png", help="also draw the heatmap as a PNG (needs matplotlib)")
    ins.add_argument("--per-user", metavar="FILE", help="write each user's preferred_time here, as JSON lines")
    ins.add_argument("--min-sessions", type=_min_sessions, default=5, metavar="N",
                     help="--per-user writes users with at least N sessions counted (default: 5)")
    ins.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    ins.add_argument("--default-timezone", default="UTC", metavar="ZONE",
                     help="zone for sessions whose event and user name no valid zone (default: UTC)")
    ins.add_argument("--naive-timezone", metavar="ZONE", help="zone assumed for session times without an offset")
    ins.set_defaults(func=_cmd_insights)
    return p


def _users_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--users", required=True, metavar="SOURCE",
                   help="users: .jsonl/.ndjson, .csv, .db/.sqlite/.sqlite3, .parquet (a file, a folder or a quoted "
                        "glob of them), - for JSON lines on stdin, or a database (duckdb:PATH or postgresql://...) "
                        "that returns the candidates; lapse run also takes spark:PATH_OR_TABLE")
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


def _within(text: str) -> dt.timedelta:
    """``--within``: exact elapsed time, at most the search horizon (:func:`timecalc.exact_duration`)."""
    try:
        return exact_duration(text, SEARCH_HORIZON, "the search horizon")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _workers(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 4 or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of processes from 1 to {MAX_WORKERS}")
    return int(text)


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
    if is_spark(args.users):
        raise UsageError(f"--users {args.users}: Spark runs whole campaigns with lapse run only; here use the Parquet "
                         "files or a database")
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
    users = args.users.split(":", 1)[1] if args.users.startswith(("duckdb:", "spark:")) else args.users
    if users != "-" and not is_database(users):
        try:
            parts = parquet_files(users)
        except SourceError:
            parts = None  # reported when the users are opened
        files += [("the users file", users)] if parts is None else [("a users file", str(f)) for f in parts]
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
    args.format = _out_format(args)
    if is_spark(args.users):
        return _run_spark(args, plugin, now)
    if args.spark_master is not None:
        raise UsageError("--spark-master applies to --users spark:PATH_OR_TABLE")
    if args.format == "parquet" and (args.workers or 1) > 1:
        raise UsageError(f"--workers {args.workers} writes jsonl or csv; Parquet output is written by one process "
                         "(drop --workers)")
    source = _open_users(args, plugin)
    workers = 1 if args.format == "parquet" else choose_workers(args.workers, source.size)
    with contextlib.ExitStack() as stack:
        stack.enter_context(source)  # closed even when --out or --errors cannot be opened
        out = stack.enter_context(_open_out(args.out)) if args.out else sys.stdout
        errors = stack.enter_context(_open_out(args.errors)) if args.errors else sys.stderr
        if workers == 1:
            summary = run_batch(plugin, source, now, since=args.since, due_only=args.due_only, within=args.within,
                                out=out, fmt=args.format, errors=errors)
        else:
            try:
                summary = run_parallel(plugin, source, now, since=args.since, due_only=args.due_only,
                                       within=args.within, out=out, fmt=args.format, errors=errors, workers=workers)
            except WorkerError as exc:
                print(f"lapse: error: {exc}", file=sys.stderr)
                return 4
    print(summary.render(), file=sys.stderr)
    if args.summary:
        plan = project(plugin.rules, _open_users(args, plugin), now, 4)
        print("\n" + plan.render(), file=sys.stderr)
    return 3 if args.strict and summary.rejected else 0


def _run_spark(args: argparse.Namespace, plugin: Plugin, now: dt.datetime) -> int:
    """``lapse run --users spark:...``: the run on Spark (lapse_dsl.spark), written as one process writes it."""
    spark = importlib.import_module("lapse_dsl.spark")
    for flag, given in (("--workers", args.workers is not None), ("--summary", args.summary),
                        ("--table", args.table is not None), ("--column", bool(args.column))):
        if given:
            raise UsageError(f"{flag} does not apply to --users spark:...: Spark spreads the run over its executors"
                             if flag == "--workers" else f"{flag} does not apply to --users spark:PATH_OR_TABLE")
    try:
        session = spark.session(args.spark_master)
        users = spark.users_frame(session, args.users)
        decided = spark.decide(users, args.rules, now, within=args.within, since=args.since, due_only=args.due_only,
                               default_timezone=args.default_timezone, naive_timezone=args.naive_timezone)
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(_open_out(args.out)) if args.out else sys.stdout
        errors = stack.enter_context(_open_out(args.errors)) if args.errors else sys.stderr
        try:
            summary = spark.run(decided, out=out, fmt=args.format, errors=errors)
        except Exception as exc:  # a failed Spark job (an executor lost, a cluster gone): the output is incomplete
            text = str(exc).strip()
            print(f"lapse: error: the Spark job failed: {text.splitlines()[0] if text else type(exc).__name__}",
                  file=sys.stderr)
            return 4
    if decided.why_not is not None:
        summary.warnings.append(f"no push-down filter ran before Python: {decided.why_not}")
    print(summary.render(), file=sys.stderr)
    return 3 if args.strict and summary.rejected else 0


def _out_format(args: argparse.Namespace) -> str:
    """``lapse run``'s decision format: --format, else parquet for an --out ending in .parquet."""
    parquet = args.out is not None and Path(args.out).suffix.lower() in PARQUET
    fmt: str = args.format or ("parquet" if parquet else "jsonl")
    if parquet and fmt != "parquet":
        raise UsageError(f"--format {fmt} with --out {args.out}: a .parquet file holds Parquet; drop --format or "
                         "rename the file")
    if fmt == "parquet":
        if args.out is None:
            raise UsageError("--format parquet needs --out PATH: Parquet is binary and ends with a footer, so it is "
                             "written to a file")
        try:  # before anything is written
            importlib.import_module("pyarrow.parquet")
        except ImportError:
            raise UsageError(f"--out {args.out}: writing Parquet needs pyarrow: pip install 'lapse-dsl[parquet]'") from None
    return fmt


def _open_out(path: str) -> IO[str]:
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror})") from None


def _cmd_plan(args: argparse.Namespace) -> int:
    plugin = _load_plugin(args)
    now = args.now or dt.datetime.now(dt.UTC)
    if args.chart is not None:
        missing = charts_missing()
        if missing is not None:
            raise UsageError(missing)
        if Path(args.chart).suffix.lower() != ".png":
            raise UsageError(f"--chart {args.chart}: the chart is a PNG file; name it FILE.png")
        folder = Path(args.chart).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise UsageError(f"--chart {args.chart}: cannot write in {folder}")
    outputs = [(flag, path) for flag, path in (("--chart", args.chart), ("--errors", args.errors)) if path]
    if len(outputs) == 2 and _same_file(args.chart, args.errors):
        raise UsageError(f"--chart and --errors are the same file ({args.errors}): give each its own")
    for flag, path in outputs:
        for what, source_path in _input_files(args):
            if _same_file(path, source_path):
                raise UsageError(f"{flag} {path} is {what} ({source_path}): writing it would destroy the input")
    source = _open_users(args, plugin)
    with contextlib.ExitStack() as stack:
        stack.enter_context(source)
        errors = stack.enter_context(_open_out(args.errors)) if args.errors else sys.stderr
        bar = Progress(source.size, source.position, "user", large=0, every=1, suffix=" projected")
        plan = project(plugin.rules, source, now, args.weeks, reject=rejection_writer(errors, bar), progress=bar)
    if args.chart is not None:
        try:
            draw_chart(plan, args.chart)
        except OSError as exc:
            raise UsageError(f"{args.chart}: cannot write ({exc.strerror or exc})") from None
        print(f"chart written to {args.chart}", file=sys.stderr)
    if args.format == "json":
        _print(to_json(plan))
    elif args.format == "csv":
        _print(to_csv(plan).removesuffix("\n"))
        for line in plan.render().splitlines():  # what the table cannot hold: warnings and the accounting
            if line.startswith(("warning: ", "accounted for: ")):
                print(line, file=sys.stderr)
    else:
        _print(plan.render())
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


def _zone_list(text: str) -> list[str]:
    zones = [z.strip() for z in text.split(",") if z.strip()]
    if not zones:
        raise argparse.ArgumentTypeError(f"'{text}' names no zone; write Z1,Z2,... such as Europe/Paris,Asia/Tokyo")
    for zone in zones:
        if get_zone(zone) is None:
            raise argparse.ArgumentTypeError(f"{zone}: {zone_problem(zone)}")
    return zones


def _examples(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number from 0 to 999999")
    return int(text)


def _check_zone_flags(args: argparse.Namespace) -> None:
    for flag, zone in (("--default-timezone", args.default_timezone),
                       ("--naive-timezone", getattr(args, "naive_timezone", None))):
        if zone is not None and get_zone(zone) is None:
            raise UsageError(f"{flag} {zone}: {zone_problem(zone)}")


def _cmd_describe(args: argparse.Namespace) -> int:
    from .describe import checked, describe, render

    _check_zone_flags(args)
    if not Path(args.rules).exists():
        raise UsageError(f"{args.rules}: no such file or folder")
    result, definitions = checked(read_sources(args.rules))
    now = args.now or dt.datetime.now(dt.UTC)
    campaigns = describe(result, definitions, now, args.zones, args.default_timezone)
    if args.format == "json":
        _print(json.dumps({"at": _iso(now), "campaigns": campaigns}, indent=2, ensure_ascii=False))
    elif campaigns:
        _print(render(campaigns, now))
    else:
        print("no campaigns: the rules hold no 'segment ...; send ...' line and no campaign block", file=sys.stderr)
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from .diff import RulesSpecError, diff_users, load_side

    _check_zone_flags(args)
    if is_database(args.users):
        raise UsageError("lapse diff compares every user, so --users is a file or - (standard input): a database "
                         "source returns only the users one rule set may select")
    if args.table is not None and Path(args.users).suffix.lower() not in SQLITE:
        raise UsageError("--table applies to a SQLite file, not to JSON lines or CSV")
    zones = {"default_timezone": args.default_timezone, "naive_timezone": args.naive_timezone}
    try:
        old = load_side("OLD", args.old, **zones)
        new = load_side("NEW", args.new, **zones)
    except RulesSpecError as exc:
        raise UsageError(str(exc)) from None
    try:  # CSV cells and SQLite values are typed by NEW's declarations, then OLD's
        source = open_source(args.users, {**old.schema, **new.schema}, args.table)
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    now = args.now or dt.datetime.now(dt.UTC)
    result = diff_users(old, new, source, now, examples=args.examples, errors=sys.stderr,
                        old_spec=args.old, new_spec=args.new)
    _print(json.dumps(result.to_json(), indent=2, ensure_ascii=False) if args.format == "json" else result.render())
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


def _cmd_test(args: argparse.Namespace) -> int:
    plugin = _load_plugin(args)
    try:
        paths = find_test_files(args.rules, args.tests)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    files, diagnostics = read_tests(paths)
    if not diagnostics:  # names are checked once the files parse
        diagnostics = check_tests(files, plugin.rules)
    if diagnostics:
        for d in diagnostics:
            print(d, file=sys.stderr)
        print(f"{counted(len(diagnostics), 'error')} in the test files: no test was run", file=sys.stderr)
        return 2
    report = run_tests(plugin.rules, files)
    _print(report.render(verbose=args.verbose))
    return 1 if report.failed else 0


def _report_window(text: str) -> dt.timedelta:
    from .report import parse_window

    try:
        return parse_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 0.5:  # (NaN fails too)
        raise argparse.ArgumentTypeError(f"'{text}' is not a significance level above 0 and at most 0.5, such as 0.05")
    return value


def _min_group(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)


def _cmd_report(args: argparse.Namespace) -> int:
    from . import report as rp
    from .sessions import open_sessions

    if args.sends == "-" and args.sessions == "-":
        raise UsageError("--sends and --sessions cannot both be - (standard input): give one of them a file")
    duckdb = args.sessions.startswith("duckdb:")
    if is_database(args.sessions) and not duckdb:
        raise UsageError(f"--sessions: lapse report reads files and duckdb:PATH, not {args.sessions.split(':')[0]} databases")
    if args.sessions_table is not None and not duckdb and Path(args.sessions).suffix.lower() not in SQLITE:
        raise UsageError(f"--sessions-table applies to a SQLite file or duckdb:PATH, not to --sessions {args.sessions}")
    if args.naive_timezone is not None and get_zone(args.naive_timezone) is None:
        raise UsageError(f"--naive-timezone {args.naive_timezone}: {zone_problem(args.naive_timezone)}")
    inputs = (("--sends", args.sends), ("--sessions", args.sessions.removeprefix("duckdb:")))
    for flag, path in inputs:
        if path != "-" and not Path(path).is_file():
            raise UsageError(f"{flag} {path}: no such file")
    if args.sends != "-" and Path(args.sends).suffix.lower() not in (".jsonl", ".ndjson", ".csv"):
        raise UsageError(f"--sends {args.sends}: a plan is JSON lines (.jsonl, .ndjson) or .csv, as lapse run writes it")
    if args.chart is not None:
        if Path(args.chart).suffix.lower() != ".png":
            raise UsageError(f"--chart {args.chart}: the chart is a PNG image; name a .png file")
        for flag, path in inputs:
            if path != "-" and _same_file(args.chart, path):
                raise UsageError(f"--chart {args.chart} is the {flag} file: writing it would destroy the input")
    try:  # the optional dependencies, before reading anything
        rp.load_stats()
        if args.chart is not None:
            rp.load_pyplot()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    plan_name = "<stdin>" if args.sends == "-" else args.sends
    sessions_name = "<stdin>" if args.sessions == "-" else args.sessions

    def rejected(name: str) -> rp.OnError:
        def say(line: int, why: str) -> None:
            print(f"{name}:{line}: {why}", file=sys.stderr)
        return say

    try:
        with open_source(args.sends, rp.PLAN_SCHEMA) as plan:
            bar = Progress(plan.size, plan.position, "decision")
            watch = rp.read_plan(with_progress(plan, bar), args.window, rejected(plan_name))
        naive = None if args.naive_timezone is None else get_zone(args.naive_timezone)
        with open_sessions(args.sessions, args.sessions_table, naive) as sessions:
            bar = Progress(sessions.size, sessions.position, "session")
            counts = rp.mark_returns(watch, with_progress(sessions, bar), rejected(sessions_name))
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    report = rp.make_report(watch, counts, now=args.now, alpha=args.alpha, min_group=args.min_group,
                            plan=plan_name, sessions=sessions_name)
    if args.chart is not None:
        try:
            rp.save_chart(report, args.chart)
        except OSError as exc:
            raise UsageError(f"{args.chart}: cannot write ({exc.strerror or exc})") from None
    _print(json.dumps(rp.render_json(report), indent=2, ensure_ascii=False) if args.format == "json"
           else rp.render_text(report))
    return 0


def _min_sessions(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)


def _cmd_insights(args: argparse.Namespace) -> int:
    from . import insights
    from .sessions import open_sessions

    zones = [("--default-timezone", args.default_timezone), ("--naive-timezone", args.naive_timezone)]
    for flag, zone in [*zones, *(("--zone", z) for z in args.zone or ())]:
        if zone is not None and get_zone(zone) is None:
            raise UsageError(f"{flag} {zone}: {zone_problem(zone)}")
    if args.users == "-" and args.sessions == "-":
        raise UsageError("--users and --sessions cannot both be - (standard input): give one of them a file")
    inputs = (("--users", args.users, "--table", args.table), ("--sessions", args.sessions, "--sessions-table",
                                                                   args.sessions_table))
    for flag, spec, table_flag, table in inputs:
        if is_database(spec) and not spec.startswith("duckdb:"):
            raise UsageError(f"{flag}: lapse insights reads files and duckdb:PATH, not {spec.split(':')[0]} databases")
        if table is not None and not spec.startswith("duckdb:") and Path(spec).suffix.lower() not in SQLITE:
            raise UsageError(f"{table_flag} applies to a SQLite file or duckdb:PATH, not to {flag} {spec}")
    if args.chart is not None and Path(args.chart).suffix.lower() != ".png":
        raise UsageError(f"--chart {args.chart}: the chart is a PNG image; name a .png file")
    outputs = [(flag, path) for flag, path in (("--chart", args.chart), ("--per-user", args.per_user)) if path]
    if len(outputs) == 2 and _same_file(args.chart, args.per_user):
        raise UsageError(f"--chart and --per-user are the same file ({args.chart}): give each its own")
    for flag, path in outputs:
        for what, spec in (("the users", args.users), ("the sessions", args.sessions)):
            spec = spec.removeprefix("duckdb:")
            if spec != "-" and _same_file(path, spec):
                raise UsageError(f"{flag} {path} is {what} ({spec}): writing it would destroy the input")
    if args.chart is not None:
        try:
            insights.chart_classes()  # before reading anything
        except insights.ChartsMissing as exc:
            raise UsageError(str(exc)) from None
    end = args.now if args.now is not None or args.weeks is None else dt.datetime.now(dt.UTC)
    start = None if args.weeks is None else end - dt.timedelta(weeks=args.weeks)
    users_name, sessions_name = ("<stdin>" if s == "-" else s for s in (args.users, args.sessions))
    with contextlib.ExitStack() as stack:
        per_user = stack.enter_context(_open_out(args.per_user)) if args.per_user else None
        try:
            source = insights.open_users(args.users, args.table)
        except SourceError as exc:
            raise UsageError(str(exc)) from None
        users, read, rejected = insights.read_users(source, users_name, per_user=per_user is not None)
        try:
            sessions = stack.enter_context(open_sessions(
                args.sessions, args.sessions_table, None if args.naive_timezone is None else get_zone(args.naive_timezone)))
        except SourceError as exc:
            raise UsageError(str(exc)) from None
        result = insights.analyse(
            users, sessions, sessions_name, users_read=read, users_rejected=rejected, default_zone=args.default_timezone,
            start=start, end=end, only_zones=args.zone or (), progress_source=sessions.source,
        )
        if per_user is not None:
            written = insights.write_preferred_times(users, args.min_sessions, per_user)
            print(f"{args.per_user}: preferred_time of {counted(written, 'user')} with at least "
                  f"{counted(args.min_sessions, 'session')}", file=sys.stderr)
    if args.chart is not None:
        try:
            insights.draw_chart(result, args.chart)
        except OSError as exc:
            raise UsageError(f"{args.chart}: cannot write ({exc.strerror or exc})") from None
        print(f"chart written to {args.chart}", file=sys.stderr)
    print(insights.summary(result, users_name, sessions_name), file=sys.stderr)
    _print(json.dumps(insights.to_json(result), indent=2) if args.format == "json" else insights.render(result))
    return 0


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


def _cmd_lsp(args: argparse.Namespace) -> int:
    try:  # pygls is an optional extra: only this command imports it
        server = importlib.import_module("lapse_dsl.lsp.server")
    except ImportError as exc:
        raise UsageError(f"lapse lsp needs pygls ({exc.name} is missing): pip install 'lapse-dsl[lsp]'") from None
    server.serve(args.now)
    return 0


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
