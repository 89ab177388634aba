"""Batch runs (``lapse run``): a rule set over a user source, out comes the send plan.

It goes through :meth:`Plugin.evaluate_many`, the same path hosts use. Every input record ends up
in exactly one place: a user with decisions, a user without, or a rejected record (with its line
number and reason), and the summary shows that the three add up.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator, Mapping
from typing import IO, Any

import attrs

from .errors import UserDataError
from .evaluate import Decision
from .plugin import Plugin
from .sources import Source
from .timecalc import iso_utc
from .userdata import user_id_of

__all__ = ["DECISION_FIELDS", "Summary", "decision_record", "history_of", "run_batch"]

DECISION_FIELDS = (
    "campaign", "channel", "user_id", "send_at", "local_send_at", "timezone", "due", "held_out",
    "variant", "message", "idempotency_key", "warnings",
)


@attrs.define
class Summary:
    read: int = 0
    with_decision: int = 0
    without_decision: int = 0
    rejected: int = 0
    decisions: int = 0
    due: int = 0
    held_out: int = 0
    per_campaign: collections.Counter[tuple[str, str, str]] = attrs.field(factory=collections.Counter)

    @property
    def balanced(self) -> bool:
        return self.read == self.with_decision + self.without_decision + self.rejected

    def add(self, decisions: tuple[Decision, ...]) -> None:
        self.read += 1
        if decisions:
            self.with_decision += 1
        else:
            self.without_decision += 1
        for d in decisions:
            self.decisions += 1
            self.due += d.due
            self.held_out += d.held_out
            self.per_campaign[(d.campaign, d.channel, "decisions")] += 1
            self.per_campaign[(d.campaign, d.channel, "due")] += d.due
            self.per_campaign[(d.campaign, d.channel, "held_out")] += d.held_out

    def render(self) -> str:
        lines = [
            f"users read          {self.read:>9}",
            f"  with a decision   {self.with_decision:>9}",
            f"  without           {self.without_decision:>9}",
            f"  rejected          {self.rejected:>9}",
            f"decisions           {self.decisions:>9}   due now {self.due}, held out {self.held_out}",
        ]
        keys = sorted({(c, ch) for c, ch, _ in self.per_campaign})
        if keys:
            width = max(len(c) for c, _ in keys)
            lines.append("")
            lines.append(f"{'campaign':<{width}}  {'channel':<12} {'decisions':>9} {'due':>7} {'held out':>8}")
            for c, ch in keys:
                pc = self.per_campaign
                lines.append(
                    f"{c:<{width}}  {ch:<12} {pc[(c, ch, 'decisions')]:>9} {pc[(c, ch, 'due')]:>7} "
                    f"{pc[(c, ch, 'held_out')]:>8}"
                )
        check = "ok" if self.balanced else "MISMATCH"
        lines.append("")
        lines.append(
            f"accounted for: {self.read} read = {self.with_decision} with + {self.without_decision} without "
            f"+ {self.rejected} rejected ({check})"
        )
        return "\n".join(lines)


def decision_record(d: Decision) -> dict[str, Any]:
    """A decision as a JSON-ready mapping with every field, times in ISO-8601."""
    return {
        "campaign": d.campaign,
        "channel": d.channel,
        "user_id": d.user_id,
        "send_at": iso_utc(d.send_at),
        "local_send_at": d.local_send_at.isoformat(),
        "timezone": d.timezone,
        "due": d.due,
        "held_out": d.held_out,
        "variant": d.variant,
        "message": dict(d.message),
        "idempotency_key": d.idempotency_key,
        "warnings": list(d.warnings),
    }


def history_of(user: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A user record's optional ``history`` list: the sends it already received."""
    history = user.get("history")
    if history is None:
        return []
    if not isinstance(history, list):
        raise UserDataError(
            f"history must be a list of sends (objects with campaign, channel and at), not {type(history).__name__}",
            user_id=user_id_of(user), attribute="history",
        )
    return history


class _Writer:
    def __init__(self, out: IO[str], fmt: str) -> None:
        self.out = out
        self.csv = csv.DictWriter(out, DECISION_FIELDS, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writeheader()

    def write(self, d: Decision) -> None:
        record = decision_record(d)
        if self.csv is None:
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            record["message"] = json.dumps(record["message"], ensure_ascii=False)
            record["warnings"] = "; ".join(record["warnings"])
            record["variant"] = record["variant"] or ""
            record["due"] = "true" if record["due"] else "false"  # as CSV input spells booleans
            record["held_out"] = "true" if record["held_out"] else "false"
            self.csv.writerow(record)


class _Progress:
    """A one-line progress bar on stderr, only for a terminal and a large input."""

    LARGE = 5_000_000  # bytes

    def __init__(self, source: Source, enabled: bool) -> None:
        self.source = source
        self.enabled = enabled and source.size is not None and source.size >= self.LARGE and sys.stderr.isatty()
        self.last = 0.0

    def tick(self, count: int) -> None:
        if not self.enabled or count % 1000:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        size = self.source.size or 1
        share = min(1.0, self.source.position() / size)
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r[{bar:<30}] {share:5.1%} {count:>10} users")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")


def run_batch(
    plugin: Plugin,
    source: Source,
    now: dt.datetime,
    *,
    since: dt.datetime | None,
    due_only: bool,
    out: IO[str],
    fmt: str,
    errors: IO[str],
    progress: bool = True,
) -> Summary:
    """Evaluate every user of ``source`` and write decisions to ``out``, rejected records to
    ``errors`` (one JSON line each: line, user_id, error). Returns the summary."""
    summary = Summary()
    writer = _Writer(out, fmt)
    lines: collections.deque[int] = collections.deque()
    bar = _Progress(source, progress)

    def records() -> Iterator[Mapping[str, Any]]:
        for line, record in source:
            if isinstance(record, str):
                summary.read += 1
                summary.rejected += 1
                errors.write(json.dumps({"line": line, "user_id": None, "error": record}, ensure_ascii=False) + "\n")
                continue
            lines.append(line)
            yield record

    for result in plugin.evaluate_many(records(), now, since=since, history=history_of):
        line = lines.popleft()
        if result.error is not None:
            summary.read += 1
            summary.rejected += 1
            rejection = {"line": line, "user_id": result.user_id, "error": str(result.error)}
            errors.write(json.dumps(rejection, ensure_ascii=False) + "\n")
        else:
            summary.add(result.decisions)
            for d in result.decisions:
                if not due_only or d.due:
                    writer.write(d)
        bar.tick(summary.read)
    bar.done()
    return summary
