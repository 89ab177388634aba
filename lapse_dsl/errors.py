"""The error hierarchy. Every error the package raises for bad input is a :class:`LapseError`.

Errors about a rule file carry their position as fields (``source``, ``line``, ``column``, all
1-based) and print as ``source:line:col: error: message`` followed by the source line and a caret,
the way compilers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import attrs

__all__ = [
    "Diagnostic",
    "Fix",
    "LapseCheckError",
    "LapseError",
    "LapseSyntaxError",
    "UnsupportedError",
    "UserDataError",
    "option_hint",
    "render",
]


@attrs.frozen
class Fix:
    """The edit a diagnostic suggests: replace ``length`` characters of the source, from the
    diagnostic's line and column on, with ``replacement``. Set where the hint is composed, from
    the same suggestion as the message, so that an editor never reads it back out of the text."""

    replacement: str
    length: int = attrs.field(validator=attrs.validators.ge(0))

    def to_json(self) -> dict[str, object]:
        return {"replacement": self.replacement, "length": self.length}


@attrs.frozen
class Diagnostic:
    """One finding about a rule file: an error or a warning at a position, with the fix it
    suggests when it names one unambiguous replacement."""

    source: str
    line: int
    column: int
    severity: str  # "error" or "warning"
    message: str
    source_line: str = attrs.field(default="", eq=False, repr=False)
    fix: Fix | None = attrs.field(default=None, eq=False, repr=False)

    def __str__(self) -> str:
        head = f"{self.source}:{self.line}:{self.column}: {self.severity}: {self.message}"
        if not self.source_line:
            return head
        caret = " " * _display_width(self.source_line[: self.column - 1]) + "^"
        return f"{head}\n    {self.source_line.expandtabs(1)}\n    {caret}"

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "message": self.message,
            **({"fix": self.fix.to_json()} if self.fix is not None else {}),
        }


def _display_width(prefix: str) -> int:
    return len(prefix.expandtabs(1))


class LapseError(Exception):
    """The root of every error lapse-dsl raises for bad rules or bad user data."""


class _PositionedError(LapseError):
    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        if not diagnostics:
            raise ValueError("an error needs at least one diagnostic")
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        first = self.diagnostics[0]
        self.source = first.source
        self.line = first.line
        self.column = first.column
        self.message = first.message
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)


class LapseSyntaxError(_PositionedError):
    """The text is not in the language. Carries the first position the parser could not read."""


class LapseCheckError(_PositionedError):
    """The text parses but does not make sense (unknown attribute, wrong type, bad zone...).

    ``diagnostics`` holds every error found in the file, not only the first; ``line`` and
    ``column`` are those of the first.
    """


class UserDataError(LapseError):
    """A user record cannot be evaluated: a missing ``user_id``, a naive time, a wrong type.

    ``option`` names the rule set option (a ``compile``/``load`` keyword) that would make the
    record valid, such as ``naive_timezone``; the message then ends with how to set it, in the
    words of the surface the user is at: ``str()`` is Python's, :meth:`render` any surface's.
    """

    def __init__(self, message: str, *, user_id: str | None = None, attribute: str | None = None,
                 option: str | None = None):
        self.reason = message
        self.option = option
        super().__init__(self.render("python"))
        self.user_id = user_id
        self.attribute = attribute

    def render(self, surface: Surface) -> str:
        """The message, naming ``option`` as ``surface`` spells it (see :func:`option_hint`)."""
        if self.option is None:
            return self.reason
        return f"{self.reason} or {option_hint(self.option, surface)}"


Surface = Literal["python", "cli"]


def option_hint(option: str, surface: Surface) -> str:
    """How to set a rule set option where the user is: the keyword of ``compile``/``load``/
    ``Plugin`` in Python, the flag on the command line (``naive_timezone`` -> ``--naive-timezone``)."""
    return f"use --{option.replace('_', '-')}" if surface == "cli" else f"compile with {option}="


def render(exc: BaseException, surface: Surface) -> str:
    """Any error's message as ``surface`` words it (only :class:`UserDataError` names options)."""
    return exc.render(surface) if isinstance(exc, UserDataError) else str(exc)


class UnsupportedError(LapseError):
    """A target (such as a SQL dialect) cannot express a construct with the exact semantics."""
