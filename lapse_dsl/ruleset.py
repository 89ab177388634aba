"""The public entry points: ``compile`` text or ``load`` files into a :class:`RuleSet`."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, overload

from . import nodes as n
from .check import check
from .engine import CompiledEvaluator, Engine, ReferenceEvaluator, as_active
from .errors import Diagnostic, LapseCheckError, LapseError, LapseSyntaxError
from .evaluate import FIRST_INSTANT, LAST_INSTANT, require_instant
from .explain import Explanation
from .model import CheckedRule, CheckResult, Decision
from .parse import parse
from .plan import lower
from .zones import get_zone

# (the instants a call may ask about live with the evaluator; re-exported for callers of this module)
__all__ = [
    "FIRST_INSTANT", "LAST_INSTANT", "RuleSet", "build", "compile", "decode", "from_sources", "load", "parse_sources",
    "read_sources",
    "read_text", "require_instant", "rule_files",
]


F = TypeVar("F")


class _Entry(Generic[F]):
    """A per-user entry point of :class:`RuleSet`: the evaluator's own function, fetched without a
    wrapper call (a host calls it once per user, and a wrapper frame would cost a tenth of the
    evaluation). Declared on the class; nothing is assigned on instances."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Entry[F]: ...

    @overload
    def __get__(self, obj: RuleSet, owner: type | None = None) -> F: ...

    def __get__(self, obj: RuleSet | None, owner: type | None = None) -> F | _Entry[F]:
        if obj is None:
            return self
        return getattr(obj._evaluator, self.name)  # type: ignore[no-any-return]


class Evaluate(Protocol):
    def __call__(self, user: Mapping[str, Any], now: dt.datetime, *, since: dt.datetime | None = None,
                 history: Iterable[Mapping[str, Any]] = (), within: dt.timedelta | None = None) -> tuple[Decision, ...]: ...


class InSegment(Protocol):
    def __call__(self, user: Mapping[str, Any], at: dt.datetime) -> Mapping[str, bool | None]: ...


class RuleSet:
    """Checked rules, ready to evaluate: an immutable value, safe to share between threads. What
    is compiled once (the plan, the generated code, the index) is its engine; :meth:`reference`
    and :meth:`preview` are other rule sets over the same engine."""

    evaluate: _Entry[Evaluate] = _Entry(
        """``evaluate(user, now, *, since=None, history=(), within=None)``: at most one decision per
        rule, the earliest qualifying occurrence, ordered by ``(send_at, campaign)``. With
        ``within``, only the decisions with ``send_at < now + within``, and the search stops there.
        Raises :class:`UserDataError` for a malformed record.""")
    in_segment: _Entry[InSegment] = _Entry(
        """``in_segment(user, at)``: each rule's segment at instant ``at``, True, False or None
        (unknown), as a read-only mapping from campaign name. For fewer than 48 rules the mapping is
        shared between calls with the same answers; for a catalog it stores only the answers that
        are not False (docs/hosts.md).""")

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
        self.plan = lower(self.rules, self.schema, default_timezone)
        self._engine = Engine(self.plan, self.schema, default_timezone, naive_timezone)
        self._evaluator: CompiledEvaluator | ReferenceEvaluator = CompiledEvaluator(self._engine, self.rules, fuse=True)
        self._explainer = ReferenceEvaluator(self._engine, self.rules)

    @classmethod
    def _over(cls, base: RuleSet, rules: tuple[CheckedRule, ...], *, reference: bool) -> RuleSet:
        """Another rule set over ``base``'s engine: the same rules (or previewed ones), another evaluator."""
        derived = cls.__new__(cls)
        derived.rules = rules
        derived.schema = base.schema
        derived.warnings = base.warnings
        derived.default_timezone = base.default_timezone
        derived.naive_timezone = base.naive_timezone
        derived.version = base.version
        derived.plan = base.plan
        derived._engine = base._engine
        derived._explainer = ReferenceEvaluator(base._engine, rules)
        # the fused functions serve the original rules only: a preview changes which ones send
        derived._evaluator = derived._explainer if reference else CompiledEvaluator(base._engine, rules, fuse=False)
        return derived

    def __repr__(self) -> str:
        return f"<RuleSet {len(self.rules)} rules version={self.version[:12]}>"

    def generated_source(self) -> str:
        """The Python source generated for these rules (``lapse compile --emit python``): the same
        rules give the same source, byte for byte."""
        from .codegen import python_source

        fused = self._evaluator.fused if isinstance(self._evaluator, CompiledEvaluator) else None
        return python_source(self._engine.extractor, self._engine.compiled, fused)

    def preview(self) -> RuleSet:
        """The rule set with draft campaigns active, to see what they would send."""
        return RuleSet._over(self, tuple(as_active(r) if r.status == "draft" else r for r in self.rules),
                             reference=isinstance(self._evaluator, ReferenceEvaluator))

    def reference(self) -> RuleSet:
        """The rule set evaluated by walking the AST instead of running generated code: slower,
        and the definition the compiled path is tested against."""
        return RuleSet._over(self, self.rules, reference=True)

    def explain(
        self,
        user: Mapping[str, Any],
        now: dt.datetime,
        *,
        since: dt.datetime | None = None,
        history: Iterable[Mapping[str, Any]] = (),
    ) -> Explanation:
        """Per rule: each condition's value at the next occurrence and why the rule does or does not
        produce a decision. Drafts and paused campaigns are explained too. It is the reference
        interpreter recording its steps, so it agrees with ``evaluate``."""
        return self._explainer.explain(user, now, since=since, history=history)


def _validate_zone_option(name: str | None, option: str) -> None:
    if name is not None and get_zone(name) is None:
        raise ValueError(f"{option}={name!r} is not a time zone name known to tzdata")


def build(
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


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Large rule sets allocate millions of small objects that all stay alive; the cyclic GC would
    rescan them again and again and make compile time grow faster than the rule count. Nothing
    here creates cycles worth collecting early, so collection waits until the end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile(  # noqa: A001 - the name users expect, as in re.compile
    text: str,
    *,
    source: str = "<string>",
    default_timezone: str = "UTC",
    naive_timezone: str | None = None,
) -> RuleSet:
    """Parse and check rule text. Raises :class:`LapseSyntaxError` or :class:`LapseCheckError`."""
    with _no_gc_pauses():
        return build([parse(text, source=source)], [text], default_timezone, naive_timezone)


def rule_files(path: str | Path) -> list[Path]:
    """A ``.lapse`` file, or every ``*.lapse`` file under a folder (recursively, sorted)."""
    root = Path(path)
    if root.is_dir():
        paths = sorted(p for p in root.rglob("*.lapse") if p.is_file())
        if not paths:
            raise LapseError(f"{path}: no .lapse files in this folder")
        return paths
    if root.is_file():
        return [root]
    raise LapseError(f"{path}: no such file or folder")


def read_sources(path: str | Path) -> list[tuple[str, str]]:
    """``(source name, text)`` for each file of :func:`rule_files`."""
    return [(str(p), read_text(p)) for p in rule_files(path)]


def read_text(path: Path) -> str:
    """A rule file's text; :class:`LapseSyntaxError` at the first byte that is not UTF-8."""
    return decode(str(path), path.read_bytes())


def decode(source: str, data: bytes) -> str:
    """A rule file's bytes (from disk, or from git for ``lapse diff``) as text, or a
    :class:`LapseSyntaxError` at the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + 1
        column = len(head) - (head.rfind(b"\n") + 1) + 1
        raise LapseSyntaxError([Diagnostic(source, line, column, "error", "the file is not valid UTF-8")]) from None


def load(
    path: str | Path,
    *,
    default_timezone: str = "UTC",
    naive_timezone: str | None = None,
) -> RuleSet:
    """Parse and check a ``.lapse`` file or a folder of them as one rule set."""
    return from_sources(read_sources(path), default_timezone=default_timezone, naive_timezone=naive_timezone)


def from_sources(sources: Sequence[tuple[str, str]], *, default_timezone: str = "UTC",
                 naive_timezone: str | None = None) -> RuleSet:
    """The rule set of ``(source name, text)`` pairs as read by :func:`read_sources`: how
    :func:`load` builds one, and how the processes of ``--workers`` and Spark's executors build
    theirs from the texts they are sent."""
    with _no_gc_pauses():
        files, syntax = parse_sources(sources)
        if syntax:
            raise LapseSyntaxError(syntax)
        return build(files, [t for _, t in sources], default_timezone, naive_timezone)


def parse_sources(sources: Sequence[tuple[str, str]]) -> tuple[list[n.File], list[Diagnostic]]:
    """Parse every ``(source, text)``; the files that parse, and the syntax errors of the rest."""
    files: list[n.File] = []
    diagnostics: list[Diagnostic] = []
    for source, text in sources:
        try:
            files.append(parse(text, source=source))
        except LapseSyntaxError as exc:
            diagnostics.extend(exc.diagnostics)
    return files, diagnostics
