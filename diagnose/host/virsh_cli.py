"""Collect stage without libvirt-python: ask the daemon through `virsh -r` (read-only) subprocesses, with a time
limit, and parse what they print (diagnose.virsh) into the LiveState that live.gather returns.

libvirt-python has no wheels: on a hypervisor where it is not installed (or VIRTDIAG_LIVE=virsh), `ask` and
`ask_domcaps` use virsh, which every libvirt host has. Each step is one virsh process running several commands
(`cmd1 ; cmd2`) with marker lines between their outputs: two processes however many guests the host has.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from importlib.util import find_spec

from diagnose.host.live import DEFAULT_TIMEOUT, LiveDomain, LiveNetwork, LiveState, LiveUnavailable
from diagnose.state import HostState
from diagnose.virsh import parse_virsh_dominfo

MARK = "virtdiag.next.7f3a"
VIRSH_STATES = {"idle": "blocked", "in shutdown": "shutting down", "pmsuspended": "suspended"}  # live.STATES' words


def use_virsh() -> bool:
    """virsh when libvirt-python cannot be imported, or VIRTDIAG_LIVE=virsh says so."""
    return os.environ.get("VIRTDIAG_LIVE") == "virsh" or find_spec("libvirt") is None


def ask(uri: str, timeout: float = DEFAULT_TIMEOUT) -> LiveState:
    """live.gather with libvirt-python, else gather (virsh): the same LiveState either way."""
    from diagnose.host import live

    return gather(uri, timeout) if use_virsh() else live.gather(uri, timeout)


def ask_domcaps(uri: str, state: HostState, timeout: float = DEFAULT_TIMEOUT) -> None:
    """live.guest_domcaps with libvirt-python, else the same through virsh."""
    from diagnose.host import live

    if not use_virsh():
        live.guest_domcaps(uri, state, timeout)
        return
    wanted = _guest_keys(state)
    found, errors = domcapabilities(uri, sorted(set(wanted.values())), timeout)
    for guest, key in wanted.items():
        joined = "|".join(key)
        if joined in found:
            state.domcaps[guest] = found[joined]
        elif joined in errors:
            state.domcaps_errors[guest] = errors[joined]


def _guest_keys(state: HostState) -> dict[str, tuple[str, str, str, str]]:
    """Each guest's (emulator, arch, machine, virt type), as live.guest_domcaps asks them."""
    wanted: dict[str, tuple[str, str, str, str]] = {}
    for doc in state.domains:
        root = getattr(doc, "root", None)
        if root is None or root.tag != "domain":
            continue
        os_type = root.find("os/type")
        wanted[(root.findtext("name") or "").strip()] = (
            root.findtext("devices/emulator") or "", os_type.get("arch", "") if os_type is not None else "",
            os_type.get("machine", "") if os_type is not None else "", root.get("type", ""))
    return wanted


def run(uri: str, commands: list[str], deadline: float) -> list[tuple[str, str]]:
    """(stdout, stderr) of each command, run in one `virsh -r -c URI` process. Raises LiveUnavailable when virsh
    is missing, does not finish by `deadline` (time.monotonic()), or cannot connect at all."""
    if shutil.which("virsh") is None:
        raise LiveUnavailable("neither libvirt-python nor virsh is installed (apt install python3-libvirt, "
                              "dnf install python3-libvirt, or libvirt-clients / libvirt-client for virsh)")
    script = " ; ".join(f"echo {MARK} ; echo --err {MARK} ; {command}" for command in commands)
    env = {**os.environ, "LC_ALL": "C", "LIBVIRT_AUTOSTART": "0"}  # never start a session daemon
    try:
        done = _run_virsh(["virsh", "-r", "-c", uri, script], env, max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired as exc:
        raise LiveUnavailable(f"the libvirt daemon at {uri} did not answer virsh within the time limit (hung?)"
                              ) from exc
    outs = done.stdout.split(MARK + "\n")[1:]
    errs = re.split(f"^(?:error: )?{re.escape(MARK)}\n", done.stderr, flags=re.M)[1:]  # echo --err says "error: "
    if len(outs) != len(commands):  # it never ran the commands: the connection failed
        raise LiveUnavailable(_error(done.stderr) or f"virsh -r -c {uri} exited with status {done.returncode}")
    errs += [""] * (len(commands) - len(errs))  # a virsh without `echo --err`: errors are not told apart
    return list(zip(outs, errs, strict=True))


def _run_virsh(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """virsh in a session of its own: on timeout the whole group is killed (virsh, and the ssh a remote URI
    starts), then TimeoutExpired."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                             stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    return subprocess.CompletedProcess(argv, child.returncode, stdout, stderr)


def _error(text: str) -> str:
    """libvirt's message from what virsh printed on stderr: "error: <what virsh did>" then "error: <libvirt's
    message>", whose own lines follow unprefixed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if sum(line.startswith("error: ") for line in lines) > 1:
        lines = lines[1:]
    return " ".join(line.removeprefix("error: ") for line in lines)


def _xml(out: str) -> str:
    """A document as libvirt-python returns it (virsh adds blank lines around each command's output)."""
    return out.strip() + "\n" if out.strip() else ""


def _lines(text: str) -> list[str]:
    """The names `virsh ... --name` prints, one a line (a name may hold spaces)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def gather(uri: str, timeout: float = DEFAULT_TIMEOUT) -> LiveState:
    """What live.gather collects, from `virsh -r`: versions, host name, capabilities, every domain (state, flags,
    inactive and live XML), network, storage pool and node device. What virsh cannot get is in `errors`."""
    deadline = time.monotonic() + timeout
    state = LiveState(uri)
    first = {"version": "version", "hostname": "hostname", "capabilities": "capabilities",
             "domains": "list --all --name", "networks": "net-list --all --name",
             "storage pools": "pool-list --all --name", "node devices": "nodedev-list"}
    results = dict(zip(first, run(uri, list(first.values()), deadline), strict=True))
    for what, (_, err) in results.items():
        if err.strip():
            state.errors.append((what, _error(err)))
    version = results["version"][0]
    if found := re.search(r"^Using library: libvirt (\S+)", version, re.M):
        state.libvirt_version = found.group(1)
    if found := re.search(r"^Running hypervisor: (.+)$", version, re.M):
        state.hypervisor = found.group(1).strip()
    state.hostname = results["hostname"][0].strip()
    state.capabilities = _xml(results["capabilities"][0])
    kinds = {"domain": ("dominfo", "dumpxml --inactive", "dumpxml"), "network": ("net-info", "net-dumpxml"),
             "pool": ("pool-info", "pool-dumpxml"), "node device": ("nodedev-dumpxml",)}
    names = {"domain": _lines(results["domains"][0]), "network": _lines(results["networks"][0]),
             "pool": _lines(results["storage pools"][0]), "node device": _lines(results["node devices"][0])}
    asked = [(kind, name, command) for kind, commands in kinds.items() for name in names[kind] for command in commands]
    said: dict[tuple[str, str, str], str] = {}
    answers = run(uri, [f"{command} {shlex.quote(name)}" for _, name, command in asked], deadline) if asked else []
    for (kind, name, command), (out, err) in zip(asked, answers, strict=True):
        if out.strip() and not err.strip():
            said[(kind, name, command)] = out
        elif (f"{kind} {name}", _error(err)) not in state.errors:
            state.errors.append((f"{kind} {name}", _error(err) or f"virsh {command} printed nothing"))

    for name in names["domain"]:
        info = parse_virsh_dominfo(said.get(("domain", name, "dominfo"), ""))
        inactive = said.get(("domain", name, "dumpxml --inactive"))
        if info and inactive:
            active = info.get("Id", "-") != "-"
            shown = info.get("State", "")
            state.domains.append(LiveDomain(name, VIRSH_STATES.get(shown, shown), active,
                                            info.get("Persistent") == "yes", info.get("Autostart") == "enable",
                                            _xml(inactive), _xml(said.get(("domain", name, "dumpxml"), ""))
                                            if active else ""))
    for name in names["network"]:
        info = parse_virsh_dominfo(said.get(("network", name, "net-info"), ""))
        body = said.get(("network", name, "net-dumpxml"))
        if info and body:
            state.networks.append(LiveNetwork(name, info.get("Active") == "yes", info.get("Autostart") == "yes",
                                              _xml(body), info.get("Bridge", "")))
    for name in names["pool"]:
        info = parse_virsh_dominfo(said.get(("pool", name, "pool-info"), ""))
        body = said.get(("pool", name, "pool-dumpxml"))
        if info and body:
            state.pools.append((name, info.get("State") in ("running", "degraded"), info.get("Autostart") == "yes",
                                _xml(body)))
    state.nodedevs = [(name, _xml(said[("node device", name, "nodedev-dumpxml")])) for name in names["node device"]
                      if ("node device", name, "nodedev-dumpxml") in said]
    return state


def domcapabilities(uri: str, wanted: list[tuple[str, str, str, str]], timeout: float = DEFAULT_TIMEOUT
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """live.domcapabilities through virsh: XML per "emulator|arch|machine|virttype", errors per key (a daemon
    may refuse domcapabilities on a read-only connection: that is an error for the key, not for the scan)."""
    commands = []
    for emulator, arch, machine, virttype in wanted:
        options = (("--emulatorbin", emulator), ("--arch", arch), ("--machine", machine), ("--virttype", virttype))
        commands.append(" ".join(["domcapabilities", *(f"{flag} {shlex.quote(value)}" for flag, value in options
                                                        if value)]))
    found: dict[str, str] = {}
    errors: dict[str, str] = {}
    if not commands:
        return found, errors
    for key, (out, err) in zip(wanted, run(uri, commands, time.monotonic() + timeout), strict=True):
        if out.strip() and not err.strip():
            found["|".join(key)] = _xml(out)
        else:
            errors["|".join(key)] = _error(err) or "virsh printed nothing"
    return found, errors
