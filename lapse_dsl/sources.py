"""User sources for batch runs: JSON lines, CSV, SQLite, Parquet, standard input. Each yields, in input
order, ``(line, record)`` or ``(line, error message)`` so that every input is accounted for; nothing
is loaded whole, so memory stays flat however large the input. Whatever goes wrong reading one
record (any exception) costs that record only: it becomes its error message."""

from __future__ import annotations

import collections
import csv
import glob
import importlib
import io
import json
import os
import re
import sqlite3
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO

from .userdata import as_number

__all__ = [
    "MAX_FIELD_LINES", "MAX_LINE", "PARQUET", "SQLITE", "Row", "SourceError", "arrow_records", "counted", "open_source",
    "parquet_files", "problem", "redact",
]

Row = tuple[int, dict[str, Any] | str]  # (1-based line or row number, record or error)

JSONL = (".jsonl", ".ndjson")
CSV = (".csv",)
SQLITE = (".db", ".sqlite", ".sqlite3")
PARQUET = (".parquet",)
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
MAX_LINE = 16 * 1024 * 1024  # bytes (JSON lines) or characters (CSV) of one input line; longer lines are rejected
MAX_FIELD_LINES = 100  # lines one CSV quoted field may span; past it, its opening quote is taken as unclosed


def counted(n: int, noun: str) -> str:
    """``1 record``, ``2 records``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def problem(exc: BaseException) -> str:
    """Why one record could not be read, for any exception (it costs that record only)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "too large to hold in memory"
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    return f"{type(exc).__name__}: {exc}"


# Credentials in connection strings: the password of a URL's user:password@, and the value of a
# password-like key in a query string or a keyword/value DSN (password=..., password='a b').
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:]*:)(\S*)@")
_SECRET_KEY = r"(?:password|passwd|pwd|pass|sslpassword|secret|client_secret|token|access_token|auth_token|api_?key)"
_KEY_VALUE = re.compile(  # key=value, or "key": value as JSON writes it
    rf"(?i)((?<![a-z0-9_]){_SECRET_KEY}(?:\s*=|[\"']\s*:)\s*)('(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?|[^\s&;,)'\"]*)"
)
HIDDEN = "***"


def redact(text: str, spec: str | None = None) -> str:
    """``text`` with every credential hidden: passwords in URLs and DSNs (as written anywhere in
    ``text``), and the literal secrets of ``spec`` (a source spec) wherever a driver echoes them."""
    for secret in sorted(_secrets(spec), key=len, reverse=True) if spec else ():
        text = text.replace(secret, HIDDEN)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + HIDDEN + "@", text)
    return _KEY_VALUE.sub(lambda m: m.group(1) + HIDDEN, text)


def _secrets(spec: str) -> set[str]:
    """The passwords written in ``spec``, raw and percent-decoded (3 characters or more: shorter
    ones cannot be told from ordinary text, and the patterns still hide them where they stand)."""
    found = [m.group(2) for m in _URL_PASSWORD.finditer(spec)]
    found += [m.group(2).strip("'\"") for m in _KEY_VALUE.finditer(spec)]
    found += [urllib.parse.unquote(f) for f in found]
    return {f for f in found if len(f) >= 3}


class SourceError(Exception):
    """The source cannot be opened at all (a usage error: exit 2)."""


class Source:
    """An opened user source; iterate it for rows. ``size``/``position`` drive the progress bar.
    Iterating to the end closes it; ``close()`` (or ``with``) releases it early."""

    def __init__(
        self, rows: Iterator[Row], size: int | None, position: Any, close: Callable[[], object] | None = None
    ) -> None:
        self._rows = rows
        self.size = size
        self.position = position
        self._close = close

    def __iter__(self) -> Iterator[Row]:
        return self._rows

    def close(self) -> None:
        if self._close is not None:
            self._close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(spec: str, schema: Mapping[str, str], table: str | None = None) -> Source:
    """Open ``spec`` (a path whose extension names the format, a folder or a glob of Parquet
    files, or ``-`` for JSON lines on standard input). ``schema`` types CSV cells and SQLite values
    (Parquet columns carry their own types); ``table`` is the SQLite table (default ``users``)."""
    if spec == "-":
        return Source(_jsonl(sys.stdin.buffer), None, lambda: 0)
    files = parquet_files(spec)
    if files is not None:
        return _parquet(files, spec)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in JSONL + CSV + PARQUET + SQLITE:
        raise SourceError(redact(
            f"{spec}: unknown users file type '{suffix or '(none)'}'; use .jsonl, .ndjson, .csv, .parquet, "
            ".db, .sqlite, .sqlite3 or - for standard input", spec
        ))
    if not path.is_file():
        raise SourceError(redact(f"{spec}: no such users file", spec))
    size = path.stat().st_size
    if suffix in SQLITE:
        return _sqlite(path, "users" if table is None else table, schema)
    if suffix in PARQUET:
        return _parquet([path], spec)
    raw = path.open("rb")
    if suffix in CSV:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark. surrogateescape: a bad
        # byte must cost only its own row (a strict decoder fails a whole 8 KiB chunk of rows).
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        return Source(_closing(_csv(text, schema), text), size, lambda: _tell(raw), text.close)
    return Source(_closing(_jsonl(raw), raw), size, lambda: _tell(raw), raw.close)


def _tell(fh: BinaryIO) -> int:
    try:
        return os.lseek(fh.fileno(), 0, os.SEEK_CUR)
    except (OSError, ValueError):
        return 0


def _closing(rows: Iterator[Row], fh: IO[Any]) -> Iterator[Row]:
    try:
        yield from rows
    finally:
        fh.close()


def _jsonl(fh: BinaryIO) -> Iterator[Row]:
    readline = fh.readline
    line = 0
    while True:
        data = readline(MAX_LINE)
        if not data:
            return
        line += 1
        if len(data) >= MAX_LINE and not data.endswith(b"\n"):
            while (rest := readline(MAX_LINE)) and not rest.endswith(b"\n"):
                pass  # skip to the end of the line: it costs this line only
            yield line, f"line is longer than {MAX_LINE} bytes"
            continue
        try:  # the common case, fast; anything else takes the careful path below
            record = json.loads(data.decode("utf-8"))
        except Exception:
            record = None
        if record.__class__ is not dict:
            try:
                record = _json_record(data, line == 1)
            except Exception as exc:  # any failure (RecursionError, a 5000-digit number) costs this line only
                record = f"invalid JSON: {problem(exc)}"
            if record is None:
                continue
        yield line, record


def _json_record(data: bytes, first: bool) -> dict[str, Any] | str | None:
    """One line's record, its error message, or None for a blank line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"line is not valid UTF-8 (byte {exc.start + 1})"
    if first and text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark
    if not text.strip():
        return None  # blank lines hold no record
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at character {exc.pos + 1}"
    if not isinstance(record, dict):
        return f"a user record must be a JSON object, not {_JSON_TYPES.get(type(record), 'a value')}"
    return record


class _Runaway(Exception):
    """A record took MAX_FIELD_LINES lines and wants more: its quoted field is taken as unclosed."""


class _TooLong(Exception):
    """A physical line longer than MAX_LINE characters (skipped to its end)."""


class _Lines:
    """The physical lines of a CSV text, numbered, as ``csv.reader`` takes them: the lines of the
    record being read are kept (``taken``) so that they can be handed back and read again, and one
    record may take at most MAX_FIELD_LINES of them."""

    def __init__(self, fh: TextIO) -> None:
        self._readline = fh.readline
        self._again: collections.deque[tuple[int, str | None]] = collections.deque()
        self._number = 0
        self.taken: list[tuple[int, str | None]] = []  # (line number, text or None when too long)
        self.eof = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= MAX_FIELD_LINES:
            raise _Runaway
        if self._again:
            number, text = self._again.popleft()
        else:
            text = self._readline(MAX_LINE)
            if not text:
                self.eof = True
                raise StopIteration
            self._number += 1
            number = self._number
            if len(text) >= MAX_LINE and not text.endswith(("\n", "\r")):
                while (rest := self._readline(MAX_LINE)) and not rest.endswith(("\n", "\r")):
                    pass
                text = None
        self.taken.append((number, text))
        if text is None:
            raise _TooLong
        return text

    def start(self) -> None:
        """A new record begins."""
        self.taken = []
        self.eof = False

    def again(self, lines: list[tuple[int, str | None]]) -> None:
        """Read ``lines`` again, before any line not read yet."""
        self._again.extendleft(reversed(lines))


def _csv(fh: TextIO, schema: Mapping[str, str]) -> Iterator[Row]:
    """CSV rows as records. A quoted field may hold line breaks, but a field still open after
    MAX_FIELD_LINES lines or at the end of the file, one that ends with a stray character after its
    closing quote, or a row of several lines with the wrong number of cells means a quote that was
    never closed: that row is rejected, naming the line where the quote opened, and the lines after
    that line are read again as rows, so one stray quote costs one row."""
    lines = _Lines(fh)
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    while True:
        lines.start()
        cells: list[str] | None = None
        error: Exception | None = None
        try:
            cells = next(reader)
        except StopIteration:
            if not lines.taken:
                return
            error = csv.Error("unexpected end of data")
        except Exception as exc:  # csv.Error, the bounds above, anything: it costs this row
            error = exc
        taken = lines.taken
        first = taken[0][0] if taken else 1
        # (a one-line row read whole, the common case, cannot be an unclosed quote)
        unclosed = _unclosed(taken, lines.eof, error, cells, header) if error or lines.eof or len(taken) > 1 else None
        if unclosed is not None:
            detail, opening = unclosed
            lines.again(taken[opening + 1:])
            reason = (f"unclosed quote on line {taken[opening][0]}: its field is not closed {detail}; "
                      "the lines after it are read as rows")
            if header is None:
                yield first, f"unreadable CSV header: {reason}"
                return
            yield first, reason
            continue
        if cells is None:
            if isinstance(error, _TooLong):
                reason = f"line is longer than {MAX_LINE} characters"
            else:
                reason = f"unreadable CSV row: {error}" if isinstance(error, csv.Error) else problem(error or Exception())
            if header is None:
                yield first, f"unreadable CSV header: {reason}"
                return
            yield first, reason
            continue
        if header is None:
            if not _utf8(cells):
                yield first, "the CSV header is not valid UTF-8"
                return
            header = cells
            continue
        if not any(cells):
            continue
        if not _utf8(cells):
            yield first, "row is not valid UTF-8"
            continue
        if len(cells) != len(header):
            yield first, f"row has {counted(len(cells), 'cell')}, the header has {len(header)}"
            continue
        yield first, _csv_record(header, cells, schema)


def _unclosed(
    taken: list[tuple[int, str | None]], eof: bool, error: Exception | None, cells: list[str] | None,
    header: list[str] | None,
) -> tuple[str, int] | None:
    """``(how the quoted field fails to close, index in taken of the line it opens on)`` when the
    record read is a quote that was never closed, else None."""
    if isinstance(error, _Runaway):
        return f"within {MAX_FIELD_LINES} lines", _opening(taken)
    if eof and (error is not None or len(taken) > 1):
        return "before the end of the file", _opening(taken)
    if len(taken) < 2:
        return None
    last = taken[-1][0]
    if isinstance(error, _TooLong):
        return f"before line {last}, which is longer than {MAX_LINE} characters", _opening(taken)
    if isinstance(error, csv.Error):
        return f"where it should be (line {last}: {error})", _opening(taken)
    if cells is not None and header is not None and len(cells) != len(header):
        return (f"where it should be: it ends on line {last}, leaving a row of {counted(len(cells), 'cell')} "
                f"where the header has {len(header)}"), _opening(taken)
    return None


def _opening(taken: list[tuple[int, str | None]]) -> int:
    """The index in ``taken`` of the line where the culprit quoted field opens: the field still
    open at the end, else the last one that spans lines. Only runs for a rejected row."""
    quoted = after = False  # inside a quoted field; just after a quote inside one
    at_start = True
    opened = culprit = 0
    for i, (_, text) in enumerate(taken):
        for c in text or "":
            if after:
                after = False
                if c == '"':
                    continue  # "" is an escaped quote
                quoted = False
                culprit = opened if i > opened else culprit
                if c not in ",\r\n":
                    return opened  # a stray character after a closing quote: it closed a field too early
                at_start = True
            elif quoted:
                after = c == '"'
            elif c == '"' and at_start:
                quoted, opened = True, i
            else:
                at_start = c in ",\r\n"
    if after:  # the text ends right after a closing quote
        return opened if len(taken) - 1 > opened else culprit
    return opened if quoted else culprit


def _csv_record(header: list[str], cells: list[str], schema: Mapping[str, str]) -> dict[str, Any] | str:
    record: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell == "":
            continue  # an empty cell is a missing value
        try:
            put(record, name, _typed(cell, schema.get(name)))
        except Exception as exc:  # such as a 5000-digit number: it costs this row only
            return f"{name}: {problem(exc)}"
    return record


def _utf8(cells: list[str]) -> bool:
    """False when a cell holds bytes that were not UTF-8 (decoded as lone surrogates)."""
    text = "".join(cells)
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _typed(cell: str, kind: str | None) -> object:
    """CSV text -> a value of the attribute's declared type; cells that do not convert stay text
    and are rejected by the evaluator with a message naming the attribute."""
    if kind == "boolean":
        low = cell.strip().lower()
        return True if low == "true" else False if low == "false" else cell
    if kind in ("number", "time") and _NUMBER.match(cell.strip()):
        text = cell.strip()
        return float(text) if any(c in text for c in ".eE") else int(text)
    return cell


def put(record: dict[str, Any], name: str, value: object) -> None:
    """Store ``value`` at the dotted path ``name`` (``custom.tier`` -> ``record['custom']['tier']``)."""
    parts = name.split(".")
    target = record
    for part in parts[:-1]:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    target[parts[-1]] = value


def _sqlite(path: Path, table: str, schema: Mapping[str, str]) -> Source:
    try:
        # as_uri() percent-encodes '#', '?' and '%', which a raw "file:" URI would misread
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: not a readable SQLite database ({exc})") from None
    if table not in names:
        conn.close()
        listed = ", ".join(sorted(names)) or "none"
        raise SourceError(f"{path}: no table '{table}' (tables: {listed}); choose one with --table")
    return Source(_sqlite_rows(conn, path, table, schema), None, lambda: 0, conn.close)


def _sqlite_rows(conn: sqlite3.Connection, path: Path, table: str, schema: Mapping[str, str]) -> Iterator[Row]:
    # TEXT that is not UTF-8 must cost its row only: sqlite3's own decoding raises on every later
    # fetch of the cursor, so decode here and reject the row below
    conn.text_factory = _sqlite_text
    quoted = '"' + table.replace('"', '""') + '"'
    row_number = 0
    try:
        cursor = conn.execute(f"SELECT * FROM {quoted}")
        columns = [d[0] for d in cursor.description]
        while True:
            try:
                values = cursor.fetchone()
            except sqlite3.Error as exc:  # a damaged file: the source, not a record, failed
                raise SourceError(f"{path}: reading row {row_number + 1} failed ({exc})") from None
            if values is None:
                return
            row_number += 1
            yield row_number, _sqlite_record(columns, values, schema)
    finally:
        conn.close()


def _sqlite_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _sqlite_record(columns: list[str], values: tuple[Any, ...], schema: Mapping[str, str]) -> dict[str, Any] | str:
    record: dict[str, Any] = {}
    for name, value in zip(columns, values, strict=True):
        if value is None:
            continue
        if isinstance(value, str) and not _utf8([value]):
            return f"{name}: the text is not valid UTF-8"
        if schema.get(name) == "boolean" and value in (0, 1) and not isinstance(value, bool):
            value = bool(value)  # SQLite stores booleans as 0/1
        try:
            put(record, name, value)
        except Exception as exc:  # it costs this row only
            return f"{name}: {problem(exc)}"
    return record


# Parquet ----------------------------------------------------------------------------------------

_PARQUET_BATCH = 4096  # rows per record batch: memory stays flat, conversion stays vectorised
_GLOB = re.compile(r"[*?[]")


def parquet_files(spec: str) -> list[Path] | None:
    """The Parquet files that ``spec`` names as one input, in the order they are read: for a
    folder, every ``*.parquet`` file below it, for a glob (``users/part-*.parquet``, ``**`` for any
    depth) every file it matches, sorted by path. None when ``spec`` is neither (one file, or
    something else). Below a folder, names starting with ``_`` or ``.`` are left out, as Spark and
    pyarrow leave them (``_SUCCESS``, ``_temporary/``, ``.crc`` files)."""
    path = Path(spec)
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.suffix.lower() in PARQUET and not _hidden(f.relative_to(path))
                 and f.is_file()]
        if not files:
            raise SourceError(redact(f"{spec}: a folder without .parquet files", spec))
    elif _GLOB.search(spec) and not path.exists():
        if path.suffix.lower() not in PARQUET:
            raise SourceError(redact(f"{spec}: a glob must name .parquet files (such as 'users/part-*.parquet')", spec))
        files = [f for f in map(Path, glob.glob(spec, recursive=True)) if f.is_file()]
        if not files:
            raise SourceError(redact(f"{spec}: no file matches", spec))
    else:
        return None
    return sorted(files, key=lambda f: f.parts)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.parts)


def _parquet(paths: list[Path], spec: str) -> Source:
    """Parquet files read in order one record batch at a time (pyarrow, the ``parquet`` extra),
    as one input: rows are numbered from 1 across the files. Every file's footer is read first, so
    a file that is not Parquet is a usage error before any row is read. Columns keep their types:
    a timestamp with a zone is an aware datetime, one without is naive (a time without an offset,
    as in JSON), a decimal is a number (as a JSON reader reads its digits), strings, numbers and
    booleans are themselves, a struct is a nested record and a list a list. ``position`` is the
    bytes of the files done plus the share of rows read of the current one, so the progress bar
    reads it as it reads the other files."""
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise SourceError(redact(f"{spec}: reading Parquet needs pyarrow: pip install 'lapse-dsl[parquet]'", spec)) from None
    sizes: list[int] = []
    counts: list[int] = []
    for path in paths:
        try:
            counts.append(int(pq.read_metadata(str(path)).num_rows))
            sizes.append(path.stat().st_size)
        except Exception as exc:  # ArrowInvalid for a file that is not Parquet, OSError, ...
            raise SourceError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    before = [sum(sizes[:i]) for i in range(len(sizes) + 1)]  # bytes of the files before each
    at = [0, 0]  # the file being read, rows of it done

    def position() -> int:
        i, done = at
        if i >= len(paths):
            return before[-1]
        return before[i] + (sizes[i] * done // counts[i] if counts[i] else 0)

    opened: list[Any] = []  # the file being read, closed early by close()
    return Source(_parquet_rows(pa, pq, paths, at, opened), before[-1], position,
                  lambda: [file.close() for file in opened])


def _parquet_rows(pa: Any, pq: Any, paths: list[Path], at: list[int], opened: list[Any]) -> Iterator[Row]:
    number = 0
    for index, path in enumerate(paths):
        at[:] = [index, 0]
        try:
            file = pq.ParquetFile(str(path))  # memory-mapped by pyarrow, read a batch at a time
        except Exception as exc:  # replaced or damaged since its footer was read
            raise SourceError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
        opened[:] = [file]
        try:
            batches = file.iter_batches(batch_size=_PARQUET_BATCH)
            while True:
                try:
                    batch = next(batches, None)
                except Exception as exc:  # a damaged page: the source, not a record, failed
                    raise SourceError(f"{path}: reading row {at[1] + 1} failed ({_first_line(exc)})") from None
                if batch is None:
                    break
                for record in arrow_records(pa, batch):
                    number += 1
                    yield number, record
                at[1] += batch.num_rows
        finally:
            file.close()
    at[:] = [len(paths), 0]


def arrow_records(pa: Any, batch: Any) -> list[dict[str, Any] | str]:
    """A pyarrow record batch as user records, the reason for a row that cannot be one: the
    conversion of every Arrow input (Parquet files here, Spark's batches in ``lapse_dsl.spark``)."""
    names = batch.schema.names
    columns = [_parquet_values(pa, column) for column in batch.columns]
    return [_parquet_record(names, [values[i] for values in columns]) for i in range(batch.num_rows)]


class _Unreadable:
    """A Parquet value Python cannot hold (a timestamp past year 9999): it costs its row only."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parquet_values(pa: Any, column: Any) -> list[Any]:
    """A column of a record batch as Python values, the whole column at once; when that fails,
    value by value, so that only the rows holding a bad value are lost."""
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.unit == "ns":  # else pandas Timestamps, or an error
        column = column.cast(pa.timestamp("us", kind.tz), safe=False)  # a datetime holds microseconds
    plain = _plain(pa, kind)
    try:
        values = column.to_pylist()
        return values if plain is None else [None if v is None else plain(v) for v in values]
    except Exception:
        pass
    values = []
    for i in range(len(column)):
        try:
            value = column[i].as_py()
            values.append(value if plain is None or value is None else plain(value))
        except Exception as exc:  # OverflowError: date value out of range, and the like
            values.append(_Unreadable(problem(exc)))
    return values


def _plain(pa: Any, kind: Any) -> Callable[[Any], Any] | None:
    """How to turn a non-null value of type ``kind`` into what a JSON reader would give (a
    decimal, at any depth, becomes an int or a float); None when pyarrow's values already are."""
    if pa.types.is_decimal(kind):
        return as_number
    if pa.types.is_struct(kind):
        fields = {kind.field(i).name: _plain(pa, kind.field(i).type) for i in range(kind.num_fields)}
        inner = {name: f for name, f in fields.items() if f is not None}
        if not inner:
            return None
        return lambda v: {k: x if x is None or k not in inner else inner[k](x) for k, x in v.items()}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        item = _plain(pa, kind.value_type)
        if item is None:
            return None
        return lambda v: [x if x is None else item(x) for x in v]
    return None


def _parquet_record(names: list[str], values: list[Any]) -> dict[str, Any] | str:
    record: dict[str, Any] = {}
    for name, value in zip(names, values, strict=True):
        if value is None:
            continue
        if isinstance(value, _Unreadable):
            return f"{name}: {value.reason}"
        try:
            put(record, name, value)
        except Exception as exc:  # it costs this row only
            return f"{name}: {problem(exc)}"
    return record


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
