"""Template variables are checked when the rules compile (issue 11, item 16): a variable that is not
a schema attribute, a variable the renderer provides or the template's own is an error at its exact
character in the rule file, with a did-you-mean, even behind ``| default:``."""

from __future__ import annotations

from pathlib import Path

import pytest

import lapse_dsl
from lapse_dsl import LapseCheckError
from lapse_dsl.templates import PROVIDED_VARIABLES

HEAD = "attribute first_name: string\nattribute profile.city: string\nattribute tags: string\n"
RULE = 'campaign "c" {{\n    segment last_used more than 1d ago\n    send push daily 12:00 utc\n    {clause}\n}}\n'


def errors(clause: str, head: str = HEAD) -> list[lapse_dsl.Diagnostic]:
    try:
        lapse_dsl.compile(head + RULE.format(clause=clause), source="m.lapse")
    except LapseCheckError as exc:
        return list(exc.diagnostics)
    return []


# (clause, the misspelt name as written, the error's wording after the name)
MISSPELT = [
    ('message title "Hi {{ frist_name }}"', "frist_name", "; did you mean 'first_name'?"),
    ("message title \"Hi {{ frist_name | default: 'there' }}\"", "frist_name", "; did you mean 'first_name'?"),
    ("message title \"{{ 'x' | default: frist_name }}\"", "frist_name", "; did you mean 'first_name'?"),
    ('message body "{% if frist_name %}hi{% endif %}"', "frist_name", "; did you mean 'first_name'?"),
    ('message body "{% unless frist_name == 1 %}hi{% endunless %}"', "frist_name", "; did you mean 'first_name'?"),
    ('message body "{% for t in tagz %}{{ t }}{% endfor %}"', "tagz", "; did you mean 'tags'?"),
    ('message body "{% assign a = frist_name %}{{ a }}"', "frist_name", "; did you mean 'first_name'?"),
    ('message body "{% capture a %}{{ frist_name }}{% endcapture %}{{ a }}"', "frist_name",
     "; did you mean 'first_name'?"),
    ('message body "{% case frist_name %}{% when 1 %}x{% endcase %}"', "frist_name", "; did you mean 'first_name'?"),
    ('message body "{{ profile.ctiy }}"', "profile.ctiy", "; did you mean 'profile.city'?"),
    ('message body "{{ first_name[frist_name] }}"', "frist_name", "; did you mean 'first_name'?"),
    ('message title "a \\"quoted\\" {{ frist_name }}"', "frist_name", "; did you mean 'first_name'?"),
    ('message title "tab\\tnl\\n{{ campaing }}"', "campaing", "; did you mean 'campaign'?"),
    ('message title "{{ loacl_send_at }}"', "loacl_send_at", "; did you mean 'local_send_at'?"),
    ('message title "{{ qqq }}"', "qqq",
     ": declare it ('attribute qqq: TYPE') or use one of campaign, local_send_at, now, today"),
    ('message title "{% for t in tags %}{% endfor %}{{ t }}"', "t }}", None),  # a loop variable outside its loop
    ('variant "A" 50% message title "{{ frist_name }}"; variant "B" 50% message title "b"', "frist_name",
     "; did you mean 'first_name'?"),
]


@pytest.mark.parametrize(("clause", "name", "wording"), MISSPELT)
def test_an_unknown_variable_is_an_error_at_its_character(clause: str, name: str, wording: str | None) -> None:
    (error,) = errors(clause)
    line = (HEAD + RULE.format(clause=clause)).splitlines()[error.line - 1]
    assert (error.source, error.line, error.severity) == ("m.lapse", 7, "error")
    assert error.column == line.index(name, line.index("message")) + 1
    variable = name.split()[0]
    if wording is not None:
        assert error.message == f"unknown template variable '{variable}'{wording}"
    else:
        assert error.message.startswith(f"unknown template variable '{variable}'")


def test_every_unknown_variable_of_a_file_is_reported() -> None:
    found = errors('message title "{{ frist_name }} {{ first_name }} {{ lsat }}" body "{{ qqq }}"')
    assert [d.message.split(";")[0].split(":")[0] for d in found] == [
        "unknown template variable 'frist_name'", "unknown template variable 'lsat'", "unknown template variable 'qqq'"]


ALLOWED = [
    "{{ first_name }}",  # declared
    "{{ user_id }} {{ last_used }} {{ sessions }} {{ timezone }}",  # built in
    "{{ first_name.size }} {{ first_name | upcase }}",  # inside a declared attribute
    "{{ profile.city }} {{ profile }} {{ profile['city'] }}",  # declared, and the map holding it
    " ".join(f"{{{{ {name} }}}}" for name in PROVIDED_VARIABLES),  # the renderer's
    "{% assign a = 1 %}{{ a }} {% capture c %}x{% endcapture %}{{ c }} {% increment k %}",  # the template's own
    "{% for t in tags %}{{ t }}{{ forloop.index }}{% endfor %}",  # loop variables
    "{% for i in (1..3) %}{{ i }}{% endfor %}",
    "{{ 'now' | date: '%Y' }} {{ 'literal' | append: first_name }}",
]


@pytest.mark.parametrize("template", ALLOWED)
def test_known_variables_are_accepted(template: str) -> None:
    escaped = template.replace('"', '\\"')
    assert errors(f'message body "{escaped}"') == []


def test_a_declaration_in_another_file_serves_the_template(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.lapse").write_text("attribute first_name: string\n", encoding="utf-8")
    (folder / "b.lapse").write_text(RULE.format(clause='message title "Hi {{ first_name }}"'), encoding="utf-8")
    assert [r.name for r in lapse_dsl.load(folder).rules] == ["c"]


def test_a_dotted_variable_needs_its_declared_path() -> None:
    head = "attribute custom.tier: string\n"
    assert errors('message title "{{ custom.tier }} {{ custom }}"', head) == []
    (error,) = errors('message title "{{ custom.score }}"', head)
    assert error.message == "unknown template variable 'custom.score'; did you mean 'custom.tier'?"
