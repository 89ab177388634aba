"""Reading user records: user_id, the accepted forms of a time value, naive times, wrong types, and
the aware-datetime contract of now/since."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import lapse_dsl
from lapse_dsl import UserDataError
from lapse_dsl.userdata import parse_time, user_id_of

UTC = dt.UTC
# Thu 2026-12-03 17:45 New York = 22:45Z; `between 2w and 3w` there is (11-12 22:45Z, 11-19 22:45Z].
T = dt.datetime(2026, 12, 3, 22, 45, tzinfo=UTC)
EDGE = dt.datetime(2026, 11, 19, 22, 45, tzinfo=UTC)  # the window's upper edge: in
RULE = "segment last_used between 2w and 3w; send push weekly thu 17:45 local"
RULES = lapse_dsl.compile(RULE, default_timezone="America/New_York")
NAME = "<string>:1"


def user(**attrs: Any) -> dict[str, Any]:
    return {"user_id": "u1", "timezone": "America/New_York", **attrs}


# -- user_id -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("abc", "abc"), (42, "42"), (0, "0"), ("ünï ✓", "ünï ✓")])
def test_user_id_accepted(raw: object, expected: str) -> None:
    assert user_id_of({"user_id": raw}) == expected
    (d,) = RULES.evaluate({"user_id": raw, "last_used": EDGE}, T)
    assert d.user_id == expected


def test_int_and_string_user_id_are_the_same_user() -> None:
    (a,) = RULES.evaluate({"user_id": 42, "last_used": EDGE}, T)
    (b,) = RULES.evaluate({"user_id": "42", "last_used": EDGE}, T)
    assert a == b


@pytest.mark.parametrize(
    "record", [{}, {"user_id": None}, {"user_id": ""}], ids=["missing", "null", "empty"]
)
def test_user_id_missing(record: dict[str, Any]) -> None:
    with pytest.raises(UserDataError, match=r"^user record has no user_id$") as info:
        RULES.evaluate({**record, "last_used": EDGE}, T)
    assert info.value.attribute == "user_id"
    assert isinstance(info.value, lapse_dsl.LapseError)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (4.5, "user_id must be a string, not float"),
        (["a"], "user_id must be a string, not list"),
        ({"id": 1}, "user_id must be a string, not dict"),
    ],
)
def test_user_id_wrong_type(raw: object, message: str) -> None:
    with pytest.raises(UserDataError, match=f"^{message}$") as info:
        RULES.evaluate({"user_id": raw}, T)
    assert info.value.attribute == "user_id"


def test_boolean_user_id_is_rejected_as_a_wrong_type() -> None:
    # regression: a boolean user_id was reported as "user record has no user_id"
    with pytest.raises(UserDataError, match=r"^user_id must be a string, not bool$") as info:
        RULES.evaluate({"user_id": True}, T)
    assert info.value.attribute == "user_id"


@pytest.mark.parametrize("record", [["user_id", "u"], "u1", 42, None], ids=["list", "str", "int", "none"])
def test_user_must_be_a_mapping(record: object) -> None:
    with pytest.raises(UserDataError, match="a user record must be an object"):
        RULES.evaluate(record, T)  # type: ignore[arg-type]


# -- time values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(EDGE, id="aware-utc-datetime"),
        pytest.param(EDGE.astimezone(ZoneInfo("Asia/Kolkata")), id="aware-kolkata-datetime"),
        pytest.param(dt.datetime(2026, 11, 19, 17, 45, tzinfo=dt.timezone(dt.timedelta(hours=-5))), id="fixed-offset"),
        pytest.param("2026-11-19T22:45:00Z", id="iso-z"),
        pytest.param("2026-11-19T22:45:00+00:00", id="iso-utc-offset"),
        pytest.param("2026-11-19T17:45:00-05:00", id="iso-negative-offset"),
        pytest.param("2026-11-20T04:15:00+05:30", id="iso-positive-offset"),
        pytest.param("2026-11-19T22:45:00.000Z", id="iso-fraction"),
        pytest.param("2026-11-19 22:45:00Z", id="iso-space"),
        pytest.param(1795128300, id="epoch-int"),  # 2026-11-19T22:45:00Z
        pytest.param(1795128300.0, id="epoch-float"),
    ],
)
def test_time_value_forms(value: object) -> None:
    assert parse_time(value, "last_used", None) == EDGE
    (d,) = RULES.evaluate(user(last_used=value), T)
    assert d.send_at == T  # exactly on the window's upper edge: in


def test_epoch_float_keeps_the_fraction() -> None:
    assert parse_time(1795128300.5, "last_used", None) == EDGE + dt.timedelta(milliseconds=500)
    # half a second past the upper edge: out at 12-03, in at 12-10
    (d,) = RULES.evaluate(user(last_used=1795128300.5), T)
    assert d.send_at == T + dt.timedelta(weeks=1)


def test_parsed_times_are_utc() -> None:
    parsed = parse_time("2026-11-19T17:45:00-05:00", "x", None)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(dt.datetime(2026, 11, 19, 22, 45), id="naive-datetime"),
        pytest.param("2026-11-19T22:45:00", id="offset-less-string"),
        pytest.param("2026-11-19", id="date-only-string"),
    ],
)
def test_naive_time_is_an_error_naming_the_attribute(value: object) -> None:
    with pytest.raises(UserDataError, match=r"^last_used: '.*' has no UTC offset; add one \(such as Z\) or compile "
                                            r"with naive_timezone=$") as info:
        RULES.evaluate(user(last_used=value), T)
    assert info.value.attribute == "last_used"
    assert info.value.user_id == "u1"


def test_naive_time_in_a_declared_attribute_names_it() -> None:
    rules = lapse_dsl.compile("attribute trial_ended: time\nsegment trial_ended more than 1d ago; send push daily 09:00 utc")
    with pytest.raises(UserDataError, match=r"^trial_ended: ") as info:
        rules.evaluate({"user_id": "u", "trial_ended": "2026-11-19T22:45:00"}, T)
    assert info.value.attribute == "trial_ended"


@pytest.mark.parametrize(
    ("naive_timezone", "value"),
    [
        ("UTC", dt.datetime(2026, 11, 19, 22, 45)),
        ("UTC", "2026-11-19T22:45:00"),
        ("America/New_York", "2026-11-19T17:45:00"),  # 17:45 EST = 22:45Z
        ("Asia/Kathmandu", dt.datetime(2026, 11, 20, 4, 30)),  # 04:30 +05:45 = 22:45Z
    ],
)
def test_naive_timezone_option_is_assumed(naive_timezone: str, value: object) -> None:
    rules = lapse_dsl.compile(RULE, default_timezone="America/New_York", naive_timezone=naive_timezone)
    (d,) = rules.evaluate(user(last_used=value), T)
    assert d.send_at == T
    # a value with its own offset is still read as written
    (d,) = rules.evaluate(user(last_used="2026-11-19T22:45:00Z"), T)
    assert d.send_at == T


def test_naive_timezone_option_must_be_a_zone() -> None:
    with pytest.raises(ValueError, match="naive_timezone='Nowhere/Land' is not a time zone"):
        lapse_dsl.compile(RULE, naive_timezone="Nowhere/Land")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("yesterday", r"last_used: 'yesterday' is not an ISO-8601 time such as 2026-11-19T22:45:00Z",
                     id="unparseable"),
        pytest.param("2026-13-40T00:00:00Z", r"last_used: '2026-13-40T00:00:00Z' is not an ISO-8601 time", id="bad-date"),
        pytest.param(True, r"last_used: expected a time \(ISO-8601 string, epoch seconds or datetime\), got bool",
                     id="bool"),
        pytest.param([2026, 11, 19], r"last_used: expected a time .*, got list", id="list"),
        pytest.param({"at": 1}, r"last_used: expected a time .*, got dict", id="dict"),
        pytest.param(dt.date(2026, 11, 19), r"last_used: a date is not a time; give a datetime with a time zone",
                     id="date"),
        pytest.param(math.nan, r"last_used: nan is not a time", id="nan"),
        pytest.param(math.inf, r"last_used: inf is not a time", id="inf"),
        pytest.param(1e20, r"last_used: epoch seconds 1e\+20 are out of range", id="huge-epoch"),
        pytest.param(1795128300000, r"last_used: epoch seconds 1795128300000 are out of range", id="epoch-milliseconds"),
        pytest.param("0001-01-01T00:00:00+01:00",
                     r"last_used: '0001-01-01T00:00:00\+01:00' is out of the range of times that can be represented in UTC",
                     id="before-year-1-in-utc"),
    ],
)
def test_malformed_time_values(value: object, message: str) -> None:
    with pytest.raises(UserDataError, match=f"^{message}") as info:
        RULES.evaluate(user(last_used=value), T)
    assert info.value.attribute == "last_used"
    assert info.value.user_id == "u1"


# -- other attribute types ---------------------------------------------------------------------

TYPED = lapse_dsl.compile(
    "attribute custom.tier: string\n"
    'segment sessions > 3 and platform = "ios" and push_opted_in and custom.tier = "gold"; send push daily 09:00 utc'
)
TYPED_NAME = "<string>:2"  # a one-line rule is named after its source and line


@pytest.mark.parametrize(
    ("attrs", "message", "attribute"),
    [
        ({"sessions": "5"}, "sessions: expected a number, got str '5'", "sessions"),
        ({"sessions": True}, "sessions: expected a number, got bool True", "sessions"),
        ({"platform": 5}, "platform: expected a string, got int 5", "platform"),
        ({"push_opted_in": "true"}, "push_opted_in: expected a boolean, got str 'true'", "push_opted_in"),
        ({"push_opted_in": 1}, "push_opted_in: expected a boolean, got int 1", "push_opted_in"),
        ({"custom": "gold"}, "custom.tier: 'custom' is a str, not an object", "custom.tier"),
        ({"custom": {"tier": ["gold"]}}, "custom.tier: expected a string, got list ['gold']", "custom.tier"),
    ],
)
def test_wrong_types_raise(attrs: dict[str, Any], message: str, attribute: str) -> None:
    with pytest.raises(UserDataError, match=f"^{message.replace('[', '.').replace(']', '.')}$") as info:
        TYPED.evaluate({"user_id": "u", **attrs}, T)
    assert info.value.attribute == attribute


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(UserDataError, match=r"^platform: expected a string, got list \[0, 1, 2, .*\.\.\.$"):
        TYPED.evaluate({"user_id": "u", "platform": list(range(100))}, T)


def test_well_typed_record() -> None:
    record = {"user_id": "u", "sessions": 4, "platform": "ios", "push_opted_in": True, "custom": {"tier": "gold"}}
    assert TYPED.in_segment(record, T) == {TYPED_NAME: True}
    assert TYPED.in_segment({**record, "sessions": 3.5}, T) == {TYPED_NAME: True}  # ints and floats are numbers


def test_missing_parent_object_is_unknown() -> None:
    record = {"user_id": "u", "sessions": 4, "platform": "ios", "push_opted_in": True}
    assert TYPED.in_segment(record, T) == {TYPED_NAME: None}
    assert TYPED.in_segment({**record, "custom": None}, T) == {TYPED_NAME: None}
    assert TYPED.in_segment({**record, "custom": {}}, T) == {TYPED_NAME: None}


def test_time_before_year_1_in_utc_is_a_user_data_error() -> None:
    # regression: converting such a value to UTC raised OverflowError, which is not a LapseError, so
    # evaluate_many stopped at that user instead of recording the error and going on
    for rules in (RULES, RULES.reference()):
        for value in ("0001-01-01T00:00:00+01:00", dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))):
            with pytest.raises(UserDataError, match="out of the range of times") as info:
                rules.evaluate(user(last_used=value), T)
            assert info.value.attribute == "last_used"
    naive_plus_one = lapse_dsl.compile(RULE, naive_timezone="Europe/Paris")
    with pytest.raises(UserDataError, match="out of the range of times"):
        naive_plus_one.evaluate(user(last_used="0001-01-01T00:00:00"), T)


def test_huge_integer_number_does_not_overflow() -> None:
    # regression: the reference reader converted numbers with float(), which overflows for ints past
    # 1e308 (a JSON decoder gives such ints); the compiled reader kept them as ints
    for rules in (TYPED, TYPED.reference()):
        record = {"user_id": "u", "sessions": 10**400, "platform": "ios", "push_opted_in": True,
                  "custom": {"tier": "gold"}}
        assert rules.in_segment(record, T) == {TYPED_NAME: True}
        assert rules.in_segment({**record, "sessions": -(10**400)}, T) == {TYPED_NAME: False}


def test_attributes_the_rules_do_not_read_are_not_validated() -> None:
    record = user(last_used=EDGE, sessions="many", platform=7, first_used="not a time", extra=object())
    (d,) = RULES.evaluate(record, T)
    assert d.send_at == T


# -- now and since must be aware ---------------------------------------------------------------


@pytest.mark.parametrize("bad", [dt.datetime(2026, 12, 3, 22, 45), "2026-12-03T22:45:00Z", 1795128300, None])
def test_now_must_be_aware(bad: object) -> None:
    with pytest.raises(TypeError, match=r"^now must be an aware datetime"):
        RULES.evaluate(user(last_used=EDGE), bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^now must be an aware datetime"):
        RULES.explain(user(last_used=EDGE), bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [dt.datetime(2026, 12, 3, 22, 0), "2026-12-03T22:00:00Z"])
def test_since_must_be_aware(bad: object) -> None:
    with pytest.raises(TypeError, match=r"^since must be an aware datetime"):
        RULES.evaluate(user(last_used=EDGE), T, since=bad)  # type: ignore[arg-type]


def test_in_segment_at_must_be_aware() -> None:
    with pytest.raises(TypeError, match=r"^at must be an aware datetime"):
        RULES.in_segment(user(last_used=EDGE), dt.datetime(2026, 12, 3, 22, 45))


def test_now_in_any_zone_is_the_same_instant() -> None:
    local_now = T.astimezone(ZoneInfo("Asia/Tokyo"))
    assert RULES.evaluate(user(last_used=EDGE), local_now) == RULES.evaluate(user(last_used=EDGE), T)


def test_naive_history_time_is_an_error() -> None:
    history = [{"campaign": NAME, "channel": "push", "at": "2026-11-26T22:45:00"}]
    with pytest.raises(UserDataError, match=r"^history\[0\]\.at: .* has no UTC offset") as info:
        RULES.evaluate(user(last_used=EDGE), T, history=history)
    assert info.value.attribute == "history[0].at"
