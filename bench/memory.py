"""Peak memory of `lapse run` as the input grows: it streams, so a 1,000,000-user file should need
no more than 1.5x the memory of a 100,000-user file.

    python bench/memory.py                      # 100,000 and 1,000,000 users
    python bench/memory.py --users 100000,300000

Each size is generated into a temporary folder with examples/make_users.py (seeded, with its few
malformed records), then run as

    lapse run rules/braze_lapsing.lapse --users FILE --now 2026-11-30T00:00:00Z --out /dev/null --errors /dev/null

in a fresh intermediate Python process that reports getrusage(RUSAGE_CHILDREN).ru_maxrss, so each
peak belongs to one run only. Exits 1 when a run fails or a ratio exceeds the target.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "braze_lapsing.lapse"
MAKE_USERS = ROOT / "examples" / "make_users.py"
NOW = "2026-11-30T00:00:00Z"
TARGET = 1.5
SUMMARY = re.compile(r"accounted for: (\d+) read = (\d+) with \+ (\d+) without \+ (\d+) rejected \((\w+)\)")

# Runs the command given as JSON in argv[1] and prints {"rc", "seconds", "maxrss_kb", "stderr"}.
# ru_maxrss is in kilobytes on Linux and in bytes on macOS.
WRAPPER = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(json.loads(sys.argv[1]), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if sys.platform == "darwin":
    rss //= 1024
print(json.dumps({"rc": proc.returncode, "seconds": seconds, "maxrss_kb": rss, "stderr": proc.stderr}))
"""


def lapse_command() -> list[str]:
    script = Path(sys.executable).with_name("lapse")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lapse_dsl"]


def generate(count: int, folder: Path) -> Path:
    path = folder / f"users_{count}.jsonl"
    subprocess.run([sys.executable, str(MAKE_USERS), "-n", str(count), "--out", str(path)], check=True)
    return path


def measure(users: Path) -> dict[str, object]:
    command = [*lapse_command(), "run", str(RULES), "--users", str(users), "--now", NOW,
               "--out", "/dev/null", "--errors", "/dev/null"]
    wrapper = subprocess.run([sys.executable, "-c", WRAPPER, json.dumps(command)],
                             capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(wrapper.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="100000,1000000",
                        help="comma-separated user counts; the first is the baseline (default: 100000,1000000)")
    args = parser.parse_args()
    try:
        sizes = [int(s.replace("_", "")) for s in args.users.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--users: '{args.users}' is not a comma-separated list of whole numbers")
    if not sizes or min(sizes) < 1:
        parser.error("--users: give at least one count of 1 or more")

    rows: list[tuple[int, float, float, float]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="lapse-bench-") as tmp:
        for count in sizes:
            print(f"generating {count:,} users ...", file=sys.stderr, flush=True)
            path = generate(count, Path(tmp))
            print(f"running lapse run over {path.stat().st_size / 1e6:,.0f} MB ...", file=sys.stderr, flush=True)
            result = measure(path)
            path.unlink()
            stderr = str(result["stderr"])
            found = SUMMARY.search(stderr)
            if result["rc"] != 0 or found is None or found.group(5) != "ok" or int(found.group(1)) != count:
                print(f"run over {count:,} users failed (exit {result['rc']}):\n{stderr}", file=sys.stderr)
                failed = True
                continue
            seconds = float(str(result["seconds"]))
            rows.append((count, seconds, count / seconds, int(str(result["maxrss_kb"])) / 1024))

    if not rows:
        return 1
    base = rows[0][3]
    print(f"{'users':>10} {'seconds':>9} {'users/s':>9} {'peak RSS MB':>12} {'ratio':>6}")
    for count, seconds, rate, rss in rows:
        ratio = rss / base
        verdict = "" if count == rows[0][0] else ("  ok" if ratio <= TARGET else f"  OVER {TARGET}x")
        failed = failed or ratio > TARGET
        print(f"{count:>10,} {seconds:>9.1f} {rate:>9,.0f} {rss:>12.1f} {ratio:>5.2f}x{verdict}")
    print(f"target: peak RSS within {TARGET}x of the {rows[0][0]:,}-user run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
