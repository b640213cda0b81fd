"""Every signature's own examples, through the same code path as `virtdiag explain`."""

from __future__ import annotations

import pytest

from diagnose import engine

CATALOG, _ = engine.loaded()
POSITIVE = [
    pytest.param(sig, i, example, id=f"{sig.area}:{sig.id}:{i}")
    for sig in CATALOG.signatures
    for i, example in enumerate(sig.examples)
]
NEGATIVE = [
    pytest.param(sig, text, id=f"{sig.area}:{sig.id}:neg{i}")
    for sig in CATALOG.signatures
    for i, text in enumerate(sig.negatives)
]


@pytest.mark.parametrize(("sig", "index", "example"), POSITIVE)
def test_positive_example_ranks_first(sig, index, example):
    report = engine.explain(example.text)
    ids = [f.id for f in report.findings]
    assert ids, f"nothing matched example {index} of {sig.id}"
    assert ids[0] == sig.id, f"rank 1 is {ids[0]}, not {sig.id}; all: {ids}"
    top = report.findings[0]
    captures = dict(top.captures)
    for key, value in example.captures:
        assert captures.get(key) == value, f"capture {key}: {captures.get(key)!r} != {value!r} ({captures})"
    if example.top_fix:
        assert top.fixes[0].fix_id == example.top_fix, [f"{f.fix_id}:{f.status}" for f in top.fixes]


@pytest.mark.parametrize(("sig", "text"), NEGATIVE)
def test_negative_example_does_not_match(sig, text):
    """A near miss never gives the signature as an answer (a guess, the closest entry to a libvirt message
    virtdiag has no cause for, is shown as one, at confidence CLOSEST_CONFIDENCE or below)."""
    from diagnose.symptoms import CLOSEST_CONFIDENCE

    ids = [f.id for f in engine.explain(text).findings if f.confidence > CLOSEST_CONFIDENCE]
    assert sig.id not in ids, f"{sig.id} matched its own negative example; all: {ids}"
