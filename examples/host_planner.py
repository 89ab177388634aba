"""The planner pattern: ask once when to message each user, store the time, re-check at that time.

    python examples/host_planner.py

Plans on 2026-11-30T00:00:00Z, then replays December 2026 as a list of timed events. A decision
assumes no new activity before its send time, so at `send_at` the host calls `evaluate` again
with `now=send_at`: the send goes out only if the same occurrence (same idempotency key) is still
there and due. One user opens the app in between, leaves the segment, and is planned again.
"""

from __future__ import annotations

import datetime as dt
import heapq
from importlib.metadata import entry_points
from pathlib import Path

Plugin = entry_points(group="rules_engines")["lapse"].load()

RULES = Path(__file__).resolve().parent.parent / "rules" / "braze_lapsing.lapse"
START = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
END = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)

USERS = {
    "u1": {"user_id": "u1", "first_name": "Ana", "timezone": "Europe/Paris", "last_used": "2026-11-14T09:00:00Z",
           "push_opted_in": True},
    "u2": {"user_id": "u2", "first_name": "Ben", "timezone": "America/New_York", "last_used": "2026-11-25T23:30:00Z",
           "push_opted_in": True},
    "u3": {"user_id": "u3", "first_name": "Chandra", "timezone": "Asia/Kathmandu", "last_used": "2026-11-18T06:00:00Z",
           "push_opted_in": True},
    "u4": {"user_id": "u4", "first_name": "Tavita", "timezone": "Pacific/Pago_Pago", "last_used": "2026-11-16T20:00:00Z",
           "push_opted_in": True},
}
# New activity the host learns about later: Chandra opens the app on 2026-12-01.
ACTIVITY = [(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), "u3")]


def z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def main() -> None:
    plugin = Plugin.from_path(RULES)
    history: dict[str, list[dict[str, object]]] = {uid: [] for uid in USERS}  # what each user was sent
    events: list[tuple[dt.datetime, int, str, str, str]] = []  # (at, order, kind, user_id, idempotency_key)

    def plan(user_id: str, now: dt.datetime, decisions: list | None = None) -> str:
        """Store the user's next send (the earliest decision), and say what was stored."""
        if decisions is None:
            decisions = plugin.evaluate(USERS[user_id], now, since=now, history=history[user_id])
        if not decisions:
            return "nothing planned"
        d = decisions[0]  # one campaign in this rule file; with several, keep one job per (user, campaign)
        heapq.heappush(events, (d.send_at, len(events), "send", user_id, d.idempotency_key))
        return f"planned {z(d.send_at)} ({d.local_send_at:%a %H:%M} {d.timezone})"

    print(f"{z(START)}  planning")
    for user_id in USERS:
        print(f"{'':17}  {user_id}: {plan(user_id, START, plugin.evaluate(USERS[user_id], START))}")
    for at, user_id in ACTIVITY:
        heapq.heappush(events, (at, len(events), "activity", user_id, ""))

    while events and events[0][0] < END:
        at, _, kind, user_id, key = heapq.heappop(events)
        if kind == "activity":
            USERS[user_id] = {**USERS[user_id], "last_used": at}
            print(f"{z(at)}  {user_id} opens the app")
            continue
        # The re-check: evaluate again as of the stored send time.
        decisions = plugin.evaluate(USERS[user_id], at, history=history[user_id])
        same = next((d for d in decisions if d.idempotency_key == key and d.due), None)
        if same is None:
            print(f"{z(at)}  {user_id}: cancelled (no longer in the segment); {plan(user_id, at, decisions)}")
            continue
        # Record the send (the delivery controls read the history), then plan what comes after it.
        history[user_id].append({"campaign": same.campaign, "channel": same.channel, "at": same.send_at})
        print(f"{z(at)}  {user_id}: {same.channel} sent: {same.message['body']}; then {plan(user_id, at)}")


if __name__ == "__main__":
    main()
