"""``lapse diff``: what a change to the rules does to the audience, user by user.

Two rule sets, OLD and NEW, each a file, a folder or a git revision of one (``REV:PATH``, read
with ``git`` into memory, never checked out), are evaluated for every user of one source at one
instant, on the compiled path :meth:`lapse_dsl.RuleSet.evaluate` (the path hosts and ``lapse run``
use). Per campaign it counts the users who enter (a decision in NEW, none in OLD), leave, change
send time, change variant or change holdout group, with a few example user ids each. The users
are read once, and memory holds only the counts and the examples.

Campaigns are matched by name; a campaign that only OLD has and one that only NEW has are one
campaign **renamed** when they have the same explicit ``salt`` (the documented way to rename a
campaign without reshuffling its users) or the same definition apart from the name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

import attrs

from . import nodes as n
from .batch import history_of
from .describe import checked
from .errors import Diagnostic, LapseError, UserDataError
from .format import quote
from .model import CheckedRule, Decision
from .ruleset import RuleSet, decode, read_sources
from .sources import Source, counted, problem
from .timecalc import iso_utc
from .userdata import user_id_of

__all__ = ["KINDS", "CampaignDiff", "Diff", "RulesSpecError", "SideError", "diff_users", "load_side", "read_spec"]

# what can change for one user and one campaign, in the order the table shows them
KINDS = ("enter", "leave", "send_time", "variant", "held_out")
_HEADINGS = {"enter": "enter", "leave": "leave", "send_time": "send time", "variant": "variant", "held_out": "held out"}


class RulesSpecError(Exception):
    """OLD or NEW names nothing that can be read (a usage error: exit 2)."""


class SideError(LapseError):
    """OLD or NEW does not parse or check: the side, what it names, and the diagnostics."""

    def __init__(self, side: str, spec: str, cause: LapseError) -> None:
        self.side = side
        self.spec = spec
        self.diagnostics: tuple[Diagnostic, ...] = tuple(getattr(cause, "diagnostics", ()))
        super().__init__(f"{side} ({spec}) does not check:\n{cause}" if self.diagnostics else f"{side} ({spec}): {cause}")


# reading a side -------------------------------------------------------------------------------------


def read_spec(spec: str) -> list[tuple[str, str]]:
    """``(source name, text)`` of every rule file ``spec`` names: a file or folder on disk, else
    ``REV:PATH``, a file or folder of a git revision (PATH as ``git show REV:PATH`` reads it:
    from the repository's top, or from the current folder when it starts with ``./`` or ``../``).
    A path that exists on disk wins over the ``REV:PATH`` reading of the same text."""
    if Path(spec).exists():
        return read_sources(spec)
    rev, colon, path = spec.partition(":")
    if not colon:
        raise RulesSpecError(f"{spec}: no such file or folder (a git revision is written REV:PATH, as in HEAD~1:rules/)")
    if not rev or rev.startswith("-"):
        raise RulesSpecError(f"{spec}: {'no' if not rev else 'not a'} git revision before ':' (write REV:PATH, as in "
                             "HEAD~1:rules/)")
    commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"])
    if commit.returncode != 0:
        inside = _git(["rev-parse", "--git-dir"])
        if inside.returncode != 0:
            raise RulesSpecError(f"{spec}: the current folder is not in a git repository, so {rev!r} names no revision")
        raise RulesSpecError(f"{spec}: unknown git revision {rev!r}")
    sha = commit.stdout.decode().strip()
    found = _git(["rev-parse", "--verify", "--quiet", f"{sha}:{path}"])
    if found.returncode != 0:
        raise RulesSpecError(f"{spec}: no such file or folder in revision {rev!r}")
    obj = found.stdout.decode().strip()
    kind = _git(["cat-file", "-t", obj]).stdout.decode().strip()
    if kind == "blob":
        return [(spec, decode(spec, _blobs([obj])[0]))]
    entries = _tree(obj)
    if not entries:
        raise LapseError(f"{spec}: no .lapse files in this folder")
    prefix = path if not path or path.endswith("/") else path + "/"
    names = [f"{rev}:{prefix}{rel}" for rel, _ in entries]
    return [(name, decode(name, data)) for name, data in zip(names, _blobs([sha for _, sha in entries]), strict=True)]


def _git(args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], input=data, capture_output=True, check=False)
    except FileNotFoundError:
        raise RulesSpecError("git is not installed, and REV:PATH is read with git") from None


def _tree(obj: str) -> list[tuple[str, str]]:
    """``(path, blob)`` of every ``.lapse`` file under a tree (recursively), in the order
    :func:`lapse_dsl.ruleset.rule_files` gives a folder's files. Links and submodules are skipped."""
    out = []
    for entry in _git(["ls-tree", "-r", "-z", obj]).stdout.decode("utf-8", "surrogateescape").split("\0"):
        head, tab, rel = entry.partition("\t")
        if not tab:
            continue
        mode, kind, sha = head.split()
        if kind == "blob" and mode != "120000" and rel.endswith(".lapse"):
            out.append((rel, sha))
    return sorted(out, key=lambda e: PurePosixPath(e[0]))


def _blobs(shas: Sequence[str]) -> list[bytes]:
    """The contents of blobs, read by one ``git cat-file --batch``."""
    done = _git(["cat-file", "--batch"], "".join(f"{s}\n" for s in shas).encode())
    out, data, at = [], done.stdout, 0
    for _ in shas:
        end = data.index(b"\n", at)
        size = int(data[at:end].split()[2])
        out.append(data[end + 1:end + 1 + size])
        at = end + 1 + size + 1  # the content, then a new line
    return out


def load_side(side: str, spec: str, *, default_timezone: str = "UTC", naive_timezone: str | None = None) -> RuleSet:
    """The rule set ``spec`` names (see :func:`read_spec`), compiled. Raises
    :class:`RulesSpecError` when nothing can be read, :class:`SideError` (naming ``side``, OLD or
    NEW) when the rules do not parse or check."""
    try:
        sources = read_spec(spec)
        result, _ = checked(sources)
    except RulesSpecError as exc:
        raise RulesSpecError(f"{side} {exc}") from None
    except LapseError as exc:
        raise SideError(side, spec, exc) from None
    digest = hashlib.sha256(b"".join(text.encode("utf-8") + b"\0" for _, text in sources))
    return RuleSet(result, default_timezone=default_timezone, naive_timezone=naive_timezone, version=digest.hexdigest())


# matching campaigns -------------------------------------------------------------------------------


def _explicit_salt(rule: CheckedRule) -> str | None:
    return rule.salt if any(isinstance(c, n.Salt) for c in rule.rule.clauses) else None


def _definition(rule: CheckedRule) -> tuple[Any, ...]:
    """Everything that decides what a campaign sends, apart from its name and where it is written
    (an implicit salt is the name, so it is left out with it). Message templates by their text."""
    body = attrs.evolve(rule, name="", source="", line=0, salt=_explicit_salt(rule) or "")
    texts = tuple((k, t.text) for k, t in rule.message)
    variants = tuple((v.name, tuple((k, t.text) for k, t in v.message)) for v in rule.variants)
    return body, texts, variants


@attrs.define
class CampaignDiff:
    """One campaign's changes: ``campaign`` is its NEW name (its OLD name when removed)."""

    campaign: str
    old_name: str | None
    new_name: str | None
    change: str  # "same", "changed", "renamed", "added" or "removed"
    renamed_by: str = ""  # for a rename: "salt" or "definition"
    old: int = 0  # users with a decision in OLD
    new: int = 0
    counts: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(KINDS, 0))
    examples: dict[str, list[str]] = attrs.Factory(lambda: {k: [] for k in KINDS})

    def to_json(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "old_name": self.old_name, "change": self.change,
                "renamed_by": self.renamed_by or None, "old": self.old, "new": self.new,
                **{k: {"count": self.counts[k], "examples": self.examples[k]} for k in KINDS}}


def match(old: Sequence[CheckedRule], new: Sequence[CheckedRule]) -> list[CampaignDiff]:
    """The campaigns of both sides, paired: NEW's in order (renamed ones with their OLD name),
    then the ones NEW removed, in OLD's order."""
    by_old = {r.name: r for r in old}
    new_names = {r.name for r in new}
    removed = [r for r in old if r.name not in new_names]
    out = []
    for rule in new:
        before = by_old.get(rule.name)
        if before is not None:
            out.append(CampaignDiff(rule.name, rule.name, rule.name, "same" if _definition(before) == _definition(rule)
                                    else "changed"))
            continue
        salt = _explicit_salt(rule)
        was = next((r for r in removed if salt is not None and _explicit_salt(r) == salt), None)
        how = "salt"
        if was is None:
            was, how = next((r for r in removed if _definition(r) == _definition(rule)), None), "definition"
        if was is None:
            out.append(CampaignDiff(rule.name, None, rule.name, "added"))
        else:
            removed.remove(was)
            out.append(CampaignDiff(rule.name, was.name, rule.name, "renamed", how))
    out.extend(CampaignDiff(r.name, r.name, None, "removed") for r in removed)
    return out


# the users ----------------------------------------------------------------------------------------


@attrs.define
class Diff:
    """The whole comparison: every record read is a compared user or a rejected record."""

    old_spec: str
    new_spec: str
    at: dt.datetime
    campaigns: list[CampaignDiff]
    read: int = 0
    compared: int = 0
    rejected: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old_spec, "new": self.new_spec, "at": iso_utc(self.at), "read": self.read,
                "compared": self.compared, "rejected": self.rejected, "campaigns": [c.to_json() for c in self.campaigns]}

    def render(self) -> str:
        """The table, then a few example users of each change."""
        head = (f"OLD {self.old_spec} -> NEW {self.new_spec} at {iso_utc(self.at)}: {counted(self.read, 'record')} "
                f"read, {counted(self.compared, 'user')} compared, {self.rejected} rejected")
        columns = ["campaign", "change", "old", "new", *(_HEADINGS[k] for k in KINDS)]
        rows = [[quote(c.campaign), c.change, str(c.old), str(c.new), *(str(c.counts[k]) for k in KINDS)]
                for c in self.campaigns]
        widths = [max(len(x) for x in column) for column in zip(columns, *rows, strict=True)]
        lines = [head, ""]
        for row in [columns, *rows]:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                     *(cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True))]
            lines.append("  ".join(cells).rstrip())
        if not self.campaigns:
            lines.append("(neither side has a campaign)")
        for c in self.campaigns:
            if c.change == "renamed":
                by = "the same salt" if c.renamed_by == "salt" else "the same definition"
                lines.append(f"renamed: {quote(c.old_name or '')} -> {quote(c.campaign)} ({by})")
        shown = [c for c in self.campaigns if any(c.examples[k] for k in KINDS)]
        if shown:
            lines += ["", "examples (user ids):"]
            for c in shown:
                lines.append(f"  {quote(c.campaign)}")
                lines += [f"    {_HEADINGS[k] + ':':<11} {', '.join(c.examples[k])}" for k in KINDS if c.examples[k]]
        return "\n".join(lines)


def diff_users(old: RuleSet, new: RuleSet, source: Source, now: dt.datetime, *, examples: int, errors: IO[str],
               old_spec: str = "OLD", new_spec: str = "NEW") -> Diff:
    """Evaluate every user of ``source`` with both rule sets at ``now`` and count the changes per
    campaign (up to ``examples`` user ids each). A record that cannot be read, or that either side
    cannot evaluate, is rejected: one JSON line on ``errors`` (``line``, ``user_id``, ``error``,
    the error saying which side)."""
    result = Diff(old_spec, new_spec, now, match(old.rules, new.rules))
    by_old = {c.old_name: c for c in result.campaigns if c.old_name is not None}
    by_new = {c.new_name: c for c in result.campaigns if c.new_name is not None}
    with source:
        for line, record in source:
            result.read += 1
            user_id: str | None = None
            try:
                if isinstance(record, str):
                    raise UserDataError(record)  # a line that is not a record
                user_id = user_id_of(record)
                history = history_of(record)
                before, after = _both(old, new, record, now, history)
            except Exception as exc:  # a bad record costs that record only, never a traceback
                result.rejected += 1
                errors.write(json.dumps({"line": line, "user_id": user_id, "error": _reason(exc)}, ensure_ascii=False)
                             + "\n")
                continue
            result.compared += 1
            _count(user_id, before, after, by_old, by_new, examples)
    return result


class _SidesFailed(Exception):
    def __init__(self, reasons: list[tuple[str, BaseException]]) -> None:
        self.reasons = reasons
        super().__init__()


def _both(old: RuleSet, new: RuleSet, user: Mapping[str, Any], now: dt.datetime,
          history: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Decision], dict[str, Decision]]:
    out: list[dict[str, Decision]] = []
    failed: list[tuple[str, BaseException]] = []
    for side, rules in (("OLD", old), ("NEW", new)):
        try:
            out.append({d.campaign: d for d in rules.evaluate(user, now, history=history)})
        except Exception as exc:
            failed.append((side, exc))
    if failed:
        raise _SidesFailed(failed)
    return out[0], out[1]


def _reason(exc: BaseException) -> str:
    if not isinstance(exc, _SidesFailed):
        return _said(exc)
    said = [(side, _said(e)) for side, e in exc.reasons]
    if len(said) == 2 and said[0][1] == said[1][1]:
        return said[0][1]  # both sides reject it for one reason
    return "; ".join(f"{side}: {text}" for side, text in said)


def _said(exc: BaseException) -> str:
    return exc.render("cli") if isinstance(exc, UserDataError) else problem(exc)


def _count(user_id: str, before: Mapping[str, Decision], after: Mapping[str, Decision],
           by_old: Mapping[str, CampaignDiff], by_new: Mapping[str, CampaignDiff], examples: int) -> None:
    """Add one user's decisions: only the campaigns either side decided for them can change."""
    touched = {id(c): c for c in _touched(before, by_old)} | {id(c): c for c in _touched(after, by_new)}
    for c in touched.values():
        od = before.get(c.old_name) if c.old_name is not None else None
        nd = after.get(c.new_name) if c.new_name is not None else None
        c.old += od is not None
        c.new += nd is not None
        for kind in _kinds(od, nd):
            c.counts[kind] += 1
            if len(c.examples[kind]) < examples:
                c.examples[kind].append(user_id)


def _touched(decisions: Mapping[str, Decision], campaigns: Mapping[str, CampaignDiff]) -> Iterator[CampaignDiff]:
    return (campaigns[name] for name in decisions)


def _kinds(od: Decision | None, nd: Decision | None) -> list[str]:
    """What changed for one user and campaign: a holdout change is not also a variant change
    (a held-out user has no variant)."""
    if od is None:
        return [] if nd is None else ["enter"]
    if nd is None:
        return ["leave"]
    out = ["send_time"] if od.send_at != nd.send_at else []
    if od.held_out != nd.held_out:
        out.append("held_out")
    elif od.variant != nd.variant:
        out.append("variant")
    return out
