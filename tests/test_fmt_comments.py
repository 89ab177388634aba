"""`lapse fmt` keeps each comment of a wrapped condition where it was (issue 11, item 19): a comment
on its own line stays on its own line before the code that follows it, a comment after code stays
after that code; the condition stays wrapped (one operand per line inside parentheses, one value
per line inside brackets) so that it can. Formatting stays idempotent and never changes meaning.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.format import INDENT, format_clause, format_condition

SEND = "; send push daily 09:00 utc"
IDENTITY = Path(__file__).parent / "fixtures" / "identity.lapse"


def fmt(text: str) -> str:
    return lapse_dsl.format_file(lapse_dsl.parse(text))


def assert_kept(text: str, expected: str | None = None) -> str:
    """Format ``text``: the meaning and every comment (in order) are kept, and formatting the
    result again changes nothing. Returns the formatted text."""
    out = fmt(text)
    if expected is not None:
        assert out == expected
    assert lapse_dsl.parse(out) == lapse_dsl.parse(text)
    assert [c.text for c in lapse_dsl.parse(out).comments] == [c.text for c in lapse_dsl.parse(text).comments]
    assert fmt(out) == out
    return out


# Examples of each layout --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # comments after operands, operators first
        ("segment (a   # first\n  or b # second\n)" + SEND,
         "segment (\n    a  # first\n    or b  # second\n)" + SEND + "\n"),
        # operators last: a comment after `and` stays with the operand on its line
        ("segment (last_used between 2w and 3w and  # window\n    country = \"US\" and  # where\n    push_opted_in)" + SEND,
         "segment (\n    last_used between 2w and 3w  # window\n    and country = \"US\"  # where\n    and push_opted_in\n)"
         + SEND + "\n"),
        # own-line comments before operands
        ("segment (\n  # about a\n  a\n  # about b\n  or b)" + SEND,
         "segment (\n    # about a\n    a\n    # about b\n    or b\n)" + SEND + "\n"),
        # a nested group: wrapped in its own parentheses, one level deeper
        ("segment (a or (b  # x\n and c)  # z\n or d)" + SEND,
         "segment (\n    a\n    or (\n        b  # x\n        and c\n    )  # z\n    or d\n)" + SEND + "\n"),
        # a nested group the source did not parenthesise gets parentheses (precedence is unchanged)
        ("segment (a or b # x\n and c or d)" + SEND,
         "segment (\n    a\n    or (\n        b  # x\n        and c\n    )\n    or d\n)" + SEND + "\n"),
        ("segment (a and not (b # nb\n or c))" + SEND,
         "segment (\n    a\n    and not (\n        b  # nb\n        or c\n    )\n)" + SEND + "\n"),
        # a list: one value per line
        ('segment country in [\n  "US",  # United States\n  "CA"  # Canada\n]' + SEND,
         'segment country in [\n    "US",  # United States\n    "CA"  # Canada\n]' + SEND + "\n"),
        ('segment not country in ["US", # us\n "CA"]' + SEND,
         'segment not country in [\n    "US",  # us\n    "CA"\n]' + SEND + "\n"),
        # a comment right after the opening parenthesis stays there
        ("segment (  # why\n a or b)" + SEND, "segment (  # why\n    a\n    or b\n)" + SEND + "\n"),
        ("segment (\n # about x\n x)" + SEND, "segment (\n    # about x\n    x\n)" + SEND + "\n"),
        # the segment is not the first clause, and clauses follow it
        ("send push daily 09:00 utc; segment (a # x\n or b); holdout 10%  # tail",
         "send push daily 09:00 utc; segment (\n    a  # x\n    or b\n); holdout 10%  # tail\n"),
        # a comment inside one test moves to the end of that test's line
        ("segment (last_used between 2w # inside\n and 3w or b)" + SEND,
         "segment (\n    last_used between 2w and 3w  # inside\n    or b\n)" + SEND + "\n"),
        # a comment after the last operand needs no wrapping
        ("segment (a or\n b  # after b\n)" + SEND, "segment a or b" + SEND + "  # after b\n"),
    ],
)
def test_each_comment_stays_on_its_line(text: str, expected: str) -> None:
    assert_kept(text, expected)


def test_in_a_campaign_block_the_wrapped_condition_is_indented_with_the_block() -> None:
    text = ('campaign "W" {\n    segment (last_used between 2w and 3w  # window\n'
            '        and country in ["US",  # us\n            "CA"])  # end\n    send push weekly thu 17:45 local\n}\n')
    assert_kept(text, (
        'campaign "W" {\n'
        "    segment (\n"
        "        last_used between 2w and 3w  # window\n"
        "        and country in [\n"
        '            "US",  # us\n'
        '            "CA"\n'
        "        ]\n"
        "    )  # end\n"
        "    send push weekly thu 17:45 local\n"
        "}\n"
    ))


def test_blank_lines_inside_a_wrapped_condition_are_dropped_and_kept_around_it() -> None:
    text = "attribute x: string\n\n\nsegment (a  # one\n\n\n   or b)" + SEND + "\n\n\nattribute y: string\n"
    assert_kept(text, "attribute x: string\n\nsegment (\n    a  # one\n    or b\n)" + SEND + "\n\nattribute y: string\n")


def test_a_segment_name_stays_in_front_of_the_wrapped_condition() -> None:
    text = 'segment "Lapsers" : (a  # one\n or b)' + SEND
    assert_kept(text, 'segment "Lapsers": (\n    a  # one\n    or b\n)' + SEND + "\n")


# Every rule of the identity fixture, wrapped with a comment after each operand ----------------------


def _identity_rules() -> list[tuple[int, n.Rule]]:
    lines = IDENTITY.read_text(encoding="utf-8").splitlines()
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        (item,) = lapse_dsl.parse(line).items
        if isinstance(item, n.Rule):
            out.append((number, item))
    return out


def _wrappable(rule: n.Rule) -> bool:
    cond = next(c for c in rule.clauses if isinstance(c, n.Segment)).condition
    return isinstance(cond, (n.And, n.Or)) or (isinstance(cond, n.InList) and len(cond.values) > 1)


IDENTITY_RULES = [(number, rule) for number, rule in _identity_rules() if _wrappable(rule)]


def _wrap(op: n.Condition, minimum: int) -> str:
    text = format_condition(op)
    return f"({text})" if {n.Or: 1, n.And: 2}.get(type(op), 4) < minimum else text


@pytest.mark.parametrize(("number", "rule"), IDENTITY_RULES, ids=[f"line{i}" for i, _ in IDENTITY_RULES])
def test_identity_rules_wrapped_with_comments_keep_them(number: int, rule: n.Rule) -> None:
    """Each rule of the identity fixture, its condition written over several lines with a comment
    after each operand (or value): the formatter gives the canonical wrapped layout."""
    segment = next(c for c in rule.clauses if isinstance(c, n.Segment))
    cond = segment.condition
    if isinstance(cond, (n.And, n.Or)):
        word, minimum = ("or", 2) if isinstance(cond, n.Or) else ("and", 3)
        parts = [(f"{word} " if i else "") + _wrap(op, minimum) for i, op in enumerate(cond.operands)]
        opening, closing = "(", ")"
    else:
        assert isinstance(cond, n.InList)
        values = [format_condition(n.Compare(cond.path, "=", v)).split(" = ", 1)[1] for v in cond.values]
        parts = [v + ("," if i < len(values) - 1 else "") for i, v in enumerate(values)]
        opening, closing = f"{cond.path} {'not in' if cond.negated else 'in'} [", "]"
    label = f"{lapse_dsl.format.quote(segment.name.value)}: " if segment.name else ""
    indent = INDENT if rule.name is not None else ""
    body = "\n".join(f"{indent}{INDENT}{p}  # c{i}" for i, p in enumerate(parts))
    wrapped = f"segment {label}{opening}\n{body}\n{indent}{closing}"
    clauses = [wrapped if c is segment else format_clause(c) for c in rule.clauses]
    if rule.name is None:
        expected = "; ".join(clauses) + "\n"
    else:
        inner = "\n".join(indent + c for c in clauses)
        expected = f"campaign {lapse_dsl.format.quote(rule.name.value)} {{\n{inner}\n}}\n"
    # the input: the same, but indented and spaced differently
    messy = re.sub(r"\n +", "\n      ", expected).replace("  # ", "   #  ").replace("#  c", "# c")
    assert_kept(messy, expected)


def test_the_identity_fixture_wraps_rules_of_every_kind() -> None:
    kinds = {type(next(c for c in r.clauses if isinstance(c, n.Segment)).condition) for _, r in IDENTITY_RULES}
    assert {n.And, n.Or, n.InList} <= kinds
    assert any(r.name is not None for _, r in IDENTITY_RULES)
    assert len(IDENTITY_RULES) >= 12


# Any condition, any comments ---------------------------------------------------------------------------

LEAVES = ["push_opted_in", 'platform = "ios"', "sessions > 3", "last_used between 2w and 3w", "country is set",
          'country in ["US", "CA", "MX"]', "last_used more than 1w ago"]


class _Writer:
    """Writes a condition with comments and line breaks drawn at the places where people put them."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.count = 0
        self.own: list[str] = []  # comments written on their own line
        self.after: list[str] = []  # comments written after code

    def comment(self, own: bool) -> str:
        self.count += 1
        text = f"# c{self.count}"
        (self.own if own else self.after).append(text)
        return text

    def gap(self, word: str) -> str:
        """Between two operands, around the operator ``word``."""
        kind = self.draw(st.integers(0, 5))
        if kind == 0:
            return f"  {self.comment(False)}\n  {word} "  # after the operand, operator first on the next line
        if kind == 1:
            return f" {word}  {self.comment(False)}\n  "  # operator last, then the comment
        if kind == 2:
            return f"\n  {self.comment(True)}\n  {word} "
        if kind == 3:
            return f" {word}\n  {self.comment(True)}\n  "
        return self.draw(st.sampled_from([f" {word} ", f"\n {word} ", f" {word}\n "]))

    def opening(self) -> str:
        kind = self.draw(st.integers(0, 3))
        if kind == 0:
            return f"(  {self.comment(False)}\n  "
        if kind == 1:
            return f"(\n  {self.comment(True)}\n  "
        return "("

    def condition(self, depth: int) -> str:
        kind = self.draw(st.integers(0, 3 if depth < 4 else 0))
        if kind == 0:
            leaf = self.draw(st.sampled_from(LEAVES))
            if leaf.startswith("country in") and self.draw(st.booleans()):  # a comment between values
                return 'country in ["US",' + self.gap("")[:-1] + '"CA", "MX"]'
            return leaf
        if kind == 1:
            return "not " + self.opening() + self.condition(depth + 1) + ")"
        word = "and" if kind == 2 else "or"
        count = self.draw(st.integers(2, 4))
        parts = [self.condition(depth + 1) for _ in range(count)]
        text = parts[0]
        for part in parts[1:]:
            text += self.gap(word) + part
        return self.opening() + text + ")"


@st.composite
def commented_rules(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    writer = _Writer(draw)
    text = "segment " + writer.opening() + writer.condition(0) + ")" + SEND + "\n"
    return text, writer.own, writer.after


@settings(max_examples=300, deadline=None)
@given(commented_rules())
def test_any_wrapped_condition_keeps_every_comment_where_it_was(case: tuple[str, list[str], list[str]]) -> None:
    text, own, after = case
    out = assert_kept(text)
    lines = out.split("\n")
    # each comment on a line of its own making: never two comments merged onto one line
    assert sum("#" in line for line in lines) == len(own) + len(after)
    for comment in own:
        (line,) = [x for x in lines if x.endswith(comment)]
        assert line.strip() == comment  # still on its own line
    for comment in after:
        (line,) = [x for x in lines if x.endswith(comment)]
        assert line.strip() != comment and line.split("#")[0].strip()  # still after code
