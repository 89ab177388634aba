"""explain traces the exact tree evaluation evaluates (``not``, nested ``and``/``or``, three-valued
logic), its verdict is evaluate's, and the reasons it gives are the predicates that decide it: a
property over generated rules and users, and the cases of issue 11 written out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.explain import ConditionTrace, RuleTrace

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
Truth = bool | None

# Every kind of predicate, over several attributes of every type.
PREDICATES = [
    "last_used between 2d and 9d", "last_used more than 3d ago", "last_used less than 36h ago",
    "first_used more than 20d ago", "first_used before 2026-11-01", "first_used after 2026-10-20T12:00:00Z",
    "sessions > 3", "sessions <= 10", "sessions = 5", 'platform = "ios"', 'platform != "android"',
    'country in ["FR", "US"]', 'country not in ["DE"]', "push_opted_in", "push_opted_in = false",
    "email_subscribed = true", "country is set", "language is not set", "sessions is set",
]
SCHEDULES = [
    "daily 09:00 utc", "weekly mon, thu 17:45 local", 'daily 12:00 "Europe/Paris"', 'cron "0 */6 * * *" utc',
    "every 2 weeks tue 10:30 local\n from 2026-11-02", "monthly 15 08:15 utc",
]
CONTROLS = ["", "cap 1 per 3d", "reeligible after 5d", "quiet hours 22:00 to 10:00 drop", "quiet hours 08:00 to 13:00"]
ZONES = ["America/New_York", "Europe/Paris", "Asia/Kathmandu", "Australia/Lord_Howe", "UTC", "not/a zone"]


def conditions(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(PREDICATES)
    if depth == 0:
        return leaf
    inner = conditions(depth - 1)
    return st.one_of(
        leaf,
        inner.map(lambda c: f"not ({c})"),
        st.lists(inner, min_size=2, max_size=4).map(lambda cs: " and ".join(f"({c})" for c in cs)),
        st.lists(inner, min_size=2, max_size=4).map(lambda cs: " or ".join(f"({c})" for c in cs)),
    )


def rule(index: int) -> st.SearchStrategy[str]:
    return st.tuples(conditions(3), st.sampled_from(SCHEDULES), st.sampled_from(CONTROLS)).map(
        lambda parts: f'campaign "c{index}" {{\n segment {parts[0]}\n send push {parts[1]}\n {parts[2]}\n}}\n'
    )


rule_sets = st.integers(1, 3).flatmap(lambda k: st.tuples(*(rule(i) for i in range(k)))).map("".join)


def _ago(hours: int) -> str:
    return (NOW - dt.timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(None), values)


users = st.fixed_dictionaries({
    # times never after `now`: no clock-skew clamping is involved
    "last_used": _maybe(st.integers(0, 24 * 40).map(_ago)),
    "first_used": _maybe(st.integers(0, 24 * 60).map(_ago)),
    "sessions": _maybe(st.one_of(st.integers(0, 12), st.floats(0, 12, allow_nan=False))),
    "platform": _maybe(st.sampled_from(["ios", "android", "web"])),
    "country": _maybe(st.sampled_from(["FR", "US", "DE", ""])),
    "push_opted_in": _maybe(st.booleans()),
    "email_subscribed": _maybe(st.booleans()),
    "language": _maybe(st.sampled_from(["en", "fr"])),
    "timezone": _maybe(st.sampled_from(ZONES)),
}).map(lambda u: {"user_id": "u1", **{k: v for k, v in u.items() if v is not None}})

histories = st.lists(
    st.fixed_dictionaries({"campaign": st.sampled_from(["c0", "c1", "other"]), "channel": st.just("push"),
                           "at": st.integers(1, 24 * 10).map(_ago)}),
    max_size=2,
)


def kleene(cond: n.Condition, leaf: dict[int, Truth]) -> Truth:
    """An independent three-valued evaluator over given leaf values (None for any leaf not given)."""
    if isinstance(cond, n.Not):
        v = kleene(cond.operand, leaf)
        return None if v is None else not v
    if isinstance(cond, (n.And, n.Or)):
        values = [kleene(op, leaf) for op in cond.operands]
        stop = isinstance(cond, n.Or)
        if stop in values:
            return stop
        return None if None in values else not stop
    return leaf.get(id(cond))


def leaves(trace: ConditionTrace) -> list[ConditionTrace]:
    if trace.kind == "predicate":
        return [trace]
    return [leaf for c in trace.children for leaf in leaves(c)]


def assert_reasons_decide(segment: n.Condition, t: RuleTrace) -> None:
    every = {id(leaf.node): leaf.value for c in t.conditions for leaf in leaves(c)}
    assert len(every) == len(n.predicates(segment))  # the whole tree is traced, each leaf once
    assert kleene(segment, every) is t.in_segment  # the traced values are evaluation's
    literals = t.reasons
    assert literals, "a verdict always has a reason"
    kept: dict[int, Truth] = {}
    for literal in literals:
        assert literal.value is t.in_segment  # each reason has the verdict's value
        predicate = literal.children[0] if literal.kind == "not" else literal
        assert predicate.kind == "predicate"
        assert literal.value is (predicate.value if literal.kind == "predicate" else
                                 None if predicate.value is None else not predicate.value)
        kept[id(predicate.node)] = predicate.value
    if t.in_segment is not None:
        # the reasons alone decide: every other predicate unknown, the segment has the same value
        assert kleene(segment, kept) is t.in_segment


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets, users, histories, st.integers(0, 24 * 14))
def test_explain_agrees_with_evaluate_and_its_reasons_decide(
    text: str, user: dict[str, Any], history: list[dict[str, str]], hours: int
) -> None:
    rs = lapse_dsl.compile(text)
    now = NOW + dt.timedelta(hours=hours)
    explanation = rs.explain(user, now, history=history)
    for ruleset in (rs, rs.reference()):
        decisions = {d.campaign: d for d in ruleset.evaluate(user, now, history=history)}
        for checked, t in zip(rs.rules, explanation.rules, strict=True):
            decision = decisions.get(checked.name)
            assert t.decision == (None if decision is None else attrs.evolve(decision, warnings=()))
            if t.occurrence is not None:
                assert ruleset.in_segment(user, t.occurrence)[checked.name] is t.in_segment
    for checked, t in zip(rs.rules, explanation.rules, strict=True):
        assert t.occurrence is not None  # every generated schedule has a next occurrence
        assert_reasons_decide(checked.segment, t)
        if t.in_segment is not True:  # the one-line reason lists exactly the deciding predicates
            listed = "; ".join(r.detail for r in t.reasons)
            assert f"not in segment{' yet' if t.decision else ''}: {listed}; " in t.reason


# ---------------------------------------------------------------------------------------------
# the cases of issue 11, written out

USER = {"user_id": "u", "last_used": "2026-11-01T00:00:00Z", "push_opted_in": True, "platform": "ios",
        "country": "FR"}


def explain(segment: str) -> RuleTrace:
    rs = lapse_dsl.compile(f"segment {segment}; send push daily 09:00 utc")
    (t,) = rs.explain(USER, NOW).rules
    return t


def test_and_not_names_the_negated_condition() -> None:
    t = explain("last_used more than 1w ago and not push_opted_in")
    assert t.in_segment is False
    assert t.reason == ("not in segment: push_opted_in is true; "
                        "no later occurrence can be in the segment without new activity")
    assert str(t).splitlines()[2:] == [
        "    true    last_used more than 1w ago  (last_used is 23d 9h ago, needs more than 1w)",
        "    false   not push_opted_in  (push_opted_in is true)",
    ]


def test_not_of_or_names_the_true_operand_negated() -> None:
    t = explain('not (platform = "android" or country = "FR")')
    assert t.in_segment is False
    assert [(r.text, r.value, r.detail) for r in t.reasons] == [
        ('not country = "FR"', False, 'country is "FR", needs != "FR"')]
    assert str(t).splitlines()[2:] == [
        "    false   not",
        "      true    or",
        '        false   platform = "android"  (platform is "ios", needs = "android")',
        '        true    country = "FR"  (country is "FR", needs = "FR")',
    ]


def test_true_or_gives_only_its_true_operands() -> None:
    t = explain('platform = "android" or country = "FR"')
    assert t.in_segment is True
    assert [r.text for r in t.reasons] == ['country = "FR"']
    assert t.reason == "sends 2026-11-24T09:00:00+00:00 (2026-11-24T09:00:00Z)"


def test_unknown_gives_the_unknown_predicates() -> None:
    t = explain('not (not push_opted_in or (sessions > 3 and country in ["FR"]))')
    assert t.in_segment is None
    assert [(r.text, r.value, r.detail) for r in t.reasons] == [("not sessions > 3", None, "sessions is not set")]
    assert t.reason.startswith("not in segment: sessions is not set; ")


def test_negated_details_say_what_the_negation_needs() -> None:
    user = {**USER, "sessions": 5, "first_used": "2026-10-01T00:00:00Z"}
    rs = lapse_dsl.compile(
        "segment not (last_used between 2d and 30d or last_used more than 3d ago or last_used less than 40d ago "
        'or first_used before 2026-11-01 or first_used after 2026-09-01 or sessions >= 5 or country in ["FR"] '
        'or platform not in ["web"]); send push daily 09:00 utc'
    )
    (t,) = rs.explain(user, NOW).rules
    assert [r.detail for r in t.reasons] == [
        "last_used is 23d 9h ago, needs outside 2d..30d",
        "last_used is 23d 9h ago, needs at most 3d",
        "last_used is 23d 9h ago, needs at least 40d",
        "first_used is 2026-10-01T00:00:00Z, needs at or after 2026-11-01T00:00:00Z",
        "first_used is 2026-10-01T00:00:00Z, needs at or before 2026-09-01T00:00:00Z",
        "sessions is 5, needs < 5",
        'country is "FR", needs not in ["FR"]',
        'platform is "ios", needs in ["web"]',
    ]
