"""Match stage (pure): signatures x lines of evidence -> Hits with captures, evidence and confidence."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from diagnose.catalog import Catalog, Pattern
from diagnose.hitmerge import one_reading_per_wrap
from diagnose.literals import index_key, line_keys, literal_keys
from diagnose.messages import Message, capture_value, reads_templates, template_bindings
from diagnose.messages import loaded as messages_index
from diagnose.model import Evidence, Hit, LibvirtMessage, Line, Signature, TemplateBinding
from diagnose.paste import whole_before_wrap

PRIMARY_CONFIDENCE = 0.8
GENERIC_CONFIDENCE = 0.5
CONTEXT_STEP = 0.1
CONTEXT_MAX = 0.15
MAX_EVIDENCE = 5


@dataclass(frozen=True, eq=False)
class _Probe:
    """One catalog pattern with the literal that must be in a line for it to match."""

    signature: int
    kind: str  # primary | context | unless
    pattern: Pattern
    literals: tuple[str, ...]  # a matching line contains at least one of them
    ignore_case: bool
    sources: tuple[str, ...]  # the signature's sources (where a primary match counts)
    keysets: tuple[frozenset[str], ...] = ()  # per literal, every index key a line holding it has (see _keysets)
    ordinal: int = 0  # its place in the catalog: lines meet patterns in this order, whatever the index's

    @property
    def specificity(self) -> int:
        """Letters of the fixed text every match of the pattern holds (of its weakest alternative)."""
        return min((sum(ch.isalpha() for ch in literal) for literal in self.literals), default=0)

    def reads(self, source: str) -> bool:
        """A signature reads only the sources it lists; a paste may be anything."""
        return source == "paste" or source in self.sources


def _keysets(literals: Iterable[str]) -> tuple[frozenset[str], ...]:
    """For each literal, all its index keys: a line holding the literal has every one of them, so a pattern
    met through one common word ("interface") is passed over unless the line has its other words too.
    Empty (no such filter) when a literal is not ASCII (case folding beyond ASCII) or has no key."""
    keysets = []
    for literal in literals:
        keys = literal_keys(literal) if literal.isascii() else set()
        if not keys:
            return ()
        keysets.append(frozenset(keys))
    return tuple(keysets)


Bucket = tuple[list[_Probe], list[_Probe], list[_Probe]]  # unless, context, primary


@dataclass
class Matcher:
    """The catalog's patterns indexed by the start or end of one required word each, so a line only meets
    the few patterns whose word it contains: matching cost barely grows with the size of the catalog.
    Patterns whose literal is not ASCII (translations) are tried only on lines that are not ASCII.
    Built from the catalog cache, a bucket is parsed when a line first needs it."""

    catalog: Catalog
    by_word: dict[str, Bucket | list[int]] = field(default_factory=dict)  # a bucket, or its span in the cache
    always: Bucket = field(default_factory=lambda: ([], [], []))
    non_ascii: Bucket = field(default_factory=lambda: ([], [], []))
    _probes: dict[int, _Probe] = field(default_factory=dict)  # by ordinal: one probe for a pattern under two keys
    _always_literals: tuple[list, list] | None = None  # (exact, ignoring case): [(literal, its patterns)]
    bindings: dict[str, list[list[int]]] = field(default_factory=dict)  # template key -> [[signature, binding]]

    @classmethod
    def build(cls, catalog: Catalog) -> Matcher:
        """From the index stored in the catalog cache when it is there, else from every pattern's literals."""
        matcher = cls(catalog)
        stored = catalog.index
        if isinstance(stored, dict) and stored.get("format") == INDEX_FORMAT:
            matcher.always = matcher._parse(stored["always"])
            matcher.non_ascii = matcher._parse(stored["non_ascii"])
            matcher.by_word = dict(stored["by_word"])
            matcher.bindings = dict(stored["templates"])
            return matcher
        matcher.bindings = template_bindings(catalog)
        probes = _probes(catalog)
        by_word: dict[str, Bucket] = {}
        for probe, route in zip(probes, _routes(probes), strict=True):
            kind = KIND_ORDER[probe.kind]
            if route == [ALWAYS]:
                matcher.always[kind].append(probe)
            elif route == [NON_ASCII]:
                matcher.non_ascii[kind].append(probe)
            else:
                for key in route:
                    by_word.setdefault(key, ([], [], []))[kind].append(probe)
        matcher.by_word = dict(by_word)
        return matcher

    def _parse(self, span: list[int]) -> Bucket:
        """A bucket read from its line of the catalog cache."""
        index = self.catalog.index
        start, end = span
        bucket: Bucket = ([], [], [])
        for ordinal, signature, kind, regex, literals, fixed, sources in json.loads(
                index["blob"][index["base"] + start:index["base"] + end]):
            probe = self._probes.get(ordinal)
            if probe is None:
                pattern = Pattern(regex, literals, fixed)
                probe = _Probe(signature, kind, pattern, tuple(literals), pattern.ignore_case, tuple(sources),
                               _keysets(literals), ordinal)
                self._probes[ordinal] = probe
            bucket[KIND_ORDER[kind]].append(probe)
        return bucket

    def bucket(self, key: str) -> Bucket | None:
        found = self.by_word.get(key)
        if isinstance(found, list):
            found = self.by_word[key] = self._parse(found)
        return found

    def literals(self, source: str) -> list[tuple[str, bool]]:
        """The required literals, as (text, ignore case), of every pattern that reads this source (all of them
        for "paste"): what a first stage over whole blocks of a big log looks for (a line holding none of
        them meets no pattern)."""
        buckets = [self.bucket(key) for key in list(self.by_word)]
        groups = [self.always, self.non_ascii, *(bucket for bucket in buckets if bucket is not None)]
        return sorted({(literal, probe.ignore_case) for group in groups for kind in group
                       for probe in kind if probe.reads(source) for literal in probe.literals})

    def _always_present(self, text: str, lowered: str) -> Bucket:
        """The always-tried patterns (no word of theirs can key the index) whose literal this line holds:
        each distinct literal is looked for once, instead of once per pattern."""
        if self._always_literals is None:
            by_literal: dict[tuple[str, bool], list[_Probe]] = {}
            for kind in self.always:
                for probe in kind:
                    for literal in probe.literals:
                        by_literal.setdefault((literal, probe.ignore_case), []).append(probe)
            self._always_literals = (
                [(lit, probes) for (lit, caseless), probes in by_literal.items() if not caseless],
                [(lit, probes) for (lit, caseless), probes in by_literal.items() if caseless])
        exact, caseless = self._always_literals
        present = {probe for lit, probes in exact if lit in text for probe in probes}
        present.update(probe for lit, probes in caseless if lit in lowered for probe in probes)
        if not present:
            return ([], [], [])
        return tuple([probe for probe in kind if probe in present] for kind in self.always)  # type: ignore[return-value]

    def candidates(self, text: str, lowered: str) -> list[_Probe]:
        """The patterns that may match this line (each once): unless first, then context, then primary."""
        groups = [self._always_present(text, lowered)]
        if not text.isascii():
            groups.append(self.non_ascii)
        keys = line_keys(lowered)
        for key in keys & self.by_word.keys():  # in C: only the words that key a bucket
            groups.append(self.bucket(key))  # type: ignore[arg-type]
        found = [probe for kind in range(3) for group in groups for probe in group[kind]
                 if not probe.keysets or probe.keysets[0] <= keys or any(ks <= keys for ks in probe.keysets[1:])]
        if len(groups) <= 2:
            return found
        # the words' buckets come in set order (it changes with the hash seed): put the patterns back in the
        # catalog's order, so the same input always gives the same captures
        return sorted(dict.fromkeys(found), key=lambda probe: (KIND_ORDER[probe.kind], probe.ordinal))


KIND_ORDER = {"unless": 0, "context": 1, "primary": 2, "weak": 2}  # weak: a primary pattern other causes share
INDEX_FORMAT = 6  # bump when _routes, the key scheme or the record layout changes; another format is not used
ALWAYS = "\0always"
NON_ASCII = "\0non-ascii"


def _probes(catalog: Catalog) -> list[_Probe]:
    found = [(index, kind, pattern, sig.sources) for index, sig in enumerate(catalog.signatures)
             for kind, patterns in (("unless", sig.unless), ("context", sig.context), ("primary", sig.patterns),
                                    ("weak", sig.weak_patterns))
             for pattern in patterns]
    return [_Probe(index, kind, pattern, pattern.required(), pattern.ignore_case, sources,
                   _keysets(pattern.required()), ordinal)
            for ordinal, (index, kind, pattern, sources) in enumerate(found)]


def _routes(probes: list[_Probe]) -> list[list[str]]:
    """Where each pattern goes in the index: under the rarest key of each of its literals, or tried on
    every line (ALWAYS), or on every line that is not ASCII (NON_ASCII)."""
    frequency: dict[str, int] = {}
    for probe in probes:
        for key in {k for lit in probe.literals for k in literal_keys(lit)}:
            frequency[key] = frequency.get(key, 0) + 1
    routes = []
    for probe in probes:
        keys = [index_key(literal, frequency) for literal in probe.literals]
        if all(keys):
            routes.append(list(dict.fromkeys(keys)))  # one alternative, one key; a line meets the probe once
        elif all(lit and not lit.isascii() for lit in probe.literals):
            routes.append([NON_ASCII])
        else:
            routes.append([ALWAYS])
    return routes


def cache_index(catalog: Catalog, add: Callable[[object], list[int]]) -> dict[str, object]:
    """The index as the catalog cache stores it: each bucket one record (written with `add`, which returns
    its span), so start-up reads only the buckets of the words a paste contains."""
    probes = _probes(catalog)
    buckets: dict[str, list[list[object]]] = {}
    for ordinal, (probe, route) in enumerate(zip(probes, _routes(probes), strict=True)):
        record = [ordinal, probe.signature, probe.kind, probe.pattern.pattern, list(probe.literals),
                  probe.pattern.fixed, list(probe.sources)]
        for key in route:
            buckets.setdefault(key, []).append(record)
    return {"format": INDEX_FORMAT, "always": add(buckets.pop(ALWAYS, [])),
            "non_ascii": add(buckets.pop(NON_ASCII, [])), "by_word": {k: add(v) for k, v in sorted(buckets.items())},
            "templates": template_bindings(catalog)}


def _search(probe: _Probe, text: str, lowered: str) -> re.Match[str] | None:
    haystack = lowered if probe.ignore_case else text
    if not any(literal in haystack for literal in probe.literals):
        return None
    return probe.pattern.search(text)


def _captures(m: re.Match[str], pattern: Pattern | None = None, english: dict[str, str] | None = None
              ) -> dict[str, str]:
    """Named groups of a match; a translated value (a localized system error) is given in English, as
    the catalog's conditions compare it; a localized pattern adds the captures its words cannot give."""
    found = {k: v.strip() for k, v in m.groupdict().items() if v is not None and v.strip()}
    if english:
        found = {k: english.get(v, v) for k, v in found.items()}
    if pattern is not None and pattern.fixed:
        found = {**pattern.fixed, **found}
    return found


MAX_LINES_KEPT = 10_000


@dataclass
class _Accumulator:
    evidence: list[Evidence] = field(default_factory=list)
    captures: dict[str, str] = field(default_factory=dict)
    count: int = 0
    lines: set[tuple[str, int]] = field(default_factory=set)
    specificity: int = 0
    strong: bool = False  # a match not marked weak: the finding may decide without a context match


def _add_evidence(evidence: list[Evidence], new: Evidence) -> None:
    """One piece of evidence per line: a wrapped-line join of an already-matched line adds nothing."""
    if len(evidence) < MAX_EVIDENCE and not any(
        (e.source, e.path, e.line) == (new.source, new.path, new.line) for e in evidence
    ):
        evidence.append(new)


MAX_MESSAGES = 50  # unexplained libvirt messages kept per run
DETAIL_BONUS = 10  # a template whose appended system error was checked too says more than the message alone


def _template_captures(sig: Signature, binding: TemplateBinding, message: Message, english: dict[str, str],
                       system_errors: dict[str, str]) -> dict[str, str] | None:
    """The captures a binding gives for a recognised message, or None when its detail does not match."""
    values = dict(message.values)
    captures = {name: capture_value(name, values.get(f"p{number}", "")) for number, name in
                enumerate(binding.captures, start=1) if name}
    if any(not re.search(regex, captures.get(name, ""), re.I) for name, regex in binding.values):
        return None
    if binding.detail:
        tail = message.tail.lstrip(": ：").strip()
        first = tail.split(":")[0].strip()
        head, _, last = tail.rpartition(":")  # "<path>: <a translated system error>" -> "<path>: <the English one>"
        last_english = system_errors.get(last.strip(" \t'\"«»“”"), "")
        candidates = [tail, english.get(tail, ""), english.get(first, ""), system_errors.get(tail, ""),
                      system_errors.get(first, ""), f"{head.strip()}: {last_english}" if head and last_english else ""]
        m = next((found for text in candidates if text and (found := re.search(binding.detail, text, re.I))), None)
        if m is None:
            return None
        captures.update({k: english.get(v.strip(), v.strip()) for k, v in m.groupdict().items() if v})
    return {k: v for k, v in captures.items() if v}


def match_lines(matcher: Matcher, lines: Iterable[Line], unexplained: list[LibvirtMessage] | None = None
                ) -> list[Hit]:
    """Run every pattern, and every template a signature explains, over the lines; group primary matches by
    signature and captures. Libvirt messages recognised on a line that no specific signature matched are
    added to `unexplained` (when given)."""
    sigs = matcher.catalog.signatures
    english = matcher.catalog.english
    templates = messages_index() if matcher.bindings or unexplained is not None else None
    found: dict[tuple[int, tuple[tuple[str, str], ...]], _Accumulator] = {}
    context_seen: dict[int, set[str]] = {}
    context_captures: dict[int, dict[str, str]] = {}
    vetoed: set[int] = set()
    # each line's unexplained message and the signatures that read it: kept if none of them makes a finding
    pending: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[LibvirtMessage, frozenset[int]]] = {}
    waiting = 0  # how many of them are on lines a signature read (capped apart: they must not crowd out the rest)
    for line in lines:
        text = line.text
        lowered = text.lower()
        explained_by: set[int] = set()  # the signatures that are not generic wrappers and matched this line
        for probe in matcher.candidates(text, lowered):
            if not probe.reads(line.source) or line.context_only and probe.kind not in ("context", "unless"):
                continue
            if probe.kind == "unless":  # read on the lines as pasted: a join of two is not a line of its own
                if not line.join_at and probe.signature not in vetoed and _search(probe, text, lowered):
                    vetoed.add(probe.signature)
                continue
            if probe.kind == "context":
                m = _search(probe, text, lowered)
                if m:
                    context_seen.setdefault(probe.signature, set()).add(probe.pattern.pattern)
                    caps = context_captures.setdefault(probe.signature, {})
                    for key, value in _captures(m, probe.pattern, english).items():
                        caps.setdefault(key, value)
                continue
            m = _search(probe, text, lowered)
            if not m or line.join_at and (not m.start() < line.join_at < m.end() or (first := _search(
                    probe, text[:line.join_at], lowered[:line.join_at])) and whole_before_wrap(first.span(), text,
                                                                                    line.join_at)):
                continue  # a joined line counts only for a message the wrap had cut in two (or cut short)
            caps = _captures(m, probe.pattern, english)
            _add_match(found, probe.signature, caps, line, probe.specificity, probe.kind == "primary")
            if not sigs[probe.signature].generic:
                explained_by.add(probe.signature)
        if templates is None or line.context_only or not reads_templates(line):
            continue
        recognised = templates.recognise(text)
        if line.join_at:  # a joined line counts only for a message the wrap cut in two (or cut short)
            alone = {m.key for m in templates.recognise(text[:line.join_at])
                     if whole_before_wrap((m.start, m.end), text, line.join_at)}
            recognised = [m for m in recognised if m.start < line.join_at < m.end and m.key not in alone]
        matched_keys = set()
        for message in recognised:
            for sig_index, number in matcher.bindings.get(message.key, ()):
                sig = sigs[sig_index]
                if line.source != "paste" and line.source not in sig.sources:
                    continue
                binding = sig.templates[number] if number >= 0 else TemplateBinding(message.key)  # -1: a set's
                given = _template_captures(sig, binding, message, english, templates.system_errors)
                if given is not None:  # a set's template says less than one a signature names: it loses ties
                    _add_match(found, sig_index, given, line,
                               (message.letters + (DETAIL_BONUS if binding.detail else 0)) if number >= 0 else 0,
                               not binding.weak)
                    matched_keys.add(message.key)
                    if not sig.generic:
                        explained_by.add(sig_index)
        if unexplained is not None:
            # a wrapper ('XML error: %s') around a message a signature explained, or across a wrap, says nothing more
            best = next((m for m in recognised
                         if m.key not in matched_keys and not ((matched_keys or line.join_at) and m.wrapper)), None)
            by = frozenset(explained_by)
            if best is not None and (best.key, best.values) not in pending and (
                    waiting < MAX_MESSAGES if by else len(pending) - waiting + len(unexplained) < MAX_MESSAGES) \
                    and not any(u.template == best.key and u.values == best.values for u in unexplained):
                pending[best.key, best.values] = (LibvirtMessage(
                    best.key, best.area, best.files, best.lang, best.values,
                    Evidence(line.source, line.number, text.strip(), line.path), best.tail.lstrip(": ：").strip(),
                    best.wrapper), by)
                waiting += bool(by)
    hits = _to_hits(sigs, found, context_seen, context_captures, vetoed)
    if unexplained is not None:
        made = {hit.signature_id for hit in hits}
        unexplained.extend(m for m, by in pending.values() if not any(sigs[i].id in made for i in by))
        del unexplained[MAX_MESSAGES:]
    return one_reading_per_wrap(hits)


def _add_match(found: dict[tuple[int, tuple[tuple[str, str], ...]], _Accumulator], signature: int,
               caps: dict[str, str], line: Line, specificity: int, strong: bool) -> None:
    acc = found.setdefault((signature, tuple(sorted(caps.items()))), _Accumulator(captures=caps))
    acc.count += 1
    acc.strong = acc.strong or strong
    acc.specificity = max(acc.specificity, specificity)
    if len(acc.lines) < MAX_LINES_KEPT:
        acc.lines.add((line.path, line.number))
    _add_evidence(acc.evidence, Evidence(line.source, line.number, line.text.strip(), line.path))


def _to_hits(sigs: Sequence[Signature], found: dict[tuple[int, tuple[tuple[str, str], ...]], _Accumulator],
             context_seen: dict[int, set[str]], context_captures: dict[int, dict[str, str]], vetoed: set[int],
             ) -> list[Hit]:
    hits: list[Hit] = []
    merged: dict[int, list[_Accumulator]] = {}
    for (index, _), acc in found.items():
        merged.setdefault(index, []).append(acc)
    for index, accs in merged.items():
        sig = sigs[index]
        n_context = len(context_seen.get(index, ()))
        if index in vetoed or (sig.context_required and n_context == 0):
            continue
        for acc in _fold_subsets(accs):
            captures = dict(acc.captures)
            for key, value in context_captures.get(index, {}).items():
                captures.setdefault(key, value)
            confidence = _confidence(sig.generic, acc.strong, n_context)
            hits.append(Hit(sig.id, tuple(sorted(captures.items())), tuple(acc.evidence), confidence, n_context,
                            frozenset(acc.lines), specificity=acc.specificity))
    return hits


def _confidence(generic: bool, strong: bool, n_context: int) -> float:
    """Raised by each distinct context pattern matched; a finding made only by weak matches (a message other
    causes print too) has the generic confidence until its first context match makes it a primary one."""
    if not (generic or strong):
        generic, n_context = n_context == 0, max(0, n_context - 1)
    base = GENERIC_CONFIDENCE if generic else PRIMARY_CONFIDENCE
    return round(min(0.99, base + min(CONTEXT_MAX, CONTEXT_STEP * n_context)), 2)


def _fold_subsets(accs: list[_Accumulator]) -> list[_Accumulator]:
    """One problem often prints several lines (one with the bridge, one with bridge and port): fold a match
    whose captures are a subset of another's into the first such, most captures first. Near-linear: that one
    is found by capture names and the subset's values (`firsts`), not by trying each kept match."""
    kept: list[_Accumulator] = []
    groups: dict[frozenset[str], list[int]] = {}  # capture names -> positions in kept of the matches with those
    firsts: dict[tuple[frozenset[str], frozenset[str]], dict[tuple[str, ...], int]] = {}  # -> values -> first
    for acc in sorted(accs, key=lambda a: -len(a.captures)):
        names = frozenset(acc.captures)
        for group, members in groups.items():
            if names <= group and (group, names) not in firsts:  # built when first needed; reversed: first wins
                firsts[group, names] = {tuple(kept[at].captures[n] for n in sorted(names)): at for at in members[::-1]}
        values = tuple(acc.captures[name] for name in sorted(names))
        found = [firsts[group, names].get(values, len(kept)) for group in groups if names <= group]
        if min(found, default=len(kept)) == len(kept):
            for (group, subset), first in firsts.items():
                if group == names:
                    first.setdefault(tuple(acc.captures[name] for name in sorted(subset)), len(kept))
            groups.setdefault(names, []).append(len(kept))
            kept.append(acc)
            continue
        home = kept[min(found)]
        home.count += acc.count
        home.specificity = max(home.specificity, acc.specificity)
        home.strong = home.strong or acc.strong
        home.lines |= acc.lines
        for ev in acc.evidence:
            _add_evidence(home.evidence, ev)
    for acc in kept:
        acc.evidence.sort(key=lambda e: (e.path, e.line))
    return kept
