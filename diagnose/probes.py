"""Probe stage: @probe functions read the host (never write) and answer one fact: True, False or None."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from diagnose import parsers
from diagnose.model import Fact
from diagnose.sources import Host


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    needs: str  # the capture it is asked about, or ""
    run: Callable[[Host, str], tuple[bool | None, str]]


PROBES: dict[str, ProbeSpec] = {}


def probe(name: str, needs: str = "") -> Callable[[Callable[[Host, str], tuple[bool | None, str]]], ProbeSpec]:
    def register(func: Callable[[Host, str], tuple[bool | None, str]]) -> ProbeSpec:
        spec = ProbeSpec(name, needs, func)
        PROBES[name] = spec
        return spec

    return register


def run_probe(name: str, host: Host, captures: Mapping[str, str]) -> Fact:
    spec = PROBES[name]
    subject = captures.get(spec.needs, "") if spec.needs else ""
    if spec.needs and not subject:
        return Fact(name, None, f"no {spec.needs} named in the evidence", "")
    try:
        value, detail = spec.run(host, subject)
    except (OSError, ValueError, UnicodeError) as exc:
        value, detail = None, f"probe failed: {exc}"
    return Fact(name, value, detail, subject)


# --- helpers -------------------------------------------------------------------------------------

SOCKET_DIRS = ("/run/libvirt", "/var/run/libvirt")
DAEMON_SOCKETS = ("libvirt-sock", "virtqemud-sock")
MODULAR = ("virtqemud", "virtnetworkd", "virtstoraged", "virtproxyd")


def _conf(host: Host, name: str) -> dict[str, str | int | list[str]] | None:
    text = host.read_optional(f"/etc/libvirt/{name}")
    return None if text is None else parsers.parse_libvirt_conf(text)


def _modules(host: Host) -> set[str] | None:
    for path in ("/proc/modules", "sos_commands/kernel/lsmod"):
        text = host.read_optional(path)
        if text is not None:
            return parsers.parse_modules(text)
    return None


def _socket(host: Host, name: str) -> str:
    for directory in SOCKET_DIRS:
        if host.exists(f"{directory}/{name}"):
            return f"{directory}/{name}"
    return ""


# --- daemon --------------------------------------------------------------------------------------


@probe("daemon_running")
def daemon_running(host: Host, _: str) -> tuple[bool | None, str]:
    for name in DAEMON_SOCKETS:
        path = _socket(host, name)
        if path:
            return True, f"{path} exists"
    if not host.is_dir("/run/libvirt") and not host.is_live:
        return None, "the copy has no /run/libvirt"
    return False, "no libvirt-sock or virtqemud-sock under /run/libvirt"


@probe("modular_daemons")
def modular_daemons(host: Host, _: str) -> tuple[bool | None, str]:
    if _socket(host, "virtqemud-sock"):
        return True, "virtqemud-sock exists"
    if _socket(host, "libvirt-sock"):
        return False, "libvirt-sock exists (monolithic libvirtd)"
    for unit_dir in ("/etc/systemd/system/sockets.target.wants", "/etc/systemd/system/multi-user.target.wants"):
        names = host.listdir(unit_dir)
        if any(n.startswith("virtqemud") for n in names):
            return True, f"virtqemud enabled in {unit_dir}"
        if any(n.startswith("libvirtd") for n in names):
            return False, f"libvirtd enabled in {unit_dir}"
    return None, "neither daemon's socket or unit found"


@probe("virtlogd_running")
def virtlogd_running(host: Host, _: str) -> tuple[bool | None, str]:
    path = _socket(host, "virtlogd-sock")
    return (True, f"{path} exists") if path else (False, "no virtlogd-sock under /run/libvirt")


def _exists(path: str) -> Callable[[Host, str], tuple[bool | None, str]]:
    def check(host: Host, _: str) -> tuple[bool | None, str]:
        return (True, f"{path} exists") if host.exists(path) else (False, f"{path} is missing")

    return check


PROBES["ca_cert_exists"] = ProbeSpec("ca_cert_exists", "", _exists("/etc/pki/CA/cacert.pem"))


@probe("server_cert_exists")
def server_cert_exists(host: Host, _: str) -> tuple[bool | None, str]:
    missing = [p for p in ("/etc/pki/libvirt/servercert.pem", "/etc/pki/libvirt/private/serverkey.pem")
               if not host.exists(p)]
    return (False, f"missing {', '.join(missing)}") if missing else (True, "server cert and key exist")


def _conf_flag(key: str, default: int) -> Callable[[Host, str], tuple[bool | None, str]]:
    def check(host: Host, _: str) -> tuple[bool | None, str]:
        conf = _conf(host, "libvirtd.conf")
        if conf is None:
            return None, "libvirtd.conf not readable"
        value = conf.get(key, default)
        shown = f"{key} = {value}" if key in conf else f"{key} not set (default {default})"
        return value not in (0, "0"), f"libvirtd.conf: {shown}"

    return check


PROBES["listen_tls_enabled"] = ProbeSpec("listen_tls_enabled", "", _conf_flag("listen_tls", 1))
PROBES["listen_tcp_enabled"] = ProbeSpec("listen_tcp_enabled", "", _conf_flag("listen_tcp", 0))


@probe("libvirtd_listen_flag")
def libvirtd_listen_flag(host: Host, _: str) -> tuple[bool | None, str]:
    seen = False
    for path in ("/etc/sysconfig/libvirtd", "/etc/default/libvirtd"):
        text = host.read_optional(path)
        if text is None:
            continue
        seen = True
        args = parsers.parse_shell_vars(text).get("LIBVIRTD_ARGS", "") or parsers.parse_shell_vars(text).get(
            "libvirtd_opts", ""
        )
        if "--listen" in args or "-l" in args.split():
            return True, f"{path}: LIBVIRTD_ARGS has --listen"
    for unit in ("libvirtd-tcp.socket", "libvirtd-tls.socket"):
        if host.lexists(f"/etc/systemd/system/sockets.target.wants/{unit}"):
            return True, f"{unit} is enabled"
    return (False, "no --listen in the daemon's arguments") if seen else (None, "no libvirtd arguments file")


@probe("socket_group_set")
def socket_group_set(host: Host, _: str) -> tuple[bool | None, str]:
    conf = _conf(host, "libvirtd.conf")
    if conf is None:
        return None, "libvirtd.conf not readable"
    group = conf.get("unix_sock_group")
    return (True, f"unix_sock_group = {group}") if group else (False, "unix_sock_group not set")


@probe("polkit_available")
def polkit_available(host: Host, _: str) -> tuple[bool | None, str]:
    bus = any(host.exists(p) for p in ("/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket"))
    polkitd = any(host.exists(p) for p in ("/usr/lib/polkit-1/polkitd", "/usr/libexec/polkitd"))
    if bus and polkitd:
        return True, "D-Bus system bus and polkitd present"
    return False, ("no D-Bus system bus socket" if not bus else "polkitd is not installed")


@probe("user_is_root")
def user_is_root(host: Host, _: str) -> tuple[bool | None, str]:
    if not host.is_live:
        return None, "not the live host"
    return os.geteuid() == 0, f"euid {os.geteuid()}"


# --- kvm -----------------------------------------------------------------------------------------


@probe("cpu_virt_flags")
def cpu_virt_flags(host: Host, _: str) -> tuple[bool | None, str]:
    text = host.read_optional("/proc/cpuinfo")
    if text is None:
        return None, "/proc/cpuinfo not readable"
    flags = parsers.parse_cpuinfo_flags(text)
    if not flags:
        return None, "/proc/cpuinfo has no flags line"
    found = sorted(flags & {"vmx", "svm"})
    return (True, f"cpu flags include {', '.join(found)}") if found else (False, "no vmx or svm in cpu flags")


def _module_probe(names: tuple[str, ...]) -> Callable[[Host, str], tuple[bool | None, str]]:
    def check(host: Host, _: str) -> tuple[bool | None, str]:
        modules = _modules(host)
        if modules is None:
            return None, "/proc/modules not readable"
        loaded = sorted(modules & set(names))
        return (True, f"{', '.join(loaded)} loaded") if loaded else (False, f"{' / '.join(names)} not loaded")

    return check


PROBES["kvm_module_loaded"] = ProbeSpec("kvm_module_loaded", "", _module_probe(("kvm_intel", "kvm_amd")))
PROBES["vhost_net_loaded"] = ProbeSpec("vhost_net_loaded", "", _module_probe(("vhost_net",)))
PROBES["vfio_loaded"] = ProbeSpec("vfio_loaded", "", _module_probe(("vfio_pci",)))
PROBES["dev_kvm_exists"] = ProbeSpec("dev_kvm_exists", "", _exists("/dev/kvm"))
PROBES["tun_device_exists"] = ProbeSpec("tun_device_exists", "", _exists("/dev/net/tun"))


# --- files and security --------------------------------------------------------------------------


@probe("path_exists", needs="path")
def path_exists(host: Host, path: str) -> tuple[bool | None, str]:
    if host.exists(path):
        return True, f"{path} exists"
    parent = os.path.dirname(path.rstrip("/")) or "/"
    if not host.is_live and not host.is_dir(parent):
        return None, f"{parent} is not in the copy of the host"
    return False, f"{path} does not exist"


@probe("path_traversable_by_qemu", needs="path")
def path_traversable_by_qemu(host: Host, path: str) -> tuple[bool | None, str]:
    parent = os.path.dirname(path.rstrip("/"))
    while parent and parent != "/":
        st = host.mode(parent)
        if st is None:
            return None, f"{parent} cannot be examined"
        if not st.st_mode & stat.S_IXOTH:
            return False, f"{parent} is mode {stat.filemode(st.st_mode)}: others cannot enter it"
        parent = os.path.dirname(parent)
    return True, "every parent directory is searchable by others"


@probe("selinux_enforcing")
def selinux_enforcing(host: Host, _: str) -> tuple[bool | None, str]:
    text = host.read_optional("/sys/fs/selinux/enforce")
    if text is None:
        return False, "SELinux is not enabled (no /sys/fs/selinux/enforce)"
    return text.strip() == "1", f"/sys/fs/selinux/enforce = {text.strip()}"


@probe("apparmor_enabled")
def apparmor_enabled(host: Host, _: str) -> tuple[bool | None, str]:
    text = host.read_optional("/sys/module/apparmor/parameters/enabled")
    if text is None:
        return False, "AppArmor is not loaded"
    return text.strip().upper().startswith("Y"), f"apparmor enabled = {text.strip()}"


@probe("qemu_dynamic_ownership")
def qemu_dynamic_ownership(host: Host, _: str) -> tuple[bool | None, str]:
    conf = _conf(host, "qemu.conf")
    if conf is None:
        return None, "qemu.conf not readable"
    value = conf.get("dynamic_ownership", 1)
    return value not in (0, "0"), f"qemu.conf dynamic_ownership = {value}"


@probe("path_on_shared_storage", needs="path")
def path_on_shared_storage(host: Host, path: str) -> tuple[bool | None, str]:
    text = host.read_optional("/proc/mounts")
    if text is None:
        return None, "/proc/mounts not readable"
    best = ("", "", "")
    for mount in parsers.parse_mounts(text):
        point = mount[1].rstrip("/") + "/"
        if (path + "/").startswith(point) and len(point) > len(best[1]):
            best = mount
    shared = best[2] in ("nfs", "nfs4", "glusterfs", "fuse.glusterfs", "ceph", "gfs2", "ocfs2", "cifs")
    return shared, f"{path} is on {best[1] or '/'} ({best[2] or 'unknown'})"


@probe("managedsave_exists", needs="guest")
def managedsave_exists(host: Host, guest: str) -> tuple[bool | None, str]:
    path = f"/var/lib/libvirt/qemu/save/{guest}.save"
    return (True, f"{path} exists") if host.exists(path) else (False, f"no {path}")


@probe("domain_defined", needs="guest")
def domain_defined(host: Host, guest: str) -> tuple[bool | None, str]:
    path = f"/etc/libvirt/qemu/{guest}.xml"
    return (True, f"{path} exists") if host.exists(path) else (False, f"no {path}")


# --- network -------------------------------------------------------------------------------------


SOS_IP_DETAILS = ("sos_commands/networking/ip_-d_address", "sos_commands/networking/ip_-d_link")


def _sos_links(host: Host) -> tuple[str, dict[str, dict[str, str]]] | None:
    """A sosreport's `ip -d address`: sos copies /sys/class/net only in part (never bridge/)."""
    if host.is_live or not host.is_sosreport:
        return None
    for path in SOS_IP_DETAILS:
        text = host.read_optional(path)
        if text is not None:
            return path, parsers.parse_ip_details(text)
    return None


@probe("bridge_exists", needs="bridge")
def bridge_exists(host: Host, bridge: str) -> tuple[bool | None, str]:
    links = _sos_links(host)
    if links is not None:
        path, details = links
        if bridge not in details:
            return False, f"no interface {bridge} in {path}"
        kind = details[bridge].get("kind", "")
        return kind == "bridge", f"{path}: {bridge} is {'a Linux bridge' if kind == 'bridge' else kind or 'no bridge'}"
    if host.is_sosreport:
        return None, "this sosreport has no ip -d address output"
    if not host.is_dir("/sys/class/net"):
        return None, "/sys/class/net not available"
    if host.is_dir(f"/sys/class/net/{bridge}/bridge"):
        return True, f"/sys/class/net/{bridge}/bridge exists"
    if host.exists(f"/sys/class/net/{bridge}"):
        return False, f"{bridge} exists but is not a Linux bridge"
    return False, f"no interface {bridge} in /sys/class/net"


@probe("interface_exists", needs="interface")
def interface_exists(host: Host, interface: str) -> tuple[bool | None, str]:
    links = _sos_links(host)
    if links is not None:
        found = interface in links[1]
        return found, f"{links[0]}: {interface} {'is listed' if found else 'is not listed'}"
    if not host.is_dir("/sys/class/net"):
        return None, "/sys/class/net not available"
    found = host.exists(f"/sys/class/net/{interface}")
    return found, f"/sys/class/net/{interface} {'exists' if found else 'is missing'}"


@probe("bridge_forward_delay_zero", needs="bridge")
def bridge_forward_delay_zero(host: Host, bridge: str) -> tuple[bool | None, str]:
    links = _sos_links(host)
    delay_text = links[1].get(bridge, {}).get("forward_delay") if links else None
    text = delay_text or host.read_optional(f"/sys/class/net/{bridge}/bridge/forward_delay")
    if text is None:
        return None, f"/sys/class/net/{bridge}/bridge/forward_delay not readable"
    delay = int(text.strip() or 0)
    return delay == 0, f"forward_delay = {delay / 100:.0f}s ({delay} centiseconds)"


@probe("network_active", needs="network")
def network_active(host: Host, network: str) -> tuple[bool | None, str]:
    if host.exists(f"/run/libvirt/network/{network}.xml"):
        return True, f"/run/libvirt/network/{network}.xml exists"
    if host.is_dir("/run/libvirt/network"):
        return False, f"no /run/libvirt/network/{network}.xml"
    return None, "no /run/libvirt/network (daemon state unknown)"


@probe("network_autostart", needs="network")
def network_autostart(host: Host, network: str) -> tuple[bool | None, str]:
    path = f"/etc/libvirt/qemu/networks/autostart/{network}.xml"
    if host.exists(path):
        return True, f"{path} exists"
    if host.is_dir("/etc/libvirt/qemu/networks"):
        return False, f"no {path}"
    return None, "/etc/libvirt/qemu/networks not present"


def _processes(host: Host) -> list[str] | None:
    """Command lines of running processes (live /proc, or sosreport ps output)."""
    if host.is_live:
        commands = []
        for pid in host.listdir("/proc"):
            if pid.isdigit():
                text = host.read_optional(f"/proc/{pid}/cmdline")
                if text:
                    commands.append(text.replace("\0", " ").strip())
        return commands
    for path in ("sos_commands/process/ps_auxwww", "sos_commands/process/ps_auxfwww"):
        text = host.read_optional(path)
        if text is not None:
            return text.splitlines()
    return None


def _command_name(line: str) -> str:
    """The program of a process line: /proc cmdline ("/usr/sbin/dnsmasq --conf...") or `ps aux` output
    (USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND)."""
    fields = line.split()
    if len(fields) > 10 and fields[1].isdigit():
        fields = fields[10:]
    return os.path.basename(fields[0]) if fields else ""


@probe("system_dnsmasq_running")
def system_dnsmasq_running(host: Host, _: str) -> tuple[bool | None, str]:
    commands = _processes(host)
    if commands is None:
        return None, "no process list"
    own = [c for c in commands if _command_name(c) == "dnsmasq" and "/var/lib/libvirt/dnsmasq" not in c]
    return (True, f"running: {own[0][:80]}") if own else (False, "no dnsmasq outside libvirt's")


@probe("dnsmasq_bind_interfaces")
def dnsmasq_bind_interfaces(host: Host, _: str) -> tuple[bool | None, str]:
    text = host.read_optional("/etc/dnsmasq.conf")
    if text is None:
        return None, "/etc/dnsmasq.conf not readable"
    for line in text.splitlines():
        if line.strip() in ("bind-interfaces", "bind-dynamic"):
            return True, f"/etc/dnsmasq.conf has {line.strip()}"
    return False, "/etc/dnsmasq.conf has neither bind-interfaces nor bind-dynamic"


@probe("port_53_in_use")
def port_53_in_use(host: Host, _: str) -> tuple[bool | None, str]:
    seen = False
    for path in ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"):
        text = host.read_optional(path)
        if text is None:
            continue
        seen = True
        if 53 in parsers.listening_ports(text):
            return True, f"port 53 is bound ({path})"
    return (False, "nothing listens on port 53") if seen else (None, "/proc/net not readable")


@probe("firewalld_running")
def firewalld_running(host: Host, _: str) -> tuple[bool | None, str]:
    if host.exists("/run/firewalld/firewalld.pid") or host.exists("/var/run/firewalld.pid"):
        return True, "firewalld pid file exists"
    commands = _processes(host)
    if commands is None:
        return None, "no process list"
    running = any("firewalld" in c for c in commands)
    return running, "firewalld is running" if running else "firewalld is not running"


@probe("hostname_is_loopback")
def hostname_is_loopback(host: Host, _: str) -> tuple[bool | None, str]:
    name = (host.read_optional("/etc/hostname") or "").strip()
    hosts = host.read_optional("/etc/hosts")
    if not name or hosts is None:
        return None, "/etc/hostname or /etc/hosts not readable"
    for address, names in parsers.parse_hosts(hosts):
        if (name in names or name.split(".")[0] in names) and address.startswith("127."):
            return True, f"/etc/hosts maps {name} to {address}"
    return False, f"/etc/hosts does not map {name} to a loopback address"


@probe("host_resolves", needs="host")
def host_resolves(host: Host, name: str) -> tuple[bool | None, str]:
    hosts = host.read_optional("/etc/hosts")
    if hosts is None:
        return None, "/etc/hosts not readable"
    for address, names in parsers.parse_hosts(hosts):
        if name in names:
            return True, f"/etc/hosts maps {name} to {address}"
    return None, f"{name} is not in /etc/hosts (virtdiag does no DNS lookups)"


# --- devices -------------------------------------------------------------------------------------


@probe("iommu_enabled")
def iommu_enabled(host: Host, _: str) -> tuple[bool | None, str]:
    if not host.is_dir("/sys/kernel/iommu_groups"):
        return None, "/sys/kernel/iommu_groups not available"
    groups = [name for name in host.listdir("/sys/kernel/iommu_groups") if name.isdigit()]
    return bool(groups), f"{len(groups)} IOMMU groups"


@probe("iommu_cmdline")
def iommu_cmdline(host: Host, _: str) -> tuple[bool | None, str]:
    text = host.read_optional("/proc/cmdline")
    if text is None:
        return None, "/proc/cmdline not readable"
    on = any(word in text.split() for word in ("intel_iommu=on", "amd_iommu=on"))
    return on, "kernel command line " + ("enables" if on else "does not enable") + " the IOMMU"


@probe("hugepages_configured")
def hugepages_configured(host: Host, _: str) -> tuple[bool | None, str]:
    text = host.read_optional("/proc/meminfo")
    if text is None:
        return None, "/proc/meminfo not readable"
    for line in text.splitlines():
        if line.startswith("HugePages_Total:"):
            total = int(line.split()[1])
            return total > 0, f"HugePages_Total = {total}"
    return None, "/proc/meminfo has no HugePages_Total"


OVMF_PATHS = ("/usr/share/OVMF", "/usr/share/edk2/ovmf", "/usr/share/edk2/x64", "/usr/share/qemu/firmware")


@probe("ovmf_installed")
def ovmf_installed(host: Host, _: str) -> tuple[bool | None, str]:
    for path in OVMF_PATHS:
        if host.listdir(path):
            return True, f"{path} has firmware files"
    return False, "no OVMF/edk2 firmware under " + ", ".join(OVMF_PATHS)
