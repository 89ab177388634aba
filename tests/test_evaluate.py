"""The meaning of a decision: three-valued segments, the search for the earliest qualifying
occurrence (now, since, grace, from/until, horizon), the tick pattern, and the Decision's fields.

Tests that compare whole outcomes run through both the compiled rule set and its reference
(AST-walking) copy, which must agree."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from typing import Any

import pytest

import lapse_dsl
from lapse_dsl import Decision, RuleSet
from lapse_dsl.schedule import occurrences
from lapse_dsl.zones import get_zone

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
NY = get_zone("America/New_York")
assert NY is not None


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def both(text: str, **options: Any) -> list[RuleSet]:
    rules = lapse_dsl.compile(text, **options)
    return [rules, rules.reference()]


PATHS = pytest.mark.parametrize("path", ["compiled", "reference"])


def pick(text: str, path: str, **options: Any) -> RuleSet:
    rules = lapse_dsl.compile(text, **options)
    return rules if path == "compiled" else rules.reference()


# -- three-valued logic --------------------------------------------------------------------------

THREE_VALUED = [
    # (segment, user attributes, expected truth: True, False or None for unknown)
    ("sessions > 3", {}, None),
    ("sessions > 3", {"sessions": None}, None),
    ("sessions > 3", {"sessions": 5}, True),
    ("sessions > 3", {"sessions": 3}, False),
    ("not sessions > 3", {}, None),
    ("not sessions > 3", {"sessions": 3}, True),
    ("not not sessions > 3", {}, None),
    ("sessions = 0", {}, None),
    ('platform != "ios"', {}, None),
    ('platform != "ios"', {"platform": "android"}, True),
    ('platform in ["ios", "web"]', {}, None),
    ('platform not in ["ios", "web"]', {}, None),
    ('platform not in ["ios", "web"]', {"platform": "android"}, True),
    ("push_opted_in", {}, None),
    ("push_opted_in", {"push_opted_in": False}, False),
    ("not push_opted_in", {}, None),
    ("not push_opted_in", {"push_opted_in": False}, True),
    ("last_used more than 2w ago", {}, None),
    ("last_used less than 2w ago", {"last_used": None}, None),
    ("last_used between 2w and 3w", {}, None),
    ("not last_used between 2w and 3w", {}, None),
    ("first_used before 2026-01-01", {}, None),
    ("first_used after 2026-01-01T00:00:00Z", {}, None),
    # is set / is not set are never unknown
    ("sessions is set", {}, False),
    ("sessions is set", {"sessions": None}, False),
    ("sessions is set", {"sessions": 0}, True),
    ("sessions is not set", {}, True),
    ("sessions is not set", {"sessions": None}, True),
    ("sessions is not set", {"sessions": 0}, False),
    ("not sessions is set", {}, True),
    ("custom.tier is set", {"custom": None}, False),
    ("custom.tier is not set", {"custom": {}}, True),
    # or: true wins over unknown; unknown beats false
    ("sessions > 3 or push_opted_in", {"push_opted_in": True}, True),
    ("sessions > 3 or push_opted_in", {"push_opted_in": False}, None),
    ("sessions > 3 or push_opted_in", {}, None),
    ("sessions > 3 or push_opted_in", {"sessions": 1, "push_opted_in": False}, False),
    ("push_opted_in or sessions > 3", {"push_opted_in": True}, True),
    # and: false wins over unknown; unknown beats true
    ("sessions > 3 and push_opted_in", {"push_opted_in": False}, False),
    ("sessions > 3 and push_opted_in", {"push_opted_in": True}, None),
    ("push_opted_in and sessions > 3", {"push_opted_in": False}, False),
    ("sessions > 3 and push_opted_in", {"sessions": 4, "push_opted_in": True}, True),
    ("not (sessions > 3 and push_opted_in)", {"push_opted_in": False}, True),
    ("not (sessions > 3 or push_opted_in)", {"push_opted_in": False}, None),
    ("(sessions > 3 or sessions is not set) and push_opted_in", {"push_opted_in": True}, True),
    ("sessions > 3 or push_opted_in and country = \"US\"", {"sessions": 5}, True),
    # comparisons
    ("sessions in [1, 2]", {"sessions": 2.0}, True),
    ("sessions = 1", {"sessions": 1.0}, True),
    ("sessions >= 2.5", {"sessions": 2.5}, True),
    ("sessions < -1", {"sessions": -1}, False),
    ('country = "US"', {"country": "us"}, False),
    ('country in ["US"]', {"country": "US"}, True),
    ("push_opted_in = true", {"push_opted_in": True}, True),
    ("push_opted_in = false", {"push_opted_in": True}, False),
    ("push_opted_in != true", {"push_opted_in": False}, True),
]

NOW = at("2026-12-03T22:45:00Z")


@PATHS
@pytest.mark.parametrize(("segment", "attrs", "expected"), THREE_VALUED,
                         ids=[f"{s} | {a}" for s, a, _ in THREE_VALUED])
def test_three_valued_logic(segment: str, attrs: dict[str, Any], expected: bool | None, path: str) -> None:
    rules = pick(f"attribute custom.tier: string\nsegment {segment}; send push daily 09:00 utc", path)
    user = {"user_id": "u", **attrs}
    assert rules.in_segment(user, NOW) == {"<string>:2": expected}
    # only a true segment yields a decision; for one that does not depend on time, never
    decisions = rules.evaluate(user, NOW)
    if expected is True:
        assert [d.send_at for d in decisions] == [at("2026-12-04T09:00:00Z")]
    elif "last_used" not in segment and "first_used" not in segment:
        assert decisions == ()


# -- since, grace and catch-up ---------------------------------------------------------------------

DAILY = "segment user_id is set; send push daily 09:00 utc"
USER = {"user_id": "u", "timezone": "UTC"}
NINE = at("2026-12-03T09:00:00Z")


@PATHS
def test_without_since_the_occurrence_at_now_counts_and_earlier_ones_do_not(path: str) -> None:
    rules = pick(DAILY, path)
    (d,) = rules.evaluate(USER, NINE)
    assert (d.send_at, d.due) == (NINE, True)
    (d,) = rules.evaluate(USER, NINE + dt.timedelta(microseconds=1))
    assert (d.send_at, d.due) == (NINE + dt.timedelta(days=1), False)


@PATHS
@pytest.mark.parametrize(
    ("since", "now", "expected", "due"),
    [
        # T > since: an occurrence exactly at since was the previous tick's
        pytest.param("2026-12-03T09:00:00Z", "2026-12-03T09:15:00Z", "2026-12-04T09:00:00Z", False, id="at-since"),
        pytest.param("2026-12-03T08:59:59Z", "2026-12-03T09:15:00Z", "2026-12-03T09:00:00Z", True, id="after-since"),
        # catch-up after an outage: T < now by at most the grace (1h) is still reported
        pytest.param("2026-12-02T12:00:00Z", "2026-12-03T09:30:00Z", "2026-12-03T09:00:00Z", True, id="30min-late"),
        pytest.param("2026-12-02T12:00:00Z", "2026-12-03T10:00:00Z", "2026-12-03T09:00:00Z", True, id="grace-exactly"),
        # older than the grace: skipped, never sent late
        pytest.param("2026-12-02T12:00:00Z", "2026-12-03T10:00:01Z", "2026-12-04T09:00:00Z", False, id="too-late"),
        # since later than now - grace, but T still > since
        pytest.param("2026-12-03T08:00:00Z", "2026-12-03T08:30:00Z", "2026-12-03T09:00:00Z", False, id="future"),
    ],
)
def test_since_and_grace(since: str, now: str, expected: str, due: bool, path: str) -> None:
    (d,) = pick(DAILY, path).evaluate(USER, at(now), since=at(since))
    assert (d.send_at, d.due) == (at(expected), due)


@PATHS
def test_custom_grace(path: str) -> None:
    rules = pick(DAILY + "; grace 2h", path)
    since = at("2026-12-02T12:00:00Z")
    assert rules.evaluate(USER, at("2026-12-03T11:00:00Z"), since=since)[0].send_at == NINE
    assert rules.evaluate(USER, at("2026-12-03T11:00:01Z"), since=since)[0].send_at == NINE + dt.timedelta(days=1)
    rules = pick(DAILY + "; grace 30m", path)
    assert rules.evaluate(USER, at("2026-12-03T09:30:00Z"), since=since)[0].send_at == NINE
    assert rules.evaluate(USER, at("2026-12-03T09:31:00Z"), since=since)[0].send_at == NINE + dt.timedelta(days=1)


@PATHS
def test_grace_in_days_is_a_calendar_day_in_the_delivery_zone(path: str) -> None:
    # now = Sun 2026-11-01 12:00 EST = 17:00Z. `grace 1d` reaches back to Sat 10-31 12:00 EDT = 16:00Z,
    # 25 hours. The Saturday 12:30 EDT send (16:30Z) is 24.5 hours late: still within the grace.
    rules = pick("segment user_id is set; send push daily 12:30 local; grace 1d", path)
    user = {"user_id": "u", "timezone": "America/New_York"}
    now = at("2026-11-01T17:00:00Z")
    (d,) = rules.evaluate(user, now, since=at("2026-10-30T00:00:00Z"))
    assert (d.send_at, d.due) == (at("2026-10-31T16:30:00Z"), True)
    # with 24 exact hours it would be skipped
    rules = pick("segment user_id is set; send push daily 12:30 local; grace 24h", path)
    (d,) = rules.evaluate(user, now, since=at("2026-10-30T00:00:00Z"))
    assert (d.send_at, d.due) == (at("2026-11-01T17:30:00Z"), False)


def _tick_reports(rules: RuleSet, user: dict[str, Any], start: dt.datetime, end: dt.datetime,
                  step: dt.timedelta) -> list[Decision]:
    """Run the host's tick pattern: every `step`, evaluate with since = the previous tick's now, and
    collect the due decisions (the ones a host sends at that tick)."""
    reported = []
    since = start
    now = start + step
    while now <= end:
        reported.extend(d for d in rules.evaluate(user, now, since=since) if d.due)
        since, now = now, now + step
    return reported


TICKED = (
    'campaign "daily" { segment user_id is set\n send push daily 17:45 local }\n'
    'campaign "night" { segment user_id is set\n send push cron "*/30 1-2 * * *" local }\n'
    'campaign "sunday" { segment user_id is set\n send email weekly sun 01:30 local }\n'
)


@PATHS
@pytest.mark.parametrize(
    ("start", "offset"),
    [
        pytest.param("2026-10-28T00:00:00Z", dt.timedelta(0), id="fall-week-aligned"),
        pytest.param("2026-10-28T00:07:00Z", dt.timedelta(0), id="fall-week-offset"),
        pytest.param("2026-03-04T00:00:00Z", dt.timedelta(0), id="spring-week-aligned"),
        pytest.param("2026-03-04T00:00:00Z", dt.timedelta(minutes=3, seconds=30), id="spring-week-offset"),
    ],
)
def test_tick_pattern_reports_each_occurrence_exactly_once(start: str, offset: dt.timedelta, path: str) -> None:
    rules = pick(TICKED, path)
    user = {"user_id": "u", "timezone": "America/New_York"}
    t0 = at(start) + offset
    end = t0 + dt.timedelta(weeks=1)
    reported = _tick_reports(rules, user, t0, end, dt.timedelta(minutes=15))
    keys = [(d.campaign, d.send_at) for d in reported]
    assert len(keys) == len(set(keys)), "an occurrence was reported by two ticks"
    assert len({d.idempotency_key for d in reported}) == len(reported)
    expected = set()
    for rule in rules.rules:
        for occ in itertools.takewhile(lambda o: o.at <= end, occurrences(rule.schedule, NY, t0, rule.from_date)):
            if occ.at > t0:
                expected.add((rule.name, occ.at))
    assert set(keys) == expected
    # by hand: any 7-day span holds 7 dailies and 1 Sunday
    by_campaign = {name: sum(1 for c, _ in keys if c == name) for name in ("daily", "night", "sunday")}
    assert by_campaign["daily"] == 7
    assert by_campaign["sunday"] == 1
    # 01:00..02:30 every 30 min is 4 nominal times a night; the fold night fires each once (4), and
    # the gap night 01:00, 01:30, 02:00->03:00, 02:30->03:30: still 4 distinct instants
    assert by_campaign["night"] == 7 * 4


@PATHS
def test_tick_pattern_on_the_fold_night(path: str) -> None:
    rules = pick(TICKED, path)
    user = {"user_id": "u", "timezone": "America/New_York"}
    reported = _tick_reports(rules, user, at("2026-11-01T04:00:00Z"), at("2026-11-01T09:00:00Z"), 15 * MINUTE)
    assert [(d.campaign, d.send_at) for d in reported] == [
        ("night", at("2026-11-01T05:00:00Z")),  # 01:00 EDT
        ("night", at("2026-11-01T05:30:00Z")),  # 01:30 EDT (the weekly 01:30 too, a separate campaign)
        ("sunday", at("2026-11-01T05:30:00Z")),
        ("night", at("2026-11-01T07:00:00Z")),  # 02:00 EST; 01:00/01:30 EST never fire
        ("night", at("2026-11-01T07:30:00Z")),
    ]


@PATHS
def test_ticks_after_an_outage_report_only_what_is_within_grace(path: str) -> None:
    rules = pick(TICKED, path)
    user = {"user_id": "u", "timezone": "America/New_York"}
    # the host was down from 11-04 00:00Z to 11-05 23:00Z; the first tick back has since = 11-04 00:00Z.
    # 11-05 17:45 EST = 22:45Z is 15 min old: reported. 11-04 17:45 EST and the nights are too old.
    decisions = rules.evaluate(user, at("2026-11-05T23:00:00Z"), since=at("2026-11-04T00:00:00Z"))
    due = [(d.campaign, d.send_at) for d in decisions if d.due]
    assert due == [("daily", at("2026-11-05T22:45:00Z"))]
    assert [(d.campaign, d.send_at) for d in decisions if not d.due] == [
        ("night", at("2026-11-06T06:00:00Z")),  # Fri 11-06 01:00 EST
        ("sunday", at("2026-11-08T06:30:00Z")),
    ]


# -- from, until, once, horizon ---------------------------------------------------------------------


@PATHS
def test_from_date_is_local_midnight_of_the_delivery_zone(path: str) -> None:
    rules = pick("segment user_id is set; send push daily 00:30 local; from 2026-12-10", path)
    user = {"user_id": "u", "timezone": "Asia/Tokyo"}
    # 12-10 00:30 +9 = 12-09T15:30Z is the first; the 12-09 00:30 (12-08T15:30Z) is before `from`
    assert [d.send_at for d in rules.evaluate(user, at("2026-12-01T00:00:00Z"))] == [at("2026-12-09T15:30:00Z")]


@PATHS
def test_every_n_weeks_anchor_before_from(path: str) -> None:
    # from Sun 2026-01-11: the week of Mon 01-05 is week 0; Mon 01-05 itself is before `from`.
    rules = pick("segment user_id is set; send push every 2 weeks mon,sun 09:00 utc; from 2026-01-11", path)
    now = at("2026-01-01T00:00:00Z")
    assert [d.send_at for d in rules.evaluate(USER, now)] == [at("2026-01-11T09:00:00Z")]
    after = at("2026-01-11T09:00:01Z")
    assert [d.send_at for d in rules.evaluate(USER, after)] == [at("2026-01-19T09:00:00Z")]  # not Mon 01-12


@PATHS
def test_until_is_inclusive_of_its_local_date(path: str) -> None:
    rules = pick("segment last_used between 2w and 3w; send push weekly thu 17:45 local; until 2026-12-10", path)
    user = {"user_id": "u", "timezone": "America/New_York"}
    # enters on 12-10 (last_used 11-26 12:00Z lies in (11-19 22:45Z, 11-26 22:45Z]): the last day
    assert [d.send_at for d in rules.evaluate({**user, "last_used": "2026-11-26T12:00:00Z"}, at("2026-12-01T00:00:00Z"))] \
        == [at("2026-12-10T22:45:00Z")]
    # would enter on 12-17: after the campaign ended
    assert rules.evaluate({**user, "last_used": "2026-12-02T12:00:00Z"}, at("2026-12-03T00:00:00Z")) == ()


@PATHS
def test_once(path: str) -> None:
    rules = pick("segment last_used more than 1w ago; send push once 2026-12-24 18:00 local", path)
    user = {"user_id": "u", "timezone": "America/New_York", "last_used": "2026-12-01T00:00:00Z"}
    (d,) = rules.evaluate(user, at("2026-12-20T00:00:00Z"))
    assert d.send_at == at("2026-12-24T23:00:00Z")
    assert rules.evaluate(user, at("2026-12-24T23:00:01Z")) == ()  # past: nothing more
    # not in the segment at its one occurrence: no decision at all
    assert rules.evaluate({**user, "last_used": "2026-12-20T00:00:00Z"}, at("2026-12-20T01:00:00Z")) == ()


@PATHS
@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # last_used 2026-01-01T00:00Z, now 01-11. `more than Nd ago` is true once T(-Nd) > last_used,
        # i.e. from the first 09:00Z after 01-01 + N days.
        (300, "2026-10-28T09:00:00Z"),  # 01-01 + 300d = 10-28
        (399, "2027-02-04T09:00:00Z"),  # + 399d = 2027-02-04, within 400 days of now
        (600, None),  # 2027-08-24: beyond the search horizon
    ],
)
def test_search_horizon(days: int, expected: str | None, path: str) -> None:
    rules = pick(f"segment last_used more than {days}d ago; send push daily 09:00 utc", path)
    user = {"user_id": "u", "last_used": "2026-01-01T00:00:00Z"}
    decisions = rules.evaluate(user, at("2026-01-11T00:00:00Z"))
    assert [d.send_at for d in decisions] == ([at(expected)] if expected else [])


@PATHS
def test_user_who_can_never_enter_again_has_no_decision(path: str) -> None:
    rules = pick("segment last_used less than 1w ago; send push weekly thu 17:45 local", path)
    user = {"user_id": "u", "timezone": "America/New_York", "last_used": "2026-01-01T00:00:00Z"}
    assert rules.evaluate(user, at("2026-12-01T00:00:00Z")) == ()


@PATHS
def test_entering_after_a_long_wait_is_found_exactly(path: str) -> None:
    # between 30d and 37d with a weekly Wednesday 09:00 London send. last_used Mon 2026-06-01 10:00Z.
    # T(-30d) >= last_used from Wed 07-01 09:00 BST (08:00Z): T(-30d) = 06-01 09:00 BST = 08:00Z is
    # before 10:00Z: not yet. Wed 07-08 08:00Z: T(-30d) = 06-08 08:00Z >= 10:00Z on 06-01, and
    # T(-37d) = 06-01 08:00Z < 06-01 10:00Z: in.
    rules = pick("segment last_used between 30d and 37d; send email weekly wed 09:00 local", path)
    user = {"user_id": "u", "timezone": "Europe/London", "last_used": "2026-06-01T10:00:00Z"}
    assert [d.send_at for d in rules.evaluate(user, at("2026-06-02T00:00:00Z"))] == [at("2026-07-08T08:00:00Z")]


# -- decisions: order and fields ---------------------------------------------------------------------

ORDERED = (
    'campaign "b" { segment user_id is set\n send push daily 09:00 utc }\n'
    'campaign "a" { segment user_id is set\n send email daily 09:00 utc }\n'
    'campaign "c" { segment user_id is set\n send sms daily 08:00 utc }\n'
    'campaign "d" { segment sessions > 3\n send push daily 07:00 utc }\n'
)


@PATHS
def test_decisions_are_ordered_by_send_at_then_campaign(path: str) -> None:
    decisions = pick(ORDERED, path).evaluate(USER, at("2026-12-03T00:00:00Z"))
    assert [(d.campaign, d.channel, d.send_at) for d in decisions] == [
        ("c", "sms", at("2026-12-03T08:00:00Z")),
        ("a", "email", at("2026-12-03T09:00:00Z")),
        ("b", "push", at("2026-12-03T09:00:00Z")),
    ]  # at most one per rule; "d" has no decision (sessions unknown)


@PATHS
def test_decision_fields(path: str) -> None:
    rules = pick('default timezone "America/New_York"\nattribute first_name: string\n'
                 'campaign "Lapsed" {\n segment last_used between 2w and 3w\n send push weekly thu 17:45 local\n'
                 ' message title "Hi {{ first_name | default: \'there\' }}" body "At {{ local_send_at }}"\n}',
                 path)
    user = {"user_id": 42, "timezone": "America/Chicago", "last_used": "2026-11-19T12:00:00Z", "first_name": "Ada"}
    (d,) = rules.evaluate(user, at("2026-12-01T00:00:00Z"))
    assert d.campaign == "Lapsed"
    assert d.channel == "push"
    assert d.user_id == "42"
    assert d.send_at == at("2026-12-03T23:45:00Z")  # 17:45 CST (-6)
    assert d.send_at.tzinfo is UTC
    assert d.local_send_at.tzinfo == get_zone("America/Chicago")
    assert d.local_send_at.isoformat() == "2026-12-03T17:45:00-06:00"
    assert d.timezone == "America/Chicago"
    assert d.due is False
    assert d.held_out is False
    assert d.variant is None
    assert dict(d.message) == {"title": "Hi Ada", "body": "At 2026-12-03T17:45:00-06:00"}
    assert d.warnings == ()
    assert len(d.idempotency_key) == 32
    with pytest.raises(AttributeError):
        d.due = True  # type: ignore[misc]  # frozen


@PATHS
def test_message_is_empty_without_a_message_clause(path: str) -> None:
    (d,) = pick(DAILY, path).evaluate(USER, NINE)
    assert dict(d.message) == {}


def _expected_key(campaign: str, user_id: str, wall: str) -> str:
    # docs/hosts.md: the compact ASCII JSON array [campaign, user_id, wall time]
    preimage = json.dumps([campaign, user_id, wall], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(preimage.encode("ascii")).hexdigest()[:32]


@PATHS
def test_idempotency_key_is_stable_whatever_now_is(path: str) -> None:
    rules = pick("segment last_used between 2w and 3w; send push weekly thu 17:45 local", path)
    user = {"user_id": "u", "timezone": "America/New_York", "last_used": "2026-11-15T00:00:00Z"}
    t = at("2026-12-03T22:45:00Z")
    calls = [
        rules.evaluate(user, at("2026-11-15T00:00:01Z")),  # planner, 19 days ahead
        rules.evaluate(user, t - dt.timedelta(hours=1)),
        rules.evaluate(user, t),  # due now
        rules.evaluate(user, t + 30 * MINUTE, since=t - MINUTE),  # catch-up within grace
    ]
    keys = {d.idempotency_key for (d,) in calls}
    assert {d.send_at for (d,) in calls} == {t}
    assert keys == {_expected_key("<string>:1", "u", "2026-12-03T17:45")}


@PATHS
def test_idempotency_key_is_the_same_whatever_the_users_zone(path: str) -> None:
    rules = pick("segment user_id is set; send push weekly thu 17:45 local", path)
    now = at("2026-12-01T00:00:00Z")
    (a,) = rules.evaluate({"user_id": "u", "timezone": "America/New_York"}, now)
    (b,) = rules.evaluate({"user_id": "u", "timezone": "Asia/Tokyo"}, now)
    assert a.send_at != b.send_at
    assert a.idempotency_key == b.idempotency_key == _expected_key("<string>:1", "u", "2026-12-03T17:45")


@PATHS
def test_idempotency_key_differs_by_campaign_user_and_occurrence(path: str) -> None:
    rules = pick('campaign "x" { segment user_id is set\n send push daily 09:00 utc }\n'
                 'campaign "y" { segment user_id is set\n send push daily 09:00 utc }', path)
    now = at("2026-12-03T00:00:00Z")
    x1, y1 = rules.evaluate({"user_id": "1"}, now)
    x2, _ = rules.evaluate({"user_id": "2"}, now)
    x1_next, _ = rules.evaluate({"user_id": "1"}, now + dt.timedelta(days=1))
    assert len({x1.idempotency_key, y1.idempotency_key, x2.idempotency_key, x1_next.idempotency_key}) == 4


@PATHS
def test_idempotency_key_of_a_gap_occurrence_uses_its_nominal_time(path: str) -> None:
    rules = pick("segment user_id is set; send push weekly sun 02:30 local", path)
    (d,) = rules.evaluate({"user_id": "u", "timezone": "America/New_York"}, at("2026-03-08T00:00:00Z"))
    assert d.local_send_at.isoformat() == "2026-03-08T03:30:00-04:00"
    assert d.idempotency_key == _expected_key("<string>:1", "u", "2026-03-08T02:30")


# -- clock skew ----------------------------------------------------------------------------------


@PATHS
def test_last_used_later_than_now_counts_as_now_with_a_warning_on_every_decision(path: str) -> None:
    rules = pick('campaign "a" { segment last_used less than 1d ago\n send push daily 09:00 utc }\n'
                 'campaign "b" { segment last_used between 1d and 2d\n send push daily 10:00 utc }\n'
                 'campaign "c" { segment user_id is set\n send push daily 11:00 "Europe/Paris" }', path)
    now = at("2026-12-03T08:00:00Z")
    user = {"user_id": "u", "timezone": "UTC", "last_used": "2026-12-03T12:00:00Z"}  # 4h in the future
    decisions = rules.evaluate(user, now)
    warning = "last_used 2026-12-03T12:00:00+00:00 is later than now; counted as now (clock skew)"
    # as now: `less than 1d ago` at 12-03 09:00Z; `between 1d and 2d` from 12-04 08:00Z: 12-04 10:00Z
    assert [(d.campaign, d.send_at) for d in decisions] == [
        ("a", at("2026-12-03T09:00:00Z")),
        ("c", at("2026-12-03T10:00:00Z")),
        ("b", at("2026-12-04T10:00:00Z")),
    ]
    assert all(d.warnings == (warning,) for d in decisions)
    # the same user evaluated at a later now has no skew and no warning
    assert all(d.warnings == () for d in rules.evaluate(user, at("2026-12-03T12:00:00Z")))


@PATHS
def test_skew_and_zone_fallback_warnings_together(path: str) -> None:
    rules = pick("segment last_used less than 1d ago; send push daily 09:00 local", path)
    user = {"user_id": "u", "timezone": "+01:00", "last_used": "2026-12-04T00:00:00Z"}
    (d,) = rules.evaluate(user, at("2026-12-03T08:00:00Z"))
    assert d.warnings == (
        "last_used 2026-12-04T00:00:00+00:00 is later than now; counted as now (clock skew)",
        "timezone '+01:00' is not a valid IANA zone; delivered in UTC (the default_timezone option)",
    )


def test_compiled_and_reference_agree_on_a_mixed_population() -> None:
    text = (
        'default timezone "America/New_York"\n'
        'campaign "w" { segment last_used between 2w and 3w and push_opted_in\n send push weekly thu 17:45 local }\n'
        'campaign "m" { segment last_used more than 30d ago or sessions < 2\n send email monthly 31 09:00 local }\n'
        'campaign "c" { segment not platform in ["ios"]\n send sms cron "30 1 * * 0" local; grace 2h }\n'
    )
    compiled, reference = both(text)
    zones = ["America/New_York", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kathmandu", "bogus", None]
    base = at("2026-10-01T00:00:00Z")
    for i in range(120):
        user = {
            "user_id": i,
            "timezone": zones[i % len(zones)],
            "last_used": (base - dt.timedelta(hours=7 * i)).isoformat() if i % 5 else None,
            "push_opted_in": [True, False, None][i % 3],
            "sessions": i % 4,
            "platform": ["ios", "android", None][i % 3],
        }
        for now in (base, base + dt.timedelta(days=33, hours=i)):
            since = now - dt.timedelta(hours=3)
            assert compiled.evaluate(user, now) == reference.evaluate(user, now)
            assert compiled.evaluate(user, now, since=since) == reference.evaluate(user, now, since=since)
            assert compiled.in_segment(user, now) == reference.in_segment(user, now)
