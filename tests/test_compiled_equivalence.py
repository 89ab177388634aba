"""The compiled path (generated code, cached tables) and the reference path (AST walk) must give
identical answers: every golden rule, every example campaign, seeded users with every kind of
value (missing, null, wrong type, boundaries, clock skew, bad zones), several instants, ticks and
histories. And the fast path's promise: a user a static condition excludes costs no schedule work.
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import lapse_dsl
from lapse_dsl import schedule

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.UTC
ZONES = ["America/New_York", "Europe/London", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kathmandu",
         "Pacific/Kiritimati", "Pacific/Pago_Pago", "Africa/Cairo", "Pacific/Apia", "Europe/Paris",
         "localtime", "+05:30", "america/new_york", "", None, 42]
INSTANTS = [
    dt.datetime(2026, 11, 30, tzinfo=UTC),
    dt.datetime(2026, 3, 8, 6, 0, tzinfo=UTC),  # New York spring-forward night
    dt.datetime(2026, 10, 31, 23, 0, tzinfo=UTC),  # the night before New York falls back
    dt.datetime(2026, 12, 3, 22, 45, tzinfo=UTC),  # a New York Thursday 17:45 occurrence
]


def rule_sets() -> list[tuple[str, lapse_dsl.RuleSet]]:
    identity = (ROOT / "tests" / "fixtures" / "identity.lapse").read_text(encoding="utf-8")
    return [
        ("identity.lapse", lapse_dsl.compile(identity, source="identity.lapse")),
        ("rules/", lapse_dsl.load(ROOT / "rules")),
    ]


def _time(rng: random.Random, now: dt.datetime) -> Any:
    kind = rng.random()
    moment = now - dt.timedelta(seconds=rng.randrange(-3 * 86400, 120 * 86400))  # some in the future
    if kind < 0.1:
        # exactly on a calendar boundary of a window (2w/3w/14d...) or one second off
        moment = now - dt.timedelta(weeks=rng.choice([1, 2, 3, 4, 6, 8])) + dt.timedelta(seconds=rng.choice([-1, 0, 1]))
    if kind < 0.5:
        return moment.isoformat().replace("+00:00", "Z")
    if kind < 0.7:
        return moment.timestamp()
    if kind < 0.8:
        return moment.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    if kind < 0.95:
        return None
    if kind < 0.96:
        return "not a time"
    return moment.isoformat()


def make_users(n: int, now: dt.datetime, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    users = []
    for i in range(n):
        user: dict[str, Any] = {"user_id": f"u{i}" if rng.random() > 0.01 else i}
        for name in ("last_used", "first_used", "trial_ended"):
            if rng.random() < 0.9:
                user[name] = _time(rng, now)
        choices: dict[str, list[Any]] = {
            "platform": ["ios", "android", "web", None],
            "sessions": [0, 3, 10, 11, 2.5, None],
            "push_opted_in": [True, False, None],
            "email_subscribed": [True, False, None],
            "country": ["US", "FR", "DE", None],
            "language": ["en", "fr", None],
            "app_version": ["5.0.0", "5.0.1", "6.0.2", None],
            "beta": [True, False, None],
            "timezone": ZONES,
        }
        for name, values in choices.items():
            if rng.random() < 0.9:
                user[name] = rng.choice(values)
        if rng.random() < 0.03:  # now and then a value of the wrong type
            user[rng.choice(["platform", "sessions", "push_opted_in"])] = rng.choice([7, "many", "yes"])
        if rng.random() < 0.8:
            user["custom"] = {"tier": rng.choice(["gold", "silver", None]), "score": rng.choice([1, 50, 99.5, None])}
        if rng.random() < 0.1:
            user["a"] = {"b": {"c": {"d": rng.choice(["x", "y"])}}}
        users.append(user)
    return users


def outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The answer, or the error as (type, message): both paths must fail the same way too."""
    try:
        return call(*args, **kwargs)
    except lapse_dsl.LapseError as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize(("name", "rules"), rule_sets(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("now", INSTANTS, ids=lambda d: d.isoformat())
def test_evaluate_and_in_segment_agree(name: str, rules: lapse_dsl.RuleSet, now: dt.datetime) -> None:
    reference = rules.reference()
    users = make_users(400, now, seed=now.day)
    since_values = [None, now - dt.timedelta(minutes=15), now - dt.timedelta(hours=3)]
    compared = 0
    for i, user in enumerate(users):
        since = since_values[i % 3]
        history = [{"campaign": r.name, "channel": r.channel, "at": now - dt.timedelta(days=i % 40)}
                   for r in rules.rules[: i % 3]]
        fast = outcome(rules.evaluate, user, now, since=since, history=history)
        slow = outcome(reference.evaluate, user, now, since=since, history=history)
        assert fast == slow, f"{name}: evaluate differs for {user} since={since}"
        assert outcome(rules.in_segment, user, now) == outcome(reference.in_segment, user, now)
        compared += isinstance(fast, tuple) and bool(fast) and isinstance(fast[0], lapse_dsl.Decision)
    assert compared > 20  # the users really reach decisions, not only errors


def spy_on_schedules(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The zones of every call evaluation makes to :func:`lapse_dsl.schedule.occurrences`, the one
    source of occurrences: wrapped wherever a lapse_dsl module holds it, whichever module that is.
    (This file's only reach into evaluation's inside: no public seam counts schedule work.)"""
    calls: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Iterator[schedule.Occurrence]:
        calls.append(args[1])
        return original(*args, **kwargs)

    original = schedule.occurrences
    for info in pkgutil.iter_modules(lapse_dsl.__path__):
        if info.name == "__main__":  # importing it runs the command line
            continue
        module = importlib.import_module(f"lapse_dsl.{info.name}")
        for name, value in vars(module).items():
            if value is original:
                monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("path", ["fused", "general"])  # the generated paths' promise: the reference searches every rule
def test_a_statically_excluded_user_costs_no_schedule_work(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = lapse_dsl.compile('segment last_used between 2w and 3w and platform = "ios"; send push weekly thu 17:45 local')
    now = INSTANTS[0]
    evaluate: Callable[..., tuple[lapse_dsl.Decision, ...]] = {
        "fused": rules.evaluate,
        "general": lambda user, now: rules.evaluate(user, now, since=now - dt.timedelta(minutes=15)),
    }[path]
    calls = spy_on_schedules(monkeypatch)
    user = {"user_id": "a", "platform": "android", "last_used": "2026-11-14T10:00:00Z", "timezone": "Europe/Paris"}
    assert evaluate(user, now) == ()
    assert calls == []
    assert evaluate({**user, "platform": "ios"}, now)
    assert calls and {str(zone) for zone in calls} == {"Europe/Paris"}  # the work of a user the static test leaves in


def test_a_rule_without_time_conditions_takes_the_first_occurrence() -> None:
    rules = lapse_dsl.compile('segment platform = "ios"; send push weekly thu 17:45 utc')
    (decision,) = rules.evaluate({"user_id": "a", "platform": "ios"}, INSTANTS[0])
    assert decision.send_at == dt.datetime(2026, 12, 3, 17, 45, tzinfo=UTC)
