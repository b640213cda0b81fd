"""The one place that chains the stages: collect -> match -> probe -> rank; returns a Report."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import cache, lru_cache

from diagnose import catalog as catalog_mod
from diagnose.match import Line, Matcher, match_lines, match_symptoms
from diagnose.model import FACT_NAMES, SEVERITY_ORDER, CrossHost, Fact, Finding, Hit, Report, Signature, Skipped
from diagnose.rank import implied_facts, rank_fixes


@lru_cache(maxsize=1)
def loaded() -> tuple[catalog_mod.Catalog, Matcher]:
    catalog = catalog_mod.load()
    return catalog, Matcher.build(catalog)


def fact_names() -> set[str]:
    return set(FACT_NAMES)


def detector_names() -> set[str]:
    """Names a signature's `detect` may list: pasted-XML detectors and host checks."""
    from diagnose.checks import CHECKS
    from diagnose.xmlchecks import DETECTORS

    return set(DETECTORS) | set(CHECKS)


def _merge(hits: list[Hit]) -> list[Hit]:
    """Hits of one signature whose captures do not conflict become one (pattern + XML detector)."""
    merged: list[Hit] = []
    for hit in sorted(hits, key=lambda h: -h.confidence):
        for i, kept in enumerate(merged):
            if kept.signature_id != hit.signature_id:
                continue
            a, b = dict(kept.captures), dict(hit.captures)
            if any(a[k] != b[k] for k in a.keys() & b.keys()):
                continue
            evidence = kept.evidence + tuple(e for e in hit.evidence if e not in kept.evidence)
            merged[i] = Hit(kept.signature_id, tuple(sorted({**b, **a}.items())), evidence[:5],
                            kept.confidence, kept.context_hits, kept.lines | hit.lines)
            break
        else:
            merged.append(hit)
    return merged


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
        severity=sig.severity,
        summary=(sig.summary_ja if lang == "ja" and sig.summary_ja else sig.summary),
        confidence=hit.confidence,
        captures=hit.captures,
        evidence=hit.evidence,
        fixes=tuple(fixes),
        facts=tuple(facts[name] for name in sorted(used)),
    )


def _sort_key(finding: Finding) -> tuple[float, int, int, str]:
    first_line = min((e.line for e in finding.evidence), default=0)
    return (-finding.confidence, SEVERITY_ORDER[finding.severity], first_line, finding.id)


def build_findings(
    hits: Iterable[Hit], lang: str, facts_for: dict[str, dict[str, Fact]] | None = None
) -> list[Finding]:
    catalog, _ = loaded()
    findings = []
    for hit in _merge(list(hits)):
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
    from diagnose import logscan, paste

    data = text.encode("utf-8", "surrogateescape")
    if len(data) > 64 * 1024 and logscan.is_daemon_log(data[: 64 * 1024]):
        import io

        return [Line("paste", number, raw.decode("utf-8", "replace"))
                for number, raw in logscan.marked_lines(io.BytesIO(data))]
    return paste.paste_lines(text)


def explain(text: str, lang: str = "en", host: object | None = None) -> Report:
    """A pasted error, log excerpt, XML document or plain symptom -> findings, best first.

    With `host` (a sources.Host), the probes each match needs are run against it; without, facts
    come only from what the message itself implies.
    """
    from diagnose import paste

    catalog, matcher = loaded()
    hits = match_lines(matcher, _paste_lines(text))
    xml = paste.find_xml(text)
    if xml is not None:
        from diagnose import xmlchecks

        root, body, first_line = xml
        hits.extend(xmlchecks.check(xmlchecks.parse(body, "paste", "", first_line)))
    report = Report(kind="explain")
    if not hits:
        hits = match_symptoms(catalog, text)
        if hits:
            report.notes.append("no libvirt message recognised; matched the text as a symptom")
    facts_for = _probe_hits(catalog, hits, host, report) if host is not None else None
    report.findings = build_findings(hits, lang, facts_for)
    return report


def explain_file(path: str, lang: str = "en", host: object | None = None) -> Report:
    """`explain --file` on a log too big to be a paste: streamed as scan streams a log (a libvirtd.log by its
    error and warning records, two processes for a huge one; any other log through stage one or line by
    line), so memory stays flat and the errors at its end are read too. No XML or symptom reading."""
    from diagnose import logscan
    from diagnose.sources import open_host

    reader = open_host(None)
    absolute = os.path.abspath(path)
    with reader.open_binary(absolute) as handle:
        daemon_log = logscan.is_daemon_log(handle.read(64 * 1024))
    numbered = _stream(reader, "libvirtd-log", absolute) if daemon_log else _plain_lines(reader, absolute, "paste")
    catalog, matcher = loaded()
    hits = match_lines(matcher, (Line("paste", number, text, absolute) for number, text in numbered))
    report = Report(kind="explain")
    report.skipped.extend(Skipped(p, reason) for p, reason in reader.skipped)
    facts_for = _probe_hits(catalog, hits, host, report) if host is not None else None
    report.findings = build_findings(hits, lang, facts_for)
    return report


def _probe_hits(
    catalog: catalog_mod.Catalog, hits: list[Hit], host: object, report: Report
) -> dict[str, dict[str, Fact]]:
    from diagnose.probes import PROBES, run_probe

    result: dict[str, dict[str, Fact]] = {}
    for hit in _merge(hits):
        sig = catalog.by_id(hit.signature_id)
        if sig is None:
            continue
        facts = {}
        for name in sig.probes:
            if name in PROBES:
                fact = run_probe(name, host, dict(hit.captures))  # type: ignore[arg-type]
                facts[name] = fact
                if fact not in report.facts:
                    report.facts.append(fact)
        result[f"{hit.signature_id}|{hit.captures}"] = facts
    return result


def _serial_log_owners(state: object) -> dict[str, str]:
    """Serial/console <log file=...> paths of each guest: the BIOS's "No bootable device" lands there."""
    owners = {}
    for doc in getattr(state, "domains", []):
        root = getattr(doc, "root", None)
        if root is None:
            continue
        name = (root.findtext("name") or "").strip()
        for log in root.iterfind("devices/*/log"):
            if log.get("file"):
                owners[log.get("file")] = name
    return owners


def _stream(host: object, source: str, path: str):  # noqa: ANN202 - iterator of (number, text)
    """A libvirtd.log is read record-wise (only error and warning records reach the matcher); a journal
    export entry by entry, as the lines `journalctl -o short-iso` would print; every other log line by
    line (journalctl's own marker and catalog lines left out)."""
    if source == "libvirtd-log":
        from diagnose import logscan

        with host.open_binary(path) as handle:  # type: ignore[attr-defined]
            head = handle.read(64 * 1024)
            if logscan.is_daemon_log(head):
                size = handle.seek(0, 2)
                real = host.real_path(path)  # type: ignore[attr-defined]
                if real and size > logscan.SPLIT_ABOVE and (os.cpu_count() or 1) > 1:
                    found = logscan.marked_lines_parallel(real, size)
                else:
                    found = logscan.marked_lines(handle)
                for number, raw in found:
                    yield number, raw.decode("utf-8", errors="replace")
                return
    if source == "journal":
        import itertools

        from diagnose import parsers
        from diagnose.sources import CHUNK

        with host.open_binary(path) as handle:  # type: ignore[attr-defined]
            head = handle.read(64)
            if parsers.is_journal_export(head):
                blocks = itertools.chain((head,), iter(lambda: handle.read(CHUNK), b""))
                for entry in parsers.iter_journal_export(blocks):
                    yield from parsers.journal_entry_lines(entry)
                return
        for number, text in _plain_lines(host, path, source):
            if not parsers.is_journal_marker(text):
                yield number, text
        return
    yield from _plain_lines(host, path, source)


PREFILTER_ABOVE = 64 * 1024  # a plain log larger than this goes through stage one, when it can (compiled once)


def _side_rules(source: str) -> tuple[re.Pattern[str], ...]:
    """What the side rules of _log_lines look for in a source (stage one must let those lines through)."""
    from diagnose.checks import BOOT_FAIL_RE, CHECKSUM_WARN_RE, DHCP_REPLY_RE, MIGRATION_RE

    return (BOOT_FAIL_RE,) if source == "qemu-guest-log" else (MIGRATION_RE, CHECKSUM_WARN_RE, DHCP_REPLY_RE)


@cache
def _literal_database(source: str) -> object:
    """Stage one for plain logs of a source: the literals of every pattern that reads it, and those of the
    side rules of _log_lines, in one hyperscan database; None without hyperscan."""
    from diagnose import logscan

    _, matcher = loaded()
    side = [(literal, False) for rule in _side_rules(source) for literal in catalog_mod.required_literals(rule)]
    return logscan.literal_database(matcher.literals(source) + side)


def _plain_lines(host: object, path: str, source: str):  # noqa: ANN202 - iterator of (number, text)
    """Every line of a log that may matter, with exact numbers: a big log through stage one (hyperscan
    finds the lines holding a pattern's literal over whole blocks), any other line by line. The findings
    are the same either way (tests/test_prefilter.py); only the time differs."""
    from diagnose import logscan
    from diagnose.sources import BINARY_PROBE, Unreadable, looks_binary

    st = host.stat(path)  # type: ignore[attr-defined]
    database = _literal_database(source) if st is not None and st.st_size > PREFILTER_ABOVE else None
    if database is None:
        yield from host.iter_lines(path)  # type: ignore[attr-defined]
        return
    with host.open_binary(path) as handle:  # type: ignore[attr-defined]
        if looks_binary(handle.read(BINARY_PROBE)):
            raise Unreadable(f"{path}: binary file, not read")
        for number, raw in logscan.literal_lines(handle, database):
            yield number, raw.decode("utf-8", errors="replace")


def _log_lines(host: object, state: object, report: Report,  # noqa: ANN202 - generator of match.Line
               say: Callable[[str], None] = lambda _: None):
    """Stream every log source as Lines; note migrations, guest boot failures and B.10's checksum
    warnings for the checks."""
    from diagnose.checks import BOOT_FAIL_RE, CHECKSUM_WARN_RE, DHCP_REPLY_RE, MIGRATION_RE
    from diagnose.match import Line
    from diagnose.model import Evidence
    from diagnose.sources import LOG_SOURCES, Unreadable, log_paths

    owners = _serial_log_owners(state)
    plain_bytes = 0  # plain logs (not daemon logs, which are read by their level markers either way)
    for source in LOG_SOURCES:
        for path in log_paths(host, source):  # type: ignore[arg-type]
            stem = path.rsplit("/", 1)[-1].removesuffix(".log")
            guest = owners.get(path, stem) if source == "qemu-guest-log" else ""
            st = host.stat(path)  # type: ignore[attr-defined]
            say(f"reading {path}" + (f" ({st.st_size / 2**20:.0f} MiB)" if st and st.st_size >= 2**20 else ""))
            plain_bytes += st.st_size if st and source != "libvirtd-log" else 0
            try:
                for number, text in _stream(host, source, path):
                    if guest and BOOT_FAIL_RE.search(text):  # the side rules, as _side_rules lists them
                        state.guest_log_lines.setdefault(guest, []).append(text)  # type: ignore[attr-defined]
                    if source == "qemu-guest-log":
                        yield Line(source, number, text, path)
                        continue
                    if MIGRATION_RE.search(text):
                        state.migration_seen = True  # type: ignore[attr-defined]
                    warning = CHECKSUM_WARN_RE.search(text) if "hecksum" in text or "CHECKSUM" in text else None
                    if warning and len(state.checksum_warnings) < 1000:  # type: ignore[attr-defined]
                        state.checksum_warnings.append(  # type: ignore[attr-defined]
                            (warning.group(1) or "", Evidence(source, number, text.strip(), path)))
                    dhcp = DHCP_REPLY_RE.search(text) if "DHCP" in text else None
                    if dhcp:  # dnsmasq's replies are evidence for a check only, never for a pattern
                        if len(state.dhcp_replies) < 10_000:  # type: ignore[attr-defined]
                            state.dhcp_replies.append((dhcp.group("kind"), dhcp.group("mac").lower(),  # type: ignore
                                                       Evidence(source, number, text.strip(), path)))
                        continue
                    yield Line(source, number, text, path)
            except Unreadable as exc:
                report.skipped.append(Skipped(path, str(exc).split(": ", 1)[-1]))
    if plain_bytes > SLOW_NOTE_ABOVE and _literal_database("journal") is None:
        report.hints.append(f"{plain_bytes / 2**20:.0f} MiB of logs were read line by line in Python; with the "
                            "optional hyperscan package installed (pip install hyperscan, or virtdiag's 'fast' "
                            "extra) the same scan reads them about 40x faster, with the same findings")


SLOW_NOTE_ABOVE = 64 * 1024 * 1024


def _ask_daemon(state: object, uri: str, timeout: float, report: Report) -> list[Hit]:
    """Merge the live daemon's view into the state; a daemon that cannot be asked is skipped, and its
    error is itself evidence (daemon down, socket permissions, a URI typo...)."""
    from diagnose import live
    from diagnose.match import Line

    report.target["uri"] = uri
    try:
        live_state = live.gather(uri, timeout)
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
        live.guest_domcaps(uri, state, timeout)
    except live.LiveUnavailable as exc:
        report.skipped.append(Skipped("libvirt domcapabilities (pre-flight checks of CPU, machine, firmware)",
                                      str(exc)))
    return []


def scan(root: str | None, lang: str = "en", verbose: bool = False, connect: str | None = None,
         timeout: float = 30.0, progress: Callable[[str], None] | None = None) -> Report:
    """A host (live "/", a copied tree, an extracted sosreport or a sosreport tarball) -> findings.

    On the live host (or with `connect`), the libvirt daemon is asked too, read-only. `progress`, if
    given, is told what is being read (the command line shows it on the terminal).
    """
    say = progress or (lambda _: None)
    from diagnose import checks, parsers, sources
    from diagnose.probes import PROBES, run_probe
    from diagnose.sources import LOG_SOURCES

    catalog, matcher = loaded()
    report = Report(kind="scan")
    host = sources.open_host(root)
    try:
        state = sources.gather(host)
        report.target = {"root": host.label, "kind": "sosreport" if host.is_sosreport else host.kind}
        daemon_hits: list[Hit] = []
        if host.is_live or connect:
            from diagnose.live import default_uri

            libvirt_conf = state.confs.get("libvirt-conf")
            conf_values = parsers.parse_libvirt_conf(libvirt_conf[1]) if libvirt_conf else None
            uri = connect or default_uri(conf_values)
            say(f"asking the libvirt daemon at {uri}")
            daemon_hits = _ask_daemon(state, uri, timeout, report)
        if state.hostname:
            report.target["hostname"] = state.hostname
        cache: dict[tuple[str, str], Fact] = {}

        def ask(name: str, captures: dict[str, str]) -> Fact:
            spec = PROBES[name]
            key = (name, captures.get(spec.needs, "") if spec.needs else "")
            if key not in cache:
                cache[key] = run_probe(name, host, captures)  # type: ignore[arg-type]
                report.facts.append(cache[key])
            return cache[key]

        log_hits = match_lines(matcher, _log_lines(host, state, report, say))
        say("checking the configuration against the host")
        check_hits: list[Hit] = []
        for name, check in checks.CHECKS.items():
            try:
                check_hits.extend(check(state, ask))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                report.skipped.append(Skipped(f"check {name}", f"failed on this host's data: {exc}"))
        facts_for: dict[str, dict[str, Fact]] = {}
        kept: list[Hit] = []
        for hit in _without_explained_generics(catalog, _merge(log_hits + check_hits + daemon_hits)):
            sig = catalog.by_id(hit.signature_id)
            if sig is None:
                report.notes.append(f"internal: a check produced unknown signature {hit.signature_id!r}")
                continue
            facts = {name: ask(name, dict(hit.captures)) for name in sig.probes if name in PROBES}
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
