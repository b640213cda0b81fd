"""Render stage (pure), what every format shares: where a line was read, counts, titles, anchors, times, and the
words around the catalog's own text, in the report's language (knowledge/wording.json). No decisions here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from diagnose import __version__, wording
from diagnose.model import Finding, LibvirtMessage, Report

SEVERITIES = ("error", "warning", "info")
GUESS_BELOW = 0.8  # an explained paste's answer below this confidence is shown as a guess (calibrated on real pastes)
KINDS = ("live", "tree", "sosreport", "insights", "remote")


def word(key: str, lang: str, **values: object) -> str:
    return wording.word(key, lang, **values)


def phrase(text: str, lang: str) -> str:
    return wording.phrase(text, lang)


def severity(sev: str, lang: str) -> str:
    return word(f"severity_{sev}", lang)


def where(ev: Any) -> str:
    if ev.path:
        return f"{ev.path}:{ev.line}" if ev.line else ev.path
    return f"{ev.source}:{ev.line}" if ev.line else ev.source


def counts(findings: list[Finding], lang: str, empty: str) -> str:
    """"1 error, 2 warnings" in `lang`; the wording of `empty` when there is nothing."""
    parts = []
    for sev in SEVERITIES:
        n = sum(1 for f in findings if f.severity == sev)
        if n:
            parts.append(word(f"count_{sev}_{'one' if n == 1 else 'many'}", lang, n=n))
    return word("count_separator", lang).join(parts) or word(empty, lang)


def report_counts(report: Report, lang: str) -> str:
    return counts(report.findings, lang, "clean" if report.kind == "scan" else "nothing_recognised")


def kind(report: Report, lang: str) -> str:
    name = report.target.get("kind", "")
    return word(f"kind_{name}", lang) if name in KINDS else name


def title(report: Report, lang: str) -> str:
    if report.kind == "explain":
        return word("explain_title", lang)
    hostname = report.target.get("hostname", "")
    return word("scan_title", lang, root=report.target.get("root", ""),
                kind=kind(report, lang) + (f", {hostname}" if hostname else ""))


def rfc3339(stamp: str) -> str:
    """The report's time as RFC 3339 in UTC (2026-12-06T10:21:07Z), whichever way it was written."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(?: ?UTC|Z|\+00:00)?", stamp.strip())
    return f"{m[1]}T{m[2]}{m[3] or ''}Z" if m else stamp


def meta(report: Report, lang: str) -> str:
    parts = [f"virtdiag {__version__}", rfc3339(report.generated)]
    parts += [report.target.get(k, "") for k in ("uri", "libvirt_version", "hypervisor")]
    if not report.redacted:
        parts.append(word("not_redacted_meta", lang))
    return " · ".join(p for p in parts if p)


def guess(report: Report, finding: Finding, lang: str) -> str:
    return f" ({word('guess', lang)})" if report.kind == "explain" and finding.confidence < GUESS_BELOW else ""


def status(fix_status: str, lang: str) -> str:
    return "" if fix_status == "applies" else f" ({word(f'status_{fix_status}', lang)})"


def value(fact_value: bool | None, lang: str) -> str:
    return word("value_unknown" if fact_value is None else "value_true" if fact_value else "value_false", lang)


def message_line(message: LibvirtMessage) -> str:
    """One line about a recognised libvirt message: its template, where libvirt prints it, its values."""
    files = ", ".join(message.files[:2]) or message.area or "libvirt"
    values = " ".join(f"{k}={v}" for k, v in message.values)
    return f"{message.template!r} ({files}){'  ' + values if values else ''}"


def host_label(report: Report) -> str:
    return report.target.get("hostname") or report.target.get("root", "")


def host_labels(reports: list[Report]) -> list[str]:
    """Each host's name; with what was read beside it where two hosts have one name (as the summary says)."""
    names = [host_label(r) for r in reports]
    return [f"{name} ({r.target.get('root', '')})" if names.count(name) > 1 else name
            for name, r in zip(names, reports, strict=True)]


def host_counts(report: Report) -> dict[str, int]:
    return {sev: sum(1 for f in report.findings if f.severity == sev) for sev in SEVERITIES}


# Anchors: #finding-N is the N-th finding of the report, as numbered in every format (text, JSON's order,
# Markdown, HTML); in a report of many hosts each host's anchors start with host-N- (#host-2-finding-1).
def host_anchor(number: int) -> str:
    return f"host-{number}"


def finding_anchor(prefix: str, number: int) -> str:
    return f"{prefix}finding-{number}"


def index_anchor(prefix: str) -> str:
    return f"{prefix}findings"


def runs(findings: list[Finding]) -> Iterator[tuple[str, list[tuple[int, Finding]]]]:
    """The findings with their numbers (their place in the report, from 1), under one severity heading per run
    of findings of that severity (a scan's findings are ordered by severity: one run each)."""
    group: list[tuple[int, Finding]] = []
    for number, finding in enumerate(findings, start=1):
        if group and group[-1][1].severity != finding.severity:
            yield group[-1][1].severity, group
            group = []
        group.append((number, finding))
    if group:
        yield group[-1][1].severity, group


def shown_fixes(finding: Finding, verbose: bool) -> list[Any]:
    return [fix for fix in finding.fixes if verbose or fix.status != "ruled_out"]


def layout_lines(finding: Finding, verbose: bool) -> int:
    """About how many lines a finding takes on paper (a layout hint: a long one may break across pages)."""
    fixes = shown_fixes(finding, verbose)
    return 4 + len(finding.evidence) + len(finding.facts) + sum(2 + len(fix.commands) for fix in fixes)
