"""Shared data model: frozen records that flow collect -> match -> probe -> rank -> render."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from diagnose.catalog import Pattern

Severity = Literal["error", "warning", "info"]
FixStatus = Literal["applies", "possible", "ruled_out"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Line:
    """One line of input on its way to the matcher: where it came from and its exact number."""

    source: str
    number: int
    text: str
    path: str = ""
    join_at: int = 0  # for wrapped lines joined into one: where the second begins
    context_only: bool = False  # a reading of the line for context patterns only (a virsh command's own words)


@dataclass(frozen=True)
class Evidence:
    """One line of input that a pattern matched (or a detector pointed at)."""

    source: str  # paste, libvirtd-log, qemu-guest-log, domain-xml, probe:<name> ...
    line: int  # 1-based; 0 when the evidence is not a line of a file
    text: str
    path: str = ""  # the file it came from, if any


@dataclass(frozen=True)
class Fix:
    id: str
    title: str
    why: str
    commands: tuple[str, ...]
    when: tuple[tuple[str, str | bool | tuple[str, ...]], ...]  # a tuple: any of these values
    score: int
    title_ja: str = ""
    why_ja: str = ""


@dataclass(frozen=True)
class Example:
    text: str
    captures: tuple[tuple[str, str], ...] = ()
    top_fix: str = ""


@dataclass(frozen=True)
class TemplateBinding:
    """A libvirt message template a signature explains: the template's English msgid, the capture name of
    each of its arguments ("" for one it does not need), and a regex the text after the message must match
    (libvirt appends ": <system error>"; compared in English), whose named groups are captures too."""

    key: str
    captures: tuple[str, ...] = ()
    detail: str = ""
    values: tuple[tuple[str, str], ...] = ()  # capture name -> a regex its value must match (searched)
    weak: bool = False  # a message other causes print too: it decides only with a context match


@dataclass(frozen=True)
class Signature:
    id: str
    section: str
    title: str
    severity: Severity
    summary: str
    area: str
    sources: tuple[str, ...]
    patterns: tuple[Pattern, ...]
    fixes: tuple[Fix, ...]
    examples: tuple[Example, ...]
    negatives: tuple[str, ...]
    context: tuple[Pattern, ...] = ()
    context_required: bool = False
    # primary patterns for text other causes print too: a finding they alone make decides only with a
    # context match (else it has the generic confidence)
    weak_patterns: tuple[Pattern, ...] = ()
    unless: tuple[Pattern, ...] = ()
    generic: bool = False
    implies: tuple[tuple[str, bool], ...] = ()
    probes: tuple[str, ...] = ()
    detect: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    symptoms: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    title_ja: str = ""
    summary_ja: str = ""
    symptoms_ja: tuple[str, ...] = ()
    templates: tuple[TemplateBinding, ...] = ()
    # (files regex, msgid regex): every template of the generated index all of whose source files match and
    # whose English msgid matches, unless a signature names it in `templates` (a whole family, no captures)
    template_sets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Hit:
    """A signature recognised in the input, before probes and ranking."""

    signature_id: str
    captures: tuple[tuple[str, str], ...]
    evidence: tuple[Evidence, ...]
    confidence: float
    context_hits: int = 0
    lines: frozenset[tuple[str, int]] = frozenset()  # every (path, line) matched, beyond the evidence shown
    severity: Severity | None = None  # a check's own verdict (KVM missing where no guest needs it: info)
    specificity: int = 0  # letters of fixed text the decisive match had: the more, the more it says


@dataclass(frozen=True)
class Fact:
    """A probe's answer: True, False, or None when it cannot be known."""

    name: str
    value: bool | None
    detail: str
    subject: str = ""  # the capture the probe was asked about (bridge name, path ...)


@dataclass(frozen=True)
class RankedFix:
    fix_id: str
    rank: int
    status: FixStatus
    title: str
    commands: tuple[str, ...]
    why: str
    decided_by: tuple[str, ...]  # "bridge_exists=false (probe: /sys/class/net/br0 missing)"


@dataclass(frozen=True)
class Finding:
    """A recognised problem with its evidence and ordered fixes: what renderers print."""

    id: str
    section: str
    title: str
    severity: Severity
    summary: str
    confidence: float
    captures: tuple[tuple[str, str], ...]
    evidence: tuple[Evidence, ...]
    fixes: tuple[RankedFix, ...]
    facts: tuple[Fact, ...] = ()
    specificity: int = 0  # breaks ties in confidence: the finding read from the more specific message first


@dataclass(frozen=True)
class LibvirtMessage:
    """A libvirt message recognised by its template that no signature explains: which template (msgid),
    where libvirt prints it, the values of its placeholders, and the line it was read on."""

    template: str
    area: str
    files: tuple[str, ...]
    lang: str
    values: tuple[tuple[str, str], ...]
    evidence: Evidence
    detail: str = ""  # what followed the message (libvirt appends ": <system error>")
    wrapper: bool = False  # an error-class prefix ("internal error: %s"): it says what kind, not what went wrong


@dataclass(frozen=True)
class Skipped:
    what: str
    reason: str


CheckStatus = Literal["passed", "found", "not_run"]


@dataclass(frozen=True)
class CheckRun:
    """One host check of a scan: it ran and found nothing (passed), ran and found something, or could not
    run on this host's data (not_run, with the reason)."""

    name: str
    status: CheckStatus
    reason: str = ""


@dataclass
class Report:
    kind: Literal["explain", "scan"]
    findings: list[Finding] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    target: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # about virtdiag itself (how to run it faster): stderr only
    messages: list[LibvirtMessage] = field(default_factory=list)  # libvirt messages no signature explains
    generated: str = ""  # UTC time of the run (SOURCE_DATE_EPOCH when set, for reproducible reports)
    redacted: bool = True
    lang: str = "en"  # the language of its explanations (titles, summaries, fixes): its renderings follow it
    checks: list[CheckRun] = field(default_factory=list)  # the host checks a scan ran, and how each ended


@dataclass(frozen=True)
class CrossHost:
    """One finding id across many scanned hosts (the multi-host summary)."""

    id: str
    title: str
    severity: Severity
    hosts: tuple[str, ...]
