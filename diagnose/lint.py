"""Catalog lint (pure): everything wrong with the catalog as data (ids, patterns, captures, facts, fixes,
examples, templates, what checks and detectors produce); the examples themselves are run by the tests."""

from __future__ import annotations

import re
from collections.abc import Mapping

from diagnose.catalog import MIN_LITERAL, PLACEHOLDER_RE, Catalog, _compile
from diagnose.literals import required_literal


def lint(catalog: Catalog, known_facts: set[str], detectors: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Everything wrong with the catalog as data; examples are run by the test suite."""
    problems = list(catalog.problems)
    seen: dict[str, str] = {}
    for sig in catalog.signatures:
        where = f"{sig.area}.toml:{sig.id}"
        for name in (sig.id, *sig.aliases):
            if name in seen:
                problems.append(f"{where}: id {name!r} already used by {seen[name]}")
            seen[name] = where
        if not sig.patterns and not sig.weak_patterns and not sig.templates and not sig.detect and not sig.symptoms:
            problems.append(f"{where}: no patterns, detectors or symptoms: it can never match")
        if not any(e for e in sig.examples):
            problems.append(f"{where}: no positive example")
        if not sig.negatives:
            problems.append(f"{where}: no negative example")
        if not sig.fixes:
            problems.append(f"{where}: no fix")
        if not sig.title_ja or not sig.summary_ja:
            problems.append(f"{where}: missing title_ja or summary_ja")
        if PLACEHOLDER_RE.search(" ".join((sig.title, sig.title_ja, sig.summary, sig.summary_ja))):
            problems.append(f"{where}: a {{capture}} in its title or summary (only fix titles, whys and commands "
                            "are filled in)")
        captures: set[str] = set()
        broken = [p for p in (*sig.patterns, *sig.weak_patterns, *sig.context, *sig.unless)
                  if _compile(p.pattern, where, problems) is None]
        if broken:
            continue
        for pattern in (*sig.patterns, *sig.weak_patterns, *sig.context):
            captures.update(pattern.groupindex)
        for binding in sig.templates:  # a template's arguments, and its detail's named groups, are captures too
            captures.update(name for name in binding.captures if name)
            captures.update(re.compile(binding.detail).groupindex if binding.detail else ())
        for fix in sig.fixes:  # a name a fix fills in is a capture too (host checks give names no pattern has)
            captures.update(PLACEHOLDER_RE.findall(" ".join((fix.title, *fix.commands))))
        for pattern in (*sig.patterns, *sig.weak_patterns):
            literal = required_literal(pattern.compiled)
            if len(literal.strip()) < MIN_LITERAL:
                problems.append(f"{where}: pattern has no literal of {MIN_LITERAL}+ chars: {pattern.pattern!r}")
            if re.match(r"\(\?P<\w+>[^)]*[+*]", pattern.pattern):
                problems.append(f"{where}: pattern starts with an unanchored capture: {pattern.pattern!r}")
        # a context or unless pattern without fixed text is tried on every line, and the first stage that picks
        # the lines of a big log by literals cannot look for it: its lines would be lost there
        problems += [f"{where}: context or unless pattern has no fixed text a line must hold: {pattern.pattern!r}"
                     for pattern in (*sig.context, *sig.unless) if "" in pattern.required()]
        facts_used = {name for name, _ in sig.implies} | set(sig.probes)
        for fix in sig.fixes:
            facts_used |= {k for k, v in fix.when if isinstance(v, bool) and k not in captures}
            if not fix.title_ja or not fix.why_ja:
                problems.append(f"{where}: fix {fix.id} missing title_ja or why_ja")
            if not fix.why:
                problems.append(f"{where}: fix {fix.id} has no why")
        fix_ids = [f.id for f in sig.fixes]
        if len(set(fix_ids)) != len(fix_ids):
            problems.append(f"{where}: duplicate fix ids {fix_ids}")
        for name in sorted(facts_used - known_facts):
            problems.append(f"{where}: unknown fact {name!r} (not a probe)")
        for name in sig.detect:
            if name not in detectors:
                problems.append(f"{where}: unknown detector {name!r}")
            elif sig.id not in detectors[name]:
                problems.append(f"{where}: detect lists {name!r}, which never produces {sig.id!r}")
        for example in sig.examples:
            if example.top_fix and example.top_fix not in fix_ids:
                problems.append(f"{where}: example top_fix {example.top_fix!r} is not a fix of it")
    problems += _lint_templates(catalog)
    ids = {sig.id: sig for sig in catalog.signatures}
    for name, produced in sorted(detectors.items()):
        for sig_id in produced:
            if sig_id not in ids:
                problems.append(f"check or detector {name!r} produces {sig_id!r}, which is no signature")
            elif name not in ids[sig_id].detect:
                problems.append(f"{ids[sig_id].area}.toml:{sig_id}: detect does not list {name!r}, which produces it")
    return problems


def _lint_templates(catalog: Catalog) -> list[str]:
    """Every template a signature explains is one of libvirt's (in the generated index), with no more capture
    names than it has arguments; a signature's template sets cover some template no signature names."""
    from diagnose import messages

    index = messages.loaded()
    if index is None:
        return ["knowledge/generated/templates.jsonl is missing: run scripts/gen_templates.py"]
    problems = []
    for sig in catalog.signatures:
        for binding in sig.templates:
            where = f"{sig.area}.toml:{sig.id}: template {binding.key!r}"
            number = index.number(binding.key)
            if number is None:
                problems.append(f"{where} is not a libvirt message template (scripts/gen_templates.py)")
                continue
            arguments = {part.argument for part in messages.parse_template(binding.key) if part.kind}
            if len(binding.captures) > len(arguments):
                problems.append(f"{where} names {len(binding.captures)} captures for {len(arguments)} arguments")
    # the bindings as matching builds them: a set that adds no template no signature names is dead weight
    from_sets = {at for bound in messages.template_bindings(catalog).values() for at, number in bound
                 if number < 0}
    problems += [f"{sig.area}.toml:{sig.id}: its template sets cover no libvirt template that no signature names"
                 for at, sig in enumerate(catalog.signatures) if sig.template_sets and at not in from_sets]
    return problems


def coverage(catalog: Catalog, templates: list[tuple[str, str]]) -> list[tuple[str, int, int]]:
    """How many of libvirt's message templates some signature explains (names in its `templates`, or covers
    with a template set), per area: (area, explained, total), the biggest areas first, then ("all", ...).
    `templates` are (key, area) pairs, one per template of the generated index."""
    from diagnose.literals import template_key
    from diagnose.messages import template_bindings

    named = {template_key(key) for key in template_bindings(catalog)}
    totals: dict[str, list[int]] = {}
    for key, area in templates:
        counts = totals.setdefault(area or "other", [0, 0])
        counts[0] += key in named
        counts[1] += 1
    rows = sorted(((area, done, total) for area, (done, total) in totals.items()), key=lambda r: (-r[2], r[0]))
    return [*rows, ("all", sum(r[1] for r in rows), sum(r[2] for r in rows))]


def coverage_line(rows: list[tuple[str, int, int]], areas: int = 10) -> str:
    """One line: all templates, then the biggest areas."""
    *by_area, (_, done, total) = rows
    shown = ", ".join(f"{area} {d}/{t}" for area, d, t in by_area[:areas])
    return (f"libvirt message templates explained by a signature: {done} of {total} ({100 * done / total:.1f}%); "
            f"by area: {shown}, ...")
