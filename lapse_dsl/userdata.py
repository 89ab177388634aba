"""Reading user records: typed attribute values, strictly validated.

A record is a mapping (a decoded JSON object). Time values may be aware datetimes, ISO-8601
strings with an offset or ``Z``, or epoch seconds. Anything else that the rule set reads with the
wrong type raises :class:`UserDataError` naming the attribute.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from .errors import UserDataError
from .timecalc import UTC, Tz

__all__ = ["Reader", "bad_value", "lookup", "maybe_user_id", "parse_time", "user_id_of"]

MISSING: Any = None  # missing and null are the same to the language: unknown


def user_id_of(user: object) -> str:
    if user.__class__ is not dict and not isinstance(user, Mapping):
        raise UserDataError(f"a user record must be an object (a mapping), not {type(user).__name__}")
    raw = user.get("user_id")
    if raw.__class__ is str and raw:
        return raw
    if raw is None or raw == "":
        raise UserDataError("user record has no user_id", attribute="user_id")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)  # numeric ids from exports are common; they name the same user
    if not isinstance(raw, str):
        raise UserDataError(f"user_id must be a string, not {type(raw).__name__}", attribute="user_id")
    return raw


def maybe_user_id(user: Mapping[str, Any]) -> str | None:
    """The user_id to name in an error, or None when the record has no usable one."""
    try:
        return user_id_of(user)
    except UserDataError:
        return None


def parse_time(value: object, attribute: str, naive_zone: Tz | None, user_id: str | None = None) -> dt.datetime:
    """A time value -> an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            # a lowercase z is valid ISO-8601 (and the rule grammar accepts it); Python 3.11 does not
            moment = dt.datetime.fromisoformat(value[:-1] + "Z" if value.endswith("z") else value)
        except ValueError:
            raise UserDataError(
                f"{attribute}: '{value}' is not an ISO-8601 time such as 2026-11-19T22:45:00Z",
                user_id=user_id, attribute=attribute,
            ) from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise UserDataError(f"{attribute}: {value} is not a time", user_id=user_id, attribute=attribute)
        try:
            return dt.datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise UserDataError(
                f"{attribute}: epoch seconds {value} are out of range", user_id=user_id, attribute=attribute
            ) from None
    elif isinstance(value, dt.date):
        raise UserDataError(
            f"{attribute}: a date is not a time; give a datetime with a time zone", user_id=user_id, attribute=attribute
        )
    else:
        raise UserDataError(
            f"{attribute}: expected a time (ISO-8601 string, epoch seconds or datetime), got {type(value).__name__}",
            user_id=user_id, attribute=attribute,
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        if naive_zone is None:
            raise UserDataError(
                f"{attribute}: '{value}' has no UTC offset; add one (such as Z) or compile with naive_timezone=",
                user_id=user_id, attribute=attribute,
            )
        moment = moment.replace(tzinfo=naive_zone)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # such as 0001-01-01T00:00:00+01:00, before datetime.min in UTC
        raise UserDataError(
            f"{attribute}: '{value}' is out of the range of times that can be represented in UTC",
            user_id=user_id, attribute=attribute,
        ) from None


def _check_string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _check_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN != NaN
        return None
    return value  # as given: float() of a huge int would overflow, and ints compare exactly with floats


def _check_boolean(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


_CHECKS: dict[str, Callable[[object], object]] = {
    "string": _check_string,
    "number": _check_number,
    "boolean": _check_boolean,
}


class Reader:
    """Extracts and validates the attributes a rule set reads, once per user."""

    def __init__(self, paths: Iterable[str], schema: Mapping[str, str], naive_zone: Tz | None) -> None:
        self.fields = tuple((p, tuple(p.split(".")), schema[p]) for p in sorted(set(paths)))
        self.naive_zone = naive_zone

    def read(self, user: Mapping[str, Any], user_id: str | None, only: Collection[str] | None = None) -> dict[str, Any]:
        """The typed values of every attribute (or of those in ``only``), in name order."""
        values: dict[str, Any] = {}
        for name, parts, kind in self.fields:
            if only is not None and name not in only:
                continue
            raw = lookup(user, parts, name)
            if raw is None:
                values[name] = MISSING
            elif kind == "time":
                values[name] = parse_time(raw, name, self.naive_zone, user_id)
            else:
                value = _CHECKS[kind](raw)
                if value is None:
                    raise bad_value(name, kind, raw, user_id)
                values[name] = value
        return values


def bad_value(name: str, kind: str, raw: object, user_id: str | None) -> UserDataError:
    """The error for a value of the wrong type (or a NaN, which no comparison can order)."""
    if isinstance(raw, float) and raw != raw:  # NaN
        return UserDataError(f"{name}: NaN is not a number", user_id=user_id, attribute=name)
    return UserDataError(f"{name}: expected a {kind}, got {type(raw).__name__} {_short(raw)}",
                         user_id=user_id, attribute=name)


def lookup(user: Mapping[str, Any], parts: tuple[str, ...], name: str) -> object:
    """The value at a dotted path (None when missing or null); UserDataError when a parent is not
    a mapping."""
    value: object = user
    for i, part in enumerate(parts):
        if value is None:
            return None
        if not isinstance(value, Mapping):
            parent = ".".join(parts[:i])
            raise UserDataError(
                f"{name}: '{parent}' is a {type(value).__name__}, not an object",
                user_id=maybe_user_id(user), attribute=name,
            )
        value = value.get(part)
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
