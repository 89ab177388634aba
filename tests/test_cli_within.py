"""``lapse run --within D``: the decisions of the run without it that send before ``--now`` + D,
and any malformed duration is a usage error (exit 2), never a traceback."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from lapse_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-30T00:00:00Z"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("within", ["1h", "1d", "3d", "1w", "0m", "400d"])
def test_within_keeps_the_decisions_that_send_before_now_plus_it(capsys: pytest.CaptureFixture[str], within: str) -> None:
    base = ["run", ROOT / "rules", "--users", ROOT / "examples" / "users.jsonl", "--now", NOW]
    code, everything, _ = run(capsys, *base)
    assert code == 0
    code, bounded, err = run(capsys, *base, "--within", within)
    assert code == 0 and "Traceback" not in err
    amount, unit = int(within[:-1]), within[-1]
    seconds = amount * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    limit = dt.datetime.fromisoformat(NOW) + dt.timedelta(seconds=seconds)
    expected = [line for line in everything.splitlines()
                if dt.datetime.fromisoformat(json.loads(line)["send_at"]) < limit]
    assert bounded.splitlines() == expected
    if within == "400d":
        assert expected == everything.splitlines()  # the horizon: nothing is left out
    if within in ("1d", "3d"):
        assert 0 < len(expected) < len(everything.splitlines())  # the example really tells them apart


@pytest.mark.parametrize("within", ["", "1", "d", "15x", "-1d", "1.5h", " 1d", "1 d", "١d", "1D", "401d", "57601h",
                                    "9" * 4000 + "d", "0x10m"])
def test_a_malformed_within_is_a_usage_error(capsys: pytest.CaptureFixture[str], within: str) -> None:
    code, out, err = run(capsys, "run", ROOT / "rules", "--users", ROOT / "examples" / "users.jsonl", "--now", NOW,
                         "--within", within)
    assert code == 2 and out == ""
    assert "argument --within" in err and "Traceback" not in err
