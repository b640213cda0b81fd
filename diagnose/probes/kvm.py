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
