"""``lapse describe``: each campaign in plain words. The window dates, sends and zones are computed
here independently with zoneinfo (wall-clock arithmetic by hand), never by lapse's own functions;
which users a missing attribute excludes is checked by brute force over small value domains."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.cli import main
from lapse_dsl.describe import excluded_when_missing
from lapse_dsl.evaluate import truth

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
UTC = dt.UTC
NY = ZoneInfo("America/New_York")


def lapse(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def described(capsys: pytest.CaptureFixture[str], rules: Path | str, now: str, *flags: str) -> dict[str, dict[str, Any]]:
    code, out, err = lapse(capsys, "describe", rules, "--now", now, "--format", "json", *flags)
    assert code == 0, err
    data = json.loads(out)
    assert data["at"] == now
    return {c["campaign"]: c for c in data["campaigns"]}


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def wall(moment: dt.datetime) -> str:
    """The words describe uses for a wall time, spelt here by hand."""
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return f"{days[moment.weekday()]} {moment.day} {months[moment.month - 1]} {moment.year} {moment:%H:%M}"


def next_local(now: dt.datetime, zone: ZoneInfo, weekday: int | None, hour: int, minute: int) -> dt.datetime:
    """The first wall time ``hour:minute`` on ``weekday`` (None: any day) at or after ``now``, in ``zone``."""
    day = now.astimezone(zone).date()
    while True:
        candidate = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if (weekday is None or day.weekday() == weekday) and candidate >= now:
            return candidate
        day += dt.timedelta(days=1)


def walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for node in nodes:
        out.append(node)
        out += walk(node.get("children", []))
    return out


def predicate(campaign: dict[str, Any], text: str) -> dict[str, Any]:
    found = [node for node in walk(campaign["who"]["conditions"]) if node.get("text") == text]
    assert len(found) == 1, (text, campaign["who"])
    return found[0]


# windows: the dates at the next send ---------------------------------------------------------------


def test_window_dates_are_wall_clock_weeks_across_a_dst_change(capsys: pytest.CaptureFixture[str]) -> None:
    # New York left daylight saving on 1 Nov 2026: three weeks before Thu 5 Nov 17:45 EST is
    # Thu 15 Oct 17:45 EDT, 21:45Z, an hour from what 21 days of 24 hours would give
    now = dt.datetime(2026, 11, 2, tzinfo=UTC)
    campaign = described(capsys, RULES / "braze_lapsing.lapse", iso(now))["Lapsed users - 2 weeks"]
    send = next_local(now, NY, 3, 17, 45)
    # (arithmetic on an aware datetime keeps its wall clock; in UTC it is elapsed time)
    low, high = send - dt.timedelta(weeks=3), send - dt.timedelta(weeks=2)
    assert iso(low) == "2026-10-15T21:45:00Z" != iso(send.astimezone(UTC) - dt.timedelta(weeks=3))
    node = predicate(campaign, "last_used between 2w and 3w")
    assert node["words"] == "last used between 2 and 3 weeks before the send"
    (at,) = node["at_sends"]
    assert at["send"] == send.isoformat()
    assert at["low"] == {"at": iso(low), "inclusive": False}
    assert at["high"] == {"at": iso(high), "inclusive": True}
    assert at["words"] == (f"for the send on {wall(send)} New York time ({send.astimezone(UTC):%H:%M} UTC): "
                           f"after {wall(low)} and at or before {wall(high)}")
    assert campaign["who"]["zone"] == "America/New_York"  # the file's default timezone


def test_text_says_the_window_at_the_next_send(capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime(2026, 11, 30, tzinfo=UTC)
    code, out, _ = lapse(capsys, "describe", RULES / "braze_lapsing.lapse", "--now", iso(now))
    assert code == 0
    send = next_local(now, NY, 3, 17, 45)
    low, high = send - dt.timedelta(weeks=3), send - dt.timedelta(weeks=2)
    assert (f"last used between 2 and 3 weeks before the send  [last_used between 2w and 3w]\n"
            f"        for the send on {wall(send)} New York time (22:45 UTC): after {wall(low)} and at or before "
            f"{wall(high)}") in out
    assert out.startswith('campaign "Lapsed users - 2 weeks"  (')
    for heading in ("  WHO: ", "  WHAT: push", "  WHEN: ", "  DELIVERY", "  NOTES"):
        assert heading in out
    assert "a user without a valid timezone gets America/New_York (the file's default timezone)" in out
    assert "a user without last_used or push_opted_in is never in it" in out


def test_ahead_window_is_measured_forward_from_the_send(capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime(2026, 11, 30, 16, tzinfo=UTC)  # after today's 10:00 New York send
    campaign = described(capsys, RULES / "trial_ending.lapse", iso(now))["Trial ends in 3 days"]
    send = next_local(now, NY, None, 10, 0)
    assert send.date() == dt.date(2026, 12, 1)
    node = predicate(campaign, "trial_ends between 2d and 3d ahead")
    assert node["words"] == "trial ends 2 to 3 days after the send"
    (at,) = node["at_sends"]
    assert at["low"] == {"at": iso(send + dt.timedelta(days=2)), "inclusive": True}
    assert at["high"] == {"at": iso(send + dt.timedelta(days=3)), "inclusive": False}
    assert at["words"].endswith(f"at or after {wall(send + dt.timedelta(days=2))} and before "
                                f"{wall(send + dt.timedelta(days=3))}")


def test_months_and_more_than_ago(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "m.lapse").write_text(
        'campaign "M" { segment last_used between 1mo and 2mo and first_used more than 26w ago; '
        'send email monthly 31 10:00 "Europe/Paris" }\n', encoding="utf-8")
    now = dt.datetime(2027, 3, 1, tzinfo=UTC)
    campaign = described(capsys, tmp_path, iso(now))["M"]
    paris = ZoneInfo("Europe/Paris")
    send = dt.datetime(2027, 3, 31, 10, tzinfo=paris)  # March has a 31st; Paris is on summer time since the 28th
    (window,) = predicate(campaign, "last_used between 1mo and 2mo")["at_sends"]
    assert window["send"] == send.isoformat()
    # one and two calendar months back, clamped to the month's last day: 28 Feb and 31 Jan, winter time
    assert window["high"]["at"] == iso(dt.datetime(2027, 2, 28, 10, tzinfo=paris))
    assert window["low"]["at"] == iso(dt.datetime(2027, 1, 31, 10, tzinfo=paris))
    (older,) = predicate(campaign, "first_used more than 26w ago")["at_sends"]
    assert older == {**older, "high": {"at": iso(send - dt.timedelta(weeks=26)), "inclusive": False}}
    assert "low" not in older
    assert older["words"].endswith(f": before {wall(send - dt.timedelta(weeks=26))}")
    when = campaign["when"]
    assert when["delivers"] == "in Europe/Paris for every user"
    assert [z["zone"] for z in when["schedules"][0]["zones"]] == ["Europe/Paris"]  # --zones is for local campaigns
    sends = [s["local"] for s in when["schedules"][0]["zones"][0]["sends"]]
    assert sends == [dt.datetime(2027, m, d, 10, tzinfo=paris).isoformat() for m, d in ((3, 31), (4, 30), (5, 31))]


# named segments ------------------------------------------------------------------------------------


def test_named_segments_by_name_with_their_definition(capsys: pytest.CaptureFixture[str]) -> None:
    path = RULES / "ladder_shared_segments.lapse"
    text = path.read_text(encoding="utf-8")
    defined = {}  # read from the file's text: segment "NAME" = DEFINITION on its own line
    for number, line in enumerate(text.splitlines(), 1):
        found = re.match(r'segment "([^"]+)" = (.*)$', line)
        if found:
            defined[found.group(1)] = (found.group(2), f"rules/ladder_shared_segments.lapse:{number}:9")
    assert len(defined) >= 4
    campaigns = described(capsys, "rules", "2026-11-30T00:00:00Z")
    ladder = {name: c for name, c in campaigns.items() if c["source"] == "rules/ladder_shared_segments.lapse"}
    assert len(ladder) >= 2
    seen = set()
    for name, campaign in ladder.items():
        block = text[text.index(f'campaign "{name}"'):]
        clause = re.search(r"^\s*segment (.*)$", block, flags=re.MULTILINE)
        assert clause is not None
        direct = [q for q in re.findall(r'"([^"]+)"', clause.group(1)) if q in defined]
        top = [node["name"] for node in campaign["who"]["conditions"] if node["kind"] == "segment"]
        assert top == direct, name
        for node in walk(campaign["who"]["conditions"]):
            if node["kind"] == "segment":
                seen.add(node["name"])
                assert (node["definition"], node["defined_at"]) == defined[node["name"]]
                uses = [q for q in re.findall(r'"([^"]+)"', node["definition"]) if q in defined]  # (not "CN")
                assert [c["name"] for c in node["children"] if c["kind"] == "segment"] == uses
    assert seen  # and nested ones are listed under the segment that uses them
    assert any(re.search(r'"[^"]+"', definition) for definition, _ in defined.values() if definition)


# variants with their own send times, each user's own hour -----------------------------------------


def test_variant_send_times_in_each_zone(capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime(2026, 12, 3, 16, tzinfo=UTC)  # Thursday: noon New York is still ahead, Tokyo's has passed
    zones = ["Europe/Paris", "Asia/Tokyo"]
    campaign = described(capsys, RULES / "send_time_experiment.lapse", iso(now), "--zones", ",".join(zones))[
        "Lapsed 3 weeks - send-time test"]
    when = {s["variant"]: s for s in campaign["when"]["schedules"]}
    assert set(when) == {"noon", "evening"}
    for variant, (hour, minute) in {"noon": (12, 0), "evening": (17, 45)}.items():
        assert when[variant]["percent"] == 50
        assert [z["zone"] for z in when[variant]["zones"]] == ["America/New_York", *zones]
        for z in when[variant]["zones"]:
            zone, first = ZoneInfo(z["zone"]), None
            expected = []
            for _ in range(3):
                first = next_local(now if first is None else first + dt.timedelta(minutes=1), zone, 3, hour, minute)
                expected.append(first)
            assert [s["send_at"] for s in z["sends"]] == [iso(e) for e in expected], (variant, z["zone"])
    assert campaign["when"]["held_out_follow_variants"] is True
    # the window is measured from each variant's own next send
    node = predicate(campaign, "last_used between 3w and 4w")
    by_variant = {a["variant"]: a for a in node["at_sends"]}
    for variant, (hour, minute) in {"noon": (12, 0), "evening": (17, 45)}.items():
        send = next_local(now, NY, 3, hour, minute)
        assert by_variant[variant]["send"] == send.isoformat()
        assert by_variant[variant]["low"]["at"] == iso(send - dt.timedelta(weeks=4))
    assert by_variant["noon"]["send"].startswith("2026-12-03")
    assert by_variant["evening"]["send"].startswith("2026-12-03")
    variants = {v["name"]: v for v in campaign["what"]["variants"]}
    assert variants["noon"]["schedule"] == "weekly thu 12:00 local"
    written = re.search(r"holdout (\d+)%", (ROOT / "rules" / "send_time_experiment.lapse").read_text(encoding="utf-8"))
    assert written is not None and campaign["what"]["holdout"] == float(written.group(1))


def test_own_hour_lists_the_fallback_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime(2026, 11, 30, tzinfo=UTC)
    campaign = described(capsys, RULES / "send_time_experiment.lapse", iso(now))["Lapsed 4 weeks - own hour"]
    (schedule,) = campaign["when"]["schedules"]
    assert schedule["listed_at"] == "17:45"
    assert "each user's own preferred_time" in schedule["words"] and "or at 17:45" in schedule["words"]
    ny = schedule["zones"][0]
    assert ny["zone"] == "America/New_York"
    assert ny["sends"][0]["send_at"] == iso(next_local(now, NY, 3, 17, 45))
    code, out, _ = lapse(capsys, "describe", RULES / "send_time_experiment.lapse", "--now", iso(now))
    assert code == 0
    assert "listed at the fallback 17:45; a user with their own time gets it on the same days" in out


def test_default_zones_follow_the_fallback_zone(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "r.lapse").write_text("segment last_used between 1d and 2d; send push daily 09:00 local\n",
                                      encoding="utf-8")
    campaign = next(iter(described(capsys, tmp_path, "2026-11-30T00:00:00Z", "--default-timezone",
                                   "Asia/Tokyo").values()))
    zones = [z["zone"] for z in campaign["when"]["schedules"][0]["zones"]]
    assert zones == ["Asia/Tokyo", "America/New_York", "Europe/London"]  # the fallback first, each zone once
    assert "gets Asia/Tokyo (the default_timezone option)" in campaign["when"]["delivers"]


# delivery controls and notes -----------------------------------------------------------------------


def test_delivery_controls_and_quiet_hours_on_the_sends(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "q.lapse").write_text(
        'campaign "Q" {\n'
        "    segment last_used between 1d and 2d\n"
        '    send push daily 23:30 "Europe/London"\n'
        "    quiet hours 22:00 to 07:00 defer\n"
        "    cap 2 per 7d all\n"
        "    reeligible after 4w\n"
        "    until 2026-12-01\n"
        "    grace 3h\n"
        "    status paused\n"
        "}\n", encoding="utf-8")
    campaign = described(capsys, tmp_path, "2026-11-30T00:00:00Z")["Q"]
    (zone,) = campaign["when"]["schedules"][0]["zones"]
    assert [s["local"][:10] for s in zone["sends"]] == ["2026-11-30", "2026-12-01"]  # until is inclusive
    assert all(s["note"] == "in quiet hours: deferred to 07:00" for s in zone["sends"])
    delivery = campaign["delivery"]
    assert delivery["reeligible"].startswith("again 4 weeks after")
    assert delivery["cap"].startswith("at most 2 sends on any channel in any 7 days")
    assert delivery["quiet_hours"].endswith("deferred to 07:00; the 23:30 send falls in them")
    assert delivery["grace"].startswith("3 hours:")
    assert delivery["status"].startswith("paused")
    code, out, _ = lapse(capsys, "describe", tmp_path, "--now", "2026-11-30T00:00:00Z")
    assert code == 0
    assert "the campaign is paused: none of these is sent" in out


def test_notes_are_the_campaigns_own_check_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = ('campaign "Holey" {\n    segment last_used between 1d and 3d\n    send push weekly thu 17:45 local\n}\n'
            'campaign "Fine" {\n    segment last_used between 1w and 2w\n    send push weekly thu 17:45 local\n}\n')
    (tmp_path / "h.lapse").write_text(text, encoding="utf-8")
    code, out, _ = lapse(capsys, "check", tmp_path / "h.lapse")
    assert code == 0
    warnings = [line for line in out.splitlines() if ": warning: " in line]
    assert len(warnings) == 1 and ":2:5: warning: " in warnings[0]  # in the first campaign's block
    campaigns = described(capsys, tmp_path, "2026-11-30T00:00:00Z")
    (note,) = campaigns["Holey"]["notes"]
    assert f"{note['source']}:{note['line']}:{note['column']}: warning: {note['message']}" == warnings[0]
    assert campaigns["Fine"]["notes"] == []


def test_no_send_left(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "o.lapse").write_text('campaign "Past" { segment last_used more than 1w ago; send push once 2026-01-01 '
                                      "09:00 utc }\n", encoding="utf-8")
    campaign = described(capsys, tmp_path, "2026-11-30T00:00:00Z")["Past"]
    assert campaign["who"]["no_send"] is True
    assert predicate(campaign, "last_used more than 1w ago")["at_sends"] == []
    assert campaign["when"]["schedules"][0]["zones"][0]["sends"] == []


# three-valued logic: which missing attributes exclude users ----------------------------------------

DOMAINS: dict[str, tuple[object, ...]] = {
    "platform": (None, "ios", "android"),
    "country": (None, "CN", "US"),
    "push_opted_in": (None, True, False),
    "sessions": (None, 1, 10),
}


@pytest.mark.parametrize("condition", [
    'platform = "ios" and push_opted_in',
    'platform = "ios" or country = "US"',
    'not country in ["CN"]',
    'country not in ["CN"] or country is not set',
    'platform = "ios" and (sessions > 3 or push_opted_in)',
    'not (platform = "ios" or sessions < 3)',
    'not (platform = "ios" and sessions < 3)',
    '(platform = "ios" or country = "US") and (platform = "android" or sessions >= 5)',
    "push_opted_in and not push_opted_in",
    'country is set and platform != "ios"',
    'country is set or country = "US"',
    '(country is not set or platform = "ios") and sessions > 1',
])
def test_missing_attribute_analysis_agrees_with_evaluation(condition: str) -> None:
    rule = lapse_dsl.compile(f"segment {condition}; send push daily 09:00 utc").rules[0]
    names = list(DOMAINS)
    users = [dict(zip(names, values, strict=True)) for values in itertools.product(*DOMAINS.values())]
    tested = dict.fromkeys(str(p.path) for p in n.predicates(rule.segment) if not isinstance(p, n.IsSet))
    expected = [a for a in tested if not any(truth(rule.segment, user, None) is True for user in users if user[a] is None)]
    assert excluded_when_missing(rule.segment) == expected


def test_missing_attribute_analysis_never_claims_too_much() -> None:
    """Over random conditions (where two predicates on one attribute may be correlated, which the
    analysis does not see): an attribute it names always excludes every user without it."""
    rng = random.Random(14)
    leaves = ['platform = "ios"', 'platform != "android"', 'country in ["CN", "US"]', "country is set",
              "country is not set", "push_opted_in", "sessions >= 5", "sessions is not set", 'platform is set']

    def condition(depth: int) -> str:
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(leaves)
        kind = rng.choice(["and", "or", "not"])
        if kind == "not":
            return f"not ({condition(depth - 1)})"
        return f"({condition(depth - 1)}) {kind} ({condition(depth - 1)})"

    users = [dict(zip(DOMAINS, values, strict=True)) for values in itertools.product(*DOMAINS.values())]
    claimed = 0
    for _ in range(100):
        rule = lapse_dsl.compile(f"segment {condition(4)}; send push daily 09:00 utc").rules[0]
        for attribute in excluded_when_missing(rule.segment):
            claimed += 1
            assert not any(truth(rule.segment, u, None) is True for u in users if u[attribute] is None)
    assert claimed > 15  # (the conditions are not all trivially open)


# usage ----------------------------------------------------------------------------------------------


def test_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = lapse(capsys, "describe", tmp_path / "nothere.lapse")
    assert code == 2 and "no such file or folder" in err
    code, _, err = lapse(capsys, "describe", RULES, "--zones", "Europe/Pariss")
    assert code == 2 and "did you mean" in err
    code, _, err = lapse(capsys, "describe", RULES, "--default-timezone", "Mars/Base")
    assert code == 2 and "--default-timezone Mars/Base" in err
    (tmp_path / "bad.lapse").write_text("segment last_usd between 2w and 3w; send push weekly thu 17:45 local\n",
                                        encoding="utf-8")
    code, out, err = lapse(capsys, "describe", tmp_path / "bad.lapse")
    assert code == 1 and out == "" and "bad.lapse:1:9: error: unknown attribute 'last_usd'" in err
