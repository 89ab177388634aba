"""`lapse report`: per campaign and group, who came back within the window after a send, and the
lift between groups. The data are planted here, seeded: each user's return is drawn with a known
rate and recorded, so the expected counts come from the generator, not from the report; intervals
and p-values are recomputed with statsmodels in the test. A planted lift must be found (interval
clear of 0), a planted null must not; window edges, incomplete windows, bad lines and the memory
bound are checked on small hand-made inputs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from statsmodels.stats import proportion as sp  # type: ignore[import-untyped]
from test_cli import lapse, write

from lapse_dsl import report as rp
from lapse_dsl.progress import Progress, with_progress
from lapse_dsl.sessions import Session, open_sessions
from lapse_dsl.sources import open_source

ROOT = Path(__file__).resolve().parent.parent
BASE = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)
LATER = BASE + dt.timedelta(days=60)  # every planted window is over by then


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def decision(campaign: str, user: str, send_at: dt.datetime, group: str) -> dict[str, Any]:
    """A decision as `lapse run` writes it; ``group`` is holdout, sent (no variant) or a variant."""
    held = group == "holdout"
    return {"campaign": campaign, "channel": "push", "user_id": user, "send_at": iso(send_at), "held_out": held,
            "variant": None if group in ("holdout", "sent") else group}


@attrs.frozen
class Planted:
    plan: Path
    sessions: Path
    truth: dict[tuple[str, str], tuple[int, int]]  # (campaign, group) -> (users, came back)


def plant(folder: Path, seed: int, campaigns: dict[str, dict[str, tuple[int, float]]]) -> Planted:
    """Decisions with sends over two weeks; each user comes back (a session inside the window)
    with the group's rate, and also has sessions outside it (before the send, after the window)
    that must not count. Sessions are written shuffled: the order must not matter."""
    rng = random.Random(seed)
    decisions: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    truth: dict[tuple[str, str], tuple[int, int]] = {}
    for campaign, groups in campaigns.items():
        for group, (n, rate) in groups.items():
            back = 0
            for k in range(n):
                user = f"{campaign}/{group}/{k}"
                send = BASE + dt.timedelta(minutes=rng.randrange(14 * 24 * 60))
                decisions.append(decision(campaign, user, send, group))
                sessions.append({"user_id": user, "at": iso(send - dt.timedelta(minutes=rng.randrange(0, 20_000)))})
                sessions.append({"user_id": user, "at": iso(send + WEEK + dt.timedelta(minutes=rng.randrange(1, 5000)))})
                if rng.random() < rate:
                    back += 1
                    sessions.append({"user_id": user, "at": iso(send + dt.timedelta(minutes=rng.randrange(1, 7 * 24 * 60 + 1)))})
            truth[(campaign, group)] = (n, back)
    rng.shuffle(decisions)
    rng.shuffle(sessions)
    plan = write(folder / "plan.jsonl", "".join(json.dumps(d) + "\n" for d in decisions))
    events = write(folder / "sessions.jsonl", "".join(json.dumps(s) + "\n" for s in sessions))
    return Planted(plan, events, truth)


def report_json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> dict[str, Any]:
    run = lapse(capsys, "report", *(str(a) for a in args), "--format", "json")
    assert run.code == 0, run.err
    result: dict[str, Any] = json.loads(run.out)
    return result


def groups_of(result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["campaign"], g["group"]): g for c in result["campaigns"] for g in c["groups"]}


def comparisons_of(result: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(c["campaign"], k["group"], k["baseline"]): k for c in result["campaigns"] for k in c["comparisons"]}


EXPERIMENT = {
    "test": {"holdout": (400, 0.10), "noon": (800, 0.14), "evening": (800, 0.22)},  # a planted lift
    "null": {"holdout": (400, 0.15), "sent": (800, 0.15)},  # no lift planted
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    return plant(tmp_path_factory.mktemp("planted"), 14, EXPERIMENT)


def test_counts_match_what_was_planted(capsys: pytest.CaptureFixture[str], planted: Planted) -> None:
    result = report_json(capsys, "--sends", planted.plan, "--sessions", planted.sessions, "--now", iso(LATER))
    groups = groups_of(result)
    assert set(groups) == set(planted.truth)
    for key, (users, back) in planted.truth.items():
        g = groups[key]
        assert (g["users"], g["came_back"]) == (users, back), key
        assert g["rate"] == pytest.approx(back / users)
        low, high = sp.proportion_confint(back, users, alpha=0.05, method="wilson")
        assert (g["ci_low"], g["ci_high"]) == pytest.approx((low, high))
    total = sum(users for users, _ in planted.truth.values())
    assert result["inputs"]["plan"] == {"path": str(planted.plan), "read": total, "measured": total, "not_measured": 0,
                                        "rejected": 0, "sent_before_first_session": 0}
    s = result["inputs"]["sessions"]
    assert s["in_window"] == sum(back for _, back in planted.truth.values())
    assert s["outside_windows"] == 2 * total  # the planted sessions before each send and after each window
    assert (s["no_decision"], s["rejected"]) == (0, 0)


def _expected(a: tuple[int, int], b: tuple[int, int]) -> tuple[float, float, float]:
    (na, xa), (nb, xb) = a, b
    low, high = sp.confint_proportions_2indep(xa, na, xb, nb, method="agresti-caffo", compare="diff", alpha=0.05)
    p = sp.test_proportions_2indep(xa, na, xb, nb, method="agresti-caffo", compare="diff").pvalue
    return float(low), float(high), float(p)


def test_the_planted_lift_is_found_and_the_null_is_not(capsys: pytest.CaptureFixture[str], planted: Planted) -> None:
    result = report_json(capsys, "--sends", planted.plan, "--sessions", planted.sessions, "--now", iso(LATER))
    comparisons = comparisons_of(result)
    assert set(comparisons) == {("test", "noon", "holdout"), ("test", "evening", "holdout"), ("test", "evening", "noon"),
                                ("null", "sent", "holdout")}
    truth = planted.truth
    for (campaign, group, baseline), k in comparisons.items():
        a, b = truth[(campaign, group)], truth[(campaign, baseline)]
        low, high, p = _expected(a, b)
        assert (k["ci_low"], k["ci_high"], k["p_value"]) == pytest.approx((low, high, p))
        assert k["difference"] == pytest.approx(a[1] / a[0] - b[1] / b[0])
        assert k["relative_lift"] == pytest.approx((a[1] / a[0]) / (b[1] / b[0]) - 1)
        assert k["significant"] == (p < 0.05) == (low > 0 or high < 0)  # interval and test agree
    lift = comparisons[("test", "evening", "holdout")]
    assert lift["ci_low"] > 0 and lift["significant"]
    assert lift["verdict"].startswith("evening beats holdout: +")
    assert comparisons[("test", "evening", "noon")]["verdict"].startswith("evening beats noon: +")
    null = comparisons[("null", "sent", "holdout")]
    assert null["ci_low"] < 0 < null["ci_high"] and not null["significant"]
    assert null["verdict"].startswith("no detectable difference between sent and holdout: ")


def test_text_verdicts_say_who_wins_by_how_much(capsys: pytest.CaptureFixture[str], planted: Planted) -> None:
    run = lapse(capsys, "report", "--sends", str(planted.plan), "--sessions", str(planted.sessions), "--now", iso(LATER))
    assert run.code == 0 and run.err == ""
    (n_e, x_e), (n_h, x_h) = planted.truth[("test", "evening")], planted.truth[("test", "holdout")]
    low, high, p = _expected((n_e, x_e), (n_h, x_h))
    diff = x_e / n_e - x_h / n_h
    pvalue = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    relative = (x_e / n_e) / (x_h / n_h) - 1
    expected = (f"  evening beats holdout: {diff * 100:+.1f} points (95% CI {low * 100:+.1f} to {high * 100:+.1f}), "
                f"{pvalue}, relative {relative * 100:+.0f}%")
    assert expected in run.out.splitlines()
    row = f"  evening  {n_e:>7}  {x_e:>9}  {x_e / n_e * 100:>5.1f}%"
    assert any(line.startswith(row) for line in run.out.splitlines()), run.out
    total = sum(n for n, _ in planted.truth.values())
    assert f"{planted.plan}: {total} lines read = {total} measured + 0 not measured (window not over) + 0 rejected" in run.out


def test_a_variant_worse_than_the_holdout_is_named_as_losing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    planted = plant(tmp_path, 3, {"c": {"holdout": (500, 0.30), "sent": (500, 0.10)}})
    k = comparisons_of(report_json(capsys, "--sends", planted.plan, "--sessions", planted.sessions, "--now", iso(LATER)))
    worse = k[("c", "sent", "holdout")]
    assert worse["difference"] < 0 and worse["ci_high"] < 0
    assert worse["verdict"].startswith("holdout beats sent: +")  # the winner first, its lead positive


def test_alpha_sets_the_interval_level(capsys: pytest.CaptureFixture[str], planted: Planted) -> None:
    result = report_json(capsys, "--sends", planted.plan, "--sessions", planted.sessions, "--now", iso(LATER),
                         "--alpha", "0.01")
    k = comparisons_of(result)[("test", "evening", "holdout")]
    a, b = planted.truth[("test", "evening")], planted.truth[("test", "holdout")]
    low, high = sp.confint_proportions_2indep(a[1], a[0], b[1], b[0], method="agresti-caffo", compare="diff", alpha=0.01)
    assert (k["ci_low"], k["ci_high"]) == pytest.approx((low, high))
    assert "(99% CI " in k["verdict"]


# the rules: windows, cutoff, several campaigns ----------------------------------------------------


def small_inputs(folder: Path, decisions: list[dict[str, Any]], sessions: list[dict[str, Any] | str]) -> tuple[Path, Path]:
    plan = write(folder / "plan.jsonl", "".join(json.dumps(d) + "\n" for d in decisions))
    lines = [s if isinstance(s, str) else json.dumps(s) for s in sessions]
    return plan, write(folder / "sessions.jsonl", "".join(line + "\n" for line in lines))


def test_the_window_is_open_at_the_send_and_closed_at_its_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    send = BASE
    at = {"at send": send, "just after": send + dt.timedelta(microseconds=1), "at end": send + WEEK,
          "past end": send + WEEK + dt.timedelta(microseconds=1)}
    decisions = [decision("c", name, send, "sent") for name in at]
    plan, sessions = small_inputs(tmp_path, decisions, [{"user_id": name, "at": iso(t)} for name, t in at.items()])
    result = report_json(capsys, "--sends", plan, "--sessions", sessions, "--now", iso(LATER))
    assert groups_of(result)[("c", "sent")]["came_back"] == 2  # "just after" and "at end"
    assert result["inputs"]["sessions"]["in_window"] == 2
    result = report_json(capsys, "--sends", plan, "--sessions", sessions, "--now", iso(LATER), "--window", "1d")
    assert groups_of(result)[("c", "sent")]["came_back"] == 1  # "at end" of a week is past a day


def test_windows_not_over_are_not_measured(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A user whose window is still open has not "not come back": such decisions are left out,
    wherever they stand, and counted; the cutoff is --now, else the latest session read."""
    sends = [BASE + dt.timedelta(days=d) for d in range(10)]
    decisions = [decision("c", f"u{i}", s, "sent") for i, s in enumerate(sends)]
    last = BASE + dt.timedelta(days=12)  # windows of sends on days 0-5 are over by then
    sessions = [{"user_id": "u1", "at": iso(sends[1] + dt.timedelta(hours=1))},
                {"user_id": "u8", "at": iso(sends[8] + dt.timedelta(hours=1))},  # back, but its window is open
                {"user_id": "someone", "at": iso(last)}]
    plan, events = small_inputs(tmp_path, decisions, sessions)
    result = report_json(capsys, "--sends", plan, "--sessions", events)
    assert result["cutoff"] == iso(last) and result["cutoff_from"] == "the latest session"
    over = sum(s + WEEK <= last for s in sends)
    assert groups_of(result)[("c", "sent")]["users"] == over == 6
    assert groups_of(result)[("c", "sent")]["came_back"] == 1
    assert result["campaigns"][0]["not_measured"] == len(sends) - over
    assert result["inputs"]["plan"]["not_measured"] == len(sends) - over
    now = BASE + dt.timedelta(days=16)
    result = report_json(capsys, "--sends", plan, "--sessions", events, "--now", iso(now))
    assert (result["cutoff"], result["cutoff_from"]) == (iso(now), "--now")
    assert groups_of(result)[("c", "sent")]["users"] == sum(s + WEEK <= now for s in sends) == 10
    assert groups_of(result)[("c", "sent")]["came_back"] == 2
    run = lapse(capsys, "report", "--sends", str(plan), "--sessions", str(events))
    assert "  not measured: 4 decisions whose window is not over" in run.out.splitlines()


def test_without_sessions_or_now_nothing_is_measured(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plan, events = small_inputs(tmp_path, [decision("c", "u", BASE, "sent")], [])
    run = lapse(capsys, "report", "--sends", str(plan), "--sessions", str(events))
    assert run.code == 0
    assert "no window is over: no session was read" in run.out
    assert "warning: no session was read, so no user came back" in run.out


def test_sends_before_the_first_session_are_warned_about(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sends = [BASE + dt.timedelta(days=d) for d in range(5)]
    first = BASE + dt.timedelta(days=2, hours=12)  # the sessions begin after the first three sends
    plan, events = small_inputs(tmp_path, [decision("c", f"u{i}", s, "sent") for i, s in enumerate(sends)],
                                [{"user_id": "u4", "at": iso(first)}, {"user_id": "x", "at": iso(LATER)}])
    run = lapse(capsys, "report", "--sends", str(plan), "--sessions", str(events))
    early = sum(s < first for s in sends)
    assert (f"warning: {early} measured decisions sent before the first session ({iso(first)}): if the sessions "
            "start later than the sends, those users count as not back") in run.out.splitlines()
    assert report_json(capsys, "--sends", plan, "--sessions", events)["inputs"]["plan"]["sent_before_first_session"] == 3


def test_a_user_in_several_campaigns_counts_in_each(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    decisions = [decision("a", "u", BASE, "sent"), decision("b", "u", BASE + dt.timedelta(days=3), "holdout"),
                 decision("c", "u", BASE + dt.timedelta(days=9), "sent")]
    plan, events = small_inputs(tmp_path, decisions, [{"user_id": "u", "at": iso(BASE + dt.timedelta(days=5))}])
    result = report_json(capsys, "--sends", plan, "--sessions", events, "--now", iso(LATER))
    back = {key: g["came_back"] for key, g in groups_of(result).items()}
    assert back == {("a", "sent"): 1, ("b", "holdout"): 1, ("c", "sent"): 0}  # day 5 is in a's and b's windows only
    assert result["inputs"]["sessions"]["in_window"] == 1


def test_bad_lines_are_reported_counted_and_never_fatal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = [decision("c", f"u{i}", BASE, "sent") for i in range(3)]
    plan = write(tmp_path / "plan.jsonl", "\n".join([
        json.dumps(good[0]),
        "{not json",
        json.dumps({**good[1], "send_at": "tomorrow"}),
        json.dumps({**good[1], "campaign": None}),
        json.dumps(good[1]),
        json.dumps({**good[1], "send_at": iso(BASE + dt.timedelta(hours=1))}),  # a second decision in "c"
        json.dumps({**good[2], "held_out": "yes"}),
        "[1, 2]",
        json.dumps(good[2]),
    ]) + "\n")
    sessions = write(tmp_path / "sessions.jsonl", "\n".join([
        json.dumps({"user_id": "u0", "at": iso(BASE + dt.timedelta(hours=2))}),
        json.dumps({"user_id": "u1"}),
        "oops",
        json.dumps({"user_id": "u2", "at": "2026-12-01T10:00:00"}),  # no offset
        json.dumps({"user_id": "nobody", "at": iso(BASE)}),
        json.dumps({"user_id": "u2", "at": iso(BASE - dt.timedelta(hours=2))}),
    ]) + "\n")
    run = lapse(capsys, "report", "--sends", str(plan), "--sessions", str(sessions), "--now", iso(LATER), "--format", "json")
    assert run.code == 0
    errors = run.err.splitlines()
    assert [e.split(": ", 1)[0] for e in errors] == [f"{plan}:{n}" for n in (2, 3, 4, 6, 7, 8)] + [
        f"{sessions}:{n}" for n in (2, 3, 4)]
    assert "already has a decision in campaign 'c'" in errors[3]
    assert "send_at: 'tomorrow' is not an ISO-8601 time" in errors[1]
    assert errors[2].endswith("decision has no campaign")
    assert errors[4].endswith("held_out must be true or false, not 'yes'")
    assert errors[5].endswith("a decision must be a JSON object, not an array")
    result = json.loads(run.out)
    p, s = result["inputs"]["plan"], result["inputs"]["sessions"]
    assert (p["read"], p["measured"], p["not_measured"], p["rejected"]) == (9, 3, 0, 6)
    assert p["read"] == p["measured"] + p["not_measured"] + p["rejected"]
    assert (s["read"], s["in_window"], s["outside_windows"], s["no_decision"], s["rejected"]) == (6, 1, 1, 1, 3)
    assert groups_of(result)[("c", "sent")] | {"ci_low": None, "ci_high": None} == {
        "group": "sent", "kind": "sent", "users": 3, "came_back": 1, "rate": 1 / 3, "ci_low": None, "ci_high": None,
        "too_small": ["3 users (fewer than --min-group 50)", "1 came back (fewer than 10)",
                      "2 did not come back (fewer than 10)"],
    }


def test_a_plan_written_as_csv_reads_as_its_json_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules, users = ROOT / "rules" / "send_time_experiment.lapse", ROOT / "examples" / "users.jsonl"
    for fmt in ("jsonl", "csv"):
        run = lapse(capsys, "run", str(rules), "--users", str(users), "--now", "2026-11-30T00:00:00Z",
                    "--out", str(tmp_path / f"plan.{fmt}"), "--format", fmt)
        assert run.code == 0, run.err
    rng = random.Random(5)
    decisions = [json.loads(line) for line in (tmp_path / "plan.jsonl").read_text(encoding="utf-8").splitlines()]
    events = [{"user_id": d["user_id"], "at": iso(dt.datetime.fromisoformat(d["send_at"]) + dt.timedelta(hours=h))}
              for d in decisions for h in (rng.choice([-5, 3, 200]),)]
    sessions = write(tmp_path / "sessions.jsonl", "".join(json.dumps(e) + "\n" for e in events))
    both = [report_json(capsys, "--sends", tmp_path / f"plan.{fmt}", "--sessions", sessions, "--now", "2027-03-01T00:00:00Z")
            for fmt in ("jsonl", "csv")]
    assert both[0]["campaigns"] == both[1]["campaigns"]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "plan.csv").read_text(encoding="utf-8"))))
    counts = {key: g["users"] for key, g in groups_of(both[1]).items()}
    assert counts == {key: sum(1 for row in rows if (row["campaign"], "holdout" if row["held_out"] == "true"
                                                     else row["variant"] or "sent") == key) for key in counts}
    came_back = {key: g["came_back"] for key, g in groups_of(both[1]).items()}
    seen: dict[str, list[dt.datetime]] = {}  # a user's sessions: one planted per decision, some users have two
    for event in events:
        seen.setdefault(event["user_id"], []).append(dt.datetime.fromisoformat(event["at"]))
    planted_back: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["campaign"], "holdout" if row["held_out"] == "true" else row["variant"] or "sent")
        sent = dt.datetime.fromisoformat(row["send_at"])
        planted_back[key] = planted_back.get(key, 0) + any(sent < at <= sent + WEEK for at in seen[row["user_id"]])
    assert came_back == planted_back


# too small to conclude -----------------------------------------------------------------------------


def test_small_groups_are_flagged_and_say_so_in_the_verdict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    planted = plant(tmp_path, 8, {"c": {"holdout": (40, 0.5), "noon": (300, 0.02), "evening": (300, 0.5)}})
    result = report_json(capsys, "--sends", planted.plan, "--sessions", planted.sessions, "--now", iso(LATER))
    groups, k = groups_of(result), comparisons_of(result)
    noon_back = planted.truth[("c", "noon")][1]
    assert noon_back < 10  # as planted: few come back
    assert groups[("c", "holdout")]["too_small"] == ["40 users (fewer than --min-group 50)"]
    assert groups[("c", "noon")]["too_small"] == [f"{noon_back} came back (fewer than 10)"]
    assert groups[("c", "evening")]["too_small"] == []
    for key, comparison in k.items():
        assert comparison["verdict"].startswith("too small to conclude: "), key
        assert comparison["too_small"]
    assert k[("c", "evening", "noon")]["verdict"].endswith(f"; noon: {noon_back} came back (fewer than 10)")
    result = report_json(capsys, "--sends", planted.plan, "--sessions", planted.sessions, "--now", iso(LATER),
                         "--min-group", "20")
    assert groups_of(result)[("c", "holdout")]["too_small"] == []
    assert comparisons_of(result)[("c", "evening", "holdout")]["too_small"] == []


def test_an_empty_group_cannot_be_compared(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    decisions = [decision("c", "a", BASE, "sent"), decision("c", "b", LATER, "holdout")]
    plan, events = small_inputs(tmp_path, decisions, [{"user_id": "a", "at": iso(BASE + dt.timedelta(days=20))}])
    result = report_json(capsys, "--sends", plan, "--sessions", events)
    (k,) = result["campaigns"][0]["comparisons"]
    assert k["verdict"] == "cannot compare sent and holdout: no measured user in holdout"
    assert k["p_value"] is None and result["campaigns"][0]["not_measured"] == 1


# the chart ----------------------------------------------------------------------------------------


def test_the_chart_draws_each_groups_rate_and_interval(capsys: pytest.CaptureFixture[str], planted: Planted,
                                                       tmp_path: Path) -> None:
    chart = tmp_path / "lift.png"
    run = lapse(capsys, "report", "--sends", str(planted.plan), "--sessions", str(planted.sessions), "--now", iso(LATER),
                "--chart", str(chart))
    assert run.code == 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open_source(str(planted.plan), rp.PLAN_SCHEMA) as plan:
        watch = rp.read_plan(plan, WEEK, _fail)
    with open_sessions(str(planted.sessions)) as sessions:
        counts = rp.mark_returns(watch, sessions, _fail)
    report = rp.make_report(watch, counts, now=LATER, alpha=0.05, min_group=50, plan="p", sessions="s")
    fig = rp.chart_figure(report)
    try:
        titles = [ax.get_title() for ax in fig.axes]
        assert titles == sorted(c for c in EXPERIMENT)
        for ax in fig.axes:
            drawn = {}
            for container in ax.containers:
                line, _, (bars,) = container.lines
                _, (y,) = line.get_data()
                ((_, low), (_, high)), = bars.get_segments()
                drawn[container.get_label()] = (y, low, high)
            campaign = ax.get_title()
            assert set(drawn) == {group for c, group in planted.truth if c == campaign}
            for group, (y, low, high) in drawn.items():
                users, back = planted.truth[(campaign, group)]
                wilson = sp.proportion_confint(back, users, alpha=0.05, method="wilson")
                assert (y, low, high) == pytest.approx((back / users * 100, wilson[0] * 100, wilson[1] * 100))
            labels = [t.get_text() for t in ax.get_xticklabels()]
            assert all(f"{planted.truth[(campaign, lab.split(chr(10))[0])][1]} of " in lab for lab in labels)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def _fail(line: int, why: str) -> None:
    raise AssertionError(f"line {line}: {why}")


# memory: proportional to the decisions, not the sessions --------------------------------------------


def test_memory_does_not_grow_with_the_sessions() -> None:
    tracemalloc.start()
    try:
        watch = rp.Watch(WEEK)
        for i in range(5_000):
            watch.add(f"u{i:08d}", "Lapsed 3 weeks - send-time test", "variant", "evening", BASE)
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept / len(watch) < 200  # bytes per decision: docs/cli.md says about 150

    def stream(n: int) -> Iterator[tuple[int, Session | str]]:
        for k in range(n):
            yield k + 1, Session(f"u{k % 8_000:08d}", BASE + dt.timedelta(seconds=k), None)

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            rp.mark_returns(watch, stream(n), _fail)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1_000), peak(20_000)
    assert large - small < 10_000, (small, large)  # 19,000 more sessions: a few kilobytes, not megabytes


# usage errors ----------------------------------------------------------------------------------------


IN = ["--sends", "plan.jsonl", "--sessions", "sessions.jsonl"]


@pytest.mark.parametrize(("args", "message"), [
    (["--sends", "-", "--sessions", "-"], "--sends and --sessions cannot both be -"),
    (["--sends", "missing.jsonl", "--sessions", "sessions.jsonl"], "--sends missing.jsonl: no such file"),
    (["--sends", "plan.jsonl", "--sessions", "missing.jsonl"], "--sessions missing.jsonl: no such file"),
    (["--sends", "plan.jsonl", "--sessions", "duckdb:missing.duckdb"], "--sessions missing.duckdb: no such file"),
    (["--sends", "plan.jsonl", "--sessions", "postgresql://u:secret@h/db"],
     "--sessions: lapse report reads files and duckdb:PATH, not postgresql databases"),
    (["--sends", "p.txt", "--sessions", "sessions.jsonl"], "--sends p.txt: a plan is JSON lines (.jsonl, .ndjson) or .csv"),
    ([*IN, "--sessions-table", "events"], "--sessions-table applies to a SQLite file or duckdb:PATH"),
    ([*IN, "--naive-timezone", "Mars/Olympus"], "--naive-timezone Mars/Olympus: "),
    ([*IN, "--chart", "c.svg"], "--chart c.svg: the chart is a PNG image"),
    ([*IN, "--window", "7"], "argument --window: '7' is not a duration"),
    ([*IN, "--window", "0d"], "must be longer than zero"),
    ([*IN, "--window", "400d"], "at most 366d"),
    ([*IN, "--alpha", "0.7"], "argument --alpha: '0.7' is not a significance"),
    ([*IN, "--alpha", "nan"], "argument --alpha: 'nan'"),
    ([*IN, "--min-group", "0"], "argument --min-group: '0' is not a whole"),
    ([*IN, "--now", "2026-12-01"], "argument --now: '2026-12-01' has no UTC"),
])
def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    small_inputs(tmp_path, [decision("c", "u", BASE, "sent")], [])
    write(tmp_path / "p.txt", "")
    run = lapse(capsys, "report", *args)
    assert run.code == 2 and run.out == ""
    assert message in run.err, run.err
    assert not (tmp_path / "c.svg").exists()


def test_a_chart_over_an_input_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plan, _ = small_inputs(tmp_path, [decision("c", "u", BASE, "sent")], [])
    png = write(tmp_path / "s.png", "keep")
    sessions = tmp_path / "sessions.jsonl"
    before = plan.read_bytes()
    run = lapse(capsys, "report", "--sends", str(plan), "--sessions", str(sessions), "--chart", str(tmp_path / "." / "p.png"))
    assert run.code == 0  # another file: fine
    (tmp_path / "link.jsonl").symlink_to(png)
    run = lapse(capsys, "report", "--sends", str(plan), "--sessions", str(tmp_path / "link.jsonl"), "--chart", str(png))
    assert run.code == 2 and "is the --sessions file" in run.err
    assert png.read_text() == "keep" and plan.read_bytes() == before


@pytest.mark.parametrize(("module", "flags", "extra"), [
    ("statsmodels", [], "pip install 'lapse-dsl[stats]'"),
    ("matplotlib", ["--chart", "c.png"], "pip install 'lapse-dsl[charts]'"),
])
def test_a_missing_optional_dependency_names_its_extra(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, module: str, flags: list[str],
                                                      extra: str) -> None:
    monkeypatch.chdir(tmp_path)
    plan, sessions = small_inputs(tmp_path, [decision("c", "u", BASE, "sent")], [])
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    run = lapse(capsys, "report", "--sends", str(plan), "--sessions", str(sessions), *flags)
    assert run.code == 2 and run.out == ""
    assert extra in run.err
    assert not (tmp_path / "c.png").exists()


def test_plan_on_standard_input(tmp_path: Path) -> None:
    plan, sessions = small_inputs(tmp_path, [decision("c", "u", BASE, "sent")],
                                  [{"user_id": "u", "at": iso(BASE + dt.timedelta(days=1))}, "bad"])
    done = subprocess.run([sys.executable, "-m", "lapse_dsl", "report", "--sends", "-", "--sessions", str(sessions),
                           "--now", iso(LATER), "--format", "json"], input=plan.read_text(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"{sessions}:2: invalid JSON: Expecting value at character 1\n"
    result = json.loads(done.stdout)
    assert result["inputs"]["plan"]["path"] == "<stdin>"
    assert groups_of(result)[("c", "sent")]["came_back"] == 1


def test_progress_shows_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(Progress, "LARGE", 0)
    position = iter(range(0, 10**9, 10))
    for tty in (False, True):
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty)
        bar = Progress(30_000, lambda: next(position), "session")
        assert list(with_progress(range(3000), bar)) == list(range(3000))
        err = capsys.readouterr().err
        assert ("sessions" in err) == tty


# the bundled data: examples/sessions.jsonl plants a lift in rules/send_time_experiment.lapse ------


SESSIONS = ROOT / "examples" / "sessions.jsonl"


@pytest.mark.skipif(not SESSIONS.exists(), reason="examples/sessions.jsonl is made by examples/make_sessions.py")
def test_the_bundled_experiment_shows_its_planted_lift(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """examples/make_sessions.py plants return rates holdout 10%, "noon" 10% (no effect), "evening"
    22%: evening must beat noon, and its lead over the holdout must have an interval clear of 0;
    noon must show no detectable difference from the holdout. The bundled holdout is 77 users
    with 8 returns, under the 10 the rule asks for, so its comparisons must say they are too small."""
    plan = tmp_path / "plan.jsonl"
    run = lapse(capsys, "run", str(ROOT / "rules" / "send_time_experiment.lapse"), "--users",
                str(ROOT / "examples" / "users.jsonl"), "--now", "2026-11-30T00:00:00Z", "--out", str(plan))
    assert run.code == 0, run.err
    result = report_json(capsys, "--sends", plan, "--sessions", SESSIONS)
    # the counts, by exact counting over both files
    cutoff = dt.datetime.fromisoformat(result["cutoff"])
    seen: dict[str, list[dt.datetime]] = {}
    for line in SESSIONS.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        try:
            seen.setdefault(event["user_id"], []).append(dt.datetime.fromisoformat(event["at"]))
        except (KeyError, ValueError):
            continue  # the bad rows planted on purpose
    assert cutoff == max(at for ats in seen.values() for at in ats)
    expected: dict[tuple[str, str], list[int]] = {}
    for line in plan.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        send = dt.datetime.fromisoformat(d["send_at"])
        if send + WEEK > cutoff:
            continue
        key = (d["campaign"], "holdout" if d["held_out"] else d["variant"] or "sent")
        counts = expected.setdefault(key, [0, 0])
        counts[0] += 1
        counts[1] += any(send < at <= send + WEEK for at in seen.get(d["user_id"], ()))
    assert {key: [g["users"], g["came_back"]] for key, g in groups_of(result).items()} == expected
    test = "Lapsed 3 weeks - send-time test"
    k = comparisons_of(result)
    assert k[(test, "evening", "noon")]["verdict"].startswith("evening beats noon: +")
    assert k[(test, "evening", "noon")]["ci_low"] > 0
    lift = k[(test, "evening", "holdout")]
    assert lift["ci_low"] > 0
    noon = k[(test, "noon", "holdout")]
    assert noon["ci_low"] < 0 < noon["ci_high"] and not noon["significant"]
    assert not groups_of(result)[(test, "holdout")]["too_small"]  # the bundled 20% holdout is large enough
    assert lift["verdict"].startswith("evening beats holdout: +")
    assert noon["verdict"].startswith("no detectable difference between noon and holdout: ")


def test_sessions_from_sqlite_and_duckdb_tables_and_naive_times(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import sqlite3

    import duckdb

    decisions = [decision("c", f"u{i}", BASE, "sent") for i in range(3)]
    plan, _ = small_inputs(tmp_path, decisions, [])
    rows = [("u0", "2026-12-01T00:30:00"), ("u1", "2026-12-09T00:30:00"), ("u2", "2026-12-01T01:30:00")]
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("CREATE TABLE events (user_id TEXT, at TEXT)")
    conn.executemany("INSERT INTO events VALUES (?, ?)", rows)
    conn.commit()
    conn.close()
    db = duckdb.connect(str(tmp_path / "s.duckdb"))
    db.execute('CREATE TABLE events (user_id VARCHAR, "at" VARCHAR)')
    db.executemany("INSERT INTO events VALUES (?, ?)", rows)
    db.close()
    for source in (str(tmp_path / "s.db"), f"duckdb:{tmp_path / 's.duckdb'}"):
        # in Berlin (UTC+1) 00:30 is before the send at midnight UTC, 01:30 after it
        result = report_json(capsys, "--sends", plan, "--sessions", source, "--sessions-table", "events",
                             "--naive-timezone", "Europe/Berlin", "--now", iso(LATER))
        assert groups_of(result)[("c", "sent")]["came_back"] == 1, source
        s = result["inputs"]["sessions"]
        assert (s["in_window"], s["outside_windows"], s["rejected"]) == (1, 2, 0)
        run = lapse(capsys, "report", "--sends", str(plan), "--sessions", source, "--sessions-table", "events")
        assert run.code == 0 and run.err.count("has no UTC offset") == 3  # without --naive-timezone: rejected, counted
