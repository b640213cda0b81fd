"""Probes, KVM and the guest's platform: CPU flags, kvm and vhost modules, device nodes, hugepages, UEFI firmware."""

from __future__ import annotations

import os

from diagnose import parsers, virsh
from diagnose.host import layout
from diagnose.host.base import Host
from diagnose.probes.base import Answer, exists_probe, module_probe, probe, register


@probe("cpu_virt_flags", reads=("cpuinfo",))
def cpu_virt_flags(host: Host, _: str) -> Answer:
    """/proc/cpuinfo has vmx or svm"""
    text = host.read_optional(layout.path("cpuinfo"))
    if text is None:
        return None, "/proc/cpuinfo not readable"
    flags = parsers.parse_cpuinfo_flags(text)
    if not flags:
        return None, "/proc/cpuinfo has no flags line"
    found = sorted(flags & {"vmx", "svm"})
    return (True, f"cpu flags include {', '.join(found)}") if found else (False, "no vmx or svm in cpu flags")


register("kvm_module_loaded", module_probe(("kvm_intel", "kvm_amd")), reads=("modules",),
         doc="kvm_intel or kvm_amd is in /proc/modules")


@probe("vhost_net_loaded", reads=("dev-vhost-net", "modules"))
def vhost_net_loaded(host: Host, _: str) -> Answer:
    """/dev/vhost-net exists, or vhost_net is in /proc/modules (sosreport: lsmod)

    The guide's test is `ls /dev/vhost-net`: the node exists when vhost-net is built in or loaded
    (or loads on first open); otherwise the module list decides."""
    node = layout.path("dev-vhost-net")
    if host.exists(node):
        return True, f"{node} exists"
    return module_probe(("vhost_net",))(host, "")


register("vfio_loaded", module_probe(("vfio_pci",)), reads=("modules",), doc="vfio_pci is in /proc/modules")


@probe("dev_kvm_exists", reads=("dev-kvm", "virsh-capabilities"))
def dev_kvm_exists(host: Host, _: str) -> Answer:
    """/dev/kvm exists (a copy without /dev: `virsh capabilities` offers domain type kvm)

    A copy of a host without /dev asks libvirt's capabilities (a sosreport's `virsh -r capabilities`):
    a guest domain type kvm means libvirt could open /dev/kvm."""
    node = layout.path("dev-kvm")
    if host.exists(node):
        return True, f"{node} exists"
    if host.is_live or host.is_dir(os.path.dirname(node)):
        return False, f"{node} is missing"
    for path in host.find("virsh-capabilities"):
        caps = virsh.parse_capabilities(host.read_optional(path) or "")
        if caps is not None:
            kvm = "kvm" in caps.domain_types()
            return kvm, f"{path}: " + ("a guest domain type kvm is offered" if kvm else
                                       f"domain types {', '.join(sorted(caps.domain_types())) or 'none'}, no kvm")
    return None, "this copy of the host has no /dev and no virsh capabilities output"


register("tun_device_exists", exists_probe("dev-tun"), reads=("dev-tun",))


@probe("hugepages_configured", reads=("meminfo",))
def hugepages_configured(host: Host, _: str) -> Answer:
    """/proc/meminfo HugePages_Total > 0"""
    text = host.read_optional(layout.path("meminfo"))
    if text is None:
        return None, "/proc/meminfo not readable"
    for line in text.splitlines():
        if line.startswith("HugePages_Total:"):
            total = int(line.split()[1])
            return total > 0, f"HugePages_Total = {total}"
    return None, "/proc/meminfo has no HugePages_Total"


@probe("ovmf_installed", reads=("firmware-dirs",))
def ovmf_installed(host: Host, _: str) -> Answer:
    """an OVMF/edk2 firmware file is installed"""
    for path in layout.paths("firmware-dirs"):
        if host.listdir(path):
            return True, f"{path} has firmware files"
    return False, "no OVMF/edk2 firmware under " + ", ".join(layout.paths("firmware-dirs"))


QEMU_DEFAULT_USER = {True: ("libvirt-qemu", "libvirt-qemu"), False: ("qemu", "qemu")}  # Debian family or not


def qemu_identity(host: Host) -> tuple[str, str, str]:
    """The user and group QEMU runs as: qemu.conf's `user`/`group`, else the distribution's default
    (libvirt-qemu on Debian and Ubuntu, qemu on the Red Hat family); and where that was read."""
    from diagnose.probes.base import conf
    from diagnose.probes.system import debian_family

    values = conf(host, "qemu-conf") or {}
    family = debian_family(host, "")[0]
    default_user, default_group = QEMU_DEFAULT_USER[family] if family is not None else ("", "")
    user, group = str(values.get("user", "") or default_user), str(values.get("group", "") or default_group)
    where = "qemu.conf" if values.get("user") else ("the distribution's default" if default_user else "")
    return user, group, where


@probe("dev_kvm_accessible", reads=("dev-kvm", "qemu-conf", "passwd", "group", "release-files"))
def dev_kvm_accessible(host: Host, _: str) -> Answer:
    """QEMU's user (qemu.conf `user`/`group`, else libvirt-qemu on Debian and Ubuntu, qemu on the Red Hat family)
    may open /dev/kvm read-write: by owner, group or other bits, or a POSIX ACL on the live host

    libvirt starts QEMU with that user's supplementary groups, so membership of /dev/kvm's group counts."""
    node = layout.path("dev-kvm")
    st = host.stat(node)
    if st is None:
        return None, f"{node} does not exist or is not in this copy of the host"
    if not host.is_live and host.kind == "tree":
        return None, f"a copied tree does not keep {node}'s owner and mode (only the live host and an archive do)"
    user, group, where = qemu_identity(host)
    if not user:
        return None, "QEMU's user is unknown (qemu.conf sets none, and the distribution is unknown)"
    if user in ("root", "+0", "0"):
        return True, f"QEMU runs as root ({where})"
    users = parsers.parse_passwd(host.read_optional(layout.path("passwd")) or "")
    group_text = host.read_optional(layout.path("group")) or ""
    gids = parsers.group_ids(group_text)
    if user not in users:
        return None, f"QEMU's user {user} ({where}) is not in {layout.path('passwd')}"
    uid, primary = users[user]
    member_of = {primary} | {gids[name] for name, members in parsers.parse_group(group_text).items()
                             if user in members and name in gids} | ({gids[group]} if group in gids else set())
    mode = st.st_mode
    shown = f"{node} is {oct(mode & 0o777)} {st.st_uid}:{st.st_gid}; QEMU runs as {user} ({where})"
    if (st.st_uid == uid and mode & 0o600 == 0o600) or (st.st_gid in member_of and mode & 0o060 == 0o060) \
            or mode & 0o006 == 0o006:
        return True, shown
    real = host.real_path(node) if host.is_live else None
    if real:
        try:
            acl = parsers.parse_posix_acl(os.getxattr(real, "system.posix_acl_access"))
        except OSError:
            acl = []
        mask = next((perm for tag, perm, _ in acl if tag == parsers.POSIX_ACL_MASK), 0o7)
        if any(tag == parsers.POSIX_ACL_USER and who == uid and perm & mask & 0o6 == 0o6 for tag, perm, who in acl) \
                or any(tag == parsers.POSIX_ACL_GROUP and who in member_of and perm & mask & 0o6 == 0o6
                       for tag, perm, who in acl):
            return True, f"{shown}; an ACL grants it"
    return False, f"{shown}: neither owner, group nor other bits let it read and write"


@probe("kvm_in_kernel", reads=("modules", "sys-module"))
def kvm_in_kernel(host: Host, _: str) -> Answer:
    """the kernel has KVM for this CPU: kvm_intel or kvm_amd loaded, or built in (/sys/module/kvm_intel ...)"""
    found = module_probe(("kvm_intel", "kvm_amd"))(host, "")
    if found[0]:
        return found
    sys_module = layout.path("sys-module")
    built_in = [name for name in ("kvm_intel", "kvm_amd", "kvm") if host.is_dir(f"{sys_module}/{name}")]
    if built_in:
        return True, f"{sys_module}/{built_in[0]} exists (built into the kernel)"
    if found[0] is False and host.is_dir(sys_module):
        return False, f"{found[1]}, and not built in ({sys_module} has no kvm)"
    return found[0], found[1]
