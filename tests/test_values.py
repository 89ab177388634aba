"""User values on every path (issue 11, items 1, 3, 4 and 22).

- Clock skew clamps only ``last_used`` and ``first_used``: a declared time attribute in the future
  is taken as given by every predicate on every path (fused, compiled, reference, explain, SQL).
- Numbers and strings of any accepted type (Decimal, subclasses of int/float/str, Fraction) read
  the same way on every path, and the fast paths and ``reference()`` agree on every value,
  errors and their messages included (a Hypothesis property over values of many types).
- The naive-time message names the option as the caller sets it.
"""

from __future__ import annotations

import datetime as dt
import enum
import fractions
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl import UserDataError, cli
from lapse_dsl.errors import option_hint, render
from lapse_dsl.sql import candidates_sql, next_occurrence_sql, segment_sql
from lapse_dsl.userdata import CLOCK_SKEW_ATTRIBUTES, as_number

duckdb = pytest.importorskip("duckdb")

UTC = dt.UTC
AT = dt.datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # an occurrence of `daily 10:00 utc`
SEND = "send push daily 10:00 utc"
DAY = dt.timedelta(days=1)


def z(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _id(value: object) -> str:
    """A test id naming the value's type too ('ios' and Tag('ios') are different cases)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"{type(value).__name__}:{value.bit_length()}-bits"
    if isinstance(value, (set, frozenset)):  # the same id in every process, whatever the hash seed
        return f"{type(value).__name__}:{sorted(map(str, value))}"[:40]
    return f"{type(value).__name__}:{str(value)[:30]}"


def paths(rules: lapse_dsl.RuleSet) -> dict[str, Callable[..., Any]]:
    """Each way of asking ``evaluate``: the fused function (a dict), the general compiled path (any
    other mapping), and the reference (AST walk), on both kinds of record."""
    reference = rules.reference()
    return {
        "fused": rules.evaluate,
        "compiled": lambda user, now: rules.evaluate(MappingProxyType(user), now),
        "reference": reference.evaluate,
        "reference-mapping": lambda user, now: reference.evaluate(MappingProxyType(user), now),
    }


def segment_paths(rules: lapse_dsl.RuleSet) -> dict[str, Callable[..., Any]]:
    reference = rules.reference()
    return {
        "fused": lambda user, at: dict(rules.in_segment(user, at)),
        "compiled": lambda user, at: dict(rules.in_segment(MappingProxyType(user), at)),
        "reference": lambda user, at: dict(reference.in_segment(user, at)),
    }


# -- item 1: clock skew clamps only last_used and first_used ------------------------------------

# predicate -> the truth at AT of a value taken as given (the oracle; `daily 10:00 utc` measures
# calendar days on the UTC clock, so T(-1d) is exactly 24 hours back)
PREDICATES: dict[str, Callable[[dt.datetime], bool]] = {
    "after 2026-12-05": lambda x: x > z("2026-12-05T00:00:00Z"),
    "before 2026-12-05": lambda x: x < z("2026-12-05T00:00:00Z"),
    "after 2026-12-04T12:00:00Z": lambda x: x > z("2026-12-04T12:00:00Z"),
    "before 2026-12-04T12:00:00Z": lambda x: x < z("2026-12-04T12:00:00Z"),
    "between 1d and 2d": lambda x: AT - 2 * DAY < x <= AT - DAY,
    "more than 1d ago": lambda x: x < AT - DAY,
    "less than 1d ago": lambda x: x > AT - DAY,
    "after 2026-12-02": lambda x: x > z("2026-12-02T00:00:00Z"),
}
# the class of values: the future near and far, on and around the instant, and the past
VALUES = (
    AT + dt.timedelta(microseconds=1), AT + dt.timedelta(hours=1), AT + 20 * DAY, AT + 400 * DAY,
    z("2026-12-05T00:00:00.000001Z"), z("2026-12-04T12:00:00Z"), AT, AT - DAY, AT - 1.5 * DAY, AT - 3 * DAY,
)
DECLARED = ("trial_ends", "renewal.at")  # declared by the file; renewal.at is nested
CLAMPED = ("last_used", "first_used")


def _skew_rules(attribute: str) -> lapse_dsl.RuleSet:
    declarations = "" if attribute in CLAMPED else f"attribute {attribute}: time\n"
    campaigns = "".join(f'campaign "p{i}" {{ segment {attribute} {text}; {SEND} }}\n'
                        for i, text in enumerate(PREDICATES))
    return lapse_dsl.compile(declarations + campaigns)


def _record(attribute: str, value: object, user_id: str = "u") -> dict[str, Any]:
    head, _, leaf = attribute.partition(".")
    return {"user_id": user_id, head: {leaf: value} if leaf else value}


def _expected(attribute: str, value: dt.datetime) -> dict[str, bool]:
    seen = min(value, AT) if attribute in CLOCK_SKEW_ATTRIBUTES else value
    return {f"p{i}": oracle(seen) for i, oracle in enumerate(PREDICATES.values())}


def test_only_last_used_and_first_used_are_clamped() -> None:
    assert frozenset(CLAMPED) == CLOCK_SKEW_ATTRIBUTES


@pytest.mark.parametrize("attribute", DECLARED + CLAMPED, ids=_id)
def test_future_times_on_every_evaluation_path(attribute: str) -> None:
    rules = _skew_rules(attribute)
    for value in VALUES:
        epoch = [int(value.timestamp())] if value.microsecond == 0 else []
        for form in (value, value.isoformat().replace("+00:00", "Z"), *epoch):
            user = _record(attribute, form)
            expected = _expected(attribute, value)
            for name, in_segment in segment_paths(rules).items():
                assert in_segment(user, AT) == expected, (name, form)
            for name, evaluate in paths(rules).items():
                decisions = evaluate(user, AT)
                assert {d.campaign for d in decisions if d.send_at == AT} == {k for k, v in expected.items() if v}, (
                    name, form)
                skewed = attribute in CLAMPED and value > AT
                for d in decisions:
                    assert any("clock skew" in w for w in d.warnings) == skewed, (name, form, d.warnings)
            explanation = rules.explain(user, AT)
            assert {t.campaign: t.in_segment for t in explanation.rules} == expected, form
            assert any("clock skew" in w for w in explanation.warnings) == (attribute in CLAMPED and value > AT)


def test_a_trial_ending_in_the_future_is_not_a_trial_that_ended() -> None:
    # the example: 'ended 1-2 days ago' must not send 19 days before the trial ends
    rules = lapse_dsl.compile(f"attribute trial_ends: time\nsegment trial_ends between 1d and 2d; {SEND}")
    user = {"user_id": "u", "trial_ends": "2026-12-20T12:00:00Z"}
    (d,) = rules.evaluate(user, AT)
    assert d.send_at == z("2026-12-22T10:00:00Z")  # the first 10:00 that is 1 to 2 days after the end
    assert d.warnings == ()


@pytest.fixture
def con() -> Iterator[Any]:
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.mark.warehouse
@pytest.mark.parametrize("attribute", DECLARED + CLAMPED, ids=_id)
def test_future_times_in_sql_on_duckdb(con: Any, attribute: str) -> None:
    rules = _skew_rules(attribute)
    column = attribute.replace(".", "_")
    con.execute(f'CREATE TABLE users (user_id VARCHAR, timezone VARCHAR, "{column}" TIMESTAMPTZ)')
    con.executemany("INSERT INTO users VALUES (?, NULL, ?)", [[f"v{i}", v] for i, v in enumerate(VALUES)])
    for rule in rules.rules:
        expected = {f"v{i}" for i, v in enumerate(VALUES) if _expected(attribute, v)[rule.name]}
        plugin = {f"v{i}" for i, v in enumerate(VALUES) if rules.in_segment(_record(attribute, v), AT)[rule.name]}
        assert plugin == expected, rule.name
        for make in (segment_sql, next_occurrence_sql):  # AT is the rule's next occurrence
            sql = make(rules, dialect="duckdb", at=AT, rule=rule.name)
            assert {row[0] for row in con.execute(sql).fetchall()} == expected, (rule.name, make.__name__)
        candidates = {row[0] for row in con.execute(candidates_sql(rules, dialect="duckdb", rule=rule.name)).fetchall()}
        assert candidates >= expected, rule.name


def test_sql_compares_a_declared_time_column_as_is() -> None:
    rules = lapse_dsl.compile(f"attribute trial_ends: time\nsegment trial_ends after 2026-12-05T00:00:00Z; {SEND}")
    sql = segment_sql(rules, dialect="postgres", at=AT)
    assert "CASE" not in sql and '"u"."trial_ends" > CAST' in sql
    clamped = lapse_dsl.compile(f"segment first_used after 2026-12-05T00:00:00Z; {SEND}")
    assert "CASE WHEN" in segment_sql(clamped, dialect="postgres", at=AT)


# -- items 3 and 4: numbers and strings of every accepted type, the same on every path -------------


class Level(enum.IntEnum):
    ONE = 1
    THREE = 3
    SEVEN = 7


class Platform(enum.StrEnum):
    IOS = "ios"
    WEB = "web"


class Tag(str):
    __slots__ = ()


class Ratio(float):
    __slots__ = ()


class Count(int):
    __slots__ = ()


VALUE_RULES = lapse_dsl.compile(f"""attribute score: number
attribute plan: string
attribute renews: time
campaign "num" {{ segment sessions > 2.5 and sessions != 7; {SEND} }}
campaign "eq" {{ segment sessions = 3 or score in [0.1, 2, -5]; {SEND} }}
campaign "le" {{ segment score <= 0.1; {SEND} }}
campaign "str" {{ segment platform = "ios" or plan in ["gold", "x"]; {SEND} }}
campaign "bool" {{ segment push_opted_in and not email_subscribed; {SEND} }}
campaign "time" {{ segment last_used between 1d and 30d and renews after 2026-12-01T00:00:00Z; send push daily 10:00 local }}
""")
NUMBER_ATTRIBUTES = ("sessions", "score")

HUGE = 10**5000  # more digits than Python prints (4,300)
_deep: list[Any] = []
for _ in range(5000):  # deeper than any recursive repr could print
    _deep = [_deep]

SPECIAL = (
    Decimal("sNaN"), Decimal("-NaN"), Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("1E+999999999"),
    Decimal("1E-999999999"), Decimal("3.000"), Decimal("0.1"), Decimal("9007199254740993"), Decimal("1795128300.5"),
    HUGE, -HUGE, float("nan"), float("inf"), True, False, b"ios", bytearray(b"3"), object(),
    fractions.Fraction(10**400, 3), fractions.Fraction(5, 2), fractions.Fraction(6, 2), 3 + 0j,
    dt.date(2026, 11, 20), dt.datetime(2026, 11, 20, 10, 0), dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    "ios", "gold", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00", "Europe/Paris", "", "not a time",
    Tag("ios"), Tag("Europe/Paris"), Tag("2026-11-20T10:00:00Z"), Tag(""), Platform.IOS, Level.THREE, Count(42), Ratio(0.1),
)
values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.decimals(), st.fractions(),
    st.sampled_from(SPECIAL), st.sampled_from(list(Level)), st.sampled_from(list(Platform)),
    st.text(max_size=4).map(Tag), st.floats().map(Ratio), st.integers().map(Count),
    st.binary(max_size=3), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.datetimes(timezones=st.just(UTC)), st.integers(1_700_000_000, 1_800_000_000).map(Decimal),
)
# values each attribute's rules can accept, in every accepted type, so that many records get as
# far as a decision; any value of `values` now and then
numbers = st.one_of(
    st.integers(-8, 8), st.floats(-8, 8), st.decimals(-8, 8, places=2), st.fractions(-8, 8), st.sampled_from(list(Level)),
    st.integers(-8, 8).map(Count), st.floats(-8, 8).map(Ratio), st.sampled_from([Decimal("0.1"), 0.1, Decimal("2.5")]),
)
strings = st.sampled_from(["ios", "gold", "web", "x", ""]).flatmap(lambda t: st.sampled_from([t, Tag(t)])) | st.sampled_from(
    list(Platform))
booleans = st.booleans()
times = st.integers(-40 * 86400, 40 * 86400).map(lambda s: AT + dt.timedelta(seconds=s)).flatmap(
    lambda t: st.sampled_from([t, t.isoformat(), Tag(t.isoformat()), Decimal(int(t.timestamp())), int(t.timestamp()),
                               Count(int(t.timestamp())), Ratio(t.timestamp())]))
zones = st.sampled_from(["Europe/Paris", "Asia/Kolkata", "nowhere", ""]).flatmap(lambda t: st.sampled_from([t, Tag(t)]))
ids = st.sampled_from(["u1", Tag("u1"), 42, Decimal(42), Level.SEVEN, Count(7)])
KINDS = {"user_id": ids, "timezone": zones, "sessions": numbers, "score": numbers, "platform": strings, "plan": strings,
         "push_opted_in": booleans, "email_subscribed": booleans, "last_used": times, "renews": times}
users = st.fixed_dictionaries(
    {}, optional={name: st.tuples(st.integers(0, 11), kind, values).map(lambda t: t[2] if t[0] == 0 else t[1])
                  for name, kind in KINDS.items()}
).map(lambda u: u if "user_id" in u else {"user_id": "u", **u})
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """A call's answer, or its error as (type, message, attribute, user_id); any other exception
    fails the test (it would be a traceback in front of a user)."""
    try:
        return ("ok", call())
    except UserDataError as exc:
        return ("error", type(exc), str(exc), exc.attribute, exc.user_id)


@FAST
@given(users)
def test_fast_paths_and_reference_agree_on_every_value(user: dict[str, Any]) -> None:
    for ways in (paths(VALUE_RULES), segment_paths(VALUE_RULES)):
        outcomes = [outcome(lambda f=f: f(user, AT)) for f in ways.values()]  # type: ignore[misc]
        assert all(o == outcomes[0] for o in outcomes), dict(zip(ways, outcomes, strict=True))
        event(f"{outcomes[0][0]}: {len(outcomes[0][1]) if outcomes[0][0] == 'ok' else outcomes[0][3]}")


def _plain(value: object) -> object:
    """The plain value a record would hold for the same number or string (written independently of
    lapse's reader): a whole Decimal or Fraction as its exact int, another as the float a JSON
    reader makes of its digits; a subclass as its base value."""
    if isinstance(value, Decimal) and value.is_finite():
        if value.adjusted() >= 4300:  # too long to be an int here too
            return float(value)
        return int(value) if value == value.to_integral_value() else json.loads(str(value).replace("E", "e"))
    if isinstance(value, fractions.Fraction):
        return int(value) if value.denominator == 1 else float(value) if abs(value) < 10**300 else value
    if isinstance(value, bool) or value is None:
        return value
    for base in (int, float, str):
        if isinstance(value, base):
            return base(value) if base is not str else str.__str__(value)
    return value


@FAST
@given(users)
def test_a_value_reads_as_its_plain_equivalent(user: dict[str, Any]) -> None:
    # Messages quote a value as given (an error's repr, a zone fallback's warning): compared apart.
    plain = {k: _plain(v) for k, v in user.items()}
    for name, evaluate in paths(VALUE_RULES).items():
        got, want = outcome(lambda: evaluate(user, AT)), outcome(lambda: evaluate(plain, AT))  # noqa: B023
        assert got[0] == want[0], name
        if got[0] == "ok":
            assert [attrs.evolve(d, warnings=()) for d in got[1]] == [attrs.evolve(d, warnings=()) for d in want[1]], name
            assert [len(d.warnings) for d in got[1]] == [len(d.warnings) for d in want[1]], name
        else:  # both rejected, for the same attribute
            assert got[3] == want[3], name


@pytest.mark.parametrize(
    ("attribute", "value", "campaigns"),
    [
        ("sessions", Decimal("3"), {"num", "eq"}),
        ("sessions", Decimal("3.000"), {"num", "eq"}),
        ("sessions", Decimal("7.0"), set()),
        ("sessions", Decimal("2.5"), set()),
        ("sessions", Decimal("2.500000000000000000001"), set()),  # the float a JSON reader makes: 2.5
        ("sessions", Decimal("Infinity"), {"num"}),
        ("sessions", Level.THREE, {"num", "eq"}),
        ("sessions", Level.SEVEN, set()),
        ("sessions", Count(3), {"num", "eq"}),
        ("sessions", Ratio(3.0), {"num", "eq"}),
        ("sessions", fractions.Fraction(6, 2), {"num", "eq"}),
        ("sessions", fractions.Fraction(7, 2), {"num"}),
        ("score", Decimal("0.1"), {"eq", "le"}),  # what 0.1 means in JSON and in the rule
        ("score", Decimal("0.10"), {"eq", "le"}),
        ("score", Ratio(0.1), {"eq", "le"}),
        ("score", Decimal("2"), {"eq"}),
        ("score", Decimal("-5.0"), {"eq", "le"}),
        ("score", Decimal("-Infinity"), {"le"}),
        ("platform", Tag("ios"), {"str"}),
        ("platform", Platform.IOS, {"str"}),
        ("plan", Tag("gold"), {"str"}),
    ],
    ids=_id,
)
def test_numbers_and_strings_of_every_type(attribute: str, value: object, campaigns: set[str]) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        decisions = evaluate({"user_id": "u", attribute: value}, AT)
        assert {d.campaign for d in decisions if d.send_at == AT} == campaigns, name


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("-NaN"), float("nan"), Ratio("nan")],
                         ids=["Decimal-NaN", "Decimal-sNaN", "Decimal-minus-NaN", "float-nan", "float-subclass-nan"])
@pytest.mark.parametrize("attribute", NUMBER_ATTRIBUTES, ids=_id)
def test_nan_is_not_a_number_whatever_its_type(attribute: str, value: object) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        with pytest.raises(UserDataError, match=rf"^{attribute}: NaN is not a number$"):
            evaluate({"user_id": "u", attribute: value}, AT)
        assert name


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("sessions", True, "sessions: expected a number, got bool True"),
        ("sessions", "3", "sessions: expected a number, got str '3'"),
        ("sessions", 3 + 0j, "sessions: expected a number, got complex (3+0j)"),
        ("sessions", b"3", "sessions: expected a number, got bytes b'3'"),
        ("platform", b"ios", "platform: expected a string, got bytes b'ios'"),
        ("platform", 3, "platform: expected a string, got int 3"),
        pytest.param("platform", HUGE, "platform: expected a string, got int <an int of 16610 bits>", id="huge-int"),
        pytest.param("platform", _deep, "platform: expected a string, got list [[[[[...]]]]]", id="deep-list"),
        ("push_opted_in", 1, "push_opted_in: expected a boolean, got int 1"),
        ("push_opted_in", Level.ONE, "push_opted_in: expected a boolean, got Level <Level.ONE: 1>"),
    ],
    ids=_id,
)
def test_wrong_types_are_rejected_the_same_way_everywhere(attribute: str, value: object, message: str) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        with pytest.raises(UserDataError) as info:
            evaluate({"user_id": "u", attribute: value}, AT)
        assert str(info.value) == message, name
        assert info.value.attribute == attribute


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(Decimal("42"), "42"), (Decimal("42.000"), "42"), (Level.SEVEN, "7"), (Count(42), "42"),
     (fractions.Fraction(84, 2), "42"), (Tag("u-1"), "u-1"), (Platform.WEB, "web"), (10**30, str(10**30))],
    ids=_id,
)
def test_user_id_of_every_accepted_type(raw: object, expected: str) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        decisions = evaluate({"user_id": raw, "push_opted_in": True, "email_subscribed": False}, AT)
        assert [d.user_id for d in decisions] == [expected], name
        assert type(decisions[0].user_id) is str


@pytest.mark.parametrize(
    ("raw", "message"),
    [(Decimal("4.2"), "user_id must be a string, not Decimal"), (Ratio(42.0), "user_id must be a string, not Ratio"),
     (True, "user_id must be a string, not bool"), (Decimal("NaN"), "user_id must be a string, not Decimal"),
     (Tag(""), "user record has no user_id"), pytest.param(HUGE, "user_id is a number too long to be an id", id="huge")],
    ids=_id,
)
def test_user_id_rejections(raw: object, message: str) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        with pytest.raises(UserDataError, match=f"^{message}$"):
            evaluate({"user_id": raw, "push_opted_in": True}, AT)
        assert name


@pytest.mark.parametrize("timezone", [Tag("Europe/Paris"), Platform.IOS, "Europe/Paris"], ids=_id)
def test_timezone_of_a_str_subclass(timezone: str) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        (d,) = evaluate({"user_id": "u", "timezone": timezone, "last_used": AT - 2 * DAY, "renews": AT}, AT)
        assert d.campaign == "time"
        assert d.timezone == (str.__str__(timezone) if timezone != Platform.IOS else "UTC"), name


@pytest.mark.parametrize(
    ("value", "plain"),
    [(Decimal("1795128300"), 1795128300), (Decimal("1795128300.5"), 1795128300.5), (Count(1795128300), 1795128300),
     (Ratio(1795128300.25), 1795128300.25), (fractions.Fraction(3590256601, 2), 1795128300.5),
     (Tag("2026-11-19T22:45:00Z"), "2026-11-19T22:45:00Z")],
    ids=_id,
)
def test_epoch_seconds_and_time_strings_of_every_type(value: object, plain: object) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        user = {"user_id": "u", "renews": AT}
        assert evaluate({**user, "last_used": value}, AT) == evaluate({**user, "last_used": plain}, AT), name
        assert evaluate({**user, "last_used": value}, AT), name


@pytest.mark.parametrize(
    ("value", "message"),
    [(Decimal("NaN"), "last_used: Decimal('NaN') is not a time"),
     (Decimal("Infinity"), "last_used: Decimal('Infinity') is not a time"),
     (float("inf"), "last_used: inf is not a time"),
     (Decimal("1E+30"), "last_used: epoch seconds Decimal('1E+30') are out of range"),
     pytest.param(HUGE, "last_used: epoch seconds <an int of 16610 bits> are out of range", id="huge"),
     (True, "last_used: expected a time (ISO-8601 string, epoch seconds or datetime), got bool")],
    ids=_id,
)
def test_non_finite_and_out_of_range_epoch_seconds(value: object, message: str) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        with pytest.raises(UserDataError) as info:
            evaluate({"user_id": "u", "last_used": value, "renews": AT}, AT)
        assert str(info.value) == message, name


def test_as_number_of_non_integral_decimals_is_what_json_reads() -> None:
    for text in ("0.1", "2.5", "-1e-7", "123456789.123456789", "1e-400", "4.9e-324", "0.30000000000000004441"):
        assert as_number(Decimal(text)) == json.loads(text), text


# -- item 22 (runtime side): the naive-time message names the option where the user is ------------


@pytest.mark.parametrize("value", [dt.datetime(2026, 11, 19, 22, 45), "2026-11-19T22:45:00", "2026-11-19", Tag("2026-11-19")],
                         ids=_id)
@pytest.mark.parametrize("attribute", ["last_used", "trial_ends"], ids=_id)
def test_naive_time_error_names_the_option_per_surface(attribute: str, value: object) -> None:
    rules = lapse_dsl.compile(f"attribute trial_ends: time\nsegment {attribute} more than 1d ago; {SEND}")
    for name, evaluate in paths(rules).items():
        with pytest.raises(UserDataError) as info:
            evaluate({"user_id": "u", attribute: value}, AT)
        exc = info.value
        assert exc.option == "naive_timezone", name
        assert str(exc) == exc.render("python") == render(exc, "python")
        assert str(exc).endswith("has no UTC offset; add one (such as Z) or compile with naive_timezone="), name
        assert exc.render("cli").endswith("has no UTC offset; add one (such as Z) or use --naive-timezone"), name
        assert "naive_timezone=" not in render(exc, "cli")


def test_option_hints_per_surface() -> None:
    assert option_hint("naive_timezone", "cli") == "use --naive-timezone"
    assert option_hint("default_timezone", "cli") == "use --default-timezone"
    assert option_hint("naive_timezone", "python") == "compile with naive_timezone="
    plain = UserDataError("sessions: expected a number, got str 'x'")
    assert render(plain, "cli") == render(plain, "python") == str(plain)
    assert render(ValueError("x"), "cli") == "x"


def test_naive_history_time_names_the_option_too() -> None:
    rules = lapse_dsl.compile(f"segment push_opted_in; {SEND}")
    with pytest.raises(UserDataError) as info:
        rules.evaluate({"user_id": "u", "push_opted_in": True}, AT,
                       history=[{"campaign": "x", "channel": "push", "at": "2026-11-19T22:45:00"}])
    assert info.value.render("cli").endswith("or use --naive-timezone")



def test_naive_time_error_names_the_flag_on_the_command_line(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.lapse"
    rules.write_text(f"segment last_used more than 1d ago; {SEND}\n", encoding="utf-8")
    naive = {"user_id": "u1", "last_used": "2026-11-19T22:45:00"}
    now = ["--now", "2026-12-03T10:00:00Z"]
    assert cli.main(["explain", str(rules), "--user", json.dumps(naive), *now]) == 1
    err = capsys.readouterr().err
    assert err.rstrip().endswith("has no UTC offset; add one (such as Z) or use --naive-timezone"), err
    users, errors = tmp_path / "users.jsonl", tmp_path / "errors.jsonl"
    users.write_text(json.dumps(naive) + "\n", encoding="utf-8")
    cli.main(["run", str(rules), "--users", str(users), *now, "--out", str(tmp_path / "out.jsonl"), "--errors", str(errors)])
    (rejection,) = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert rejection["error"].endswith("or use --naive-timezone"), rejection
    assert "naive_timezone=" not in err + rejection["error"]


@pytest.mark.parametrize(
    "timezone",
    [pytest.param(HUGE, id="huge-int"), pytest.param(_deep, id="deep-list"), pytest.param("x" * 100_000, id="long-string"),
     pytest.param(Tag("Nowhere/Land"), id="str-subclass"), pytest.param(Decimal("sNaN"), id="decimal-snan")],
)
def test_a_hostile_timezone_falls_back_with_a_short_warning(timezone: object) -> None:
    for name, evaluate in paths(VALUE_RULES).items():
        (d,) = evaluate({"user_id": "u", "timezone": timezone, "last_used": AT - 2 * DAY, "renews": AT}, AT)
        assert d.timezone == "UTC", name
        (warning,) = d.warnings
        assert warning.startswith("timezone ") and warning.endswith("is not a valid IANA zone; delivered in UTC "
                                                                    "(the default_timezone option)"), (name, warning[:200])
        assert len(warning) < 200, name


@pytest.mark.warehouse
def test_decimal_columns_of_a_database_run_like_the_same_numbers_in_json(tmp_path: Any,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # issue 11, item 3: DuckDB DECIMAL (PostgreSQL numeric) columns arrive as Decimal
    rules = tmp_path / "rules.lapse"
    rules.write_text(f"attribute score: number\nsegment sessions >= 3 and score = 0.1; {SEND}\n"
                     f'campaign "any" {{ segment score < 1 or sessions in [2.5, 7]; {SEND} }}\n', encoding="utf-8")
    rows = [("a", "3", "0.1"), ("b", "2.50", "0.10"), ("c", "7.00", "2.5"), ("d", "3.001", "0.1"), ("e", None, None)]
    database = tmp_path / "users.duckdb"
    con = duckdb.connect(str(database))
    con.execute("CREATE TABLE users (user_id VARCHAR, sessions DECIMAL(10, 3), score DECIMAL(18, 2))")
    con.executemany("INSERT INTO users VALUES (?, ?, ?)", rows)
    assert type(con.execute("SELECT sessions FROM users LIMIT 1").fetchone()[0]) is Decimal
    con.close()
    jsonl = tmp_path / "users.jsonl"
    records = [{"user_id": u, "sessions": json.loads(s), "score": json.loads(c)} if s and c else {"user_id": u}
               for u, s, c in rows]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    outputs = []
    for users in (f"duckdb:{database}", str(jsonl)):
        out = tmp_path / "out.jsonl"
        assert cli.main(["run", str(rules), "--users", users, "--now", AT.isoformat(), "--out", str(out)]) == 0
        outputs.append(sorted((d["campaign"], d["user_id"]) for d in map(json.loads, out.read_text().splitlines())))
    capsys.readouterr()
    expected = [("any", "a"), ("any", "b"), ("any", "c"), ("any", "d"), ("rules:2", "a"), ("rules:2", "d")]
    assert outputs[0] == outputs[1] == expected
