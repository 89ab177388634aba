"""Golden files: the round-trip fixture (identity.lapse) and the diagnostics fixture (errors.txt)."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import lark
import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.check import check
from lapse_dsl.errors import Diagnostic
from lapse_dsl.parse import _parser

FIXTURES = Path(__file__).parent / "fixtures"
IDENTITY = FIXTURES / "identity.lapse"
ERRORS = FIXTURES / "errors.txt"


# identity.lapse ---------------------------------------------------------------------------------


def _identity_lines() -> list[tuple[int, str]]:
    lines = IDENTITY.read_text(encoding="utf-8").splitlines()
    return [(i, line) for i, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]


IDENTITY_LINES = _identity_lines()


def _expand_one_line_campaign(line: str) -> str:
    """The canonical block for `campaign "N" { c1; c2 }`: one clause per indented line. The fixture's
    one-line campaigns keep `; ` out of their strings, so splitting the text is exact."""
    m = re.fullmatch(r'(campaign "[^"]*" \{) (.*) \}', line)
    assert m is not None, f"not a one-line campaign: {line!r}"
    clauses = m.group(2).split("; ")
    return "\n".join([m.group(1), *(f"    {c}" for c in clauses), "}"]) + "\n"


def _canonical(line: str) -> str:
    return _expand_one_line_campaign(line) if line.startswith("campaign ") else line + "\n"


@pytest.mark.parametrize(("lineno", "line"), IDENTITY_LINES, ids=[f"line{i}" for i, _ in IDENTITY_LINES])
def test_identity_line_is_canonical(lineno: int, line: str) -> None:
    tree = lapse_dsl.parse(line)
    formatted = lapse_dsl.format_file(tree)
    assert formatted == _canonical(line)
    assert lapse_dsl.parse(formatted) == tree
    assert lapse_dsl.format_file(lapse_dsl.parse(formatted)) == formatted


def test_identity_fixture_has_one_line_campaigns_and_plain_rules() -> None:
    kinds = {line.split()[0] for _, line in IDENTITY_LINES}
    assert {"campaign", "segment", "send", "status", "default", "attribute"} <= kinds
    assert sum(line.startswith("campaign ") for _, line in IDENTITY_LINES) >= 3


def test_identity_file_formats_to_its_canonical_form() -> None:
    text = IDENTITY.read_text(encoding="utf-8")
    expected = "".join(_canonical(line) if line.strip() and not line.startswith("#") else line + "\n"
                       for line in text.splitlines())
    tree = lapse_dsl.parse(text, source="identity.lapse")
    assert lapse_dsl.format_file(tree) == expected
    assert lapse_dsl.parse(expected) == tree


def test_identity_file_passes_the_checker() -> None:
    text = IDENTITY.read_text(encoding="utf-8")
    result = check([lapse_dsl.parse(text, source="identity.lapse")])
    assert result.errors == ()
    # the only warning is the one the more-than/less-than line is there to show
    split = next(k for k, line in enumerate(text.splitlines(), 1) if " more than 2w ago and last_used less than" in line)
    assert [(d.line, d.message.split(" leaves out")[0]) for d in result.warnings] == [
        (split, "'last_used more than 2w ago and last_used less than 3w ago'")
    ]
    definition = re.compile(r'segment "[^"]*" = ')  # a named segment, not a rule
    rules = [line for _, line in IDENTITY_LINES
             if not line.startswith(("default ", "attribute ")) and not definition.match(line)]
    assert len(result.rules) == len(rules)


def _tree_and_tokens(text: str) -> tuple[lark.Tree[lark.Token], set[str]]:
    parser = _parser()
    interactive = parser.parse_interactive(text)
    types = {tok.type for tok in interactive.iter_parse()}
    return interactive.feed_eof(), types  # type: ignore[no-untyped-call]


def test_identity_fixture_exercises_every_grammar_rule_and_terminal() -> None:
    parser = _parser()
    wanted_rules = {
        str(r.alias or r.origin.name)
        for r in parser.rules
        if not r.origin.name.startswith("_") and not (r.alias is None and r.options.expand1)
    }
    wanted_terminals = {t.name for t in parser.terminals} - {"__IGNORE_0", "COMMENT"}
    tree, token_types = _tree_and_tokens(IDENTITY.read_text(encoding="utf-8"))
    used_rules = {str(t.data) for t in tree.iter_subtrees()}
    assert wanted_rules - used_rules == set()
    assert wanted_terminals - token_types == set()


def _walk(node: object) -> list[object]:
    out = [node]
    kind = type(node)
    if attrs.has(kind):
        for field in attrs.fields(kind):
            out.extend(_walk(getattr(node, field.name)))
    elif isinstance(node, tuple):
        for item in node:
            out.extend(_walk(item))
    return out


def test_identity_fixture_shows_every_node_kind_and_variation() -> None:
    tree = lapse_dsl.parse(IDENTITY.read_text(encoding="utf-8"))
    nodes = _walk(tree)
    kinds = {type(x) for x in nodes}
    everything = {
        obj for obj in vars(n).values()
        if isinstance(obj, type) and attrs.has(obj) and obj.__module__ == n.__name__
    }
    assert everything - kinds - {n.Span, n.Comment, n.Named} == set()  # (Named: the checker's, never parsed)
    assert {c.op for c in nodes if isinstance(c, n.Compare)} == {"=", "!=", "<", "<=", ">", ">="}
    assert {z.kind for z in nodes if isinstance(z, n.Zone)} == {"local", "utc", "named"}
    assert {d.unit for d in nodes if isinstance(d, n.Duration)} == {"m", "h", "d", "w", "mo"}
    assert {type(lit.value) for lit in nodes if isinstance(lit, n.Literal)} == {str, int, float, bool}
    assert any(isinstance(lit.value, (int, float)) and lit.value < 0 for lit in nodes if isinstance(lit, n.Literal))
    assert {b.ago for b in nodes if isinstance(b, n.Between)} == {True, False}
    assert {i.negated for i in nodes if isinstance(i, n.InList)} == {True, False}
    assert {i.negated for i in nodes if isinstance(i, n.IsSet)} == {True, False}
    assert {type(b.point) for b in nodes if isinstance(b, (n.Before, n.After))} == {n.DateLit, n.InstantLit}
    offsets = {p.value.utcoffset() for p in nodes if isinstance(p, n.InstantLit)}
    assert len(offsets) >= 3  # Z, a positive and a negative offset
    assert {q.mode.value if q.mode else None for q in nodes if isinstance(q, n.QuietHours)} == {None, "defer", "drop"}
    assert {c.scope.value if c.scope else None for c in nodes if isinstance(c, n.Cap)} == {None, "push", "all"}
    assert {s.value.value for s in nodes if isinstance(s, n.Status)} == {"active", "paused", "draft"}
    fields = {f.name.value for f in nodes if isinstance(f, n.MessageField)}
    assert fields == {"title", "subtitle", "body", "subject", "url", "image"}
    channels = {s.channel.value for s in nodes if isinstance(s, n.Send)}
    assert channels == {"push", "email", "sms", "in_app", "webhook", "content_card"}
    assert any(len(p.parts) > 2 for p in nodes if isinstance(p, n.Path))
    assert any(isinstance(x, n.Segment) and x.name is not None for x in nodes)
    strings = {s.value for s in nodes if isinstance(s, n.Literal) and isinstance(s.value, str)}
    assert {'say "hi" \\ back', "tab\there\nnew line", ""} <= strings


# A multi-line campaign file: comments (own-line and trailing) and runs of blank lines ------------

MESSY = """\


# File header comment
default timezone   "America/New_York"    # trailing on a setting



attribute custom.tier : string
# comment before a campaign
campaign "Lapsed users - 2 weeks" {   # on the header line
    # first clause comment
      segment "Lapsed users - 2 weeks": last_used between 2w and 3w and platform = "ios"   # trailing


    send push weekly thu 17:45 local;  message title "We miss you" body "Hi"   # two clauses on a line

\tholdout 10%;
    # comment before the brace
}   # after the brace



segment (push_opted_in   # inside parens
   or email_subscribed) ; send push daily 9:00 utc
campaign "Second" { segment custom.tier = "gold"; send email monthly 1 08:00 "Europe/Paris" }
# last comment
"""

CANONICAL = """\
# File header comment
default timezone "America/New_York"  # trailing on a setting

attribute custom.tier: string
# comment before a campaign
campaign "Lapsed users - 2 weeks" {  # on the header line
    # first clause comment
    segment "Lapsed users - 2 weeks": last_used between 2w and 3w and platform = "ios"  # trailing

    send push weekly thu 17:45 local
    message title "We miss you" body "Hi"  # two clauses on a line

    holdout 10%
    # comment before the brace
}  # after the brace

segment (
    push_opted_in  # inside parens
    or email_subscribed
); send push daily 09:00 utc
campaign "Second" {
    segment custom.tier = "gold"
    send email monthly 1 08:00 "Europe/Paris"
}
# last comment
"""


def test_campaign_file_formats_to_the_golden_layout() -> None:
    assert lapse_dsl.format_file(lapse_dsl.parse(MESSY)) == CANONICAL


def test_golden_layout_is_a_fixed_point() -> None:
    assert lapse_dsl.format_file(lapse_dsl.parse(CANONICAL)) == CANONICAL


def test_golden_layout_means_the_same_as_the_messy_file() -> None:
    messy, canonical = lapse_dsl.parse(MESSY), lapse_dsl.parse(CANONICAL)
    assert messy == canonical
    assert [c.text for c in messy.comments] == [c.text for c in canonical.comments]
    lapse_dsl.compile(CANONICAL)  # and it is a valid rule set


# errors.txt -------------------------------------------------------------------------------------


@attrs.frozen
class ErrorCase:
    name: str
    text: str
    expected: tuple[str, ...]


def _error_cases() -> list[ErrorCase]:
    raw = ERRORS.read_text(encoding="utf-8")
    blocks = re.split(r"^==== ", raw, flags=re.MULTILINE)[1:]
    cases = []
    for block in blocks:
        name, _, rest = block.partition("\n")
        text, sep, expected = rest.partition("----\n")
        assert sep, f"block {name!r} has no ---- line"
        lines = tuple(line for line in expected.splitlines() if line.strip())
        cases.append(ErrorCase(name.strip(), text, lines))
    return cases


ERROR_CASES = _error_cases()


def _diagnostics(text: str) -> tuple[Diagnostic, ...]:
    try:
        tree = lapse_dsl.parse(text, source="<string>")
    except lapse_dsl.LapseSyntaxError as exc:
        return exc.diagnostics
    return check([tree]).diagnostics


def _short(d: Diagnostic) -> str:
    return f"{d.line}:{d.column}: {d.severity}: {d.message}"


def test_errors_fixture_is_well_formed() -> None:
    names = [c.name for c in ERROR_CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(ERROR_CASES) >= 100
    for case in ERROR_CASES:
        assert case.text.endswith("\n")
        for line in case.expected:
            assert re.fullmatch(r"\d+:\d+: (error|warning): .+", line), line


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.name for c in ERROR_CASES])
def test_error_case(case: ErrorCase) -> None:
    found = _diagnostics(case.text)
    assert [_short(d) for d in found] == list(case.expected)
    for d in found:
        assert d.source == "<string>"
        assert d.source_line == case.text.split("\n")[d.line - 1]
        assert str(d).startswith(f"<string>:{_short(d)}\n")


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.name for c in ERROR_CASES])
def test_compile_agrees_with_error_case(case: ErrorCase) -> None:
    errors = [line for line in case.expected if ": error: " in line]
    warnings = [line for line in case.expected if ": warning: " in line]
    if errors:
        with pytest.raises(lapse_dsl.LapseError) as info:
            lapse_dsl.compile(case.text, source="<string>")
        assert isinstance(info.value, (lapse_dsl.LapseSyntaxError, lapse_dsl.LapseCheckError))
        raised = info.value.diagnostics
        assert [_short(d) for d in raised] == errors
        first = errors[0].split(":")
        assert (info.value.line, info.value.column) == (int(first[0]), int(first[1]))
    else:
        rules = lapse_dsl.compile(case.text, source="<string>")
        assert [_short(d) for d in rules.warnings] == warnings
