"""``lapse run --workers N``: the same bytes as one process.

The decisions, the rejected records (on standard error or in ``--errors``) and the summary of a
run over several processes equal those of ``--workers 1``, byte for byte, whatever the flags, the
output format, and wherever bad records fall relative to the chunks the workers receive. A worker
that dies, and Ctrl-C, stop the run with a clear message instead of hanging.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from lapse_dsl import workers
from lapse_dsl.batch import Summary, run_batch
from lapse_dsl.cli import main
from lapse_dsl.plugin import Plugin
from lapse_dsl.sources import open_source

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
USERS = ROOT / "examples" / "users.jsonl"
NOW = "2026-11-30T00:00:00Z"
AT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@attrs.frozen
class Run:
    code: int
    out: bytes  # the --out file
    errors: bytes  # the --errors file, when given
    stderr: str  # rejections without --errors, the summary, messages


def lapse(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str, errors_file: bool = False) -> Run:
    out, errors = tmp_path / "out", tmp_path / "errors"
    for path in (out, errors):
        path.unlink(missing_ok=True)
    argv = ["run", str(RULES), "--now", NOW, "--out", str(out), *args]
    if errors_file:
        argv += ["--errors", str(errors)]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    read = lambda path: path.read_bytes() if path.exists() else b""  # noqa: E731
    return Run(code, read(out), read(errors), captured.err)


@pytest.mark.parametrize(("fmt", "errors_file"), [("jsonl", False), ("csv", True)], ids=["jsonl", "csv-errors-file"])
def test_two_workers_write_the_bytes_of_one_process(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str, errors_file: bool
) -> None:
    args = ("--users", str(USERS), "--format", fmt)
    one = lapse(capsys, tmp_path, *args, "--workers", "1", errors_file=errors_file)
    two = lapse(capsys, tmp_path, *args, "--workers", "2", errors_file=errors_file)
    assert two == one
    rejections = (one.errors.decode() if errors_file else one.stderr).splitlines()
    lines = [json.loads(r)["line"] for r in rejections if r.startswith("{")]
    assert len(lines) == 4 and lines == sorted(lines)  # the 4 malformed records of users.jsonl, in input order
    assert one.out.count(b"\n") > 4000
    if fmt == "csv":
        assert one.out.startswith(b"campaign,channel,") and one.out.count(b"campaign,channel,") == 1


@pytest.mark.parametrize(("fmt", "base", "flags"), [
    ("jsonl", ("--now", "2026-12-03T18:00:00Z"), ("--due-only",)),
    ("csv", (), ("--within", "3d", "--since", "2026-11-29T12:00:00Z")),
    ("jsonl", (), ("--strict", "--summary")),
], ids=["due-only", "within-since", "strict-summary"])
def test_flags_pass_through_to_the_workers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str, base: tuple[str, ...], flags: tuple[str, ...]
) -> None:
    users = tmp_path / "users.jsonl"  # the first 1,000 lines: one malformed record
    users.write_text("".join(USERS.read_text(encoding="utf-8").splitlines(keepends=True)[:1000]), encoding="utf-8")
    args = ("--users", str(users), "--format", fmt, *base)
    without = lapse(capsys, tmp_path, *args)
    one = lapse(capsys, tmp_path, *args, *flags, "--workers", "1")
    two = lapse(capsys, tmp_path, *args, *flags, "--workers", "2")
    assert two == one
    assert one.code == (3 if "--strict" in flags else 0)
    if "--summary" in flags:
        assert len(one.stderr) > len(without.stderr) + 500  # the plan's tables after the run's summary
    else:
        assert 0 < len(one.out) < len(without.out)  # the flag did something


def bad_users(count: int, bad_at: dict[int, str]) -> str:
    """``count`` lines of examples/users.jsonl with the line numbers of ``bad_at`` replaced."""
    with USERS.open(encoding="utf-8") as fh:
        good = [line for line in fh if line.startswith('{"user_id"')]
    return "".join(bad_at.get(i, good[i - 1]) for i in range(1, count + 1))


def decided(path: Path, fmt: str, *, workers_: int, chunk: int = 50, encoding: str = "utf-8") -> tuple[bytes, str, Summary]:
    """(output bytes, rejection lines, summary) of a run in one process or ``workers_`` processes."""
    plugin = Plugin.from_path(RULES)
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding=encoding, newline="", write_through=True)
    errors = io.StringIO()
    with open_source(str(path), plugin.rules.schema) as source:
        if workers_ == 1:
            summary = run_batch(plugin, source, AT, since=None, due_only=False, out=out, fmt=fmt, errors=errors,
                                progress=False)
        else:
            summary = workers.run_parallel(plugin, source, AT, since=None, due_only=False, out=out, fmt=fmt,
                                           errors=errors, workers=workers_, progress=False, chunk=chunk)
    out.flush()
    return raw.getvalue(), errors.getvalue(), summary


# Bad records on both sides of the boundaries of chunks of 50, and first and last: unreadable
# (rejected by the parent as it reads), undecidable (by a worker) and unwritable (by a worker's writer).
BOUNDARIES = {
    1: "{not json\n",
    49: '{"user_id": "naive", "last_used": "2026-11-24T11:04:26"}\n',
    50: "[1, 2]\n",
    51: '{"first_name": "no id"}\n',
    100: '{"user_id": "surrogate", "first_name": "\\ud800", "last_used": "2026-11-24T11:04:26Z", "push_opted_in": true}\n',
    101: "\n",
    150: '{"user_id": "deep", "custom": ' + "[" * 5000 + "]" * 5000 + "}\n",
    173: "{truncated\n",
}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_bad_records_at_chunk_boundaries_are_rejected_in_input_order(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text(bad_users(173, BOUNDARIES), encoding="utf-8")
    one, two = decided(path, fmt, workers_=1), decided(path, fmt, workers_=2)
    assert two[:2] == one[:2]
    assert two[2].render() == one[2].render()
    assert attrs.asdict(two[2]) == attrs.asdict(one[2])
    lines = [json.loads(r)["line"] for r in one[1].splitlines()]
    assert lines == sorted(BOUNDARIES.keys() - {101})  # a blank line is skipped, not a record
    assert one[2].balanced and one[2].read == 172


def test_csv_input_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    rows = ["user_id,first_name,last_used,push_opted_in,platform"]
    for i in range(1, 130):
        rows.append(f"u{i},Zoë,2026-11-{1 + i % 28:02d}T10:00:00Z,true,ios" if i % 40 else f'u{i},"unclosed,x,y')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    one, two = decided(path, "csv", workers_=1, chunk=7), decided(path, "csv", workers_=2, chunk=7)
    assert two[:2] == one[:2] and attrs.asdict(two[2]) == attrs.asdict(one[2])
    assert one[1] and one[0].count(b"\n") > 10


def test_an_output_that_cannot_hold_a_name_rejects_the_same_users(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text(bad_users(120, {}), encoding="utf-8")
    one = decided(path, "jsonl", workers_=1, encoding="ascii")
    two = decided(path, "jsonl", workers_=2, encoding="ascii")
    assert two[:2] == one[:2] and attrs.asdict(two[2]) == attrs.asdict(one[2])
    assert "cannot be written in the output's encoding (ascii)" in one[1]


def test_rules_changed_after_loading_stop_the_run(tmp_path: Path) -> None:
    rules = tmp_path / "rules.lapse"
    rules.write_text((RULES / "braze_lapsing.lapse").read_text(encoding="utf-8"), encoding="utf-8")
    plugin = Plugin.from_path(rules)
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    with open_source(str(USERS), plugin.rules.schema) as source, pytest.raises(workers.WorkerError, match="changed"):
        workers.run_parallel(plugin, source, AT, since=None, due_only=False, out=io.StringIO(), fmt="jsonl",
                             errors=io.StringIO(), workers=2, progress=False)


@pytest.mark.parametrize("value", ["0", "abc", "-1", "1.5", "1025", "9" * 5000, "２"])
def test_workers_is_a_whole_number_from_1(capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str) -> None:
    run = lapse(capsys, tmp_path, "--users", str(USERS), f"--workers={value}")
    assert run.code == 2
    assert f"argument --workers: '{value}' is not a number of processes from 1 to 1024" in run.stderr


def test_parquet_output_is_one_process(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    run = lapse(capsys, tmp_path, "--users", str(USERS), "--workers", "2", "--out", str(tmp_path / "plan.parquet"))
    assert run.code == 2
    assert "--workers 2 writes jsonl or csv; Parquet output is written by one process" in run.stderr


def test_default_is_every_core_for_a_large_file_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 1 <= workers.cores() <= (os.cpu_count() or 1)
    monkeypatch.setattr(workers, "cores", lambda: 6)
    assert workers.choose_workers(None, workers.MIN_BYTES - 1) == 1
    assert workers.choose_workers(None, None) == 1  # standard input, a database
    assert workers.choose_workers(None, workers.MIN_BYTES) == 6
    assert workers.choose_workers(1, 10 * workers.MIN_BYTES) == 1
    assert workers.choose_workers(3, 10) == 3


@pytest.mark.parametrize(("min_bytes", "expected"), [(None, None), (0, 6)], ids=["small-file", "large-file"])
def test_the_command_takes_the_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, min_bytes: int | None,
    expected: int | None,
) -> None:
    """A small users file runs in this process; a large one goes to every core."""
    calls: list[int] = []

    def parallel(*args: object, workers: int, **kwargs: object) -> Summary:
        calls.append(workers)
        return Summary()

    monkeypatch.setattr("lapse_dsl.cli.run_parallel", parallel)
    monkeypatch.setattr(workers, "cores", lambda: 6)
    if min_bytes is not None:
        monkeypatch.setattr(workers, "MIN_BYTES", min_bytes)
    run = lapse(capsys, tmp_path, "--users", str(USERS))
    assert run.code == 0
    assert calls == ([] if expected is None else [expected])


# -- a worker that dies, and Ctrl-C: a subprocess, so that its processes can be signalled ----------

def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry))
    return tree


def _workers_of(pid: int) -> list[int]:
    """The pool's workers: children of the forkserver (a child of ``pid``) or spawned children."""
    tree = _children()
    found = []
    for child in tree.get(pid, []):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" in command:
            found += tree.get(child, [])
        elif b"spawn_main" in command:
            found.append(child)
    return found


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """``lapse run --workers 2`` over enough users to take a while, once its workers are up."""
    users = tmp_path / "users.jsonl"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_users.py"), "-n", "30000", "--out", str(users)],
                   check=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "lapse_dsl", "run", str(RULES), "--users", str(users), "--now", NOW, "--workers", "2",
         "--out", str(tmp_path / "out.jsonl")],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(pids := _workers_of(process.pid)) < 2:
            assert process.poll() is None and time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        yield process, pids
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_a_worker_that_dies_stops_the_run_with_a_message(running: tuple[subprocess.Popen[str], list[int]]) -> None:
    process, pids = running
    os.kill(pids[0], signal.SIGKILL)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 4, err
    assert "lapse: error: a worker process died (killed, or out of memory?)" in err
    assert "output is incomplete" in err and "Traceback" not in err
    assert _gone(pids)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_ctrl_c_stops_the_pool(running: tuple[subprocess.Popen[str], list[int]]) -> None:
    process, pids = running
    os.killpg(process.pid, signal.SIGINT)  # as a terminal does: the whole foreground group
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert _gone(pids)
