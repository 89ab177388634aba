"""Attribute types: the built-in user schema and the vocabulary the checker validates against."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["BUILTIN_ATTRIBUTES", "CHANNELS", "DAYS", "MESSAGE_FIELDS", "TYPES", "suggest"]

TYPES = ("string", "number", "boolean", "time", "clock")  # clock: a time of day "HH:MM", for `at ATTR or HH:MM`

BUILTIN_ATTRIBUTES: dict[str, str] = {
    "user_id": "string",
    "last_used": "time",
    "first_used": "time",
    "sessions": "number",
    "platform": "string",
    "timezone": "string",
    "push_opted_in": "boolean",
    "email_subscribed": "boolean",
    "country": "string",
    "language": "string",
    "app_version": "string",
}

CHANNELS = ("push", "email", "sms", "in_app", "webhook", "content_card")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_ALIASES = {
    "monday": "mon", "tuesday": "tue", "tues": "tue", "wednesday": "wed", "thursday": "thu",
    "thur": "thu", "thurs": "thu", "friday": "fri", "saturday": "sat", "sunday": "sun",
}
MESSAGE_FIELDS = ("title", "subtitle", "body", "subject", "url", "image")
STATUSES = ("active", "paused", "draft")
QUIET_MODES = ("defer", "drop")


def suggest(word: str, choices: Iterable[str], aliases: dict[str, str] | None = None) -> str | None:
    """The closest valid word, for "did you mean" hints."""
    if aliases and word.lower() in aliases:
        return aliases[word.lower()]
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    """``"; did you mean 'WORD'?"`` for the closest valid word, or nothing."""
    return did_you_mean_word(word, choices, aliases)[0]


def did_you_mean_word(
    word: str, choices: Iterable[str], aliases: dict[str, str] | None = None
) -> tuple[str, str | None]:
    """:func:`did_you_mean`'s text and the word it names (None when it names none): a message
    and its :class:`~lapse_dsl.errors.Fix` from one suggestion."""
    hint = suggest(word, choices, aliases)
    return (f"; did you mean '{hint}'?" if hint else ""), hint
