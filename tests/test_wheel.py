"""The wheel carries everything: built from the checkout, installed (not editable) into a fresh
virtual environment, and used from a folder that is not the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import attrs
import pytest

pytestmark = pytest.mark.slow  # builds a wheel and installs it into a fresh virtual environment
ROOT = Path(__file__).resolve().parent.parent
BRAZE = "segment last_used between 2w and 3w; send push weekly thu 17:45 local"


@attrs.frozen
class Installed:
    wheel: Path
    python: Path
    scripts: Path
    workdir: Path  # an empty folder outside the checkout


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, f"{args}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, ROOT], cwd=base)
    (wheel,) = dist.glob("lapse_dsl-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=base)
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    python = scripts / ("python.exe" if os.name == "nt" else "python")
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel], cwd=base)
    workdir = base / "elsewhere"
    workdir.mkdir()
    return Installed(wheel, python, scripts, workdir)


def test_wheel_contains_the_grammar_and_py_typed(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        assert "lapse_dsl/grammar/lapse.lark" in names
        assert "lapse_dsl/py.typed" in names
        assert wheel.read("lapse_dsl/grammar/lapse.lark") == (ROOT / "grammar" / "lapse.lark").read_bytes()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "lapse = lapse_dsl.cli:run" in wheel.read(entry_points).decode()
    assert not any(name.startswith("tests/") for name in names)


def test_installed_package_compiles_from_another_folder(installed: Installed) -> None:
    code = (
        "import pathlib, lapse_dsl\n"
        f"rules = lapse_dsl.compile({BRAZE!r})\n"
        "assert len(rules.rules) == 1, rules\n"
        "print(pathlib.Path(lapse_dsl.__file__).parent)\n"
    )
    proc = _run([installed.python, "-c", code], cwd=installed.workdir)
    package = Path(proc.stdout.strip())
    assert "site-packages" in package.parts
    assert ROOT not in package.parents  # the installed copy, not the checkout
    assert (package / "grammar" / "lapse.lark").is_file()
    assert (package / "py.typed").is_file()


def test_installed_console_script(installed: Installed, tmp_path: Path) -> None:
    lapse = installed.scripts / ("lapse.exe" if os.name == "nt" else "lapse")
    version = _run([lapse, "--version"], cwd=installed.workdir)
    assert version.stdout.startswith("lapse ")
    rules = tmp_path / "braze.lapse"
    rules.write_text(BRAZE + "\n", encoding="utf-8")
    check = _run([lapse, "check", rules], cwd=installed.workdir)
    assert check.stdout == ""
    assert check.stderr == "1 file, 1 rule: 0 errors, 0 warnings\n"
    module = _run([installed.python, "-m", "lapse_dsl", "--version"], cwd=installed.workdir)
    assert module.stdout == version.stdout
