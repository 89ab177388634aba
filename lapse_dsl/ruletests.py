"""Rule tests: expectations written beside the rules in ``*.lapsetest`` files, run by ``lapse test``.

A test file is a small line-oriented syntax in the language's own style (docs/language.md, "Rule
tests"): lower-case keywords, double-quoted names, ``#`` comments, one block per test::

    test "Paris, lapsed 16 days: this Thursday 17:45 Paris time" {
        user {"user_id": "u1", "timezone": "Europe/Paris", "last_used": "2026-11-14T09:00:00Z", "push_opted_in": true}
        now 2026-11-30T00:00:00Z
        expect "Lapsed users - 2 weeks" send at 2026-12-03T17:45:00+01:00
        expect "Lapsed users - 2 weeks" in segment
    }

Every case runs on the compiled path (``RuleSet.evaluate``/``in_segment``) and on the reference
interpreter (``RuleSet.reference()``); a disagreement between the two is an internal error of its
own, so the tests also guard the generated code. The stages: :func:`find_test_files`,
:func:`parse_tests` (syntax, positioned diagnostics), :func:`check_tests` (names against the
compiled rules), :func:`run_tests` (a :class:`Report`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs

from .batch import history_of
from .errors import Diagnostic, LapseSyntaxError, UserDataError
from .model import Decision
from .ruleset import FIRST_INSTANT, LAST_INSTANT, RuleSet, read_text
from .schema import did_you_mean
from .sources import counted, problem
from .timecalc import SEARCH_HORIZON, exact_duration, iso_utc

__all__ = [
    "SUFFIX", "DecisionExpectation", "Failure", "Report", "Result", "RuleTest", "RuleTestFile", "SegmentExpectation",
    "check_tests", "find_test_files", "parse_tests", "read_tests", "run_tests",
]

SUFFIX = ".lapsetest"
_KEYWORDS = ("user", "now", "since", "within", "history", "expect")

Outcome = Literal["send", "held out", "nothing"]


@attrs.frozen
class DecisionExpectation:
    """``expect "C" send at T`` / ``held out at T`` / ``nothing``: the campaign's decision."""

    campaign: str
    line: int
    column: int  # of the campaign's name
    outcome: Outcome
    at: dt.datetime | None = None  # the exact send_at (None for nothing)
    variant: str | None = None
    variant_column: int = 0
    warnings: tuple[str, ...] = ()  # each is a part of one of the decision's warnings, one for one


@attrs.frozen
class SegmentExpectation:
    """``expect "C" in segment`` / ``not in segment`` / ``segment unknown`` [``at T``]."""

    campaign: str
    line: int
    column: int
    value: bool | None  # True in, False not in, None unknown
    at: dt.datetime | None = None  # None: the test's now


Expectation = DecisionExpectation | SegmentExpectation


@attrs.frozen
class RuleTest:
    """One test case: a user at an instant, and what each named campaign should decide."""

    name: str
    source: str
    line: int  # of the `test` keyword
    user: Mapping[str, Any] = attrs.field(eq=False)
    user_line: int
    now: dt.datetime
    expectations: tuple[Expectation, ...]
    since: dt.datetime | None = None
    within: dt.timedelta | None = None
    history: tuple[Any, ...] | None = attrs.field(default=None, eq=False)  # None: the record's own `history`
    history_line: int = 0


@attrs.frozen
class RuleTestFile:
    source: str
    tests: tuple[RuleTest, ...]
    text: str = attrs.field(default="", eq=False, repr=False)  # for the source line under a diagnostic


# Finding and reading test files --------------------------------------------------------------------


def find_test_files(rules: str | Path, paths: Sequence[str | Path] = ()) -> list[Path]:
    """The test files to run: ``paths`` (files, or folders searched recursively), else those beside
    ``rules`` (every ``*.lapsetest`` under a rules folder, or the one named after a rule file).
    Raises ValueError with a message for the command line when there is none."""
    found: list[Path] = []
    if paths:
        for path in map(Path, paths):
            if path.is_dir():
                inside = sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file())
                if not inside:
                    raise ValueError(f"{path}: no {SUFFIX} files in this folder")
                found += inside
            elif path.is_file():
                if path.suffix != SUFFIX:
                    raise ValueError(f"{path}: not a test file (test files end in {SUFFIX})")
                found.append(path)
            else:
                raise ValueError(f"{path}: no such file or folder")
    else:
        root = Path(rules)
        if root.is_dir():
            found = sorted(p for p in root.rglob(f"*{SUFFIX}") if p.is_file())
            if not found:
                raise ValueError(f"{rules}: no {SUFFIX} files in this folder; write tests beside the rules "
                                 "(docs/language.md, Rule tests) or name test files after RULES")
        else:
            beside = root.with_suffix(SUFFIX)
            if not beside.is_file():
                raise ValueError(f"{rules}: no test file beside it ({beside}); write one (docs/language.md, "
                                 "Rule tests) or name test files after RULES")
            found = [beside]
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def read_tests(paths: Iterable[Path]) -> tuple[list[RuleTestFile], list[Diagnostic]]:
    """Every file parsed; the diagnostics of all of them (a file that is not UTF-8 included)."""
    files: list[RuleTestFile] = []
    diagnostics: list[Diagnostic] = []
    for path in paths:
        try:
            text = read_text(path)
        except LapseSyntaxError as exc:
            diagnostics += exc.diagnostics
            continue
        parsed, found = parse_tests(text, str(path))
        files.append(parsed)
        diagnostics += found
    return files, diagnostics


# The syntax --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>\#.*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<open>\{)
  | (?P<close>\})
  | (?P<word>[^\s"#{}\[\]]+)
  | (?P<other>.)
""", re.VERBOSE)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


@attrs.frozen
class _Token:
    kind: str  # "string", "open", "close", "word", "other"
    text: str  # as written
    column: int  # 1-based
    value: str = ""  # a string's contents, escapes resolved


class _Invalid(Exception):
    """A problem at a column of the current line (the parser records it and goes on)."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


class _Line:
    """The tokens of one line (after some column), read front to back."""

    def __init__(self, tokens: list[_Token], end: int) -> None:
        self.tokens = tokens
        self.end = end  # the column just past the line's last character
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token | None:
        token = self.peek()
        self.i += token is not None
        return token

    def where(self) -> int:
        token = self.peek()
        return self.end if token is None else token.column

    def found(self) -> str:
        token = self.peek()
        return "the end of the line" if token is None else f"'{token.text}'"

    def word(self, *words: str, after: str) -> str:
        """The next token, which must be one of ``words``."""
        token = self.peek()
        if token is None or token.kind != "word" or token.text not in words:
            quoted = [f"'{w}'" for w in words]
            expected = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
            hint = did_you_mean(token.text, words) if token is not None and token.kind == "word" else ""
            raise _Invalid(self.where(), f"expected {expected} after '{after}', found {self.found()}{hint}")
        self.i += 1
        return token.text

    def string(self, what: str, after: str) -> _Token:
        token = self.peek()
        if token is None or token.kind != "string":
            hint = f": write \"{token.text}\"" if token is not None and token.kind == "word" else ""
            raise _Invalid(self.where(), f"expected {what} in double quotes after '{after}', found {self.found()}{hint}")
        self.i += 1
        return token

    def done(self, after: str) -> None:
        if self.peek() is not None:
            raise _Invalid(self.where(), f"expected the end of the line after '{after}', found {self.found()}")


def _tokens(text: str, start: int, column: int) -> _Line:
    """The tokens of ``text`` (one line) from index ``start``; ``column`` is that index's column."""
    tokens: list[_Token] = []
    pos = start
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m is not None  # `other` matches any character
        col = column + pos - start
        kind = m.lastgroup or "other"
        pos = m.end()
        if kind in ("space", "comment"):
            continue
        if kind == "string":
            tokens.append(_Token(kind, m.group(), col, _unescape(m.group(), col)))
            continue
        if kind == "other" and m.group() == '"':
            raise _Invalid(col, 'unterminated string: add the closing " before the end of the line')
        if kind == "word" and m.group()[0] in "\u201c\u201d":
            raise _Invalid(col, 'use straight quotes: write "..."')
        tokens.append(_Token(kind, m.group(), col))
    return _Line(tokens, column + len(text) - start)


def _unescape(quoted: str, column: int) -> str:
    out: list[str] = []
    i = 1
    while i < len(quoted) - 1:
        c = quoted[i]
        if c == "\\":
            nxt = quoted[i + 1]
            if nxt not in _ESCAPES:
                raise _Invalid(column + i, f"unknown escape '\\{nxt}' in string; use \\\" or \\\\")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _instant(token: _Token | None, column: int, after: str) -> dt.datetime:
    if token is None or token.kind != "word":
        found = "the end of the line" if token is None else f"'{token.text}'"
        raise _Invalid(column, f"expected an instant such as 2026-11-30T00:00:00Z after '{after}', found {found}")
    try:
        value = dt.datetime.fromisoformat(token.text)
    except ValueError:
        raise _Invalid(token.column, f"'{token.text}' is not an ISO-8601 instant such as 2026-11-30T00:00:00Z") from None
    if value.tzinfo is None:
        raise _Invalid(token.column, f"'{token.text}' has no UTC offset; add one, as in {value.isoformat()}Z")
    if not FIRST_INSTANT <= value < LAST_INSTANT:
        raise _Invalid(token.column, f"'{token.text}' is out of range: lapse takes instants from "
                                     f"{iso_utc(FIRST_INSTANT)} to before {iso_utc(LAST_INSTANT)}")
    return value


def _within(token: _Token | None, column: int) -> dt.timedelta:
    """As ``lapse run --within``: a whole number and m, h, d or w, as exact elapsed time."""
    text = "" if token is None else token.text
    if token is None:
        raise _Invalid(column, "expected a duration such as 15m, 1h, 1d or 1w after 'within', found the end of the line")
    try:
        return exact_duration(text, SEARCH_HORIZON, "the search horizon")
    except ValueError as exc:
        if "too long" in str(exc):
            raise _Invalid(token.column, str(exc)) from None
        raise _Invalid(token.column, f"expected a duration such as 15m, 1h, 1d or 1w after 'within', found '{text}'") from None


@attrs.define
class _Draft:
    """A test block being read."""

    name: str
    line: int
    column: int
    valid: bool = True  # False: its header was malformed; its lines are still read, it is not kept
    errors: int = 0  # the file's diagnostics before the block: a block with one of its own is not kept
    user: Mapping[str, Any] | None = None
    seen: dict[str, int] = attrs.Factory(dict)  # keyword -> line
    now: dt.datetime | None = None
    since: dt.datetime | None = None
    since_column: int = 0
    within: dt.timedelta | None = None
    history: tuple[Any, ...] | None = None
    expectations: list[Expectation] = attrs.Factory(list)


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text.removeprefix("\ufeff")
        self.source = source
        self.lines = self.text.split("\n")
        self.starts = list(itertools.accumulate((len(x) + 1 for x in self.lines[:-1]), initial=0))
        self.diagnostics: list[Diagnostic] = []
        self.tests: list[RuleTest] = []
        self.names: dict[str, int] = {}

    def error(self, line: int, column: int, message: str) -> None:
        text = self.lines[line - 1].rstrip("\r") if line <= len(self.lines) else ""
        self.diagnostics.append(Diagnostic(self.source, line, column, "error", message, text))

    def position(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1

    def parse(self) -> RuleTestFile:
        draft: _Draft | None = None
        number = 0
        while number < len(self.lines):
            number += 1
            try:
                line = _tokens(self.lines[number - 1], 0, 1)
                first = line.peek()
                if first is None:
                    continue
                if draft is None:
                    draft = self.header(number, line)
                elif first.kind == "close":
                    line.take()
                    line.done("}")
                    self.finish(draft)
                    draft = None
                elif first.kind == "word" and first.text == "test":
                    self.error(draft.line, draft.column, f"the test block opened at line {draft.line} is not closed: "
                                                         f"expected '}}' before the next test (line {number})")
                    draft = self.header(number, line)
                else:
                    number = self.clause(draft, number, line)
            except _Invalid as exc:
                self.error(number, exc.column, exc.message)
        if draft is not None:
            last = max((i + 1 for i, x in enumerate(self.lines) if x.strip()), default=1)
            self.error(last, len(self.lines[last - 1].rstrip()) + 1, f"the test block opened at line {draft.line} is "
                                                                    "not closed: expected '}', found the end of the file")
        self.diagnostics.sort(key=lambda d: (d.line, d.column))
        return RuleTestFile(self.source, tuple(self.tests), self.text)

    def header(self, number: int, line: _Line) -> _Draft:
        """``test "NAME" {``: the block it opens (one marked invalid if the header is malformed)."""
        first = line.peek()
        assert first is not None
        if first.kind == "close":
            raise _Invalid(first.column, "unmatched '}': no test block is open")
        if first.kind != "word" or first.text != "test":
            if first.text in _KEYWORDS:
                raise _Invalid(first.column, f"'{first.text}' belongs inside a test block: test \"NAME\" {{ ... }}")
            raise _Invalid(first.column, f"expected 'test \"NAME\" {{' here, found '{first.text}'")
        line.take()
        draft = _Draft("", number, first.column, valid=False, errors=len(self.diagnostics))
        try:
            name = line.string("the test's name", "test")
            if line.peek() is None:
                raise _Invalid(line.where(), "expected '{' after the test's name, on the same line")
            opening = line.take()
            if opening is None or opening.kind != "open":
                raise _Invalid(opening.column if opening else line.where(),
                               f"expected '{{' after the test's name, found '{opening.text if opening else ''}'")
            line.done("{")
        except _Invalid as exc:
            self.error(number, exc.column, exc.message)
            return draft
        if not name.value.strip():
            self.error(number, name.column, "a test name cannot be empty")
            return draft
        if name.value in self.names:
            self.error(number, name.column, f"test name '{name.value}' is already used on line {self.names[name.value]}; "
                                            "test names are unique in a file")
            return draft
        self.names[name.value] = number
        return attrs.evolve(draft, name=name.value, valid=True)

    def clause(self, draft: _Draft, number: int, line: _Line) -> int:
        """One line of a block; the number of the last line it used (a JSON value may go on)."""
        first = line.take()
        assert first is not None
        if first.kind != "word" or first.text not in _KEYWORDS:
            hint = did_you_mean(first.text, _KEYWORDS) if first.kind == "word" else ""
            raise _Invalid(first.column, f"expected {', '.join(_KEYWORDS[:-1])}, expect or '}}' in a test block, "
                                         f"found '{first.text}'{hint}")
        keyword = first.text
        if keyword != "expect" and keyword in draft.seen:
            raise _Invalid(first.column, f"'{keyword}' is already given on line {draft.seen[keyword]}")
        draft.seen.setdefault(keyword, number)
        if keyword in ("user", "history"):
            return self.json_value(draft, number, first)
        if keyword == "expect":
            draft.expectations.append(self.expectation(draft, number, line))
            return number
        token = line.take()
        if keyword == "within":
            draft.within = _within(token, line.end)
        else:
            value = _instant(token, line.end, keyword)
            if keyword == "now":
                draft.now = value
            else:
                draft.since = value
                draft.since_column = token.column if token else 0
        line.done(keyword if token is None else token.text)
        return number

    def json_value(self, draft: _Draft, number: int, keyword: _Token) -> int:
        """``user {...}`` or ``history [...]``: a JSON value that may continue on the next lines."""
        start = self.starts[number - 1] + keyword.column - 1 + len(keyword.text)
        while start < len(self.text) and self.text[start] in " \t":
            start += 1
        want, kind = ("{", "a JSON object") if keyword.text == "user" else ("[", "a JSON array")
        if start >= len(self.text) or self.text[start] != want:
            column = start - self.starts[number - 1] + 1
            raise _Invalid(column, f"expected {kind} after '{keyword.text}', on the same line")
        try:
            value, end = json.JSONDecoder().raw_decode(self.text, start)
        except json.JSONDecodeError as exc:
            line, column = self.position(exc.pos)
            opened = f" (in the {keyword.text} that starts on line {number})" if line != number else ""
            self.error(line, column, f"{keyword.text} is not valid JSON: {exc.msg}{opened}")
            return line
        except Exception as exc:  # RecursionError, a 5000-digit number
            raise _Invalid(keyword.column, f"{keyword.text} is not valid JSON: {problem(exc)}") from None
        last, column = self.position(end)
        rest = _tokens(self.lines[last - 1], column - 1, column)
        if rest.peek() is not None:
            self.error(last, rest.where(), f"expected the end of the line after the {keyword.text}, found {rest.found()}")
        if keyword.text == "user":
            draft.user = value
        else:
            draft.history = tuple(value)
        return last

    def expectation(self, draft: _Draft, number: int, line: _Line) -> Expectation:
        name = line.string("the campaign's name", "expect")
        what = line.word("send", "held", "nothing", "in", "not", "segment", after=name.text)
        if what in ("in", "not", "segment"):
            if what == "not":
                line.word("in", after="not")
            line.word("unknown" if what == "segment" else "segment", after="segment" if what == "segment" else "in")
            value = None if what == "segment" else what == "in"
            at = None
            if line.peek() is not None:
                line.word("at", after="segment" if what != "segment" else "unknown")
                at = _instant(line.take(), line.end, "at")
            line.done("segment" if at is None else "at")
            return SegmentExpectation(name.value, number, name.column, value, at)
        if what == "nothing":
            line.done("nothing")
            expected = DecisionExpectation(name.value, number, name.column, "nothing")
        else:
            if what == "held":
                line.word("out", after="held")
            line.word("at", after="send" if what == "send" else "out")
            at = _instant(line.take(), line.end, "at")
            variant: _Token | None = None
            warnings: list[str] = []
            while (token := line.take()) is not None:
                if token.kind == "word" and token.text == "warning":
                    warnings.append(line.string("a part of the warning's text", "warning").value)
                elif token.kind == "word" and token.text == "variant":
                    if what == "held":
                        raise _Invalid(token.column, "a held-out user gets no variant: remove 'variant'")
                    if variant is not None:
                        raise _Invalid(token.column, "'variant' is already given on this line")
                    variant = line.string("the variant's name", "variant")
                else:
                    raise _Invalid(token.column, f"expected 'variant', 'warning' or the end of the line, found '{token.text}'")
            expected = DecisionExpectation(name.value, number, name.column, "send" if what == "send" else "held out", at,
                                           None if variant is None else variant.value,
                                           0 if variant is None else variant.column, tuple(warnings))
        for other in draft.expectations:
            if isinstance(other, DecisionExpectation) and other.campaign == name.value:
                raise _Invalid(name.column, f"this test already expects a decision of '{name.value}' on line {other.line}")
        return expected

    def finish(self, draft: _Draft) -> None:
        """The block's closing line: the test, when it is whole."""
        if not draft.valid:
            return
        whole = True
        for keyword, example in (("user", '{"user_id": "u1"}'), ("now", "2026-11-30T00:00:00Z")):
            if keyword not in draft.seen:
                self.error(draft.line, draft.column,
                           f"test '{draft.name}' has no {keyword} line: add one such as '{keyword} {example}'")
                whole = False
        if "expect" not in draft.seen:
            self.error(draft.line, draft.column, f"test '{draft.name}' expects nothing: add an expect line")
            whole = False
        if draft.since is not None and draft.now is not None and draft.since > draft.now:
            self.error(draft.seen["since"], draft.since_column,
                       f"since {iso_utc(draft.since)} is later than now {iso_utc(draft.now)}: it is the previous tick's now")
            whole = False
        if draft.history is not None and draft.user is not None and "history" in draft.user:
            self.error(draft.seen["history"], 1, "the user record has a history of its own: give the history once")
            whole = False
        # a line that was there but malformed has its own diagnostic; the test is not kept
        whole = whole and len(self.diagnostics) == draft.errors
        if whole and draft.user is not None and draft.now is not None and draft.expectations:
            self.tests.append(RuleTest(
                draft.name, self.source, draft.line, draft.user, draft.seen["user"], draft.now,
                tuple(draft.expectations), draft.since, draft.within, draft.history, draft.seen.get("history", 0),
            ))


def parse_tests(text: str, source: str = "<string>") -> tuple[RuleTestFile, list[Diagnostic]]:
    """The tests of one file, and a positioned diagnostic for each malformed line (the tests that
    are whole are kept, so the diagnostics of a file are all reported at once)."""
    parser = _Parser(text, source)
    parsed = parser.parse()
    return parsed, parser.diagnostics


# Names against the rules ----------------------------------------------------------------------------


def check_tests(files: Iterable[RuleTestFile], rules: RuleSet) -> list[Diagnostic]:
    """A diagnostic for each expectation that names a campaign, variant or holdout the rules do not have."""
    by_name = {r.name: r for r in rules.rules}
    out: list[Diagnostic] = []
    for f in files:
        lines = f.text.removeprefix("\ufeff").split("\n")

        def error(line: int, column: int, message: str, lines: list[str] = lines, source: str = f.source) -> None:
            out.append(Diagnostic(source, line, column, "error", message, lines[line - 1].rstrip("\r")))

        for test in f.tests:
            for e in test.expectations:
                rule = by_name.get(e.campaign)
                if rule is None:
                    error(e.line, e.column, f"unknown campaign '{e.campaign}'{did_you_mean(e.campaign, by_name)}")
                elif isinstance(e, DecisionExpectation):
                    names = [v.name for v in rule.variants]
                    if e.variant is not None and not names:
                        error(e.line, e.variant_column, f"campaign '{e.campaign}' has no variants")
                    elif e.variant is not None and e.variant not in names:
                        error(e.line, e.variant_column, f"campaign '{e.campaign}' has no variant '{e.variant}'"
                                                        f"{did_you_mean(e.variant, names)} (its variants: {', '.join(names)})")
                    if e.outcome == "held out" and rule.holdout is None:
                        error(e.line, e.column, f"campaign '{e.campaign}' has no holdout: no user is held out of it")
    return out


# Running ---------------------------------------------------------------------------------------------


@attrs.frozen
class Failure:
    """One failed expectation, or one disagreement of the two evaluators (``internal``)."""

    source: str  # the test file
    line: int  # the expectation's line (the test's, or its user line, when no one expectation is at fault)
    test: str
    subject: str  # the campaign and its position, or what went wrong
    details: tuple[tuple[str, str], ...]  # (label, text): expected/got, compiled/reference, explain
    internal: bool = False

    def lines(self) -> list[str]:
        kind = "INTERNAL ERROR" if self.internal else "FAIL"
        width = max((len(label) for label, _ in self.details), default=0) + 1
        return [f"{self.source}:{self.line}: {kind} \"{self.test}\": {self.subject}",
                *(f"    {label + ':':{width}} {text}" for label, text in self.details)]


@attrs.frozen
class Result:
    test: RuleTest
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@attrs.frozen
class Report:
    results: tuple[Result, ...]
    files: int

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def internal(self) -> int:
        return sum(f.internal for r in self.results for f in r.failures)

    def render(self, verbose: bool = False) -> str:
        """Each failure (with ``verbose``, each passed test too), then the summary line."""
        lines: list[str] = []
        for r in self.results:
            if r.passed and verbose:
                lines.append(f"{r.test.source}:{r.test.line}: PASS \"{r.test.name}\"")
            for f in r.failures:
                lines += f.lines()
        summary = (f"{counted(len(self.results), 'test')} in {counted(self.files, 'file')}: "
                   f"{self.passed} passed, {self.failed} failed")
        if self.internal:
            summary += f" ({counted(self.internal, 'internal error')}: please report them)"
        return "\n".join([*lines, summary])


@attrs.frozen
class _Error:
    """A call that raised: its message, and the attribute it names (a UserDataError's)."""

    message: str
    attribute: str | None = None


T = TypeVar("T")
Answers = dict[str, bool | None]  # in_segment's, as a plain dict


def _attempt(call: Callable[[], T]) -> T | _Error:
    try:
        return call()
    except UserDataError as exc:
        return _Error(exc.render("cli"), exc.attribute)
    except Exception as exc:  # a test reports; it never stops the run with a traceback
        return _Error(f"{type(exc).__name__}: {exc}")


_SEGMENT = {True: "in segment", False: "not in segment", None: "segment unknown"}
_DISAGREE = "the generated code and the reference interpreter disagree (a lapse-dsl bug)"


def run_tests(rules: RuleSet, files: Iterable[RuleTestFile]) -> Report:
    """Every test of ``files`` on the compiled path, checked against the reference interpreter."""
    files = list(files)
    runner = _Runner(rules)
    return Report(tuple(runner.run(t) for f in files for t in f.tests), len(files))


class _Runner:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.reference = rules.reference()
        self.where = {r.name: f'"{r.name}" ({r.source}:{r.line})' for r in rules.rules}

    def run(self, test: RuleTest) -> Result:
        history = _attempt(lambda: list(test.history) if test.history is not None else history_of(test.user))

        def evaluate(rules: RuleSet) -> tuple[Decision, ...] | _Error:
            if isinstance(history, _Error):
                return history
            return _attempt(lambda: rules.evaluate(test.user, test.now, since=test.since, history=history,
                                                   within=test.within))

        def in_segment(rules: RuleSet, at: dt.datetime) -> Answers | _Error:
            return _attempt(lambda: dict(rules.in_segment(test.user, at)))

        compiled = evaluate(self.rules)
        failures = self.agree(test, "evaluate", compiled, evaluate(self.reference))
        segments: dict[dt.datetime, Answers | _Error] = {}
        for at in dict.fromkeys([test.now, *(e.at for e in test.expectations if isinstance(e, SegmentExpectation) and e.at)]):
            segments[at] = in_segment(self.rules, at)
            failures += self.agree(test, f"in_segment at {iso_utc(at)}", segments[at], in_segment(self.reference, at))
        decisions = [e for e in test.expectations if isinstance(e, DecisionExpectation)]
        if isinstance(compiled, _Error):
            if decisions:
                about_history = compiled.attribute == "history" or compiled.message.startswith("history")
                line = test.history_line if about_history and test.history_line else test.user_line
                failures.append(Failure(test.source, line, test.name, "the user record cannot be evaluated",
                                        (("error", compiled.message),)))
        else:
            got = {d.campaign: d for d in compiled}
            for e in decisions:
                d = got.get(e.campaign)
                if not _meets(e, d):
                    details = [("expected", _expected(e)), ("got", _decision(d))]
                    why = "" if isinstance(history, _Error) else self.explain(test, history, e.campaign)
                    if why and not (d is not None and why.startswith("sends ")):  # not the got line again
                        details.append(("explain", why))
                    failures.append(Failure(test.source, e.line, test.name, self.where[e.campaign], tuple(details)))
        for s in test.expectations:
            if isinstance(s, SegmentExpectation):
                at = s.at or test.now
                answers = segments[at]
                value = answers if isinstance(answers, _Error) else answers.get(s.campaign)
                if value is not s.value:
                    got_text = (f"an error: {value.message}" if isinstance(value, _Error)
                                else f"{_SEGMENT[value]} at {iso_utc(at)}")
                    failures.append(Failure(test.source, s.line, test.name, self.where[s.campaign],
                                            (("expected", f"{_SEGMENT[s.value]} at {iso_utc(at)}"), ("got", got_text))))
        return Result(test, tuple(sorted(failures, key=lambda f: (not f.internal, f.line))))

    def agree(self, test: RuleTest, call: str, compiled: tuple[Decision, ...] | Answers | _Error,
              reference: tuple[Decision, ...] | Answers | _Error) -> list[Failure]:
        """An internal error for each campaign on which the two evaluators' answers differ."""
        def failure(subject: str, mine: str, theirs: str) -> Failure:
            return Failure(test.source, test.line, test.name, f"{subject}: {call}: {_DISAGREE}",
                           (("compiled", mine), ("reference", theirs)), internal=True)

        if isinstance(compiled, _Error) or isinstance(reference, _Error):
            if compiled == reference:
                return []
            def said(x: object) -> str:
                return f"an error: {x.message}" if isinstance(x, _Error) else "no error"
            return [failure("the user record", said(compiled), said(reference))]
        if isinstance(compiled, dict) and isinstance(reference, dict):
            return [failure(self.where.get(c, c), _SEGMENT[compiled.get(c, False)], _SEGMENT[reference.get(c, False)])
                    for c in dict.fromkeys([*compiled, *reference]) if compiled.get(c, False) is not reference.get(c, False)]
        mine = {d.campaign: d for d in compiled if isinstance(d, Decision)}
        theirs = {d.campaign: d for d in reference if isinstance(d, Decision)}
        return [failure(self.where.get(c, c), _decision(mine.get(c), full=True), _decision(theirs.get(c), full=True))
                for c in dict.fromkeys([*mine, *theirs]) if _key(mine.get(c)) != _key(theirs.get(c))]

    def explain(self, test: RuleTest, history: list[Any], campaign: str) -> str:
        """``lapse explain``'s one-line reason for the campaign (not with ``within``, which explain ignores)."""
        if test.within is not None:
            return ""
        try:
            explanation = self.reference.explain(test.user, test.now, since=test.since, history=history)
        except Exception:  # the evaluation's own error is reported already
            return ""
        return next((r.reason for r in explanation if r.campaign == campaign), "")


def _meets(e: DecisionExpectation, d: Decision | None) -> bool:
    if e.outcome == "nothing" or d is None:
        return e.outcome == "nothing" and d is None
    return (d.held_out == (e.outcome == "held out") and d.send_at == e.at
            and (e.variant is None or d.variant == e.variant) and _warnings_match(e.warnings, d.warnings))


def _warnings_match(expected: Sequence[str], got: Sequence[str]) -> bool:
    """Each expected text is a part of a different warning, and no warning is left over."""
    if len(expected) != len(got):
        return False
    return any(all(e in g for e, g in zip(expected, order, strict=True)) for order in itertools.permutations(got))


def _expected(e: DecisionExpectation) -> str:
    if e.outcome == "nothing" or e.at is None:
        return "nothing (no decision)"
    text = f"{e.outcome} at {iso_utc(e.at)}" + (f" (written {e.at.isoformat()})" if e.at.utcoffset() else "")
    if e.variant is not None:
        text += f', variant "{e.variant}"'
    if e.warnings:
        text += "; warnings: " + "; ".join(f'"...{w}..."' for w in e.warnings)
    return text


def _decision(d: Decision | None, full: bool = False) -> str:
    if d is None:
        return "nothing (no decision)"
    text = f"{'held out' if d.held_out else 'send'} at {iso_utc(d.send_at)} ({d.local_send_at.isoformat()} in {d.timezone})"
    if d.variant is not None:
        text += f', variant "{d.variant}"'
    if d.warnings:
        text += "; warnings: " + "; ".join(f'"{w}"' for w in d.warnings)
    if full:  # an internal error shows everything the two evaluators are compared on
        text += f"; due {str(d.due).lower()}; message {json.dumps(dict(d.message), ensure_ascii=False)}; key {d.idempotency_key}"
    return text


def _key(d: Decision | None) -> tuple[Any, ...] | None:
    if d is None:
        return None
    return (d.campaign, d.channel, d.user_id, d.send_at, d.local_send_at, d.local_send_at.utcoffset(), d.timezone,
            d.due, d.held_out, d.variant, dict(d.message), d.idempotency_key, d.warnings)
