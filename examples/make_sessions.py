"""Make examples/sessions.jsonl: app sessions of the example users, seeded, so the file is
reproducible, with a daily rhythm per region and a known effect in the bundled send-time test.

    python examples/make_sessions.py                           # writes examples/sessions.jsonl
    python examples/make_sessions.py --plan /tmp/plan.jsonl    # also the send plan it planted against

One JSON object per line, in time order: ``user_id``, ``at`` (UTC, ``Z``) and, on about a quarter
of the events (and on every event of a user whose record has no valid zone), the device's
``timezone``.

**History: per-zone daily peaks.** Each user of examples/users.jsonl whose record the rules can
evaluate has sessions over the 12 weeks before their ``last_used`` (never after it: they are
lapsed), about 10 on average (1 to 60). A session's local hour depends on the region of the
user's zone (the part of the zone name before the ``/``) and on the local day:

    region      weekday peak   weekend peak
    America     20:00          11:00
    Europe      19:00          10:00
    Africa      21:00          10:00
    Asia        21:00          12:00
    Australia   19:00          09:00
    Pacific     18:00          09:00

Each user has their own hour, the region's peak shifted by 0 (half of the users), -1 or +1 (15%
each), -2 or +2 (10% each); half of a user's sessions start in their own hour, a fifth in the
hour before or after it, the rest at a uniform hour from 07:00 to 23:59. Weekend days are busier
(1.4 times a weekday). So in every zone the busiest local hour of a weekday is the region's
weekday peak and that of a weekend day the weekend peak; a user's busiest hour is mostly their own.
A user whose record has no valid ``timezone`` (missing, ``"localtime"``, ``"+05:30"``...) lives in a
zone drawn from the zones of the other users, and each of their events names it.

**Returns: the planted effect.** The rules of rules/send_time_experiment.lapse are evaluated with
``lapse_dsl.load`` for every user at 2026-11-30T00:00:00Z (exactly what ``lapse run
rules/send_time_experiment.lapse --users examples/users.jsonl --now 2026-11-30T00:00:00Z`` writes;
``--plan`` writes that plan). In each group below, exactly round(rate x size) users, drawn at
random, come back: they have 1 to 3 sessions in (send_at, send_at + 7d], the first within hours of
the send; nobody else in the group has a session in that window, and a user who comes back in no
campaign has no session after their last_used.

    campaign                          group       return rate in 7 days
    Lapsed 3 weeks - send-time test   holdout     10%   (the baseline)
    Lapsed 3 weeks - send-time test   "noon"      10%   no effect: noon is no better than no message
    Lapsed 3 weeks - send-time test   "evening"   22%   the planted lift: +12 points over the holdout
    Lapsed 4 weeks - own hour         (all)       10%   no holdout, no variants: the baseline again

With the bundled users (and the campaign's 20% holdout) the groups are 157 held out (16 come
back), 276 "noon" (28), 255 "evening" (56) and 878 "own hour" (88). A user in both campaigns
(lapsed 3 weeks at one Thursday, 4 weeks a week later) has the two windows kept apart: a return
for the first campaign falls before the second send, a return for the second after the first
window. So ``lapse report --sends PLAN
--sessions examples/sessions.jsonl`` (7-day window) should find "evening" above the holdout and
above "noon", and no lift of "noon" over the holdout. Nothing else is planted. The last send is
on 2027-01-01, so every 7-day window is over by 2027-01-09T00:00:00Z: a report that counts only the
windows over by the last session in the file measures a few decisions fewer.

**Bad rows, on purpose.** Three lines are not sessions to count: one without ``user_id``, one whose
``at`` is not a time, one of a user_id that is in no users file (``u9999999``); ``--no-malformed``
leaves them out.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import random
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import lapse_dsl  # noqa: E402 - after the path above
from lapse_dsl.batch import decision_record  # noqa: E402
from lapse_dsl.zones import get_zone  # noqa: E402

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
RULES = ROOT / "rules" / "send_time_experiment.lapse"
TEST = "Lapsed 3 weeks - send-time test"
OWN_HOUR = "Lapsed 4 weeks - own hour"
RATES = {(TEST, "holdout"): 0.10, (TEST, "noon"): 0.10, (TEST, "evening"): 0.22, (OWN_HOUR, "all"): 0.10}
WINDOW = dt.timedelta(days=7)
PEAKS = {  # region -> (weekday peak hour, weekend peak hour), local
    "America": (20, 11), "Europe": (19, 10), "Africa": (21, 10), "Asia": (21, 12), "Australia": (19, 9),
    "Pacific": (18, 9),
}
SHIFTS = ((0, 50), (-1, 15), (1, 15), (-2, 10), (2, 10))  # a user's own hour: the peak + shift, weights
HISTORY = dt.timedelta(weeks=12)
WEEKEND_WEIGHT = 1.4
EVENT_ZONE_SHARE = 0.25
BAD_ROWS = (
    (1000, {"at": "2026-10-01T18:00:00Z", "timezone": "Europe/Paris"}),  # no user_id
    (20000, {"user_id": "u0000001", "at": "last tuesday"}),  # not a time
    (40000, {"user_id": "u9999999", "at": "2026-10-02T19:00:00Z"}),  # in no users file
)


def peak_hour(zone: str, weekday: int) -> int:
    """The region's peak local hour on a weekday (0 is Monday)."""
    weekday_peak, weekend_peak = PEAKS[zone.split("/")[0]]
    return weekend_peak if weekday >= 5 else weekday_peak


def local_hour(rng: random.Random, own: int) -> int:
    r = rng.random()
    if r < 0.5:
        return own % 24
    if r < 0.7:
        return (own + rng.choice((-1, 1))) % 24
    return rng.randrange(7, 24)


def history(rng: random.Random, zone: str, first_used: dt.datetime, last_used: dt.datetime) -> list[dt.datetime]:
    """A user's sessions before last_used, on the region's rhythm around their own hour."""
    tz = ZoneInfo(zone)
    shift = rng.choices([s for s, _ in SHIFTS], weights=[w for _, w in SHIFTS])[0]
    count = min(60, 1 + int(rng.lognormvariate(1.9, 0.9)))
    start = max(first_used, last_used - HISTORY)
    span = (last_used - start).total_seconds()
    sessions: list[dt.datetime] = []
    tries = 0
    while len(sessions) < count and tries < 50 * count:
        tries += 1
        day = (start + dt.timedelta(seconds=rng.uniform(0, span))).astimezone(tz).date()
        if day.weekday() < 5 and rng.random() > 1 / WEEKEND_WEIGHT:
            continue  # weekend days are busier
        hour = local_hour(rng, peak_hour(zone, day.weekday()) + shift)
        wall = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)))
        at = wall.replace(tzinfo=tz).astimezone(dt.UTC)
        if start <= at < last_used and at.astimezone(tz).hour == hour:  # (not moved by a DST gap)
            sessions.append(at)
    return sessions


def returns(rng: random.Random, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """1 to 3 sessions in (after, until], the first within hours of ``after``."""
    span = (until - after).total_seconds()
    first = min(span, 60 + rng.expovariate(1 / (3 * 3600)))
    out = [after + dt.timedelta(seconds=int(first))]
    for _ in range(rng.randrange(3)):
        out.append(after + dt.timedelta(seconds=int(rng.uniform(first, span))))
    return out


def group_of(decision: lapse_dsl.Decision) -> str:
    if decision.held_out:
        return "holdout"
    return decision.variant or "all"


def make(users_path: Path, seed: int) -> tuple[list[dict[str, object]], list[lapse_dsl.Decision], collections.Counter[str]]:
    """The sessions (in time order), the plan and the number who come back per group."""
    rules = lapse_dsl.load(RULES)
    users: list[tuple[dict[str, Any], dt.datetime, dt.datetime]] = []  # (record, first_used, last_used)
    plan: list[lapse_dsl.Decision] = []
    for text in users_path.read_text(encoding="utf-8").splitlines():
        try:
            user = json.loads(text)
            decisions = rules.evaluate(user, NOW)
            last_used = dt.datetime.fromisoformat(user["last_used"])
            first_used = dt.datetime.fromisoformat(user["first_used"])
        except (ValueError, KeyError, lapse_dsl.LapseError):
            continue  # the malformed lines on purpose: `lapse run` rejects them, they have no sessions
        plan.extend(decisions)
        users.append((user, first_used, last_used))
    zones = collections.Counter(u["timezone"] for u, _, _ in users if get_zone(u.get("timezone")) is not None)
    names, weights = list(zones), list(zones.values())
    events: list[tuple[dt.datetime, str, str | None]] = []
    home: dict[str, tuple[str, bool]] = {}  # user_id -> (zone, whether every event names it)
    for user, first_used, last_used in users:
        user_id = user["user_id"]
        rng = random.Random(f"{seed}:{user_id}")
        named = get_zone(user.get("timezone")) is None
        zone: str = rng.choices(names, weights=weights)[0] if named else user["timezone"]
        home[user_id] = (zone, named)
        for at in history(rng, zone, first_used, last_used):
            events.append((at, user_id, zone if named or rng.random() < EVENT_ZONE_SHARE else None))
    back = _plant(plan, seed, home, events)
    events.sort(key=lambda e: (e[0], e[1]))
    lines: list[dict[str, object]] = []
    for at, user_id, named_zone in events:
        line: dict[str, object] = {"user_id": user_id, "at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if named_zone is not None:
            line["timezone"] = named_zone
        lines.append(line)
    return lines, plan, back


def _plant(plan: list[lapse_dsl.Decision], seed: int, home: dict[str, tuple[str, bool]],
           events: list[tuple[dt.datetime, str, str | None]]) -> collections.Counter[str]:
    """Choose who comes back in each group and add their return sessions to ``events``."""
    sends: dict[tuple[str, str], dt.datetime] = {(d.campaign, d.user_id): d.send_at for d in plan}
    groups: dict[tuple[str, str], list[lapse_dsl.Decision]] = collections.defaultdict(list)
    for d in plan:
        groups[(d.campaign, group_of(d))].append(d)
    assert set(groups) == set(RATES), f"the plan's groups changed: {sorted(groups)}"
    rng = random.Random(f"{seed}:returns")
    back: collections.Counter[str] = collections.Counter()
    for key in sorted(groups):
        members = groups[key]
        for d in rng.sample(members, round(RATES[key] * len(members))):
            after, until = d.send_at, d.send_at + WINDOW
            if d.campaign == TEST and (OWN_HOUR, d.user_id) in sends:  # keep the two windows apart
                until = min(until, sends[(OWN_HOUR, d.user_id)])
            if d.campaign == OWN_HOUR and (TEST, d.user_id) in sends:
                after = max(after, sends[(TEST, d.user_id)] + WINDOW)
            zone, named = home[d.user_id]
            for at in returns(rng, after, until):
                events.append((at, d.user_id, zone if named or rng.random() < EVENT_ZONE_SHARE else None))
            back[f"{key[0]} / {key[1]}"] += 1
    return back


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default=str(HERE / "users.jsonl"), help="the users (default: examples/users.jsonl)")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--out", default=str(HERE / "sessions.jsonl"))
    parser.add_argument("--plan", help="also write the send plan (as lapse run writes it) here")
    parser.add_argument("--no-malformed", action="store_true", help="only well-formed sessions")
    args = parser.parse_args()
    lines, plan, back = make(Path(args.users), args.seed)
    texts = [json.dumps(line) for line in lines]
    if not args.no_malformed:
        for position, bad in reversed(BAD_ROWS):
            texts.insert(min(position, len(texts)), json.dumps(bad))
    Path(args.out).write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    if args.plan:
        Path(args.plan).write_text(
            "".join(json.dumps(decision_record(d), ensure_ascii=False) + "\n" for d in plan), encoding="utf-8")
    sizes = collections.Counter(f"{d.campaign} / {group_of(d)}" for d in plan)
    for key in sorted(sizes):
        print(f"{key}: {back[key]} of {sizes[key]} come back", file=sys.stderr)
    print(f"{len(texts)} lines written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
