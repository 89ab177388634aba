"""Every evaluation path gives the reference's answers and errors: a property over generated rule
sets, users, instants, ``since`` and ``within``. The paths: the fused functions (a ``dict`` user,
no ``since``), the portfolio path (any other call, and every call on a large rule set: its static
index and window tables must never drop a campaign that answers anything but False), and the
reference interpreter. ``within`` is a filter: the decisions sending before ``now + within``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl.engine import INDEXED_FROM
from lapse_dsl.fuse import FUSE_MAX

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 24, 0, 0, tzinfo=UTC)

# Top-level `and`s of indexable guards and windows (the ladder shape the index serves), mixed with
# shapes it cannot index (or, not, a window under a junction, dates), over attributes of every type.
GUARDS = ['platform = "ios"', 'platform in ["ios", "web"]', 'country in ["FR", "US"]', "push_opted_in",
          "push_opted_in = false", "email_subscribed = true", "sessions = 5", "sessions >= 3", 'country != "DE"',
          "language is set", 'platform = "android"', "sessions in [1, 2, 5]"]
WINDOWS = ["last_used between 2d and 9d", "last_used between 1d and 2d", "last_used more than 3d ago",
           "last_used less than 36h ago", "first_used more than 20d ago", "first_used between 3w and 5w",
           "last_used between 30h and 50h", "first_used less than 10d ago",
           # upcoming events and calendar months (lapse_dsl.windows)
           "trial_ends less than 3d ahead", "trial_ends between 1d and 2w ahead", "trial_ends more than 1mo ahead",
           "trial_ends between 20h and 30h ahead", "first_used between 1mo and 2mo", "last_used more than 1mo ago"]
OTHERS = ["first_used before 2026-11-01", "first_used after 2026-10-20T12:00:00Z",
          '(platform = "ios" or last_used between 2d and 4d)', "not (last_used more than 6d ago)",
          '(sessions > 3 and last_used less than 5d ago) or country = "US"']
SCHEDULES = ["daily 09:00 utc", "weekly mon, thu 17:45 local", 'daily 12:00 "Europe/Paris"', 'cron "0 */6 * * *" utc',
             "every 2 weeks tue 10:30 local\n from 2026-11-02", "monthly 15 08:15 utc", "daily 23:30 local",
             "weekly sun 02:30 local"]
CONTROLS = ["", "", "cap 1 per 3d", "reeligible after 5d", "quiet hours 22:00 to 10:00 drop", "quiet hours 08:00 to 13:00",
            "status draft", "until 2026-11-27", "grace 2h"]
ZONES = ["America/New_York", "Europe/Paris", "Asia/Kathmandu", "Australia/Lord_Howe", "UTC", "not/a zone", "Pacific/Apia"]
INSTANTS = [NOW, dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC), dt.datetime(2026, 3, 29, 0, 45, tzinfo=UTC),
            dt.datetime(2026, 11, 26, 22, 45, tzinfo=UTC)]
WITHIN = [None, dt.timedelta(0), dt.timedelta(minutes=15), dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=8)]


def segment() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(GUARDS + WINDOWS + WINDOWS + OTHERS), min_size=1, max_size=4).map(" and ".join)


def rule(index: int) -> st.SearchStrategy[str]:
    return st.tuples(segment(), st.sampled_from(SCHEDULES), st.sampled_from(CONTROLS)).map(
        lambda p: f'campaign "c{index}" {{\n segment {p[0]}\n send push {p[1]}\n {p[2]}\n}}\n')


rule_sets = st.integers(1, 6).flatmap(lambda k: st.tuples(*(rule(i) for i in range(k)))).map(
    lambda rules: "attribute trial_ends: time\n" + "".join(rules))


# hours before `now` at which some window of WINDOWS has an edge
EDGES = [24, 30, 36, 48, 50, 72, 9 * 24, 10 * 24, 20 * 24, 21 * 24, 35 * 24]


class Ago(float):
    """Minutes before the instant the test evaluates at (made into a time there)."""


def ago() -> st.SearchStrategy[Ago]:
    anywhere = st.integers(-24 * 60, 40 * 24 * 60)
    near_an_edge = st.tuples(st.sampled_from(EDGES), st.integers(-26 * 60, 26 * 60)).map(lambda e: e[0] * 60 + e[1])
    return st.one_of(anywhere, near_an_edge, near_an_edge).map(Ago)


# hours after `now` at which some ahead window of WINDOWS has an edge
AHEAD_EDGES = [0, 20, 24, 30, 72, 14 * 24, 28 * 24, 31 * 24]


def ahead() -> st.SearchStrategy[Ago]:
    anywhere = st.integers(-70 * 24 * 60, 24 * 60)
    near_an_edge = st.tuples(st.sampled_from(AHEAD_EDGES), st.integers(-26 * 60, 26 * 60)).map(
        lambda e: -(e[0] * 60 + e[1]))
    return st.one_of(anywhere, near_an_edge, near_an_edge).map(Ago)


def at(value: Any, now: dt.datetime) -> Any:
    if isinstance(value, Ago):
        return (now - dt.timedelta(minutes=value)).isoformat().replace("+00:00", "Z")
    return value


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(None), values)


users = st.fixed_dictionaries({
    "last_used": _maybe(st.one_of(ago(), st.just("junk"))),
    "first_used": _maybe(ago()),
    "trial_ends": _maybe(ahead()),
    "sessions": _maybe(st.one_of(st.integers(0, 8), st.floats(0, 8, allow_nan=False))),
    "platform": _maybe(st.sampled_from(["ios", "android", "web", "tv"])),
    "country": _maybe(st.sampled_from(["FR", "US", "DE", ""])),
    "push_opted_in": _maybe(st.booleans()),
    "email_subscribed": _maybe(st.booleans()),
    "language": _maybe(st.sampled_from(["en", "fr"])),
    "timezone": _maybe(st.sampled_from(ZONES)),
}).map(lambda u: {"user_id": "u1", **{k: v for k, v in u.items() if v is not None}})


class Record(Mapping[str, Any]):
    """A user record that is a Mapping but not a dict: it takes the portfolio path."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The answer (in_segment's as a plain dict), or the error as (type, message)."""
    try:
        found = call(*args, **kwargs)
    except lapse_dsl.LapseError as exc:
        return type(exc).__name__, str(exc)
    return dict(found) if isinstance(found, Mapping) else found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=rule_sets, user=users, now=st.sampled_from(INSTANTS), within=st.sampled_from(WITHIN),
       since=st.sampled_from([None, dt.timedelta(minutes=15), dt.timedelta(hours=30)]))
def test_every_path_answers_as_the_reference(
    text: str, user: dict[str, Any], now: dt.datetime, within: dt.timedelta | None, since: dt.timedelta | None,
) -> None:
    user = {k: at(v, now) for k, v in user.items()}
    rules = lapse_dsl.compile(text, default_timezone="Europe/London")
    reference = rules.reference()
    after = None if since is None else now - since
    expected = outcome(reference.evaluate, user, now, since=after, within=within)
    assert outcome(rules.evaluate, user, now, since=after, within=within) == expected  # fused when since is None
    assert outcome(rules.evaluate, Record(user), now, since=after, within=within) == expected  # portfolio
    if within is not None and all(isinstance(d, lapse_dsl.Decision) for d in expected):
        unbounded = outcome(reference.evaluate, user, now, since=after)
        assert expected == tuple(d for d in unbounded if d.send_at < now + within)
    answers = outcome(reference.in_segment, user, now)
    assert outcome(rules.in_segment, user, now) == answers
    assert outcome(rules.in_segment, Record(user), now) == answers


def ladder(count: int) -> str:
    """A catalog of ``count`` campaigns as platforms run them: lapse ladders split by platform,
    country and channel, weekly and daily, in the user's zone and in fixed zones."""
    out = ["attribute trial_ends: time\n"]
    for i in range(count):
        low = 2 + (i * 7) % 60
        weekly = i % 3 != 0
        guards = [f'platform = "{("ios", "android", "web")[i % 3]}"']
        if i % 4 == 0:
            guards.append(f'country in ["{("FR", "US", "DE")[i % 3]}", "GB"]')
        if i % 5 == 0:
            guards.append("push_opted_in")
        if i % 7 == 0:
            guards.append(f"sessions >= {i % 6}")
        window = (f"last_used between {low}d and {low + (7 if weekly else 1)}d" if i % 11
                  else f"first_used more than {low}d ago")
        if i % 5 == 2:  # an upcoming event: the mirrored window, in days or months
            window = (f"trial_ends between {low % 20}d and {low % 20 + (7 if weekly else 1)}d ahead" if i % 2
                      else f"trial_ends between {i % 3}mo and {i % 3 + 1}mo ahead")
        when = f"weekly {('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[i % 7]}" if weekly else "daily"
        zone = ("local", "utc", '"Asia/Tokyo"')[i % 13 % 3] if i % 13 < 3 else "local"
        control = "\n quiet hours 22:00 to 08:00" if i % 17 == 0 else ""
        out.append(f'campaign "l{i:03d}" {{\n segment {" and ".join([window, *guards])}\n'
                   f' send push {when} {7 + i % 14:02d}:{(0, 15, 30, 45)[i % 4]:02d} {zone}{control}\n}}\n')
    return "".join(out)


@pytest.mark.parametrize("size", [INDEXED_FROM + 12, FUSE_MAX + 44])
def test_a_catalog_answers_as_the_reference(size: int) -> None:
    # fused for searches without `within` and indexed otherwise; then indexed for every call
    rules = lapse_dsl.compile(ladder(size), default_timezone="America/New_York")
    reference = rules.reference()
    zones = [*ZONES, None]
    decided = 0
    for now in (NOW, INSTANTS[2]):
        for i in range(120):
            user = {"user_id": f"u{i}", "last_used": now - dt.timedelta(minutes=(i * 997) % (70 * 1440)),
                    "first_used": now - dt.timedelta(days=40 + i % 50), "platform": ("ios", "android", "web")[i % 3],
                    "trial_ends": now + dt.timedelta(minutes=(i * 1231) % (100 * 1440)),
                    "country": ("FR", "US", "DE", "GB")[i % 4], "push_opted_in": i % 2 == 0, "sessions": i % 9,
                    "timezone": zones[i % len(zones)]}
            for within in (None, dt.timedelta(hours=1), dt.timedelta(days=1)):
                expected = reference.evaluate(user, now, within=within)
                assert rules.evaluate(user, now, within=within) == expected, (user, within)
                decided += len(expected)
            assert dict(rules.in_segment(user, now)) == dict(reference.in_segment(user, now)), user
    assert decided > size  # the users really match many campaigns
