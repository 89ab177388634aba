"""The formatter: one canonical layout, comments kept, meaning never changed."""

from __future__ import annotations

import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.format import format_condition, format_rule, quote

SEND = "; send push daily 09:00 utc"


def fmt(text: str) -> str:
    return lapse_dsl.format_file(lapse_dsl.parse(text))


def assert_canonical(text: str, expected: str) -> None:
    assert fmt(text) == expected
    assert fmt(expected) == expected
    assert lapse_dsl.parse(expected) == lapse_dsl.parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("segment   not(push_opted_in)and(sessions>3) ;send push weekly mon ,thu 7:05 local;holdout 10.50%;",
         "segment not push_opted_in and sessions > 3; send push weekly mon,thu 07:05 local; holdout 10.5%\n"),
        ("segment ((sessions > 3))" + SEND, "segment sessions > 3" + SEND + "\n"),
        ("segment not (a or b) or not (c and d) or (not e)" + SEND,
         "segment not (a or b) or not (c and d) or not e" + SEND + "\n"),
        ("segment (a or b) and (c or d)" + SEND, "segment (a or b) and (c or d)" + SEND + "\n"),
        ("segment a or (b and c)" + SEND, "segment a or b and c" + SEND + "\n"),
        ("segment (a and b) and c" + SEND, "segment a and b and c" + SEND + "\n"),
        ("segment not (not a)" + SEND, "segment not not a" + SEND + "\n"),
        ("segment not (a = 1)" + SEND, "segment not a = 1" + SEND + "\n"),
        ("segment sessions = 007 and x = 1.0 and y = -0.50 and z = 2.000" + SEND,
         "segment sessions = 7 and x = 1 and y = -0.5 and z = 2" + SEND + "\n"),
        ("segment last_used between 02w and 21d ago" + SEND, "segment last_used between 2w and 21d ago" + SEND + "\n"),
        ("segment last_used after 2026-12-03t17:45z" + SEND, "segment last_used after 2026-12-03T17:45:00Z" + SEND + "\n"),
        ("segment last_used after 2026-12-03T17:45:00.000+00:00" + SEND,
         "segment last_used after 2026-12-03T17:45:00Z" + SEND + "\n"),
        ("segment last_used after 2026-12-03T17:45:00-00:00" + SEND,
         "segment last_used after 2026-12-03T17:45:00Z" + SEND + "\n"),
        ("segment last_used after 2026-12-03T17:45+0530" + SEND,
         "segment last_used after 2026-12-03T17:45:00+05:30" + SEND + "\n"),
        ("segment country in [ \"US\" ,\"CA\" ]" + SEND, 'segment country in ["US", "CA"]' + SEND + "\n"),
        ('segment "N" : push_opted_in' + SEND, 'segment "N": push_opted_in' + SEND + "\n"),
        ("attribute  custom.tier :string", "attribute custom.tier: string\n"),
        ('default   timezone "UTC"', 'default timezone "UTC"\n'),
        ('segment a; send push cron   "0 9 * * 1"   "Europe/Paris"', 'segment a; send push cron "0 9 * * 1" "Europe/Paris"\n'),
        ("segment a; send push every 2 weeks tue 9:00 utc; from 2026-01-06",
         "segment a; send push every 2 weeks tue 09:00 utc; from 2026-01-06\n"),
        ("segment a; send push daily 09:00 utc; cap 1 per 1d push; quiet hours 7:00 to 8:00 drop; grace 90m",
         "segment a; send push daily 09:00 utc; cap 1 per 1d push; quiet hours 07:00 to 08:00 drop; grace 90m\n"),
        ('campaign "a" {}', 'campaign "a" {\n}\n'),
        ('campaign "a" {\n\n\n}', 'campaign "a" {\n}\n'),
        ('campaign "a" { segment x;;; send push daily 09:00 utc; }',
         'campaign "a" {\n    segment x\n    send push daily 09:00 utc\n}\n'),
    ],
)
def test_canonical_layout(text: str, expected: str) -> None:
    assert_canonical(text, expected)


def test_strings_are_requoted_with_escapes() -> None:
    assert_canonical(r'segment user_id = "a\"b\\c\nd\te"' + SEND, r'segment user_id = "a\"b\\c\nd\te"' + SEND + "\n")
    assert quote('say "hi"\\\n\t') == r'"say \"hi\"\\\n\t"'
    assert quote("ünïcödé") == '"ünïcödé"'


# Comments and blank lines ------------------------------------------------------------------------


def test_blank_line_runs_become_one_and_the_ends_are_trimmed() -> None:
    text = "\n\n\nattribute a: string\n\n\n\nattribute b: string\nattribute c: string\n\n\n"
    assert_canonical(text, "attribute a: string\n\nattribute b: string\nattribute c: string\n")


def test_a_final_newline_is_added() -> None:
    assert fmt("attribute a: string") == "attribute a: string\n"
    assert fmt("# just a comment") == "# just a comment\n"


@pytest.mark.parametrize("text", ["", "\n", "\n\n  \n"])
def test_an_empty_file_stays_empty(text: str) -> None:
    assert fmt(text) == ""


def test_comment_only_file_keeps_its_comments_and_one_blank_line() -> None:
    assert fmt("# a\n\n\n\n# b\n#c   \n") == "# a\n\n# b\n#c\n"


def test_trailing_comment_stays_on_its_line() -> None:
    assert_canonical("attribute a:string    # why\n", "attribute a: string  # why\n")


def test_comments_inside_a_wrapped_condition_stay_on_their_lines() -> None:
    text = "segment (a   # first\n  or b # second\n)" + SEND + "\n"
    assert fmt(text) == "segment (\n    a  # first\n    or b  # second\n)" + SEND + "\n"
    assert fmt(fmt(text)) == fmt(text)


def test_comments_in_a_block_keep_their_place() -> None:
    text = (
        'campaign "W" {  # header\n'
        "# flush left\n"
        "  segment a   # on segment\n"
        "\n\n"
        "        # before send\n"
        "  send push daily 09:00 utc\n"
        "  # before the brace\n"
        "}  # after\n"
        "# after the block\n"
    )
    expected = (
        'campaign "W" {  # header\n'
        "    # flush left\n"
        "    segment a  # on segment\n"
        "\n"
        "    # before send\n"
        "    send push daily 09:00 utc\n"
        "    # before the brace\n"
        "}  # after\n"
        "# after the block\n"
    )
    assert_canonical(text, expected)


def test_no_blank_line_after_an_opening_brace_or_before_a_closing_one() -> None:
    text = 'campaign "W" {\n\n\n    segment a\n    send push daily 09:00 utc\n\n\n}\n'
    assert_canonical(text, 'campaign "W" {\n    segment a\n    send push daily 09:00 utc\n}\n')


def test_one_line_campaign_with_trailing_comment() -> None:
    text = 'campaign "W" { segment a; send push daily 09:00 utc }  # note\n'
    assert_canonical(text, 'campaign "W" {\n    segment a\n    send push daily 09:00 utc\n}  # note\n')


def test_comments_are_kept_in_order_and_never_lost() -> None:
    text = (
        '# 1\nattribute a: string  # 2\n# 3\ncampaign "W" {  # 4\n'
        "  # 5\n  segment a # 6\n  send push daily 09:00 utc\n} # 7\n# 8\n"
    )
    out = fmt(text)
    assert [c.text for c in lapse_dsl.parse(out).comments] == [f"# {i}" for i in range(1, 9)]


def test_crlf_input_gives_lf_output() -> None:
    assert fmt("# c\r\nattribute a: string  # t\r\n\r\n\r\nattribute b: string\r\n") == (
        "# c\nattribute a: string  # t\n\nattribute b: string\n"
    )


# Public helpers ----------------------------------------------------------------------------------


def test_format_rule_and_format_condition() -> None:
    (rule,) = lapse_dsl.parse('campaign "W" { segment a or b and not c; send push daily 9:00 utc }').items
    assert isinstance(rule, n.Rule)
    assert format_rule(rule) == 'campaign "W" {\n    segment a or b and not c\n    send push daily 09:00 utc\n}'
    segment = rule.clauses[0]
    assert isinstance(segment, n.Segment)
    assert format_condition(segment.condition) == "a or b and not c"
    built = n.And((n.Or((n.Truthy(n.Path(("a",))), n.Truthy(n.Path(("b",))))), n.Not(n.Truthy(n.Path(("c",))))))
    assert format_condition(built) == "(a or b) and not c"


# Regressions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["100000000000000000000000.0", "9007199254740993.0", "1" + "0" * 300 + ".5"])
def test_large_float_keeps_its_value_through_format(digits: str) -> None:
    # 1e23 was written as the integer 100000000000000000000000, which is not the float 1e23
    tree = lapse_dsl.parse(f"segment sessions = {digits}" + SEND)
    out = lapse_dsl.format_file(tree)
    again = lapse_dsl.parse(out)
    assert again == tree
    value = again.items[0].clauses[0].condition.value.value  # type: ignore[union-attr]
    assert value == float(digits)  # exactly: an int only where the float is that very integer


def test_formatting_never_writes_infinity() -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError):
        lapse_dsl.parse("segment sessions = " + "9" * 400 + ".0" + SEND)


def test_blank_lines_are_counted_by_newlines_only() -> None:
    # a form feed inside a string used to shift str.splitlines(), so blank lines were misplaced
    text = 'attribute a: string\nsegment user_id = "x\fy"' + SEND + "\n\nattribute b: string\n"
    assert_canonical(text, text)
