"""lapse-dsl: re-engagement campaigns as text.

    rs = lapse_dsl.compile('segment last_used between 2w and 3w; send push weekly thu 17:45 local')

The pipeline, one module per stage: ``grammar/lapse.lark`` -> :mod:`.parse` -> :mod:`.nodes` (AST)
-> :mod:`.check` -> :mod:`.ruleset` (compile/load) -> evaluation -> :mod:`.plugin` / :mod:`.cli`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lapse-dsl")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without installing
    __version__ = "0.0.0"

from .errors import (
    Diagnostic,
    Fix,
    LapseCheckError,
    LapseError,
    LapseSyntaxError,
    UnsupportedError,
    UserDataError,
)
from .explain import ConditionTrace, Explanation, RuleTrace
from .format import format_file
from .model import Decision
from .parse import parse
from .plugin import Plugin, Result
from .ruleset import RuleSet, compile, load

__all__ = [
    "ConditionTrace",
    "Decision",
    "Diagnostic",
    "Explanation",
    "Fix",
    "LapseCheckError",
    "LapseError",
    "LapseSyntaxError",
    "Plugin",
    "Result",
    "RuleSet",
    "RuleTrace",
    "UnsupportedError",
    "UserDataError",
    "__version__",
    "compile",
    "format_file",
    "load",
    "parse",
]
