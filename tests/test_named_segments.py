"""Named segments (issue 13, part 1): `segment "NAME" = CONDITION` at the top level, the quoted
name alone in any condition.

- The checker resolves references across every file of a rule set: unknown names (with a
  did-you-mean), duplicates (both positions), cycles (the path), and definitions that would grow
  past the limits once written out (generated chains and DAGs) are positioned errors.
- A campaign that uses a named segment decides exactly as the same campaign with the condition
  written inline: the same `segment` tree, the same decisions and `in_segment` answers on the
  compiled and reference paths, the same SQL.
- `explain` shows a named segment as a node with its own verdict; its reasons see through it.
- `fmt` keeps definitions, comments included, and round-trips.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.check import CheckResult, check
from lapse_dsl.evaluate import Moment
from lapse_dsl.explain import condition_traces, reasons
from lapse_dsl.format import format_file
from lapse_dsl.segments import MAX_PREDICATES, MAX_TOTAL, Resolver
from lapse_dsl.sql import segment_sql

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, tzinfo=UTC)
SEND = "send push weekly thu 17:45 local"


def _check(*texts: str) -> CheckResult:
    return check([lapse_dsl.parse(t, source=f"rules/{chr(97 + i)}.lapse") for i, t in enumerate(texts)])


def _errors(*texts: str) -> list[str]:
    return [f"{d.source}:{d.line}:{d.column}: {d.message}" for d in _check(*texts).errors]


def _column(text: str, needle: str, line: int = 1) -> int:
    return text.split("\n")[line - 1].index(needle) + 1


# Resolution errors --------------------------------------------------------------------------------


def test_an_unknown_name_suggests_the_closest_definition_across_the_folder() -> None:
    shared = 'segment "Lapsed - 2 weeks" = last_used between 2w and 3w\n'
    campaign = f'segment "Lapsed - 2 week" and platform = "ios"; {SEND}\n'
    assert _errors(shared, campaign) == [
        f'rules/b.lapse:1:{_column(campaign, chr(34))}: unknown segment "Lapsed - 2 week"; did you mean "Lapsed - 2 weeks"?'
    ]


def test_an_unknown_name_in_a_definition_is_an_error_at_the_reference() -> None:
    text = 'segment "Base" = sessions > 3\nsegment "Top" = push_opted_in and "Bsae"\n'
    (error,) = _check(text).errors
    assert (error.line, error.column) == (2, _column(text, '"Bsae"', 2))
    assert error.message == 'unknown segment "Bsae"; did you mean "Base"?'


def test_an_unknown_name_with_nothing_close_says_how_to_define_one() -> None:
    (error,) = _check(f'segment "ios users"; {SEND}').errors
    assert error.message == ("unknown segment \"ios users\"; define it at the top level of a file with "
                             "'segment \"ios users\" = CONDITION'")


def test_a_duplicate_across_two_files_names_the_first_definition() -> None:
    first = '# shared\n\nsegment "X" = sessions > 3\n'
    second = f'segment "X" = sessions > 5\nsegment "X"; {SEND}\n'
    assert _errors(first, second) == [
        'rules/b.lapse:1:9: segment "X" is already defined at rules/a.lapse:3:9; segment names must be unique in a rule set'
    ]


def test_the_first_definition_of_a_duplicated_name_is_the_one_used() -> None:
    first = 'segment "X" = sessions > 3\n'
    second = f'segment "X" = sessions > 5\nsegment "X"; {SEND}\n'
    result = _check(first, second)
    assert len(result.errors) == 1
    files = [lapse_dsl.parse(first, source="a"), lapse_dsl.parse(second, source="b")]
    (definition,) = Resolver(files).definitions
    assert definition.source == "a"


@pytest.mark.parametrize(
    ("definitions", "at", "message"),
    [
        pytest.param(['segment "A" = "A" and sessions > 1'], (1, 15), 'segment "A" refers to itself: "A" -> "A"',
                     id="itself"),
        pytest.param(['segment "A" = "B" and sessions > 1', 'segment "B" = not "A"'], (2, 19),
                     'segment "B" refers to itself: "B" -> "A" -> "B"', id="two"),
        pytest.param(['segment "A" = "B" or push_opted_in', 'segment "B" = "C"', 'segment "C" = sessions > 1 and "A"'],
                     (3, 32), 'segment "C" refers to itself: "C" -> "A" -> "B" -> "C"', id="three"),
    ],
)
def test_a_cycle_is_one_error_naming_its_path(definitions: list[str], at: tuple[int, int], message: str) -> None:
    # a definition and a campaign using the cycle add no error of their own
    text = "\n".join([*definitions, 'segment "Uses it" = "A" and country = "FR"', f'segment "Uses it"; {SEND}']) + "\n"
    (error,) = _check(text).errors
    assert ((error.line, error.column), error.message) == (at, message)


def test_a_definition_is_checked_once_in_its_own_file() -> None:
    shared = '# shared segments\nsegment "Bad" = last_used between 2w and 3w and sesions > 3\n'
    campaigns = "".join(f'campaign "C{i}" {{ segment "Bad"; {SEND} }}\n' for i in range(3))
    assert _errors(shared, campaigns) == [
        f"rules/a.lapse:2:{_column(shared, 'sesions', 2)}: unknown attribute 'sesions'; did you mean 'sessions'?"
    ]


def test_a_definition_sees_attributes_declared_in_another_file() -> None:
    shared = 'segment "Gold" = tier = "gold"\n'
    campaigns = f'attribute tier: string\nsegment "Gold"; {SEND}\n'
    assert _check(shared, campaigns).errors == ()


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "a segment name cannot be empty"),
     ("a\\tb", "control character U+0009 in a quoted string: a segment name cannot contain control characters "
               "such as tabs and new lines")],
)
def test_a_segment_name_is_printable_text(name: str, message: str) -> None:
    assert [d.message for d in _check(f'segment "{name}" = sessions > 1\nsegment "{name}"; {SEND}\n').errors] == [message]


def test_a_definition_may_come_after_the_campaigns_and_definitions_that_use_it() -> None:
    text = f'segment "Top" and sessions > 1; {SEND}\nsegment "Top" = "Base" or push_opted_in\nsegment "Base" = country = "FR"\n'
    (rule,) = lapse_dsl.compile(text).rules
    inline = lapse_dsl.compile(f'segment (country = "FR" or push_opted_in) and sessions > 1; {SEND}')
    assert rule.segment == inline.rules[0].segment


def test_an_unused_definition_is_neither_an_error_nor_a_warning() -> None:
    result = _check(f'segment "Spare" = sessions > 1\n{SEND}; segment last_used between 2w and 3w\n')
    assert result.diagnostics == ()


# Hostile input: sizes and depths, measured before anything is written out ------------------------


def _chain(count: int, body: str) -> str:
    """``count`` definitions S1..S<count>, each ``body`` with {prev} the one before (S0 is a predicate)."""
    lines = ['segment "S0" = sessions > 0']
    lines += [f'segment "S{k}" = ' + body.format(prev=f'"S{k - 1}"', k=k) for k in range(1, count + 1)]
    return "\n".join(lines) + "\n"


def test_a_chain_that_doubles_is_one_error_at_the_first_definition_too_large() -> None:
    # S<k> holds 2^k predicates written out: 2^40 for the last, 2^1000 in a long chain
    for count in (40, 1000):
        text = _chain(count, "{prev} or {prev}") + f'segment "S{count}"; {SEND}\n'
        first = next(k for k in range(count) if 2**k > MAX_PREDICATES)
        (error,) = _check(text).errors
        assert (error.line, error.column) == (first + 1, 9)
        assert error.message == (f'segment "S{first}" would hold {2**first:,} predicates once its named segments are '
                                 f"written out (the limit is {MAX_PREDICATES:,}): use each named segment fewer times")


def test_a_wide_dag_is_measured_without_writing_it_out() -> None:
    base = " or ".join(f"sessions = {i}" for i in range(100))
    wide = " and ".join(['"Base"'] * (MAX_PREDICATES // 100 + 1))
    text = f'segment "Base" = {base}\nsegment "Wide" = {wide}\nsegment "Wide"; {SEND}\n'
    (error,) = _check(text).errors
    assert (error.line, error.column) == (2, 9)
    assert f"would hold {(MAX_PREDICATES // 100 + 1) * 100:,} predicates" in error.message


def test_a_campaign_too_large_is_an_error_at_its_segment_clause() -> None:
    half = " or ".join(f"sessions = {i}" for i in range(MAX_PREDICATES // 2 + 1))
    text = f'segment "Half" = {half}\ncampaign "Big" {{\n    segment "Half" and not "Half"\n    {SEND}\n}}\n'
    (error,) = _check(text).errors
    assert (error.line, error.column) == (3, 5)
    assert error.message.startswith(f"this segment would hold {2 * (MAX_PREDICATES // 2 + 1):,} predicates")


def test_the_campaigns_of_a_rule_set_share_a_budget() -> None:
    size = MAX_PREDICATES - 1
    big = " or ".join(f"sessions = {i}" for i in range(size))
    campaigns = "".join(f'campaign "C{i}" {{ segment "Big"; {SEND} }}\n' for i in range(MAX_TOTAL // size + 2))
    errors = _check(f'segment "Big" = {big}\n', campaigns).errors
    (error,) = errors  # reported once, at the campaign that goes over
    assert (error.source, error.line) == ("rules/b.lapse", MAX_TOTAL // size + 1)
    assert error.message.startswith(f"the campaigns of this rule set would hold more than {MAX_TOTAL:,} predicates")


@pytest.mark.parametrize(("body", "per_level"), [("not {prev}", 2), ("{prev} and sessions > {k}", 2), ("{prev}", 1)])
def test_a_chain_too_deep_is_one_error_at_the_first_definition_too_deep(body: str, per_level: int) -> None:
    # each named segment is a level, and so is each not/and/or (an alias adds only its name's);
    # 5,000 definitions: the walk over them is not recursive
    text = _chain(5000, body) + f'segment "S5000"; {SEND}\n'
    first = n.MAX_DEPTH // per_level + 1
    (error,) = _check(text).errors
    assert (error.line, error.column) == (first + 1, 9)
    assert error.message == (f'segment "S{first}" nests {first * per_level} levels deep once its named segments are '
                             "written out (each 'not', each 'and'/'or' and each named segment is a level; the limit "
                             f"is {n.MAX_DEPTH}): build it from fewer layers of named segments")


def test_a_campaign_too_deep_is_an_error_at_its_segment_clause() -> None:
    deepest = n.MAX_DEPTH // 2  # S<k> nests 2k levels: the deepest definition allowed
    text = _chain(deepest, "not {prev}") + f'segment not "S{deepest}"; {SEND}\n'
    (error,) = _check(text).errors
    assert (error.line, error.column) == (deepest + 2, 1)
    assert error.message.startswith(f"this segment nests {n.MAX_DEPTH + 2} levels deep")


def test_the_deepest_chain_allowed_runs_on_every_path() -> None:
    deepest = (n.MAX_DEPTH - 1) // 2  # the campaign's own reference is one more level
    text = _chain(deepest, "not {prev}") + f'segment "S{deepest}"; {SEND}\n'
    rules = lapse_dsl.compile(text)
    user = {"user_id": "u", "sessions": 3}
    expected = deepest % 2 == 0  # an even number of nots over `sessions > 0`
    name = f"<string>:{deepest + 2}"
    assert rules.in_segment(user, NOW)[name] is expected
    assert rules.reference().in_segment(user, NOW)[name] is expected
    assert rules.reference().explain(user, NOW).rules[0].in_segment is not None
    inline = lapse_dsl.compile("\n" * (deepest + 1) + "segment " + "not " * deepest + f"sessions > 0; {SEND}\n")
    assert segment_sql(rules, dialect="duckdb", at=NOW) == segment_sql(inline, dialect="duckdb", at=NOW)


# Written out: the same decisions as the condition written inline ----------------------------------

SHARED = """\
default timezone "Europe/Paris"
segment "Lapsed - 2 weeks" = last_used between 2w and 3w and push_opted_in
segment "Lapsed iOS" = "Lapsed - 2 weeks" and platform = "ios"
segment "Regulars" = sessions >= 3 or country in ["FR", "US"]
"""
INLINE = {
    '"Lapsed - 2 weeks"': "(last_used between 2w and 3w and push_opted_in)",
    '"Lapsed iOS"': '(last_used between 2w and 3w and push_opted_in and platform = "ios")',
    '"Regulars"': '(sessions >= 3 or country in ["FR", "US"])',
}
CAMPAIGNS = [
    '"Lapsed iOS"',
    '"Lapsed iOS" and "Regulars"',
    '"Lapsed - 2 weeks" and not "Lapsed iOS"',
    '"Regulars" or "Lapsed - 2 weeks" and first_used before 2026-06-01',
    'not ("Regulars" or platform = "web") and last_used less than 30d ago',
]
USERS: list[dict[str, Any]] = [
    {"user_id": "a", "timezone": "America/New_York", "last_used": "2026-11-12T18:00:00Z", "push_opted_in": True,
     "platform": "ios", "sessions": 5, "first_used": "2026-01-02T00:00:00Z"},
    {"user_id": "b", "last_used": "2026-11-09T23:30:00Z", "push_opted_in": True, "platform": "android", "country": "FR"},
    {"user_id": "c", "timezone": "Asia/Tokyo", "last_used": "2026-11-14T02:00:00Z", "platform": "ios", "sessions": 1},
    {"user_id": "d", "last_used": "2026-10-20T00:00:00Z", "push_opted_in": False, "platform": "web"},
    {"user_id": "e", "timezone": "Europe/Paris", "last_used": "2026-11-16T08:00:00Z", "push_opted_in": True,
     "platform": "ios"},
]
INSTANTS = [NOW, NOW + dt.timedelta(days=3, hours=17), NOW - dt.timedelta(days=9, hours=5)]


def _inline(condition: str, texts: dict[str, str] = INLINE) -> str:
    """``condition`` with each quoted name in ``texts`` replaced by its text."""
    return re.sub('"[^"]*"', lambda m: texts.get(m.group(), m.group()), condition)


def _pair(conditions: list[str]) -> tuple[lapse_dsl.RuleSet, lapse_dsl.RuleSet]:
    body = "".join(f'campaign "C{i}" {{\n    segment {c}\n    {SEND}\n}}\n' for i, c in enumerate(conditions))
    named = lapse_dsl.compile(SHARED + body)
    inline = "".join(f'campaign "C{i}" {{\n    segment {_inline(c)}\n    {SEND}\n}}\n' for i, c in enumerate(conditions))
    return named, lapse_dsl.compile('default timezone "Europe/Paris"\n' + inline)


def test_a_named_segment_decides_as_the_condition_written_inline() -> None:
    named, inline = _pair(CAMPAIGNS)
    assert [r.segment for r in named.rules] == [r.segment for r in inline.rules]  # flattened as the parser does
    for rule in named.rules:
        assert not any(isinstance(p, (n.SegmentRef, n.Named)) for p in _nodes(rule.segment))
    for user in USERS:
        for at in INSTANTS:
            expected = inline.reference().evaluate(user, at)
            assert named.evaluate(user, at) == expected
            assert named.reference().evaluate(user, at) == expected
            answers = dict(inline.reference().in_segment(user, at))
            assert dict(named.in_segment(user, at)) == answers
            assert dict(named.reference().in_segment(user, at)) == answers
    for k in range(len(CAMPAIGNS)):
        assert segment_sql(named, dialect="duckdb", at=NOW, rule=f"C{k}") == segment_sql(
            inline, dialect="duckdb", at=NOW, rule=f"C{k}")


def _nodes(cond: n.Condition) -> list[n.Condition]:
    out, stack = [], [cond]
    while stack:
        c = stack.pop()
        out.append(c)
        if isinstance(c, (n.And, n.Or)):
            stack.extend(c.operands)
        elif isinstance(c, n.Not):
            stack.append(c.operand)
        elif isinstance(c, n.Named):
            stack.append(c.condition)
    return out


PARTS = ["sessions >= 3", 'platform = "ios"', "push_opted_in", "last_used between 1w and 3w", "first_used before 2026-06-01",
         "last_used less than 10d ago", 'country in ["FR", "US"]', "country is not set"]


def _condition(refs: list[str]) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(PARTS + refs) if refs else st.sampled_from(PARTS)
    return st.recursive(leaf, lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} and {b})", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda a: f"not {a}", inner),
    ), max_leaves=5)


@st.composite
def _rule_sets(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    definitions: list[str] = []
    for k in range(draw(st.integers(1, 4))):
        definitions.append(draw(_condition([f'"D{j}"' for j in range(k)])))
    refs = [f'"D{j}"' for j in range(len(definitions))]
    return definitions, draw(st.lists(_condition(refs), min_size=1, max_size=3))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rule_sets())
def test_generated_named_segments_decide_as_written_inline(drawn: tuple[list[str], list[str]]) -> None:
    definitions, campaigns = drawn
    texts: dict[str, str] = {}
    for k, body in enumerate(definitions):
        texts[f'"D{k}"'] = f"({_inline(body, texts)})"
    shared = "".join(f'segment "D{k}" = {body}\n' for k, body in enumerate(definitions))
    named = lapse_dsl.compile(shared + "".join(f'campaign "C{i}" {{ segment {c}; {SEND} }}\n' for i, c in enumerate(campaigns)))
    inline = lapse_dsl.compile("".join(f'campaign "C{i}" {{ segment {_inline(c, texts)}; {SEND} }}\n'
                                       for i, c in enumerate(campaigns)))
    assert [r.segment for r in named.rules] == [r.segment for r in inline.rules]
    for user in USERS[:3]:
        for at in INSTANTS[:2]:
            assert named.evaluate(user, at) == inline.reference().evaluate(user, at)
            assert dict(named.reference().in_segment(user, at)) == dict(inline.in_segment(user, at))


def test_written_keeps_each_reference_as_a_named_node_at_the_reference() -> None:
    text = SHARED + f'campaign "C" {{\n    segment "Lapsed iOS" and sessions > 1\n    {SEND}\n}}\n'
    (rule,) = lapse_dsl.compile(text).rules
    assert isinstance(rule.written, n.And)
    named, rest = rule.written.operands
    assert isinstance(named, n.Named) and named.name == "Lapsed iOS"
    assert (named.span.line, named.span.column) == (6, 13)
    inner = named.condition
    assert isinstance(inner, n.And) and isinstance(inner.operands[0], n.Named)
    assert inner.operands[0].name == "Lapsed - 2 weeks"
    assert rest == n.Compare(n.Path(("sessions",)), ">", n.Literal(1))


def test_a_rule_without_named_segments_has_one_condition() -> None:
    (rule,) = lapse_dsl.compile(f"segment last_used between 2w and 3w; {SEND}").rules
    assert rule.written is rule.segment


# Warnings about a campaign see its named segments, and point into its own file -------------------


def test_a_contradiction_with_a_named_segment_is_warned_at_the_reference() -> None:
    shared = "# " + "-" * 80 + '\nsegment "Lapsed" = last_used between 2w and 3w\n'  # later than the campaign's test
    campaign = f'segment sessions > 1 and "Lapsed" and last_used less than 1w ago; {SEND}\n'
    (warning,) = [d for d in _check(shared, campaign).diagnostics if "cannot both be true" in d.message]
    assert (warning.source, warning.line, warning.column) == ("rules/b.lapse", 1, _column(campaign, '"Lapsed"'))


def test_a_window_in_a_named_segment_gets_the_coverage_warning() -> None:
    shared = 'segment "Three days" = last_used between 2w and 17d\n'
    campaign = f'segment "Three days"; {SEND}\n'
    (warning,) = _check(shared, campaign).warnings
    assert (warning.source, warning.line, warning.column) == ("rules/b.lapse", 1, 1)
    assert warning.message.startswith("the window 'last_used between 2w and 17d' is 3d wide")


# explain ------------------------------------------------------------------------------------------

EXPLAINED = SHARED + f'campaign "C" {{\n    segment "Lapsed iOS" and sessions > 2 and not "Regulars"\n    {SEND}\n}}\n'


def test_explain_shows_a_named_segment_as_a_node_with_its_verdict() -> None:
    (rule,) = lapse_dsl.compile(EXPLAINED).rules
    values = {"last_used": dt.datetime(2026, 11, 12, tzinfo=UTC), "push_opted_in": True, "platform": "android",
              "sessions": 3, "country": None}
    traces = condition_traces(rule.written, values, Moment.of(NOW, UTC))
    lines = [line for t in traces for line in t.lines()]
    assert lines == [
        '    false   segment "Lapsed iOS"',
        '      true    segment "Lapsed - 2 weeks"',
        "        true    last_used between 2w and 3w  (last_used is 18d ago, needs 2w..3w)",
        "        true    push_opted_in  (push_opted_in is true)",
        '      false   platform = "ios"  (platform is "android", needs = "ios")',
        "    true    sessions > 2  (sessions is 3, needs > 2)",
        "    false   not",
        '      true    segment "Regulars"',
        "        true    or",
        "          true    sessions >= 3  (sessions is 3, needs >= 3)",
        '          unknown country in ["FR", "US"]  (country is not set)',
    ]
    # the reasons see through named segments: the predicates that decide, negated under `not`
    assert [t.text for t in reasons(traces, False)] == ['platform = "ios"', "not sessions >= 3"]


def test_lapse_explain_shows_the_named_segment() -> None:
    rules = lapse_dsl.compile(EXPLAINED)
    user = {"user_id": "u", "last_used": "2026-11-18T00:00:00Z", "push_opted_in": True, "platform": "ios", "sessions": 1,
            "country": "DE"}
    (trace,) = rules.explain(user, NOW)
    assert [c.kind for c in trace.conditions] == ["segment", "predicate", "not"]
    assert '    true    segment "Lapsed iOS"' in str(trace).splitlines()
    assert trace.reason.startswith("not in segment: sessions is 1, needs > 2")


# fmt ----------------------------------------------------------------------------------------------

UNFORMATTED = """\
# Segments shared by the ladder

segment   "Lapsed - 2 weeks"=last_used between 2w and 3w   # the window
# built on the one above
segment "Lapsed iOS" =  "Lapsed - 2 weeks"  and (platform="ios")
segment "Wide" = ("Lapsed iOS"  # iOS first
    or sessions > 3
    # then the regulars
    )


segment not "Lapsed - 2 weeks" or ("Wide" and push_opted_in); send push weekly thu 17:45 local
campaign "C" {
    segment "Regular": "Wide"
    send push weekly thu 17:45 local
}
"""
FORMATTED = """\
# Segments shared by the ladder

segment "Lapsed - 2 weeks" = last_used between 2w and 3w  # the window
# built on the one above
segment "Lapsed iOS" = "Lapsed - 2 weeks" and platform = "ios"
segment "Wide" = (
    "Lapsed iOS"  # iOS first
    or sessions > 3
# then the regulars
)

segment not "Lapsed - 2 weeks" or "Wide" and push_opted_in; send push weekly thu 17:45 local
campaign "C" {
    segment "Regular": "Wide"
    send push weekly thu 17:45 local
}
"""


def test_fmt_keeps_definitions_and_their_comments() -> None:
    assert format_file(lapse_dsl.parse(UNFORMATTED)) == FORMATTED


LEADING_COMMENT = f'segment "X" = (  # after the parenthesis\n  sessions > 1 or push_opted_in)\nsegment "X"; {SEND}\n'


@pytest.mark.parametrize("text", [UNFORMATTED, FORMATTED, SHARED, EXPLAINED, LEADING_COMMENT])
def test_fmt_round_trips_named_segments(text: str) -> None:
    once = format_file(lapse_dsl.parse(text))
    assert lapse_dsl.parse(once) == lapse_dsl.parse(text)
    assert format_file(lapse_dsl.parse(once)) == once
    assert [r.segment for r in lapse_dsl.compile(once).rules] == [r.segment for r in lapse_dsl.compile(text).rules]
