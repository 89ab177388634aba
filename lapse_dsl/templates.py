"""Message templates: Liquid, rendered with python-liquid in a sandbox.

The environment has no loader (``include``/``render`` cannot reach the file system, and are
rejected when the rules compile, as are unknown filters), no access to Python attributes (Liquid
only reads mapping keys and list items), and an output limit, so a template written by an ops team
can never run code or produce an unbounded message.
"""

from __future__ import annotations

from collections.abc import Mapping

from liquid import Environment
from liquid.exceptions import LiquidError

__all__ = ["MAX_RENDERED_BYTES", "Template", "TemplateError", "compile_template"]

MAX_RENDERED_BYTES = 4096


class _Sandbox(Environment):
    output_stream_limit = MAX_RENDERED_BYTES
    loop_iteration_limit = 10_000
    local_namespace_limit = 64 * 1024
    context_depth_limit = 10


_ENV = _Sandbox()  # its loader is an empty in-memory dict: no template can reach a file
_NO_FILES = ("include", "render")


class TemplateError(Exception):
    """A template that does not parse, or a render that failed; ``index`` is the character
    offset into the template text where Liquid saw the problem (0 when unknown)."""

    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


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

    def render(self, variables: Mapping[str, object]) -> str:
        if self._static:
            return self.text
        try:
            out = self._template.render(variables)  # a mapping, not **: keys need not be identifiers
        except LiquidError as exc:
            raise TemplateError(_first_line(exc), _index(exc)) from None
        except Exception as exc:  # user values the filters choke on: a 5,000-digit int, a failing __str__
            raise TemplateError(f"{type(exc).__name__}: {exc}") from None
        if len(out.encode("utf-8")) > MAX_RENDERED_BYTES:
            raise TemplateError(f"rendered text is longer than {MAX_RENDERED_BYTES} bytes")
        return out


def compile_template(text: str) -> Template:
    return Template(text)


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

