"""The bundled rules/ folder: one clean rule set, every file in canonical format."""

from __future__ import annotations

from pathlib import Path

import pytest

import lapse_dsl
from lapse_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
FILES = sorted(RULES.glob("*.lapse"))


def test_rules_folder_loads_without_warnings() -> None:
    rules = lapse_dsl.load(RULES)
    assert rules.warnings == ()
    assert len(rules.rules) >= 7
    names = [rule.name for rule in rules.rules]
    assert len(names) == len(set(names))


def test_rules_folder_loads_by_relative_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert len(lapse_dsl.load("rules").rules) >= 7


def test_rules_folder_holds_the_braze_campaign() -> None:
    names = {rule.name for rule in lapse_dsl.load(RULES).rules}
    assert "Lapsed users - 2 weeks" in names


def test_every_file_starts_with_a_comment() -> None:
    assert len(FILES) >= 7
    for path in FILES:
        assert path.read_text(encoding="utf-8").startswith("# "), f"{path.name}: no header comment"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_file_is_canonical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert lapse_dsl.format_file(lapse_dsl.parse(text, source=str(path))) == text


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_file_compiles_alone(path: Path) -> None:
    rules = lapse_dsl.load(path)
    assert rules.rules and rules.warnings == ()


def test_cli_check_passes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check", "rules"]) == 0
    assert main(["check", "--strict", "rules"]) == 0
    assert main(["fmt", "--check", "rules"]) == 0
    captured = capsys.readouterr()
    assert "0 errors, 0 warnings" in captured.err
