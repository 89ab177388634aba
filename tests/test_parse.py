"""The parser: text -> AST, and syntax errors in the language's own words.

Exact messages for common mistakes are pinned in fixtures/errors.txt; this file pins the AST that
constructs produce, spans, comments, and regressions."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import attrs
import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.parse import grammar_text

BRAZE = "segment last_used between 2w and 3w; send push weekly thu 17:45 local"
SEND = "; send push daily 09:00 utc"


def _rule(text: str) -> n.Rule:
    (item,) = lapse_dsl.parse(text).items
    assert isinstance(item, n.Rule)
    return item


def _cond(condition: str) -> n.Condition:
    segment = _rule(f"segment {condition}{SEND}").clauses[0]
    assert isinstance(segment, n.Segment)
    return segment.condition


def P(*parts: str) -> n.Path:
    return n.Path(parts)


def T(name: str) -> n.Truthy:
    return n.Truthy(P(name))


# The issue's own examples ------------------------------------------------------------------------


def test_the_braze_line_parses_and_means_what_it_says() -> None:
    tree = lapse_dsl.parse(BRAZE)
    assert tree == n.File((
        n.Rule(None, (
            n.Segment(None, n.Between(P("last_used"), n.Duration(2, "w"), n.Duration(3, "w"), ago=False)),
            n.Send(n.Name("push"), n.Weekly((n.Name("thu"),), n.Clock(17, 45), n.Zone("local"))),
        )),
    ))


def test_the_issue_campaign_example_parses() -> None:
    text = (
        'default timezone "America/New_York"\n'
        "\n"
        'campaign "Lapsed users - 2 weeks" {\n'
        '    segment "Lapsed users - 2 weeks": last_used between 2w and 3w and platform = "ios"\n'
        "    send push weekly thu 17:45 local\n"
        "    message title \"We miss you\" body \"Hi {{ first_name | default: 'there' }}, new levels are waiting\"\n"
        "}\n"
    )
    tree = lapse_dsl.parse(text)
    default, campaign = tree.items
    assert default == n.DefaultTimezone(n.StringLit("America/New_York"))
    assert isinstance(campaign, n.Rule)
    assert campaign.name == n.StringLit("Lapsed users - 2 weeks")
    segment, send, message = campaign.clauses
    assert segment == n.Segment(
        n.StringLit("Lapsed users - 2 weeks"),
        n.And((
            n.Between(P("last_used"), n.Duration(2, "w"), n.Duration(3, "w")),
            n.Compare(P("platform"), "=", n.Literal("ios")),
        )),
    )
    assert send == n.Send(n.Name("push"), n.Weekly((n.Name("thu"),), n.Clock(17, 45), n.Zone("local")))
    assert message == n.Message((
        n.MessageField(n.Name("title"), n.StringLit("We miss you")),
        n.MessageField(n.Name("body"), n.StringLit("Hi {{ first_name | default: 'there' }}, new levels are waiting")),
    ))
    lapse_dsl.compile(text + "attribute first_name: string\n")  # the template's variable, declared


def test_one_line_campaign_block_equals_the_multi_line_one() -> None:
    one = lapse_dsl.parse('campaign "W" { segment last_used between 2w and 3w; send push weekly thu 17:45 local; holdout 10% }')
    many = lapse_dsl.parse(
        'campaign "W" {\n    segment last_used between 2w and 3w\n    send push weekly thu 17:45 local\n    holdout 10%\n}\n'
    )
    assert one == many
    assert one.items[0].clauses[2] == n.Holdout(10.0)  # type: ignore[union-attr]


def test_clauses_may_come_in_any_order() -> None:
    a = _rule(BRAZE)
    b = _rule("send push weekly thu 17:45 local; segment last_used between 2w and 3w")
    assert a.clauses == tuple(reversed(b.clauses))


def test_trailing_semicolon_is_allowed() -> None:
    assert _rule(BRAZE + ";") == _rule(BRAZE)


# Conditions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a or b and not c", n.Or((T("a"), n.And((T("b"), n.Not(T("c"))))))),
        ("not a and b", n.And((n.Not(T("a")), T("b")))),
        ("not (a and b)", n.Not(n.And((T("a"), T("b"))))),
        ("(a or b) and c", n.And((n.Or((T("a"), T("b"))), T("c")))),
        ("a and b or c and d", n.Or((n.And((T("a"), T("b"))), n.And((T("c"), T("d")))))),
        ("a or b or c", n.Or((T("a"), T("b"), T("c")))),
        ("a or (b or c)", n.Or((T("a"), T("b"), T("c")))),
        ("a and (b and c) and d", n.And((T("a"), T("b"), T("c"), T("d")))),
        ("not not a", n.Not(n.Not(T("a")))),
        ("((a))", T("a")),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_precedence_not_and_or(text: str, tree: n.Condition) -> None:
    assert _cond(text) == tree


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("last_used between 2w and 3w ago", n.Between(P("last_used"), n.Duration(2, "w"), n.Duration(3, "w"), ago=True)),
        ("last_used between 90m and 36h", n.Between(P("last_used"), n.Duration(90, "m"), n.Duration(36, "h"))),
        ("last_used more than 14d ago", n.MoreThanAgo(P("last_used"), n.Duration(14, "d"))),
        ("last_used less than 2w ago", n.LessThanAgo(P("last_used"), n.Duration(2, "w"))),
        ("first_used before 2026-01-31", n.Before(P("first_used"), n.DateLit(dt.date(2026, 1, 31)))),
        ("sessions != 3", n.Compare(P("sessions"), "!=", n.Literal(3))),
        ("sessions <= -2.5", n.Compare(P("sessions"), "<=", n.Literal(-2.5))),
        ("push_opted_in = false", n.Compare(P("push_opted_in"), "=", n.Literal(False))),
        ('country in ["US", "CA"]', n.InList(P("country"), (n.Literal("US"), n.Literal("CA")))),
        ("sessions not in [1, 2.5]", n.InList(P("sessions"), (n.Literal(1), n.Literal(2.5)), negated=True)),
        ("country in []", n.InList(P("country"), ())),
        ("language is set", n.IsSet(P("language"))),
        ("language is not set", n.IsSet(P("language"), negated=True)),
        ("custom.tier.level = 1", n.Compare(P("custom", "tier", "level"), "=", n.Literal(1))),
        ("push_opted_in", T("push_opted_in")),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_predicates(text: str, tree: n.Condition) -> None:
    assert _cond(text) == tree


def test_numbers_keep_int_and_float_apart() -> None:
    values = [_cond(f"sessions = {v}").value.value for v in ("3", "-3", "3.0", "-0.25")]  # type: ignore[union-attr]
    assert values == [3, -3, 3.0, -0.25]
    assert [type(v) for v in values] == [int, int, float, float]


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("2026-12-03T17:45:00Z", dt.datetime(2026, 12, 3, 17, 45, tzinfo=dt.UTC)),
        ("2026-12-03t17:45z", dt.datetime(2026, 12, 3, 17, 45, tzinfo=dt.UTC)),
        ("2026-12-03T17:45:00+05:30", dt.datetime(2026, 12, 3, 17, 45, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))),
        ("2026-12-03T17:45+0530", dt.datetime(2026, 12, 3, 17, 45, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))),
        ("2026-12-03T09:45:00-08:00", dt.datetime(2026, 12, 3, 17, 45, tzinfo=dt.UTC)),
        ("2026-12-03T17:45:00.250+00:00", dt.datetime(2026, 12, 3, 17, 45, 0, 250000, tzinfo=dt.UTC)),
    ],
)
def test_instants(written: str, instant: dt.datetime) -> None:
    cond = _cond(f"last_used after {written}")
    assert isinstance(cond, n.After)
    assert isinstance(cond.point, n.InstantLit)
    assert cond.point.value == instant
    assert cond.point.value.utcoffset() is not None
    assert cond.point.text == written


def test_string_escapes_are_decoded() -> None:
    cond = _cond(r'user_id = "a \"quoted\" \\ back\nslash\tTab # not a comment"')
    assert cond == n.Compare(P("user_id"), "=", n.Literal('a "quoted" \\ back\nslash\tTab # not a comment'))


def test_durations() -> None:
    assert [n.Duration(90, "m").nominal(), n.Duration(36, "h").nominal(), n.Duration(2, "w").nominal()] == [
        dt.timedelta(minutes=90), dt.timedelta(hours=36), dt.timedelta(days=14)
    ]
    assert n.Duration(2, "w").calendar and n.Duration(3, "d").calendar
    assert not n.Duration(36, "h").calendar and not n.Duration(90, "m").calendar
    assert str(n.Duration(14, "d")) == "14d"


def test_keywords_are_names_where_a_name_is_expected() -> None:
    # `timezone` is a keyword in `default timezone` and a built-in attribute everywhere else
    assert _cond('timezone = "Europe/Paris"') == n.Compare(P("timezone"), "=", n.Literal("Europe/Paris"))
    decls = "attribute status: string\nattribute custom.in: string\n"
    tree = lapse_dsl.parse(decls + 'segment status = "x" and custom.in = "y"' + SEND)
    assert tree.items[0] == n.AttributeDecl(P("status"), n.Name("string"))
    assert tree.items[1] == n.AttributeDecl(P("custom", "in"), n.Name("string"))


# Schedules and clauses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("daily 9:05 utc", n.Daily(n.Clock(9, 5), n.Zone("utc"))),
        ("weekly mon,thu 17:45 local", n.Weekly((n.Name("mon"), n.Name("thu")), n.Clock(17, 45), n.Zone("local"))),
        ('every 2 weeks tue 08:00 "Europe/Paris"',
         n.EveryWeeks(2, (n.Name("tue"),), n.Clock(8, 0), n.Zone("named", "Europe/Paris"))),
        ("monthly 31 23:59 utc", n.Monthly(31, n.Clock(23, 59), n.Zone("utc"))),
        ('cron "45 17 * * 4" local', n.Cron("45 17 * * 4", n.Zone("local"))),
        ("once 2026-12-24 18:00 local", n.Once(n.DateLit(dt.date(2026, 12, 24)), n.Clock(18, 0), n.Zone("local"))),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_schedules(text: str, schedule: n.Schedule) -> None:
    send = _rule(f"segment push_opted_in; send push {text}").clauses[1]
    assert send == n.Send(n.Name("push"), schedule)


def test_every_clause_kind() -> None:
    rule = _rule(
        'segment push_opted_in; send sms daily 09:00 utc; message title "T" url "u"; variant "A" 12.5% message body "b"; '
        'holdout 10%; salt "s"; reeligible after 4w; cap 3 per 24h all; quiet hours 22:00 to 7:00 drop; '
        "from 2026-01-01; until 2026-02-01; grace 30m; status draft"
    )
    assert rule.clauses[2:] == (
        n.Message((n.MessageField(n.Name("title"), n.StringLit("T")), n.MessageField(n.Name("url"), n.StringLit("u")))),
        n.Variant(n.StringLit("A"), 12.5, (n.MessageField(n.Name("body"), n.StringLit("b")),)),
        n.Holdout(10.0),
        n.Salt(n.StringLit("s")),
        n.Reeligible(n.Duration(4, "w")),
        n.Cap(3, n.Duration(24, "h"), n.Name("all")),
        n.QuietHours(n.Clock(22, 0), n.Clock(7, 0), n.Name("drop")),
        n.From(n.DateLit(dt.date(2026, 1, 1))),
        n.Until(n.DateLit(dt.date(2026, 2, 1))),
        n.Grace(n.Duration(30, "m")),
        n.Status(n.Name("draft")),
    )


def test_optional_parts_are_none_when_left_out() -> None:
    rule = _rule("segment push_opted_in; send push daily 09:00 utc; cap 1 per 1d; quiet hours 22:00 to 07:00")
    assert rule.clauses[2] == n.Cap(1, n.Duration(1, "d"), None)
    assert rule.clauses[3] == n.QuietHours(n.Clock(22, 0), n.Clock(7, 0), None)


# Layout: newlines, comments, blank files -------------------------------------------------------


def test_a_condition_may_wrap_inside_parentheses_and_lists() -> None:
    wrapped = lapse_dsl.parse('segment (push_opted_in\n    or sessions > 3) and country in [\n  "US",\n  "CA"\n]' + SEND)
    flat = lapse_dsl.parse('segment (push_opted_in or sessions > 3) and country in ["US", "CA"]' + SEND)
    assert wrapped == flat


def test_a_newline_ends_a_top_level_rule() -> None:
    tree = lapse_dsl.parse("segment push_opted_in;\nsend push daily 09:00 utc")
    assert len(tree.items) == 2


@pytest.mark.parametrize("text", ["", "\n", "\n\n\n", "# only a comment", "# a\n\n# b\n", "   \n\t\n"])
def test_files_without_items(text: str) -> None:
    assert lapse_dsl.parse(text).items == ()


def test_comments_are_collected_with_positions_and_carry_no_meaning() -> None:
    text = '# head\nsegment user_id = "# not a comment"; send push daily 09:00 utc   # tail  \n  # indented\n'
    tree = lapse_dsl.parse(text)
    assert tree.comments == (n.Comment("# head", 1, 1), n.Comment("# tail", 2, 66), n.Comment("# indented", 3, 3))
    assert tree == lapse_dsl.parse('segment user_id = "# not a comment"; send push daily 09:00 utc')


def test_crlf_line_endings() -> None:
    crlf = lapse_dsl.parse('# c\r\ncampaign "W" {\r\n    ' + BRAZE.replace("; ", "\r\n    ") + "\r\n}\r\n")
    lf = lapse_dsl.parse('# c\ncampaign "W" {\n    ' + BRAZE.replace("; ", "\n    ") + "\n}\n")
    assert crlf == lf
    assert crlf.comments == (n.Comment("# c", 1, 1),)
    assert crlf.items[0].span.line == 2


# Spans and node values -----------------------------------------------------------------------


def test_spans_point_at_the_construct() -> None:
    text = "# intro\n" + BRAZE + '\ncampaign "X" {\n    segment platform = "ios"\n    send push daily 09:00 utc\n}\n'
    rule, campaign = lapse_dsl.parse(text).items
    assert isinstance(rule, n.Rule) and isinstance(campaign, n.Rule)

    def source(span: n.Span) -> str:
        return text[span.start : span.end]

    segment, send = rule.clauses
    assert isinstance(segment, n.Segment) and isinstance(send, n.Send)
    between = segment.condition
    assert isinstance(between, n.Between)
    assert (rule.span.line, rule.span.column, rule.span.end_line) == (2, 1, 2)
    assert source(rule.span) == BRAZE
    assert (between.span.line, between.span.column) == (2, 9)
    assert source(between.span) == "last_used between 2w and 3w"
    assert source(between.path.span) == "last_used"
    assert (between.low.span.line, between.low.span.column) == (2, 27)
    assert source(between.high.span) == "3w"
    assert isinstance(send.schedule, n.Weekly)
    assert source(send.span) == "send push weekly thu 17:45 local"
    assert source(send.channel.span) == "push"
    assert (send.schedule.days[0].span.line, send.schedule.days[0].span.column) == (2, 55)
    assert source(send.schedule.at.span) == "17:45"
    assert source(send.schedule.zone.span) == "local"
    assert (campaign.span.line, campaign.span.end_line) == (3, 6)
    assert campaign.name is not None
    assert (campaign.name.span.line, campaign.name.span.column) == (3, 10)
    inner = campaign.clauses[0]
    assert isinstance(inner, n.Segment) and isinstance(inner.condition, n.Compare)
    assert (inner.condition.value.span.line, inner.condition.value.span.column) == (4, 24)
    assert source(inner.condition.value.span) == '"ios"'


def test_nodes_are_frozen_and_equality_ignores_spans_and_source() -> None:
    a = lapse_dsl.parse(BRAZE, source="a.lapse")
    b = lapse_dsl.parse("\n\n   " + BRAZE.replace(" ", "  "), source="b.lapse")
    assert a == b
    assert a.items[0].span != b.items[0].span
    assert a.source == "a.lapse"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.items[0].name = None  # type: ignore[misc, union-attr]
    assert hash(a.items[0]) == hash(b.items[0])


def test_grammar_text_is_the_checkout_grammar() -> None:
    checkout = Path(__file__).resolve().parent.parent / "grammar" / "lapse.lark"
    assert grammar_text() == checkout.read_text(encoding="utf-8")


# Syntax errors ------------------------------------------------------------------------------------


BAD_INPUTS = [
    "segment",
    "segment last_used between",
    "segment last_used between 2w and 3w; send",
    "segment last_used between 2w and 3w; send push weekly",
    "segment last_used between 2w and 3w; send push weekly thu",
    "segment last_used between 2w and 3w; send push weekly thu 17:45",
    'campaign "x" {',
    'campaign "x" { segment a',
    "segment a; send push daily 09:00 utc }",
    "segment a = ; send push daily 09:00 utc",
    "segment a in [1,; send push daily 09:00 utc",
    "segment a is; send push daily 09:00 utc",
    "segment a more 2w ago; send push daily 09:00 utc",
    "attribute",
    "attribute x:",
    "default timezone",
    "default",
    "segment a; send push cron utc",
    "segment a; send push every weeks thu 10:00 utc",
    "segment a; send push daily 10:00 utc; cap per 1d",
    "segment a; send push daily 10:00 utc; quiet hours 22:00 07:00",
    "segment a; send push daily 10:00 utc; variant 50% message title \"x\"",
    "segment a; send push daily 10:00 utc; message",
    "segment (a",
    ")",
    "{",
    "segment a; send push daily 10:00 utc\n  ;",
    "holdout ten%",
]


@pytest.mark.parametrize("text", BAD_INPUTS)
def test_syntax_errors_speak_the_language_not_lark(text: str) -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse(text)
    message = info.value.message
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", message)
    assert not re.search(r"\$END|__ANON|\b_?[A-Z][A-Z_]+\b", unquoted), message
    assert message.startswith(("expected ", "the campaign block", "unterminated", "keywords", "use ", "'")), message
    assert info.value.line >= 1 and info.value.column >= 1


def test_syntax_error_carries_source_line_and_column() -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse("# one\n\nsegment sessions == 3" + SEND, source="rules/x.lapse")
    err = info.value
    assert (err.source, err.line, err.column) == ("rules/x.lapse", 3, 18)
    assert err.message == "use '=' alone, not '=='"
    assert str(err) == (
        "rules/x.lapse:3:18: error: use '=' alone, not '=='\n"
        "    segment sessions == 3; send push daily 09:00 utc\n"
        "                     ^"
    )


def test_every_malformed_literal_of_a_file_is_reported() -> None:
    text = "segment first_used before 2026-02-30 and last_used more than 2weeks ago" + SEND + "\n" \
           "segment last_used after 2026-01-01T10:00" + SEND + "\n"
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse(text)
    assert [(d.line, d.column) for d in info.value.diagnostics] == [(1, 27), (1, 62), (2, 25)]


# Regressions: one test per bug fixed, named after what broke --------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segment last_used more than 99999999999w ago" + SEND, "duration 99999999999w is longer than 100 years"),
        ("segment last_used more than 999999999w ago" + SEND, "duration 999999999w is longer than 100 years"),
        ("segment last_used more than " + "9" * 5000 + "d ago" + SEND,
         "duration 99999999999999999999... is longer than 100 years"),
        ("segment sessions = " + "9" * 5000 + SEND, "number 99999999999999999999... is too large"),
        ("segment sessions = " + "9" * 400 + ".5" + SEND, "number 99999999999999999999... is too large"),
        ("segment push_opted_in" + SEND + "; holdout " + "9" * 400 + "%", "percentage 99999999999999999999... is too large"),
        ("segment push_opted_in; send push every " + "9" * 5000 + " weeks thu 10:00 utc", "99999999999999999999... is too large"),
        ("segment push_opted_in; send push monthly 9999999999 10:00 utc", "9999999999 is too large"),
    ],
    ids=["weeks-overflow", "9-digit-weeks", "5000-digit-days", "5000-digit-int", "400-digit-float", "huge-percent",
         "huge-interval", "huge-day"],
)
def test_huge_literals_are_syntax_errors_not_crashes(text: str, message: str) -> None:
    # these raised OverflowError (timedelta), ValueError (int() of > 4300 digits) inside Lark's
    # VisitError, or parsed to float('inf'), which the formatter wrote as 'Infinity'
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse(text)
    assert info.value.message == message


def test_largest_number_still_parses_and_round_trips() -> None:
    text = "segment sessions > " + "9" * 300 + SEND
    tree = lapse_dsl.parse(text)
    assert lapse_dsl.parse(lapse_dsl.format_file(tree)) == tree


def test_unterminated_string_says_so() -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse('campaign "W {\n}')
    assert (info.value.line, info.value.column) == (1, 10)
    assert info.value.message == 'unterminated string: add the closing " before the end of the line'


def test_end_of_file_in_a_block_names_the_open_block() -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse('\ncampaign "W" {\n    segment push_opted_in\n')
    assert (info.value.line, info.value.column) == (3, 26)
    assert info.value.message == "the campaign block opened at line 2 is not closed: expected '}', found the end of the file"


def test_end_of_file_position_ignores_crlf() -> None:
    # the caret used to land one column past the end of the line, on the '\r'
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse('campaign "x" {\r\n  segment push_opted_in\r\n\r\n')
    assert (info.value.line, info.value.column) == (2, 24)
    assert info.value.diagnostics[0].source_line == "  segment push_opted_in"


def test_line_numbers_count_newlines_only() -> None:
    # str.splitlines() also splits at \f, \x85 and \u2028: the source line shown was the wrong one
    text = '# page\f two\nsegment user_id = "a\u2028b" and sessions == 3' + SEND
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse(text)
    d = info.value.diagnostics[0]
    assert (d.line, d.column) == (2, 38)
    assert d.source_line == 'segment user_id = "a\u2028b" and sessions == 3' + SEND


def test_unusual_space_character_is_named() -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse("segment push_opted_in\x85" + SEND)
    assert info.value.message.endswith("found the control character U+0085")  # NEL: a C1 control


def test_found_word_is_the_whole_word_not_the_token_prefix() -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse("segment last_used between 2w 3w" + SEND)
    assert info.value.message == "expected 'and' after '2w', found '3w'"


def test_missing_zone_asks_for_a_time_zone() -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse("segment push_opted_in; send push weekly thu 17:45")
    assert info.value.message == (
        "expected a time zone (local, utc or a quoted name such as \"Europe/Paris\") after '17:45', found the end of the file"
    )


@pytest.mark.parametrize("text", [
    "segment#\r\n", "segment # why\r\n", "segment last_used between 2w and # x\r\nsend push daily 09:00 utc\r\n",
    "# head\r\nsegment last_used between 2w and 3w; send push daily 9:00 # late\r\n", "segment#\r\n\r\n#\r\n",
])
def test_an_error_after_a_comment_in_a_crlf_file_points_inside_its_line(text: str) -> None:
    # a comment ends before the CRLF: the line end is not part of it, so positions stay on the line
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse(text)
    lines = text.split("\n")
    for d in info.value.diagnostics:
        line = lines[d.line - 1].removesuffix("\r")
        assert 1 <= d.column <= len(line) + 1, (d.column, line)
        assert d.source_line == line
