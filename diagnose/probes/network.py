"""Probes, networks: host bridges and interfaces (/sys, a sosreport's ip output, the network configuration),
libvirt's networks, and the host's own name in /etc/hosts."""

from __future__ import annotations

import re

from diagnose import parsers
from diagnose.host import layout
from diagnose.host.base import Host
from diagnose.host.gather import host_name, read_ifcfg
from diagnose.probes.base import Answer, probe


def sos_links(host: Host) -> tuple[str, dict[str, dict[str, str]]] | None:
    """A sosreport's `ip -d address`: sos copies /sys/class/net only in part (never bridge/)."""
    if host.is_live or not host.is_collected:
        return None
    for path in layout.SOURCE_BY_NAME["ip-details"].commands:
        text = host.read_optional(path)
        if text is not None:
            return path, parsers.parse_ip_details(text)
    return None


@probe("bridge_exists", needs="bridge", reads=("ip-details", "sys-net", "ifcfg", "network-xml"))
def bridge_exists(host: Host, bridge: str) -> Answer:
    """/sys/class/net/{bridge}/bridge exists (sosreport: `ip -d address`; a copy with neither: false when no
    ifcfg-* configures it, unknown when one does)"""
    links = sos_links(host)
    if links is not None:
        path, details = links
        if bridge not in details:
            return False, f"no interface {bridge} in {path}"
        kind = details[bridge].get("kind", "")
        return kind == "bridge", f"{path}: {bridge} is {'a Linux bridge' if kind == 'bridge' else kind or 'no bridge'}"
    net = layout.path("sys-net")
    if not host.is_collected and host.is_dir(net):  # a sosreport's /sys/class/net has no bridge/
        if host.is_dir(f"{net}/{bridge}/bridge"):
            return True, f"{net}/{bridge}/bridge exists"
        if host.exists(f"{net}/{bridge}"):
            return False, f"{bridge} exists but is not a Linux bridge"
        return False, f"no interface {bridge} in {net}"
    configured = _ifcfg_bridge(host, bridge)
    if configured is not None:
        return configured
    return None, "this sosreport has no ip -d address output" if host.is_collected else f"{net} not available"


def _ifcfg_bridge(host: Host, bridge: str) -> Answer | None:
    """What RHEL's network scripts say of a bridge, for a copy with neither /sys/class/net nor ip output
    (None if the host has no network scripts). A bridge they configure is no proof that it exists now:
    unknown. One they do not configure is missing, since a bridge that comes back after a reboot is
    configured there (a libvirt network's bridge is not, and stays unknown)."""
    scripts = read_ifcfg(host)
    if scripts is None:
        return None
    why = "this copy has neither /sys/class/net nor ip -d output"
    for path in host.find("network-xml"):
        if re.search(rf"<bridge\s[^>]*name=[\"']{re.escape(bridge)}[\"']", host.read_optional(path) or ""):
            return None, f"{bridge} is the bridge of the libvirt network in {path}; {why}"
    if bridge not in scripts:
        return False, (f"no ifcfg-* file in {layout.directory('ifcfg')} configures {bridge} ({why}; a bridge "
                       f"made by hand with brctl would not show)")
    path, text = scripts[bridge]
    values = parsers.parse_ifcfg(text)
    kind = values.get("TYPE", "")
    if kind.lower() != "bridge":
        return False, f"{path} configures {bridge} as TYPE={kind or '(none: Ethernet)'}, not as a Linux bridge"
    return None, (f"{path} configures {bridge} as a bridge (TYPE={kind}, ONBOOT={values.get('ONBOOT', 'yes')}), "
                  f"but a configuration is no proof that it exists now: {why}")


@probe("interface_exists", needs="interface", reads=("ip-details", "sys-net"))
def interface_exists(host: Host, interface: str) -> Answer:
    """/sys/class/net/{interface} exists"""
    links = sos_links(host)
    if links is not None:
        found = interface in links[1]
        return found, f"{links[0]}: {interface} {'is listed' if found else 'is not listed'}"
    net = layout.path("sys-net")
    if not host.is_dir(net):
        return None, f"{net} not available"
    found = host.exists(f"{net}/{interface}")
    return found, f"{net}/{interface} {'exists' if found else 'is missing'}"


def _network_config(host: Host) -> list[tuple[str, str, dict[str, str]]] | None:
    """Interfaces the host's network configuration defines: (where, name, options) from ifupdown's
    /etc/network/interfaces (and interfaces.d), RHEL's ifcfg-* and NetworkManager's keyfiles; None when
    none of them can be read."""
    found: list[tuple[str, str, dict[str, str]]] = []
    seen_any = False
    main, included = layout.paths("ifupdown")
    for path in [main, *host.glob(included)]:
        text = host.read_optional(path)
        if text is not None:
            seen_any = True
            for name, (line, options) in parsers.parse_interfaces(text).items():
                kind = {"type": "bridge"} if "bridge-ports" in options else {}
                found.append((f"{path}:{line}", name, {**options, **kind}))
    ifcfg = read_ifcfg(host)
    if ifcfg is not None:
        seen_any = True
        for device, (path, text) in ifcfg.items():
            values = parsers.parse_ifcfg(text)
            found.append((path, device, {"type": "bridge"} if values.get("TYPE", "").lower() == "bridge" else {}))
    for path in host.glob(layout.path("nm-connections")):
        text = host.read_optional(path)
        if text is not None:
            seen_any = True
            values = dict(re.findall(r"(?m)^\s*([\w-]+)\s*=\s*(.*?)\s*$", text))
            if values.get("interface-name"):
                found.append((path, values["interface-name"], {"type": values.get("type", "")}))
    return found if seen_any else None


@probe("bridge_configured", needs="bridge", reads=("ifupdown", "ifcfg", "nm-connections"))
def bridge_configured(host: Host, bridge: str) -> Answer:
    """the host's network configuration defines this bridge (/etc/network/interfaces with bridge_ports, ifcfg
    TYPE=Bridge, a NetworkManager bridge keyfile)"""
    if not bridge:
        return None, "no bridge name"
    config = _network_config(host)
    if config is None:
        return None, "no network configuration readable (/etc/network/interfaces, ifcfg-*, NetworkManager)"
    for where, name, options in config:
        if name == bridge and options.get("type") == "bridge":
            return True, f"{where} defines bridge {bridge}"
    return False, f"no network configuration file defines a bridge {bridge}"


@probe("ifupdown_in_use", reads=("ifupdown",))
def ifupdown_in_use(host: Host, _: str) -> Answer:
    """/etc/network/interfaces configures interfaces other than lo (Debian ifupdown)"""
    path = layout.path("ifupdown")
    text = host.read_optional(path)
    if text is None:
        if host.exists(path):
            return None, f"{path} not readable"
        if host.collector == "insights":
            return None, f"an insights-client archive never holds {path}"
        return False, f"no {path}"
    names = [name for name in parsers.parse_interfaces(text) if name != "lo"]
    return (True, f"{path} configures {', '.join(names)}") if names else (False, f"{path} configures only lo")


@probe("bridge_forward_delay_zero", needs="bridge", reads=("ip-details", "sys-net", "ifcfg"))
def bridge_forward_delay_zero(host: Host, bridge: str) -> Answer:
    """the bridge's forward_delay is 0 (ip -d, /sys, else DELAY= in its ifcfg-*)"""
    links = sos_links(host)
    delay_text = links[1].get(bridge, {}).get("forward_delay") if links else None
    sys_path = f"{layout.path('sys-net')}/{bridge}/bridge/forward_delay"
    text = delay_text or host.read_optional(sys_path)
    if text is None:
        return _ifcfg_delay(host, bridge) or (None, f"{sys_path} not readable")
    delay = int(text.strip() or 0)
    return delay == 0, f"forward_delay = {delay / 100:.0f}s ({delay} centiseconds)"


def _ifcfg_delay(host: Host, bridge: str) -> Answer | None:
    """The forward delay RHEL's network scripts give a bridge (`brctl setfd BRIDGE DELAY` at ifup; no DELAY=
    leaves the kernel's 15 s), for a copy with no /sys: the configuration, which the detail says."""
    scripts = read_ifcfg(host)
    if scripts is None or bridge not in scripts:
        return None
    path, text = scripts[bridge]
    values = parsers.parse_ifcfg(text)
    if values.get("TYPE", "").lower() != "bridge":
        return None
    why = f"configured in {path}; this copy has no {layout.path('sys-net')}/{bridge}/bridge"
    if "DELAY" not in values:
        return False, f"no DELAY= in {path}: the kernel's default forward delay of 15 s applies ({why})"
    try:
        seconds = float(values["DELAY"])
    except ValueError:
        return None, f"DELAY={values['DELAY']} in {path} is not a number"
    line = parsers.ifcfg_line(text, "DELAY")[0]
    return seconds == 0, f"{path}:{line}: DELAY={values['DELAY']}, a forward delay of {seconds:g} s ({why})"


@probe("network_active", needs="network", reads=("network-xml-live",))
def network_active(host: Host, network: str) -> Answer:
    """the libvirt network is active"""
    live = layout.directory("network-xml-live")
    if host.exists(f"{live}/{network}.xml"):
        return True, f"{live}/{network}.xml exists"
    if host.is_dir(live):
        return False, f"no {live}/{network}.xml"
    return None, f"no {live} (daemon state unknown)"


@probe("network_autostart", needs="network", reads=("network-autostart", "network-xml"))
def network_autostart(host: Host, network: str) -> Answer:
    """the libvirt network is set to autostart"""
    path = f"{layout.directory('network-autostart')}/{network}.xml"
    if host.exists(path):
        return True, f"{path} exists"
    networks = layout.directory("network-xml")
    if host.is_dir(networks):
        return False, f"no {path}"
    return None, f"{networks} not present"


@probe("hostname_is_loopback", reads=("hostname", "sysconfig-network", "hosts"))
def hostname_is_loopback(host: Host, _: str) -> Answer:
    """the host's name (/etc/hostname, else RHEL 6's HOSTNAME= in /etc/sysconfig/network) maps to 127.x in
    /etc/hosts"""
    named = host_name(host)
    name = named[0] if named else ""
    hosts_path = layout.path("hosts")
    hosts = host.read_optional(hosts_path)
    if not name or hosts is None:
        return None, f"no host name (/etc/hostname, /etc/sysconfig/network HOSTNAME=) or {hosts_path} not readable"
    for address, names in parsers.parse_hosts(hosts):
        if (name in names or name.split(".")[0] in names) and address.startswith("127."):
            return True, f"{hosts_path} maps {name} to {address}"
    return False, f"{hosts_path} does not map {name} to a loopback address"


@probe("host_resolves", needs="host", reads=("hosts",))
def host_resolves(host: Host, name: str) -> Answer:
    """the name is in /etc/hosts (unknown otherwise: virtdiag does no DNS)"""
    hosts_path = layout.path("hosts")
    hosts = host.read_optional(hosts_path)
    if hosts is None:
        return None, f"{hosts_path} not readable"
    for address, names in parsers.parse_hosts(hosts):
        if name in names:
            return True, f"{hosts_path} maps {name} to {address}"
    return None, f"{name} is not in {hosts_path} (virtdiag does no DNS lookups)"
