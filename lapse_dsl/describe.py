"""``lapse describe``: each campaign in plain words, the last page of a campaign builder, for a
review before launch.

Nothing here defines what a rule means; every sentence is read off the module that does:

- the instants a window's edges fall on, and which edge is in: :func:`lapse_dsl.windows.bounds`,
  measured from an occurrence by :meth:`lapse_dsl.evaluate.Moment.bound` (dates by
  :meth:`~lapse_dsl.evaluate.Moment.point`);
- the sends: :func:`lapse_dsl.schedule.occurrences`, from the ``from`` date, to the ``until``
  date and the search horizon (:data:`lapse_dsl.evaluate.HORIZON`);
- which schedules users get (variants with their own send, each user's own hour):
  :mod:`lapse_dsl.personal`; which zone a user without one gets: :func:`lapse_dsl.plan.fallback_zone`;
- the coverage notes: the checker's warnings whose position lies in the campaign.

:func:`describe` gives a JSON-ready structure; :func:`render` writes it as text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import nodes as n
from .check import check
from .errors import Diagnostic, LapseCheckError, LapseSyntaxError
from .evaluate import HORIZON, Moment
from .format import format_condition, format_schedule, quote
from .model import CheckedRule, CheckResult
from .personal import fixed
from .plan import fallback_zone, fixed_zone
from .ruleset import parse_sources
from .schedule import occurrences
from .segments import Definition, Resolver
from .templates import Template
from .timecalc import Tz, iso_utc, local_midnight
from .windows import Bound, bounds
from .zones import get_zone

__all__ = [
    "DEFAULT_ZONES", "SENDS", "checked", "describe", "excluded_when_missing", "next_sends", "predicate_words", "render",
    "schedule_words", "window_edges", "window_words",
]

DEFAULT_ZONES = ("America/New_York", "Europe/London", "Asia/Tokyo")  # after the campaign's own fallback zone
SENDS = 3  # next sends listed per schedule and zone

_DAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not strftime: no locale may change the words
_DAY_NAME = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
             "sat": "Saturday", "sun": "Sunday"}
_MONTH = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNIT = {"m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month"}
_OP = {"=": "is", "!=": "is not", "<": "is less than", "<=": "is at most", ">": "is more than", ">=": "is at least"}


# words for times -------------------------------------------------------------------------------


def wall_text(moment: dt.datetime, zone: Tz) -> str:
    """``Thu 3 Dec 2026 17:45``: an instant on ``zone``'s clock."""
    local = moment.astimezone(zone)
    return f"{_DAY[local.weekday()]} {local.day} {_MONTH[local.month - 1]} {local.year} {local:%H:%M}"


def date_text(day: dt.date) -> str:
    return f"{_DAY[day.weekday()]} {day.day} {_MONTH[day.month - 1]} {day.year}"


def zone_words(name: str) -> str:
    """``New York time`` for America/New_York; ``UTC`` for UTC."""
    if name in ("UTC", "Etc/UTC"):
        return "UTC"
    return name.rsplit("/", 1)[-1].replace("_", " ") + " time"


def _utc_clock(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%H:%M} UTC"


def duration_words(d: n.Duration) -> str:
    return f"{d.amount} {_UNIT[d.unit]}{'' if d.amount == 1 else 's'}"


def _range_words(low: n.Duration, high: n.Duration, joint: str) -> str:
    """``2 and 3 weeks`` when both are in one unit, else ``36 hours and 2 days``."""
    if low.unit == high.unit:
        return f"{low.amount} {joint} {duration_words(high)}"
    return f"{duration_words(low)} {joint} {duration_words(high)}"


def _attr(path: n.Path) -> str:
    return str(path).replace("_", " ")


def window_words(p: n.Window) -> str:
    """A window as a sentence about the send: ``last used between 2 and 3 weeks before the send``."""
    attr = _attr(p.path)
    side = "after" if p.ahead else "before"
    if isinstance(p, n.Between):
        span = _range_words(p.low, p.high, "to") if p.ahead else "between " + _range_words(p.low, p.high, "and")
        return f"{attr} {span} {side} the send"
    more = "more" if isinstance(p, n.MoreThanAgo) else "less"
    tail = " (not before it)" if p.ahead and more == "less" else ""
    return f"{attr} {more} than {duration_words(p.duration)} {side} the send{tail}"


def _edge(bound: Bound, moment: Moment, lower: bool) -> tuple[str, dt.datetime]:
    at = moment.bound(bound.offset)
    if lower:
        return ("at or after" if bound.inclusive else "after"), at
    return ("at or before" if bound.inclusive else "before"), at


def window_edges(p: n.Window, moment: Moment) -> dict[str, Any]:
    """The instants a window's attribute must lie between at ``moment``, as
    :func:`lapse_dsl.windows.bounds` defines them: each edge's instant and whether it is in."""
    low, high = bounds(p)
    out: dict[str, Any] = {}
    parts = []
    for key, bound in (("low", low), ("high", high)):
        if bound is not None:
            word, at = _edge(bound, moment, key == "low")
            out[key] = {"at": iso_utc(at), "inclusive": bound.inclusive}
            parts.append(f"{word} {wall_text(at, moment.zone)}")
    out["words"] = " and ".join(parts)
    return out


def predicate_words(p: n.Predicate) -> str:
    """A predicate in words (a window's dates come from :func:`window_edges`)."""
    if isinstance(p, n.WINDOWS):
        return window_words(p)
    attr = str(p.path)
    if isinstance(p, (n.Before, n.After)):
        word = "before" if isinstance(p, n.Before) else "after"
        if isinstance(p.point, n.InstantLit):
            return f"{_attr(p.path)} {word} {iso_utc(p.point.value)}"
        return f"{_attr(p.path)} {word} {date_text(p.point.value)} (midnight on the delivery zone's clock)"
    if isinstance(p, n.Compare):
        return f"{attr} {_OP[p.op]} {format_condition(p)[len(attr) + len(p.op) + 2:]}"
    if isinstance(p, n.InList):
        values = format_condition(p).split("[", 1)[1][:-1]  # (a path holds no '[')
        return f"{attr} is {'none' if p.negated else 'one'} of {values}"
    if isinstance(p, n.IsSet):
        return f"{attr} is not set (missing or null)" if p.negated else f"{attr} is set (present and not null)"
    return f"{attr} is true"


# the segment ------------------------------------------------------------------------------------


def excluded_when_missing(cond: n.Condition) -> list[str]:
    """The attributes, tested by a predicate other than ``is set``, without which a user is never
    in the segment, in source order: where every way for ``cond`` to be true needs a predicate on
    the attribute to be true or false, never unknown (docs/language.md, "Three-valued logic").
    Predicates are taken as independent of each other, so a contradiction between two of them is
    not seen (it is the checker's to report)."""
    attrs = dict.fromkeys(str(p.path) for p in n.predicates(cond) if not isinstance(p, n.IsSet))
    return [a for a in attrs if _needs(cond, a, True)]


def _needs(cond: n.Condition, attr: str, want: bool) -> bool:
    """Whether ``cond`` can be ``want`` (True or False) only when ``attr`` is known."""
    if isinstance(cond, n.Named):
        return _needs(cond.condition, attr, want)
    if isinstance(cond, n.Not):
        return _needs(cond.operand, attr, not want)
    if isinstance(cond, (n.And, n.Or)):
        # a true "and" / a false "or" needs every operand to be so; a false "and" / true "or" one
        every = isinstance(cond, n.And) == want
        found = (_needs(op, attr, want) for op in cond.operands)
        return any(found) if every else all(found)
    if isinstance(cond, n.SegmentRef) or str(cond.path) != attr:
        return False
    if isinstance(cond, n.IsSet):  # never unknown: a missing value makes `is set` false, `is not set` true
        return want != cond.negated
    return True


# (variant, its next send, the user clock whose fallback that send is at)
Example = tuple[str | None, Moment, n.UserClock | None]


def _condition(cond: n.Condition, examples: Sequence[Example],
               where: Mapping[str, Definition]) -> dict[str, Any]:
    """One node of the segment as written: its canonical text, its words, its children, and for a
    window its edges at each example send."""
    text = format_condition(cond)
    if isinstance(cond, n.Named):
        d = where.get(cond.name)
        return {"kind": "segment", "name": cond.name, "text": text, "definition": format_condition(cond.condition),
                "defined_at": None if d is None else f"{d.source}:{d.line}:{d.column}",
                "children": [_condition(c, examples, where) for c in _parts(cond.condition)]}
    if isinstance(cond, (n.And, n.Or)):
        kind = "and" if isinstance(cond, n.And) else "or"
        return {"kind": kind, "text": text, "words": "all of these" if kind == "and" else "any of these",
                "children": [_condition(c, examples, where) for c in cond.operands]}
    if isinstance(cond, n.Not):
        return {"kind": "not", "text": text, "words": "not this", "children": [_condition(cond.operand, examples, where)]}
    assert not isinstance(cond, n.SegmentRef)  # the checker resolved every reference
    node: dict[str, Any] = {"kind": "predicate", "text": text, "words": predicate_words(cond)}
    if isinstance(cond, n.WINDOWS) or (isinstance(cond, (n.Before, n.After)) and isinstance(cond.point, n.DateLit)):
        node["at_sends"] = [_at_send(cond, *example) for example in examples]
    return node


def _parts(cond: n.Condition) -> tuple[n.Condition, ...]:
    return cond.operands if isinstance(cond, n.And) else (cond,)


def _at_send(p: n.Predicate, variant: str | None, moment: Moment, own: n.UserClock | None) -> dict[str, Any]:
    out: dict[str, Any] = {"variant": variant, "send": moment.local().isoformat(), "zone": str(moment.zone)}
    said = zone_words(str(moment.zone))
    head = f"for the send on {wall_text(moment.at, moment.zone)} {said}"
    if said != "UTC":
        head += f" ({_utc_clock(moment.at)})"
    if variant is not None:
        head += f", variant {quote(variant)}"
    if own is not None:
        head += f" (at the fallback {own.fallback}; a user with a {own.path} is measured from their own send)"
    if isinstance(p, n.WINDOWS):
        edges = window_edges(p, moment)
        out.update(edges)
    else:
        assert isinstance(p, (n.Before, n.After))
        point = moment.point(p.point)
        out["point"] = iso_utc(point)
        edges = {"words": f"{'before' if isinstance(p, n.Before) else 'after'} {wall_text(point, moment.zone)}"}
    out["words"] = f"{head}: {edges['words']}"
    return out


# sends --------------------------------------------------------------------------------------------


def next_sends(rule: CheckedRule, schedule: n.Schedule, zone: Tz, now: dt.datetime, count: int) -> list[Moment]:
    """The schedule's next ``count`` occurrences at or after ``now`` in ``zone`` that the
    campaign's ``from``/``until`` dates allow, within the search horizon."""
    start = now if rule.from_date is None else max(now, local_midnight(rule.from_date, zone))
    out: list[Moment] = []
    for occ in occurrences(fixed(schedule), zone, start, rule.from_date):
        if occ.at > now + HORIZON or (rule.until_date is not None and occ.wall.date() > rule.until_date):
            break
        out.append(Moment(occ.at, occ.wall, zone))
        if len(out) == count:
            break
    return out


def _schedules(rule: CheckedRule) -> list[tuple[str | None, n.Schedule]]:
    """Each schedule the campaign's users may get: ``(variant, schedule)``, variant None for the
    campaign's own (lapse_dsl.personal: a variant without a send of its own follows the campaign's)."""
    own = [(v.name, v.schedule) for v in rule.variants if v.schedule is not None]
    if len(own) == len(rule.variants) and own:
        return list(own)
    return [(None, rule.schedule), *own]


def schedule_words(s: n.Schedule) -> str:
    """When a schedule fires, in words (the zone is said apart)."""
    if isinstance(s, n.Cron):
        return f"at the times of cron {quote(s.expression)} (minute hour day-of-month month day-of-week)"
    at = s.at
    clock = (f"at each user's own {at.path} (a clock attribute, HH:MM), or at {at.fallback} when it is missing or not "
             "a time of day") if isinstance(at, n.UserClock) else f"at {at}"
    if isinstance(s, n.Daily):
        return f"every day {clock}"
    if isinstance(s, (n.Weekly, n.EveryWeeks)):
        days = [_DAY_NAME[d.value] for d in s.days]
        listed = days[0] if len(days) == 1 else ", ".join(days[:-1]) + " and " + days[-1]
        if isinstance(s, n.EveryWeeks):
            return (f"every {s.interval} weeks on {listed} {clock} (weeks counted from the Monday-start week of the "
                    "'from' date)")
        return f"every {listed} {clock}"
    if isinstance(s, n.Monthly):
        last = " (the month's last day in months without it)" if s.day > 28 else ""
        return f"on day {s.day} of every month{last} {clock}"
    return f"once, on {date_text(s.date.value)} {clock}"


def _zone_of(rule: CheckedRule, default_timezone: str) -> tuple[Tz, str, str]:
    """The zone the campaign's example sends are in, and how to say where it delivers."""
    found = fixed_zone(rule)
    if found is not None:
        return found[0], found[1], f"in {found[1]} for every user"
    zone, name, why = fallback_zone(rule, default_timezone)
    return zone, name, (f"on each user's own clock (their timezone attribute); a user without a valid timezone gets "
                        f"{name} ({why})")


def _send_list(rule: CheckedRule, schedule: n.Schedule, zone: Tz, name: str, now: dt.datetime) -> dict[str, Any]:
    sends = next_sends(rule, schedule, zone, now, SENDS)
    listed = []
    for m in sends:
        local = m.local()
        note = ""
        if rule.quiet is not None and rule.quiet.covers(local.time()):  # judged on the occurrence's local time
            note = (f"in quiet hours: deferred to {rule.quiet.end}" if rule.quiet_mode == "defer"
                    else "in quiet hours: dropped")
        listed.append({"local": local.isoformat(), "send_at": iso_utc(m.at), "note": note,
                       "words": f"{wall_text(m.at, zone)}" + ("" if zone_words(name) == "UTC" else f" ({_utc_clock(m.at)})")
                       + (f" [{note}]" if note else "")})
    return {"zone": name, "sends": listed}


# the campaign -------------------------------------------------------------------------------------


def describe(result: CheckResult, definitions: Sequence[Definition], now: dt.datetime,
             zones: Sequence[str] | None = None, default_timezone: str = "UTC") -> list[dict[str, Any]]:
    """Every campaign of a checked rule set, described at ``now``: ``who``, ``what``, ``when``,
    ``delivery`` and ``notes``. ``zones``: where to list the next sends of a ``local`` campaign
    (after the campaign's own fallback zone; default :data:`DEFAULT_ZONES`)."""
    where = {d.name: d for d in definitions}
    return [_campaign(rule, result.warnings, where, now, zones, default_timezone) for rule in result.rules]


def _campaign(rule: CheckedRule, warnings: Sequence[Diagnostic], where: Mapping[str, Definition], now: dt.datetime,
              zones: Sequence[str] | None, default_timezone: str) -> dict[str, Any]:
    zone, zone_name, delivers = _zone_of(rule, default_timezone)
    schedules = _schedules(rule)
    examples = [(variant, sends[0], _own_clock(s)) for variant, s in schedules
                for sends in [next_sends(rule, s, zone, now, 1)] if sends]
    written = rule.written
    local = fixed_zone(rule) is None
    listed_zones = list(dict.fromkeys([zone_name, *(zones if zones is not None else DEFAULT_ZONES)])) if local else [zone_name]
    when = []
    for variant, schedule in schedules:
        share = next((v.percent for v in rule.variants if v.name == variant), None)
        own = _own_clock(schedule)
        when.append({
            "variant": variant, "percent": share, "schedule": format_schedule(schedule),
            "words": schedule_words(schedule),
            "listed_at": None if own is None else str(own.fallback),
            "zones": [_send_list(rule, schedule, _zone(z), z, now) for z in listed_zones],
        })
    return {
        "campaign": rule.name, "source": rule.source, "line": rule.line, "status": rule.status,
        "who": {
            "segment_name": rule.segment_name,
            "zone": zone_name,
            "conditions": [_condition(c, examples, where) for c in _parts(written)],
            "all": isinstance(written, n.And),
            "excluded_when_missing": excluded_when_missing(rule.segment),
            "no_send": not examples,
        },
        "what": _what(rule),
        "when": {"delivers": delivers, "zone": zone_name, "local": local, "schedules": when,
                 "held_out_follow_variants": rule.personal and rule.holdout is not None and bool(rule.variants)},
        "delivery": _delivery(rule, now.astimezone(zone).date()),
        "notes": [d.to_json() for d in warnings if _inside(d, rule)],
    }


def _own_clock(s: n.Schedule) -> n.UserClock | None:
    return None if isinstance(s, n.Cron) or not isinstance(s.at, n.UserClock) else s.at


def _zone(name: str) -> Tz:
    found = get_zone(name)
    assert found is not None  # the caller validated the names
    return found


def _inside(d: Diagnostic, rule: CheckedRule) -> bool:
    """Whether a warning is about this campaign: its position lies in the campaign's text (the
    checker moves a warning about a named segment's definition to the campaign's reference)."""
    span = rule.rule.span
    return d.source == rule.source and span.line <= d.line <= span.end_line


def _fields(fields: Sequence[tuple[str, Template]]) -> list[dict[str, str]]:
    return [{"field": name, "text": template.text} for name, template in fields]


def _what(rule: CheckedRule) -> dict[str, Any]:
    explicit_salt = any(isinstance(c, n.Salt) for c in rule.rule.clauses)
    variants = []
    for v in rule.variants:
        merged = dict(rule.message) | dict(v.message)  # a variant's fields replace the campaign's of that name
        variants.append({"name": v.name, "percent": v.percent, "message": _fields(list(merged.items())),
                         "own_message": bool(v.message),
                         "schedule": None if v.schedule is None else format_schedule(v.schedule),
                         "schedule_words": None if v.schedule is None else schedule_words(v.schedule)})
    return {"channel": rule.channel, "message": _fields(rule.message), "variants": variants, "holdout": rule.holdout,
            "salt": rule.salt if explicit_salt else None}


def _delivery(rule: CheckedRule, today: dt.date) -> dict[str, str]:
    """The delivery controls in words (``today``: the date at now in the campaign's reference zone)."""
    out = {}
    if rule.reeligible is None:
        out["reeligible"] = "once per user: a user who received this campaign never gets it again (no 'reeligible after')"
    else:
        out["reeligible"] = (f"again {duration_words(rule.reeligible)} after a user's last send of this campaign, "
                             "if they are in the segment then")
    if rule.cap is None:
        out["cap"] = "no frequency cap"
    else:
        scope = rule.cap.scope.value if rule.cap.scope else rule.channel
        on = "on any channel" if scope == "all" else f"on {scope}"
        out["cap"] = (f"at most {rule.cap.count} send{'s' if rule.cap.count != 1 else ''} {on} in any "
                      f"{duration_words(rule.cap.per)}, counting every campaign's sends in the user's history")
    if rule.quiet is None:
        out["quiet_hours"] = "none"
    else:
        q = rule.quiet
        effect = f"is deferred to {q.end}" if rule.quiet_mode == "defer" else "is dropped (that occurrence is skipped)"
        clocks = {str(s.at): s.at for _, s in _schedules(rule) if not isinstance(s, n.Cron) and isinstance(s.at, n.Clock)}
        times = sorted(clocks)
        hit = [t for t in times if q.covers(dt.time(clocks[t].hour, clocks[t].minute))]
        fall = (f"; the {', '.join(hit)} send{'s fall' if len(hit) > 1 else ' falls'} in them" if hit else
                f"; the {', '.join(times)} send{'s are' if len(times) > 1 else ' is'} outside them" if times else "")
        out["quiet_hours"] = f"{q.start} to {q.end} on the delivery zone's clock: a send in them {effect}{fall}"
    dates = []
    if rule.from_date is not None:
        dates.append(f"from {date_text(rule.from_date)}")
    if rule.until_date is not None:
        dates.append(f"until {date_text(rule.until_date)} inclusive")
    if dates:
        ended = rule.until_date is not None and rule.until_date < today
        out["dates"] = (" ".join(dates) + " (the occurrence's date on the delivery zone's calendar)"
                        + ("; it has ended" if ended else ""))
    else:
        out["dates"] = "no start or end date"
    default = " (the default)" if rule.grace == n.Duration(1, "h") else ""
    out["grace"] = f"{duration_words(rule.grace)}{default}: after an outage, a missed send still goes out up to that late"
    out["status"] = {"active": "active: it sends",
                     "paused": "paused: it sends nothing until set active",
                     "draft": "draft: checked and previewed (lapse plan, explain), never sent"}[rule.status]
    return out


# text ---------------------------------------------------------------------------------------------


def render(campaigns: Sequence[Mapping[str, Any]], now: dt.datetime) -> str:
    """The campaigns as text, one block each."""
    return "\n\n".join("\n".join(_block(c, now)) for c in campaigns)


def _block(c: Mapping[str, Any], now: dt.datetime) -> Iterator[str]:
    yield f"campaign {quote(c['campaign'])}  ({c['source']}:{c['line']}, {c['status']})"
    who = c["who"]
    named = f"segment {quote(who['segment_name'])}: " if who["segment_name"] else ""
    yield f"  WHO: {named}users for whom {'all of these hold' if who['all'] else 'this holds'} at the send"
    for node in who["conditions"]:
        yield from _node(node, 2)
    if who["no_send"]:
        yield "    (no send after now: the window's dates cannot be given)"
    if who["excluded_when_missing"]:
        names = _joined(who["excluded_when_missing"], "or")
        yield (f"    a user without {names} is never in it: a condition on a missing attribute is unknown, and only a "
               "true segment sends (three-valued logic)")
    what = c["what"]
    yield f"  WHAT: {what['channel']}"
    if what["message"]:
        yield f"    message: {_message(what['message'])}"
    elif not what["variants"]:
        yield "    no message fields"
    if what["variants"]:
        yield "    variants, splitting the users who are not held out:"
        for v in what["variants"]:
            sent = f"sends {v['schedule_words']}; " if v["schedule"] else ""
            said = (_message(v["message"]) or "no message fields") if v["own_message"] else "the campaign's message"
            yield f"      {quote(v['name'])} {_percent(v['percent'])}: {sent}{said}"
    if what["holdout"] is not None:
        yield (f"    holdout {_percent(what['holdout'])}: the control group gets no message (its decision says held_out); "
               "compare them to measure the lift")
    if what["salt"] is not None:
        yield f"    salt {quote(what['salt'])}: holdout and variants keep their users if the campaign is renamed"
    when = c["when"]
    yield f"  WHEN: {when['delivers']}"
    yield f"    next sends from {wall_text(now, dt.UTC)} UTC"
    for s in when["schedules"]:
        if s["variant"] is not None:
            yield f"    variant {quote(s['variant'])} ({_percent(s['percent'])}): {s['words']}"
        else:
            yield f"    {s['words']}" + (" (the variants without a send of their own)" if len(when["schedules"]) > 1 else "")
        if s["listed_at"] is not None:
            yield f"      listed at the fallback {s['listed_at']}; a user with their own time gets it on the same days"
        width = max(len(z["zone"]) for z in s["zones"])
        for z in s["zones"]:
            sends = ", ".join(x["words"] for x in z["sends"]) or "none"
            yield f"      {z['zone']:<{width}}  {sends}"
    if c["status"] != "active":
        yield f"    the campaign is {c['status']}: none of these is sent"
    if when["held_out_follow_variants"]:
        yield "    held-out users follow the schedule of the variant their bucket picks"
    yield "    a user gets the first of these sends at which they are in the segment"
    yield "  DELIVERY"
    labels = {"reeligible": "re-eligible", "cap": "cap", "quiet_hours": "quiet hours", "dates": "dates",
              "grace": "grace", "status": "status"}
    for key, label in labels.items():
        yield f"    {label + ':':<13} {c['delivery'][key]}"
    notes = c["notes"]
    if notes:
        yield "  NOTES (lapse check)"
        for d in notes:
            yield f"    {d['source']}:{d['line']}:{d['column']}: warning: {d['message']}"
    else:
        yield "  NOTES: lapse check has no warning about this campaign"


def _node(node: Mapping[str, Any], depth: int) -> Iterator[str]:
    pad = "  " * depth
    if node["kind"] == "segment":
        at = f"  ({node['defined_at']})" if node["defined_at"] else ""
        yield f"{pad}- segment {quote(node['name'])} = {node['definition']}{at}"
    elif node["kind"] == "predicate":
        yield f"{pad}- {node['words']}  [{node['text']}]"
        for example in node.get("at_sends", ()):
            yield f"{pad}    {example['words']}"
        return
    else:
        yield f"{pad}- {node['words']}:"
    for child in node["children"]:
        yield from _node(child, depth + 1)


def _message(fields: Sequence[Mapping[str, str]]) -> str:
    return "; ".join(f"{f['field']} {quote(f['text'])}" for f in fields)


def _percent(value: float) -> str:
    return f"{value:g}%"


def _joined(items: Sequence[str], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def checked(sources: Sequence[tuple[str, str]]) -> tuple[CheckResult, tuple[Definition, ...]]:
    """Parse and check ``(source name, text)`` pairs as one rule set: the checked rules with their
    warnings, and the named segments. Raises :class:`LapseSyntaxError` or :class:`LapseCheckError`."""
    files, syntax = parse_sources(sources)
    if syntax:
        raise LapseSyntaxError(syntax)
    result = check(files)
    if result.errors:
        raise LapseCheckError(result.errors)
    return result, Resolver(files).definitions  # the files checked: resolving again reports nothing
