"""Catalog stage: load knowledge/*.toml, validate it, and compile its patterns into Signatures."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from diagnose.model import Example, Fix, Signature

SEVERITIES = ("error", "warning", "info")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
MIN_LITERAL = 6


class CatalogError(Exception):
    """The catalog cannot be loaded at all (unreadable file, TOML syntax)."""


INLINE_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


class Pattern:
    """A catalog regex compiled on first use, with the literal every match must contain.

    Most patterns never run on a given input (their literal is absent), so compiling all of them
    up front would dominate start-up.
    """

    __slots__ = ("pattern", "literal", "ignore_case", "_compiled")

    def __init__(self, pattern: str, literal: str | None = None) -> None:
        self.pattern = pattern
        flags = INLINE_FLAGS.match(pattern)
        self.ignore_case = bool(flags and "i" in flags.group(1))
        self.literal = literal
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern)
        return self._compiled

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text)

    @property
    def groupindex(self) -> Any:
        return self.compiled.groupindex

    def required(self) -> str:
        if self.literal is None:
            self.literal = required_literal(self.compiled)
        return self.literal

    def __repr__(self) -> str:
        return f"Pattern({self.pattern!r})"


def knowledge_dir() -> Path:
    """Where the catalog lives: the repo's knowledge/ or the copy installed with the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "knowledge", here / "knowledge"):
        if (candidate / "generated").is_dir():
            return candidate
    raise CatalogError(f"no knowledge/*.toml found next to {here}")


@dataclass(frozen=True)
class Catalog:
    signatures: tuple[Signature, ...]
    problems: tuple[str, ...]  # lint findings; empty for a good catalog

    def by_id(self, sig_id: str) -> Signature | None:
        for sig in self.signatures:
            if sig.id == sig_id or sig_id in sig.aliases:
                return sig
        return None


def _compile(pattern: str, where: str, problems: list[str]) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error as exc:
        problems.append(f"{where}: pattern does not compile ({exc}): {pattern!r}")
        return None


def required_literal(pattern: re.Pattern[str]) -> str:
    """The longest run of characters every match of the pattern must contain ("" if none).

    Walks the parsed pattern: literals in sequence concatenate; groups that must match are
    entered; anything optional, repeated or alternative breaks the run. Lower-cased for
    case-insensitive patterns.
    """
    from re import _parser as sre_parse  # stdlib; the parse tree is stable across 3.11+

    runs: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            runs.append("".join(current))
            current.clear()

    def walk(items: object) -> None:
        for op, arg in items:  # type: ignore[attr-defined]
            name = str(op)
            if name == "LITERAL":
                current.append(chr(arg))
            elif name == "SUBPATTERN":
                if arg[1] & re.IGNORECASE and not pattern.flags & re.IGNORECASE:
                    close()  # (?i:...) inside a case-sensitive pattern: its letters may differ in case
                else:
                    walk(arg[-1])
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1 and arg[1] == 1:
                walk(arg[2])
            elif name == "AT":
                continue
            else:
                close()

    try:
        walk(sre_parse.parse(pattern.pattern, pattern.flags).data)
    except (re.error, TypeError, ValueError, IndexError):
        return ""
    close()
    best = max(runs, key=len, default="")
    return best.lower() if pattern.flags & re.IGNORECASE else best


def _fixes(raw: list[dict[str, Any]], where: str, problems: list[str]) -> tuple[Fix, ...]:
    fixes = []
    for item in raw:
        fix_id = str(item.get("id", ""))
        if not ID_RE.match(fix_id):
            problems.append(f"{where}: fix id {fix_id!r} is not lower-case-with-dashes")
        when = item.get("when", {})
        fixes.append(
            Fix(
                id=fix_id,
                title=str(item.get("title", "")),
                why=str(item.get("why", "")),
                commands=tuple(str(c) for c in item.get("commands", [])),
                when=tuple((str(k), v) for k, v in when.items()),
                score=int(item.get("score", 50)),
                title_ja=str(item.get("title_ja", "")),
                why_ja=str(item.get("why_ja", "")),
            )
        )
    return tuple(fixes)


def _signature(raw: dict[str, Any], area: str, problems: list[str], literals: dict[str, str]) -> Signature | None:
    sig_id = str(raw.get("id", ""))
    where = f"{area}.toml:{sig_id or '?'}"
    if not ID_RE.match(sig_id):
        problems.append(f"{where}: id {sig_id!r} is not lower-case-with-dashes")
    for required in ("title", "summary", "severity"):
        if not raw.get(required):
            problems.append(f"{where}: missing {required}")
    severity = raw.get("severity", "error")
    if severity not in SEVERITIES:
        problems.append(f"{where}: severity {severity!r} is not one of {SEVERITIES}")
        severity = "error"

    def patterns(key: str) -> tuple[Pattern, ...]:
        return tuple(Pattern(str(p), literals.get(str(p))) for p in raw.get(key, []))

    examples = tuple(
        Example(
            text=str(e.get("text", "")),
            captures=tuple((str(k), str(v)) for k, v in e.get("captures", {}).items()),
            top_fix=str(e.get("top_fix", "")),
        )
        for e in raw.get("example", [])
    )
    return Signature(
        id=sig_id,
        section=str(raw.get("section", "")),
        title=str(raw.get("title", "")),
        severity=severity,
        summary=str(raw.get("summary", "")).strip(),
        area=area,
        sources=tuple(raw.get("sources", ["paste"])),
        patterns=patterns("patterns"),
        fixes=_fixes(raw.get("fix", []), where, problems),
        examples=examples,
        negatives=tuple(str(n.get("text", "")) for n in raw.get("negative", [])),
        context=patterns("context"),
        context_required=bool(raw.get("context_required", False)),
        unless=patterns("unless"),
        generic=bool(raw.get("generic", False)),
        implies=tuple((str(k), bool(v)) for k, v in raw.get("implies", {}).items()),
        probes=tuple(raw.get("probes", [])),
        detect=tuple(raw.get("detect", [])),
        aliases=tuple(raw.get("aliases", [])),
        symptoms=tuple(raw.get("symptoms", [])),
        messages=tuple(raw.get("messages", [])),
        title_ja=str(raw.get("title_ja", "")),
        summary_ja=str(raw.get("summary_ja", "")).strip(),
        symptoms_ja=tuple(raw.get("symptoms_ja", [])),
    )


LOCALIZED = "generated/localized.toml"
CACHE = "generated/catalog-cache.json"


def _sources(directory: Path) -> list[tuple[str, str]]:
    """(name, text) of every file the catalog is built from, in a stable order."""
    files = sorted(directory.glob("*.toml"))
    if (directory / LOCALIZED).exists():
        files.append(directory / LOCALIZED)
    try:
        return [(str(path.relative_to(directory)), path.read_text(encoding="utf-8")) for path in files]
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read the catalog: {exc}") from exc


def fingerprint(sources: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for name, text in sources:
        digest.update(f"{name}\0{len(text)}\0".encode())
        digest.update(text.encode())
    return digest.hexdigest()


def _parsed(directory: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The parsed TOML of every file plus each pattern's required literal: from the shipped cache when it
    matches the files (JSON parses ~20x faster than TOML, and literals need the regex parser), else fresh."""
    sources = _sources(directory)
    digest = fingerprint(sources)
    cache = directory / CACHE
    if cache.exists():
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("fingerprint") == digest:
                return data["files"], data["literals"]
        except (OSError, ValueError, KeyError):
            pass
    files: dict[str, Any] = {}
    for name, text in sources:
        try:
            files[name] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{name}: {exc}") from exc
    return files, {}


def build_cache(directory: Path | None = None) -> Path:
    """Write generated/catalog-cache.json for the current files (scripts/build_catalog_cache.py)."""
    directory = directory or knowledge_dir()
    files, _ = _parsed(directory)
    catalog = load(directory)
    literals = {p.pattern: p.required() for sig in catalog.signatures
                for p in (*sig.patterns, *sig.context, *sig.unless)}
    path = directory / CACHE
    body = {"fingerprint": fingerprint(_sources(directory)), "files": files, "literals": literals}
    path.write_text(json.dumps(body, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return path


def cache_is_fresh(directory: Path | None = None) -> bool:
    directory = directory or knowledge_dir()
    try:
        data = json.loads((directory / CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("fingerprint") == fingerprint(_sources(directory))


def load(directory: Path | None = None) -> Catalog:
    """Read every knowledge/*.toml (and the generated localized patterns); structural problems are
    collected, not raised."""
    directory = directory or knowledge_dir()
    files, literals = _parsed(directory)
    problems: list[str] = []
    signatures: list[Signature] = []
    localized: dict[str, list[Pattern]] = {}
    for item in files.get(LOCALIZED, {}).get("pattern", []):
        regex = str(item.get("regex", ""))
        localized.setdefault(str(item.get("signature", "")), []).append(Pattern(regex, literals.get(regex)))
    for name in sorted(files):
        if name == LOCALIZED:
            continue
        for raw in files[name].get("signature", []):
            sig = _signature(raw, name.removesuffix(".toml"), problems, literals)
            if sig is not None:
                extra = tuple(localized.pop(sig.id, ()))
                signatures.append(replace(sig, patterns=sig.patterns + extra) if extra else sig)
    for sig_id in sorted(localized):
        problems.append(f"{LOCALIZED}: patterns for unknown signature {sig_id!r}")
    return Catalog(tuple(signatures), tuple(problems))


def lint(catalog: Catalog, known_facts: set[str], known_detectors: set[str]) -> list[str]:
    """Everything wrong with the catalog as data; examples are run by the test suite."""
    problems = list(catalog.problems)
    seen: dict[str, str] = {}
    for sig in catalog.signatures:
        where = f"{sig.area}.toml:{sig.id}"
        for name in (sig.id, *sig.aliases):
            if name in seen:
                problems.append(f"{where}: id {name!r} already used by {seen[name]}")
            seen[name] = where
        if not sig.patterns and not sig.detect and not sig.symptoms:
            problems.append(f"{where}: no patterns, detectors or symptoms: it can never match")
        if not any(e for e in sig.examples):
            problems.append(f"{where}: no positive example")
        if not sig.negatives:
            problems.append(f"{where}: no negative example")
        if not sig.fixes:
            problems.append(f"{where}: no fix")
        if not sig.title_ja or not sig.summary_ja:
            problems.append(f"{where}: missing title_ja or summary_ja")
        captures: set[str] = set()
        broken = [p for p in (*sig.patterns, *sig.context, *sig.unless)
                  if _compile(p.pattern, where, problems) is None]
        if broken:
            continue
        for pattern in (*sig.patterns, *sig.context):
            captures.update(pattern.groupindex)
        for pattern in sig.patterns:
            literal = required_literal(pattern.compiled)
            if len(literal.strip()) < MIN_LITERAL:
                problems.append(f"{where}: pattern has no literal of {MIN_LITERAL}+ chars: {pattern.pattern!r}")
            if re.match(r"\(\?P<\w+>[^)]*[+*]", pattern.pattern):
                problems.append(f"{where}: pattern starts with an unanchored capture: {pattern.pattern!r}")
        facts_used = {name for name, _ in sig.implies} | set(sig.probes)
        for fix in sig.fixes:
            facts_used |= {k for k, v in fix.when if isinstance(v, bool) and k not in captures}
            if not fix.title_ja or not fix.why_ja:
                problems.append(f"{where}: fix {fix.id} missing title_ja or why_ja")
            if not fix.why:
                problems.append(f"{where}: fix {fix.id} has no why")
        fix_ids = [f.id for f in sig.fixes]
        if len(set(fix_ids)) != len(fix_ids):
            problems.append(f"{where}: duplicate fix ids {fix_ids}")
        for name in sorted(facts_used - known_facts):
            problems.append(f"{where}: unknown fact {name!r} (not a probe)")
        for name in sorted(set(sig.detect) - known_detectors):
            problems.append(f"{where}: unknown detector {name!r}")
        for example in sig.examples:
            if example.top_fix and example.top_fix not in fix_ids:
                problems.append(f"{where}: example top_fix {example.top_fix!r} is not a fix of it")
    return problems
