"""`lapse --help/--version`, `lapse check` and `lapse fmt`: output, exit codes, files touched."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import attrs
import pytest

import lapse_dsl
from lapse_dsl.cli import main

BRAZE = "segment last_used between 2w and 3w; send push weekly thu 17:45 local\n"
UNKNOWN_ATTR = "segment last_usd between 2w and 3w; send push weekly thu 17:45 local\n"
NARROW = "segment last_used between 2w and 15d; send push weekly thu 17:45 local\n"
UNFORMATTED = "segment   last_used between 2w and 3w ;send push weekly thu 7:45 local;\n"


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


def lapse(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse: --help, --version, bad flags
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return Result(code, out, err)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --help, --version, no command ------------------------------------------------------------------


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    run = lapse(capsys, "--help")
    assert run.code == 0
    assert run.out.startswith("usage: lapse ")
    for command in ("check", "fmt"):
        assert f"    {command} " in run.out


@pytest.mark.parametrize("command", ["check", "fmt"])
def test_subcommand_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    run = lapse(capsys, command, "--help")
    assert run.code == 0
    assert run.out.startswith(f"usage: lapse {command} ")
    assert "PATH" in run.out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    run = lapse(capsys, "--version")
    assert run.code == 0
    assert run.out == f"lapse {importlib.metadata.version('lapse-dsl')}\n"
    assert lapse_dsl.__version__ == importlib.metadata.version("lapse-dsl")


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    run = lapse(capsys)
    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith("usage: lapse ")


def test_unknown_flag_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = lapse(capsys, "check", "--format", "xml", str(write(tmp_path / "a.lapse", BRAZE)))
    assert run.code == 2
    assert "invalid choice: 'xml'" in run.err


# check -------------------------------------------------------------------------------------------


def test_check_clean_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = lapse(capsys, "check", str(write(tmp_path / "a.lapse", BRAZE)))
    assert run == Result(0, "", "1 file, 1 rule: 0 errors, 0 warnings\n")


def test_check_error_in_compiler_form_with_caret(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "bad.lapse", "# a comment\n" + UNKNOWN_ATTR)
    run = lapse(capsys, "check", str(path))
    assert run.code == 1
    assert run.out == (
        f"{path}:2:9: error: unknown attribute 'last_usd'; did you mean 'last_used'?\n"
        "    segment last_usd between 2w and 3w; send push weekly thu 17:45 local\n"
        "            ^\n"
    )
    assert run.err == "1 file, 1 rule: 1 error, 0 warnings\n"


def test_check_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "bad.lapse", "segment sessions == 3; send push daily 09:00 utc\n")
    run = lapse(capsys, "check", str(path))
    assert run.code == 1
    assert run.out.splitlines() == [
        f"{path}:1:18: error: use '=' alone, not '=='",
        "    segment sessions == 3; send push daily 09:00 utc",
        "                     ^",
    ]


def test_check_warnings_pass_unless_strict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "narrow.lapse", NARROW)
    run = lapse(capsys, "check", str(path))
    assert run.code == 0
    assert run.out.startswith(f"{path}:1:1: warning: the window 'last_used between 2w and 15d' is 1d wide")
    assert run.err == "1 file, 1 rule: 0 errors, 1 warning\n"
    assert lapse(capsys, "check", "--strict", str(path)).code == 1
    assert lapse(capsys, "check", "--strict", str(write(tmp_path / "ok.lapse", BRAZE))).code == 0


def test_check_reports_every_error_of_every_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write(tmp_path / "rules" / "a.lapse", UNKNOWN_ATTR + "segment sessions; send pish daily 09:00 utc\n")
    write(tmp_path / "rules" / "sub" / "b.lapse", "segment sessions == 3; send push daily 09:00 utc\n")
    write(tmp_path / "rules" / "c.lapse", BRAZE)
    write(tmp_path / "rules" / "notes.txt", "not a rule file ==")
    run = lapse(capsys, "check", str(tmp_path / "rules"))
    assert run.code == 1
    heads = [line for line in run.out.splitlines() if not line.startswith("    ")]
    root = tmp_path / "rules"
    assert heads == [
        f"{root / 'sub' / 'b.lapse'}:1:18: error: use '=' alone, not '=='",
        f"{root / 'a.lapse'}:1:9: error: unknown attribute 'last_usd'; did you mean 'last_used'?",
        f"{root / 'a.lapse'}:2:9: error: 'sessions' is a number, not a boolean; write a comparison such as 'sessions is set'",
        f"{root / 'a.lapse'}:2:24: error: unknown channel 'pish'; did you mean 'push'? "
        "(channels: push, email, sms, in_app, webhook, content_card)",
    ]
    assert run.err == "3 files, 3 rules: 4 errors, 0 warnings\n"


def test_check_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.lapse", UNKNOWN_ATTR + NARROW)
    run = lapse(capsys, "check", "--format", "json", str(bad))
    assert run.code == 1
    data = json.loads(run.out)
    assert isinstance(data, list)
    assert all(set(d) - {"fix"} == {"source", "line", "column", "severity", "message"} for d in data)
    assert data[0]["fix"] == {"replacement": "last_used", "length": len("last_usd")}
    assert [(d["source"], d["line"], d["column"], d["severity"]) for d in data] == [
        (str(bad), 1, 9, "error"),
        (str(bad), 2, 1, "warning"),
    ]
    assert data[0]["message"] == "unknown attribute 'last_usd'; did you mean 'last_used'?"
    assert run.err == ""


def test_check_json_clean_and_warning_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = lapse(capsys, "check", "--format", "json", str(write(tmp_path / "ok.lapse", BRAZE)))
    assert (run.code, json.loads(run.out)) == (0, [])
    narrow = write(tmp_path / "narrow.lapse", NARROW)
    run = lapse(capsys, "check", "--format", "json", str(narrow))
    assert run.code == 0
    assert [d["severity"] for d in json.loads(run.out)] == ["warning"]
    assert lapse(capsys, "check", "--format", "json", "--strict", str(narrow)).code == 1


def test_check_json_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.lapse", 'campaign "x" {\n    segment push_opted_in\n')
    run = lapse(capsys, "check", "--format", "json", str(bad))
    assert run.code == 1
    assert json.loads(run.out) == [{
        "source": str(bad), "line": 2, "column": 26, "severity": "error",
        "message": "the campaign block opened at line 1 is not closed: expected '}', found the end of the file",
    }]


def test_check_missing_path_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.lapse"
    run = lapse(capsys, "check", str(missing))
    assert run == Result(2, "", f"lapse: error: {missing}: no such file or folder\n")


def test_check_empty_folder_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = lapse(capsys, "check", str(tmp_path / "empty"))
    assert run.code == 1
    assert run.err == f"{tmp_path / 'empty'}: no .lapse files in this folder\n"


def test_check_non_utf8_file_is_a_clean_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path / "rules" / "a.lapse", b"# caf\xe9\n" + BRAZE.encode())
    other = write(tmp_path / "rules" / "b.lapse", UNKNOWN_ATTR)
    run = lapse(capsys, "check", str(tmp_path / "rules"))
    assert run.code == 1
    assert run.out.splitlines()[0] == f"{bad}:1:6: error: the file is not valid UTF-8"
    # the other files are still checked (they used to be skipped after the first unreadable one)
    assert f"{other}:1:9: error: unknown attribute 'last_usd'" in run.out
    assert run.err == "2 files, 1 rule: 2 errors, 0 warnings\n"


def test_check_the_same_file_twice_checks_it_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # it used to report every campaign of the file as a duplicate of itself
    path = write(tmp_path / "a.lapse", 'campaign "W" {\n    ' + BRAZE.replace("; ", "\n    ") + "}\n")
    run = lapse(capsys, "check", str(path), str(tmp_path))
    assert run == Result(0, "", "1 file, 1 rule: 0 errors, 0 warnings\n")


# fmt ---------------------------------------------------------------------------------------------


def test_fmt_rewrites_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "a.lapse", UNFORMATTED)
    run = lapse(capsys, "fmt", str(path))
    assert run == Result(0, "", f"{path}: formatted\n")
    assert path.read_text(encoding="utf-8") == "segment last_used between 2w and 3w; send push weekly thu 07:45 local\n"
    again = lapse(capsys, "fmt", str(path))
    assert again == Result(0, "", "")


def test_fmt_check_reports_and_changes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "a.lapse", UNFORMATTED)
    before = path.stat().st_mtime_ns
    run = lapse(capsys, "fmt", "--check", str(path))
    assert run == Result(1, "", f"{path}: not formatted\n")
    assert path.read_text(encoding="utf-8") == UNFORMATTED
    assert path.stat().st_mtime_ns == before
    formatted = write(tmp_path / "b.lapse", BRAZE)
    assert lapse(capsys, "fmt", "--check", str(formatted)) == Result(0, "", "")


def test_fmt_a_folder_touches_only_rule_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a = write(tmp_path / "r" / "a.lapse", UNFORMATTED)
    b = write(tmp_path / "r" / "deep" / "b.lapse", BRAZE)
    notes = write(tmp_path / "r" / "notes.txt", UNFORMATTED)
    run = lapse(capsys, "fmt", str(tmp_path / "r"))
    assert run == Result(0, "", f"{a}: formatted\n")
    assert a.read_text(encoding="utf-8") == lapse_dsl.format_file(lapse_dsl.parse(UNFORMATTED))
    assert b.read_text(encoding="utf-8") == BRAZE
    assert notes.read_text(encoding="utf-8") == UNFORMATTED


def test_fmt_leaves_a_file_with_a_syntax_error_untouched(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = "segment   sessions == 3; send push daily 9:00 utc\n"
    bad = write(tmp_path / "bad.lapse", text)
    good = write(tmp_path / "good.lapse", UNFORMATTED)
    run = lapse(capsys, "fmt", str(bad), str(good))
    assert run.code == 1
    assert run.err.splitlines()[0] == f"{bad}:1:20: error: use '=' alone, not '=='"
    assert run.err.splitlines()[-1] == f"{good}: formatted"
    assert bad.read_text(encoding="utf-8") == text
    assert good.read_text(encoding="utf-8") != UNFORMATTED


def test_fmt_non_utf8_file_is_a_clean_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = b"segment platform = \"caf\xe9\"; send push daily 09:00 utc\n"
    bad = write(tmp_path / "bad.lapse", raw)
    good = write(tmp_path / "good.lapse", UNFORMATTED)
    run = lapse(capsys, "fmt", str(tmp_path))
    assert run.code == 1
    assert run.err.splitlines() == [f"{bad}:1:24: error: the file is not valid UTF-8", f"{good}: formatted"]
    assert bad.read_bytes() == raw


def test_fmt_stdin_to_stdout(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(UNFORMATTED))
    run = lapse(capsys, "fmt", "-")
    assert run == Result(0, "segment last_used between 2w and 3w; send push weekly thu 07:45 local\n", "")
    monkeypatch.setattr(sys, "stdin", io.StringIO("segment ("))
    run = lapse(capsys, "fmt", "-")
    assert run.code == 1 and run.out == ""
    assert run.err.startswith("<stdin>:1:10: error: expected ")


def test_fmt_missing_path_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = lapse(capsys, "fmt", str(tmp_path / "nope.lapse"))
    assert run == Result(2, "", f"lapse: error: {tmp_path / 'nope.lapse'}: no such file or folder\n")


# The installed console script ------------------------------------------------------------------


def _script() -> str:
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        for name in ("lapse", "lapse.exe"):
            if (folder / name).is_file():
                return str(folder / name)
    raise AssertionError("the lapse console script is not installed next to this Python")


def test_console_script(tmp_path: Path) -> None:
    lapse_script = _script()
    version = subprocess.run([lapse_script, "--version"], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert (version.returncode, version.stdout) == (0, f"lapse {lapse_dsl.__version__}\n")
    bad = write(tmp_path / "bad.lapse", UNKNOWN_ATTR)
    run = subprocess.run([lapse_script, "check", "bad.lapse"], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert run.returncode == 1
    assert run.stdout.startswith(f"{bad.name}:1:9: error: unknown attribute 'last_usd'")
    missing = subprocess.run([lapse_script, "check", "nope"], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert (missing.returncode, missing.stdout, missing.stderr) == (2, "", "lapse: error: nope: no such file or folder\n")
    for proc in (version, run, missing):
        assert "Traceback" not in proc.stdout + proc.stderr
