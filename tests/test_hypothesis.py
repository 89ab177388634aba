"""Generated inputs: any text parses or fails cleanly; every generated valid rule formats to a
fixed point with the same meaning, and passes the checker."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl.check import check
from lapse_dsl.parse import source_lines

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = [
    "segment", "send", "message", "variant", "holdout", "salt", "reeligible", "after", "cap", "per", "quiet",
    "hours", "to", "from", "until", "grace", "status", "campaign", "default", "timezone", "attribute", "between",
    "and", "or", "not", "more", "less", "than", "ago", "before", "in", "is", "set", "true", "false", "daily",
    "weekly", "every", "weeks", "monthly", "cron", "once", "local", "utc", "push", "email", "thu", "mon",
    "last_used", "sessions", "platform", "title", "body", "drop", "defer", "all", "active",
]
PIECES = [
    *KEYWORDS, "2w", "3w", "90m", "36h", "14d", "2", "2weeks", "17:45", "25:00", "7:05", "2026-12-03",
    "2026-02-30", "2026-12-03T17:45:00Z", "2026-12-03T17:45:00+05:30", "2026-12-03T17:45", "10%", "12.5%",
    "3", "-3.5", "1.0", '"ios"', '"Europe/Paris"', '"a\\"b"', '"x', "'x'", "=", "==", "!=", "<", "<=", ">",
    ">=", "&&", "||", "(", ")", "[", "]", "{", "}", ",", ";", ":", ".", "#", "# c\n", "\n", "\r\n", " ", "  ",
    "\t", "\f", "\\", "Segment", "AND", "é", "\u2028", "\x85", "\x00", "9" * 30,
]
ALPHABET = "abcdeghilmnorstuwy_0123456789 .,;:=<>!()[]{}\"'#%+-\\\n\t\r"


def _assert_clean_outcome(text: str) -> None:
    """Parses (and then formats to the same meaning), or raises LapseSyntaxError at a real place."""
    try:
        tree = lapse_dsl.parse(text)
    except lapse_dsl.LapseSyntaxError as exc:
        lines = source_lines(text)
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert d.severity == "error"
            assert 1 <= d.line <= len(lines), (d.line, len(lines))
            assert 1 <= d.column <= len(lines[d.line - 1]) + 1, (d.column, lines[d.line - 1])
            assert d.source_line == lines[d.line - 1]
            assert "$END" not in d.message and "__ANON" not in d.message
        assert (exc.line, exc.column) == (exc.diagnostics[0].line, exc.diagnostics[0].column)
        assert str(exc).startswith(f"<string>:{exc.line}:{exc.column}: error: ")
        return
    formatted = lapse_dsl.format_file(tree)
    again = lapse_dsl.parse(formatted)
    assert again == tree
    assert lapse_dsl.format_file(again) == formatted
    check([tree])  # the checker reports problems; it never raises


@FAST
@given(st.lists(st.sampled_from(PIECES), max_size=30).map(lambda xs: " ".join(xs)))
def test_keyword_soup_parses_or_fails_cleanly(text: str) -> None:
    _assert_clean_outcome(text)


@FAST
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_glued_keyword_soup_parses_or_fails_cleanly(text: str) -> None:
    _assert_clean_outcome(text)


@FAST
@given(st.text(alphabet=ALPHABET, max_size=120))
def test_language_alphabet_text_parses_or_fails_cleanly(text: str) -> None:
    _assert_clean_outcome(text)


@FAST
@given(st.text(max_size=200))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    _assert_clean_outcome(text)


@FAST
@given(st.data())
def test_damaged_valid_rules_parse_or_fail_cleanly(data: st.DataObject) -> None:
    text = data.draw(rule_texts())
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(PIECES))
    _assert_clean_outcome(text[:cut] + data.draw(st.sampled_from(["", insert])) + text[cut + data.draw(st.integers(0, 3)) :])


# Valid rules -------------------------------------------------------------------------------------

TIME_ATTRS = ["last_used", "first_used"]
NUMBER_ATTRS = ["sessions"]
STRING_ATTRS = ["user_id", "platform", "timezone", "country", "language", "app_version"]
BOOL_ATTRS = ["push_opted_in", "email_subscribed"]
ZONES = ["local", "utc", '"Europe/Paris"', '"America/New_York"', '"Asia/Kolkata"', '"Australia/Lord_Howe"']
CRONS = ["45 17 * * 4", "0 9 * * 1-5", "*/15 * * * *", "30 8 1 * *", "0 0 1 1 *", "0 12 * * sun"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def spaced(*parts: str) -> st.SearchStrategy[str]:
    """Join parts with one or more spaces (the formatter puts back exactly one)."""
    return st.lists(st.sampled_from([" ", "  ", "\t"]), min_size=len(parts) - 1, max_size=len(parts) - 1).map(
        lambda gaps: parts[0] + "".join(g + p for g, p in zip(gaps, parts[1:], strict=True))
    )


@st.composite
def durations(draw: st.DrawFn, max_minutes: int = 400 * 1440) -> tuple[str, int]:
    unit = draw(st.sampled_from("mhdw"))
    amount = draw(st.integers(1, max(1, max_minutes // UNIT_MINUTES[unit])))
    zeros = draw(st.sampled_from(["", "", "0"]))
    return f"{zeros}{amount}{unit}", amount * UNIT_MINUTES[unit]


@st.composite
def clocks(draw: st.DrawFn) -> str:
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    return draw(st.sampled_from([f"{hour:02d}:{minute:02d}", f"{hour}:{minute:02d}"]))


dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


@st.composite
def instants(draw: st.DrawFn) -> str:
    day = draw(dates)
    h, m, s = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    micro = draw(st.sampled_from(["", ".5", ".250", ".123456"]))
    offset = draw(st.sampled_from(["Z", "z", "+00:00", "+05:30", "-08:00", "+0545", "-03:30", "+14:00"]))
    sep = draw(st.sampled_from("Tt"))
    clock = draw(st.sampled_from([f"{h:02d}:{m:02d}:{s:02d}{micro}", f"{h:02d}:{m:02d}"]))
    return f"{day.isoformat()}{sep}{clock}{offset}"


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


# control characters are errors in names and in values (but tab and new line in values and messages)
TEXT = st.characters(blacklist_categories=("Cc", "Cs"), whitelist_characters="\t\n")
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))
strings = st.text(TEXT, max_size=12).map(quoted)
numbers = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda f: f"{f:.3f}"),
    st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False).map(str),
)
booleans = st.sampled_from(["true", "false"])


def in_list(attr: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["in", "not in"]), st.lists(values, min_size=1, max_size=4)).map(
        lambda t: f"{attr} {t[0]} [{', '.join(t[1])}]"
    )


@st.composite
def time_predicates(draw: st.DrawFn) -> str:
    attr = draw(st.sampled_from(TIME_ATTRS))
    kind = draw(st.sampled_from(["between", "more", "less", "before", "after", "set"]))
    if kind == "between":
        (low, low_min), (high, high_min) = draw(durations()), draw(durations())
        if low_min == high_min:
            high, high_min = f"{high_min + 1}m", high_min + 1
        if low_min > high_min:
            low, high = high, low
        ago = draw(st.sampled_from(["", " ago"]))
        return f"{attr} between {low} and {high}{ago}"
    if kind in ("more", "less"):
        return f"{attr} {kind} than {draw(durations())[0]} ago"
    if kind == "set":
        return f"{attr} is{draw(st.sampled_from(['', ' not']))} set"
    point = draw(st.one_of(dates.map(dt.date.isoformat), instants()))
    return f"{attr} {kind} {point}"


def predicates() -> st.SearchStrategy[str]:
    number = st.sampled_from(NUMBER_ATTRS)
    string = st.sampled_from(STRING_ATTRS)
    boolean = st.sampled_from(BOOL_ATTRS)
    return st.one_of(
        time_predicates(),
        st.tuples(number, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), numbers).map(" ".join),
        number.flatmap(lambda a: in_list(a, numbers)),
        st.tuples(string, st.sampled_from(["=", "!="]), strings).map(" ".join),
        string.flatmap(lambda a: in_list(a, strings)),
        st.tuples(boolean, st.sampled_from(["=", "!="]), booleans).map(" ".join),
        boolean.flatmap(lambda a: in_list(a, booleans)),
        boolean,
        st.tuples(st.sampled_from(NUMBER_ATTRS + STRING_ATTRS + BOOL_ATTRS), st.sampled_from(["is set", "is not set"]))
        .map(" ".join),
    )


def conditions() -> st.SearchStrategy[str]:
    return st.recursive(
        predicates(),
        lambda inner: st.one_of(
            inner.map(lambda c: f"({c})"),
            inner.map(lambda c: f"not ({c})"),
            st.lists(inner, min_size=2, max_size=3).map(lambda cs: " and ".join(f"({c})" for c in cs)),
            st.lists(inner, min_size=2, max_size=3).map(" or ".join),
            st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} or {t[1]} and not {t[2]}"),
        ),
        max_leaves=6,
    )


@st.composite
def schedules(draw: st.DrawFn) -> tuple[str, bool]:
    """A schedule and whether it needs a `from` clause."""
    zone = draw(st.sampled_from(ZONES))
    at = draw(clocks())
    days = ",".join(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)))
    kind = draw(st.sampled_from(["daily", "weekly", "every", "monthly", "cron", "once"]))
    if kind == "daily":
        return f"daily {at} {zone}", False
    if kind == "weekly":
        return f"weekly {days} {at} {zone}", False
    if kind == "every":
        return f"every {draw(st.integers(1, 52))} weeks {days} {at} {zone}", True
    if kind == "monthly":
        return f"monthly {draw(st.integers(1, 31))} {at} {zone}", False
    if kind == "cron":
        return f"cron {quoted(draw(st.sampled_from(CRONS)))} {zone}", False
    return f"once {draw(dates).isoformat()} {at} {zone}", False


templates = st.one_of(
    st.text(TEXT, max_size=15).filter(lambda t: "{" not in t and "%" not in t),
    # variables a template may read without a declaration: built-in attributes
    st.sampled_from(["Hi {{ country }}", "Hi {{ platform | default: 'there' }}!",
                     "{% if push_opted_in %}a{% else %}b{% endif %}"]),
).map(quoted)


@st.composite
def message_fields(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.sampled_from(["title", "subtitle", "body", "subject", "url", "image"]), min_size=1, max_size=3,
                          unique=True))
    return " ".join(f"{name} {draw(templates)}" for name in names)


def percent(hundredths: int, style: int) -> str:
    text = f"{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
    return text + ("0%" if style and "." in text else "%")


@st.composite
def extra_clauses(draw: st.DrawFn, needs_from: bool) -> list[str]:
    out: list[str] = []
    if draw(st.booleans()):
        out.append(f"message {draw(message_fields())}")
    if draw(st.booleans()):
        count = draw(st.integers(2, 4))
        cuts = sorted(draw(st.lists(st.integers(1, 9999), min_size=count - 1, max_size=count - 1, unique=True)))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, 10000], strict=True)]
        for i, share in enumerate(shares):
            out.append(f"variant {quoted(f'V{i}')} {percent(share, draw(st.integers(0, 1)))} message {draw(message_fields())}")
    if draw(st.booleans()):
        out.append(f"holdout {percent(draw(st.integers(1, 10000)), draw(st.integers(0, 1)))}")
    if draw(st.booleans()):
        out.append(f"salt {quoted(draw(st.text(PRINTABLE, min_size=1, max_size=8)))}")
    if draw(st.booleans()):
        out.append(f"reeligible after {draw(durations())[0]}")
    if draw(st.booleans()):
        scope = draw(st.sampled_from(["", " all", " push", " email", " content_card"]))
        out.append(f"cap {draw(st.integers(1, 20))} per {draw(durations())[0]}{scope}")
    if draw(st.booleans()):
        start, end = draw(clocks()), draw(clocks())
        if start.zfill(5) != end.zfill(5):  # 7:05 is 07:05
            out.append(f"quiet hours {start} to {end}{draw(st.sampled_from(['', ' defer', ' drop']))}")
    first = draw(dates)
    if needs_from or draw(st.booleans()):
        out.append(f"from {first.isoformat()}")
        if draw(st.booleans()):
            out.append(f"until {(first + dt.timedelta(days=draw(st.integers(0, 400)))).isoformat()}")
    elif draw(st.booleans()):
        out.append(f"until {first.isoformat()}")
    if draw(st.booleans()):
        out.append(f"grace {draw(durations(max_minutes=7 * 1440))[0]}")
    if draw(st.booleans()):
        out.append(f"status {draw(st.sampled_from(['active', 'paused', 'draft']))}")
    return out


@st.composite
def rule_texts(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["", "", f"{quoted('Seg')}: "]))
    segment = f"segment {name}{draw(conditions())}"
    schedule, needs_from = draw(schedules())
    send = draw(spaced("send", draw(st.sampled_from(["push", "email", "sms", "in_app", "webhook", "content_card"])), schedule))
    clauses = draw(st.permutations([segment, send, *draw(extra_clauses(needs_from))]))
    layout = draw(st.sampled_from(["line", "block", "one-line block"]))
    if layout == "line":
        return draw(st.sampled_from(["; ", ";", " ; "])).join(clauses) + draw(st.sampled_from(["", ";", "\n", "  # note\n"]))
    if layout == "one-line block":
        return 'campaign "Generated" { ' + "; ".join(clauses) + " }\n"
    return 'campaign "Generated" {  # generated\n' + "".join(f"    {c}\n\n" for c in clauses) + "}\n"


@FAST
@given(rule_texts())
def test_format_is_idempotent_and_keeps_the_meaning_of_valid_rules(text: str) -> None:
    tree = lapse_dsl.parse(text)
    once = lapse_dsl.format_file(tree)
    again = lapse_dsl.parse(once)
    assert again == tree
    assert lapse_dsl.format_file(again) == once
    assert [c.text for c in again.comments] == [c.text for c in tree.comments]


@FAST
@given(rule_texts())
def test_generated_valid_rules_pass_the_checker(text: str) -> None:
    rules = lapse_dsl.compile(text, source="gen.lapse")
    assert len(rules.rules) == 1
    assert all(d.severity == "warning" for d in rules.warnings)


@st.composite
def commented_files(draw: st.DrawFn) -> str:
    """Several generated rules with comments at line ends and on lines of their own, and runs of
    blank lines, anywhere between lines."""
    lines = "\n".join(draw(st.lists(rule_texts(), min_size=1, max_size=3))).split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        out.extend(draw(st.lists(st.sampled_from(["", "   ", f"# own {i}", f"\t# own {i} #"]), max_size=2)))
        out.append(line + draw(st.sampled_from(["", "", f"  # end {i}", f"# end {i}"])))
    return "\n".join(out)


@pytest.mark.slow
@FAST
@given(commented_files())
def test_format_keeps_every_comment_and_is_idempotent(text: str) -> None:
    tree = lapse_dsl.parse(text)
    once = lapse_dsl.format_file(tree)
    again = lapse_dsl.parse(once)
    assert again == tree
    assert lapse_dsl.format_file(again) == once
    assert sorted(c.text for c in again.comments) == sorted(c.text for c in tree.comments)
    assert "\n\n\n" not in once and not once.startswith("\n")
