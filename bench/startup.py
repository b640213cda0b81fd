"""Benchmark: how fast `virtdiag explain` starts and answers, against Python's own start-up.

Prints median wall times over N runs for: `python -c pass`, `python -c 'import typer, rich'`,
`virtdiag explain '<one line>'`, and `virtdiag explain --file` on a 5,000-line log excerpt.
Run: .venv/bin/python bench/startup.py [runs]
"""

from __future__ import annotations

import os
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


def timed_runs(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """Wall time of each command, `runs` times, interleaved so that other load on the machine falls on all
    of them alike. Bytecode may be written (a user's install has it: pip compiles on install), and one
    warm-up run of each fills the bytecode and page caches first."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for warm_up in (True, *([False] * runs)):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=False, env=env)
            if not warm_up:
                samples[name].append(time.perf_counter() - start)
    return samples


def log_excerpt(lines: int) -> str:
    rng = random.Random(7)
    out = [rng.choice(NOISE).format(ms=i % 1000, n=i) for i in range(lines)]
    out[lines // 2] = ("2024-05-02 08:14:12.001+0000: 2211: error : virNetDevGetMTU:397 : "
                       "Cannot get interface MTU on 'br0': No such device")
    return "\n".join(out) + "\n"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    script = Path(PYTHON).parent / "virtdiag"  # the command users run (pip's console script)
    virtdiag = [str(script)] if script.exists() else [PYTHON, "-m", "diagnose"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "excerpt.log"
        path.write_text(log_excerpt(5000))
        samples = timed_runs({
            "python -c pass": [PYTHON, "-c", "pass"],
            "python -c 'import typer, rich'": [PYTHON, "-c", "import typer, rich"],
            "virtdiag explain '<one line>'": [*virtdiag, "explain", ONE_LINE],
            "virtdiag explain --file (5k lines)": [*virtdiag, "explain", "--file", str(path)],
        }, runs)
    libs = samples["python -c 'import typer, rich'"]
    print(f"{runs} interleaved runs each; median (min) wall time")
    for name, times in samples.items():
        median = statistics.median(times)
        ratio = ""
        if name.startswith("virtdiag explain '"):  # each run against the typer+rich run next to it
            paired = statistics.median(t / base for t, base in zip(times, libs, strict=True))
            ratio = f"  ({paired:.2f}x typer+rich, median of paired runs)"
        print(f"{name:<36} {median * 1000:7.1f} ms ({min(times) * 1000:6.1f}){ratio}")


if __name__ == "__main__":
    main()
