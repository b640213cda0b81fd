"""Findings merge in near-linear time (issue 16) with exactly the old results: engine.merge_hits and
match._fold_subsets against copies of the old quadratic functions on random hits, and at scale."""

from __future__ import annotations

import copy
import time
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from diagnose import engine, match
from diagnose.model import Evidence, Hit


def old_merge(hits: list[Hit]) -> list[Hit]:
    """engine.merge_hits before issue 16 (the reference). One change: a merged hit keeps the kept hit's fields
    that the old code did not know (severity, specificity), as dataclasses.replace does."""
    merged: list[Hit] = []
    for hit in sorted(hits, key=lambda h: -h.confidence):
        for i, kept in enumerate(merged):
            if kept.signature_id != hit.signature_id:
                continue
            a, b = dict(kept.captures), dict(hit.captures)
            if any(a[k] != b[k] for k in a.keys() & b.keys()):
                continue
            evidence = kept.evidence + tuple(e for e in hit.evidence if e not in kept.evidence)
            merged[i] = replace(kept, captures=tuple(sorted({**b, **a}.items())), evidence=evidence[:5],
                                lines=kept.lines | hit.lines)
            break
        else:
            merged.append(hit)
    return merged


def old_fold(accs: list[match._Accumulator]) -> list[match._Accumulator]:
    """match._fold_subsets before issue 16 (the reference)."""
    accs = sorted(accs, key=lambda a: -len(a.captures))
    kept: list[match._Accumulator] = []
    for acc in accs:
        home = next((k for k in kept if acc.captures.items() <= k.captures.items()), None)
        if home is None:
            kept.append(acc)
            continue
        home.count += acc.count
        home.specificity = max(home.specificity, acc.specificity)
        home.lines |= acc.lines
        for ev in acc.evidence:
            match._add_evidence(home.evidence, ev)
    for acc in kept:
        acc.evidence.sort(key=lambda e: (e.path, e.line))
    return kept


# few names and values, so captures agree, conflict and extend each other often
captures = st.dictionaries(st.sampled_from(["bridge", "guest", "path", "port"]), st.sampled_from(["a", "b", "c"]),
                           max_size=4)
evidence = st.builds(Evidence, st.sampled_from(["libvirtd-log", "domain-xml"]), st.integers(0, 6),
                     st.sampled_from(["x", "y"]), st.sampled_from(["", "/p"]))
lines = st.frozensets(st.tuples(st.sampled_from(["/a", "/b"]), st.integers(1, 5)), max_size=3)
hits = st.lists(st.builds(
    Hit, st.sampled_from(["bridge-missing", "disk-image-missing", "xml-syntax-error"]),
    captures.map(lambda c: tuple(c.items())),  # in any order, as a check may build them
    st.lists(evidence, max_size=4).map(tuple), st.sampled_from([0.4, 0.8, 0.9]), st.integers(0, 2), lines,
    st.sampled_from([None, "info", "error"]), st.integers(0, 3)),
    max_size=40)


@settings(max_examples=500, deadline=None)
@given(hits)
def test_merge_is_the_old_merge(found: list[Hit]) -> None:
    assert engine.merge_hits(found) == old_merge(found)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(captures, st.lists(evidence, max_size=6), st.integers(1, 3), lines, st.integers(0, 3)),
                max_size=30, unique_by=lambda t: tuple(sorted(t[0].items()))))
def test_fold_is_the_old_fold(raw: list) -> None:
    accs = [match._Accumulator(evidence=list(ev), captures=caps, count=count, lines=set(seen), specificity=specific)
            for caps, ev, count, seen, specific in raw]
    assert match._fold_subsets(copy.deepcopy(accs)) == old_fold(copy.deepcopy(accs))


def test_merge_of_twenty_thousand_guests_is_fast() -> None:
    """20,000 guests with a missing disk (one signature, distinct captures), each also seen in a log line
    with the guest only: 40,000 hits merged in well under the old minutes."""
    found = [Hit("disk-image-missing", (("guest", f"g{i}"), ("path", f"/img/g{i}.qcow2")),
                 (Evidence("domain-xml", 5, "disk", f"/etc/libvirt/qemu/g{i}.xml"),), 0.9) for i in range(20_000)]
    found += [Hit("disk-image-missing", (("guest", f"g{i}"),), (Evidence("libvirtd-log", i + 1, "no such file"),), 0.8,
                  lines=frozenset({("/var/log/libvirt/libvirtd.log", i + 1)})) for i in range(20_000)]
    started = time.perf_counter()
    merged = engine.merge_hits(found)
    assert time.perf_counter() - started < 5
    assert len(merged) == 20_000 and all(len(hit.evidence) == 2 for hit in merged)
    assert merged[:50] == old_merge(found[:50] + found[20_000:20_050])


def test_fold_of_ten_thousand_distinct_errors_is_fast() -> None:
    accs = [match._Accumulator(captures={"bridge": f"br{i}", "port": "vnet0"}, count=1) for i in range(10_000)]
    accs += [match._Accumulator(captures={"bridge": f"br{i}"}, count=1) for i in range(10_000)]
    started = time.perf_counter()
    kept = match._fold_subsets(accs)
    assert time.perf_counter() - started < 5
    assert len(kept) == 10_000 and all(acc.count == 2 for acc in kept)
