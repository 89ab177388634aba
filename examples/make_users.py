"""Make examples/users.jsonl: realistic synthetic app users, seeded so the file is reproducible.

    python examples/make_users.py            # writes examples/users.jsonl (4,000 users)
    python examples/make_users.py -n 1000000 --out /tmp/users.jsonl

Users live in 24 real time zones (with their countries and languages), last used the app over the
90 days before 2026-11-30, some are on a trial ending in the next 30 days, some have a preferred
time of day (a few of them malformed, which a campaign at `preferred_time or 17:45` answers with
its fallback time), and a few records are malformed on purpose, as real exports are: they show how
`lapse run` rejects and accounts for bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
PLACES = [  # zone, country, language, weight
    ("America/New_York", "US", "en", 14), ("America/Chicago", "US", "en", 8), ("America/Denver", "US", "en", 3),
    ("America/Los_Angeles", "US", "en", 9), ("America/Mexico_City", "MX", "es", 5), ("America/Sao_Paulo", "BR", "pt", 6),
    ("Europe/London", "GB", "en", 7), ("Europe/Dublin", "IE", "en", 2), ("Europe/Paris", "FR", "fr", 5),
    ("Europe/Berlin", "DE", "de", 5), ("Europe/Madrid", "ES", "es", 3), ("Europe/Istanbul", "TR", "tr", 3),
    ("Africa/Lagos", "NG", "en", 3), ("Africa/Cairo", "EG", "ar", 2), ("Asia/Dubai", "AE", "ar", 2),
    ("Asia/Kolkata", "IN", "en", 8), ("Asia/Kathmandu", "NP", "ne", 1), ("Asia/Singapore", "SG", "en", 2),
    ("Asia/Tokyo", "JP", "ja", 4), ("Australia/Sydney", "AU", "en", 3), ("Australia/Lord_Howe", "AU", "en", 1),
    ("Pacific/Auckland", "NZ", "en", 2), ("Pacific/Kiritimati", "KI", "en", 1), ("Pacific/Pago_Pago", "AS", "en", 1),
]
FIRST_NAMES = ["Ana", "Ben", "Chloé", "Dev", "Emre", "Fatima", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
               "Mei", "Noah", "Olivia", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Vikram", "Wen", "Yusuf"]
TIERS = ["free", "plus", "pro"]


def make_user(i: int, rng: random.Random) -> dict[str, object]:
    zone, country, language, _ = rng.choices(PLACES, weights=[p[3] for p in PLACES])[0]
    first_used = NOW - dt.timedelta(days=rng.uniform(30, 720))
    last_used = max(first_used, NOW - dt.timedelta(seconds=rng.randrange(90 * 86400)))
    platform = rng.choices(["ios", "android", "web"], weights=[45, 45, 10])[0]
    user: dict[str, object] = {
        "user_id": f"u{i:07d}",
        "first_name": rng.choice(FIRST_NAMES),
        "last_used": last_used.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "first_used": first_used.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sessions": rng.randint(1, 400),
        "platform": platform,
        "timezone": zone,
        "push_opted_in": platform != "web" and rng.random() < 0.7,
        "email_subscribed": rng.random() < 0.6,
        "country": country,
        "language": language,
        "app_version": rng.choice(["5.2.0", "5.3.1", "5.4.0", "6.0.2"]),
        "custom": {"tier": rng.choices(TIERS, weights=[70, 20, 10])[0]},
    }
    r = rng.random()
    if r < 0.01:
        del user["timezone"]  # never set by the client
    elif r < 0.015:
        user["timezone"] = rng.choice(["localtime", "+05:30", "america/new_york", ""])  # junk seen in the wild
    if rng.random() < 0.05:
        del user["first_name"]
    # newer attributes draw from their own generator, so the ones above stay as they were
    more = random.Random(f"{i}-more")
    if more.random() < 0.3:  # on a free trial, ending within the next 30 days
        user["trial_ends"] = (NOW + dt.timedelta(seconds=more.randrange(30 * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = more.random()
    if r < 0.4:  # the start of the hour before their most active one (lapse insights --per-user)
        user["preferred_time"] = f"{more.choice([7, 8, 11, 12, 18, 19, 20, 21]):02d}:00"
    elif r < 0.42:
        user["preferred_time"] = more.choice(["25:99", "7pm", ""])  # bad values: the fallback time is used
    return user


def malformed(i: int) -> str:
    """A few broken lines, as real exports have."""
    kinds = [
        f'{{"user_id": "u{i:07d}", "last_used": "2026-11-12 10:00:00", "platform": "ios"}}',  # no offset
        '{"last_used": "2026-11-12T10:00:00Z", "platform": "ios"}',  # no user_id
        f'{{"user_id": "u{i:07d}", "last_used": "2026-11-12T10:00:00Z", "platform": "ios", ',  # truncated
        f'{{"user_id": "u{i:07d}", "last_used": true, "platform": "ios"}}',  # wrong type
    ]
    return kinds[(i // 1000) % len(kinds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4000, help="number of users (default 4000)")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--out", default=str(Path(__file__).with_name("users.jsonl")))
    parser.add_argument("--no-malformed", action="store_true", help="only well-formed records")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8") as out:
        for i in range(args.n):
            if not args.no_malformed and i % 1000 == 999:
                out.write(malformed(i) + "\n")
            else:
                out.write(json.dumps(make_user(i, rng), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
