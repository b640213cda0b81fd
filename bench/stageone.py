"""Benchmark: the three first stages for a big plain log (the system log of a busy host): hyperscan, the grep
fallback (diagnose/host/stageone.py) and none (every line read in Python). Prints, for each, the time of stage
one alone (the candidate lines) and of stage one with the matcher (the findings, as `explain --file` and
`scan` get them), the ratio to hyperscan, and asserts that all three give identical findings (ids, captures,
evidence lines) and find every planted error.

    .venv/bin/python bench/stageone.py [SIZE_MIB] [--keep DIR] [--no-python]

The log is generated deterministically: syslog noise (bench/sostree.py's, with dnsmasq, kernel, sshd...), 2%
of it not ASCII (Japanese, a Kelvin sign), and real error lines planted every 20,000 lines: English, Japanese
and a qemu guest log message. --no-python leaves out the pure-Python pass (minutes for 300 MiB).
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scanlog  # noqa: E402 - the log writer
import sostree  # noqa: E402 - the syslog noise and plants

from diagnose import checks, engine  # noqa: E402
from diagnose.host import logs, logscan, stageone  # noqa: E402
from diagnose.host.reader import open_host  # noqa: E402
from diagnose.match import match_lines  # noqa: E402
from diagnose.model import Line  # noqa: E402

NOISE = sostree.SYSLOG_NOISE * 12 + [  # about 2% of the lines are not ASCII
    "{ts} kvm1 gnome-shell[{n}]: ウィンドウ {v} のフォーカスが変わりました",
    "{ts} kvm1 thermald[{n}]: sensor {v} at 31 \u212a",
]
PLANTS = [
    sostree.MESSAGES_PLANT,
    ("bridge-missing", "{ts} kvm1 libvirtd[1201]: error: 'brj{i}' においてインターフェイスの MTU を取得できません: "
     "そのようなデバイスはありません", {"bridge": "brj{i}"}),
    sostree.QEMU_PLANT,
]


def findings(numbered: Iterator[tuple[int, str]], matcher: object) -> list[tuple]:
    hits = match_lines(matcher, (Line("journal", n, text, "/var/log/messages") for n, text in numbered))
    return sorted((h.signature_id, h.captures, tuple((e.line, e.text) for e in h.evidence)) for h in hits)


def timed(work: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    size_mib = int(args[0]) if args else 300
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="virtdiag-stageone-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "messages"
    try:
        started = time.perf_counter()
        planted = scanlog.write_log(log, size_mib * 2**20, NOISE, PLANTS, 20000, sostree.syslog_fields,
                                    random.Random(20261206), 1)
        print(f"generated {log.stat().st_size / 2**20:.0f} MiB, {len(planted)} planted errors "
              f"({time.perf_counter() - started:.1f} s)")
        _, matcher = engine.loaded()
        literals = matcher.literals("journal") + logs.tap_literals(checks.taps(), "journal")
        host = open_host(None)
        os.environ.pop("VIRTDIAG_PREFILTER", None)
        hyperscan_db = logscan.literal_database(literals)
        os.environ["VIRTDIAG_PREFILTER"] = "grep"
        grep_stage = stageone.database(literals)
        os.environ.pop("VIRTDIAG_PREFILTER")
        stages: dict[str, object] = {"hyperscan": hyperscan_db, "grep": grep_stage}
        if "--no-python" not in sys.argv:
            stages["pure Python"] = None
        if hyperscan_db is None:
            print("hyperscan is not installed: pip install hyperscan (the 'fast' extra)")
            return 2
        if not isinstance(grep_stage, stageone.GrepStage):
            print("grep does not work here")
            return 2

        def lines(database: object) -> Iterator[tuple[int, str]]:
            return logs.plain_lines(host, str(log), "journal", lambda _source: database)

        results: dict[str, tuple[float, float, int, list[tuple]]] = {}
        print(f"  {'first stage':<12} {'stage one':>10} {'MiB/s':>7} {'lines kept':>11} {'with the matcher':>17}")
        for name, database in stages.items():
            first, kept = timed(lambda database=database: sum(1 for _ in lines(database)))
            total, found = timed(lambda database=database: findings(lines(database), matcher))
            results[name] = (first, total, int(kept), found)  # type: ignore[call-overload, arg-type]
            shown = f"{first:8.2f} s {size_mib / first:7.0f}" if database is not None else f"{'(none)':>10} {'':>7}"
            print(f"  {name:<12} {shown} {kept:>11} {total:15.2f} s   {len(found)} findings")
        base_first, base_total, _, expected = results["hyperscan"]
        grep_first, grep_total = results["grep"][:2]
        print(f"\n  grep: {grep_first / base_first:.2f}x hyperscan's time for stage one (target: within 3x), "
              f"{grep_total / base_total:.2f}x with the matcher")
        if "pure Python" in results:
            print(f"  pure Python: {results['pure Python'][1] / base_total:.2f}x hyperscan's time with the matcher")
        for name, (_, _, _, found) in results.items():
            assert found == expected, f"{name} gives other findings than hyperscan"
        found_lines = {(sig, line) for sig, _, evidence in expected for line, _ in evidence}
        missing = [(number, sig) for number, sig, _ in planted if (sig, number) not in found_lines]
        assert not missing, f"{len(missing)} planted errors not found, e.g. {missing[:3]}"
        print(f"  identical findings from all {len(results)}; all {len(planted)} planted errors found")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
