"""Regenerate the golden SQL files, then review them with ``git diff``:

    python tests/golden_sql/regen.py            # rewrite tests/golden_sql/<dialect>/*.sql
    python tests/golden_sql/regen.py --check    # only report goldens that are out of date (exit 1)

Each ``rules/NAME.lapse`` holds one rule exercising one construct. For every dialect in
``lapse_dsl.sql.DIALECTS`` its golden is ``<dialect>/NAME.sql``: the ``segment_sql`` of the rule at
:data:`AT`, pretty-printed, or, when the dialect cannot express the rule exactly (sqlite and time
conditions), the ``UnsupportedError`` message as a one-line SQL comment
``-- UnsupportedError: MESSAGE``.

A rule file may carry options for the generator on ``# golden-sql:`` comment lines:

- ``--column ATTR=COLUMN`` (repeatable): the column override passed as ``columns=``;
- ``--next``: also write ``<dialect>/NAME.next.sql``, the ``next_occurrence_sql`` at :data:`AT`.

tests/test_sql_golden.py imports this module and compares every file with what it generates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

import lapse_dsl
from lapse_dsl.sql import DIALECTS, next_occurrence_sql, segment_sql

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules"
AT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
OPTIONS = "# golden-sql:"
ERROR_PREFIX = "-- UnsupportedError: "


@attrs.frozen
class Case:
    """One golden: a rule file, the question asked (``segment`` or ``next``) and its options."""

    name: str  # the rule file's stem
    kind: str  # "segment" or "next"
    columns: tuple[tuple[str, str], ...] = ()

    @property
    def rules_path(self) -> Path:
        return RULES / f"{self.name}.lapse"

    @property
    def stem(self) -> str:
        return self.name if self.kind == "segment" else f"{self.name}.{self.kind}"

    def golden(self, dialect: str) -> Path:
        return HERE / dialect / f"{self.stem}.sql"


def _options(text: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=OPTIONS, add_help=False, exit_on_error=False)
    parser.add_argument("--column", action="append", default=[])
    parser.add_argument("--next", action="store_true")
    words = [w for line in text.splitlines() if line.startswith(OPTIONS) for w in shlex.split(line[len(OPTIONS):])]
    return parser.parse_args(words)


def cases() -> list[Case]:
    """Every golden case, in a stable order."""
    out = []
    for path in sorted(RULES.glob("*.lapse")):
        options = _options(path.read_text(encoding="utf-8"))
        columns = []
        for pair in options.column:
            attribute, sep, column = pair.partition("=")
            if not (attribute and sep and column):
                raise ValueError(f"{path}: --column takes ATTR=COLUMN, not {pair!r}")
            columns.append((attribute, column))
        out.append(Case(path.stem, "segment", tuple(columns)))
        if options.next:
            out.append(Case(path.stem, "next", tuple(columns)))
    return out


def render(case: Case, dialect: str) -> str:
    """The golden text of ``case`` in ``dialect``: the SQL or the error comment, newline-ended."""
    rules = lapse_dsl.load(case.rules_path)
    generate = segment_sql if case.kind == "segment" else next_occurrence_sql
    try:
        sql = generate(rules, dialect=dialect, at=AT, columns=dict(case.columns), pretty=True)
    except lapse_dsl.UnsupportedError as exc:
        return f"{ERROR_PREFIX}{exc}\n"
    return sql + "\n"


def expected_files() -> dict[Path, tuple[Case, str]]:
    return {case.golden(d): (case, d) for case in cases() for d in DIALECTS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate tests/golden_sql/<dialect>/*.sql.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a golden is out of date")
    args = parser.parse_args(argv)
    expected = expected_files()
    stale = sorted(p for d in DIALECTS if (HERE / d).is_dir() for p in (HERE / d).glob("*.sql") if p not in expected)
    changed = []
    for path, (case, dialect) in expected.items():
        text = render(case, dialect)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            changed.append(path)
            if not args.check:
                path.parent.mkdir(exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if not args.check:
        for path in stale:
            path.unlink()
    verb = "out of date" if args.check else "written"
    for path in changed:
        print(f"{verb}: {path.relative_to(HERE.parent.parent)}")
    for path in stale:
        print(f"{'stale' if args.check else 'removed'}: {path.relative_to(HERE.parent.parent)}")
    print(f"{len(expected)} goldens ({len(cases())} cases x {len(DIALECTS)} dialects): "
          f"{len(changed)} {verb}, {len(stale)} {'stale' if args.check else 'removed'}")
    return 1 if args.check and (changed or stale) else 0


if __name__ == "__main__":
    sys.exit(main())
