"""``lapse plan``: how many sends the next N weeks hold, per campaign and week, per day, and per
hour of the day on each user's own clock and in UTC, assuming no new user activity.

Draft campaigns are included (that is what a draft is for); paused ones stay silent. Each user is
projected forward: the rules are evaluated at the user's cursor (``now`` at first), every decision
at the earliest send instant is planned (what one scheduler tick at that instant would send), those
sends are added to the user's history and the cursor moves just past them, so re-eligible
campaigns repeat as they would in production. Held-out decisions are planned and counted too (a
host records them), and shown apart.

Days and weeks are periods of exactly 24 hours and 7 days from ``now``; the local hour is that of
``Decision.local_send_at`` (the delivery zone's clock), the UTC hour that of ``send_at``. Every
record read is exactly one of: a user with sends, a user without, a rejected record."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

import attrs

from .batch import Presence, history_of, write_rejection
from .errors import LapseError, render
from .model import Decision
from .progress import Progress
from .ruleset import RuleSet
from .sources import counted, problem
from .timecalc import iso_utc
from .userdata import user_id_of

__all__ = [
    "CHART_TOP", "CSV_FIELDS", "CampaignCounts", "ChartData", "Plan", "as_mapping", "chart_data",
    "charts_missing", "draw_chart", "project", "rejection_writer", "to_csv", "to_json",
]

HOURS = 24
CHART_TOP = 8  # campaigns drawn on their own in the chart; the rest are summed as "other"
CSV_FIELDS = ("table", "campaign", "start", "hour", "sends", "held_out")
_DAY = dt.timedelta(days=1)
_TICK = dt.timedelta(microseconds=1)
_NAME_WIDTH = 40  # longer campaign names are cut in the text table (csv and json keep them whole)
_BAR = 20
_WEEKS_WIDE = 8  # week columns side by side in the text; a longer plan is printed in blocks of weeks
# tab10 without its grey, which is for "other"
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
           "tab:cyan")

Reject = Callable[[int, str | None, str], None]  # (line, user_id, reason) of a rejected record


@attrs.frozen
class CampaignCounts:
    """One campaign's planned sends (``held_*``: the held-out ones among them) per day from the
    start, per hour of the day on the user's clock (``local_send_at``) and per UTC hour."""

    campaign: str
    days: tuple[int, ...]
    held_days: tuple[int, ...]
    local_hours: tuple[int, ...]
    held_local_hours: tuple[int, ...]
    utc_hours: tuple[int, ...]
    held_utc_hours: tuple[int, ...]

    @property
    def weeks(self) -> tuple[int, ...]:
        return _weekly(self.days)

    @property
    def held_weeks(self) -> tuple[int, ...]:
        return _weekly(self.held_days)

    @property
    def sends(self) -> int:
        return sum(self.days)

    @property
    def held_out(self) -> int:
        return sum(self.held_days)


def _weekly(days: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sum(days[w : w + 7]) for w in range(0, len(days), 7))


def _summed(name: str, rows: Sequence[CampaignCounts], days: int) -> CampaignCounts:
    def add(field: str, size: int) -> tuple[int, ...]:
        return tuple(sum(column) for column in zip(*(getattr(r, field) for r in rows), strict=True)) if rows else (
            (0,) * size)

    return CampaignCounts(name, add("days", days), add("held_days", days), add("local_hours", HOURS),
                          add("held_local_hours", HOURS), add("utc_hours", HOURS), add("held_utc_hours", HOURS))


@attrs.frozen
class Plan:
    """The projection's numbers: records accounted for, and every campaign's counts (listed even
    when it sends nothing), ordered by name."""

    start: dt.datetime
    weeks: int
    read: int
    with_sends: int
    without_sends: int
    rejected: int
    campaigns: tuple[CampaignCounts, ...]
    warnings: tuple[str, ...] = ()

    @property
    def total(self) -> CampaignCounts:
        """Every campaign's counts added up."""
        return _summed("all campaigns", self.campaigns, 7 * self.weeks)

    @property
    def sends(self) -> int:
        return sum(c.sends for c in self.campaigns)

    @property
    def held_out(self) -> int:
        return sum(c.held_out for c in self.campaigns)

    @property
    def week_starts(self) -> tuple[dt.datetime, ...]:
        return tuple(self.start + dt.timedelta(weeks=w) for w in range(self.weeks))

    @property
    def day_starts(self) -> tuple[dt.datetime, ...]:
        return tuple(self.start + d * _DAY for d in range(7 * self.weeks))

    @property
    def balanced(self) -> bool:
        return self.read == self.with_sends + self.without_sends + self.rejected

    @property
    def verdict(self) -> str:
        """``ok`` only when every record was read and projected, as in ``lapse run``'s summary."""
        if not self.balanced:
            return "MISMATCH"
        return f"incomplete: {counted(self.rejected, 'record')} rejected" if self.rejected else "ok"

    def render(self) -> str:
        """The plan for people: a header, one row per campaign with a column per week, the sends
        per hour of the day on the user's clock and in UTC side by side, the accounting line."""
        out = [f"send plan from {self.start.isoformat()} for {counted(self.weeks, 'week')}: "
               f"{counted(self.sends, 'send')} ({self.held_out} held out) to {counted(self.with_sends, 'user')}; "
               f"{counted(self.read, 'record')} read, {self.rejected} rejected"]
        out.extend(f"warning: {w}" for w in self.warnings)
        out += ["", *self._week_table(), "", *self._hour_table(), ""]
        out.append(f"accounted for: {self.read} read = {self.with_sends} with sends + {self.without_sends} without "
                   f"+ {self.rejected} rejected ({self.verdict})")
        return "\n".join(out)

    def _week_table(self) -> list[str]:
        total = self.total
        names = [_cut(c.campaign) for c in self.campaigns]
        name_width = max([len(n) for n in names] + [len(total.campaign), len("campaign")])
        # columns: (heading, each campaign's count, the total's)
        columns = [(start.date().isoformat(), [c.weeks[w] for c in self.campaigns], total.weeks[w])
                   for w, start in enumerate(self.week_starts)]
        totals = [("total", [c.sends for c in self.campaigns], total.sends),
                  ("held out", [c.held_out for c in self.campaigns], total.held_out)]
        out = ["sends per campaign and week (each column: the 7 days from that date)"]
        for first in range(0, self.weeks, _WEEKS_WIDE):  # a long plan: blocks of weeks, the totals in the last
            block = columns[first : first + _WEEKS_WIDE] + (totals if first + _WEEKS_WIDE >= self.weeks else [])
            widths = [max(len(head), len(str(count))) for head, _, count in block]

            def line(label: str, cells: Sequence[object], widths: list[int] = widths) -> str:
                return f"{label:<{name_width}}" + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))

            rows = [line("campaign", [head for head, _, _ in block])]
            rows += [line(name, [counts[i] for _, counts, _ in block]) for i, name in enumerate(names)]
            rows += ["-" * len(rows[0]), line(total.campaign, [count for _, _, count in block])]
            out += ([""] if first else []) + rows
        return out

    def _hour_table(self) -> list[str]:
        total = self.total
        peak = max([*total.local_hours, *total.utc_hours, 1])
        width = max(len(str(peak)), 5)

        def cell(count: int) -> str:
            return f"{count:>{width}}  {'#' * round(_BAR * count / peak):<{_BAR}}"

        rows = ["sends per hour of the day: local (each user's own clock) and UTC",
                f"{'hour':<5}  {'local':>{width}}  {'':<{_BAR}}  {'UTC':>{width}}"]
        rows += [f"{hour:02d}:00  {cell(total.local_hours[hour])}  {cell(total.utc_hours[hour])}".rstrip()
                 for hour in range(HOURS)]
        return rows


def _cut(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 3] + "..."


class _Tally:
    """The counts while the users stream past: one list per campaign and measure."""

    def __init__(self, names: Iterable[str], days: int) -> None:
        self.index = {name: i for i, name in enumerate(sorted(set(names)))}
        self.counts = {field: [[0] * (days if "days" in field else HOURS) for _ in self.index]
                       for field in ("days", "held_days", "local_hours", "held_local_hours", "utc_hours",
                                     "held_utc_hours")}

    def add(self, d: Decision, start: dt.datetime) -> None:
        i = self.index[d.campaign]
        day = (d.send_at - start) // _DAY
        local = d.local_send_at.hour
        utc = d.send_at.astimezone(dt.UTC).hour
        self.counts["days"][i][day] += 1
        self.counts["local_hours"][i][local] += 1
        self.counts["utc_hours"][i][utc] += 1
        if d.held_out:
            self.counts["held_days"][i][day] += 1
            self.counts["held_local_hours"][i][local] += 1
            self.counts["held_utc_hours"][i][utc] += 1

    def campaigns(self) -> tuple[CampaignCounts, ...]:
        return tuple(CampaignCounts(name, **{field: tuple(lists[i]) for field, lists in self.counts.items()})
                     for name, i in self.index.items())


def project(
    rules: RuleSet,
    rows: Iterable[tuple[int, Mapping[str, Any] | str]],
    now: dt.datetime,
    weeks: int,
    *,
    reject: Reject | None = None,
    progress: Progress | None = None,
) -> Plan:
    """Project every user of ``rows`` (``(line, record or error message)``, as sources yield them)
    over ``weeks`` weeks from ``now``. A record that cannot be read or evaluated (any exception)
    is rejected and passed to ``reject``; the others go on."""
    rules = rules.preview()  # drafts are previewed as if active; paused campaigns stay silent
    try:
        end = now + dt.timedelta(weeks=weeks)
    except OverflowError:
        raise ValueError(f"{weeks} weeks from {now.isoformat()} is past the end of the calendar") from None
    tally = _Tally((rule.name for rule in rules.rules), 7 * weeks)
    presence = Presence(rules)
    read = with_sends = without_sends = rejected = 0
    for line, user in rows:
        read += 1
        user_id: str | None = None
        try:
            if isinstance(user, str):
                raise _Unreadable(user)
            if presence.missing:
                presence.see(user)
            user_id = user_id_of(user)  # as `lapse run`: a record without one is rejected
            sends = _project_user(rules, user, now, end)
        except Exception as exc:  # a bad record, or anything else raised for it: this record only
            rejected += 1
            if reject is not None:
                reject(line, user_id, _reason(exc))
        else:
            for d in sends:
                tally.add(d, now)
            if sends:
                with_sends += 1
            else:
                without_sends += 1
        if progress is not None:
            progress.tick(read)
    if progress is not None:
        progress.done()
    return Plan(now, weeks, read, with_sends, without_sends, rejected, tally.campaigns(), tuple(presence.warnings()))


class _Unreadable(Exception):
    """A row the source could not read; its message is the reason."""


def _reason(exc: Exception) -> str:
    """Why a record was rejected, worded as ``lapse run`` words it."""
    if isinstance(exc, _Unreadable):
        return str(exc)
    if isinstance(exc, LapseError):
        return render(exc, "cli")
    return f"this user cannot be evaluated: {problem(exc)}"


def _project_user(rules: RuleSet, user: Mapping[str, Any], now: dt.datetime, end: dt.datetime) -> list[Decision]:
    history = list(history_of(user))
    cursor = now
    sends: list[Decision] = []
    while cursor < end:
        # `within` only stops the search at `end`: the answer is the unbounded one cut at `end`
        decisions = rules.evaluate(user, cursor, history=history, within=end - cursor)
        if not decisions:
            break
        first = min(d.send_at for d in decisions)
        tick = [d for d in decisions if d.send_at == first]  # one tick at `first` sends them all
        sends.extend(tick)
        history.extend({"campaign": d.campaign, "channel": d.channel, "at": d.send_at} for d in tick)
        cursor = max(cursor, first) + _TICK
    return sends


def rejection_writer(stream: IO[str], progress: Progress | None = None) -> Reject:
    """Rejected records as ``lapse run`` reports them: one JSON line each (line, user_id, error);
    a character the stream cannot hold is written as a JSON escape, so the line is always written."""

    def reject(line: int, user_id: str | None, reason: str) -> None:
        if progress is not None and stream is sys.stderr:
            progress.clear()
        write_rejection(stream, line, user_id, reason)

    return reject


# machine formats -----------------------------------------------------------------------------------


def _tables(plan: Plan) -> Iterable[tuple[str, str, str, str, int, int]]:
    """Every count as ``(table, campaign, start, hour, sends, held_out)``, the rows of ``to_csv``."""
    for c in plan.campaigns:
        for start, sends, held in zip(plan.week_starts, c.weeks, c.held_weeks, strict=True):
            yield "week", c.campaign, iso_utc(start), "", sends, held
    for c in plan.campaigns:
        for start, sends, held in zip(plan.day_starts, c.days, c.held_days, strict=True):
            yield "day", c.campaign, iso_utc(start), "", sends, held
    for table, field in (("local_hour", "local_hours"), ("utc_hour", "utc_hours")):
        for c in plan.campaigns:
            for hour in range(HOURS):
                yield table, c.campaign, "", str(hour), getattr(c, field)[hour], getattr(c, "held_" + field)[hour]


def to_csv(plan: Plan) -> str:
    """The plan as one CSV table (``CSV_FIELDS``): a row per campaign and week, per campaign and
    day, per campaign and local hour, per campaign and UTC hour, zeros included."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    writer.writerows(_tables(plan))
    return buffer.getvalue()


def _counts(c: CampaignCounts) -> dict[str, Any]:
    return {
        "sends": c.sends, "held_out": c.held_out,
        "sends_by_week": list(c.weeks), "held_out_by_week": list(c.held_weeks),
        "sends_by_day": list(c.days), "held_out_by_day": list(c.held_days),
        "sends_by_local_hour": list(c.local_hours), "held_out_by_local_hour": list(c.held_local_hours),
        "sends_by_utc_hour": list(c.utc_hours), "held_out_by_utc_hour": list(c.held_utc_hours),
    }


def as_mapping(plan: Plan) -> dict[str, Any]:
    """Every number of the plan as one JSON-ready mapping."""
    return {
        "from": iso_utc(plan.start),
        "to": iso_utc(plan.start + dt.timedelta(weeks=plan.weeks)),
        "weeks": plan.weeks,
        "records": {"read": plan.read, "with_sends": plan.with_sends, "without_sends": plan.without_sends,
                    "rejected": plan.rejected},
        "warnings": list(plan.warnings),
        "week_starts": [iso_utc(s) for s in plan.week_starts],
        "day_starts": [iso_utc(s) for s in plan.day_starts],
        "campaigns": [{"campaign": c.campaign, **_counts(c)} for c in plan.campaigns],
        "total": _counts(plan.total),
    }


_NUMBERS = re.compile(r"\[\n\s+(-?\d+(?:,\n\s+-?\d+)*)\n\s*\]")


def to_json(plan: Plan) -> str:
    """``as_mapping`` as indented JSON, each list of counts on one line."""
    text = json.dumps(as_mapping(plan), indent=2, ensure_ascii=False)
    # a JSON string never holds a raw new line, so only the number lists match
    return _NUMBERS.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)


# the chart -----------------------------------------------------------------------------------------


@attrs.frozen
class ChartData:
    """What the chart draws: per series (the ``CHART_TOP`` campaigns with the most sends, then
    "other (N campaigns)" for the rest that send) its sends per day and per local hour, and every
    campaign's sends per UTC hour, for comparison."""

    days: tuple[dt.datetime, ...]
    series: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # (label, per day, per local hour)
    utc_hours: tuple[int, ...]
    silent: int  # campaigns with no send, not drawn


def chart_data(plan: Plan, top: int = CHART_TOP) -> ChartData:
    sending = sorted((c for c in plan.campaigns if c.sends), key=lambda c: (-c.sends, c.campaign))
    shown, rest = sending[:top], sending[top:]
    if len(rest) == 1:  # "other (1 campaign)" would hide a name for nothing
        shown, rest = sending, []
    series = [(c.campaign, c.days, c.local_hours) for c in shown]
    if rest:
        other = _summed(f"other ({counted(len(rest), 'campaign')})", rest, 7 * plan.weeks)
        series.append((other.campaign, other.days, other.local_hours))
    return ChartData(plan.day_starts, tuple(series), plan.total.utc_hours, len(plan.campaigns) - len(sending))


def charts_missing() -> str | None:
    """Why ``--chart`` cannot work here (matplotlib is not installed), or None."""
    try:
        import matplotlib  # noqa: F401  # the optional extra, imported only to ask
    except ImportError:
        return "--chart needs matplotlib: pip install 'lapse-dsl[charts]'"
    return None


def draw_chart(plan: Plan, path: str) -> None:
    """A PNG with two panels: sends per day, stacked by campaign, and sends per hour of the
    user's local time, stacked the same way, with every campaign's UTC hours as a line."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    data = chart_data(plan)
    fig, (by_day, by_hour) = plt.subplots(2, 1, figsize=(13, 8.5), gridspec_kw={"height_ratios": [3, 2]})
    try:
        bottom_day = [0] * len(data.days)
        bottom_hour = [0] * HOURS
        centres = [d + _DAY / 2 for d in data.days]
        for k, (label, days, hours) in enumerate(data.series):
            color = "#9a9a9a" if label.startswith("other (") else _COLORS[k % len(_COLORS)]
            by_day.bar(centres, days, width=0.85, bottom=bottom_day, label=label, color=color)
            by_hour.bar(range(HOURS), hours, width=0.85, bottom=bottom_hour, color=color)
            bottom_day = [a + b for a, b in zip(bottom_day, days, strict=True)]
            bottom_hour = [a + b for a, b in zip(bottom_hour, hours, strict=True)]
        by_hour.step(range(HOURS), data.utc_hours, where="mid", color="black", linestyle="--", linewidth=1.2,
                     label="all campaigns by UTC hour")
        start = plan.start.astimezone(dt.UTC)
        by_day.set_title(f"Sends per day by campaign, {counted(plan.weeks, 'week')} from "
                         f"{start:%Y-%m-%d %H:%M} UTC ({plan.sends:,} sends to {plan.with_sends:,} users)")
        by_day.set_ylabel("sends per day")
        # a tick at the start of every week (of every few weeks on a long plan), as the week table's columns
        ticks = plan.week_starts[:: -(-plan.weeks // 8)]
        by_day.set_xticks(ticks, [f"{w:%a %d %b}" if plan.weeks <= 8 else f"{w:%d %b %Y}" for w in ticks])
        if plan.weeks <= 8:
            by_day.set_xticks(plan.day_starts, minor=True)
        by_day.set_xlabel("day (each bar: 24 hours from the plan's start; ticks: the starts of weeks)")
        by_day.set_xlim(data.days[0] - _DAY / 2, data.days[-1] + _DAY * 1.5)
        by_hour.set_title("Sends per hour of the day, on each user's local clock (bars) and in UTC (line)")
        by_hour.set_xlabel("hour of the day")
        by_hour.set_ylabel("sends")
        by_hour.set_xticks(range(HOURS), [f"{h:02d}" for h in range(HOURS)])
        by_hour.set_xlim(-0.6, HOURS - 0.4)
        by_day.set_ylim(0, max([*bottom_day, 1]) * 1.08)  # stacked bars' bottoms are sticky: no top margin
        by_hour.set_ylim(0, max([*bottom_hour, *data.utc_hours, 1]) * 1.08)
        for ax in (by_day, by_hour):
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
        handles, labels = by_day.get_legend_handles_labels()
        more, more_labels = by_hour.get_legend_handles_labels()
        title = "campaign" + (f" ({data.silent} more send nothing)" if data.silent else "")
        fig.legend(handles[::-1] + more, labels[::-1] + more_labels, loc="center left", bbox_to_anchor=(0.70, 0.5),
                   title=title, fontsize=9, title_fontsize=9, frameon=False)
        fig.tight_layout(rect=(0, 0, 0.70, 1))
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)
