"""Host checks, devices and time (chapters 12-14): PCI assignment, IOMMU groups, interrupt remapping, TSC."""

from __future__ import annotations

from diagnose.checks.base import (
    check,
    defined,
    doc_name,
    new_hit,
    pci_addresses,
    pci_hostdevs,
    xml_evidence,
)
from diagnose.model import Evidence, Hit
from diagnose.state import Ask, HostState
from diagnose.xmlchecks import XmlDoc


@check(produces=("iommu-unavailable", "hostdev-in-use"))
def hostdev_assignment(state: HostState, ask: Ask) -> list[Hit]:
    """Chapters 12-13: PCI hostdev without an IOMMU; one device (or VF) assigned to two guests."""
    owners: dict[str, list[XmlDoc]] = {}
    for doc in defined(state):
        for address in pci_addresses(doc):
            owners.setdefault(address, []).append(doc)
    if not owners:
        return []
    hits = []
    iommu = ask("iommu_enabled", {})
    if iommu.value is False:
        address, docs = next(iter(sorted(owners.items())))
        hits.append(new_hit("iommu-unavailable", {"guest": doc_name(docs[0]), "device": address},
                         [Evidence(docs[0].source, 0, f"{doc_name(docs[0])} assigns PCI device {address}",
                                   docs[0].path),
                          Evidence("probe:iommu_enabled", 0, iommu.detail)]))
    for address, docs in sorted(owners.items()):
        names = sorted({doc_name(d) for d in docs})
        if len(names) > 1:
            hits.append(new_hit("hostdev-in-use", {"device": address, "guest": names[0], "other": names[1]},
                             [Evidence(d.source, 0, f"{doc_name(d)} assigns {address}", d.path) for d in docs[:3]],
                             0.8))
    return hits


@check(produces=("tsc-unstable",))
def constant_tsc(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 14: a host CPU without constant_tsc: guest clocks drift unless the frequency is fixed."""
    if not state.cpu_flags or "constant_tsc" in state.cpu_flags or not defined(state):
        return []
    evidence = [Evidence("cpuinfo", 0, "no constant_tsc flag in /proc/cpuinfo", "/proc/cpuinfo")]
    return [new_hit("tsc-unstable", {}, evidence, 0.6)]


@check(produces=("hostdev-in-use",))
def hostdev_in_use_by_running(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 13: a defined guest assigns a PCI device that another running guest holds."""
    held: dict[str, str] = {}
    for doc in state.live_domains:
        for address in pci_addresses(doc):
            held[address] = doc_name(doc)
    hits = []
    for doc in defined(state):
        guest = doc_name(doc)
        for address in pci_addresses(doc):
            owner = held.get(address)
            if owner and owner != guest:
                hits.append(new_hit("hostdev-in-use", {"guest": owner, "device": address, "other": guest},
                                 [Evidence("libvirt-api", 0, f"{address} is assigned to running guest {owner}"),
                                  Evidence(doc.source, 0, f"{guest} also assigns {address}", doc.path)]))
    return hits


@check(produces=("vfio-group-not-viable",))
def iommu_group_viable(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 12: a guest's PCI device shares its IOMMU group with an endpoint that the guest does not
    assign and that a host driver holds: VFIO refuses the whole group ("group N is not viable")."""
    if not state.iommu_groups:
        return []
    group_of = {address: group for group, members in state.iommu_groups.items() for address in members}
    hits = []
    for doc in defined(state):
        assigned = dict(pci_hostdevs(doc))
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
            guest = doc_name(doc)
            evidence = [xml_evidence(doc, hostdev, f"{guest} assigns PCI device {address} (IOMMU group {group})")]
            evidence += [Evidence("probe:pci_host_driver_bound", 0, f"group {group}: {fact.detail}")
                         for _, fact in held]
            nodedev = "pci_" + held[0][0].replace(":", "_").replace(".", "_")
            hits.append(new_hit("vfio-group-not-viable", {"guest": guest, "device": address, "iommu_group": group,
                                                       "nodedev": nodedev}, evidence))
    return hits


@check(produces=("interrupt-remapping-unsupported",))
def interrupt_remapping(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 12: a guest assigns a PCI device, the kernel did not enable interrupt remapping, and neither
    allow_unsafe_assigned_interrupts (RHEL 6) nor allow_unsafe_interrupts (VFIO) is set: assignment fails."""
    assigned = [(doc, pci_hostdevs(doc)[0]) for doc in defined(state) if pci_hostdevs(doc)]
    if not assigned:
        return []
    remap = ask("interrupt_remapping_enabled", {})
    if remap.value is not False or ask("iommu_enabled", {}).value is False:  # no IOMMU: iommu-unavailable
        return []
    unsafe = ask("unsafe_interrupts_allowed", {})
    if unsafe.value is not False:
        return []
    return [new_hit("interrupt-remapping-unsupported", {"guest": doc_name(doc), "device": address},
                     [xml_evidence(doc, hostdev, f"{doc_name(doc)} assigns PCI device {address}")])  # facts: shown too
            for doc, (address, hostdev) in assigned]
