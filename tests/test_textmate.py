"""The TextMate grammar (editors/lapse.tmLanguage.json) colours every token of real rules as the
language means it.

Every file in rules/ and every ``lapse`` block of the docs is tokenized by vscode-textmate on
Oniguruma, the engine VS Code runs (editors/test/tokenize.mjs, one Node process for all texts). The
expected scopes come from the language's own parser: each text is parsed by grammar/lapse.lark with
every token kept, and each token's terminal and the rule it sits in (a STRING in ``zone_named`` is
a time zone, in ``segment_ref`` a named segment, in ``message_field`` a Liquid template) say which
scope every character of it must carry.

Needs Node.js 18+ and npm: the session installs editors/package-lock.json (vscode-textmate,
vscode-oniguruma) into editors/node_modules when it is missing.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import lark
import pytest
from lark import Token, Tree
from test_docs_examples import doc_files, fenced_blocks

from lapse_dsl.parse import _Postlex, grammar_text

ROOT = Path(__file__).resolve().parent.parent
EDITORS = ROOT / "editors"
GRAMMAR = EDITORS / "lapse.tmLanguage.json"
VSCODE = EDITORS / "vscode"
ROOT_SCOPE = "source.lapse"
STRING = "string.quoted.double.lapse"
Lines = list[list[tuple[int, int, list[str]]]]  # a text's tokens: per line, (start, end, scopes)

# Constructs that neither rules/ nor the docs' examples write, so that every row of the tables
# below is exercised (test_every_expectation_is_exercised).
EXTRA = """\
segment (last_used less than 2d ago and first_used more than 1mo ahead and trial_ends before 2026-12-01T09:00+05:30
    and not (beta = false or tier is set or legacy = true and app_version is not set)
    and "Named"); send webhook every 3 weeks mon, fri 08:15 utc; from 2026-01-05
segment "Named" = sessions <= 2.5 and x != 3
segment "Named"; send content_card daily 09:00 "Europe/Paris"; cap 3 per 1w; grace 90m
segment last_used between 2w and 3w ago; send sms cron "0 9 * * 1" "Asia/Kolkata"; quiet hours 22:00 to 06:30
segment last_used after 2026-12-01; send email once 2026-12-24 at preferred_time or 09:00 local; status paused
"""

# What each token must be coloured as. Keywords by their words; the words that mean different
# things in different rules (the `and` of `between A and B`, the `or` of `at ATTR or HH:MM`, the
# `after` of `reeligible after`, the `=` of a named segment) by the rule they are in.
CLAUSE_WORDS = ("default timezone attribute segment campaign send message variant holdout salt reeligible cap per "
                "quiet hours to from until grace status")
SCHEDULE_WORDS = "daily weekly every weeks monthly cron once at"
PREDICATE_WORDS = "between more less than ago ahead before after in is set"
KEYWORDS: dict[str, str] = {
    **{w: "keyword.control.lapse" for w in CLAUSE_WORDS.split()},
    **{w: "keyword.other.schedule.lapse" for w in SCHEDULE_WORDS.split()},
    **{w: "keyword.operator.word.lapse" for w in PREDICATE_WORDS.split()},
    **{w: "keyword.operator.logical.lapse" for w in ("and", "or", "not")},
    "true": "constant.language.boolean.lapse",
    "false": "constant.language.boolean.lapse",
    "local": "support.constant.timezone.lapse",
    "utc": "support.constant.timezone.lapse",
    ";": "punctuation.separator.clause.lapse",
    "{": "punctuation.section.block.begin.lapse",
    "}": "punctuation.section.block.end.lapse",
    "(": "punctuation.section.parens.begin.lapse",
    ")": "punctuation.section.parens.end.lapse",
    "[": "punctuation.section.brackets.begin.lapse",
    "]": "punctuation.section.brackets.end.lapse",
    ",": "punctuation.separator.comma.lapse",
    ":": "punctuation.separator.colon.lapse",
    ".": "punctuation.accessor.lapse",
}
IN_RULE: dict[tuple[str, str], str] = {
    ("between", "and"): "keyword.operator.word.lapse",
    ("user_clock", "or"): "keyword.other.schedule.lapse",
    ("not_in_list", "not"): "keyword.operator.word.lapse",
    ("is_not_set", "not"): "keyword.operator.word.lapse",
    ("reeligible", "after"): "keyword.control.lapse",
    ("segment_def", "="): "keyword.operator.assignment.lapse",
    ("default_timezone", "STRING"): "support.constant.timezone.lapse",
    ("zone_named", "STRING"): "support.constant.timezone.lapse",
    ("campaign", "STRING"): "entity.name.type.campaign.lapse",
    ("segment_def", "STRING"): "entity.name.function.segment.lapse",
    ("segment_ref", "STRING"): "entity.name.function.segment.lapse",
    ("segment", "STRING"): "entity.name.label.segment.lapse",
    ("variant", "STRING"): "entity.name.label.variant.lapse",
    ("message_field", "STRING"): STRING,
    ("salt", "STRING"): STRING,
    ("cron", "STRING"): STRING,
    ("string", "STRING"): STRING,
    ("path", "NAME"): "variable.other.attribute.lapse",
    ("attribute_decl", "NAME"): "support.type.primitive.lapse",
    ("send", "NAME"): "support.constant.channel.lapse",
    ("variant_send", "NAME"): "support.constant.channel.lapse",
    ("cap", "NAME"): "support.constant.channel.lapse",
    ("days", "NAME"): "constant.language.weekday.lapse",
    ("message_field", "NAME"): "variable.other.property.field.lapse",
    ("status", "NAME"): "constant.language.status.lapse",
    ("quiet_hours", "NAME"): "constant.language.quiet-mode.lapse",
}
TERMINALS: dict[str, str] = {
    "COMMENT": "comment.line.number-sign.lapse",
    "DURATION": "constant.numeric.duration.lapse",
    "PERCENT": "constant.numeric.percentage.lapse",
    "CLOCK": "constant.numeric.time.lapse",
    "DATE": "constant.numeric.date.lapse",
    "DATETIME": "constant.numeric.datetime.lapse",
    "INT": "constant.numeric.integer.lapse",
    "NUMBER": "constant.numeric",
    "COMPARE": "keyword.operator.comparison.lapse",
}


@attrs.frozen
class Text:
    name: str
    text: str


@attrs.frozen
class Expect:
    """A token of the parse and the scope each character of it must carry."""

    line: int  # 0-based
    start: int  # UTF-16 = code point columns: rules are ASCII and the docs' examples BMP
    end: int
    scope: str
    key: str  # the table entry it came from, for the coverage test

    def __str__(self) -> str:
        return f"{self.line + 1}:{self.start + 1} {self.key} -> {self.scope}"


def _texts() -> list[Text]:
    rules = sorted((ROOT / "rules").glob("*.lapse"))
    texts = [Text(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8")) for p in rules]
    texts += [Text(b.id, b.text) for path in doc_files() for b in fenced_blocks(path) if b.info == "lapse"]
    texts.append(Text("EXTRA", EXTRA))
    return texts


TEXTS = _texts()
# Texts for single tests, tokenized with the others
WRAPPED = Text("wrapped list", 'segment (country in ["US",\n    "CA"] and "Named"); send push daily 09:00 local\n')
UNCLOSED = Text("unclosed", 'campaign "Lapsed {\nsegment last_used between 2w and 3w\n'
                            'send push weekly thu 17:45 local; message title "Hi {{ x\n}\n')
PROBES = (WRAPPED, UNCLOSED)


_COMMENTS: list[Token] = []  # what the parser's lexer skipped: filled by each parse


@functools.cache
def _parser() -> lark.Lark:
    """grammar/lapse.lark as the project parses it, but keeping every token (keywords and
    punctuation too) in the tree."""
    return lark.Lark(grammar_text(), parser="lalr", lexer="contextual", keep_all_tokens=True,
                     maybe_placeholders=True, postlex=_Postlex(), lexer_callbacks={"COMMENT": _COMMENTS.append})


def _tokens(tree: Tree[Token]) -> Iterator[tuple[str, Token]]:
    for child in tree.children:
        if isinstance(child, Tree):
            yield from _tokens(child)
        elif isinstance(child, Token) and child.type != "_NL":
            yield tree.data, child


@functools.cache
def expectations(text: str) -> tuple[Expect, ...]:
    """Per token of the parse of ``text``: the scope its span must carry."""
    _COMMENTS.clear()
    tree = _parser().parse(text)
    out = []
    for rule, tok in [*_tokens(tree), *(("", c) for c in _COMMENTS)]:
        assert tok.line is not None and tok.column is not None
        word = str(tok) if tok.type not in TERMINALS and tok.type not in ("STRING", "NAME") else tok.type
        if (rule, word) in IN_RULE:
            key, scope = f"{rule} {word}", IN_RULE[rule, word]
        elif word in KEYWORDS:
            key, scope = word, KEYWORDS[word]
        else:
            key, scope = word, TERMINALS[word]
        start, end = tok.column - 1, tok.column - 1 + len(tok)
        if tok.type == "STRING":  # the string scope over the quotes too, its kind inside them
            out.append(Expect(tok.line - 1, start, end, STRING, "STRING"))
            start, end = start + 1, end - 1
        out.append(Expect(tok.line - 1, start, end, scope, key))
    return tuple(out)


def _has(scopes: list[str], scope: str) -> bool:
    return any(s == scope or s.startswith(scope + ".") for s in scopes)


# Running the tokenizer ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """editors/node_modules, installed from editors/package-lock.json when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("tests/test_textmate.py tokenizes with vscode-textmate and needs Node.js 18+ and npm on PATH: "
                    "install them (Debian/Ubuntu: apt-get install nodejs npm; or https://nodejs.org)", pytrace=False)
    modules = EDITORS / "node_modules"
    if not all((modules / name / "package.json").is_file() for name in ("vscode-textmate", "vscode-oniguruma")):
        done = subprocess.run([npm, "ci", "--prefix", str(EDITORS), "--no-audit", "--no-fund", "--prefer-offline",
                               "--loglevel=error"], capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.fail(f"npm ci --prefix editors failed (exit {done.returncode}); the test needs the npm registry "
                        f"once:\n{done.stdout}{done.stderr}", pytrace=False)
    return modules


def tokenize(texts: list[str], grammar: Path = GRAMMAR) -> list[Lines]:
    """Per text, per line, the tokens (start, end, scopes) VS Code would give it."""
    done = subprocess.run(["node", str(EDITORS / "test" / "tokenize.mjs"), str(grammar)], input=json.dumps(texts),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: list[Lines] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="session")
def tokenized(node_modules: Path) -> dict[str, Lines]:
    """Every text, by name, tokenized in one Node process."""
    texts = [*TEXTS, *PROBES]
    return dict(zip([t.name for t in texts], tokenize([t.text for t in texts]), strict=True))


def scopes_over(lines: Lines, line: int, start: int, end: int) -> Iterator[list[str]]:
    """The scopes of every token that overlaps columns [start, end) of a line."""
    for s, e, scopes in lines[line]:
        if s < end and e > start:
            yield scopes


def wrong(text: Text, lines: Lines, expects: Sequence[Expect]) -> list[str]:
    """Each expectation that some token of its span does not meet, said for a person."""
    src = text.text.split("\n")
    bad = []
    for x in expects:
        got = list(scopes_over(lines, x.line, x.start, x.end))
        if not got or not all(_has(sc, x.scope) for sc in got):
            bad.append(f"{text.name}:{x} but {src[x.line][x.start:x.end]!r} is {[sc[1:] for sc in got]}")
    return bad


# The tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", TEXTS, ids=[t.name for t in TEXTS])
def test_every_token_has_its_scope(text: Text, tokenized: dict[str, Lines]) -> None:
    bad = wrong(text, tokenized[text.name], expectations(text.text))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("text", TEXTS, ids=[t.name for t in TEXTS])
def test_no_text_is_left_uncoloured(text: Text, tokenized: dict[str, Lines]) -> None:
    bare = []
    for number, (line, tokens) in enumerate(zip(text.text.split("\n"), tokenized[text.name], strict=True), 1):
        for s, e, scopes in tokens:
            if scopes == [ROOT_SCOPE] and line[s:e].strip():
                bare.append(f"{text.name}:{number}:{s + 1}: {line[s:e]!r}")
    assert not bare, "only source.lapse:\n" + "\n".join(bare)


def test_every_expectation_is_exercised() -> None:
    """Each row of the tables above meets a real token, and every keyword and punctuation of
    grammar/lapse.lark has a row: a word added to the language needs its colour here."""
    used = {x.key for t in TEXTS for x in expectations(t.text)}
    rows = {f"{r} {w}" for r, w in IN_RULE} | set(KEYWORDS) | set(TERMINALS) | {"STRING"}
    assert rows - used == set()
    literals = {t.pattern.value for t in _parser().terminals if isinstance(t.pattern, lark.lexer.PatternStr)}
    assert literals - set(KEYWORDS) - {w for _, w in IN_RULE} == set()


LIQUID = re.compile(r"\{\{\s*(?P<var>[a-z_]\w*)(?:\.\w+)*(?:\s*(?P<pipe>\|)\s*(?P<filter>\w+)(?::\s*(?P<arg>'[^']*'))?)?\s*\}\}")


@pytest.mark.parametrize("text", TEXTS, ids=[t.name for t in TEXTS])
def test_liquid_in_messages_is_embedded(text: Text, tokenized: dict[str, Lines]) -> None:
    """Inside a message field: `{{ var | filter: 'arg' }}` is embedded Liquid, the rest is string."""
    lines = tokenized[text.name]
    expects: list[Expect] = []
    leaked = []
    for x in expectations(text.text):
        if x.key != "message_field STRING":
            continue
        covered: set[int] = set()
        for m in LIQUID.finditer(text.text.split("\n")[x.line], x.start, x.end):
            covered.update(range(m.start(), m.end()))
            expects.append(Expect(x.line, m.start(), m.start() + 2, "punctuation.section.embedded.begin.liquid", "{{"))
            expects.append(Expect(x.line, m.end() - 2, m.end(), "punctuation.section.embedded.end.liquid", "}}"))
            for group, scope in (("var", "variable.other.liquid"), ("pipe", "keyword.operator.pipe.liquid"),
                                 ("filter", "support.function.filter.liquid"), ("arg", "string.quoted.single.liquid")):
                if m.group(group):
                    expects.append(Expect(x.line, m.start(group), m.end(group), scope, group))
        leaked += [f"{x.line + 1}:{c + 1}" for c in range(x.start, x.end) if c not in covered
                   for sc in scopes_over(lines, x.line, c, c + 1) if _has(sc, "meta.embedded")]
    bad = wrong(text, lines, expects)
    assert not bad and not leaked, "\n".join(bad) + f"\nLiquid scope outside {{{{ }}}} at {leaked}"


def test_named_tokens_of_the_braze_rule(tokenized: dict[str, Lines]) -> None:
    """The tokens an ops person would look at first, found in the text by hand."""
    text = (ROOT / "rules" / "braze_lapsing.lapse").read_text(encoding="utf-8").split("\n")
    lines = tokenized["rules/braze_lapsing.lapse"]

    def at(needle: str, scope: str, line_of: str | None = None, after: str = "") -> None:
        number = next(i for i, line in enumerate(text) if (line_of or needle) in line)
        start = text[number].index(after + needle) + len(after)
        got = list(scopes_over(lines, number, start, start + len(needle)))
        assert got and all(_has(sc, scope) for sc in got), (needle, scope, got)

    at("# The Braze", "comment.line.number-sign.lapse")
    at('"America/New_York"', STRING)
    at("America/New_York", "support.constant.timezone.lapse")
    at("2w", "constant.numeric.duration.lapse", line_of="segment")
    at("17:45", "constant.numeric.time.lapse", line_of="send push")
    at("thu", "constant.language.weekday.lapse", line_of="send push")
    at("push", "support.constant.channel.lapse", line_of="send push")
    at("local", "support.constant.timezone.lapse", line_of="send push")
    at("last_used", "variable.other.attribute.lapse", line_of="segment")
    at("and", "keyword.operator.word.lapse", line_of="segment", after="2w ")
    at("and", "keyword.operator.logical.lapse", line_of="segment", after="3w ")
    at("Lapsed users - 2 weeks", "entity.name.type.campaign.lapse", line_of="campaign \"")
    at("first_name", "variable.other.liquid", line_of="message")


def test_strings_in_a_wrapped_list_are_values(tokenized: dict[str, Lines]) -> None:
    """A string on a continuation line of a list is a value, not a named segment."""
    text = WRAPPED.text
    lines = tokenized[WRAPPED.name]
    ca = text.split("\n")[1].index('"CA"')
    assert not any(_has(sc, "entity.name") for sc in scopes_over(lines, 1, ca, ca + 4))
    named = text.split("\n")[1].index('"Named"')
    assert all(_has(sc, "entity.name.function.segment.lapse") for sc in scopes_over(lines, 1, named + 1, named + 6))


def test_an_unclosed_string_stays_on_its_line(tokenized: dict[str, Lines]) -> None:
    """Strings never span lines: an unclosed one (or an unclosed Liquid tag in it) ends with its line."""
    lines = tokenized[UNCLOSED.name]
    for number in (1, 3):
        assert not any(_has(sc, STRING) for _, _, sc in lines[number]), lines[number]


# The VS Code extension ----------------------------------------------------------------------


def test_the_extension_ships_the_same_grammar() -> None:
    """editors/lapse.tmLanguage.json is the grammar; the extension holds a byte-identical copy,
    since a VS Code extension cannot point outside its folder."""
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (grammar,) = manifest["contributes"]["grammars"]
    (language,) = manifest["contributes"]["languages"]
    copy = VSCODE / grammar["path"]
    assert copy.read_bytes() == GRAMMAR.read_bytes(), f"copy {GRAMMAR.relative_to(ROOT)} to {copy.relative_to(ROOT)}"
    assert grammar["scopeName"] == json.loads(GRAMMAR.read_text(encoding="utf-8"))["scopeName"] == ROOT_SCOPE
    assert grammar["language"] == language["id"] == "lapse" and language["extensions"] == [".lapse"]
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"] == {"lineComment": "#"}
    assert (VSCODE / manifest["main"]).is_file()
