"""Every rule example in the documentation compiles, and every documented error is the real one.

Fenced blocks in ``docs/*.md`` and ``README.md``:

- ```` ```lapse ```` -- a complete, valid file: ``lapse_dsl.compile`` must accept it. It must also be
  free of warnings, unless it is followed by a ```` ```text ```` block whose first line is the first
  warning (``<string>:LINE:COL: warning: MESSAGE``), which must then be exact.
- ```` ```lapse-error ```` -- a deliberately invalid file, followed by a ```` ```text ```` block whose
  first line is the first diagnostic, ``<string>:LINE:COL: error: MESSAGE``, exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

import lapse_dsl

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "<string>"
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")


@attrs.frozen
class Block:
    doc: Path
    line: int  # 1-based line of the opening fence
    end: int  # 1-based line of the closing fence
    info: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT).as_posix()}:{self.line}"


def doc_files() -> list[Path]:
    files = sorted((ROOT / "docs").glob("*.md"))
    readme = ROOT / "README.md"
    if readme.is_file():
        files.append(readme)
    return files


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced code block in a Markdown file, in order."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening.group("fence")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (lines[j].startswith(fence[0] * len(fence)) and not lines[j].strip(fence[0]).strip()):
            body.append(lines[j])
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path}:{i + 1}: code block is never closed")
        text = "\n".join(body) + "\n"
        blocks.append(Block(path, i + 1, j + 1, opening.group("info"), text))
        i = j + 1
    return blocks


def _pairs() -> list[tuple[Block, Block | None]]:
    """Each ``lapse``/``lapse-error`` block with the block that directly follows it (if any)."""
    out: list[tuple[Block, Block | None]] = []
    for path in doc_files():
        blocks = fenced_blocks(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        for index, block in enumerate(blocks):
            if block.info not in ("lapse", "lapse-error"):
                continue
            follower = blocks[index + 1] if index + 1 < len(blocks) else None
            if follower is not None:
                between = lines[block.end : follower.line - 1]
                if any(line.strip() for line in between):
                    follower = None  # prose in between: not this block's output
            out.append((block, follower))
    return out


PAIRS = _pairs()
VALID = [pytest.param(b, f, id=b.id) for b, f in PAIRS if b.info == "lapse"]
INVALID = [pytest.param(b, f, id=b.id) for b, f in PAIRS if b.info == "lapse-error"]


def _first_line(diagnostic: lapse_dsl.Diagnostic) -> str:
    d = diagnostic
    return f"{d.source}:{d.line}:{d.column}: {d.severity}: {d.message}"


def test_language_reference_has_examples() -> None:
    language = ROOT / "docs" / "language.md"
    assert language.is_file(), "docs/language.md is missing"
    assert sum(1 for b, _ in PAIRS if b.doc == language and b.info == "lapse") >= 20
    assert sum(1 for b, _ in PAIRS if b.doc == language and b.info == "lapse-error") >= 20


def test_fence_reader_finds_blocks_and_followers(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("intro\n```lapse\na\nb\n```\n\n```text\nout\n```\nprose\n````lapse-error\nc\n````\n", encoding="utf-8")
    blocks = fenced_blocks(doc)
    assert [(b.line, b.end, b.info, b.text) for b in blocks] == [
        (2, 5, "lapse", "a\nb\n"),
        (7, 9, "text", "out\n"),
        (11, 13, "lapse-error", "c\n"),
    ]


@pytest.mark.parametrize(("block", "follower"), VALID)
def test_valid_example_compiles(block: Block, follower: Block | None) -> None:
    try:
        rules = lapse_dsl.compile(block.text, source=SOURCE)
    except lapse_dsl.LapseError as exc:
        pytest.fail(f"{block.id}: documented example does not compile:\n{exc}")
    assert rules.rules, f"{block.id}: example defines no rule"
    documented = None
    if follower is not None and follower.info == "text":
        first = follower.text.splitlines()[0] if follower.text.strip() else ""
        if re.match(rf"^{re.escape(SOURCE)}:\d+:\d+: warning: ", first):
            documented = first
    actual = [_first_line(w) for w in rules.warnings]
    if documented is None:
        assert actual == [], f"{block.id}: example has undocumented warnings"
    else:
        assert actual, f"{block.id}: documented warning is not produced"
        assert actual[0] == documented


@pytest.mark.parametrize(("block", "follower"), INVALID)
def test_error_example_reports_documented_diagnostic(block: Block, follower: Block | None) -> None:
    assert follower is not None and follower.info == "text", (
        f"{block.id}: a lapse-error block must be followed directly by a ```text block with its diagnostic"
    )
    expected = follower.text.splitlines()[0]
    with pytest.raises(lapse_dsl.LapseError) as info:
        lapse_dsl.compile(block.text, source=SOURCE)
    exc = info.value
    assert isinstance(exc, (lapse_dsl.LapseSyntaxError, lapse_dsl.LapseCheckError))
    first = exc.diagnostics[0]
    assert first.severity == "error"
    assert _first_line(first) == expected
