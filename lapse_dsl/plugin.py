"""The host entry point: ``entry_points(group="rules_engines")["lapse"].load()`` gives
:class:`Plugin`. One plugin serves one rule path; it is safe to call from many threads at once, and
``reload`` swaps the rules atomically (a failed reload keeps serving the previous rules)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import LapseError
from .model import Decision
from .ruleset import RuleSet, load
from .userdata import user_id_of

__all__ = ["Plugin", "Result"]


@attrs.frozen
class Result:
    """One input user's outcome in :meth:`Plugin.evaluate_many`: decisions, or the error."""

    user_id: str | None
    decisions: tuple[Decision, ...]
    error: LapseError | None = None


class Plugin:
    """Serves a rule file or folder to a host messaging platform."""

    def __init__(self, path: str | Path, rules: RuleSet, options: dict[str, Any]) -> None:
        self.path = Path(path)
        self._rules = rules
        self._options = options
        self._reload_lock = threading.Lock()

    @classmethod
    def from_path(cls, path: str | Path, **compile_options: Any) -> Plugin:
        """Load and check the rules at ``path``; options as for :func:`lapse_dsl.load`."""
        return cls(path, load(path, **compile_options), dict(compile_options))

    @property
    def rules(self) -> RuleSet:
        return self._rules

    @property
    def version(self) -> str:
        """A hash of the loaded rule text: changes exactly when the rules change."""
        return self._rules.version

    def reload(self) -> str:
        """Re-read the path and swap in the new rules; on any error raise and keep the old ones.
        Returns the new version."""
        with self._reload_lock:
            fresh = load(self.path, **self._options)  # raises before anything is swapped
            self._rules = fresh  # one reference assignment: callers see old or new, never a mix
            return fresh.version

    def evaluate(
        self,
        user: Mapping[str, Any],
        now: dt.datetime,
        *,
        since: dt.datetime | None = None,
        history: Iterable[Mapping[str, Any]] = (),
        within: dt.timedelta | None = None,
    ) -> tuple[Decision, ...]:
        return self._rules.evaluate(user, now, since=since, history=history, within=within)

    def evaluate_many(
        self,
        users: Iterable[Mapping[str, Any]],
        now: dt.datetime,
        *,
        since: dt.datetime | None = None,
        history: Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]] | None = None,
        within: dt.timedelta | None = None,
    ) -> Iterator[Result]:
        """One :class:`Result` per input user, in order; a bad user never stops the rest: any
        exception (not only a :class:`LapseError`) raised for one user becomes that user's
        ``error``, a ``LapseError`` whose ``__cause__`` is the original. ``history``, when given,
        maps a user record to its send history."""
        rules = self._rules  # one rule version for the whole batch, even if reload() runs meanwhile
        for user in users:
            user_id = None
            try:
                user_id = user_id_of(user)
                past = history(user) if history is not None else ()
                decisions = tuple(rules.evaluate(user, now, since=since, history=past, within=within))
            except LapseError as exc:
                yield Result(user_id, (), exc)
            except Exception as exc:  # a bug or a resource limit (RecursionError, MemoryError): this user only
                error = LapseError(f"this user cannot be evaluated: {type(exc).__name__}: {exc}")
                error.__cause__ = exc
                yield Result(user_id, (), error)
            else:
                yield Result(user_id, decisions)
