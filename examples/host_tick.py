"""The tick pattern: a host that wakes up every 15 minutes and sends what is due.

    python examples/host_tick.py

Simulates one week of ticks from 2026-11-30T00:00:00Z over a handful of users, with a one-hour
outage on Thursday. Each tick passes the previous tick's `now` as `since`, so an occurrence is
reported by exactly one tick; after the outage the first tick catches up on what it missed (within
the rule's `grace`, 1 hour by default).
"""

from __future__ import annotations

import datetime as dt
from importlib.metadata import entry_points
from pathlib import Path

# How a host finds the plugin without importing lapse_dsl by name.
Plugin = entry_points(group="rules_engines")["lapse"].load()

RULES = Path(__file__).resolve().parent.parent / "rules" / "braze_lapsing.lapse"
START = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
TICK = dt.timedelta(minutes=15)
OUTAGE = (dt.datetime(2026, 12, 3, 16, 0, tzinfo=dt.UTC), dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.UTC))

# The rule: push at 17:45 on Thursdays, local time, to opted-in users who last used the app
# 2 to 3 weeks before that Thursday (see rules/braze_lapsing.lapse).
USERS = [
    {"user_id": "u1", "first_name": "Ana", "timezone": "Europe/Paris", "last_used": "2026-11-14T09:00:00Z",
     "push_opted_in": True},
    # Enters the segment on Thursday 2026-12-10: nothing this week.
    {"user_id": "u2", "first_name": "Ben", "timezone": "America/New_York", "last_used": "2026-11-25T23:30:00Z",
     "push_opted_in": True},
    {"user_id": "u3", "first_name": "Chandra", "timezone": "Asia/Kathmandu", "last_used": 1794981600,  # epoch seconds
     "push_opted_in": True},
    {"user_id": "u4", "first_name": "Tavita", "timezone": "Pacific/Pago_Pago",
     "last_used": dt.datetime(2026, 11, 16, 20, 0, tzinfo=dt.UTC), "push_opted_in": True},
    {"user_id": "u5", "first_name": "Teuea", "timezone": "Pacific/Kiritimati", "last_used": "2026-11-13T10:00:00Z",
     "push_opted_in": True},
    # No timezone: delivered in the rule file's default timezone, with a warning on the decision.
    {"user_id": "u6", "last_used": "2026-11-15T12:00:00Z", "push_opted_in": True},
    # Not opted in to push: never in the segment.
    {"user_id": "u7", "first_name": "Chen", "timezone": "Asia/Tokyo", "last_used": "2026-11-15T12:00:00Z",
     "push_opted_in": False},
    # A bad record (a time without an offset): this user is rejected, the others are not affected.
    {"user_id": "u8", "timezone": "Europe/Berlin", "last_used": "2026-11-14 09:00", "push_opted_in": True},
]


def z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def main() -> None:
    plugin = Plugin.from_path(RULES)
    sent: set[str] = set()  # idempotency keys already sent: a real host keeps these in its database
    reported: set[str] = set()  # users whose error was already logged
    ticks = missed = 0
    previous = START  # the `now` of the last tick that ran
    now = START
    while now < START + dt.timedelta(weeks=1):
        now += TICK
        ticks += 1
        if OUTAGE[0] < now < OUTAGE[1]:
            missed += 1  # the host is down: this tick never runs, `previous` stays where it was
            continue
        for result in plugin.evaluate_many(USERS, now, since=previous, within=TICK):
            if result.error is not None:
                if result.user_id not in reported:
                    reported.add(result.user_id)
                    print(f"{z(now)}  rejected {result.user_id}: {result.error}")
                continue
            for d in result.decisions:
                if not d.due:
                    continue  # before the next tick: that tick reports it again, due
                if d.held_out:
                    continue  # the campaign's control group: a real host records it, sends nothing
                if d.idempotency_key in sent:
                    raise SystemExit(f"duplicate send {d.idempotency_key}")  # never happens with since=
                sent.add(d.idempotency_key)
                late = f"  [catch-up, {(now - d.send_at) // dt.timedelta(minutes=1)} min late]" if d.send_at < now else ""
                print(f"{z(now)}  {d.channel} to {d.user_id} at {d.local_send_at:%a %H:%M} {d.timezone}: "
                      f"{d.message['body']}{late}")
                for warning in d.warnings:
                    print(f"{'':17}  warning: {warning}")
        previous = now
    print(f"{ticks} ticks ({missed} missed in the outage), {len(sent)} sends, each occurrence once")


if __name__ == "__main__":
    main()
