"""Match stage for a host (pure): collected configuration and definitions -> Hits.

Each check reads the HostState that sources.gather() built and asks for facts only through `ask`
(the engine runs the probe), so checks never touch the host themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from diagnose import parsers
from diagnose.model import Evidence, Fact, Hit
from diagnose.xmlchecks import XmlDoc

Ask = Callable[[str, dict[str, str]], Fact]


@dataclass
class HostState:
    """What collection found on the host, parsed; None means the source could not be read."""

    domains: list[XmlDoc] = field(default_factory=list)
    live_domains: list[XmlDoc] = field(default_factory=list)
    networks: list[XmlDoc] = field(default_factory=list)
    active_networks: set[str] | None = None
    autostart_networks: set[str] | None = None
    confs: dict[str, tuple[str, str]] = field(default_factory=dict)  # source -> (path, text)
    cpu_flags: set[str] | None = None
    modules: set[str] | None = None
    cmdline: tuple[str, str] | None = None  # (path, text)
    hosts: tuple[str, str] | None = None
    hostname: str | None = None
    ifcfg: dict[str, tuple[str, str]] | None = None  # device -> (path, text) of RHEL network scripts
    dnsmasq: list[tuple[str, int, str, str]] | None = None  # system dnsmasq: (path, line, option, value)
    dominfo: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # guest -> virsh dominfo
    capabilities: tuple[str, parsers.Capabilities] | None = None  # (path, virsh capabilities)
    groups: dict[str, list[str]] | None = None
    virsh_list: tuple[str, str] | None = None
    environment: list[tuple[str, str]] = field(default_factory=list)  # (path, text)
    managed_saves: list[tuple[str, int]] = field(default_factory=list)  # (path, size)
    guest_log_lines: dict[str, list[str]] = field(default_factory=dict)  # guest -> interesting lines
    migration_seen: bool = False
    user: str = ""
    domcaps: dict[str, str] = field(default_factory=dict)  # guest -> domcapabilities XML (live daemon)
    domcaps_errors: dict[str, str] = field(default_factory=dict)  # guest -> libvirt's error for it
    iommu_groups: dict[str, list[str]] | None = None  # IOMMU group -> its PCI devices (when a guest assigns one)
    checksum_warnings: list[tuple[str, Evidence]] = field(default_factory=list)  # B.10 log lines: (network, line)
    dhcp_replies: list[tuple[str, str, Evidence]] = field(default_factory=list)  # dnsmasq: (OFFER|ACK, mac, line)


def _hit(sig_id: str, captures: dict[str, str], evidence: list[Evidence], confidence: float = 0.85) -> Hit:
    return Hit(sig_id, tuple(sorted((k, v) for k, v in captures.items() if v)), tuple(evidence), confidence)


def _conf(state: HostState, source: str) -> tuple[str, str, dict[str, str | int | list[str]]] | None:
    if source not in state.confs:
        return None
    path, text = state.confs[source]
    return path, text, parsers.parse_libvirt_conf(text)


def _conf_evidence(state: HostState, source: str, key: str, fallback: str) -> Evidence:
    path, text = state.confs[source]
    line, shown = parsers.conf_line(text, key)
    return Evidence(source, line, shown or fallback, path)


def _xml_ev(doc: XmlDoc, node: object, text: str) -> Evidence:
    return Evidence(doc.source, getattr(node, "sourceline", 0) or 0, text, doc.path)


def _name(doc: XmlDoc) -> str:
    return (doc.root.findtext("name") or "").strip() if doc.root is not None else ""  # type: ignore[attr-defined]


def _defined(state: HostState) -> list[XmlDoc]:
    return [d for d in state.domains if d.root is not None and getattr(d.root, "tag", "") == "domain"]


# --- daemon and connection (B.1, B.2.2, B.15, B.16) ----------------------------------------------


def listen_tls_without_ca(state: HostState, ask: Ask) -> list[Hit]:
    """B.1: libvirtd started with --listen, listen_tls on (the default), and no CA certificate."""
    conf = _conf(state, "libvirtd-conf")
    if conf is None:
        return []
    path, _, values = conf
    if values.get("listen_tls", 1) in (0, "0"):
        return []
    listen = ask("libvirtd_listen_flag", {})
    ca = ask("ca_cert_exists", {})
    if listen.value is not True or ca.value is not False:
        return []
    ca_file = str(values.get("ca_file", "/etc/pki/CA/cacert.pem"))
    evidence = [_conf_evidence(state, "libvirtd-conf", "listen_tls", "listen_tls not set: TLS listening is on"),
                Evidence("probe:libvirtd_listen_flag", 0, listen.detail),
                Evidence("probe:ca_cert_exists", 0, ca.detail)]
    return [_hit("libvirtd-listen-no-ca-cert", {"path": ca_file}, evidence)]


def listen_tcp_without_listen(state: HostState, ask: Ask) -> list[Hit]:
    """B.16: listen_tcp = 1 in libvirtd.conf, but libvirtd is not started with --listen."""
    conf = _conf(state, "libvirtd-conf")
    if conf is None or conf[2].get("listen_tcp", 0) in (0, "0"):
        return []
    listen = ask("libvirtd_listen_flag", {})
    if listen.value is not False:
        return []
    evidence = [_conf_evidence(state, "libvirtd-conf", "listen_tcp", "listen_tcp = 1"),
                Evidence("probe:libvirtd_listen_flag", 0, listen.detail)]
    return [_hit("tcp-connection-refused", {"port": str(conf[2].get("tcp_port", "16509"))}, evidence, 0.8)]


def socket_group_missing(state: HostState, ask: Ask) -> list[Hit]:
    """B.2.2: unix_sock_group names a group the host does not have, or one the user is not in."""
    hits = []
    for source in ("libvirtd-conf", "virtqemud-conf"):
        conf = _conf(state, source)
        if conf is None or not conf[2].get("unix_sock_group") or state.groups is None:
            continue
        group = str(conf[2]["unix_sock_group"])
        perms = str(conf[2].get("unix_sock_rw_perms", "0770"))
        evidence = [_conf_evidence(state, source, "unix_sock_group", f"unix_sock_group = {group}")]
        if group not in state.groups:
            evidence.append(Evidence("group", 0, f"/etc/group has no group {group!r}"))
            hits.append(_hit("socket-permission-denied", {"group": group, "perms": perms}, evidence))
        elif state.user and state.user != "root" and state.user not in state.groups[group] and perms.endswith("0"):
            evidence.append(Evidence("group", 0, f"user {state.user} is not a member of {group}"))
            hits.append(_hit("socket-permission-denied", {"group": group, "user": state.user, "perms": perms},
                             evidence))
    return hits


URI_RE = re.compile(r"""^\s*(?:export\s+)?LIBVIRT_DEFAULT_URI=["']?([^"'\s]+)""", re.M)


def default_uri_elsewhere(state: HostState, ask: Ask) -> list[Hit]:
    """B.15: the default URI points away from qemu:///system (uri_default, LIBVIRT_DEFAULT_URI)."""
    hits = []
    conf = _conf(state, "libvirt-conf")
    if conf is not None and conf[2].get("uri_default"):
        uri = str(conf[2]["uri_default"])
        if not uri.startswith("qemu") or uri.startswith("qemu:///session"):
            ev = _conf_evidence(state, "libvirt-conf", "uri_default", f"uri_default = {uri}")
            hits.append(_hit("no-guests-listed", {"uri": uri}, [ev], 0.75))
    for path, text in state.environment:
        for m in URI_RE.finditer(text):
            uri = m.group(1)
            if not uri.startswith("qemu") or uri.startswith("qemu:///session"):
                line = text.count("\n", 0, m.start()) + 1
                hits.append(_hit("no-guests-listed", {"uri": uri}, [Evidence("environment", line, m.group(0), path)],
                                 0.75))
    if state.virsh_list is not None and _defined(state):
        path, text = state.virsh_list
        rows = parsers.parse_virsh_list(text)
        if rows == []:
            names = ", ".join(sorted(_name(d) for d in _defined(state)))
            evidence = [Evidence("virsh-list", 1, "virsh list --all shows no guests", path),
                        Evidence("domain-xml", 0, f"defined in /etc/libvirt/qemu: {names}")]
            hits.append(_hit("no-guests-listed", {}, evidence, 0.8))
    return hits


def kvm_not_usable(state: HostState, ask: Ask) -> list[Hit]:
    """B.15 and beyond: no vmx/svm in the CPU flags, or kvm modules not loaded, with kvm guests defined."""
    kvm_guests = [d for d in _defined(state) if d.root.get("type") == "kvm"]  # type: ignore[union-attr]
    evidence = []
    if state.cpu_flags is not None and not state.cpu_flags & {"vmx", "svm"}:
        evidence.append(Evidence("cpuinfo", 0, "no vmx or svm flag in /proc/cpuinfo", "/proc/cpuinfo"))
    elif state.modules is not None and not state.modules & {"kvm_intel", "kvm_amd"}:
        evidence.append(Evidence("modules", 0, "neither kvm_intel nor kvm_amd is loaded", "/proc/modules"))
    if state.capabilities is not None and any(g.os_type == "hvm" for g in state.capabilities[1].guests):
        path, caps = state.capabilities
        if "kvm" not in caps.domain_types():  # libvirt offers kvm only when it can open /dev/kvm
            kinds = ", ".join(sorted(caps.domain_types())) or "none"
            evidence.append(Evidence("virsh-capabilities", 0, f"virsh capabilities offers guest domain types {kinds}, "
                                     "no kvm", path))
    if not evidence:
        return []
    guest = _name(kvm_guests[0]) if kvm_guests else ""
    if kvm_guests:
        names = ", ".join(_name(d) for d in kvm_guests[:5])
        evidence.append(Evidence("domain-xml", 0, f"guests with <domain type='kvm'>: {names}"))
    return [_hit("kvm-unavailable", {"guest": guest}, evidence, 0.85 if kvm_guests else 0.7)]


# --- guests (B.3, B.4, B.5, B.6, B.17, chapter 4) ------------------------------------------------

FEATURE_ALIASES = {"pni": "pni", "sse3": "pni", "tsc-deadline": "tsc_deadline_timer", "lahf_lm": "lahf_lm",
                   "cmp_legacy": "cmp_legacy", "nodeid_msr": "nodeid_msr", "svm": "svm", "vmx": "vmx"}
NOT_IN_CPUINFO = {"hypervisor", "x2apic", "tsc_adjust", "arch-capabilities", "invtsc", "kvmclock", "md-clear",
                  "ssbd", "amd-ssbd", "virt-ssbd", "amd-no-ssb", "rdctl-no", "ibrs-all", "skip-l1dfl-vmentry",
                  "mds-no", "pschange-mc-no", "tsx-ctrl", "stibp", "ibpb", "spec-ctrl", "vmx-*"}


def guest_cpu_features(state: HostState, ask: Ask) -> list[Hit]:
    """B.3: a guest requires CPU features the host does not have (nx is the guide's example)."""
    if not state.cpu_flags:
        return []
    hits = []
    for doc in _defined(state):
        missing = []
        nodes = []
        for feature in doc.root.iterfind("cpu/feature"):  # type: ignore[union-attr]
            if feature.get("policy", "require") not in ("require", "force"):
                continue
            name = feature.get("name", "")
            flag = FEATURE_ALIASES.get(name, name.replace("-", "_").replace(".", "_"))
            if name in NOT_IN_CPUINFO or name.startswith("vmx-") or flag in state.cpu_flags:
                continue
            missing.append(name)
            nodes.append(feature)
        if missing:
            evidence = [_xml_ev(doc, n, f"<feature policy='{n.get('policy', 'require')}' name='{n.get('name')}'/>")
                        for n in nodes[:3]]
            evidence.append(Evidence("cpuinfo", 0, f"/proc/cpuinfo flags lack: {', '.join(missing)}", "/proc/cpuinfo"))
            hits.append(_hit("cpu-incompatible", {"guest": _name(doc), "features": ", ".join(missing)}, evidence))
    return hits


def no_serial_console(state: HostState, ask: Ask) -> list[Hit]:
    """B.5: a guest with neither <serial> nor <console>: `virsh console` cannot attach."""
    hits = []
    for doc in _defined(state):
        devices = doc.root.find("devices")  # type: ignore[union-attr]
        if devices is None or devices.find("serial") is not None or devices.find("console") is not None:
            continue
        evidence = [_xml_ev(doc, devices, f"<devices> of {_name(doc)} has no <serial> or <console>")]
        hits.append(_hit("no-serial-console", {"guest": _name(doc)}, evidence, 0.7))
    return hits


def xml_on_disk(state: HostState, ask: Ask) -> list[Hit]:
    """B.17: malformed guest or network XML on disk, parts libvirt will drop, cdrom block without source."""
    from diagnose.xmlchecks import cdrom_block_no_source, xml_syntax, xml_unknown_elements

    hits: list[Hit] = []
    for doc in (*state.domains, *state.networks):
        hits.extend(xml_syntax(doc))
        hits.extend(xml_unknown_elements(doc))
        hits.extend(cdrom_block_no_source(doc))
    return hits


BOOT_FAIL_RE = re.compile(r"No bootable device|No boot device|Boot failed: not a bootable disk")
MIGRATION_RE = re.compile(r"igrat")  # migrate, migrating, Migration: a migration happened on this host
DHCP_REPLY_RE = re.compile(  # dnsmasq's replies, for B.8's "offered again and again, never taken"
    r"dnsmasq-dhcp\[\d+\]: (?P<kind>DHCPOFFER|DHCPACK)\(\S+\) \S+ (?P<mac>(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})")


def ide_disk_not_booting(state: HostState, ask: Ask) -> list[Hit]:
    """B.6: an imported disk on IDE/SATA whose guest log shows it finds no boot device."""
    from diagnose.xmlchecks import ide_bus_on_virtio_image

    hits = []
    for doc in _defined(state):
        boot_lines = [line for line in state.guest_log_lines.get(_name(doc), []) if BOOT_FAIL_RE.search(line)]
        if not boot_lines:
            continue
        for hit in ide_bus_on_virtio_image(doc):
            evidence = (*hit.evidence, Evidence("qemu-guest-log", 0, boot_lines[-1]))
            hits.append(Hit(hit.signature_id, hit.captures, evidence, 0.8))
    return hits


def guest_limits(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 4: more than 240 vCPUs, more than 4 IDE devices."""
    hits = []
    for doc in _defined(state):
        vcpu = doc.root.find("vcpu")  # type: ignore[union-attr]
        if vcpu is not None and (vcpu.text or "").strip().isdigit() and int(vcpu.text) > 240:
            hits.append(_hit("vcpu-limit-exceeded", {"guest": _name(doc), "vcpus": vcpu.text.strip()},
                             [_xml_ev(doc, vcpu, f"<vcpu>{vcpu.text.strip()}</vcpu> (KVM limit: 240)")]))
        ide = [t for t in doc.root.iterfind("devices/disk/target") if t.get("bus") == "ide"]  # type: ignore[union-attr]
        if len(ide) > 4:
            hits.append(_hit("ide-device-limit", {"guest": _name(doc), "count": str(len(ide))},
                             [_xml_ev(doc, ide[4], f"{len(ide)} IDE disks; an IDE bus holds 4 devices")]))
    return hits


def managed_save_stale(state: HostState, ask: Ask) -> list[Hit]:
    """B.4: a managed-save image that is empty or belongs to no defined guest."""
    names = {_name(d) for d in _defined(state)}
    hits = []
    for path, size in state.managed_saves:
        guest = path.rsplit("/", 1)[-1].removesuffix(".save")
        if size == 0:
            hits.append(_hit("managedsave-corrupt", {"guest": guest, "path": path},
                             [Evidence("managed-save", 0, f"{path} is empty (0 bytes)", path)]))
        elif state.domains and guest not in names:
            hits.append(_hit("managedsave-corrupt", {"guest": guest, "path": path},
                             [Evidence("managed-save", 0, f"{path} belongs to no defined guest", path)], 0.6))
    return hits


# --- storage and migration (B.13, B.14) ----------------------------------------------------------


def _disks(doc: XmlDoc) -> list[tuple[object, str, str]]:
    found = []
    for disk in doc.root.iterfind("devices/disk"):  # type: ignore[union-attr]
        source = disk.find("source")
        if source is None or disk.get("device") in ("cdrom", "floppy") and disk.get("type") == "block":
            continue
        path = source.get("file") or source.get("dev") or ""
        if path:
            driver = disk.find("driver")
            found.append((disk, path, driver.get("cache", "") if driver is not None else ""))
    return found


def disk_images(state: HostState, ask: Ask) -> list[Hit]:
    """B.14 and beyond: a guest's disk image that does not exist; images off shared storage when migrating."""
    hits = []
    for doc in _defined(state):
        boot_files = [(node, (node.text or "").strip(), f"<{node.tag}>{(node.text or '').strip()}</{node.tag}>")
                      for node in doc.root.iterfind("os/*") if node.tag in ("kernel", "initrd")]  # type: ignore
        disks = [(disk, path, f"<source file='{path}'/>") for disk, path, _ in _disks(doc)
                 if disk.get("device") != "cdrom"]  # type: ignore[attr-defined]
        for node, path, shown in (*disks, *boot_files):
            exists = ask("path_exists", {"path": path})
            if exists.value is False:
                hits.append(_hit("disk-image-missing", {"guest": _name(doc), "path": path},
                                 [_xml_ev(doc, node, shown), Evidence("probe:path_exists", 0, exists.detail)]))
            elif exists.value:
                reachable = ask("path_traversable_by_qemu", {"path": path})
                if reachable.value is False:  # B.4: qemu (not root) cannot get to the file
                    hits.append(_hit("image-permission-denied", {"guest": _name(doc), "path": path},
                                     [_xml_ev(doc, node, shown),
                                      Evidence("probe:path_traversable_by_qemu", 0, reachable.detail)]))
        for disk, path, cache in _disks(doc):
            exists = ask("path_exists", {"path": path})
            if state.migration_seen and exists.value and cache not in ("none", "directsync"):
                shared = ask("path_on_shared_storage", {"path": path})
                why = f"cache='{cache or 'default'}'" + ("" if shared.value else f"; {shared.detail}")
                hits.append(_hit("migration-unsafe", {"guest": _name(doc), "path": path, "cache": cache or "default"},
                                 [_xml_ev(doc, disk, f"disk {path}: {why}")], 0.7))
    return hits


def hostname_loopback(state: HostState, ask: Ask) -> list[Hit]:
    """B.13: the host's own name maps to a loopback address, so a migration to this host is told to send its
    data to the source itself."""
    if state.hosts is None or not state.hostname:
        return []
    path, text = state.hosts
    short = state.hostname.split(".")[0]
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0].startswith("127.") and (
            state.hostname in fields[1:] or short in fields[1:]
        ):
            # with migration in the logs it is the cause of B.13's failure; else a latent warning
            sig_id = "migration-hostname-unresolvable" if state.migration_seen else "hostname-loopback"
            return [_hit(sig_id, {"host": state.hostname}, [Evidence("hosts", number, line.strip(), path)], 0.7)]
    return []


# --- networks (B.7, B.8, B.9, B.11, B.12) --------------------------------------------------------


def _interfaces(doc: XmlDoc) -> list[object]:
    return list(doc.root.iterfind("devices/interface"))  # type: ignore[union-attr]


def guest_networks(state: HostState, ask: Ask) -> list[Hit]:
    """B.7: a guest uses a libvirt network that is inactive or not autostarted (default first)."""
    defined = {_name(n): n for n in state.networks if n.root is not None}
    used: dict[str, tuple[XmlDoc, object]] = {}
    for doc in _defined(state):
        for iface in _interfaces(doc):
            source = iface.find("source")  # type: ignore[attr-defined]
            if iface.get("type") == "network" and source is not None and source.get("network"):  # type: ignore[attr-defined]
                used.setdefault(source.get("network"), (doc, iface))
    hits = []
    for network, (doc, iface) in sorted(used.items()):
        captures = {"network": network, "guest": _name(doc)}
        evidence = [_xml_ev(doc, iface, f"{_name(doc)}: <source network='{network}'/>")]
        dominfo = state.dominfo.get(_name(doc))
        if dominfo and dominfo[1].get("Autostart") == "enable":  # a sosreport: the guest starts with the host
            evidence.append(Evidence("virsh-dominfo", 0, f"{_name(doc)} is set to autostart (Autostart: enable)",
                                     dominfo[0]))
        if network not in defined:
            hits.append(_hit("network-not-started", captures,
                             [*evidence, Evidence("network-xml", 0, f"no network {network!r} is defined")], 0.8))
            continue
        inactive = state.active_networks is not None and network not in state.active_networks
        no_autostart = state.autostart_networks is not None and network not in state.autostart_networks
        net_doc = defined[network]
        if inactive:
            what = "is not active" + (" and is not set to autostart" if no_autostart else "")
            evidence.append(Evidence("network-xml", 1, f"network {network} {what}", net_doc.path))
            hits.append(_hit("network-not-started", captures, evidence, 0.85))
        elif no_autostart:
            evidence.append(Evidence("network-xml", 1, f"network {network} is active but not set to autostart",
                                     net_doc.path))
            hits.append(_hit("network-not-autostarted", captures, evidence, 0.8))
    return hits


def system_dnsmasq(state: HostState, ask: Ask) -> list[Hit]:
    """B.7: a system-wide dnsmasq without bind-interfaces takes the port libvirt's dnsmasq needs."""
    binds = ask("dnsmasq_bind_interfaces", {})
    if binds.value is not False:
        return []
    running = ask("system_dnsmasq_running", {})
    if running.value is not True:
        return []
    scope = [Evidence("dnsmasq-conf", line, f"{key}={value}", path) for path, line, key, value in state.dnsmasq or []
             if key in ("interface", "except-interface", "listen-address")]
    return [_hit("dnsmasq-start-failed", {"path": "/etc/dnsmasq.conf"},
                 [Evidence("dnsmasq-conf", 0, binds.detail, "/etc/dnsmasq.conf"), *scope[:2],
                  Evidence("probe:system_dnsmasq_running", 0, running.detail)], 0.8)]


def bridge_delay(state: HostState, ask: Ask) -> list[Hit]:
    """B.8: a libvirt network bridge with an STP forward delay: DHCP and PXE time out meanwhile."""
    hits = []
    for doc in state.networks:
        if doc.root is None:
            continue
        bridge = doc.root.find("bridge")  # type: ignore[attr-defined]
        if bridge is None:
            continue
        delay = bridge.get("delay", "0")
        if bridge.get("stp", "on") == "on" and delay.isdigit() and int(delay) > 0:
            hits.append(_hit("dhcp-bridge-forward-delay", {"network": _name(doc), "bridge": bridge.get("name", "")},
                             [_xml_ev(doc, bridge, f"<bridge name='{bridge.get('name')}' stp='on' delay='{delay}'/>")],
                             0.75))
    return hits + host_bridge_delay(state, ask)


def host_bridge_delay(state: HostState, ask: Ask) -> list[Hit]:
    """B.8 for a host bridge outside libvirt: a guest is attached to a bridge whose RHEL network script
    turns STP on, and whose forward delay (from ip -d or /sys, else the script's DELAY=) is not 0."""
    hits: list[Hit] = []
    seen: set[str] = set()
    for doc in _defined(state):
        for iface in _interfaces(doc):
            source = iface.find("source")  # type: ignore[attr-defined]
            is_bridge = iface.get("type") == "bridge" and source is not None  # type: ignore[attr-defined]
            bridge = source.get("bridge", "") if is_bridge else ""
            if not bridge or bridge in seen or bridge not in (state.ifcfg or {}):
                continue
            seen.add(bridge)
            path, text = state.ifcfg[bridge]  # type: ignore[index]
            values = parsers.parse_ifcfg(text)
            if values.get("TYPE", "").lower() != "bridge" or values.get("STP", "").lower() not in ("on", "yes"):
                continue
            delay = ask("bridge_forward_delay_zero", {"bridge": bridge})
            if delay.value is not False:
                continue
            evidence = [_xml_ev(doc, iface, f"{_name(doc)}: <source bridge='{bridge}'/>")]
            for key in ("STP", "DELAY"):
                line, shown = parsers.ifcfg_line(text, key)
                if line:
                    evidence.append(Evidence("ifcfg", line, shown, path))
            hits.append(_hit("dhcp-bridge-forward-delay", {"bridge": bridge, "guest": _name(doc)}, evidence, 0.75))
    return hits


CHECKSUM_WARN_RE = re.compile(r"Could not add rule to fixup DHCP response checksums on network "
                              r"'?([\w.-]+?)'?\.?(?=\s|$)"
                              r"|May need to update iptables package (?:&|and) kernel to support CHECKSUM rule")


def dhcp_checksum_vhost(state: HostState, ask: Ask) -> list[Hit]:
    """B.8: the guide's four conditions together: a virtio interface that uses vhost-net (no
    <driver name='qemu'/>), vhost-net loaded, DHCP from the host (the network's <dhcp>), and iptables
    older than 1.4.10 (no CHECKSUM target; on RHEL 6, whose 1.4.7 has it as a backport, libvirt's warning
    that the rule could not be added): DHCP replies reach the guest with bad checksums."""
    dhcp = {_name(n): (n, n.root.find("ip/dhcp")) for n in state.networks  # type: ignore[union-attr]
            if n.root is not None and n.root.find("ip/dhcp") is not None}  # type: ignore[attr-defined]
    candidates = []
    for doc in _defined(state):
        for iface in _interfaces(doc):
            source, model, driver = (iface.find(tag) for tag in ("source", "model", "driver"))  # type: ignore
            network = source.get("network") if iface.get("type") == "network" and source is not None else None
            if (network in dhcp and model is not None and model.get("type") == "virtio"
                    and (driver is None or driver.get("name") != "qemu")):
                candidates.append((doc, model, network))
    if not candidates:
        return []
    vhost = ask("vhost_net_loaded", {})
    if vhost.value is not True:
        return []
    iptables = ask("iptables_checksum_target", {})
    hits = []
    for doc, model, network in candidates:
        net_doc, dhcp_node = dhcp[network]
        warned = [ev for net, ev in state.checksum_warnings if net in (network, "")]
        stuck = _dhcp_offers_unanswered(state, model.getparent())
        if not (iptables.value is False or iptables.value is None and warned and stuck):
            continue  # the fourth condition: iptables without CHECKSUM, or (its version proving nothing, as on
            # RHEL 6) libvirt's warning that the rule failed and dnsmasq's offers to this guest never taken
        warned += stuck[-1:]
        evidence = [_xml_ev(doc, model, f"{_name(doc)}: <model type='virtio'/> on network {network}, "
                            "no <driver name='qemu'/> (vhost-net is used)"),
                    _xml_ev(net_doc, dhcp_node, f"network {network} gives addresses by DHCP from this host"),
                    *warned[:2]]  # the facts (vhost-net, iptables version) are shown with the finding
        captures = {"guest": _name(doc), "network": network}
        hits.append(Hit("dhcp-checksum-vhost", tuple(sorted(captures.items())), tuple(evidence),
                        0.9 if warned else 0.8, lines=frozenset((ev.path, ev.line) for ev in warned)))
    return hits


def _dhcp_offers_unanswered(state: HostState, interface: object) -> list[Evidence]:
    """dnsmasq's DHCPOFFERs to this interface's MAC address when it offered more than once and never
    acknowledged one: the guest does not take the replies (B.8's symptom); [] otherwise."""
    mac_node = interface.find("mac") if interface is not None else None  # type: ignore[attr-defined]
    mac = (mac_node.get("address") or "").lower() if mac_node is not None else ""
    offers = [ev for kind, address, ev in state.dhcp_replies if address == mac and kind == "DHCPOFFER"]
    acked = any(kind == "DHCPACK" and address == mac for kind, address, _ in state.dhcp_replies)
    return offers if mac and len(offers) > 1 and not acked else []


def firewalld_zone(state: HostState, ask: Ask) -> list[Hit]:
    """B.8 and beyond: firewalld runs with its nftables backend and has no 'libvirt' zone, so the bridge of
    a NAT, routed or isolated network falls in the default zone, which blocks the guests' DHCP, DNS and
    forwarding (libvirt 5.1 and later refuse to start the network)."""
    networks = []
    for doc in state.networks:
        if doc.root is None or getattr(doc.root, "tag", "") != "network":
            continue
        forward = doc.root.find("forward")  # type: ignore[attr-defined]
        mode = forward.get("mode", "nat") if forward is not None else "isolated"
        if mode in ("nat", "route", "isolated"):
            networks.append((doc, forward, mode))
    if not networks:
        return []
    running = ask("firewalld_running", {})
    if running.value is not True:
        return []
    nftables = ask("firewalld_nftables_backend", {})
    if nftables.value is not True:
        return []
    zone = ask("firewalld_libvirt_zone", {})
    if zone.value is not False:
        return []
    hits = []  # the facts (firewalld, its backend, the zone, libvirt's version) are shown with the finding
    for doc, forward, mode in networks:
        bridge = doc.root.find("bridge")  # type: ignore[union-attr]
        shown = f"<forward mode='{mode}'/>" if forward is not None else "no <forward> (isolated)"
        node = forward if forward is not None else doc.root
        hits.append(_hit("firewalld-libvirt-zone-missing",
                         {"network": _name(doc), "bridge": bridge.get("name", "") if bridge is not None else ""},
                         [_xml_ev(doc, node, f"network {_name(doc)}: {shown}: libvirt adds firewall rules")], 0.9))
    return hits


def interface_kinds(state: HostState, ask: Ask) -> list[Hit]:
    """B.9, B.11, B.12: direct (macvtap) interfaces, bridges that do not exist, ethernet interfaces."""
    hits = []
    qemu = _conf(state, "qemu-conf")
    for doc in _defined(state):
        for iface in _interfaces(doc):
            kind = iface.get("type")  # type: ignore[attr-defined]
            source = iface.find("source")  # type: ignore[attr-defined]
            guest = _name(doc)
            if kind == "direct" and source is not None:
                dev = source.get("dev", "")
                hits.append(_hit("macvtap-host-unreachable", {"guest": guest, "interface": dev},
                                 [_xml_ev(doc, iface, f"<interface type='direct'> on {dev} "
                                          f"mode={source.get('mode', 'vepa')}")], 0.6))
                if dev:
                    present = ask("interface_exists", {"interface": dev})
                    if present.value is False:
                        hits.append(_hit("macvtap-source-missing", {"guest": guest, "interface": dev},
                                         [_xml_ev(doc, iface, f"<source dev='{dev}'/>"),
                                          Evidence("probe:interface_exists", 0, present.detail)]))
            elif kind == "bridge" and source is not None and source.get("bridge"):
                bridge = source.get("bridge")
                if iface.find("virtualport") is not None:  # type: ignore[attr-defined]
                    continue
                fact = ask("bridge_exists", {"bridge": bridge})
                if fact.value is False:
                    hits.append(_hit("bridge-missing", {"guest": guest, "bridge": bridge},
                                     [_xml_ev(doc, iface, f"{guest}: <source bridge='{bridge}'/>"),
                                      Evidence("probe:bridge_exists", 0, fact.detail)], 0.9))
            elif kind == "ethernet":
                evidence = [_xml_ev(doc, iface, f"{guest}: <interface type='ethernet'>")]
                values = qemu[2] if qemu else {}
                acl = values.get("cgroup_device_acl")
                if isinstance(acl, list) and "/dev/net/tun" not in acl:
                    evidence.append(_conf_evidence(state, "qemu-conf", "cgroup_device_acl", "cgroup_device_acl"))
                    hits.append(_hit("tun-ethernet-interface", {"guest": guest}, evidence, 0.8))
                elif values.get("clear_emulator_capabilities", 1) not in (0, "0"):
                    evidence.append(Evidence("qemu-conf", 0, "clear_emulator_capabilities is not 0",
                                             qemu[0] if qemu else "/etc/libvirt/qemu.conf"))
                    hits.append(_hit("tun-ethernet-interface", {"guest": guest}, evidence, 0.6))
    return hits


# --- devices and time (chapters 12, 13, 14) -----------------------------------------------------


def hostdev_assignment(state: HostState, ask: Ask) -> list[Hit]:
    """Chapters 12-13: PCI hostdev without an IOMMU; one device (or VF) assigned to two guests."""
    owners: dict[str, list[XmlDoc]] = {}
    for doc in _defined(state):
        for address in _pci_addresses(doc):
            owners.setdefault(address, []).append(doc)
    if not owners:
        return []
    hits = []
    iommu = ask("iommu_enabled", {})
    if iommu.value is False:
        address, docs = next(iter(sorted(owners.items())))
        hits.append(_hit("iommu-unavailable", {"guest": _name(docs[0]), "device": address},
                         [Evidence(docs[0].source, 0, f"{_name(docs[0])} assigns PCI device {address}", docs[0].path),
                          Evidence("probe:iommu_enabled", 0, iommu.detail)]))
    for address, docs in sorted(owners.items()):
        names = sorted({_name(d) for d in docs})
        if len(names) > 1:
            hits.append(_hit("hostdev-in-use", {"device": address, "guest": names[0], "other": names[1]},
                             [Evidence(d.source, 0, f"{_name(d)} assigns {address}", d.path) for d in docs[:3]],
                             0.8))
    return hits


def constant_tsc(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 14: a host CPU without constant_tsc: guest clocks drift unless the frequency is fixed."""
    if not state.cpu_flags or "constant_tsc" in state.cpu_flags or not _defined(state):
        return []
    return [_hit("tsc-unstable", {}, [Evidence("cpuinfo", 0, "no constant_tsc flag in /proc/cpuinfo", "/proc/cpuinfo")],
                 0.6)]


# --- pre-flight from the live daemon's domcapabilities --------------------------------------------


def _domcaps(state: HostState, guest: str) -> object | None:
    from lxml import etree

    text = state.domcaps.get(guest)
    if not text:
        return None
    try:
        return etree.fromstring(text.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None


def preflight_domcaps(state: HostState, ask: Ask) -> list[Hit]:
    """Before `virsh start`: KVM, machine type, firmware and CPU model each guest needs, per domcapabilities."""
    hits = []
    for doc in _defined(state):
        guest = _name(doc)
        root = doc.root
        error = state.domcaps_errors.get(guest, "")
        os_type = root.find("os/type")  # type: ignore[union-attr]
        machine = os_type.get("machine", "") if os_type is not None else ""
        source = Evidence("libvirt-api", 0, f"virsh domcapabilities for {guest}: {error}" if error else "")
        if error and ("KVM" in error or "virt type 'kvm'" in error):
            evidence = [_xml_ev(doc, root, f"<domain type='kvm'> {guest}"), source]
            hits.append(_hit("kvm-unavailable", {"guest": guest}, evidence))
            continue
        if error and "machine" in error:
            hits.append(_hit("machine-type-unsupported", {"guest": guest, "machine": machine},
                             [_xml_ev(doc, os_type, f"<type machine='{machine}'>"), source]))
            continue
        caps = _domcaps(state, guest)
        if caps is None:
            continue
        os_node = root.find("os")  # type: ignore[union-attr]
        wants_efi = os_node is not None and (os_node.get("firmware") == "efi" or os_node.find("loader") is not None
                                             and os_node.find("loader").get("type") == "pflash")
        loaders = [v.text for v in caps.iterfind("os/loader/value")]  # type: ignore[attr-defined]
        firmwares = [v.text for v in caps.iterfind("os/enum[@name='firmware']/value")]  # type: ignore[attr-defined]
        if wants_efi and not loaders and "efi" not in firmwares:
            hits.append(_hit("uefi-firmware-missing", {"guest": guest},
                             [_xml_ev(doc, os_node, f"{guest} boots with UEFI firmware"),
                              Evidence("libvirt-api", 0, "domcapabilities lists no UEFI loader")]))
        cpu = root.find("cpu")  # type: ignore[union-attr]
        model = cpu.findtext("model") if cpu is not None else None
        if cpu is not None and cpu.get("mode", "custom") == "custom" and model:
            node = caps.find(f"cpu/mode[@name='custom']/model[.='{model.strip()}']")  # type: ignore[attr-defined]
            if node is not None and node.get("usable") == "no":
                blockers = caps.find(f"cpu/mode[@name='custom']/blockers[@model='{model.strip()}']")  # type: ignore
                missing = [f.get("name") for f in blockers.iterfind("feature")] if blockers is not None else []
                lacks = f" (host lacks {', '.join(missing)})" if missing else ""
                evidence = [_xml_ev(doc, cpu, f"<cpu mode='custom'><model>{model.strip()}</model>"),
                            Evidence("libvirt-api", 0, f"domcapabilities: CPU {model.strip()} is not usable{lacks}")]
                captures = {"guest": guest, "model": model.strip(), "features": ", ".join(missing)}
                hits.append(_hit("cpu-incompatible", captures, evidence))
    return hits


def hostdev_in_use_by_running(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 13: a defined guest assigns a PCI device that another running guest holds."""
    held: dict[str, str] = {}
    for doc in state.live_domains:
        for address in _pci_addresses(doc):
            held[address] = _name(doc)
    hits = []
    for doc in _defined(state):
        guest = _name(doc)
        for address in _pci_addresses(doc):
            owner = held.get(address)
            if owner and owner != guest:
                hits.append(_hit("hostdev-in-use", {"guest": owner, "device": address, "other": guest},
                                 [Evidence("libvirt-api", 0, f"{address} is assigned to running guest {owner}"),
                                  Evidence(doc.source, 0, f"{guest} also assigns {address}", doc.path)]))
    return hits


def _pci_hostdevs(doc: XmlDoc) -> list[tuple[str, object]]:
    """A guest's assigned PCI devices: (address as 0000:01:00.0, its <hostdev> element)."""
    found: list[tuple[str, object]] = []
    if doc.root is None:
        return found
    for hostdev in doc.root.iterfind("devices/hostdev[@type='pci']"):  # type: ignore[attr-defined]
        dev = hostdev.find("source/address")
        if dev is None:
            continue
        try:
            found.append((f"{int(dev.get('domain', '0'), 0):04x}:{int(dev.get('bus', '0'), 0):02x}:"
                          f"{int(dev.get('slot', '0'), 0):02x}.{int(dev.get('function', '0'), 0):x}", hostdev))
        except ValueError:
            continue
    return found


def _pci_addresses(doc: XmlDoc) -> list[str]:
    return [address for address, _ in _pci_hostdevs(doc)]


def iommu_group_viable(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 12: a guest's PCI device shares its IOMMU group with an endpoint that the guest does not
    assign and that a host driver holds: VFIO refuses the whole group ("group N is not viable")."""
    if not state.iommu_groups:
        return []
    group_of = {address: group for group, members in state.iommu_groups.items() for address in members}
    hits = []
    for doc in _defined(state):
        assigned = dict(_pci_hostdevs(doc))
        reported: set[str] = set()
        for address, hostdev in sorted(assigned.items()):
            group = group_of.get(address)
            if group is None or group in reported:
                continue
            reported.add(group)
            held = [(peer, ask("pci_host_driver_bound", {"device": peer}))
                    for peer in state.iommu_groups[group] if peer not in assigned]
            held = [(peer, fact) for peer, fact in held if fact.value is True]
            if not held:
                continue
            guest = _name(doc)
            evidence = [_xml_ev(doc, hostdev, f"{guest} assigns PCI device {address} (IOMMU group {group})")]
            evidence += [Evidence("probe:pci_host_driver_bound", 0, f"group {group}: {fact.detail}")
                         for _, fact in held]
            nodedev = "pci_" + held[0][0].replace(":", "_").replace(".", "_")
            hits.append(_hit("vfio-group-not-viable", {"guest": guest, "device": address, "iommu_group": group,
                                                       "nodedev": nodedev}, evidence))
    return hits


def interrupt_remapping(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 12: a guest assigns a PCI device, the kernel did not enable interrupt remapping, and neither
    allow_unsafe_assigned_interrupts (RHEL 6) nor allow_unsafe_interrupts (VFIO) is set: assignment fails."""
    assigned = [(doc, _pci_hostdevs(doc)[0]) for doc in _defined(state) if _pci_hostdevs(doc)]
    if not assigned:
        return []
    remap = ask("interrupt_remapping_enabled", {})
    if remap.value is not False or ask("iommu_enabled", {}).value is False:  # no IOMMU: iommu-unavailable
        return []
    unsafe = ask("unsafe_interrupts_allowed", {})
    if unsafe.value is not False:
        return []
    return [_hit("interrupt-remapping-unsupported", {"guest": _name(doc), "device": address},
                 [_xml_ev(doc, hostdev, f"{_name(doc)} assigns PCI device {address}")])  # facts: with the finding
            for doc, (address, hostdev) in assigned]


CHECKS: dict[str, Callable[[HostState, Ask], list[Hit]]] = {
    "listen_tls_without_ca": listen_tls_without_ca,
    "listen_tcp_without_listen": listen_tcp_without_listen,
    "socket_group_missing": socket_group_missing,
    "default_uri_elsewhere": default_uri_elsewhere,
    "kvm_not_usable": kvm_not_usable,
    "guest_cpu_features": guest_cpu_features,
    "no_serial_console": no_serial_console,
    "xml_on_disk": xml_on_disk,
    "ide_disk_not_booting": ide_disk_not_booting,
    "guest_limits": guest_limits,
    "managed_save_stale": managed_save_stale,
    "disk_images": disk_images,
    "hostname_loopback": hostname_loopback,
    "guest_networks": guest_networks,
    "system_dnsmasq": system_dnsmasq,
    "bridge_delay": bridge_delay,
    "interface_kinds": interface_kinds,
    "hostdev_assignment": hostdev_assignment,
    "constant_tsc": constant_tsc,
    "preflight_domcaps": preflight_domcaps,
    "hostdev_in_use_by_running": hostdev_in_use_by_running,
    "dhcp_checksum_vhost": dhcp_checksum_vhost,
    "firewalld_zone": firewalld_zone,
    "iommu_group_viable": iommu_group_viable,
    "interrupt_remapping": interrupt_remapping,
}
