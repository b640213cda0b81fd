"""Collect stage: ask the live libvirt daemon (libvirt-python, read-only) what it knows, with a time
limit, so a hung daemon never hangs virtdiag: the connection lives in a child process whose whole process
group (ssh included) is killed when the time is up."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from diagnose.state import HostState
from diagnose.virsh import parse_capabilities
from diagnose.xmlchecks import parse

DEFAULT_TIMEOUT = 10.0


class LiveUnavailable(Exception):
    """The daemon cannot be asked; the message is the one-line reason (often libvirt's own error)."""


@dataclass
class LiveDomain:
    name: str
    state: str
    active: bool
    persistent: bool
    autostart: bool
    inactive_xml: str
    live_xml: str = ""


@dataclass
class LiveNetwork:
    name: str
    active: bool
    autostart: bool
    xml: str
    bridge: str = ""


@dataclass
class LiveState:
    uri: str
    libvirt_version: str = ""
    hypervisor: str = ""
    hostname: str = ""
    domains: list[LiveDomain] = field(default_factory=list)
    networks: list[LiveNetwork] = field(default_factory=list)
    pools: list[tuple[str, bool, bool, str]] = field(default_factory=list)  # name, active, autostart, xml
    capabilities: str = ""
    domcapabilities: dict[str, str] = field(default_factory=dict)  # "emulator|arch|machine|virttype" -> xml
    domcapabilities_errors: dict[str, str] = field(default_factory=dict)
    nodedevs: list[tuple[str, str]] = field(default_factory=list)  # name, xml
    errors: list[tuple[str, str]] = field(default_factory=list)  # what, libvirt's message


STATES = {0: "no state", 1: "running", 2: "blocked", 3: "paused", 4: "shutting down", 5: "shut off",
          6: "crashed", 7: "suspended"}


def _version(number: int) -> str:
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


def default_uri(libvirt_conf: dict[str, Any] | None) -> str:
    """--connect wins; then LIBVIRT_DEFAULT_URI; then uri_default in libvirt.conf; then qemu:///system."""
    if os.environ.get("LIBVIRT_DEFAULT_URI"):
        return os.environ["LIBVIRT_DEFAULT_URI"]
    if libvirt_conf and libvirt_conf.get("uri_default"):
        return str(libvirt_conf["uri_default"])
    return "qemu:///system"


def _silence(libvirt: Any) -> None:
    """libvirt prints every error to stderr by default; virtdiag reports them itself."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


Progress = Callable[[Any, str], None]  # (what is known so far or None, what is asked next)


def _collect(libvirt: Any, uri: str, state: LiveState, progress: Progress) -> None:
    """Ask the daemon, telling `progress` after each answer (with the state between steps): a slow answer is
    not a hung daemon, and what was answered is kept when a later request does not come back."""
    conn = libvirt.openReadOnly(uri)
    try:
        state.libvirt_version = _version(conn.getLibVersion())
        progress(state, "the hypervisor version")
        try:
            state.hypervisor = f"{conn.getType()} {_version(conn.getVersion())}"
        except libvirt.libvirtError as exc:
            state.errors.append(("hypervisor version", str(exc)))
        progress(state, "the host name")
        state.hostname = _call(libvirt, state, "hostname", conn.getHostname) or ""
        progress(state, "capabilities")
        state.capabilities = _call(libvirt, state, "capabilities", conn.getCapabilities) or ""
        progress(state, "the guests")
        for dom in _call(libvirt, state, "domains", conn.listAllDomains) or []:
            progress(None, "the guests")
            try:
                code = dom.state()[0]
                active = bool(dom.isActive())
                inactive_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
                live_xml = dom.XMLDesc(0) if active else ""
                state.domains.append(LiveDomain(dom.name(), STATES.get(code, str(code)), active,
                                                bool(dom.isPersistent()), bool(dom.autostart()),
                                                inactive_xml, live_xml))
            except libvirt.libvirtError as exc:
                state.errors.append((f"domain {dom.name()}", str(exc)))
        progress(state, "the networks")
        for net in _call(libvirt, state, "networks", conn.listAllNetworks) or []:
            progress(None, "the networks")
            try:
                bridge = ""
                with contextlib.suppress(libvirt.libvirtError):
                    bridge = net.bridgeName()
                state.networks.append(LiveNetwork(net.name(), bool(net.isActive()), bool(net.autostart()),
                                                  net.XMLDesc(0), bridge))
            except libvirt.libvirtError as exc:
                state.errors.append((f"network {net.name()}", str(exc)))
        progress(state, "the storage pools")
        for pool in _call(libvirt, state, "storage pools", conn.listAllStoragePools) or []:
            progress(None, "the storage pools")
            try:
                state.pools.append((pool.name(), bool(pool.isActive()), bool(pool.autostart()), pool.XMLDesc(0)))
            except libvirt.libvirtError as exc:
                state.errors.append((f"pool {pool.name()}", str(exc)))
        progress(state, "the node devices")
        for dev in _call(libvirt, state, "node devices", lambda: conn.listAllDevices(0)) or []:
            progress(None, "the node devices")
            try:
                state.nodedevs.append((dev.name(), dev.XMLDesc(0)))
            except libvirt.libvirtError as exc:
                state.errors.append((f"node device {dev.name()}", str(exc)))
    finally:
        conn.close()


def _call(libvirt: Any, state: LiveState, what: str, func: Any) -> Any:
    try:
        return func()
    except libvirt.libvirtError as exc:
        state.errors.append((what, str(exc)))
        return None


def domcapabilities(uri: str, wanted: list[tuple[str, str, str, str]], timeout: float = DEFAULT_TIMEOUT
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """domcapabilities for each (emulator, arch, machine, virttype) a guest uses; errors kept per key."""

    def work(progress: Progress) -> tuple[dict[str, str], dict[str, str]]:
        import libvirt

        _silence(libvirt)
        found: dict[str, str] = {}
        errors: dict[str, str] = {}
        conn = libvirt.openReadOnly(uri)
        try:
            for key in wanted:
                emulator, arch, machine, virttype = key
                progress((found, errors), "|".join(key))
                try:
                    found["|".join(key)] = conn.getDomainCapabilities(emulator or None, arch or None,
                                                                     machine or None, virttype or None, 0)
                except libvirt.libvirtError as exc:
                    errors["|".join(key)] = str(exc)
        finally:
            conn.close()
        return found, errors

    def unanswered(partial: tuple[dict[str, str], dict[str, str]], key: str, message: str
                   ) -> tuple[dict[str, str], dict[str, str]]:
        partial[1][key] = message
        return partial

    return _run_with_timeout(work, timeout, uri, unanswered)


T = TypeVar("T")


def _run_with_timeout(work: Callable[[Progress], T], timeout: float, uri: str,
                      unanswered: Callable[[T, str, str], T]) -> T:
    """work(progress) in a child process that leads a session and process group of its own, and its result.
    `timeout` is for each answer, not for all of them: a daemon that answers nothing within it is hung (an
    error); one that answered, then does not answer a request within it, gives what it answered so far, with
    `unanswered(partial, request, message)` noting the request (libvirt re-probing every QEMU binary for
    `capabilities` takes seconds per binary: slow, not hung).
    libvirt starts what a connection needs (ssh for qemu+ssh, nc...) in the child's group, so when the time is
    up the whole group is killed, none of it left behind; the group is killed when the answer has come too
    (what libvirt left running), and it kills itself if this process dies (_watch_parent). Without a terminal,
    an ssh that wants a password or a host key confirmed fails at once, with its reason, instead of waiting."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(work, send, receive), name="virtdiag-libvirt", daemon=True)
    child.start()
    send.close()
    assert child.pid is not None
    partial: Any = None
    asking = ""
    try:
        while True:
            if not receive.poll(timeout):
                if partial is None:
                    raise LiveUnavailable(f"the libvirt daemon at {uri} did not answer within {timeout:.0f} s "
                                          "(hung?)")
                return unanswered(cast(T, partial), asking, f"the libvirt daemon at {uri} answered, then did not "
                                  f"answer for {asking} within {timeout:.0f} s (--timeout)")
            try:
                kind, value, *step = receive.recv()
            except (EOFError, OSError) as exc:
                raise LiveUnavailable(f"the libvirt connection to {uri} ended without an answer") from exc
            if kind != "progress":
                break
            partial = value if value is not None else partial
            asking = step[0] if step else asking
    finally:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        child.kill()  # in case it had not made its group yet
        child.join()
        receive.close()
    if kind == "libvirt":
        raise LiveUnavailable(value)
    if kind == "error":
        raise RuntimeError(value)
    return cast(T, value)


def _child(work: Callable[[Progress], object], send: Connection, parents_end: Connection) -> None:
    """The child: its own session and process group, work(), the outcome sent back ("ok", result), ("libvirt",
    libvirt's message) or ("error", what failed); then out without running anything of the parent's. Before
    each request work() sends ("progress", what it knows so far or None, the request)."""
    with contextlib.suppress(OSError):
        os.setsid()
    parents_end.close()  # only the parent holds the read end: it closes when the parent dies
    threading.Thread(target=_watch_parent, args=(send.fileno(),), daemon=True).start()

    def progress(known: object, asking: str) -> None:
        send.send(("progress", known, asking))

    try:
        outcome: tuple[str, object] = ("ok", work(progress))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent
        kind = "libvirt" if type(exc).__name__ == "libvirtError" else "error"
        outcome = (kind, str(exc) if kind == "libvirt" else f"{type(exc).__name__}: {exc}")
    with contextlib.suppress(BaseException):
        send.send(outcome)
    os._exit(0)


def _watch_parent(fd: int) -> None:
    """In the child: once the parent is gone (the read end of the result pipe closed: POLLERR on the write
    end), kill the child's whole group, ssh included; libvirt's calls let this thread run meanwhile."""
    poller = select.poll()
    poller.register(fd, 0)  # errors and hang-ups are always reported
    poller.poll()
    os.killpg(0, signal.SIGKILL)


def gather(uri: str, timeout: float = DEFAULT_TIMEOUT) -> LiveState:
    """Everything the daemon knows that the checks use. Raises LiveUnavailable with the reason."""
    try:
        import libvirt
    except ImportError as exc:
        raise LiveUnavailable("libvirt-python is not installed (pip install libvirt-python)") from exc
    # a read-only diagnosis never starts a daemon: without this, a qemu:///session URI (LIBVIRT_DEFAULT_URI on
    # many desktops) would spawn a session daemon that creates its own files under $HOME
    os.environ.setdefault("LIBVIRT_AUTOSTART", "0")

    def work(progress: Progress) -> LiveState:
        _silence(libvirt)
        state = LiveState(uri)
        _collect(libvirt, uri, state, progress)
        return state

    def unanswered(partial: LiveState, asking: str, message: str) -> LiveState:
        partial.errors.append((asking, message))
        return partial

    return _run_with_timeout(work, timeout, uri, unanswered)


def merge_into(state: HostState, live: LiveState) -> None:
    """The daemon's view replaces the files' view of guests and networks (it is what libvirt uses)."""
    by_name = {d.name: d for d in live.domains}
    state.domains = [d for d in state.domains if _doc_name(d) not in by_name]
    state.live_domains = []
    for dom in live.domains:
        state.domains.append(parse(dom.inactive_xml, "libvirt-api", f"virsh dumpxml --inactive {dom.name}"))
        if dom.live_xml:
            state.live_domains.append(parse(dom.live_xml, "libvirt-api", f"virsh dumpxml {dom.name}"))
    nets = {n.name for n in live.networks}
    state.networks = [n for n in state.networks if _doc_name(n) not in nets]
    state.networks.extend(parse(n.xml, "libvirt-api", f"virsh net-dumpxml {n.name}") for n in live.networks)
    live.errors.extend((doc.path, doc.error) for doc in (*state.domains, *state.live_domains, *state.networks)
                       if doc.source == "libvirt-api" and doc.too_large)  # under skipped: too large, not read
    state.defined_networks = {n.name for n in live.networks}
    state.active_networks = {n.name for n in live.networks if n.active}
    state.autostart_networks = {n.name for n in live.networks if n.autostart}
    if live.libvirt_version:
        state.libvirt_version = live.libvirt_version
    if live.hostname and not state.hostname:
        state.hostname = live.hostname
    capabilities = parse_capabilities(live.capabilities) if live.capabilities else None
    if capabilities is not None:
        state.capabilities = ("virsh capabilities (libvirt API)", capabilities)


def _doc_name(doc: Any) -> str:
    return str(getattr(doc, "name", ""))


def guest_domcaps(uri: str, state: HostState, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Ask domcapabilities for each guest's emulator/arch/machine/virt type (pre-flight checks)."""
    wanted: dict[str, tuple[str, str, str, str]] = {}
    for doc in state.domains:
        root = getattr(doc, "root", None)
        if root is None or root.tag != "domain":
            continue
        os_type = root.find("os/type")
        key = (root.findtext("devices/emulator") or "", os_type.get("arch", "") if os_type is not None else "",
               os_type.get("machine", "") if os_type is not None else "", root.get("type", ""))
        wanted[_doc_name(doc)] = key
    found, errors = domcapabilities(uri, sorted(set(wanted.values())), timeout)
    for guest, key in wanted.items():
        joined = "|".join(key)
        if joined in found:
            state.domcaps[guest] = found[joined]
        elif joined in errors:
            state.domcaps_errors[guest] = errors[joined]
