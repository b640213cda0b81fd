"""Catalog stage: load knowledge/*.toml, validate it, and compile its patterns into Signatures."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
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

    __slots__ = ("pattern", "literals", "ignore_case", "fixed", "_compiled")

    def __init__(self, pattern: str, literals: list[str] | tuple[str, ...] | None = None,
                 fixed: dict[str, str] | None = None) -> None:
        self.pattern = pattern
        self.fixed = fixed or {}  # captures a translated message cannot give back (its English words)
        flags = INLINE_FLAGS.match(pattern)
        self.ignore_case = bool(flags and "i" in flags.group(1))
        self.literals = tuple(literals) if literals is not None else None
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

    def required(self) -> tuple[str, ...]:
        """Literals of which any match contains at least one (see required_literals)."""
        if self.literals is None:
            self.literals = required_literals(self.compiled)
        return self.literals

    def __repr__(self) -> str:
        return f"Pattern({self.pattern!r})"


def knowledge_dir() -> Path:
    """Where the catalog lives: $VIRTDIAG_KNOWLEDGE, the repo's knowledge/, or the installed copy."""
    import os

    override = os.environ.get("VIRTDIAG_KNOWLEDGE")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "knowledge", here / "knowledge"):
        if (candidate / "generated").is_dir():
            return candidate
    raise CatalogError(f"no knowledge/*.toml found next to {here}")


@dataclass(frozen=True)
class Catalog:
    signatures: tuple[Signature, ...]
    problems: tuple[str, ...]  # lint findings; empty for a good catalog
    english: dict[str, str] = field(default_factory=dict)  # translated capture text -> the English text

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


def _requirement(items: object, ignore_case: bool) -> tuple[str, ...]:
    """Literals of which every match of this parsed (sub)pattern contains at least one: the strongest
    of its required runs (literals in sequence, through groups that must match) and of the alternatives
    of a required `(?:a|b)`. ("",) if nothing is required."""
    options: list[tuple[str, ...]] = []
    current: list[str] = []

    def close() -> None:
        if current:
            options.append(("".join(current),))
            current.clear()

    def walk(items: object) -> None:
        for op, arg in items:  # type: ignore[attr-defined]
            name = str(op)
            if name == "LITERAL":
                current.append(chr(arg))
            elif name == "SUBPATTERN":
                if arg[1] & re.IGNORECASE and not ignore_case:
                    close()  # (?i:...) inside a case-sensitive pattern: its letters may differ in case
                else:
                    walk(arg[-1])
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1:
                if arg[1] == 1:
                    walk(arg[2])
                else:
                    close()
                    inner = _requirement(arg[2], ignore_case)
                    if inner != ("",):
                        options.append(inner)
            elif name == "BRANCH":
                close()
                alternatives = [_requirement(alt, ignore_case) for alt in arg[1]]
                if all(alt != ("",) for alt in alternatives):
                    options.append(tuple(dict.fromkeys(lit for alt in alternatives for lit in alt)))
            elif name == "AT":
                continue
            else:
                close()

    walk(items)
    close()
    if not options:
        return ("",)
    best = max(options, key=lambda option: (min(len(lit) for lit in option), -len(option)))
    return tuple(lit.lower() for lit in best) if ignore_case else best


def _longest_run(items: object, ignore_case: bool) -> str:
    """The longest run of characters every match must contain ("" if none): what the lint measures."""
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
            elif name == "SUBPATTERN" and not (arg[1] & re.IGNORECASE and not ignore_case):
                walk(arg[-1])
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1 and arg[1] == 1:
                walk(arg[2])
            elif name != "AT":
                close()

    walk(items)
    close()
    best = max(runs, key=len, default="")
    return best.lower() if ignore_case else best


def _top_alternatives(source: str) -> list[str]:
    """Split a regex source at its top-level `|` (outside groups and classes); one whole-pattern group
    (`(?:A|B)`, `(?P<x>A|B)`) is looked into. Inline flags `(?i)` stay with the caller."""
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]" or i == start
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(source[start:i])
            start = i + 1
        i += 1
    parts.append(source[start:])
    if len(parts) == 1:
        whole = re.fullmatch(r"\((?:\?:|\?P<\w+>)?(.*)\)", source, re.S)
        if whole and _balanced(whole.group(1)):
            inner = _top_alternatives(whole.group(1))
            if len(inner) > 1:
                return inner
    return parts


def _balanced(source: str) -> bool:
    try:
        re.compile(source)
    except re.error:
        return False
    return True


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Literals of which every match contains at least one, for a cheap pre-check and the matcher's
    index. Top-level alternatives are split in the source first (the regex parser factors out their
    common prefix, which would leave weaker literals). ("",) if none."""
    from re import _parser as sre_parse  # stdlib; the parse tree is stable across 3.11+

    ignore_case = bool(pattern.flags & re.IGNORECASE)
    source = INLINE_FLAGS.sub("", pattern.pattern, count=1)
    literals: list[str] = []
    for alternative in _top_alternatives(source):
        try:
            found = _requirement(sre_parse.parse(alternative, pattern.flags).data, ignore_case)
        except (re.error, TypeError, ValueError, IndexError):
            return ("",)
        if found == ("",):
            return ("",)
        literals.extend(found)
    return tuple(dict.fromkeys(literals))


def required_literal(pattern: re.Pattern[str]) -> str:
    """The longest run every match must contain ("" if none): what the catalog lint measures."""
    from re import _parser as sre_parse

    try:
        return _longest_run(sre_parse.parse(pattern.pattern, pattern.flags).data, bool(pattern.flags & re.IGNORECASE))
    except (re.error, TypeError, ValueError, IndexError):
        return ""


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


CACHE_FORMAT = 5  # bump when what the cache holds changes meaning


def fingerprint(sources: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256(f"virtdiag catalog cache {CACHE_FORMAT}\0".encode())
    for name, text in sources:
        digest.update(f"{name}\0{len(text)}\0".encode())
        digest.update(text.encode())
    return digest.hexdigest()


def _parsed(directory: Path, use_cache: bool = True) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The parsed TOML of every file plus each pattern's required literal: from the shipped cache when it
    matches the files (JSON parses ~20x faster than TOML, and literals need the regex parser), else fresh."""
    sources = _sources(directory)
    digest = fingerprint(sources)
    cache = directory / CACHE
    if use_cache and cache.exists():
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
    files, _ = _parsed(directory, use_cache=False)
    catalog = load(directory, use_cache=False)
    literals = {p.pattern: list(p.required()) for sig in catalog.signatures
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


def load(directory: Path | None = None, use_cache: bool = True) -> Catalog:
    """Read every knowledge/*.toml (and the generated localized patterns); structural problems are
    collected, not raised."""
    directory = directory or knowledge_dir()
    files, literals = _parsed(directory, use_cache)
    problems: list[str] = []
    signatures: list[Signature] = []
    generated = files.get(LOCALIZED, {})
    localized: dict[str, dict[str, list[Pattern]]] = {}
    for kind in ("pattern", "context", "unless"):
        for item in generated.get(kind, []):
            regex = str(item.get("regex", ""))
            fixed = {str(k): str(v) for k, v in item.get("fixed", {}).items()}
            by_kind = localized.setdefault(str(item.get("signature", "")), {})
            by_kind.setdefault(kind, []).append(Pattern(regex, literals.get(regex), fixed))
    english = {str(v["text"]): str(v["english"]) for v in generated.get("value", []) if v.get("text")}
    for name in sorted(files):
        if name == LOCALIZED:
            continue
        for raw in files[name].get("signature", []):
            sig = _signature(raw, name.removesuffix(".toml"), problems, literals)
            if sig is not None:
                extra = localized.pop(sig.id, {})
                if extra:
                    sig = replace(sig, patterns=sig.patterns + tuple(extra.get("pattern", ())),
                                  context=sig.context + tuple(extra.get("context", ())),
                                  unless=sig.unless + tuple(extra.get("unless", ())))
                signatures.append(sig)
    for sig_id in sorted(localized):
        problems.append(f"{LOCALIZED}: patterns for unknown signature {sig_id!r}")
    return Catalog(tuple(signatures), tuple(problems), english)


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
