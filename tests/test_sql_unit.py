"""lapse_dsl.sql on DuckDB, construct by construct, on a handful of hand-made rows.

Each construct is checked three ways that must agree: the truth value (TRUE / FALSE / NULL) the
bare predicate (:func:`segment_predicate`) gives per row, the rows :func:`segment_sql` selects
(exactly the TRUE ones), and the plugin's ``RuleSet.in_segment`` (True / False / None), all against
the expectation written here. Rows sit on the window edges and 1 µs either side. The big
seeded differential tests live elsewhere; these pin the semantics one construct at a time.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import sqlglot

import lapse_dsl
from lapse_dsl.schema import BUILTIN_ATTRIBUTES
from lapse_dsl.sql import DIALECTS, candidates_sql, next_occurrence_sql, segment_predicate, segment_sql

duckdb = pytest.importorskip("duckdb")

AT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
SQL_TYPES = {"time": "TIMESTAMPTZ", "number": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN"}
BUILTIN_COLUMNS = {name: SQL_TYPES[kind] for name, kind in BUILTIN_ATTRIBUTES.items()}


def z(text: str) -> dt.datetime:
    """An aware UTC instant from ``2026-11-09T00:00Z``-style text."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


@functools.cache
def rules_of(text: str, default_timezone: str = "UTC") -> lapse_dsl.RuleSet:
    rules = lapse_dsl.compile(text, default_timezone=default_timezone)
    assert not rules.warnings, rules.warnings
    return rules


_predicates: dict[tuple[int, dt.datetime, str], str] = {}


def predicate_of(rules: lapse_dsl.RuleSet, at: dt.datetime, **options: Any) -> str:
    """segment_predicate on DuckDB, remembered: tests share their rule sets (see rules_of)."""
    key = (id(rules), at, repr(sorted(options.items())))
    if key not in _predicates:
        _predicates[key] = segment_predicate(rules, dialect="duckdb", at=at, **options)
    return _predicates[key]


@pytest.fixture
def con() -> Iterator[Any]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def load_table(con: Any, rows: list[dict[str, Any]], columns: Mapping[str, str] = BUILTIN_COLUMNS,
               table: str = "users") -> None:
    """A DuckDB table with ``columns`` (name -> SQL type); a key missing from a row is NULL."""
    names = list(columns)
    con.execute(f'CREATE TABLE "{table}" ({", ".join(f"{c} {t}" for c, t in columns.items())})')
    placeholders = ", ".join("?" for _ in names)
    con.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})', [[row.get(c) for c in names] for row in rows])


def selected(con: Any, sql: str) -> set[str]:
    return {row[0] for row in con.execute(sql).fetchall()}


def predicate_truths(con: Any, rules: lapse_dsl.RuleSet, at: dt.datetime, *, table: str = "users",
                     id_column: str = "user_id", **options: Any) -> dict[str, bool | None]:
    """Each row's TRUE / FALSE / NULL under the bare predicate (the CASE form)."""
    predicate = predicate_of(rules, at, **options)
    return dict(con.execute(f'SELECT "{id_column}", ({predicate}) FROM "{table}" AS u').fetchall())


def plugin_truths(rules: lapse_dsl.RuleSet, users: list[dict[str, Any]], at: dt.datetime,
                  rule: str | None = None) -> dict[str, bool | None]:
    name = rule or rules.rules[0].name
    return {u["user_id"]: rules.in_segment(u, at)[name] for u in users}


def check_all_ways(con: Any, rules: lapse_dsl.RuleSet, rows: list[dict[str, Any]], at: dt.datetime,
                   expected: Mapping[str, bool | None]) -> None:
    """Predicate truths, segment_sql rows and the plugin all equal ``expected``."""
    load_table(con, rows)
    assert predicate_truths(con, rules, at) == expected
    assert plugin_truths(rules, rows, at) == expected
    assert selected(con, segment_sql(rules, dialect="duckdb", at=at)) == {k for k, v in expected.items() if v is True}


# Constructs: (rule, evaluation instant, [(user_id, attributes, expected truth)]) ---------------

L, H = z("2026-11-09T00:00Z"), z("2026-11-16T00:00Z")  # between 2w and 3w at AT on the UTC wall clock
NY_L, NY_H = z("2026-10-24T23:00Z"), z("2026-10-31T23:00Z")  # the same at 2026-11-15T00:00Z in New York (EDT)
PARIS_MIDNIGHT = z("2025-05-31T22:00Z")  # 2025-06-01 00:00 CEST
INSTANT = z("2025-06-01T07:30Z")  # 2025-06-01T09:30:00+02:00
FUTURE = z("2027-06-01T00:00Z")  # later than every evaluation instant: clock skew

Row = tuple[str, dict[str, Any], bool | None]
CONSTRUCTS: list[tuple[str, str, dt.datetime, list[Row]]] = [
    ("between", "segment last_used between 2w and 3w; send push weekly thu 17:45 utc", AT, [
        ("low-1us", {"last_used": L - US}, False),
        ("low", {"last_used": L}, False),
        ("low+1us", {"last_used": L + US}, True),
        ("high-1us", {"last_used": H - US}, True),
        ("high", {"last_used": H}, True),
        ("high+1us", {"last_used": H + US}, False),
        ("future", {"last_used": FUTURE}, False),
        ("null", {}, None),
    ]),
    ("between-calendar-weeks-over-dst", 'segment last_used between 2w and 3w; send push weekly thu 17:45 "America/New_York"',
     z("2026-11-15T00:00Z"), [
        ("low", {"last_used": NY_L}, False),
        ("low+1us", {"last_used": NY_L + US}, True),
        ("utc-low+1us", {"last_used": z("2026-10-25T00:00Z") + US}, True),
        ("high", {"last_used": NY_H}, True),
        ("high+1us", {"last_used": NY_H + US}, False),
        ("null", {}, None),
    ]),
    ("more-than-ago", "segment last_used more than 90d ago; send email monthly 1 10:00 utc", AT, [
        ("bound-1us", {"last_used": AT - dt.timedelta(days=90) - US}, True),
        ("bound", {"last_used": AT - dt.timedelta(days=90)}, False),
        ("bound+1us", {"last_used": AT - dt.timedelta(days=90) + US}, False),
        ("future", {"last_used": FUTURE}, False),
        ("null", {}, None),
    ]),
    ("less-than-ago-exact-hours", "segment first_used less than 36h ago; send in_app daily 10:00 utc", AT, [
        ("bound-1us", {"first_used": AT - dt.timedelta(hours=36) - US}, False),
        ("bound", {"first_used": AT - dt.timedelta(hours=36)}, False),
        ("bound+1us", {"first_used": AT - dt.timedelta(hours=36) + US}, True),
        ("future", {"first_used": FUTURE}, True),
        ("null", {}, None),
    ]),
    ("before-date-named-zone", 'segment first_used before 2025-06-01; send email weekly mon 09:00 "Europe/Paris"', AT, [
        ("midnight-1us", {"first_used": PARIS_MIDNIGHT - US}, True),
        ("midnight", {"first_used": PARIS_MIDNIGHT}, False),
        ("midnight+1us", {"first_used": PARIS_MIDNIGHT + US}, False),
        ("utc-midnight-1us", {"first_used": z("2025-06-01T00:00Z") - US}, False),
        ("null", {}, None),
    ]),
    ("after-datetime", "segment first_used after 2025-06-01T09:30:00+02:00; send email weekly mon 09:00 utc", AT, [
        ("instant-1us", {"first_used": INSTANT - US}, False),
        ("instant", {"first_used": INSTANT}, False),
        ("instant+1us", {"first_used": INSTANT + US}, True),
        ("future", {"first_used": FUTURE}, True),
        ("null", {}, None),
    ]),
    ("skew-before-instant", "segment first_used before 2026-12-01T00:00:00Z; send email weekly mon 09:00 utc", AT, [
        ("at", {"first_used": AT}, True),
        ("point", {"first_used": z("2026-12-01T00:00Z")}, True),  # later than AT: counts as AT
        ("future", {"first_used": FUTURE}, True),
        ("null", {}, None),
    ]),
    ("skew-after-date", "segment first_used after 2026-12-01; send email weekly mon 09:00 utc", AT, [
        ("future", {"first_used": FUTURE}, False),  # counts as AT, which is before the date
        ("at", {"first_used": AT}, False),
        ("null", {}, None),
    ]),
    ("compare-string-neq", 'segment platform != "ios"; send push weekly mon 12:00 utc', AT, [
        ("web", {"platform": "web"}, True),
        ("ios", {"platform": "ios"}, False),
        ("case", {"platform": "IOS"}, True),
        ("null", {}, None),
    ]),
    ("compare-number-order", "segment sessions >= 2 and sessions < 9.5; send push weekly mon 12:00 utc", AT, [
        ("2", {"sessions": 2}, True),
        ("1.999999", {"sessions": 1.999999}, False),
        ("9.499999", {"sessions": 9.499999}, True),
        ("9.5", {"sessions": 9.5}, False),
        ("null", {}, None),
    ]),
    ("compare-boolean", "segment email_subscribed = false; send email weekly mon 12:00 utc", AT, [
        ("false", {"email_subscribed": False}, True),
        ("true", {"email_subscribed": True}, False),
        ("null", {}, None),
    ]),
    ("in-list", 'segment platform in ["ios", "android"]; send push weekly mon 12:00 utc', AT, [
        ("ios", {"platform": "ios"}, True),
        ("web", {"platform": "web"}, False),
        ("null", {}, None),
    ]),
    ("not-in-list", "segment sessions not in [0, 1]; send push weekly mon 12:00 utc", AT, [
        ("1", {"sessions": 1}, False),
        ("1.5", {"sessions": 1.5}, True),
        ("null", {}, None),
    ]),
    ("is-set", "segment app_version is set and last_used is set; send push weekly mon 12:00 utc", AT, [
        ("both", {"app_version": "1.0", "last_used": AT}, True),
        ("empty-string", {"app_version": "", "last_used": AT}, True),
        ("no-version", {"last_used": AT}, False),
        ("neither", {}, False),
    ]),
    ("is-not-set", "segment language is not set; send push weekly mon 12:00 utc", AT, [
        ("set", {"language": "fr"}, False),
        ("null", {}, True),
    ]),
    ("truthy", "segment push_opted_in; send push weekly mon 12:00 utc", AT, [
        ("true", {"push_opted_in": True}, True),
        ("false", {"push_opted_in": False}, False),
        ("null", {}, None),
    ]),
    ("not", 'segment not platform = "ios"; send push weekly mon 12:00 utc', AT, [
        ("web", {"platform": "web"}, True),
        ("ios", {"platform": "ios"}, False),
        ("null", {}, None),
    ]),
    ("not-window", "segment not last_used between 2w and 3w; send push weekly mon 12:00 utc", AT, [
        ("inside", {"last_used": H}, False),
        ("outside", {"last_used": H + US}, True),
        ("null", {}, None),
    ]),
    ("and", 'segment platform = "ios" and push_opted_in; send push weekly mon 12:00 utc', AT, [
        ("true-true", {"platform": "ios", "push_opted_in": True}, True),
        ("true-unknown", {"platform": "ios"}, None),
        ("false-unknown", {"platform": "web"}, False),
        ("unknown-false", {"push_opted_in": False}, False),
        ("unknown-unknown", {}, None),
    ]),
    ("or", 'segment platform = "ios" or push_opted_in; send push weekly mon 12:00 utc', AT, [
        ("true-unknown", {"platform": "ios"}, True),
        ("unknown-true", {"push_opted_in": True}, True),
        ("false-unknown", {"platform": "web"}, None),
        ("false-false", {"platform": "web", "push_opted_in": False}, False),
    ]),
    ("not-and", 'segment not (platform = "ios" and push_opted_in); send push weekly mon 12:00 utc', AT, [
        ("false-unknown", {"platform": "web"}, True),  # not (false and unknown) = not false
        ("true-unknown", {"platform": "ios"}, None),
        ("true-true", {"platform": "ios", "push_opted_in": True}, False),
    ]),
    ("not-or", 'segment not (platform = "ios" or push_opted_in); send push weekly mon 12:00 utc', AT, [
        ("true-unknown", {"platform": "ios"}, False),  # not (true or unknown) = not true
        ("false-unknown", {"platform": "web"}, None),
        ("false-false", {"platform": "web", "push_opted_in": False}, True),
    ]),
    ("and-binds-tighter-than-or",
     'segment platform = "ios" or platform = "android" and push_opted_in; send push weekly mon 12:00 utc', AT, [
        ("ios", {"platform": "ios", "push_opted_in": False}, True),
        ("android-out", {"platform": "android", "push_opted_in": False}, False),
        ("android-in", {"platform": "android", "push_opted_in": True}, True),
        ("web-unknown", {"platform": "web"}, False),
    ]),
]


def _rows(spec: list[Row]) -> tuple[list[dict[str, Any]], dict[str, bool | None]]:
    rows = [{"user_id": uid, "timezone": "Europe/Paris", **attributes} for uid, attributes, _ in spec]
    return rows, {uid: truth for uid, _, truth in spec}


@pytest.mark.warehouse
@pytest.mark.parametrize(("rule", "at", "spec"), [pytest.param(r, a, s, id=i) for i, r, a, s in CONSTRUCTS])
def test_construct_three_valued(con: Any, rule: str, at: dt.datetime, spec: list[Row]) -> None:
    rows, expected = _rows(spec)
    check_all_ways(con, rules_of(rule), rows, at, expected)


# Zones: per-user windows, gaps and folds, fallback zones ----------------------------------------

LOCAL = 'default timezone "America/New_York"\nsegment last_used between 2w and 3w; send push weekly thu 17:45 local\n'
AT_DST = z("2026-11-15T00:00Z")  # 3 weeks back crosses the end of daylight saving in America and Europe
EDGES = {  # zone -> (T(-3w), T(-2w)) at AT_DST
    "America/New_York": (NY_L, NY_H),
    "Europe/Paris": (z("2026-10-24T23:00Z"), z("2026-11-01T00:00Z")),
    "Asia/Kolkata": (z("2026-10-25T00:00Z"), z("2026-11-01T00:00Z")),
    "UTC": (z("2026-10-25T00:00Z"), z("2026-11-01T00:00Z")),
}
INVALID_ZONES = ["america/new_york", "", "+05:30", "localtime", "Mars/Olympus", "US/Eastern ", None]


def _edge_rows(zone_values: Mapping[str, str | None], edges: Mapping[str, tuple[dt.datetime, dt.datetime]]) -> tuple[
        list[dict[str, Any]], dict[str, bool | None]]:
    """Four users per zone value, on each edge of its zone's window and 1 µs outside/inside."""
    rows: list[dict[str, Any]] = []
    expected: dict[str, bool | None] = {}
    for label, value in zone_values.items():
        low, high = edges[label]
        for name, last_used, truth in (("low", low, False), ("low+1us", low + US, True),
                                       ("high", high, True), ("high+1us", high + US, False)):
            uid = f"{label}|{name}"
            rows.append({"user_id": uid, "timezone": value, "last_used": last_used})
            expected[uid] = truth
    return rows, expected


@pytest.mark.warehouse
def test_local_windows_are_per_user_zone_wall_clock(con: Any) -> None:
    rows, expected = _edge_rows({zone: zone for zone in EDGES}, EDGES)
    check_all_ways(con, rules_of(LOCAL), rows, AT_DST, expected)


@pytest.mark.warehouse
def test_invalid_timezone_values_use_the_file_default_zone(con: Any) -> None:
    values = {repr(v): v for v in INVALID_ZONES}
    rows, expected = _edge_rows(values, {label: EDGES["America/New_York"] for label in values})
    check_all_ways(con, rules_of(LOCAL), rows, AT_DST, expected)


@pytest.mark.warehouse
def test_invalid_timezone_values_use_the_compile_default_zone(con: Any) -> None:
    rules = rules_of("segment last_used between 2w and 3w; send push weekly thu 17:45 local", default_timezone="Europe/Paris")
    values = {repr(v): v for v in INVALID_ZONES}
    rows, expected = _edge_rows(values, {label: EDGES["Europe/Paris"] for label in values})
    check_all_ways(con, rules, rows, AT_DST, expected)


@pytest.mark.warehouse
@pytest.mark.parametrize(("rule", "at", "bound", "before", "after"), [
    # T(-1w) = Sun 2026-11-01 01:30 New York, in the fold: the first instance (EDT, 05:30Z)
    pytest.param("last_used less than 1w ago", z("2026-11-08T06:30Z"), z("2026-11-01T05:30Z"), False, True, id="fold"),
    # T(-1w) = Sun 2026-03-08 02:30 New York, in the gap: shifted forward to 03:30 EDT (07:30Z)
    pytest.param("last_used more than 1w ago", z("2026-03-15T06:30Z"), z("2026-03-08T07:30Z"), True, False, id="gap"),
])
def test_local_window_bounds_in_gaps_and_folds(con: Any, rule: str, at: dt.datetime, bound: dt.datetime,
                                               before: bool, after: bool) -> None:
    rules = rules_of(f"segment {rule}; send push daily 10:00 local")
    spec: list[Row] = [("before", {"last_used": bound - US}, before), ("bound", {"last_used": bound}, False),
                       ("after", {"last_used": bound + US}, after)]
    rows = [{"user_id": uid, "timezone": "America/New_York", **attributes} for uid, attributes, _ in spec]
    check_all_ways(con, rules, rows, at, {uid: truth for uid, _, truth in spec})


@pytest.mark.warehouse
def test_local_date_point_is_midnight_in_each_users_zone(con: Any) -> None:
    rules = rules_of("segment first_used before 2026-01-01; send email monthly 1 10:00 local")
    midnights = {"Europe/Paris": z("2025-12-31T23:00Z"), "Asia/Kolkata": z("2025-12-31T18:30Z"),
                 "America/New_York": z("2026-01-01T05:00Z"), None: z("2026-01-01T00:00Z")}
    rows, expected = [], {}
    for zone, midnight in midnights.items():
        for name, value, truth in (("-1us", midnight - US, True), ("=", midnight, False)):
            rows.append({"user_id": f"{zone}{name}", "timezone": zone, "first_used": value})
            expected[f"{zone}{name}"] = truth
    check_all_ways(con, rules, rows, AT, expected)


@pytest.mark.warehouse
def test_skew_clamp_when_a_calendar_bound_is_not_before_the_instant(con: Any) -> None:
    # Pacific/Apia skipped 2011-12-30: one calendar day before Sat 2011-12-31 10:00 is a wall time
    # that never existed, shifted forward by the 24-hour gap onto the instant itself. A future
    # last_used counts as the instant, which is not strictly after T(-1d).
    rules = rules_of('segment last_used less than 1d ago; send push daily 10:00 "Pacific/Apia"')
    at = z("2011-12-30T20:00Z")
    rows = [{"user_id": "future", "last_used": z("2012-01-05T00:00Z")}, {"user_id": "at", "last_used": at}]
    check_all_ways(con, rules, rows, at, {"future": False, "at": False})


@pytest.mark.warehouse
def test_zone_table_and_case_forms_agree_on_many_zones(con: Any) -> None:
    from lapse_dsl.zones import zone_names

    zones = sorted(zone_names())[::7] + INVALID_ZONES
    rules = rules_of(LOCAL)
    rows = [{"user_id": f"{zone}|{i}", "timezone": zone, "last_used": NY_L + dt.timedelta(minutes=30) * i}
            for zone in zones for i in range(-26, 26 * 15, 13)]
    load_table(con, rows)
    truths = predicate_truths(con, rules, AT_DST)
    assert truths == plugin_truths(rules, rows, AT_DST)
    assert selected(con, segment_sql(rules, dialect="duckdb", at=AT_DST)) == {k for k, v in truths.items() if v}


# Column mapping ---------------------------------------------------------------------------------

NESTED = """attribute custom.tier: string
attribute custom.lifetime_value: number
segment custom.tier = "gold" and custom.lifetime_value >= 50 and last_used between 2w and 3w; send email weekly mon 09:00 local
"""
PEOPLE = {"id": "VARCHAR", "tz": "VARCHAR", "seen_at": "TIMESTAMPTZ", "tier": "VARCHAR", "custom_lifetime_value": "DOUBLE",
          "last_used": "TIMESTAMPTZ"}
OVERRIDES = {"user_id": "id", "timezone": "tz", "last_used": "seen_at", "custom.tier": "tier"}


@pytest.mark.warehouse
def test_column_overrides_and_nested_attributes(con: Any) -> None:
    rules = rules_of(NESTED)
    users: list[dict[str, Any]] = [
        {"user_id": "in", "timezone": "Asia/Tokyo", "last_used": H, "custom": {"tier": "gold", "lifetime_value": 50}},
        {"user_id": "poor", "timezone": "Asia/Tokyo", "last_used": H, "custom": {"tier": "gold", "lifetime_value": 49.5}},
        {"user_id": "silver", "last_used": H, "custom": {"tier": "silver", "lifetime_value": 80}},
        {"user_id": "no-custom", "last_used": H},
        {"user_id": "old", "last_used": L, "custom": {"tier": "gold", "lifetime_value": 80}},
    ]
    # the real last_used column holds decoys: only seen_at may be read
    rows = [{"id": u["user_id"], "tz": u.get("timezone"), "seen_at": u["last_used"], "last_used": L,
             "tier": u.get("custom", {}).get("tier"), "custom_lifetime_value": u.get("custom", {}).get("lifetime_value")}
            for u in users]
    load_table(con, rows, PEOPLE, table="people")
    expected = {"in": True, "poor": False, "silver": False, "no-custom": None, "old": False}
    assert plugin_truths(rules, users, AT) == expected
    assert predicate_truths(con, rules, AT, table="people", id_column="id", columns=OVERRIDES) == expected
    sql = segment_sql(rules, dialect="duckdb", at=AT, table="people", columns=OVERRIDES)
    result = con.execute(sql)
    assert [d[0] for d in result.description] == ["user_id"]
    assert {row[0] for row in result.fetchall()} == {"in"}


def test_unmapped_nested_attribute_reads_underscored_column() -> None:
    sql = segment_sql(rules_of(NESTED), dialect="duckdb", at=AT)
    assert '"u"."custom_tier" = \'gold\'' in sql
    assert '"u"."custom_lifetime_value" >= 50' in sql


# Errors and rule selection ----------------------------------------------------------------------

TWO_RULES = ('campaign "A" { segment platform = "ios"; send push weekly mon 12:00 utc }\n'
             'campaign "B" { segment platform = "android"; send push weekly mon 12:00 utc }\n')
GENERATORS: dict[str, Callable[..., str]] = {
    "segment_sql": lambda rules, **kw: segment_sql(rules, at=AT, **kw),
    "next_occurrence_sql": lambda rules, **kw: next_occurrence_sql(rules, at=AT, **kw),
    "segment_predicate": lambda rules, **kw: segment_predicate(rules, at=AT, **kw),
    "candidates_sql": lambda rules, **kw: candidates_sql(rules, **kw),
}


@pytest.mark.parametrize("generate", GENERATORS.values(), ids=GENERATORS.keys())
def test_unknown_dialect_is_a_value_error(generate: Callable[..., str]) -> None:
    rules = rules_of("segment platform = \"ios\"; send push weekly mon 12:00 utc")
    message = "unknown dialect 'mysql'; choose one of duckdb, postgres, spark, trino, bigquery, snowflake, sqlite"
    with pytest.raises(ValueError, match=f"^{message}$"):
        generate(rules, dialect="mysql")
    assert DIALECTS == ("duckdb", "postgres", "spark", "trino", "bigquery", "snowflake", "sqlite")


@pytest.mark.parametrize("generate", [g for k, g in GENERATORS.items() if k != "candidates_sql"],
                         ids=[k for k in GENERATORS if k != "candidates_sql"])
def test_rule_is_required_when_the_set_has_several(generate: Callable[..., str]) -> None:
    rules = rules_of(TWO_RULES)
    with pytest.raises(ValueError, match=r"^the rule set has 2 rules; name one .*: A, B$"):
        generate(rules, dialect="duckdb")
    with pytest.raises(ValueError, match=r"^no rule named 'C'$"):
        generate(rules, dialect="duckdb", rule="C")


@pytest.mark.warehouse
def test_rule_selects_that_rules_segment(con: Any) -> None:
    rules = rules_of(TWO_RULES)
    load_table(con, [{"user_id": "i", "platform": "ios"}, {"user_id": "a", "platform": "android"}])
    assert selected(con, segment_sql(rules, dialect="duckdb", at=AT, rule="A")) == {"i"}
    assert selected(con, segment_sql(rules, dialect="duckdb", at=AT, rule="B")) == {"a"}
    assert segment_predicate(rules, dialect="duckdb", at=AT, rule="B") == '"u"."platform" = \'android\''


# Identifiers ------------------------------------------------------------------------------------


def _aliases(tree: sqlglot.exp.Expr) -> set[str]:
    out = {a.name for a in tree.find_all(sqlglot.exp.TableAlias) if a.name}
    for unnest in tree.find_all(sqlglot.exp.Unnest):  # BigQuery: UNNEST(...) AS z names the element
        out.update(unnest.alias_column_names)
    return out


@pytest.mark.parametrize("dialect", DIALECTS)
def test_qualified_columns_resolve_to_the_query_aliases(dialect: str) -> None:
    # identifiers as the dialect itself resolves them (Snowflake folds unquoted names to upper case)
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    local = rules_of('segment platform = "ios"; send push weekly thu 17:45 local')
    queries = [segment_sql(local, dialect=dialect, at=AT), candidates_sql(local, dialect=dialect)]
    if dialect != "sqlite":
        queries += [segment_sql(rules_of(LOCAL), dialect=dialect, at=AT), next_occurrence_sql(local, dialect=dialect, at=AT)]
    for sql in queries:
        tree = normalize_identifiers(sqlglot.parse_one(sql, read=dialect), dialect=dialect)
        qualifiers = {c.table for c in tree.find_all(sqlglot.exp.Column) if c.table}
        assert qualifiers and qualifiers <= _aliases(tree), sql[:200]


# sqlite -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", ["last_used between 2w and 3w", "first_used before 2026-01-01",
                                       "first_used after 2026-01-01T00:00:00Z", "last_used less than 90m ago"])
def test_sqlite_rejects_time_conditions(condition: str) -> None:
    rules = rules_of(f"segment platform = \"ios\" and {condition}; send push weekly mon 12:00 utc")
    message = (f"<string>:1: '{condition}' cannot be compiled for sqlite: sqlite has no timestamp type, so time "
               "conditions cannot be compared exactly there; use duckdb (which reads sqlite files) or a warehouse dialect")
    for generate in (GENERATORS["segment_sql"], GENERATORS["next_occurrence_sql"], GENERATORS["segment_predicate"]):
        with pytest.raises(lapse_dsl.UnsupportedError) as info:
            generate(rules, dialect="sqlite")
        assert str(info.value) == message
        assert isinstance(info.value, lapse_dsl.LapseError)


def _sqlite_users() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE users (user_id TEXT, timezone TEXT, platform TEXT, push_opted_in BOOLEAN, last_used TEXT)")
    conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?, NULL)", [
        ("ios", "Europe/Paris", "ios", True), ("web", None, "web", None), ("null", "bogus", None, True)])
    return conn


def test_sqlite_runs_segments_without_time_conditions() -> None:
    rules = rules_of('segment not (platform = "web" and push_opted_in) and last_used is not set; send push weekly mon 12:00 utc')
    conn = _sqlite_users()
    assert {r[0] for r in conn.execute(segment_sql(rules, dialect="sqlite", at=AT))} == {"ios"}


def test_sqlite_runs_local_segments_without_time_conditions() -> None:
    # regression: the query joined the per-zone table, whose column names sqlite drops
    rules = rules_of('segment platform = "ios"; send push weekly mon 12:00 local')
    conn = _sqlite_users()
    assert {r[0] for r in conn.execute(segment_sql(rules, dialect="sqlite", at=AT))} == {"ios"}
    with pytest.raises(lapse_dsl.UnsupportedError) as info:
        next_occurrence_sql(rules, dialect="sqlite", at=AT)
    assert str(info.value) == "<string>:1: sqlite cannot name the columns of the per-zone table this query joins"


# Next occurrence and candidates ---------------------------------------------------------------


@pytest.mark.warehouse
def test_next_occurrence_matches_the_plugins_first_decision(con: Any) -> None:
    rules = rules_of(LOCAL.replace("between 2w and 3w", "between 2w and 3w and platform = \"ios\""))
    zones = ["America/New_York", "Europe/Paris", "Asia/Kolkata", "Pacific/Apia", "Mars/Olympus", None]
    rows = [{"user_id": f"{zone}|{i}", "timezone": zone, "platform": "ios" if i % 5 else "web",
             "last_used": AT - dt.timedelta(hours=7) * i} for zone in zones for i in range(0, 24 * 5)]
    load_table(con, rows)
    got = dict(con.execute(next_occurrence_sql(rules, dialect="duckdb", at=AT)).fetchall())
    expected = {}
    for user in rows:
        decisions = rules.evaluate(user, AT)
        if decisions and decisions[0].send_at < AT + dt.timedelta(days=7):  # weekly: the next occurrence
            expected[user["user_id"]] = decisions[0].send_at
    assert got and got == expected


@pytest.mark.warehouse
def test_next_occurrence_skips_zones_past_until(con: Any) -> None:
    rules = rules_of('default timezone "America/Los_Angeles"\n'
                     'campaign "C" { segment push_opted_in; send push weekly thu 17:45 local; until 2026-12-03 }\n')
    at = z("2026-12-03T20:00Z")  # Thu 17:45 is past in Tokyo (next: 12-10, after until), ahead in Los Angeles
    users = [{"user_id": "tokyo", "timezone": "Asia/Tokyo", "push_opted_in": True},
             {"user_id": "la", "timezone": "America/Los_Angeles", "push_opted_in": True},
             {"user_id": "bogus", "timezone": "bogus", "push_opted_in": True}]
    load_table(con, users)
    expected = {u["user_id"]: d.send_at for u in users for d in rules.evaluate(u, at)}
    assert expected == {"la": z("2026-12-04T01:45Z"), "bogus": z("2026-12-04T01:45Z")}
    assert dict(con.execute(next_occurrence_sql(rules, dialect="duckdb", at=at)).fetchall()) == expected


@pytest.mark.warehouse
def test_candidates_drop_users_the_time_independent_part_excludes(con: Any) -> None:
    rules = rules_of('segment last_used between 2w and 3w and platform = "ios"; send push weekly thu 17:45 local')
    load_table(con, [{"user_id": "ios", "platform": "ios", "last_used": FUTURE},
                     {"user_id": "web", "platform": "web", "last_used": H},
                     {"user_id": "unknown", "last_used": H}])
    assert selected(con, candidates_sql(rules, dialect="duckdb")) >= {"ios"}
    assert "web" not in selected(con, candidates_sql(rules, dialect="duckdb"))


@pytest.mark.warehouse
def test_candidates_keep_skewed_users_of_fixed_instants(con: Any) -> None:
    # regression: a future time counts as now, so 'before INSTANT' depends on now, not only on the row
    rules = rules_of("segment first_used before 2026-12-01T00:00:00Z; send push weekly thu 17:45 utc")
    user = {"user_id": "skew", "first_used": FUTURE}
    assert rules.evaluate(user, AT)  # first_used counts as now, before the instant
    load_table(con, [user])
    assert selected(con, candidates_sql(rules, dialect="duckdb")) == {"skew"}
