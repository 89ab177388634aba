"""The limits of rule text, on the evaluation paths and in the SQL (issue 11, items 9, 10 and 23).

- Flat ``and``/``or`` chains of any length (5,000 operands) and conditions nested to the language's
  limit (``nodes.MAX_DEPTH``: nested ``not``, alternating parentheses, both mixed) compile, fuse,
  evaluate, explain and become SQL in every dialect, with no RecursionError, also when called
  from deep in a caller's stack; the SQL selects what the plugin selects (DuckDB).
- The generated SQL never double-negates (``NOT NOT``), whatever the rule's negations are.
- Campaign names and string values with any character (a NUL, line breaks, quotes, lone
  surrogates) never reach generated code; rule dates at the ends of the dates a rule may name, and
  calls at the ends of the supported instants, never overflow; calls outside them are refused.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
import pytest
import sqlglot
from sqlglot import exp

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.check import CheckResult
from lapse_dsl.ruleset import FIRST_INSTANT, LAST_INSTANT, RuleSet
from lapse_dsl.sql import DIALECTS, candidates_sql, next_occurrence_sql, segment_predicate, segment_sql

duckdb = pytest.importorskip("duckdb")

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
USERS: tuple[dict[str, Any], ...] = (
    {"user_id": "u1", "timezone": "America/New_York", "push_opted_in": True, "email_subscribed": False, "sessions": 3,
     "country": "C7", "platform": "ios", "last_used": "2026-11-28T12:00:00Z", "first_used": "2025-01-01T00:00:00Z"},
    {"user_id": "u2", "timezone": "Europe/Paris", "push_opted_in": False, "email_subscribed": True, "sessions": 0,
     "country": "FR", "platform": "web", "last_used": "2026-03-01T10:00:00Z"},
    {"user_id": "u3"},
    {"user_id": "u4", "timezone": "Pacific/Kiritimati", "push_opted_in": None, "sessions": 4999, "country": "C4999",
     "last_used": "2026-11-29T23:59:59Z", "first_used": "2026-11-29T00:00:00Z"},
)
COLUMNS = {"user_id": "VARCHAR", "timezone": "VARCHAR", "push_opted_in": "BOOLEAN", "email_subscribed": "BOOLEAN",
           "sessions": "DOUBLE", "country": "VARCHAR", "platform": "VARCHAR", "last_used": "TIMESTAMPTZ",
           "first_used": "TIMESTAMPTZ"}
LEAVES = ("push_opted_in", "sessions > 2", 'country in ["C7", "FR"]', "last_used between 1d and 9d",
          "first_used before 2026-01-01", "last_used more than 30d ago", 'platform != "web"', "email_subscribed",
          "first_used after 2025-06-01T00:00:00Z", "country is set")
SEND = "send push daily 10:00 local"

T = TypeVar("T")


def _leaf(i: int) -> str:
    return LEAVES[i % len(LEAVES)]


def nested_nots(depth: int) -> str:
    return "not " * depth + "push_opted_in"


def alternating_parens(depth: int) -> str:
    """``a or (b and (c or (...)))``: ``depth`` junctions, each inside the previous one."""
    text = f"{_leaf(depth)} and {_leaf(depth + 1)}"
    for level in range(depth - 1, 0, -1):
        text = f"{_leaf(level)} {'or' if level % 2 else 'and'} ({text})"
    return text


def nots_and_parens(depth: int) -> str:
    """``not (a and not (b or not (...)))``: a ``not`` and a junction on every other level."""
    text = _leaf(0)
    level = 0
    while level + 2 <= depth:
        level += 2
        text = f"not ({_leaf(level)} {'or' if level % 4 else 'and'} {text})"
    return text


SHAPES: dict[str, Callable[[int], str]] = {
    "nested-nots": nested_nots, "alternating-parens": alternating_parens, "nots-and-parens": nots_and_parens,
}


def chain(length: int, word: str) -> str:
    """A flat chain: string and number comparisons, windows and dates, ``length`` operands."""
    kinds = (lambda i: f'country = "C{i}"', lambda i: f"sessions != {i}", lambda i: f"last_used more than {i % 7 + 1}h ago",
             lambda i: "first_used before 2026-01-01" if i % 2 else "first_used after 2025-06-01T00:00:00Z")
    return f" {word} ".join(kinds[i % len(kinds)](i) for i in range(length))


def paths(rules: lapse_dsl.RuleSet) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Every way of asking about a user: evaluate and in_segment on the fused, the general
    compiled and the reference path, and explain."""
    reference = rules.reference()
    return {
        "evaluate": lambda u: rules.evaluate(u, NOW),
        "evaluate-compiled": lambda u: rules.evaluate(MappingProxyType(u), NOW),
        "evaluate-reference": lambda u: reference.evaluate(u, NOW),
        "in_segment": lambda u: dict(rules.in_segment(u, NOW)),
        "in_segment-compiled": lambda u: dict(rules.in_segment(MappingProxyType(u), NOW)),
        "in_segment-reference": lambda u: dict(reference.in_segment(u, NOW)),
        "explain": lambda u: [(t.campaign, t.in_segment, t.reason) for t in rules.explain(u, NOW)],
    }


def agree(rules: lapse_dsl.RuleSet) -> None:
    """The fast paths equal the reference for every user, and the answers are not all unknown."""
    for user in USERS:
        answers = {name: ask(user) for name, ask in paths(rules).items()}
        assert answers["evaluate"] == answers["evaluate-compiled"] == answers["evaluate-reference"], user
        assert answers["in_segment"] == answers["in_segment-compiled"] == answers["in_segment-reference"], user


def sql_everywhere(rules: lapse_dsl.RuleSet, *, dialects: tuple[str, ...] = DIALECTS) -> None:
    """Every SQL shape in every dialect (or the dialect's refusal), and on DuckDB the rows the
    plugin selects."""
    for dialect in dialects:
        for make in (segment_sql, next_occurrence_sql, segment_predicate):
            try:
                assert make(rules, dialect=dialect, at=NOW)
            except lapse_dsl.UnsupportedError as exc:  # sqlite and time conditions or zone tables: refused in words
                assert dialect == "sqlite" and "sqlite" in str(exc)
        assert candidates_sql(rules, dialect=dialect)
    con = duckdb.connect()
    try:
        names = list(COLUMNS)
        con.execute(f"CREATE TABLE users ({', '.join(f'{c} {t}' for c, t in COLUMNS.items())})")
        con.executemany(f"INSERT INTO users VALUES ({', '.join('?' for _ in names)})",
                        [[u.get(c) for c in names] for u in USERS])
        selected = {row[0] for row in con.execute(segment_sql(rules, dialect="duckdb", at=NOW)).fetchall()}
        assert selected == {u["user_id"] for u in USERS if rules.in_segment(u, NOW)[rules.rules[0].name]}
        candidates = {row[0] for row in con.execute(candidates_sql(rules, dialect="duckdb")).fetchall()}
        assert candidates >= selected
    finally:
        con.close()


def from_deep_in_the_stack(call: Callable[[], T], frames: int = 300) -> T:
    """``call()`` made with ``frames`` frames of a caller already on the stack, in a fresh thread."""
    result: list[T] = []
    failure: list[BaseException] = []

    def descend(k: int) -> None:
        if k:
            descend(k - 1)
        else:
            result.append(call())

    def run() -> None:
        try:
            descend(frames)
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


# -- item 10: chains of any length, nesting to the limit -----------------------------------------------


@pytest.mark.slow
@pytest.mark.warehouse
@pytest.mark.parametrize("word", ["or", "and"])
def test_a_flat_chain_of_5000_operands_works_everywhere(word: str) -> None:
    rules = lapse_dsl.compile(f"segment {chain(5000, word)}; {SEND}")
    agree(rules)
    sql_everywhere(rules)


@pytest.mark.slow
@pytest.mark.warehouse
def test_a_5000_operand_country_list_written_with_or_selects_like_in() -> None:
    countries = [f"C{i}" for i in range(5000)]
    written_or = lapse_dsl.compile("segment " + " or ".join(f'country = "{c}"' for c in countries) + f"; {SEND}")
    listed = lapse_dsl.compile("segment country in [" + ", ".join(f'"{c}"' for c in countries) + f"]; {SEND}")
    for user in USERS:
        assert written_or.evaluate(user, NOW) == listed.evaluate(user, NOW)
        assert dict(written_or.in_segment(user, NOW)) == dict(listed.in_segment(user, NOW))
    assert [d.user_id for u in USERS for d in written_or.evaluate(u, NOW)] == ["u1", "u4"]
    sql_everywhere(written_or)


@pytest.mark.slow
@pytest.mark.warehouse
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_nesting_at_the_depth_limit_works_everywhere(shape: str) -> None:
    text = SHAPES[shape](n.MAX_DEPTH)
    rules = lapse_dsl.compile(f"segment {text}; {SEND}")
    agree(rules)
    sql_everywhere(rules)


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_nesting_at_the_limit_works_when_called_from_deep_in_a_stack(shape: str) -> None:
    # Evaluation recurses a few frames per level; a caller 500 frames deep leaves it room. The SQL
    # writer (sqlglot) needs about 10 per level and makes room for itself: any caller's depth works.
    rules = from_deep_in_the_stack(lambda: lapse_dsl.compile(f"segment {SHAPES[shape](n.MAX_DEPTH)}; {SEND}"), 500)
    for user in USERS:
        for name, ask in paths(rules).items():
            assert from_deep_in_the_stack(lambda: ask(user), 500) == ask(user), name  # noqa: B023
    limit = sys.getrecursionlimit()
    for dialect in DIALECTS:
        calls: list[Callable[[], str]] = [lambda: segment_sql(rules, dialect=dialect, at=NOW, pretty=True),  # noqa: B023
                 lambda: next_occurrence_sql(rules, dialect=dialect, at=NOW, pretty=True),  # noqa: B023
                 lambda: segment_predicate(rules, dialect=dialect, at=NOW),  # noqa: B023
                 lambda: candidates_sql(rules, dialect=dialect)]  # noqa: B023
        for call in calls:
            try:
                assert from_deep_in_the_stack(call, 900) == call()
            except lapse_dsl.UnsupportedError:
                assert dialect == "sqlite"
    assert sys.getrecursionlimit() == limit  # raised only while writing, then restored


def test_the_sql_stack_limit_is_restored_when_writing_fails() -> None:
    rules = lapse_dsl.compile(f"segment {alternating_parens(n.MAX_DEPTH)}; {SEND}")
    limit = sys.getrecursionlimit()
    with pytest.raises(ValueError, match="unknown dialect"):
        segment_sql(rules, dialect="nosuch", at=NOW)
    assert sys.getrecursionlimit() == limit


# -- item 23: no double negation in the SQL ------------------------------------------------------------

NEGATIONS = (
    "not not push_opted_in",
    "not not not push_opted_in",
    "not (country is set)",
    "not country is not set",
    'not country not in ["US", "CA"]',
    'not not (platform = "ios" or sessions > 3)',
    'sessions > 1 and not (push_opted_in and not not email_subscribed)',
    "not not last_used between 1d and 9d",
    "not (not first_used before 2026-01-01 or not last_used more than 30d ago)",
    nested_nots(n.MAX_DEPTH),
    nested_nots(n.MAX_DEPTH - 1),
)
_DOUBLE = re.compile(r"\bNOT\s+NOT\b", re.IGNORECASE)


def double_negations(sql: str, dialect: str) -> list[str]:
    """Every ``NOT`` whose operand is a ``NOT``, in the text and in the parsed tree."""
    found = _DOUBLE.findall(sql)
    tree = sqlglot.parse_one(sql, read=dialect)
    found += [node.sql() for node in tree.find_all(exp.Not) if isinstance(node.this.unnest(), exp.Not)]
    return found


# a `local` rule's SQL carries the zone table (100 KB a query): writing and parsing it back takes 3 to 13 s
@pytest.mark.parametrize("zone", [pytest.param("local", marks=pytest.mark.slow), "utc", '"Asia/Kolkata"'])
@pytest.mark.parametrize("condition", NEGATIONS)
def test_sql_never_double_negates(condition: str, zone: str) -> None:
    rules = lapse_dsl.compile(f"segment {condition}; send push daily 10:00 {zone}")
    for dialect in DIALECTS:
        texts = [candidates_sql(rules, dialect=dialect)]
        try:
            texts += [segment_sql(rules, dialect=dialect, at=NOW), next_occurrence_sql(rules, dialect=dialect, at=NOW),
                      f"SELECT 1 FROM users AS u WHERE {segment_predicate(rules, dialect=dialect, at=NOW)}"]
        except lapse_dsl.UnsupportedError:
            assert dialect == "sqlite"
        for text in texts:
            assert double_negations(text, dialect) == [], (dialect, text[-300:])


@pytest.mark.warehouse
@pytest.mark.parametrize("condition", NEGATIONS)
def test_removing_double_negations_keeps_the_answers(condition: str) -> None:
    rules = lapse_dsl.compile(f"segment {condition}; {SEND}")
    sql_everywhere(rules, dialects=("duckdb",))


@pytest.mark.slow
def test_golden_sql_has_no_double_negation() -> None:
    goldens = sorted((ROOT / "tests" / "golden_sql").glob("*/*.sql"))
    assert any(p.name.endswith(".next.sql") and p.parent.name == "duckdb" and "zone_local" in p.name for p in goldens)
    for path in goldens:
        text = path.read_text(encoding="utf-8")
        if not text.startswith("-- UnsupportedError"):
            assert double_negations(text, path.parent.name) == [], path


# -- item 9 (runtime side): names, dates and instants at the edges -----------------------------------

NAMES = {
    "nul": "a\x00b",
    "line-breaks": "x\ny\r\nz\u2028w\x85v",
    "quotes": "it's \"quoted\" ''' \"\"\" \\ #",
    "lone-surrogate": "a\ud800b",
    "escapes": "\\x00\\n{}%s{0}",
    "long": "n" * 20_000,
    "python": "__import__('os').system('false')",
}


def _with_name(name: str, value: str) -> RuleSet:
    """A checked rule renamed past the checker (which rejects control characters in names), with a
    string literal holding the same characters: the generated code must not depend on either."""
    base = lapse_dsl.compile('segment platform = "ios" and last_used less than 30d ago; send push daily 10:00 utc')
    rule = base.rules[0]
    assert isinstance(rule.segment, n.And)
    platform = n.Path(("platform",))
    segment = n.And((n.Or((n.Compare(platform, "=", n.Literal("ios")), n.Compare(platform, "=", n.Literal(value)))),
                     *rule.segment.operands[1:]))
    checked = attrs.evolve(rule, name=name, segment_name=name, salt=name, segment=segment)
    return RuleSet(CheckResult((checked,), base.schema, ()))


@pytest.mark.parametrize("name", sorted(NAMES))
def test_any_campaign_name_or_string_value_compiles(name: str) -> None:
    text = NAMES[name]
    rules = _with_name(text, text)
    users = [{"user_id": "u", "platform": "ios", "last_used": NOW - dt.timedelta(days=1)},
             {"user_id": "v", "platform": text, "last_used": NOW - dt.timedelta(days=1)},
             {"user_id": "w", "platform": "web", "last_used": NOW - dt.timedelta(days=1)}]
    for user in users:
        expected = user["platform"] != "web"
        answers = {way: ask(user) for way, ask in paths(rules).items()}
        assert answers["in_segment"] == answers["in_segment-reference"] == {text: expected}
        assert [d.campaign for d in answers["evaluate"]] == ([text] if expected else [])
        assert answers["evaluate"] == answers["evaluate-reference"] == answers["evaluate-compiled"]
    for dialect in ("duckdb", "postgres", "bigquery"):
        assert segment_sql(rules, dialect=dialect, at=NOW, rule=text)
        assert candidates_sql(rules, dialect=dialect, rule=text)


ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Etc/GMT+12", "Etc/GMT-14", "America/New_York")
ONE_DAY = dt.timedelta(days=1)
EDGE_RULES = f"""
campaign "first dates" {{
    segment (first_used after {n.MIN_DATE} and last_used before {n.MIN_DATE + ONE_DAY}T00:00:00+14:00
        or last_used more than 36525d ago)
    send push daily 00:30 local
    from {n.MIN_DATE}
}}
campaign "last dates" {{
    segment first_used before {n.MAX_DATE} and last_used after {n.MAX_DATE}T11:00:00-12:00 or not last_used less than 5217w ago
    send email weekly mon 23:30 local
    until {n.MAX_DATE}
}}
campaign "cron" {{
    segment last_used between 1d and 36525d
    send push cron "59 23 31 12 *" local
}}
"""
EDGE_NOWS = (FIRST_INSTANT, FIRST_INSTANT + 3 * ONE_DAY, LAST_INSTANT - dt.timedelta(microseconds=1),
             LAST_INSTANT - 400 * ONE_DAY, dt.datetime(8999, 12, 31, 11, 59, tzinfo=dt.timezone(dt.timedelta(hours=-12))))


@pytest.mark.slow
@pytest.mark.parametrize("now", EDGE_NOWS, ids=lambda t: t.isoformat())
def test_rule_dates_and_instants_at_the_ends_of_the_range_never_overflow(now: dt.datetime) -> None:
    rules = lapse_dsl.compile(EDGE_RULES)
    reference = rules.reference()
    times = (now, now - dt.timedelta(days=36525), now + dt.timedelta(days=1), dt.datetime(1900, 1, 1, tzinfo=UTC))
    for zone in ZONES:
        for last_used in times:
            user = {"user_id": "u", "timezone": zone, "last_used": last_used, "first_used": times[1]}
            assert rules.evaluate(user, now) == reference.evaluate(user, now)
            since = max(now - dt.timedelta(hours=2), FIRST_INSTANT)
            assert rules.evaluate(user, now, since=since) == reference.evaluate(user, now, since=since)
            assert dict(rules.in_segment(user, now)) == dict(reference.in_segment(user, now))
            assert rules.explain(user, now).rules
    for rule in rules.rules:
        for dialect in ("duckdb", "postgres"):
            assert segment_sql(rules, dialect=dialect, at=now, rule=rule.name)
            assert next_occurrence_sql(rules, dialect=dialect, at=now, rule=rule.name)


@pytest.mark.parametrize(
    "instant",
    [FIRST_INSTANT - dt.timedelta(microseconds=1), LAST_INSTANT, dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
     dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), dt.datetime(1, 1, 1, tzinfo=UTC)],
    ids=lambda t: t.isoformat(),
)
def test_instants_outside_the_supported_range_are_refused(instant: dt.datetime) -> None:
    rules = lapse_dsl.compile(EDGE_RULES)
    user = {"user_id": "u", "last_used": "2026-01-01T00:00:00Z"}
    message = r"^(now|at|since) must be from 1000-01-01 to before 9000-01-01 \(UTC\), got "
    calls: list[Callable[[], Any]] = [
        lambda: rules.evaluate(user, instant), lambda: rules.reference().evaluate(user, instant),
        lambda: rules.evaluate(user, NOW, since=instant), lambda: rules.in_segment(user, instant),
        lambda: rules.reference().in_segment(user, instant), lambda: rules.explain(user, instant),
        lambda: rules.explain(user, NOW, since=instant), lambda: rules.reference().evaluate(user, NOW, since=instant),
        lambda: segment_sql(rules, dialect="duckdb", at=instant, rule="cron"),
        lambda: next_occurrence_sql(rules, dialect="duckdb", at=instant, rule="cron"),
        lambda: segment_predicate(rules, dialect="duckdb", at=instant, rule="cron"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=message):
            call()

