"""Rebuild docs/examples/users.db, the SQLite example of docs/cli.md:

    python docs/examples/make_users_db.py [PATH]
"""

import sqlite3
import sys
from pathlib import Path

DB = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("users.db")
ROWS = [
    # user_id, first_name, timezone, last_used (ISO text or epoch seconds), push_opted_in (0/1), custom.tier
    ("u1", "Ana", "Europe/Paris", "2026-11-14T09:00:00Z", 1, "gold"),
    ("u2", "Ben", "America/New_York", 1795649400, 1, None),  # epoch seconds: 2026-11-25T23:30:00Z
    ("u3", "Chen", None, "2026-11-15T12:00:00+09:00", 0, "free"),  # NULL = missing
]

DB.unlink(missing_ok=True)
with sqlite3.connect(DB) as conn:
    conn.execute(
        "CREATE TABLE app_users"
        ' (user_id TEXT, first_name TEXT, timezone TEXT, last_used, push_opted_in INTEGER, "custom.tier" TEXT)'
    )
    conn.executemany("INSERT INTO app_users VALUES (?, ?, ?, ?, ?, ?)", ROWS)
conn.close()
