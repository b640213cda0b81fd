"""Benchmark: does scan time grow with the catalog? Scans the same generated log and host with the
catalog as shipped and with every signature duplicated (twice the patterns), and prints both times.

    .venv/bin/python bench/catalog_size.py [SIZE_MIB]
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from diagnose import catalog  # noqa: E402


def doubled(source: Path, target: Path) -> None:
    """A copy of the catalog where every signature appears twice (the copy's ids end in -copy)."""
    shutil.copytree(source, target)
    (target / catalog.CACHE).unlink(missing_ok=True)
    for path in target.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        copy = re.sub(r'^(id\s*=\s*")([^"]+)"', r'\1\2-copy"', text, flags=re.M)
        (target / f"{path.stem}-copy.toml").write_text(copy, encoding="utf-8")
    localized = target / "generated" / "localized.toml"
    if localized.exists():
        text = localized.read_text(encoding="utf-8")
        localized.write_text(text + re.sub(r'^(signature\s*=\s*")([^"]+)"', r'\1\2-copy"', text, flags=re.M))


def timed_scan(root: Path, knowledge: Path, runs: int = 3, prefilter: str = "") -> float:
    env = {**os.environ, "VIRTDIAG_KNOWLEDGE": str(knowledge), "VIRTDIAG_PREFILTER": prefilter}
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "diagnose", "scan", "--root", str(root), "--format", "json",
                        "--quiet"], env=env, cwd=ROOT, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    from scanlog import generate

    from diagnose import match

    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    work = Path(tempfile.mkdtemp(prefix="virtdiag-catalog-"))
    try:
        shipped = work / "shipped"
        shutil.copytree(catalog.knowledge_dir(), shipped)
        catalog.build_cache(shipped, match.cache_index)
        double = work / "double"
        doubled(shipped, double)
        catalog.build_cache(double, match.cache_index)
        root = work / "host"
        log = root / "var/log/libvirt/libvirtd.log"
        log.parent.mkdir(parents=True)
        generate(log, size_mib << 20)
        plain = work / "plain"  # a syslog: read through the catalog's literals, not the daemon's level markers
        (plain / "var/log").mkdir(parents=True)
        from sostree import MESSAGES_PLANT, SYSLOG_NOISE, write_log

        write_log(plain / "var/log/messages", (size_mib << 20) // 8, SYSLOG_NOISE, MESSAGES_PLANT, 50_000,
                  random.Random(7), 0)
        counts = [sum(len(s.patterns) for s in catalog.load(k).signatures) for k in (shipped, double)]
        runs = [(f"a {size_mib} MiB libvirtd.log", root, ""), (f"a {size_mib // 8} MiB /var/log/messages", plain, "")]
        runs.append(("the same messages without hyperscan", plain, "stdlib"))
        for what, tree, prefilter in runs:
            one = timed_scan(tree, shipped, prefilter=prefilter)
            two = timed_scan(tree, double, prefilter=prefilter)
            print(f"scan of {what}: catalog as shipped ({counts[0]} patterns) {one:.2f} s, "
                  f"doubled ({counts[1]} patterns) {two:.2f} s: {100 * (two - one) / one:+.1f}%")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
