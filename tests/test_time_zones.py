"""Time, precisely: each user's own zone, DST gaps and folds, the exact edges of calendar windows,
and the zone fallback. Every expected instant is worked out by hand in a comment."""

from __future__ import annotations

import datetime as dt

import pytest

import lapse_dsl
from lapse_dsl.zones import get_zone

UTC = dt.UTC
SECOND = dt.timedelta(seconds=1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def sends(rules: lapse_dsl.RuleSet, user: dict[str, object], now: dt.datetime,
          since: dt.datetime | None = None) -> list[dt.datetime]:
    return [d.send_at for d in rules.evaluate(user, now, since=since)]


THURSDAY = lapse_dsl.compile("segment last_used between 2w and 3w; send push weekly thu 17:45 local")


def ny(last_used: str) -> dict[str, object]:
    return {"user_id": "u", "timezone": "America/New_York", "last_used": last_used}


# -- the window edges from the issue -------------------------------------------------------------
# T = Thu 2026-12-03 17:45 EST = 22:45Z. T(-2w) = Thu 11-19 17:45 EST = 22:45Z, T(-3w) = Thu 11-12
# 17:45 EST = 22:45Z, and the window is T(-3w) < last_used <= T(-2w). With now = T and no `since`,
# T itself is the first candidate: a decision at T means "in the segment at T".

T_DEC3 = at("2026-12-03T22:45:00Z")


@pytest.mark.parametrize(
    ("last_used", "expected"),
    [
        pytest.param("2026-11-19T22:45:00Z", ["2026-12-03T22:45:00Z"], id="upper-edge-exact-is-in"),
        # one second too recent for 12-03; at 12-10 the window is (11-19 22:45Z, 11-26 22:45Z]
        pytest.param("2026-11-19T22:45:01Z", ["2026-12-10T22:45:00Z"], id="upper-edge-plus-1s-is-out"),
        # exactly T(-3w) is excluded, and every later window starts later still: never again
        pytest.param("2026-11-12T22:45:00Z", [], id="lower-edge-exact-is-out"),
        pytest.param("2026-11-12T22:45:01Z", ["2026-12-03T22:45:00Z"], id="lower-edge-plus-1s-is-in"),
    ],
)
def test_window_edges_new_york(last_used: str, expected: list[str]) -> None:
    decisions = THURSDAY.evaluate(ny(last_used), T_DEC3)
    assert [d.send_at for d in decisions] == [at(e) for e in expected]
    if expected == ["2026-12-03T22:45:00Z"]:
        assert decisions[0].due  # send_at == now


def test_window_edges_in_segment() -> None:
    # in_segment at T reads T's wall clock, 17:45 EST: the same window as above
    assert THURSDAY.in_segment(ny("2026-11-19T22:45:00Z"), T_DEC3) == {"<string>:1": True}
    assert THURSDAY.in_segment(ny("2026-11-19T22:45:01Z"), T_DEC3) == {"<string>:1": False}
    assert THURSDAY.in_segment(ny("2026-11-12T22:45:00Z"), T_DEC3) == {"<string>:1": False}
    assert THURSDAY.in_segment(ny("2026-11-12T22:45:01Z"), T_DEC3) == {"<string>:1": True}


# -- weekly windows tile across DST ----------------------------------------------------------------


def test_fall_dst_user_is_captured_on_november_5() -> None:
    # last_used Thu 10-15 22:15Z = 18:15 EDT.
    # 10-22 17:45 EDT (21:45Z): T(-2w) = 10-08 21:45Z; 22:15Z is later: too recent.
    # 10-29 17:45 EDT (21:45Z): T(-2w) = 10-15 17:45 EDT = 21:45Z; 22:15Z is later: too recent.
    # 11-05 17:45 EST (22:45Z): T(-3w) = 10-15 21:45Z < 22:15Z <= T(-2w) = 10-22 21:45Z: in.
    # (With 24-hour days 11-05's window would be (10-15 22:45Z, 10-22 22:45Z]: a one-hour hole.)
    user = ny("2026-10-15T22:15:00Z")
    assert sends(THURSDAY, user, at("2026-10-16T00:00:00Z")) == [at("2026-11-05T22:45:00Z")]
    tick = at("2026-10-29T21:45:00Z")
    assert sends(THURSDAY, user, tick, since=tick - dt.timedelta(minutes=15)) == [at("2026-11-05T22:45:00Z")]
    after = at("2026-11-05T22:45:00Z")
    assert sends(THURSDAY, user, after + dt.timedelta(minutes=15), since=after) == []


def test_spring_dst_user_is_captured_on_march_5_and_not_again_on_march_12() -> None:
    # last_used Thu 02-19 22:15Z = 17:15 EST.
    # 03-05 17:45 EST (22:45Z): (02-12 22:45Z, 02-19 22:45Z]: in.
    # 03-12 17:45 EDT (21:45Z): T(-3w) = 02-19 17:45 EST = 22:45Z, and 22:15Z is not after it: out.
    # (With 24-hour days 03-12's T(-3w) would be 02-19 21:45Z and the user would be sent twice.)
    user = ny("2026-02-19T22:15:00Z")
    assert sends(THURSDAY, user, at("2026-02-20T00:00:00Z")) == [at("2026-03-05T22:45:00Z")]
    sent = at("2026-03-05T22:45:00Z")
    # the host's tick at 03-05 22:45Z reports it; later ticks (since = that tick) never see it again
    decisions = THURSDAY.evaluate(user, sent, since=sent - dt.timedelta(minutes=15))
    assert [(d.send_at, d.due) for d in decisions] == [(sent, True)]
    assert sends(THURSDAY, user, sent + dt.timedelta(minutes=15), since=sent) == []
    mar12 = at("2026-03-12T21:45:00Z")
    assert sends(THURSDAY, user, mar12, since=mar12 - dt.timedelta(minutes=15)) == []
    assert THURSDAY.in_segment(user, mar12) == {"<string>:1": False}


# -- windows are measured from the occurrence's nominal wall time ------------------------------------

SUNDAY_0230 = lapse_dsl.compile("segment last_used between 2w and 3w; send push weekly sun 02:30 local")


@pytest.mark.parametrize(
    ("last_used", "expected"),
    [
        # 03-08 02:30 is in the gap and fires at 03:30 EDT (07:30Z), but its window is measured from
        # the nominal 02:30: T(-2w) = 02-22 02:30 EST = 07:30Z, T(-3w) = 02-15 07:30Z.
        # 03-15 02:30 EDT (06:30Z): T(-2w) = 03-01 07:30Z, T(-3w) = 02-22 07:30Z: the windows tile.
        pytest.param("2026-02-22T07:30:00Z", "2026-03-08T07:30:00Z", id="upper-edge-of-shifted-occurrence"),
        pytest.param("2026-02-22T07:30:01Z", "2026-03-15T06:30:00Z", id="just-after-goes-to-next-week"),
        pytest.param("2026-02-22T08:15:00Z", "2026-03-15T06:30:00Z", id="not-measured-from-03:30"),
        pytest.param("2026-02-15T07:30:01Z", "2026-03-08T07:30:00Z", id="lower-edge-of-shifted-occurrence"),
    ],
)
def test_gap_occurrence_window_uses_nominal_wall_time(last_used: str, expected: str) -> None:
    user = ny(last_used)
    assert sends(SUNDAY_0230, user, at("2026-03-08T00:00:00Z")) == [at(expected)]


def test_in_segment_reads_the_wall_clock_of_at() -> None:
    # in_segment(user, 03-08T07:30Z) uses 07:30Z's wall reading, 03:30 EDT: T(-2w) = 02-22 03:30 EST
    # = 08:30Z. So a user at 08:15Z is in by in_segment, though evaluate() captures them on 03-15.
    user = ny("2026-02-22T08:15:00Z")
    assert SUNDAY_0230.in_segment(user, at("2026-03-08T07:30:00Z")) == {"<string>:1": True}


def test_fold_occurrence_window_bounds_use_the_first_instant() -> None:
    # weekly sun 01:30, `between 1w and 2w`. 11-08 01:30 EST (06:30Z): T(-1w) = 11-01 01:30 with fold=0
    # = 05:30Z (EDT), T(-2w) = 10-25 05:30Z. 11-15 (06:30Z): (11-01 05:30Z, 11-08 06:30Z].
    rules = lapse_dsl.compile("segment last_used between 1w and 2w; send push weekly sun 01:30 local")
    start = at("2026-11-02T00:00:00Z")
    assert sends(rules, ny("2026-11-01T05:30:00Z"), start) == [at("2026-11-08T06:30:00Z")]
    # the second 01:00 hour (EST, 06:00Z..07:00Z) belongs to the next week's window
    assert sends(rules, ny("2026-11-01T06:00:00Z"), start) == [at("2026-11-15T06:30:00Z")]


def test_hours_are_exact_and_days_are_calendar_across_dst() -> None:
    # T = Sun 2026-11-01 12:00 EST = 17:00Z (the day after 01:00 repeated).
    # `more than 1d ago`: T(-1d) = 10-31 12:00 EDT = 16:00Z.  `more than 24h ago`: 10-31 17:00Z.
    rules = lapse_dsl.compile(
        'campaign "days" { segment last_used more than 1d ago\n send push daily 12:00 local }\n'
        'campaign "hours" { segment last_used more than 24h ago\n send push daily 12:00 local }'
    )
    noon = at("2026-11-01T17:00:00Z")
    user = ny("2026-10-31T16:30:00Z")
    assert rules.in_segment(user, noon) == {"days": False, "hours": True}
    by_campaign = {d.campaign: d.send_at for d in rules.evaluate(user, noon)}
    assert by_campaign == {"hours": noon, "days": at("2026-11-02T17:00:00Z")}


# -- zones far from UTC ------------------------------------------------------------------------------

FOUR_ZONES = lapse_dsl.compile(
    'campaign "d-pago" { segment user_id is set\n send push weekly thu 17:45 "Pacific/Pago_Pago" }\n'
    'campaign "c-new-york" { segment user_id is set\n send push weekly thu 17:45 "America/New_York" }\n'
    'campaign "b-kathmandu" { segment user_id is set\n send push weekly thu 17:45 "Asia/Kathmandu" }\n'
    'campaign "a-kiritimati" { segment user_id is set\n send push weekly thu 17:45 "Pacific/Kiritimati" }\n'
)


def test_next_thursday_1745_after_november_30_in_four_zones() -> None:
    # now = Mon 2026-11-30T00:00Z. Kiritimati (+14): Thu 12-03 17:45 = 03:45Z. Kathmandu (+05:45):
    # 12:00Z. New York (-5): 22:45Z. Pago Pago (-11): Thu 12-03 17:45 = Fri 12-04 04:45Z.
    decisions = FOUR_ZONES.evaluate({"user_id": "u", "timezone": "Europe/Paris"}, at("2026-11-30T00:00:00Z"))
    assert [(d.campaign, d.send_at) for d in decisions] == [
        ("a-kiritimati", at("2026-12-03T03:45:00Z")),
        ("b-kathmandu", at("2026-12-03T12:00:00Z")),
        ("c-new-york", at("2026-12-03T22:45:00Z")),
        ("d-pago", at("2026-12-04T04:45:00Z")),
    ]
    for d in decisions:  # a named zone ignores the user's own timezone, and every local time is 17:45
        assert d.local_send_at.replace(tzinfo=None) == dt.datetime(2026, 12, 3, 17, 45)
        assert d.warnings == ()
    assert [d.timezone for d in decisions] == [
        "Pacific/Kiritimati", "Asia/Kathmandu", "America/New_York", "Pacific/Pago_Pago"]
    assert decisions[1].local_send_at.utcoffset() == dt.timedelta(hours=5, minutes=45)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Pacific/Kiritimati", "2026-12-03T03:45:00Z"),
        ("Pacific/Pago_Pago", "2026-12-04T04:45:00Z"),
        ("Asia/Kathmandu", "2026-12-03T12:00:00Z"),
    ],
)
def test_local_schedule_in_the_users_zone(zone: str, expected: str) -> None:
    rules = lapse_dsl.compile("segment user_id is set; send push weekly thu 17:45 local")
    (d,) = rules.evaluate({"user_id": "u", "timezone": zone}, at("2026-11-30T00:00:00Z"))
    assert d.send_at == at(expected)
    assert d.timezone == zone
    assert str(d.local_send_at.tzinfo) == zone


def test_kathmandu_window_is_a_plain_fixed_offset() -> None:
    # T = Thu 12-03 17:45 +05:45 = 12:00Z; window (11-12 12:00Z, 11-19 12:00Z]
    user = {"user_id": "u", "timezone": "Asia/Kathmandu", "last_used": "2026-11-19T12:00:00Z"}
    assert sends(THURSDAY, user, at("2026-11-30T00:00:00Z")) == [at("2026-12-03T12:00:00Z")]
    user["last_used"] = "2026-11-19T17:45:00+05:45"  # the same instant, written with its offset
    assert sends(THURSDAY, user, at("2026-11-30T00:00:00Z")) == [at("2026-12-03T12:00:00Z")]
    user["last_used"] = "2026-11-19T12:00:01Z"
    assert sends(THURSDAY, user, at("2026-11-30T00:00:00Z")) == [at("2026-12-10T12:00:00Z")]


# -- Australia/Lord_Howe: 30-minute DST ------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_used", "expected"),
    [
        # weekly sun 12:00, `between 1w and 2w`. DST starts Sun 10-04 at 02:00 (+10:30 -> +11).
        # T = Sun 10-11 12:00 +11 = 01:00Z. T(-1w) = 10-04 12:00 +11 = 01:00Z (after the change);
        # T(-2w) = 09-27 12:00 +10:30 = 01:30Z. The window (09-27 01:30Z, 10-04 01:00Z] is 30 min
        # shorter than 7 days, and 10-04's window (09-20 01:30Z, 09-27 01:30Z] meets it exactly.
        pytest.param("2026-09-27T01:30:00Z", "2026-10-04T01:00:00Z", id="upper-edge-of-10-04"),
        pytest.param("2026-09-27T01:30:01Z", "2026-10-11T01:00:00Z", id="lower-edge-of-10-11"),
        pytest.param("2026-10-04T01:00:00Z", "2026-10-11T01:00:00Z", id="upper-edge-of-10-11"),
        pytest.param("2026-10-04T01:00:01Z", "2026-10-18T01:00:00Z", id="next-week"),
    ],
)
def test_lord_howe_half_hour_dst_windows(last_used: str, expected: str) -> None:
    rules = lapse_dsl.compile("segment last_used between 1w and 2w; send push weekly sun 12:00 local")
    user = {"user_id": "u", "timezone": "Australia/Lord_Howe", "last_used": last_used}
    (d,) = rules.evaluate(user, at(last_used) + SECOND)  # now just after last_used: no clock skew
    assert d.send_at == at(expected)
    assert d.warnings == ()
    assert d.local_send_at.replace(tzinfo=None).time() == dt.time(12, 0)


def test_lord_howe_fold_fires_once() -> None:
    # 2026-04-05 01:30..02:00 happens twice (+11 then +10:30). daily 01:45 -> 04-04 14:45Z only.
    rules = lapse_dsl.compile("segment user_id is set; send push daily 01:45 local")
    user = {"user_id": "u", "timezone": "Australia/Lord_Howe"}
    first = at("2026-04-04T14:45:00Z")
    (d,) = rules.evaluate(user, first, since=first - dt.timedelta(minutes=5))
    assert d.send_at == first and d.due
    assert d.local_send_at.utcoffset() == dt.timedelta(hours=11)
    # a tick just after the second 01:45 (15:15Z) finds the next day's, not a repeat
    assert sends(rules, user, at("2026-04-04T15:20:00Z"), since=first) == [at("2026-04-05T15:15:00Z")]


# -- Pacific/Apia, December 2011: Friday 12-30 never happened -------------------------------------


def test_apia_has_no_occurrence_on_the_skipped_date() -> None:
    rules = lapse_dsl.compile("segment user_id is set; send push daily 10:00 local")
    user = {"user_id": "u", "timezone": "Pacific/Apia"}
    thu = at("2011-12-29T20:00:00Z")  # Thu 12-29 10:00 -10
    (d,) = rules.evaluate(user, thu + SECOND, since=thu)
    # the next is Sat 12-31 10:00 +14 = 12-30T20:00Z, exactly 24 hours later
    assert d.send_at == at("2011-12-30T20:00:00Z")
    assert d.local_send_at.replace(tzinfo=None) == dt.datetime(2011, 12, 31, 10, 0)
    assert d.local_send_at.utcoffset() == dt.timedelta(hours=14)


def test_apia_weekly_friday_skips_to_january() -> None:
    rules = lapse_dsl.compile("segment user_id is set; send push weekly fri 10:00 local")
    user = {"user_id": "u", "timezone": "Pacific/Apia"}
    assert sends(rules, user, at("2011-12-24T00:00:00Z")) == [at("2012-01-05T20:00:00Z")]  # Fri 01-06 10:00 +14


def test_apia_window_over_the_skipped_date() -> None:
    # weekly sat 10:00, `between 1w and 2w`. T = Sat 12-31 10:00 +14 = 12-30T20:00Z.
    # T(-1w) = Sat 12-24 10:00 -10 = 12-24T20:00Z; T(-2w) = 12-17T20:00Z. Calendar days on the wall
    # clock: the window is 7 calendar days although only 6 days (144 h) elapsed from 12-24 to 12-30.
    rules = lapse_dsl.compile("segment last_used between 1w and 2w; send push weekly sat 10:00 local")
    user = {"user_id": "u", "timezone": "Pacific/Apia", "last_used": "2011-12-24T20:00:00Z"}
    assert sends(rules, user, at("2011-12-25T00:00:00Z")) == [at("2011-12-30T20:00:00Z")]
    user["last_used"] = "2011-12-24T20:00:01Z"
    assert sends(rules, user, at("2011-12-25T00:00:00Z")) == [at("2012-01-06T20:00:00Z")]


# -- Africa/Cairo's Thursday fold (2026-10-29: 24:00 +3 -> 23:00 +2) --------------------------------


def test_cairo_thursday_fold_fires_once() -> None:
    rules = lapse_dsl.compile("segment user_id is set; send push weekly thu 23:30 local")
    user = {"user_id": "u", "timezone": "Africa/Cairo"}
    first = at("2026-10-29T20:30:00Z")  # the first 23:30 (+3)
    decisions = rules.evaluate(user, at("2026-10-29T20:45:00Z"), since=at("2026-10-29T20:00:00Z"))
    assert [(d.send_at, d.due) for d in decisions] == [(first, True)]
    # the tick that covers the second 23:30 (+2, 21:30Z) finds next Thursday's: 11-05 23:30 +2
    later = sends(rules, user, at("2026-10-29T21:45:00Z"), since=at("2026-10-29T20:45:00Z"))
    assert later == [at("2026-11-05T21:30:00Z")]


def test_cairo_window_bound_in_the_fold_is_the_first_instant() -> None:
    # weekly thu 23:30, `between 1w and 2w`. At 11-05 23:30 +2 (21:30Z): T(-1w) = 10-29 23:30 fold=0 =
    # 20:30Z. A user last seen at 21:00Z (between the two 23:30s) is captured at 11-12, where
    # T(-2w) = 10-29 20:30Z < 21:00Z <= T(-1w) = 11-05 21:30Z.
    rules = lapse_dsl.compile("segment last_used between 1w and 2w; send push weekly thu 23:30 local")
    user = {"user_id": "u", "timezone": "Africa/Cairo", "last_used": "2026-10-29T21:00:00Z"}
    assert sends(rules, user, at("2026-10-30T00:00:00Z")) == [at("2026-11-12T21:30:00Z")]
    user["last_used"] = "2026-10-29T20:30:00Z"
    assert sends(rules, user, at("2026-10-30T00:00:00Z")) == [at("2026-11-05T21:30:00Z")]


# -- Europe/Dublin (negative DST) and Europe/London --------------------------------------------------


def test_dublin_negative_dst_window() -> None:
    # tzdata gives Dublin IST (+1) as standard time and winter GMT as DST of -1h; only offsets matter.
    # T = Thu 11-05 17:45 GMT = 17:45Z. T(-2w) = 10-22 17:45 IST = 16:45Z; T(-3w) = 10-15 16:45Z.
    # 11-12 (17:45Z): T(-3w) = 10-22 16:45Z, T(-2w) = 10-29 17:45 GMT = 17:45Z.
    user = {"user_id": "u", "timezone": "Europe/Dublin", "last_used": "2026-10-22T16:45:00Z"}
    (d,) = THURSDAY.evaluate(user, at("2026-10-30T00:00:00Z"))
    assert d.send_at == at("2026-11-05T17:45:00Z")
    assert d.local_send_at.utcoffset() == dt.timedelta(0)
    assert d.local_send_at.dst() == dt.timedelta(hours=-1)  # negative DST, as tzdata has it
    user["last_used"] = "2026-10-22T17:00:00Z"  # 24-hour days would put this in 11-05's window
    assert sends(THURSDAY, user, at("2026-10-30T00:00:00Z")) == [at("2026-11-12T17:45:00Z")]


def test_dublin_summer_is_plus_one() -> None:
    user = {"user_id": "u", "timezone": "Europe/Dublin", "last_used": "2026-06-18T16:45:00Z"}
    # Thu 07-02 17:45 IST = 16:45Z; T(-2w) = 06-18 16:45Z: the upper edge
    (d,) = THURSDAY.evaluate(user, at("2026-06-20T00:00:00Z"))
    assert d.send_at == at("2026-07-02T16:45:00Z")
    assert d.local_send_at.utcoffset() == dt.timedelta(hours=1)


def test_london_calendar_day_across_spring_change() -> None:
    # daily 09:00, `more than 1d ago`. T = Sun 03-29 09:00 BST = 08:00Z; T(-1d) = 03-28 09:00 GMT
    # = 09:00Z: 25 hours earlier. last_used 03-28 08:30Z is before it: in.
    rules = lapse_dsl.compile("segment last_used more than 1d ago; send email daily 09:00 local")
    user = {"user_id": "u", "timezone": "Europe/London", "last_used": "2026-03-28T08:30:00Z"}
    assert sends(rules, user, at("2026-03-29T00:00:00Z")) == [at("2026-03-29T08:00:00Z")]
    user["last_used"] = "2026-03-28T09:00:00Z"  # not strictly before T(-1d): the next day, 03-30 08:00Z
    assert sends(rules, user, at("2026-03-29T00:00:00Z")) == [at("2026-03-30T08:00:00Z")]


# -- delivery zone and fallback --------------------------------------------------------------------

LOCAL_WITH_FILE_DEFAULT = lapse_dsl.compile(
    'default timezone "Asia/Tokyo"\nsegment user_id is set; send push daily 09:00 local',
    default_timezone="Europe/Paris",
)
LOCAL_NO_FILE_DEFAULT = lapse_dsl.compile(
    "segment user_id is set; send push daily 09:00 local", default_timezone="Europe/Paris"
)
NOW = at("2026-12-01T12:00:00Z")


@pytest.mark.parametrize(
    ("timezone", "problem"),
    [
        pytest.param("Mars/Olympus_Mons", "timezone 'Mars/Olympus_Mons' is not a valid IANA zone", id="unknown"),
        pytest.param("america/new_york", "timezone 'america/new_york' is not a valid IANA zone", id="lowercase"),
        pytest.param("localtime", "timezone 'localtime' is not a valid IANA zone", id="localtime"),
        pytest.param("+05:30", "timezone '+05:30' is not a valid IANA zone", id="raw-offset"),
        pytest.param("", "no timezone attribute", id="empty"),
        pytest.param(None, "no timezone attribute", id="null"),
        pytest.param(5.5, "timezone 5.5 is not a valid IANA zone", id="not-a-string"),
    ],
)
def test_zone_fallback_warns_and_never_fails(timezone: object, problem: str) -> None:
    user = {"user_id": "u", "timezone": timezone}
    (d,) = LOCAL_WITH_FILE_DEFAULT.evaluate(user, NOW)
    assert d.timezone == "Asia/Tokyo"
    assert d.send_at == at("2026-12-02T00:00:00Z")  # 12-02 09:00 +9
    assert d.warnings == (f"{problem}; delivered in Asia/Tokyo (the file's default timezone)",)
    (d,) = LOCAL_NO_FILE_DEFAULT.evaluate(user, NOW)
    assert d.timezone == "Europe/Paris"
    assert d.send_at == at("2026-12-02T08:00:00Z")  # 12-02 09:00 +1
    assert d.warnings == (f"{problem}; delivered in Europe/Paris (the default_timezone option)",)


def test_zone_fallback_when_timezone_is_missing() -> None:
    (d,) = LOCAL_NO_FILE_DEFAULT.evaluate({"user_id": "u"}, NOW)
    assert d.timezone == "Europe/Paris"
    assert d.warnings == ("no timezone attribute; delivered in Europe/Paris (the default_timezone option)",)
    compiled_default = lapse_dsl.compile("segment user_id is set; send push daily 09:00 local")
    (d,) = compiled_default.evaluate({"user_id": "u"}, NOW)
    assert (d.timezone, d.send_at) == ("UTC", at("2026-12-02T09:00:00Z"))


@pytest.mark.parametrize("timezone", ["UTC", "Etc/GMT+5", "Asia/Kolkata", "America/Argentina/Buenos_Aires"])
def test_valid_user_zone_is_used_without_warning(timezone: str) -> None:
    (d,) = LOCAL_WITH_FILE_DEFAULT.evaluate({"user_id": "u", "timezone": timezone}, NOW)
    assert d.timezone == timezone
    assert d.warnings == ()
    zone = get_zone(timezone)
    assert zone is not None
    assert d.local_send_at.tzinfo == zone
    assert d.local_send_at.replace(tzinfo=None).time() == dt.time(9, 0)


def test_utc_and_named_schedules_ignore_the_users_zone() -> None:
    rules = lapse_dsl.compile(
        'campaign "u" { segment user_id is set\n send push daily 09:00 utc }\n'
        'campaign "n" { segment user_id is set\n send push daily 09:00 "Asia/Kolkata" }'
    )
    decisions = rules.evaluate({"user_id": "u", "timezone": "not a zone"}, NOW)
    # 12-02 09:00 +05:30 = 03:30Z; 09:00Z
    assert [(d.campaign, d.timezone, d.send_at, d.warnings) for d in decisions] == [
        ("n", "Asia/Kolkata", at("2026-12-02T03:30:00Z"), ()),
        ("u", "UTC", at("2026-12-02T09:00:00Z"), ()),
    ]
