"""The public entry points: ``compile`` text or ``load`` files into a :class:`RuleSet`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from . import nodes as n
from .check import CheckedRule, CheckResult, check
from .errors import Diagnostic, LapseCheckError, LapseError, LapseSyntaxError
from .parse import parse
from .zones import get_zone

__all__ = ["RuleSet", "compile", "load", "read_sources"]


class RuleSet:
    """Checked rules, ready to evaluate. Immutable; safe to share between threads."""

    def __init__(
        self,
        result: CheckResult,
        *,
        default_timezone: str = "UTC",
        naive_timezone: str | None = None,
        version: str = "",
    ) -> None:
        self.rules: tuple[CheckedRule, ...] = result.rules
        self.schema: dict[str, str] = dict(result.schema)
        self.warnings: tuple[Diagnostic, ...] = result.warnings
        self.default_timezone = default_timezone
        self.naive_timezone = naive_timezone
        self.version = version

    def __repr__(self) -> str:
        return f"<RuleSet {len(self.rules)} rules version={self.version[:12]}>"


def _validate_zone_option(name: str | None, option: str) -> None:
    if name is not None and get_zone(name) is None:
        raise ValueError(f"{option}={name!r} is not a time zone name known to tzdata")


def _build(
    files: Sequence[n.File], texts: Sequence[str], default_timezone: str, naive_timezone: str | None
) -> RuleSet:
    _validate_zone_option(default_timezone, "default_timezone")
    _validate_zone_option(naive_timezone, "naive_timezone")
    result = check(files)
    if result.errors:
        raise LapseCheckError(result.errors)
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return RuleSet(
        result,
        default_timezone=default_timezone,
        naive_timezone=naive_timezone,
        version=digest.hexdigest(),
    )


def compile(  # noqa: A001 - the name users expect, as in re.compile
    text: str,
    *,
    source: str = "<string>",
    default_timezone: str = "UTC",
    naive_timezone: str | None = None,
) -> RuleSet:
    """Parse and check rule text. Raises :class:`LapseSyntaxError` or :class:`LapseCheckError`."""
    return _build([parse(text, source=source)], [text], default_timezone, naive_timezone)


def read_sources(path: str | Path) -> list[tuple[str, str]]:
    """``(source name, text)`` for a ``.lapse`` file, or for every ``*.lapse`` file under a
    folder (recursively, in sorted order)."""
    root = Path(path)
    if root.is_dir():
        paths = sorted(p for p in root.rglob("*.lapse") if p.is_file())
        if not paths:
            raise LapseError(f"{root}: no .lapse files in this folder")
    elif root.is_file():
        paths = [root]
    else:
        raise LapseError(f"{root}: no such file or folder")
    return [(str(p), _read_text(p)) for p in paths]


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + 1
        column = len(head) - (head.rfind(b"\n") + 1) + 1
        raise LapseSyntaxError(
            [Diagnostic(str(path), line, column, "error", "the file is not valid UTF-8")]
        ) from None


def load(
    path: str | Path,
    *,
    default_timezone: str = "UTC",
    naive_timezone: str | None = None,
) -> RuleSet:
    """Parse and check a ``.lapse`` file or a folder of them as one rule set."""
    sources = read_sources(path)
    files: list[n.File] = []
    syntax: list[Diagnostic] = []
    for source, text in sources:
        try:
            files.append(parse(text, source=source))
        except LapseSyntaxError as exc:
            syntax.extend(exc.diagnostics)
    if syntax:
        raise LapseSyntaxError(syntax)
    return _build(files, [t for _, t in sources], default_timezone, naive_timezone)
