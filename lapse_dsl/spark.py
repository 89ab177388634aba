"""Whole campaign runs on Spark: :func:`decide`, and ``lapse run --users spark:PATH_OR_TABLE``.

The users DataFrame is numbered in its partition order (``monotonically_increasing_id``: the
partition's index in the high bits, the row's place in it in the low ones), then filtered in the JVM
by every segment's time-independent part (:func:`lapse_dsl.sql.candidates_predicate`, the push-down
of warehouse runs) so that excluded users never reach Python. ``mapInArrow`` decides the rest: each
executor process compiles the rules once from their texts, reads each Arrow batch into user records
exactly as a Parquet file is read (:func:`lapse_dsl.sources.arrow_records`) and runs the loop of
``lapse run`` (:func:`lapse_dsl.batch.decide_rows`). Out come rows of three kinds: a decision, a
rejected row, and one count per batch; :class:`Decided` splits them into the two public DataFrames,
and :func:`run` streams them through the driver into the files ``lapse run`` writes, byte for byte.

The filter keeps every row that Python would reject whatever its segment (no user_id, a NaN in a
compared number, a malformed history entry), so the rejections are those of ``lapse run`` too. When
a column's Spark type is not the type the rules compare it as (a time kept as text, a number as a
string), the values could be malformed in ways SQL cannot see, so nothing is pushed down and every
user goes to Python: :attr:`Decided.pushdown` says which filter ran, or why none.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from .batch import Presence, Summary, decide_rows, parquet_rows, parquet_schema, write_rejection, writer_for
from .evaluate import require_instant
from .model import Decision
from .plugin import Plugin
from .ruleset import RuleSet, from_sources, read_sources
from .sources import SourceError, arrow_records, parquet_files
from .sql import candidates_predicate, static_reads
from .warehouse import table_problem

__all__ = ["Decided", "decide", "is_spark", "run", "session", "users_frame"]

PREFIX = "spark:"
_SHIFT = 33  # monotonically_increasing_id: partition index << 33 | row within the partition
_ROW, _SEQ, _KIND = "_lapse_row", "_lapse_seq", "_lapse_kind"
DECISION, REJECTED, COUNT = "decision", "rejected", "count"
_COUNTS = ("_lapse_read", "_lapse_with", "_lapse_without", "_lapse_rejected")  # a batch's Summary
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_spark(spec: str) -> bool:
    return spec.startswith(PREFIX)


@attrs.frozen
class _Job:
    """What every executor needs: the rule texts and options (a compiled rule set holds generated
    code and is not shipped), and the run's instants."""

    sources: tuple[tuple[str, str], ...]
    version: str
    default_timezone: str
    naive_timezone: str | None
    now: dt.datetime
    since: dt.datetime | None
    within: dt.timedelta | None
    due_only: bool


# Per executor process (Spark reuses its Python workers), by the rules alone: a run at another
# `now` reuses them. Only the latest is kept, so a long-lived application does not pile them up.
_compiled: dict[tuple[str, str, str | None], Plugin] = {}


def _plugin(job: _Job) -> Plugin:
    key = (job.version, job.default_timezone, job.naive_timezone)  # version: a hash of the texts
    plugin = _compiled.get(key)
    if plugin is None:
        rules = from_sources(job.sources, default_timezone=job.default_timezone, naive_timezone=job.naive_timezone)
        _compiled.clear()
        plugin = _compiled[key] = Plugin("<spark>", rules, {})  # the driver checked these very texts
    return plugin


def _output_schema(pa: Any) -> Any:
    """The Arrow schema of the executors' rows: the decision fields of ``--out plan.parquet``
    (nullable here, since a rejected or count row has none), then what the driver needs."""
    decision = [pa.field(f.name, f.type) for f in parquet_schema(pa)]
    return pa.schema([
        pa.field(_ROW, pa.int64()), pa.field(_SEQ, pa.int32()), pa.field(_KIND, pa.string()),
        *decision,
        pa.field("_lapse_send_us", pa.int64()),  # send_at for the driver: Python's Spark rows lose the zone
        pa.field("_lapse_message", pa.string()),  # the message's fields in order, as JSON: Spark maps sort keys
        pa.field("error", pa.string()),
        *(pa.field(name, pa.int64()) for name in _COUNTS),
    ])


class _Rows:
    """A batch's output rows, column by column: :class:`lapse_dsl.batch.Sink` for decisions, and the
    rejections :func:`decide_rows` reports."""

    def __init__(self, pa: Any) -> None:
        self.pa = pa
        self.schema = _output_schema(pa)
        self.columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}

    def _add(self, values: Mapping[str, Any]) -> None:
        for name, column in self.columns.items():
            column.append(values.get(name))

    def write(self, decisions: Sequence[Decision], line: int) -> str | None:
        rows = parquet_rows(decisions)
        if isinstance(rows, str):
            return rows
        names = [f.name for f in parquet_schema(self.pa)]
        for seq, (d, row) in enumerate(zip(decisions, rows, strict=True)):
            values = dict(zip(names, row, strict=True))
            values.update({_ROW: line, _SEQ: seq, _KIND: DECISION,
                           "_lapse_send_us": (d.send_at - _EPOCH) // dt.timedelta(microseconds=1),
                           "_lapse_message": json.dumps(list(d.message.items()), ensure_ascii=False)})
            self._add(values)
        return None

    def reject(self, line: int, user_id: str | None, reason: str) -> None:
        self._add({_ROW: line, _SEQ: 0, _KIND: REJECTED, "user_id": user_id, "error": reason})

    def count(self, summary: Summary) -> None:
        self._add({_ROW: -1, _SEQ: 0, _KIND: COUNT, **dict(zip(_COUNTS, (
            summary.read, summary.with_decision, summary.without_decision, summary.rejected), strict=True))})

    def batch(self) -> Any:
        return self.pa.RecordBatch.from_pydict(self.columns, schema=self.schema)


def _utc(pa: Any, batch: Any) -> Any:
    """Spark hands timestamps over in the session's zone; as a Parquet file written by Spark is
    read, they are instants in UTC."""
    columns = [c.cast(pa.timestamp(c.type.unit, "UTC")) if pa.types.is_timestamp(c.type) and c.type.tz else c
               for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=None, names=batch.schema.names)


def _decide_batches(job: _Job, batches: Iterable[Any]) -> Iterator[Any]:
    """The executor side of :func:`decide`: each Arrow batch of users in, its rows out."""
    pa = importlib.import_module("pyarrow")
    plugin = _plugin(job)
    for batch in batches:
        lines = batch.column(_ROW).to_pylist()
        users = _utc(pa, batch.drop_columns([_ROW]))
        out = _Rows(pa)
        summary = Summary()
        decide_rows(plugin, zip(lines, arrow_records(pa, users), strict=True), job.now, since=job.since,
                    due_only=job.due_only, within=job.within, writer=out, summary=summary, reject=out.reject)
        out.count(summary)
        yield out.batch()


@attrs.frozen
class Decided:
    """What :func:`decide` returns. ``decisions`` has the columns of ``lapse run``'s output, typed
    as in ``--out plan.parquet``; ``rejected`` has ``line`` (the row's 1-based place in the users
    DataFrame's partition order, as ``lapse run`` numbers a file's rows), ``user_id`` and
    ``error``. Both are lazy views of one ``mapInArrow`` stage: persist ``rows`` first when you
    write both. Their rows come in input order, partition after partition (``rows`` also carries
    ``_lapse_row``, the input row's number). ``pushdown`` is the Spark SQL filter that ran before
    Python, or None; ``why_not`` says why none ran."""

    decisions: Any
    rejected: Any
    rows: Any  # every output row: decisions, rejections, counts, each with its input row's number
    numbered: Any  # the users with their row numbers, before the filter
    pushdown: str | None
    why_not: str | None
    rules: RuleSet


def decide(df: Any, rules: str | Path, now: dt.datetime, *, within: dt.timedelta | None = None,
           since: dt.datetime | None = None, due_only: bool = False, history: Any = None,
           default_timezone: str = "UTC", naive_timezone: str | None = None) -> Decided:
    """Decide every user of the Spark DataFrame ``df`` (a column per attribute, as in a Parquet
    users file) with the rules at ``rules`` (a ``.lapse`` file or a folder), as ``lapse run`` would
    at ``now``. ``history``: a DataFrame of sends already made (``user_id``, ``campaign``,
    ``channel``, ``at``), joined per user; without it, a ``history`` column of ``df`` is used, as
    ``lapse run`` uses a record's. Raises the rules' :class:`LapseSyntaxError` or
    :class:`LapseCheckError` on the driver, before any job runs."""
    require_instant(now, "now")
    if since is not None:
        require_instant(since, "since")
    functions = importlib.import_module("pyspark.sql.functions")
    sources = tuple(read_sources(rules))  # read once: the executors compile exactly what was checked here
    ruleset = from_sources(sources, default_timezone=default_timezone, naive_timezone=naive_timezone)
    job = _Job(sources, ruleset.version, default_timezone, naive_timezone, now, since, within, due_only)
    numbered = df.withColumn(_ROW, functions.monotonically_increasing_id())
    if history is not None:
        numbered = _with_history(numbered, history, functions)
    keep, why_not, extra = _pushdown(numbered, ruleset, functions)
    candidates = numbered
    if keep is not None:
        candidates = numbered.select("*", *extra).alias("u").where(functions.expr(keep)).select(*numbered.columns)
    # Python is the slow part: spread it over every core, however few files the input has (one
    # Parquet file is one task), in ranges of row numbers, each sorted, so that the output comes
    # out in input order (a join reorders rows). Sorting the users here costs a sample and a
    # shuffle in the JVM; sorting the output instead would sample it, and run Python twice.
    parts = max(candidates.rdd.getNumPartitions(), 2 * df.sparkSession.sparkContext.defaultParallelism)
    candidates = candidates.repartitionByRange(parts, _ROW).sortWithinPartitions(_ROW)
    pa = importlib.import_module("pyarrow")
    spark_schema = importlib.import_module("pyspark.sql.pandas.types").from_arrow_schema(_output_schema(pa))
    with warnings.catch_warnings():  # pyspark's check of pandas, which mapInArrow does not use
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        rows = candidates.mapInArrow(lambda batches: _decide_batches(job, batches), spark_schema)
    kind = functions.col(_KIND)
    decisions = rows.where(kind == DECISION).select(*(f.name for f in parquet_schema(pa)))
    rejected = _numbered_lines(rows.where(kind == REJECTED), numbered, functions)
    return Decided(decisions, rejected, rows, numbered, keep, why_not, ruleset)


def _with_history(users: Any, history: Any, f: Any) -> Any:
    """``users`` with a ``history`` column: each user's sends from ``history``, in time order (so a
    malformed entry is named by the same index wherever the join put it)."""
    need = {"user_id", "campaign", "channel", "at"}
    missing = sorted(need - set(history.columns))
    if missing:
        raise ValueError(f"history needs the columns user_id, campaign, channel and at; it lacks {', '.join(missing)}")
    if "history" in users.columns:
        raise ValueError("the users already have a history column; pass history= or keep the column, not both")
    entries = history.groupBy("user_id").agg(
        f.array_sort(f.collect_list(f.struct(f.col("at"), f.col("campaign"), f.col("channel")))).alias("history"))
    return users.join(entries, on="user_id", how="left")


def _field_type(schema: Any, path: str) -> Any:
    """The Spark type of attribute ``path`` (``custom.tier`` is field ``tier`` of struct ``custom``), or None."""
    types = importlib.import_module("pyspark.sql.types")
    kind: Any = schema
    for part in path.split("."):
        if not isinstance(kind, types.StructType) or part not in kind.fieldNames():
            return None
        kind = kind[part].dataType
    return kind


def _matches(kind: Any, attribute_type: str) -> bool:
    """Whether a column of Spark type ``kind`` holds only well-formed values of ``attribute_type``."""
    types = importlib.import_module("pyspark.sql.types")
    expected = {"string": (types.StringType,), "number": (types.NumericType,), "boolean": (types.BooleanType,),
                "time": (types.TimestampType,)}.get(attribute_type, ())
    return isinstance(kind, expected)


def _pushdown(numbered: Any, rules: RuleSet, f: Any) -> tuple[str | None, str | None, list[Any]]:
    """The filter that runs before Python (a Spark SQL condition over the users aliased ``u``,
    with the columns it reads added as ``_lapse_a<i>``), or why there is none."""
    types = importlib.import_module("pyspark.sql.types")
    schema = numbered.schema
    if any("." in name for name in schema.fieldNames()):
        return None, "a column name holds a dot, which a user record reads as a nested attribute", []
    user_id = _field_type(schema, "user_id")
    if user_id is None:
        return None, "the users have no user_id column, so every row is rejected", []
    if not isinstance(user_id, (types.StringType, types.IntegralType)):
        return None, f"user_id is {user_id.simpleString()}, not a string or an integer", []
    rejected = ["u.user_id IS NULL"] + (["u.user_id = ''"] if isinstance(user_id, types.StringType) else [])
    if "history" in schema.fieldNames():
        rejected.append("u.history IS NOT NULL" if not _typed_history(schema["history"].dataType) else
                        "exists(u.history, h -> h.campaign IS NULL OR h.channel IS NULL OR h.at IS NULL "
                        "OR year(h.at) > 9000)")
    columns: dict[str, str] = {}
    extra: list[Any] = []
    for rule in rules.rules:
        compared, tested = static_reads(rule)
        for path in sorted(compared | tested):
            if path in columns:
                continue
            kind = _field_type(schema, path)
            attribute_type = rules.schema.get(path, "string")
            if kind is not None and path in compared and not _matches(kind, attribute_type):
                return None, (f"column {path} is {kind.simpleString()} and the rules compare it as a {attribute_type}, "
                              "so its values can be malformed in ways SQL does not see"), []
            name = columns[path] = f"_lapse_a{len(columns)}"
            value = f.col(path) if kind is not None else f.lit(None).cast(_null_type(attribute_type))
            extra.append(value.alias(name))
            if kind is not None and path in compared and isinstance(kind, (types.FloatType, types.DoubleType)):
                rejected.append(f"isnan(u.{name})")  # NaN is a malformed number
    keep = candidates_predicate(rules, dialect="spark", columns=columns, alias="u")
    return f"({keep}) OR " + " OR ".join(rejected), None, extra


def _typed_history(kind: Any) -> bool:
    """A history column of ``array<struct<at: timestamp, campaign: string, channel: string, ...>>``."""
    types = importlib.import_module("pyspark.sql.types")
    if not isinstance(kind, types.ArrayType) or not isinstance(kind.elementType, types.StructType):
        return False
    fields = {f.name: f.dataType for f in kind.elementType.fields}
    return (isinstance(fields.get("at"), types.TimestampType) and isinstance(fields.get("campaign"), types.StringType)
            and isinstance(fields.get("channel"), types.StringType))


def _null_type(attribute_type: str) -> str:
    return {"time": "timestamp", "number": "double", "boolean": "boolean"}.get(attribute_type, "string")


def _numbered_lines(rejected: Any, numbered: Any, f: Any) -> Any:
    """The rejected rows with ``line``: the rows of the partitions before theirs, plus their place."""
    window = importlib.import_module("pyspark.sql.window").Window
    part = f.shiftright(f.col(_ROW), _SHIFT)
    sizes = numbered.select(part.alias("_lapse_part")).groupBy("_lapse_part").count()
    offsets = sizes.select("_lapse_part", (f.sum("count").over(window.orderBy("_lapse_part")) - f.col("count"))
                           .alias("_lapse_offset"))
    low = f.col(_ROW).bitwiseAND(f.lit((1 << _SHIFT) - 1))
    return (rejected.withColumn("_lapse_part", part).join(f.broadcast(offsets), "_lapse_part")
            .select((f.col("_lapse_offset") + low + 1).alias("line"), "user_id", "error"))


# The command: lapse run RULES --users spark:PATH_OR_TABLE


def session(master: str | None) -> Any:
    """The Spark session of ``lapse run --users spark:...``: the one ``spark-submit`` set up, or one
    on ``master``. A ``local`` master stays on loopback, and its Python workers run this
    interpreter (the one lapse is installed in)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        try:
            sql = importlib.import_module("pyspark.sql")
        except ImportError:
            raise SourceError("reading users from Spark needs pyspark and Java: pip install 'lapse-dsl[spark]'") from None
        builder = sql.SparkSession.builder.appName("lapse run")
        if master is not None:
            builder = builder.master(master)
            if master.startswith("local"):
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
                os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
                log = Path(__file__).with_name("spark_log4j2.properties")
                for key, value in (("spark.driver.host", "127.0.0.1"), ("spark.driver.bindAddress", "127.0.0.1"),
                                   ("spark.ui.enabled", "false"), ("spark.ui.showConsoleProgress", "false"),
                                   ("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log}")):
                    builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # no Java, a master that cannot be reached
            raise SourceError(f"cannot start Spark{'' if master is None else ' on ' + master}: {_first_line(exc)}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def users_frame(spark: Any, spec: str) -> Any:
    """The users of ``spark:PATH_OR_TABLE``: Parquet (a file, a folder or a glob of them), else a table."""
    target = spec[len(PREFIX):]
    if not target:
        raise SourceError("spark: needs a Parquet path or a table name, such as spark:users.parquet or spark:db.users")
    try:
        paths = parquet_files(target)
    except SourceError:
        raise
    if paths is not None or Path(target).exists():
        return _read(lambda: spark.read.parquet(*(str(p) for p in (paths or [Path(target)]))), spec)
    why = table_problem(target)
    if why is not None:
        raise SourceError(f"{spec}: no such file, and not a table name: {why}")
    return _read(lambda: spark.table(target), spec)


def _read(open_frame: Any, spec: str) -> Any:
    try:
        return open_frame()
    except Exception as exc:  # AnalysisException: no such table; a file that is not Parquet
        raise SourceError(f"{spec}: cannot be read ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run(decided: Decided, *, out: IO[str], fmt: str, errors: IO[str]) -> Summary:
    """Write what :func:`decide` decided as ``lapse run`` writes it: decisions to ``out`` in input
    order, rejected rows to ``errors``, and the summary, with the presence warnings counted over
    every row (the filtered ones too)."""
    f = importlib.import_module("pyspark.sql.functions")
    rules = decided.rules
    summary = Summary(campaigns=[(rule.name, rule.channel) for rule in rules.rules])
    offsets, total, presence = _census(decided.numbered, rules, f)
    writer = writer_for(out, fmt)
    executors = Summary()
    wanted = [_ROW, _KIND, *(name for name in ("campaign", "channel", "user_id", "local_send_at", "timezone", "due",
                                               "held_out", "variant", "idempotency_key", "warnings")),
              "_lapse_send_us", "_lapse_message", "error", *_COUNTS]
    mask = (1 << _SHIFT) - 1

    def line_of(row: int) -> int:
        return offsets[row >> _SHIFT] + (row & mask) + 1

    user: list[Any] = []

    def flush() -> None:
        if not user:
            return
        decisions = tuple(_decision(r) for r in user)
        line = line_of(user[0][_ROW])
        unwritable = writer.write(decisions, line)
        if unwritable is None:
            summary.add(decisions)
        else:
            summary.read += 1
            summary.rejected += 1
            write_rejection(errors, line, decisions[0].user_id, unwritable)
        user.clear()

    for row in _in_order(decided.rows.select(*wanted)):
        kind = row[_KIND]
        if kind == DECISION:
            if user and user[0][_ROW] != row[_ROW]:
                flush()
            user.append(row)
            continue
        flush()
        if kind == REJECTED:
            summary.read += 1
            summary.rejected += 1
            write_rejection(errors, line_of(row[_ROW]), row["user_id"], row["error"])
        else:
            executors.read += row["_lapse_read"]
            executors.without_decision += row["_lapse_without"]
    flush()
    writer.close()
    # the users the filter left out, and those decided without a decision, are the rest of the input
    summary.without_decision = total - (executors.read - executors.without_decision)
    summary.read = total
    summary.warnings = presence.warnings()
    return summary


def _in_order(frame: Any) -> Iterator[Mapping[str, Any]]:
    """The rows of ``frame`` (in input order: partition after partition, see :func:`decide`) on the driver.
    With a local master, the executors write them to a staging folder and the driver reads it back
    a record batch at a time, so memory stays flat however many decisions there are (task results
    of hundreds of megabytes sent through the driver's block manager get lost). A cluster's
    executors cannot write to the driver's disk: there they come one partition at a time."""
    if not frame.sparkSession.sparkContext.master.startswith("local"):
        for row in frame.toLocalIterator(prefetchPartitions=True):
            yield row.asDict()
        return
    pq = importlib.import_module("pyarrow.parquet")
    with tempfile.TemporaryDirectory(prefix="lapse-spark-") as staging:
        folder = Path(staging) / "rows"
        frame.write.parquet(str(folder))
        # part-00000-...-c000: the sort's partition, then the file of it
        parts = sorted(folder.glob("part-*.parquet"), key=lambda p: (int(p.name.split("-")[1]), p.name))
        for part in parts:
            with pq.ParquetFile(part) as file:
                for batch in file.iter_batches(batch_size=4096):
                    yield from batch.to_pylist()


def _decision(row: Any) -> Decision:
    return Decision(
        campaign=row["campaign"], channel=row["channel"], user_id=row["user_id"],
        send_at=_EPOCH + dt.timedelta(microseconds=row["_lapse_send_us"]),
        local_send_at=dt.datetime.fromisoformat(row["local_send_at"]), timezone=row["timezone"], due=row["due"],
        held_out=row["held_out"], variant=row["variant"], message=dict(json.loads(row["_lapse_message"])),
        idempotency_key=row["idempotency_key"], warnings=tuple(row["warnings"]),
    )


def _census(numbered: Any, rules: RuleSet, f: Any) -> tuple[dict[int, int], int, Presence]:
    """One pass over the input in the JVM: each partition's row count (for line numbers), and
    which attributes the rules read have a value in some row (for the summary's warnings)."""
    presence = Presence(rules)
    columns = [name for name in numbered.columns if name != _ROW]
    struct = importlib.import_module("pyspark.sql.types").StructType
    fields = [(name, f"{name}.{inner.name}") for name in columns
              if isinstance(kind := numbered.schema[name].dataType, struct) for inner in kind.fields]
    names = columns + [path for _, path in fields]
    names += [p for p in presence.missing if p not in names and _field_type(numbered.schema, p) is not None]  # deeper
    part = f.shiftright(f.col(_ROW), _SHIFT).alias("_lapse_part")
    counted = [f.count(f.col(name)).alias(f"_lapse_n{i}") for i, name in enumerate(names)]
    per_part = numbered.groupBy(part).agg(f.count(f.lit(1)).alias("_lapse_rows"), *counted).collect()
    offsets: dict[int, int] = {}
    total = 0
    for row in sorted(per_part, key=lambda r: r["_lapse_part"]):
        offsets[row["_lapse_part"]] = total
        total += row["_lapse_rows"]
    seen = {name for i, name in enumerate(names) if sum(r[f"_lapse_n{i}"] for r in per_part)}
    presence.see_counted(total, seen)
    return offsets, total, presence

