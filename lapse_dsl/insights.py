"""Sessions by local weekday and hour (``lapse insights``): when do users open the app, on their
own wall clock, and when should a campaign send, just before that.

Each session is placed on the wall clock of its zone: the event's own ``timezone`` (where the
device was), else the user's ``timezone`` attribute, else the fallback zone (``--default-timezone``,
UTC unless given). The counts form a 7 x 24 matrix (Monday first, hours 00 to 23), drawn as a text
heatmap and, with matplotlib, as a PNG. Each weekday's peak is its busiest hour (the earliest on a
tie); the slot recommended for that weekday is the start of the hour before it, so a message
lands as users are about to open the app (a peak at 00:00 gives 23:00 the day before).

A user's own ``preferred_time`` is the start of the hour before their busiest local hour over all
weekdays (the earliest on a tie), for users with at least a given number of sessions.

Memory is flat in the number of sessions: they are streamed, and what is kept is per user (an
index entry, a 2-byte zone number and, only for ``--per-user``, 24 four-byte hour counters) plus
the 168 cells of the matrix.
"""

from __future__ import annotations

import collections
import datetime as dt
import importlib
import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

import attrs

from .progress import Progress
from .sessions import DUCKDB, BadSession, Session, open_duckdb
from .sources import Source, open_source
from .timecalc import Tz, iso_utc
from .userdata import as_string, user_id_of
from .zones import get_zone

__all__ = [
    "DEFAULT_MIN_SESSIONS", "WEEKDAYS", "ChartsMissing", "Insight", "Peak", "Rejected", "UserTable", "analyse",
    "chart_classes", "draw_chart", "open_users", "peaks", "preferred_times", "read_users", "render", "summary", "to_json",
    "write_preferred_times",
]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = 24
DEFAULT_MIN_SESSIONS = 5
SHADES = " .:-=+*#%@"  # level 0 (no session) to 9 (the busiest cell)
SHOWN = 5  # rejected rows shown per input, with their line numbers
_NO_ZONE = 0xFFFF
_KINDS = {"unreadable": "unreadable", "user_id": "no user_id", "at": "bad time", "unknown user": "unknown user",
          "other": "other"}
_USER_SCHEMA = {"user_id": "string", "timezone": "string"}


class ChartsMissing(Exception):
    """``--chart`` without matplotlib (the ``charts`` extra)."""


@attrs.frozen
class Rejected:
    """A row that is not counted: where it is and why."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


class UserTable:
    """What is kept per user: its number (users in input order), its zone, and, when counting per
    user, 24 hour counters in one flat ``array('I')``."""

    def __init__(self, per_user: bool) -> None:
        self.index: dict[str, int] = {}
        self.zone = array("H")  # a number in self.zones, or _NO_ZONE
        self.zones: list[str] = []
        self._zone_numbers: dict[str, int] = {}
        self.hours: array[int] | None = array("I") if per_user else None
        self._zeros = array("I", bytes(4 * HOURS))

    def add(self, user_id: str, zone: str | None) -> bool:
        """Add a user (with a valid zone name or None); False when the id was already added."""
        if user_id in self.index:
            return False
        self.index[user_id] = len(self.index)
        if zone is None:
            self.zone.append(_NO_ZONE)
        else:
            number = self._zone_numbers.get(zone)
            if number is None:
                number = self._zone_numbers[zone] = len(self.zones)
                self.zones.append(zone)
            self.zone.append(number)
        if self.hours is not None:
            self.hours.extend(self._zeros)
        return True

    def zone_of(self, number: int) -> str | None:
        z = self.zone[number]
        return None if z == _NO_ZONE else self.zones[z]


@attrs.frozen
class Peak:
    """A weekday's busiest local hour (``weekday`` None: every day together) and the slot just
    before it."""

    weekday: int | None  # 0 is Monday
    hour: int
    sessions: int  # in the peak hour
    day_sessions: int  # in the whole day (every day: all sessions)
    send_sessions: int  # in the hour of the recommended slot

    @property
    def share(self) -> float:
        return self.sessions / self.day_sessions

    @property
    def send_hour(self) -> int:
        return (self.hour - 1) % HOURS

    @property
    def send_at(self) -> str:
        return f"{self.send_hour:02d}:00"

    @property
    def day_before(self) -> bool:
        """The slot is on the day before (a peak at 00:00)."""
        return self.hour == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "weekday": None if self.weekday is None else WEEKDAYS[self.weekday],
            "peak_hour": f"{self.hour:02d}:00", "peak_sessions": self.sessions, "day_sessions": self.day_sessions,
            "peak_share": round(self.share, 4), "send_at": self.send_at, "send_day_before": self.day_before,
            "send_hour_sessions": self.send_sessions,
        }


@attrs.frozen(eq=False)
class Insight:
    """The counts of one ``lapse insights`` run and how every input row was accounted for."""

    matrix: tuple[tuple[int, ...], ...]  # [weekday][hour], Monday first
    users: UserTable
    users_read: int
    users_rejected: int
    sessions_read: int
    outside: int  # outside the window
    other_zones: int  # in a zone --zone leaves out
    rejected: dict[str, int]  # kind -> count
    zone_from: dict[str, int]  # "event", "user", "default" -> sessions counted in that zone
    unknown_event_zones: int  # sessions naming a zone tzdata does not know (the user's was used)
    examples: tuple[Rejected, ...]  # the first rejected rows of each input
    start: dt.datetime | None  # the window: start < at <= end
    end: dt.datetime | None
    default_zone: str
    only_zones: tuple[str, ...]

    @property
    def counted(self) -> int:
        return sum(map(sum, self.matrix))

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


# reading ---------------------------------------------------------------------------------------

_LARGE = 1_000_000  # bytes of input from which a progress bar is drawn


def open_users(spec: str, table: str | None) -> Source:
    """The users (only ``user_id`` and ``timezone`` are read): a file as for ``lapse run``, or
    ``duckdb:PATH`` (``table``: its table, or the SQLite table; default ``users``)."""
    if spec.startswith(DUCKDB):
        return open_duckdb(spec, "users" if table is None else table, ("user_id",), ("timezone",))
    return open_source(spec, _USER_SCHEMA, table)


def read_users(source: Source, name: str, *, per_user: bool, progress: bool = True) -> tuple[UserTable, int, list[Rejected]]:
    """Every user's number and zone: ``(table, rows read, rejected rows)``. A row without a
    usable ``user_id``, or repeating one already read, is rejected; a missing or unknown
    ``timezone`` is no zone (the fallback), not a rejection."""
    users = UserTable(per_user)
    rejected: list[Rejected] = []
    bar = Progress(source.size, source.position, "user", large=_LARGE, enabled=progress)
    read = 0
    with source:
        for line, record in source:
            read += 1
            bar.tick(read)
            if isinstance(record, str):
                rejected.append(Rejected(name, line, record))
                continue
            try:
                user_id = user_id_of(record)
            except Exception as exc:  # a bad record costs itself only
                rejected.append(Rejected(name, line, str(exc)))
                continue
            zone = as_string(record.get("timezone"))
            if not users.add(user_id, zone if get_zone(zone) is not None else None):
                rejected.append(Rejected(name, line, f"user_id {user_id!r} is repeated: its first record is kept"))
    bar.done()
    return users, read, rejected


def analyse(
    users: UserTable,
    sessions: Iterable[tuple[int, Session | str]],
    sessions_name: str,
    *,
    users_read: int = 0,
    users_rejected: Sequence[Rejected] = (),
    default_zone: str = "UTC",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    only_zones: Sequence[str] = (),
    progress_source: Source | None = None,
) -> Insight:
    """Count every session of a known user inside the window (``start < at <= end``; None: no
    bound) by local weekday and hour, and per user by local hour when ``users`` counts per user."""
    matrix = array("Q", bytes(8 * 7 * HOURS))
    hours = users.hours
    index = users.index
    zone_numbers = users.zone
    zone_names = users.zones
    fallback = get_zone(default_zone)
    if fallback is None:
        raise ValueError(f"unknown zone {default_zone!r}")
    user_zones: list[Tz] = [z for z in map(get_zone, zone_names) if z is not None]  # all valid: see read_users
    wanted = frozenset(only_zones)
    read = outside = other = unknown_zone = 0
    origins = [0, 0, 0]
    rejected: collections.Counter[str] = collections.Counter()
    examples = list(users_rejected[:SHOWN])
    shown = 0
    bar = (Progress(progress_source.size, progress_source.position, "session", large=_LARGE)
           if progress_source is not None else None)
    for line, item in sessions:
        read += 1
        if bar is not None:
            bar.tick(read)
        if isinstance(item, str):
            rejected[item.kind if isinstance(item, BadSession) else "other"] += 1
            if shown < SHOWN:
                shown += 1
                examples.append(Rejected(sessions_name, line, str(item)))
            continue
        number = index.get(item.user_id)
        if number is None:
            rejected["unknown user"] += 1
            if shown < SHOWN:
                shown += 1
                examples.append(Rejected(sessions_name, line, f"no user with user_id {item.user_id!r} among the users"))
            continue
        at = item.at
        if (start is not None and at <= start) or (end is not None and at > end):
            outside += 1
            continue
        zone: Tz | None = None
        name = item.timezone
        origin = 0  # where the zone came from: the event, the user, the fallback
        if name is not None:
            zone = get_zone(name)
            if zone is None:
                unknown_zone += 1
        if zone is None:
            z = zone_numbers[number]
            if z != _NO_ZONE:
                zone, name, origin = user_zones[z], zone_names[z], 1
            else:
                zone, name, origin = fallback, default_zone, 2
        if wanted and name not in wanted:
            other += 1
            continue
        origins[origin] += 1
        local = at.astimezone(zone)
        matrix[local.weekday() * HOURS + local.hour] += 1
        if hours is not None:
            hours[number * HOURS + local.hour] += 1
    if bar is not None:
        bar.done()
    return Insight(
        matrix=tuple(tuple(matrix[d * HOURS:(d + 1) * HOURS]) for d in range(7)),
        users=users, users_read=users_read, users_rejected=len(users_rejected), sessions_read=read,
        outside=outside, other_zones=other, rejected=dict(rejected),
        zone_from={"event": origins[0], "user": origins[1], "default": origins[2]},
        unknown_event_zones=unknown_zone, examples=tuple(examples), start=start, end=end,
        default_zone=default_zone, only_zones=tuple(only_zones),
    )


# what the counts say ---------------------------------------------------------------------------


def peaks(matrix: Sequence[Sequence[int]]) -> tuple[Peak | None, ...]:
    """Each weekday's peak (None for a day without sessions), then every day's together."""
    days: list[Sequence[int]] = list(matrix)
    found: list[Peak | None] = []
    for d, row in enumerate(days):
        found.append(_peak(d, row, days[d - 1][HOURS - 1]))  # a 00:00 peak: the slot is the day before's 23:00
    every = [sum(row[h] for row in days) for h in range(HOURS)]
    found.append(_peak(None, every, every[HOURS - 1]))
    return tuple(found)


def _peak(weekday: int | None, row: Sequence[int], day_before_last: int) -> Peak | None:
    total = sum(row)
    if not total:
        return None
    hour = max(range(HOURS), key=lambda h: (row[h], -h))  # the earliest of the busiest hours
    send = row[hour - 1] if hour else day_before_last
    return Peak(weekday, hour, row[hour], total, send)


def preferred_times(users: UserTable, min_sessions: int) -> Iterator[tuple[str, str, int]]:
    """``(user_id, "HH:MM", sessions)`` for each user with at least ``min_sessions`` sessions
    counted, in input order: the start of the hour before their busiest local hour (the earliest
    on a tie). Needs a table that counted per user."""
    hours = users.hours
    if hours is None:
        raise ValueError("the users were not counted per user")
    for user_id, number in users.index.items():
        row = hours[number * HOURS:(number + 1) * HOURS]
        total = sum(row)
        if total and total >= min_sessions:
            hour = max(range(HOURS), key=lambda h: (row[h], -h))
            yield user_id, f"{(hour - 1) % HOURS:02d}:00", total


def write_preferred_times(users: UserTable, min_sessions: int, out: IO[str]) -> int:
    """Write :func:`preferred_times` as JSON lines; the number written."""
    written = 0
    for user_id, clock, total in preferred_times(users, min_sessions):
        out.write(json.dumps({"user_id": user_id, "preferred_time": clock, "sessions": total}, ensure_ascii=False) + "\n")
        written += 1
    return written


def _window(insight: Insight) -> str:
    if insight.end is None:
        return ""
    if insight.start is None:
        return f" up to {iso_utc(insight.end)}"
    return f" after {iso_utc(insight.start)} up to {iso_utc(insight.end)}"


def _span(insight: Insight) -> str:
    """The window in a chart's title: dates and times in UTC."""
    if insight.end is None:
        return "all sessions"
    end = f"{insight.end:%Y-%m-%d %H:%M} UTC"
    return f"up to {end}" if insight.start is None else f"{insight.start:%Y-%m-%d %H:%M} to {end}"


def _level(count: int, top: int) -> int:
    return (9 * count + top - 1) // top if count else 0  # 1..9: the ninth of the busiest cell it reaches


def render(insight: Insight) -> str:
    """The text heatmap, each weekday's peak marked ``[..]``, the recommended slots and a legend."""
    matrix = insight.matrix
    top = max(max(row) for row in matrix)
    zones = f" in {', '.join(insight.only_zones)}" if insight.only_zones else ""
    lines = [f"sessions by local weekday and hour: {insight.counted} sessions{zones}{_window(insight)}"]
    if not top:
        lines.append("no session counted: nothing to show")
        return "\n".join(lines)
    found = peaks(matrix)
    lines.append("")
    header = "     " + "".join(f" {h:02d}" for h in range(HOURS))
    lines.append(f"{header}    peak  sessions   share  send at")
    for d, row in enumerate(matrix):
        seps = [" "] * (HOURS + 1)
        peak = found[d]
        if peak is not None:
            seps[peak.hour], seps[peak.hour + 1] = "[", "]"
        cells = "".join(seps[h] + SHADES[_level(row[h], top)] * 2 for h in range(HOURS)) + seps[HOURS]
        lines.append(f"{WEEKDAYS[d]:<4} {cells}{_stats(peak)}")
    lines.append(f"{'all':<4} {' ' * (3 * HOURS + 1)}{_stats(found[7])}")
    busiest = max(((row[h], -d, -h) for d, row in enumerate(matrix) for h in range(HOURS)))
    lines.append("")
    lines.append(f"busiest hour: {WEEKDAYS[-busiest[1]]} {-busiest[2]:02d}:00, {busiest[0]} sessions")
    legend = []
    for k in range(1, len(SHADES)):
        lo, hi = (k - 1) * top // 9 + 1, k * top // 9
        if lo <= hi:
            legend.append(f"{SHADES[k] * 2} {lo}" + (f"-{hi}" if hi > lo else ""))
    lines.append("shades, sessions in the hour: " + "  ".join(legend))
    lines.append("[..] each weekday's peak hour; send at: the start of the hour before it (* the day before)")
    return "\n".join(lines)


def _stats(peak: Peak | None) -> str:
    if peak is None:
        return f"  {'-':>6}"
    send = peak.send_at + ("*" if peak.day_before else "")
    return f"  {peak.hour:02d}:00  {peak.sessions:>8}  {peak.share:6.1%}  {send}"


def summary(insight: Insight, users_name: str, sessions_name: str) -> str:
    """How every input row was accounted for, for standard error."""
    kinds = ", ".join(f"{label} {insight.rejected[k]}" for k, label in _KINDS.items() if k in insight.rejected)
    total = insight.rejected_total
    lines = [
        f"{sessions_name}: {insight.sessions_read} sessions read = {insight.counted} counted + {insight.outside} outside "
        f"the window + {insight.other_zones} in other zones + {total} rejected" + (f" ({kinds})" if kinds else ""),
        f"{users_name}: {insight.users_read} users read = {len(insight.users.index)} kept + {insight.users_rejected} "
        "rejected",
    ]
    z = insight.zone_from
    zones = (f"zones of the counted sessions: {z['event']} the event's timezone, {z['user']} the user's, "
             f"{z['default']} {insight.default_zone} (the fallback)")
    if insight.unknown_event_zones:
        zones += f"; {insight.unknown_event_zones} events named an unknown zone (the user's was used)"
    lines.append(zones)
    lines.extend(f"rejected: {r}" for r in insight.examples)
    more = insight.users_rejected + total - len(insight.examples)
    if more > 0:
        lines.append(f"rejected: ... and {more} more")
    return "\n".join(lines)


def to_json(insight: Insight) -> dict[str, Any]:
    """Everything :func:`render` and :func:`summary` show, for machines."""
    found = peaks(insight.matrix)
    return {
        "window": {"after": None if insight.start is None else iso_utc(insight.start),
                   "until": None if insight.end is None else iso_utc(insight.end)},
        "zones": list(insight.only_zones) or None,
        "sessions": {"read": insight.sessions_read, "counted": insight.counted, "outside_window": insight.outside,
                     "other_zones": insight.other_zones, "rejected": insight.rejected_total,
                     "rejected_by": {_KINDS[k]: insight.rejected[k] for k in _KINDS if k in insight.rejected}},
        "users": {"read": insight.users_read, "kept": len(insight.users.index), "rejected": insight.users_rejected},
        "zone_from": {**insight.zone_from, "unknown_event_zone": insight.unknown_event_zones,
                      "fallback": insight.default_zone},
        "weekdays": list(WEEKDAYS),
        "hours": [f"{h:02d}:00" for h in range(HOURS)],
        "matrix": [list(row) for row in insight.matrix],
        "peaks": [None if p is None else p.to_json() for p in found[:7]],
        "every_day": None if found[7] is None else found[7].to_json(),
        "rejected_examples": [{"source": r.source, "line": r.line, "reason": r.reason} for r in insight.examples],
    }


# the chart -------------------------------------------------------------------------------------


def chart_classes() -> Any:
    """matplotlib's ``Figure`` and Agg canvas (no pyplot: nothing global changes), or
    :class:`ChartsMissing` naming the extra to install."""
    try:
        figure = importlib.import_module("matplotlib.figure")
        agg = importlib.import_module("matplotlib.backends.backend_agg")
    except ImportError:
        raise ChartsMissing("--chart needs matplotlib: pip install 'lapse-dsl[charts]'") from None
    return figure.Figure, agg.FigureCanvasAgg


def draw_chart(insight: Insight, path: str) -> tuple[tuple[int, ...], ...]:
    """The heatmap as a PNG at ``path``: weekdays down, local hours across, each weekday's peak
    outlined and its recommended slot marked. Returns the counts drawn, read back from the image."""
    figure_class, canvas_class = chart_classes()
    fig = figure_class(figsize=(12, 4.8), layout="constrained")
    canvas_class(fig)
    ax = fig.add_subplot()
    image = ax.imshow(insight.matrix, aspect="auto", cmap="YlOrRd", interpolation="nearest", vmin=0)
    ax.set_xticks(range(HOURS), [f"{h:02d}" for h in range(HOURS)])
    ax.set_yticks(range(7), list(WEEKDAYS))
    ax.set_xlabel("local hour of day (each session on its own zone's wall clock)")
    ax.set_ylabel("local weekday")
    zones = f" in {', '.join(insight.only_zones)}" if insight.only_zones else ""
    ax.set_title(f"Sessions by local weekday and hour: {insight.counted:,} sessions{zones}, {_span(insight)}")
    fig.colorbar(image, ax=ax, label="sessions in the hour", pad=0.01)
    found = peaks(insight.matrix)
    peak_label = "each weekday's peak hour"
    send_label = "recommended send: the start of the hour before the peak"
    for d, peak in enumerate(found[:7]):
        if peak is None:
            continue
        ax.add_patch(_rectangle((peak.hour - 0.5, d - 0.5), 1, 1, fill=False, edgecolor="#1f3b73", linewidth=2.5,
                                label=peak_label))
        row = (d - 1) % 7 if peak.day_before else d
        ax.add_patch(_rectangle((peak.send_hour - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="#1f3b73",
                                linewidth=1.5, linestyle="--", label=send_label))
        ax.text(peak.send_hour, row, peak.send_at, ha="center", va="center", fontsize=7, color="#1f3b73")
        peak_label = send_label = "_"  # one legend entry each
    if any(p is not None for p in found[:7]):
        fig.legend(loc="outside lower center", ncols=2, fontsize="small", frameon=False)
    fig.savefig(path, dpi=110)
    drawn = image.get_array()
    return tuple(tuple(int(v) for v in row) for row in drawn.tolist())


def _rectangle(*args: Any, **kwargs: Any) -> Any:
    patches = importlib.import_module("matplotlib.patches")
    return patches.Rectangle(*args, **kwargs)
