"""The plan (``RuleSet.plan``): what every back end reads about a rule set, decided once and equal
for equal rules; the SQL targets take it as well as a rule set."""

from __future__ import annotations

import datetime as dt

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.plan import Guard, Read, depends_on_time, needs_moment
from lapse_dsl.sql import candidates_sql, next_occurrence_sql, segment_sql

RULES = '''
default timezone "Europe/Paris"
campaign "ladder" {
    segment last_used between 2w and 3w and platform in ["ios", "web"] and push_opted_in and sessions >= 3
    send push weekly thu 17:45 local
}
campaign "either" {
    segment platform = "android" or first_used before 2026-11-01
    send email daily 09:00 utc
}
campaign "fixed" {
    segment platform = "ios" and platform in ["ios", "android"] and last_used more than 30d ago
    send sms daily 12:00 "Asia/Tokyo"
}
'''
AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_equal_rules_give_an_equal_plan() -> None:
    assert lapse_dsl.compile(RULES).plan == lapse_dsl.compile(RULES).plan
    assert lapse_dsl.compile(RULES).plan != lapse_dsl.compile(RULES, default_timezone="Asia/Tokyo").plan


def test_reads_have_slots_types_laziness_and_clamping() -> None:
    plan = lapse_dsl.compile(RULES).plan
    assert plan.reads == (
        Read("first_used", "time", 0, True, True),  # only `before <date>` reads it: a date needs the occurrence
        Read("last_used", "time", 1, True, True),  # only windows read it: lazily
        Read("platform", "string", 2, False, False),
        Read("push_opted_in", "boolean", 3, False, False),
        Read("sessions", "number", 4, False, False),
    )
    assert plan.slots == {r.path: r.slot for r in plan.reads}
    assert {r.path for r in plan.reads if r.clamped} == {"first_used", "last_used"}


def test_each_campaign_has_its_split_guards_window_and_zone_group() -> None:
    ladder, either, fixed = lapse_dsl.compile(RULES).plan.campaigns
    assert ladder.guards == (Guard(2, frozenset({"ios", "web"})), Guard(3, frozenset({True})))  # not sessions >= 3
    assert ladder.window is not None and ladder.window[0] == 1 and isinstance(ladder.window[1], n.Between)
    assert ladder.split is not None and len(ladder.split[0]) == 1 and ladder.split[1] is not None
    assert ladder.zone == ("local", None, "Europe/Paris") and ladder.timed
    assert either.guards == () and either.window is None and either.split is None and either.timed  # an `or`
    assert either.zone == ("utc", None, None)
    assert fixed.guards == (Guard(2, frozenset({"ios"})),)  # both tests on platform: their intersection
    assert fixed.zone == ("named", "Asia/Tokyo", None)


def test_what_depends_on_the_occurrence_is_answered_in_one_place() -> None:
    ladder, either, _ = lapse_dsl.compile(RULES).plan.campaigns
    leaves = n.predicates(ladder.rule.segment)
    assert [needs_moment(p) for p in leaves] == [True, False, False, False]
    assert depends_on_time(either.rule.segment)  # `before a date` is local midnight in the delivery zone
    assert not depends_on_time(lapse_dsl.compile('segment platform = "ios"; send push daily 09:00 utc').rules[0].segment)


def test_the_sql_targets_read_the_plan() -> None:
    rules = lapse_dsl.compile(RULES)
    for rule in ("ladder", "fixed"):
        assert (segment_sql(rules.plan, dialect="duckdb", at=AT, rule=rule)
                == segment_sql(rules, dialect="duckdb", at=AT, rule=rule))
        assert (next_occurrence_sql(rules.plan, dialect="postgres", at=AT, rule=rule)
                == next_occurrence_sql(rules, dialect="postgres", at=AT, rule=rule))
    assert candidates_sql(rules.plan, dialect="spark") == candidates_sql(rules, dialect="spark")


def test_the_index_keeps_a_bounded_number_of_window_tables() -> None:
    # a host ticking with a new `now` over many zones must not keep every instant's tables
    from lapse_dsl.portfolio import Portfolio

    plan = lapse_dsl.compile(RULES).plan
    portfolio = Portfolio(plan)
    built: list[int] = []

    def build(i: int) -> int:
        built.append(i)
        return i

    for i in range(50_000):
        assert portfolio.stabs(("tick", i), lambda i=i: build(i)) == i  # type: ignore[misc]
    assert portfolio.stabs(("tick", 49_999), lambda: build(-1)) == 49_999  # the latest are kept: no rebuild
    assert built[-1] == 49_999
    assert 0 < portfolio.kept <= 1_000_000 // len(plan.campaigns)  # bounded by campaigns placed
