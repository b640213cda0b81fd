"""Benchmark: scanning a large libvirtd debug log, virtdiag against `grep -E -f` with the catalog's own
patterns. Prints throughput of both, their ratio, recall of the planted error lines (must be exact,
with line numbers and captures), and virtdiag's peak RSS.

    .venv/bin/python bench/scanlog.py [SIZE_MIB] [--keep DIR]

The log is generated deterministically: debug noise as libvirt writes it (QMP JSON, object refs,
event loop, long lines) with real error lines planted at known line numbers.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOISE = [
    '{ts}: {pid}: info : qemuMonitorIOWrite:{n} : QEMU_MONITOR_IO_WRITE: mon=0x7f{n:x} '
    'buf={{"execute":"query-blockstats","arguments":{{"query-nodes":true}},"id":"libvirt-{n}"}}',
    '{ts}: {pid}: info : qemuMonitorJSONIOProcessLine:{n} : QEMU_MONITOR_RECV_REPLY: mon=0x7f{n:x} '
    'reply={{"return": [{{"device": "", "parent": {{"stats": {{"flush_total_time_ns": 0, "wr_highest_offset": '
    '{n}, "wr_total_time_ns": 0, "failed_wr_operations": 0, "failed_rd_operations": 0, "wr_merged": 0}}}}}}]}}',
    "{ts}: {pid}: debug : virObjectRef:{n} : OBJECT_REF: obj=0x7f{n:x}",
    "{ts}: {pid}: debug : virObjectUnref:{n} : OBJECT_UNREF: obj=0x7f{n:x}",
    "{ts}: {pid}: debug : virEventGLibHandleUpdate:{n} : UPDATE_HANDLE: watch={n} events=1",
    "{ts}: {pid}: debug : virThreadJobSet:{n} : Thread {pid} (rpc-virtqemud) is now running job "
    "remoteDispatchConnectGetAllDomainStats",
    "{ts}: {pid}: info : virNetServerClientNew:{n} : RPC_SERVER_CLIENT_NEW: client=0x55{n:x} sock=0x55{n:x}",
    "{ts}: {pid}: debug : virAccessManagerCheckDomain:{n} : manager=0x55{n:x}(name=stack) driver=QEMU "
    "domain=0x7f{n:x} perm=0 " + "x" * 900,
]
PLANTED = [
    ("bridge-missing", "error : virNetDevGetMTU:397 : Cannot get interface MTU on 'br{i}': No such device",
     {"bridge": "br{i}"}),
    ("network-not-started", "error : qemuProcessPrepareDomain:6041 : Requested operation is not valid: network "
     "'net{i}' is not active", {"network": "net{i}"}),
    ("disk-image-missing", "error : virStorageSourceReportBrokenChain:5131 : Cannot access storage file "
     "'/var/lib/libvirt/images/vm{i}.qcow2' (as uid:64055, gid:64055): No such file or directory",
     {"path": "/var/lib/libvirt/images/vm{i}.qcow2"}),
    ("image-permission-denied", "error : qemuProcessReportLogError:1971 : internal error: qemu unexpectedly "
     "closed the monitor: qemu-system-x86_64: -blockdev {{}}: Could not open '/srv/vm{i}.img': Permission denied",
     {"path": "/srv/vm{i}.img"}),
]


def write_log(path: Path, size: int, noise: list[str], plants: list[tuple[str, str, dict[str, str]]], every: int,
              fields: Callable[[int], dict[str, object]], rng: random.Random, first: int = 0
              ) -> list[tuple[int, str, dict[str, str]]]:
    """Write about `size` bytes of lines drawn from `noise`, with plants[k] (cycled) every `every` lines; every
    template is filled with fields(line number) and, for a plant, i = first + k. Returns the planted
    (line, signature id, captures)."""
    planted: list[tuple[int, str, dict[str, str]]] = []
    written = 0
    number = 0
    with open(path, "w", encoding="utf-8") as out:
        buffer: list[str] = []
        while written < size:
            number += 1
            values = fields(number)
            if number % every == 0:
                sig, template, captures = plants[len(planted) % len(plants)]
                i = first + len(planted)
                text = template.format(i=i, **values)
                planted.append((number, sig, {k: v.format(i=i) for k, v in captures.items()}))
            else:
                text = rng.choice(noise).format(**values)
            buffer.append(text)
            written += len(text) + 1
            if len(buffer) >= 10000:
                out.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            out.write("\n".join(buffer) + "\n")
    return planted


def daemon_fields(n: int) -> dict[str, object]:
    return {"ts": f"2024-05-02 08:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}+0000", "pid": 2211, "n": n}


def generate(path: Path, size: int, seed: int = 20261126) -> list[tuple[int, str, dict[str, str]]]:
    """Write about `size` bytes of libvirtd debug log; return the planted (line, signature id, captures)."""
    every = max(1000, size // (200 * 40))  # about 40 planted errors whatever the size
    plants = [(sig, "{ts}: {pid}: " + template, captures) for sig, template, captures in PLANTED]
    return write_log(path, size, NOISE, plants, every, daemon_fields, random.Random(seed))


INSIDE = {"\\d": "0-9", "\\s": "[:space:]", "\\w": "[:alnum:]_"}
OUTSIDE = {"\\d": "[0-9]", "\\s": "[[:space:]]", "\\S": "[^[:space:]]", "\\w": "[[:alnum:]_]",
           "\\W": "[^[:alnum:]_]"}
ERE_ESCAPES = set(".[]()^$|+*?{}/-'\"\\ :")


def ere(pattern: str) -> str | None:
    """A catalog pattern in POSIX ERE for grep -E, or None where ERE cannot say it (lookarounds, \\b)."""
    if re.search(r"\(\?[=!<]|\\[bBAZ]|\(\?i", pattern):
        return None
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "(" and pattern.startswith("(?P<", i):
            i = pattern.index(">", i) + 1
            out.append("(")
            continue
        if char == "(" and pattern.startswith("(?:", i):
            out.append("(")
            i += 3
            continue
        if char == "[":
            end = i + 1
            while end < len(pattern) and (pattern[end] != "]" or end == i + 1 or pattern[end - 1] == "\\"):
                end += 1
            body = pattern[i + 1 : end]
            for short, posix in INSIDE.items():
                body = body.replace(short, posix)
            if "\\" in body.replace("\\]", "").replace("\\-", "").replace("\\.", "").replace("\\'", ""):
                return None
            body = body.replace("\\]", "]").replace("\\.", ".").replace("\\'", "'").replace("\\-", "-")
            out.append(f"[{body}]")
            i = end + 1
            continue
        if char == "\\":
            pair = pattern[i : i + 2]
            if pair in OUTSIDE:
                out.append(OUTSIDE[pair])
            elif pair[1:] in ERE_ESCAPES:
                out.append(pair if pair[1:] in ".[]()^$|+*?{}\\" else pair[1:])
            else:
                return None
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


SCAN = """
import json, resource, sys, time
from diagnose import engine
from diagnose.host import logscan
if sys.argv[2] == "one":
    logscan.SPLIT_ABOVE = 1 << 62
report = engine.scan(sys.argv[1])
from diagnose import render
print(render.to_json(report))
"""


def virtdiag_scan(root: Path, mode: str, prefilter: str = "") -> tuple[float, dict, int]:
    """Scan in a child process (one or two scanning processes; hyperscan when it imports, or the stdlib
    with prefilter="stdlib"); wall time, report, peak RSS (KiB) of the scanning processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", SCAN, str(root), mode], capture_output=True, text=True, cwd=ROOT,
                          check=True, env={**os.environ, "VIRTDIAG_PREFILTER": prefilter})
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, json.loads(proc.stdout), max(rss, before)


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1024
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    from diagnose import engine

    catalog, _ = engine.loaded()
    patterns = [p.pattern for sig in catalog.signatures if "libvirtd-log" in sig.sources for p in sig.patterns]
    eres = [e for e in (ere(p) for p in patterns) if e]
    work = Path(keep or tempfile.mkdtemp(prefix="virtdiag-bench-"))
    try:
        root = work / "host"
        log = root / "var/log/libvirt/libvirtd.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        planted = generate(log, size_mib << 20)
        size = log.stat().st_size
        print(f"generated {size / 2**20:.0f} MiB, {len(planted)} planted errors in {time.perf_counter() - t0:.1f} s")
        (work / "patterns.ere").write_text("\n".join(eres) + "\n")
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        start = time.perf_counter()
        grep = subprocess.run(["grep", "-n", "-E", "-f", str(work / "patterns.ere"), str(log)],
                              capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
        grep_time = time.perf_counter() - start
        grep_lines = {int(line.split(":", 1)[0]) for line in grep.stdout.splitlines()}
        mb = size / 1e6
        print(f"grep -E -f ({len(eres)} of {len(patterns)} catalog patterns as ERE): {grep_time:6.2f} s "
              f"{mb / grep_time:7.1f} MB/s, {len({p[0] for p in planted} & grep_lines)}/{len(planted)} planted lines")
        try:
            import hyperscan  # noqa: F401
            prefilters = ["", "stdlib"]
        except ImportError:
            prefilters = ["stdlib"]
            print("(hyperscan is not installed: stdlib first stage only; pip install '.[fast]')")
        for mode, prefilter in [(m, p) for p in prefilters for m in ("one", "two")]:
            elapsed, report, rss = virtdiag_scan(root, mode, prefilter)
            found = {}
            for finding in report["findings"]:
                for ev in finding["evidence"]:
                    found[(ev["line"], finding["id"])] = finding["captures"]
            exact = sum(1 for line, sig, caps in planted
                        if (line, sig) in found and all(found[(line, sig)].get(k) == v for k, v in caps.items()))
            print(f"virtdiag scan, {mode} process{'es' if mode == 'two' else ''}, "
                  f"{prefilter or 'hyperscan'} first stage: {elapsed:6.2f} s "
                  f"{mb / elapsed:7.1f} MB/s = {grep_time / elapsed:.2f}x grep, {exact}/{len(planted)} planted errors "
                  f"with line and captures, peak RSS {rss / 1024:.0f} MiB (whole run, start-up included)")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
