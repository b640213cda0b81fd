"""Render stage (pure): a Report -> Markdown (pastes into a ticket) or one self-contained HTML page (readable on a
phone, printable). Both open with an index of the findings linked to #finding-N anchors, each finding linking
back; a report of many hosts opens with an overview of the hosts linked to their sections. No decisions here."""

from __future__ import annotations

import html
import re

from diagnose import __version__
from diagnose.model import CrossHost, Finding, Report
from diagnose.render_base import (
    SEVERITIES,
    finding_anchor,
    guess,
    host_anchor,
    host_counts,
    host_labels,
    index_anchor,
    kind,
    layout_lines,
    message_line,
    meta,
    phrase,
    report_counts,
    rfc3339,
    runs,
    severity,
    shown_fixes,
    status,
    title,
    value,
    where,
    word,
)

BACK = "↑"
LONG_FINDING = 24  # lines on paper above which a finding may break across pages (below: kept on one page)


def _md_code(text: str) -> str:
    """Inline code that survives backticks inside it (CommonMark: a longer fence, padded)."""
    ticks = max((len(run) for run in re.findall(r"`+", text)), default=0)
    pad = " " if ticks else ""
    return f"{'`' * (ticks + 1)}{pad}{text}{pad}{'`' * (ticks + 1)}"


def _md(text: str) -> str:
    """Plain text in Markdown: angle brackets of XML would be taken for HTML and vanish in a ticket."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_link(text: str, anchor: str) -> str:
    return "[" + _md(text).replace("[", "\\[").replace("]", "\\]") + f"](#{anchor})"


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "/")


def _md_index(report: Report, h: str, lang: str, prefix: str) -> list[str]:
    out = [f'{h}# <a id="{index_anchor(prefix)}"></a>{word("index", lang)}', ""]
    for number, finding in enumerate(report.findings, start=1):
        label = f"{severity(finding.severity, lang).upper()}: {finding.title}"
        out.append(f"{number}. {_md_link(label, finding_anchor(prefix, number))} ({_md_code(finding.id)})")
    return [*out, ""]


def _md_finding(report: Report, finding: Finding, number: int, h: str, lang: str, prefix: str,
                verbose: bool) -> list[str]:
    section = f", {word('section', lang)} {finding.section}" if finding.section else ""
    out = [f'{h}## <a id="{finding_anchor(prefix, number)}"></a>{number}. {_md(finding.title)}', "",
           f"`{finding.id}`{section}, {word('confidence', lang)} {finding.confidence:.2f}{guess(report, finding, lang)}"
           + "".join(f", {k}={_md_code(v)}" for k, v in finding.captures), "", _md(finding.summary), "",
           f"**{word('evidence', lang)}**", ""]
    out += [f"- {_md_code(where(ev))} {_md_code(ev.text[:400])}" for ev in finding.evidence]
    out += [f"- {word('fact', lang)} {_md_code(f'{fact.name}={fact.value}')}: {_md(fact.detail)}"
            for fact in finding.facts]
    out += ["", f"**{word('fixes_in_order', lang)}**", ""]
    for fix in shown_fixes(finding, verbose):
        out += [f"{fix.rank}. **{_md(fix.title)}**{status(fix.status, lang)}: {_md(fix.why)}"]
        if fix.commands:
            out += ["", "   ```sh", *(f"   {c}" for c in fix.commands), "   ```"]
        out += [""]
    return [*out, f"{BACK} {_md_link(word('back_to_index', lang), index_anchor(prefix))}", ""]


def to_markdown(report: Report, level: int = 1, verbose: bool = False, lang: str | None = None,
                prefix: str = "") -> str:
    """`prefix` (host-2-) makes the anchors of one host's section unique in a report of many hosts."""
    lang = lang or report.lang
    h = "#" * level
    anchor = f'<a id="{prefix.rstrip("-")}"></a>' if prefix else ""
    out = [f"{h} {anchor}{_md(title(report, lang))}", "", f"_{_md(meta(report, lang))}_", "",
           f"**{report_counts(report, lang)}**", ""]
    if report.findings:
        out += _md_index(report, h, lang, prefix)
    for sev, group in runs(report.findings):
        out += [f"{h}# {word(f'heading_{sev}', lang)}", ""]
        for number, finding in group:
            out += _md_finding(report, finding, number, h, lang, prefix, verbose)
    if report.messages:
        out += [f"{h}# {word('messages_heading', lang)}", ""]
        out += [f"- {_md_code(message_line(m))}: {_md_code(where(m.evidence))} {_md_code(m.evidence.text[:400])}"
                for m in report.messages]
        out += [""]
    if report.facts:
        columns = [word(f"column_{c}", lang) for c in ("fact", "about", "value", "detail")]
        out += [f"{h}# {word('facts_checked', lang)}", "", f"| {' | '.join(columns)} |", "| --- | --- | --- | --- |"]
        out += [f"| {f.name} | {_md_cell(f.subject)} | {value(f.value, lang)} | {_md_cell(f.detail)} |"
                for f in report.facts]
        out += [""]
    if report.skipped:
        out += [f"{h}# {word('could_not', lang)}", ""]
        out += [f"- {_md_code(phrase(s.what, lang))}: {_md(phrase(s.reason, lang))}" for s in report.skipped]
        out += [""]
    return "\n".join(out).rstrip() + "\n"


def _overview_rows(reports: list[Report], lang: str) -> list[tuple[str, str, str, dict[str, int]]]:
    """(anchor, host, kind, counts per severity) of each host, in the report's order."""
    return [(host_anchor(n), label, kind(r, lang), host_counts(r))
            for n, (label, r) in enumerate(zip(host_labels(reports), reports, strict=True), start=1)]


def _multi_title(reports: list[Report], lang: str) -> str:
    return word("multi_title", lang, n=len(reports))


def _multi_meta(reports: list[Report]) -> str:
    return f"virtdiag {__version__} · {rfc3339(reports[0].generated)}"


def multi_markdown(reports: list[Report], summary: list[CrossHost], verbose: bool = False,
                   lang: str | None = None) -> str:
    lang = lang or reports[0].lang
    columns = [word(f"column_{c}", lang) for c in ("host", "kind", "errors", "warnings", "info")]
    out = [f"# {_md(_multi_title(reports, lang))}", "", f"_{_multi_meta(reports)}_", "",
           f"## {word('hosts', lang)}", "", f"| {' | '.join(columns)} |", "| --- | --- | --- | --- | --- |"]
    out += [f"| {_md_link(label, anchor)} | {_md_cell(host_kind)} | {' | '.join(str(n[s]) for s in SEVERITIES)} |"
            for anchor, label, host_kind, n in _overview_rows(reports, lang)]
    columns = [word(f"column_{c}", lang) for c in ("finding", "severity", "count", "which")]
    out += ["", f"## {word('across_hosts', lang)}", "", f"| {' | '.join(columns)} |", "| --- | --- | --- | --- |"]
    out += [f"| {_md_cell(c.title)} (`{c.id}`) | {severity(c.severity, lang)} | {len(c.hosts)} | "
            f"{_md_cell(', '.join(c.hosts))} |" for c in summary]
    out += [""]
    for number, report in enumerate(reports, start=1):
        out += [to_markdown(report, 2, verbose, lang, f"{host_anchor(number)}-")]
    return "\n".join(out)


# --- HTML ---------------------------------------------------------------------------------------------

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:60rem;
padding:1rem;color:#1b1b1b;background:#fff}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.2rem;border-bottom:1px solid #ddd;margin-top:1.6rem}
h3{font-size:1.05rem;margin:1.2rem 0 .3rem}.meta{color:#555;font-size:.85rem}a{color:#0b57d0}
.finding{border-left:4px solid #999;padding:.2rem .8rem;margin:.8rem 0;background:#fafafa}
.finding.error{border-color:#c62828}.finding.warning{border-color:#ef8f00}.finding.info{border-color:#1565c0}
.sev{font-weight:700;text-transform:uppercase;font-size:.8rem}.error .sev{color:#c62828}
.warning .sev{color:#a15c00}.info .sev{color:#1565c0}.index li{margin:.15rem 0}.back{font-size:.85rem;margin:.4rem 0}
.id{color:#555;font-size:.85rem}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
code{overflow-wrap:anywhere}pre{background:#f1f3f5;padding:.5rem;margin:.3rem 0;overflow-x:auto;white-space:pre;
overflow-wrap:normal;word-break:normal;-webkit-overflow-scrolling:touch}
details summary{cursor:pointer;font-weight:600}ul.ev{padding-left:1rem}ul.ev li{margin:.2rem 0}
ul.ev pre{padding:.25rem .4rem;margin:.1rem 0 .2rem}.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{border:1px solid #ddd;padding:.25rem;text-align:left;
vertical-align:top;overflow-wrap:anywhere}td.n,th{white-space:nowrap;overflow-wrap:normal}
.warn{background:#fff3cd;padding:.5rem;border:1px solid #e0b400}
@page{margin:15mm}
@media print{body{max-width:none;padding:0;font-size:10.5pt}a{color:inherit;text-decoration:none}.back{display:none}
details::details-content{content-visibility:visible;height:auto}details>summary{list-style:none}
pre{white-space:pre-wrap;overflow-wrap:anywhere;overflow:visible}.scroll{overflow:visible}
.finding{break-inside:avoid}.finding.long{break-inside:auto}h1,h2,h3,summary,.id{break-after:avoid}
li,pre,tr{break-inside:avoid}}
""".strip()


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_index(report: Report, h2: str, lang: str, prefix: str) -> list[str]:
    out = [f"<nav class='index' id='{index_anchor(prefix)}'><{h2}>{_e(word('index', lang))}</{h2}><ol>"]
    out += [f"<li class='{f.severity}'><a href='#{finding_anchor(prefix, n)}'><span class='sev'>"
            f"{_e(severity(f.severity, lang))}</span> {_e(f.title)}</a> <code>{_e(f.id)}</code></li>"
            for n, f in enumerate(report.findings, start=1)]
    return [*out, "</ol></nav>"]


def _html_finding(report: Report, finding: Finding, number: int, h3: str, lang: str, prefix: str,
                  verbose: bool) -> list[str]:
    caps = "".join(f", {_e(k)}=<code>{_e(v)}</code>" for k, v in finding.captures)
    section = f", {_e(word('section', lang))} {_e(finding.section)}" if finding.section else ""
    long = " long" if layout_lines(finding, verbose) > LONG_FINDING else ""
    listed = len(finding.evidence) + len(finding.facts)  # the count says what the list under it holds
    out = [f"<div class='finding {finding.severity}{long}' id='{finding_anchor(prefix, number)}'>",
           f"<{h3}><span class='sev'>{_e(severity(finding.severity, lang))}</span> {number}. {_e(finding.title)}"
           f"</{h3}>",
           f"<p class='id'><code>{_e(finding.id)}</code>{section}, {_e(word('confidence', lang))} "
           f"{finding.confidence:.2f}{_e(guess(report, finding, lang))}{caps}</p><p>{_e(finding.summary)}</p>",
           f"<details open><summary>{_e(word('evidence', lang))} ({listed})</summary><ul class='ev'>"]
    out += [f"<li><code>{_e(where(ev))}</code><pre>{_e(ev.text[:400])}</pre></li>" for ev in finding.evidence]
    out += [f"<li>{_e(word('fact', lang))} <code>{_e(fact.name)}={_e(fact.value)}</code>: {_e(fact.detail)}</li>"
            for fact in finding.facts]
    out.append(f"</ul></details><p><strong>{_e(word('fixes_in_order', lang))}</strong></p><ol>")
    for fix in shown_fixes(finding, verbose):
        commands = f"<pre>{_e(chr(10).join(fix.commands))}</pre>" if fix.commands else ""
        out.append(f"<li value='{fix.rank}'><strong>{_e(fix.title)}</strong>{_e(status(fix.status, lang))}"
                   f": {_e(fix.why)}{commands}</li>")
    out.append(f"</ol><p class='back'><a href='#{index_anchor(prefix)}'>{BACK} {_e(word('back_to_index', lang))}"
               "</a></p></div>")
    return out


def _html_table(columns: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> str:
    """A table (cells already HTML) that scrolls sideways on a narrow screen instead of squeezing its text."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    cells = ("<td class='n'>{}</td>", "<td>{}</td>")
    body = "".join("<tr>" + "".join(cells[i not in numeric].format(cell) for i, cell in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def html_body(report: Report, level: int = 1, verbose: bool = False, lang: str | None = None,
              prefix: str = "") -> str:
    lang = lang or report.lang
    h1, h2, h3 = f"h{level}", f"h{level + 1}", f"h{level + 2}"
    out = [f"<{h1}>{_e(title(report, lang))}</{h1}>", f"<p class='meta'>{_e(meta(report, lang))}</p>",
           f"<p><strong>{_e(report_counts(report, lang))}</strong></p>"]
    if not report.redacted:
        out.append(f"<p class='warn'>{_e(word('not_redacted', lang))}</p>")
    if report.findings:
        out += _html_index(report, h2, lang, prefix)
    for sev, group in runs(report.findings):
        out.append(f"<{h2}>{_e(word(f'heading_{sev}', lang))}</{h2}>")
        for number, finding in group:
            out += _html_finding(report, finding, number, h3, lang, prefix, verbose)
    if report.messages:
        out.append(f"<{h2}>{_e(word('messages_heading', lang))}</{h2}><ul class='ev'>")
        out += [f"<li><code>{_e(message_line(m))}</code>: <code>{_e(where(m.evidence))}</code>"
                f"<pre>{_e(m.evidence.text[:400])}</pre></li>" for m in report.messages]
        out.append("</ul>")
    if report.facts:
        out.append(f"<details><summary>{_e(word('facts_checked', lang))} ({len(report.facts)})</summary>")
        out.append(_html_table([word(f"column_{c}", lang) for c in ("fact", "about", "value", "detail")],
                               [[_e(f.name), _e(f.subject), _e(value(f.value, lang)), _e(f.detail)]
                                for f in report.facts], numeric=(2,)))
        out.append("</details>")
    if report.skipped:
        out.append(f"<details open><summary>{_e(word('could_not', lang))} ({len(report.skipped)})</summary><ul>")
        out += [f"<li><code>{_e(phrase(s.what, lang))}</code>: {_e(phrase(s.reason, lang))}</li>"
                for s in report.skipped]
        out.append("</ul></details>")
    return "\n".join(out)


def html_page(title_text: str, body: str, lang: str = "en") -> str:
    return (f"<!DOCTYPE html>\n<html lang='{_e(lang)}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title_text)}</title>"
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def to_html(report: Report, verbose: bool = False, lang: str | None = None) -> str:
    lang = lang or report.lang
    return html_page(title(report, lang), html_body(report, 1, verbose, lang), lang)


def multi_html(reports: list[Report], summary: list[CrossHost], verbose: bool = False, lang: str | None = None) -> str:
    lang = lang or reports[0].lang
    overview = [[f"<a href='#{anchor}'>{_e(label)}</a>", _e(host_kind), *(str(n[s]) for s in SEVERITIES)]
                for anchor, label, host_kind, n in _overview_rows(reports, lang)]
    across = [[f"{_e(c.title)} (<code>{_e(c.id)}</code>)", _e(severity(c.severity, lang)), str(len(c.hosts)),
               _e(", ".join(c.hosts))] for c in summary]
    body = [f"<h1>{_e(_multi_title(reports, lang))}</h1>", f"<p class='meta'>{_e(_multi_meta(reports))}</p>",
            f"<h2>{_e(word('hosts', lang))}</h2>",
            _html_table([word(f"column_{c}", lang) for c in ("host", "kind", "errors", "warnings", "info")], overview,
                        numeric=(2, 3, 4)),
            f"<h2>{_e(word('across_hosts', lang))}</h2>",
            _html_table([word(f"column_{c}", lang) for c in ("finding", "severity", "count", "which")], across,
                        numeric=(1, 2))]
    body += [f"<section id='{host_anchor(n)}'>{html_body(r, 2, verbose, lang, f'{host_anchor(n)}-')}</section>"
             for n, r in enumerate(reports, start=1)]
    return html_page(_multi_title(reports, lang), "\n".join(body), lang)
