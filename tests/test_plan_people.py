"""``lapse plan`` for people (issue 14, item 5): one row per campaign with a column per week, the
sends per hour of the day on the user's own clock and in UTC, ``--format csv|json``, ``--chart``,
a progress bar on a terminal, every record accounted for and rejected records reported as
``lapse run`` reports them.

The expectations are computed independently: the per-campaign rows and both hour tables by
replaying the projection with ``lapse run`` itself (each user evaluated at its own cursor, the
decisions of the earliest instant appended to its history) and bucketing ``lapse run``'s JSON
output here; the machine formats are checked against the text and against each other.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import datetime as dt
import io
import json
import re
import sys
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from lapse_dsl import load
from lapse_dsl.cli import main
from lapse_dsl.projection import CHART_TOP, chart_data, draw_chart, project
from lapse_dsl.sources import open_source

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
USERS = ROOT / "examples" / "users.jsonl"
NOW = "2026-11-30T00:00:00Z"
START = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
WEEKS = 3
SAMPLE = 45  # users of examples/users.jsonl replayed (the replay runs `lapse run` once per distinct cursor)
HEADER = re.compile(
    r"send plan from (\S+) for (\d+) weeks?: (\d+) sends? \((\d+) held out\) to (\d+) users?; (\d+) records? read, "
    r"(\d+) rejected"
)
ACCOUNTED = re.compile(r"accounted for: (\d+) read = (\d+) with sends \+ (\d+) without \+ (\d+) rejected \((.*)\)")
HOUR = re.compile(r"(\d\d):00 +(\d+) +#* +(\d+) *#*")


# the text, parsed ---------------------------------------------------------------------------------


@attrs.frozen
class Table:
    header: tuple[int, int, int, int, int, int]  # weeks, sends, held out, recipients, records read, rejected
    campaigns: list[str]
    rows: dict[str, tuple[list[int], int, int]]  # campaign -> (sends per week, total, held out)
    total: tuple[list[int], int, int]
    week_starts: list[str]
    local_hours: list[int]
    utc_hours: list[int]
    accounted: tuple[int, int, int, int, str]  # read, with sends, without, rejected, verdict
    warnings: list[str]

    @property
    def weeks(self) -> dict[str, list[int]]:
        """Week start -> each campaign's sends that week, then the week's total."""
        return {start: [self.rows[c][0][w] for c in self.campaigns] + [self.total[0][w]]
                for w, start in enumerate(self.week_starts)}

    @property
    def hours(self) -> dict[int, int]:
        """UTC hour -> sends."""
        return dict(enumerate(self.utc_hours))


def parse_plan(text: str) -> Table:
    """``lapse plan``'s text output, read back by its documented layout."""
    lines = text.splitlines()
    found = HEADER.fullmatch(lines[0])
    assert found is not None, text
    header = tuple(int(found.group(i)) for i in range(2, 8))
    warnings = [line for line in lines[1:] if line.startswith("warning: ")]
    lines = [lines[0], *(line for line in lines[1:] if not line.startswith("warning: "))]
    assert lines[1] == "" and lines[2].startswith("sends per campaign and week"), text
    # blocks of at most 8 weeks, separated by a blank line; the last has the total and held out columns
    week_starts: list[str] = []
    counts: dict[str, list[int]] = collections.defaultdict(list)
    i = 3
    while True:
        heads = lines[i].split()
        assert heads[0] == "campaign", lines[i]
        last = lines[i].endswith("total  held out")
        starts = heads[1:-3] if last else heads[1:]
        assert 1 <= len(starts) <= 8
        for start in starts:
            dt.date.fromisoformat(start)
        week_starts += starts
        cells = len(starts) + (2 if last else 0)
        i += 1
        while not lines[i].startswith("---"):
            name, numbers = _row(lines[i], cells)
            counts[name] += numbers
            i += 1
        total_name, numbers = _row(lines[i + 1], cells)
        assert total_name == "all campaigns" and lines[i + 2] == ""
        counts[""] += numbers
        i += 3
        if last:
            break
    rows = {name: (c[:-2], c[-2], c[-1]) for name, c in counts.items()}
    total = rows.pop("")
    assert lines[i] == "sends per hour of the day: local (each user's own clock) and UTC"
    assert lines[i + 1].split() == ["hour", "local", "UTC"]
    local, utc = [], []
    for hour, line in enumerate(lines[i + 2 : i + 26]):
        matched = HOUR.fullmatch(line)
        assert matched is not None and int(matched.group(1)) == hour, line
        local.append(int(matched.group(2)))
        utc.append(int(matched.group(3)))
    assert lines[i + 26] == ""
    accounted = ACCOUNTED.fullmatch(lines[i + 27])
    assert accounted is not None and len(lines) == i + 28, text
    read, with_sends, without, rejected = (int(accounted.group(k)) for k in range(1, 5))
    return Table(header, list(rows), rows, total, week_starts, local, utc,  # type: ignore[arg-type]
                 (read, with_sends, without, rejected, accounted.group(5)), warnings)


def _row(line: str, cells: int) -> tuple[str, list[int]]:
    """A table row: the campaign (which may hold spaces) and its last ``cells`` numbers."""
    words = line.split()
    return " ".join(words[:-cells]), [int(c) for c in words[-cells:]]


# running the command -------------------------------------------------------------------------------


@attrs.frozen
class Run:
    code: int
    out: str
    err: str


def lapse(*args: str | Path) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return Run(code, out.getvalue(), err.getvalue())


def write_jsonl(path: Path, records: list[dict[str, Any] | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


# the independent projection: `lapse run`, replayed --------------------------------------------------


@attrs.frozen
class Replayed:
    sends: list[dict[str, Any]]  # lapse run's decisions, as planned
    users_with_sends: int
    users_without: int
    errors: list[str]  # lapse run's rejected-record lines


def replay(tmp_path: Path, rules: Path, records: list[dict[str, Any] | str], now: dt.datetime, weeks: int) -> Replayed:
    """What the projection must plan, from ``lapse run``'s output: each user is evaluated at its
    cursor; the decisions at the earliest instant before the end are planned and appended to its
    history; the cursor moves a microsecond past them. Users sharing a cursor share one run."""
    end = now + dt.timedelta(weeks=weeks)
    source = write_jsonl(tmp_path / "all.jsonl", records)
    first = lapse("run", rules, "--users", source, "--now", now.isoformat(), "--out", tmp_path / "first.jsonl",
                  "--errors", tmp_path / "errors.jsonl")
    assert first.code == 0, first
    errors = (tmp_path / "errors.jsonl").read_text(encoding="utf-8").splitlines()
    rejected = {json.loads(e)["line"] for e in errors}
    users = {i: dict(r) for i, r in enumerate(records, 1) if i not in rejected and not isinstance(r, str)}
    for user in users.values():
        user["history"] = []
    cursors = {i: now for i in users}
    planned: list[dict[str, Any]] = []
    sent: set[int] = set()
    while cursors:
        cursor = min(cursors.values())
        group = sorted(i for i, c in cursors.items() if c == cursor)
        batch = write_jsonl(tmp_path / "batch.jsonl", [users[i] for i in group])
        run = lapse("run", rules, "--users", batch, "--now", cursor.isoformat(), "--out", tmp_path / "batch.out")
        assert run.code == 0 and "(ok)" in run.err, run
        decided: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for line in (tmp_path / "batch.out").read_text(encoding="utf-8").splitlines():
            decision = json.loads(line)
            if dt.datetime.fromisoformat(decision["send_at"]) < end:
                decided[decision["user_id"]].append(decision)
        for i in group:
            mine = decided[users[i]["user_id"]]
            if not mine:
                del cursors[i]
                continue
            at = min(dt.datetime.fromisoformat(d["send_at"]) for d in mine)
            tick = [d for d in mine if dt.datetime.fromisoformat(d["send_at"]) == at]
            planned += tick
            sent.add(i)
            users[i]["history"] += [{"campaign": d["campaign"], "channel": d["channel"], "at": d["send_at"]}
                                    for d in tick]
            cursors[i] = at + dt.timedelta(microseconds=1)
    return Replayed(planned, len(sent), len(users) - len(sent), errors)


def buckets(sends: list[dict[str, Any]], now: dt.datetime, weeks: int) -> dict[str, Any]:
    """Weeks per campaign (sends, held out), local and UTC hours, from decision records."""
    per_week: dict[str, list[int]] = collections.defaultdict(lambda: [0] * weeks)
    held: collections.Counter[str] = collections.Counter()
    per_day: dict[str, list[int]] = collections.defaultdict(lambda: [0] * (7 * weeks))
    local, utc = [0] * 24, [0] * 24
    for d in sends:
        at = dt.datetime.fromisoformat(d["send_at"])
        per_week[d["campaign"]][(at - now) // dt.timedelta(weeks=1)] += 1
        per_day[d["campaign"]][(at - now) // dt.timedelta(days=1)] += 1
        held[d["campaign"]] += d["held_out"]
        local[dt.datetime.fromisoformat(d["local_send_at"]).hour] += 1
        utc[at.astimezone(dt.UTC).hour] += 1
    return {"weeks": dict(per_week), "days": dict(per_day), "held": held, "local": local, "utc": utc}


# the sample: examples/users.jsonl's first users, and its malformed records ---------------------------


def sample_records(tmp_path: Path) -> list[dict[str, Any] | str]:
    """The first users, five more that are held out of a campaign's first send within the weeks,
    and the malformed records, in file order."""
    lines = USERS.read_text(encoding="utf-8").splitlines()
    head = write_jsonl(tmp_path / "head.jsonl", [line for line in lines[:800] if line.endswith("}")])
    run = lapse("run", RULES, "--users", head, "--now", NOW, "--out", tmp_path / "head.out")
    assert run.code == 0, run
    decisions = [json.loads(line) for line in (tmp_path / "head.out").read_text(encoding="utf-8").splitlines()]
    end = START + dt.timedelta(weeks=WEEKS)
    held = sorted({d["user_id"] for d in decisions if d["held_out"] and dt.datetime.fromisoformat(d["send_at"]) < end})
    records: list[dict[str, Any] | str] = []
    for line in lines[:SAMPLE]:
        records.append(json.loads(line))
    records += [json.loads(line) for line in lines[SAMPLE:800] if json.loads(line)["user_id"] in held[:5]]
    for line in lines[800:]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            records.append(line)  # kept as written: it is rejected
            continue
        if "user_id" not in record or not str(record.get("last_used")).endswith("Z"):
            records.append(record)
    return records


@attrs.frozen
class Outputs:
    text: Run
    csv: Run
    json: Run
    replayed: Replayed
    read: int  # records in the sample


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    tmp_path = tmp_path_factory.mktemp("plan")
    assert all(rule.status != "draft" for rule in load(RULES).rules), "the replay runs `lapse run`, which skips drafts"
    records = sample_records(tmp_path)
    users = write_jsonl(tmp_path / "sample.jsonl", records)
    runs = [lapse("plan", RULES, "--users", users, "--now", NOW, "--weeks", str(WEEKS), "--format", fmt)
            for fmt in ("text", "csv", "json")]
    return Outputs(*runs, replay(tmp_path, RULES, records, START, WEEKS), len(records))


# per-campaign rows and hour tables equal lapse run's, replayed ---------------------------------------


@pytest.mark.slow  # the replay runs `lapse run` a hundred times
def test_campaign_rows_and_hours_equal_lapse_run_replayed(outputs: Outputs) -> None:
    assert outputs.text.code == 0
    table = parse_plan(outputs.text.out)
    expected = buckets(outputs.replayed.sends, START, WEEKS)
    names = sorted(rule.name for rule in load(RULES).rules)
    assert table.campaigns == names  # one row per campaign, every campaign, by name
    # the sample exercises many campaigns, held-out users, several weeks
    assert len(outputs.replayed.sends) > 50 and len(expected["weeks"]) >= 5 and sum(expected["held"].values()) >= 2
    for name in names:
        weeks = expected["weeks"].get(name, [0] * WEEKS)
        assert table.rows[name] == (weeks, sum(weeks), expected["held"][name]), name
    assert table.total == ([sum(col) for col in zip(*expected["weeks"].values(), strict=True)],
                           len(outputs.replayed.sends), sum(expected["held"].values()))
    assert table.local_hours == expected["local"]
    assert table.utc_hours == expected["utc"]
    assert table.local_hours != table.utc_hours  # users in many zones: the two views differ
    assert table.week_starts == ["2026-11-30", "2026-12-07", "2026-12-14"]


@pytest.mark.slow
def test_every_record_is_accounted_for_and_rejections_are_those_of_lapse_run(outputs: Outputs) -> None:
    table = parse_plan(outputs.text.out)
    replayed = outputs.replayed
    rejected = len(replayed.errors)
    assert rejected == 4  # the sample keeps examples/users.jsonl's four malformed records
    read = outputs.read
    assert table.accounted == (read, replayed.users_with_sends, replayed.users_without, rejected,
                               "incomplete: 4 records rejected")
    assert table.header == (WEEKS, len(replayed.sends), sum(d["held_out"] for d in replayed.sends),
                            replayed.users_with_sends, read, rejected)
    assert outputs.text.err.splitlines() == replayed.errors  # the same lines as lapse run writes


# the machine formats agree with the text and with each other -------------------------------------------


def csv_rows(run: Run) -> list[dict[str, str]]:
    assert run.code == 0
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert rows and list(rows[0]) == ["table", "campaign", "start", "hour", "sends", "held_out"]
    return rows


@pytest.mark.slow
def test_csv_agrees_with_the_text(outputs: Outputs) -> None:
    table = parse_plan(outputs.text.out)
    rows = csv_rows(outputs.csv)
    tables = collections.Counter(r["table"] for r in rows)
    n = len(table.campaigns)
    assert tables == {"week": n * WEEKS, "day": n * 7 * WEEKS, "local_hour": n * 24, "utc_hour": n * 24}
    weeks: dict[str, list[int]] = collections.defaultdict(list)
    held: collections.Counter[str] = collections.Counter()
    for r in rows:
        if r["table"] == "week":
            weeks[r["campaign"]].append(int(r["sends"]))
            held[r["campaign"]] += int(r["held_out"])
            assert r["start"] == f"{table.week_starts[len(weeks[r['campaign']]) - 1]}T00:00:00Z" and r["hour"] == ""
    assert {c: (w, sum(w), held[c]) for c, w in weeks.items()} == table.rows
    days: dict[str, list[int]] = collections.defaultdict(list)
    for r in rows:
        if r["table"] == "day":
            days[r["campaign"]].append(int(r["sends"]))
    assert {c: [sum(d[7 * w : 7 * w + 7]) for w in range(WEEKS)] for c, d in days.items()} == weeks
    for kind, expected in (("local_hour", table.local_hours), ("utc_hour", table.utc_hours)):
        hours = [0] * 24
        for r in rows:
            if r["table"] == kind:
                hours[int(r["hour"])] += int(r["sends"])
        assert hours == expected, kind
    # what the table cannot hold goes to standard error: the warnings and the accounting
    assert [line for line in outputs.csv.err.splitlines() if not line.startswith("{")] == [
        *table.warnings, outputs.text.out.splitlines()[-1]]


@pytest.mark.slow
def test_json_agrees_with_the_text_and_the_csv(outputs: Outputs) -> None:
    table = parse_plan(outputs.text.out)
    assert outputs.json.code == 0
    data = json.loads(outputs.json.out)
    read, with_sends, without, rejected, _ = table.accounted
    assert data["records"] == {"read": read, "with_sends": with_sends, "without_sends": without, "rejected": rejected}
    assert (data["from"], data["to"], data["weeks"]) == (NOW, "2026-12-21T00:00:00Z", WEEKS)
    assert data["warnings"] == [w.removeprefix("warning: ") for w in table.warnings]
    assert data["week_starts"] == [f"{s}T00:00:00Z" for s in table.week_starts]
    assert [c["campaign"] for c in data["campaigns"]] == table.campaigns
    for c in data["campaigns"]:
        assert (c["sends_by_week"], c["sends"], c["held_out"]) == table.rows[c["campaign"]]
    total = data["total"]
    assert (total["sends_by_week"], total["sends"], total["held_out"]) == table.total
    assert total["sends_by_local_hour"] == table.local_hours and total["sends_by_utc_hour"] == table.utc_hours
    # every csv row is a number of the json
    fields = {"week": "by_week", "day": "by_day", "local_hour": "by_local_hour", "utc_hour": "by_utc_hour"}
    starts = {"week": data["week_starts"], "day": data["day_starts"]}
    campaigns = {c["campaign"]: c for c in data["campaigns"]}
    for r in csv_rows(outputs.csv):
        c = campaigns[r["campaign"]]
        index = int(r["hour"]) if r["hour"] else starts[r["table"]].index(r["start"])
        assert (int(r["sends"]), int(r["held_out"])) == (c["sends_" + fields[r["table"]]][index],
                                                           c["held_out_" + fields[r["table"]]][index]), r
    assert outputs.json.err == outputs.text.err  # the rejected records, as in every format


# local and UTC hours, on a case worked out by hand ---------------------------------------------------

THURSDAY = """\
campaign "Thursday" {
    segment "Opted in": push_opted_in
    send push weekly thu 17:45 local
}
"""


def test_local_hours_are_the_users_clock_and_utc_hours_the_instant(tmp_path: Path) -> None:
    rules = tmp_path / "thu.lapse"
    rules.write_text(THURSDAY, encoding="utf-8")
    zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "Asia/Kolkata"]
    users = write_jsonl(tmp_path / "u.jsonl", [{"user_id": z, "timezone": z, "push_opted_in": True} for z in zones])
    run = lapse("plan", rules, "--users", users, "--now", NOW, "--weeks", "1")
    table = parse_plan(run.out)
    thursday = dt.datetime(2026, 12, 3, 17, 45)
    utc = [0] * 24
    for zone in zones:
        utc[thursday.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.UTC).hour] += 1
    assert table.local_hours == [4 if h == 17 else 0 for h in range(24)]
    assert table.utc_hours == utc and utc.count(0) == 20  # four zones, four UTC hours
    assert table.rows == {"Thursday": ([4], 4, 0)}


# the projection keeps the meaning it had; the one fix: every send of one instant -----------------------

TWO_AT_ONCE = """\
default timezone "UTC"

campaign "Push" {
    segment "Opted in": push_opted_in
    send push weekly thu 17:45 local
}

campaign "Email" {
    segment "Subscribed": email_subscribed
    send email weekly thu 17:45 local
    reeligible after 1w
}
"""


def test_plan_keeps_every_send_of_one_instant(tmp_path: Path) -> None:
    """Two campaigns due at the same instant: one scheduler tick sends both, so the plan has
    both (it used to plan one, move past the instant and lose the other)."""
    rules = tmp_path / "two.lapse"
    rules.write_text(TWO_AT_ONCE, encoding="utf-8")
    users = write_jsonl(tmp_path / "u.jsonl", [{"user_id": "a", "push_opted_in": True, "email_subscribed": True}])
    table = parse_plan(lapse("plan", rules, "--users", users, "--now", NOW, "--weeks", "2").out)
    # Push once (no re-eligibility), Email every Thursday
    assert table.rows == {"Email": ([1, 1], 2, 0), "Push": ([1, 0], 1, 0)}
    replayed = replay(tmp_path, rules, [{"user_id": "a", "push_opted_in": True, "email_subscribed": True}], START, 2)
    assert sorted((d["campaign"], d["send_at"]) for d in replayed.sends) == [
        ("Email", "2026-12-03T17:45:00Z"), ("Email", "2026-12-10T17:45:00Z"), ("Push", "2026-12-03T17:45:00Z")]


# rejected records ---------------------------------------------------------------------------------------


def test_rejected_records_go_to_errors_and_are_counted(tmp_path: Path) -> None:
    records: list[dict[str, Any] | str] = [
        {"user_id": "a", "push_opted_in": True}, "not json", {"push_opted_in": True},
        {"user_id": "b", "push_opted_in": "yes"}, {"user_id": "c", "push_opted_in": False}, "[1]",
    ]
    rules = tmp_path / "thu.lapse"
    rules.write_text(THURSDAY, encoding="utf-8")
    users = write_jsonl(tmp_path / "u.jsonl", records)
    run = lapse("run", rules, "--users", users, "--now", NOW, "--out", tmp_path / "out.jsonl", "--errors",
                tmp_path / "run-errors.jsonl")
    plan = lapse("plan", rules, "--users", users, "--now", NOW, "--errors", tmp_path / "plan-errors.jsonl")
    assert run.code == plan.code == 0 and plan.err == ""
    written = (tmp_path / "plan-errors.jsonl").read_text(encoding="utf-8")
    assert written == (tmp_path / "run-errors.jsonl").read_text(encoding="utf-8")
    assert [json.loads(line)["line"] for line in written.splitlines()] == [2, 3, 4, 6]
    table = parse_plan(plan.out)
    assert table.accounted == (6, 1, 1, 4, "incomplete: 4 records rejected")


# the chart ----------------------------------------------------------------------------------------------


def many_campaigns(count: int) -> str:
    """``count`` campaigns, the k-th sending to users whose ``sessions`` is at least k: campaign k
    sends to ``count - k + 1`` of ``count`` users (one each), so they all differ in size."""
    return "".join(f'campaign "C{k:02d}" {{\n    segment "S{k}": sessions >= {k}\n    send push daily {k % 24:02d}:30 '
                   f'local\n}}\n\n' for k in range(1, count + 1))


def test_chart_data_draws_the_top_campaigns_and_other(tmp_path: Path) -> None:
    rules = tmp_path / "many.lapse"
    rules.write_text(many_campaigns(14) + 'campaign "Silent" {\n    segment "None": sessions > 99\n'
                     "    send push daily 10:00 local\n}\n", encoding="utf-8")
    users = write_jsonl(tmp_path / "u.jsonl", [{"user_id": f"u{k}", "sessions": k} for k in range(1, 15)])
    ruleset = load(rules)
    plan = project(ruleset, open_source(str(users), ruleset.schema), START, 2)
    data = chart_data(plan)
    labels = [label for label, _, _ in data.series]
    # the largest first (C01 reaches 14 users, C14 one), the rest as one series
    assert labels == [f"C{k:02d}" for k in range(1, CHART_TOP + 1)] + ["other (6 campaigns)"]
    assert data.silent == 1
    by_name = {c.campaign: c for c in plan.campaigns}
    for label, days, hours in data.series[:-1]:
        assert (days, hours) == (by_name[label].days, by_name[label].local_hours)
        assert sum(days) == (15 - int(label[1:])) and hours[int(label[1:]) % 24] == sum(days)
    _, other_days, other_hours = data.series[-1]
    rest = [by_name[f"C{k:02d}"] for k in range(CHART_TOP + 1, 15)]
    assert other_days == tuple(map(sum, zip(*(c.days for c in rest), strict=True)))
    assert other_hours == tuple(map(sum, zip(*(c.local_hours for c in rest), strict=True)))
    assert data.days == plan.day_starts and len(data.days) == 14 and data.utc_hours == plan.total.utc_hours
    assert sum(map(sum, (days for _, days, _ in data.series))) == plan.sends
    # one campaign too many for the top: it is drawn by its name, not as "other (1 campaign)"
    assert [label for label, _, _ in chart_data(plan, top=13).series] == [f"C{k:02d}" for k in range(1, 15)]
    draw_chart(plan, str(tmp_path / "plan.png"))
    assert (tmp_path / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chart_flag_writes_a_png(tmp_path: Path) -> None:
    rules = tmp_path / "thu.lapse"
    rules.write_text(THURSDAY, encoding="utf-8")
    users = write_jsonl(tmp_path / "u.jsonl", [{"user_id": "a", "push_opted_in": True}])
    run = lapse("plan", rules, "--users", users, "--now", NOW, "--chart", tmp_path / "plan.png", "--format", "json")
    assert run.code == 0 and run.err == f"chart written to {tmp_path / 'plan.png'}\n"
    assert json.loads(run.out)["total"]["sends_by_week"] == [1, 0, 0, 0]  # once: no re-eligibility
    assert (tmp_path / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("chart", "message"), [
    ("plan.svg", "--chart plan.svg: the chart is a PNG file; name it FILE.png"),
    ("missing/plan.png", "--chart missing/plan.png: cannot write in missing"),
    ("u.jsonl", "--chart u.jsonl: the chart is a PNG file"),
])
def test_chart_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chart: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("thu.lapse").write_text(THURSDAY, encoding="utf-8")
    write_jsonl(Path("u.jsonl"), [{"user_id": "a", "push_opted_in": True}])
    run = lapse("plan", "thu.lapse", "--users", "u.jsonl", "--now", NOW, "--chart", chart)
    assert (run.code, run.out) == (2, "") and f"lapse: error: {message}" in run.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thu.lapse", "u.jsonl"]


def test_chart_or_errors_that_is_an_input_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("rules.png").mkdir()
    Path("rules.png/thu.lapse").write_text(THURSDAY, encoding="utf-8")
    write_jsonl(Path("u.jsonl"), [{"user_id": "a", "push_opted_in": True}])
    run = lapse("plan", "rules.png/thu.lapse", "--users", "u.jsonl", "--now", NOW, "--errors", "./u.jsonl")
    assert run.code == 2 and "--errors ./u.jsonl is the users file (u.jsonl): writing it would destroy" in run.err
    run = lapse("plan", "rules.png", "--users", "u.jsonl", "--now", NOW, "--chart", "x.png", "--errors", "x.png")
    assert run.code == 2 and "--chart and --errors are the same file (x.png)" in run.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.png", "u.jsonl"]


def test_chart_without_matplotlib_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    rules = tmp_path / "thu.lapse"
    rules.write_text(THURSDAY, encoding="utf-8")
    users = write_jsonl(tmp_path / "u.jsonl", [{"user_id": "a", "push_opted_in": True}])
    run = lapse("plan", rules, "--users", users, "--now", NOW, "--chart", tmp_path / "plan.png")
    assert (run.code, run.out) == (2, "")
    assert run.err == "lapse: error: --chart needs matplotlib: pip install 'lapse-dsl[charts]'\n"
    assert not (tmp_path / "plan.png").exists()


# the progress bar ------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def terminal() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), Terminal()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def test_progress_bar_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "thu.lapse"
    rules.write_text(THURSDAY, encoding="utf-8")
    users = write_jsonl(tmp_path / "u.jsonl", [{"user_id": f"u{k}", "push_opted_in": True} for k in range(3)] + ["{"])
    monkeypatch.setattr("lapse_dsl.progress.Progress.INTERVAL", 0.0)  # draw at every user
    with terminal() as (out, err):
        assert main(["plan", str(rules), "--users", str(users), "--now", NOW]) == 0
    drawn = err.getvalue()
    assert "\r[" in drawn and "  1 user projected" in drawn and "  3 users projected" in drawn
    # the bar is erased before the rejected record's line and at the end
    rejection = drawn.index('{"line": 4')
    assert drawn[:rejection].endswith(" " * 70 + "\r") and drawn.endswith(" " * 70 + "\r")
    assert parse_plan(out.getvalue()).accounted == (4, 3, 0, 1, "incomplete: 1 record rejected")
    plain = lapse("plan", rules, "--users", users, "--now", NOW)
    assert "\r" not in plain.err and plain.out == out.getvalue()


# a long plan ----------------------------------------------------------------------------------------

WEEKLY = """\
default timezone "Europe/Paris"

campaign "Weekly" {
    segment "Opted in": push_opted_in
    send push weekly mon 09:00 local
    reeligible after 1w
}
"""


def test_a_long_plan_prints_its_weeks_in_blocks(tmp_path: Path) -> None:
    rules = tmp_path / "weekly.lapse"
    rules.write_text(WEEKLY, encoding="utf-8")
    users = write_jsonl(tmp_path / "u.jsonl", [{"user_id": "a", "push_opted_in": True}])
    text = lapse("plan", rules, "--users", users, "--now", NOW, "--weeks", "17")
    lines = text.out.splitlines()
    assert [len(line.split()) - 1 for line in lines if line.startswith("campaign ")] == [8, 8, 1 + 3]
    table = parse_plan(text.out)
    data = json.loads(lapse("plan", rules, "--users", users, "--now", NOW, "--weeks", "17", "--format", "json").out)
    assert table.week_starts == [s.removesuffix("T00:00:00Z") for s in data["week_starts"]]
    assert table.rows == {"Weekly": ([1] * 17, 17, 0)}  # every Monday 09:00 Paris, re-eligible after a week
    assert data["campaigns"][0]["sends_by_week"] == [1] * 17
    assert table.local_hours[9] == 17 and table.utc_hours[8] == 17  # Paris is UTC+1 until 2027-03-28
