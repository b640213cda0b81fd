"""Benchmark: findings merged in near-linear time (issue 16). Two generated hosts, each scanned in this
process against a baseline of reading the same input without matching:

  - a libvirtd.log of 10,000 distinct errors (10,000 bridges that do not exist: one signature, 10,000
    captures, the worst case for merging); baseline: streaming its lines as the scan does, no matcher;
  - 20,000 guests whose disk image is missing (20,000 domain XML files); baseline: reading and parsing
    them (gather), no checks.

Each is scanned at half the size and at the size: prints each scan's time, its ratio to the baseline, the
time spent merging (match's fold and the engine's merge), how the time grows with the input, and, with
--old, the time the previous quadratic merge takes on the same hits (minutes) and whether its result is
identical.

    .venv/bin/python bench/merge_scale.py [--errors N] [--guests N] [--old]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diagnose import engine, match  # noqa: E402
from diagnose.host import logs  # noqa: E402
from diagnose.host.gather import gather  # noqa: E402
from diagnose.host.reader import open_host  # noqa: E402
from diagnose.model import Hit  # noqa: E402

BASE = {
    "etc/hostname": "bench-host\n",
    "etc/libvirt/libvirtd.conf": "# defaults\n",
    "etc/libvirt/qemu.conf": 'user = "qemu"\n',
    "proc/cpuinfo": "processor : 0\nflags : fpu vmx nx constant_tsc nonstop_tsc\n",
    "proc/modules": "kvm_intel 380928 0 - Live 0x0\nkvm 1142784 1 kvm_intel, Live 0x0\n",
    "sys/class/net/eth0/operstate": "up\n",
    "var/log/libvirt/libvirtd.log": "",
}
DOMAIN = """<domain type='kvm'>
  <name>guest{i}</name>
  <memory unit='MiB'>512</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/var/lib/libvirt/images/guest{i}.qcow2'/>
      <target dev='vda' bus='virtio'/></disk>
    <serial type='pty'/><console type='pty'/>
  </devices>
</domain>
"""


def base_host(root: Path) -> Path:
    for name, text in BASE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def error_host(root: Path, errors: int) -> Path:
    base_host(root)
    (root / "var/log/libvirt/libvirtd.log").write_text("".join(
        f"2024-05-02 09:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}+0000: 1201: error : virNetDevGetMTU:397 : "
        f"Cannot get interface MTU on 'br{i}': No such device\n" for i in range(errors)))
    return root


def guest_host(root: Path, guests: int) -> Path:
    base_host(root)
    qemu = root / "etc/libvirt/qemu"
    qemu.mkdir(parents=True, exist_ok=True)
    (root / "var/lib/libvirt/images").mkdir(parents=True)  # there, but without the images
    for i in range(guests):
        (qemu / f"guest{i}.xml").write_text(DOMAIN.format(i=i))
    return root


def old_merge(hits: list[Hit]) -> list[Hit]:
    """engine.merge_hits before issue 16: every hit compared with every kept hit (quadratic)."""
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
                                lines=kept.lines | hit.lines)  # (the old code built Hit(...) of these fields)
            break
        else:
            merged.append(hit)
    return merged


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


class MergeSpy:
    """Times engine.merge_hits and match._fold_subsets during a scan, and keeps the hits the scan merged."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.merged_inputs: list[list[Hit]] = []
        self.real_merge, self.real_fold = engine.merge_hits, match._fold_subsets

    def __enter__(self) -> MergeSpy:
        def merge(hits: list[Hit]) -> list[Hit]:
            self.merged_inputs.append(list(hits))
            spent, result = timed(lambda: self.real_merge(hits))
            self.seconds += spent
            return result

        def fold(accs: list) -> list:
            spent, result = timed(lambda: self.real_fold(accs))
            self.seconds += spent
            return result

        engine.merge_hits, match._fold_subsets = merge, fold  # type: ignore[assignment]
        return self

    def __exit__(self, *_: object) -> None:
        engine.merge_hits, match._fold_subsets = self.real_merge, self.real_fold  # type: ignore[assignment]


def read_log_only(root: Path) -> int:
    """The baseline for the log: every line the scan would hand the matcher, no matching."""
    host = open_host(str(root))
    count = sum(1 for _ in logs.log_lines(host, gather(host), (), engine._stage_one, [], []))
    host.close()
    return count


def read_xml_only(root: Path) -> int:
    """The baseline for the guests: read and parse every domain XML (gather), no checks."""
    host = open_host(str(root))
    count = len(gather(host).domains)
    host.close()
    return count


def run(name: str, make: Callable[[Path, int], Path], size: int, work: Path, baseline: Callable[[Path], int],
        expect: str, compare_old: bool) -> None:
    """The scan at half the size and at the size (twice the input should take about twice the time), each
    against its baseline; with compare_old, the old merge on the full size's hits."""
    engine.loaded()  # the catalog is loaded once, outside every timing
    times = []
    for count in (size // 2, size):
        root = make(work / f"{expect}-{count}", count)
        read_s, items = timed(lambda: baseline(root))  # noqa: B023 - called at once
        with MergeSpy() as spy:
            scan_s, report = timed(lambda: engine.scan(str(root)))  # noqa: B023
        found = sum(1 for f in report.findings if f.id == expect)
        times.append(scan_s)
        print(f"{name.format(count)}: baseline (read, no matching) {read_s:.2f} s for {items} items; scan "
              f"{scan_s:.2f} s ({scan_s / read_s:.1f}x the baseline), {found} {expect} findings; "
              f"merging {spy.seconds:.2f} s")
    print(f"  twice the input, {times[1] / times[0]:.2f}x the time (2.00 is linear; the old merge: about 4)")
    if compare_old:
        hits = max(spy.merged_inputs, key=len)
        new_s, new = timed(lambda: spy.real_merge(hits))
        old_s, old = timed(lambda: old_merge(hits))
        print(f"  merge of its {len(hits)} hits: {new_s:.3f} s now, {old_s:.1f} s with the old merge "
              f"({old_s / max(new_s, 1e-9):.0f}x); identical: {new == old}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--errors", type=int, default=10_000)
    parser.add_argument("--guests", type=int, default=20_000)
    parser.add_argument("--old", action="store_true", help="also time the old quadratic merge (minutes)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="virtdiag-merge-"))
    try:
        run("{} distinct errors in libvirtd.log", error_host, args.errors, work, read_log_only, "bridge-missing",
            args.old)
        run("{} guests with a missing disk", guest_host, args.guests, work, read_xml_only, "disk-image-missing",
            args.old)
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
