"""Benchmark of ``lapse run --workers``: users per second in one process and in several.

    python bench/workers.py                  # 200,000 generated users, 1 and 2 workers
    python bench/workers.py --break-even     # also smaller files: where do workers start to pay?

Each run is the real command (``python -m lapse_dsl run rules/ ...``) on a file made by
examples/make_users.py (no malformed records), timed wall-clock, and every run's output is checked
to equal the one-process output byte for byte. It prints a table and asserts nothing about speed
(machines here are shared and noisy).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-30T00:00:00Z"


def make_users(count: int, folder: Path) -> Path:
    path = folder / f"users_{count}.jsonl"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_users.py"), "-n", str(count), "--no-malformed",
                    "--out", str(path)], check=True)
    return path


def run(users: Path, workers: int, out: Path) -> float:
    """Seconds for one ``lapse run`` over ``users``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lapse_dsl", "run", str(ROOT / "rules"), "--users", str(users), "--now", NOW,
                    "--workers", str(workers), "--out", str(out), "--errors", os.devnull],
                   check=True, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="users in the large file (default 200000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)")
    parser.add_argument("--break-even", action="store_true", help="also time 1 and 2 workers on small files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = []
        sizes = [args.n]
        if args.break_even:
            sizes = [2_000, 5_000, 10_000, 20_000, 40_000, *sizes]
        for count in sizes:
            users = make_users(count, folder)
            megabytes = users.stat().st_size / 1e6
            base = None
            for workers in args.workers if count == args.n else [1, 2]:
                out = folder / f"out_{count}_{workers}.jsonl"
                seconds = run(users, workers, out)
                if base is None:
                    base, first = seconds, out
                else:
                    assert filecmp.cmp(first, out, shallow=False), f"--workers {workers} wrote other bytes"
                rows.append((count, megabytes, workers, seconds, count / seconds, base / seconds))
    print(f"rules/ ({len(list((ROOT / 'rules').glob('*.lapse')))} files), {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}; outputs equal byte for byte")
    print()
    print("| users | MB | workers | seconds | users/s | speed-up |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for count, megabytes, workers, seconds, rate, speedup in rows:
        print(f"| {count:,} | {megabytes:.1f} | {workers} | {seconds:.1f} | {rate:,.0f} | {speedup:.2f}x |")


if __name__ == "__main__":
    main()
