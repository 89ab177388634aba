"""The checker: what a valid rule resolves to, what spans several files, and regressions.

Single-input diagnostics (exact positions and messages) live in fixtures/errors.txt."""

from __future__ import annotations

import datetime as dt

import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.check import CheckResult, check
from lapse_dsl.reach import schedule_gaps
from lapse_dsl.templates import Template

BRAZE = "segment last_used between 2w and 3w; send push weekly thu 17:45 local"


def _check(*texts: str, sources: tuple[str, ...] | None = None) -> CheckResult:
    names = sources or tuple(f"f{i}.lapse" for i in range(len(texts)))
    return check([lapse_dsl.parse(t, source=s) for t, s in zip(texts, names, strict=True)])


def _messages(result: CheckResult) -> list[str]:
    return [f"{d.source}:{d.line}:{d.column}: {d.severity}: {d.message}" for d in result.diagnostics]


# What a checked rule holds ----------------------------------------------------------------------


def test_braze_rule_resolves_to_its_parts() -> None:
    result = _check(BRAZE, sources=("rules/braze.lapse",))
    assert result.diagnostics == ()
    (rule,) = result.rules
    assert rule.name == "braze:1"
    assert rule.source == "rules/braze.lapse"
    assert rule.line == 1
    assert rule.segment == n.Between(n.Path(("last_used",)), n.Duration(2, "w"), n.Duration(3, "w"))
    assert rule.channel == "push"
    assert rule.schedule == n.Weekly((n.Name("thu"),), n.Clock(17, 45), n.Zone("local"))


def test_defaults_of_a_rule_without_optional_clauses() -> None:
    (rule,) = _check(BRAZE, sources=("x.lapse",)).rules
    assert rule.salt == "x:1"  # the rule's name
    assert rule.grace == n.Duration(1, "h")
    assert rule.status == "active"
    assert rule.quiet_mode == "defer"
    assert (rule.holdout, rule.reeligible, rule.cap, rule.quiet) == (None, None, None, None)
    assert (rule.from_date, rule.until_date, rule.default_timezone) == (None, None, None)
    assert (rule.message, rule.variants, rule.segment_name) == ((), (), None)


def test_every_optional_clause_is_resolved() -> None:
    text = (
        'default timezone "Europe/Paris"\n'
        'campaign "Full" {\n'
        '    segment "Lapsers": last_used between 2w and 3w\n'
        "    send email weekly thu 17:45 local\n"
        '    message subject "Hi {{ first_name }}" body "Come back"\n'
        '    variant "A" 40% message subject "A"\n'
        '    variant "B" 60% message subject "B"\n'
        "    holdout 12.5%\n"
        '    salt "s1"\n'
        "    reeligible after 3w\n"
        "    cap 2 per 1w all\n"
        "    quiet hours 22:00 to 07:00 drop\n"
        "    from 2026-01-01\n"
        "    until 2026-12-31\n"
        "    grace 30m\n"
        "    status paused\n"
        "}\n"
        "attribute first_name: string\n"  # declarations apply to the whole file, wherever written
    )
    result = _check(text)
    assert result.errors == ()
    (rule,) = result.rules
    assert rule.name == "Full"
    assert rule.line == 2
    assert rule.segment_name == "Lapsers"
    assert [(k, t.text) for k, t in rule.message] == [("subject", "Hi {{ first_name }}"), ("body", "Come back")]
    assert all(isinstance(t, Template) for _, t in rule.message)
    assert [(v.name, v.percent, [k for k, _ in v.message]) for v in rule.variants] == [
        ("A", 40.0, ["subject"]),
        ("B", 60.0, ["subject"]),
    ]
    assert rule.holdout == 12.5
    assert rule.salt == "s1"
    assert rule.reeligible == n.Duration(3, "w")
    assert rule.cap == n.Cap(2, n.Duration(1, "w"), n.Name("all"))
    assert rule.quiet_mode == "drop"
    assert (rule.from_date, rule.until_date) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert rule.grace == n.Duration(30, "m")
    assert rule.status == "paused"
    assert rule.default_timezone == "Europe/Paris"


def test_rules_with_errors_are_left_out_and_the_others_kept() -> None:
    result = _check(BRAZE + "\nsegment sessions = \"x\"; send push daily 09:00 utc\n" + BRAZE)
    assert [r.line for r in result.rules] == [1, 3]
    assert len(result.errors) == 1


def test_declared_attributes_extend_the_schema() -> None:
    result = _check('attribute custom.tier: string\nattribute score: number\nsegment custom.tier = "gold" and score > 2; '
                    "send push daily 09:00 utc")
    assert result.errors == ()
    assert result.schema["custom.tier"] == "string"
    assert result.schema["score"] == "number"
    assert result.schema["last_used"] == "time"


# Collecting every error ---------------------------------------------------------------------------


def test_checker_collects_every_error_of_a_file_in_order() -> None:
    text = (
        "segment last_usd between 2w and 3w; send push weekly thu 17:45 local\n"
        'segment platform > "a"; send pish daily 09:00 utc\n'
        "segment sessions; send push daily 25:00 utc; holdout 0%\n"
    )
    with pytest.raises(lapse_dsl.LapseCheckError) as info:
        lapse_dsl.compile(text, source="many.lapse")
    got = [(d.line, d.column, d.message.split(";")[0]) for d in info.value.diagnostics]
    assert got == [
        (1, 9, "unknown attribute 'last_usd'"),
        (2, 9, "'>' needs a number attribute, but 'platform' is a string"),
        (2, 30, "unknown channel 'pish'"),
        (3, 9, "'sessions' is a number, not a boolean"),
        (3, 35, "'25:00' is not a time of day (00:00 to 23:59)"),
        (3, 46, "holdout percentage 0% must be more than 0% and at most 100%"),
    ]
    assert (info.value.line, info.value.column) == (1, 9)
    assert str(info.value).count("many.lapse:") == 6


def test_checker_collects_errors_across_files_in_source_order() -> None:
    result = _check("segment nope = 1; send push daily 09:00 utc", "segment sessions; send push daily 09:00 utc",
                    sources=("b.lapse", "a.lapse"))
    assert [(d.source, d.line) for d in result.errors] == [("a.lapse", 1), ("b.lapse", 1)]


# Rule sets spanning files -------------------------------------------------------------------------


def test_duplicate_campaign_names_across_files() -> None:
    block = 'campaign "Winback" {\n    ' + BRAZE.replace("; ", "\n    ") + "\n}\n"
    result = _check(block, "\n" + block, sources=("a.lapse", "b.lapse"))
    assert _messages(result) == [
        "b.lapse:2:10: error: campaign name 'Winback' is already used at a.lapse:1; "
        "campaign names must be unique in a rule set"
    ]


def test_unnamed_rules_in_files_with_the_same_stem_collide() -> None:
    result = _check(BRAZE, BRAZE, sources=("x/rules.lapse", "y/rules.lapse"))
    assert [d.message.split(";")[0] for d in result.errors] == ["campaign name 'rules:1' is already used at x/rules.lapse:1"]


def test_the_same_declaration_in_two_files_is_fine() -> None:
    decl = "attribute tier: string\n"
    rule = 'segment tier = "gold"; send push daily 09:00 utc\n'
    result = _check(decl + rule, decl + "\n" + rule, sources=("a.lapse", "b.lapse"))
    assert result.diagnostics == ()
    assert len(result.rules) == 2


def test_conflicting_declarations_in_two_files() -> None:
    result = _check("attribute tier: string\n", "attribute tier: number\n", sources=("a.lapse", "b.lapse"))
    assert _messages(result) == ["b.lapse:1:11: error: 'tier' is already declared as a string"]


def test_declarations_in_one_file_are_visible_in_another() -> None:
    result = _check("attribute tier: string\n", 'segment tier = "gold"; send push daily 09:00 utc\n')
    assert result.errors == ()


def test_default_timezone_belongs_to_its_file() -> None:
    result = _check('default timezone "Europe/Paris"\n' + BRAZE, BRAZE, sources=("a.lapse", "b.lapse"))
    assert [r.default_timezone for r in result.rules] == ["Europe/Paris", None]


# Schedule gaps (what the coverage warning compares against) -------------------------------------

DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("schedule", "gaps"),
    [
        ("daily 09:00 utc", (DAY, DAY)),
        ("weekly thu 09:00 utc", (7 * DAY, 7 * DAY)),
        ("weekly mon,thu 09:00 utc", (3 * DAY, 4 * DAY)),
        ("weekly sun,mon 09:00 utc", (DAY, 6 * DAY)),
        ("every 2 weeks thu 09:00 utc", (14 * DAY, 14 * DAY)),
        ("every 3 weeks mon,fri 09:00 utc", (4 * DAY, 17 * DAY)),
        ("monthly 15 09:00 utc", (28 * DAY, 31 * DAY)),
        ('cron "0 9 * * 1-5" utc', (DAY, 3 * DAY)),
        ('cron "30 8 1 * *" utc', (28 * DAY, 31 * DAY)),
        ("once 2026-12-24 18:00 utc", None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_schedule_gaps(schedule: str, gaps: tuple[dt.timedelta, dt.timedelta] | None) -> None:
    tree = lapse_dsl.parse(f"segment sessions > 1; send push {schedule}")
    (rule,) = tree.items
    assert isinstance(rule, n.Rule)
    send = rule.clauses[1]
    assert isinstance(send, n.Send)
    assert schedule_gaps(send.schedule) == gaps


def test_window_exactly_as_wide_as_the_schedule_has_no_warning() -> None:
    assert _check(BRAZE).diagnostics == ()
    assert _check("segment last_used between 1d and 2d; send push daily 09:00 local").diagnostics == ()
    assert _check("segment last_used between 5w and 10w; send email monthly 1 09:00 local").diagnostics == ()


def test_once_schedule_has_no_coverage_warning() -> None:
    assert _check("segment last_used between 1d and 2d; send push once 2026-12-24 18:00 local").diagnostics == ()


def test_window_under_not_is_not_a_window() -> None:
    result = _check("segment not last_used between 2w and 15d; send push weekly thu 17:45 local")
    assert result.diagnostics == ()


def test_each_window_of_an_or_is_checked() -> None:
    result = _check("segment last_used between 2w and 3w or first_used between 1w and 8d; send push weekly thu 17:45 local")
    assert [d.message.split(" is ")[0] for d in result.warnings] == ["the window 'first_used between 1w and 8d'"]


def test_warnings_do_not_stop_compile() -> None:
    rules = lapse_dsl.compile("segment last_used between 2w and 15d; send push weekly thu 17:45 local")
    assert len(rules.rules) == 1
    assert [d.severity for d in rules.warnings] == ["warning"]


# Regressions: one test per bug fixed, named after what broke --------------------------------------


def test_two_decimal_percentages_are_not_rejected_by_float_rounding() -> None:
    # 33.34 * 100 == 3333.9999999999995, which the old check took for a third decimal
    text = BRAZE + '; variant "A" 33.33% message title "1"; variant "B" 33.33% message title "2"; ' \
        'variant "C" 33.34% message title "3"; holdout 0.29%'
    result = _check(text)
    assert result.diagnostics == ()
    assert [v.percent for v in result.rules[0].variants] == [33.33, 33.33, 33.34]


def test_invalid_cron_does_not_crash_the_coverage_check() -> None:
    # the coverage warning used to sample the bad expression and raise CroniterBadCronError
    for expression in ("61 * * * *", "0 0 * * 8", "*/0 * * * *"):
        result = _check(f'segment last_used between 2w and 3w; send push cron "{expression}" utc')
        assert [d.message for d in result.diagnostics] == [f'invalid cron expression "{expression}"']


def test_cron_with_no_date_is_an_error_not_a_crash() -> None:
    # "0 0 30 2 *" is well formed, but February never has a 30th: croniter raised CroniterBadDateError
    result = _check('segment last_used between 2w and 3w; send push cron "0 0 30 2 *" utc')
    assert [d.message for d in result.diagnostics] == ['cron expression "0 0 30 2 *" never fires (no such date)']


def test_random_cron_fields_are_rejected() -> None:
    # croniter accepts R (and R(a-b), R/n) and draws a new value each time it reads the expression,
    # so the same rule fired at different times on every run
    for expression in ("R 9 * * *", "0 r * * *", "0 9 * * R(1-5)", "r/5 9 * * *"):
        result = _check(f'segment last_used between 2w and 3w; send push cron "{expression}" utc')
        assert [d.message for d in result.diagnostics] == [
            f'cron expression "{expression}" uses R (a random value); write the times out'
        ]
    # month and day names that contain an r are not random
    assert _check('segment last_used between 1d and 2d; send push cron "0 9 * * fri,thu" utc').errors == ()


def test_huge_every_n_weeks_is_an_error_not_an_overflow() -> None:
    result = _check("segment last_used between 2w and 3w; send push every 999999999 weeks thu 10:00 utc; from 2026-01-01")
    assert [d.message for d in result.diagnostics] == ["'every 999999999 weeks' is longer than 100 years"]


def test_empty_between_gets_no_nonsense_coverage_warning() -> None:
    # the window of `between 3w and 2w` used to be reported as "-1w wide" next to the error
    result = _check("segment last_used between 3w and 2w; send push weekly thu 17:45 local")
    assert [d.severity for d in result.diagnostics] == ["error"]


def test_wrong_schedule_gets_no_coverage_warning() -> None:
    result = _check("segment last_used between 2w and 15d; send push weekly thursday 17:45 local")
    assert [d.severity for d in result.diagnostics] == ["error"]


def test_attribute_declared_twice_in_one_file() -> None:
    result = _check("attribute tier: string\n\nattribute tier: string\n")
    assert _messages(result) == ["f0.lapse:3:11: error: 'tier' is already declared on line 1"]


def test_positions_after_a_form_feed_line_point_at_the_right_source_line() -> None:
    # str.splitlines() splits at \f too, so the caret line shown was the wrong one
    text = "# page one\n\f\nsegment sessions; send push daily 09:00 utc\n"
    (d,) = _check(text).errors
    assert (d.line, d.column) == (3, 9)
    assert d.source_line == "segment sessions; send push daily 09:00 utc"
