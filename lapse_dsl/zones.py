"""Time-zone data, always from the ``tzdata`` package (never the host's files), so every machine
computes the same instants. Zones are loaded once and cached."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import importlib.resources
import re
from zoneinfo import ZoneInfo

__all__ = ["UTC", "get_zone", "zone_advice", "zone_names", "zone_problem"]

UTC = dt.UTC
_cache: dict[str, ZoneInfo] = {}
_RAW_OFFSET = re.compile(r"^(?:(?:UTC|GMT)\s*)?[+-]\d{1,2}(?::?\d{2})?$", re.IGNORECASE)


@functools.cache
def zone_names() -> frozenset[str]:
    """Every zone name the bundled tzdata knows, exact case."""
    text = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def get_zone(name: object) -> ZoneInfo | None:
    """The zone called ``name`` (exact case), or None when tzdata has no such zone."""
    if not isinstance(name, str):
        return None
    zone = _cache.get(name)
    if zone is None:
        if name not in zone_names():
            return None
        parts = name.split("/")
        resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*parts)
        with resource.open("rb") as fh:
            zone = ZoneInfo.from_file(fh, key=name)
        _cache[name] = zone
    return zone


def zone_problem(name: str) -> str | None:
    """None for a valid zone name, else a sentence saying what is wrong and what to write."""
    advice = zone_advice(name)
    return advice[0] if advice is not None else None


def zone_advice(name: str) -> tuple[str, str | None] | None:
    """None for a valid zone name, else :func:`zone_problem`'s sentence and the zone name it
    suggests (None when it suggests none, or only an example)."""
    if name in zone_names():
        return None
    if _RAW_OFFSET.match(name.strip()):
        return (
            f'"{name}" is a fixed UTC offset, not a time zone: offsets change with daylight saving. '
            'Use an IANA name such as "Asia/Kolkata"'
        ), None
    suggestion = suggest_zone(name)
    message = f'unknown time zone "{name}"'
    if suggestion:
        message += f'; did you mean "{suggestion}"?'
    else:
        message += ' (use an IANA name such as "Europe/Paris")'
    return message, suggestion


def suggest_zone(name: str) -> str | None:
    names = zone_names()
    by_lower = {z.lower(): z for z in names}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.75)
    if close:
        return close[0]
    leaf = name.replace(" ", "_").lower()
    for z in sorted(names):
        if z.rsplit("/", 1)[-1].lower() == leaf:
            return z
    return None
