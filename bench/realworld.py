"""Benchmark: rank-1 accuracy of `engine.explain` on held-out real-world pastes.

Every bench/realworld/<case>.txt is a libvirt error that a user posted to a public issue
tracker; <case>.toml names the signature a libvirt expert would put first (`id`). These cases
were collected without looking at the catalog patterns, so the figure measures how well the
catalog generalises, not how well it fits its own examples.

Run from the repository root:  .venv/bin/python bench/realworld.py
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "bench" / "realworld"

sys.path.insert(0, str(ROOT))

from diagnose import engine  # noqa: E402


def rank1(text: str) -> str:
    """The id of the best finding for a paste, or "-" when nothing is recognised."""
    findings = engine.explain(text).findings
    return findings[0].id if findings else "-"


def main() -> int:
    cases = sorted(CASES.glob("*.toml"))
    hits = 0
    for case in cases:
        expected = str(tomllib.loads(case.read_text(encoding="utf-8"))["id"])
        got = rank1(case.with_suffix(".txt").read_text(encoding="utf-8"))
        ok = got == expected
        hits += ok
        print(f"{case.stem:48} expected={expected:32} rank1={got:32} {'OK' if ok else 'MISS'}")
    print(f"rank-1 accuracy: {hits}/{len(cases)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
