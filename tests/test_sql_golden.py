"""Golden SQL: every construct's generated SQL, per dialect, equals its reviewed file.

The files are tests/golden_sql/<dialect>/<rule>.sql; ``python tests/golden_sql/regen.py``
rewrites them all after an intended change, and ``git diff tests/golden_sql`` is the review.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlglot

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.sql import DIALECTS

HERE = Path(__file__).resolve().parent / "golden_sql"
REGEN_COMMAND = "python tests/golden_sql/regen.py"
MAX_BYTES = 200_000


def _regen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_sql_regen", HERE / "regen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs classes need their module registered
    spec.loader.exec_module(module)
    return module


regen = _regen()
CASES = regen.cases()
PAIRS = [pytest.param(case, dialect, id=f"{dialect}/{case.stem}") for case in CASES for dialect in DIALECTS]


def _has_time_condition(path: Path) -> bool:
    def walk(cond: n.Condition) -> bool:
        if isinstance(cond, (n.And, n.Or)):
            return any(walk(c) for c in cond.operands)
        if isinstance(cond, n.Not):
            return walk(cond.operand)
        return isinstance(cond, (n.Between, n.MoreThanAgo, n.LessThanAgo, n.Before, n.After))

    return any(walk(rule.segment) for rule in lapse_dsl.load(path).rules)


def test_every_construct_has_a_rule_file() -> None:
    names = {case.name for case in CASES}
    expected = {"pred_between", "pred_more_than_ago", "pred_less_than_ago", "pred_before_date", "pred_after_datetime",
                "pred_compare", "pred_in_list", "pred_is_set", "pred_truthy", "logic_not", "logic_and", "logic_or",
                "zone_local", "zone_local_date", "zone_utc", "zone_named", "nested_column"}
    assert expected <= names
    kinds = {lapse_dsl.load(case.rules_path).rules[0].schedule.zone.kind for case in CASES}
    assert kinds == {"local", "utc", "named"}


def test_every_rule_file_has_one_rule_and_no_warnings() -> None:
    for case in CASES:
        rules = lapse_dsl.load(case.rules_path)
        assert len(rules.rules) == 1, case.rules_path
        assert not rules.warnings, case.rules_path


def test_every_rule_has_a_golden_per_dialect_and_nothing_else() -> None:
    expected = set(regen.expected_files())
    present = {p for p in HERE.glob("*/*.sql")}
    missing = sorted(str(p.relative_to(HERE)) for p in expected - present)
    stale = sorted(str(p.relative_to(HERE)) for p in present - expected)
    assert not missing, f"missing goldens (run {REGEN_COMMAND}): {missing}"
    assert not stale, f"goldens without a rule file (run {REGEN_COMMAND}): {stale}"
    folders = {p.name for p in HERE.iterdir() if p.is_dir() and p.name != "__pycache__"}  # regen.py's bytecode
    assert folders == {*DIALECTS, "rules"}


@pytest.mark.parametrize(("case", "dialect"), PAIRS)
def test_generated_sql_equals_golden(case: Any, dialect: str) -> None:
    path = case.golden(dialect)
    assert path.is_file(), f"{path} is missing; run {REGEN_COMMAND}"
    golden = path.read_text(encoding="utf-8")
    generated = regen.render(case, dialect)
    assert generated == golden, f"{path.relative_to(HERE.parent.parent)} is out of date; run {REGEN_COMMAND} and review the diff"


@pytest.mark.parametrize(("case", "dialect"), PAIRS)
def test_golden_parses_back_in_its_dialect(case: Any, dialect: str) -> None:
    text = case.golden(dialect).read_text(encoding="utf-8")
    assert len(text.encode()) <= MAX_BYTES, "golden too large: use a utc or named-zone schedule for this construct"
    if text.startswith(regen.ERROR_PREFIX):
        assert text.count("\n") == 1
        return
    tree = sqlglot.parse_one(text, read=dialect)
    assert isinstance(tree, sqlglot.exp.Select)
    assert tree.selects[0].alias_or_name == "user_id"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.stem) for c in CASES])
def test_only_sqlite_rejects_and_only_time_conditions(case: Any) -> None:
    for dialect in DIALECTS:
        rejected = case.golden(dialect).read_text(encoding="utf-8").startswith(regen.ERROR_PREFIX)
        assert rejected == (dialect == "sqlite" and _has_time_condition(case.rules_path)), dialect


def test_sqlite_error_golden_names_the_rule() -> None:
    text = (HERE / "sqlite" / "pred_between.sql").read_text(encoding="utf-8")
    assert text == (f"{regen.ERROR_PREFIX}pred_between:2: 'last_used between 2w and 3w' cannot be compiled for sqlite: "
                    "sqlite has no timestamp type, so time conditions cannot be compared exactly there; use duckdb "
                    "(which reads sqlite files) or a warehouse dialect\n")


@pytest.mark.slow
def test_regen_check_mode_reports_nothing_out_of_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert regen.main(["--check"]) == 0
    assert "0 out of date, 0 stale" in capsys.readouterr().out
