"""Campaigns that can never send get a warning saying why (issue 11, item 17): contradictory
windows and dates on one attribute under `and`, quiet hours with `drop` over every occurrence, and
a `once` or a date range with no occurrence. Each warned campaign is shown to send to nobody, and
each satisfiable neighbour gets no warning and does send to someone.
"""

from __future__ import annotations

import datetime as dt

import pytest

import lapse_dsl
from lapse_dsl.check import check
from lapse_dsl.errors import Diagnostic

UTC = dt.UTC
WEEKLY = "send push weekly thu 17:45 local"
DAILY = "send push daily 09:00 local"
NOWS = [dt.datetime(2026, 11, 30, tzinfo=UTC) + dt.timedelta(days=d, hours=h) for d in range(0, 21, 3) for h in (0, 13)]


def _users() -> list[dict[str, object]]:
    """last_used and first_used every few hours over 140 days before the first instant, in two zones,
    plus users without them."""
    base = NOWS[0]
    users: list[dict[str, object]] = [{"user_id": "none", "timezone": "America/New_York"}]
    for i, hours in enumerate(range(0, 140 * 24, 11)):
        moment = (base - dt.timedelta(hours=hours)).isoformat()
        other = (base - dt.timedelta(hours=(hours * 7) % (140 * 24))).isoformat()
        users.append({"user_id": f"u{i}", "timezone": "America/New_York" if i % 2 else "Asia/Kolkata",
                      "last_used": moment, "first_used": other, "trial_ends": moment,
                      "push_opted_in": bool(i % 3)})
    return users


USERS = _users()


def _never(text: str) -> list[Diagnostic]:
    """The never-sends warnings of a file (not the coverage warnings)."""
    diagnostics = check([lapse_dsl.parse(text)]).diagnostics
    return [d for d in diagnostics if "never sends" in d.message or "is never true" in d.message]


def _decisions(text: str, nows: list[dt.datetime] = NOWS, users: list[dict[str, object]] = USERS) -> int:
    rules = lapse_dsl.compile(text)
    return sum(len(rules.evaluate(user, now)) for now in nows for user in users)


# Contradictory windows and dates ------------------------------------------------------------------

CONTRADICTIONS = [
    # (condition, the two predicates in source order, why)
    ("last_used more than 3w ago and last_used less than 2w ago",
     "last_used more than 3w ago", "last_used less than 2w ago",
     "no last_used is less than 2w and more than 3w before the same occurrence"),
    ("last_used less than 2w ago and last_used more than 2w ago",
     "last_used less than 2w ago", "last_used more than 2w ago",
     "no last_used is less than 2w and more than 2w before the same occurrence"),
    ("last_used more than 14d ago and last_used less than 2w ago",
     "last_used more than 14d ago", "last_used less than 2w ago",
     "no last_used is less than 2w and more than 14d before the same occurrence"),
    ("last_used between 2w and 3w and last_used more than 3w ago",
     "last_used between 2w and 3w", "last_used more than 3w ago",
     "no last_used is less than 3w and more than 3w before the same occurrence"),
    ("last_used between 2w and 3w and last_used less than 2w ago",
     "last_used between 2w and 3w", "last_used less than 2w ago",
     "no last_used is less than 2w and at least 2w before the same occurrence"),
    ("last_used between 1w and 2w and last_used between 3w and 4w",
     "last_used between 1w and 2w", "last_used between 3w and 4w",
     "no last_used is less than 2w and at least 3w before the same occurrence"),
    ("last_used more than 48h ago and last_used less than 1d ago",
     "last_used more than 48h ago", "last_used less than 1d ago",
     "no last_used is less than 1d and more than 48h before the same occurrence"),
    ("last_used less than 90m ago and last_used between 2h and 1d",
     "last_used less than 90m ago", "last_used between 2h and 1d",
     "no last_used is less than 90m and at least 2h before the same occurrence"),
    ("last_used after 2026-06-01 and last_used before 2026-01-01",
     "last_used after 2026-06-01", "last_used before 2026-01-01",
     "no last_used is after 2026-06-01 and before 2026-01-01"),
    ("last_used before 2026-03-01 and last_used after 2026-03-01",
     "last_used before 2026-03-01", "last_used after 2026-03-01",
     "no last_used is after 2026-03-01 and before 2026-03-01"),
    ("last_used after 2026-11-01T10:00:00Z and last_used before 2026-11-01T09:00:00+00:00",
     "last_used after 2026-11-01T10:00:00Z", "last_used before 2026-11-01T09:00:00Z",
     "no last_used is after 2026-11-01T10:00:00Z and before 2026-11-01T09:00:00+00:00"),
    ("last_used after 2026-11-03T00:00:00Z and last_used before 2026-11-01",
     "last_used after 2026-11-03T00:00:00Z", "last_used before 2026-11-01",
     "no last_used is after 2026-11-03T00:00:00Z and before 2026-11-01"),
    ("last_used is not set and last_used more than 2w ago",
     "last_used is not set", "last_used more than 2w ago",
     "when last_used is not set, 'last_used more than 2w ago' is never true"),
    ("first_used is set and push_opted_in and first_used is not set",
     "first_used is set", "first_used is not set",
     "when first_used is not set, 'first_used is set' is never true"),
    ("trial_ends after 2027-01-01 and trial_ends before 2026-12-01",
     "trial_ends after 2027-01-01", "trial_ends before 2026-12-01",
     "no trial_ends is after 2027-01-01 and before 2026-12-01"),
]
PREAMBLE = "attribute trial_ends: time\n"


@pytest.mark.parametrize("case", CONTRADICTIONS, ids=[c[0] for c in CONTRADICTIONS])
def test_a_contradictory_conjunction_is_warned_and_never_sends(case: tuple[str, str, str, str]) -> None:
    condition, first, second, why = case
    text = f"{PREAMBLE}segment {condition}; {DAILY}"
    (warning,) = _never(text)
    line = text.split("\n")[1]
    assert warning.severity == "warning" and warning.line == 2
    assert warning.column == line.index(second.split()[0], line.index(first) + len(first)) + 1
    assert warning.message == (f"'{first}' and '{second}' cannot both be true ({why}): "
                               "no user is ever in this segment, so this campaign never sends")
    assert _decisions(text) == 0


@pytest.mark.parametrize("case", CONTRADICTIONS[:4], ids=[c[0] for c in CONTRADICTIONS[:4]])
def test_a_contradictory_part_of_an_or_is_named_as_a_part(case: tuple[str, str, str, str]) -> None:
    text = f"{PREAMBLE}segment push_opted_in or ({case[0]}); {DAILY}"
    (warning,) = _never(text)
    assert warning.message.endswith("): this part of the condition is never true")
    assert _decisions(text) > 0  # the other part still sends


def test_a_contradiction_in_a_campaign_block_points_at_its_line() -> None:
    text = ('campaign "Never" {\n'
            "    send push weekly thu 17:45 local\n"
            "    segment (push_opted_in and last_used more than 3w ago\n"
            "        and last_used less than 2w ago)\n"
            "}\n")
    (warning,) = _never(text)
    assert (warning.line, warning.column) == (4, 13)
    assert warning.source_line == "        and last_used less than 2w ago)"


SATISFIABLE = [
    "last_used more than 2w ago and last_used less than 3w ago",
    "last_used between 2w and 3w and last_used more than 1w ago",
    "last_used between 2w and 3w and last_used less than 4w ago",
    "last_used between 1w and 2w or last_used between 3w and 4w",
    "last_used more than 24h ago and last_used less than 2d ago",  # a calendar day can be 23 or 25 hours
    "last_used more than 1d ago and last_used less than 47h ago",
    "last_used after 2026-01-01 and last_used before 2026-12-01",
    "last_used after 2026-11-01T10:00:00Z and last_used before 2026-11-02",  # a zone's midnight can be later
    "not (last_used more than 3w ago and last_used less than 2w ago)",  # under not: not a window
    "last_used more than 3w ago and first_used less than 2w ago",  # two attributes
    "last_used is set and last_used more than 2w ago",
    "last_used is not set or last_used more than 2w ago",
    "trial_ends after 2026-01-01 and trial_ends before 2027-01-01",
]


@pytest.mark.parametrize("condition", SATISFIABLE)
def test_a_satisfiable_neighbour_gets_no_warning_and_sends(condition: str) -> None:
    text = f"{PREAMBLE}segment {condition}; {DAILY}"
    assert _never(text) == []
    assert _decisions(text) > 0


# Quiet hours that drop every occurrence ----------------------------------------------------------------

DROPPED = [
    ("send push daily 23:00 local", "22:00 to 08:00", "at 23:00"),
    ("send push daily 22:00 local", "22:00 to 08:00", "at 22:00"),  # the start is quiet
    ("send push daily 07:59 local", "22:00 to 08:00", "at 07:59"),
    ("send push daily 00:00 utc", "22:00 to 08:00", "at 00:00"),
    ("send push daily 13:30 local", "12:00 to 14:00", "at 13:30"),
    ("send push weekly mon,thu 06:00 local", "21:00 to 07:00", "at 06:00"),
    ('send push every 2 weeks sat 23:30 "Europe/Paris"', "23:00 to 23:45", "at 23:30"),
    ("send push monthly 1 03:00 local", "00:00 to 06:00", "at 03:00"),
    ("send push once 2026-12-24 23:00 local", "22:00 to 08:00", "at 23:00"),
    ('send push cron "*/15 22-23 * * *" local', "22:00 to 08:00", "at every time the cron expression names"),
    ('send push cron "0 0-7 * * 1-5" local', "22:00 to 08:00", "at every time the cron expression names"),
]


@pytest.mark.parametrize(("send", "quiet", "at"), DROPPED)
def test_quiet_hours_that_drop_every_occurrence_are_warned_and_never_send(send: str, quiet: str, at: str) -> None:
    text = f"segment last_used more than 1d ago; {send}; from 2026-11-01; quiet hours {quiet} drop"
    (warning,) = _never(text)
    assert warning.column == text.index("quiet hours") + 1
    start, end = quiet.split(" to ")
    assert warning.message == (f"every occurrence of this schedule ({at}) falls in quiet hours {start} to {end} and "
                               f"'drop' skips it: this campaign never sends; write 'defer' to send at {end} instead")
    # every user's search walks the whole horizon of dropped occurrences: a sample is enough
    assert _decisions(text, NOWS[::4], USERS[::8]) == 0
    assert _decisions(text.replace(" drop", " defer"), NOWS[::4], USERS[::8]) > 0  # what the warning suggests sends


@pytest.mark.parametrize(
    ("send", "quiet"),
    [
        ("send push daily 08:00 local", "22:00 to 08:00 drop"),  # the end is not quiet
        ("send push daily 21:59 local", "22:00 to 08:00 drop"),
        ("send push daily 23:00 local", "22:00 to 08:00 defer"),
        ("send push daily 23:00 local", "22:00 to 08:00"),
        ("send push daily 14:00 local", "12:00 to 14:00 drop"),
        ('send push cron "*/15 21-23 * * *" local', "22:00 to 08:00 drop"),  # 21:xx is not quiet
        ('send push cron "0 7,8 * * *" local', "22:00 to 08:00 drop"),
    ],
)
def test_quiet_hours_that_spare_an_occurrence_get_no_warning(send: str, quiet: str) -> None:
    text = f"segment last_used more than 1d ago; {send}; quiet hours {quiet}"
    assert _never(text) == []
    assert _decisions(text) > 0


# `once`, `from` and `until` ----------------------------------------------------------------------------

ONCE = "segment last_used more than 1d ago; send push once {once} 18:00 local"


@pytest.mark.parametrize(
    ("clauses", "once", "word"),
    [("; until 2026-12-01", "2026-12-24", "after 'until 2026-12-01'"),
     ("; until 2026-12-23", "2026-12-24", "after 'until 2026-12-23'"),
     ("; from 2027-01-01", "2026-12-24", "before 'from 2027-01-01'"),
     ("; from 2026-12-25; until 2027-12-31", "2026-12-24", "before 'from 2026-12-25'")],
)
def test_once_outside_from_and_until_is_warned_and_never_sends(clauses: str, once: str, word: str) -> None:
    text = ONCE.format(once=once) + clauses
    (warning,) = _never(text)
    assert warning.column == text.index(once) + 1
    assert warning.message == (f"'once {once}' is {word}: the only occurrence is outside the campaign's dates, "
                               "so this campaign never sends")
    assert _decisions(text, [dt.datetime(2026, 12, 24, tzinfo=UTC), dt.datetime(2026, 12, 25, tzinfo=UTC)]) == 0


@pytest.mark.parametrize("clauses", ["", "; until 2026-12-24", "; from 2026-12-24", "; from 2026-12-01; until 2026-12-31"])
def test_once_inside_from_and_until_gets_no_warning(clauses: str) -> None:
    text = ONCE.format(once="2026-12-24") + clauses
    assert _never(text) == []
    assert _decisions(text, [dt.datetime(2026, 12, 24, tzinfo=UTC)]) > 0


EMPTY_RANGES = [
    ("send push weekly thu 17:45 local", "2026-12-04", "2026-12-09"),  # Friday to Wednesday
    ("send push weekly sat,sun 10:00 local", "2026-12-07", "2026-12-11"),
    ("send push monthly 15 09:00 local", "2026-12-16", "2027-01-14"),
    ("send push every 2 weeks thu 09:00 local", "2026-12-07", "2026-12-09"),  # week 0 starts Monday; Thursday is after until
    ("send push every 3 weeks mon 09:00 local", "2026-12-08", "2026-12-27"),  # the next Monday of week 3 is 2026-12-28
    ('send push cron "0 9 1 1 *" local', "2026-01-02", "2026-12-31"),
]


@pytest.mark.parametrize(("send", "start", "end"), EMPTY_RANGES)
def test_a_date_range_without_an_occurrence_is_warned_and_never_sends(send: str, start: str, end: str) -> None:
    text = f"segment last_used more than 1d ago; {send}; from {start}; until {end}"
    (warning,) = _never(text)
    assert warning.column == text.index("until") + 1
    schedule = send.removeprefix("send push ")
    assert warning.message == (f"no occurrence of '{schedule}' falls between 'from {start}' and 'until {end}': "
                               "this campaign never sends")
    first = dt.datetime.fromisoformat(start).replace(tzinfo=UTC) - dt.timedelta(days=1)
    assert _decisions(text, [first + dt.timedelta(days=d) for d in range(0, 400, 3)]) == 0


@pytest.mark.parametrize(("send", "start", "end"), EMPTY_RANGES)
def test_a_date_range_one_day_longer_gets_no_warning(send: str, start: str, end: str) -> None:
    # widen the range until it holds an occurrence: then no warning, and the campaign sends
    later = dt.date.fromisoformat(end)
    rules = None
    for _ in range(400):
        later += dt.timedelta(days=1)
        text = f"segment last_used more than 1d ago; {send}; from {start}; until {later}"
        if not _never(text):
            rules = text
            break
    assert rules is not None
    first = dt.datetime.fromisoformat(start).replace(tzinfo=UTC) - dt.timedelta(days=1)
    assert _decisions(rules, [first + dt.timedelta(days=d) for d in range(0, 400, 3)]) > 0


def test_the_example_rules_have_no_never_sends_warning() -> None:
    rules = lapse_dsl.load("rules")
    assert [w for w in rules.warnings if "never" in w.message] == []
