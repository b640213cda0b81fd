"""Collect stage of `virtdiag merge`: JSON scan reports written elsewhere (one host, or several) -> Reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diagnose.model import Evidence, Fact, Finding, LibvirtMessage, RankedFix, Report, Skipped

MAX_REPORT_BYTES = 64 * 1024 * 1024


class NotAReport(Exception):
    """A file that is not a virtdiag scan report in JSON (the message is one line, naming the file)."""


def load(path: Path) -> list[Report]:
    """The host reports a file holds: a one-host scan report, or a multi-host one (`hosts`)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise NotAReport(f"{path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_REPORT_BYTES:
        raise NotAReport(f"{path}: over {MAX_REPORT_BYTES >> 20} MiB, not a virtdiag report")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotAReport(f"{path}: not JSON ({' '.join(str(exc).split())[:120]})") from exc
    if not isinstance(body, dict) or body.get("tool", {}).get("name") != "virtdiag":
        raise NotAReport(f"{path}: not a virtdiag report (virtdiag scan --format json writes one)")
    from diagnose.render import SCHEMA_VERSION

    if body.get("schema_version") != SCHEMA_VERSION:
        raise NotAReport(f"{path}: report schema {body.get('schema_version')!r}; this virtdiag reads "
                         f"{SCHEMA_VERSION}")
    kind = body.get("kind")
    if kind == "explain":
        raise NotAReport(f"{path}: an explain report; merge takes scan reports")
    hosts = body.get("hosts") if kind == "multi-scan" else [body]
    if not isinstance(hosts, list) or kind not in ("scan", "multi-scan"):
        raise NotAReport(f"{path}: not a scan report (kind {kind!r})")
    try:
        return [_report(host) for host in hosts]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NotAReport(f"{path}: a damaged report ({type(exc).__name__}: {exc})") from exc


def _evidence(item: dict[str, Any]) -> Evidence:
    return Evidence(str(item["source"]), int(item.get("line", 0)), str(item["text"]), str(item.get("path", "")))


def _finding(item: dict[str, Any]) -> Finding:
    fixes = tuple(RankedFix(str(f["id"]), int(f["rank"]), f["status"], str(f["title"]),
                            tuple(str(c) for c in f.get("commands", [])), str(f.get("why", "")),
                            tuple(str(d) for d in f.get("decided_by", []))) for f in item.get("fixes", []))
    facts = tuple(Fact(str(f["name"]), f.get("value"), str(f.get("detail", ""))) for f in item.get("facts", []))
    return Finding(str(item["id"]), str(item.get("section", "")), str(item["title"]), item["severity"],
                   str(item.get("summary", "")), float(item.get("confidence", 0)),
                   tuple((str(k), str(v)) for k, v in dict(item.get("captures", {})).items()),
                   tuple(_evidence(e) for e in item.get("evidence", [])), fixes, facts)


def _message(item: dict[str, Any]) -> LibvirtMessage:
    return LibvirtMessage(str(item["template"]), str(item.get("area", "")), tuple(item.get("files", [])),
                          str(item.get("lang", "")), tuple((str(k), str(v)) for k, v in item.get("values", {}).items()),
                          _evidence(item["evidence"]), str(item.get("detail", "")))


def _report(body: dict[str, Any]) -> Report:
    if body.get("kind") != "scan":
        raise ValueError(f"a host report of kind {body.get('kind')!r}")
    return Report(
        kind="scan",
        findings=[_finding(f) for f in body.get("findings", [])],
        facts=[Fact(str(f["name"]), f.get("value"), str(f.get("detail", "")), str(f.get("subject", "")))
               for f in body.get("facts", [])],
        skipped=[Skipped(str(s["what"]), str(s["reason"])) for s in body.get("skipped", [])],
        target={str(k): str(v) for k, v in dict(body.get("target", {})).items()},
        notes=[str(n) for n in body.get("notes", [])],
        messages=[_message(m) for m in body.get("messages", [])],
        generated=str(body.get("generated", "")),
        redacted=bool(body.get("redacted", True)),
    )


def host_key(report: Report) -> str:
    """Which host a report describes: its stable key when it has one, else its name and what was read."""
    target = report.target
    return target.get("host_key") or f"{target.get('hostname', '')}|{target.get('root', '')}"


def newest_per_host(reports: list[Report]) -> tuple[list[Report], list[Report]]:
    """One report per host (the newest by its `generated` time), in the order first seen; and the older
    reports of a host that were left out."""
    kept: dict[str, Report] = {}
    dropped: list[Report] = []
    for report in reports:
        key = host_key(report)
        if key in kept and kept[key].generated >= report.generated:
            dropped.append(report)
            continue
        if key in kept:
            dropped.append(kept[key])
        kept[key] = report
    return list(kept.values()), dropped
