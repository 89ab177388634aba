"""Which attributes are read for a user (docs/semantics.md, "Which attributes are read"): static
attributes always, a time attribute that only window conditions read only when a rule reading it
is not already excluded by its static conditions. Every path must agree: the fused functions, the
general path (since/history, a record that is not a dict, a rule set too big to fuse) and the
reference. Also the shapes of the answers: evaluate's tuple and in_segment's shared mapping."""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

import lapse_dsl
from lapse_dsl import UserDataError

UTC = dt.UTC
# Comfortably more campaigns than the fused functions take (docs/hosts.md: up to 256): the portfolio path.
TOO_BIG_TO_FUSE = 300
# Thu 2026-12-03 17:45 UTC; `between 2w and 3w` there is (11-12 17:45Z, 11-19 17:45Z].
T = dt.datetime(2026, 12, 3, 17, 45, tzinfo=UTC)
IN = "2026-11-15T10:00:00Z"
IOS = 'segment platform = "ios" and last_used between 2w and 3w; send push weekly thu 17:45 utc'


class Record(Mapping[str, Any]):
    """A user record that is a Mapping but not a dict: it takes the general path."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


# The paths whose in_segment answers are shared between calls with the same answers (small rule
# sets); the portfolio path's answers store only what is not False instead (docs/hosts.md).
SHARED = {"fused", "reference"}


def paths(rules: lapse_dsl.RuleSet) -> list[tuple[str, Callable[..., Any], Callable[..., Any]]]:
    """(name, evaluate(user, now), in_segment(user, at)) for every way a host reaches an answer."""
    reference = rules.reference()
    return [
        ("fused", rules.evaluate, rules.in_segment),
        ("general", lambda u, now: rules.evaluate(u, now, since=now - dt.timedelta(hours=1)),
         lambda u, at: rules.in_segment(Record(u), at)),
        ("mapping", lambda u, now: rules.evaluate(Record(u), now), lambda u, at: rules.in_segment(Record(u), at)),
        ("reference", reference.evaluate, reference.in_segment),
    ]


def test_the_entry_points_are_the_evaluators_own_functions() -> None:
    rules = lapse_dsl.compile(IOS)
    for function in (rules.evaluate, rules.in_segment):  # generated code, named as such in tracebacks
        assert function.__code__.co_filename.startswith("<lapse") and "fused" in function.__code__.co_filename
    assert "earliest qualifying occurrence" in (lapse_dsl.RuleSet.evaluate.__doc__ or "")
    assert not {"evaluate", "in_segment"} & set(vars(rules))  # declared on the class, never assigned on an instance
    reference = rules.reference()  # another rule set over the same engine, walking the AST
    assert not reference.evaluate.__code__.co_filename.startswith("<lapse")
    assert reference.rules == rules.rules and reference.plan is rules.plan


@pytest.mark.parametrize("bad", ["not a time", "2026-11-15 10:00", 1e20, [1]])
def test_a_malformed_window_attribute_of_an_excluded_user_is_not_read(bad: object) -> None:
    rules = lapse_dsl.compile(IOS)
    android = {"user_id": "a", "platform": "android", "last_used": bad}
    ios = {**android, "platform": "ios"}
    for name, evaluate, in_segment in paths(rules):
        assert evaluate(android, T) == (), name
        assert in_segment(android, T) == {"<string>:1": False}, name
        with pytest.raises(UserDataError) as info:
            evaluate(ios, T)
        assert info.value.attribute == "last_used", name
        with pytest.raises(UserDataError):
            in_segment(ios, T)


def test_an_unknown_static_answer_still_reads_the_window_attribute() -> None:
    rules = lapse_dsl.compile(IOS)
    unknown = {"user_id": "a", "last_used": "junk"}  # no platform: the static test is unknown, not false
    for name, evaluate, in_segment in paths(rules):
        with pytest.raises(UserDataError, match=r"^last_used: 'junk' is not an ISO-8601 time"):
            evaluate(unknown, T)
        with pytest.raises(UserDataError, match=r"^last_used"):
            in_segment(unknown, T)
        assert name


def test_a_window_attribute_is_read_when_any_rule_reading_it_needs_it() -> None:
    rules = lapse_dsl.compile(
        'campaign "ios" { segment platform = "ios" and last_used between 2w and 3w; send push weekly thu 17:45 utc }\n'
        'campaign "web" { segment platform = "web" and last_used more than 1d ago; send email daily 09:00 utc }\n'
        'campaign "all" { segment sessions > 3; send push daily 10:00 utc }\n'
    )
    android = {"user_id": "a", "platform": "android", "sessions": 5, "last_used": "junk"}
    for name, evaluate, in_segment in paths(rules):
        (d,) = evaluate(android, T)  # only "all" can select the user: it still gets its decision
        assert d.campaign == "all", name
        assert in_segment(android, T) == {"ios": False, "web": False, "all": True}
        with pytest.raises(UserDataError, match=r"^last_used"):
            evaluate({**android, "platform": "web"}, T)


def test_a_paused_campaign_does_not_make_evaluate_read_its_attributes() -> None:
    rules = lapse_dsl.compile(
        'campaign "old" { segment last_used between 2w and 3w; send push weekly thu 17:45 utc; status paused }\n'
        'campaign "new" { segment sessions > 3; send push daily 10:00 utc }\n'
    )
    user = {"user_id": "a", "sessions": 5, "last_used": "junk"}
    for name, evaluate, in_segment in paths(rules):
        assert [d.campaign for d in evaluate(user, T)] == ["new"], name
        with pytest.raises(UserDataError, match=r"^last_used"):
            in_segment(user, T)  # in_segment answers for every campaign, paused ones too


def test_static_attributes_are_validated_first_then_needed_window_attributes() -> None:
    rules = lapse_dsl.compile(
        'attribute zeta: string\n'
        'segment zeta = "z" or (first_used more than 1d ago and last_used between 2w and 3w); send push daily 9:00 utc'
    )
    both_bad = {"user_id": "a", "zeta": 7, "first_used": "junk", "last_used": "junk"}
    windows_bad = {"user_id": "a", "first_used": "junk", "last_used": "junk"}
    for name, evaluate, in_segment in paths(rules):
        with pytest.raises(UserDataError, match=r"^zeta: expected a string"):
            evaluate(both_bad, T)  # zeta is static: read before the window attributes, whatever the names
        with pytest.raises(UserDataError, match=r"^first_used"):
            evaluate(windows_bad, T)  # then the window attributes, in name order
        with pytest.raises(UserDataError, match=r"^first_used"):
            in_segment(windows_bad, T)
        # zeta = "z" makes the segment true whatever the windows say: they are not read
        (d,) = evaluate({**windows_bad, "zeta": "z"}, T)
        assert d.send_at == dt.datetime(2026, 12, 4, 9, 0, tzinfo=UTC), name
        assert in_segment({**windows_bad, "zeta": "z"}, T) == {"<string>:2": True}


def test_a_time_attribute_a_static_condition_reads_is_always_validated() -> None:
    rules = lapse_dsl.compile(
        'campaign "a" { segment platform = "ios" and last_used between 2w and 3w; send push weekly thu 17:45 utc }\n'
        'campaign "b" { segment last_used before 2026-01-01T00:00:00Z; send push daily 10:00 utc }\n'
    )
    android = {"user_id": "a", "platform": "android", "last_used": "junk"}
    for name, evaluate, in_segment in paths(rules):
        with pytest.raises(UserDataError, match=r"^last_used"):
            evaluate(android, T)
        with pytest.raises(UserDataError, match=r"^last_used"):
            in_segment(android, T)
        assert name


def test_explain_notes_a_malformed_attribute_evaluation_did_not_need() -> None:
    rules = lapse_dsl.compile(IOS)
    explanation = rules.explain({"user_id": "a", "platform": "android", "last_used": "junk"}, T)
    assert explanation.rules[0].decision is None
    assert any(note.startswith("last_used: 'junk' is not an ISO-8601 time") and "not needed" in note
               for note in explanation.warnings)
    with pytest.raises(UserDataError, match=r"^last_used"):
        rules.explain({"user_id": "a", "platform": "ios", "last_used": "junk"}, T)


def test_clock_skew_of_a_window_attribute_is_reported_when_it_is_read() -> None:
    rules = lapse_dsl.compile('segment platform = "ios" and last_used less than 30d ago; send push daily 18:00 utc')
    future = {"user_id": "a", "platform": "ios", "last_used": "2026-12-10T00:00:00Z"}
    for name, evaluate, _ in paths(rules):
        (d,) = evaluate(future, T)
        assert d.warnings == ("last_used 2026-12-10T00:00:00+00:00 is later than now; counted as now (clock skew)",), name


def test_in_segment_needs_no_user_id_but_names_it_in_errors() -> None:
    rules = lapse_dsl.compile(IOS)
    for name, evaluate, in_segment in paths(rules):
        assert in_segment({"platform": "ios", "last_used": IN}, T) == {"<string>:1": True}, name
        with pytest.raises(UserDataError, match="no user_id"):
            evaluate({"platform": "ios", "last_used": IN}, T)
        with pytest.raises(UserDataError) as info:
            in_segment({"user_id": 42, "platform": "ios", "last_used": "junk"}, T)
        assert info.value.user_id == "42"
        with pytest.raises(UserDataError) as info:
            in_segment({"platform": "ios", "last_used": "junk"}, T)
        assert info.value.user_id is None
    with pytest.raises(UserDataError, match="must be an object"):
        rules.in_segment(["not", "a", "record"], T)  # type: ignore[arg-type]


def test_answers_are_immutable() -> None:
    rules = lapse_dsl.compile(
        'campaign "a" { segment platform = "ios" and last_used between 2w and 3w; send push weekly thu 17:45 utc }\n'
        'campaign "b" { segment platform = "web"; send push daily 10:00 utc }\n'
    )
    for name, evaluate, in_segment in paths(rules):
        none = evaluate({"user_id": "a", "platform": "android"}, T)
        assert type(none) is tuple and none == (), name
        decisions = evaluate({"user_id": "a", "platform": "ios", "last_used": IN}, T)
        assert type(decisions) is tuple and len(decisions) == 1
        first = in_segment({"platform": "ios", "last_used": IN}, T)
        second = in_segment({"platform": "ios", "last_used": "2026-11-16T00:00:00Z"}, T)
        assert isinstance(first, Mapping) and first == second
        if name in SHARED:
            assert isinstance(first, types.MappingProxyType) and first is second
        assert first == {"a": True, "b": False} and dict(first) == {"a": True, "b": False}
        assert list(first) == ["a", "b"] and len(first) == 2 and first["b"] is False
        with pytest.raises(KeyError):
            first["c"]
        with pytest.raises(TypeError):
            first["a"] = False  # type: ignore[index]


def test_answers_stay_correct_past_the_shared_cache() -> None:
    # 13 campaigns, one per boolean attribute: 8,192 answer combinations, more than the shared
    # mappings keep, whatever that bound is (the `any` below checks that the test went past it)
    names = [f"b{i}" for i in range(13)]
    rules = lapse_dsl.compile("\n".join(
        f'attribute {name}: boolean\ncampaign "{name}" {{ segment {name}; send push daily 10:00 utc }}' for name in names))
    users = [{name: bool(combination >> i & 1) for i, name in enumerate(names)} for combination in range(1 << len(names))]
    for name, _, in_segment in paths(rules):
        answers = [in_segment(user, T) for user in users]
        assert [dict(a) for a in answers] == users, name
        again = [in_segment({**user}, T) for user in users]
        assert again == answers
        if name in SHARED:
            assert again[0] is answers[0]  # the first combinations are kept: shared
            assert any(a is not b for a, b in zip(again, answers, strict=True)), "the cache holds every combination"
        assert in_segment(dict.fromkeys(names), T) == dict.fromkeys(names)  # unknown: past the cache as before it


def test_a_rule_set_too_big_to_fuse_answers_the_same() -> None:
    big = lapse_dsl.compile("\n".join(
        f'campaign "c{i}" {{ segment platform = "ios" and last_used between {2 + i % 3}w and {3 + i % 3}w; '
        f"send push weekly thu 17:45 local }}"
        for i in range(TOO_BIG_TO_FUSE)
    ))
    assert not big.evaluate.__code__.co_filename.startswith("<lapse")  # not fused: the portfolio path
    reference = big.reference()
    users = [{"user_id": f"u{d}", "platform": "ios", "last_used": f"2026-11-{d:02d}T10:00:00Z",
              "timezone": "Europe/Paris"} for d in range(1, 29, 3)]
    for user in users:
        assert big.evaluate(user, T) == reference.evaluate(user, T)
        assert big.in_segment(user, T) == reference.in_segment(user, T)
    assert sum(len(big.evaluate(user, T)) for user in users) > len(big.rules)  # most users get many decisions
    assert big.evaluate({**users[0], "platform": "android", "last_used": "junk"}, T) == ()


def test_a_window_attribute_many_rules_read() -> None:
    platforms = ["ios", "android", "web", "tv", "watch"]  # five rules: past the direct test of answers
    rules = lapse_dsl.compile("\n".join(
        f'campaign "{p}" {{ segment platform = "{p}" and push_opted_in and last_used between 2w and 3w; '
        f"send push weekly thu 17:45 utc }}" for p in platforms))
    for name, evaluate, in_segment in paths(rules):
        nobody = {"user_id": "a", "platform": "car", "push_opted_in": True, "last_used": "junk"}
        assert evaluate(nobody, T) == () and set(in_segment(nobody, T).values()) == {False}, name
        opted_out = {**nobody, "platform": "watch", "push_opted_in": False}
        assert evaluate(opted_out, T) == ()
        for platform in platforms:
            with pytest.raises(UserDataError, match=r"^last_used"):
                evaluate({**nobody, "platform": platform}, T)
            (d,) = evaluate({**nobody, "platform": platform, "last_used": IN}, T)
            assert d.campaign == platform
            unknown = in_segment({**nobody, "platform": platform, "push_opted_in": None, "last_used": IN}, T)
            assert unknown == {p: None if p == platform else False for p in platforms}
