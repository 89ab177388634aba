"""Differential tests: the SQL that ``lapse_dsl.sql`` writes, run by DuckDB, PostgreSQL and Spark over
100,000 seeded users aimed at the edges, gives exactly the plugin's answers, user by user.

- ``segment_sql`` (and ``segment_predicate``) = the users whose ``RuleSet.in_segment(...)[rule]`` is
  True, for every rule and several instants (both 2026 New York DST weeks among them);
- ``next_occurrence_sql`` = the users in the segment at their delivery zone's next occurrence, with
  that occurrence as ``send_at`` (reference path: occurrences + Moment + truth), which in turn
  agrees with ``RuleSet.evaluate`` for rules without delivery controls;
- ``candidates_sql`` returns every user ``evaluate`` gives a decision;
- sqlite refuses time conditions with ``UnsupportedError`` and runs static ones.

PostgreSQL: ``LAPSE_TEST_POSTGRES`` (a URL) when set, else a throwaway cluster started here with
the machine's initdb/pg_ctl. Spark: pyspark in local mode on 127.0.0.1 with the machine's Java.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import lapse_dsl
from lapse_dsl import nodes as n
from lapse_dsl.evaluate import delivery_zone
from lapse_dsl.sql import candidates_sql, next_occurrence_sql, segment_predicate, segment_sql

sys.path.insert(0, str(Path(__file__).parent))
import sql_support as s

UTC = dt.UTC
Rows = list[tuple[Any, ...]]


# Population and the plugin's answers (computed once, shared by every engine) ------------------------


@functools.cache
def users() -> list[dict[str, Any]]:
    return s.make_users()


@functools.cache
def rows() -> list[tuple[Any, ...]]:
    return [s.row(u) for u in users()]


@functools.cache
def rule_sets() -> dict[str, lapse_dsl.RuleSet]:
    return s.rule_sets()


@functools.cache
def segment_ref(set_name: str, at: dt.datetime) -> dict[str, set[str]]:
    return s.segment_reference(rule_sets()[set_name], users(), at)


@functools.cache
def next_ref(set_name: str, at: dt.datetime) -> dict[str, dict[str, dt.datetime]]:
    return s.next_reference(rule_sets()[set_name], users(), at)


@functools.cache
def decisions(set_name: str, now: dt.datetime) -> dict[str, dict[str, dt.datetime]]:
    return s.decisions(rule_sets()[set_name], users(), now)


@functools.cache
def by_id() -> dict[str, dict[str, Any]]:
    return {u["user_id"]: u for u in users()}


# Engines ---------------------------------------------------------------------------------------------


class Engine:
    """Runs SQL and returns rows; ``send_at`` comes back as an aware UTC datetime."""

    dialect: str

    def load(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def ids(self, sql: str) -> list[str]:
        raise NotImplementedError

    def sends(self, sql: str) -> list[tuple[str, dt.datetime]]:
        raise NotImplementedError


class DuckDB(Engine):
    dialect = "duckdb"

    def __init__(self) -> None:
        import duckdb

        self.con = duckdb.connect()
        # the session zone must not matter: every constant carries its offset
        self.con.execute("SET TimeZone = 'America/New_York'")
        self.load("users", rows())

    def load(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        s.load_duckdb(self.con, rows, table)

    def ids(self, sql: str) -> list[str]:
        return [r[0] for r in self.con.execute(sql).fetchall()]

    def sends(self, sql: str) -> list[tuple[str, dt.datetime]]:
        out = self.con.execute(f"SELECT user_id, epoch_us(send_at) FROM ({sql}) AS q").fetchall()
        return [(uid, _from_micros(us)) for uid, us in out]


class Postgres(Engine):
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg

        # the session zone must not matter either
        self.con = psycopg.connect(url, options="-c TimeZone=Asia/Kathmandu", autocommit=False)
        self.load("users", rows())

    def load(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        s.load_postgres(self.con, rows, table)

    def _run(self, sql: str) -> Rows:
        with self.con.cursor() as cur:
            cur.execute(sql.encode())  # bytes: run as given, no client-side placeholders
            result = cur.fetchall()
        self.con.rollback()
        return result

    def ids(self, sql: str) -> list[str]:
        return [r[0] for r in self._run(sql)]

    def sends(self, sql: str) -> list[tuple[str, dt.datetime]]:
        return [(uid, at.astimezone(UTC)) for uid, at in self._run(f"SELECT user_id, send_at FROM ({sql}) AS q")]

    def close(self) -> None:
        self.con.close()


class Spark(Engine):
    dialect = "spark"

    def __init__(self) -> None:
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
        from pyspark.sql import SparkSession

        self.session = (
            SparkSession.builder.master("local[2]")
            .appName("lapse-sql-differential")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .getOrCreate()
        )
        self.session.sparkContext.setLogLevel("ERROR")
        self.load("users", rows())
        self.session.catalog.cacheTable("users")
        assert self.session.table("users").count() == len(rows())

    def load(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        self.session.createDataFrame(rows, schema=s.spark_schema()).createOrReplaceTempView(table)

    def ids(self, sql: str) -> list[str]:
        return [r[0] for r in self.session.sql(sql).collect()]

    def sends(self, sql: str) -> list[tuple[str, dt.datetime]]:
        out = self.session.sql(f"SELECT user_id, unix_micros(send_at) FROM ({sql}) AS q").collect()
        return [(r[0], _from_micros(r[1])) for r in out]

    def close(self) -> None:
        self.session.stop()


def _from_micros(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=us)


def _postgres_url() -> Iterator[str]:
    url = os.environ.get("LAPSE_TEST_POSTGRES")
    if url:
        yield url
        return
    try:
        server = s.ThrowawayPostgres()
        url = server.start()
    except Exception as exc:  # no PostgreSQL on this machine
        message = f"LAPSE_TEST_POSTGRES is not set and no throwaway PostgreSQL could be started: {exc}"
        pytest.fail(message + " (install PostgreSQL, e.g. apt-get install postgresql, as .ci/run does)", pytrace=False)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def duckdb_engine() -> Iterator[Engine]:
    yield DuckDB()


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[Engine]:
    for url in _postgres_url():
        engine = Postgres(url)
        try:
            yield engine
        finally:
            engine.close()


@pytest.fixture(scope="module")
def spark_engine() -> Iterator[Engine]:
    engine = Spark()
    try:
        yield engine
    finally:
        engine.close()


ENGINES = ("duckdb", "postgres", "spark")
# what each engine needs: pytest -m "not spark" (or "not warehouse") leaves its tests out
ENGINE_MARKS = {"duckdb": pytest.mark.warehouse, "postgres": pytest.mark.warehouse, "spark": pytest.mark.spark}


def _engine_param(engine: str, *values: Any, name: str) -> Any:
    """A test parameter that runs on ``engine``, marked with what that engine needs."""
    return pytest.param(engine, *values, id=name, marks=ENGINE_MARKS[engine])


@pytest.fixture(scope="module", params=[_engine_param(e, name=e) for e in ENGINES])
def engine(request: pytest.FixtureRequest) -> Engine:
    found: Engine = request.getfixturevalue(f"{request.param}_engine")
    return found


# Instants per engine: every one on DuckDB; a few on PostgreSQL and Spark. The time arithmetic is
# Python's and the same for every dialect, so what differs between engines (types, microseconds,
# NULL logic, string equality, the zone join) shows at any instant; the subsets reuse instants whose
# plugin answers are computed anyway, which keeps the module near four minutes on two cores.
SEGMENT_INSTANTS = {
    "duckdb": s.INSTANTS,
    "postgres": (*s.NY_DST_WEEKS, s.INSTANTS[3], s.INSTANTS[6]),
    "spark": (*s.NY_DST_WEEKS, s.INSTANTS[7]),
}
NEXT_INSTANTS = {
    "duckdb": (*s.NY_DST_WEEKS, s.INSTANTS[1], s.INSTANTS[6]),
    "postgres": (*s.NY_DST_WEEKS, s.INSTANTS[1]),
    "spark": s.NY_DST_WEEKS,
}
EVALUATE_NOWS = (s.NY_DST_WEEKS[1],)  # evaluate() over 100,000 users costs about 15 seconds


def _describe(set_name: str, rule: str, at: dt.datetime, user_ids: Sequence[str], what: str) -> str:
    rules = rule_sets()[set_name]
    lines = [f"{set_name}/{rule} at {at.isoformat()}: {len(user_ids)} users {what}, e.g."]
    for uid in sorted(user_ids)[:3]:
        user = by_id()[uid]
        lines.append(f"    {user!r}\n      in_segment={rules.in_segment(user, at)[rule]!r}")
    return "\n".join(lines)


def _check_unique(found: Sequence[str], label: str) -> list[str]:
    return [] if len(found) == len(set(found)) else [f"{label}: duplicate user ids in the result"]


def _instant_id(at: dt.datetime) -> str:
    return at.strftime("%Y%m%dT%H%M")


def _engine_instants(table: dict[str, Sequence[dt.datetime]]) -> list[Any]:
    return [_engine_param(e, at, name=f"{e}-{_instant_id(at)}") for e in ENGINES for at in table[e]]


@pytest.fixture
def engine_of(request: pytest.FixtureRequest) -> Callable[[str], Engine]:
    def get(name: str) -> Engine:
        found: Engine = request.getfixturevalue(f"{name}_engine")
        return found
    return get


# segment_sql = in_segment -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("engine_name", "at"), _engine_instants(SEGMENT_INSTANTS))
def test_segment_sql_equals_in_segment(engine_name: str, at: dt.datetime, engine_of: Callable[[str], Engine]) -> None:
    engine = engine_of(engine_name)
    problems: list[str] = []
    for set_name, rules in rule_sets().items():
        expected = segment_ref(set_name, at)
        for rule in rules.rules:
            sql = segment_sql(rules, dialect=engine.dialect, at=at, rule=rule.name)
            found = engine.ids(sql)
            problems += _check_unique(found, f"{set_name}/{rule.name}")
            got, want = set(found), expected[rule.name]
            if got - want:
                problems.append(_describe(set_name, rule.name, at, list(got - want), "selected but not in the segment"))
            if want - got:
                problems.append(_describe(set_name, rule.name, at, list(want - got), "in the segment but not selected"))
    assert not problems, "\n".join(problems)


# PostgreSQL evaluates the 600-branch CASE per row slowly: the rules whose constants depend on the
# user's zone, a few
PREDICATE_RULES_ON_POSTGRES = ("lapsed_2w", "renewal_dates", "instant_edges", "cron_gap", "minutes_local")


@pytest.mark.slow
@pytest.mark.parametrize(("engine_name", "at"), [
    _engine_param("duckdb", s.INSTANTS[2], name="duckdb-" + _instant_id(s.INSTANTS[2])),
    _engine_param("duckdb", s.INSTANTS[3], name="duckdb-" + _instant_id(s.INSTANTS[3])),
    _engine_param("postgres", s.INSTANTS[3], name="postgres-" + _instant_id(s.INSTANTS[3])),
])
def test_segment_predicate_equals_in_segment(engine_name: str, at: dt.datetime,
                                             engine_of: Callable[[str], Engine]) -> None:
    engine = engine_of(engine_name)
    problems: list[str] = []
    for set_name, rules in rule_sets().items():
        expected = segment_ref(set_name, at)
        for rule in rules.rules:
            if engine_name == "postgres" and rule.name not in PREDICATE_RULES_ON_POSTGRES:
                continue
            condition = segment_predicate(rules, dialect=engine.dialect, at=at, rule=rule.name, alias="t")
            found = engine.ids(f'SELECT "t"."user_id" FROM users AS t WHERE {condition}')
            if set(found) != expected[rule.name]:
                diff = list(set(found) ^ expected[rule.name])
                problems.append(_describe(set_name, rule.name, at, diff, "differ"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("engine_name", [_engine_param(e, name=e) for e in ENGINES])
def test_columns_map_attributes_to_other_columns(engine_name: str, engine_of: Callable[[str], Engine]) -> None:
    engine = engine_of(engine_name)
    rules, at = rule_sets()["a"], s.INSTANTS[5]
    for rule in ("static_mix", "lord_howe_fold"):
        sql = segment_sql(rules, dialect=engine.dialect, at=at, rule=rule, columns={"custom.tier": "tier_override"})
        assert '"tier_override"' in sql or "`tier_override`" in sql
        assert "custom_tier" not in sql
        assert set(engine.ids(sql)) == segment_ref("a", at)[rule]


# next_occurrence_sql = the segment at each zone's next occurrence ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("engine_name", "at"), _engine_instants(NEXT_INSTANTS))
def test_next_occurrence_sql_equals_reference(engine_name: str, at: dt.datetime,
                                              engine_of: Callable[[str], Engine]) -> None:
    engine = engine_of(engine_name)
    problems: list[str] = []
    for set_name, rules in rule_sets().items():
        expected = next_ref(set_name, at)
        for rule in rules.rules:
            sql = next_occurrence_sql(rules, dialect=engine.dialect, at=at, rule=rule.name)
            found = engine.sends(sql)
            problems += _check_unique([uid for uid, _ in found], f"{set_name}/{rule.name}")
            got, want = dict(found), expected[rule.name]
            extra, missing = set(got) - set(want), set(want) - set(got)
            wrong = [uid for uid in set(got) & set(want) if got[uid] != want[uid]]
            if extra:
                problems.append(_describe(set_name, rule.name, at, list(extra), "selected but not in the segment at "
                                          "their next occurrence"))
            if missing:
                problems.append(_describe(set_name, rule.name, at, list(missing), "in the segment at their next "
                                          "occurrence but not selected"))
            if wrong:
                uid = sorted(wrong)[0]
                problems.append(f"{set_name}/{rule.name} at {at}: {len(wrong)} users with another send_at, e.g. "
                                f"{uid}: SQL {got[uid]} vs {want[uid]}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow  # evaluate() over the whole population
@pytest.mark.parametrize("now", EVALUATE_NOWS, ids=_instant_id)
def test_next_reference_agrees_with_evaluate(now: dt.datetime) -> None:
    """The reference above is what evaluate() decides, for active rules without delivery controls:
    a user in the segment at the next occurrence gets a decision for exactly that occurrence."""
    problems = []
    checked = 0
    for set_name, rules in rule_sets().items():
        reference, decided = next_ref(set_name, now), decisions(set_name, now)
        for rule in rules.rules:
            if rule.status != "active" or rule.controlled:
                continue
            checked += 1
            want = reference[rule.name]
            got = {uid: at for uid, at in decided[rule.name].items() if uid in want}
            if got != want:
                problems.append(f"{set_name}/{rule.name}: {len(set(want) ^ set(got))} users differ")
            # and nobody else has a decision for an occurrence earlier than (or at) the reference's
            for uid, at in decided[rule.name].items():
                if uid not in want and at <= _next_at(rules, rule.name, uid, now):
                    problems.append(f"{set_name}/{rule.name}: {uid} decided at {at} but not in the reference")
                    break
    assert checked >= 8
    assert not problems, "\n".join(problems)


def _next_at(rules: lapse_dsl.RuleSet, rule_name: str, uid: str, now: dt.datetime) -> dt.datetime:
    rule = next(r for r in rules.rules if r.name == rule_name)
    zone = delivery_zone(rule, by_id()[uid], rules.default_timezone)[0]
    moment = s.next_moment(rule, zone, now)
    return moment.at if moment is not None else dt.datetime.max.replace(tzinfo=UTC)


# candidates_sql is a superset of evaluate()'s decisions -----------------------------------------------


@pytest.mark.slow  # evaluate() over the whole population
def test_candidates_sql_is_a_superset_of_decisions(engine: Engine) -> None:
    problems = []
    for set_name, rules in rule_sets().items():
        for rule in rules.rules:
            found = engine.ids(candidates_sql(rules, dialect=engine.dialect, rule=rule.name))
            problems += _check_unique(found, f"{set_name}/{rule.name}")
            candidates = set(found)
            for now in EVALUATE_NOWS:
                missed = set(decisions(set_name, now)[rule.name]) - candidates
                if missed:
                    problems.append(_describe(set_name, rule.name, now, list(missed), "decided but not candidates"))
            if rule.status == "active":
                pass
    assert not problems, "\n".join(problems)


# Known gaps ------------------------------------------------------------------------------------------


def test_nan_numbers_are_rejected_by_the_plugin() -> None:
    # SQL engines order NaN above every number while Python's NaN comparisons are all false, so no
    # SQL can agree with the plugin on a NaN: the plugin rejects it as malformed (docs/warehouse.md)
    rules = lapse_dsl.compile("segment sessions > 2; send push daily 10:00 utc", source="nan.lapse")
    for path in (rules, rules.reference()):
        with pytest.raises(lapse_dsl.UserDataError, match="sessions: NaN is not a number"):
            path.in_segment({"user_id": "nan", "sessions": float("nan")}, s.INSTANTS[0])


# sqlite: static rules only ------------------------------------------------------------------------


STATIC_RULES = '''attribute custom.tier: string
attribute custom.lifetime_value: number
campaign "static_all" {
    segment ((sessions = 3 or sessions != 0 and sessions < 10) and sessions <= 7 and sessions > -1
        and custom.tier in ["gold", "platinum"] and app_version is set and language is not set and not email_subscribed)
    send push weekly thu 17:45 local
}
campaign "static_or" {
    segment (platform = "ios" or country not in ["US", "CA"] and push_opted_in
        or not (custom.lifetime_value >= 100 or language = "en"))
    send push daily 10:00 utc
}
campaign "static_sets" {
    segment timezone is set and platform is not set or push_opted_in = false and email_subscribed != true
    send push daily 10:00 "Europe/Paris"
}
'''


def _timed(rule: Any) -> bool:
    return any(isinstance(p, (n.Between, n.MoreThanAgo, n.LessThanAgo, n.Before, n.After)) for p in s.conditions(rule.segment))


def test_sqlite_refuses_time_conditions() -> None:
    at = s.INSTANTS[0]
    refused = 0
    for rules in rule_sets().values():
        for rule in rules.rules:
            builders = [
                lambda: segment_sql(rules, dialect="sqlite", at=at, rule=rule.name),  # noqa: B023
                lambda: segment_predicate(rules, dialect="sqlite", at=at, rule=rule.name),  # noqa: B023
            ]
            if not _timed(rule):
                for build in builders:
                    assert "SELECT" in build() or "=" in build()
                continue
            refused += 1
            builders.append(lambda: next_occurrence_sql(rules, dialect="sqlite", at=at, rule=rule.name))  # noqa: B023
            for build in builders:
                with pytest.raises(lapse_dsl.UnsupportedError, match="sqlite") as info:
                    build()
                assert rule.name in str(info.value)
    assert refused >= 12


@pytest.mark.slow  # the plugin's answers over the whole population
def test_sqlite_runs_static_rules() -> None:
    rules = lapse_dsl.compile(STATIC_RULES)
    con = sqlite3.connect(":memory:")
    columns = ", ".join(f'"{c}"' for c, _ in s.COLUMNS)
    con.execute(f"CREATE TABLE users ({columns})")
    con.executemany(f"INSERT INTO users VALUES ({', '.join('?' * len(s.COLUMNS))})",
                    [tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in r) for r in rows()])
    at = s.INSTANTS[2]
    expected = s.segment_reference(rules, users(), at)
    decided = s.decisions(rules, users(), at)
    for rule in rules.rules:
        found = [r[0] for r in con.execute(segment_sql(rules, dialect="sqlite", at=at, rule=rule.name))]
        assert len(found) == len(set(found))
        assert set(found) == expected[rule.name], rule.name
        assert 0 < len(found) < len(rows())
        candidates = {r[0] for r in con.execute(candidates_sql(rules, dialect="sqlite", rule=rule.name))}
        assert set(decided[rule.name]) <= candidates
        # no time conditions: the candidates are the users whose segment is not false
        assert candidates == {u["user_id"] for u in users() if rules.in_segment(u, at)[rule.name] is not False}


# Spark's own session zone does not matter ----------------------------------------------------------


@pytest.mark.spark
def test_spark_session_zone_does_not_matter(spark_engine: Spark) -> None:
    conf = spark_engine.session.conf
    at = s.NY_DST_WEEKS[1]
    rules = rule_sets()["a"]
    conf.set("spark.sql.session.timeZone", "Pacific/Chatham")
    try:
        for rule in ("lapsed_2w", "renewal_dates", "instant_edges"):
            found = spark_engine.ids(segment_sql(rules, dialect="spark", at=at, rule=rule))
            assert set(found) == segment_ref("a", at)[rule], rule
    finally:
        conf.set("spark.sql.session.timeZone", "UTC")


@pytest.mark.slow  # builds the 100,000 users when no other test of the module has
def test_population_covers_the_edges() -> None:
    """The population really holds what the differential tests rely on."""
    population = users()
    assert len(population) == s.N_USERS
    zones = {u.get("timezone", "<missing>") for u in population}
    assert set(s.DST_ZONES) <= zones
    assert {"localtime", "+05:30", "america/new_york", "", None, "<missing>"} <= zones
    for key in ("timezone", "last_used", "first_used", "renewal_at", "sessions", "platform", "push_opted_in",
                "email_subscribed", "country", "language", "app_version", "custom"):
        assert any(key not in u for u in population), f"{key} never missing"
        assert any(key in u and u[key] is None for u in population), f"{key} never null"
    ny = ZoneInfo("America/New_York")
    edges = [s.resolve_wall(at.astimezone(ny).replace(tzinfo=None) - dt.timedelta(weeks=w), ny)
             for at in s.INSTANTS for w in (2, 3)]
    near = {r[2] - e for r in rows() if r[1] == "America/New_York" and r[2] is not None for e in edges}
    assert {dt.timedelta(0), dt.timedelta(seconds=1), dt.timedelta(seconds=-1),
            dt.timedelta(microseconds=1), dt.timedelta(microseconds=-1)} <= near
    at = s.NY_DST_WEEKS[0]
    for set_name, rules in rule_sets().items():
        assert all(segment_ref(set_name, at)[r.name] for r in rules.rules), "every rule selects somebody"
