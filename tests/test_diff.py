"""``lapse diff``: per campaign, the users who enter, leave, or change send time, variant or holdout
group between two versions of the rules. The expected changes are computed here by evaluating each
user with both rule sets (``lapse_dsl.load(...).evaluate``), never by the diff's own code."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lapse_dsl
from lapse_dsl.cli import main

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
ZONES = ["America/New_York", "Europe/Paris", "Asia/Tokyo", None]

OLD = """default timezone "America/New_York"

campaign "Lapsed" {
    segment last_used between 2w and 3w and push_opted_in
    send push weekly thu 17:45 local
}

campaign "Split" {
    segment last_used between 1w and 6w
    send push weekly mon 09:00 local
    variant "a" 50% message title "A"
    variant "b" 50% message title "B"
    holdout 10%
    salt "split"
}

campaign "Moving" {
    segment last_used between 1w and 2w
    send email weekly wed 09:00 local
}

campaign "Old name" {
    segment last_used between 5w and 6w
    send push weekly fri 12:00 local
    salt "keep-me"
}

campaign "Gone" {
    segment last_used more than 8w ago
    send push monthly 1 10:00 local
}
"""

# The window of "Lapsed" is widened, "Split" moves users between variants and into the holdout,
# "Moving" sends a day later, "Old name" is renamed keeping its salt, "Gone" is removed, "New" added.
NEW = (OLD.replace("between 2w and 3w and", "between 2w and 4w and")
       .replace('variant "a" 50%', 'variant "a" 20%').replace('variant "b" 50%', 'variant "b" 80%')
       .replace("holdout 10%", "holdout 30%")
       .replace("weekly wed 09:00", "weekly thu 09:00")
       .replace('"Old name"', '"New name"')
       .replace('campaign "Gone" {\n    segment last_used more than 8w ago\n    send push monthly 1 10:00 local\n}\n',
                'campaign "New" {\n    segment last_used less than 1w ago\n    send in_app daily 12:00 local\n}\n'))


def users(count: int = 160) -> Iterator[dict[str, Any]]:
    for k in range(count):
        record: dict[str, Any] = {"user_id": f"u{k:03d}",
                                  "last_used": (NOW - dt.timedelta(hours=7 * k + 3)).isoformat(),
                                  "push_opted_in": k % 5 != 0}
        zone = ZONES[k % len(ZONES)]
        if zone is not None:
            record["timezone"] = zone
        yield record


def write_users(path: Path, records: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "".join(line + "\n" for line in extra),
                    encoding="utf-8")
    return path


@pytest.fixture
def sides(tmp_path: Path) -> tuple[Path, Path]:
    for name, text in (("old", OLD), ("new", NEW)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "campaigns.lapse").write_text(text, encoding="utf-8")
    return tmp_path / "old", tmp_path / "new"


def lapse(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def diff_json(capsys: pytest.CaptureFixture[str], old: str | Path, new: str | Path, users_file: Path,
              *flags: str) -> dict[str, Any]:
    code, out, err = lapse(capsys, "diff", old, new, "--users", users_file, "--now", "2026-11-30T00:00:00Z",
                           "--format", "json", *flags)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def expected_changes(old: lapse_dsl.RuleSet, new: lapse_dsl.RuleSet, records: list[dict[str, Any]],
                     renamed: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """Per campaign (NEW's name), the ids of the users of each change, in input order."""
    out: dict[str, dict[str, list[str]]] = {}
    names = [r.name for r in new.rules] + [r.name for r in old.rules if r.name not in renamed.values()
                                           and r.name not in {x.name for x in new.rules}]
    for name in names:
        out[name] = {k: [] for k in ("enter", "leave", "send_time", "variant", "held_out", "old", "new")}
    for user in records:
        before = {d.campaign: d for d in old.evaluate(user, NOW)}
        after = {d.campaign: d for d in new.evaluate(user, NOW)}
        for name in names:
            od, nd = before.get(renamed.get(name, name)), after.get(name)
            uid = user["user_id"]
            if od is not None:
                out[name]["old"].append(uid)
            if nd is not None:
                out[name]["new"].append(uid)
            if od is None and nd is not None:
                out[name]["enter"].append(uid)
            elif od is not None and nd is None:
                out[name]["leave"].append(uid)
            elif od is not None and nd is not None:
                if od.send_at != nd.send_at:
                    out[name]["send_time"].append(uid)
                if od.held_out != nd.held_out:
                    out[name]["held_out"].append(uid)
                elif od.variant != nd.variant:
                    out[name]["variant"].append(uid)
    return out


def test_every_change_is_counted_with_examples(capsys: pytest.CaptureFixture[str], sides: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    old_dir, new_dir = sides
    records = list(users())
    users_file = write_users(tmp_path / "users.jsonl", records)
    data = diff_json(capsys, old_dir, new_dir, users_file, "--examples", "2")
    assert (data["read"], data["compared"], data["rejected"]) == (len(records), len(records), 0)
    expected = expected_changes(lapse_dsl.load(old_dir), lapse_dsl.load(new_dir), records, {"New name": "Old name"})
    got = {c["campaign"]: c for c in data["campaigns"]}
    assert list(got) == ["Lapsed", "Split", "Moving", "New name", "New", "Gone"]
    for name, changes in expected.items():
        c = got[name]
        assert (c["old"], c["new"]) == (len(changes["old"]), len(changes["new"])), name
        for kind in ("enter", "leave", "send_time", "variant", "held_out"):
            assert c[kind] == {"count": len(changes[kind]), "examples": changes[kind][:2]}, (name, kind)
    # each edit shows where it should, and only there
    assert got["Lapsed"]["enter"]["count"] > 0 and got["Lapsed"]["leave"]["count"] == 0
    assert got["Split"]["variant"]["count"] > 0 and got["Split"]["held_out"]["count"] > 0
    assert got["Moving"]["send_time"]["count"] > 0  # (a day later: some users also enter or leave)
    assert {c["campaign"]: c["change"] for c in data["campaigns"]} == {
        "Lapsed": "changed", "Split": "changed", "Moving": "changed", "New name": "renamed", "New": "added",
        "Gone": "removed"}
    assert (got["New name"]["old_name"], got["New name"]["renamed_by"]) == ("Old name", "salt")
    assert got["New name"]["old"] == got["New name"]["new"] > 0  # kept its users: the same salt
    assert got["New"]["enter"]["count"] == got["New"]["new"] > 0
    assert got["Gone"]["leave"]["count"] == got["Gone"]["old"] > 0


def test_widened_window_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    braze = Path(__file__).resolve().parent.parent / "rules" / "braze_lapsing.lapse"
    text = braze.read_text(encoding="utf-8")
    assert "between 2w and 3w" in text
    (tmp_path / "old.lapse").write_text(text, encoding="utf-8")
    (tmp_path / "new.lapse").write_text(text.replace("between 2w and 3w", "between 2w and 4w"), encoding="utf-8")
    records = list(users())
    users_file = write_users(tmp_path / "users.jsonl", records)
    old, new = lapse_dsl.load(tmp_path / "old.lapse"), lapse_dsl.load(tmp_path / "new.lapse")
    entering = [u["user_id"] for u in records if new.evaluate(u, NOW) and not old.evaluate(u, NOW)]
    assert entering
    code, out, err = lapse(capsys, "diff", tmp_path / "old.lapse", tmp_path / "new.lapse", "--users", users_file,
                           "--now", "2026-11-30T00:00:00Z")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (f"OLD {tmp_path / 'old.lapse'} -> NEW {tmp_path / 'new.lapse'} at 2026-11-30T00:00:00Z: "
                        f"{len(records)} records read, {len(records)} users compared, 0 rejected")
    assert lines[2].split() == ["campaign", "change", "old", "new", "enter", "leave", "send", "time", "variant", "held",
                                "out"]
    assert lines[3].startswith('"Lapsed users - 2 weeks"  ')
    cells = lines[3].rsplit('"', 1)[1].split()
    had = sum(1 for u in records if old.evaluate(u, NOW))
    assert cells == ["changed", str(had), str(had + len(entering)), str(len(entering)), "0", "0", "0", "0"]
    assert f"    enter:      {', '.join(entering[:3])}" in lines


def test_git_revisions(capsys: pytest.CaptureFixture[str], sides: tuple[Path, Path], tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    # lapse diff REV:PATH runs git; a machine without it must fail here, not pass by skipping
    assert shutil.which("git") is not None, "git is not installed: install git to test lapse diff's revisions"
    repo = tmp_path / "repo"
    (repo / "rules").mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q")
    (repo / "rules" / "campaigns.lapse").write_text(OLD, encoding="utf-8")
    (repo / "rules" / "notes.txt").write_text("not a rule file\n", encoding="utf-8")
    git("add", ".")
    git("commit", "-q", "-m", "old")
    (repo / "rules" / "campaigns.lapse").write_text(NEW, encoding="utf-8")
    git("commit", "-q", "-am", "new")
    (repo / "rules" / "campaigns.lapse").write_text(OLD, encoding="utf-8")  # the work tree differs from both
    users_file = write_users(tmp_path / "users.jsonl", list(users()))
    folders = diff_json(capsys, *sides, users_file)
    monkeypatch.chdir(repo)
    for old, new in (("HEAD~1:rules/", "HEAD:rules"), ("HEAD~1:rules/campaigns.lapse", "HEAD:rules/campaigns.lapse"),
                     ("HEAD~1:rules/", str(sides[1]))):
        data = diff_json(capsys, old, new, users_file)
        assert (data["old"], data["new"]) == (old, new)
        assert data["campaigns"] == folders["campaigns"], (old, new)
    # the work tree holds OLD: nothing changes against HEAD~1
    same = diff_json(capsys, "HEAD~1:rules/", "rules", users_file)
    assert all(c["change"] == "same" for c in same["campaigns"])
    assert not any(c[k]["count"] for c in same["campaigns"] for k in ("enter", "leave", "send_time", "variant"))
    # errors name the side and what is wrong
    code, out, err = lapse(capsys, "diff", "HEAD~5:rules/", "rules", "--users", users_file)
    assert (code, out) == (2, "") and "OLD HEAD~5:rules/: unknown git revision 'HEAD~5'" in err
    code, out, err = lapse(capsys, "diff", "rules", "HEAD:nothere/", "--users", users_file)
    assert (code, out) == (2, "") and "NEW HEAD:nothere/: no such file or folder in revision 'HEAD'" in err
    (repo / "rules" / "campaigns.lapse").write_text(OLD.replace("last_used between 2w", "last_usd between 2w"),
                                                    encoding="utf-8")
    git("commit", "-q", "-am", "broken")
    code, out, err = lapse(capsys, "diff", "HEAD:rules/", "HEAD~1:rules/", "--users", users_file)
    assert (code, out) == (1, "")
    assert err.startswith("OLD (HEAD:rules/) does not check:\nHEAD:rules/campaigns.lapse:4:13: error: unknown "
                          "attribute 'last_usd'")


def test_not_in_a_git_repository(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # lapse diff REV:PATH runs git; a machine without it must fail here, not pass by skipping
    assert shutil.which("git") is not None, "git is not installed: install git to test lapse diff's revisions"
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    code, out, err = lapse(capsys, "diff", "HEAD:rules/", "HEAD:rules/", "--users", "users.jsonl")
    assert (code, out) == (2, "") and "not in a git repository" in err


def test_errors(capsys: pytest.CaptureFixture[str], sides: tuple[Path, Path], tmp_path: Path) -> None:
    old_dir, new_dir = sides
    users_file = write_users(tmp_path / "users.jsonl", list(users(3)))
    code, out, err = lapse(capsys, "diff", tmp_path / "missing.lapse", new_dir, "--users", users_file)
    assert (code, out) == (2, "") and f"OLD {tmp_path / 'missing.lapse'}: no such file or folder" in err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "b.lapse").write_text("segment last_used between 2w and 3w\n", encoding="utf-8")
    code, out, err = lapse(capsys, "diff", tmp_path / "broken", new_dir, "--users", users_file)
    assert (code, out) == (1, "")
    assert err.startswith(f"OLD ({tmp_path / 'broken'}) does not check:\n")
    assert "b.lapse:1:1: error: this rule has no send clause" in err
    code, out, err = lapse(capsys, "diff", old_dir, tmp_path / "broken", "--users", users_file)
    assert code == 1 and err.startswith(f"NEW ({tmp_path / 'broken'}) does not check:")
    (tmp_path / "empty").mkdir()
    code, out, err = lapse(capsys, "diff", old_dir, tmp_path / "empty", "--users", users_file)
    assert code == 1 and "no .lapse files" in err and err.startswith("NEW (")
    code, out, err = lapse(capsys, "diff", old_dir, new_dir, "--users", tmp_path / "nobody.jsonl")
    assert code == 2 and "nobody.jsonl" in err
    code, out, err = lapse(capsys, "diff", old_dir, new_dir, "--users", "duckdb:x.duckdb")
    assert code == 2 and "a file or - (standard input)" in err
    code, out, err = lapse(capsys, "diff", old_dir, new_dir, "--users", users_file, "--examples", "-1")
    assert code == 2 and "--examples" in err


def test_bad_records_are_counted_and_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # NEW reads an attribute OLD does not: a record with a bad value for it is rejected by NEW only
    old_text = 'segment last_used between 1w and 2w; send push weekly thu 17:45 local\n'
    new_text = 'attribute tier: string\nsegment last_used between 1w and 2w and tier = "gold"; send push weekly thu 17:45 local\n'
    (tmp_path / "old.lapse").write_text(old_text, encoding="utf-8")
    (tmp_path / "new.lapse").write_text(new_text, encoding="utf-8")
    good = list(users(4))
    bad_tier = {**good[0], "user_id": "bad-tier", "tier": 3}
    users_file = write_users(tmp_path / "users.jsonl", [*good, bad_tier],
                             ('{"last_used": "2026-11-20T00:00:00Z"}', "{not json", '{"user_id": "naive", '
                              '"last_used": "2026-11-20 10:00"}'))
    code, out, err = lapse(capsys, "diff", tmp_path / "old.lapse", tmp_path / "new.lapse", "--users", users_file,
                           "--now", "2026-11-30T00:00:00Z", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["read"], data["compared"], data["rejected"]) == (8, 4, 4)
    rejected = [json.loads(line) for line in err.splitlines()]
    assert [(r["line"], r["user_id"]) for r in rejected] == [(5, "bad-tier"), (6, None), (7, None), (8, "naive")]
    assert rejected[0]["error"].startswith("NEW: tier: expected a string")
    assert rejected[1]["error"] == "user record has no user_id"
    assert rejected[2]["error"].startswith("invalid JSON")
    assert "has no UTC offset" in rejected[3]["error"] and not rejected[3]["error"].startswith(("OLD", "NEW"))
