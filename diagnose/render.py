"""Render stage (pure): a Report -> text, JSON, Markdown or HTML. No decisions are made here."""

from __future__ import annotations

import json
from typing import Any

from diagnose import __version__
from diagnose.model import Finding, Report

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
STATUS_LABEL = {"applies": "", "possible": " (possible)", "ruled_out": " (ruled out)"}

LABELS = {
    "en": {
        "evidence": "Evidence", "fixes": "Fixes", "why": "why", "decided": "decided by",
        "nothing": "Nothing recognised. Paste the whole error (the lines after 'error:'), or try "
                   "'virtdiag list' to see what virtdiag knows.",
        "confidence": "confidence", "section": "section", "facts": "Facts", "skipped": "Skipped",
        "found": "{n} finding(s)", "clean": "nothing wrong found",
    },
    "ja": {
        "evidence": "根拠", "fixes": "解決方法", "why": "理由", "decided": "判断材料",
        "nothing": "認識できるエラーがありません。エラー全体 ('error:' 以降の行) を貼り付けるか、"
                   "'virtdiag list' で既知のエラーを確認してください。",
        "confidence": "確度", "section": "節", "facts": "確認した事実", "skipped": "スキップ",
        "found": "{n} 件の検出", "clean": "問題は見つかりませんでした",
    },
}


def _fix_json(finding: Finding, verbose: bool) -> list[dict[str, Any]]:
    return [
        {"id": f.fix_id, "rank": f.rank, "status": f.status, "title": f.title, "commands": list(f.commands),
         "why": f.why, "decided_by": list(f.decided_by)}
        for f in finding.fixes
        if verbose or f.status != "ruled_out"
    ]


def finding_json(finding: Finding, verbose: bool = False) -> dict[str, Any]:
    return {
        "id": finding.id,
        "section": finding.section,
        "title": finding.title,
        "severity": finding.severity,
        "summary": finding.summary,
        "confidence": finding.confidence,
        "captures": dict(finding.captures),
        "evidence": [
            {"source": e.source, "line": e.line, "text": e.text, **({"path": e.path} if e.path else {})}
            for e in finding.evidence
        ],
        "fixes": _fix_json(finding, verbose),
        "facts": [{"name": f.name, "value": f.value, "detail": f.detail} for f in finding.facts],
    }


def to_json(report: Report, verbose: bool = False) -> str:
    body: dict[str, Any] = {"tool": {"name": "virtdiag", "version": __version__}}
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
    if report.notes:
        body["notes"] = report.notes
    return json.dumps(body, indent=2, ensure_ascii=False)


def _para(console: Any, markup: str, indent: int, hang: int = 0) -> None:
    """Print wrapped text whose continuation lines stay indented under the first (no trailing blanks)."""
    from rich.text import Text

    text = Text.from_markup(markup)
    width = max(20, console.width - indent - hang)
    for number, line in enumerate(text.wrap(console, width)):
        line.rstrip()
        console.print(" " * (indent if number == 0 else indent + hang), line, sep="", highlight=False)


def to_text(report: Report, console: Any, lang: str = "en", verbose: bool = False) -> None:
    """Print a report for a person at a terminal (rich Console)."""
    from rich.markup import escape

    words = LABELS.get(lang, LABELS["en"])
    if report.kind == "scan":
        target = report.target
        counts = {sev: sum(1 for f in report.findings if f.severity == sev) for sev in SEVERITY_STYLE}
        summary = ", ".join(f"{n} {sev}" for sev, n in counts.items() if n) or words["clean"]
        name = target.get("hostname", "")
        console.print(f"[bold]virtdiag scan[/bold] {escape(target.get('root', ''))} ({target.get('kind', '')}"
                      f"{', ' + escape(name) if name else ''}): {summary}")
    for note in report.notes if verbose or report.kind == "explain" else ():
        console.print(f"[dim]({escape(note)})[/dim]")
    if not report.findings and report.kind == "explain":
        console.print(words["nothing"])
    for index, finding in enumerate(report.findings, start=1):
        style = SEVERITY_STYLE[finding.severity]
        console.print()
        _para(console, f"[{style}]{index}. {finding.severity.upper()}[/{style}]  [bold]{escape(finding.title)}[/bold]",
              0, hang=3)
        facts = [finding.id, f"{words['section']} {finding.section}" if finding.section else "",
                 f"{words['confidence']} {finding.confidence:.2f}", *(f"{k}={v}" for k, v in finding.captures)]
        _para(console, f"[dim]{escape(' | '.join(x for x in facts if x))}[/dim]", 3)
        _para(console, escape(finding.summary), 3)
        console.print(f"   [bold]{words['evidence']}:[/bold]")
        for ev in finding.evidence:
            where = f"{ev.path}:{ev.line}" if ev.path and ev.line else ev.path or (
                f"{ev.source}:{ev.line}" if ev.line else ev.source)
            _para(console, f"[dim]{escape(where)}[/dim]  {escape(ev.text[:300])}", 5, hang=4)
        for fact in finding.facts:
            _para(console, f"[dim]fact {fact.name}={fact.value}:[/dim] {escape(fact.detail)}", 5, hang=4)
        console.print(f"   [bold]{words['fixes']}:[/bold]")
        for fix in finding.fixes:
            if fix.status == "ruled_out" and not verbose:
                continue
            _para(console, f"{fix.rank}. {escape(fix.title)}[dim]{STATUS_LABEL[fix.status]}[/dim]", 3, hang=3)
            for command in fix.commands:
                console.print(f"        [green]{escape(command)}[/green]", soft_wrap=True)
            _para(console, f"[dim]{words['why']}: {escape(fix.why)}[/dim]", 6)
            if verbose and fix.decided_by:
                _para(console, f"[dim]{words['decided']}: {escape('; '.join(fix.decided_by))}[/dim]", 6)
    if report.skipped:
        console.print(f"\n[bold]{words['skipped']}:[/bold]")
        for item in report.skipped:
            console.print(f"   {escape(item.what)}: {escape(item.reason)}", highlight=False)
