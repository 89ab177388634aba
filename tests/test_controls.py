"""Delivery controls at their edges (issue 4): holdout, variants, re-eligibility, caps, quiet hours,
from/until, grace and status, and what ``explain`` says when a control stops a user."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import lapse_dsl
from lapse_dsl import Decision, RuleSet
from lapse_dsl.buckets import bucket, in_percent
from lapse_dsl.evaluate import idempotency_key

UTC = dt.UTC
NEW_YORK = ZoneInfo("America/New_York")
USER: dict[str, Any] = {"user_id": "u1", "last_used": "2025-06-01T00:00:00Z"}
ALWAYS = "last_used more than 1d ago"  # true for USER at every occurrence below


def z(text: str) -> dt.datetime:
    """An aware UTC datetime from ISO text with a Z."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def campaign(*clauses: str, name: str = "c", segment: str = ALWAYS, send: str = "push daily 12:00 utc") -> RuleSet:
    lines = [f"segment {segment}", f"send {send}", *clauses]
    body = "\n".join(f"    {line}" for line in lines)
    return lapse_dsl.compile(f'campaign "{name}" {{\n{body}\n}}\n')


def sent(campaign_name: str, channel: str, at: str) -> dict[str, str]:
    return {"campaign": campaign_name, "channel": channel, "at": at}


def only(
    rs: RuleSet,
    now: dt.datetime,
    *,
    user: Mapping[str, Any] = USER,
    since: dt.datetime | None = None,
    history: Sequence[Mapping[str, Any]] = (),
) -> Decision | None:
    decisions = rs.evaluate(user, now, since=since, history=history)
    assert len(decisions) <= 1
    return decisions[0] if decisions else None


def send_at(rs: RuleSet, now: dt.datetime, **kwargs: Any) -> dt.datetime | None:
    decision = only(rs, now, **kwargs)
    return None if decision is None else decision.send_at


def reason(rs: RuleSet, now: dt.datetime, *, history: Sequence[Mapping[str, Any]] = (),
           user: Mapping[str, Any] = USER) -> str:
    (trace,) = rs.explain(user, now, history=history).rules
    return trace.reason


# ---------------------------------------------------------------------------------------------
# holdout

SYNTHETIC = [f"user-{i}" for i in range(100_000)]


@pytest.fixture(scope="module")
def holdout_buckets() -> list[int]:
    return [bucket("holdout", "winback-2026", u) for u in SYNTHETIC]


@pytest.mark.parametrize("percent", [0.5, 1, 5, 10, 12.5, 33.33, 50, 90])
def test_holdout_share_within_one_point(holdout_buckets: list[int], percent: float) -> None:
    share = sum(in_percent(b, percent) for b in holdout_buckets) / len(holdout_buckets) * 100
    assert abs(share - percent) < 1


def test_raising_holdout_only_adds_users(holdout_buckets: list[int]) -> None:
    previous: set[int] = set()
    for percent in (1, 5, 10, 10.01, 20, 50, 99.99, 100):
        held = {i for i, b in enumerate(holdout_buckets) if in_percent(b, percent)}
        assert previous <= held
        previous = held
    assert len(previous) == len(holdout_buckets)  # 100% holds out everyone


END_TO_END = [f"e2e-{i}" for i in range(2000)]
NOW = z("2026-03-01T13:00:00Z")


def _held_out(rs: RuleSet, ids: Sequence[str]) -> set[str]:
    held = set()
    for user_id in ids:
        decision = only(rs, NOW, user={**USER, "user_id": user_id})
        assert decision is not None
        if decision.held_out:
            held.add(user_id)
    return held


def test_holdout_end_to_end_matches_buckets_and_only_adds() -> None:
    ten = _held_out(campaign('salt "s"', "holdout 10%"), END_TO_END)
    twenty = _held_out(campaign('salt "s"', "holdout 20%"), END_TO_END)
    assert ten == {u for u in END_TO_END if bucket("holdout", "s", u) < 1000}
    assert ten <= twenty
    assert twenty == {u for u in END_TO_END if bucket("holdout", "s", u) < 2000}
    assert abs(len(ten) / len(END_TO_END) - 0.10) < 0.02


def test_holdout_threshold_vectors_end_to_end() -> None:
    rs = campaign('salt "winback-2026"', "holdout 10%", 'message title "Hi"')
    held = only(rs, NOW, user={**USER, "user_id": "user-8345"})  # holdout bucket 999
    kept = only(rs, NOW, user={**USER, "user_id": "user-19188"})  # holdout bucket 1000
    assert held is not None and kept is not None
    assert held.held_out and held.variant is None and held.message == {}
    assert not kept.held_out and kept.message == {"title": "Hi"}
    # a held-out user still gets the same occurrence, key and timing, so the host can record them
    assert held.send_at == kept.send_at == z("2026-03-02T12:00:00Z")
    assert held.idempotency_key == idempotency_key("c", "user-8345", dt.datetime(2026, 3, 2, 12, 0))


def test_smallest_and_full_holdout() -> None:
    smallest = campaign('salt "winback-2026"', "holdout 0.01%")
    full = campaign('salt "winback-2026"', "holdout 100%")
    bucket0 = {**USER, "user_id": "user-3679"}
    bucket9999 = {**USER, "user_id": "user-2128"}
    assert only(smallest, NOW, user=bucket0).held_out  # type: ignore[union-attr]
    assert not only(smallest, NOW, user=bucket9999).held_out  # type: ignore[union-attr]
    assert only(full, NOW, user=bucket9999).held_out  # type: ignore[union-attr]


def test_salt_survives_a_rename_and_the_name_is_the_default_salt() -> None:
    ids = END_TO_END[:400]
    assert _held_out(campaign('salt "s"', "holdout 30%", name="old"), ids) == _held_out(
        campaign('salt "s"', "holdout 30%", name="new name"), ids
    )
    by_name = _held_out(campaign("holdout 30%", name="s"), ids)
    assert by_name == _held_out(campaign('salt "s"', "holdout 30%", name="other"), ids)
    assert by_name != _held_out(campaign("holdout 30%", name="t"), ids)


def test_numeric_user_id_is_bucketed_as_its_text() -> None:
    rs = campaign('salt "winback-2026"', "holdout 50%")
    as_int = only(rs, NOW, user={**USER, "user_id": 8345})
    as_text = only(rs, NOW, user={**USER, "user_id": "8345"})
    assert as_int is not None and as_text is not None
    assert as_int.held_out == as_text.held_out == in_percent(bucket("holdout", "winback-2026", "8345"), 50)


# ---------------------------------------------------------------------------------------------
# variants

AB = ('variant "A" 50% message title "A"', 'variant "B" 50% message title "B"')


@pytest.fixture(scope="module")
def variant_buckets() -> list[int]:
    return [bucket("variant", "winback-2026", u) for u in SYNTHETIC]


@pytest.mark.parametrize(
    ("percents", "names"),
    [((50, 50), "AB"), ((33.33, 33.33, 33.34), "ABC"), ((10, 90), "AB"), ((25, 25, 25, 25), "ABCD")],
)
def test_variant_split_within_one_point(variant_buckets: list[int], percents: tuple[float, ...], names: str) -> None:
    buckets = variant_buckets
    counts: Counter[str] = Counter()
    for b in buckets:
        cumulative = 0.0
        for name, percent in zip(names, percents, strict=True):
            cumulative += percent
            if in_percent(b, cumulative):
                counts[name] += 1
                break
    assert sum(counts.values()) == len(buckets)  # the last variant's range ends at 9999
    for name, percent in zip(names, percents, strict=True):
        assert abs(counts[name] / len(buckets) * 100 - percent) < 1


def _expected_variant(user_id: str, salt: str, split: Sequence[tuple[str, float]]) -> str:
    b = bucket("variant", salt, user_id)
    cumulative = 0.0
    for name, percent in split:
        cumulative += percent
        if in_percent(b, cumulative):
            return name
    raise AssertionError("percentages must add up to 100")


def test_variants_end_to_end_follow_buckets_in_declaration_order() -> None:
    rs = campaign(
        'salt "s"',
        'variant "small" 10% message title "S"',
        'variant "big" 60% message title "B"',
        'variant "rest" 30% message title "R"',
    )
    counts: Counter[str | None] = Counter()
    for user_id in END_TO_END:
        decision = only(rs, NOW, user={**USER, "user_id": user_id})
        assert decision is not None
        expected = _expected_variant(user_id, "s", [("small", 10), ("big", 60), ("rest", 30)])
        assert decision.variant == expected
        assert decision.message == {"title": {"small": "S", "big": "B", "rest": "R"}[expected]}
        counts[decision.variant] += 1
    assert abs(counts["small"] / 2000 - 0.10) < 0.03


@pytest.mark.parametrize(
    ("user_id", "variant"),
    [("user-2738", "A"), ("user-23482", "A"), ("user-19479", "B"), ("user-9692", "B")],  # buckets 0, 4999, 5000, 9999
)
def test_variant_bucket_edges(user_id: str, variant: str) -> None:
    rs = campaign('salt "winback-2026"', *AB)
    decision = only(rs, NOW, user={**USER, "user_id": user_id})
    assert decision is not None and decision.variant == variant


def test_variant_is_sticky_across_calls_and_now() -> None:
    rs = campaign('salt "s"', *AB, "reeligible after 1d")
    for user_id in END_TO_END[:200]:
        user = {**USER, "user_id": user_id}
        seen = {only(rs, now, user=user).variant for now in (NOW, NOW + dt.timedelta(days=3), z("2026-09-09T00:00:00Z"))}  # type: ignore[union-attr]
        seen.add(only(rs, NOW, user=user).variant)  # type: ignore[union-attr]
        assert len(seen) == 1


def test_holdout_and_variants_together() -> None:
    rs = campaign('salt "s"', "holdout 20%", *AB)
    held = kept = 0
    for user_id in END_TO_END[:1000]:
        decision = only(rs, NOW, user={**USER, "user_id": user_id})
        assert decision is not None
        if in_percent(bucket("holdout", "s", user_id), 20):
            held += 1
            assert decision.held_out and decision.variant is None and decision.message == {}
        else:
            kept += 1
            assert decision.variant == _expected_variant(user_id, "s", [("A", 50), ("B", 50)])
    assert held and kept


# ---------------------------------------------------------------------------------------------
# re-eligibility

THU_NY = 'push weekly thu 17:45 "America/New_York"'


def test_without_reeligible_a_campaign_reaches_a_user_once() -> None:
    rs = campaign(send=THU_NY)
    history = [sent("c", "push", "2025-01-01T00:00:00Z")]
    assert only(rs, z("2026-03-10T00:00:00Z"), history=history) is None
    assert "already received on 2025-01-01T00:00:00Z" in reason(rs, z("2026-03-10T00:00:00Z"), history=history)
    # other campaigns' sends do not count
    assert send_at(rs, z("2026-03-10T00:00:00Z"), history=[sent("other", "push", "2026-03-09T00:00:00Z")]) == z(
        "2026-03-12T21:45:00Z"
    )


@pytest.mark.parametrize(
    ("last_send", "clause", "expected"),
    [
        # calendar week across the spring DST change: 03-05 17:45 EST -> 03-12 17:45 EDT is 167 hours
        ("2026-03-05T22:45:00Z", "reeligible after 1w", "2026-03-12T21:45:00Z"),
        ("2026-03-05T22:45:01Z", "reeligible after 1w", "2026-03-19T21:45:00Z"),
        ("2026-03-05T22:45:00Z", "reeligible after 7d", "2026-03-12T21:45:00Z"),
        ("2026-03-05T22:45:01Z", "reeligible after 7d", "2026-03-19T21:45:00Z"),
        # exact hours: 168h is not reached by 03-12 21:45Z, 167h is exactly reached
        ("2026-03-05T22:45:00Z", "reeligible after 168h", "2026-03-19T21:45:00Z"),
        ("2026-03-05T22:45:00Z", "reeligible after 167h", "2026-03-12T21:45:00Z"),
        ("2026-03-05T22:45:01Z", "reeligible after 167h", "2026-03-19T21:45:00Z"),
        ("2026-03-05T22:45:00Z", "reeligible after 10020m", "2026-03-12T21:45:00Z"),
    ],
)
def test_reeligible_exactly_at_d_and_one_second_before(last_send: str, clause: str, expected: str) -> None:
    rs = campaign(clause, send=THU_NY)
    history = [sent("c", "push", last_send)]
    assert send_at(rs, z("2026-03-10T00:00:00Z"), history=history) == z(expected)


def test_reeligible_across_fall_back() -> None:
    # 10-29 17:45 EDT (21:45Z) + 1w = 11-05 17:45 EST (22:45Z): 169 hours
    rs = campaign("reeligible after 1w", send=THU_NY)
    now = z("2026-11-02T00:00:00Z")
    assert send_at(rs, now, history=[sent("c", "push", "2026-10-29T21:45:00Z")]) == z("2026-11-05T22:45:00Z")
    assert send_at(rs, now, history=[sent("c", "push", "2026-10-29T21:45:01Z")]) == z("2026-11-12T22:45:00Z")


def test_reeligible_uses_the_latest_send() -> None:
    rs = campaign("reeligible after 2w", send=THU_NY)
    history = [sent("c", "push", "2026-03-12T21:45:00Z"), sent("c", "push", "2026-02-01T00:00:00Z")]
    assert send_at(rs, z("2026-03-13T00:00:00Z"), history=history) == z("2026-03-26T21:45:00Z")


def test_explain_not_reeligible() -> None:
    rs = campaign("reeligible after 4w", send='push once 2026-03-12 17:45 "America/New_York"')
    history = [sent("c", "push", "2026-03-01T12:00:00Z")]
    assert only(rs, z("2026-03-10T00:00:00Z"), history=history) is None
    text = reason(rs, z("2026-03-10T00:00:00Z"), history=history)
    assert text.startswith("not re-eligible: received on 2026-03-01T12:00:00Z, again after 4w")


# ---------------------------------------------------------------------------------------------
# frequency caps

CAP_NOW = z("2026-03-01T13:00:00Z")  # next daily 12:00 UTC occurrence: 03-02; T(-7d) = 02-23T12:00Z


@pytest.mark.parametrize(
    ("clause", "history", "expected"),
    [
        pytest.param("cap 2 per 7d", [sent("x", "push", "2026-02-28T12:00:00Z")], "2026-03-02T12:00:00Z", id="n-1"),
        pytest.param(
            "cap 2 per 7d",
            [sent("x", "push", "2026-02-27T12:00:00Z"), sent("y", "push", "2026-02-28T12:00:00Z")],
            # capped until the 02-27 send is exactly 7d before an occurrence: then it no longer counts
            "2026-03-06T12:00:00Z",
            id="n-other-campaigns",
        ),
        pytest.param(
            "cap 2 per 7d",
            [sent("x", "push", "2026-02-23T12:00:00Z"), sent("y", "push", "2026-02-28T12:00:00Z")],
            "2026-03-02T12:00:00Z",
            id="send-exactly-d-before-does-not-count",
        ),
        pytest.param(
            "cap 2 per 7d",
            [sent("x", "push", "2026-02-23T12:00:01Z"), sent("y", "push", "2026-02-28T12:00:00Z")],
            "2026-03-03T12:00:00Z",
            id="one-second-later-counts",
        ),
        pytest.param(
            "cap 2 per 7d",
            [sent("x", "email", "2026-02-27T12:00:00Z"), sent("y", "sms", "2026-02-28T12:00:00Z")],
            "2026-03-02T12:00:00Z",
            id="other-channels-do-not-count",
        ),
        pytest.param(
            "cap 2 per 7d all",
            [sent("x", "email", "2026-02-27T12:00:00Z"), sent("y", "sms", "2026-02-28T12:00:00Z")],
            "2026-03-06T12:00:00Z",
            id="all-counts-every-channel",
        ),
        pytest.param(
            "cap 2 per 7d email",
            [sent("x", "push", "2026-02-27T12:00:00Z"), sent("y", "push", "2026-02-28T12:00:00Z")],
            "2026-03-02T12:00:00Z",
            id="named-scope-counts-only-that-channel",
        ),
        pytest.param(
            "cap 2 per 7d email",
            [sent("x", "email", "2026-02-27T12:00:00Z"), sent("y", "email", "2026-02-28T12:00:00Z")],
            "2026-03-06T12:00:00Z",
            id="named-scope",
        ),
        pytest.param(
            "cap 1 per 24h", [sent("x", "push", "2026-03-01T12:00:00Z")], "2026-03-02T12:00:00Z", id="hours-exact",
        ),
        pytest.param(
            "cap 1 per 24h", [sent("x", "push", "2026-03-01T12:00:01Z")], "2026-03-03T12:00:00Z", id="hours-1s-later",
        ),
        pytest.param(
            "cap 3 per 7d",
            [sent(c, "push", f"2026-02-{d}T12:00:00Z") for c, d in (("x", 25), ("y", 26), ("z", 27))],
            "2026-03-04T12:00:00Z",  # 02-25 is exactly 7d before 03-04
            id="n3-frees-when-the-oldest-leaves",
        ),
    ],
)
def test_cap_edges(clause: str, history: list[dict[str, str]], expected: str) -> None:
    assert send_at(campaign(clause), CAP_NOW, history=history) == z(expected)


def test_cap_counts_this_campaigns_own_sends() -> None:
    rs = campaign("cap 1 per 7d", "reeligible after 1d")
    assert send_at(rs, CAP_NOW, history=[sent("c", "push", "2026-02-28T12:00:00Z")]) == z("2026-03-07T12:00:00Z")


@pytest.mark.parametrize(
    ("older", "expected"),
    [
        # T = 03-09 12:00 EDT (16:00Z); T(-7d) = 03-02 12:00 EST = 17:00Z, not 16:00Z (calendar days)
        ("2026-03-02T17:00:00Z", "2026-03-09T16:00:00Z"),
        ("2026-03-02T17:00:01Z", "2026-03-10T16:00:00Z"),
        ("2026-03-02T16:30:00Z", "2026-03-09T16:00:00Z"),
    ],
)
def test_cap_calendar_window_across_spring_forward(older: str, expected: str) -> None:
    rs = campaign("cap 2 per 7d", send='push daily 12:00 "America/New_York"')
    history = [sent("x", "push", older), sent("y", "push", "2026-03-05T17:00:00Z")]
    assert send_at(rs, z("2026-03-09T00:00:00Z"), history=history) == z(expected)


def test_explain_names_the_cap() -> None:
    history = [sent("x", "push", "2026-02-27T12:00:00Z"), sent("y", "push", "2026-02-28T12:00:00Z")]
    rs = campaign("cap 2 per 7d", send="push once 2026-03-02 12:00 utc")
    assert only(rs, CAP_NOW, history=history) is None
    assert reason(rs, CAP_NOW, history=history) == "capped: 2 push sends in the last 7d, limit 2"
    everywhere = campaign("cap 2 per 7d all", send="push once 2026-03-02 12:00 utc")
    mixed = [sent("x", "email", "2026-02-27T12:00:00Z"), sent("y", "sms", "2026-02-28T12:00:00Z")]
    assert reason(everywhere, CAP_NOW, history=mixed) == "capped: 2 sends in the last 7d, limit 2"
    # the campaign's end comes before the cap frees: the cap is what stopped the user
    ends = campaign("cap 2 per 7d", "until 2026-03-04")
    assert only(ends, CAP_NOW, history=history) is None
    assert reason(ends, CAP_NOW, history=history) == "capped: 2 push sends in the last 7d, limit 2"
    (trace,) = ends.explain(USER, CAP_NOW, history=history).rules
    assert "capped: 2 push sends in the last 7d, limit 2" in str(trace)


# ---------------------------------------------------------------------------------------------
# quiet hours (New York, 22:00 to 08:00, across both 2026 DST changes)

QUIET = "quiet hours 22:00 to 08:00"


@pytest.mark.parametrize(
    ("send", "now", "expected"),
    [
        # Sat 03-07 23:00 EST (04:00Z) -> Sun 03-08 08:00 EDT (12:00Z), across spring-forward
        ('push weekly sat 23:00 "America/New_York"', "2026-03-06T00:00:00Z", "2026-03-08T12:00:00Z"),
        # Sat 10-31 23:00 EDT (03:00Z) -> Sun 11-01 08:00 EST (13:00Z), across fall-back
        ('push weekly sat 23:00 "America/New_York"', "2026-10-30T00:00:00Z", "2026-11-01T13:00:00Z"),
        # start inclusive
        ('push weekly sat 22:00 "America/New_York"', "2026-03-06T00:00:00Z", "2026-03-08T12:00:00Z"),
        # just before the start: sent as scheduled (21:59 EST = 02:59Z)
        ('push weekly sat 21:59 "America/New_York"', "2026-03-06T00:00:00Z", "2026-03-08T02:59:00Z"),
        # after midnight, inside the wrapped period: Sun 03-08 07:59 EDT -> 08:00 EDT
        ('push weekly sun 07:59 "America/New_York"', "2026-03-06T00:00:00Z", "2026-03-08T12:00:00Z"),
        # the scheduled 02:30 does not exist on 03-08 (-> 03:30 EDT), still quiet, deferred to 08:00 EDT
        ('push weekly sun 02:30 "America/New_York"', "2026-03-06T00:00:00Z", "2026-03-08T12:00:00Z"),
        # the ambiguous 01:30 on 11-01 is its first pass (EDT), quiet, deferred to 08:00 EST
        ('push weekly sun 01:30 "America/New_York"', "2026-10-30T00:00:00Z", "2026-11-01T13:00:00Z"),
        # end exclusive: 08:00 is not quiet
        ('push weekly sun 08:00 "America/New_York"', "2026-03-06T00:00:00Z", "2026-03-08T12:00:00Z"),
        ('push weekly sun 08:00 "America/New_York"', "2026-10-30T00:00:00Z", "2026-11-01T13:00:00Z"),
    ],
)
def test_quiet_hours_defer_wraps_midnight_across_dst(send: str, now: str, expected: str) -> None:
    for clause in (QUIET, f"{QUIET} defer"):
        decision = only(campaign(clause, send=send), z(now))
        assert decision is not None
        assert decision.send_at == z(expected)
        assert decision.local_send_at == z(expected).astimezone(NEW_YORK)


def test_deferred_send_keeps_the_occurrence_key_and_segment() -> None:
    # last_used 2026-03-05 23:30 EST: in 'between 1d and 2d' at the Sat 23:00 occurrence, out by
    # Sun 08:00; membership is judged at the scheduled occurrence
    send = 'push weekly sat 23:00 "America/New_York"'
    segment = "last_used between 1d and 2d"
    user = {"user_id": "u1", "last_used": "2026-03-06T04:30:00Z"}
    now = z("2026-03-07T00:00:00Z")
    quiet = only(campaign(QUIET, send=send, segment=segment), now, user=user)
    plain = only(campaign(send=send, segment=segment), now, user=user)
    assert quiet is not None and plain is not None
    assert plain.send_at == z("2026-03-08T04:00:00Z")
    assert quiet.send_at == z("2026-03-08T12:00:00Z")
    assert quiet.idempotency_key == plain.idempotency_key == idempotency_key("c", "u1", dt.datetime(2026, 3, 7, 23, 0))


def test_deferred_send_at_is_what_a_tick_compares() -> None:
    rs = campaign(QUIET, send='push weekly sat 23:00 "America/New_York"')
    # the occurrence (04:00Z) is before `since`, but its deferred send (12:00Z) is in this tick
    decision = only(rs, z("2026-03-08T12:30:00Z"), since=z("2026-03-08T11:00:00Z"))
    assert decision is not None and decision.due and decision.send_at == z("2026-03-08T12:00:00Z")
    # the next tick does not report it again
    after = only(rs, z("2026-03-08T13:00:00Z"), since=z("2026-03-08T12:30:00Z"))
    assert after is not None and after.send_at == z("2026-03-15T12:00:00Z")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("defer", "2026-03-08T12:00:00Z"), ("drop", "2026-03-08T13:00:00Z")],
)
def test_quiet_hours_drop_skips_the_occurrence(mode: str, expected: str) -> None:
    # 07:00 (quiet) and 09:00 (not) each day; 03-08 07:00 EDT = 11:00Z, 09:00 EDT = 13:00Z
    rs = campaign(f"{QUIET} {mode}", send='push cron "0 7,9 * * *" "America/New_York"')
    assert send_at(rs, z("2026-03-08T06:00:00Z")) == z(expected)


def test_quiet_hours_drop_every_occurrence_explained() -> None:
    rs = campaign(f"{QUIET} drop", send='push daily 23:00 "America/New_York"')
    assert only(rs, z("2026-03-06T00:00:00Z")) is None
    assert reason(rs, z("2026-03-06T00:00:00Z")) == "quiet hours 22:00 to 08:00: occurrence dropped"


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        ('push daily 13:00 "America/New_York"', "2026-03-09T18:00:00Z"),  # 13:00 EDT -> 14:00 EDT
        ('push daily 12:00 "America/New_York"', "2026-03-09T18:00:00Z"),  # start inclusive
        ('push daily 14:00 "America/New_York"', "2026-03-09T18:00:00Z"),  # end exclusive
        ('push daily 11:59 "America/New_York"', "2026-03-09T15:59:00Z"),
    ],
)
def test_quiet_hours_without_wrap(send: str, expected: str) -> None:
    rs = campaign("quiet hours 12:00 to 14:00", send=send)
    assert send_at(rs, z("2026-03-09T05:00:00Z")) == z(expected)


def test_quiet_end_in_a_gap_or_fold_resolves_fold_0() -> None:
    # quiet ends at 02:30, which does not exist on 03-08: the send moves forward to 03:30 EDT
    gap = campaign("quiet hours 00:00 to 02:30", send='push daily 01:00 "America/New_York"')
    assert send_at(gap, z("2026-03-08T05:30:00Z")) == z("2026-03-08T07:30:00Z")
    # quiet ends at 01:30, twice on 11-01: the first (EDT, 05:30Z)
    fold = campaign("quiet hours 23:00 to 01:30", send='push daily 23:30 "America/New_York"')
    assert send_at(fold, z("2026-11-01T03:00:00Z")) == z("2026-11-01T05:30:00Z")


# ---------------------------------------------------------------------------------------------
# from / until, far from UTC


@pytest.mark.parametrize(
    ("zone", "clock", "first", "last"),
    [
        # +14: local 12-01 09:00 is 11-30 19:00Z; local 12-03 09:00 is 12-02 19:00Z
        ("Pacific/Kiritimati", "09:00", "2026-11-30T19:00:00Z", "2026-12-02T19:00:00Z"),
        # -11: local 12-01 22:00 is 12-02 09:00Z; local 12-03 22:00 is 12-04 09:00Z
        ("Pacific/Pago_Pago", "22:00", "2026-12-02T09:00:00Z", "2026-12-04T09:00:00Z"),
        # the first and last minute of the local days
        ("Pacific/Kiritimati", "00:00", "2026-11-30T10:00:00Z", "2026-12-02T10:00:00Z"),
        ("Pacific/Pago_Pago", "23:59", "2026-12-02T10:59:00Z", "2026-12-04T10:59:00Z"),
    ],
)
def test_from_until_first_and_last_local_day(zone: str, clock: str, first: str, last: str) -> None:
    rs = campaign("from 2026-12-01", "until 2026-12-03", send=f'push daily {clock} "{zone}"')
    second = dt.timedelta(seconds=1)
    assert send_at(rs, z("2026-11-20T00:00:00Z")) == z(first)
    assert send_at(rs, z(first)) == z(first)
    assert send_at(rs, z(last)) == z(last)
    assert only(rs, z(last) + second) is None
    assert reason(rs, z(last) + second) == "the campaign ended on 2026-12-03"
    decision = only(rs, z(first))
    assert decision is not None and decision.local_send_at.date() == dt.date(2026, 12, 1)
    decision = only(rs, z(last))
    assert decision is not None and decision.local_send_at.date() == dt.date(2026, 12, 3)


def test_from_until_use_the_user_zone_for_local_schedules() -> None:
    rs = campaign("from 2026-12-01", "until 2026-12-01", send="push daily 09:00 local")
    kiritimati = {**USER, "timezone": "Pacific/Kiritimati"}
    pago = {**USER, "timezone": "Pacific/Pago_Pago"}
    assert send_at(rs, z("2026-11-20T00:00:00Z"), user=kiritimati) == z("2026-11-30T19:00:00Z")
    assert send_at(rs, z("2026-11-20T00:00:00Z"), user=pago) == z("2026-12-01T20:00:00Z")
    assert send_at(rs, z("2026-11-30T19:00:01Z"), user=kiritimati) is None


def test_until_with_a_deferred_last_occurrence() -> None:
    # the last day's 23:00 occurrence is in quiet hours; it is deferred past `until`, and still sent
    rs = campaign(QUIET, "until 2026-03-07", send='push daily 23:00 "America/New_York"')
    # (before 03-07 08:00 EST, the deferred send of 03-06 23:00 comes first)
    assert send_at(rs, z("2026-03-07T12:00:00Z")) == z("2026-03-07T13:00:00Z")
    assert send_at(rs, z("2026-03-07T13:00:01Z")) == z("2026-03-08T12:00:00Z")
    assert send_at(rs, z("2026-03-08T12:00:01Z")) is None


# ---------------------------------------------------------------------------------------------
# grace


@pytest.mark.parametrize(
    ("clauses", "late", "sent_late"),
    [
        ((), dt.timedelta(hours=1), True),
        ((), dt.timedelta(hours=1, seconds=1), False),
        (("grace 2h",), dt.timedelta(hours=2), True),
        (("grace 2h",), dt.timedelta(hours=2, seconds=1), False),
        (("grace 30m",), dt.timedelta(minutes=30), True),
        (("grace 30m",), dt.timedelta(minutes=30, seconds=1), False),
    ],
)
def test_grace(clauses: tuple[str, ...], late: dt.timedelta, sent_late: bool) -> None:
    rs = campaign(*clauses)
    occurrence = z("2026-03-02T12:00:00Z")
    now = occurrence + late
    decision = only(rs, now, since=occurrence - dt.timedelta(hours=6))
    assert decision is not None
    if sent_late:
        assert decision.send_at == occurrence and decision.due
    else:
        assert decision.send_at == z("2026-03-03T12:00:00Z") and not decision.due


# ---------------------------------------------------------------------------------------------
# status


@pytest.mark.parametrize(
    ("status", "word"), [("draft", "status draft: never sends"), ("paused", "status paused: never sends")]
)
def test_status_never_decides_but_explain_previews(status: str, word: str) -> None:
    rs = campaign(f"status {status}", 'message title "Hi"')
    assert rs.evaluate(USER, CAP_NOW) == ()
    (trace,) = rs.explain(USER, CAP_NOW).rules
    assert trace.status == status and trace.decision is None
    assert trace.reason.startswith(word)
    assert "if active it would: sends 2026-03-02T12:00:00+00:00" in trace.reason
    assert word in str(rs.explain(USER, CAP_NOW))


def test_active_is_the_default_and_explicit() -> None:
    for rs in (campaign(), campaign("status active")):
        assert send_at(rs, CAP_NOW) == z("2026-03-02T12:00:00Z")
        (trace,) = rs.explain(USER, CAP_NOW).rules
        assert trace.status == "active" and trace.decision is not None


def test_paused_campaign_does_not_hide_others() -> None:
    rs = lapse_dsl.compile(
        'campaign "p" { segment last_used more than 1d ago; send push daily 12:00 utc; status paused }\n'
        'campaign "a" { segment last_used more than 1d ago; send push daily 13:00 utc }\n'
    )
    assert [d.campaign for d in rs.evaluate(USER, CAP_NOW)] == ["a"]


# ---------------------------------------------------------------------------------------------
# explain names the control


def test_explain_held_out_and_variant() -> None:
    rs = campaign('salt "winback-2026"', "holdout 10%", *AB)
    held = reason(rs, NOW, user={**USER, "user_id": "user-8345"})
    assert held.startswith("held out (control group), would send 2026-03-02T12:00:00+00:00")
    kept = reason(rs, NOW, user={**USER, "user_id": "user-19188"})
    assert kept.startswith("sends 2026-03-02T12:00:00+00:00") and ", variant " in kept


def test_cap_resume_does_not_skip_an_occurrence_after_a_gap() -> None:
    # Regression: the capped occurrence's resume hint was "the send + 1d" (03-07 02:30 EST + 1d =
    # 03-08 02:30, in the gap -> 07:30Z), but the 03-08 03:00 EDT occurrence (07:00Z) already
    # has the send outside its window (T(-1d) = 03-07 03:00 EST = 08:00Z), and was skipped.
    rs = campaign("cap 1 per 1d", send='push daily 03:00 "America/New_York"')
    history = [sent("x", "push", "2026-03-07T07:30:00Z")]  # 03-07 02:30 EST
    assert send_at(rs, z("2026-03-07T07:45:00Z"), history=history) == z("2026-03-08T07:00:00Z")
    assert send_at(rs, z("2026-03-08T06:00:00Z"), history=history) == z("2026-03-08T07:00:00Z")


# ---------------------------------------------------------------------------------------------
# a metamorphic check over random controls around DST changes: the earliest qualifying send found
# from `now` is also what any later `now` up to that send finds (no occurrence is skipped)

_ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Europe/Dublin", "Africa/Cairo", "Pacific/Apia")
_BASES = ("2026-03-08T00:00:00Z", "2026-11-01T00:00:00Z", "2026-10-04T00:00:00Z", "2026-10-29T00:00:00Z",
          "2011-12-29T00:00:00Z")
_SPANS = ("1d", "2d", "1w", "24h", "36h", "90m")
MINUTE = dt.timedelta(minutes=1)


@pytest.mark.parametrize("seed", range(40))
def test_earliest_send_is_stable_for_later_now(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    hour, minute = rnd.randrange(24), rnd.choice((0, 15, 30, 45))
    schedule = rnd.choice(
        (f"daily {hour:02d}:{minute:02d}", f'cron "{minute} */{rnd.choice((1, 2, 3, 6))} * * *"',
         f"weekly sun,wed {hour:02d}:{minute:02d}")
    )
    clauses = [f"cap {rnd.randint(1, 3)} per {rnd.choice(_SPANS)}{rnd.choice(('', ' all', ' email'))}"]
    if rnd.random() < 0.5:
        clauses.append(f"reeligible after {rnd.choice(_SPANS)}")
    start, end = rnd.sample(range(24), 2)
    if rnd.random() < 0.6:
        clauses.append(f"quiet hours {start:02d}:30 to {end:02d}:00 {rnd.choice(('defer', 'drop'))}")
    rs = campaign(*clauses, send=f'push {schedule} "{rnd.choice(_ZONES)}"')
    now = z(rnd.choice(_BASES)) + dt.timedelta(minutes=rnd.randrange(-3 * 1440, 2 * 1440))
    history = [
        sent(rnd.choice(("c", "x")), rnd.choice(("push", "email")), (now - rnd.randrange(9 * 1440) * MINUTE).isoformat())
        for _ in range(rnd.randint(1, 4))
    ]
    user = {"user_id": "u1", "last_used": "2000-01-01T00:00:00Z"}  # long before every `now` (no clock skew)
    first = send_at(rs, now, history=history, user=user)
    if first is None:
        return
    span = (first - now).total_seconds()
    for later in sorted(now + dt.timedelta(seconds=rnd.uniform(0, span)) for _ in range(4)):
        assert send_at(rs, later, history=history, user=user) == first, (later, clauses)
    assert send_at(rs, first, history=history, user=user) == first
