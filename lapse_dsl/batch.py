"""Batch runs (``lapse run``): a rule set over a user source, out comes the send plan.

It goes through :meth:`Plugin.evaluate_many`, the same path hosts use. Every input record ends up
in exactly one place: a user with decisions, a user without, or a rejected record (with its line
number and reason), and the summary shows that the three add up.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import difflib
import importlib
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Protocol

import attrs

from . import nodes as n
from .errors import UserDataError, render
from .model import Decision
from .plugin import Plugin
from .progress import Progress
from .ruleset import RuleSet
from .sources import Row, Source, counted, problem
from .timecalc import iso_utc
from .userdata import user_id_of

__all__ = [
    "DECISION_FIELDS", "PARQUET_ROWS", "Presence", "Sink", "Summary", "decide_rows", "decision_record", "history_of",
    "parquet_rows", "parquet_schema", "run_batch", "write_rejection", "writer_for",
]

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
    campaigns: list[tuple[str, str]] = attrs.field(factory=list)  # (campaign, channel) of every rule, listed even at 0
    warnings: list[str] = attrs.field(factory=list)

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
        keys = sorted({(c, ch) for c, ch, _ in self.per_campaign} | set(self.campaigns))
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
        if self.warnings:
            lines.append("")
            lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append("")
        lines.append(
            f"accounted for: {self.read} read = {self.with_decision} with + {self.without_decision} without "
            f"+ {self.rejected} rejected ({self.verdict})"
        )
        return "\n".join(lines)

    @property
    def verdict(self) -> str:
        """``ok`` only when every record was read and decided: rejected records were not."""
        if not self.balanced:
            return "MISMATCH"
        return f"incomplete: {counted(self.rejected, 'record')} rejected" if self.rejected else "ok"


class Presence:
    """Which attributes the rules' conditions read have a value in at least one record. One that
    never does (a CSV header ``last_seen`` where the rules read ``last_used``) makes every
    condition on it unknown, silently: the summaries warn, naming the closest name the records had."""

    def __init__(self, rules: RuleSet) -> None:
        paths = sorted({str(p.path) for rule in rules.rules for p in n.predicates(rule.segment)})
        self.missing = {path: tuple(path.split(".")) for path in paths}  # not seen yet
        self.names: set[str] = set()  # names the records had, while some attribute is missing
        self.records = 0

    def see(self, record: Mapping[str, Any]) -> None:
        """Note a record; callers may skip this once ``missing`` is empty."""
        self.records += 1
        if not self.missing:
            return
        for key, value in record.items():
            self.names.add(key)
            if isinstance(value, dict):
                self.names.update(f"{key}.{inner}" for inner in value)
        for path in [p for p, parts in self.missing.items() if _has(record, parts)]:
            del self.missing[path]

    def see_counted(self, records: int, names: set[str]) -> None:
        """Note ``records`` records at once, counted elsewhere (by Spark), whose attributes with a
        value in some record are ``names`` (dotted for nested ones, as :meth:`see` notes them)."""
        self.records += records
        self.names |= names
        for path in [p for p in self.missing if p in names]:
            del self.missing[path]

    def warnings(self) -> list[str]:
        if not self.records:
            return []
        out = []
        for path in self.missing:
            close = difflib.get_close_matches(path, sorted(self.names), n=1, cutoff=0.6)
            if path in self.names:
                hint = " (its column is always empty)"
            else:
                hint = f" (closest column: {close[0]})" if close else ""
            out.append(f"no record read has {path}, so every condition on it was unknown{hint}")
        return out


def _has(record: Mapping[str, Any], parts: tuple[str, ...]) -> bool:
    value: Any = record
    for part in parts:
        if not isinstance(value, Mapping):
            return False
        value = value.get(part)
    return value is not None


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


class Sink(Protocol):
    """Where :func:`decide_rows` puts each user's decisions: a file writer here, Arrow rows on Spark."""

    def write(self, decisions: Sequence[Decision], line: int) -> str | None:
        """Take the decisions of the user at input row ``line``; the reason they cannot be written, if so."""


class _Writer:
    """Writes one user's decisions at once, so a user whose decisions cannot be written (a lone
    surrogate from a JSON ``\\ud800`` escape is not valid Unicode) is rejected whole, never half written."""

    def __init__(self, out: IO[str], fmt: str, *, header: bool = True) -> None:
        """``header``: write the CSV header row (the workers of ``--workers`` write rows only)."""
        self.out = out
        self.buffer = io.StringIO()
        self.csv = csv.DictWriter(self.buffer, DECISION_FIELDS, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None and header:
            self.csv.writeheader()
            out.write(self.buffer.getvalue())

    def close(self) -> None:
        """Nothing is held back (the caller closes ``out``)."""

    def write(self, decisions: Sequence[Decision], line: int = 0) -> str | None:
        """Write the decisions of the user at ``line``; the reason they cannot be, if so (nothing is
        written then)."""
        try:
            text = self._text(decisions)
        except Exception as exc:  # a value that cannot be serialised costs this user only
            return f"the decision cannot be written: {problem(exc)}"
        try:
            if not text.isascii():
                text.encode("utf-8")  # valid Unicode, whatever error handler the stream has (surrogateescape in a C locale)
            self.out.write(text)  # encodes the whole text before writing any of it
        except UnicodeEncodeError as exc:
            return _unwritable(decisions, exc)
        return None

    def _text(self, decisions: Sequence[Decision]) -> str:
        if self.csv is None:
            return "".join(json.dumps(decision_record(d), ensure_ascii=False) + "\n" for d in decisions)
        self.buffer.seek(0)
        self.buffer.truncate()
        for d in decisions:
            record = decision_record(d)
            record["message"] = json.dumps(record["message"], ensure_ascii=False)
            record["warnings"] = "; ".join(record["warnings"])
            record["variant"] = record["variant"] or ""
            record["due"] = "true" if record["due"] else "false"  # as CSV input spells booleans
            record["held_out"] = "true" if record["held_out"] else "false"
            self.csv.writerow(record)
        return self.buffer.getvalue()


PARQUET_ROWS = 16_384  # decisions held before they are written as one record batch (a row group): flat memory


def parquet_schema(pa: Any) -> Any:
    """The fixed schema of ``--out plan.parquet``, the fields of :data:`DECISION_FIELDS` typed.
    ``local_send_at`` stays ISO-8601 text: a Parquet timestamp has one zone per column, not an
    offset per row. ``message`` is a map (its fields in order, readable by key in Spark, DuckDB
    and pandas without parsing JSON; any campaign's fields fit, which a struct's fixed fields
    would not)."""
    text = pa.string()
    return pa.schema([
        pa.field("campaign", text, nullable=False),
        pa.field("channel", text, nullable=False),
        pa.field("user_id", text, nullable=False),
        pa.field("send_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("local_send_at", text, nullable=False),
        pa.field("timezone", text, nullable=False),
        pa.field("due", pa.bool_(), nullable=False),
        pa.field("held_out", pa.bool_(), nullable=False),
        pa.field("variant", text),
        pa.field("message", pa.map_(text, text), nullable=False),
        pa.field("idempotency_key", text, nullable=False),
        pa.field("warnings", pa.list_(text), nullable=False),
    ])


class _ParquetWriter:
    """Decisions as Parquet (pyarrow), written every :data:`PARQUET_ROWS` decisions as a record
    batch; ``close`` writes the rest and the footer, so an empty run is a valid file with the schema.
    A user is checked before any of its decisions is kept, so one that cannot be written is rejected
    whole, as with the text formats."""

    def __init__(self, out: IO[bytes]) -> None:
        self.pa = importlib.import_module("pyarrow")
        self.schema = parquet_schema(self.pa)
        self.file = importlib.import_module("pyarrow.parquet").ParquetWriter(out, self.schema)
        self.columns: dict[str, list[Any]] = {name: [] for name in DECISION_FIELDS}

    def write(self, decisions: Sequence[Decision], line: int = 0) -> str | None:
        """Keep the decisions; the reason they cannot be written, if so (nothing is kept then)."""
        rows = parquet_rows(decisions)
        if isinstance(rows, str):
            return rows
        for row in rows:
            for column, value in zip(self.columns.values(), row, strict=True):
                column.append(value)
        if len(self.columns["campaign"]) >= PARQUET_ROWS:
            self._flush()
        return None

    def _flush(self) -> None:
        if self.columns["campaign"]:
            self.file.write_batch(self.pa.RecordBatch.from_pydict(self.columns, schema=self.schema))
            self.columns = {name: [] for name in DECISION_FIELDS}

    def close(self) -> None:
        self._flush()
        self.file.close()  # the footer; the stream itself is the caller's


def parquet_rows(decisions: Sequence[Decision]) -> list[tuple[Any, ...]] | str:
    """A user's decisions as rows of :func:`parquet_schema` (in its field order), or the reason
    they cannot be written: every string is checked first, so a user is kept whole or rejected."""
    try:
        texts = "".join(_texts(decisions))  # a value that is not a string fails here, not in the batch
        if not texts.isascii():
            texts.encode("utf-8")
        return [(d.campaign, d.channel, d.user_id, d.send_at, d.local_send_at.isoformat(), d.timezone, d.due,
                 d.held_out, d.variant, list(d.message.items()), d.idempotency_key, list(d.warnings))
                for d in decisions]
    except UnicodeEncodeError as exc:
        return _unwritable(decisions, exc)
    except Exception as exc:  # it costs this user only
        return f"the decision cannot be written: {problem(exc)}"


def _texts(decisions: Sequence[Decision]) -> Iterator[str]:
    """Every string a decision's Parquet row holds."""
    for d in decisions:
        yield from (d.campaign, d.channel, d.user_id, d.timezone, d.variant or "", d.idempotency_key)
        for key, value in d.message.items():
            yield key
            yield value
        yield from d.warnings


def writer_for(out: IO[str], fmt: str) -> _Writer | _ParquetWriter:
    """The writer of ``fmt``: Parquet goes to the binary stream under ``out`` (a file opened by path)."""
    if fmt != "parquet":
        return _Writer(out, fmt)
    binary = getattr(out, "buffer", None)
    if binary is None:
        raise ValueError("Parquet output needs a file stream with a binary buffer, not a text-only stream")
    out.flush()
    return _ParquetWriter(binary)


def _unwritable(decisions: Sequence[Decision], exc: UnicodeEncodeError) -> str:
    """Which field of the decisions the output cannot hold, and why."""
    for d in decisions:
        record = decision_record(d)
        fields = [(k, v) for k, v in record.items() if k != "message"]
        fields += [(f"message.{k}", v) for k, v in record["message"].items()]
        fields += [("warnings", w) for w in record["warnings"]]
        for name, value in fields:
            if not isinstance(value, str):
                continue
            if any("\ud800" <= c <= "\udfff" for c in value):
                return (f"{name} is not valid Unicode (it holds a lone surrogate, such as the JSON escape \\ud800), "
                        "so the decision cannot be written")
            try:
                value.encode(exc.encoding)
            except UnicodeEncodeError:
                return f"{name} cannot be written in the output's encoding ({exc.encoding})"
    return f"the decision cannot be written ({exc.reason})"


def write_rejection(errors: IO[str], line: int, user_id: str | None, reason: str) -> None:
    """One rejected record's JSON line; characters the stream cannot hold (a lone surrogate in a
    user_id) are written as JSON escapes, so this line is always written."""
    record = {"line": line, "user_id": user_id, "error": reason}
    text = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        if not text.isascii():  # strictly, whatever the stream's error handler would make of it
            text.encode(getattr(errors, "encoding", None) or "utf-8")
        errors.write(text)
    except UnicodeEncodeError:
        errors.write(json.dumps(record) + "\n")


def run_batch(
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
    progress: bool = True,
) -> Summary:
    """Evaluate every user of ``source`` and write decisions to ``out``, rejected records to
    ``errors`` (one JSON line each: line, user_id, error). Returns the summary. Anything that goes
    wrong with one record (reading, deciding, writing its decisions) rejects that record only."""
    summary = Summary(campaigns=[(rule.name, rule.channel) for rule in plugin.rules.rules])
    presence = Presence(plugin.rules)
    writer = writer_for(out, fmt)
    bar = Progress(source.size, source.position, "user", enabled=progress)
    decide_rows(plugin, source, now, since=since, due_only=due_only, within=within, writer=writer, summary=summary,
                reject=lambda line, user_id, reason: write_rejection(errors, line, user_id, reason),
                presence=presence, tick=bar.tick)
    writer.close()
    bar.done()
    summary.warnings = presence.warnings()
    return summary


def decide_rows(
    plugin: Plugin,
    rows: Iterable[Row],
    now: dt.datetime,
    *,
    since: dt.datetime | None,
    due_only: bool,
    within: dt.timedelta | None,
    writer: Sink,
    summary: Summary,
    reject: Callable[[int, str | None, str], None],
    presence: Presence | None = None,
    tick: Callable[[int], None] | None = None,
) -> None:
    """The loop of :func:`run_batch`, shared with the workers of ``--workers`` (workers.py) so that
    both write the same bytes: decide each row, write its decisions with ``writer``, count it in
    ``summary``, and pass each rejected row to ``reject`` (line, user_id, reason), in input order."""
    lines: collections.deque[int] = collections.deque()

    def rejected(line: int, user_id: str | None, reason: str) -> None:
        summary.read += 1
        summary.rejected += 1
        reject(line, user_id, reason)

    def records() -> Iterator[Mapping[str, Any]]:
        for line, record in rows:
            if isinstance(record, str):
                rejected(line, None, record)
                continue
            if presence is not None and presence.missing:
                presence.see(record)
            lines.append(line)
            yield record

    for result in plugin.evaluate_many(records(), now, since=since, history=history_of, within=within):
        line = lines.popleft()
        if result.error is not None:
            rejected(line, result.user_id, render(result.error, "cli"))  # batch runs are the CLI's
        else:
            decisions = result.decisions
            written = tuple(d for d in decisions if d.due) if due_only and decisions else decisions
            unwritable = writer.write(written, line) if written else None
            if unwritable is None:
                summary.add(decisions)
            else:
                rejected(line, result.user_id, unwritable)
        if tick is not None:
            tick(summary.read)
