"""Match stage (pure): a plain-language symptom ("guest gets no DHCP address") -> the signatures whose
symptoms and titles share its words."""

from __future__ import annotations

import re

from diagnose.catalog import Catalog
from diagnose.model import Evidence, Hit, Signature

WORD_PATTERN = r"[a-z0-9]+(?:[-_./][a-z0-9]+)*|[\u3040-\u30ff\u4e00-\u9fff]+"  # compiled on first use
STOPWORDS = frozenset(
    "a an the is are was be to of in on at for and or not no my i it its with from by as when after "
    "cannot can't does doesn't do get gets got will won't use using but this that there any".split()
)


def _terms(text: str) -> set[str]:
    """Words for symptom search; Japanese runs are split into overlapping bigrams."""
    terms: set[str] = set()
    for word in re.findall(WORD_PATTERN, text.lower()):
        if word[0] >= "\u3040":
            terms.update(word[i : i + 2] for i in range(max(1, len(word) - 1)))
        elif word not in STOPWORDS and len(word) > 1:
            terms.add(word.rstrip("s") if len(word) > 4 else word)
    return terms


LOGLIKE_RE = re.compile(
    r"^\s*(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d|error:|\S+: error :)", re.M
)
SYMPTOM_MAX_CHARS = 400
SYMPTOM_THRESHOLD = 0.45


def looks_like_symptom(text: str) -> bool:
    """A short plain-language description, not a log excerpt or an error message."""
    lines = [line for line in text.splitlines() if line.strip()]
    return 0 < len(lines) <= 4 and len(text) <= SYMPTOM_MAX_CHARS and not LOGLIKE_RE.search(text)


CLOSEST_THRESHOLD = 0.4
CLOSEST_CONFIDENCE = 0.3


def closest(catalog: Catalog, message: str, evidence: Evidence, limit: int = 2) -> list[Hit]:
    """The entries nearest a libvirt message virtdiag has no cause for: signatures whose titles, symptoms and
    summaries share at least three of its words. Guesses: their confidence stays at or below CLOSEST_CONFIDENCE."""
    query = _terms(message)
    if len(query) < 2:
        return []
    scored: list[tuple[float, Signature]] = []
    for sig in catalog.signatures:
        best = 0.0
        for phrase in (*sig.symptoms, sig.title, sig.summary):
            terms = _terms(phrase)
            shared = len(query & terms)
            if shared >= 3:
                best = max(best, shared / (len(terms) * len(query)) ** 0.5)
        if best >= CLOSEST_THRESHOLD:
            scored.append((best, sig))
    scored.sort(key=lambda item: (-item[0], item[1].id))
    return [Hit(sig.id, (), (evidence,), round(min(CLOSEST_CONFIDENCE, score), 2)) for score, sig in scored[:limit]]


def match_symptoms(catalog: Catalog, text: str, limit: int = 3) -> list[Hit]:
    """A plain-language symptom: rank signatures by the words their symptoms and titles share with it
    (cosine over content words; at least two shared words)."""
    if not looks_like_symptom(text):
        return []
    query = _terms(text)
    if len(query) < 2:
        return []
    scored: list[tuple[float, Signature]] = []
    for sig in catalog.signatures:
        best = 0.0
        for phrase in (*sig.symptoms, *sig.symptoms_ja, sig.title, sig.title_ja):
            terms = _terms(phrase)
            shared = len(query & terms)
            if shared >= 2:
                best = max(best, shared / (len(terms) * len(query)) ** 0.5)
        if best >= SYMPTOM_THRESHOLD:
            scored.append((best, sig))
    scored.sort(key=lambda item: (-item[0], item[1].id))
    evidence = (Evidence("paste", 1, text.strip()[:200]),)
    return [Hit(sig.id, (), evidence, round(min(0.6, 0.6 * score), 2)) for score, sig in scored[:limit]]
