"""Recursion limits (issue 11, item 10): a flat `a or b or ...` chain of any length works in every
command, conditions nested exactly MAX_DEPTH levels work in every command, and one level more is
a positioned syntax error found before anything recurses.

``every_command`` runs a rule file through parse, check, fmt, compile (fast, fused and reference
paths), evaluate, in_segment, explain, ``lapse sql`` in every dialect and shape, and the CLI; the
rule-limit tests (test_rule_limits.py) use it too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lapse_dsl
from lapse_dsl import cli
from lapse_dsl import nodes as n
from lapse_dsl.check import check
from lapse_dsl.sql import DIALECTS, candidates_sql, next_occurrence_sql, segment_sql

UTC = dt.UTC
SEND = "; send push daily 09:00 local"
NOWS = (dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime(2026, 3, 8, 6, 0, tzinfo=UTC))
USERS: tuple[dict[str, Any], ...] = (
    {"user_id": "u1", "timezone": "America/New_York", "push_opted_in": True, "email_subscribed": False,
     "sessions": 3, "country": "US", "last_used": "2026-11-12T10:00:00Z", "first_used": "2025-01-01T00:00:00Z"},
    {"user_id": "u2", "timezone": "Europe/Paris", "push_opted_in": False, "email_subscribed": True,
     "sessions": 0, "country": "FR", "last_used": "2026-03-01T10:00:00Z"},
    {"user_id": "u3"},  # every attribute unknown
    {"user_id": "u4", "timezone": "Pacific/Apia", "push_opted_in": None, "sessions": 11, "country": "CA",
     "last_used": "2026-11-29T23:59:59Z", "first_used": "2026-11-29T00:00:00Z"},
)
# leaves of every kind: static tests and the windows that are measured back from an occurrence
LEAVES = (
    "push_opted_in", "email_subscribed", "sessions > 3", 'country in ["US", "CA"]', "last_used between 2w and 3w",
    "last_used more than 1w ago", "last_used less than 30d ago", "first_used before 2026-01-01",
    "first_used after 2025-06-01T00:00:00Z", "country is set", 'platform != "web"',
)


def every_command(
    text: str,
    tmp_path: Path,
    *,
    users: tuple[dict[str, Any], ...] = USERS,
    dialects: tuple[str, ...] = DIALECTS,
    all_cli: bool = True,
) -> lapse_dsl.RuleSet:
    """Run every command over a valid rule file; each must answer without an exception. The
    segment's SQL is written in each of ``dialects``; the other two query shapes in the first.
    Without ``all_cli``, the command line runs only ``check``, ``fmt`` and ``sql`` (the slow part
    for huge files is each command compiling the rules again)."""
    path = tmp_path / "rules.lapse"
    path.write_text(text, encoding="utf-8")
    tree = lapse_dsl.parse(text, source=str(path))
    result = check([tree])
    assert result.errors == ()
    formatted = lapse_dsl.format_file(tree)
    assert lapse_dsl.parse(formatted) == tree
    assert lapse_dsl.format_file(lapse_dsl.parse(formatted)) == formatted
    rules = lapse_dsl.compile(text, source=str(path))
    reference = rules.reference()
    for now in NOWS:
        for user in users:
            fast = rules.evaluate(user, now)
            assert fast == reference.evaluate(user, now)
            assert rules.evaluate(user, now, since=now - dt.timedelta(days=1)) == reference.evaluate(
                user, now, since=now - dt.timedelta(days=1))
            assert dict(rules.in_segment(user, now)) == dict(reference.in_segment(user, now))
            explanation = rules.explain(user, now)
            explained = {(t.decision.campaign, t.decision.send_at) for t in explanation.rules if t.decision is not None}
            assert explained == {(d.campaign, d.send_at) for d in fast}
    for dialect, rule in itertools.product(dialects, rules.rules):
        for make in (_segment_sql, _next_sql, _candidates_sql) if dialect == dialects[0] else (_segment_sql,):
            # a construct the dialect cannot express exactly is refused with a message, not a crash
            with contextlib.suppress(lapse_dsl.UnsupportedError):
                assert make(rules, dialect, rule.name)
    users_file = tmp_path / "users.jsonl"
    users_file.write_text("".join(json.dumps(u) + "\n" for u in users), encoding="utf-8")
    first = rules.rules[0].name if rules.rules else None
    commands = [
        ["check", str(path)],
        ["fmt", "--check", str(path)],
        ["run", str(path), "--users", str(users_file), "--now", "2026-11-30T00:00:00Z", "--out", str(tmp_path / "out.jsonl")],
        ["plan", str(path), "--users", str(users_file), "--now", "2026-11-30T00:00:00Z"],
        ["explain", str(path), "--user", json.dumps(users[0]), "--now", "2026-11-30T00:00:00Z"],
    ]
    if not all_cli:
        commands = commands[:2]
    if first is not None:
        commands += [["sql", str(path), "--dialect", "duckdb", "--at", "2026-11-30T00:00:00Z", "--rule", first, *shape]
                     for shape in ([], ["--next"], ["--candidates"])[: 3 if all_cli else 1]]
    for argv in commands:
        code = cli.main(argv)
        # fmt --check exits 1 for a file not in canonical form; every other command succeeds
        assert code in ((0, 1) if argv[0] == "fmt" else (0,)), argv
    return rules


def _segment_sql(rules: lapse_dsl.RuleSet, dialect: str, rule: str) -> str:
    return segment_sql(rules, dialect=dialect, at=NOWS[0], rule=rule)


def _next_sql(rules: lapse_dsl.RuleSet, dialect: str, rule: str) -> str:
    return next_occurrence_sql(rules, dialect=dialect, at=NOWS[0], rule=rule)


def _candidates_sql(rules: lapse_dsl.RuleSet, dialect: str, rule: str) -> str:
    return candidates_sql(rules, dialect=dialect, rule=rule)


# Shapes of nesting, each `levels` deep (levels as the AST counts them) ---------------------------


def nested_nots(levels: int) -> str:
    return "not " * levels + LEAVES[0]


def alternating(levels: int) -> str:
    """`a or (b and (c or (...)))`: each parenthesis is one level."""
    text = LEAVES[-1]
    for i in range(levels):
        text = f"{LEAVES[i % len(LEAVES)]} {'or' if i % 2 else 'and'} ({text})"
    return text


def not_and_parens(levels: int) -> str:
    """`not (a or not (b and ...))`: a `not` and a parenthesised `and`/`or` alternate."""
    text = LEAVES[4]
    for i in range(levels):
        if i % 2:
            text = f"not ({text})"
        else:
            text = f"{LEAVES[i % len(LEAVES)]} {'and' if i % 4 else 'or'} ({text})"
    return text


def deep_on_the_left(levels: int) -> str:
    """Nesting in the first operand: `((... or a) and b) or c`."""
    text = LEAVES[2]
    for i in range(levels):
        text = f"({text}) {'and' if i % 2 else 'or'} {LEAVES[i % len(LEAVES)]}"
    return text


SHAPES: dict[str, Callable[[int], str]] = {
    "not": nested_nots, "alternating": alternating, "not-and-parens": not_and_parens, "left": deep_on_the_left,
}


def depth(cond: n.Condition) -> int:
    """The nesting depth as MAX_DEPTH counts it, without recursion."""
    deepest, stack = 0, [(cond, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (n.And, n.Or, n.Not)):
            level += 1
            stack.extend((op, level) for op in (node.operands if isinstance(node, (n.And, n.Or)) else (node.operand,)))
        deepest = max(deepest, level)
    return deepest


def _condition(text: str) -> n.Condition:
    (rule,) = lapse_dsl.parse("segment " + text + SEND).items
    assert isinstance(rule, n.Rule) and isinstance(rule.clauses[0], n.Segment)
    return rule.clauses[0].condition


@pytest.mark.parametrize("shape", SHAPES)
def test_the_shapes_nest_as_many_levels_as_asked(shape: str) -> None:
    for levels in (1, 2, 7, n.MAX_DEPTH):
        assert depth(_condition(SHAPES[shape](levels))) == levels


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_every_command_works_at_exactly_the_limit(shape: str, tmp_path: Path) -> None:
    every_command("segment " + SHAPES[shape](n.MAX_DEPTH) + SEND, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_every_command_works_at_the_limit_with_comments_inside(shape: str, tmp_path: Path) -> None:
    # a comment after every `(`: the formatter lays the condition out over many lines, still at the limit
    text = "segment (" + SHAPES[shape](n.MAX_DEPTH).replace("(", "(  # why\n") + ")" + SEND
    rules = every_command(text, tmp_path, dialects=("duckdb",))  # the comments change nothing in the SQL
    assert depth(rules.rules[0].segment) == n.MAX_DEPTH


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("extra", [1, 2, 50, 5_000])
def test_one_level_too_deep_is_a_positioned_syntax_error(shape: str, extra: int) -> None:
    text = "segment " + SHAPES[shape](n.MAX_DEPTH + extra) + SEND
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse(text)
    error = info.value
    assert f"more than {n.MAX_DEPTH} levels deep" in error.message and f"the limit is {n.MAX_DEPTH}" in error.message
    assert error.line == 1 and 9 <= error.column < len(text)
    # the position is the first node past the limit: what is left of it still nests MAX_DEPTH levels
    prefix = text[: error.column - 1]
    assert prefix.count("not ") + prefix.count("(") >= n.MAX_DEPTH


def test_the_error_points_at_the_first_not_past_the_limit() -> None:
    text = "segment " + "not " * (n.MAX_DEPTH + 1) + "push_opted_in" + SEND
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse(text)
    assert (info.value.line, info.value.column) == (1, len("segment ") + 4 * n.MAX_DEPTH + 1)


def test_deep_nesting_fails_before_anything_recurses() -> None:
    # far beyond the interpreter's recursion limit: the parser counts levels without recursing
    levels = sys.getrecursionlimit() * 3
    for shape in SHAPES.values():
        with pytest.raises(lapse_dsl.LapseSyntaxError):
            lapse_dsl.parse("segment " + shape(levels) + SEND)
    with pytest.raises(lapse_dsl.LapseSyntaxError):
        lapse_dsl.compile("segment " + nested_nots(levels) + SEND)


def test_redundant_parentheses_are_no_level(tmp_path: Path) -> None:
    parens = "(" * 5_000 + "push_opted_in" + ")" * 5_000
    assert _condition(parens) == n.Truthy(n.Path(("push_opted_in",)))
    every_command("segment " + "(" * 5_000 + "push_opted_in or sessions > 3" + ")" * 5_000 + SEND, tmp_path)


def same_operator(levels: int) -> str:
    """`a or (b or (c or ...))`: nested as written, one flat `or` in the AST."""
    return "push_opted_in" + " or (email_subscribed" * (levels - 1) + " or sessions > 3" + ")" * (levels - 1)


def test_nesting_counts_as_written_even_where_the_ast_flattens(tmp_path: Path) -> None:
    assert depth(_condition(same_operator(n.MAX_DEPTH))) == 1
    every_command("segment " + same_operator(n.MAX_DEPTH) + SEND, tmp_path, dialects=("duckdb",))
    with pytest.raises(lapse_dsl.LapseSyntaxError, match=f"more than {n.MAX_DEPTH} levels deep"):
        lapse_dsl.parse("segment " + same_operator(n.MAX_DEPTH + 1) + SEND)


# Long flat chains --------------------------------------------------------------------------------


def chain(operator: str, count: int) -> str:
    return f" {operator} ".join(f'country = "C{i}"' if i % 3 else f"sessions = {i}" for i in range(count))


@pytest.mark.parametrize("operator", ["or", "and"])
def test_a_long_chain_is_one_flat_node(operator: str) -> None:
    text = chain(operator, 5_000)
    assert len(text) > 90_000
    cond = _condition(text)
    assert isinstance(cond, n.Or if operator == "or" else n.And)
    assert len(cond.operands) == 5_000 and depth(cond) == 1


@pytest.mark.slow
@pytest.mark.parametrize("operator", ["or", "and"])
def test_every_command_works_on_a_chain_of_5000_operands(operator: str, tmp_path: Path) -> None:
    text = "segment " + chain(operator, 5_000) + SEND
    rules = every_command(text, tmp_path, dialects=DIALECTS if operator == "or" else ("duckdb",), all_cli=operator == "or")
    user = {"user_id": "u", "sessions": 4998 if operator == "or" else 0, "country": "C1"}
    assert rules.in_segment(user, NOWS[0])[rules.rules[0].name] is (operator == "or")


def test_a_chain_of_chains_stays_within_the_limit(tmp_path: Path) -> None:
    # `(a and b and ...) or (c and d and ...) or ...`: wide and two levels deep
    groups = " or ".join(f"({chain('and', 20)})" for _ in range(50))
    cond = _condition(groups)
    assert isinstance(cond, n.Or) and len(cond.operands) == 50 and depth(cond) == 2
    every_command("segment " + groups + SEND, tmp_path, dialects=("duckdb",), all_cli=False)


@pytest.mark.slow
def test_a_long_wrapped_list_and_chain_format_and_keep_their_comments(tmp_path: Path) -> None:
    values = "\n".join(f'    "C{i}"{"," if i < 1_999 else ""}  # country {i}' for i in range(2_000))
    text = f"segment country in [\n{values}\n] or " + chain("or", 2_000) + SEND
    rules = every_command(text, tmp_path, dialects=("duckdb",), all_cli=False)
    out = lapse_dsl.format_file(lapse_dsl.parse(text))
    assert [c.text for c in lapse_dsl.parse(out).comments] == [f"# country {i}" for i in range(2_000)]
    assert rules.in_segment({"user_id": "u", "country": "C1999"}, NOWS[0])[rules.rules[0].name] is True
