"""Schedules -> occurrences, pinned by the golden fixture tests/fixtures/schedules.txt (format
documented at its top), plus the pieces of the gap/fold policy in lapse_dsl.timecalc."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import attrs
import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.schedule import Occurrence, occurrences
from lapse_dsl.timecalc import date_exists, local_wall, resolve, shift, shift_wall
from lapse_dsl.zones import get_zone

FIXTURE = Path(__file__).parent / "fixtures" / "schedules.txt"
UTC = dt.UTC


@attrs.frozen
class Case:
    name: str
    schedule: str
    zone: str
    start: dt.datetime
    expected: tuple[dt.datetime, ...]
    ends: bool  # the fixture says the schedule has no further occurrence


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    assert value.utcoffset() == dt.timedelta(0), f"fixture instants are UTC: {text}"
    return value.astimezone(UTC)


def read_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    fields: dict[str, str] = {}
    expected: list[dt.datetime] = []
    ends = False

    def flush() -> None:
        nonlocal ends
        if fields:
            assert expected, f"case {fields.get('name')} lists no occurrence"
            cases.append(Case(fields["name"], fields["schedule"], fields["zone"], _instant(fields["start"]),
                              tuple(expected), ends))
        fields.clear()
        expected.clear()
        ends = False

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            if not raw.strip():
                flush()
            continue
        if line.startswith("=="):
            flush()
            fields["name"] = line[2:].strip()
        elif line.startswith("->"):
            value = line[2:].strip()
            if value == "end":
                ends = True
            else:
                expected.append(_instant(value))
        else:
            key, _, value = line.partition(":")
            assert key in ("schedule", "zone", "start"), f"unknown fixture line: {raw!r}"
            fields[key] = value.strip()
    flush()
    return cases


CASES = read_cases(FIXTURE)


def _rules(case: Case) -> lapse_dsl.RuleSet:
    return lapse_dsl.compile(f"segment user_id is set; send push {case.schedule}")


def test_fixture_is_read() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "case ids are unique"
    assert len(CASES) >= 30
    zones = {c.zone for c in CASES}
    for zone in ("America/New_York", "Europe/London", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kathmandu",
                 "Pacific/Kiritimati", "Pacific/Pago_Pago", "Pacific/Apia", "Africa/Cairo"):
        assert zone in zones


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_occurrences(case: Case) -> None:
    rule = _rules(case).rules[0]
    zone = get_zone(case.zone)
    assert zone is not None
    it = occurrences(rule.schedule, zone, case.start, rule.from_date)
    got = [occ.at for occ in itertools.islice(it, len(case.expected))]
    assert got == list(case.expected)
    if case.ends:
        assert next(it, None) is None
    for occ in occurrences(rule.schedule, zone, case.start, rule.from_date):
        assert occ.at.tzinfo is UTC
        assert occ.wall.tzinfo is None
        break


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_through_evaluate(case: Case) -> None:
    """The same instants come out of RuleSet.evaluate for a user always in the segment."""
    rules = _rules(case)
    user = {"user_id": "u1", "timezone": case.zone}
    now = case.start
    for want in case.expected:
        decisions = rules.evaluate(user, now)
        assert [d.send_at for d in decisions] == [want], f"now={now.isoformat()}"
        (decision,) = decisions
        assert decision.timezone == case.zone
        # Compare through UTC: PEP 495 makes `==` between zones False for any time in a fold.
        assert decision.local_send_at.astimezone(UTC) == want
        assert str(decision.local_send_at.tzinfo) == case.zone
        now = want + dt.timedelta(microseconds=1)
    if case.ends:
        assert rules.evaluate(user, now) == ()


# -- nominal wall times ------------------------------------------------------------------------

NY = get_zone("America/New_York")
assert NY is not None


def _schedule(text: str) -> n.Schedule:
    return lapse_dsl.compile(f"segment user_id is set; send push {text}").rules[0].schedule


def test_occurrence_keeps_the_nominal_wall_time_when_shifted_out_of_a_gap() -> None:
    occ = next(occurrences(_schedule("weekly sun 02:30 local"), NY, dt.datetime(2026, 3, 8, tzinfo=UTC)))
    assert occ == Occurrence(dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC), dt.datetime(2026, 3, 8, 2, 30))
    assert local_wall(occ.at, NY) == dt.datetime(2026, 3, 8, 3, 30)  # delivered at 03:30 EDT


def test_fold_occurrence_is_the_first_instant() -> None:
    occ = next(occurrences(_schedule("weekly sun 01:30 local"), NY, dt.datetime(2026, 11, 1, tzinfo=UTC)))
    assert occ.at == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert occ.at.astimezone(NY).utcoffset() == dt.timedelta(hours=-4)  # EDT, the first 01:30


def test_start_inside_a_fold_after_the_first_instant_skips_to_next_week() -> None:
    # 06:00Z is 01:00 EST, the second 01:00; the second 01:30 (06:30Z) never fires.
    occ = next(occurrences(_schedule("weekly sun 01:30 local"), NY, dt.datetime(2026, 11, 1, 6, tzinfo=UTC)))
    assert occ.at == dt.datetime(2026, 11, 8, 6, 30, tzinfo=UTC)


def test_cron_instants_are_strictly_increasing_through_both_changes() -> None:
    sched = _schedule('cron "*/15 * * * *" local')
    for start in (dt.datetime(2026, 3, 8, 5, tzinfo=UTC), dt.datetime(2026, 11, 1, 4, tzinfo=UTC)):
        got = [o.at for o in itertools.islice(occurrences(sched, NY, start), 24)]
        assert all(a < b for a, b in itertools.pairwise(got))
        assert len(set(got)) == len(got)


def test_cron_fold_day_fires_23_times_hourly_on_a_25_hour_day() -> None:
    # 2026-11-01 in New York lasts 25 hours; an hourly cron names 24 wall times and 01:00 fires once.
    sched = _schedule('cron "0 * * * *" local')
    day_start = dt.datetime(2026, 11, 1, 4, tzinfo=UTC)  # 00:00 EDT
    day_end = dt.datetime(2026, 11, 2, 5, tzinfo=UTC)  # 00:00 EST the next day
    got = [o.at for o in itertools.takewhile(lambda o: o.at < day_end, occurrences(sched, NY, day_start))]
    assert len(got) == 24
    assert dt.datetime(2026, 11, 1, 6, tzinfo=UTC) not in got  # the second 01:00 (EST)


def test_cron_gap_day_fires_24_nominal_times_on_a_23_hour_day() -> None:
    # 2026-03-08 lasts 23 hours; 02:00 is shifted to 03:00 EDT (07:00Z), which is also the real 03:00:
    # it fires once, so the day has 23 distinct instants.
    sched = _schedule('cron "0 * * * *" local')
    day_start = dt.datetime(2026, 3, 8, 5, tzinfo=UTC)
    day_end = dt.datetime(2026, 3, 9, 4, tzinfo=UTC)
    occs = list(itertools.takewhile(lambda o: o.at < day_end, occurrences(sched, NY, day_start)))
    assert len(occs) == 23
    assert [o.wall.hour for o in occs[:4]] == [0, 1, 2, 4]
    assert occs[2].at == dt.datetime(2026, 3, 8, 7, tzinfo=UTC)


# -- timecalc ------------------------------------------------------------------------------------

APIA = get_zone("Pacific/Apia")
assert APIA is not None


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        pytest.param(dt.datetime(2026, 3, 8, 2, 30), dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC), id="gap-shifted-forward"),
        pytest.param(dt.datetime(2026, 3, 8, 2, 0), dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC), id="gap-start"),
        pytest.param(dt.datetime(2026, 3, 8, 3, 0), dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC), id="after-gap"),
        pytest.param(dt.datetime(2026, 11, 1, 1, 30), dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC), id="fold-first"),
        pytest.param(dt.datetime(2026, 11, 1, 2, 0), dt.datetime(2026, 11, 1, 7, 0, tzinfo=UTC), id="after-fold"),
        pytest.param(dt.datetime(2026, 12, 3, 17, 45), dt.datetime(2026, 12, 3, 22, 45, tzinfo=UTC), id="plain"),
    ],
)
def test_resolve_fold_zero(wall: dt.datetime, expected: dt.datetime) -> None:
    assert resolve(wall, NY) == expected


def test_date_exists() -> None:
    assert not date_exists(dt.date(2011, 12, 30), APIA)
    assert date_exists(dt.date(2011, 12, 29), APIA)
    assert date_exists(dt.date(2011, 12, 31), APIA)
    assert date_exists(dt.date(2026, 3, 8), NY)  # a gap of an hour does not remove the date
    kiritimati = get_zone("Pacific/Kiritimati")
    assert kiritimati is not None
    assert not date_exists(dt.date(1994, 12, 31), kiritimati)  # -10 -> +14 skipped a day


def test_shift_calendar_units_keep_the_wall_time() -> None:
    two_weeks = n.Duration(2, "w")
    # 2026-03-12 17:45 EDT minus two calendar weeks is 02-26 17:45 EST: 15 days of 24h minus an hour.
    t = dt.datetime(2026, 3, 12, 21, 45, tzinfo=UTC)
    assert shift(t, NY, two_weeks, -1) == dt.datetime(2026, 2, 26, 22, 45, tzinfo=UTC)
    assert shift(dt.datetime(2026, 2, 26, 22, 45, tzinfo=UTC), NY, two_weeks, +1) == t
    assert shift_wall(dt.datetime(2026, 3, 22, 2, 30), NY, n.Duration(14, "d"), -1) == dt.datetime(
        2026, 3, 8, 7, 30, tzinfo=UTC)  # lands in the gap: shifted forward


def test_shift_elapsed_units_are_exact() -> None:
    t = dt.datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 04:00 EDT
    assert shift(t, NY, n.Duration(3, "h"), -1) == dt.datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert shift(t, NY, n.Duration(90, "m"), +1) == dt.datetime(2026, 3, 8, 9, 30, tzinfo=UTC)
    assert shift_wall(dt.datetime(2026, 3, 8, 4, 0), NY, n.Duration(3, "h"), -1) == dt.datetime(
        2026, 3, 8, 5, 0, tzinfo=UTC)
