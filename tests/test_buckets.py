"""Portable buckets: the published test vectors, an independent implementation of the scheme, and
stability across processes (never Python's salted ``hash()``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lapse_dsl.buckets import BUCKETS, bucket, bucket_input, in_percent

VECTORS_PATH = Path(__file__).parent / "fixtures" / "bucket_vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = VECTORS["cases"]


def reference_input(purpose: str, salt: str, user_id: str) -> bytes:
    """The scheme as a port to another language would write it, from the published description."""
    salt_bytes = salt.encode("utf-8")
    return (
        b"lapse-bucket/v1:"
        + purpose.encode("utf-8")
        + b":"
        + str(len(salt_bytes)).encode("ascii")
        + b":"
        + salt_bytes
        + b":"
        + user_id.encode("utf-8")
    )


def reference_bucket(purpose: str, salt: str, user_id: str) -> int:
    first4 = hashlib.sha256(reference_input(purpose, salt, user_id)).digest()[:4]
    return int.from_bytes(first4, "big") * 10000 >> 32


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['purpose']}-{case['salt']}-{case['user_id']}"


def test_vector_file_header() -> None:
    assert VECTORS["version"] == "lapse-bucket/v1"
    assert "SHA-256" in VECTORS["scheme"]
    assert set(VECTORS["purposes"]) == {"holdout", "variant"}
    for case in CASES:
        assert {"purpose", "salt", "user_id", "bucket"} <= case.keys()
        assert case["purpose"] in VECTORS["purposes"]
        assert isinstance(case["bucket"], int) and 0 <= case["bucket"] < BUCKETS


def test_vectors_cover_the_edges() -> None:
    buckets = {c["bucket"] for c in CASES}
    assert {0, 9999, 999, 1000, 4999, 5000} <= buckets  # both ends, either side of 10% and 50%
    texts = [c["user_id"] for c in CASES] + [c["salt"] for c in CASES]
    assert any("é" in t for t in texts)
    assert any("中文" in t or "用户" in t for t in texts)
    assert any(any(ord(ch) > 0xFFFF for ch in t) for t in texts)  # an emoji: 4 UTF-8 bytes
    assert any(c["user_id"] == "0" for c in CASES)
    # the bucket-0 and bucket-9999 edges exist for both purposes
    for purpose in ("holdout", "variant"):
        assert {0, 9999} <= {c["bucket"] for c in CASES if c["purpose"] == purpose}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_vector_matches_independent_implementation(case: dict[str, Any]) -> None:
    purpose, salt, user_id = case["purpose"], case["salt"], case["user_id"]
    assert reference_bucket(purpose, salt, user_id) == case["bucket"]
    assert reference_input(purpose, salt, user_id).hex() == case["input_hex"]
    assert hashlib.sha256(bytes.fromhex(case["input_hex"])).digest()[:4].hex() == case["sha256_prefix_hex"]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_vector_matches_package(case: dict[str, Any]) -> None:
    purpose, salt, user_id = case["purpose"], case["salt"], case["user_id"]
    assert bucket(purpose, salt, user_id) == case["bucket"]
    assert bucket_input(purpose, salt, user_id).hex() == case["input_hex"]


def test_package_matches_reference_on_many_users() -> None:
    for i in range(2000):
        user_id = f"u{i}-é中🦊"
        for purpose in ("holdout", "variant"):
            assert bucket(purpose, "s", user_id) == reference_bucket(purpose, "s", user_id)


def test_salt_length_prefix_keeps_inputs_apart() -> None:
    assert bucket_input("holdout", "a:b", "c") != bucket_input("holdout", "a", "b:c")
    assert bucket_input("holdout", "a:b", "c").endswith(b":3:a:b:c")
    assert bucket_input("holdout", "é", "x").endswith(b":2:\xc3\xa9:x")  # bytes, not characters


def test_purposes_are_independent() -> None:
    same = sum(bucket("holdout", "s", f"u{i}") == bucket("variant", "s", f"u{i}") for i in range(5000))
    assert same < 10  # one in 10,000 by chance


@pytest.mark.parametrize(
    ("value", "percent", "inside"),
    [
        (0, 0.01, True),
        (1, 0.01, False),
        (999, 10, True),
        (1000, 10, False),
        (1249, 12.5, True),
        (1250, 12.5, False),
        (3332, 33.33, True),
        (3333, 33.33, False),
        (6665, 33.33 + 33.33, True),  # a float sum that is not exactly 66.66
        (6666, 33.33 + 33.33, False),
        (9998, 99.99, True),
        (9999, 99.99, False),
        (9999, 100, True),
    ],
)
def test_in_percent_edges(value: int, percent: float, inside: bool) -> None:
    assert in_percent(value, percent) is inside


_SUBPROCESS = """
import json, sys
from lapse_dsl.buckets import bucket
ids = json.loads(sys.stdin.read())
print(json.dumps([[bucket("holdout", "winback-2026", u), bucket("variant", "winback-2026", u)] for u in ids]))
"""


@pytest.mark.parametrize("hashseed", ["0", "12345"])
def test_buckets_identical_in_another_process(hashseed: str) -> None:
    ids = [f"user-{i}" for i in range(500)] + [c["user_id"] for c in CASES]
    here = [[bucket("holdout", "winback-2026", u), bucket("variant", "winback-2026", u)] for u in ids]
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    result = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS], input=json.dumps(ids), capture_output=True, text=True, env=env,
        check=True, timeout=60,
    )
    assert json.loads(result.stdout) == here
