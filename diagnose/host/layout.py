"""Collect stage: the one table of where each kind of evidence lives, on a live host and in a sosreport."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A kind of evidence: where it lives on a host (and in a copy of one; globs allowed) and, in a
    sosreport or an insights-client archive, the command outputs that hold it too (sos_commands/...,
    insights_commands/...). A probe may name files under a directory source (`/sys/class/net/<bridge>/bridge`):
    the table holds the directory."""

    name: str
    paths: tuple[str, ...]
    commands: tuple[str, ...] = ()
    commands_first: bool = False  # in a sosreport, its command outputs are read before the files


SOURCES: tuple[Source, ...] = (
    Source("libvirtd-log", ("/var/log/libvirt/libvirtd.log", "/var/log/libvirt/virtqemud.log",
                            "/var/log/libvirt/virtnetworkd.log")),
    Source("qemu-guest-log", ("/var/log/libvirt/qemu/*.log",)),
    # a copy of a host may carry `journalctl -o export > journal.export` at its top; a sosreport holds the
    # whole journal (journalctl_--no-pager) and parts of it (this boot, the last boot, --since, --catalog)
    Source("journal", ("/var/log/messages", "/var/log/syslog", "/journal*.export"),
           ("sos_commands/logs/journalctl_--no-pager*", "sos_commands/logs/journalctl_--all_--this-boot_--no-pager",
            "sos_commands/logs/journalctl_-o_export", "sos_commands/libvirt/journalctl_--no-pager_--unit_libvirtd*",
            "sos_commands/libvirt/journalctl_*")),
    Source("libvirtd-conf", ("/etc/libvirt/libvirtd.conf",)),
    Source("virtqemud-conf", ("/etc/libvirt/virtqemud.conf",)),
    Source("virtnetworkd-conf", ("/etc/libvirt/virtnetworkd.conf",)),
    Source("virtproxyd-conf", ("/etc/libvirt/virtproxyd.conf",)),
    Source("qemu-conf", ("/etc/libvirt/qemu.conf",)),
    Source("libvirt-conf", ("/etc/libvirt/libvirt.conf",)),
    Source("network-conf", ("/etc/libvirt/network.conf",)),
    Source("daemon-args", ("/etc/sysconfig/libvirtd", "/etc/default/libvirtd")),
    Source("domain-xml", ("/etc/libvirt/qemu/*.xml",)),
    Source("domain-xml-live", ("/run/libvirt/qemu/*.xml", "/var/run/libvirt/qemu/*.xml")),
    Source("network-xml", ("/etc/libvirt/qemu/networks/*.xml",)),
    Source("network-xml-live", ("/run/libvirt/network/*.xml", "/var/run/libvirt/network/*.xml")),
    Source("network-autostart", ("/etc/libvirt/qemu/networks/autostart/*.xml",)),
    Source("virsh-list", (), ("sos_commands/virsh/virsh_-r_list_--all", "sos_commands/libvirt/virsh_-r_list_--all",
                                  "insights_commands/virsh_--readonly_list_--all")),
    Source("virsh-net-list", (), ("sos_commands/virsh/virsh_-r_net-list_--all",
                                  "sos_commands/libvirt/virsh_-r_net-list_--all")),
    Source("virsh-dominfo", (), ("sos_commands/virsh/virsh_-r_dominfo_*",)),
    Source("virsh-capabilities", (), ("sos_commands/virsh/virsh_-r_capabilities",
                                      "sos_commands/libvirt/virsh_capabilities")),  # sos 3.2's libvirt plugin
    Source("cpuinfo", ("/proc/cpuinfo",)),
    Source("modules", ("/proc/modules",), ("sos_commands/kernel/lsmod", "insights_commands/lsmod")),
    Source("cmdline", ("/proc/cmdline",)),
    Source("meminfo", ("/proc/meminfo",)),
    Source("mounts", ("/proc/mounts",)),
    Source("hosts", ("/etc/hosts",)),
    Source("hostname", ("/etc/hostname",), ("hostname", "sos_commands/general/hostname", "sos_commands/host/hostname",
                                               "insights_commands/hostname_-f", "insights_commands/hostname")),
    Source("sysconfig-network", ("/etc/sysconfig/network",)),  # RHEL 6 and older: HOSTNAME=, no /etc/hostname
    Source("group", ("/etc/group",)),
    Source("passwd", ("/etc/passwd",)),
    Source("environment", ("/etc/environment", "/etc/profile.d/*.sh")),
    Source("dnsmasq-conf", ("/etc/dnsmasq.conf",)),
    Source("dnsmasq-default", ("/etc/default/dnsmasq",)),  # Debian: CONFIG_DIR, given to dnsmasq as -7
    Source("ifcfg", ("/etc/sysconfig/network-scripts/ifcfg-*",)),
    Source("managed-save", ("/var/lib/libvirt/qemu/save/*.save",)),
    # what the probes read (facts): files whose existence or content answers one question
    Source("ca-cert", ("/etc/pki/CA/cacert.pem",)),
    Source("server-cert", ("/etc/pki/libvirt/servercert.pem", "/etc/pki/libvirt/private/serverkey.pem")),
    Source("libvirt-run", ("/run/libvirt", "/var/run/libvirt")),  # the daemons' sockets
    Source("systemd-wants", ("/etc/systemd/system/sockets.target.wants",
                             "/etc/systemd/system/multi-user.target.wants")),
    Source("systemd-units", ("/run/systemd/units",), ("sos_commands/systemd/systemctl_list-units",
                                                        "sos_commands/systemd/systemctl_list-units_--all",
                                                        "insights_commands/systemctl_list-units")),
    Source("dbus-socket", ("/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket")),
    Source("polkitd", ("/usr/lib/polkit-1/polkitd", "/usr/libexec/polkitd")),
    Source("dev-kvm", ("/dev/kvm",)),
    Source("dev-tun", ("/dev/net/tun",)),
    Source("dev-vhost-net", ("/dev/vhost-net",)),
    Source("selinux-enforce", ("/sys/fs/selinux/enforce",)),
    Source("apparmor-enabled", ("/sys/module/apparmor/parameters/enabled",)),
    Source("sys-net", ("/sys/class/net",)),
    Source("ip-details", (), ("sos_commands/networking/ip_-d_address", "sos_commands/networking/ip_-d_link",
                                   "insights_commands/ip_-s_-d_link")),
    Source("ifupdown", ("/etc/network/interfaces", "/etc/network/interfaces.d/*")),
    Source("nm-connections", ("/etc/NetworkManager/system-connections/*",)),
    Source("processes", ("/proc",), ("sos_commands/process/ps_auxwww", "sos_commands/process/ps_auxfwww",
                                       "insights_commands/ps_auxww", "insights_commands/ps_aux")),
    Source("libvirt-dnsmasq", ("/var/lib/libvirt/dnsmasq",)),  # libvirt's own dnsmasq runs with files here
    Source("sockets", ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6")),
    Source("firewalld-pid", ("/run/firewalld.pid", "/var/run/firewalld.pid"),
           ("sos_commands/firewalld/firewall-cmd_--state",)),
    Source("firewalld-conf", ("/etc/firewalld/firewalld.conf",)),
    Source("firewalld-zones", ("/etc/firewalld/zones/libvirt.xml", "/usr/lib/firewalld/zones/libvirt.xml"),
           ("sos_commands/firewalld/firewall-cmd_--list-all-zones",
            "insights_commands/firewall-cmd_--list-all-zones")),
    Source("package-lists", ("/var/lib/dpkg/status",),  # RHEL's /var/lib/rpm is a binary database: not read
           ("installed-rpms", "sos_commands/rpm/package-data", "installed-debs", "sos_commands/dpkg/dpkg_-l",
            "insights_commands/rpm_-qa*")),
    Source("iommu-groups", ("/sys/kernel/iommu_groups",)),
    Source("pci-devices", ("/sys/bus/pci/devices",)),
    Source("kernel-logs", ("/var/log/dmesg", "/var/log/kern.log", "/var/log/messages", "/var/log/syslog"),
           ("sos_commands/kernel/dmesg", "insights_commands/dmesg"), commands_first=True),
    Source("kvm-parameters", ("/sys/module/kvm/parameters",)),
    Source("unsafe-interrupts", ("/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts",
                                 "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts")),
    Source("sys-module", ("/sys/module",)),
    Source("modprobe-conf", ("/etc/modprobe.d/*.conf",)),
    Source("release-files", ("/etc/debian_version", "/etc/redhat-release", "/etc/fedora-release",
                             "/etc/centos-release", "/etc/os-release")),
    Source("qemu-caps-cache", ("/var/cache/libvirt/qemu/capabilities/*.xml",)),  # libvirt's view of each QEMU
    Source("firmware-descriptors", ("/usr/share/qemu/firmware/*.json", "/etc/qemu/firmware/*.json")),
    Source("firmware-dirs", ("/usr/share/OVMF", "/usr/share/edk2/ovmf", "/usr/share/edk2/x64",
                             "/usr/share/qemu/firmware")),
)
SOURCE_BY_NAME = {s.name: s for s in SOURCES}
LOG_SOURCES = ("libvirtd-log", "qemu-guest-log", "journal")

CONF_SOURCES = ("libvirtd-conf", "virtqemud-conf", "virtnetworkd-conf", "virtproxyd-conf", "qemu-conf",
                "libvirt-conf", "network-conf")



def paths(name: str, collected: bool = False) -> tuple[str, ...]:
    """Where a source lives, in the order it is read: its files, and (in a sosreport or an insights archive)
    the command outputs."""
    source = SOURCE_BY_NAME[name]
    if not collected:
        return source.paths
    return source.commands + source.paths if source.commands_first else source.paths + source.commands


def path(name: str) -> str:
    """The one file (or directory) of a single-path source."""
    return SOURCE_BY_NAME[name].paths[0]


def directory(name: str) -> str:
    """The directory a source's files are in (a glob source: where its files are listed)."""
    return SOURCE_BY_NAME[name].paths[0].rpartition("/")[0]
