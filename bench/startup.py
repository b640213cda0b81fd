"""Benchmark: how fast `virtdiag explain` starts and answers, against Python's own start-up.

Prints median wall times over N runs for: `python -c pass`, `python -c 'import typer, rich'`,
`virtdiag explain '<one line>'`, and `virtdiag explain --file` on a 5,000-line log excerpt.
Run: .venv/bin/python bench/startup.py [runs]
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
ONE_LINE = "error: Cannot get interface MTU on 'br0': No such device"
NOISE = [
    "2024-05-02 08:14:11.{ms:03d}+0000: 2211: info : qemuMonitorIOWrite:{n} : QEMU_MONITOR_IO_WRITE: mon=0x7f{n:x} "
    'buf={{"execute":"query-block","id":"libvirt-{n}"}}',
    "2024-05-02 08:14:11.{ms:03d}+0000: 2211: debug : virObjectRef:{n} : OBJECT_REF: obj=0x7f{n:x}",
    "2024-05-02 08:14:11.{ms:03d}+0000: 2211: warning : virGDBusGetSystemBus:{n} : Unable to get system bus",
]


def median_time(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def log_excerpt(lines: int) -> str:
    rng = random.Random(7)
    out = [rng.choice(NOISE).format(ms=i % 1000, n=i) for i in range(lines)]
    out[lines // 2] = ("2024-05-02 08:14:12.001+0000: 2211: error : virNetDevGetMTU:397 : "
                       "Cannot get interface MTU on 'br0': No such device")
    return "\n".join(out) + "\n"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    virtdiag = [PYTHON, "-m", "diagnose"]
    base = median_time([PYTHON, "-c", "pass"], runs)
    libs = median_time([PYTHON, "-c", "import typer, rich"], runs)
    one = median_time([*virtdiag, "explain", ONE_LINE], runs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "excerpt.log"
        path.write_text(log_excerpt(5000))
        big = median_time([*virtdiag, "explain", "--file", str(path)], runs)
    print(f"python -c pass                     {base * 1000:7.1f} ms")
    print(f"python -c 'import typer, rich'     {libs * 1000:7.1f} ms")
    print(f"virtdiag explain '<one line>'      {one * 1000:7.1f} ms  ({one / libs:.2f}x typer+rich)")
    print(f"virtdiag explain --file (5k lines) {big * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
