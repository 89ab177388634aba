"""The model: the values the pipeline passes between its stages, apart from the stages that make
them. The checker (:mod:`lapse_dsl.check`) makes :class:`CheckedRule` values; the plan
(:mod:`lapse_dsl.plan`) is lowered from them; the evaluators make :class:`Decision` values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from . import nodes as n
from .errors import Diagnostic
from .templates import Template

__all__ = ["CheckResult", "CheckedRule", "Decision", "HistoryEntry", "Variant", "decision_order"]


@attrs.frozen
class Variant:
    name: str
    percent: float
    message: tuple[tuple[str, Template], ...] = attrs.field(eq=False)
    schedule: n.Schedule | None = None  # a send-time experiment: the variant's own (None: the campaign's)


@attrs.frozen
class CheckedRule:
    """A rule that passed the checker, with every clause resolved to a plain value.

    ``schedule`` and ``channel`` are the campaign's ``send``; a campaign whose variants all carry
    their own send needs none, and then has its first variant's (every variant delivers on one
    channel in one zone, so the zone and channel are the campaign's either way). Which schedule a
    user gets is :func:`lapse_dsl.personal.schedule_for`'s answer; :attr:`personal` says whether it
    can differ from ``schedule``."""

    name: str
    source: str
    line: int
    segment: n.Condition
    segment_name: str | None
    channel: str
    schedule: n.Schedule
    message: tuple[tuple[str, Template], ...] = attrs.field(eq=False)
    variants: tuple[Variant, ...]
    holdout: float | None
    salt: str
    reeligible: n.Duration | None
    cap: n.Cap | None
    quiet: n.QuietHours | None
    from_date: dt.date | None
    until_date: dt.date | None
    grace: n.Duration
    status: str
    default_timezone: str | None  # the file's `default timezone`
    rule: n.Rule = attrs.field(eq=False, repr=False)
    # The segment as written, each named segment a `Named` node (what `explain` shows); `segment`
    # has them written out (lapse_dsl.segments). Without named segments the two are one.
    written: n.Condition = attrs.field(default=attrs.Factory(lambda rule: rule.segment, takes_self=True),
                                       eq=False, repr=False)
    # Whether users may get different schedules (a variant with a schedule of its own, or a time of
    # day from a user attribute): then no occurrence table is shared by every user of a zone.
    personal: bool = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        schedules = [self.schedule, *(v.schedule for v in self.variants if v.schedule is not None)]
        personal = any(s != self.schedule for s in schedules) or any(
            not isinstance(s, n.Cron) and isinstance(s.at, n.UserClock) for s in schedules
        )
        object.__setattr__(self, "personal", personal)  # derived once: the search asks for every user

    @property
    def controlled(self) -> bool:
        """True when a delivery control can block or move an occurrence."""
        return self.reeligible is not None or self.cap is not None or self.quiet is not None

    @property
    def quiet_mode(self) -> str:
        return self.quiet.mode.value if self.quiet and self.quiet.mode else "defer"


@attrs.frozen
class CheckResult:
    rules: tuple[CheckedRule, ...]
    schema: dict[str, str]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


# Not slotted: a frozen slotted attrs class sets each field through object.__setattr__, which
# makes building one (once per decision, on the hot path) twice as slow.
@attrs.frozen(slots=False)
class Decision:
    """When and what to send one user for one rule."""

    campaign: str
    channel: str
    user_id: str
    send_at: dt.datetime  # aware, UTC
    local_send_at: dt.datetime  # aware, in the delivery zone
    timezone: str
    due: bool
    held_out: bool
    variant: str | None
    message: Mapping[str, str] = attrs.field(hash=False)
    idempotency_key: str
    warnings: tuple[str, ...] = ()


def decision_order(d: Decision) -> tuple[dt.datetime, str]:
    """The order of a user's decisions: by send time, then campaign name."""
    return d.send_at, d.campaign


@attrs.frozen
class HistoryEntry:
    campaign: str
    channel: str
    at: dt.datetime
