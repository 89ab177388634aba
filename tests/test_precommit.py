"""The pre-commit hooks of ``.pre-commit-hooks.yaml``, run by pre-commit in a temporary git repo
holding rule files.

The quick tests take each hook exactly as the manifest defines it (entry, files, serial) as a
``local`` hook on this interpreter, so pre-commit's own file selection and verdicts are tested
without building an environment. The slow one installs the hooks as a user does, with
``pre-commit try-repo`` from a git copy of this checkout (pip installs it from PyPI's packages:
about 15 s with a warm pip cache)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lapse_dsl.format import format_file
from lapse_dsl.parse import parse

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
HOOKS = {hook["id"]: hook for hook in MANIFEST}

GOOD = "segment last_used between 2w and 3w; send push weekly thu 17:45 local\n"
BAD = "segment last_usd between 2w and 3w; send push weekly thu 17:45 local\n"
MESSY = ("segment  last_used between 2w and 3w ;send push weekly thu 17:45 local\n\n\n\n"
         'segment platform="ios"; send push daily 09:00 utc\n')


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


def _repo(path: Path, files: dict[str, str], hooks: list[str]) -> Path:
    """A git repo with ``files`` and a config that runs the manifest's ``hooks`` on this Python."""
    path.mkdir()
    _git(path, "init", "-q")
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")
    local = []
    for hook_id in hooks:
        hook = dict(HOOKS[hook_id])
        command = hook["entry"].split()
        assert command[0] == "lapse"
        hook.update(entry=" ".join([sys.executable, "-m", "lapse_dsl", *command[1:]]), language="system")
        local.append(hook)
    config = {"repos": [{"repo": "local", "hooks": local}]}
    (path / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    _git(path, "add", "-A")
    return path


def _pre_commit(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "PRE_COMMIT_HOME": str(home)}, timeout=600)


def test_manifest_defines_both_hooks_on_lapse_files() -> None:
    assert sorted(HOOKS) == ["lapse-check", "lapse-fmt"]
    for hook in MANIFEST:
        assert hook["language"] == "python" and hook["files"] == r"\.lapse$"


def test_the_documented_config_names_the_manifests_hooks() -> None:
    text = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```text\n(.*?)```", text.split("## pre-commit", 1)[1], flags=re.DOTALL)
    config = yaml.safe_load(blocks[0])
    assert [h["id"] for h in config["repos"][0]["hooks"]] == ["lapse-check", "lapse-fmt"]
    folder = yaml.safe_load("hooks:\n" + blocks[1])["hooks"][0]
    assert folder["id"] in HOOKS and folder["pass_filenames"] is False


def test_lapse_check_fails_on_an_error_and_says_where(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", {"good.lapse": GOOD, "bad.lapse": BAD, "notes.md": BAD}, ["lapse-check"])
    done = _pre_commit(repo, tmp_path / "home", "run", "--all-files")
    assert done.returncode == 1, done.stdout
    assert "lapse check" in done.stdout and "Failed" in done.stdout
    assert "bad.lapse:1:9: error: unknown attribute 'last_usd'; did you mean 'last_used'?" in done.stdout
    assert "2 files, 2 rules: 1 error, 0 warnings" in done.stdout  # the two .lapse files, not notes.md


def test_lapse_check_passes_good_files(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", {"good.lapse": GOOD, "notes.md": BAD}, ["lapse-check"])
    done = _pre_commit(repo, tmp_path / "home", "run", "--all-files")
    assert done.returncode == 0, done.stdout
    assert "Passed" in done.stdout


def test_lapse_fmt_rewrites_and_fails_then_passes(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo", {"messy.lapse": MESSY, "good.lapse": GOOD}, ["lapse-fmt"])
    done = _pre_commit(repo, tmp_path / "home", "run", "--all-files")
    assert done.returncode == 1, done.stdout
    assert "files were modified by this hook" in done.stdout
    assert "messy.lapse: formatted" in done.stdout and "good.lapse" not in done.stdout
    assert (repo / "messy.lapse").read_text(encoding="utf-8") == format_file(parse(MESSY)) != MESSY
    _git(repo, "add", "-A")
    again = _pre_commit(repo, tmp_path / "home", "run", "--all-files")
    assert again.returncode == 0, again.stdout


@pytest.mark.slow
def test_try_repo_installs_the_hooks_from_a_checkout(tmp_path: Path) -> None:
    """As a user's config does: pre-commit builds the hooks' environment from the project (here a
    git copy of this working tree, uncommitted files included) and runs both hooks."""
    source = tmp_path / "lapse-dsl"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "grammar", source / "grammar")
    shutil.copytree(ROOT / "lapse_dsl", source / "lapse_dsl", ignore=shutil.ignore_patterns("__pycache__"))
    _git(source, "init", "-q")
    _git(source, "add", "-A")
    _git(source, "commit", "-qm", "snapshot")
    repo = tmp_path / "rules"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "good.lapse").write_text(GOOD, encoding="utf-8")
    (repo / "bad.lapse").write_text(BAD, encoding="utf-8")
    (repo / "messy.lapse").write_text(MESSY, encoding="utf-8")
    _git(repo, "add", "-A")
    done = _pre_commit(repo, tmp_path / "home", "try-repo", str(source), "--all-files")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad.lapse:1:9: error: unknown attribute 'last_usd'" in done.stdout
    assert "messy.lapse: formatted" in done.stdout
    assert (repo / "messy.lapse").read_text(encoding="utf-8") == format_file(parse(MESSY))
