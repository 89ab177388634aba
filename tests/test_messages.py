"""Personalised messages (issue 4): Liquid templates rendered per user in a sandbox, checked when the
rules compile, limited to 4 KiB, and failing as ``UserDataError`` rather than crashing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import lapse_dsl
from lapse_dsl import Decision, LapseCheckError, Plugin, RuleSet, UserDataError
from lapse_dsl.templates import MAX_RENDERED_BYTES, Template, TemplateError

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 1, 13, 0, tzinfo=UTC)  # the next 12:00 UTC occurrence is 03-02
BASE: dict[str, Any] = {"user_id": "u1", "last_used": "2025-06-01T00:00:00Z"}


# The attributes these templates read: a template may read only declared (or built-in) attributes.
DECLARED = "".join(
    f"attribute {name}: {kind}\n"
    for name, kind in [
        ("first_name", "string"), ("text", "string"), ("n", "number"), ("tags", "string"), ("custom.tier", "string"),
        ("custom.profile.city", "string"), ("thing", "string"), ("x", "string"), ("m", "string"), ("o", "string"),
        ("l", "string"), ("items", "string"), ("when", "string"),
    ]
)


def campaign(*clauses: str, name: str = "c", send: str = "push daily 12:00 utc", head: str = DECLARED) -> RuleSet:
    lines = ["segment last_used more than 1d ago", f"send {send}", *clauses]
    body = "\n".join(f"    {line}" for line in lines)
    return lapse_dsl.compile(f'{head}campaign "{name}" {{\n{body}\n}}\n')


def decide(rs: RuleSet, **attributes: Any) -> Decision:
    (decision,) = rs.evaluate({**BASE, **attributes}, NOW)
    return decision


def title(template: str, **attributes: Any) -> str:
    return decide(campaign(f"message title {template}"), **attributes).message["title"]


# ---------------------------------------------------------------------------------------------
# variables and the default filter


@pytest.mark.parametrize(
    "attributes",
    [{}, {"first_name": None}, {"first_name": False}, {"first_name": ""}, {"first_name": []}, {"first_name": {}}],
    ids=["missing", "null", "false", "empty-string", "empty-list", "empty-map"],
)
def test_default_applies_to_missing_null_false_and_empty(attributes: dict[str, Any]) -> None:
    assert title("\"Hi {{ first_name | default: 'there' }}\"", **attributes) == "Hi there"


@pytest.mark.parametrize(
    ("value", "shown"), [("Ana", "Ana"), (0, "0"), (True, "true"), (" ", " "), ("Zoë 中文 🦊", "Zoë 中文 🦊")]
)
def test_default_keeps_present_values(value: object, shown: str) -> None:
    assert title("\"Hi {{ first_name | default: 'there' }}\"", first_name=value) == f"Hi {shown}"


def test_missing_variable_without_default_renders_empty() -> None:
    assert title('"Hi {{ first_name }}!"') == "Hi !"


def test_dotted_nested_variables() -> None:
    user = {"custom": {"tier": "gold", "profile": {"city": "Lyon"}}}
    assert title('"{{ custom.tier }} in {{ custom.profile.city }}"', **user) == "gold in Lyon"
    assert title("\"{{ custom.tier | default: 'none' }}\"", custom={}) == "none"
    assert title("\"{{ custom.profile.city | default: 'somewhere' }}\"") == "somewhere"
    assert title("\"{{ custom.tier | upcase }}\"", custom={"tier": "gold"}) == "GOLD"


def test_declared_attributes_used_in_segments_also_render() -> None:
    rs = campaign(
        'message title "{{ custom.tier }}/{{ first_name }}"',
        head="attribute custom.tier: string\nattribute first_name: string\n",
    )
    assert decide(rs, custom={"tier": "platinum"}, first_name="Ana").message == {"title": "platinum/Ana"}


def test_campaign_and_local_send_at_variables() -> None:
    rs = campaign(
        'message title "{{ campaign }}" body "{{ local_send_at }}"',
        name="Win-back – März",
        send='push daily 09:30 "Europe/Berlin"',
    )
    decision = decide(rs, campaign="a user attribute cannot shadow it")
    assert decision.message["title"] == "Win-back – März"
    assert decision.message["body"] == decision.local_send_at.isoformat() == "2026-03-02T09:30:00+01:00"


def test_local_send_at_is_the_deferred_send_time() -> None:
    rs = campaign('message body "{{ local_send_at }}"', "quiet hours 22:00 to 08:00", send='push daily 23:00 "America/New_York"')
    decision = decide(rs)
    assert decision.message["body"] == decision.local_send_at.isoformat()
    assert decision.local_send_at.time() == dt.time(8, 0)


def test_local_send_at_follows_the_users_zone() -> None:
    rs = campaign('message body "{{ local_send_at | date: \'%H:%M %z\' }}"', send="push daily 12:00 local")
    assert decide(rs, timezone="Asia/Kathmandu").message["body"] == "12:00 +0545"


def test_liquid_control_flow_over_user_data() -> None:
    text = (
        '"{% if sessions > 3 %}regular{% else %}new{% endif %}: '
        '{% for t in tags %}{{ t }}{% unless forloop.last %},{% endunless %}{% endfor %}"'
    )
    assert title(text, sessions=5, tags=["a", "b"]) == "regular: a,b"
    assert title(text, sessions=1, tags=[]) == "new: "


def test_static_text_is_returned_as_is() -> None:
    assert title('"We miss you & your {streak}"') == "We miss you & your {streak}"


# ---------------------------------------------------------------------------------------------
# variants


def test_variant_fields_override_the_campaign_message() -> None:
    rs = campaign(
        'message title "Base title" body "Base body {{ first_name }}" url "https://x.example/base"',
        'variant "A" 50% message title "A title"',
        'variant "B" 50% message body "B body {{ first_name }}" image "https://x.example/b.png"',
        'salt "winback-2026"',
    )
    a = decide(rs, user_id="user-23482", first_name="Ana")  # variant bucket 4999
    b = decide(rs, user_id="user-19479", first_name="Ana")  # variant bucket 5000
    assert a.variant == "A"
    assert a.message == {"title": "A title", "body": "Base body Ana", "url": "https://x.example/base"}
    assert b.variant == "B"
    assert b.message == {
        "title": "Base title",
        "body": "B body Ana",
        "url": "https://x.example/base",
        "image": "https://x.example/b.png",
    }


def test_held_out_users_get_no_message_and_no_render() -> None:
    # a template that would fail for this user is never rendered for a held-out one
    rs = campaign('message title "{{ n | divided_by: 0 }}"', "holdout 100%")
    decision = decide(rs, n=1)
    assert decision.held_out and decision.message == {} and decision.variant is None


def test_no_message_clause_gives_an_empty_message() -> None:
    assert decide(campaign()).message == {}


# ---------------------------------------------------------------------------------------------
# the 4 KiB limit and render failures


@pytest.mark.parametrize(
    ("value", "fits"),
    [
        ("a" * 4096, True),
        ("a" * 4097, False),
        ("é" * 2048, True),  # 4096 bytes
        ("é" * 2049, False),  # 4098 bytes, though only 2049 characters
        ("🦊" * 1024, True),
        ("🦊" * 1024 + "a", False),
    ],
    ids=["ascii-4096", "ascii-4097", "2-byte-4096", "2-byte-4098", "4-byte-4096", "4-byte-4097"],
)
def test_rendered_field_limited_to_4_kib(value: str, fits: bool) -> None:
    rs = campaign('message body "{{ text }}"')
    if fits:
        assert decide(rs, text=value).message["body"] == value
    else:
        with pytest.raises(UserDataError, match=r"^c: message body cannot be rendered: ") as info:
            decide(rs, text=value)
        assert info.value.user_id == "u1"


def test_loop_output_hits_the_limit() -> None:
    rs = campaign('message body "{% for i in (1..5000) %}xx{% endfor %}"')
    with pytest.raises(UserDataError, match="cannot be rendered"):
        decide(rs)


def test_a_static_field_over_4_kib_is_a_check_error() -> None:
    with pytest.raises(LapseCheckError, match=f"longer than {MAX_RENDERED_BYTES} bytes"):
        campaign(f'message body "{"x" * 4097}"')
    assert decide(campaign(f'message body "{"x" * 4096}"')).message["body"] == "x" * 4096


@pytest.mark.parametrize(
    ("template", "attributes"),
    [
        ('"{{ n | divided_by: 0 }}"', {"n": 1}),
        ('"{{ n | times: n }}"', {"n": 10**2500}),  # a 5,000-digit result Python refuses to print
        ('"{{ items | sort }}"', {"items": [1, "a", None]}),
        ('"{{ when | date: \'%Y\' }}"', {"when": 1e300}),
        ('"{% for i in (1..n) %}{% endfor %}"', {"n": 10**9}),
    ],
    ids=["divide-by-zero", "huge-int", "unsortable", "bad-date", "huge-range"],
)
def test_render_failure_is_user_data_error(template: str, attributes: dict[str, Any]) -> None:
    with pytest.raises(UserDataError, match=r"^c: message title cannot be rendered: ") as info:
        decide(campaign(f"message title {template}"), **attributes)
    assert info.value.user_id == "u1"


class _Hostile:
    secret = "do not show"

    def __str__(self) -> str:
        raise RuntimeError("boom")


def test_a_host_object_that_fails_to_print_is_user_data_error() -> None:
    with pytest.raises(UserDataError, match="cannot be rendered: RuntimeError: boom"):
        decide(campaign('message title "{{ thing }}"'), thing=_Hostile())


def test_a_bad_render_does_not_stop_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "c.lapse"
    path.write_text(
        'attribute n: number\ncampaign "c" {\n    segment last_used more than 1d ago\n    send push daily 12:00 utc\n'
        '    message title "{{ 10 | divided_by: n }}"\n}\n',
        encoding="utf-8",
    )
    plugin = Plugin.from_path(path)
    users = [{**BASE, "user_id": "a", "n": 5}, {**BASE, "user_id": "b", "n": 0}, {**BASE, "user_id": "c", "n": 2}]
    results = list(plugin.evaluate_many(users, NOW))
    assert [r.user_id for r in results] == ["a", "b", "c"]
    assert results[0].decisions[0].message == {"title": "2"}
    assert isinstance(results[1].error, UserDataError) and results[1].decisions == ()
    assert results[2].decisions[0].message == {"title": "5"}


def test_non_identifier_and_non_string_keys_do_not_crash() -> None:
    rs = campaign("message title \"{{ first_name | default: 'x' }}\"")
    assert decide(rs, **{"first-name": "y", "a b": 1}).message == {"title": "x"}
    record: dict[Any, Any] = {**BASE, "first_name": "Ana"}
    record[7] = "seven"  # a host's dict, not decoded JSON
    (decision,) = rs.evaluate(record, NOW)
    assert decision.message == {"title": "Ana"}


# ---------------------------------------------------------------------------------------------
# the sandbox


@pytest.mark.parametrize(
    "expression",
    [
        "x.__class__",
        "x.__class__.__mro__",
        "x.__class__.__base__.__subclasses__",
        "x['__class__']",
        "x.__dict__",
        "x.__init__.__globals__",
        "x.upper",
        "x.encode",
        "m.keys",
        "m.items",
        "m.__len__",
        "o.secret",
        "o.__class__.__name__",
    ],
)
def test_python_attributes_are_not_reachable(expression: str) -> None:
    attributes = {"x": "text", "m": {"k": "v"}, "o": _Hostile()}
    rendered = title(f'"[{{{{ {expression} }}}}]"', **attributes)
    assert rendered == "[]"


def test_liquid_properties_still_work() -> None:
    assert title('"{{ x.size }} {{ l.first }} {{ l.last }} {{ l[1] }}"', x="abc", l=["p", "q", "r"]) == "3 p r q"


@pytest.mark.parametrize("tag", ["include", "render"])
@pytest.mark.parametrize("target", ["/etc/passwd", "pyproject.toml", "../../etc/hostname", "secret"])
def test_include_and_render_cannot_read_files(tag: str, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret").write_text("TOP SECRET", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LapseCheckError) as info:
        campaign(f"message title \"before {{% {tag} '{target}' %}} after\"")
    assert f"'{tag}' is not available" in info.value.message
    # even a template object built directly never renders a file
    with pytest.raises(TemplateError):
        Template(f"{{% {tag} '{target}' %}}")


# ---------------------------------------------------------------------------------------------
# template errors are check errors at their position in the rule file


def _check_error(text: str) -> LapseCheckError:
    with pytest.raises(LapseCheckError) as info:
        lapse_dsl.compile(text, source="msg.lapse")
    return info.value


RULE = 'campaign "c" {{\n    segment last_used more than 1d ago\n    send push daily 12:00 utc\n    {clause}\n}}\n'


@pytest.mark.parametrize(
    ("clause", "needle", "message"),
    [
        ('message title "Hi {% if %} there"', "if %}", "missing expression"),
        ('message title "Hi {% endif %}"', "endif", "unexpected tag 'endif'"),
        ('message body "Hi {{ first_name | shout }}"', "shout", "unknown filter 'shout'"),
        ('message title "ok" body "x {% nosuchtag %}"', "nosuchtag", "unexpected tag 'nosuchtag'"),
        ("message title \"{{ 'open }}\"", "'open", "unexpected \"'\""),
        ('variant "A" 50% message title "{% for %}"; variant "B" 50% message title "b"', "for %}", "missing expression"),
        (
            "message title \"{% include 'x' %}\"",
            "include",
            "'include' is not available: message templates cannot read other files",
        ),
    ],
)
def test_template_error_points_inside_the_string(clause: str, needle: str, message: str) -> None:
    text = RULE.format(clause=clause)
    error = _check_error(text)
    assert error.source == "msg.lapse"
    assert error.line == 4
    line = text.splitlines()[3]
    assert error.column == line.index(needle) + 1  # 1-based, at the construct Liquid complained about
    assert error.message == f"template does not parse: {message}"
    first_quote = line.index('"', line.index("message"))
    assert error.column > first_quote + 1  # inside the string, after its opening quote


def test_template_error_with_unknown_position_points_at_the_string_start() -> None:
    text = RULE.format(clause='message title "Hi {{ first_name | }}"')
    error = _check_error(text)
    line = text.splitlines()[3]
    assert (error.line, error.column) == (4, line.index('"Hi') + 2)  # the first character inside the quotes


def test_every_template_error_of_a_file_is_reported() -> None:
    text = RULE.format(clause='message title "{% if %}" body "{{ x | nope }}"')
    error = _check_error(text)
    assert [d.message for d in error.diagnostics] == [
        "template does not parse: missing expression",
        "template does not parse: unknown filter 'nope'",
    ]
