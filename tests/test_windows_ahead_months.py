"""Upcoming windows (``ahead``) and calendar months (``mo``): their meaning, checked against
expectations computed here with zoneinfo alone (not with the library's own time code), on the
reference interpreter and the generated code; the search finds the first qualifying occurrence
of an upcoming event however far ahead it is; and the checker's warnings for the new forms."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl.check import check
from lapse_dsl.timecalc import add_months

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")


def wall_months(wall: dt.datetime, months: int) -> dt.datetime:
    """The same wall time ``months`` later, the day clamped to the month's length: the spec."""
    year, month = divmod(wall.year * 12 + wall.month - 1 + months, 12)
    return wall.replace(year=year, month=month + 1, day=min(wall.day, calendar.monthrange(year, month + 1)[1]))


# Months ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("wall", "months", "expected"), [
    (dt.datetime(2026, 3, 31, 17, 45), -1, dt.datetime(2026, 2, 28, 17, 45)),  # clamped
    (dt.datetime(2024, 3, 31, 17, 45), -1, dt.datetime(2024, 2, 29, 17, 45)),  # a leap year
    (dt.datetime(2026, 1, 31, 9, 0), 1, dt.datetime(2026, 2, 28, 9, 0)),
    (dt.datetime(2026, 12, 15, 9, 0), 1, dt.datetime(2027, 1, 15, 9, 0)),  # across a year
    (dt.datetime(2026, 1, 15, 9, 0), -13, dt.datetime(2024, 12, 15, 9, 0)),
    (dt.datetime(2026, 5, 31, 0, 0), -3, dt.datetime(2026, 2, 28, 0, 0)),
    (dt.datetime(2026, 8, 31, 23, 59), 1, dt.datetime(2026, 9, 30, 23, 59)),
])
def test_a_month_keeps_the_wall_time_and_clamps_the_day(wall: dt.datetime, months: int, expected: dt.datetime) -> None:
    assert add_months(wall, months) == expected


@given(st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2100, 1, 1)), st.integers(-1200, 1200))
def test_months_agree_with_the_spec(wall: dt.datetime, months: int) -> None:
    assert add_months(wall, months) == wall_months(wall, months)


RULES_MO = """attribute renews_at: time
campaign "older" {
    segment last_used more than 1mo ago
    send push weekly sun 17:45 local
}
campaign "renewing" {
    segment renews_at between 1mo and 2mo ahead
    send email monthly 31 09:00 local
}
"""


def both(text: str) -> tuple[lapse_dsl.RuleSet, lapse_dsl.RuleSet]:
    rules = lapse_dsl.compile(text, default_timezone="UTC")
    return rules, rules.reference()


def answers(text: str, user: dict[str, object], at: dt.datetime) -> list[dict[str, bool | None]]:
    return [dict(r.in_segment(user, at)) for r in both(text)]


def test_a_month_ago_is_measured_on_the_wall_clock_across_dst() -> None:
    # Sun 2026-03-29 17:45 in Paris is CEST; a month earlier, Sat 28 Feb 17:45, was CET
    at = dt.datetime(2026, 3, 29, 17, 45, tzinfo=PARIS)
    edge = dt.datetime(2026, 2, 28, 17, 45, tzinfo=PARIS)
    assert edge.astimezone(UTC) != at.astimezone(UTC) - dt.timedelta(days=29)  # not 24-hour days
    base = {"user_id": "u", "timezone": "Europe/Paris"}
    for x, inside in ((edge, False), (edge - dt.timedelta(microseconds=1), True), (edge + dt.timedelta(hours=1), False)):
        for found in answers(RULES_MO, {**base, "last_used": x.isoformat()}, at.astimezone(UTC)):
            assert found["older"] is inside, x


def test_a_month_ahead_from_the_31st_ends_on_the_months_last_day() -> None:
    # at 2026-01-31 09:00 New York: [T(+1mo), T(+2mo)) is [Feb 28 09:00, Mar 31 09:00)
    at = dt.datetime(2026, 1, 31, 9, 0, tzinfo=NY)
    low, high = dt.datetime(2026, 2, 28, 9, 0, tzinfo=NY), dt.datetime(2026, 3, 31, 9, 0, tzinfo=NY)
    us = dt.timedelta(microseconds=1)
    base = {"user_id": "u", "timezone": "America/New_York"}
    for x, inside in ((low, True), (low - us, False), (high - us, True), (high, False)):
        for found in answers(RULES_MO, {**base, "renews_at": x.isoformat()}, at):
            assert found["renewing"] is inside, x


# Ahead windows at their edges --------------------------------------------------------------------

# T = Thu 2026-03-05 17:45 New York (EST); a week later New York is on EDT, so T(+7d) on the wall
# clock is 23 hours of UTC earlier than T + 7 * 24h... one hour less: both are checked.
T = dt.datetime(2026, 3, 5, 17, 45, tzinfo=NY)


def wall_days(days: int) -> dt.datetime:
    return (T.replace(tzinfo=None) + dt.timedelta(days=days)).replace(tzinfo=NY).astimezone(UTC)


AHEAD = [
    # text, lower edge (instant, inside?), upper edge (instant, inside?)
    ("trial_ends less than 7d ahead", (T.astimezone(UTC), True), (wall_days(7), False)),
    ("trial_ends more than 7d ahead", (wall_days(7), False), None),
    ("trial_ends between 2d and 7d ahead", (wall_days(2), True), (wall_days(7), False)),
    ("trial_ends between 1mo and 2mo ahead",
     (wall_months(T.replace(tzinfo=None), 1).replace(tzinfo=NY).astimezone(UTC), True),
     (wall_months(T.replace(tzinfo=None), 2).replace(tzinfo=NY).astimezone(UTC), False)),
    ("trial_ends between 12h and 36h ahead", (T.astimezone(UTC) + dt.timedelta(hours=12), True),
     (T.astimezone(UTC) + dt.timedelta(hours=36), False)),
    # the ago forms, for the mirror: (T(-B), T(-A)]
    ("trial_ends between 2d and 7d ago", (wall_days(-7), False), (wall_days(-2), True)),
]


@pytest.mark.parametrize(("text", "low", "high"), AHEAD, ids=[a[0] for a in AHEAD])
def test_each_window_form_includes_exactly_its_edges(
    text: str, low: tuple[dt.datetime, bool], high: tuple[dt.datetime, bool] | None,
) -> None:
    rules = f'attribute trial_ends: time\ncampaign "c" {{\n segment {text}\n send push weekly thu 17:45 local\n}}\n'
    assert wall_days(7) != T.astimezone(UTC) + dt.timedelta(days=7)  # the calendar differs from 24-hour days
    us = dt.timedelta(microseconds=1)
    probes = [(low[0], low[1]), (low[0] - us, False), (low[0] + us, True)]
    if high is not None:
        probes += [(high[0], high[1]), (high[0] + us, False), (high[0] - us, True)]
    else:
        probes.append((low[0] + dt.timedelta(days=3000), True))
    for x, inside in probes:
        user = {"user_id": "u", "timezone": "America/New_York", "trial_ends": x.isoformat()}
        for found in answers(rules, user, T.astimezone(UTC)):
            assert found["c"] is inside, (text, x)


def test_an_ahead_window_is_false_for_a_past_event_and_unknown_without_one() -> None:
    rules = 'attribute trial_ends: time\ncampaign "c" {\n segment trial_ends less than 3d ahead\n send push daily 09:00 utc\n}\n'
    now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    for found in answers(rules, {"user_id": "u", "trial_ends": "2026-11-30T09:00:00Z"}, now):
        assert found["c"] is False
    for found in answers(rules, {"user_id": "u"}, now):
        assert found["c"] is None


# The search ------------------------------------------------------------------------------------

TRIAL = """attribute trial_ends: time
campaign "Trial ends in 3 days" {
    segment trial_ends less than 3d ahead
    send push daily 09:00 local
}
"""

# (window, whether an event at wall time `event` is in it at the occurrence at wall time `t`)
SEARCHED = [
    ("trial_ends less than 10d ahead", lambda t, event: t <= event < t + dt.timedelta(days=10)),
    ("trial_ends between 2w and 3w ahead",
     lambda t, event: t + dt.timedelta(weeks=2) <= event < t + dt.timedelta(weeks=3)),
    ("trial_ends between 1mo and 2mo ahead", lambda t, event: wall_months(t, 1) <= event < wall_months(t, 2)),
    ("trial_ends more than 2w ahead", lambda t, event: event > t + dt.timedelta(weeks=2)),
]


@pytest.mark.parametrize(("window", "inside"), SEARCHED, ids=[s[0] for s in SEARCHED])
@pytest.mark.parametrize("days_ahead", [0.5, 5, 40, 200, 390])
def test_the_first_send_before_an_event_is_found_however_far_ahead(window: str, inside: object, days_ahead: float) -> None:
    text = TRIAL.replace("trial_ends less than 3d ahead", window)
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    event = (now + dt.timedelta(days=days_ahead)).astimezone(NY).replace(hour=10, minute=0, second=0, microsecond=0)
    # expected: the first daily 09:00 New York (wall times: the windows are calendar ones) in the
    # window, at or after now, within the 400-day horizon
    wall = now.astimezone(NY).replace(tzinfo=None)
    day = wall.date() if wall.time() <= dt.time(9) else wall.date() + dt.timedelta(days=1)
    expected = None
    while day <= (now + dt.timedelta(days=400)).date():
        t_wall = dt.datetime.combine(day, dt.time(9))
        if inside(t_wall, event.replace(tzinfo=None)):  # type: ignore[operator]
            expected = t_wall.replace(tzinfo=NY).astimezone(UTC)
            break
        day += dt.timedelta(days=1)
    user = {"user_id": "u", "timezone": "America/New_York", "trial_ends": event.isoformat()}
    for rules in both(text):
        decisions = rules.evaluate(user, now)
        assert [d.send_at for d in decisions] == ([expected] if expected else []), (window, days_ahead)


def test_a_monthly_campaign_with_a_one_month_window_ahead_catches_each_event_once() -> None:
    rules = lapse_dsl.compile(
        'attribute renews_at: time\ncampaign "r" {\n segment renews_at between 1mo and 2mo ahead\n'
        ' send email monthly 1 09:00 local\n}\n', default_timezone="UTC").reference()
    occurrences = [dt.datetime(2026 + (m - 1) // 12, (m - 1) % 12 + 1, 1, 9, 0, tzinfo=PARIS) for m in range(1, 30)]
    for k in range(0, 400, 7):
        event = dt.datetime(2026, 4, 1, 3, 17, tzinfo=PARIS) + dt.timedelta(days=k, hours=k % 24)
        user = {"user_id": "u", "timezone": "Europe/Paris", "renews_at": event.isoformat()}
        caught = [t for t in occurrences if rules.in_segment(user, t.astimezone(UTC))["r"]]
        assert len(caught) == 1, (event, caught)


# The checker ------------------------------------------------------------------------------------

def warnings(text: str) -> list[str]:
    result = check([lapse_dsl.parse(text)])
    assert result.errors == (), result.errors
    return [d.message for d in result.warnings]


@pytest.mark.parametrize("amount", [1, 3, 24])
def test_a_window_in_a_few_minutes_warns_that_months_are_mo(amount: int) -> None:
    found = warnings(f"segment last_used more than {amount}m ago; send push weekly thu 17:45 local")
    minutes = "1 minute" if amount == 1 else f"{amount} minutes"
    assert f"'last_used more than {amount}m ago': {amount}m is {minutes}; for months write {amount}mo" in found


@pytest.mark.parametrize("amount", [25, 90])
def test_a_window_in_many_minutes_does_not_warn(amount: int) -> None:
    assert not any("for months" in w for w in warnings(f"segment last_used more than {amount}m ago; send push daily 09:00 utc"))


def test_a_window_mixing_months_and_days_warns_where_it_can_be_empty() -> None:
    found = warnings("segment last_used between 30d and 1mo; send push daily 09:00 utc")
    assert any("is empty at some occurrences: a month is 28 to 31 days" in w for w in found)
    assert not any("empty" in w for w in warnings("segment last_used between 27d and 1mo; send push daily 09:00 utc"))


def test_a_short_ahead_window_on_a_weekly_schedule_warns_of_a_hole() -> None:
    text = "attribute trial_ends: time\nsegment trial_ends less than 3d ahead; send push weekly thu 09:00 local"
    assert any("'trial_ends less than 3d ahead' is 3d wide but this schedule's occurrences are up to 1w apart" in w
               for w in warnings(text))
    assert not any("hole" in w for w in warnings(text.replace("3d ahead", "7d ahead")))


def test_whole_months_against_a_monthly_schedule_do_not_warn_of_a_hole() -> None:
    assert not any("hole" in w for w in warnings("segment last_used between 1mo and 2mo; send email monthly 1 09:00 local"))
    assert any("hole" in w for w in warnings("segment last_used between 1w and 2w; send email monthly 1 09:00 local"))


@pytest.mark.parametrize("segment", [
    "trial_ends more than 1w ahead and trial_ends less than 3d ahead",
    "trial_ends more than 1w ago and trial_ends less than 3d ahead",
    "trial_ends between 1w and 2w ahead and trial_ends between 1d and 3d ahead",
])
def test_windows_that_cannot_both_hold_are_warned(segment: str) -> None:
    found = warnings(f"attribute trial_ends: time\nsegment {segment}; send push daily 09:00 utc")
    assert any("cannot both be true" in w for w in found), found


@pytest.mark.parametrize("segment", [
    "trial_ends more than 3d ahead and trial_ends less than 1w ahead",
    "trial_ends less than 1w ago and trial_ends less than 3d ahead",
])
def test_windows_that_can_both_hold_are_not_warned(segment: str) -> None:
    found = warnings(f"attribute trial_ends: time\nsegment {segment}; send push daily 09:00 utc")
    assert not any("cannot both be true" in w for w in found), found


def test_a_split_ahead_window_suggests_between() -> None:
    found = warnings("attribute trial_ends: time\n"
                     "segment trial_ends more than 3d ahead and trial_ends less than 10d ahead; send push weekly thu 09:00 utc")
    assert any("leaves out users whose trial_ends is exactly 3d after an occurrence; "
               "write 'trial_ends between 3d and 10d ahead' to include them" in w for w in found), found


def test_explain_says_how_far_ahead_the_event_is() -> None:
    rules = lapse_dsl.compile(TRIAL, default_timezone="UTC")
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    text = str(rules.explain({"user_id": "u", "timezone": "UTC", "trial_ends": "2026-12-20T12:00:00Z"}, now))
    assert "trial_ends is 18d 3h ahead, needs less than 3d ahead" in text, text


# Hostile values: any time a record can hold, against any window ------------------------------------

WINDOW_FORMS = ["t between {a} and {b} ahead", "t less than {b} ahead", "t more than {b} ahead",
                "t between {a} and {b}", "t less than {b} ago", "t more than {b} ago"]
LONGEST = ["2m", "1d", "3d", "100mo", "1200mo", "5200w", "36500d"]


@settings(max_examples=150, deadline=None)
@given(form=st.sampled_from(WINDOW_FORMS), longest=st.sampled_from(LONGEST),
       value=st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
       now=st.sampled_from([dt.datetime(2026, 12, 1, tzinfo=UTC), dt.datetime(1000, 1, 1, tzinfo=UTC),
                            dt.datetime(8999, 12, 31, tzinfo=UTC)]))
def test_no_time_value_overflows_any_window(form: str, longest: str, value: dt.datetime, now: dt.datetime) -> None:
    # a value near year 1 or 9999 puts a window's flip outside what datetime holds: the search must
    # pass over it, on every path, and agree with the reference
    segment = form.format(a="1m", b=longest)
    text = f"attribute t: time\nsegment {segment}; send push daily 09:00 utc\n"
    rules = lapse_dsl.compile(text)
    user = {"user_id": "u", "t": value.replace(tzinfo=UTC).isoformat()}
    expected = rules.reference().evaluate(user, now)
    assert rules.evaluate(user, now) == expected
    assert rules.evaluate(dict(user), now, within=dt.timedelta(days=2)) == tuple(
        d for d in expected if d.send_at < now + dt.timedelta(days=2))
    assert dict(rules.in_segment(user, now)) == dict(rules.reference().in_segment(user, now))
    assert str(rules.explain(user, now))  # explain walks the same edges
