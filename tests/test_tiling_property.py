"""The tiling property: with `between 2w and 3w` and `weekly thu 17:45 local`, consecutive
occurrences' windows meet exactly, so every user whose last_used lies in the span the windows
cover is in the segment at exactly one occurrence — across DST changes, in zones with 30-minute
DST, negative DST, odd offsets and midnight transitions.

Membership is judged at each occurrence T (its instant and nominal wall time), as the search does:
with lapse_dsl.evaluate.truth over lapse_dsl.schedule.occurrences, and end to end with
RuleSet.evaluate (compiled and reference). RuleSet.in_segment is not used: it reads the wall clock
of the instant it is given, which differs from the nominal time of an occurrence shifted out of a gap.
"""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.evaluate import Moment, truth
from lapse_dsl.schedule import Occurrence, occurrences
from lapse_dsl.timecalc import Tz
from lapse_dsl.zones import get_zone

UTC = dt.UTC
SECOND = dt.timedelta(seconds=1)
MICRO = dt.timedelta(microseconds=1)
N_OCCURRENCES = 60

# Zones with no skipped local dates in the years drawn (Apia 2011 and Kiritimati 1994 are excluded).
ZONES = [
    "America/New_York", "Europe/London", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kathmandu",
    "America/Sao_Paulo", "Australia/Sydney", "Pacific/Auckland", "Asia/Tokyo", "America/Los_Angeles",
    "Africa/Cairo", "Pacific/Chatham", "America/Santiago", "Asia/Tehran", "Europe/Moscow",
]

RULES = lapse_dsl.compile("segment last_used between 2w and 3w; send push weekly thu 17:45 local")
REFERENCE = RULES.reference()
SEGMENT = RULES.rules[0].segment
SCHEDULE = RULES.rules[0].schedule
TWO_WEEKS, THREE_WEEKS = n.Duration(2, "w"), n.Duration(3, "w")

starts = st.datetimes(min_value=dt.datetime(2008, 1, 1), max_value=dt.datetime(2034, 1, 1), timezones=st.just(UTC))


def _moments(schedule: n.Schedule, zone: Tz, start: dt.datetime, count: int) -> list[Moment]:
    occs: list[Occurrence] = list(itertools.islice(occurrences(schedule, zone, start), count))
    return [Moment(o.at, o.wall, zone) for o in occs]


def _last_used(data: st.DataObject, bounds: list[dt.datetime]) -> dt.datetime:
    """Uniform in (or just around) the covered span, or within a second of a window edge."""
    lo, hi = bounds[0], bounds[-1]
    kind = data.draw(st.sampled_from(["uniform", "edge", "outside"]))
    if kind == "uniform":
        span = int((hi - lo) / MICRO)
        return lo + MICRO * data.draw(st.integers(0, span))
    if kind == "edge":
        edge = data.draw(st.sampled_from(bounds))
        return edge + data.draw(st.sampled_from([-SECOND, -MICRO, dt.timedelta(0), MICRO, SECOND]))
    side = data.draw(st.sampled_from([lo, hi]))
    return side + data.draw(st.integers(-30 * 86400, 30 * 86400)) * SECOND


@settings(max_examples=150, deadline=None)
@given(zone_name=st.sampled_from(ZONES), start=starts, data=st.data())
def test_weekly_windows_capture_each_user_exactly_once(zone_name: str, start: dt.datetime,
                                                       data: st.DataObject) -> None:
    zone = get_zone(zone_name)
    assert zone is not None
    moments = _moments(SCHEDULE, zone, start, N_OCCURRENCES)
    assert len(moments) == N_OCCURRENCES
    # the windows tile: each occurrence's T(-2w) is the next one's T(-3w)
    for a, b in itertools.pairwise(moments):
        assert a.back(TWO_WEEKS) == b.back(THREE_WEEKS)
    bounds = [m.back(THREE_WEEKS) for m in moments] + [moments[-1].back(TWO_WEEKS)]
    assert all(x < y for x, y in itertools.pairwise(bounds))
    lo, hi = bounds[0], bounds[-1]

    for _ in range(data.draw(st.integers(1, 8))):
        x = _last_used(data, bounds)
        hits = [i for i, m in enumerate(moments) if truth(SEGMENT, {"last_used": x}, m) is True]
        inside = lo < x <= hi
        assert len(hits) == (1 if inside else 0), (x, hits)
        if not inside:
            continue
        # end to end: the first decision from the first occurrence at or after last_used (so that
        # last_used is never later than now) is that occurrence, and a tick after it finds nothing, ever
        (k,) = hits
        user = {"user_id": "u", "timezone": zone_name, "last_used": x}
        now = next(m.at for m in moments if m.at >= x)
        for rules in (RULES, REFERENCE):
            decisions = rules.evaluate(user, now)
            assert [d.send_at for d in decisions] == [moments[k].at]
            assert rules.evaluate(user, moments[k].at + SECOND, since=moments[k].at) == ()


# A wider variant: any weekday and time (including times inside gaps and folds), any weekly window.
TIMES = ["00:00", "00:30", "01:30", "02:00", "02:15", "02:30", "03:30", "12:00", "17:45", "23:30", "23:59"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@settings(max_examples=60, deadline=None)
@given(zone_name=st.sampled_from(ZONES), start=starts, day=st.sampled_from(DAYS), time=st.sampled_from(TIMES),
       low=st.integers(0, 6), data=st.data())
def test_any_weekly_time_tiles(zone_name: str, start: dt.datetime, day: str, time: str, low: int,
                               data: st.DataObject) -> None:
    rules = lapse_dsl.compile(f"segment last_used between {low}w and {low + 1}w; send push weekly {day} {time} local")
    segment, schedule = rules.rules[0].segment, rules.rules[0].schedule
    zone = get_zone(zone_name)
    assert zone is not None
    moments = _moments(schedule, zone, start, 30)
    low_d, high_d = n.Duration(low, "w"), n.Duration(low + 1, "w")
    bounds = [m.back(high_d) for m in moments] + [moments[-1].back(low_d)]
    assert all(x < y for x, y in itertools.pairwise(bounds))
    for _ in range(6):
        x = _last_used(data, bounds)
        hits = sum(1 for m in moments if truth(segment, {"last_used": x}, m) is True)
        assert hits == (1 if bounds[0] < x <= bounds[-1] else 0), x
