"""``lapse plan``: how many sends fall in each of the next N weeks and in each UTC hour, assuming
no new user activity. Draft campaigns are included (that is what a draft is for). Each user is
projected forward: after each planned send the send is added to the user's history, so re-eligible
campaigns repeat as they would in production."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .batch import Presence, history_of
from .ruleset import RuleSet
from .sources import counted

__all__ = ["Plan", "project"]

_TICK = dt.timedelta(microseconds=1)


@attrs.define
class Plan:
    start: dt.datetime
    weeks: int
    read: int = 0  # records read, rejected ones included
    rejected: int = 0
    recipients: int = 0  # users with at least one send
    campaigns: list[str] = attrs.field(factory=list)  # every campaign, listed even with no send
    by_week: collections.Counter[tuple[int, str]] = attrs.field(factory=collections.Counter)
    by_hour: collections.Counter[int] = attrs.field(factory=collections.Counter)
    held_out: int = 0
    warnings: list[str] = attrs.field(factory=list)

    def render(self) -> str:
        campaigns = sorted({c for _, c in self.by_week} | set(self.campaigns))
        total = sum(self.by_week.values())
        out = [f"send plan from {self.start.isoformat()} for {counted(self.weeks, 'week')}: {counted(total, 'send')} "
               f"({self.held_out} held out) to {counted(self.recipients, 'user')}; {counted(self.read, 'record')} read, "
               f"{self.rejected} rejected"]
        out.extend(f"warning: {w}" for w in self.warnings)
        out.append("")
        width = max([len(c) for c in campaigns] + [8])
        out.append(f"{'week of':<12}" + "".join(f" {c[:width]:>{width}}" for c in campaigns) + f" {'total':>8}")
        for w in range(self.weeks):
            day = (self.start + dt.timedelta(weeks=w)).date().isoformat()
            counts = [self.by_week[(w, c)] for c in campaigns]
            out.append(f"{day:<12}" + "".join(f" {n:>{width}}" for n in counts) + f" {sum(counts):>8}")
        out.append("")
        out.append("sends by UTC hour")
        peak = max(self.by_hour.values(), default=0)
        for hour in range(24):
            count = self.by_hour[hour]
            bar = "#" * (round(40 * count / peak) if peak else 0)
            out.append(f"  {hour:02d}:00  {count:>8}  {bar}".rstrip())
        return "\n".join(out)


def project(
    rules: RuleSet, rows: Iterable[tuple[int, Mapping[str, Any] | str]], now: dt.datetime, weeks: int
) -> Plan:
    """Project every user of ``rows`` over ``weeks`` weeks from ``now``. A record that cannot be
    read or evaluated (any exception) counts as rejected; the others go on."""
    rules = rules.preview()  # drafts are previewed as if active; paused campaigns stay silent
    plan = Plan(now, weeks, campaigns=[rule.name for rule in rules.rules])
    presence = Presence(rules)
    try:
        end = now + dt.timedelta(weeks=weeks)
    except OverflowError:
        raise ValueError(f"{weeks} weeks from {now.isoformat()} is past the end of the calendar") from None
    for _, user in rows:
        plan.read += 1
        if isinstance(user, str):
            plan.rejected += 1
            continue
        presence.see(user)
        try:
            sends = _project_user(rules, user, now, end)
        except Exception:  # a bad record, or anything else raised for it: this user only
            plan.rejected += 1
            continue
        plan.recipients += bool(sends)
        for campaign, send_at, held_out in sends:
            plan.by_week[((send_at - now) // dt.timedelta(weeks=1), campaign)] += 1
            plan.by_hour[send_at.astimezone(dt.UTC).hour] += 1
            plan.held_out += held_out
    plan.warnings = presence.warnings()
    return plan


def _project_user(
    rules: RuleSet, user: Mapping[str, Any], now: dt.datetime, end: dt.datetime
) -> list[tuple[str, dt.datetime, bool]]:
    history = list(history_of(user))
    cursor = now
    sends: list[tuple[str, dt.datetime, bool]] = []
    while True:
        decisions = [d for d in rules.evaluate(user, cursor, history=history) if d.send_at < end]
        if not decisions:
            return sends
        d = decisions[0]
        sends.append((d.campaign, d.send_at, d.held_out))
        history.append({"campaign": d.campaign, "channel": d.channel, "at": d.send_at})
        cursor = max(cursor, d.send_at) + _TICK
