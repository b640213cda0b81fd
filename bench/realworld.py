"""Benchmark: how often `explain` puts the right cause first on real pastes it was not written from.

samples/pastes/dev/ and samples/pastes/heldback/ hold real error pastes from public issue trackers,
each with the cause its thread established (`id`, and `also_ok` for other answers an expert accepts).
Patterns may be tuned on dev/; heldback/ is frozen and never tuned on (samples/pastes/README.md).

For each part this prints top-1 and top-3 accuracy, and a reliability table: of the answers given at
confidence >= 0.8 (and 0.5-0.8, and below), how many were right. A case whose answer is a recognised
libvirt message with no cause entry counts as a miss at top-1 (its confidence is that of the answer).
A label NEW:x (a cause that had no entry when the thread was labelled) also accepts x once an entry of that id
exists (written for that cause from a dev case with the same label); the summary says how many right answers
that gave.

Run from the repository root:  .venv/bin/python bench/realworld.py [--misses] [--part dev|heldback]
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("dev", "heldback")
BANDS = ((0.8, 1.01, ">= 0.8"), (0.5, 0.8, "0.5-0.8"), (0.0, 0.5, "< 0.5"))

sys.path.insert(0, str(ROOT))

from diagnose import catalog, engine  # noqa: E402


@dataclass(frozen=True)
class Outcome:
    case: str
    expected: tuple[str, ...]
    ranked: tuple[str, ...]
    confidence: float
    harvest: int = 1
    written_since: tuple[str, ...] = ()  # ids of entries written since the case's NEW: label

    @property
    def top1(self) -> bool:
        return bool(self.ranked) and self.ranked[0] in self.expected

    @property
    def top3(self) -> bool:
        return any(found in self.expected for found in self.ranked[:3])


def catalog_ids() -> frozenset[str]:
    return frozenset(sig.id for sig in catalog.load().signatures)


def label_ids(label: dict) -> tuple[str, ...]:
    """The ids a thread's label names: its cause, then the other answers an expert accepts."""
    return (str(label["id"]), *(str(other) for other in label.get("also_ok", [])))


def written_since(label: dict, known: frozenset[str]) -> tuple[str, ...]:
    """For a label NEW:x (a cause with no entry when it was labelled): x, once an entry of that id exists (it
    was written for that cause from a dev case with the same label)."""
    return tuple(i[4:] for i in label_ids(label) if i.startswith("NEW:") and i[4:] in known)


def accepted(label: dict, known: frozenset[str]) -> tuple[str, ...]:
    """The ids a case accepts: its label's, and the entries written since for its NEW: ids."""
    return (*label_ids(label), *written_since(label, known))


def run_case(toml: Path, known: frozenset[str] = frozenset()) -> Outcome:
    label = tomllib.loads(toml.read_text(encoding="utf-8"))
    report = engine.explain(toml.with_suffix(".txt").read_text(encoding="utf-8"))
    ranked = tuple(f.id for f in report.findings)
    confidence = report.findings[0].confidence if report.findings else 0.0
    return Outcome(toml.stem, accepted(label, known), ranked, confidence, int(label.get("harvest", 1)),
                   written_since(label, known))


def run_part(part: str) -> list[Outcome]:
    known = catalog_ids()
    return [run_case(toml, known) for toml in sorted((ROOT / "samples" / "pastes" / part).glob("*.toml"))]


def summary(part: str, outcomes: list[Outcome]) -> list[str]:
    total = len(outcomes) or 1
    top1 = sum(o.top1 for o in outcomes)
    top3 = sum(o.top3 for o in outcomes)
    lines = [f"{part}: {len(outcomes)} cases  top-1 {top1}/{len(outcomes)} ({100 * top1 / total:.1f}%)  "
             f"top-3 {top3}/{len(outcomes)} ({100 * top3 / total:.1f}%)  "
             f"nothing recognised {sum(not o.ranked for o in outcomes)}"]
    credited = sum(o.top1 and o.ranked[0] in o.written_since for o in outcomes)
    if credited:
        lines.append(f"  of the top-1 right, {credited} by an entry written since the case's NEW: label")
    for low, high, name in BANDS:
        band = [o for o in outcomes if o.ranked and low <= o.confidence < high]
        right = sum(o.top1 for o in band)
        share = f"{100 * right / len(band):.1f}% right" if band else "-"
        lines.append(f"  confidence {name:7}: {len(band):3} answers, {right:3} right ({share})")
    harvests = sorted({o.harvest for o in outcomes})
    if len(harvests) > 1:  # each harvest apart: a later one shows how a fresh round of pastes fares
        lines.append("  top-1 by harvest: " + ", ".join(
            f"{h}: {sum(o.top1 for o in outcomes if o.harvest == h)}/{sum(o.harvest == h for o in outcomes)}"
            for h in harvests))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every case whose top answer is wrong")
    parser.add_argument("--part", choices=PARTS, action="append", help="only this part (repeatable)")
    args = parser.parse_args()
    for part in args.part or PARTS:
        outcomes = run_part(part)
        if args.misses:
            for o in outcomes:
                if not o.top1:
                    got = ", ".join(o.ranked[:3]) or "-"
                    print(f"  MISS {o.case:56} expected={o.expected[0]:32} got={got} ({o.confidence:.2f})")
        print("\n".join(summary(part, outcomes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
