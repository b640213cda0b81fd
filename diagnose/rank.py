"""Rank stage (pure): a signature's fixes x (captures + facts) -> ordered RankedFix list, with reasons; fixes for
another distribution than the host's left out; findings of one cause made one."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from diagnose import wording
from diagnose.model import Fact, Finding, Fix, FixStatus, LibvirtMessage, RankedFix, Signature

PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
TIER = {"applies": 0, "possible": 1, "ruled_out": 2}


SAFE_VALUE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def fill(template: str, captures: Mapping[str, str], shell: bool = False) -> str:
    """Put captured names into a title or command; a name the input did not give stays visible as <name>.
    In a command (`shell`), only a value made of plain characters is used: text from a log must never
    become shell syntax an admin pastes (`br0; curl ...|sh`, `$(reboot)`)."""
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        found = captures.get(name)
        if found is None or (shell and not SAFE_VALUE.fullmatch(found)):
            return f"<{name}>"
        return found

    return PLACEHOLDER_RE.sub(value, template)


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


def evaluate(
    fix: Fix, captures: Mapping[str, str], facts: Mapping[str, Fact], fact_names: set[str], lang: str = "en"
) -> tuple[FixStatus, list[str]]:
    """Decide whether a fix applies, and say which capture or fact decided each condition."""
    status: FixStatus = "applies"
    reasons: list[str] = []
    for key, wanted in fix.when:
        if isinstance(wanted, bool) and key in fact_names:
            fact = facts.get(key)
            if fact is None or fact.value is None:
                detail = f" ({fact.detail})" if fact and fact.detail else ""
                reasons.append(wording.word("reason_unknown", lang, name=key) + detail)
                if status == "applies":
                    status = "possible"
                continue
            held = fact.value == wanted
            reasons.append(f"{key}={_show(fact.value)}" + (f" ({fact.detail})" if fact.detail else ""))
        elif isinstance(wanted, bool):
            held = (key in captures) == wanted
            reasons.append(wording.word("reason_given" if key in captures else "reason_not_given", lang, name=key))
        else:  # a value, or a list of values any of which will do
            held = captures.get(key) in wanted if isinstance(wanted, tuple) else captures.get(key) == wanted
            reasons.append(f"{key}={captures.get(key, '(none)')!r}")
        if not held:
            status = "ruled_out"
    return status, reasons


def rank_fixes(
    sig: Signature,
    captures: Mapping[str, str],
    facts: Mapping[str, Fact],
    fact_names: set[str],
    lang: str = "en",
) -> list[RankedFix]:
    """Order: applies, possible, ruled out; then score (high first); then id. A fix for one distribution is left
    out when the host is known to run another (see distribution)."""
    scored = []
    for fix in sig.fixes:
        if other_distribution(fix, facts):
            continue
        status, reasons = evaluate(fix, captures, facts, fact_names, lang)
        scored.append((TIER[status], -fix.score, fix.id, fix, status, reasons))
    scored.sort(key=lambda item: item[:3])
    ranked = []
    for rank, (_, _, _, fix, status, reasons) in enumerate(scored, start=1):
        title = fix.title_ja if lang == "ja" and fix.title_ja else fix.title
        why = fix.why_ja if lang == "ja" and fix.why_ja else fix.why
        ranked.append(
            RankedFix(
                fix_id=fix.id,
                rank=rank,
                status=status,
                title=fill(title, captures),
                commands=tuple(fill(c, captures, shell=True) for c in fix.commands),
                why=fill(why, captures),
                decided_by=tuple(reasons),
            )
        )
    return ranked


def implied_facts(sig: Signature) -> dict[str, Fact]:
    """Facts the matched message itself proves (e.g. "No such device" proves the bridge is missing)."""
    return {name: Fact(name, value, "implied by the message") for name, value in sig.implies}


# A fix for one distribution: its `when` names a distribution fact, or its title begins with the distribution it is
# for ("RHEL 6: ...", "RHEL 6 way: ...", "Debian/Ubuntu: ..."), as the catalog writes them. A qualifier that speaks
# of another host or of a message's wording ("RHEL 6 server:", "RHEL 6 wording:") says nothing of this host.
DISTRIBUTION_FACTS = ("debian_family", "rhel6")
TITLE_DISTRIBUTIONS = (
    (re.compile(r"RHEL 6(?P<qualifier>[^:/]*):"), "rhel6", True),
    (re.compile(r"(?:Debian/Ubuntu|Debian, Ubuntu|Debian)(?P<qualifier>[^:/,]*):"), "debian_family", True),
    (re.compile(r"(?:RHEL, Fedora|RHEL/Fedora|Fedora/RHEL)(?P<qualifier>[^:/]*):"), "debian_family", False),
)
NOT_THIS_HOST = re.compile(r"\b(?:server|wording|destination|remote)\b", re.I)


def distribution(fix: Fix) -> tuple[tuple[str, bool], ...]:
    """The distribution facts a fix is for: (fact, value) pairs, none for a fix that fits every host."""
    found = [(key, wanted) for key, wanted in fix.when if key in DISTRIBUTION_FACTS and isinstance(wanted, bool)]
    for regex, fact, value in TITLE_DISTRIBUTIONS:
        m = regex.match(fix.title)
        if m and not NOT_THIS_HOST.search(m["qualifier"]) and (fact, value) not in found:
            found.append((fact, value))
    return tuple(found)


def other_distribution(fix: Fix, facts: Mapping[str, Fact]) -> bool:
    """The host is known to run another distribution than the one the fix is for (unknown: the fix stays)."""
    for name, wanted in distribution(fix):
        fact = facts.get(name)
        if fact is not None and fact.value is not None and fact.value != wanted:
            return True
    return False


def facts_to_ask(sig: Signature) -> tuple[str, ...]:
    """The facts ranking a signature's fixes needs: its probes, and the distribution facts its fixes are for."""
    names = list(sig.probes)
    for fix in sig.fixes:
        names += [name for name, _ in distribution(fix) if name not in names]
    return tuple(names)


def merge_same(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per cause: findings with the same id and the same captures become the first of them (the
    best ranked), with the evidence and facts of all of them, each once, in the order met."""
    kept: dict[tuple[str, tuple[tuple[str, str], ...]], Finding] = {}
    for finding in findings:
        key = (finding.id, finding.captures)
        first = kept.get(key)
        if first is None:
            kept[key] = finding
            continue
        kept[key] = replace(
            first, evidence=first.evidence + tuple(e for e in finding.evidence if e not in first.evidence),
            facts=first.facts + tuple(f for f in finding.facts if f not in first.facts),
            confidence=max(first.confidence, finding.confidence), specificity=max(first.specificity,
                                                                                   finding.specificity))
    return list(kept.values())


def unexplained_beyond_findings(messages: list[LibvirtMessage], findings: list[Finding]) -> list[LibvirtMessage]:
    """The unexplained libvirt messages that say more than the findings: a message all of whose values a
    finding already names (virsh's "Failed to start domain 'web01'" above the line that says why), or any of
    virsh's own "Failed to <operation>" lines once a finding says why, is the operation that failed, not
    another problem, and is left out; so is an error-class prefix within three lines of a finding's evidence
    (the start of the same error, cut by a wrap), or that starts another listed message, and so is an old
    "Failed to <operation>" line near a finding."""
    named = {value for finding in findings for _, value in finding.captures}
    near = {(e.source, e.line + step) for finding in findings for e in finding.evidence for step in range(-3, 4)}
    return [m for m in messages if not (findings and _operation_report(m, near))
            and not (m.wrapper and (m.evidence.source, m.evidence.line) in near)
            and not (m.wrapper and any(_wraps(m, other) for other in messages if not other.wrapper))
            and (not m.values or not all(value in named for _, value in m.values))]


def _wraps(prefix: LibvirtMessage, message: LibvirtMessage) -> bool:
    """An error-class prefix ("internal error: %s") is the start of a message on its own line or the next one
    when what it holds is empty (the paste broke the line after the colon) or is the start of that message's
    line: it says only what kind of error the message is."""
    source, line = message.evidence.source, message.evidence.line
    if prefix.evidence.source != source or prefix.evidence.line not in (line - 1, line):
        return False
    return all(not value or value in message.evidence.text for _, value in prefix.values)


def _operation_report(message: LibvirtMessage, near: set[tuple[str, int]]) -> bool:
    """virsh's own "Failed to <operation>" line ("failed to connect to the hypervisor", "Failed to create
    domain from vm.xml"): it names the operation, and libvirt's reason follows it. A 0.9-era wording whose
    source file the index does not know counts only near a finding's evidence (it may be another message)."""
    if not message.template.lower().startswith("failed to "):
        return False
    if message.files:
        return all(path.startswith("tools/") for path in message.files)
    return (message.evidence.source, message.evidence.line) in near
