"""What the editor shows over a word: a window's meaning and its dates at the campaign's next send,
a schedule's next sends, an attribute's type and declaration, a named segment's definition.

No meaning is worked out here. The words and dates come from :mod:`lapse_dsl.describe` (which
reads :func:`lapse_dsl.windows.bounds`, the schedule and the ``from``/``until`` dates), the zone
from :func:`lapse_dsl.plan.fixed_zone` and :func:`~lapse_dsl.plan.fallback_zone`: a ``local``
schedule is shown in the file's ``default timezone``, else UTC, and the hover says so.
"""

from __future__ import annotations

import datetime as dt

import attrs

from .. import nodes as n
from ..describe import next_sends, schedule_words, wall_text, window_edges, window_words, zone_words
from ..format import format_condition, format_schedule, quote
from ..model import CheckedRule
from ..plan import fallback_zone, fixed_zone
from ..schema import BUILTIN_ATTRIBUTES
from ..timecalc import Tz, iso_utc
from ..windows import bounds
from .folder import Range, Snapshot, chain_at

__all__ = ["Hover", "hover"]

SENDS = 3  # next sends a schedule's hover lists


@attrs.frozen
class Hover:
    """Markdown, over the source of the node it describes."""

    markdown: str
    range: Range


def hover(snapshot: Snapshot, path: str, offset: int, now: dt.datetime) -> Hover | None:
    """The hover at ``offset`` of the file ``path``, with dates as of ``now``; None over anything
    else (or in a file that does not parse)."""
    file = snapshot.files.get(path)
    doc = snapshot.documents.get(path)
    if file is None or doc is None:
        return None
    chain = chain_at(file, offset)
    rule = _checked(snapshot, chain)
    for node in reversed(chain):  # the innermost node that has something to say
        text = _describe(snapshot, node, rule, now)
        if text is not None:
            span = getattr(node, "span")  # noqa: B009 - every node of a chain has one
            return Hover(text, doc.span_range(span))
    return None


def _checked(snapshot: Snapshot, chain: list[object]) -> CheckedRule | None:
    """The checked campaign the chain lies in; None in a rule with errors, or outside rules."""
    if not chain or not isinstance(chain[0], n.Rule):
        return None
    return next((r for r in snapshot.result.rules if r.rule is chain[0]), None)


def _describe(snapshot: Snapshot, node: object, rule: CheckedRule | None, now: dt.datetime) -> str | None:
    if isinstance(node, n.Path):
        return _attribute(snapshot, str(node))
    if isinstance(node, n.WINDOWS):
        return _window(node, rule, now)
    if isinstance(node, (n.Daily, n.Weekly, n.EveryWeeks, n.Monthly, n.Cron, n.Once)):
        return _schedule(node, rule, now)
    if isinstance(node, n.SegmentRef):
        return _segment(snapshot, node.name.value)
    if isinstance(node, n.SegmentDef):
        return _segment(snapshot, node.name.value)
    return None


def _zone(rule: CheckedRule) -> tuple[Tz, str, str]:
    """The zone dates are shown in, its name, and a note for ``local`` schedules."""
    found = fixed_zone(rule)
    if found is not None:
        return found[0], found[1], ""
    zone, name, _ = fallback_zone(rule, "UTC")
    where = "the file's default timezone" if rule.default_timezone else "UTC (the file sets no default timezone)"
    return zone, name, (f"\n\n`local`: each user gets this on their own clock; shown here in {where}, {name}.")


def _window(p: n.Window, rule: CheckedRule | None, now: dt.datetime) -> str:
    head = f"**{format_condition(p)}**: {window_words(p)}."
    if rule is None:
        return head + "\n\n(Dates show in a campaign whose rule checks without errors.)"
    zone, name, note = _zone(rule)
    sends = next_sends(rule, rule.schedule, zone, now, 1)
    if not sends:
        return head + f"\n\nThis campaign has no send in the next 400 days after {iso_utc(now)}." + note
    moment = sends[0]
    said = zone_words(name)
    edges = window_edges(p, moment)
    attr = str(p.path).replace("_", " ")
    low, high = bounds(p)
    exact = " ".join(
        part for part in (
            f"{iso_utc(moment.bound(low.offset))} {'<=' if low.inclusive else '<'}" if low else "",
            str(p.path),
            f"{'<=' if high.inclusive else '<'} {iso_utc(moment.bound(high.offset))}" if high else "",
        ) if part
    )
    return (f"{head}\n\n{attr} {edges['words']} {said}, for the send on {wall_text(moment.at, zone)} {said}."
            f"\n\nIn UTC: `{exact}`{note}")


def _schedule(s: n.Schedule, rule: CheckedRule | None, now: dt.datetime) -> str:
    head = f"**{format_schedule(s)}**: {schedule_words(s)}."
    if rule is None:
        return head + "\n\n(The next sends show in a campaign whose rule checks without errors.)"
    zone, name, note = _zone(rule)
    sends = next_sends(rule, s, zone, now, SENDS)
    if not sends:
        return head + f"\n\nNo send in the next 400 days after {iso_utc(now)}." + note
    said = zone_words(name)
    listed = "\n".join(f"- {wall_text(m.at, zone)} {said} (`{iso_utc(m.at)}`)" for m in sends)
    return f"{head}\n\nNext sends:\n{listed}{note}"


def _attribute(snapshot: Snapshot, name: str) -> str:
    builtin = BUILTIN_ATTRIBUTES.get(name)
    if builtin is not None:
        return f"**{name}**: {builtin}, built into the user schema"
    for file, item in snapshot.file_items():
        if isinstance(item, n.AttributeDecl) and str(item.path) == name:
            return (f"**{name}**: {item.type.value}, declared at {file.source}:{item.span.line}: "
                    f"`attribute {name}: {item.type.value}`")
    return f"**{name}**: not declared; declare it with `attribute {name}: TYPE`"


def _segment(snapshot: Snapshot, name: str) -> str:
    for file, item in snapshot.file_items():
        if isinstance(item, n.SegmentDef) and item.name.value == name:
            return (f"named segment, defined at {file.source}:{item.span.line}:\n\n```lapse\n"
                    f"segment {quote(name)} = {format_condition(item.condition)}\n```")
    return f"no named segment {quote(name)} in this folder"
