"""Benchmark: `virtdiag scan --root` on a large sosreport tree, against `grep -E -f` over the same logs.

The tree is generated deterministically: a libvirtd debug log, /var/log/messages (syslog noise of a
busy host: systemd, NetworkManager, dnsmasq, sshd, kernel), 40 qemu guest logs and their domain XML,
with real error lines planted at known line numbers. Prints the time of grep and of virtdiag (hyperscan
first stage when it imports, and the pure-stdlib fallback), recall of the planted errors (with path,
line and captures: must be exact) and peak RSS.

    .venv/bin/python bench/sostree.py [SIZE_MIB]     (SIZE_MIB: about the size of the whole tree, 512)
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scanlog  # noqa: E402 - the daemon-log generator and the ERE conversion

SYSLOG_NOISE = [
    "{ts} kvm1 systemd[1]: Started Session {n} of user root.",
    "{ts} kvm1 systemd-logind[788]: New session {n} of user root.",
    "{ts} kvm1 NetworkManager[812]: <info>  [1714637651.{ms:03d}] device (vnet{v}): state change: unmanaged -> "
    "unavailable (reason 'connection-assumed', sys-iface-state: 'external')",
    "{ts} kvm1 dnsmasq-dhcp[1422]: DHCPREQUEST(virbr0) 192.168.122.{v} 52:54:00:12:34:{v:02x}",
    "{ts} kvm1 dnsmasq-dhcp[1422]: DHCPACK(virbr0) 192.168.122.{v} 52:54:00:12:34:{v:02x} guest{v}",
    "{ts} kvm1 sshd[{n}]: Accepted publickey for root from 10.0.0.{v} port {n} ssh2: RSA SHA256:Zm9vYmFyYmF6",
    "{ts} kvm1 kernel: [{n}.{ms:03d}] IPv6: ADDRCONF(NETDEV_CHANGE): vnet{v}: link becomes ready",
    "{ts} kvm1 kernel: [{n}.{ms:03d}] virbr0: port {v}(vnet{v}) entered forwarding state",
    "{ts} kvm1 CROND[{n}]: (root) CMD (/usr/lib64/sa/sa1 1 1)",
]
QEMU_NOISE = [
    "{ts} qemu-system-x86_64: terminating on signal 15 from pid {n} (/usr/sbin/libvirtd)",
    "char device redirected to /dev/pts/{v} (label charserial0)",
    "LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/var/lib/libvirt/qemu/domain-{v}-guest{v} "
    "/usr/bin/qemu-system-x86_64 -name guest=guest{v},debug-threads=on -S -machine pc-q35-7.2,usb=off "
    "-accel kvm -cpu host,migratable=on -m size=4194304k -smp 4,sockets=4,cores=1,threads=1 -no-user-config",
    "{ts} qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.80000001H:ECX.svm [bit 2]",
    "2024-05-02T08:{mm:02d}:{ss:02d}.{ms:03d}+0000: Domain id={v} is tainted: host-cpu",
]
MESSAGES_PLANT = ("bridge-missing", "{ts} kvm1 libvirtd[1201]: error : virNetDevGetMTU:397 : Cannot get interface "
                  "MTU on 'brm{i}': No such device", {"bridge": "brm{i}"})
QEMU_PLANT = ("disk-image-missing", "{ts} qemu-system-x86_64: -blockdev {{\"driver\":\"file\",\"filename\":"
              "\"/var/lib/libvirt/images/q{i}.qcow2\",\"node-name\":\"libvirt-1-storage\"}}: Could not open "
              "'/var/lib/libvirt/images/q{i}.qcow2': No such file or directory",
              {"path": "/var/lib/libvirt/images/q{i}.qcow2"})
DOMAIN = """<domain type='kvm'>
  <name>guest{v}</name>
  <memory unit='KiB'>4194304</memory>
  <vcpu placement='static'>4</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


def syslog_fields(n: int) -> dict[str, object]:
    return {"ts": f"May  2 08:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}", "n": n, "v": n % 250, "ms": n % 1000,
            "mm": n // 60000 % 60, "ss": n // 1000 % 60}


def write_log(path: Path, size: int, noise: list[str], plant: tuple, every: int, rng: random.Random,
              first: int) -> list[tuple[str, int, str, dict[str, str]]]:
    """A syslog-style file with `plant` every `every` lines; returns (path, line, id, captures)."""
    planted = scanlog.write_log(path, size, noise, [plant], every, syslog_fields, rng, first)
    return [(str(path), number, sig, captures) for number, sig, captures in planted]


def build(tree: Path, size: int) -> list[tuple[str, int, str, dict[str, str]]]:
    rng = random.Random(20261126)
    (tree / "sos_commands/libvirt").mkdir(parents=True)
    (tree / "etc/libvirt/qemu").mkdir(parents=True)
    (tree / "var/log/libvirt/qemu").mkdir(parents=True)
    (tree / "sos_commands/libvirt/virsh_-r_list_--all").write_text(
        " Id   Name      State\n" + "".join(f" {v}    guest{v}   running\n" for v in range(1, 41)))
    for v in range(1, 41):
        (tree / f"etc/libvirt/qemu/guest{v}.xml").write_text(DOMAIN.format(v=v))
    daemon = tree / "var/log/libvirt/libvirtd.log"
    planted = [(str(daemon), line, sig, caps) for line, sig, caps in scanlog.generate(daemon, size * 2 // 5)]
    planted += write_log(tree / "var/log/messages", size * 2 // 5, SYSLOG_NOISE, MESSAGES_PLANT, 50_000, rng, 0)
    for v in range(1, 41):
        planted += write_log(tree / f"var/log/libvirt/qemu/guest{v}.log", size // 5 // 40, QEMU_NOISE, QEMU_PLANT,
                             7_000, rng, v * 100)
    return planted


def main() -> None:
    size = (int(sys.argv[1]) if len(sys.argv) > 1 else 512) << 20
    from diagnose import engine

    catalog, _ = engine.loaded()
    eres = [e for e in (scanlog.ere(p.pattern) for sig in catalog.signatures for p in sig.patterns) if e]
    work = Path(tempfile.mkdtemp(prefix="virtdiag-sostree-"))
    try:
        tree = work / "sosreport-kvm1-2024-05-02"
        t0 = time.perf_counter()
        planted = build(tree, size)
        logs = sorted(str(p) for p in tree.rglob("*.log")) + [str(tree / "var/log/messages")]
        total = sum(os.path.getsize(p) for p in logs)
        print(f"generated {total / 2**20:.0f} MiB of logs in {len(logs)} files, {len(planted)} planted errors, "
              f"in {time.perf_counter() - t0:.0f} s")
        (work / "patterns.ere").write_text("\n".join(eres) + "\n")
        subprocess.run(["cat", *logs], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        start = time.perf_counter()
        subprocess.run(["grep", "-n", "-E", "-f", str(work / "patterns.ere"), *logs], capture_output=True,
                       env={**os.environ, "LC_ALL": "C"})
        grep_time = time.perf_counter() - start
        print(f"grep -E -f ({len(eres)} catalog patterns as ERE) over the logs: {grep_time:6.2f} s")
        try:
            import hyperscan  # noqa: F401
            prefilters = ["", "stdlib"]
        except ImportError:
            prefilters = ["stdlib"]
        for prefilter in prefilters:
            elapsed, report, rss = scanlog.virtdiag_scan(tree, "auto", prefilter)
            found = {}
            for finding in report["findings"]:
                for ev in finding["evidence"]:
                    found[(ev["path"], ev["line"], finding["id"])] = finding["captures"]
            exact = sum(1 for path, line, sig, caps in planted
                        if (path.removeprefix(str(tree)), line, sig) in found
                        and all(found[(path.removeprefix(str(tree)), line, sig)].get(k) == v for k, v in caps.items()))
            print(f"virtdiag scan --root, {prefilter or 'hyperscan'} first stage: {elapsed:6.2f} s = "
                  f"{grep_time / elapsed:.2f}x grep, {exact}/{len(planted)} planted errors with path, line and "
                  f"captures, peak RSS {rss / 1024:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
