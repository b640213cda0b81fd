"""Render stage (pure): a Report -> text, JSON, Markdown or HTML. No decisions are made here."""

from __future__ import annotations

import json
import re
from typing import Any

from diagnose import __version__
from diagnose.model import CrossHost, Finding, LibvirtMessage, Report

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
GUESS_BELOW = 0.8  # an explained paste's answer below this confidence is shown as a guess (calibrated on real pastes)
STATUS_LABEL = {"applies": "", "possible": " (possible)", "ruled_out": " (ruled out)"}

LABELS = {
    "en": {
        "evidence": "Evidence", "fixes": "Fixes", "why": "why", "decided": "decided by",
        "nothing": "Nothing recognised. Paste the whole error (the lines after 'error:'), or try "
                   "'virtdiag list' to see what virtdiag knows.",
        "confidence": "confidence", "section": "section", "facts": "Facts", "skipped": "Skipped",
        "found": "{n} finding(s)", "clean": "nothing wrong found",
        "messages": "libvirt messages virtdiag has no cause entry for",
        "template": "template", "guess": "a guess",
    },
    "ja": {
        "evidence": "根拠", "fixes": "解決方法", "why": "理由", "decided": "判断材料",
        "nothing": "認識できるエラーがありません。エラー全体 ('error:' 以降の行) を貼り付けるか、"
                   "'virtdiag list' で既知のエラーを確認してください。",
        "confidence": "確度", "section": "節", "facts": "確認した事実", "skipped": "スキップ",
        "found": "{n} 件の検出", "clean": "問題は見つかりませんでした",
        "messages": "virtdiag に原因の登録がない libvirt のメッセージ",
        "template": "テンプレート", "guess": "推測",
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


SCHEMA_VERSION = 1


def report_json(report: Report, verbose: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"tool": {"name": "virtdiag", "version": __version__},
                            "schema_version": SCHEMA_VERSION, "kind": report.kind, "generated": report.generated,
                            "redacted": report.redacted}
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
    ev = message.evidence
    return {"template": message.template, "area": message.area, "files": list(message.files), "lang": message.lang,
            "values": dict(message.values), "detail": message.detail,
            "evidence": {"source": ev.source, "line": ev.line, "text": ev.text,
                         **({"path": ev.path} if ev.path else {})}}


def _message_line(message: LibvirtMessage) -> str:
    """One line about a recognised libvirt message: its template, where libvirt prints it, its values."""
    where = ", ".join(message.files[:2]) or message.area or "libvirt"
    values = " ".join(f"{k}={v}" for k, v in message.values)
    return f"{message.template!r} ({where}){'  ' + values if values else ''}"


def to_json(report: Report, verbose: bool = False) -> str:
    return json.dumps(report_json(report, verbose), indent=2, ensure_ascii=False)


def multi_json(reports: list[Report], summary: list[CrossHost], verbose: bool = False) -> str:
    body = {"tool": {"name": "virtdiag", "version": __version__}, "schema_version": SCHEMA_VERSION,
            "kind": "multi-scan", "hosts": [report_json(r, verbose) for r in reports],
            "summary": [{"id": c.id, "title": c.title, "severity": c.severity, "hosts": list(c.hosts)}
                        for c in summary]}
    return json.dumps(body, indent=2, ensure_ascii=False)


def _host_label(report: Report) -> str:
    return report.target.get("hostname") or report.target.get("root", "")


def multi_markdown(reports: list[Report], summary: list[CrossHost], verbose: bool = False) -> str:
    out = [f"# virtdiag scan of {len(reports)} hosts", "", f"_virtdiag {__version__} · {reports[0].generated}_", "",
           "## Across hosts", "", "| finding | severity | hosts | which |", "| --- | --- | --- | --- |"]
    out += [f"| {_md(c.title)} (`{c.id}`) | {c.severity} | {len(c.hosts)} | {_md(', '.join(c.hosts))} |"
            for c in summary]
    out += [""]
    for report in reports:
        out += [to_markdown(report, 2, verbose)]
    return "\n".join(out)


def multi_html(reports: list[Report], summary: list[CrossHost], verbose: bool = False) -> str:
    rows = "".join(f"<tr><td>{_e(c.title)} (<code>{_e(c.id)}</code>)</td><td>{_e(c.severity)}</td>"
                   f"<td>{len(c.hosts)}</td><td>{_e(', '.join(c.hosts))}</td></tr>" for c in summary)
    body = [f"<h1>virtdiag scan of {len(reports)} hosts</h1>",
            f"<p class='meta'>{_e(f'virtdiag {__version__} · {reports[0].generated}')}</p>",
            "<h2>Across hosts</h2><table><tr><th>finding</th><th>severity</th><th>hosts</th><th>which</th></tr>"
            f"{rows}</table>"]
    body += [f"<section>{html_body(r, 2, verbose)}</section>" for r in reports]
    return html_page(f"virtdiag scan of {len(reports)} hosts", "\n".join(body))


def multi_text(reports: list[Report], summary: list[CrossHost], console: Any, lang: str, verbose: bool) -> None:
    for report in reports:
        to_text(report, console, lang, verbose)
        console.print()
    console.print(f"[bold]Across {len(reports)} hosts:[/bold]")
    for c in summary:
        style = SEVERITY_STYLE[c.severity]
        console.print(f"  [{style}]{c.severity:<7}[/{style}] {len(c.hosts)}/{len(reports)}  {c.id}: "
                      f"{', '.join(c.hosts)}", highlight=False)


def _para(console: Any, markup: str, indent: int, hang: int = 0) -> None:
    """Print wrapped text whose continuation lines stay indented under the first (no trailing blanks)."""
    from rich.text import Text

    text = Text.from_markup(markup, emoji=False)  # ":name:" in an error is text, not an emoji
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
        summary = ", ".join(f"{n} {sev}{'s' if n != 1 and sev != 'info' else ''}"
                            for sev, n in counts.items() if n) or words["clean"]
        name = target.get("hostname", "")
        console.print(f"[bold]virtdiag scan[/bold] {escape(target.get('root', ''))} ({target.get('kind', '')}"
                      f"{', ' + escape(name) if name else ''}): {summary}")
    for note in report.notes if verbose or report.kind == "explain" else ():
        console.print(f"[dim]({escape(note)})[/dim]")
    if not report.findings and not report.messages and report.kind == "explain":
        console.print(words["nothing"])
    if report.messages:
        console.print(f"\n[bold]{words['messages']}:[/bold]")
        for message in report.messages:
            _para(console, escape(_message_line(message)), 3, hang=2)
            _para(console, f"[dim]{escape(_where(message.evidence))}[/dim]  {escape(message.evidence.text[:300])}",
                  5, hang=4)
    for index, finding in enumerate(report.findings, start=1):
        style = SEVERITY_STYLE[finding.severity]
        console.print()
        _para(console, f"[{style}]{index}. {finding.severity.upper()}[/{style}]  [bold]{escape(finding.title)}[/bold]",
              0, hang=3)
        guess = f" ({words['guess']})" if report.kind == "explain" and finding.confidence < GUESS_BELOW else ""
        facts = [finding.id, f"{words['section']} {finding.section}" if finding.section else "",
                 f"{words['confidence']} {finding.confidence:.2f}{guess}", *(f"{k}={v}" for k, v in finding.captures)]
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


# --- Markdown and HTML reports --------------------------------------------------------------------

SEVERITY_HEADINGS = {"error": "Errors", "warning": "Warnings", "info": "Information"}


def _where(ev: Any) -> str:
    if ev.path:
        return f"{ev.path}:{ev.line}" if ev.line else ev.path
    return f"{ev.source}:{ev.line}" if ev.line else ev.source


def _counts(report: Report) -> str:
    counts = {sev: sum(1 for f in report.findings if f.severity == sev) for sev in SEVERITY_HEADINGS}
    text = ", ".join(f"{n} {sev}{'s' if n != 1 and sev != 'info' else ''}" for sev, n in counts.items() if n)
    return text or ("nothing wrong found" if report.kind == "scan" else "nothing recognised")


def _title(report: Report) -> str:
    if report.kind == "explain":
        return "virtdiag explain"
    target = report.target
    host = f", {target['hostname']}" if target.get("hostname") else ""
    return f"virtdiag scan: {target.get('root', '')} ({target.get('kind', '')}{host})"


def _meta(report: Report) -> str:
    parts = [f"virtdiag {__version__}", report.generated]
    parts += [report.target.get(k, "") for k in ("uri", "libvirt_version", "hypervisor")]
    if not report.redacted:
        parts.append("NOT REDACTED: may contain passwords and keys")
    return " · ".join(p for p in parts if p)


def _guess(report: Report, finding: Finding) -> str:
    return " (a guess)" if report.kind == "explain" and finding.confidence < GUESS_BELOW else ""


def _md_code(text: str) -> str:
    """Inline code that survives backticks inside it (CommonMark: a longer fence, padded)."""
    ticks = max((len(run) for run in re.findall(r"`+", text)), default=0)
    pad = " " if ticks else ""
    return f"{'`' * (ticks + 1)}{pad}{text}{pad}{'`' * (ticks + 1)}"


def _md(text: str) -> str:
    """Plain text in Markdown: angle brackets of XML would be taken for HTML and vanish in a ticket."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_markdown(report: Report, level: int = 1, verbose: bool = False) -> str:
    h = "#" * level
    out = [f"{h} {_title(report)}", "", f"_{_meta(report)}_", "", f"**{_counts(report)}**", ""]
    number = 0
    for severity, heading in SEVERITY_HEADINGS.items():
        group = [f for f in report.findings if f.severity == severity]
        if not group:
            continue
        out += [f"{h}# {heading}", ""]
        for finding in group:
            number += 1
            section = f", section {finding.section}" if finding.section else ""
            out += [f"{h}## {number}. {_md(finding.title)}", "",
                    f"`{finding.id}`{section}, confidence {finding.confidence:.2f}{_guess(report, finding)}"
                    + ("".join(f", {k}={_md_code(v)}" for k, v in finding.captures)), "", _md(finding.summary), "",
                    "**Evidence**", ""]
            out += [f"- {_md_code(_where(ev))} {_md_code(ev.text[:400])}" for ev in finding.evidence]
            out += [f"- fact {_md_code(f'{fact.name}={fact.value}')}: {_md(fact.detail)}" for fact in finding.facts]
            out += ["", "**Fixes, in order**", ""]
            for fix in finding.fixes:
                if fix.status == "ruled_out" and not verbose:
                    continue
                label = STATUS_LABEL[fix.status]
                out += [f"{fix.rank}. **{_md(fix.title)}**{label}: {_md(fix.why)}"]
                if fix.commands:
                    out += ["", "   ```sh", *(f"   {c}" for c in fix.commands), "   ```"]
                out += [""]
    if report.messages:
        out += [f"{h}# {LABELS['en']['messages'].capitalize()}", ""]
        out += [f"- {_md_code(_message_line(m))}: {_md_code(_where(m.evidence))} {_md_code(m.evidence.text[:400])}"
                for m in report.messages]
        out += [""]
    if report.facts:
        out += [f"{h}# Facts checked", "", "| fact | about | value | detail |", "| --- | --- | --- | --- |"]
        out += [f"| {f.name} | {_md(f.subject)} | {f.value} | {_md(f.detail).replace('|', '/')} |"
                for f in report.facts]
        out += [""]
    if report.skipped:
        out += [f"{h}# Could not be read or checked", ""]
        out += [f"- {_md_code(s.what)}: {_md(s.reason)}" for s in report.skipped]
        out += [""]
    return "\n".join(out).rstrip() + "\n"


CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:60rem;
padding:1rem;color:#1b1b1b;background:#fff}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.2rem;border-bottom:1px solid #ddd;margin-top:1.6rem}
h3{font-size:1.05rem;margin:1.2rem 0 .3rem}.meta{color:#555;font-size:.85rem}
.finding{border-left:4px solid #999;padding:.2rem .8rem;margin:.8rem 0;background:#fafafa}
.error{border-color:#c62828}.warning{border-color:#ef8f00}.info{border-color:#1565c0}
.sev{font-weight:700;text-transform:uppercase;font-size:.8rem}.error .sev{color:#c62828}
.warning .sev{color:#a15c00}.info .sev{color:#1565c0}
.id{color:#555;font-size:.85rem}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f1f3f5;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
details summary{cursor:pointer;font-weight:600}ul.ev{padding-left:1rem}ul.ev li{margin:.2rem 0;word-break:break-all}
table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{border:1px solid #ddd;padding:.25rem;text-align:left;
vertical-align:top;overflow-wrap:anywhere}td:nth-child(2),td:nth-child(3),th{white-space:nowrap;overflow-wrap:normal}
.warn{background:#fff3cd;padding:.5rem;border:1px solid #e0b400}
@media print{details{display:block}details>*{display:block}body{max-width:none}.finding{break-inside:avoid}}
""".strip()


def _e(text: object) -> str:
    import html

    return html.escape(str(text), quote=True)


def html_body(report: Report, level: int = 1, verbose: bool = False) -> str:
    h1, h2, h3 = f"h{level}", f"h{level + 1}", f"h{level + 2}"
    out = [f"<{h1}>{_e(_title(report))}</{h1}>", f"<p class='meta'>{_e(_meta(report))}</p>",
           f"<p><strong>{_e(_counts(report))}</strong></p>"]
    if not report.redacted:
        out.append("<p class='warn'>This report is NOT redacted: it may contain passwords and private keys.</p>")
    number = 0
    for severity, heading in SEVERITY_HEADINGS.items():
        group = [f for f in report.findings if f.severity == severity]
        if not group:
            continue
        out.append(f"<{h2}>{heading}</{h2}>")
        for finding in group:
            number += 1
            caps = "".join(f", {_e(k)}=<code>{_e(v)}</code>" for k, v in finding.captures)
            section = f", section {_e(finding.section)}" if finding.section else ""
            out.append(f"<div class='finding {severity}'>")
            out.append(f"<{h3}><span class='sev'>{_e(severity)}</span> {number}. {_e(finding.title)}</{h3}>")
            out.append(f"<p class='id'><code>{_e(finding.id)}</code>{section}, confidence "
                       f"{finding.confidence:.2f}{_e(_guess(report, finding))}{caps}</p><p>{_e(finding.summary)}</p>")
            out.append(f"<details open><summary>Evidence ({len(finding.evidence)})</summary><ul class='ev'>")
            out += [f"<li><code>{_e(_where(ev))}</code> <code>{_e(ev.text[:400])}</code></li>"
                    for ev in finding.evidence]
            out += [f"<li>fact <code>{_e(fact.name)}={_e(fact.value)}</code>: {_e(fact.detail)}</li>"
                    for fact in finding.facts]
            out.append("</ul></details><p><strong>Fixes, in order</strong></p><ol>")
            for fix in finding.fixes:
                if fix.status == "ruled_out" and not verbose:
                    continue
                commands = f"<pre>{_e(chr(10).join(fix.commands))}</pre>" if fix.commands else ""
                out.append(f"<li value='{fix.rank}'><strong>{_e(fix.title)}</strong>{_e(STATUS_LABEL[fix.status])}"
                           f": {_e(fix.why)}{commands}</li>")
            out.append("</ol></div>")
    if report.messages:
        out.append(f"<{h2}>{_e(LABELS['en']['messages'].capitalize())}</{h2}><ul class='ev'>")
        out += [f"<li><code>{_e(_message_line(m))}</code>: <code>{_e(_where(m.evidence))}</code> "
                f"<code>{_e(m.evidence.text[:400])}</code></li>" for m in report.messages]
        out.append("</ul>")
    if report.facts:
        out.append(f"<details><summary>Facts checked ({len(report.facts)})</summary><table>"
                   "<tr><th>fact</th><th>about</th><th>value</th><th>detail</th></tr>")
        out += [f"<tr><td>{_e(f.name)}</td><td>{_e(f.subject)}</td><td>{_e(f.value)}</td><td>{_e(f.detail)}</td></tr>"
                for f in report.facts]
        out.append("</table></details>")
    if report.skipped:
        out.append(f"<details><summary>Could not be read or checked ({len(report.skipped)})</summary><ul>")
        out += [f"<li><code>{_e(s.what)}</code>: {_e(s.reason)}</li>" for s in report.skipped]
        out.append("</ul></details>")
    return "\n".join(out)


def html_page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def to_html(report: Report, verbose: bool = False) -> str:
    return html_page(_title(report), html_body(report, 1, verbose))
