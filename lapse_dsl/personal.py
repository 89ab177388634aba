"""Which schedule a user gets: the one place that answers it.

A campaign usually has one schedule for everyone. Two constructs make it depend on the user:

- a **send-time experiment**: a variant with a ``send`` of its own (``variant "noon" 50% send push
  weekly thu 12:00 local``). The user's variant is chosen first, by the portable variant bucket
  (:mod:`lapse_dsl.buckets`), and the user's occurrences are that variant's; a variant without a
  send uses the campaign's. A held-out user follows the schedule of the variant their bucket
  picks (so the control group spreads over the send times as the variants do), and their decision
  still says ``held_out`` with no variant.
- **each user's own hour**: ``at ATTR or HH:MM`` takes the time of day from a ``clock`` attribute;
  a missing or malformed value uses the fallback, with a warning on the decision.

:func:`schedule_for` turns either into a plain schedule (a fixed :class:`~lapse_dsl.nodes.Clock`)
for one user; the search (both paths), ``explain`` and the checker's analyses read schedules only
through it or through :func:`fixed`. A campaign for which the answer can differ between users is
:attr:`~lapse_dsl.model.CheckedRule.personal`: it shares no occurrence table between users
(docs/semantics.md, "Send-time experiments and each user's own hour").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from . import nodes as n
from .buckets import bucket, in_percent
from .errors import UserDataError
from .model import CheckedRule, Variant
from .userdata import as_clock, lookup, short_repr

__all__ = ["UserSchedule", "fixed", "held_out", "schedule_for", "variant_of"]


def held_out(rule: CheckedRule, user_id: str) -> bool:
    """Whether the user is in the campaign's control group (the holdout bucket)."""
    return rule.holdout is not None and in_percent(bucket("holdout", rule.salt, user_id), rule.holdout)


def variant_of(rule: CheckedRule, user_id: str) -> Variant | None:
    """The variant the user's variant bucket picks (None without variants), whether or not the
    user is held out: consecutive ranges of the bucket in declaration order."""
    if not rule.variants:
        return None
    b = bucket("variant", rule.salt, user_id)
    cumulative = 0.0
    for v in rule.variants:
        cumulative += v.percent
        if in_percent(b, cumulative):
            return v
    return rule.variants[-1]


@attrs.frozen
class UserSchedule:
    """One user's schedule for one campaign, and what explains it."""

    schedule: n.Schedule  # with a plain Clock: ready for lapse_dsl.schedule.occurrences
    warning: str | None  # the clock value was missing or malformed: the fallback was used
    variant: str | None  # the variant whose schedule this is (None: the campaign's own)
    clock: str | None  # where the time of day came from, for explain ("preferred_time 09:30")


def schedule_for(rule: CheckedRule, user: Mapping[str, Any], user_id: str) -> UserSchedule:
    """The schedule ``rule`` sends to this user on: their variant's (or the campaign's), with
    a user clock resolved from their record. Never raises for the clock: a missing or malformed
    value (a parent that is not a map included) gives the fallback and a warning."""
    chosen = variant_of(rule, user_id) if rule.personal else None
    schedule = chosen.schedule if chosen is not None and chosen.schedule is not None else rule.schedule
    variant = chosen.name if chosen is not None and chosen.schedule is not None else None
    if isinstance(schedule, n.Cron) or not isinstance(schedule.at, n.UserClock):
        return UserSchedule(schedule, None, variant, None)
    own = schedule.at
    attr = str(own.path)
    try:
        raw = lookup(user, own.path.parts, attr)
    except UserDataError:  # a parent that is not a map: as malformed as a bad value
        raw = _NOT_A_MAP
    found = as_clock(raw)
    if found is not None:
        clock = n.Clock(found[0], found[1])
        return UserSchedule(attrs.evolve(schedule, at=clock), None, variant, f"{attr} {clock}")
    if raw is None:
        problem = f"no {attr}"
    elif raw is _NOT_A_MAP:
        problem = f"{attr} cannot be read (a part of its path is not an object)"
    else:
        problem = f"{attr} {short_repr(raw)} is not a time of day (HH:MM)"
    warning = f"{problem}; sent at the fallback {own.fallback}"
    return UserSchedule(attrs.evolve(schedule, at=own.fallback), warning, variant, f"{problem}: the fallback {own.fallback}")


_NOT_A_MAP = object()


def fixed(schedule: n.Schedule) -> n.Schedule:
    """``schedule`` with a user clock replaced by its fallback: for the analyses that need one
    time of day (which dates a schedule fires on does not depend on it)."""
    if isinstance(schedule, n.Cron) or not isinstance(schedule.at, n.UserClock):
        return schedule
    return attrs.evolve(schedule, at=schedule.at.fallback)
