"""Send-time experiments: a variant with a schedule of its own (`variant "noon" 50% send push
weekly thu 12:00 local`).

Each user's variant is chosen by the portable variant bucket, and their decisions follow that
variant's schedule (the campaign's for a variant without a send); held-out users follow the
schedule their variant bucket picks. The expected send instants here are computed independently,
from lapse_dsl.buckets.bucket and zoneinfo, never read from the code under test. The compiled
path (fused for a small rule set, the portfolio index for a catalog of 48 or more) must answer as
the reference, `within=` included: a personal campaign is never placed in the index's window
tables by `rule.schedule`'s occurrences.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.buckets import bucket
from lapse_dsl.check import check
from lapse_dsl.engine import INDEXED_FROM
from lapse_dsl.sql import next_occurrence_sql, segment_sql

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a Monday
ZONES = ["Europe/Paris", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "UTC"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

EXPERIMENT = """
campaign "Thursday slot" {
    segment last_used more than 3d ago
    send push weekly thu 17:45 local
    message title "We miss you"
    variant "noon" 50% send push weekly thu 12:00 local message body "noon"
    variant "evening" 30% message body "evening"
    variant "friday" 20% send push weekly fri 09:15 local
    holdout 10%
}
"""


def expected_variant(salt: str, user_id: str, variants: list[tuple[str, float]]) -> str:
    """The variant of docs/semantics.md's bucket rule: consecutive bucket ranges in order."""
    b = bucket("variant", salt, user_id)
    edge = 0
    for name, percent in variants:
        edge += round(percent * 100)
        if b < edge:
            return name
    return variants[-1][0]


def held_out(salt: str, user_id: str, percent: float) -> bool:
    return bucket("holdout", salt, user_id) < round(percent * 100)


def next_weekly(zone: str, day: str, hour: int, minute: int, now: dt.datetime) -> dt.datetime:
    """The first `weekly DAY HH:MM` at or after ``now`` in ``zone`` (times not in a gap), by zoneinfo."""
    tz = ZoneInfo(zone)
    date = now.astimezone(tz).date() - dt.timedelta(days=1)
    while True:
        if date.weekday() == DAYS.index(day):
            at = dt.datetime.combine(date, dt.time(hour, minute), tz).astimezone(UTC)
            if at >= now:
                return at
        date += dt.timedelta(days=1)


def diagnostics(text: str) -> list[tuple[int, int, str, str]]:
    try:
        rules = lapse_dsl.compile(text)
    except lapse_dsl.LapseCheckError as exc:
        return [(d.line, d.column, d.severity, d.message) for d in exc.diagnostics]
    return [(d.line, d.column, d.severity, d.message) for d in rules.warnings]


# Checker ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(
        'campaign "x" {\n  segment last_used more than 3d ago\n  send push weekly thu 17:45 local\n'
        '  variant "a" 50% send email weekly thu 12:00 local\n  variant "b" 50% message title "t"\n}',
        [(4, 24, "error", "variant 'a' sends by email, but the campaign sends by push: variants test when, "
                          "not how; write 'send push ...'")],
        id="channel"),
    pytest.param(
        'campaign "x" {\n  segment last_used more than 3d ago\n  send push weekly thu 17:45 local\n'
        '  variant "a" 50% send push weekly thu 12:00 "Europe/Paris"\n  variant "b" 50% message title "t"\n}',
        [(4, 46, "error", "variant 'a' delivers in \"Europe/Paris\", but the campaign delivers in local: variants "
                          "test when, not where; end its schedule in local")],
        id="zone"),
    pytest.param(
        'campaign "x" {\n  segment last_used more than 3d ago\n'
        '  variant "a" 50% send push weekly thu 12:00 utc\n  variant "b" 50% send sms daily 09:00 local\n}',
        [(4, 24, "error", "variant 'b' sends by sms, but variant 'a' sends by push: variants test when, not how; "
                          "write 'send push ...'"),
         (4, 40, "error", "variant 'b' delivers in local, but variant 'a' delivers in utc: variants test when, "
                          "not where; end its schedule in utc")],
        id="without a campaign send, the first variant's"),
    pytest.param(
        'campaign "x" {\n  segment last_used more than 3d ago\n'
        '  variant "a" 50% send push weekly thu 12:00 local\n  variant "b" 50% message title "t"\n}',
        [(1, 1, "error", "campaign 'x' has no send clause (variant 'b' has no send of its own); add one such as "
                         "'send push weekly thu 17:45 local'")],
        id="a variant without a send needs the campaign's"),
    pytest.param(
        'campaign "x" {\n  segment last_used more than 3d ago\n'
        '  variant "a" 50% send push every 2 weeks thu 12:00 local\n  variant "b" 50% send push weekly thu 09:00 local\n}',
        [(3, 29, "error", "'every 2 weeks' needs a 'from' date to anchor the weeks; add a clause such as "
                          "'from 2026-12-07'")],
        id="every N weeks in a variant"),
    pytest.param(
        'campaign "x" {\n  segment last_used more than 3d ago\n'
        '  variant "a" 50% send push weekly thu 25:00 local\n  variant "b" 50% send push weekly thurs 09:00 local\n}',
        [(3, 40, "error", "'25:00' is not a time of day (00:00 to 23:59)"),
         (4, 36, "error", "unknown day 'thurs'; did you mean 'thu'? (days: mon tue wed thu fri sat sun)")],
        id="a variant's schedule is checked as any"),
    pytest.param(
        'campaign "x" {\n  segment last_used more than 3d ago\n  send push weekly thu 17:45 local\n'
        '  variant "a" 50% send push weekly thu 12:00 local\n  variant "b" 50% send push weekly fri 12:00 "Asia/Tokyo"\n}',
        [(5, 46, "error", "variant 'b' delivers in \"Asia/Tokyo\", but the campaign delivers in local: variants test "
                          "when, not where; end its schedule in local")],
        id="a campaign send every variant overrides still names the zone"),
])
def test_checker_errors_in_the_language_s_words(text: str, expected: list[tuple[int, int, str, str]]) -> None:
    assert diagnostics(text) == expected


def test_a_campaign_whose_variants_all_send_needs_no_send_of_its_own() -> None:
    rules = lapse_dsl.compile('campaign "x" {\n  segment last_used more than 3d ago\n'
                              '  variant "a" 50% send push weekly thu 12:00 local\n'
                              '  variant "b" 50% send push weekly fri 09:00 local\n}')
    assert not rules.warnings
    (rule,) = rules.rules
    assert rule.channel == "push" and rule.personal
    assert [v.schedule for v in rule.variants] == [
        lapse_dsl.compile("segment last_used more than 3d ago; send push weekly thu 12:00 local").rules[0].schedule,
        lapse_dsl.compile("segment last_used more than 3d ago; send push weekly fri 09:00 local").rules[0].schedule,
    ]


def test_variants_with_the_campaign_s_own_schedule_are_not_personal() -> None:
    rules = lapse_dsl.compile('campaign "x" {\n  segment last_used more than 3d ago\n  send push weekly thu 12:00 local\n'
                              '  variant "a" 50% send push weekly thu 12:00 local message title "a"\n'
                              '  variant "b" 50% message title "b"\n}')
    assert not rules.rules[0].personal


def test_coverage_is_judged_per_variant_schedule_and_names_the_variants() -> None:
    text = ('campaign "x" {\n  segment last_used between 2d and 4d\n  send push daily 17:45 local\n'
            '  variant "a" 30% send push weekly thu 12:00 local\n  variant "b" 30% send push weekly thu 12:00 local\n'
            '  variant "c" 40% message title "c"\n}')
    assert diagnostics(text) == [(2, 3, "warning", (
        "variants 'a' and 'b' (weekly thu 12:00 local): the window 'last_used between 2d and 4d' is 2d wide but "
        "this schedule's occurrences are up to 1w apart: users whose last_used falls in a hole of 5d between "
        "occurrences are never captured; widen the window to 1w"))]
    # the same window under the daily schedule only: no hole, no warning
    assert diagnostics(text.replace("weekly thu 12:00", "daily 12:00")) == []


def test_a_warning_every_variant_shares_is_the_campaign_s() -> None:
    text = ('campaign "x" {\n  segment last_used between 6d and 7d\n'
            '  variant "a" 50% send push weekly thu 12:00 local\n  variant "b" 50% send push weekly mon 08:00 local\n}')
    assert diagnostics(text) == [(2, 3, "warning", (
        "the window 'last_used between 6d and 7d' is 1d wide but this schedule's occurrences are up to 1w apart: "
        "users whose last_used falls in a hole of 6d between occurrences are never captured; widen the window to 1w"))]


def test_a_variant_whose_every_occurrence_quiet_hours_drop_never_sends() -> None:
    text = ('campaign "x" {\n  segment last_used between 1w and 2w\n  quiet hours 22:00 to 08:00 drop\n'
            '  variant "noon" 50% send push weekly thu 12:00 local\n  variant "late" 50% send push weekly thu 23:00 local\n}')
    assert diagnostics(text) == [(3, 3, "warning", (
        "variant 'late' (weekly thu 23:00 local): every occurrence of this schedule (at 23:00) falls in quiet hours "
        "22:00 to 08:00 and 'drop' skips it: this variant never sends; write 'defer' to send at 08:00 instead"))]


# Decisions ------------------------------------------------------------------------------------

EXPERIMENT_VARIANTS = [("noon", 50.0), ("evening", 30.0), ("friday", 20.0)]
VARIANT_TIME = {"noon": ("thu", 12, 0), "evening": ("thu", 17, 45), "friday": ("fri", 9, 15)}


def users(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"user_id": f"user-{seed}-{i}", "timezone": rng.choice(ZONES),
             "last_used": (NOW - dt.timedelta(days=rng.randrange(4, 60))).isoformat()} for i in range(count)]


def test_each_variant_s_decisions_follow_its_own_schedule() -> None:
    rules = lapse_dsl.compile(EXPERIMENT)
    seen: dict[tuple[str, bool], int] = {}
    for user in users(400, 1):
        uid = user["user_id"]
        variant = expected_variant("Thursday slot", uid, EXPERIMENT_VARIANTS)
        out = held_out("Thursday slot", uid, 10)
        day, hour, minute = VARIANT_TIME[variant]
        for evaluator in (rules, rules.reference()):
            (d,) = evaluator.evaluate(user, NOW)
            assert d.send_at == next_weekly(user["timezone"], day, hour, minute, NOW), (uid, variant)
            assert d.held_out is out
            # a held-out user follows their bucket's schedule but gets no variant and no message
            assert d.variant == (None if out else variant)
            expected_message = {} if out else {"title": "We miss you", **({"body": variant} if variant != "friday" else {})}
            assert dict(d.message) == expected_message
            assert d.warnings == ()
        seen[(variant, out)] = seen.get((variant, out), 0) + 1
    assert set(seen) == {(v, out) for v, _ in EXPERIMENT_VARIANTS for out in (False, True)}


def test_the_first_decision_after_a_send_is_a_week_later_on_the_same_variant_schedule() -> None:
    rules = lapse_dsl.compile(EXPERIMENT.replace("more than 3d ago", "more than 3d ago\n    reeligible after 1w"))
    for user in users(60, 2):
        variant = expected_variant("Thursday slot", user["user_id"], EXPERIMENT_VARIANTS)
        day, hour, minute = VARIANT_TIME[variant]
        first = next_weekly(user["timezone"], day, hour, minute, NOW)
        history = [{"campaign": "Thursday slot", "channel": "push", "at": first.isoformat()}]
        later = first + dt.timedelta(minutes=1)
        for evaluator in (rules, rules.reference()):
            (d,) = evaluator.evaluate(user, later, history=history)
            assert d.send_at == next_weekly(user["timezone"], day, hour, minute, first + dt.timedelta(days=6))


def test_explain_reports_the_variant_s_schedule_and_the_user_s_occurrence() -> None:
    rules = lapse_dsl.compile(EXPERIMENT)
    for user in users(30, 3):
        variant = expected_variant("Thursday slot", user["user_id"], EXPERIMENT_VARIANTS)
        day, hour, minute = VARIANT_TIME[variant]
        (trace,) = rules.explain(user, NOW)
        expected = next_weekly(user["timezone"], day, hour, minute, NOW)
        assert trace.occurrence == expected.astimezone(ZoneInfo(user["timezone"]))
        own = f"weekly {day} {hour:02d}:{minute:02d} local"
        assert trace.schedule == (own if variant == "evening" else f'{own} (variant "{variant}")')
        assert f"  schedule {trace.schedule}\n" in str(trace)


# The compiled paths against the reference ----------------------------------------------------------


def catalog(size: int) -> str:
    """A ladder of plain campaigns with send-time experiments among them, some with controls."""
    parts = []
    for k in range(size):
        low = 1 + k % 5
        if k % 4 == 0:
            parts.append(
                f'campaign "exp {k}" {{\n  segment last_used between {low}w and {low + 1}w and platform = "ios"\n'
                f'  variant "a" 40% send push weekly {DAYS[k % 7]} 12:00 local\n'
                f'  variant "b" 60% send push weekly {DAYS[(k + 3) % 7]} 02:30 local\n'
                + ("  holdout 15%\n" if k % 8 == 0 else "")
                + ("  quiet hours 22:00 to 08:00\n  reeligible after 1w\n" if k % 12 == 0 else "")
                + "}")
        elif k % 4 == 1:
            parts.append(
                f'campaign "mixed {k}" {{\n  segment last_used between {low}w and {low + 1}w\n'
                f'  send email weekly {DAYS[k % 7]} 17:45 local\n'
                f'  variant "x" 50% message subject "x"\n  variant "y" 50% send email daily 07:00 local\n}}')
        else:
            platform = ["ios", "android"][k % 2]
            parts.append(f'campaign "plain {k}" {{\n  segment last_used between {low}w and {low + 1}w and '
                         f'platform = "{platform}"\n  send push weekly {DAYS[k % 7]} 17:45 local\n}}')
    return "\n".join(parts)


def catalog_users(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        user: dict[str, Any] = {"user_id": f"c{seed}-{i}", "platform": rng.choice(["ios", "android", None])}
        if rng.random() < 0.9:
            user["timezone"] = rng.choice([*ZONES, "not a zone"])
        if rng.random() < 0.95:
            user["last_used"] = (NOW - dt.timedelta(seconds=rng.randrange(0, 60 * 86400))).isoformat()
        out.append(user)
    return out


def _answer(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except lapse_dsl.LapseError as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("size", [6, INDEXED_FROM + 4])
def test_compiled_answers_as_the_reference(size: int) -> None:
    rules = lapse_dsl.compile(catalog(size))
    reference = rules.reference()
    assert any(r.personal for r in rules.rules) and not all(r.personal for r in rules.rules)
    off_first = 0  # decisions on a variant whose schedule is not the rule's `schedule` (its first variant's)
    calls = [
        {}, {"within": dt.timedelta(days=1)}, {"within": dt.timedelta(days=8)},
        {"since": NOW - dt.timedelta(hours=3)},
        {"history": [{"campaign": "exp 0", "channel": "push", "at": (NOW - dt.timedelta(days=8)).isoformat()}]},
    ]
    for user in catalog_users(250, size):
        for kwargs in calls:
            for now in (NOW, NOW + dt.timedelta(days=3, hours=5)):
                got = _answer(rules.evaluate, user, now, **kwargs)
                assert got == _answer(reference.evaluate, user, now, **kwargs), (user, kwargs, now)
                if isinstance(got, tuple) and kwargs.get("within") == dt.timedelta(days=8):
                    off_first += sum(1 for d in got if d.campaign.startswith("exp") and d.variant == "b")
    assert off_first > 20  # the index's window tables would place these by the wrong schedule


def test_a_rule_set_with_an_experiment_takes_the_general_path_for_evaluate_only() -> None:
    rules = lapse_dsl.compile(EXPERIMENT + 'campaign "other" {\n segment platform = "ios"\n send push daily 09:00 local\n}')
    source = rules.generated_source()
    assert "# a campaign's schedule depends on the user: the general path decides" in source
    assert "def in_segment(user, at):" in source  # in_segment does not depend on schedules
    plain = lapse_dsl.compile('campaign "other" {\n segment platform = "ios"\n send push daily 09:00 local\n}')
    assert "the general path decides" not in plain.generated_source()
    user = {"user_id": "u", "platform": "ios", "timezone": "Europe/Paris", "last_used": "2026-11-01T00:00:00Z"}
    assert rules.in_segment(user, NOW) == rules.reference().in_segment(user, NOW) == {
        "Thursday slot": True, "other": True}


# fmt and SQL ------------------------------------------------------------------------------------


def test_fmt_round_trips_a_variant_with_its_own_send() -> None:
    text = ('campaign "x" {\n    segment last_used more than 3d ago\n'
            '    variant "noon" 50% send push weekly thu 12:00 local message title "Lunch?"\n'
            '    variant "evening" 50%   send  push weekly thu   17:45 local\n}\n')
    formatted = lapse_dsl.format_file(lapse_dsl.parse(text))
    assert formatted == text.replace('50%   send  push weekly thu   17:45', '50% send push weekly thu 17:45')
    assert lapse_dsl.parse(formatted) == lapse_dsl.parse(text)
    assert lapse_dsl.format_file(lapse_dsl.parse(formatted)) == formatted


def test_sql_next_raises_for_an_experiment_and_the_segment_sql_is_unaffected() -> None:
    rules = lapse_dsl.compile(EXPERIMENT)
    with pytest.raises(lapse_dsl.UnsupportedError, match=(
            r"^Thursday slot: the next send cannot be computed in SQL: variant 'noon' has a schedule of its own "
            r"\(a send-time experiment\), so each user's next send depends on their variant bucket; use 'lapse run'")):
        next_occurrence_sql(rules, dialect="duckdb", at=NOW)
    assert "last_used" in segment_sql(rules, dialect="duckdb", at=NOW)


def test_a_variant_with_neither_a_send_nor_a_message_is_an_error() -> None:
    # (the parser accepts `variant "a" 50%` alone: the checker says what is missing)
    text = ('campaign "x" {\n  segment last_used more than 3d ago\n  send push daily 09:00 utc\n'
            '  variant "a" 50% message title "a"\n  variant "b" 50% message title "b"\n}')
    file = lapse_dsl.parse(text)
    (rule,) = file.items
    assert isinstance(rule, n.Rule)
    bare = tuple(attrs.evolve(c, fields=()) if isinstance(c, n.Variant) and c.name.value == "a" else c
                 for c in rule.clauses)
    result = check([attrs.evolve(file, items=(attrs.evolve(rule, clauses=bare),))])
    assert [(d.line, d.column, d.message) for d in result.errors] == [
        (4, 3, "variant 'a' has neither a send nor a message; give it 'send CHANNEL SCHEDULE' (its own send time), "
               "'message FIELD \"TEXT\"', or both")]
