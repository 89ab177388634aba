"""Idempotency keys (issue 11, item 14): an unambiguous encoding of (campaign, user, occurrence),
total over every string (lone surrogates included), as docs/hosts.md documents it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lapse_dsl
from lapse_dsl.evaluate import idempotency_key, key_preimage

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 1, 13, 0, tzinfo=UTC)  # the next 12:00 UTC occurrence is 03-02
# every code point, lone surrogates and the old separator included
names = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(["", "\x1f", "a\x1fb", '"', "\\"])
stamps = st.sampled_from(["2026-03-02T12:00", "2026-03-02T12:01", "", "\x1f"])


@settings(max_examples=500, deadline=None)
@given(st.tuples(names, names, stamps), st.tuples(names, names, stamps))
def test_distinct_triples_have_distinct_preimages(a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
    pa, pb = key_preimage(*a), key_preimage(*b)
    assert (pa == pb) == (a == b)
    assert json.loads(pa) == list(a)  # the preimage decodes back to the triple: no two triples share one
    assert pa.isascii()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("a\x1fb", "c"), ("a", "b\x1fc")),  # the old separator inside a name
        (("a", "\x1fb"), ("a\x1f", "b")),
        (('a","b', "c"), ("a", 'b","c')),  # JSON's own syntax inside a name
        (("a\\", "b"), ("a", "\\b")),
        (("", "ab"), ("a", "b")),
    ],
)
def test_names_that_collided_get_different_keys(a: tuple[str, str], b: tuple[str, str]) -> None:
    wall = dt.datetime(2026, 3, 2, 12, 0)
    assert idempotency_key(*a, wall) != idempotency_key(*b, wall)
    if not all(c.isprintable() and c for c in (a[0], b[0])):
        return  # not a valid campaign name (the checker refuses control characters): the function alone
    rules = {campaign: lapse_dsl.compile(f'campaign "{_quote(campaign)}" {{ segment user_id is set\n'
                                         " send push daily 12:00 utc }")
             for campaign in {a[0], b[0]}}
    keys = set()
    for campaign, user_id in (a, b):
        for rs in (rules[campaign], rules[campaign].reference()):
            (decision,) = rs.evaluate({"user_id": user_id}, NOW)
            assert decision.idempotency_key == idempotency_key(campaign, user_id, wall)
            keys.add(decision.idempotency_key)
    assert len(keys) == 2


def _quote(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


@pytest.mark.parametrize("user_id", ["\ud800", "a\udfffb", "\udc80\ud83d", "\ud83d\ude00"])
def test_lone_surrogates_in_user_ids_get_keys(user_id: str) -> None:
    rs = lapse_dsl.compile('campaign "c" { segment user_id is set\n send push daily 12:00 utc }')
    for path in (rs, rs.reference()):
        (decision,) = path.evaluate({"user_id": user_id}, NOW)
        assert decision.idempotency_key == idempotency_key("c", user_id, dt.datetime(2026, 3, 2, 12, 0))
        assert len(decision.idempotency_key) == 32


def test_the_documented_encoding() -> None:
    # docs/hosts.md: sha256 of the compact, ASCII-only JSON array [campaign, user_id, wall time to the minute]
    wall = dt.datetime(2026, 3, 2, 12, 0)
    expected = hashlib.sha256(b'["Caf\\u00e9 \\u2013 1","u\\ud800","2026-03-02T12:00"]').hexdigest()[:32]
    assert idempotency_key("Café – 1", "u\ud800", wall) == expected
