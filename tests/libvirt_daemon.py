"""Test harness: a real libvirtd + virtlogd inside a network namespace the tests create.

Bridges, dnsmasq and guest networks exist only inside that namespace; virsh and libvirt-python
reach the daemon through its unix socket as usual. Run as a script to start or stop it by hand:

    python tests/libvirt_daemon.py start|stop|status
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

NAMESPACE = "virtdiag-test"
SOCKET = Path("/run/libvirt/libvirt-sock")
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
NEEDED = ("libvirtd", "virtlogd", "virsh", "ip", "qemu-system-x86_64", "dnsmasq")
CONFIG = Path("/run/virtdiag-test/libvirtd.conf")
# On top of the stock libvirtd.conf: a socket only root's group may use, so a non-root user gets
# B.2.2's "Permission denied" from a real daemon.
TEST_SETTINGS = 'unix_sock_group = "root"\nunix_sock_rw_perms = "0770"\n'


def _write_config() -> None:
    stock = Path("/etc/libvirt/libvirtd.conf")
    CONFIG.parent.mkdir(parents=True, exist_ok=True)
    base = stock.read_text() if stock.exists() else ""
    CONFIG.write_text(base + "\n# virtdiag test daemon\n" + TEST_SETTINGS)


# What the test daemon writes outside its namespace: its log, virtlogd's, each guest's qemu log, dnsmasq's
# files. start() records what was there; stop() puts it back (grown logs cut to their old size, new files
# removed), so the tests leave no trace in this host's logs for a later `virtdiag scan` to find.
TRACES = (Path("/var/log/libvirt"), Path("/var/log/libvirt/qemu"), Path("/var/lib/libvirt/dnsmasq"))
SNAPSHOT = CONFIG.parent / "traces.json"


def _snapshot() -> None:
    import json

    sizes = {str(p): p.stat().st_size for d in TRACES if d.is_dir() for p in d.iterdir() if p.is_file()}
    SNAPSHOT.write_text(json.dumps(sizes))


def _restore() -> None:
    import json

    if not SNAPSHOT.exists():
        return
    sizes = json.loads(SNAPSHOT.read_text())
    for directory in TRACES:
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if not path.is_file() or path.is_symlink():
                continue
            before = sizes.get(str(path))
            if before is None:
                path.unlink()
            elif path.stat().st_size > before:
                os.truncate(path, before)
    SNAPSHOT.unlink()


class Unavailable(Exception):
    """No daemon can be started here; the message says why in one line."""


def _run(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=timeout, env=CLEAN_ENV)


def _pids(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _namespace_of(pid: int) -> str:
    result = _run("ip", "netns", "identify", str(pid), check=False)
    return result.stdout.strip()


def _shares_run(pid: int) -> bool:
    """True if the process sees our /run (its socket would be ours too). `ip netns exec` gives each
    process its own mount namespace with /run shared, so compare the directory itself."""
    try:
        theirs = os.stat(f"/proc/{pid}/root/run")
        ours = os.stat("/run")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def _namespace_exists() -> bool:
    return NAMESPACE in _run("ip", "netns", "list", check=False).stdout.split()


def why_unavailable() -> str:
    """'' if a daemon can be started here, else the reason."""
    if os.geteuid() != 0:
        return "needs root (to create a network namespace and run libvirtd)"
    missing = [name for name in NEEDED if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]
    if missing:
        return f"missing {', '.join(missing)} (install: bash scripts/dev.sh setup)"
    return ""


def _answers(timeout: float = 5) -> bool:
    try:
        result = _run("virsh", "-c", "qemu:///system", "uri", check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


START_LIMIT = 300  # seconds a live daemon may take to answer (see start)


def start() -> bool:
    """Start the daemons in the namespace; True if this call started them (and should stop them)."""
    reason = why_unavailable()
    if reason:
        raise Unavailable(reason)
    foreign = [pid for pid in _pids("libvirtd") if _shares_run(pid) and _namespace_of(pid) != NAMESPACE]
    if foreign:
        raise Unavailable(
            f"a libvirtd outside the test namespace is running (pid {foreign[0]}); stop it first so the tests "
            "never touch this machine's network"
        )
    if [p for p in _pids("libvirtd") if _shares_run(p)] and _answers():
        return False
    Path("/var/log/libvirt/qemu").mkdir(parents=True, exist_ok=True)
    CONFIG.parent.mkdir(parents=True, exist_ok=True)
    if not SNAPSHOT.exists():
        _snapshot()
    if not _namespace_exists():
        _run("ip", "netns", "add", NAMESPACE)
    _run("ip", "netns", "exec", NAMESPACE, "ip", "link", "set", "lo", "up")
    if not [p for p in _pids("virtlogd") if _shares_run(p) and _namespace_of(p) == NAMESPACE]:
        _run("ip", "netns", "exec", NAMESPACE, "virtlogd", "-d")
    _write_config()
    _run("ip", "netns", "exec", NAMESPACE, "libvirtd", "-d", "-f", str(CONFIG))
    # Slow is not dead: a daemon that finds guests a killed run left defined loads each of them, and on a host
    # where libvirt re-probes QEMU for every lookup that takes minutes. Wait while the process lives.
    started = time.monotonic()
    while time.monotonic() - started < START_LIMIT:
        if SOCKET.exists() and _answers():
            return True
        if time.monotonic() - started > 30 and not [p for p in _pids("libvirtd") if _shares_run(p)]:
            break
        time.sleep(0.3)
    raise Unavailable(f"libvirtd did not answer within {time.monotonic() - started:.0f} s; "
                      "see /var/log/libvirt/libvirtd.log")


# Every guest and network tests/integration defines, by name (the daemon shares /etc/libvirt with the host,
# so only these exact names are ever removed).
TEST_GUESTS = ("vdt-bridge", "vdt-net", "vdt-nodisk", "vdt-perm", "vdt-kvm", "vdt-noserial", "vdt-cpu", "vdt-efi",
               "vdt-vanish", "vdt-eth", "vdt-script", "vdt-transient", "vdt-ms", "vdt-snap", "vdt-nvram")
TEST_NETWORKS = ("vdt-inactive", "vdt-clash")


def remove_leftovers() -> list[str]:
    """The test guests and networks a killed earlier run left defined: stop and undefine them, so a new run
    starts clean. Returns what was removed."""
    removed = []
    virsh = ("virsh", "-c", "qemu:///system")
    for name in set(_run(*virsh, "list", "--all", "--name", check=False).stdout.split()) & set(TEST_GUESTS):
        _run(*virsh, "destroy", name, check=False)
        # the undefine refusal tests leave, when killed, a managed save image, a snapshot and an NVRAM file
        if _run(*virsh, "undefine", "--managed-save", "--snapshots-metadata", "--nvram", name,
                check=False).returncode != 0:
            _run(*virsh, "undefine", name, check=False)
        removed.append(name)
    for name in set(_run(*virsh, "net-list", "--all", "--name", check=False).stdout.split()) & set(TEST_NETWORKS):
        _run(*virsh, "net-destroy", name, check=False)
        _run(*virsh, "net-undefine", name, check=False)
        removed.append(name)
    return sorted(removed)


def stop() -> None:
    """Stop every process in the namespace (libvirtd, virtlogd, dnsmasq, qemu) and delete it."""
    if not _namespace_exists():
        return
    for _ in range(5):  # again while a daemon being stopped still spawns something (a qemu capability probe)
        pids = [int(p) for p in _run("ip", "netns", "pids", NAMESPACE, check=False).stdout.split()]
        pids = [pid for pid in pids if _alive(pid)]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and _alive(p) for p in pids):
            time.sleep(0.2)
        for pid in pids:
            if Path(f"/proc/{pid}").exists() and _alive(pid):
                os.kill(pid, signal.SIGKILL)
    _run("ip", "netns", "delete", NAMESPACE, check=False)
    _restore()
    if CONFIG.exists():
        CONFIG.unlink()
    if CONFIG.parent.is_dir() and not any(CONFIG.parent.iterdir()):
        CONFIG.parent.rmdir()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "status"
    try:
        if command == "start":
            print("started" if start() else "already running")
        elif command == "stop":
            stop()
            print("stopped")
        else:
            print(why_unavailable() or ("running" if _answers() else "not running"))
    except Unavailable as exc:
        print(f"libvirt test daemon unavailable: {exc}", file=sys.stderr)
        sys.exit(1)
