"""The generated Python is a thing a person can read and debug: the same rules give the same source
byte for byte (across loads and processes), every piece is registered with linecache so tracebacks
and ``inspect.getsource`` show it, and ``lapse compile --emit python`` prints it.

Golden files: tests/golden_python/<name>.py is the source generated for rules/<name>.lapse, and
rules_folder.py for rules/ loaded as one rule set. After an intended change to the generated code,
rewrite them with ``LAPSE_UPDATE_GOLDEN=1 python -m pytest tests/test_codegen.py`` and review
``git diff tests/golden_python``.
"""

from __future__ import annotations

import datetime as dt
import gc
import inspect
import linecache
import os
import re
import subprocess
import sys
import traceback
import types
from pathlib import Path

import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.cli import main
from lapse_dsl.codegen import Emitter, Extractor, compile_rules
from lapse_dsl.fuse import FUSE_MAX, Fused, Results

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden_python"
UPDATE = os.environ.get("LAPSE_UPDATE_GOLDEN") == "1"
REGEN_COMMAND = "LAPSE_UPDATE_GOLDEN=1 python -m pytest tests/test_codegen.py"
FOLDER = "rules_folder"  # the golden of rules/ as one rule set
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
HEADING = re.compile(r"^# --- .*: (<lapse-generated:[0-9a-f]{12}:\w+>)$", re.MULTILINE)


def cases() -> dict[str, Path]:
    """Golden name -> the rules it is generated from, relative to the repository root (the
    source names in the headings must not depend on where the checkout is)."""
    out = {p.stem: p.relative_to(ROOT) for p in sorted((ROOT / "rules").glob("*.lapse"))}
    assert FOLDER not in out, f"rules/{FOLDER}.lapse would share the folder's golden file"
    out[FOLDER] = Path("rules")
    return out


CASES = cases()


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _parts(source: str) -> dict[str, list[str]]:
    """The compiled file name in each heading -> the lines after that heading, up to the next."""
    headings = list(HEADING.finditer(source))
    out = {}
    for i, m in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(source)
        out[m.group(1)] = source[m.end() + 1 : end].split("\n")
    return out


# Golden files --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_generated_source_equals_golden(name: str, at_root: None) -> None:
    path = GOLDEN / f"{name}.py"
    generated = lapse_dsl.load(CASES[name]).generated_source()
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(generated, encoding="utf-8", newline="\n")
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing; run {REGEN_COMMAND}"
    golden = path.read_text(encoding="utf-8")
    assert generated == golden, f"{path.relative_to(ROOT)} is out of date; run {REGEN_COMMAND} and review the diff"


def test_no_golden_without_rules() -> None:
    stale = sorted(p.name for p in GOLDEN.glob("*.py") if p.stem not in CASES)
    assert not stale, f"golden files without rules (delete them or run {REGEN_COMMAND}): {stale}"


def test_golden_folder_covers_every_part_once(at_root: None) -> None:
    text = (GOLDEN / f"{FOLDER}.py").read_text(encoding="utf-8")
    rules = lapse_dsl.load("rules").rules
    for k, rule in enumerate(rules):
        assert text.count(f"# --- rule {k} {rule.name!r} ({rule.source}:{rule.line}): <lapse-generated:") == 1
    assert text.count("# --- attribute reader: ") == 1
    assert text.count(f"# --- evaluate and in_segment of {len(rules)} rules, fused: ") == 1


# Readable, valid, unique names ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_listing_is_python_with_unique_names(name: str, at_root: None) -> None:
    source = lapse_dsl.load(CASES[name]).generated_source()
    compile(source, name, "exec")  # every heading and listed constant is a comment
    # the rules' code shares one namespace in the fused functions
    functions = re.findall(r"^def (\w+)\(", source, flags=re.MULTILINE)
    assert len(functions) == len(set(functions)), sorted(f for f in functions if functions.count(f) > 1)
    constants = re.findall(r"^# (_seg(\d+)\w*) = ", source, flags=re.MULTILINE)
    assert len(constants) == len({c for c, _ in constants})
    for constant, k in constants:  # listed under its own rule
        assert source.rindex(f"# {constant} = ") > source.index(f"# --- rule {k} ")


def test_a_name_or_source_with_line_breaks_stays_in_its_comment() -> None:
    rules = lapse_dsl.compile(
        'campaign "odd\u2028name" {\n    segment push_opted_in\n    send push daily 10:00 utc\n}\n',
        source="two\nlines.lapse",
    )
    source = rules.generated_source()
    compile(source, "listing", "exec")
    assert "# --- rule 0 'odd\\u2028name' (two\\nlines.lapse:1): <lapse-generated:" in source
    assert all(line.isprintable() for line in source.split("\n"))


def test_a_rule_set_too_big_to_fuse_lists_its_rules_only() -> None:
    text = "".join(f"segment sessions > {k}; send push daily 10:00 utc\n" for k in range(FUSE_MAX + 1))
    source = lapse_dsl.compile(text).generated_source()
    assert "# Too many rules to fuse" in source
    assert "fused: <lapse-generated:" not in source
    assert source.count("# --- rule ") == FUSE_MAX + 1
    last = lapse_dsl.compile(text).rules[-1]
    assert f"# --- rule {FUSE_MAX} {last.name!r} (<string>:{FUSE_MAX + 1}): <lapse-generated:" in source


# Byte for byte -------------------------------------------------------------------------------


def test_same_rules_same_source_across_compiles(at_root: None) -> None:
    first = lapse_dsl.load("rules").generated_source()
    lapse_dsl.load("rules/ios_only.lapse")  # another rule set in between: no name depends on it
    again = lapse_dsl.load("rules")
    assert again.generated_source() == first


_PRINT_SOURCE = "import sys, lapse_dsl; sys.stdout.write(lapse_dsl.load('rules').generated_source())"


def test_same_rules_same_source_across_processes_and_hash_seeds() -> None:
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _PRINT_SOURCE], cwd=ROOT, env=env, capture_output=True,
                              text=True, encoding="utf-8", check=True)
        outputs.append(done.stdout)
    assert "frozenset({" in outputs[0]  # a string list: a set whose order follows the hash seed
    assert outputs[0] == outputs[1]


NESTED = """\
attribute beta: boolean
segment (sessions > 1 or platform = "ios") and not (beta or country = "US") and last_used between 1w and 2w; \
send push daily 10:00 utc
segment (sessions > 2 and (platform = "web" or not beta)) or last_used more than 3w ago; send push weekly mon 09:00 local
"""


def test_fusing_the_same_programs_again_gives_the_same_source() -> None:
    rules = lapse_dsl.compile(NESTED)
    paths = sorted({str(p.path) for rule in rules.rules for p in n.predicates(rule.segment)})
    extractor = Extractor(rules.schema, paths, None)
    programs = compile_rules(rules.plan.campaigns, extractor)
    before = [(p.source, dict(p.constants)) for p in programs]

    def fuse() -> Fused:
        return Fused(programs, extractor, lambda rule, user: (dt.UTC, "UTC", None), lambda *a, **k: (),
                     lambda *a, **k: {}, lambda value, name: None, Results([r.name for r in rules.rules]))

    first, second = fuse(), fuse()
    assert "def _seg0_fused_f" in first.source  # nested junctions: helper functions in the fused code
    assert second.source == first.source
    assert [(p.source, dict(p.constants)) for p in programs] == before


# linecache, tracebacks, inspect ----------------------------------------------------------------


def test_a_traceback_through_generated_code_shows_its_line(at_root: None) -> None:
    rules = lapse_dsl.load("rules/braze_lapsing.lapse")
    with pytest.raises(lapse_dsl.UserDataError) as info:
        rules.evaluate({"user_id": "u1", "push_opted_in": "maybe"}, NOW)
    frames = [f for f in traceback.extract_tb(info.value.__traceback__) if f.filename.startswith("<lapse-generated:")]
    assert frames, "no frame of generated code in the traceback"
    frame = frames[-1]
    assert frame.line is not None and "'push_opted_in'" in frame.line
    # the listing's promise: line N is the N-th line after the heading naming the file
    part = _parts(rules.generated_source())[frame.filename]
    assert frame.lineno is not None and part[frame.lineno - 1].strip() == frame.line
    assert "".join(traceback.format_tb(info.value.__traceback__)).count(frame.line) >= 1


def test_inspect_getsource_of_generated_functions(at_root: None) -> None:
    rules = lapse_dsl.load("rules")
    listing = rules.generated_source()
    parts = _parts(listing)
    for function in (rules.evaluate, rules.in_segment):
        assert isinstance(function, types.FunctionType)  # the fused function itself
        text = inspect.getsource(function)
        assert text.startswith(f"def {function.__name__}(")
        assert text in listing
        filename = inspect.getsourcefile(function)
        assert filename in parts
        first = function.__code__.co_firstlineno  # numbered from the part's heading
        assert "\n".join(parts[filename][first - 1 :]).startswith(text.rstrip("\n"))


def test_registered_lines_survive_checkcache_and_leave_with_the_rules() -> None:
    rules = lapse_dsl.compile("segment sessions > 424242; send push daily 10:00 utc\n")
    names = list(_parts(rules.generated_source()))
    assert len(names) == 3  # the reader, the rule, the fused functions
    linecache.checkcache()
    for name in names:
        assert linecache.getlines(name), name
    del rules
    gc.collect()
    assert not [name for name in names if name in linecache.cache]


def test_two_rule_sets_with_the_same_code_share_an_entry_until_both_are_gone() -> None:
    text = "segment sessions > 515151; send push daily 10:00 utc\n"
    first, second = lapse_dsl.compile(text), lapse_dsl.compile(text)
    names = list(_parts(first.generated_source()))
    assert names == list(_parts(second.generated_source()))
    del first
    gc.collect()
    assert all(linecache.getlines(name) for name in names)
    del second
    gc.collect()
    assert not [name for name in names if name in linecache.cache]


# The command and the emitter -------------------------------------------------------------------


@pytest.mark.parametrize("rules", ["rules", "rules/braze_lapsing.lapse"])
def test_lapse_compile_prints_the_generated_source(rules: str, at_root: None,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", rules, "--emit", "python"]) == 0
    out, err = capsys.readouterr()
    assert out == lapse_dsl.load(rules).generated_source()
    assert err == ""


def test_lapse_compile_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.lapse"
    broken.write_text("segment last_usd between 2w and 3w; send push daily 10:00 utc\n", encoding="utf-8")
    assert main(["compile", str(broken), "--emit", "python"]) == 1
    assert "unknown attribute 'last_usd'" in capsys.readouterr().err
    assert main(["compile", str(tmp_path / "missing.lapse"), "--emit", "python"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", str(broken), "--emit", "sql"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'sql'" in capsys.readouterr().err


def test_emitter_indents_blocks() -> None:
    e = Emitter()
    with e.block("def f(x):"):
        e.writelines(["if x:", "    return 1"])
        e.writeline()
        e.indent()
        e.writeline("pass")
        e.outdent()
    e.writeline("y = 2")
    assert e.getvalue() == "def f(x):\n    if x:\n        return 1\n\n        pass\ny = 2\n"
    with pytest.raises(AssertionError):
        e.outdent()
