"""A file with no rules (issue 11, item 8): empty, blank, comments only or declarations only, alone
or as a whole folder, is a valid, empty rule set. It compiles (the generated and fused code too)
and every call decides nothing: no decisions, an empty ``in_segment`` mapping, an explanation of
no rules, a run that reads every user and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest

import lapse_dsl
from lapse_dsl import cli
from lapse_dsl.sql import DIALECTS, candidates_sql, next_occurrence_sql, segment_sql

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
USERS = (
    {"user_id": "u1"},
    {"user_id": "u2", "timezone": "Europe/Paris", "last_used": "2026-11-14T09:00:00Z", "push_opted_in": True},
    {"user_id": 3, "sessions": "not looked at: no rule reads it"},
)
EMPTY_FILES = {
    "empty": "",
    "blank": "\n   \n\t\n",
    "comment": "# nothing here yet\n",
    "comments": "# one\n\n   # two, indented\n",
    "default-zone": 'default timezone "Europe/Paris"\n',
    "declarations": "attribute tier: string\nattribute custom.ltv: number  # later\nattribute trial_ends: time\n",
    "everything-but-rules": '# header\ndefault timezone "Asia/Tokyo"\n\nattribute tier: string\n',
}


@pytest.fixture(params=sorted(EMPTY_FILES))
def empty(request: pytest.FixtureRequest) -> str:
    text: str = EMPTY_FILES[request.param]
    return text


def _assert_decides_nothing(rules: lapse_dsl.RuleSet) -> None:
    assert rules.rules == ()
    for way in (rules, rules.reference(), rules.preview()):
        for user in USERS:
            for record in (user, MappingProxyType(user)):  # the fused path and the general one
                assert way.evaluate(record, NOW) == ()
                assert way.evaluate(record, NOW, since=NOW - dt.timedelta(hours=1)) == ()
                segment = way.in_segment(record, NOW)
                assert isinstance(segment, Mapping) and dict(segment) == {}
            explanation = way.explain(user, NOW)
            assert explanation.rules == () and explanation.user_id == str(user["user_id"])


def test_a_file_without_rules_compiles_to_an_empty_rule_set(empty: str) -> None:
    rules = lapse_dsl.compile(empty, default_timezone="America/New_York", naive_timezone="UTC")
    _assert_decides_nothing(rules)


def test_empty_files_load_as_one_empty_rule_set(tmp_path: Path, empty: str) -> None:
    (tmp_path / "a.lapse").write_text(empty, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.lapse").write_text("# another\n", encoding="utf-8")
    _assert_decides_nothing(lapse_dsl.load(tmp_path))
    _assert_decides_nothing(lapse_dsl.load(tmp_path / "a.lapse"))


def test_an_empty_file_beside_rules_adds_nothing(tmp_path: Path, empty: str) -> None:
    (tmp_path / "a.lapse").write_text(empty, encoding="utf-8")
    (tmp_path / "b.lapse").write_text("segment push_opted_in; send push daily 10:00 utc\n", encoding="utf-8")
    rules = lapse_dsl.load(tmp_path)
    (d,) = rules.evaluate(USERS[1], NOW)
    assert d.send_at == dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)


def test_a_user_record_is_still_checked(empty: str) -> None:
    rules = lapse_dsl.compile(empty)
    with pytest.raises(lapse_dsl.UserDataError, match=r"^user record has no user_id$"):
        rules.evaluate({}, NOW)
    with pytest.raises(lapse_dsl.UserDataError, match="must be an object"):
        rules.evaluate(["not", "a", "record"], NOW)  # type: ignore[arg-type]


def test_plugin_evaluate_many_decides_nothing(tmp_path: Path, empty: str) -> None:
    path = tmp_path / "rules.lapse"
    path.write_text(empty, encoding="utf-8")
    plugin = lapse_dsl.Plugin.from_path(path)
    results = list(plugin.evaluate_many(USERS, NOW))
    assert [(r.user_id, r.decisions, r.error) for r in results] == [("u1", (), None), ("u2", (), None), ("3", (), None)]


def test_sql_of_an_empty_rule_set(empty: str) -> None:
    rules = lapse_dsl.compile(empty)
    for dialect in DIALECTS:
        assert candidates_sql(rules, dialect=dialect).endswith("WHERE FALSE")
        for make in (segment_sql, next_occurrence_sql):
            with pytest.raises(ValueError, match=r"^the rule set has no rules: there is no segment to write as SQL$"):
                make(rules, dialect=dialect, at=NOW)


def test_lapse_run_plan_explain_and_sql_on_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          empty: str) -> None:
    rules, users, out = tmp_path / "rules.lapse", tmp_path / "users.jsonl", tmp_path / "out.jsonl"
    rules.write_text(empty, encoding="utf-8")
    users.write_text("".join(json.dumps(u) + "\n" for u in USERS), encoding="utf-8")
    now = ["--now", "2026-11-30T00:00:00Z"]
    assert cli.main(["run", str(rules), "--users", str(users), *now, "--out", str(out), "--summary"]) == 0
    assert out.read_text(encoding="utf-8") == ""
    captured = capsys.readouterr()
    summary = captured.out + captured.err
    assert "decisions                   0" in summary
    assert "accounted for: 3 read = 0 with + 3 without + 0 rejected (ok)" in summary
    assert cli.main(["plan", str(rules), "--users", str(users), *now]) == 0
    assert "0 sends (0 held out) to 0 users; 3 records read, 0 rejected" in capsys.readouterr().out
    assert cli.main(["explain", str(rules), "--user", json.dumps(USERS[1]), *now]) == 0
    assert capsys.readouterr().out.startswith("user u2 at 2026-11-30T00:00:00Z")
    assert cli.main(["sql", str(rules), "--dialect", "duckdb", "--candidates"]) == 0
    assert capsys.readouterr().out.strip().endswith("WHERE FALSE")
    assert cli.main(["sql", str(rules), "--dialect", "duckdb", "--at", "2026-11-30T00:00:00Z"]) == 2
    assert capsys.readouterr().err.strip() == "lapse: error: the rule set has no rules: there is no segment to write as SQL"
