"""Huge caps, re-eligibility periods and other far seek targets (issue 11, item 12): a search never
makes occurrences past the horizon, and seeking past a cap or re-eligibility point jumps there
instead of walking every occurrence in between. Occurrences are counted by wrapping the generator
both paths use; nothing here measures time."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl import RuleSet
from lapse_dsl import nodes as n
from lapse_dsl import schedule as schedule_module
from lapse_dsl.evaluate import HORIZON, Moment, truth
from lapse_dsl.schedule import Occurrence, occurrences
from lapse_dsl.timecalc import shift

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
HISTORY_AT = NOW - dt.timedelta(days=1, minutes=7)
# a day of a minute cron, plus some: what one search may make, whatever the period
BOUND = 2 * 1440

SCHEDULES = [
    ('cron "* * * * *" utc', UTC),
    ('cron "* * * * *" "America/New_York"', ZoneInfo("America/New_York")),
    ('cron "*/5 * * * *" "Australia/Lord_Howe"', ZoneInfo("Australia/Lord_Howe")),
    ('daily 09:00 "Europe/Paris"', ZoneInfo("Europe/Paris")),
    ("weekly mon 10:00 utc", UTC),
]
PERIODS = ["365d", "10000d", "1000w", "5000h", "36500d"]


class Counter:
    """Counts the occurrences evaluation makes: :func:`lapse_dsl.schedule.occurrences`, their one
    source, wrapped wherever a lapse_dsl module holds it, whichever modules those are."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for info in pkgutil.iter_modules(lapse_dsl.__path__):
            if info.name == "__main__":  # importing it runs the command line
                continue
            module = importlib.import_module(f"lapse_dsl.{info.name}")
            for name, value in vars(module).items():
                if value is schedule_module.occurrences:
                    monkeypatch.setattr(module, name, self._counted)

    def _counted(self, *args: Any, **kwargs: Any) -> Iterator[Occurrence]:
        for occurrence in occurrences(*args, **kwargs):
            self.count += 1
            yield occurrence


def rules(schedule: str, clause: str, segment: str = "user_id is set", extra: str = "") -> RuleSet:
    return lapse_dsl.compile(f'campaign "c" {{\n segment {segment}\n send push {schedule}\n {clause}\n {extra}\n}}\n')


def first_at_or_after(rs: RuleSet, zone: Any, point: dt.datetime) -> dt.datetime | None:
    """The answer, computed directly: the schedule's first occurrence at or after ``point``, if
    within the horizon."""
    (rule,) = rs.rules
    occurrence = next(occurrences(rule.schedule, zone, point, rule.from_date))
    return occurrence.at if occurrence.at <= NOW + HORIZON else None


def first_uncapped(rs: RuleSet, zone: Any, history_at: dt.datetime, count: int = 1) -> dt.datetime | None:
    """The answer by the cap's definition: the first occurrence whose window, measured back from
    its nominal wall time, holds fewer than ``count`` sends (searched from 3 days before the send
    leaves the window, so the definition, not the search, decides)."""
    (rule,) = rs.rules
    assert rule.cap is not None
    per = rule.cap.per
    for occurrence in occurrences(rule.schedule, zone, shift(history_at, zone, per, +1) - dt.timedelta(days=3)):
        if occurrence.at > NOW + HORIZON:
            return None
        if occurrence.at >= NOW and not history_at > Moment(occurrence.at, occurrence.wall, zone).back(per):
            return occurrence.at
    raise AssertionError("unreachable")


def both(rs: RuleSet, history: list[dict[str, str]], counter: Counter, user: dict[str, Any] | None = None,
         bound: int = BOUND) -> dt.datetime | None:
    """The send time both paths give, each having made at most ``bound`` occurrences."""
    answers = []
    for path in (rs, rs.reference()):
        counter.count = 0
        decisions = path.evaluate(user or {"user_id": "u1"}, NOW, history=history)
        assert counter.count <= bound
        assert counter.count or not decisions  # the counter sees the occurrences a decision comes from
        answers.append(decisions[0].send_at if decisions else None)
    assert answers[0] == answers[1]
    return answers[0]


@pytest.mark.parametrize(("schedule", "zone"), SCHEDULES, ids=[s for s, _ in SCHEDULES])
@pytest.mark.parametrize("period", PERIODS)
def test_a_huge_cap_jumps_to_where_the_send_leaves_the_window(
    schedule: str, zone: Any, period: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rs = rules(schedule, f"cap 1 per {period}")
    counter = Counter(monkeypatch)
    history = [{"campaign": "other", "channel": "push", "at": HISTORY_AT.isoformat()}]
    assert both(rs, history, counter) == first_uncapped(rs, zone, HISTORY_AT)


@pytest.mark.parametrize(("schedule", "zone"), SCHEDULES, ids=[s for s, _ in SCHEDULES])
@pytest.mark.parametrize("period", PERIODS)
def test_a_huge_reeligibility_period_jumps_to_its_end(
    schedule: str, zone: Any, period: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rs = rules(schedule, f"reeligible after {period}")
    counter = Counter(monkeypatch)
    history = [{"campaign": "c", "channel": "push", "at": HISTORY_AT.isoformat()}]
    (rule,) = rs.rules
    assert rule.reeligible is not None
    again = shift(HISTORY_AT, zone, rule.reeligible, +1)
    assert both(rs, history, counter) == first_at_or_after(rs, zone, max(again, NOW))


@pytest.mark.parametrize(("schedule", "zone"), SCHEDULES, ids=[s for s, _ in SCHEDULES])
@pytest.mark.parametrize("days", [1, 30, 200, 399, 401, 5000])
def test_a_cap_and_re_eligibility_far_ahead_together(
    schedule: str, zone: Any, days: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the campaign's own send, `days` days from now (a host's clock ahead): both controls block until after it
    at = NOW + dt.timedelta(days=days)
    rs = rules(schedule, "cap 1 per 1d", extra="reeligible after 2d")
    counter = Counter(monkeypatch)
    history = [{"campaign": "c", "channel": "push", "at": at.isoformat()}]
    assert both(rs, history, counter) == first_at_or_after(rs, zone, at + dt.timedelta(days=2))


@pytest.mark.parametrize(("schedule", "zone"), SCHEDULES, ids=[s for s, _ in SCHEDULES])
@pytest.mark.parametrize(("window", "days_ago"), [("more than 300d ago", 1), ("more than 1000d ago", 1),
                                                  ("between 200d and 201d", 2), ("more than 36500d ago", 3)])
def test_a_far_segment_change_jumps_too(
    schedule: str, zone: Any, window: str, days_ago: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # without history: evaluate's fused path seeks in the shared tables, reference() restarts its generator
    last_used = NOW - dt.timedelta(days=days_ago)
    rs = rules(schedule, "", segment=f"last_used {window}")
    counter = Counter(monkeypatch)
    user = {"user_id": "u1", "last_used": last_used.isoformat()}
    # a window's edge is approached from FLIP_MARGIN (3 days) before it: 3 more days of a minute cron
    got = both(rs, [], counter, user, bound=BOUND + 3 * 1440)
    (rule,) = rs.rules
    # the answer by walking the truth over the occurrences near the window's edges (it is false
    # before the first edge and, for `between`, after the last: a week's slack covers any schedule)
    (p,) = n.predicates(rule.segment)
    low, high = (p.duration, p.duration) if isinstance(p, n.MoreThanAgo) else (p.low, p.high)  # type: ignore[union-attr]
    expected = None
    for o in occurrences(rule.schedule, zone, max(NOW, last_used + low.nominal() - dt.timedelta(days=3))):
        if o.at > min(NOW + HORIZON, last_used + high.nominal() + dt.timedelta(days=8)):
            break
        if truth(rule.segment, {"last_used": last_used}, Moment(o.at, o.wall, zone)) is True:
            expected = o.at
            break
    assert got == expected


def test_a_from_date_far_ahead_starts_there(monkeypatch: pytest.MonkeyPatch) -> None:
    rs = rules('cron "* * * * *" utc', "from 2027-10-01")
    counter = Counter(monkeypatch)
    assert both(rs, [], counter) == dt.datetime(2027, 10, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# the compiled path's tables: a cursor jumps, and goes on past a table's end


def table_cursor(rs: RuleSet, zone: Any, start: dt.datetime) -> Any:
    """A cursor over the occurrence tables of ``rs``'s one compiled rule, from ``start``: this
    file's one reach into the compiled path's private objects (no public seam shows a cursor; the
    searches above test what the cursors are for, through ``evaluate``)."""
    (program,) = rs._engine.compiled
    return program.moments(zone, start)


@pytest.mark.parametrize(("schedule", "zone"), SCHEDULES, ids=[s for s, _ in SCHEDULES])
@pytest.mark.parametrize("ahead", [dt.timedelta(hours=5), dt.timedelta(days=40), dt.timedelta(days=402),
                                   dt.timedelta(days=2000)])
def test_table_cursors_seek_and_walk_like_the_generator(schedule: str, zone: Any, ahead: dt.timedelta) -> None:
    rs = rules(schedule, "")
    (rule,) = rs.rules
    start = NOW - dt.timedelta(days=5)
    cursor = table_cursor(rs, zone, start)
    target = NOW + ahead
    cursor.seek(target)
    expected = occurrences(rule.schedule, zone, target)
    for _ in range(50):
        moment = cursor.next()
        assert moment is not None
        assert (moment.at, moment.wall) == (lambda o: (o.at, o.wall))(next(expected))
    # a cursor that walks (no seek) through more than a table's reach goes on in the next table
    if schedule.startswith(("daily", "weekly")):
        walker = table_cursor(rs, zone, start)
        generated = occurrences(rule.schedule, zone, start)
        for _ in range(500 if schedule.startswith("daily") else 80):
            moment = walker.next()
            assert moment is not None and moment.at == next(generated).at


# ---------------------------------------------------------------------------------------------
# a cron starts its walls near its start, and makes the same occurrences as from a day earlier

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kathmandu",
         "America/Santiago", "Pacific/Chatham"]
CRONS = ["* * * * *", "*/7 * * * *", "30 2 * * *", "0,30 1-3 * * *", "15 0 * * sun"]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(CRONS),
       st.datetimes(min_value=dt.datetime(2010, 1, 1), max_value=dt.datetime(2030, 12, 31)))
def test_cron_occurrences_from_any_start_are_those_from_earlier(zone_name: str, expression: str, naive: dt.datetime
                                                                 ) -> None:
    zone = ZoneInfo(zone_name)
    start = naive.replace(tzinfo=UTC)
    schedule = n.Cron(expression, n.Zone("named", zone_name))
    ours = occurrences(schedule, zone, start)
    earlier = (o for o in occurrences(schedule, zone, start - dt.timedelta(days=3)) if o.at >= start)
    for _ in range(30):
        assert next(ours) == next(earlier)
