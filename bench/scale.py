"""Benchmark at scale (issue 15): the 100-campaign catalog over generated users in Parquet, decided by
`lapse run` in one process, by `lapse run --workers 2`, and on Spark `local[2]`.

    python bench/scale.py                                          # 10,000,000 users, a daily run (--within 1d)
    python bench/scale.py --users 1000000 --keep /tmp/scale        # keep the Parquet for the next run
    python bench/scale.py --users 1000000 --keep /tmp/scale --runs spark
    python bench/scale.py --users 500000 --no-within               # every decision, 400 days ahead

The users come from ../shared/bench/portfolio.py (`make_users`, generated and written 100,000 at a
time, so memory stays flat at any size) as one Parquet file with typed columns; the rules are its
`catalog(--campaigns)`. Each run is the real command:

    python -m lapse_dsl run CATALOG --now NOW --within 1d --users USERS.parquet --workers 1 --out plan.jsonl
    python -m lapse_dsl run CATALOG --now NOW --within 1d --users USERS.parquet --workers 2 --out plan.jsonl
    python -m lapse_dsl run CATALOG --now NOW --within 1d --users spark:USERS.parquet --spark-master local[2] \
        --out plan.jsonl

timed wall-clock, with what it used read from /proc every 0.2 s over the command and all its
descendants (its workers; Spark's JVM and Python workers): their CPU seconds (on a shared machine,
steadier than wall seconds), the peak of their summed VmRSS (pages shared after a fork count once
per process, so this is an upper bound) and the largest single process's VmHWM. Every run's
decisions and rejected records are compared byte for byte with the one-process run's, by SHA-256
and length: every decision of 10,000,000 users is about 30 GB of JSON lines, so each output is
hashed and removed rather than kept for cmp. It prints a markdown table and asserts nothing about
speed (machines here are shared and noisy); it exits 1 when a run fails or an output differs, and
a failed run still gets its row in the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
from shared import load_portfolio  # bench/shared.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CHUNK = 100_000  # users generated, converted and written at a time
# Rows per Parquet row group (about 0.4 MB): Spark splits a file at row group boundaries only, so
# small groups let spark.sql.files.maxPartitionBytes bound the users per partition.
ROW_GROUP = 20_000
SAMPLE = 0.2  # seconds between two readings of a run's processes
RUNS = ("one", "workers2", "spark")
SCHEMA = pa.schema([
    ("user_id", pa.string()),
    ("last_used", pa.timestamp("us", tz="UTC")),
    ("platform", pa.string()),
    ("country", pa.string()),
    ("sessions", pa.int64()),
    ("push_opted_in", pa.bool_()),
    ("timezone", pa.string()),  # null for the ~1% make_users gives no zone: lapse reads null as absent
])




def progress(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def generate(pf: ModuleType, count: int, path: Path) -> None:
    """``count`` users of ``pf.make_users`` as typed Parquet, a chunk at a time; each chunk has its
    own seed and numbers its users from 0, so ``user_id`` is rewritten from the global position."""
    partial = path.with_name(path.name + ".partial")  # a run stopped midway leaves nothing to reuse
    with pq.ParquetWriter(str(partial), SCHEMA) as writer:
        for start in range(0, count, CHUNK):
            users = pf.make_users(min(CHUNK, count - start), NOW, seed=start + 1)
            columns: dict[str, list[object]] = {name: [] for name in SCHEMA.names}
            for i, user in enumerate(users):
                columns["user_id"].append(f"u{start + i:08d}")
                columns["last_used"].append(dt.datetime.strptime(user["last_used"], "%Y-%m-%dT%H:%M:%SZ")
                                            .replace(tzinfo=dt.UTC))
                for name in ("platform", "country", "sessions", "push_opted_in"):
                    columns[name].append(user[name])
                columns["timezone"].append(user.get("timezone"))
            writer.write_table(pa.table(columns, schema=SCHEMA), row_group_size=ROW_GROUP)
            if start // CHUNK % 10 == 9:
                progress(f"  {start + len(users):,} users written")
    partial.replace(path)


def users_file(pf: ModuleType, count: int, folder: Path) -> tuple[Path, float | None]:
    """The Parquet file of ``count`` users in ``folder`` and the seconds spent making it (None when
    a complete one from an earlier run was reused)."""
    path = folder / f"users_{count}.parquet"
    if path.is_file() and pq.ParquetFile(str(path)).metadata.num_rows == count:
        progress(f"reusing {path}")
        return path, None
    progress(f"generating {count:,} users into {path}")
    start = time.perf_counter()
    generate(pf, count, path)
    return path, time.perf_counter() - start


TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every process: its parent, the CPU it has used so far (user + system, clock ticks) and its
    command name."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:  # gone since the listing
            continue
        end = stat.rindex(")")  # the command name may hold spaces and parentheses
        fields = stat[end + 2:].split()
        found[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), stat[stat.find("(") + 1:end])
    return found


class Tree:
    """What a command and all its descendants use, sampled from /proc: the peak of their summed
    VmRSS, the largest VmHWM (a process's own peak, kept by the kernel, so not missed between
    samples) and their CPU seconds (the last reading of each process: one that ends between two
    samples loses at most a sample's worth), split into the command's own, the JVM's and the rest
    (lapse's workers, Spark's Python workers)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.rss_kb = 0
        self.largest_kb = 0
        self.cpu: dict[int, tuple[str, int]] = {}  # pid -> (part, ticks)

    def sample(self) -> None:
        processes = _processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in processes.items():
            children.setdefault(ppid, []).append(pid)
        total, todo = 0, [self.root]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, ()))
            try:
                with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
                    fields = dict(line.split(":", 1) for line in fh if line.startswith(("VmRSS:", "VmHWM:")))
            except OSError:  # gone since the listing
                continue
            _, ticks, name = processes[pid]
            self.cpu[pid] = ("command" if pid == self.root else "jvm" if name == "java" else "workers", ticks)
            total += int(fields.get("VmRSS", "0 kB").split()[0])
            self.largest_kb = max(self.largest_kb, int(fields.get("VmHWM", "0 kB").split()[0]))
        self.rss_kb = max(self.rss_kb, total)

    def cpu_seconds(self, part: str | None = None) -> float:
        return sum(ticks for which, ticks in self.cpu.values() if part in (None, which)) / TICKS

    def cpu_text(self) -> str:
        """Total CPU seconds, and their split when more than the command used any."""
        parts = [self.cpu_seconds(part) for part in ("command", "jvm", "workers")]
        split = " + ".join(f"{seconds:.0f}" for seconds in parts)
        return f"{self.cpu_seconds():.1f}" + (f" ({split})" if sum(parts[1:]) else "")


@contextmanager
def sampled(root: int) -> Iterator[Tree]:
    """Samples the tree under ``root`` every :data:`SAMPLE` seconds while the block runs."""
    tree = Tree(root)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            tree.sample()
            stop.wait(SAMPLE)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield tree
    finally:
        stop.set()
        thread.join()


def measure(command: list[str], log: Path, cwd: Path, env: dict[str, str]) -> tuple[int, float, Tree]:
    """Runs ``command`` and returns its exit code, its wall seconds and what its process tree used."""
    with log.open("w", encoding="utf-8") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)
        with sampled(proc.pid) as tree:
            code = proc.wait()
        seconds = time.perf_counter() - start
    if code != 0:
        sys.stderr.write(log.read_text(encoding="utf-8")[-4000:])
        progress(f"{' '.join(command)} exited with {code}")
    return code, seconds, tree


def digest(path: Path) -> tuple[str, int]:
    """SHA-256 and length of ``path``, which is then removed."""
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            sha.update(block)
    length = path.stat().st_size
    path.unlink()
    return sha.hexdigest(), length


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000_000, help="users to generate (default 10,000,000)")
    parser.add_argument("--campaigns", type=int, default=100, help="campaigns in the catalog (default 100)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the generated Parquet and the one-process output's SHA-256 in DIR and reuse them "
                             "when they are there (default: a temporary folder, removed at the end)")
    parser.add_argument("--runs", default=",".join(RUNS),
                        help=f"comma-separated subset of {','.join(RUNS)} (default: all; without one, outputs are "
                             "compared with the one-process output's SHA-256 kept by an earlier run with --keep: run that "
                             "one again after changing lapse_dsl)")
    ahead = parser.add_mutually_exclusive_group()
    ahead.add_argument("--within", metavar="DURATION", default="1d",
                       help="pass --within DURATION to every run (default 1d: a daily run)")
    ahead.add_argument("--no-within", dest="within", action="store_const", const=None,
                       help="no --within: every campaign's next decision within 400 days, about 9 per user (about "
                            "3 KB of output per user: 30 GB for 10,000,000)")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting for the Spark run, given to its JVM through PYSPARK_SUBMIT_ARGS "
                             "(repeatable; e.g. spark.driver.memory=4g, spark.sql.files.maxPartitionBytes=1m)")
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not runs or any(r not in RUNS for r in runs):
        parser.error(f"--runs: a comma-separated subset of {','.join(RUNS)}")
    runs = [r for r in RUNS if r in runs]  # the one-process run first: it is the reference
    if args.users < 1 or args.campaigns < 1:
        parser.error("--users and --campaigns must be 1 or more")
    if any("=" not in conf for conf in args.spark_conf):
        parser.error("--spark-conf: KEY=VALUE")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    spark_env = dict(env)
    if args.spark_conf:  # read by pyspark when it launches the JVM, so spark.driver.memory applies too
        spark_env["PYSPARK_SUBMIT_ARGS"] = " ".join(f"--conf {conf}" for conf in args.spark_conf) + " pyspark-shell"
    pf = load_portfolio()

    with tempfile.TemporaryDirectory(prefix="lapse-scale-") as tmp:
        work = Path(tmp)
        folder = args.keep or work
        folder.mkdir(parents=True, exist_ok=True)
        users, made = users_file(pf, args.users, folder)
        rules = work / f"catalog_{args.campaigns}.lapse"
        rules.write_text(pf.catalog(args.campaigns), encoding="utf-8")
        within = ["--within", args.within] if args.within else []
        common = [sys.executable, "-m", "lapse_dsl", "run", str(rules), "--now", NOW.isoformat(), *within]
        commands = {
            "one": [*common, "--users", str(users), "--workers", "1"],
            "workers2": [*common, "--users", str(users), "--workers", "2"],
            "spark": [*common, "--users", f"spark:{users}", "--spark-master", "local[2]"],
        }
        # the one-process output of these users, rules and flags, for a later --runs without one
        kept = folder / f"reference_{args.users}_{args.campaigns}_{args.within or 'all'}.json"
        reference, decisions = None, None
        if "one" not in runs and kept.is_file():
            saved = json.loads(kept.read_text(encoding="utf-8"))
            reference, decisions = saved["outputs"], saved["decisions"]
        load = os.getloadavg()
        rows = []
        for name in runs:
            out, errors = work / f"plan_{name}.jsonl", work / f"rejected_{name}.jsonl"
            progress(f"{name}: {' '.join(commands[name][3:])}")
            code, seconds, tree = measure([*commands[name], "--out", str(out), "--errors", str(errors)],
                                          work / f"stderr_{name}.txt", work, spark_env if name == "spark" else env)
            if code != 0:
                rows.append((name, seconds, tree.cpu_text(), tree.rss_kb / 1024, tree.largest_kb / 1024,
                             f"FAILED (exit {code})"))
                continue
            if name == "one":
                with out.open("rb") as fh:
                    decisions = sum(1 for _ in fh)
            outputs = [list(digest(out)), list(digest(errors))]
            if name == "one":
                reference, same = outputs, "reference"
                if args.keep:
                    kept.write_text(json.dumps({"outputs": outputs, "decisions": decisions}), encoding="utf-8")
            else:
                same = ("not compared" if reference is None else "yes" if outputs == reference else "NO")
                if reference is not None and "one" not in runs:
                    same += f" (against {kept.name})"
            progress(f"{name}: {seconds:.1f} s, output equal: {same}")
            rows.append((name, seconds, tree.cpu_text(), tree.rss_kb / 1024, tree.largest_kb / 1024, same))
        size = users.stat().st_size / 1e6

    print(f"{args.users:,} users ({size:,.1f} MB of Parquet, "
          + (f"generated in {made:.1f} s" if made is not None else "reused") + f"), {args.campaigns} campaigns of "
          f"portfolio.catalog, --now {NOW.isoformat()}" + (f", --within {args.within}" if args.within else
                                                           ", every decision (no --within)")
          + (f", {decisions:,} decisions" if decisions is not None else ""))
    if args.spark_conf and "spark" in runs:
        print(f"Spark settings: {', '.join(args.spark_conf)}")
    print(f"{os.cpu_count()} cores, load average {load[0]:.2f} at the start, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print()
    print("| run | seconds | users/s | speed-up | CPU seconds (command + JVM + workers) | peak RSS, process tree (MB) "
          "| largest process (MB) | output equals one process |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    base = rows[0][1] if rows[0][0] == "one" and rows[0][-1] == "reference" else None
    labels = {"one": "lapse run --workers 1", "workers2": "lapse run --workers 2", "spark": "Spark local[2]"}
    for name, seconds, cpu, tree_mb, largest_mb, same in rows:
        done = not same.startswith("FAILED")  # a failed run's seconds are until it stopped
        rate = f"{args.users / seconds:,.0f}" if done else "-"
        speedup = f"{base / seconds:.2f}x" if base is not None and done else "-"
        print(f"| {labels[name]} | {seconds:.1f} | {rate} | {speedup} | {cpu} "
              f"| {tree_mb:,.0f} | {largest_mb:,.0f} | {same} |")
    return 1 if any(row[-1].startswith(("NO", "FAILED")) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
