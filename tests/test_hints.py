"""Hints in the language's words for the mistakes new users make (issue 11, item 18). The exact
messages of one example of each are in tests/fixtures/errors.txt; here each hint is tried over its
whole class of inputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import lapse_dsl
from lapse_dsl import cli
from lapse_dsl.check import check
from lapse_dsl.errors import Diagnostic
from lapse_dsl.schema import CHANNELS, DAY_ALIASES, DAYS

WINDOW = "segment last_used between 2w and 3w; "
SEND = "send push weekly thu 17:45 local"


def syntax_error(text: str) -> lapse_dsl.LapseSyntaxError:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse(text)
    return info.value


def first_error(text: str) -> Diagnostic:
    """The first error, from the parser or, for text that parses, from the checker."""
    try:
        tree = lapse_dsl.parse(text)
    except lapse_dsl.LapseSyntaxError as exc:
        return exc.diagnostics[0]
    return check([tree]).errors[0]


def at(text: str, error: lapse_dsl.LapseSyntaxError | Diagnostic) -> str:
    """The text from the error's position to the end of its line."""
    return text.split("\n")[error.line - 1][error.column - 1 :]


# A bare word where a quoted string belongs ---------------------------------------------------------


@pytest.mark.parametrize("word", ["US", "us", "Ios", "ios", "FR_fr", "en-GB", "x_1"])
@pytest.mark.parametrize(
    "template",
    ["segment country in [{w}, \"CA\"]; ", "segment country in [\"CA\", {w}]; ", "segment country not in [{w}]; ",
     "segment platform = {w}; ", "segment platform != {w} and push_opted_in; "],
)
def test_an_unquoted_value_is_told_to_be_quoted(word: str, template: str) -> None:
    text = template.format(w=word) + SEND
    error = syntax_error(text)
    assert error.message == f'a string value is quoted: write "{word}"'
    assert at(text, error).startswith(word)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Etc/GMT+5", "Europe", "paris"])
def test_an_unquoted_zone_is_told_to_be_quoted(zone: str) -> None:
    for text in (WINDOW + f"send push weekly thu 17:45 {zone}", f"default timezone {zone}\n" + WINDOW + SEND):
        error = syntax_error(text)
        assert error.message == f'a time zone name is a quoted string: write "{zone}"'
        assert at(text, error).startswith(zone)


@pytest.mark.parametrize(("word", "keyword"), [("UTC", "utc"), ("Local", "local"), ("LOCAL", "local"),
                                                ("True", "true"), ("FALSE", "false")])
def test_a_capitalised_keyword_value_is_told_to_be_lower_case(word: str, keyword: str) -> None:
    text = f"segment push_opted_in = {word}; {SEND}" if keyword in ("true", "false") else (
        WINDOW + f"send push weekly thu 17:45 {word}")
    assert syntax_error(text).message == f"keywords and names are lower case: write '{keyword}'"


@pytest.mark.parametrize("field", ["title", "body", "subject", "subtitle"])
@pytest.mark.parametrize("words", ["We miss you", "Come back!", "Hi", "Your streak is waiting"])
def test_unquoted_message_text_is_told_to_be_quoted(field: str, words: str) -> None:
    for rest in ("", ' url "https://x.example"', "; holdout 10%"):
        text = WINDOW + SEND + f"; message {field} {words}{rest}"
        error = syntax_error(text)
        assert error.message == f'message text is a quoted string: write {field} "{words}"'
        assert at(text, error).startswith(words)


@pytest.mark.parametrize(
    ("clause", "message"),
    [('variant A 50% message title "a"', 'a variant name is a quoted string: write "A"'),
     ("salt winback2026", 'a salt is a quoted string: write "winback2026"')],
)
def test_other_unquoted_strings_are_named(clause: str, message: str) -> None:
    assert syntax_error(WINDOW + SEND + "; " + clause).message == message


@pytest.mark.parametrize("expression", ["0 9 * * *", "45 17 * * 4", "*/30 9-17 * * 1-5"])
@pytest.mark.parametrize("zone", ["local", "utc", '"Europe/Paris"', ""])
def test_an_unquoted_cron_expression_is_told_to_be_quoted(expression: str, zone: str) -> None:
    text = WINDOW + f"send push cron {expression} {zone}".rstrip()
    assert syntax_error(text).message == f'a cron expression is a quoted string: write cron "{expression}"'


def test_no_unquoted_word_gets_the_lower_case_hint() -> None:
    # the old hint said "keywords and names are lower case: write 'us'" for `[US]`
    for word in ("US", "Europe/Paris", "We", "Thursday"):
        for text in (f"segment country in [{word}]; {SEND}", WINDOW + f"send push weekly thu 17:45 {word}",
                     WINDOW + SEND + f"; message title {word}", WINDOW + f"send push weekly {word} 17:45 local"):
            assert "lower case" not in syntax_error(text).message


# Days, clocks, durations -------------------------------------------------------------------------------


DAY_WORDS = sorted({*DAYS, *DAY_ALIASES})


@pytest.mark.parametrize("word", DAY_WORDS)
def test_a_capitalised_day_is_answered_with_the_days_own_word(word: str) -> None:
    day = DAY_ALIASES.get(word, word)
    for written in (word.capitalize(), word.upper()):
        for text in (WINDOW + f"send push weekly {written} 17:45 local",
                     WINDOW + f"send push weekly mon,{written} 17:45 local".replace("mon,Mon", "tue,Mon"),
                     WINDOW + f"send push every 2 weeks {written} 17:45 local; from 2026-01-05"):
            error = syntax_error(text)
            assert error.message == f"unknown day '{written}': write '{day}' (days: mon tue wed thu fri sat sun)"
            assert at(text, error).startswith(written)


@pytest.mark.parametrize("word", [w for w in DAY_WORDS if w not in DAYS])
def test_a_lower_case_day_name_gets_the_short_day_from_the_checker(word: str) -> None:
    result = check([lapse_dsl.parse(WINDOW + f"send push weekly {word} 17:45 local")])
    (error,) = result.errors
    assert f"did you mean '{DAY_ALIASES[word]}'?" in error.message


def _twelve_hour_cases() -> list[tuple[str, str]]:
    cases = []
    for hour in range(1, 13):
        for minute in (0, 5, 45):
            for half in ("am", "pm"):
                h24 = hour % 12 + (12 if half == "pm" else 0)
                expected = f"{h24:02d}:{minute:02d}"
                clock = f"{hour}:{minute:02d}" if minute else f"{hour}"
                for written in (f"{clock}{half}", f"{clock} {half.upper()}", f"{clock}{half[0]}.{half[1]}."):
                    cases.append((written, expected))
    return cases


TWELVE_HOUR = _twelve_hour_cases()


@pytest.mark.parametrize(
    "template",
    [WINDOW + "send push daily {t} local", WINDOW + "send push weekly thu {t} local",
     WINDOW + "send push monthly 1 {t} utc", WINDOW + "send push once 2026-12-24 {t} local",
     WINDOW + SEND + "; quiet hours {t} to 07:00", WINDOW + SEND + "; quiet hours 22:00 to {t}"],
)
def test_a_twelve_hour_clock_is_answered_with_the_24_hour_time(template: str) -> None:
    for written, expected in TWELVE_HOUR:
        text = template.format(t=written)
        error = first_error(text)  # `quiet hours 22:00 to 7am` parses (`am` as the mode): the checker says it
        assert error.message == f"write times on a 24-hour clock: {expected}, not '{written}'", text
        assert at(text, error).startswith(written.split(" ")[0])


UNITS = [("d", "14d", 14), ("w", "2w", 2), ("h", "36h", 36), ("m", "90m", 90), ("days", "3d", 3),
         (" days", "3d", 3), (" weeks", "2w", 2), ("hours", "12h", 12), ("mo", "1mo", 1), (" months", "2mo", 2)]


@pytest.mark.parametrize(("unit", "duration", "amount"), UNITS)
@pytest.mark.parametrize("op", [">", ">=", "<", "<=", "=", "!="])
def test_a_time_compared_with_a_duration_is_answered_with_a_window(unit: str, duration: str, amount: int,
                                                                 op: str) -> None:
    text = f"attribute trial_ends: time\nsegment trial_ends {op} {amount}{unit}; {SEND}"
    error = syntax_error(text)
    assert (error.line, at(text, error)[: len(op)]) == (2, op)
    if op.startswith(">"):
        assert error.message.endswith(f"write 'trial_ends more than {duration} ago'")
    elif op.startswith("<"):
        assert error.message.endswith(f"write 'trial_ends less than {duration} ago'")
    else:
        assert error.message == (f"'{op}' does not compare a time with a duration: write 'trial_ends more than "
                                 f"{duration} ago' or 'trial_ends less than {duration} ago'")


@pytest.mark.parametrize(
    ("written", "message"),
    [*[(f"{a}{u}", f"months are written mo: write {a}mo (calendar months: the same day, clamped to the month's end)")
       for a in (1, 2, 6) for u in ("mos", "month", "months", "mth", "M")],
     *[(f"{a}{u}", f"there is no year unit: write {a * 12}mo") for a in (1, 3) for u in ("y", "yr", "year", "years")],
     *[(f"{a}{u}", "there is no seconds unit: the shortest unit is m (minutes), as in 1m")
       for a in (30, 90) for u in ("s", "sec", "secs", "seconds")],
     *[(f"{a}{u.upper()}", f"duration units are lower case: write {a}{u}") for a in (2, 36) for u in ("w", "d", "h")]],
)
def test_a_duration_unit_the_language_lacks_says_what_to_write(written: str, message: str) -> None:
    for text in (f"segment last_used more than {written} ago; {SEND}", WINDOW + SEND + f"; grace {written}",
                 WINDOW + SEND + f"; reeligible after {written}"):
        error = syntax_error(text)
        assert error.message == message
        assert at(text, error).startswith(written)


# Clauses --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    ["daily 09:00 local", "weekly thu 17:45 local", "every 2 weeks thu 17:45 local", "monthly 1 09:00 utc",
     'cron "0 9 * * *" utc', "once 2026-12-24 18:00 local"],
)
def test_send_without_a_channel_asks_for_one(schedule: str) -> None:
    text = WINDOW + "send " + schedule
    error = syntax_error(text)
    word = schedule.split()[0]
    assert error.message == (f"'send' needs a channel before the schedule: write 'send push {word} ...' "
                             f"(channels: {', '.join(CHANNELS)})")
    assert at(text, error).startswith(word)


@pytest.mark.parametrize("clock", ["17:45", "9:00", "00:30"])
def test_monthly_without_a_day_asks_for_one(clock: str) -> None:
    text = WINDOW + f"send email monthly {clock} local"
    error = syntax_error(text)
    assert error.message == f"'monthly' needs a day of the month before the time: write 'monthly 1 {clock}' for the 1st"
    assert at(text, error).startswith(clock)


@pytest.mark.parametrize("word", ["first", "last", "on", "day"])
def test_monthly_with_a_word_for_the_day_asks_for_a_number(word: str) -> None:
    text = WINDOW + f"send email monthly {word} 17:45 local"
    error = syntax_error(text)
    assert error.message == "'monthly' needs a day of the month (1 to 31) before the time, as in 'monthly 1 17:45'"
    assert at(text, error).startswith(word)


# Quotes and the byte order mark ------------------------------------------------------------------------

CURLY = [("\u201c", "\u201d"), ("\u2018", "\u2019"), ("\u201e", "\u201c"), ("\u00ab", "\u00bb"), ("\u2033", "\u2033"),
         ("\u201d", "\u201d")]


@pytest.mark.parametrize(("left", "right"), CURLY)
@pytest.mark.parametrize(
    "template",
    ["segment platform = {q}; " + SEND, "segment country in [\"US\", {q}]; " + SEND,
     WINDOW + "send push weekly thu 17:45 {q}", WINDOW + SEND + "; message title {q}",
     "campaign {q} {{ " + WINDOW + SEND + " }}", "default timezone {q}\n" + WINDOW + SEND],
)
def test_curly_quotes_are_answered_with_straight_ones(left: str, right: str, template: str) -> None:
    for inner in ("ios", "Europe/Paris", "We miss you"):
        text = template.format(q=f"{left}{inner}{right}")
        error = syntax_error(text)
        assert error.message == f'use straight quotes: write "{inner}"'
        assert at(text, error).startswith(left)
    unclosed = template.format(q=f"{left}ios")
    assert syntax_error(unclosed).message == 'use straight quotes: write "text"'


BOM = "\ufeff"
FILES = [
    WINDOW + SEND + "\n",
    "# a comment first\n" + WINDOW + SEND + "\n",
    'campaign "Lapsed" {\n    segment last_used between 2w and 3w\n    send push weekly thu 17:45 local\n}\n',
    'default timezone "Europe/Paris"\n' + WINDOW + SEND + "\n",
    "",
]


@pytest.mark.parametrize("text", FILES)
def test_a_byte_order_mark_is_accepted_and_dropped(text: str, tmp_path: Path) -> None:
    assert lapse_dsl.parse(BOM + text) == lapse_dsl.parse(text)
    assert lapse_dsl.format_file(lapse_dsl.parse(BOM + text)) == lapse_dsl.format_file(lapse_dsl.parse(text))
    path = tmp_path / "bom.lapse"
    path.write_bytes((BOM + text).encode("utf-8"))
    rules = lapse_dsl.load(path)
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    user = {"user_id": "u", "last_used": "2026-11-12T10:00:00Z"}
    assert rules.evaluate(user, now) == lapse_dsl.load(_plain(tmp_path, text)).evaluate(user, now)
    assert cli.main(["check", str(path)]) == 0
    assert cli.main(["fmt", str(path)]) == 0
    assert not path.read_bytes().startswith(BOM.encode("utf-8"))


def _plain(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plain.lapse"
    path.write_text(text, encoding="utf-8")
    return path


def test_positions_after_a_byte_order_mark_count_from_the_first_character() -> None:
    error = syntax_error(BOM + "segment last_usd between 2w; " + SEND)
    assert (error.line, error.column) == (1, 28)
    checked = check([lapse_dsl.parse(BOM + "segment last_usd between 2w and 3w; " + SEND)])
    assert [(d.line, d.column) for d in checked.errors] == [(1, 9)]
    assert checked.errors[0].source_line.startswith("segment")


def test_a_byte_order_mark_inside_the_file_is_an_error_that_names_it() -> None:
    error = syntax_error(WINDOW + SEND + "\n" + BOM + WINDOW + SEND)
    assert (error.line, error.column) == (2, 1)
    assert error.message.endswith("found the character U+FEFF")
