"""``lapse run --workers N``: one run over N processes that writes the bytes of one.

The parent reads the users source in order (so every source works: files, standard input,
databases), sends chunks of rows to a pool of worker processes, and writes each chunk's result in
input order. A worker compiles the rules once, from their texts (a compiled rule set holds
generated code and is not pickled), and runs the loop of ``lapse run`` (:func:`batch.decide_rows`)
over each chunk into a string: the decisions rendered exactly as the parent's writer would render
them, the rejected rows, and the chunk's counts. At most two chunks per worker are in flight, so
memory stays flat however large the input.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import datetime as dt
import io
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import IO

import attrs

from .batch import Presence, Summary, _Writer, decide_rows, write_rejection
from .errors import LapseError
from .plugin import Plugin
from .progress import Progress
from .ruleset import from_sources, read_sources
from .sources import Row, Source, problem

__all__ = ["CHUNK", "MAX_WORKERS", "MIN_BYTES", "WorkerError", "choose_workers", "cores", "run_parallel"]

CHUNK = 2_000  # rows per task: large enough that shipping it costs little next to deciding it
# Below this input size one process is the faster run: starting the workers and compiling the rules
# in each costs about half a second, which a smaller file does not win back (docs/scale.md).
MIN_BYTES = 20_000_000
MAX_WORKERS = 1024
IN_FLIGHT = 2  # chunks per worker sent ahead: one being decided, one waiting


class WorkerError(Exception):
    """A worker process died (killed, out of memory) or failed: the run stopped, its output is incomplete."""


def cores() -> int:
    """The processors this process may run on."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+: honours affinity and -X cpu_count
    if count is not None:
        return int(count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def choose_workers(requested: int | None, size: int | None) -> int:
    """``--workers``, or by default every core for an input of :data:`MIN_BYTES` or more and one
    process otherwise (and for a source of unknown size: standard input, a database)."""
    if requested is not None:
        return requested
    return cores() if size is not None and size >= MIN_BYTES else 1


@attrs.frozen
class Job:
    """What every worker needs, sent once per process: the rule texts and options, not a rule set."""

    sources: tuple[tuple[str, str], ...]  # (source name, text) of every rule file
    version: str  # of the rules the parent loaded: a file changed since then fails the run
    default_timezone: str
    naive_timezone: str | None
    now: dt.datetime
    since: dt.datetime | None
    within: dt.timedelta | None
    due_only: bool
    fmt: str
    encoding: str | None  # of the parent's output stream; None for one that holds any text
    errors: str


@attrs.frozen
class _Done:
    """One chunk's result: its output text, its rejected rows (line, user_id, reason) and counts."""

    text: str
    rejected: tuple[tuple[int, str | None, str], ...]
    summary: Summary


class _Encoded(io.StringIO):
    """A chunk's text for a parent whose output is not UTF-8: a write fails here exactly where the
    parent's stream would fail, so the same users are rejected. (For UTF-8 the writer already
    checks that the text encodes.)"""

    def __init__(self, encoding: str, errors: str) -> None:
        super().__init__()
        self.target = (encoding, errors)

    def write(self, text: str) -> int:
        text.encode(*self.target)
        return super().write(text)


_job: Job | None = None
_plugin: Plugin | None = None


def _start(job: Job) -> None:
    """Pool initializer. Ctrl-C reaches every process of the terminal's group: the parent stops
    the pool, so the workers ignore it instead of each printing a traceback."""
    global _job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _job = job
    parent = multiprocessing.parent_process()
    if parent is not None:  # a parent killed outright (the OOM killer) leaves no worker waiting forever
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(1)


def _compiled(job: Job) -> Plugin:
    global _plugin
    if _plugin is None:
        try:
            rules = from_sources(job.sources, default_timezone=job.default_timezone, naive_timezone=job.naive_timezone)
        except LapseError:  # the parent checked these texts; only a file changed in between gets here
            raise WorkerError("the rule files changed while lapse run started; run it again") from None
        if rules.version != job.version:
            raise WorkerError("the rule files changed while lapse run started; run it again")
        _plugin = Plugin("<workers>", rules, {})
    return _plugin


def _ready() -> None:
    """A worker's first task: compile the rules, so that the pool is up before any row is sent."""
    assert _job is not None, "the pool initializer sets the job"
    _compiled(_job)


def _decide(rows: list[Row]) -> _Done:
    """A worker's task: the rows of one chunk, decided, written and counted as ``run_batch`` does."""
    assert _job is not None, "the pool initializer sets the job"
    job = _job
    plugin = _compiled(job)
    sink = io.StringIO() if job.encoding is None or codecs.lookup(job.encoding).name == "utf-8" else _Encoded(
        job.encoding, job.errors)
    summary = Summary()
    rejected: list[tuple[int, str | None, str]] = []
    decide_rows(plugin, rows, job.now, since=job.since, due_only=job.due_only, within=job.within,
                writer=_Writer(sink, job.fmt, header=False), summary=summary,
                reject=lambda line, user_id, reason: rejected.append((line, user_id, reason)))
    return _Done(sink.getvalue(), tuple(rejected), summary)


def _chunks(source: Source, presence: Presence, size: int) -> Iterator[list[Row]]:
    """The source's rows in chunks; the parent notes which attributes the records have, as
    ``run_batch`` does, since it sees every record."""
    chunk: list[Row] = []
    for row in source:
        record = row[1]
        if presence.missing and not isinstance(record, str):
            presence.see(record)
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _merge(total: Summary, part: Summary) -> None:
    total.read += part.read
    total.with_decision += part.with_decision
    total.without_decision += part.without_decision
    total.rejected += part.rejected
    total.decisions += part.decisions
    total.due += part.due
    total.held_out += part.held_out
    total.per_campaign.update(part.per_campaign)  # adds counts, keeps the zeros


def _context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one (a clean process to fork from, with the modules imported
    once), else spawn; never fork from a parent that may hold threads and locks."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["lapse_dsl.workers"])
        if threading.current_thread() is threading.main_thread():
            # Ignored Ctrl-C survives exec and the forkserver hands it to every worker it forks,
            # from their first instruction; handled, it would not. Only for the fork itself.
            before = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                multiprocessing.forkserver.ensure_running()
            finally:
                signal.signal(signal.SIGINT, before)
        return ctx
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C waits (half a second or so) while the pool starts: the processes and threads started
    meanwhile inherit the blocked signal, so a worker never dies of it halfway through starting
    (with a traceback), and afterwards only this thread receives it, never a half-started pool."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)  # a Ctrl-C pressed meanwhile is raised here


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop at once: drop the chunks not started and end the workers (Ctrl-C, a closed pipe, a failure)."""
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    for process in dict(getattr(pool, "_processes", None) or {}).values():  # no public way before 3.14
        if process.is_alive():
            process.terminate()


def run_parallel(
    plugin: Plugin,
    source: Source,
    now: dt.datetime,
    *,
    since: dt.datetime | None,
    due_only: bool,
    within: dt.timedelta | None = None,
    out: IO[str],
    fmt: str,
    errors: IO[str],
    workers: int,
    progress: bool = True,
    chunk: int = CHUNK,
) -> Summary:
    """:func:`batch.run_batch` over ``workers`` processes: the same decisions, rejections and
    summary, byte for byte, in input order. Raises :class:`WorkerError` when a worker dies."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"--workers writes jsonl or csv, not {fmt}")
    summary = Summary(campaigns=[(rule.name, rule.channel) for rule in plugin.rules.rules])
    presence = Presence(plugin.rules)
    _Writer(out, fmt)  # writes the CSV header, once
    bar = Progress(source.size, source.position, "user", every=1, enabled=progress)
    rules = plugin.rules
    job = Job(
        sources=tuple(read_sources(plugin.path)), version=rules.version, default_timezone=rules.default_timezone,
        naive_timezone=rules.naive_timezone, now=now, since=since, within=within, due_only=due_only, fmt=fmt,
        encoding=getattr(out, "encoding", None), errors=getattr(out, "errors", None) or "strict",
    )
    pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_start, initargs=(job,))  # no process yet
    pending: collections.deque[tuple[int, Future[_Done]]] = collections.deque()

    def take() -> None:
        first, future = pending[0]
        try:
            done = future.result()
        except (BrokenProcessPool, WorkerError):
            raise
        except Exception as exc:  # a bug in a worker: the run stops, with its reason
            raise WorkerError(f"a worker process failed at the users from line {first}: {problem(exc)}") from None
        pending.popleft()
        out.write(done.text)
        for line, user_id, reason in done.rejected:
            write_rejection(errors, line, user_id, reason)
        _merge(summary, done.summary)
        bar.tick(summary.read)

    first = 1  # of the chunk being sent
    try:
        with _interrupts_deferred():  # a Ctrl-C meanwhile is raised as it ends, in this try
            for future in [pool.submit(_ready) for _ in range(workers)]:  # starts every worker now
                future.result()
        for rows in _chunks(source, presence, chunk):
            first = rows[0][0]
            pending.append((first, pool.submit(_decide, rows)))
            if len(pending) >= IN_FLIGHT * workers:
                take()
        while pending:
            take()
    except BrokenProcessPool:  # raised by result() or submit(), for every chunk not yet written
        _stop(pool)
        unwritten = pending[0][0] if pending else first
        raise WorkerError(f"a worker process died (killed, or out of memory?); the users from line {unwritten} on "
                          "were not written, so the output is incomplete") from None
    except BaseException:  # Ctrl-C, a closed pipe, a source that fails: no worker outlives the run
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    bar.done()
    summary.warnings = presence.warnings()
    return summary
