"""Host checks, networks (B.7-B.12): libvirt networks, dnsmasq, bridges, DHCP checksums, firewalld, interfaces."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from diagnose import parsers
from diagnose.checks.base import (
    check,
    conf_evidence,
    conf_values,
    defined,
    doc_name,
    interfaces,
    new_hit,
    xml_evidence,
)
from diagnose.model import Evidence, Hit
from diagnose.state import Ask, HostState, LogTap
from diagnose.xmlchecks import XmlDoc

if TYPE_CHECKING:
    from lxml import etree

DHCP_REPLY_RE = re.compile(  # dnsmasq's replies, for B.8's "offered again and again, never taken"
    r"dnsmasq-dhcp\[\d+\]: (?P<kind>DHCPOFFER|DHCPACK)\(\S+\) \S+ (?P<mac>(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})")

DHCP_REPLIES = LogTap("dhcp-replies", ("libvirtd-log", "journal"), DHCP_REPLY_RE, keep=10_000, consume=True)


@check(produces=("network-not-started", "network-not-autostarted"))
def guest_networks(state: HostState, ask: Ask) -> list[Hit]:
    """B.7: a guest uses a libvirt network that is inactive or not autostarted (default first)."""
    by_name = {doc_name(n): n for n in state.networks if n.root is not None}
    used: dict[str, tuple[XmlDoc, etree._Element]] = {}
    for doc in defined(state):
        for iface in interfaces(doc):
            source = iface.find("source")
            network = source.get("network") if iface.get("type") == "network" and source is not None else None
            if network:
                used.setdefault(network, (doc, iface))
    hits = []
    for network, (doc, iface) in sorted(used.items()):
        captures = {"network": network, "guest": doc_name(doc)}
        evidence = [xml_evidence(doc, iface, f"{doc_name(doc)}: <source network='{network}'/>")]
        dominfo = state.dominfo.get(doc_name(doc))
        if dominfo and dominfo[1].get("Autostart") == "enable":  # a sosreport: the guest starts with the host
            evidence.append(Evidence("virsh-dominfo", 0, f"{doc_name(doc)} is set to autostart (Autostart: enable)",
                                     dominfo[0]))
        net_doc = by_name.get(network)
        if net_doc is None and state.defined_networks is None:
            continue  # the network definitions were not read (an insights archive): nothing to judge by
        if net_doc is None and network not in (state.defined_networks or ()):
            hits.append(new_hit("network-not-started", captures,
                             [*evidence, Evidence("network-xml", 0, f"no network {network!r} is defined")], 0.8))
            continue
        where = net_doc.path if net_doc is not None else "virsh net-list --all"
        inactive = state.active_networks is not None and network not in state.active_networks
        no_autostart = (state.autostart_networks is not None and net_doc is not None
                        and network not in state.autostart_networks)
        if inactive:
            what = "is not active" + (" and is not set to autostart" if no_autostart else "")
            evidence.append(Evidence("network-xml", 1, f"network {network} {what}", where))
            hits.append(new_hit("network-not-started", captures, evidence, 0.85))
        elif no_autostart:
            evidence.append(Evidence("network-xml", 1, f"network {network} is active but not set to autostart",
                                     where))
            hits.append(new_hit("network-not-autostarted", captures, evidence, 0.8))
    return hits


@check(produces=("dnsmasq-start-failed",))
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
    return [new_hit("dnsmasq-start-failed", {"path": "/etc/dnsmasq.conf"},
                 [Evidence("dnsmasq-conf", 0, binds.detail, "/etc/dnsmasq.conf"), *scope[:2],
                  Evidence("probe:system_dnsmasq_running", 0, running.detail)], 0.8)]


@check(produces=("dhcp-bridge-forward-delay",))
def bridge_delay(state: HostState, ask: Ask) -> list[Hit]:
    """B.8: a libvirt network bridge with an STP forward delay: DHCP and PXE time out meanwhile."""
    hits = []
    for doc in state.networks:
        if doc.root is None:
            continue
        bridge = doc.root.find("bridge")
        if bridge is None:
            continue
        delay = bridge.get("delay", "0")
        if bridge.get("stp", "on") == "on" and delay.isdigit() and int(delay) > 0:
            shown = f"<bridge name='{bridge.get('name')}' stp='on' delay='{delay}'/>"
            captures = {"network": doc_name(doc), "bridge": bridge.get("name", "")}
            hits.append(new_hit("dhcp-bridge-forward-delay", captures, [xml_evidence(doc, bridge, shown)], 0.75))
    return hits + host_bridge_delay(state, ask)


def host_bridge_delay(state: HostState, ask: Ask) -> list[Hit]:
    """B.8 for a host bridge outside libvirt: a guest is attached to a bridge whose RHEL network script
    turns STP on, and whose forward delay (from ip -d or /sys, else the script's DELAY=) is not 0."""
    hits: list[Hit] = []
    seen: set[str] = set()
    for doc in defined(state):
        for iface in interfaces(doc):
            source = iface.find("source")
            bridge = source.get("bridge", "") if iface.get("type") == "bridge" and source is not None else ""
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
            evidence = [xml_evidence(doc, iface, f"{doc_name(doc)}: <source bridge='{bridge}'/>")]
            for key in ("STP", "DELAY"):
                line, shown = parsers.ifcfg_line(text, key)
                if line:
                    evidence.append(Evidence("ifcfg", line, shown, path))
            hits.append(new_hit("dhcp-bridge-forward-delay", {"bridge": bridge, "guest": doc_name(doc)}, evidence,
                                0.75))
    return hits


CHECKSUM_WARN_RE = re.compile(r"Could not add rule to fixup DHCP response checksums on network "
                              r"'?(?P<network>[\w.-]+?)'?\.?(?=\s|$)"
                              r"|May need to update iptables package (?:&|and) kernel to support CHECKSUM rule")

CHECKSUM_WARNINGS = LogTap("checksum-warnings", ("libvirtd-log", "journal"), CHECKSUM_WARN_RE)


@check(produces=("dhcp-checksum-vhost",), taps=(CHECKSUM_WARNINGS, DHCP_REPLIES))
def dhcp_checksum_vhost(state: HostState, ask: Ask) -> list[Hit]:
    """B.8: the guide's four conditions together: a virtio interface that uses vhost-net (no
    <driver name='qemu'/>), vhost-net loaded, DHCP from the host (the network's <dhcp>), and iptables
    older than 1.4.10 (no CHECKSUM target; on RHEL 6, whose 1.4.7 has it as a backport, libvirt's warning
    that the rule could not be added): DHCP replies reach the guest with bad checksums."""
    dhcp = {doc_name(n): (n, n.root.find("ip/dhcp")) for n in state.networks
            if n.root is not None and n.root.find("ip/dhcp") is not None}
    candidates = []
    for doc in defined(state):
        for iface in interfaces(doc):
            source, model, driver = (iface.find(tag) for tag in ("source", "model", "driver"))
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
        warned = [t.evidence for t in state.tap("checksum-warnings") if t.group("network") in (network, "")]
        stuck = _dhcp_offers_unanswered(state, model.getparent())
        if not (iptables.value is False or iptables.value is None and warned and stuck):
            continue  # the fourth condition: iptables without CHECKSUM, or (its version proving nothing, as on
            # RHEL 6) libvirt's warning that the rule failed and dnsmasq's offers to this guest never taken
        warned += stuck[-1:]
        evidence = [xml_evidence(doc, model, f"{doc_name(doc)}: <model type='virtio'/> on network {network}, "
                            "no <driver name='qemu'/> (vhost-net is used)"),
                    xml_evidence(net_doc, dhcp_node, f"network {network} gives addresses by DHCP from this host"),
                    *warned[:2]]  # the facts (vhost-net, iptables version) are shown with the finding
        captures = {"guest": doc_name(doc), "network": network}
        hits.append(Hit("dhcp-checksum-vhost", tuple(sorted(captures.items())), tuple(evidence),
                        0.9 if warned else 0.8, lines=frozenset((ev.path, ev.line) for ev in warned)))
    return hits


def _dhcp_offers_unanswered(state: HostState, interface: object) -> list[Evidence]:
    """dnsmasq's DHCPOFFERs to this interface's MAC address when it offered more than once and never
    acknowledged one: the guest does not take the replies (B.8's symptom); [] otherwise."""
    mac_node = interface.find("mac") if interface is not None else None  # type: ignore[attr-defined]
    mac = (mac_node.get("address") or "").lower() if mac_node is not None else ""
    replies = [(t.group("kind"), t.group("mac").lower(), t.evidence) for t in state.tap("dhcp-replies")]
    offers = [ev for kind, address, ev in replies if address == mac and kind == "DHCPOFFER"]
    acked = any(kind == "DHCPACK" and address == mac for kind, address, _ in replies)
    return offers if mac and len(offers) > 1 and not acked else []


@check(produces=("firewalld-libvirt-zone-missing",))
def firewalld_zone(state: HostState, ask: Ask) -> list[Hit]:
    """B.8 and beyond: firewalld runs with its nftables backend and has no 'libvirt' zone, so the bridge of
    a NAT, routed or isolated network falls in the default zone, which blocks the guests' DHCP, DNS and
    forwarding (libvirt 5.1 and later refuse to start the network)."""
    networks = []
    for doc in state.networks:
        if doc.root is None or getattr(doc.root, "tag", "") != "network":
            continue
        forward = doc.root.find("forward")
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
        hits.append(new_hit("firewalld-libvirt-zone-missing",
                         {"network": doc_name(doc), "bridge": bridge.get("name", "") if bridge is not None else ""},
                            [xml_evidence(doc, node, f"network {doc_name(doc)}: {shown}: libvirt adds firewall rules")],
                            0.9))
    return hits


# libvirt logs its version when it starts (libvirtd.log) and when it starts a guest (the guest's QEMU log)
LIBVIRT_VERSIONS = LogTap("libvirt-versions", ("libvirtd-log", "qemu-guest-log"),
                          re.compile(r"libvirt version: (?P<version>\d+\.\d+\.\d+)"), keep=1)
# Since libvirt 1.3 (2016) libvirt creates or opens the tap of an <interface type='ethernet'> itself and passes
# QEMU the file descriptor (as for bridges; seen on 9.0: a missing managed='no' tap is libvirt's own error). B.12's
# QEMU that opens /dev/net/tun itself, and so needs it in cgroup_device_acl and CAP_NET_ADMIN, is older libvirt's.
TAP_OPENED_BY_LIBVIRT = (1, 3, 0)


def libvirt_version(state: HostState) -> tuple[int, ...] | None:
    """The daemon's version: from the live daemon, else from the logs' start-up lines; None when unknown."""
    text = state.libvirt_version or next((t.group("version") for t in state.tap(LIBVIRT_VERSIONS.name)), "")
    return tuple(int(part) for part in text.split(".")) if text else None


def qemu_opens_tun(state: HostState, ask: Ask) -> bool:
    """QEMU itself opens /dev/net/tun for an ethernet interface: the libvirt version says so (older than 1.3),
    or, with no version known, the host is RHEL 6 (libvirt 0.10, the guide's case)."""
    version = libvirt_version(state)
    if version is not None:
        return version < TAP_OPENED_BY_LIBVIRT
    return ask("rhel6", {}).value is True


@check(produces=("macvtap-host-unreachable", "macvtap-source-missing", "bridge-missing", "tun-ethernet-interface",
                 "tap-device-missing"), taps=(LIBVIRT_VERSIONS,))
def interface_kinds(state: HostState, ask: Ask) -> list[Hit]:
    """B.9, B.11, B.12: direct (macvtap) interfaces, bridges that do not exist, ethernet interfaces (a tap the
    guest expects that does not exist; /dev/net/tun for QEMU only where QEMU opens it itself)."""
    hits = []
    qemu = conf_values(state, "qemu-conf")
    for doc in defined(state):
        for iface in interfaces(doc):
            kind = iface.get("type")
            source = iface.find("source")
            guest = doc_name(doc)
            if kind == "direct" and source is not None:
                dev = source.get("dev", "")
                hits.append(new_hit("macvtap-host-unreachable", {"guest": guest, "interface": dev},
                                 [xml_evidence(doc, iface, f"<interface type='direct'> on {dev} "
                                          f"mode={source.get('mode', 'vepa')}")], 0.6))
                if dev:
                    present = ask("interface_exists", {"interface": dev})
                    if present.value is False:
                        hits.append(new_hit("macvtap-source-missing", {"guest": guest, "interface": dev},
                                         [xml_evidence(doc, iface, f"<source dev='{dev}'/>"),
                                          Evidence("probe:interface_exists", 0, present.detail)]))
            elif kind == "bridge" and source is not None and (bridge := source.get("bridge", "")):
                if iface.find("virtualport") is not None:
                    continue
                fact = ask("bridge_exists", {"bridge": bridge})
                if fact.value is False:
                    hits.append(new_hit("bridge-missing", {"guest": guest, "bridge": bridge},
                                     [xml_evidence(doc, iface, f"{guest}: <source bridge='{bridge}'/>"),
                                      Evidence("probe:bridge_exists", 0, fact.detail)], 0.9))
            elif kind == "ethernet":
                target = iface.find("target")
                tap = target.get("dev", "") if target is not None and target.get("managed") == "no" else ""
                if tap and (present := ask("interface_exists", {"interface": tap})).value is False:
                    hits.append(new_hit("tap-device-missing", {"guest": guest, "interface": tap},
                                        [xml_evidence(doc, iface, f"{guest}: <target dev='{tap}' managed='no'/>"),
                                         Evidence("probe:interface_exists", 0, present.detail)], 0.9))
                if not qemu_opens_tun(state, ask):
                    continue
                evidence = [xml_evidence(doc, iface, f"{guest}: <interface type='ethernet'>")]
                values = qemu[2] if qemu else {}
                acl = values.get("cgroup_device_acl")
                if isinstance(acl, list) and "/dev/net/tun" not in acl:
                    evidence.append(conf_evidence(state, "qemu-conf", "cgroup_device_acl", "cgroup_device_acl"))
                    hits.append(new_hit("tun-ethernet-interface", {"guest": guest}, evidence, 0.8))
                elif values.get("clear_emulator_capabilities", 1) not in (0, "0"):
                    evidence.append(Evidence("qemu-conf", 0, "clear_emulator_capabilities is not 0",
                                             qemu[0] if qemu else "/etc/libvirt/qemu.conf"))
                    hits.append(new_hit("tun-ethernet-interface", {"guest": guest}, evidence, 0.6))
    return hits
