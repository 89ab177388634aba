"""The host entry point: Plugin.from_path, evaluate, evaluate_many, reload, version, thread
safety, and loading through the `rules_engines` entry point of an installed wheel."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import lapse_dsl
from lapse_dsl import LapseCheckError, LapseError, LapseSyntaxError, Plugin, Result, UserDataError

UTC = dt.UTC
ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # Thu 07:00 in New York

RULES_V1 = """\
default timezone "America/New_York"
campaign "Lapsed" {
    segment last_used between 2w and 3w
    send push weekly thu 17:45 local
}
"""
RULES_V2 = """\
default timezone "America/New_York"
campaign "Lapsed" {
    segment last_used between 1w and 2w
    send push weekly thu 17:45 local
}
campaign "Everyone" {
    segment user_id is set
    send email daily 09:00 utc
}
"""


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.lapse"
    path.write_text(RULES_V1, encoding="utf-8")
    return path


def user(uid: object, last_used: str | None = "2026-11-19T12:00:00Z", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"user_id": uid, "timezone": "America/New_York", **extra}
    if last_used is not None:
        record["last_used"] = last_used
    return record


def test_from_path_and_evaluate(rule_file: Path) -> None:
    plugin = Plugin.from_path(rule_file)
    assert plugin.path == rule_file
    # last_used 11-19 12:00Z is in (11-12 22:45Z, 11-19 22:45Z]: today's 17:45 EST = 22:45Z
    (d,) = plugin.evaluate(user("u1"), NOW)
    assert (d.campaign, d.send_at, d.due) == ("Lapsed", dt.datetime(2026, 12, 3, 22, 45, tzinfo=UTC), False)
    assert plugin.evaluate(user("u1"), NOW) == lapse_dsl.load(rule_file).evaluate(user("u1"), NOW)


def test_from_path_passes_compile_options(tmp_path: Path) -> None:
    path = tmp_path / "r.lapse"
    path.write_text("segment last_used more than 1d ago; send push daily 09:00 local", encoding="utf-8")
    plugin = Plugin.from_path(path, default_timezone="Asia/Tokyo", naive_timezone="UTC")
    (d,) = plugin.evaluate({"user_id": "u", "last_used": "2026-11-01T00:00:00"}, NOW)  # naive: UTC assumed
    assert d.timezone == "Asia/Tokyo"
    assert d.send_at == dt.datetime(2026, 12, 4, 0, 0, tzinfo=UTC)  # 12-04 09:00 +9


def test_from_path_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.lapse").write_text(RULES_V1, encoding="utf-8")
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "b.lapse").write_text('campaign "B" { segment user_id is set\n send sms daily 09:00 utc }\n', encoding="utf-8")
    plugin = Plugin.from_path(tmp_path)
    assert sorted(r.name for r in plugin.rules.rules) == ["B", "Lapsed"]


@pytest.mark.parametrize(
    ("text", "error"),
    [("segment last_used between 2w and; send push daily 09:00 utc", LapseSyntaxError),
     ("segment nope > 1; send push daily 09:00 utc", LapseCheckError)],
)
def test_from_path_with_bad_rules_raises(tmp_path: Path, text: str, error: type[LapseError]) -> None:
    path = tmp_path / "bad.lapse"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(error):
        Plugin.from_path(path)


def test_from_path_missing(tmp_path: Path) -> None:
    with pytest.raises(LapseError, match="no such file or folder"):
        Plugin.from_path(tmp_path / "nope.lapse")


# -- evaluate_many ------------------------------------------------------------------------------------


def test_evaluate_many_yields_one_result_per_user_in_order(rule_file: Path) -> None:
    plugin = Plugin.from_path(rule_file)
    users: list[Any] = [
        user("a"),
        user("b", last_used="2026-11-19T12:00:00"),  # naive: UserDataError
        {"timezone": "UTC"},  # no user_id
        user(7, last_used=None),  # no last_used: unknown, no decision, no error
        ["not", "a", "mapping"],
        "also not a mapping",
        user("c", sessions="x"),  # an attribute the rules do not read: fine
        user("d", last_used=12345678901234567890),  # epoch out of range
        user("e"),
        user("f", last_used="0001-01-01T00:00:00+01:00"),  # out of range in UTC: an error, not a crash
        user("g"),
    ]
    results = list(plugin.evaluate_many(users, NOW))
    assert [r.user_id for r in results] == ["a", "b", None, "7", None, None, "c", "d", "e", "f", "g"]
    assert [type(r.error).__name__ if r.error else None for r in results] == [
        None, "UserDataError", "UserDataError", None, "UserDataError", "UserDataError", None, "UserDataError", None,
        "UserDataError", None]
    assert all(isinstance(r, Result) for r in results)
    for r in results:
        if r.error is not None:
            assert r.decisions == ()
            assert isinstance(r.error, UserDataError)
    assert results[1].error is not None and results[1].error.attribute == "last_used"
    assert "has no UTC offset" in str(results[1].error)
    assert "a user record must be an object" in str(results[4].error)
    good = [results[i] for i in (0, 6, 8, 10)]
    assert all(len(r.decisions) == 1 for r in good)
    assert results[0].decisions == tuple(plugin.evaluate(users[0], NOW))
    assert results[3].decisions == ()


def test_evaluate_many_is_lazy_and_takes_any_iterable(rule_file: Path) -> None:
    plugin = Plugin.from_path(rule_file)
    produced = []

    def gen() -> Any:
        for i in range(3):
            produced.append(i)
            yield user(f"u{i}")

    results = plugin.evaluate_many(gen(), NOW)
    assert produced == []
    first = next(iter(results))
    assert first.user_id == "u0" and produced == [0]


def test_evaluate_many_with_since_and_history(rule_file: Path) -> None:
    plugin = Plugin.from_path(rule_file)
    sent = {"campaign": "Lapsed", "channel": "push", "at": "2026-11-26T22:45:00Z"}
    histories = {"a": [], "b": [sent]}
    results = list(plugin.evaluate_many([user("a"), user("b")], NOW, since=NOW - dt.timedelta(minutes=15),
                                        history=lambda u: histories[u["user_id"]]))
    assert len(results[0].decisions) == 1
    assert results[1].decisions == ()  # already received: without `reeligible after`, once only
    assert results[1].error is None


def test_evaluate_many_bad_history_is_a_per_user_error(rule_file: Path) -> None:
    plugin = Plugin.from_path(rule_file)
    results = list(plugin.evaluate_many([user("a"), user("b")], NOW,
                                        history=lambda u: [{"campaign": 1}] if u["user_id"] == "a" else []))
    assert isinstance(results[0].error, UserDataError)
    assert results[1].error is None and len(results[1].decisions) == 1


# -- reload and version --------------------------------------------------------------------------------


def test_version_is_a_hash_of_the_rule_text(rule_file: Path) -> None:
    plugin = Plugin.from_path(rule_file)
    assert len(plugin.version) == 64
    int(plugin.version, 16)
    assert plugin.version == hashlib.sha256(RULES_V1.encode() + b"\0").hexdigest()
    assert Plugin.from_path(rule_file).version == plugin.version  # same text, same version


def test_reload_swaps_on_success(rule_file: Path) -> None:
    plugin = Plugin.from_path(rule_file)
    old_version = plugin.version
    assert [d.campaign for d in plugin.evaluate(user("u"), NOW)] == ["Lapsed"]
    rule_file.write_text(RULES_V2, encoding="utf-8")
    new_version = plugin.reload()
    assert new_version == plugin.version != old_version
    # "Lapsed" is now 1w..2w: at 12-03 the window is (11-19 22:45Z, 11-26 22:45Z] and 11-19 12:00Z is
    # already older, so only the new "Everyone" campaign has a decision
    decisions = plugin.evaluate(user("u"), NOW)
    assert [(d.campaign, d.send_at) for d in decisions] == [("Everyone", dt.datetime(2026, 12, 4, 9, 0, tzinfo=UTC))]
    assert {r.name for r in plugin.rules.rules} == {"Lapsed", "Everyone"}


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param("campaign \"Lapsed\" {\n segment last_used between 2w and\n}", id="syntax"),
        pytest.param("segment nope > 1; send push daily 09:00 utc", id="check"),
        pytest.param(None, id="deleted"),
        pytest.param(b"\xff\xfe not utf-8", id="not-utf8"),
    ],
)
def test_failed_reload_raises_and_keeps_serving_the_old_rules(rule_file: Path, broken: str | bytes | None) -> None:
    plugin = Plugin.from_path(rule_file)
    version = plugin.version
    before = plugin.evaluate(user("u"), NOW)
    if broken is None:
        rule_file.unlink()
    elif isinstance(broken, bytes):
        rule_file.write_bytes(broken)
    else:
        rule_file.write_text(broken, encoding="utf-8")
    with pytest.raises(LapseError):
        plugin.reload()
    assert plugin.version == version
    assert plugin.evaluate(user("u"), NOW) == before
    # and once the file is fixed, reload works again
    rule_file.write_text(RULES_V2, encoding="utf-8")
    assert plugin.reload() != version


def test_evaluate_many_uses_one_rule_version_for_the_whole_batch(rule_file: Path) -> None:
    plugin = Plugin.from_path(rule_file)
    results = plugin.evaluate_many((user(f"u{i}") for i in range(4)), NOW)
    first = next(results)
    rule_file.write_text(RULES_V2, encoding="utf-8")
    plugin.reload()
    rest = list(results)
    assert [d.campaign for d in first.decisions] == ["Lapsed"]
    assert all([d.campaign for d in r.decisions] == ["Lapsed"] for r in rest)


# -- threads ---------------------------------------------------------------------------------------


def test_many_threads_give_the_same_results_as_serial(tmp_path: Path) -> None:
    path = tmp_path / "r.lapse"
    path.write_text(
        'default timezone "America/New_York"\n'
        'campaign "w" { segment last_used between 2w and 3w\n send push weekly thu 17:45 local }\n'
        'campaign "c" { segment last_used more than 5d ago\n send sms cron "30 1 * * 0" local }\n'
        'campaign "m" { segment sessions > 2\n send email monthly 31 09:00 local }\n',
        encoding="utf-8",
    )
    zones = ["America/New_York", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia",
             "Africa/Cairo", "Pacific/Kiritimati", "nope"]
    base = dt.datetime(2026, 10, 20, tzinfo=UTC)
    users = [
        {"user_id": i, "timezone": zones[i % len(zones)], "sessions": i % 5,
         "last_used": (base - dt.timedelta(hours=5 * i)).isoformat()}
        for i in range(1000)
    ]
    users.append({"user_id": None})
    nows = [base + dt.timedelta(days=d, hours=d) for d in range(0, 40, 8)]

    def run(plugin: Plugin, now: dt.datetime) -> list[tuple[str | None, tuple[Any, ...], str | None]]:
        return [(r.user_id, r.decisions, str(r.error) if r.error else None) for r in plugin.evaluate_many(users, now)]

    serial_plugin = Plugin.from_path(path)
    serial = {now: run(serial_plugin, now) for now in nows}
    shared = Plugin.from_path(path)  # a fresh plugin: its caches are filled by the threads, concurrently
    barrier = threading.Barrier(8)

    def worker(k: int) -> list[tuple[dt.datetime, Any]]:
        barrier.wait(timeout=60)  # all eight start together
        order = nows[k % len(nows):] + nows[:k % len(nows)]
        return [(now, run(shared, now)) for now in order]

    with ThreadPoolExecutor(max_workers=8) as pool:
        outputs = list(pool.map(worker, range(8)))
    for output in outputs:
        for now, got in output:
            assert got == serial[now]


# -- the entry point -----------------------------------------------------------------------------


def test_entry_point_of_the_editable_install() -> None:
    (ep,) = [e for e in entry_points(group="rules_engines") if e.name == "lapse"]
    assert ep.value == "lapse_dsl.plugin:Plugin"
    assert ep.load() is Plugin


ENTRY_POINT_SCRIPT = textwrap.dedent("""
    import datetime as dt, json, sys
    sys.path.insert(0, sys.argv[1])
    from importlib.metadata import entry_points
    ep = entry_points(group="rules_engines")["lapse"]
    plugin_class = ep.load()
    import lapse_dsl
    plugin = plugin_class.from_path(sys.argv[2])
    now = dt.datetime(2026, 12, 3, 12, tzinfo=dt.timezone.utc)
    (d,) = plugin.evaluate({"user_id": "u", "timezone": "America/New_York",
                            "last_used": "2026-11-19T12:00:00Z"}, now)
    print(json.dumps({"module": lapse_dsl.__file__, "dist": ep.dist.name if ep.dist else None,
                      "class": plugin_class.__qualname__, "send_at": d.send_at.isoformat()}))
""")


def test_entry_point_from_an_installed_wheel(tmp_path: Path, rule_file: Path) -> None:
    """Build the wheel, install it into a folder of its own, and load the plugin the way a host does."""
    wheels = tmp_path / "wheels"
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    # offline when the build backend is installed; otherwise pip fetches hatchling into an isolated env
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("hatchling") else []
    subprocess.run([*pip, "wheel", "--no-deps", *offline, "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("lapse_dsl-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    assert (site / "lapse_dsl" / "grammar" / "lapse.lark").is_file()
    out = subprocess.run([sys.executable, "-I", "-c", ENTRY_POINT_SCRIPT, str(site), str(rule_file)],
                         check=True, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    got = json.loads(out.stdout)
    assert Path(got["module"]).resolve().is_relative_to(site.resolve())  # the wheel's copy, not the checkout
    assert got["dist"] == "lapse-dsl" or got["dist"] == "lapse_dsl"
    assert got["class"] == "Plugin"
    assert got["send_at"] == "2026-12-03T22:45:00+00:00"


def test_in_segment_from_many_threads_at_different_instants() -> None:
    text = (
        'campaign "w" { segment platform = "ios" and last_used between 2w and 3w; send push weekly thu 17:45 local }\n'
        'campaign "d" { segment last_used before 2026-10-01 and sessions > 1; send email daily 09:00 local }\n'
    )
    zones = ["America/New_York", "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kathmandu", "nope", None]
    base = dt.datetime(2026, 10, 20, tzinfo=UTC)
    users = [{"platform": ["ios", "web"][i % 2], "timezone": zones[i % len(zones)], "sessions": i % 4,
              "last_used": (base - dt.timedelta(hours=7 * i)).isoformat()} for i in range(600)]
    ats = [base + dt.timedelta(days=d, minutes=d) for d in range(0, 30, 6)]
    reference = lapse_dsl.compile(text).reference()
    serial = {at: [dict(reference.in_segment(u, at)) for u in users] for at in ats}
    shared = lapse_dsl.compile(text)  # fresh caches, filled by the threads concurrently
    barrier = threading.Barrier(8)

    def worker(k: int) -> list[tuple[dt.datetime, list[dict[str, Any]]]]:
        barrier.wait(timeout=60)
        order = ats[k % len(ats):] + ats[:k % len(ats)]
        return [(at, [dict(shared.in_segment(u, at)) for u in users]) for at in order]

    with ThreadPoolExecutor(max_workers=8) as pool:
        outputs = list(pool.map(worker, range(8)))
    for output in outputs:
        for at, got in output:
            assert got == serial[at]
