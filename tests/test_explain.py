"""explain(): per rule, each condition's value at the next occurrence and why the rule does or does
not produce a decision, as a structure and as readable text."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

import lapse_dsl
from lapse_dsl import ConditionTrace, Explanation, RuleTrace

UTC = dt.UTC
NY_HEAD = 'default timezone "America/New_York"\n'


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


# now = Tue 2026-11-24T00:00Z. The next Thursday 17:45 EST is 11-26 22:45Z. last_used 11-17 22:45Z is
# 9 days before it: not yet in `between 14d and 21d`. At 12-03 22:45Z it is 16 days: enters then.
NOW = at("2026-11-24T00:00:00Z")
LAPSING = {"user_id": "u1", "timezone": "America/New_York", "last_used": "2026-11-17T22:45:00Z", "push_opted_in": True}

RULES = lapse_dsl.compile(
    NY_HEAD
    + 'campaign "Lapsed" {\n segment last_used between 14d and 21d and push_opted_in\n send push weekly thu 17:45 local\n}\n'
    + 'campaign "Draft" {\n segment last_used between 14d and 21d\n send push weekly thu 17:45 local\n status draft\n}\n'
    + 'campaign "Paused" {\n segment sessions > 3\n send email daily 09:00 utc\n status paused\n}\n'
)


def test_explanation_structure() -> None:
    e = RULES.explain(LAPSING, NOW)
    assert isinstance(e, Explanation)
    assert (e.user_id, e.now, e.warnings) == ("u1", NOW, ())
    assert [r.campaign for r in e] == ["Lapsed", "Draft", "Paused"]
    lapsed = e.rules[0]
    assert isinstance(lapsed, RuleTrace)
    assert lapsed.status == "active"
    assert lapsed.timezone == "America/New_York"
    assert lapsed.occurrence is not None
    assert lapsed.occurrence.isoformat() == "2026-11-26T17:45:00-05:00"
    assert lapsed.in_segment is False
    assert lapsed.conditions == (
        ConditionTrace("last_used between 14d and 21d", False, "last_used is 9d ago, needs 14d..21d"),
        ConditionTrace("push_opted_in", True, "push_opted_in is true"),
    )
    assert lapsed.decision is not None
    (decision,) = RULES.evaluate(LAPSING, NOW)
    assert lapsed.decision == decision
    assert lapsed.reason == ("not in segment yet: last_used is 9d ago, needs 14d..21d; enters on 2026-12-03, "
                             "sends 2026-12-03T17:45:00-05:00 (2026-12-03T22:45:00Z)")


def test_explanation_text() -> None:
    assert str(RULES.explain(LAPSING, NOW)) == "\n".join([
        "user u1 at 2026-11-24T00:00:00Z",
        "Lapsed [active] in America/New_York: not in segment yet: last_used is 9d ago, needs 14d..21d; "
        "enters on 2026-12-03, sends 2026-12-03T17:45:00-05:00 (2026-12-03T22:45:00Z)",
        "  next occurrence 2026-11-26T17:45:00-05:00 (2026-11-26T22:45:00Z): segment is false",
        "    false   last_used between 14d and 21d  (last_used is 9d ago, needs 14d..21d)",
        "    true    push_opted_in  (push_opted_in is true)",
        "Draft [draft] in America/New_York: status draft: never sends; if active it would: not in segment yet: "
        "last_used is 9d ago, needs 14d..21d; enters on 2026-12-03, sends 2026-12-03T17:45:00-05:00 "
        "(2026-12-03T22:45:00Z)",
        "  next occurrence 2026-11-26T17:45:00-05:00 (2026-11-26T22:45:00Z): segment is false",
        "    false   last_used between 14d and 21d  (last_used is 9d ago, needs 14d..21d)",
        "Paused [paused] in UTC: status paused: never sends; if active it would: not in segment: sessions is not set; "
        "no later occurrence can be in the segment without new activity",
        "  next occurrence 2026-11-24T09:00:00+00:00 (2026-11-24T09:00:00Z): segment is unknown",
        "    unknown sessions > 3  (sessions is not set)",
    ])


def test_drafts_and_paused_campaigns_never_carry_a_decision() -> None:
    e = RULES.explain({**LAPSING, "sessions": 5}, NOW)
    draft, paused = e.rules[1], e.rules[2]
    assert draft.decision is None and paused.decision is None
    assert paused.in_segment is True
    assert paused.reason == ("status paused: never sends; if active it would: sends 2026-11-24T09:00:00+00:00 "
                             "(2026-11-24T09:00:00Z)")
    assert [d.campaign for d in RULES.evaluate({**LAPSING, "sessions": 5}, NOW)] == ["Lapsed"]


def test_in_segment_now_sends_at_the_next_occurrence() -> None:
    user = {**LAPSING, "last_used": "2026-11-10T22:45:00Z"}  # 16 days before 11-26 22:45Z
    lapsed = RULES.explain(user, NOW).rules[0]
    assert lapsed.in_segment is True
    assert [c.value for c in lapsed.conditions] == [True, True]
    assert lapsed.conditions[0].detail == "last_used is 16d ago, needs 14d..21d"
    assert lapsed.reason == "sends 2026-11-26T17:45:00-05:00 (2026-11-26T22:45:00Z)"


def test_unknown_values_and_no_decision() -> None:
    user = {"user_id": "u2", "timezone": "America/New_York", "last_used": "2026-11-17T22:45:00Z"}
    lapsed = RULES.explain(user, NOW).rules[0]
    assert lapsed.in_segment is False
    assert [(c.text, c.value) for c in lapsed.conditions] == [
        ("last_used between 14d and 21d", False), ("push_opted_in", None)]
    assert lapsed.decision is None
    # the window is false, so the "and" is false whatever push_opted_in is: only the window decides
    assert lapsed.reason == ("not in segment: last_used is 9d ago, needs 14d..21d; "
                             "no later occurrence can be in the segment without new activity")
    assert "    unknown push_opted_in  (push_opted_in is not set)" in str(lapsed).splitlines()


@pytest.mark.parametrize(
    ("segment", "user", "value", "detail"),
    [
        ("last_used more than 2w ago", {"last_used": "2026-11-01T00:00:00Z"}, True,
         "last_used is 25d 22h ago, needs more than 2w"),  # 11-26 22:45Z - 11-01 00:00Z
        ("last_used less than 3d ago", {"last_used": "2026-11-23T23:00:00Z"}, True,
         "last_used is 2d 23h ago, needs less than 3d"),  # minutes are not shown once there are days
        ("last_used less than 90m ago", {"last_used": "2026-11-23T23:00:00Z"}, False,
         "last_used is 2d 23h ago, needs less than 90m"),
        ("first_used before 2026-01-01", {"first_used": "2025-06-01T00:00:00Z"}, True,
         "first_used is 2025-06-01T00:00:00Z, needs before 2026-01-01T05:00:00Z"),  # NY midnight
        ("first_used after 2026-12-03T17:45:00Z", {"first_used": "2026-01-01T00:00:00+01:00"}, False,
         "first_used is 2025-12-31T23:00:00Z, needs after 2026-12-03T17:45:00Z"),
        ('platform = "ios"', {"platform": "android"}, False, 'platform is "android", needs = "ios"'),
        ("sessions > 3", {"sessions": 3.0}, False, "sessions is 3, needs > 3"),
        ("sessions >= 2.5", {"sessions": 2.5}, True, "sessions is 2.5, needs >= 2.5"),
        ('country in ["US", "CA"]', {"country": "FR"}, False, 'country is "FR", needs in ["US", "CA"]'),
        ('country not in ["FR"]', {"country": "FR"}, False, 'country is "FR", needs not in ["FR"]'),
        ("language is set", {}, False, "language is not set"),
        ("language is not set", {}, True, "language is not set"),
        ("language is set", {"language": "en"}, True, "language is set"),
        ("push_opted_in", {"push_opted_in": False}, False, "push_opted_in is false"),
        ("push_opted_in = true", {}, None, "push_opted_in is not set"),
    ],
)
def test_condition_details(segment: str, user: dict[str, object], value: bool | None, detail: str) -> None:
    rules = lapse_dsl.compile(NY_HEAD + f"segment {segment}; send push weekly thu 17:45 local")
    (trace,) = rules.explain({"user_id": "u", "timezone": "America/New_York", **user}, NOW).rules
    (condition,) = trace.conditions
    assert (condition.value, condition.detail) == (value, detail)
    assert condition.text == segment


def test_not_shows_the_negation_and_its_operand() -> None:
    rules = lapse_dsl.compile('segment not platform = "ios"; send push daily 09:00 utc')
    (trace,) = rules.explain({"user_id": "u", "platform": "ios"}, NOW).rules
    assert trace.in_segment is False
    (negation,) = trace.conditions
    assert (negation.kind, negation.text, negation.value) == ("not", 'not platform = "ios"', False)
    assert negation.detail == 'platform is "ios", needs != "ios"'
    assert [(c.text, c.value) for c in negation.children] == [('platform = "ios"', True)]
    assert str(trace).splitlines()[-1] == '    false   not platform = "ios"  (platform is "ios", needs != "ios")'


def test_warnings_are_collected_once() -> None:
    rules = lapse_dsl.compile(
        'campaign "a" { segment last_used less than 1d ago\n send push daily 09:00 local }\n'
        'campaign "b" { segment user_id is set\n send push daily 10:00 local }'
    )
    user = {"user_id": "u", "timezone": "Mars/Base", "last_used": "2026-11-25T00:00:00Z"}  # a day ahead of now
    e = rules.explain(user, NOW)
    assert e.warnings == (
        "last_used 2026-11-25T00:00:00+00:00 is later than now; counted as now (clock skew)",
        "timezone 'Mars/Base' is not a valid IANA zone; delivered in UTC (the default_timezone option)",
    )
    assert str(e).endswith(
        "\nwarning: last_used 2026-11-25T00:00:00+00:00 is later than now; counted as now (clock skew)"
        "\nwarning: timezone 'Mars/Base' is not a valid IANA zone; delivered in UTC (the default_timezone option)"
    )


def test_campaign_that_ended() -> None:
    rules = lapse_dsl.compile(NY_HEAD + "segment user_id is set; send push weekly thu 17:45 local; until 2026-11-01")
    (trace,) = rules.explain({"user_id": "u", "timezone": "America/New_York"}, NOW).rules
    assert trace.decision is None
    assert trace.reason == "the campaign ended on 2026-11-01"


def test_next_occurrence_respects_the_from_date() -> None:
    # regression: the conditions were evaluated at 11-26, before the campaign starts (from 2027-01-01)
    rules = lapse_dsl.compile(NY_HEAD + "segment last_used between 14d and 21d; send push weekly thu 17:45 local; "
                                        "from 2027-01-01")
    user = {"user_id": "u", "timezone": "America/New_York", "last_used": "2026-12-20T12:00:00Z"}
    (trace,) = rules.explain(user, at("2026-12-21T00:00:00Z")).rules
    assert trace.occurrence is not None
    assert trace.occurrence.isoformat() == "2027-01-07T17:45:00-05:00"  # the first Thursday from 01-01
    assert trace.in_segment is True  # 12-20 12:00Z lies in (12-17 22:45Z, 12-24 22:45Z]
    assert trace.reason == "sends 2027-01-07T17:45:00-05:00 (2027-01-07T22:45:00Z)"


def test_already_received() -> None:
    rules = lapse_dsl.compile(NY_HEAD + 'campaign "L" { segment user_id is set\n send push weekly thu 17:45 local }')
    history = [{"campaign": "L", "channel": "push", "at": "2026-11-19T22:45:00Z"}]
    (trace,) = rules.explain({"user_id": "u", "timezone": "America/New_York"}, NOW, history=history).rules
    assert trace.decision is None
    assert trace.in_segment is True
    assert trace.reason == ("already received on 2026-11-19T22:45:00Z; without 'reeligible after' a campaign "
                            "reaches a user once")


def test_explain_with_since_matches_evaluate() -> None:
    since = at("2026-11-26T22:45:00Z")  # the previous tick covered the 11-26 occurrence
    user = {**LAPSING, "last_used": "2026-11-10T22:45:00Z"}
    now = since + dt.timedelta(minutes=15)
    trace = RULES.explain(user, now, since=since).rules[0]
    assert RULES.evaluate(user, now, since=since) == ((trace.decision,) if trace.decision else ())
    # at 12-03 it is 23 days: out, and never again
    assert trace.decision is None


def test_trace_decision_matches_evaluate_except_warnings() -> None:
    user = {**LAPSING, "timezone": "nowhere"}
    (decision,) = RULES.evaluate(user, NOW)
    e = RULES.explain(user, NOW)
    assert e.rules[0].decision == attrs.evolve(decision, warnings=())
    assert e.warnings == decision.warnings
