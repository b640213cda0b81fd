"""Probes, device assignment: the IOMMU, PCI drivers, interrupt remapping and the unsafe-interrupt
parameters, legacy KVM assignment."""

from __future__ import annotations

import os
import re

from diagnose import parsers
from diagnose.host import layout
from diagnose.host.base import Host, Unreadable
from diagnose.probes.base import Answer, probe

VFIO_SAFE_DRIVERS = ("vfio-pci", "pci-stub")
UNSAFE_PARAMETERS = (("kvm", "allow_unsafe_assigned_interrupts"), ("vfio_iommu_type1", "allow_unsafe_interrupts"))


@probe("iommu_enabled", reads=("iommu-groups",))
def iommu_enabled(host: Host, _: str) -> Answer:
    """/sys/kernel/iommu_groups is not empty"""
    groups_dir = layout.path("iommu-groups")
    if not host.is_dir(groups_dir):
        return None, f"{groups_dir} not available"
    groups = [name for name in host.listdir(groups_dir) if name.isdigit()]
    return bool(groups), f"{len(groups)} IOMMU groups"


@probe("iommu_cmdline", reads=("cmdline",))
def iommu_cmdline(host: Host, _: str) -> Answer:
    """intel_iommu=on or amd_iommu=on is on the kernel command line"""
    text = host.read_optional(layout.path("cmdline"))
    if text is None:
        return None, "/proc/cmdline not readable"
    on = any(word in text.split() for word in ("intel_iommu=on", "amd_iommu=on"))
    return on, "kernel command line " + ("enables" if on else "does not enable") + " the IOMMU"


@probe("pci_host_driver_bound", needs="device", reads=("pci-devices",))
def pci_host_driver_bound(host: Host, device: str) -> Answer:
    """the PCI endpoint is bound to a host driver (not vfio-pci or pci-stub)

    A PCI endpoint bound to a host driver keeps its IOMMU group from being assigned (VFIO allows
    vfio-pci, pci-stub, no driver, and bridges)."""
    base = f"{layout.path('pci-devices')}/{device}"
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


@probe("interrupt_remapping_enabled", reads=("cmdline", "kernel-logs"))
def interrupt_remapping_enabled(host: Host, _: str) -> Answer:
    """the kernel log says interrupt remapping is enabled (false: it failed, or intremap=off)

    From the kernel's boot messages (DMAR-IR / AMD-Vi lines; `dmesg` is never run) or intremap=off."""
    cmdline = (host.read_optional(layout.path("cmdline")) or "").split()
    off = [word for word in cmdline if word in ("intremap=off", "nointremap")]
    if off:
        return False, f"/proc/cmdline has {off[0]}"
    for path in layout.paths("kernel-logs", host.is_collected):
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


@probe("unsafe_interrupts_allowed", reads=("unsafe-interrupts", "cmdline", "modprobe-conf", "sys-module"))
def unsafe_interrupts_allowed(host: Host, _: str) -> Answer:
    """kvm allow_unsafe_assigned_interrupts or vfio_iommu_type1 allow_unsafe_interrupts is on

    The module parameter if loaded, else modprobe.d and the kernel command line."""
    seen = []
    for path in layout.paths("unsafe-interrupts"):
        value = host.read_optional(path)
        if value is not None:
            if value.strip() in ("Y", "1"):
                return True, f"{path} = {value.strip()}"
            seen.append(f"{path} = {value.strip()}")
    if seen:
        return False, "; ".join(seen)
    cmdline = layout.path("cmdline")
    sources = [(cmdline, host.read_optional(cmdline) or "")]
    sources += [(path, host.read_optional(path) or "") for path in host.glob(layout.path("modprobe-conf"))]
    for path, text in sources:
        for module, name in UNSAFE_PARAMETERS:
            if re.search(rf"(?:^\s*options\s+{module}\s.*|\b{module}\.)\b{name}=(?:1|Y|y)\b", text, re.M):
                return True, f"{path} sets {module} {name}=1"
    sys_module = layout.path("sys-module")
    if host.is_dir(sys_module):
        return False, "neither module parameter is set (both default to N)"
    return None, f"{sys_module} is not in this copy of the host"


@probe("legacy_kvm_assignment", reads=("kvm-parameters",))
def legacy_kvm_assignment(host: Host, _: str) -> Answer:
    """the kernel has KVM's legacy device assignment (kvm's allow_unsafe_assigned_interrupts parameter exists:
    RHEL 6); False when kvm's parameters show VFIO only

    RHEL 6's pci-assign was removed in Linux 4.12; current kernels assign through VFIO."""
    parameters = layout.path("kvm-parameters")
    parameter = f"{parameters}/allow_unsafe_assigned_interrupts"
    if host.exists(parameter):
        return True, f"{parameter} exists: legacy KVM assignment (pci-assign)"
    if host.is_dir(parameters):
        return False, f"no {parameter}: devices are assigned through VFIO"
    return None, f"{parameters} is not in this copy of the host (or kvm is not loaded)"
