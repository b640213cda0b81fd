"""The one place that chains the stages: collect -> match -> probe -> rank; returns a Report."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from diagnose import catalog as catalog_mod
from diagnose.hitmerge import merge_hits
from diagnose.match import Matcher, match_lines
from diagnose.messages import loaded as messages_index
from diagnose.model import (
    SEVERITY_ORDER,
    CheckRun,
    CrossHost,
    Fact,
    Finding,
    Hit,
    Line,
    Report,
    Signature,
    Skipped,
)
from diagnose.rank import facts_to_ask, implied_facts, rank_fixes, unexplained_beyond_findings
from diagnose.symptoms import closest, match_symptoms

if TYPE_CHECKING:  # the scan's stages are imported when a scan runs: a one-line explain never loads them
    from diagnose.host.base import Host
    from diagnose.state import Ask, HostState


@lru_cache(maxsize=1)
def loaded() -> tuple[catalog_mod.Catalog, Matcher]:
    catalog = catalog_mod.load()
    return catalog, Matcher.build(catalog)


def fact_names() -> set[str]:
    """The probes' fact names: stored in the catalog cache (a paste is ranked without loading the probes),
    else from the probes' registry."""
    catalog, _ = loaded()
    if catalog.facts:
        return set(catalog.facts)
    from diagnose.probes import PROBES

    return set(PROBES)


def detectors() -> dict[str, tuple[str, ...]]:
    """What a signature's `detect` may list, with the ids each produces: pasted-XML detectors and host checks."""
    from diagnose.checks import CHECKS
    from diagnose.xmlchecks import DETECTORS

    return {**{name: d.produces for name, d in DETECTORS.items()},
            **{name: spec.produces for name, spec in CHECKS.items()}}


def _finding(sig: Signature, hit: Hit, facts: dict[str, Fact], lang: str) -> Finding:
    captures = dict(hit.captures)
    known = {**implied_facts(sig), **{k: v for k, v in facts.items() if v.value is not None}}
    for name, fact in facts.items():
        known.setdefault(name, fact)
    fixes = rank_fixes(sig, captures, known, fact_names(), lang)
    used = {name for name in sig.probes if name in facts}
    return Finding(
        id=sig.id,
        section=sig.section,
        title=(sig.title_ja if lang == "ja" and sig.title_ja else sig.title),
        severity=hit.severity or sig.severity,
        summary=(sig.summary_ja if lang == "ja" and sig.summary_ja else sig.summary),
        confidence=hit.confidence,
        captures=hit.captures,
        evidence=hit.evidence,
        fixes=tuple(fixes),
        facts=tuple(facts[name] for name in sorted(used)),
        specificity=hit.specificity,
    )


def _sort_key(finding: Finding) -> tuple[float, bool, int, int, int, str]:
    """Best first: confidence; at equal confidence a problem before an info (a consequence such as "the
    client disconnected" is not the cause), then the more specific message (the decisive line), severity,
    line, id."""
    first_line = min((e.line for e in finding.evidence), default=0)
    return (-finding.confidence, finding.severity == "info", -finding.specificity, SEVERITY_ORDER[finding.severity],
            first_line, finding.id)


def build_findings(
    hits: Iterable[Hit], lang: str, facts_for: dict[str, dict[str, Fact]] | None = None
) -> list[Finding]:
    catalog, _ = loaded()
    findings = []
    for hit in merge_hits(list(hits)):
        sig = catalog.by_id(hit.signature_id)
        if sig is None:
            continue
        key = f"{hit.signature_id}|{hit.captures}"
        findings.append(_finding(sig, hit, (facts_for or {}).get(key, {}), lang))
    findings.sort(key=_sort_key)
    return findings


def _paste_lines(text: str) -> list[Line]:
    """A pasted libvirtd.log excerpt is read like a scan reads the file (its error and warning records);
    anything else line by line, cleaned of terminal and wrapper noise."""
    from diagnose import paste
    from diagnose.host import logscan

    data = text.encode("utf-8", "surrogateescape")
    if len(data) > 64 * 1024 and logscan.is_daemon_log(data[: 64 * 1024]):
        import io

        return [Line("paste", number, raw.decode("utf-8", "replace"))
                for number, raw in logscan.marked_lines(io.BytesIO(data))]
    return paste.paste_lines(text)


DECIDES_AT = 0.8  # a matched error line this sure outranks the pasted XML's observations and warnings
# "warning :", "WARNING:", a line that starts with WARNING, or a logging level between spaces ("... WARNING name - msg")
WARNING_LINE = re.compile(r"(?i)(?:^|[\s:])warn(?:ing)?\s*:|^\W*WARNING\b|(?-i:\sWARN(?:ING)?\s)")
ERROR_WORDS = re.compile(r"(?i)\berror\b|\bfail(?:ed|ure)?\b")


def _warned_only(hit: Hit) -> bool:
    return bool(hit.evidence) and all(
        WARNING_LINE.search(e.text) and not ERROR_WORDS.search(e.text) for e in hit.evidence)


def _on_error_line(hit: Hit) -> bool:
    return any(ERROR_WORDS.search(e.text) and not WARNING_LINE.search(e.text) for e in hit.evidence)


def _warnings_follow_errors(hits: list[Hit]) -> list[Hit]:
    """A cause seen only in warnings ranks after one an error line shows: a warning is what the tool went on
    past ("WARNING  KVM acceleration not available, using 'qemu'"), the error is what stopped it."""
    if not any(hit.confidence >= DECIDES_AT and _on_error_line(hit) for hit in hits):
        return hits
    return [replace(hit, confidence=min(hit.confidence, DECIDES_AT - 0.1)) if _warned_only(hit) else hit
            for hit in hits]


def explain(text: str, lang: str = "en", host: Host | None = None) -> Report:
    """A pasted error, log excerpt, XML document or plain symptom -> findings, best first.

    With `host` (a host.base.Host), the probes each match needs are run against it; without, facts
    come only from what the message itself implies.
    """
    from diagnose import paste

    catalog, matcher = loaded()
    report = Report(kind="explain", lang=lang)
    hits = _warnings_follow_errors(match_lines(matcher, _paste_lines(text), report.messages))
    xml = paste.find_xml(text)
    if xml is not None:
        from diagnose import xmlchecks

        root, body, first_line = xml
        observed = xmlchecks.check(xmlchecks.parse(body, "paste", "", first_line))
        if any(hit.confidence >= DECIDES_AT for hit in hits):
            # an error the paste printed decides; what its XML shows is a possible cause, ranked after it
            observed = [replace(hit, confidence=min(hit.confidence, DECIDES_AT - 0.1)) for hit in observed]
        hits.extend(observed)
    if not hits and report.messages:
        errors = index.system_errors if (index := messages_index()) is not None else {}
        for message in report.messages[:1]:
            # the C library's error text after it says how a call failed, as every failure does: not what failed
            how = message.detail in errors or message.detail in errors.values()
            hits = closest(catalog, message.template if how else f"{message.template} {message.detail}",
                           message.evidence)
        if hits:
            report.notes.append("virtdiag has no cause entry for this libvirt message; the entries below are the "
                                "closest, a guess")
    elif not hits:
        hits = match_symptoms(catalog, text)
        if hits:
            report.notes.append("no libvirt message recognised; matched the text as a symptom")
    facts_for = _probe_hits(catalog, hits, host, report) if host is not None else None
    report.findings = build_findings(hits, lang, facts_for)
    report.messages = unexplained_beyond_findings(report.messages, report.findings)
    return report


def explain_file(path: str, lang: str = "en", host: Host | None = None) -> Report:
    """`explain --file` on a log too big to be a paste: streamed as scan streams a log (a libvirtd.log by its
    error and warning records, two processes for a huge one; any other log through stage one or line by
    line), so memory stays flat and the errors at its end are read too. No XML or symptom reading."""
    from diagnose.host import logs, logscan
    from diagnose.host.reader import open_host

    reader = open_host(None)
    absolute = os.path.abspath(path)
    with reader.open_binary(absolute) as handle:
        daemon_log = logscan.is_daemon_log(handle.read(64 * 1024))
    numbered = (logs.stream(reader, "libvirtd-log", absolute, _stage_one) if daemon_log
                else logs.plain_lines(reader, absolute, "paste", _stage_one))
    catalog, matcher = loaded()
    hits = match_lines(matcher, (Line("paste", number, text, absolute) for number, text in numbered))
    report = Report(kind="explain", lang=lang)
    report.skipped.extend(Skipped(p, reason) for p, reason in reader.skipped)
    facts_for = _probe_hits(catalog, hits, host, report) if host is not None else None
    report.findings = build_findings(hits, lang, facts_for)
    report.messages = unexplained_beyond_findings(report.messages, report.findings)
    return report


@cache
def _stage_one(source: str) -> object:
    """Stage one for plain logs of a source: the literals of every pattern that reads it, and those of the
    host checks' log taps, in one hyperscan database; None without hyperscan (then every line is read)."""
    from diagnose import checks
    from diagnose.host import logs, stageone

    _, matcher = loaded()
    return stageone.database(matcher.literals(source) + logs.tap_literals(checks.taps(), source))


def _probe_hits(
    catalog: catalog_mod.Catalog, hits: list[Hit], host: Host, report: Report
) -> dict[str, dict[str, Fact]]:
    from diagnose.probes import PROBES, run_probe

    result: dict[str, dict[str, Fact]] = {}
    for hit in merge_hits(hits):
        sig = catalog.by_id(hit.signature_id)
        if sig is None:
            continue
        facts = {}
        for name in facts_to_ask(sig):
            if name in PROBES:
                fact = run_probe(name, host, dict(hit.captures))
                facts[name] = fact
                if fact not in report.facts:
                    report.facts.append(fact)
        result[f"{hit.signature_id}|{hit.captures}"] = facts
    return result


def _ask_daemon(state: HostState, uri: str, timeout: float, report: Report) -> list[Hit]:
    """Merge the live daemon's view into the state; a daemon that cannot be asked is skipped, and its
    error is itself evidence (daemon down, socket permissions, a URI typo...)."""
    from diagnose.host import live, virsh_cli

    report.target["uri"] = uri
    try:
        live_state = virsh_cli.ask(uri, timeout)  # libvirt-python, else virsh -r
    except live.LiveUnavailable as exc:
        report.skipped.append(Skipped(f"libvirt daemon at {uri}", str(exc)))
        _, matcher = loaded()
        return match_lines(matcher, [Line("paste", 0, str(exc), f"libvirt connection to {uri}")])
    live.merge_into(state, live_state)
    report.target["libvirt_version"] = live_state.libvirt_version
    report.target["hypervisor"] = live_state.hypervisor
    for what, message in live_state.errors:
        report.skipped.append(Skipped(f"libvirt {what}", message))
    try:  # the daemon's guests are kept even when domcapabilities does not answer in time
        virsh_cli.ask_domcaps(uri, state, timeout)
        refused = sorted({error for error in state.domcaps_errors.values() if "read only" in error.lower()})
        if refused:
            report.skipped.append(Skipped("libvirt domcapabilities (pre-flight checks of CPU, machine, firmware)",
                                          refused[0] + (": read from libvirt's QEMU capability cache instead"
                                                        if state.qemu_caps else "")))
    except live.LiveUnavailable as exc:
        report.skipped.append(Skipped("libvirt domcapabilities (pre-flight checks of CPU, machine, firmware)",
                                      str(exc)))
    return []


def _run_checks(state: HostState, ask: Ask, report: Report) -> list[Hit]:
    """Every registered host check; a check that fails on this host's data is skipped with the reason, and a
    hit whose id the check did not declare is an internal error (noted, not reported)."""
    from diagnose import checks

    found: list[Hit] = []
    for name, spec in checks.CHECKS.items():
        try:
            hits = spec.run(state, ask)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            report.skipped.append(Skipped(f"check {name}", f"failed on this host's data: {exc}"))
            report.checks.append(CheckRun(name, "not_run", f"failed on this host's data: {exc}"))
            continue
        report.checks.append(CheckRun(name, "found" if hits else "passed"))
        for hit in hits:
            if hit.signature_id in spec.produces:
                found.append(hit)
            else:
                report.notes.append(f"internal: check {name} produced {hit.signature_id!r}, not in its produces")
    return found


def scan(root: str | None, lang: str = "en", verbose: bool = False, connect: str | None = None,
         timeout: float = 10.0, progress: Callable[[str], None] | None = None, member: str = "") -> Report:
    """A host (live "/", a copied tree, an extracted sosreport or insights archive, a tarball of one, or
    `member`, a host's sosreport inside a `sos collect` tarball) -> findings.

    collect (files, then the daemon) -> match (logs, host checks) -> probe -> rank. On the live host (or
    with `connect`), the libvirt daemon is asked too, read-only. `progress`, if given, is told what is
    being read (the command line shows it on the terminal).
    """
    from diagnose import checks, hostkey, parsers
    from diagnose.correlate import correlate
    from diagnose.host import live, logs
    from diagnose.host.gather import gather
    from diagnose.host.layout import LOG_SOURCES
    from diagnose.host.reader import open_host
    from diagnose.probes import PROBES, run_probe

    say = progress or (lambda _: None)
    catalog, matcher = loaded()
    report = Report(kind="scan", lang=lang)
    host = open_host(root, connect, member)
    try:
        state = gather(host)
        report.target = {"root": host.label, "kind": host.collector or host.kind}
        daemon_hits: list[Hit] = []
        if host.is_live or connect:
            libvirt_conf = state.confs.get("libvirt-conf")
            conf_values = parsers.parse_libvirt_conf(libvirt_conf[1]) if libvirt_conf else None
            uri = connect or live.default_uri(conf_values)
            say(f"asking the libvirt daemon at {uri}")
            daemon_hits = _ask_daemon(state, uri, timeout, report)
        if state.hostname:
            report.target["hostname"] = state.hostname
        report.target["host_key"] = hostkey.of(host, report.target["kind"], state.hostname or "")
        cache: dict[tuple[str, str], Fact] = {}

        def ask(name: str, captures: dict[str, str]) -> Fact:
            spec = PROBES[name]
            key = (name, captures.get(spec.needs, "") if spec.needs else "")
            if key not in cache:
                cache[key] = run_probe(name, host, captures)
                report.facts.append(cache[key])
            return cache[key]

        lines = logs.log_lines(host, state, checks.taps(), _stage_one, report.skipped, report.hints, say)
        log_hits = match_lines(matcher, lines)
        say("checking the configuration against the host")
        check_hits = _run_checks(state, ask, report)
        if (host.is_live or connect) and not state.domcaps and not state.qemu_caps \
                and any(doc.root is not None and doc.root.tag == "domain" for doc in state.domains):
            report.skipped.append(Skipped(
                "pre-flight of the guests' CPU models and machine types",
                "neither the daemon's domcapabilities (a read-only connection may not ask for them) nor libvirt's "
                "QEMU capability cache (/var/cache/libvirt/qemu/capabilities, root only, on the daemon's host) "
                "could be read"))
        facts_for: dict[str, dict[str, Fact]] = {}
        kept: list[Hit] = []
        merged = correlate(merge_hits(log_hits + check_hits + daemon_hits), state)
        for hit in _without_explained_generics(catalog, merged):
            sig = catalog.by_id(hit.signature_id)
            if sig is None:
                report.notes.append(f"internal: a check produced unknown signature {hit.signature_id!r}")
                continue
            facts = {name: ask(name, dict(hit.captures)) for name in facts_to_ask(sig) if name in PROBES}
            stale = [f"{n}={facts[n].value}" for n, v in sig.implies if n in facts and facts[n].value is (not v)]
            if stale and all(e.source in LOG_SOURCES for e in hit.evidence):
                report.notes.append(f"{sig.id} in the logs is no longer true now ({', '.join(stale)}); not reported")
                continue
            facts_for[f"{hit.signature_id}|{hit.captures}"] = facts
            kept.append(hit)
        # a scan is read top down by someone fixing a host: every error before any warning, then confidence
        report.findings = sorted(build_findings(kept, lang, facts_for),
                                 key=lambda f: (SEVERITY_ORDER[f.severity], *_sort_key(f)))
        report.facts.sort(key=lambda fact: (fact.name, fact.subject))  # the same whatever order checks ask in
        report.skipped.extend(Skipped(what, why) for what, why in host.skipped)
    finally:
        host.close()
    return report


def _without_explained_generics(catalog: catalog_mod.Catalog, hits: list[Hit]) -> list[Hit]:
    """In a scan, a generic wrapper (B.4's monitor message, "unsupported configuration: ...") adds nothing
    when every line it cites is already explained by a specific finding: it is dropped."""
    def lines(hit: Hit) -> set[tuple[str, int]]:
        return set(hit.lines) | {(e.path, e.line) for e in hit.evidence if e.line}

    explained: set[tuple[str, int]] = set()
    for hit in hits:
        sig = catalog.by_id(hit.signature_id)
        if sig is not None and not sig.generic:
            explained |= lines(hit)
    result = []
    for hit in hits:
        sig = catalog.by_id(hit.signature_id)
        if sig is not None and sig.generic and lines(hit) and lines(hit) <= explained:
            continue
        result.append(hit)
    return result


def summarize(reports: list[Report]) -> list[CrossHost]:
    """Which findings appear on how many hosts, worst first (severity, then most hosts, then id)."""
    seen: dict[str, tuple[Finding, list[str]]] = {}
    names = [report.target.get("hostname") or report.target.get("root", "") for report in reports]
    for report, name in zip(reports, names, strict=True):
        label = f"{name} ({report.target.get('root', '')})" if names.count(name) > 1 else name
        for finding in report.findings:
            entry = seen.setdefault(finding.id, (finding, []))
            if label not in entry[1]:
                entry[1].append(label)
    rows = [CrossHost(f.id, f.title, f.severity, tuple(hosts)) for f, hosts in seen.values()]
    return sorted(rows, key=lambda c: (SEVERITY_ORDER[c.severity], -len(c.hosts), c.id))
