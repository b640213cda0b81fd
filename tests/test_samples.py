"""Every samples/pastes/<case>.txt gives exactly what its <case>.toml expects."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from diagnose import engine

PASTES = Path(__file__).resolve().parent.parent / "samples" / "pastes"
CASES = sorted(PASTES.glob("*.toml"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_paste_sample(case: Path):
    expected = tomllib.loads(case.read_text(encoding="utf-8"))
    text = case.with_suffix(".txt").read_text(encoding="utf-8")
    report = engine.explain(text, expected.get("lang", "en"))
    ids = [f.id for f in report.findings]
    assert ids, "nothing recognised"
    assert ids[0] == expected["id"], ids
    top = report.findings[0]
    for key, value in expected.get("captures", {}).items():
        assert dict(top.captures).get(key) == value, dict(top.captures)
    if "top_fix" in expected:
        assert top.fixes[0].fix_id == expected["top_fix"], [f.fix_id for f in top.fixes]
    for absent in expected.get("absent", []):
        assert absent not in ids


def test_there_are_enough_samples():
    assert len(CASES) >= 40
