"""Session events for ``lapse insights`` and ``lapse report``: one record per session, with
``user_id``, ``at`` (when the session started) and optionally ``timezone``, read from the same
sources as users (:func:`lapse_dsl.sources.open_source`: JSON lines, CSV, SQLite, standard input).

Each row becomes a :class:`Session` or the reason it cannot be one, in input order, so every
event is accounted for and a bad one costs itself only; nothing is loaded whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import attrs

from .errors import UserDataError
from .sources import Source, open_source, problem
from .timecalc import Tz
from .userdata import as_string, parse_time, user_id_of

__all__ = ["SESSION_SCHEMA", "Session", "SessionRows", "open_sessions"]

# how CSV cells and SQLite values are typed
SESSION_SCHEMA = {"user_id": "string", "at": "time", "timezone": "string"}


@attrs.frozen
class Session:
    user_id: str
    at: dt.datetime  # aware, UTC
    timezone: str | None  # the event's own zone, when the record names one


class SessionRows:
    """An opened session source: iterate for ``(line, Session or error message)``; ``size`` and
    ``position`` drive a progress bar as for users."""

    def __init__(self, source: Source, naive_zone: Tz | None) -> None:
        self.source = source
        self.size = source.size
        self.position = source.position
        self._naive_zone = naive_zone

    def __iter__(self) -> Iterator[tuple[int, Session | str]]:
        for line, record in self.source:
            if isinstance(record, str):
                yield line, record
                continue
            try:
                yield line, session_of(record, self._naive_zone)
            except UserDataError as exc:
                yield line, str(exc)
            except Exception as exc:  # any other failure costs this event only
                yield line, problem(exc)

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> SessionRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def session_of(record: object, naive_zone: Tz | None = None) -> Session:
    """A record -> a :class:`Session`, or :class:`UserDataError` saying what is wrong."""
    user_id = user_id_of(record)
    assert isinstance(record, dict) or hasattr(record, "get")
    raw = record.get("at")
    if raw is None:
        raise UserDataError("session has no 'at' time", user_id=user_id, attribute="at")
    at = parse_time(raw, "at", naive_zone, user_id)
    zone = record.get("timezone")
    return Session(user_id, at, as_string(zone) if zone is not None else None)


def open_sessions(spec: str, table: str | None = None, naive_zone: Tz | None = None) -> SessionRows:
    """Open a session source (``table``: the SQLite table, default ``sessions``). Raises
    :class:`lapse_dsl.sources.SourceError` when it cannot be opened at all."""
    return SessionRows(open_source(spec, SESSION_SCHEMA, "sessions" if table is None else table), naive_zone)
