"""Render stage (pure): a Report -> text or JSON here, Markdown or HTML in render_doc. No decisions are made here;
every word around the catalog's own text comes from knowledge/wording.json, in the report's language."""

from __future__ import annotations

import json
from typing import Any

from diagnose import __version__
from diagnose.model import CrossHost, Finding, LibvirtMessage, Report
from diagnose.render_base import (
    GUESS_BELOW,
    guess,
    kind,
    message_line,
    phrase,
    report_counts,
    rfc3339,
    severity,
    shown_fixes,
    status,
    where,
    word,
)
from diagnose.render_doc import html_body, html_page, multi_html, multi_markdown, to_html, to_markdown

__all__ = ["GUESS_BELOW", "SCHEMA_VERSION", "finding_json", "html_body", "html_page", "message_json", "multi_html",
           "multi_json", "multi_markdown", "multi_text", "report_json", "to_html", "to_json", "to_markdown",
           "to_text"]

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
SCHEMA_VERSION = 1


def _fix_json(finding: Finding, verbose: bool) -> list[dict[str, Any]]:
    return [
        {"id": f.fix_id, "rank": f.rank, "status": f.status, "title": f.title, "commands": list(f.commands),
         "why": f.why, "decided_by": list(f.decided_by)}
        for f in shown_fixes(finding, verbose)
    ]


def _evidence_json(ev: Any) -> dict[str, Any]:
    return {"source": ev.source, "line": ev.line, "text": ev.text, **({"path": ev.path} if ev.path else {})}


def finding_json(finding: Finding, verbose: bool = False) -> dict[str, Any]:
    return {
        "id": finding.id,
        "section": finding.section,
        "title": finding.title,
        "severity": finding.severity,
        "summary": finding.summary,
        "confidence": finding.confidence,
        "captures": dict(finding.captures),
        "evidence": [_evidence_json(e) for e in finding.evidence],
        "fixes": _fix_json(finding, verbose),
        "facts": [{"name": f.name, "value": f.value, "detail": f.detail} for f in finding.facts],
    }


def report_json(report: Report, verbose: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"tool": {"name": "virtdiag", "version": __version__},
                            "schema_version": SCHEMA_VERSION, "kind": report.kind,
                            "generated": rfc3339(report.generated), "lang": report.lang, "redacted": report.redacted}
    key = "matches" if report.kind == "explain" else "findings"
    if report.kind == "scan":
        body["target"] = report.target
    body[key] = [finding_json(f, verbose) for f in report.findings]
    if report.kind == "scan" or report.facts:
        body["facts"] = [
            {"name": f.name, "subject": f.subject, "value": f.value, "detail": f.detail} for f in report.facts
        ]
    if report.kind == "scan" or report.skipped:
        body["skipped"] = [{"what": s.what, "reason": s.reason} for s in report.skipped]
    if report.messages or report.kind == "explain":
        body["messages"] = [message_json(m) for m in report.messages]
    if report.notes:
        body["notes"] = report.notes
    return body


def message_json(message: LibvirtMessage) -> dict[str, Any]:
    return {"template": message.template, "area": message.area, "files": list(message.files), "lang": message.lang,
            "values": dict(message.values), "detail": message.detail, "evidence": _evidence_json(message.evidence)}


def to_json(report: Report, verbose: bool = False) -> str:
    return json.dumps(report_json(report, verbose), indent=2, ensure_ascii=False)


def multi_json(reports: list[Report], summary: list[CrossHost], verbose: bool = False) -> str:
    body = {"tool": {"name": "virtdiag", "version": __version__}, "schema_version": SCHEMA_VERSION,
            "kind": "multi-scan", "hosts": [report_json(r, verbose) for r in reports],
            "summary": [{"id": c.id, "title": c.title, "severity": c.severity, "hosts": list(c.hosts)}
                        for c in summary]}
    return json.dumps(body, indent=2, ensure_ascii=False)


# --- text, for a person at a terminal (a rich Console) ----------------------------------------------


def multi_text(reports: list[Report], summary: list[CrossHost], console: Any, lang: str | None = None,
               verbose: bool = False) -> None:
    lang = lang or reports[0].lang
    for report in reports:
        to_text(report, console, lang, verbose)
        console.print()
    console.print(f"[bold]{word('across_n_hosts', lang, n=len(reports))}:[/bold]")
    for c in summary:
        style = SEVERITY_STYLE[c.severity]
        console.print(f"  [{style}]{severity(c.severity, lang):<7}[/{style}] {len(c.hosts)}/{len(reports)}  {c.id}: "
                      f"{', '.join(c.hosts)}", highlight=False)


def _para(console: Any, markup: str, indent: int, hang: int = 0) -> None:
    """Print wrapped text whose continuation lines stay indented under the first (no trailing blanks)."""
    from rich.text import Text

    text = Text.from_markup(markup, emoji=False)  # ":name:" in an error is text, not an emoji
    width = max(20, console.width - indent - hang)
    for number, line in enumerate(text.wrap(console, width)):
        line.rstrip()
        console.print(" " * (indent if number == 0 else indent + hang), line, sep="", highlight=False)


def to_text(report: Report, console: Any, lang: str | None = None, verbose: bool = False) -> None:
    """Print a report for a person at a terminal (rich Console); with `verbose`, the host checks that passed
    and those that could not run (as virt-host-validate lists them)."""
    from rich.markup import escape

    lang = lang or report.lang
    if report.kind == "scan":
        target = report.target
        name = target.get("hostname", "")
        console.print(f"[bold]virtdiag scan[/bold] {escape(target.get('root', ''))} ({escape(kind(report, lang))}"
                      f"{', ' + escape(name) if name else ''}): {escape(report_counts(report, lang))}")
    for note in report.notes if verbose or report.kind == "explain" else ():
        console.print(f"[dim]({escape(phrase(note, lang))})[/dim]")
    if not report.findings and not report.messages and report.kind == "explain":
        console.print(word("nothing", lang))
    for index, finding in enumerate(report.findings, start=1):
        _finding_text(report, finding, index, console, lang, verbose)
    if report.messages:  # after the findings: what they explain comes first
        console.print(f"\n[bold]{word('messages', lang)}:[/bold]")
        for message in report.messages:
            _para(console, escape(message_line(message)), 3, hang=2)
            _para(console, f"[dim]{escape(where(message.evidence))}[/dim]  {escape(message.evidence.text[:300])}",
                  5, hang=4)
    if verbose and report.checks:
        _checks_text(report, console, lang)
    if report.skipped:
        console.print(f"\n[bold]{word('skipped', lang)}:[/bold]")
        for item in report.skipped:
            console.print(f"   {escape(phrase(item.what, lang))}: {escape(phrase(item.reason, lang))}", highlight=False)


def _finding_text(report: Report, finding: Finding, index: int, console: Any, lang: str, verbose: bool) -> None:
    from rich.markup import escape

    style = SEVERITY_STYLE[finding.severity]
    console.print()
    _para(console, f"[{style}]{index}. {severity(finding.severity, lang).upper()}[/{style}]  "
                   f"[bold]{escape(finding.title)}[/bold]", 0, hang=3)
    facts = [finding.id, f"{word('section', lang)} {finding.section}" if finding.section else "",
             f"{word('confidence', lang)} {finding.confidence:.2f}{guess(report, finding, lang)}",
             *(f"{k}={v}" for k, v in finding.captures)]
    _para(console, f"[dim]{escape(' | '.join(x for x in facts if x))}[/dim]", 3)
    _para(console, escape(finding.summary), 3)
    console.print(f"   [bold]{word('evidence', lang)}:[/bold]")
    for ev in finding.evidence:
        _para(console, f"[dim]{escape(where(ev))}[/dim]  {escape(ev.text[:300])}", 5, hang=4)
    for fact in finding.facts:
        _para(console, f"[dim]{word('fact', lang)} {fact.name}={fact.value}:[/dim] {escape(fact.detail)}", 5, hang=4)
    console.print(f"   [bold]{word('fixes', lang)}:[/bold]")
    for fix in shown_fixes(finding, verbose):
        _para(console, f"{fix.rank}. {escape(fix.title)}[dim]{status(fix.status, lang)}[/dim]", 3, hang=3)
        for command in fix.commands:
            console.print(f"        [green]{escape(command)}[/green]", soft_wrap=True)
        _para(console, f"[dim]{word('why', lang)}: {escape(fix.why)}[/dim]", 6)
        if verbose and fix.decided_by:
            _para(console, f"[dim]{word('decided_by', lang)}: {escape('; '.join(fix.decided_by))}[/dim]", 6)


def _checks_text(report: Report, console: Any, lang: str) -> None:
    """virt-host-validate's way: one line per host check, PASS for one that ran and found nothing, SKIP for
    one that could not run (with the reason); the checks that found something are the findings above."""
    from rich.markup import escape

    from diagnose.wording import check_title

    console.print(f"\n[bold]{word('checks', lang)}:[/bold]")
    for run in report.checks:
        if run.status == "passed":
            _para(console, f"[green]{word('check_passed', lang)}[/green]  {escape(check_title(run.name, lang))}", 3,
                  hang=6)
    for run in report.checks:
        if run.status == "not_run":
            _para(console, f"[yellow]{word('check_not_run', lang)}[/yellow]  {escape(check_title(run.name, lang))}: "
                           f"{escape(phrase(run.reason, lang))}", 3, hang=6)
