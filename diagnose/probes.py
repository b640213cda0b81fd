"""Probe stage: @probe functions read the host (never write) and answer one fact: True, False or None."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from diagnose import parsers
from diagnose.model import Fact
from diagnose.sources import Host, Unreadable, host_name, read_dnsmasq, read_ifcfg


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
            if host.exists("/proc/modules") or host.exists("sos_commands/kernel/lsmod"):
                return None, "/proc/modules not readable"
            return None, "no module list (/proc/modules is absent: a kernel without loadable modules, or a copy " \
                         "without it); modules built into the kernel are not listed anyway"
        loaded = sorted(modules & set(names))
        return (True, f"{', '.join(loaded)} loaded") if loaded else (False, f"{' / '.join(names)} not loaded")

    return check


PROBES["kvm_module_loaded"] = ProbeSpec("kvm_module_loaded", "", _module_probe(("kvm_intel", "kvm_amd")))


@probe("vhost_net_loaded")
def vhost_net_loaded(host: Host, _: str) -> tuple[bool | None, str]:
    """The guide's test is `ls /dev/vhost-net`: the node exists when vhost-net is built in or loaded
    (or loads on first open); otherwise the module list decides."""
    if host.exists("/dev/vhost-net"):
        return True, "/dev/vhost-net exists"
    return _module_probe(("vhost_net",))(host, "")


PROBES["vfio_loaded"] = ProbeSpec("vfio_loaded", "", _module_probe(("vfio_pci",)))


@probe("dev_kvm_exists")
def dev_kvm_exists(host: Host, _: str) -> tuple[bool | None, str]:
    """/dev/kvm exists; a copy of a host without /dev asks libvirt's capabilities (a sosreport's
    `virsh -r capabilities`): a guest domain type kvm means libvirt could open /dev/kvm."""
    if host.exists("/dev/kvm"):
        return True, "/dev/kvm exists"
    if host.is_live or host.is_dir("/dev"):
        return False, "/dev/kvm is missing"
    for path in host.find("virsh-capabilities"):
        caps = parsers.parse_capabilities(host.read_optional(path) or "")
        if caps is not None:
            kvm = "kvm" in caps.domain_types()
            return kvm, f"{path}: " + ("a guest domain type kvm is offered" if kvm else
                                       f"domain types {', '.join(sorted(caps.domain_types())) or 'none'}, no kvm")
    return None, "this copy of the host has no /dev and no virsh capabilities output"
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
    if host.exists(path):
        return True, f"{path} exists"
    info = _dominfo(host, guest)
    if info is not None and info[1].get("Managed save") in ("yes", "no"):
        return info[1]["Managed save"] == "yes", f"{info[0]}: Managed save: {info[1]['Managed save']}"
    return False, f"no {path}"


def _dominfo(host: Host, guest: str) -> tuple[str, dict[str, str]] | None:
    """A sosreport's `virsh -r dominfo` of the guest: (path, fields)."""
    if not host.is_sosreport:
        return None
    for path in host.find("virsh-dominfo"):
        info = parsers.parse_virsh_dominfo(host.read_optional(path) or "")
        if info.get("Name") == guest:
            return path, info
    return None


@probe("domain_defined", needs="guest")
def domain_defined(host: Host, guest: str) -> tuple[bool | None, str]:
    path = f"/etc/libvirt/qemu/{guest}.xml"
    if host.exists(path):
        return True, f"{path} exists"
    info = _dominfo(host, guest)
    if info is not None and info[1].get("Persistent") in ("yes", "no"):
        return info[1]["Persistent"] == "yes", f"{info[0]}: Persistent: {info[1]['Persistent']}"
    return False, f"no {path}"


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
    if not host.is_sosreport and host.is_dir("/sys/class/net"):  # a sosreport's /sys/class/net has no bridge/
        if host.is_dir(f"/sys/class/net/{bridge}/bridge"):
            return True, f"/sys/class/net/{bridge}/bridge exists"
        if host.exists(f"/sys/class/net/{bridge}"):
            return False, f"{bridge} exists but is not a Linux bridge"
        return False, f"no interface {bridge} in /sys/class/net"
    configured = _ifcfg_bridge(host, bridge)
    if configured is not None:
        return configured
    return None, "this sosreport has no ip -d address output" if host.is_sosreport else "/sys/class/net not available"


def _ifcfg_bridge(host: Host, bridge: str) -> tuple[bool | None, str] | None:
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
        return False, (f"no ifcfg-* file in /etc/sysconfig/network-scripts configures {bridge} ({why}; a bridge "
                       f"made by hand with brctl would not show)")
    path, text = scripts[bridge]
    values = parsers.parse_ifcfg(text)
    kind = values.get("TYPE", "")
    if kind.lower() != "bridge":
        return False, f"{path} configures {bridge} as TYPE={kind or '(none: Ethernet)'}, not as a Linux bridge"
    return None, (f"{path} configures {bridge} as a bridge (TYPE={kind}, ONBOOT={values.get('ONBOOT', 'yes')}), "
                  f"but a configuration is no proof that it exists now: {why}")


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


def _network_config(host: Host) -> list[tuple[str, str, dict[str, str]]] | None:
    """Interfaces the host's network configuration defines: (where, name, options) from ifupdown's
    /etc/network/interfaces (and interfaces.d), RHEL's ifcfg-* and NetworkManager's keyfiles; None when
    none of them can be read."""
    found: list[tuple[str, str, dict[str, str]]] = []
    seen_any = False
    for path in ["/etc/network/interfaces", *host.glob("/etc/network/interfaces.d/*")]:
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
    for path in host.glob("/etc/NetworkManager/system-connections/*"):
        text = host.read_optional(path)
        if text is not None:
            seen_any = True
            values = dict(re.findall(r"(?m)^\s*([\w-]+)\s*=\s*(.*?)\s*$", text))
            if values.get("interface-name"):
                found.append((path, values["interface-name"], {"type": values.get("type", "")}))
    return found if seen_any else None


@probe("bridge_configured", needs="bridge")
def bridge_configured(host: Host, bridge: str) -> tuple[bool | None, str]:
    """The host's network configuration defines this bridge (so it should exist: it only needs bringing up)."""
    if not bridge:
        return None, "no bridge name"
    config = _network_config(host)
    if config is None:
        return None, "no network configuration readable (/etc/network/interfaces, ifcfg-*, NetworkManager)"
    for where, name, options in config:
        if name == bridge and options.get("type") == "bridge":
            return True, f"{where} defines bridge {bridge}"
    return False, f"no network configuration file defines a bridge {bridge}"


@probe("ifupdown_in_use")
def ifupdown_in_use(host: Host, _: str) -> tuple[bool | None, str]:
    """Debian's ifupdown configures this host's network (interfaces other than lo in /etc/network/interfaces)."""
    text = host.read_optional("/etc/network/interfaces")
    if text is None:
        if host.exists("/etc/network/interfaces"):
            return None, "/etc/network/interfaces not readable"
        return False, "no /etc/network/interfaces"
    names = [name for name in parsers.parse_interfaces(text) if name != "lo"]
    return (True, f"/etc/network/interfaces configures {', '.join(names)}") if names else (
        False, "/etc/network/interfaces configures only lo")


@probe("bridge_forward_delay_zero", needs="bridge")
def bridge_forward_delay_zero(host: Host, bridge: str) -> tuple[bool | None, str]:
    links = _sos_links(host)
    delay_text = links[1].get(bridge, {}).get("forward_delay") if links else None
    text = delay_text or host.read_optional(f"/sys/class/net/{bridge}/bridge/forward_delay")
    if text is None:
        return _ifcfg_delay(host, bridge) or (None, f"/sys/class/net/{bridge}/bridge/forward_delay not readable")
    delay = int(text.strip() or 0)
    return delay == 0, f"forward_delay = {delay / 100:.0f}s ({delay} centiseconds)"


def _ifcfg_delay(host: Host, bridge: str) -> tuple[bool | None, str] | None:
    """The forward delay RHEL's network scripts give a bridge (`brctl setfd BRIDGE DELAY` at ifup; no DELAY=
    leaves the kernel's 15 s), for a copy with no /sys: the configuration, which the detail says."""
    scripts = read_ifcfg(host)
    if scripts is None or bridge not in scripts:
        return None
    path, text = scripts[bridge]
    values = parsers.parse_ifcfg(text)
    if values.get("TYPE", "").lower() != "bridge":
        return None
    why = f"configured in {path}; this copy has no /sys/class/net/{bridge}/bridge"
    if "DELAY" not in values:
        return False, f"no DELAY= in {path}: the kernel's default forward delay of 15 s applies ({why})"
    try:
        seconds = float(values["DELAY"])
    except ValueError:
        return None, f"DELAY={values['DELAY']} in {path} is not a number"
    line = parsers.ifcfg_line(text, "DELAY")[0]
    return seconds == 0, f"{path}:{line}: DELAY={values['DELAY']}, a forward delay of {seconds:g} s ({why})"


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


def _system_dnsmasq(host: Host) -> list[str] | None:
    """Command lines of the dnsmasq processes libvirt did not start (None without a process list)."""
    commands = _processes(host)
    if commands is None:
        return None
    return [c for c in commands if _command_name(c) == "dnsmasq" and "/var/lib/libvirt/dnsmasq" not in c]


@probe("system_dnsmasq_running")
def system_dnsmasq_running(host: Host, _: str) -> tuple[bool | None, str]:
    own = _system_dnsmasq(host)
    if own is None:
        return None, "no process list"
    return (True, f"running: {own[0][:80]}") if own else (False, "no dnsmasq outside libvirt's")


BIND_OPTIONS = ("bind-interfaces", "bind-dynamic")
SCOPE_OPTIONS = ("interface", "except-interface", "listen-address")


@probe("dnsmasq_bind_interfaces")
def dnsmasq_bind_interfaces(host: Host, _: str) -> tuple[bool | None, str]:
    """bind-interfaces or bind-dynamic on the running system dnsmasq's command line, or in its
    configuration: /etc/dnsmasq.conf and the files it includes (conf-file=, conf-dir=, Debian's
    CONFIG_DIR). interface=, except-interface= and listen-address= are named in the detail."""
    command = next(iter(_system_dnsmasq(host) or []), "")
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
    files = ", ".join(dict.fromkeys(path for path, *_ in settings)) or "/etc/dnsmasq.conf"
    return False, (f"neither bind-interfaces nor bind-dynamic in {files}"
                   + (f"; {scope} only filters requests: dnsmasq still binds the wildcard address" if scope else ""))


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


SOS_UNITS = ("sos_commands/systemd/systemctl_list-units", "sos_commands/systemd/systemctl_list-units_--all")


def _unit_active(host: Host, unit: str) -> tuple[bool | None, str]:
    """Whether a systemd unit is active: systemd keeps /run/systemd/units/invocation:UNIT while it is
    (live, or a copy holding /run); a sosreport has `systemctl list-units`."""
    if host.is_dir("/run/systemd/units"):
        path = f"/run/systemd/units/invocation:{unit}"
        active = host.lexists(path)
        return active, f"{path} {'exists' if active else 'is missing'}: {unit} is {'' if active else 'not '}active"
    for path in SOS_UNITS if host.is_sosreport else ():
        text = host.read_optional(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.replace("\u25cf", " ").split()
            if fields[:1] == [unit]:
                return fields[2:4] == ["active", "running"], f"{path}:{number}: {' '.join(fields[:4])}"
        return False, f"{path} does not list {unit}"
    return None, "no systemd unit state"


@probe("firewalld_running")
def firewalld_running(host: Host, _: str) -> tuple[bool | None, str]:
    for path in ("/run/firewalld.pid", "/var/run/firewalld.pid"):
        pid = (host.read_optional(path) or "").strip()
        if pid.isdigit() and (not host.is_live or host.is_dir(f"/proc/{pid}")):
            return True, f"{path}: pid {pid}"
    if host.is_sosreport:
        state = (host.read_optional("sos_commands/firewalld/firewall-cmd_--state") or "").strip()
        if state in ("running", "not running"):
            return state == "running", f"firewall-cmd --state: {state}"
    value, detail = _unit_active(host, "firewalld.service")
    if value is not None:
        return value, detail
    commands = _processes(host)
    if commands is None:
        return None, "no process list and no systemd unit state"
    running = any(_command_name(c) == "firewalld" or "/firewalld " in f"{c} " for c in commands)
    return running, "firewalld is running" if running else "no firewalld process"


def _firewalld_conf(host: Host) -> tuple[str, int, str] | None:
    """FirewallBackend in /etc/firewalld/firewalld.conf: (value, line number, line)."""
    text = host.read_optional("/etc/firewalld/firewalld.conf")
    number, line = parsers.conf_line(text, "FirewallBackend") if text is not None else (0, "")
    return (line.split("=", 1)[1].strip(), number, line) if number else None


@probe("firewalld_nftables_backend")
def firewalld_nftables_backend(host: Host, _: str) -> tuple[bool | None, str]:
    conf = _firewalld_conf(host)
    if conf is not None:
        return conf[0].lower() == "nftables", f"/etc/firewalld/firewalld.conf:{conf[1]}: {conf[2]}"
    package = _package(host, ("firewalld",))
    if package is None:
        return None, "no FirewallBackend in /etc/firewalld/firewalld.conf and firewalld's version unknown"
    nft = parsers.version_key(package[1]) >= (0, 6)
    return nft, (f"FirewallBackend not set: firewalld {package[1]} defaults to nftables" if nft else
                 f"firewalld {package[1]} has only the iptables backend") + f", {package[2]}"


ZONE_FILES = ("/etc/firewalld/zones/libvirt.xml", "/usr/lib/firewalld/zones/libvirt.xml")


@probe("firewalld_libvirt_zone")
def firewalld_libvirt_zone(host: Host, _: str) -> tuple[bool | None, str]:
    path = "sos_commands/firewalld/firewall-cmd_--list-all-zones"
    zones = host.read_optional(path) if host.is_sosreport else None
    if zones:
        for number, line in enumerate(zones.splitlines(), start=1):
            if line.split()[:1] == ["libvirt"]:
                return True, f"{path}:{number}: {line.strip()}"
        return False, f"{path} has no libvirt zone"
    for zone in ZONE_FILES:
        if host.exists(zone):
            return True, f"{zone} exists"
    if host.is_dir("/usr/lib/firewalld/zones"):
        return False, f"neither {' nor '.join(ZONE_FILES)} exists"
    return None, "/usr/lib/firewalld/zones is not in this copy of the host"


@probe("libvirt_sets_firewalld_zone")
def libvirt_sets_firewalld_zone(host: Host, _: str) -> tuple[bool | None, str]:
    package = _package(host, LIBVIRT_PACKAGES)
    if package is None:
        return None, "libvirt's version unknown (no package list)"
    newer = parsers.version_key(package[1]) >= (5, 1)
    return newer, f"{package[0]} {package[1]} ({'5.1 or later' if newer else 'before 5.1'}), {package[2]}"


PACKAGE_LISTS = ("/var/lib/dpkg/status",)  # RHEL's /var/lib/rpm is a binary database: not read
SOS_PACKAGE_LISTS = ("installed-rpms", "sos_commands/rpm/package-data", "installed-debs", "sos_commands/dpkg/dpkg_-l")
LIBVIRT_PACKAGES = ("libvirt-daemon-driver-network", "libvirt-daemon", "libvirt-daemon-system", "libvirt")


def _package(host: Host, names: tuple[str, ...]) -> tuple[str, str, str] | None:
    """The first of `names` installed, from the package lists a host or sosreport holds as text:
    (name, version, "path:line")."""
    for path in PACKAGE_LISTS + (SOS_PACKAGE_LISTS if host.is_sosreport else ()):
        if not host.exists(path):
            continue
        for name in names:
            try:
                found = parsers.find_package(host.iter_lines(path), name)
            except Unreadable as exc:
                host.note(path, str(exc).removeprefix(f"{path}: "))
                break
            if found:
                return name, found[1], f"{path}:{found[0]}"
    return None


@probe("iptables_checksum_target")
def iptables_checksum_target(host: Host, _: str) -> tuple[bool | None, str]:
    """iptables 1.4.10 was the first with the CHECKSUM target (libxt_CHECKSUM) that fills in DHCP replies'
    checksums; the version comes from the package lists (`iptables --version` is never run)."""
    package = _package(host, ("iptables",))
    if package is None:
        return None, "iptables version unknown (no package list names it)"
    ok = parsers.version_key(package[1]) >= (1, 4, 10)
    if not ok and ".el6" in package[1]:
        return None, (f"iptables {package[1]}, {package[2]}: RHEL 6's 1.4.7 carries the CHECKSUM target as a "
                      "backport, so its version proves nothing; only libvirt's 'Could not add rule to fixup DHCP "
                      "response checksums' warning shows the rule failing")
    return ok, f"iptables {package[1]} ({'1.4.10 or later' if ok else 'older than 1.4.10: no CHECKSUM target'}), " \
               f"{package[2]}"


@probe("hostname_is_loopback")
def hostname_is_loopback(host: Host, _: str) -> tuple[bool | None, str]:
    named = host_name(host)
    name = named[0] if named else ""
    hosts = host.read_optional("/etc/hosts")
    if not name or hosts is None:
        return None, "no host name (/etc/hostname, /etc/sysconfig/network HOSTNAME=) or /etc/hosts not readable"
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


VFIO_SAFE_DRIVERS = ("vfio-pci", "pci-stub")


@probe("pci_host_driver_bound", needs="device")
def pci_host_driver_bound(host: Host, device: str) -> tuple[bool | None, str]:
    """A PCI endpoint bound to a host driver keeps its IOMMU group from being assigned (VFIO allows
    vfio-pci, pci-stub, no driver, and bridges)."""
    base = f"/sys/bus/pci/devices/{device}"
    if not host.is_dir(base):
        return None, f"{base} is not in this copy of the host"
    pci_class = (host.read_optional(f"{base}/class") or "").strip().lower()
    if pci_class.startswith(("0x0604", "0x0607")):
        return False, f"{device} is a PCI bridge (class {pci_class})"
    driver = os.path.basename(host.link_target(f"{base}/driver"))
    if not driver:
        return False, f"{device} is bound to no driver"
    held = driver not in VFIO_SAFE_DRIVERS
    return held, f"{base}/driver -> {driver}" + (" (a host driver)" if held else "")


KERNEL_LOGS = ("/var/log/dmesg", "/var/log/kern.log", "/var/log/messages", "/var/log/syslog")


@probe("interrupt_remapping_enabled")
def interrupt_remapping_enabled(host: Host, _: str) -> tuple[bool | None, str]:
    """From the kernel's boot messages (DMAR-IR / AMD-Vi lines; `dmesg` is never run) or intremap=off."""
    cmdline = (host.read_optional("/proc/cmdline") or "").split()
    off = [word for word in cmdline if word in ("intremap=off", "nointremap")]
    if off:
        return False, f"/proc/cmdline has {off[0]}"
    logs = (("sos_commands/kernel/dmesg",) if host.is_sosreport else ()) + KERNEL_LOGS
    for path in logs:
        if not host.exists(path):
            continue
        try:
            found = parsers.irq_remapping_state(host.iter_lines(path))
        except Unreadable as exc:
            host.note(path, str(exc).removeprefix(f"{path}: "))
            continue
        if found:
            return found[0], f"{path}:{found[1]}: {found[2].strip()}"
    return None, "no kernel log line says whether interrupt remapping is enabled"


UNSAFE_PARAMETERS = (("kvm", "allow_unsafe_assigned_interrupts"), ("vfio_iommu_type1", "allow_unsafe_interrupts"))


@probe("unsafe_interrupts_allowed")
def unsafe_interrupts_allowed(host: Host, _: str) -> tuple[bool | None, str]:
    """kvm allow_unsafe_assigned_interrupts (RHEL 6 legacy assignment) or vfio_iommu_type1
    allow_unsafe_interrupts: the module parameter if loaded, else modprobe.d and the kernel command line."""
    seen = []
    for module, name in UNSAFE_PARAMETERS:
        path = f"/sys/module/{module}/parameters/{name}"
        value = host.read_optional(path)
        if value is not None:
            if value.strip() in ("Y", "1"):
                return True, f"{path} = {value.strip()}"
            seen.append(f"{path} = {value.strip()}")
    if seen:
        return False, "; ".join(seen)
    sources = [("/proc/cmdline", host.read_optional("/proc/cmdline") or "")]
    sources += [(path, host.read_optional(path) or "") for path in host.glob("/etc/modprobe.d/*.conf")]
    for path, text in sources:
        for module, name in UNSAFE_PARAMETERS:
            if re.search(rf"(?:^\s*options\s+{module}\s.*|\b{module}\.)\b{name}=(?:1|Y|y)\b", text, re.M):
                return True, f"{path} sets {module} {name}=1"
    if host.is_dir("/sys/module"):
        return False, "neither module parameter is set (both default to N)"
    return None, "/sys/module is not in this copy of the host"


@probe("legacy_kvm_assignment")
def legacy_kvm_assignment(host: Host, _: str) -> tuple[bool | None, str]:
    """The kernel has KVM's legacy device assignment (RHEL 6's pci-assign; removed in Linux 4.12): its kvm
    module has the allow_unsafe_assigned_interrupts parameter. Current kernels assign through VFIO."""
    parameter = "/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts"
    if host.exists(parameter):
        return True, f"{parameter} exists: legacy KVM assignment (pci-assign)"
    if host.is_dir("/sys/module/kvm/parameters"):
        return False, f"no {parameter}: devices are assigned through VFIO"
    return None, "/sys/module/kvm/parameters is not in this copy of the host (or kvm is not loaded)"


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


@probe("debian_family")
def debian_family(host: Host, _: str) -> tuple[bool | None, str]:
    """Which package tools a fix should use: Debian and Ubuntu (apt) or the Red Hat family (yum, dnf)."""
    if host.exists("/etc/debian_version"):
        return True, "/etc/debian_version exists (Debian or Ubuntu: apt)"
    for release in ("/etc/redhat-release", "/etc/fedora-release", "/etc/centos-release"):
        if host.exists(release):
            return False, f"{release} exists (Red Hat family: yum or dnf)"
    values = parsers.parse_shell_vars(host.read_optional("/etc/os-release") or "")  # what a sosreport keeps
    family = f"{values.get('ID', '')} {values.get('ID_LIKE', '')}".split()
    if {"debian", "ubuntu"} & set(family):
        return True, f"/etc/os-release: ID={values.get('ID', '')} (apt)"
    if {"rhel", "fedora", "centos"} & set(family):
        return False, f"/etc/os-release: ID={values.get('ID', '')} (yum or dnf)"
    return None, "no /etc/debian_version, /etc/redhat-release or known ID in /etc/os-release"


@probe("ovmf_installed")
def ovmf_installed(host: Host, _: str) -> tuple[bool | None, str]:
    for path in OVMF_PATHS:
        if host.listdir(path):
            return True, f"{path} has firmware files"
    return False, "no OVMF/edk2 firmware under " + ", ".join(OVMF_PATHS)
