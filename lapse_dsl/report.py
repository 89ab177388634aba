"""``lapse report``: did a campaign win users back? Per campaign, per variant and holdout group,
how many users came back within a window after the send, and the lift of each group over the
holdout and over each other, with confidence intervals and p-values from statsmodels.

Memory: the plan is read first and kept as compact per-decision arrays (send instant, window end,
group, came back) plus one dict ``user_id -> decision indices``; the sessions are then streamed
once and only mark decisions. So memory grows with the number of decisions (about 150 bytes
each), never with the number of sessions.
"""

from __future__ import annotations

import array
import datetime as dt
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .errors import UserDataError
from .sessions import Session
from .sources import Row, counted, problem
from .timecalc import EXACT_UNITS, UTC, exact_duration, iso_utc
from .userdata import parse_time, user_id_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "MIN_RETURNS", "PLAN_SCHEMA", "CampaignReport", "Comparison", "Group", "Inputs", "OnError", "Report",
    "SessionCounts", "Watch", "chart_figure", "load_pyplot", "load_stats", "make_report", "mark_returns", "parse_window",
    "read_plan", "render_json", "render_text", "save_chart", "window_text",
]

# how CSV cells of a plan written by `lapse run --format csv` are typed
PLAN_SCHEMA = {"campaign": "string", "user_id": "string", "send_at": "time", "held_out": "boolean", "variant": "string"}
MIN_RETURNS = 10  # a group needs this many who came back and this many who did not for the test to hold
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = dt.timedelta(microseconds=1)
_MAX_WINDOW = dt.timedelta(days=366)

HOLDOUT, VARIANT, SENT = "holdout", "variant", "sent"  # the kinds of group

T = TypeVar("T")
OnError = Callable[[int, str], None]  # (line, message) of a rejected input line


def parse_window(text: str) -> dt.timedelta:
    """``--window``: a whole number and a unit, m, h, d or w (exact lengths: a day is 24 hours),
    above zero and at most 366 days. Raises ValueError saying what is wrong."""
    found = exact_duration(text, _MAX_WINDOW)
    if not found:
        raise ValueError(f"'{text}' is empty: a window must be longer than zero")
    return found


def window_text(window: dt.timedelta) -> str:
    """A window as ``--window`` takes it: in days when whole days, else hours, else minutes."""
    for unit in "dhm":
        if not window % EXACT_UNITS[unit]:
            return f"{window // EXACT_UNITS[unit]}{unit}"
    return str(window)


def _micros(moment: dt.datetime) -> int:
    """An aware instant as whole microseconds since the epoch: exact, so window edges compare exactly."""
    return (moment - _EPOCH) // _MICRO


def _instant(micros: int) -> dt.datetime:
    return _EPOCH + micros * _MICRO


class Watch:
    """The decisions of a plan and, per user, the windows to watch: everything the report keeps
    in memory. Decision ``i`` has ``send[i]``, ``end[i]`` (microseconds since the epoch), group
    ``groups[group[i]]`` (``(campaign, kind, variant)``) and ``returned[i]`` (1 once a session of
    its user falls in ``(send, end]``)."""

    def __init__(self, window: dt.timedelta) -> None:
        self.window = window
        self.send = array.array("q")
        self.end = array.array("q")
        self.group = array.array("l")
        self.returned = bytearray()
        self.groups: list[tuple[str, str, str | None]] = []
        self._group_ids: dict[tuple[str, str, str | None], int] = {}
        self.users: dict[str, int | list[int]] = {}  # most users have one decision: an int, no list
        self.read = 0  # plan records read, rejected ones included
        self.rejected = 0

    def add(self, user_id: str, campaign: str, kind: str, variant: str | None, send_at: dt.datetime) -> str | None:
        """Add a decision; why it cannot be added (a second decision of the user in the campaign)."""
        key = (campaign, kind, variant)
        gid = self._group_ids.get(key)
        if gid is None:
            gid = self._group_ids[key] = len(self.groups)
            self.groups.append(key)
        index = len(self.send)
        known = self.users.get(user_id)
        if known is None:
            self.users[user_id] = index
        else:
            indices = [known] if isinstance(known, int) else known
            if any(self.groups[self.group[i]][0] == campaign for i in indices):
                return f"user {user_id!r} already has a decision in campaign {campaign!r}; the first one is kept"
            if isinstance(known, int):
                self.users[user_id] = [known, index]
            else:
                known.append(index)
        start = _micros(send_at)
        end = start + self.window // _MICRO
        self.send.append(start)
        self.end.append(end)
        self.group.append(gid)
        self.returned.append(0)
        return None

    def __len__(self) -> int:
        return len(self.send)


def read_plan(rows: Iterable[Row], window: dt.timedelta, on_error: OnError) -> Watch:
    """The decisions of a plan (``lapse run --out``, JSON lines or CSV): campaign, user_id,
    send_at, held_out (absent: false) and variant (absent or null: none). A record that is not a
    decision, or a second decision of a user in one campaign, goes to ``on_error`` and is counted."""
    watch = Watch(window)
    for line, record in rows:
        watch.read += 1
        try:
            if isinstance(record, str):
                raise UserDataError(record.replace("a user record must be", "a decision must be"))
            why = _add(watch, record)
        except UserDataError as exc:
            why = str(exc).replace("user record", "decision")
        except Exception as exc:  # any other failure costs this line only
            why = problem(exc)
        if why is not None:
            watch.rejected += 1
            on_error(line, why)
    return watch


def _add(watch: Watch, record: dict[str, Any]) -> str | None:
    campaign = record.get("campaign")
    if not isinstance(campaign, str) or not campaign:
        return "decision has no campaign" if campaign in (None, "") else "campaign must be a string"
    user_id = user_id_of(record)
    raw = record.get("send_at")
    if raw is None:
        return "decision has no send_at"
    send_at = parse_time(raw, "send_at", None, user_id)
    held = record.get("held_out", False)
    if held is None:
        held = False
    if not isinstance(held, bool):
        return f"held_out must be true or false, not {held!r}"
    variant = record.get("variant")
    if variant == "":
        variant = None  # as CSV writes no variant
    if variant is not None and not isinstance(variant, str):
        return f"variant must be a string or null, not {type(variant).__name__}"
    if held:
        return watch.add(user_id, campaign, HOLDOUT, None, send_at)
    return watch.add(user_id, campaign, VARIANT if variant is not None else SENT, variant, send_at)


@attrs.frozen
class SessionCounts:
    read: int = 0
    rejected: int = 0
    in_window: int = 0  # in the window of at least one decision of its user
    outside: int = 0  # of a user with decisions, in none of their windows
    no_decision: int = 0  # of a user with no decision in the plan
    first: dt.datetime | None = None
    last: dt.datetime | None = None


def mark_returns(watch: Watch, sessions: Iterable[tuple[int, Session | str]], on_error: OnError) -> SessionCounts:
    """Stream ``sessions`` once, marking each decision whose window holds a session of its user."""
    read = rejected = in_window = outside = no_decision = 0
    first = last = None
    users, send, end, returned = watch.users, watch.send, watch.end, watch.returned
    for line, item in sessions:
        read += 1
        if isinstance(item, str):
            rejected += 1
            on_error(line, item)
            continue
        at = _micros(item.at)
        if last is None or at > last:
            last = at
        if first is None or at < first:
            first = at
        known = users.get(item.user_id)
        if known is None:
            no_decision += 1
            continue
        hit = False
        for i in (known,) if isinstance(known, int) else known:
            if send[i] < at <= end[i]:
                returned[i] = 1
                hit = True
        if hit:
            in_window += 1
        else:
            outside += 1
    return SessionCounts(read, rejected, in_window, outside, no_decision,
                         None if first is None else _instant(first), None if last is None else _instant(last))


@attrs.frozen
class Group:
    """One group of a campaign: ``kind`` is holdout, variant (``name`` is the variant's) or sent
    (a campaign without variants)."""
    name: str
    kind: str
    users: int
    returned: int
    ci_low: float | None  # the rate's interval (Wilson); None without users
    ci_high: float | None
    too_small: tuple[str, ...]  # why the group is too small to conclude from, if it is

    @property
    def rate(self) -> float | None:
        return self.returned / self.users if self.users else None


@attrs.frozen
class Comparison:
    """``group`` against ``baseline``: ``difference`` is the rate of group minus that of baseline."""
    group: str
    baseline: str
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    relative: float | None  # difference / baseline rate; None when the baseline rate is 0
    significant: bool
    too_small: tuple[str, ...]
    verdict: str


@attrs.frozen
class CampaignReport:
    campaign: str
    groups: tuple[Group, ...]
    comparisons: tuple[Comparison, ...]
    excluded: int  # decisions whose window was not over at the cutoff


@attrs.frozen
class Inputs:
    plan: str
    sessions: str
    plan_read: int
    plan_rejected: int
    measured: int
    excluded: int
    sessions_counts: SessionCounts
    early: int  # measured decisions sent before the first session


@attrs.frozen
class Report:
    window: dt.timedelta
    window_text: str
    alpha: float
    min_group: int
    cutoff: dt.datetime | None  # windows ending after it are excluded
    cutoff_from: str  # "--now" or "the latest session"
    campaigns: tuple[CampaignReport, ...]
    inputs: Inputs

    @property
    def level(self) -> str:
        return f"{(1 - self.alpha) * 100:g}%"


def load_stats() -> Any:
    """statsmodels' proportion module, or ImportError naming the extra to install."""
    try:
        from statsmodels.stats import proportion  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError("lapse report needs statsmodels: pip install 'lapse-dsl[stats]'") from None
    return proportion


def make_report(
    watch: Watch, counts: SessionCounts, *, now: dt.datetime | None, alpha: float, min_group: int,
    plan: str, sessions: str,
) -> Report:
    """Count each group's users and returns over the decisions whose window is over by the cutoff
    (``now``, else the latest session), and compare the groups."""
    stats = load_stats()
    cutoff_at = now if now is not None else counts.last
    cutoff = None if cutoff_at is None else _micros(cutoff_at)
    first = None if counts.first is None else _micros(counts.first)
    users = [0] * len(watch.groups)
    returned = [0] * len(watch.groups)
    excluded: dict[str, int] = {}
    early = 0
    for i, gid in enumerate(watch.group):
        if cutoff is None or watch.end[i] > cutoff:
            campaign = watch.groups[gid][0]
            excluded[campaign] = excluded.get(campaign, 0) + 1
            continue
        users[gid] += 1
        returned[gid] += watch.returned[i]
        early += first is not None and watch.send[i] < first
    campaigns = []
    for campaign in sorted({key[0] for key in watch.groups}):
        gids = sorted((g for g, key in enumerate(watch.groups) if key[0] == campaign), key=lambda g: _order(watch.groups[g]))
        groups = [_group(stats, watch.groups[g], users[g], returned[g], alpha, min_group) for g in gids]
        _unique_names(groups)
        comparisons = _comparisons(stats, groups, alpha)
        campaigns.append(CampaignReport(campaign, tuple(groups), tuple(comparisons), excluded.get(campaign, 0)))
    n_excluded = sum(excluded.values())
    inputs = Inputs(plan, sessions, watch.read, watch.rejected, len(watch) - n_excluded, n_excluded, counts, early)
    source = "--now" if now is not None else "the latest session"
    return Report(watch.window, window_text(watch.window), alpha, min_group, cutoff_at, source, tuple(campaigns), inputs)


def _order(key: tuple[str, str, str | None]) -> tuple[int, str]:
    _, kind, variant = key
    return ({HOLDOUT: 0, SENT: 1, VARIANT: 2}[kind], variant or "")


def _unique_names(groups: list[Group]) -> None:
    """A variant named like a special group (holdout, sent) is shown as ``variant "holdout"``."""
    special = {g.name for g in groups if g.kind != VARIANT}
    for i, g in enumerate(groups):
        if g.kind == VARIANT and g.name in special:
            groups[i] = attrs.evolve(g, name=f'variant "{g.name}"')


def _group(stats: Any, key: tuple[str, str, str | None], users: int, returned: int, alpha: float, min_group: int) -> Group:
    _, kind, variant = key
    name = variant if kind == VARIANT and variant is not None else kind
    low = high = None
    if users:
        lo, hi = stats.proportion_confint(returned, users, alpha=alpha, method="wilson")
        low, high = float(lo), float(hi)
    small = []
    if users < min_group:
        small.append(f"{counted(users, 'user')} (fewer than --min-group {min_group})")
    if users and returned < MIN_RETURNS:
        small.append(f"{returned} came back (fewer than {MIN_RETURNS})")
    if users and users - returned < MIN_RETURNS:
        small.append(f"{users - returned} did not come back (fewer than {MIN_RETURNS})")
    return Group(name, kind, users, returned, low, high, tuple(small))


def _comparisons(stats: Any, groups: list[Group], alpha: float) -> list[Comparison]:
    """Each group that was sent against the holdout, then each pair of sent groups."""
    holdout = [g for g in groups if g.kind == HOLDOUT]
    sent = [g for g in groups if g.kind != HOLDOUT]
    pairs = [(g, h) for h in holdout for g in sent]
    pairs += [(a, b) for i, a in enumerate(sent) for b in sent[i + 1:]]
    return [_compare(stats, a, b, alpha) for a, b in pairs]


def _compare(stats: Any, a: Group, b: Group, alpha: float) -> Comparison:
    small = tuple(f"{g.name}: {why}" for g in (a, b) for why in g.too_small)
    if not a.users or not b.users:
        empty = " and ".join(g.name for g in (a, b) if not g.users)
        verdict = f"cannot compare {a.name} and {b.name}: no measured user in {empty}"
        return Comparison(a.name, b.name, None, None, None, None, None, False, small, verdict)
    assert a.rate is not None and b.rate is not None
    with warnings.catch_warnings():  # statsmodels also computes the ratio, dividing by a zero rate
        warnings.simplefilter("ignore", RuntimeWarning)
        # Agresti-Caffo: one success and one failure added to each group, then Wald. Its interval
        # and its test are the same computation, so the interval excludes 0 exactly when p < alpha.
        low, high = stats.confint_proportions_2indep(a.returned, a.users, b.returned, b.users, method="agresti-caffo",
                                                     compare="diff", alpha=alpha)
        p = float(stats.test_proportions_2indep(a.returned, a.users, b.returned, b.users, method="agresti-caffo",
                                                compare="diff").pvalue)
    difference = a.rate - b.rate
    relative = difference / b.rate if b.rate else None
    low, high = float(low), float(high)
    significant = p < alpha
    level = f"{(1 - alpha) * 100:g}%"
    if significant and high < 0:  # the winner first, its lead positive
        verdict = _verdict(b, a, -difference, -high, -low, p, significant, small, level)
    else:
        verdict = _verdict(a, b, difference, low, high, p, significant, small, level)
    return Comparison(a.name, b.name, difference, low, high, p, relative, significant, small, verdict)


def _points(x: float) -> str:
    return f"{x * 100:+.1f}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _verdict(a: Group, b: Group, difference: float, low: float, high: float, p: float, significant: bool,
             small: tuple[str, ...], level: str) -> str:
    """One line for people: who beats whom by how much (``a`` minus ``b``), or that it cannot be told."""
    numbers = f"{_points(difference)} points ({level} CI {_points(low)} to {_points(high)}), {_p(p)}"
    if b.rate:
        numbers += f", relative {difference / b.rate * 100:+.0f}%"
    if small:
        return f"too small to conclude: {a.name} vs {b.name}: {numbers}; {'; '.join(small)}"
    if significant:
        return f"{a.name} beats {b.name}: {numbers}"
    return f"no detectable difference between {a.name} and {b.name}: {numbers}"


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def render_text(report: Report) -> str:
    """The report for people: per campaign a table of groups and one verdict per comparison,
    then what was read."""
    out = [f"came back: at least one session in (send_at, send_at + {report.window_text}]; "
           f"{report.level} confidence intervals"]
    if report.cutoff is None:
        out.append("no window is over: no session was read (give --now to say until when the sessions are complete)")
    else:
        out.append(f"measured: decisions whose window is over by {iso_utc(report.cutoff)} ({report.cutoff_from})")
    for c in report.campaigns:
        out.append("")
        out.append(c.campaign)
        width = max([5, *(len(g.name) for g in c.groups)])
        out.append(f"  {'group':<{width}}  {'users':>7}  {'came back':>9}  {'rate':>6}  {report.level} CI")
        for g in c.groups:
            ci = "-" if g.ci_low is None else f"{_percent(g.ci_low)} to {_percent(g.ci_high)}"
            note = f"  too small: {'; '.join(g.too_small)}" if g.too_small else ""
            out.append(f"  {g.name:<{width}}  {g.users:>7}  {g.returned:>9}  {_percent(g.rate):>6}  {ci:<17}{note}".rstrip())
        if c.excluded:
            out.append(f"  not measured: {counted(c.excluded, 'decision')} whose window is not over")
        if c.comparisons:
            out.append("")
        for k in c.comparisons:
            out.append(f"  {k.verdict}")
    out.append("")
    out.extend(_accounting(report))
    return "\n".join(out)


def _accounting(report: Report) -> list[str]:
    i, s = report.inputs, report.inputs.sessions_counts
    lines = [
        f"{i.plan}: {counted(i.plan_read, 'line')} read = {i.measured} measured + {i.excluded} not measured "
        f"(window not over) + {i.plan_rejected} rejected",
        f"{i.sessions}: {counted(s.read, 'session')} read = {s.in_window} in a window after a send + {s.outside} "
        f"outside their user's windows + {s.no_decision} of users with no decision + {s.rejected} rejected",
    ]
    if i.early and s.first is not None:
        lines.append(f"warning: {counted(i.early, 'measured decision')} sent before the first session "
                     f"({iso_utc(s.first)}): if the sessions start later than the sends, those users count as not back")
    if not s.read - s.rejected:
        lines.append("warning: no session was read, so no user came back")
    return lines


def render_json(report: Report) -> dict[str, Any]:
    """The report for machines: every number of the text, rates as fractions."""
    s = report.inputs.sessions_counts
    return {
        "window": report.window_text,
        "window_seconds": report.window // dt.timedelta(seconds=1),
        "alpha": report.alpha,
        "min_group": report.min_group,
        "min_returns": MIN_RETURNS,
        "cutoff": None if report.cutoff is None else iso_utc(report.cutoff),
        "cutoff_from": report.cutoff_from,
        "campaigns": [{
            "campaign": c.campaign,
            "not_measured": c.excluded,
            "groups": [{"group": g.name, "kind": g.kind, "users": g.users, "came_back": g.returned, "rate": g.rate,
                        "ci_low": g.ci_low, "ci_high": g.ci_high, "too_small": list(g.too_small)} for g in c.groups],
            "comparisons": [{"group": k.group, "baseline": k.baseline, "difference": k.difference, "ci_low": k.ci_low,
                             "ci_high": k.ci_high, "p_value": k.p_value, "relative_lift": k.relative,
                             "significant": k.significant, "too_small": list(k.too_small), "verdict": k.verdict}
                            for k in c.comparisons],
        } for c in report.campaigns],
        "inputs": {
            "plan": {"path": report.inputs.plan, "read": report.inputs.plan_read, "measured": report.inputs.measured,
                     "not_measured": report.inputs.excluded, "rejected": report.inputs.plan_rejected,
                     "sent_before_first_session": report.inputs.early},
            "sessions": {"path": report.inputs.sessions, "read": s.read, "in_window": s.in_window, "outside_windows": s.outside,
                         "no_decision": s.no_decision, "rejected": s.rejected,
                         "first": None if s.first is None else iso_utc(s.first),
                         "last": None if s.last is None else iso_utc(s.last)},
        },
    }


def load_pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError("lapse report --chart needs matplotlib: pip install 'lapse-dsl[charts]'") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


_COLOURS = {HOLDOUT: "#7f7f7f", SENT: "#1f77b4", VARIANT: "#1f77b4"}
_SMALL = "#d62728"


def chart_figure(report: Report) -> Figure:
    """One panel per campaign: each group's rate (a point) and its confidence interval (a bar,
    an errorbar container labelled with the group's name), the holdout's rate as a dashed line.
    Groups without a measured user are left out."""
    plt = load_pyplot()
    from matplotlib.lines import Line2D

    panels = list(report.campaigns) or [CampaignReport("(no decision)", (), (), 0)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, 1.4 + 3.2 * len(panels)), squeeze=False)
    for ax, c in zip(axes[:, 0], panels, strict=True):
        shown = [g for g in c.groups if g.users]
        for x, g in enumerate(shown):
            assert g.rate is not None and g.ci_low is not None and g.ci_high is not None
            rate, low, high = g.rate * 100, g.ci_low * 100, g.ci_high * 100
            colour = _SMALL if g.too_small else _COLOURS[g.kind]
            ax.errorbar([x], [rate], yerr=[[rate - low], [high - rate]], fmt="o", color=colour, capsize=6, markersize=7,
                        label=g.name)
            ax.annotate(f"{rate:.1f}%", (x, rate), xytext=(9, 5), textcoords="offset points", fontsize=9)
        holdout = next((g for g in shown if g.kind == HOLDOUT), None)
        handles = []
        if holdout is not None and holdout.rate is not None:
            ax.axhline(holdout.rate * 100, color=_COLOURS[HOLDOUT], linestyle="--", linewidth=1)
            if not holdout.too_small:
                handles.append(Line2D([], [], color=_COLOURS[HOLDOUT], marker="o", label="holdout (not sent)"))
            handles.append(Line2D([], [], color=_COLOURS[HOLDOUT], linestyle="--", linewidth=1, label="holdout rate"))
        if any(g.kind != HOLDOUT and not g.too_small for g in shown):
            handles.append(Line2D([], [], color=_COLOURS[VARIANT], marker="o", label="sent"))
        if any(g.too_small for g in shown):
            handles.append(Line2D([], [], color=_SMALL, marker="o", label="too small to conclude"))
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels([f"{g.name}\n{g.returned} of {g.users}" for g in shown])
        ax.set_xlim(-0.6, max(len(shown), 1) - 0.4)
        ax.set_ylim(0, max([5.0, *((g.ci_high or 0) * 100 * 1.15 for g in shown)]))
        ax.set_xlabel("group (users who came back of users measured)")
        ax.set_ylabel("came back (% of users)")
        title = c.campaign + (f"  ({counted(c.excluded, 'decision')} not measured: window not over)" if c.excluded else "")
        ax.set_title(title, fontsize=11)
        ax.grid(axis="y", alpha=0.3)
        if handles:
            ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)
        else:
            ax.text(0.5, 0.5, "no measured decision", transform=ax.transAxes, ha="center")
    fig.suptitle(f"Users who came back within {report.window_text} of the send: rate and {report.level} interval",
                 fontsize=12)
    fig.tight_layout()
    figure: Figure = fig
    return figure


def save_chart(report: Report, path: str) -> None:
    """Draw :func:`chart_figure` to ``path`` (PNG)."""
    plt = load_pyplot()
    fig = chart_figure(report)
    try:
        fig.savefig(path, dpi=110, format="png")
    finally:
        plt.close(fig)
