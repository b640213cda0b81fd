"""Collect stage: read and parse every non-log source of a host into a HostState for the checks."""

from __future__ import annotations

import os

from diagnose import parsers, virsh
from diagnose.host.base import Host, Unreadable
from diagnose.host.layout import CONF_SOURCES, SOURCE_BY_NAME
from diagnose.state import HostState
from diagnose.xmlchecks import parse


def _read_all(host: Host, source: str, whole: bool = False) -> list[tuple[str, str]]:
    """Every file of a source; with `whole`, one over the read limit is skipped, not cut (cut XML is malformed)."""
    found = []
    for path in host.find(source):
        try:
            found.append((path, host.read_text(path, whole=whole)))
        except Unreadable as exc:
            host.skipped.append((path, str(exc).split(": ", 1)[-1]))
    return found


def _first(host: Host, source: str) -> tuple[str, str] | None:
    texts = _read_all(host, source)
    return texts[0] if texts else None


def _stems(host: Host, source: str) -> set[str] | None:
    spec = SOURCE_BY_NAME[source]
    directories = {p.rpartition("/")[0] for p in spec.paths}
    if not any(host.is_dir(d) for d in directories):
        return None
    return {p.rsplit("/", 1)[-1].removesuffix(".xml") for p in host.find(source)}


def log_paths(host: Host, source: str) -> list[str]:
    """The files of a log source to scan. A sosreport holds the whole journal (journalctl_--no-pager) and
    parts of it (this boot, the last boot, --since, one unit): when the whole one is there, the parts are
    left out, so each message is read once."""
    paths = host.find(source)
    if source == "journal" and "sos_commands/logs/journalctl_--no-pager" in paths:
        paths = [p for p in paths if not (p.startswith("sos_commands/") and "/journalctl_" in p)
                 or p == "sos_commands/logs/journalctl_--no-pager"]
    return paths


def host_name(host: Host) -> tuple[str, str] | None:
    """The host's name and where it was read: /etc/hostname, a sosreport's `hostname` output, else
    HOSTNAME= in /etc/sysconfig/network (RHEL 6 and older have no /etc/hostname)."""
    for path in host.find("hostname"):
        text = host.read_optional(path)
        if text and text.strip():
            return text.split()[0], path
    for path in host.find("sysconfig-network"):
        text = host.read_optional(path)
        name = parsers.parse_ifcfg(text).get("HOSTNAME", "").strip() if text else ""
        if name:
            return name.split()[0], path
    return None


IFCFG_IGNORED = ("~", ".bak", ".old", ".orig", ".rpmnew", ".rpmorig", ".rpmsave")  # as the network scripts


def read_ifcfg(host: Host) -> dict[str, tuple[str, str]] | None:
    """RHEL network scripts: {device: (path, text)} of /etc/sysconfig/network-scripts/ifcfg-*, the device
    named by DEVICE= (else by the file name), backup copies skipped as the scripts skip them; None when the
    host has no network-scripts directory."""
    if not host.is_dir("/etc/sysconfig/network-scripts"):
        return None
    found: dict[str, tuple[str, str]] = {}
    for path, text in _read_all(host, "ifcfg"):
        name = path.rsplit("/", 1)[-1].removeprefix("ifcfg-")
        if not name.endswith(IFCFG_IGNORED):
            found.setdefault(parsers.parse_ifcfg(text).get("DEVICE") or name, (path, text))
    return found


MAX_DNSMASQ_FILES = 64


def read_dnsmasq(host: Host, command: str = "") -> list[tuple[str, int, str, str]] | None:
    """The system dnsmasq's settings as (path, line, option, value), in the order dnsmasq reads them: its
    main file (/etc/dnsmasq.conf, or the running command's --conf-file), each conf-file= and conf-dir= met
    on the way, then the directories given on the command line (Debian's CONFIG_DIR from
    /etc/default/dnsmasq, a running dnsmasq's -7). Everything is read through the host's root; at most
    MAX_DNSMASQ_FILES files. None when the main file cannot be read."""
    options = parsers.dnsmasq_command_options(command)
    debian = _first(host, "dnsmasq-default")
    default = parsers.parse_shell_vars(debian[1]).get("CONFIG_DIR", "") if debian else ""
    settings: list[tuple[str, int, str, str]] = []
    seen: set[str] = set()

    def read_file(path: str) -> bool:
        if path in seen or len(seen) >= MAX_DNSMASQ_FILES:
            return False
        seen.add(path)
        text = host.read_optional(path)
        if text is None:
            return False
        parsed = parsers.parse_dnsmasq_conf(text)
        for line, key, value in sorted((line, key, value) for key, found in parsed.items() for line, value in found):
            settings.append((path, line, key, value))
            if key == "conf-file" and value:
                read_file(value)
            elif key == "conf-dir" and value:
                read_dir(value)
        return True

    def read_dir(value: str) -> None:
        directory, names = parsers.dnsmasq_conf_dir_files(value, host.listdir(value.split(",", 1)[0].strip() or "/"))
        for name in names:
            read_file(f"{directory.rstrip('/')}/{name}")

    if not read_file((options.get("conf-file") or ["/etc/dnsmasq.conf"])[-1] or "/etc/dnsmasq.conf"):
        return None
    for value in ([default] if default else []) + options.get("conf-dir", []):
        read_dir(value)
    return settings


def gather(host: Host) -> HostState:
    """Read and parse every non-log source into a HostState for the checks."""

    state = HostState()
    for source in CONF_SOURCES:
        found = _first(host, source)
        if found:
            state.confs[source] = found
    for source, target in (("domain-xml", state.domains), ("domain-xml-live", state.live_domains),
                           ("network-xml", state.networks)):
        for path, text in _read_all(host, source, whole=True):
            target.append(parse(text, source, path))
    state.active_networks = _stems(host, "network-xml-live")
    if state.active_networks is None and host.is_live:
        state.active_networks = set()
    net_list = _first(host, "virsh-net-list")  # sosreports hold no /run, but virsh net-list output
    rows = virsh.parse_virsh_list(net_list[1]) if net_list else None
    if state.active_networks is None and rows is not None:
        state.active_networks = {name for name, net_state, _ in rows if net_state == "active"}
    networks_dir = SOURCE_BY_NAME["network-xml"].paths[0].rpartition("/")[0]
    if host.is_live or host.is_dir(networks_dir) or rows is not None:  # an insights archive has neither
        state.defined_networks = {doc.name for doc in state.networks} | {name for name, _, _ in rows or ()}
    if state.networks:
        state.autostart_networks = _stems(host, "network-autostart") or set()
    cpuinfo = _first(host, "cpuinfo")
    state.cpu_flags = parsers.parse_cpuinfo_flags(cpuinfo[1]) if cpuinfo else None
    modules = _first(host, "modules")
    state.modules = parsers.parse_modules(modules[1]) if modules else None
    state.cmdline = _first(host, "cmdline")
    state.hosts = _first(host, "hosts")
    named = host_name(host)
    state.hostname = named[0] if named else None
    state.ifcfg = read_ifcfg(host)
    state.dnsmasq = read_dnsmasq(host)
    for path, text in _read_all(host, "virsh-dominfo"):
        info = virsh.parse_virsh_dominfo(text)
        if info:
            state.dominfo[info["Name"]] = (path, info)
    capabilities = _first(host, "virsh-capabilities")
    parsed_caps = virsh.parse_capabilities(capabilities[1]) if capabilities else None
    state.capabilities = (capabilities[0], parsed_caps) if capabilities and parsed_caps else None
    groups = _first(host, "group")
    state.groups = parsers.parse_group(groups[1]) if groups else None
    state.virsh_list = _first(host, "virsh-list")
    state.environment = _read_all(host, "environment")
    for path in host.find("managed-save"):
        st = host.stat(path)
        state.managed_saves.append((path, st.st_size if st else 0))
    if host.is_dir("/sys/kernel/iommu_groups") and any(
            d.root is not None and d.root.find("devices/hostdev") is not None for d in state.domains):
        state.iommu_groups = {group: host.listdir(f"/sys/kernel/iommu_groups/{group}/devices")
                              for group in host.listdir("/sys/kernel/iommu_groups") if group.isdigit()}
    if host.is_live:
        state.user = os.environ.get("SUDO_USER") or os.environ.get("USER", "")
    for path, text in _read_all(host, "qemu-caps-cache"):
        caps = virsh.parse_qemu_caps(text)
        if caps is not None:
            state.qemu_caps.append((path, caps))
    state.firmware = read_firmware(host)
    return state


def read_firmware(host: Host) -> list[virsh.Firmware] | None:
    """The QEMU firmware descriptors libvirt chooses UEFI firmware from; None when a copy of a host does not
    show them (no /usr/share/qemu in it), [] when there are none (no UEFI firmware installed)."""
    found = [fw for path, text in _read_all(host, "firmware-descriptors")
             if (fw := virsh.parse_firmware(path, text)) is not None]
    if not found and not host.is_live and not host.is_dir("/usr/share/qemu"):
        return None
    return found
