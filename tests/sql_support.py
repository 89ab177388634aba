"""Shared by the SQL differential tests: a seeded population of users aimed at the edges, the rule
sets that use every predicate, the plugin's own answers for them, and loaders for DuckDB,
PostgreSQL and Spark.

The population (``make_users``) puts time attributes exactly on window boundaries ``T(-D)`` and
one second and one microsecond either side, for the evaluation instants below and for each zone's
next occurrence of each rule; on the same boundaries computed with 24-hour days (which differ in DST
weeks); on local midnights of the dates the rules name and on their instants. Zones: 21 real zones
with DST changes (or odd offsets), a few more with midnight or negative DST changes, invalid
names, empty and null. Every attribute is sometimes missing and sometimes null.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.evaluate import Moment, delivery_zone, truth
from lapse_dsl.schedule import occurrences
from lapse_dsl.userdata import CLOCK_SKEW_ATTRIBUTES, Reader, parse_time
from lapse_dsl.zones import get_zone, zone_names

UTC = dt.UTC
SEED = 20260308
N_USERS = 100_000

DST_ZONES = (
    "America/New_York", "Europe/London", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kathmandu",
    "Pacific/Kiritimati", "Pacific/Pago_Pago", "Africa/Cairo", "America/Sao_Paulo", "Australia/Sydney",
    "Pacific/Auckland", "America/Los_Angeles", "Europe/Paris", "Asia/Tokyo", "Asia/Kolkata", "America/Chicago",
    "Europe/Berlin", "America/Mexico_City", "Asia/Tehran", "America/St_Johns", "Pacific/Chatham",
)
# midnight DST changes (Havana, Santiago, Beirut), negative DST (Casablanca, Dublin above), a 2-hour
# DST (Troll), an odd offset (Eucla), a date-line change (Apia), and plain UTC
EXTRA_ZONES = (
    "UTC", "America/Havana", "America/Santiago", "Asia/Beirut", "Africa/Casablanca", "Antarctica/Troll",
    "Australia/Eucla", "Pacific/Apia", "Europe/Chisinau", "Etc/GMT-14",
)
# not tzdata names (exact case): the rule's fallback zone applies
INVALID_ZONES = ("localtime", "+05:30", "america/new_york", "", "America/New_York ", "UTC+1", "Mars/Olympus")
MISSING: Any = object()  # a user dict leaves the key out

# Both 2026 New York DST weeks, instants inside gaps and folds, and other zones' change days.
INSTANTS: tuple[dt.datetime, ...] = tuple(
    dt.datetime.fromisoformat(s)
    for s in (
        "2026-03-05T22:45:00+00:00",  # Thu 17:45 EST, the week before New York springs forward
        "2026-03-08T07:30:00+00:00",  # Sun 03:30 EDT, just after New York's gap
        "2026-03-12T21:45:00+00:00",  # Thu 17:45 EDT: New York's spring DST week
        "2026-11-01T05:30:00+00:00",  # 01:30 EDT, the first 01:30 of New York's fold
        "2026-11-01T06:30:00+00:00",  # 01:30 EST, the second one
        "2026-11-05T22:45:00+00:00",  # Thu 17:45 EST: New York's fall DST week
        "2026-04-04T15:15:00+00:00",  # Lord Howe 01:45 (+10:30) in its fold; Sydney's fall back
        "2026-10-25T00:30:00+00:00",  # 01:30 BST in London's fold; Paris and Berlin fall back at 01:00Z
        "2026-04-23T22:30:00+00:00",  # Cairo 01:30 EEST, just after its midnight gap
    )
)
NY_DST_WEEKS = (INSTANTS[2], INSTANTS[5])

RULES_A = '''default timezone "America/New_York"

attribute custom.tier: string
attribute custom.lifetime_value: number
attribute renewal_at: time

campaign "lapsed_2w" {
    segment last_used between 2w and 3w and push_opted_in
    send push weekly thu 17:45 local
}
campaign "long_gone" {
    segment last_used more than 30d ago and first_used before 2026-01-01 and (sessions >= 3 or custom.lifetime_value > 49.5)
    send email daily 09:00 local
}
campaign "recent_utc" {
    segment (last_used less than 36h ago or last_used between 90m and 12h) and not platform in ["ios", "android"]
    send in_app daily 02:30 utc
}
campaign "kolkata_week" {
    segment (first_used after 2025-06-01T00:00:00Z and last_used between 1d and 8d
        and (country not in ["CN", "RU"] or country is not set))
    send sms weekly mon,fri 09:00 "Asia/Kolkata"
}
campaign "static_mix" {
    segment ((sessions = 3 or sessions != 0 and sessions < 10) and sessions <= 7 and sessions > -1
        and custom.tier in ["gold", "platinum"] and app_version is set and language is not set and not email_subscribed)
    send push weekly thu 17:45 local
}
campaign "renewal_dates" {
    segment (renewal_at after 2026-03-08 and renewal_at before 2026-11-01
        or renewal_at before 2026-04-24 and not renewal_at before 2026-03-29)
    send email daily 00:30 local
}
campaign "nested_ny_gap" {
    segment (not (last_used between 6d and 13d or not (custom.tier = "gold" and custom.lifetime_value >= 100))
        and (platform != "web" or sessions > 2))
    send push weekly sun 02:30 "America/New_York"
}
campaign "lord_howe_fold" {
    segment last_used between 1w and 2w and (email_subscribed or push_opted_in = false) and custom.tier is set
    send email weekly sun 01:45 "Australia/Lord_Howe"
}
campaign "instant_edges" {
    segment (last_used after 2026-03-08T07:00:00Z and last_used before 2026-11-01T06:00:00.000001Z
        and first_used less than 400d ago and language in ["en", "ja"])
    send push daily 12:00 local
    from 2026-03-01
    until 2026-11-30
}
campaign "quiet_capped" {
    segment last_used between 3d and 10d and custom.lifetime_value < 1000 and country = "US"
    send push daily 22:00 local
    quiet hours 21:00 to 08:00 defer
    cap 1 per 2d all
}
campaign "draft_any" {
    segment last_used less than 2w ago
    send push daily 10:00 local
    status draft
}
campaign "renewal_ahead" {
    segment (renewal_at less than 3d ahead or renewal_at between 1mo and 2mo ahead
        or first_used more than 1mo ago and renewal_at more than 2w ahead or renewal_at between 20h and 30h ahead)
    send email daily 09:00 local
}
'''

# No file default: the fallback zone is compile(default_timezone=...)
RULES_B = '''campaign "cron_gap" {
    segment last_used between 2d and 9d and platform = "ios"
    send push cron "30 2 * * 0" local
}
campaign "minutes_local" {
    segment last_used less than 90m ago or last_used between 45h and 50h and not push_opted_in
    send in_app daily 01:50 local
}
campaign "monthly_end" {
    segment last_used between 4w and 9w or first_used after 2026-10-04
    send email monthly 31 02:15 local
}
'''
B_DEFAULT_ZONE = "Australia/Lord_Howe"

# Columns of the users table: (name, kind); kind is an attribute type or "text".
COLUMNS: tuple[tuple[str, str], ...] = (
    ("user_id", "string"), ("timezone", "string"), ("last_used", "time"), ("first_used", "time"),
    ("renewal_at", "time"), ("sessions", "number"), ("platform", "string"), ("push_opted_in", "boolean"),
    ("email_subscribed", "boolean"), ("country", "string"), ("language", "string"), ("app_version", "string"),
    ("custom_tier", "string"), ("custom_lifetime_value", "number"),
    ("tier_override", "string"),  # a copy of custom.tier, read through columns={"custom.tier": ...}
)
TIME_ATTRIBUTES = ("last_used", "first_used", "renewal_at")


def rule_sets() -> dict[str, lapse_dsl.RuleSet]:
    return {
        "a": lapse_dsl.compile(RULES_A, source="a.lapse"),
        "b": lapse_dsl.compile(RULES_B, source="b.lapse", default_timezone=B_DEFAULT_ZONE),
    }


# The population -----------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    zone = get_zone(name)
    assert zone is not None, name
    return zone


def resolve_wall(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: gaps shift forward, folds take the first


def conditions(cond: n.Condition) -> Iterator[n.Predicate]:
    if isinstance(cond, (n.And, n.Or)):
        for c in cond.operands:
            yield from conditions(c)
    elif isinstance(cond, n.Not):
        yield from conditions(cond.operand)
    else:
        yield cond


class _Targets:
    """Edge instants to aim time attributes at, for one attribute, computed lazily per zone."""

    def __init__(self, sets: Mapping[str, lapse_dsl.RuleSet]) -> None:
        self.rules = [r for rs in sets.values() for r in rs.rules]
        self.durations: dict[str, set[tuple[n.Duration, int]]] = {a: set() for a in TIME_ATTRIBUTES}  # T(sign*D)
        self.dates: dict[str, set[dt.date]] = {a: set() for a in TIME_ATTRIBUTES}
        self.instants: dict[str, set[dt.datetime]] = {a: set() for a in TIME_ATTRIBUTES}
        for rule in self.rules:
            for p in conditions(rule.segment):
                path = str(p.path)
                sign = 1 if isinstance(p, n.WINDOWS) and p.ahead else -1
                if isinstance(p, n.Between):
                    self.durations[path] |= {(p.low, sign), (p.high, sign)}
                elif isinstance(p, (n.MoreThanAgo, n.LessThanAgo)):
                    self.durations[path].add((p.duration, sign))
                elif isinstance(p, (n.Before, n.After)):
                    if isinstance(p.point, n.DateLit):
                        self.dates[path].add(p.point.value)
                    else:
                        self.instants[path].add(p.point.value)
        self._anchors: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}

    def anchors(self, zone_name: str) -> list[tuple[dt.datetime, dt.datetime]]:
        """(instant, nominal wall time) pairs: the evaluation instants, and the next occurrence of
        every rule in this zone after each of them."""
        found = self._anchors.get(zone_name)
        if found is None:
            zone = _zone(zone_name)
            found = [(at, at.astimezone(zone).replace(tzinfo=None)) for at in INSTANTS]
            for rule in self.rules:
                for at in INSTANTS:
                    occ = next(occurrences(rule.schedule, zone, at, rule.from_date), None)
                    if occ is not None:
                        found.append((occ.at, occ.wall))
            self._anchors[zone_name] = found
        return found

    def edge(self, rng: random.Random, attribute: str, zone_name: str) -> dt.datetime:
        zone = _zone(zone_name)
        at, wall = rng.choice(self.anchors(zone_name))
        durations = sorted(self.durations[attribute], key=lambda d: (d[0].unit, d[0].amount, d[1]))
        dates = sorted(self.dates[attribute])
        instants = sorted(self.instants[attribute])
        kinds = ["anchor"]
        if durations:
            kinds += ["calendar"] * 6 + ["nominal"] * 2
        if dates:
            kinds += ["date"] * (8 if not durations else 2)
        if instants:
            kinds += ["instant"] * 2
        kind = rng.choice(kinds)
        if kind == "calendar" or kind == "nominal":
            d, sign = rng.choice(durations)
            if kind == "calendar" and d.unit == "mo":
                base = resolve_wall(_add_months(wall, sign * d.amount), zone)
            elif kind == "calendar" and d.calendar:
                days = d.amount * (7 if d.unit == "w" else 1)
                base = resolve_wall(wall + sign * dt.timedelta(days=days), zone)
            else:  # exact units, and calendar units taken as 24-hour days (wrong in DST weeks)
                base = at + sign * d.nominal()
        elif kind == "date":
            day = rng.choice(dates)
            base = resolve_wall(dt.datetime.combine(day, dt.time()), zone)
            if rng.random() < 0.3:  # midnight with the offset of the day before, or UTC midnight
                base = dt.datetime.combine(day, dt.time(), tzinfo=UTC) if rng.random() < 0.5 else (
                    resolve_wall(dt.datetime.combine(day - dt.timedelta(days=1), dt.time()), zone) + dt.timedelta(days=1))
        elif kind == "instant":
            base = rng.choice(instants)
        else:
            base = at
        return base + rng.choice(_DELTAS)


def _add_months(wall: dt.datetime, months: int) -> dt.datetime:
    """The same wall time ``months`` later, the day clamped to the month's end (the language's `mo`)."""
    year, month = divmod(wall.year * 12 + wall.month - 1 + months, 12)
    days = (dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1) - dt.date(year, month + 1, 1)).days
    return wall.replace(year=year, month=month + 1, day=min(wall.day, days))


_S, _US = dt.timedelta(seconds=1), dt.timedelta(microseconds=1)
_DELTAS = (
    dt.timedelta(0), dt.timedelta(0), dt.timedelta(0), _S, -_S, _US, -_US, _US, -_US,
    dt.timedelta(hours=1), -dt.timedelta(hours=1), dt.timedelta(minutes=30), -dt.timedelta(minutes=30),
    dt.timedelta(minutes=15), dt.timedelta(days=1), -dt.timedelta(days=1),
)
_EXTREMES = (
    dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(1970, 1, 1, tzinfo=UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), dt.datetime(2100, 1, 1, tzinfo=UTC),
)
_RANGE_START = dt.datetime(2025, 1, 1, tzinfo=UTC)
_RANGE_SECONDS = 2 * 366 * 86400


def _maybe(rng: random.Random, value: Any, missing: float = 0.06, null: float = 0.06) -> Any:
    r = rng.random()
    if r < missing:
        return MISSING
    if r < missing + null:
        return None
    return value


def _time_value(rng: random.Random, targets: _Targets, attribute: str, zone_name: str) -> Any:
    r = rng.random()
    if r < 0.06:
        return MISSING
    if r < 0.12:
        return None
    if r < 0.125:
        return rng.choice(_EXTREMES)
    if r < 0.30:  # anywhere in 2025-2026, sometimes after the instant asked about (clock skew)
        moment = _RANGE_START + dt.timedelta(seconds=rng.randrange(_RANGE_SECONDS), microseconds=rng.randrange(10**6))
    else:
        moment = targets.edge(rng, attribute, zone_name)
    return _dress(rng, moment)


def _dress(rng: random.Random, moment: dt.datetime) -> Any:
    """The same instant in one of the forms the plugin accepts."""
    r = rng.random()
    if r < 0.6 or moment.year < 2 or moment.year > 9998:
        return moment
    if r < 0.75:
        return moment.astimezone(_zone(rng.choice(DST_ZONES)))
    if r < 0.9:
        return moment.astimezone(_zone(rng.choice(DST_ZONES))).isoformat()
    if moment.microsecond == 0:
        return int(moment.timestamp())  # epoch seconds
    return moment.isoformat().replace("+00:00", "Z")


_NUMBERS = (0, 1, 2, 3, 3, 4, 7, 8, 9, 10, 11, -1, -2, 2.5, 3.0, 2.9999999999, 3.0000000001, -0.0, 0.0, 1e15,
            0.1 + 0.2, 7.000000000000001, 6.999999999999999, float("inf"), float("-inf"), -1.0000000001)
_VALUES = (49.5, 49.49999, 49.50001, 50, 100, 99.99, 100.0, 0, -5, 999.999, 1000, 1000.0000001, 1e300, -1e300)


_EDGE_ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe")
_EDGE_DELTAS = (dt.timedelta(0), dt.timedelta(seconds=1), -dt.timedelta(seconds=1), dt.timedelta(microseconds=1),
                -dt.timedelta(microseconds=1))


def _edge_users(targets: _Targets) -> list[dict[str, Any]]:
    """Users whose time attribute is exactly on, and a second and a microsecond either side of,
    each window edge T(±D) of the rules at each evaluation instant, in a few DST zones."""
    out: list[dict[str, Any]] = []
    for zone_name in _EDGE_ZONES:
        zone = _zone(zone_name)
        for at in INSTANTS:
            wall = at.astimezone(zone).replace(tzinfo=None)
            for attribute in ("last_used", "renewal_at"):
                for d, sign in sorted(targets.durations[attribute], key=lambda o: (o[0].unit, o[0].amount, o[1])):
                    if d.unit == "mo":
                        base = resolve_wall(_add_months(wall, sign * d.amount), zone)
                    elif d.calendar:
                        base = resolve_wall(wall + sign * dt.timedelta(days=d.amount * (7 if d.unit == "w" else 1)), zone)
                    else:
                        base = at + sign * d.nominal()
                    for delta in _EDGE_DELTAS:
                        out.append({"user_id": f"edge{len(out):05d}", "timezone": zone_name, attribute: base + delta,
                                    "push_opted_in": True, "email_subscribed": True, "platform": "ios", "country": "US",
                                    "sessions": 3, "language": "en", "app_version": "5.0.0"})
    return out


def make_users(n_users: int = N_USERS, seed: int = SEED) -> list[dict[str, Any]]:
    """``n_users`` user records as the plugin takes them (missing keys left out)."""
    sets = rule_sets()
    targets = _Targets(sets)
    rng = random.Random(seed)
    all_zones = sorted(zone_names())
    fallbacks = ("America/New_York", B_DEFAULT_ZONE)
    named = ("UTC", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe")
    users = []
    edges = _edge_users(targets)  # exactly on and beside every window edge: guaranteed, not drawn
    for i in range(n_users - len(edges)):
        r = rng.random()
        timezone: Any
        if r < 0.62:
            timezone = rng.choice(DST_ZONES)
        elif r < 0.72:
            timezone = rng.choice(EXTRA_ZONES)
        elif r < 0.80:
            timezone = rng.choice(all_zones)
        elif r < 0.92:
            timezone = rng.choice(INVALID_ZONES)
        elif r < 0.96:
            timezone = None
        else:
            timezone = MISSING
        # the zone the edges are computed in: the user's delivery zone for one of the rules
        own = timezone if isinstance(timezone, str) and get_zone(timezone) is not None else rng.choice(fallbacks)
        aim = own if rng.random() < 0.7 else rng.choice(named)
        user: dict[str, Any] = {
            "user_id": f"u{i:06d}" if i % 997 else f"usuário-{i}-ü",
            "timezone": timezone,
            "last_used": _time_value(rng, targets, "last_used", aim),
            "first_used": _time_value(rng, targets, "first_used", aim),
            "renewal_at": _time_value(rng, targets, "renewal_at", aim),
            "sessions": _maybe(rng, rng.choice(_NUMBERS)),
            "platform": _maybe(rng, rng.choice(("ios", "ios", "android", "web", "iOS", "ios ", "", "ïos"))),
            "push_opted_in": _maybe(rng, rng.random() < 0.6),
            "email_subscribed": _maybe(rng, rng.random() < 0.4),
            "country": _maybe(rng, rng.choice(("US", "US", "CA", "DE", "CN", "RU", "us", ""))),
            "language": _maybe(rng, rng.choice(("en", "en", "ja", "ko", "", "EN")), 0.2, 0.2),
            "app_version": _maybe(rng, rng.choice(("5.0.0", "5.0.1", "4.9.9", ""))),
        }
        r = rng.random()
        if r < 0.05:
            pass  # no custom map
        elif r < 0.1:
            user["custom"] = None
        elif r < 0.15:
            user["custom"] = {}
        else:
            user["custom"] = {
                "tier": _maybe(rng, rng.choice(("gold", "gold", "platinum", "silver", "Gold", "")), 0.1, 0.1),
                "lifetime_value": _maybe(rng, rng.choice(_VALUES), 0.1, 0.1),
            }
            user["custom"] = {k: v for k, v in user["custom"].items() if v is not MISSING}
        users.append({k: v for k, v in user.items() if v is not MISSING})
    return users + edges


def row(user: Mapping[str, Any]) -> tuple[Any, ...]:
    """The user as a row of the users table (COLUMNS order): times as aware UTC datetimes."""
    custom = user.get("custom") or {}
    values: dict[str, Any] = {k: user.get(k) for k, _ in COLUMNS}
    values["custom_tier"] = values["tier_override"] = custom.get("tier")
    values["custom_lifetime_value"] = custom.get("lifetime_value")
    for name in TIME_ATTRIBUTES:
        if values[name] is not None:
            values[name] = parse_time(values[name], name, None)
    for name in ("sessions", "custom_lifetime_value"):
        if values[name] is not None:
            values[name] = float(values[name])
    return tuple(values[k] for k, _ in COLUMNS)


# The plugin's answers ------------------------------------------------------------------------------


def segment_reference(rules: lapse_dsl.RuleSet, users: Sequence[Mapping[str, Any]], at: dt.datetime) -> dict[str, set[str]]:
    """Per rule, the users whose ``RuleSet.in_segment(user, at)[rule]`` is True."""
    out: dict[str, set[str]] = {r.name: set() for r in rules.rules}
    for user in users:
        for name, value in rules.in_segment(user, at).items():
            if value is True:
                out[name].add(user["user_id"])
    return out


def next_reference(rules: lapse_dsl.RuleSet, users: Sequence[Mapping[str, Any]],
                   at: dt.datetime) -> dict[str, dict[str, dt.datetime]]:
    """Per rule, ``{user_id: send_at}`` for the users in the segment at their delivery zone's next
    occurrence at or after ``at`` (within from/until), by the reference path: ``occurrences``,
    ``Moment`` and ``truth`` over the values the plugin reads (last_used and first_used later
    than ``at`` count as ``at``, as in ``evaluate(user, now=at)``)."""
    paths = sorted({str(p.path) for r in rules.rules for p in conditions(r.segment)})
    reader = Reader(paths, rules.schema, None)
    time_paths = [p for p in paths if p in CLOCK_SKEW_ATTRIBUTES]
    moments: dict[tuple[str, str], Moment | None] = {}
    out: dict[str, dict[str, dt.datetime]] = {r.name: {} for r in rules.rules}
    for user in users:
        values = reader.read(user, user["user_id"])
        for p in time_paths:
            if values[p] is not None and values[p] > at:
                values[p] = at
        for rule in rules.rules:
            zone, zone_name, _ = delivery_zone(rule, user, rules.default_timezone)
            key = (rule.name, zone_name)
            if key not in moments:
                moments[key] = next_moment(rule, zone, at)
            moment = moments[key]
            if moment is not None and truth(rule.segment, values, moment) is True:
                out[rule.name][user["user_id"]] = moment.at
    return out


def next_moment(rule: Any, zone: Any, at: dt.datetime) -> Moment | None:
    """The rule's first occurrence at or after ``at`` in ``zone``, within its from/until dates."""
    start = at
    if rule.from_date is not None:
        start = max(at, resolve_wall(dt.datetime.combine(rule.from_date, dt.time()), zone))
    occ = next(occurrences(rule.schedule, zone, start, rule.from_date), None)
    if occ is None or (rule.until_date is not None and occ.wall.date() > rule.until_date):
        return None
    return Moment(occ.at, occ.wall, zone)


def decisions(rules: lapse_dsl.RuleSet, users: Sequence[Mapping[str, Any]],
              now: dt.datetime) -> dict[str, dict[str, dt.datetime]]:
    """Per rule, ``{user_id: send_at}`` from ``RuleSet.evaluate(user, now)``."""
    out: dict[str, dict[str, dt.datetime]] = {r.name: {} for r in rules.rules}
    for user in users:
        for d in rules.evaluate(user, now):
            out[d.campaign][d.user_id] = d.send_at
    return out


# Engines ------------------------------------------------------------------------------------------

_TYPES = {
    "duckdb": {"string": "VARCHAR", "time": "TIMESTAMPTZ", "number": "DOUBLE", "boolean": "BOOLEAN"},
    "postgres": {"string": "TEXT", "time": "TIMESTAMPTZ", "number": "DOUBLE PRECISION", "boolean": "BOOLEAN"},
}


def create_table_sql(dialect: str, table: str = "users") -> str:
    types = _TYPES[dialect]
    return f"CREATE TABLE {table} (" + ", ".join(f'"{c}" {types[k]}' for c, k in COLUMNS) + ")"


def load_duckdb(con: Any, rows: Sequence[tuple[Any, ...]], table: str = "users") -> None:
    """Through a CSV file: DuckDB's executemany takes minutes for 100,000 rows."""
    con.execute(create_table_sql("duckdb", table))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "users.csv")
        with path.open("w", encoding="utf-8", newline="") as fh:
            for r in rows:
                fh.write(",".join(_csv_cell(v) for v in r) + "\n")
        names = ", ".join(f"'{c}': '{_TYPES['duckdb'][k]}'" for c, k in COLUMNS)
        con.execute(
            f"INSERT INTO {table} SELECT * FROM read_csv('{path}', header=false, nullstr='\\N', quote='\"', "
            f"escape='\"', delim=',', columns={{{names}}}, auto_detect=false)"
        )


def _csv_cell(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return '"' + str(value).replace('"', '""') + '"'


def load_postgres(con: Any, rows: Sequence[tuple[Any, ...]], table: str = "users") -> None:
    with con.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(create_table_sql("postgres", table))
        with cur.copy(f"COPY {table} FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        cur.execute(f"ANALYZE {table}")
    con.commit()


def spark_schema() -> Any:
    from pyspark.sql import types as t

    kinds = {"string": t.StringType(), "time": t.TimestampType(), "number": t.DoubleType(), "boolean": t.BooleanType()}
    return t.StructType([t.StructField(c, kinds[k], True) for c, k in COLUMNS])


# A throwaway PostgreSQL cluster (when LAPSE_TEST_POSTGRES is not set) -------------------------------


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _runuser() -> str:
    """runuser, also when /usr/sbin is not on PATH (a login shell of another user, `env -i`)."""
    found = shutil.which("runuser") or next((p for p in ("/usr/sbin/runuser", "/sbin/runuser") if Path(p).exists()), None)
    if found is None:
        raise RuntimeError("runuser was not found: it runs PostgreSQL as the postgres user when tests run as root")
    return found


class ThrowawayPostgres:
    """initdb + pg_ctl start in a temporary folder, on 127.0.0.1 and a free port; as the
    ``postgres`` user when running as root (the server refuses to run as root)."""

    def __init__(self) -> None:
        bin_dir = _pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL's initdb was not found (install postgresql, or set LAPSE_TEST_POSTGRES)")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="lapse-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self.as_root:
            command = [_runuser(), "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)

    def start(self) -> str:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-locale")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-o", options, "start")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

