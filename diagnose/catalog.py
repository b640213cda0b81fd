"""Catalog stage: load knowledge/*.toml, validate it, and compile its patterns into Signatures."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from diagnose import locate
from diagnose.literals import INLINE_FLAGS, required_literals, template_key
from diagnose.model import Example, Fix, Signature, TemplateBinding

SEVERITIES = ("error", "warning", "info")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
MIN_LITERAL = 6


class CatalogError(Exception):
    """The catalog cannot be loaded at all (unreadable file, TOML syntax)."""




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


def either_case_first_letter(regex: str) -> str:
    """A pattern whose first letter matches in either case: QEMU and libvirt capitalised many messages
    between versions ("cannot set up guest memory" became "Cannot ..."), and wrappers capitalise the
    message they quote, so a pattern written from one version's spelling must not miss the other. An
    acronym ("SASL", "QEMU") keeps its case."""
    if regex[:1].isascii() and regex[:1].isalpha() and regex[1:2].isascii() and regex[1:2].islower():
        return f"[{regex[0].lower()}{regex[0].upper()}]{regex[1:]}"
    return regex


def knowledge_dir() -> Path:
    """Where the catalog lives: $VIRTDIAG_KNOWLEDGE, the repo's knowledge/, or the installed copy."""
    try:
        return locate.knowledge_dir()
    except FileNotFoundError as exc:
        raise CatalogError(str(exc)) from exc


@dataclass(frozen=True)
class Catalog:
    signatures: Sequence[Signature]  # a tuple, or LazySignatures when read from the cache
    problems: tuple[str, ...]  # lint findings; empty for a good catalog
    english: dict[str, str] = field(default_factory=dict)  # translated capture text -> the English text
    index: Any = None  # the matcher's index as the cache stores it (see match.py), else None
    positions: dict[str, int] = field(default_factory=dict)  # id and alias -> position (from the cache)
    facts: frozenset[str] = frozenset()  # the probes' fact names, as the cache was built (empty without one)

    def by_id(self, sig_id: str) -> Signature | None:
        if self.positions:
            position = self.positions.get(sig_id)
            return None if position is None else self.signatures[position]
        for sig in self.signatures:
            if sig.id == sig_id or sig_id in sig.aliases:
                return sig
        return None


class LazySignatures(Sequence[Signature]):
    """The cache's signatures, each parsed when first used: a one-line paste needs two or three of them."""

    def __init__(self, blob: bytes, spans: list[tuple[int, int]]) -> None:
        self._blob = blob
        self._spans = spans
        self._built: list[Signature | None] = [None] * len(spans)

    def __len__(self) -> int:
        return len(self._spans)

    def __getitem__(self, position):  # noqa: ANN001, ANN204 - an int or a slice, as for a tuple
        if isinstance(position, slice):
            return tuple(self[i] for i in range(*position.indices(len(self))))
        sig = self._built[position]
        if sig is None:
            start, end = self._spans[position]
            sig = _from_record(json.loads(self._blob[start:end]))
            self._built[position] = sig
        return sig


def _compile(pattern: str, where: str, problems: list[str]) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error as exc:
        problems.append(f"{where}: pattern does not compile ({exc}): {pattern!r}")
        return None


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
                when=tuple((str(k), tuple(v) if isinstance(v, list) else v) for k, v in when.items()),
                score=int(item.get("score", 50)),
                title_ja=str(item.get("title_ja", "")),
                why_ja=str(item.get("why_ja", "")),
            )
        )
    return tuple(fixes)


def _signature(raw: dict[str, Any], area: str, problems: list[str], literals: dict[str, list[str]],
               as_written: bool = False) -> Signature:
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
        regexes = [str(p) for p in raw.get(key, [])]
        if key in ("patterns", "weak_patterns") and not as_written:
            regexes = [either_case_first_letter(regex) for regex in regexes]
        return tuple(Pattern(regex, literals.get(regex)) for regex in regexes)

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
        weak_patterns=patterns("weak_patterns"),
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
        templates=tuple(_binding(item, where, problems) for item in raw.get("templates", [])),
        template_sets=tuple(_template_set(item, where, problems) for item in raw.get("template_sets", [])),
    )


def _template_set(raw: Any, where: str, problems: list[str]) -> tuple[str, str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), str) or not isinstance(raw.get("msgid"), str):
        problems.append(f"{where}: a template set must be a table with files and msgid regexes: {raw!r}")
        return ("$^", "$^")
    _compile(raw["files"], where, problems)
    _compile(raw["msgid"], where, problems)
    return (raw["files"], raw["msgid"])


def _binding(raw: Any, where: str, problems: list[str]) -> TemplateBinding:
    if not isinstance(raw, dict) or not isinstance(raw.get("msgid"), str):
        problems.append(f"{where}: a template must be a table with a msgid: {raw!r}")
        return TemplateBinding("")
    detail = str(raw.get("detail", ""))
    if detail:
        _compile(detail, where, problems)
    values = tuple((str(k), str(v)) for k, v in dict(raw.get("values", {})).items())
    for _, regex in values:
        _compile(regex, where, problems)
    return TemplateBinding(template_key(raw["msgid"]), tuple(str(c) for c in raw.get("captures", [])), detail,
                           values, bool(raw.get("weak", False)))


LOCALIZED = "generated/localized.toml"
CACHE = "generated/catalog-cache.jsonl"
CACHE_FORMAT = 9  # bump when what the cache holds changes meaning
PATTERN_KINDS = (("patterns", "pattern"), ("context", "context"), ("unless", "unless"))


def _sources(directory: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file the catalog is built from, in a stable order."""
    files = sorted(directory.glob("*.toml"))
    if (directory / LOCALIZED).exists():
        files.append(directory / LOCALIZED)
    try:
        return [(str(path.relative_to(directory)), path.read_bytes()) for path in files]
    except OSError as exc:
        raise CatalogError(f"cannot read the catalog: {exc}") from exc


def fingerprint(sources: list[tuple[str, bytes]]) -> str:
    """What the cache was built from: each file's name, size and two checksums (CRC-32 and Adler-32, from
    zlib, which loads in a fraction of hashlib's time). It tells an edited catalog from the one the cache
    holds; it is no defence against a forged cache, and needs none: the knowledge directory is trusted
    as the code is."""
    parts = [f"virtdiag catalog cache {CACHE_FORMAT}"]
    for name, data in sources:
        parts.append(f"{name}:{len(data)}:{zlib.crc32(data):08x}:{zlib.adler32(data):08x}")
    return "|".join(parts)


def _toml(sources: list[tuple[str, bytes]]) -> dict[str, Any]:
    import tomllib  # only when the cache is stale or absent

    files: dict[str, Any] = {}
    for name, data in sources:
        try:
            files[name] = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"{name}: {exc}") from exc
    return files


def _records(files: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    """One record per signature (its TOML table, its area and its generated translations), the problems
    found on the way, and the translated capture values."""
    generated = files.get(LOCALIZED, {})
    localized: dict[str, dict[str, list[list[Any]]]] = {}
    for _, kind in PATTERN_KINDS:
        for item in generated.get(kind, []):
            fixed = {str(k): str(v) for k, v in item.get("fixed", {}).items()}
            by_kind = localized.setdefault(str(item.get("signature", "")), {})
            by_kind.setdefault(kind, []).append([str(item.get("regex", "")), fixed])
    english = {str(v["text"]): str(v["english"]) for v in generated.get("value", []) if v.get("text")}
    sets = {str(k): list(v) for name in sorted(files) for k, v in files[name].get("set", {}).items()}
    records = []
    problems: list[str] = []
    for name in sorted(files):
        if name == LOCALIZED:
            continue
        for raw in files[name].get("signature", []):
            problems += _expand_sets(raw, sets, f"{name}:{raw.get('id', '?')}")
            records.append({"area": name.removesuffix(".toml"), "raw": raw,
                            "localized": localized.pop(str(raw.get("id", "")), {}), "literals": {}})
    problems += [f"{LOCALIZED}: patterns for unknown signature {sig_id!r}" for sig_id in sorted(localized)]
    return records, problems, english


def _expand_sets(raw: dict[str, Any], sets: dict[str, list[Any]], where: str) -> list[str]:
    """A signature's "@name" entries in patterns, context and unless replaced by that shared set's patterns
    (knowledge/sets.toml); an unknown name is a problem."""
    problems = []
    for key in ("patterns", "weak_patterns", "context", "unless"):
        expanded: list[Any] = []
        for item in raw.get(key, []):
            if isinstance(item, str) and item.startswith("@"):
                if item[1:] not in sets:
                    problems.append(f"{where}: {key} names an unknown pattern set {item!r}")
                expanded.extend(sets.get(item[1:], []))
            else:
                expanded.append(item)
        if key in raw:
            raw[key] = expanded
    return problems


def _from_record(record: dict[str, Any], problems: list[str] | None = None, as_written: bool = False) -> Signature:
    literals = record["literals"]
    sig = _signature(record["raw"], record["area"], [] if problems is None else problems, literals, as_written)
    extra = {kind: tuple(Pattern(regex, literals.get(regex), fixed) for regex, fixed in items)
             for kind, items in record["localized"].items()}
    if extra:
        sig = replace(sig, patterns=sig.patterns + extra.get("pattern", ()),
                      context=sig.context + extra.get("context", ()), unless=sig.unless + extra.get("unless", ()))
    return sig


def _from_cache(directory: Path, digest: str) -> Catalog | None:
    """The catalog from generated/catalog-cache.jsonl when it was built from these very files: line 1 is
    the header (fingerprint, ids, translated values, where each record lies), every other line one record
    read only when needed."""
    try:
        blob = (directory / CACHE).read_bytes()
        end = blob.index(b"\n")
        header = json.loads(blob[:end])
        if header.get("fingerprint") != digest:
            return None
        base = end + 1
        spans = [(base + start, base + stop) for start, stop in header["signatures"]]
        index = header["index"]
        index["base"] = base
        index["blob"] = blob
        return Catalog(LazySignatures(blob, spans), tuple(header["problems"]), header["english"], index,
                       header["positions"], frozenset(header["facts"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_cache(directory: Path | None = None,
                index_of: Callable[[Catalog, Callable[[object], list[int]]], Any] | None = None,
                facts: Iterable[str] = ()) -> Path:
    """Write generated/catalog-cache.jsonl for the current files (scripts/build_catalog_cache.py).
    index_of lays out the matcher's index as records: (header part, record lines) - the match stage owns
    that format; the catalog only stores it. `facts`: the probes' fact names (their registry), so ranking a
    paste knows which `when` keys are facts without loading the modules that read the host."""
    directory = directory or knowledge_dir()
    sources = _sources(directory)
    records, problems, english = _records(_toml(sources))
    catalog = _built(records, problems, english)
    lines: list[bytes] = []
    offset = 0

    def add(record: object) -> list[int]:
        nonlocal offset
        line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode() + b"\n"
        lines.append(line)
        offset += len(line)
        return [offset - len(line), offset - 1]

    spans = []
    for record, sig in zip(records, catalog.signatures, strict=True):
        record["literals"] = {p.pattern: list(p.required())
                              for p in (*sig.patterns, *sig.weak_patterns, *sig.context, *sig.unless)}
        spans.append(add(record))
    positions = {}
    for position, sig in enumerate(catalog.signatures):
        for name in (*sig.aliases, sig.id):
            positions[name] = position
    index = index_of(catalog, add) if index_of is not None else {}
    header = {"fingerprint": fingerprint(sources), "signatures": spans, "problems": list(catalog.problems),
              "english": english, "positions": positions, "index": index, "facts": sorted(facts)}
    path = directory / CACHE
    path.write_bytes(json.dumps(header, ensure_ascii=False, sort_keys=True).encode() + b"\n" + b"".join(lines))
    return path


def cache_is_fresh(directory: Path | None = None) -> bool:
    directory = directory or knowledge_dir()
    return _from_cache(directory, fingerprint(_sources(directory))) is not None


def _built(records: list[dict[str, Any]], problems: list[str], english: dict[str, str],
           as_written: bool = False) -> Catalog:
    signatures = tuple(_from_record(record, problems, as_written) for record in records)
    return Catalog(signatures, tuple(problems), english)


def load(directory: Path | None = None, use_cache: bool = True, as_written: bool = False) -> Catalog:
    """Read every knowledge/*.toml (and the generated localized patterns), from the cache when it is fresh;
    structural problems are collected, not raised. `as_written` keeps each pattern exactly as the file has it
    (no either-case first letter): what the translation generator reads."""
    directory = directory or knowledge_dir()
    sources = _sources(directory)
    if use_cache and not as_written:
        cached = _from_cache(directory, fingerprint(sources))
        if cached is not None:
            return cached
    return _built(*_records(_toml(sources)), as_written=as_written)
