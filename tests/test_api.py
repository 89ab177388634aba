"""The stable Python API: names, signatures, node values, rule names and the error hierarchy."""

from __future__ import annotations

import ast
import importlib.resources
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import attrs
import pytest

import lapse_dsl
from lapse_dsl import nodes as n

ROOT = Path(__file__).resolve().parent.parent
BRAZE = "segment last_used between 2w and 3w; send push weekly thu 17:45 local"
SUBMODULES = {m.name for m in pkgutil.iter_modules(lapse_dsl.__path__)}


# __all__ ------------------------------------------------------------------------------------------


def test_all_names_exist_and_are_unique() -> None:
    assert len(lapse_dsl.__all__) == len(set(lapse_dsl.__all__))
    for name in lapse_dsl.__all__:
        assert hasattr(lapse_dsl, name), name
        assert not isinstance(getattr(lapse_dsl, name), ModuleType), name


def test_all_is_exactly_the_public_names_the_package_defines() -> None:
    defined = {
        name
        for name, obj in vars(lapse_dsl).items()
        if not name.startswith("_")
        and not isinstance(obj, ModuleType)
        and getattr(obj, "__module__", "").startswith("lapse_dsl")
    }
    assert defined | {"__version__"} == set(lapse_dsl.__all__)


def test_star_import_gives_all() -> None:
    namespace: dict[str, object] = {}
    exec("from lapse_dsl import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(lapse_dsl.__all__)


def _used_names(path: Path) -> set[str]:
    """Top-level names of the package that a file uses: ``lapse_dsl.X`` and ``from lapse_dsl import X``."""
    text = path.read_text(encoding="utf-8")
    used: set[str] = set()
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module == "lapse_dsl":
                used.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "lapse_dsl":
                used.add(node.attr)
    else:
        used.update(re.findall(r"\blapse_dsl\.([A-Za-z_][A-Za-z0-9_]*)", text))
        for names in re.findall(r"^\s*from lapse_dsl import ([A-Za-z_][A-Za-z0-9_, ]*)$", text, flags=re.MULTILINE):
            used.update(name.split(" as ")[0].strip() for name in names.split(","))
    modules_only = SUBMODULES - set(lapse_dsl.__all__)  # `lapse_dsl.check.check` uses a module, not a name
    return used - modules_only - {"__file__", "__path__", "__all__", "*"}


def test_every_top_level_name_the_tests_docs_and_examples_use_is_in_all() -> None:
    files = [*ROOT.glob("tests/*.py"), *ROOT.glob("examples/**/*.py"), *ROOT.glob("bench/**/*.py"),
             *ROOT.glob("docs/**/*.md"), ROOT / "README.md"]
    used: dict[str, str] = {}
    for path in files:
        if path.is_file():
            for name in _used_names(path):
                used.setdefault(name, path.name)
    assert {"parse", "compile", "load", "format_file", "LapseError"} <= set(used)
    missing = {name: where for name, where in used.items() if name not in lapse_dsl.__all__}
    assert missing == {}


def test_py_typed_is_shipped() -> None:
    marker = importlib.resources.files("lapse_dsl").joinpath("py.typed")
    assert marker.is_file()


def test_grammar_is_reachable_from_the_package() -> None:
    from lapse_dsl.parse import grammar_text

    assert "segment" in grammar_text()
    assert grammar_text() == (ROOT / "grammar" / "lapse.lark").read_text(encoding="utf-8")


# Signatures (later issues build on them) ----------------------------------------------------------


def _params(func: object) -> list[tuple[str, object, object]]:
    sig = inspect.signature(func)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def test_parse_signature() -> None:
    assert _params(lapse_dsl.parse) == [
        ("text", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("source", inspect.Parameter.KEYWORD_ONLY, "<string>"),
    ]


def test_compile_signature() -> None:
    assert _params(lapse_dsl.compile) == [
        ("text", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("source", inspect.Parameter.KEYWORD_ONLY, "<string>"),
        ("default_timezone", inspect.Parameter.KEYWORD_ONLY, "UTC"),
        ("naive_timezone", inspect.Parameter.KEYWORD_ONLY, None),
    ]


def test_load_takes_a_path_and_the_compile_options() -> None:
    params = _params(lapse_dsl.load)
    assert params[0][:2] == ("path", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    keyword = {name: default for name, kind, default in params[1:] if kind == inspect.Parameter.KEYWORD_ONLY}
    assert {"default_timezone": "UTC", "naive_timezone": None}.items() <= keyword.items()


# The AST --------------------------------------------------------------------------------------


def test_parse_returns_frozen_attrs_nodes_with_spans() -> None:
    tree = lapse_dsl.parse("\n\n" + BRAZE, source="x.lapse")
    assert isinstance(tree, n.File)
    (rule,) = tree.items
    assert isinstance(rule, n.Rule)
    segment = rule.clauses[0]
    assert isinstance(segment, n.Segment) and isinstance(segment.condition, n.Between)
    for node in (tree, rule, segment, segment.condition, segment.condition.low):
        assert attrs.has(type(node))
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(node, attrs.fields(type(node))[0].name, None)
    between = segment.condition
    assert (between.span.line, between.span.column) == (3, 9)
    assert (between.low.span.line, between.low.span.column) == (3, 27)
    assert (rule.span.line, rule.span.column, rule.span.end_line) == (3, 1, 3)


def test_attrs_evolve_derives_a_changed_copy() -> None:
    (rule,) = lapse_dsl.parse(BRAZE).items
    assert isinstance(rule, n.Rule)
    segment = rule.clauses[0]
    assert isinstance(segment, n.Segment) and isinstance(segment.condition, n.Between)
    wider = attrs.evolve(segment.condition, high=n.Duration(4, "w"))
    assert wider.high == n.Duration(4, "w") and segment.condition.high == n.Duration(3, "w")


# Rule names ---------------------------------------------------------------------------------------


def test_unnamed_rules_are_named_stem_and_line() -> None:
    text = "# two comment lines\n\n" + BRAZE + "\n" + 'campaign "Named" {\n    ' + BRAZE.replace("; ", "\n    ") + "\n}\n"
    rules = lapse_dsl.compile(text, source="rules/x.lapse")
    assert [r.name for r in rules.rules] == ["x:3", "Named"]
    assert [r.name for r in lapse_dsl.compile(BRAZE).rules] == ["<string>:1"]


def test_load_names_rules_after_each_file(tmp_path: Path) -> None:
    (tmp_path / "rules" / "more").mkdir(parents=True)
    (tmp_path / "rules" / "tier_2w.lapse").write_text(BRAZE + "\n", encoding="utf-8")
    (tmp_path / "rules" / "more" / "email.lapse").write_text("\n" + BRAZE.replace("push", "email") + "\n", encoding="utf-8")
    (tmp_path / "rules" / "ignored.txt").write_text("not a rule", encoding="utf-8")
    rules = lapse_dsl.load(tmp_path / "rules")
    assert isinstance(rules, lapse_dsl.RuleSet)
    assert sorted(r.name for r in rules.rules) == ["email:2", "tier_2w:1"]
    single = lapse_dsl.load(str(tmp_path / "rules" / "tier_2w.lapse"))
    assert [r.name for r in single.rules] == ["tier_2w:1"]


def test_load_reports_syntax_errors_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.lapse").write_text("segment sessions == 3; send push daily 09:00 utc\n", encoding="utf-8")
    (tmp_path / "b.lapse").write_text("segment (\n", encoding="utf-8")
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.load(tmp_path)
    assert [(Path(d.source).name, d.line) for d in info.value.diagnostics] == [("a.lapse", 1), ("b.lapse", 1)]


# Errors ---------------------------------------------------------------------------------------


def test_error_hierarchy() -> None:
    for cls in (lapse_dsl.LapseSyntaxError, lapse_dsl.LapseCheckError, lapse_dsl.UserDataError, lapse_dsl.UnsupportedError):
        assert issubclass(cls, lapse_dsl.LapseError)
    assert issubclass(lapse_dsl.LapseError, Exception)
    assert not issubclass(lapse_dsl.LapseSyntaxError, SyntaxError)  # never shadows the builtin
    assert not issubclass(lapse_dsl.LapseCheckError, lapse_dsl.LapseSyntaxError)


def test_syntax_error_fields_and_str() -> None:
    with pytest.raises(lapse_dsl.LapseError) as info:
        lapse_dsl.compile("# c\nsegment last_used between 2 weeks and 3w; send push daily 09:00 utc", source="r/a.lapse")
    err = info.value
    assert isinstance(err, lapse_dsl.LapseSyntaxError)
    assert (err.source, err.line, err.column) == ("r/a.lapse", 2, 27)
    assert str(err) == (
        "r/a.lapse:2:27: error: write the number and its unit together: 2w\n"
        "    segment last_used between 2 weeks and 3w; send push daily 09:00 utc\n"
        "                              ^"
    )


def test_check_error_fields_and_str() -> None:
    text = 'segment platform = "ios"; send push weekly thu 17:45 "Europe/Pariss"\nsegment sessions; send push daily 09:00 utc'
    with pytest.raises(lapse_dsl.LapseError) as info:
        lapse_dsl.compile(text, source="b.lapse")
    err = info.value
    assert isinstance(err, lapse_dsl.LapseCheckError)
    assert (err.source, err.line, err.column) == ("b.lapse", 1, 54)
    assert str(err) == (
        'b.lapse:1:54: error: unknown time zone "Europe/Pariss"; did you mean "Europe/Paris"?\n'
        '    segment platform = "ios"; send push weekly thu 17:45 "Europe/Pariss"\n'
        "                                                         ^\n"
        "b.lapse:2:9: error: 'sessions' is a number, not a boolean; write a comparison such as 'sessions is set'\n"
        "    segment sessions; send push daily 09:00 utc\n"
        "            ^"
    )
    assert len(err.diagnostics) == 2
    assert all(isinstance(d, lapse_dsl.Diagnostic) for d in err.diagnostics)


def test_caret_lines_up_under_tabs() -> None:
    with pytest.raises(lapse_dsl.LapseSyntaxError) as info:
        lapse_dsl.parse("\tsegment\tsessions == 3; send push daily 09:00 utc")
    lines = str(info.value).splitlines()
    assert lines[1:] == ["     segment sessions == 3; send push daily 09:00 utc", "                      ^"]


def test_diagnostic_json() -> None:
    d = lapse_dsl.Diagnostic("a.lapse", 3, 9, "warning", "hole", "line text")
    assert d.to_json() == {"source": "a.lapse", "line": 3, "column": 9, "severity": "warning", "message": "hole"}
    assert str(d) == "a.lapse:3:9: warning: hole\n    line text\n            ^"
