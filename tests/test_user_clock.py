"""Each user's own hour: `send push weekly thu at preferred_time or 17:45 local`, where
`preferred_time` is an attribute of type `clock` ("HH:MM").

A user with a valid clock is sent to exactly as if the campaign were written with that time; a
missing or malformed value uses the fallback and the decision says so in a warning, on every path
(fused, portfolio, reference, within=, explain), never a rejection. Windows are measured from each
user's own occurrence, so the tiling guarantee holds per user: the Hypothesis property at the end
checks it across DST changes with clocks in gaps and folds.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import random
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.engine import INDEXED_FROM
from lapse_dsl.evaluate import Moment, idempotency_key, truth
from lapse_dsl.personal import schedule_for
from lapse_dsl.schedule import occurrences
from lapse_dsl.sql import next_occurrence_sql, segment_sql
from lapse_dsl.userdata import as_clock
from lapse_dsl.zones import get_zone

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a Monday
DECLARE = "attribute preferred_time: clock\n"
OWN = DECLARE + "segment last_used more than 3d ago; send push weekly thu at preferred_time or 17:45 local"
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


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


# Clock values ---------------------------------------------------------------------------------


class Slot(str):
    """A str subclass (as a StrEnum member is): read as its characters."""


@pytest.mark.parametrize(("value", "expected"), [
    ("17:45", (17, 45)), ("00:00", (0, 0)), ("23:59", (23, 59)), ("07:05", (7, 5)), (Slot("09:30"), (9, 30)),
    (dt.time(9, 30), (9, 30)),
    ("24:00", None), ("23:60", None), ("7:05", None), ("17:45:00", None), (" 17:45", None), ("17:45\n", None),
    ("5pm", None), ("", None), ("１７:４５", None), (1745, None), (17.75, None), (True, None), (None, None),
    (dt.time(9, 30, 15), None), (dt.time(9, 30, tzinfo=UTC), None), (dt.datetime(2026, 1, 1, 9, 30), None),
    (["17:45"], None),
])
def test_a_clock_is_hh_mm_on_the_24_hour_clock(value: object, expected: tuple[int, int] | None) -> None:
    assert as_clock(value) == expected


# Checker ------------------------------------------------------------------------------------

SEND = "send push weekly thu at preferred_time or 17:45 local"


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("attribute preferred_time: string\nsegment last_used more than 3d ago; " + SEND,
                 [(2, 61, "error", "'preferred_time' is a string, but 'at preferred_time or 17:45' needs a clock "
                                   "attribute (a time of day \"HH:MM\"), declared such as "
                                   "'attribute preferred_time: clock'")],
                 id="not a clock"),
    pytest.param("segment last_used more than 3d ago; " + SEND,
                 [(1, 61, "error", "unknown attribute 'preferred_time'; declare it with "
                                   "'attribute preferred_time: clock'")],
                 id="undeclared"),
    pytest.param(DECLARE + "segment last_used more than 3d ago; send push weekly thu at prefered_time or 17:45 local",
                 [(2, 61, "error", "unknown attribute 'prefered_time'; did you mean 'preferred_time'?")],
                 id="misspelt"),
    pytest.param(DECLARE + "segment last_used more than 3d ago; send push daily at preferred_time or 24:30 local",
                 [(2, 74, "error", "'24:30' is not a time of day (00:00 to 23:59)")],
                 id="fallback"),
    pytest.param(DECLARE + 'segment preferred_time = "17:45"; ' + SEND,
                 [(2, 9, "error", "'preferred_time' is a clock: it gives a schedule its time of day "
                                  "('weekly thu at preferred_time or 17:45 local') and cannot be tested in a condition")],
                 id="in a condition"),
    pytest.param("attribute preferred_time: clok\nsegment last_used more than 3d ago; " + SEND,
                 [(1, 27, "error", "unknown type 'clok'; did you mean 'clock'? "
                                   "(types: string, number, boolean, time, clock)")],
                 id="unknown type"),
])
def test_checker_errors(text: str, expected: list[tuple[int, int, str, str]]) -> None:
    assert diagnostics(text) == expected


def test_a_valid_user_clock_is_personal_and_checks_clean() -> None:
    rules = lapse_dsl.compile(OWN)
    assert not rules.warnings and rules.schema["preferred_time"] == "clock"
    assert rules.rules[0].personal
    assert not lapse_dsl.compile("segment last_used more than 3d ago; send push weekly thu 17:45 local").rules[0].personal


# Decisions --------------------------------------------------------------------------------------

ZONES = ["Europe/Paris", "America/New_York", "Asia/Kathmandu", "Australia/Sydney"]
CLOCKS = ["00:00", "06:30", "09:05", "12:00", "17:45", "23:59"]


def test_each_user_is_sent_at_their_own_time() -> None:
    rules = lapse_dsl.compile(OWN)
    for zone, clock in itertools.product(ZONES, CLOCKS):
        user = {"user_id": f"{zone}-{clock}", "timezone": zone, "last_used": "2026-11-01T00:00:00Z",
                "preferred_time": clock}
        hour, minute = map(int, clock.split(":"))
        for evaluator in (rules, rules.reference(), rules.preview()):
            (d,) = evaluator.evaluate(user, NOW)
            assert d.send_at == next_weekly(zone, "thu", hour, minute, NOW)
            assert d.warnings == ()


@functools.cache
def fixed_rules(day: str, clock: str, window: str = "more than 3d ago") -> lapse_dsl.RuleSet:
    """The campaign written with the user's time: what a user with that clock must get."""
    return lapse_dsl.compile(f'campaign "own" {{\n  segment last_used {window}\n  send push weekly {day} {clock} local\n}}')


OWN_CAMPAIGN = ('campaign "own" {\n  segment last_used more than 3d ago\n'
                '  send push weekly thu at preferred_time or 17:45 local\n}')


def test_a_user_s_own_time_sends_as_the_campaign_written_with_that_time() -> None:
    rules = lapse_dsl.compile(DECLARE + OWN_CAMPAIGN)
    for zone, clock in itertools.product(["America/New_York", "Europe/London", "Australia/Lord_Howe"],
                                         ["01:30", "02:00", "02:30", "03:00"]):  # in gaps and folds somewhere
        fixed = fixed_rules("thu", clock)
        for week in range(0, 52, 3):
            now = NOW + dt.timedelta(weeks=week, hours=week)
            user = {"user_id": "u", "timezone": zone, "last_used": (now - dt.timedelta(days=30)).isoformat(),
                    "preferred_time": clock}
            # the same decision: send time, local time, idempotency key (the user's own nominal wall time)
            assert rules.evaluate(user, now) == rules.reference().evaluate(user, now) == fixed.evaluate(user, now)


# (value, the warning's problem) for a user whose clock cannot be used
MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({}, "no preferred_time"),
    ({"preferred_time": None}, "no preferred_time"),
    ({"preferred_time": "25:99"}, "preferred_time '25:99' is not a time of day (HH:MM)"),
    ({"preferred_time": "7:00"}, "preferred_time '7:00' is not a time of day (HH:MM)"),
    ({"preferred_time": "17:45:00"}, "preferred_time '17:45:00' is not a time of day (HH:MM)"),
    ({"preferred_time": 1745}, "preferred_time 1745 is not a time of day (HH:MM)"),
    ({"preferred_time": True}, "preferred_time True is not a time of day (HH:MM)"),
    ({"preferred_time": {"h": 9}}, "preferred_time {'h': 9} is not a time of day (HH:MM)"),
]


def catalog_with(campaign: str, size: int) -> str:
    """``campaign`` among a ladder of plain campaigns, so the rule set has ``size`` of them."""
    filler = [f'campaign "plain {k}" {{\n  segment last_used between {1 + k % 4}w and {2 + k % 4}w and '
              f'platform = "android"\n  send push weekly {DAYS[k % 7]} 17:45 local\n}}' for k in range(size - 1)]
    return "\n".join([DECLARE + campaign, *filler])


@pytest.mark.parametrize("size", [1, INDEXED_FROM + 2])
@pytest.mark.parametrize(("extra", "problem"), MALFORMED, ids=[repr(e.get("preferred_time", "missing")) for e, _ in MALFORMED])
def test_a_missing_or_malformed_clock_sends_at_the_fallback_with_a_warning(
        size: int, extra: dict[str, Any], problem: str) -> None:
    rules = lapse_dsl.compile(catalog_with(OWN_CAMPAIGN, size))
    user = {"user_id": "u", "timezone": "Europe/Paris", "platform": "ios", "last_used": "2026-11-01T00:00:00Z", **extra}
    warning = f"{problem}; sent at the fallback 17:45"
    expected = next_weekly("Europe/Paris", "thu", 17, 45, NOW)
    for evaluator in (rules, rules.reference()):
        for kwargs in ({}, {"within": dt.timedelta(days=8)}, {"since": NOW - dt.timedelta(hours=1)}):
            (d,) = evaluator.evaluate(user, NOW, **kwargs)
            assert (d.campaign, d.send_at, d.warnings) == ("own", expected, (warning,))
    explanation = rules.explain(user, NOW)
    assert warning in explanation.warnings
    own = next(t for t in explanation if t.campaign == "own")
    assert own.occurrence == expected.astimezone(ZoneInfo("Europe/Paris"))
    assert own.schedule == f"weekly thu 17:45 local ({problem}: the fallback 17:45)"


def test_a_clock_under_a_value_that_is_not_a_map_is_malformed_not_an_error() -> None:
    rules = lapse_dsl.compile("attribute prefs.time: clock\n"
                              "segment last_used more than 3d ago; send push daily at prefs.time or 07:00 utc")
    user = {"user_id": "u", "last_used": "2026-11-01T00:00:00Z", "prefs": "evening"}
    for evaluator in (rules, rules.reference()):
        (d,) = evaluator.evaluate(user, NOW)
        assert d.send_at == dt.datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
        assert d.warnings == ("prefs.time cannot be read (a part of its path is not an object); "
                              "sent at the fallback 07:00",)
    (d,) = rules.evaluate({**user, "prefs": {"time": "09:15"}}, NOW)
    assert (d.send_at, d.warnings) == (dt.datetime(2026, 11, 30, 9, 15, tzinfo=UTC), ())


def test_a_variant_s_own_send_at_each_user_s_hour_and_the_holdout() -> None:
    from lapse_dsl.buckets import bucket
    rules = lapse_dsl.compile(DECLARE + 'campaign "exp" {\n  segment last_used more than 3d ago\n'
                              '  variant "own" 50% send push weekly thu at preferred_time or 12:00 local\n'
                              '  variant "fixed" 50% send push weekly fri 18:00 local\n  holdout 20%\n}')
    rng = random.Random(7)
    kinds: set[tuple[str, bool]] = set()
    for i in range(200):
        uid = f"v{i}"
        clock = rng.choice([*CLOCKS, None, "99:99"])
        user = {"user_id": uid, "timezone": "America/New_York", "last_used": "2026-11-01T00:00:00Z",
                "preferred_time": clock}
        variant = "own" if bucket("variant", "exp", uid) < 5000 else "fixed"
        out = bucket("holdout", "exp", uid) < 2000
        if variant == "fixed":
            expected, warnings = next_weekly("America/New_York", "fri", 18, 0, NOW), ()
        elif clock in CLOCKS:
            hour, minute = map(int, clock.split(":"))
            expected, warnings = next_weekly("America/New_York", "thu", hour, minute, NOW), ()
        else:
            expected = next_weekly("America/New_York", "thu", 12, 0, NOW)
            problem = "no preferred_time" if clock is None else f"preferred_time '{clock}' is not a time of day (HH:MM)"
            warnings = (f"{problem}; sent at the fallback 12:00",)
        for evaluator in (rules, rules.reference()):
            (d,) = evaluator.evaluate(user, NOW)
            assert (d.send_at, d.warnings, d.held_out, d.variant) == (expected, warnings, out, None if out else variant)
        kinds.add((variant, out))
    assert len(kinds) == 4


def test_explain_shows_the_user_s_own_time_and_occurrence() -> None:
    rules = lapse_dsl.compile(OWN)
    user = {"user_id": "u", "timezone": "Asia/Kathmandu", "last_used": "2026-11-01T00:00:00Z", "preferred_time": "06:30"}
    (trace,) = rules.explain(user, NOW)
    assert trace.schedule == "weekly thu 06:30 local (preferred_time 06:30)"
    assert trace.occurrence == next_weekly("Asia/Kathmandu", "thu", 6, 30, NOW).astimezone(ZoneInfo("Asia/Kathmandu"))
    assert trace.decision is not None and trace.decision.send_at == trace.occurrence


# fmt and SQL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", [
    "daily at preferred_time or 09:00 utc", "weekly mon,thu at preferred_time or 17:45 local",
    "every 2 weeks sat at preferred_time or 10:00 \"Europe/Paris\"", "monthly 31 at preferred_time or 08:15 local",
    "once 2026-12-24 at preferred_time or 18:00 local",
])
def test_fmt_round_trips_a_user_clock(schedule: str) -> None:
    text = DECLARE + f"segment last_used more than 3d ago; send push {schedule}; from 2026-12-01\n"
    spaced = text.replace(" at preferred_time or ", "  at   preferred_time  or  ")
    formatted = lapse_dsl.format_file(lapse_dsl.parse(spaced))
    assert formatted == text
    assert lapse_dsl.parse(formatted) == lapse_dsl.parse(spaced)
    lapse_dsl.compile(formatted)  # and it checks


def test_sql_next_raises_naming_the_user_clock_and_the_segment_sql_is_unaffected() -> None:
    rules = lapse_dsl.compile(OWN)
    with pytest.raises(lapse_dsl.UnsupportedError, match=(
            r"^<string>:2: the next send cannot be computed in SQL: the schedule's time of day is each user's own "
            r"\('at preferred_time or 17:45'\), so each user's next send depends on it; use 'lapse run'")):
        next_occurrence_sql(rules, dialect="duckdb", at=NOW)
    assert "last_used" in segment_sql(rules, dialect="duckdb", at=NOW)


# The tiling property, per user ---------------------------------------------------------------------

# Zones with no skipped local dates in the years drawn (as tests/test_tiling_property.py).
TILING_ZONES = [
    "America/New_York", "Europe/London", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kathmandu",
    "America/Sao_Paulo", "Australia/Sydney", "Pacific/Auckland", "America/Los_Angeles", "Africa/Cairo",
    "Pacific/Chatham", "America/Santiago", "Asia/Tehran",
]
# times inside a spring-forward gap or a fall-back fold in some of those zones, and others
GAP_FOLD = ["00:00", "00:15", "00:30", "01:00", "01:30", "01:45", "02:00", "02:15", "02:30", "02:45", "03:00", "03:30"]
SECOND = dt.timedelta(seconds=1)
MICRO = dt.timedelta(microseconds=1)
ONE_WEEK, TWO_WEEKS = n.Duration(1, "w"), n.Duration(2, "w")


@functools.cache
def personal_rules(day: str) -> lapse_dsl.RuleSet:
    return lapse_dsl.compile(DECLARE + f'campaign "own" {{\n  segment last_used between 1w and 2w\n'
                             f'  send push weekly {day} at preferred_time or 17:45 local\n}}')


def fallback_warning(clock: object) -> str:
    problem = "no preferred_time" if clock is None else (
        f"preferred_time {clock!r} is not a time of day (HH:MM)")
    return f"{problem}; sent at the fallback 17:45"


clocks = st.one_of(
    st.sampled_from(GAP_FOLD),
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
    st.sampled_from([None, "24:00", "2:30", 230]),  # malformed or missing: the fallback, 17:45
)
starts = st.datetimes(min_value=dt.datetime(2008, 1, 1), max_value=dt.datetime(2034, 1, 1), timezones=st.just(UTC))


def _last_used(data: st.DataObject, bounds: list[dt.datetime]) -> dt.datetime:
    lo, hi = bounds[0], bounds[-1]
    kind = data.draw(st.sampled_from(["uniform", "edge", "outside"]))
    if kind == "uniform":
        return lo + MICRO * data.draw(st.integers(0, int((hi - lo) / MICRO)))
    if kind == "edge":
        return data.draw(st.sampled_from(bounds)) + data.draw(st.sampled_from([-SECOND, -MICRO, dt.timedelta(0), MICRO]))
    return data.draw(st.sampled_from([lo, hi])) + data.draw(st.integers(-20 * 86400, 20 * 86400)) * SECOND


@settings(max_examples=300, deadline=None)
@given(zone_name=st.sampled_from(TILING_ZONES), start=starts, day=st.sampled_from(DAYS), clock=clocks,
       data=st.data())
def test_each_lapsing_user_is_caught_exactly_once_at_their_own_time(
        zone_name: str, start: dt.datetime, day: str, clock: object, data: st.DataObject) -> None:
    rules = personal_rules(day)
    rule = rules.rules[0]
    zone = get_zone(zone_name)
    assert zone is not None
    own = clock if isinstance(clock, str) and as_clock(clock) is not None else "17:45"
    user: dict[str, Any] = {"user_id": "u", "timezone": zone_name, "preferred_time": clock}
    # the user's schedule is the campaign written with their time (the fallback for a bad value) ...
    fixed = fixed_rules(day, own, "between 1w and 2w").rules[0]
    assert schedule_for(rule, user, "u").schedule == fixed.schedule
    # ... whose weekly windows, measured from each occurrence's nominal wall time, tile the time line
    moments = [Moment(o.at, o.wall, zone) for o in itertools.islice(occurrences(fixed.schedule, zone, start), 60)]
    for a, b in itertools.pairwise(moments):
        assert a.back(ONE_WEEK) == b.back(TWO_WEEKS)
    bounds = [m.back(TWO_WEEKS) for m in moments] + [moments[-1].back(ONE_WEEK)]
    assert all(x < y for x, y in itertools.pairwise(bounds))
    warnings = () if own == clock else (fallback_warning(clock),)
    for _ in range(data.draw(st.integers(1, 5))):
        x = _last_used(data, bounds)
        hits = [i for i, m in enumerate(moments) if truth(rule.segment, {"last_used": x}, m) is True]
        inside = bounds[0] < x <= bounds[-1]
        assert len(hits) == (1 if inside else 0), (x, hits)
        if not inside:
            continue
        # end to end: the decision from the first occurrence at or after last_used is the one
        # occurrence, at the user's own time; a tick after it finds nothing, ever
        (k,) = hits
        user["last_used"] = x
        now = next(m.at for m in moments if m.at >= x)
        (expected,) = fixed_rules(day, own, "between 1w and 2w").evaluate(user, now)
        for evaluator in (rules, rules.reference()):
            (d,) = evaluator.evaluate(user, now)
            assert d.send_at == moments[k].at
            assert d.idempotency_key == idempotency_key("own", "u", moments[k].wall)
            assert d.warnings == warnings
            assert d == attrs.evolve(expected, warnings=warnings)
            assert evaluator.evaluate(user, moments[k].at + SECOND, since=moments[k].at) == ()
