"""Reading user records: typed attribute values, strictly validated.

A record is a mapping (a decoded JSON object). Time values may be aware datetimes, ISO-8601
strings with an offset or ``Z``, or epoch seconds. Anything else that the rule set reads with the
wrong type raises :class:`UserDataError` naming the attribute.

Each kind of value is read by one function here (:func:`as_string`, :func:`as_number`,
:func:`parse_time`, :func:`user_id_of`); the generated readers of :mod:`lapse_dsl.codegen` test
only for the plain types inline and call these for anything else, so both paths accept, convert
and reject the same values with the same messages.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import operator
import re
import reprlib
from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

from .errors import UserDataError
from .timecalc import UTC, Tz

__all__ = [
    "CLOCK_SKEW_ATTRIBUTES", "Reader", "as_clock", "as_number", "as_string", "bad_value", "lookup", "maybe_user_id",
    "parse_time", "read_value", "short_repr", "skew_warning", "user_id_of",
]

MISSING: Any = None  # missing and null are the same to the language: unknown

# Clock skew: these built-in attributes record past activity, so a value later than the call's
# `now` can only come from clocks that disagree, and counts as `now`. Every other time attribute
# (a trial end, a renewal date) is taken as given, future values included. The one definition:
# the readers, the generated code, the SQL and explain all ask this set.
CLOCK_SKEW_ATTRIBUTES = frozenset({"last_used", "first_used"})

# A whole Decimal with more digits than this reads as a float (an infinity): int() of 1E+999999999
# would build a number of a billion digits. Python's own int/str limit; rule literals are far smaller.
_MAX_DIGITS = 4300


def skew_warning(path: str, value: dt.datetime) -> str:
    """The warning a decision carries when ``path``'s value was counted as ``now``."""
    return f"{path} {value.isoformat()} is later than now; counted as now (clock skew)"


def as_string(value: object) -> str | None:
    """``value`` as a plain ``str`` when it is a string (a ``str`` subclass such as a ``StrEnum``
    member or ``numpy.str_`` gives its characters), else None."""
    if value.__class__ is str:
        return value
    return str.__str__(value) if isinstance(value, str) else None


def as_number(value: object) -> int | float | None:
    """The number ``value`` stands for, as an exact ``int`` or a ``float`` (NaN stays NaN), or
    None when it is not a number. Booleans are not numbers. Subclasses of int and float (IntEnum,
    numpy.float64) give their plain value; a ``Decimal`` or another real number (Fraction, numpy
    scalars) gives an ``int`` when it is whole, else the nearest float: what a JSON reader makes of
    the same digits, so a value compares the same whichever source it came from."""
    cls = value.__class__
    if cls is int or cls is float:
        return value  # type: ignore[return-value]
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    try:
        if isinstance(value, Decimal):
            if value.is_nan():
                return math.nan  # a signaling NaN too: comparing one would raise
            if value.is_infinite() or value.adjusted() >= _MAX_DIGITS:
                return float(value)
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, numbers.Integral):
            return operator.index(value)
        if isinstance(value, numbers.Rational):
            if value.denominator == 1:
                return operator.index(value.numerator)
            try:
                return float(value)
            except OverflowError:  # beyond the float range, as a JSON reader reads 1e400
                return math.inf if operator.index(value.numerator) > 0 else -math.inf
        if isinstance(value, numbers.Real):
            return float(value)
    except (ArithmeticError, TypeError, ValueError):  # a numeric type whose conversion fails
        return None
    return None


_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def as_clock(value: object) -> tuple[int, int] | None:
    """A ``clock`` value as (hour, minute), or None when it is not one: a string ``"HH:MM"`` on the
    24-hour clock (two digits each, ``"07:05"``, ``"23:59"``), or a naive ``datetime.time`` on a
    whole minute (a database ``TIME`` column). Anything else, ``"7:05"``, ``"17:45:00"`` and
    ``"5pm"`` included, is not a clock; the caller uses the schedule's fallback."""
    text = as_string(value)
    if text is not None:
        found = _CLOCK.fullmatch(text)
        return None if found is None else (int(found.group(1)), int(found.group(2)))
    if isinstance(value, dt.time) and value.tzinfo is None and value.second == 0 and value.microsecond == 0:
        return value.hour, value.minute
    return None


def user_id_of(user: object) -> str:
    if user.__class__ is not dict and not isinstance(user, Mapping):
        raise UserDataError(f"a user record must be an object (a mapping), not {type(user).__name__}")
    raw = user.get("user_id")
    if raw.__class__ is str and raw:
        return raw
    if raw is None:
        raise UserDataError("user record has no user_id", attribute="user_id")
    text = as_string(raw)
    if text is not None:
        if not text:
            raise UserDataError("user record has no user_id", attribute="user_id")
        return text
    number = as_number(raw)
    if isinstance(number, int):  # numeric ids from exports are common; they name the same user
        try:
            return str(number)
        except ValueError:  # more digits than Python converts (4,300)
            raise UserDataError("user_id is a number too long to be an id", attribute="user_id") from None
    raise UserDataError(f"user_id must be a string, not {type(raw).__name__}", attribute="user_id")


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
        value = text = str.__str__(value)
        try:
            # a lowercase z is valid ISO-8601 (and the rule grammar accepts it); Python 3.11 does not
            moment = dt.datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
        except ValueError:
            raise UserDataError(
                f"{attribute}: {short_repr(text)} is not an ISO-8601 time such as 2026-11-19T22:45:00Z",
                user_id=user_id, attribute=attribute,
            ) from None
    elif isinstance(value, dt.date):
        raise UserDataError(
            f"{attribute}: a date is not a time; give a datetime with a time zone", user_id=user_id, attribute=attribute
        )
    else:
        seconds = as_number(value)
        if seconds is None:
            raise UserDataError(
                f"{attribute}: expected a time (ISO-8601 string, epoch seconds or datetime), got {type(value).__name__}",
                user_id=user_id, attribute=attribute,
            )
        if isinstance(seconds, float) and not math.isfinite(seconds):
            raise UserDataError(f"{attribute}: {short_repr(value)} is not a time", user_id=user_id, attribute=attribute)
        try:
            return dt.datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise UserDataError(
                f"{attribute}: epoch seconds {short_repr(value)} are out of range", user_id=user_id, attribute=attribute
            ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        if naive_zone is None:
            raise UserDataError(
                f"{attribute}: {_shown(value)} has no UTC offset; add one (such as Z)",
                user_id=user_id, attribute=attribute, option="naive_timezone",
            )
        moment = moment.replace(tzinfo=naive_zone)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # such as 0001-01-01T00:00:00+01:00, before datetime.min in UTC
        raise UserDataError(
            f"{attribute}: {_shown(value)} is out of the range of times that can be represented in UTC",
            user_id=user_id, attribute=attribute,
        ) from None


def _shown(value: object) -> str:
    """A time value in a message: a string as its (short) repr, a datetime as it prints."""
    return short_repr(value) if isinstance(value, str) else f"'{value}'"


def read_value(kind: str, raw: object, name: str, user_id: str | None) -> Any:
    """A non-null value of a ``string``, ``number`` or ``boolean`` attribute, converted to the plain
    type (see :func:`as_string`, :func:`as_number`); :class:`UserDataError` when it is not one."""
    value = _CONVERT[kind](raw)
    if value is None or value != value:  # NaN: no comparison can order it
        raise bad_value(name, kind, raw, user_id)
    return value


def _as_boolean(value: object) -> bool | None:
    return value if value.__class__ is bool else None


_CONVERT: dict[str, Callable[[object], Any]] = {"string": as_string, "number": as_number, "boolean": _as_boolean}


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
                values[name] = read_value(kind, raw, name, user_id)
        return values


def bad_value(name: str, kind: str, raw: object, user_id: str | None) -> UserDataError:
    """The error for a value of the wrong type (or a NaN, which no comparison can order)."""
    number = as_number(raw)
    if number is not None and number != number:
        return UserDataError(f"{name}: NaN is not a number", user_id=user_id, attribute=name)
    return UserDataError(f"{name}: expected a {kind}, got {type(raw).__name__} {short_repr(raw)}",
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


class _Repr(reprlib.Repr):
    """repr for messages: bounded in depth and size, whatever the value."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 4
        self.maxstring = self.maxother = self.maxlong = 60
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 20

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr of an int of more than 4,300 digits raises
            return f"<an int of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_REPR = _Repr()


def short_repr(value: object) -> str:
    """A user's value as a message shows it: a repr of at most 40 characters, made without fail
    (a list nested thousands deep, an int of more digits than Python prints, a ``__repr__`` that
    raises)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # any object may come in a record; the message must still be made
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."
