"""Portable user buckets for holdouts and variants.

    input  = "lapse-bucket/v1:" + purpose + ":" + str(len(salt_utf8)) + ":" + salt + ":" + user_id
    bucket = int.from_bytes(sha256(utf8(input))[:4], "big") * 10000 >> 32     # 0..9999

``purpose`` is ``holdout`` or ``variant`` (so the two assignments are independent); ``salt`` is the
campaign name or its ``salt "..."`` clause. The salt's UTF-8 byte length makes the input
unambiguous whatever characters the salt holds. Any language with SHA-256 reproduces it; the test
vectors are in ``tests/fixtures/bucket_vectors.json``.
"""

from __future__ import annotations

import hashlib

__all__ = ["BUCKETS", "bucket", "bucket_input"]

BUCKETS = 10_000
VERSION = "lapse-bucket/v1"


def bucket_input(purpose: str, salt: str, user_id: str) -> bytes:
    salt_bytes = salt.encode("utf-8")
    return b"%s:%s:%d:%s:%s" % (
        VERSION.encode(), purpose.encode("utf-8"), len(salt_bytes), salt_bytes, user_id.encode("utf-8"),
    )


def bucket(purpose: str, salt: str, user_id: str) -> int:
    """The user's bucket, 0..9999, for ``purpose`` in the campaign salted ``salt``."""
    digest = hashlib.sha256(bucket_input(purpose, salt, user_id)).digest()
    return (int.from_bytes(digest[:4], "big") * BUCKETS) >> 32


def in_percent(bucket_value: int, percent: float) -> bool:
    """True when the bucket falls in the first ``percent`` of users (percent has <= 2 decimals)."""
    return bucket_value < round(percent * 100)
