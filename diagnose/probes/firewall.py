"""Probes, dnsmasq and the firewall: a system dnsmasq and its binding, port 53, firewalld (running, backend,
libvirt zone), and the iptables and libvirt versions from the package lists."""

from __future__ import annotations

from diagnose import parsers
from diagnose.host import layout
from diagnose.host.base import Host
from diagnose.host.gather import read_dnsmasq
from diagnose.probes.base import Answer, command_name, package, probe, processes, unit_active

BIND_OPTIONS = ("bind-interfaces", "bind-dynamic")
SCOPE_OPTIONS = ("interface", "except-interface", "listen-address")
LIBVIRT_PACKAGES = ("libvirt-daemon-driver-network", "libvirt-daemon", "libvirt-daemon-system", "libvirt")


def system_dnsmasq(host: Host) -> list[str] | None:
    """Command lines of the dnsmasq processes libvirt did not start (None without a process list)."""
    commands = processes(host)
    if commands is None:
        return None
    libvirt_dir = layout.path("libvirt-dnsmasq")
    return [c for c in commands if command_name(c) == "dnsmasq" and libvirt_dir not in c]


@probe("system_dnsmasq_running", reads=("processes", "libvirt-dnsmasq"))
def system_dnsmasq_running(host: Host, _: str) -> Answer:
    """a dnsmasq not started by libvirt runs (or dnsmasq.service is enabled)"""
    own = system_dnsmasq(host)
    if own is None:
        return None, "no process list"
    return (True, f"running: {own[0][:80]}") if own else (False, "no dnsmasq outside libvirt's")


@probe("dnsmasq_bind_interfaces", reads=("processes", "dnsmasq-conf", "dnsmasq-default"))
def dnsmasq_bind_interfaces(host: Host, _: str) -> Answer:
    """the system dnsmasq has bind-interfaces or bind-dynamic (command line, /etc/dnsmasq.conf and its
    conf-file=/conf-dir= includes)

    interface=, except-interface= and listen-address= are named in the detail."""
    command = next(iter(system_dnsmasq(host) or []), "")
    flags = [flag for flag in BIND_OPTIONS if flag in parsers.dnsmasq_command_options(command)]
    if flags:
        return True, f"the running dnsmasq has --{flags[0]}: {command[:120]}"
    settings = read_dnsmasq(host, command)
    if settings is None:
        return None, "/etc/dnsmasq.conf not readable"
    scope = ", ".join(f"{key}={value} ({path}:{line})" for path, line, key, value in settings
                      if key in SCOPE_OPTIONS)
    for path, line, key, _value in settings:
        if key in BIND_OPTIONS:
            return True, f"{path}:{line}: {key}" + (f"; {scope}" if scope else "")
    files = ", ".join(dict.fromkeys(path for path, *_ in settings)) or layout.path("dnsmasq-conf")
    return False, (f"neither bind-interfaces nor bind-dynamic in {files}"
                   + (f"; {scope} only filters requests: dnsmasq still binds the wildcard address" if scope else ""))


@probe("port_53_in_use", reads=("sockets",))
def port_53_in_use(host: Host, _: str) -> Answer:
    """something listens on port 53 (/proc/net/tcp, udp)"""
    seen = False
    for path in layout.paths("sockets"):
        text = host.read_optional(path)
        if text is None:
            continue
        seen = True
        if 53 in parsers.listening_ports(text):
            return True, f"port 53 is bound ({path})"
    return (False, "nothing listens on port 53") if seen else (None, "/proc/net not readable")


@probe("firewalld_running", reads=("firewalld-pid", "systemd-units", "processes"))
def firewalld_running(host: Host, _: str) -> Answer:
    """firewalld runs (its process, systemd's /run/systemd/units, sosreport firewall-cmd --state or systemctl
    list-units)"""
    proc = layout.path("processes")
    for path in layout.paths("firewalld-pid"):
        pid = (host.read_optional(path) or "").strip()
        if pid.isdigit() and (not host.is_live or host.is_dir(f"{proc}/{pid}")):
            return True, f"{path}: pid {pid}"
    if host.is_collected:
        for path in layout.SOURCE_BY_NAME["firewalld-pid"].commands:
            state = (host.read_optional(path) or "").strip()
            if state in ("running", "not running"):
                return state == "running", f"firewall-cmd --state: {state}"
    value, detail = unit_active(host, "firewalld.service")
    if value is not None:
        return value, detail
    commands = processes(host)
    if commands is None:
        return None, "no process list and no systemd unit state"
    running = any(command_name(c) == "firewalld" or "/firewalld " in f"{c} " for c in commands)
    return running, "firewalld is running" if running else "no firewalld process"


def _firewalld_conf(host: Host) -> tuple[str, int, str] | None:
    """FirewallBackend in /etc/firewalld/firewalld.conf: (value, line number, line)."""
    text = host.read_optional(layout.path("firewalld-conf"))
    number, line = parsers.conf_line(text, "FirewallBackend") if text is not None else (0, "")
    return (line.split("=", 1)[1].strip(), number, line) if number else None


@probe("firewalld_nftables_backend", reads=("firewalld-conf", "package-lists"))
def firewalld_nftables_backend(host: Host, _: str) -> Answer:
    """firewalld.conf FirewallBackend=nftables (the default from firewalld 0.6)"""
    conf_path = layout.path("firewalld-conf")
    setting = _firewalld_conf(host)
    if setting is not None:
        return setting[0].lower() == "nftables", f"{conf_path}:{setting[1]}: {setting[2]}"
    found = package(host, ("firewalld",))
    if found is None:
        return None, f"no FirewallBackend in {conf_path} and firewalld's version unknown"
    nft = parsers.version_key(found[1]) >= (0, 6)
    return nft, (f"FirewallBackend not set: firewalld {found[1]} defaults to nftables" if nft else
                 f"firewalld {found[1]} has only the iptables backend") + f", {found[2]}"


@probe("firewalld_libvirt_zone", reads=("firewalld-zones",))
def firewalld_libvirt_zone(host: Host, _: str) -> Answer:
    """firewalld has the libvirt zone (zones/libvirt.xml, sosreport firewall-cmd --list-all-zones)"""
    zone_files = layout.paths("firewalld-zones")
    for path in layout.SOURCE_BY_NAME["firewalld-zones"].commands if host.is_collected else ():
        zones = host.read_optional(path)
        if zones:
            for number, line in enumerate(zones.splitlines(), start=1):
                if line.split()[:1] == ["libvirt"]:
                    return True, f"{path}:{number}: {line.strip()}"
            return False, f"{path} has no libvirt zone"
    for zone in zone_files:
        if host.exists(zone):
            return True, f"{zone} exists"
    system_zones = zone_files[-1].rpartition("/")[0]
    if host.is_dir(system_zones):
        return False, f"neither {' nor '.join(zone_files)} exists"
    return None, f"{system_zones} is not in this copy of the host"


@probe("libvirt_sets_firewalld_zone", reads=("package-lists",))
def libvirt_sets_firewalld_zone(host: Host, _: str) -> Answer:
    """libvirt is 5.1 or later (puts its networks in firewalld's libvirt zone), from the package lists"""
    found = package(host, LIBVIRT_PACKAGES)
    if found is None:
        return None, "libvirt's version unknown (no package list)"
    newer = parsers.version_key(found[1]) >= (5, 1)
    return newer, f"{found[0]} {found[1]} ({'5.1 or later' if newer else 'before 5.1'}), {found[2]}"


@probe("iptables_checksum_target", reads=("package-lists",))
def iptables_checksum_target(host: Host, _: str) -> Answer:
    """iptables is 1.4.10 or later (has the CHECKSUM target), from the package lists (dpkg status, sosreport
    installed-rpms)

    iptables 1.4.10 was the first with the CHECKSUM target (libxt_CHECKSUM) that fills in DHCP replies'
    checksums; the version comes from the package lists (`iptables --version` is never run)."""
    found = package(host, ("iptables",))
    if found is None:
        return None, "iptables version unknown (no package list names it)"
    ok = parsers.version_key(found[1]) >= (1, 4, 10)
    if not ok and ".el6" in found[1]:
        return None, (f"iptables {found[1]}, {found[2]}: RHEL 6's 1.4.7 carries the CHECKSUM target as a "
                      "backport, so its version proves nothing; only libvirt's 'Could not add rule to fixup DHCP "
                      "response checksums' warning shows the rule failing")
    return ok, f"iptables {found[1]} ({'1.4.10 or later' if ok else 'older than 1.4.10: no CHECKSUM target'}), " \
               f"{found[2]}"
