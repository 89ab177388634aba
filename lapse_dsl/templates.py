"""Message templates: Liquid, rendered with python-liquid in a sandbox.

The environment has no loader (``include``/``render`` cannot reach the file system, and are
rejected when the rules compile, as are unknown filters), no access to Python attributes (Liquid
only reads mapping keys and list items), and limits on everything a render can build, so a
template written by an ops team can never run code or use unbounded memory:

* the output, and each ``capture``, is at most :data:`MAX_RENDERED_BYTES`;
* every value a filter reads or makes is at most :data:`MAX_VALUE_SIZE` characters (a string),
  items counted through nested lists and maps (a list, a map, a range) or digits (a number), and
  ``replace`` and ``join`` refuse before building a result past it;
* loops run at most 10,000 iterations (nested loops multiply), ``reversed`` included;
* ``assign`` holds at most 64 KiB of values.

The clock is the evaluation's ``now``: ``{{ 'now' | date: ... }}``, the ``now`` and ``today``
variables and dates missing a part render from it, never from the machine's clock, and numbers
given to ``date`` are Unix times in UTC; so a message is a function of the rules, the user and
``now``.
"""

from __future__ import annotations

import calendar
import contextlib
import contextvars
import datetime as dt
import functools
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, NamedTuple

from dateutil import parser as _dates  # python-liquid's own date parser
from liquid import BoundTemplate, Environment, RenderContext
from liquid.builtin.expressions import LoopExpression
from liquid.builtin.tags.for_tag import ForNode, ForTag
from liquid.builtin.tags.tablerow_tag import TablerowTag
from liquid.exceptions import FilterArgumentError, LiquidError, LoopIterationLimitError
from liquid.utils import ReadOnlyChainMap

from .schema import did_you_mean_word

__all__ = [
    "MAX_RENDERED_BYTES", "MAX_VALUE_SIZE", "PROVIDED_VARIABLES", "Template", "TemplateError", "Variable",
    "compile_template", "message_variables", "source_index", "unknown_variable",
]

MAX_RENDERED_BYTES = 4096
MAX_VALUE_SIZE = 65_536
_LOOP_LIMIT = 10_000
# Variables every render has besides the user's attributes: the two message_variables adds and
# Liquid's clock names (here the evaluation's `now`).
PROVIDED_VARIABLES = ("campaign", "local_send_at", "now", "today")
_O1_FILTERS = frozenset({"size", "first", "last"})  # read one item or the length, whatever the size
_INJECTED = frozenset({"context", "environment"})  # keyword arguments Liquid passes, not the template

_CLOCK: contextvars.ContextVar[dt.datetime] = contextvars.ContextVar("lapse_template_now")


class TemplateError(Exception):
    """A template that does not parse, or a render that failed; ``index`` is the character
    offset into the template text where Liquid saw the problem (0 when unknown)."""

    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


class Variable(NamedTuple):
    """A variable a template reads from its render's variables (not one it assigns itself)."""

    path: tuple[str, ...]  # its name and the names after it, up to the first computed index
    offset: int  # character offset in the template text


def message_variables(user: Mapping[str, Any], campaign: str, local_send_at: str) -> dict[str, Any]:
    """What a message template renders with: the user's record, and the campaign's name and the
    local send time, which a user attribute cannot shadow."""
    return {**user, "campaign": campaign, "local_send_at": local_send_at}


# the clock -----------------------------------------------------------------------------------


class _Clock(Mapping[str, object]):
    """Liquid's built-in ``now`` and ``today`` variables, read from the render's ``now``."""

    def __getitem__(self, key: str) -> object:
        if key == "now":
            return _CLOCK.get()
        if key == "today":
            return _CLOCK.get().date()
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("now", "today"))

    def __len__(self) -> int:
        return 2


_CLOCK_VARIABLES = _Clock()


class _Context(RenderContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the same chain as RenderContext's, with the clock in place of the machine's
        self.scope = ReadOnlyChainMap(self.locals, self.globals, _CLOCK_VARIABLES, self.counters)


class _BoundTemplate(BoundTemplate):
    context_class = _Context


def _with_clock(date: Callable[..., Any]) -> Callable[..., Any]:
    """Liquid's ``date`` filter, given instants instead of what it would read from the clock:
    'now'/'today', a Unix time (in the machine's zone there), a date missing parts (filled from
    today there)."""

    @functools.wraps(date)
    def fixed(value: object, *args: Any, **kwargs: Any) -> Any:
        now = _CLOCK.get()
        if isinstance(value, str) and value in ("now", "today"):
            value = now
        elif (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit()):
            with contextlib.suppress(OverflowError, OSError, ValueError):  # Liquid's own handling reports it
                value = dt.datetime.fromtimestamp(int(value), dt.UTC)
        elif isinstance(value, str):
            with contextlib.suppress(_dates.ParserError, OverflowError, ValueError):  # not a date: Liquid keeps it
                value = _dates.parse(value, default=now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None))
        if isinstance(value, dt.date) and args and isinstance(args[0], str) and "%s" in args[0]:
            args = (_unix_seconds(args[0], value), *args[1:])
        return date(value, *args, **kwargs)

    return fixed


_DIRECTIVE = re.compile(r"%(.)")


def _unix_seconds(fmt: str, value: dt.date) -> str:
    """``fmt`` with its ``%s`` written out: strftime's own reads the machine's zone."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
    seconds = str(calendar.timegm(moment.utctimetuple() if moment.tzinfo else moment.timetuple()))
    return _DIRECTIVE.sub(lambda m: seconds if m.group(1) == "s" else m.group(0), fmt)


# size limits -----------------------------------------------------------------------------------


class _TooLarge(FilterArgumentError):
    """A filter's input or result past MAX_VALUE_SIZE (a FilterArgumentError so Liquid attaches
    the filter's position)."""


def _size(value: object, budget: int = MAX_VALUE_SIZE) -> int:
    """The size of a value as the limits count it; stops counting once past ``budget``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 1  # at least its decimal digits
    if isinstance(value, range):
        return max(0, (value.stop - value.start) // (value.step or 1))  # len() overflows past 2**63
    items: Any
    if isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, Mapping):
        items = (x for pair in value.items() for x in pair)
    else:
        return 1
    total = len(value)
    for item in items:
        if total > budget:
            break
        total += _size(item, budget - total)
    return total


def _check(name: str, value: object, what: str) -> None:
    if _size(value) > MAX_VALUE_SIZE:
        raise _TooLarge(f"{name}: {what} is larger than {MAX_VALUE_SIZE} characters or items", token=None)


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _replace_size(value: object, old: object = "", new: object = "", *_: object, **__: object) -> int:
    text, old_text, new_text = _text(value), _text(old), _text(new)
    count = len(text) + 1 if not old_text else text.count(old_text)
    return len(text) + count * (len(new_text) - len(old_text))


def _join_size(value: object, separator: object = " ", *_: object, **__: object) -> int:
    """At least the result's size: Liquid flattens nested lists, and a separator goes between
    any two of their items (the input is within the limit, so this walk is too)."""
    if not isinstance(value, (list, tuple)):
        return 0  # one item: the result's own check suffices
    text = items = 0
    pending: list[list[Any] | tuple[Any, ...]] = [value]
    while pending:
        for item in pending.pop():
            if isinstance(item, (list, tuple)):
                pending.append(item)
            else:
                text, items = text + len(_text(item)), items + 1
    return text + max(items - 1, 0) * len(_text(separator))


# Filters whose result can be far larger than their inputs: its size, computed before building it.
_PREDICTED: dict[str, Callable[..., int]] = {"replace": _replace_size, "join": _join_size}


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` refusing inputs and results past the size limit (every other filter makes a
    result at most a small constant times its inputs)."""
    check_input = name not in _O1_FILTERS
    predict = _PREDICTED.get(name)

    @functools.wraps(func)
    def bounded(value: object, *args: Any, **kwargs: Any) -> Any:
        if check_input:
            _check(name, value, "the input")
        for arg in args:
            _check(name, arg, "an argument")
        for key, arg in kwargs.items():
            if key not in _INJECTED:
                _check(name, arg, "an argument")
        if predict is not None and predict(value, *args, **kwargs) > MAX_VALUE_SIZE:
            raise _TooLarge(f"{name}: the result would be larger than {MAX_VALUE_SIZE} characters or items", token=None)
        result = func(value, *args, **kwargs)
        _check(name, result, "the result")
        return result

    return bounded


def _capped(items: Iterator[object], limit: int) -> Iterator[object]:
    for count, item in enumerate(items):
        if count >= limit:
            raise LoopIterationLimitError("loop iteration limit reached", token=None)
        yield item


class _BoundedLoop(LoopExpression):
    """A loop expression whose items stop at the loop limit: Liquid checks a loop's length before
    it runs, but ``reversed`` (and ``offset``) read every item first."""

    __slots__ = ()

    def _to_iter(self, obj: object, context: RenderContext) -> tuple[Iterator[Any], int]:
        items, length = super()._to_iter(obj, context)
        return _capped(items, _LOOP_LIMIT), length


class _ForTag(ForTag):
    def parse(self, stream: Any) -> Any:
        node = super().parse(stream)
        assert isinstance(node, ForNode)
        node.expression.__class__ = _BoundedLoop  # same slots: only the behaviour changes
        return node


class _TablerowTag(TablerowTag):
    def parse(self, stream: Any) -> Any:
        node = super().parse(stream)
        node.expression.__class__ = _BoundedLoop
        return node


class _Sandbox(Environment):
    output_stream_limit = MAX_RENDERED_BYTES
    loop_iteration_limit = _LOOP_LIMIT
    local_namespace_limit = 64 * 1024
    context_depth_limit = 10
    template_class = _BoundTemplate

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        self.add_tag(_ForTag)
        self.add_tag(_TablerowTag)
        self.filters["date"] = _with_clock(self.filters["date"])
        for name, func in list(self.filters.items()):
            self.filters[name] = _bounded(name, func)


_ENV = _Sandbox()  # its loader is an empty in-memory dict: no template can reach a file
_NO_FILES = ("include", "render")


class Template:
    """A parsed template. Rendering is thread-safe (python-liquid keeps no state per render)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._static = "{{" not in text and "{%" not in text
        try:
            self._template = _ENV.from_string(text)
            analysis = self._template.analyze(include_partials=False)
        except LiquidError as exc:
            raise TemplateError(_first_line(exc), _index(exc)) from None
        # Known now, so reported when the rules compile rather than failing every user at render.
        for tag in _NO_FILES:
            if tag in analysis.tags:
                at = analysis.tags[tag][0].index
                raise TemplateError(f"'{tag}' is not available: message templates cannot read other files", at)
        for name, spans in analysis.filters.items():
            if name not in _ENV.filters:
                raise TemplateError(f"unknown filter '{name}'", spans[0].index)
        if self._static and len(text.encode("utf-8")) > MAX_RENDERED_BYTES:
            raise TemplateError(f"the text is longer than {MAX_RENDERED_BYTES} bytes", _byte_limit_index(text))
        self._variables = tuple(sorted(
            (Variable(_static_path(v.segments), v.span.index) for uses in analysis.globals.values() for v in uses),
            key=lambda v: v.offset,
        ))

    def variables(self) -> tuple[Variable, ...]:
        """Every use of a variable the template does not define itself (``assign``, ``capture``,
        loop variables and ``forloop`` are its own), in text order."""
        return self._variables

    def render(self, variables: Mapping[str, object], now: dt.datetime) -> str:
        """The text for ``variables``, with ``now`` (aware) as the clock."""
        if self._static:
            return self.text
        token = _CLOCK.set(now)
        try:
            out = self._template.render(variables)  # a mapping, not **: keys need not be identifiers
        except LiquidError as exc:
            raise TemplateError(_first_line(exc), _index(exc)) from None
        except Exception as exc:  # user values the filters choke on: a 5,000-digit int, a failing __str__
            raise TemplateError(f"{type(exc).__name__}: {exc}") from None
        finally:
            _CLOCK.reset(token)
        if len(out.encode("utf-8")) > MAX_RENDERED_BYTES:
            raise TemplateError(f"rendered text is longer than {MAX_RENDERED_BYTES} bytes")
        return out


def compile_template(text: str) -> Template:
    return Template(text)


def source_index(literal: str, index: int) -> int:
    """The offset in a quoted rule-file string ``literal`` (quotes and backslash escapes as
    written) of the character at ``index`` in its value."""
    at = 1  # past the opening quote
    for _ in range(index):
        if at >= len(literal) - 1:
            break
        at += 2 if literal[at] == "\\" else 1
    return at


def unknown_variable(path: tuple[str, ...], attributes: Collection[str]) -> tuple[str, str | None] | None:
    """Why a template may not read the variable ``path`` and the name it suggests instead (None
    when it suggests none), or None when it may: a name of :data:`PROVIDED_VARIABLES`, or a path
    that is a declared attribute, lies inside one (``first_name.size``) or holds one (``profile``
    when ``profile.first_name`` is declared)."""
    if not path or path[0] in PROVIDED_VARIABLES:
        return None
    for attribute in attributes:
        parts = tuple(attribute.split("."))
        common = min(len(parts), len(path))
        if parts[:common] == path[:common]:
            return None
    name = ".".join(path)
    hint, word = did_you_mean_word(name, [*attributes, *PROVIDED_VARIABLES])
    if hint:
        return f"unknown template variable '{name}'{hint}", word
    provided = ", ".join(PROVIDED_VARIABLES)
    return f"unknown template variable '{name}': declare it ('attribute {name}: TYPE') or use one of {provided}", None


def _static_path(segments: object) -> tuple[str, ...]:
    path: list[str] = []
    for segment in segments if isinstance(segments, list) else [segments]:
        if not isinstance(segment, str):
            break  # an index or a computed key: what follows depends on the data
        path.append(segment)
    return tuple(path)


def _first_line(exc: LiquidError) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).splitlines()[0] if str(message) else type(exc).__name__


def _index(exc: LiquidError) -> int:
    token = getattr(exc, "token", None)
    index = getattr(token, "start_index", 0) if token is not None else 0
    return index if isinstance(index, int) and index >= 0 else 0  # Liquid uses -1 for "unknown"


def _byte_limit_index(text: str) -> int:
    """The character offset of the first character that takes ``text`` past the byte limit."""
    size = 0
    for i, char in enumerate(text):
        size += len(char.encode("utf-8"))
        if size > MAX_RENDERED_BYTES:
            return i
    return 0
