"""Message templates cannot use unbounded memory (issue 11, item 11), and read the evaluation's
``now``, never the machine's clock (item 15).

Each hostile template must fail fast with a TemplateError (a rejected user, not a MemoryError),
with a small peak of memory: tracemalloc's peak is held to a generous bound, never the time."""

from __future__ import annotations

import datetime as dt
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl import UserDataError
from lapse_dsl.templates import MAX_VALUE_SIZE, Template, TemplateError

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
PEAK_BYTES = 50_000_000

# `big`: 16,384 characters, well inside the limits; `l`: 4,096 references to it, a small list that
# holds 64 million characters (each within Liquid's own 64 KiB limit on assigned values)
GROW = "{% assign big = 'ab' %}{% for i in (1..13) %}{% assign big = big | append: big %}{% endfor %}"
REFS = (GROW + "{% assign l = big | append: ',' | append: big | split: ',' %}"
        "{% for i in (1..11) %}{% assign l = l | concat: l %}{% endfor %}")

HOSTILE = {
    # one expression: each step multiplies the size
    "replace-chain": "{{ 'abcdefghij' " + "| replace: '', 'aaaa' " * 13 + "}}",
    "replace-first-last": "{{ 'ab' " + "| replace: 'a', 'aaaaaaaaaa' " * 10 + "}}",
    "replace-with-itself": GROW + "{{ big | replace: '', big | size }}",
    "join-with-itself": GROW + "{{ big | split: '' | join: big | size }}",
    "append-chain": "{% assign s = 'x' %}{% for i in (1..40) %}{% assign s = s | append: s | append: s %}{% endfor %}",
    "prepend-chain": "{% assign s = 'x' %}{% for i in (1..40) %}{% assign s = s | prepend: s %}{% endfor %}",
    "capture-doubling": "{% assign s = 'ab' %}{% for i in (1..40) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}"
                        "{% endfor %}",
    "times-squaring": "{% assign x = 99999999999 %}{% for i in (1..40) %}{% assign x = x | times: x %}{% endfor %}",
    "concat-doubling": "{% assign l = 'a,b' | split: ',' %}{% for i in (1..60) %}{% assign l = l | concat: l %}"
                       "{% endfor %}{{ l | size }}",
    "shared-references": REFS + "{{ l | join: '' | size }}",
    "string-filter-of-references": REFS + "{{ l | upcase | size }}",
    # range literals are lazy; what reads every item must not
    "range-join": "{{ (1..100000000) | join: ',' }}",
    "range-reverse": "{{ (1..100000000) | reverse | first }}",
    "range-sort": "{{ (1..100000000) | sort | first }}",
    "range-sum": "{{ (1..100000000) | sum }}",
    "range-uniq": "{{ (1..100000000) | uniq | size }}",
    "range-concat": "{{ 'a' | split: ',' | concat: (1..100000000) | size }}",
    "range-beyond-int64": "{{ (1..100000000000000000000000000) | join }}",
    "for-reversed": "{% for i in (1..100000000) reversed %}{{ i }}{% endfor %}",
    "for-offset": "{% for i in (1..100000000) offset: 99999990 %}{{ i }}{% endfor %}",
    "tablerow": "{% tablerow i in (1..100000000) %}{{ i }}{% endtablerow %}",
    "nested-loops": "{% for a in (1..1000) %}{% for b in (1..1000) %}{% endfor %}{% endfor %}",
    "output": "{% for i in (1..9999) %}{{ 'xxxxxxxxxx' }}{% endfor %}",
    "date-format": GROW + "{% assign f = '%c' %}{% for i in (1..14) %}{% assign f = f | append: f %}{% endfor %}"
                   "{{ 'now' | date: f | size }}",
}


def peak_of(render: Any) -> tuple[object, int]:
    """What ``render()`` returned or raised, and the peak of memory it allocated."""
    tracemalloc.start()
    try:
        try:
            outcome: object = render()
        except Exception as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_template_fails_fast_with_small_memory(text: str) -> None:
    template = Template(text)  # each passes the check: only rendering can tell
    outcome, peak = peak_of(lambda: template.render({}, NOW))
    assert isinstance(outcome, TemplateError), outcome
    assert "MemoryError" not in str(outcome)
    assert peak < PEAK_BYTES


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_template_rejects_the_user_with_a_clear_error(text: str) -> None:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    rules = lapse_dsl.compile(f'segment user_id is set; send push daily 12:00 utc; message body "{escaped}"')
    outcome, peak = peak_of(lambda: rules.evaluate({"user_id": "u1"}, NOW))
    assert isinstance(outcome, UserDataError), outcome
    assert str(outcome).startswith("<string>:1: message body cannot be rendered: ")
    assert peak < PEAK_BYTES


# Filter chains built at random from the filters that grow values, applied in a loop.
STEPS = [
    "replace: '', 'abcdefgh'", "replace: 'a', s", "append: s", "prepend: s", "split: '' | join: 'xyzxyz'",
    "split: '' | join: s", "upcase", "escape", "url_encode", "newline_to_br", "base64_encode", "split: 'a'",
    "split: '' | concat: l | join: s", "times: 99999999999999999", "size",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(STEPS), min_size=1, max_size=6), st.integers(1, 30), st.text(max_size=8))
def test_random_growing_chains_stay_bounded(steps: list[str], rounds: int, seed: str) -> None:
    seed = seed.replace("'", "").replace("{", "").replace("}", "").replace("%", "")
    chain = " | ".join(steps)
    text = (f"{{% assign s = 'a{seed}' %}}{{% assign l = s | split: '' %}}{{% for i in (1..{rounds}) %}}"
            f"{{% assign s = s | {chain} %}}{{% endfor %}}{{{{ s | size }}}}")
    outcome, peak = peak_of(lambda: Template(text).render({}, NOW))
    assert isinstance(outcome, (str, TemplateError)), outcome
    assert peak < PEAK_BYTES


def test_join_counts_the_separators_between_nested_items() -> None:
    # Liquid flattens nested lists before joining: one item holding 3,000 is 2,999 separators
    nested = [["x"] * 3000]
    outcome, peak = peak_of(lambda: Template("{{ nested | join: sep }}").render({"nested": nested, "sep": "y" * 60_000}, NOW))
    assert isinstance(outcome, TemplateError) and "join: the result would be larger" in str(outcome)
    assert peak < PEAK_BYTES


def test_values_up_to_the_limit_still_work() -> None:
    big = "a" * MAX_VALUE_SIZE
    assert Template("{{ s | replace: 'a', 'b' | size }}").render({"s": big}, NOW) == str(MAX_VALUE_SIZE)
    assert Template("{{ (1..10) | join: ',' }}").render({}, NOW) == "1,2,3,4,5,6,7,8,9,10"
    assert Template("{{ (1..100000000) | size }} {{ (1..100000000) | first }}").render({}, NOW) == "100000000 1"
    with pytest.raises(TemplateError, match="replace: the result would be larger than 65536"):
        Template("{{ s | replace: 'a', 'bb' }}").render({"s": big}, NOW)


# ---------------------------------------------------------------------------------------------
# the clock is the evaluation's `now`

FAR = dt.datetime(1990, 6, 15, 12, 34, 56, tzinfo=UTC)  # far from any real date the tests run on


@pytest.fixture(params=["UTC", "Asia/Tokyo", "America/Anchorage"])
def machine_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The machine's own zone must not matter either."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{ 'now' | date: '%Y-%m-%d %H:%M:%S %z' }}", "1990-06-15 12:34:56 +0000"),
        ("{{ 'today' | date: '%Y-%m-%d' }}", "1990-06-15"),
        ("{{ now | date: '%Y-%m-%d %H:%M' }}", "1990-06-15 12:34"),
        ("{{ today }}", "1990-06-15"),
        ("{{ today | date: '%a %d %b' }}", "Fri 15 Jun"),
        ("{{ '10:00' | date: '%Y-%m-%d %H:%M' }}", "1990-06-15 10:00"),  # a date missing parts: filled from now
        ("{{ 'March 3' | date: '%Y-%m-%d' }}", "1990-03-03"),
        ("{{ 'Monday' | date: '%Y-%m-%d' }}", "1990-06-18"),
        ("{{ 0 | date: '%Y-%m-%d %H:%M %z' }}", "1970-01-01 00:00 +0000"),  # Unix times are UTC
        ("{{ '86400' | date: '%Y-%m-%d %H:%M' }}", "1970-01-02 00:00"),
        ("{{ 'now' | date: '%s %%s' }} {{ today | date: '%s' }}", "645453296 %s 645408000"),  # strftime's %s is local
        ("{{ '2026-11-30T09:15:00+01:00' | date: '%H:%M %z' }}", "09:15 +0100"),  # a full date is as given
        ("{{ 'not a date' | date: '%Y' }}", "not a date"),
    ],
)
def test_templates_read_the_evaluations_now(template: str, rendered: str, machine_zone: str) -> None:
    assert Template(template).render({}, FAR) == rendered


def test_a_decision_renders_with_its_now(machine_zone: str) -> None:
    rules = lapse_dsl.compile(
        "segment user_id is set; send push daily 12:00 utc; "
        "message title \"{{ 'now' | date: '%Y-%m-%d %H:%M' }}\" body \"{{ today }} {{ now | date: '%s' }}\""
    )
    for now in (FAR, dt.datetime(2031, 1, 2, 3, 4, tzinfo=UTC)):
        (decision,) = rules.evaluate({"user_id": "u1"}, now)
        assert decision.message == {
            "title": now.strftime("%Y-%m-%d %H:%M"), "body": f"{now.date()} {int(now.timestamp())}"}
        assert rules.reference().evaluate({"user_id": "u1"}, now) == (decision,)
