"""Host checks, guests (B.3-B.6, B.15, B.17, chapter 4): KVM, CPU features, consoles, XML, limits, saves."""

from __future__ import annotations

import re

from diagnose.checks.base import (
    check,
    defined,
    doc_name,
    new_hit,
    xml_evidence,
)
from diagnose.model import Evidence, Hit
from diagnose.state import Ask, HostState, LogTap


@check(produces=("kvm-unavailable",))
def kvm_not_usable(state: HostState, ask: Ask) -> list[Hit]:
    """KVM decided by what decides it: /dev/kvm (or, in a copy without /dev, libvirt's capabilities, else the
    kernel's kvm modules, loaded or built in), and whether QEMU's user may open it. CPU flags only choose the
    fix. Where no guest asks for KVM (all type='qemu'), a missing KVM is information, not an error."""
    kvm_guests = [d for d in defined(state) if d.root is not None and d.root.get("type") == "kvm"]
    evidence: list[Evidence] = []
    captures: dict[str, str] = {}
    node = ask("dev_kvm_exists", {})
    if node.value is True:
        access = ask("dev_kvm_accessible", {})
        if access.value is not False:
            return []  # KVM is there and QEMU may use it, whatever the CPU flags say (a VM with built-in KVM)
        evidence.append(Evidence("probe:dev_kvm_accessible", 0, access.detail))
        captures["errno"] = "Permission denied"  # what QEMU will say: the access fix comes first
    elif node.value is False:
        evidence.append(Evidence("probe:dev_kvm_exists", 0, node.detail))
    else:
        kernel = ask("kvm_in_kernel", {})
        if kernel.value is not False:
            return []  # nothing shows KVM missing (no /dev in the copy, the kernel may have it)
        evidence.append(Evidence("probe:kvm_in_kernel", 0, kernel.detail))
    if state.cpu_flags is not None and not state.cpu_flags & {"vmx", "svm"}:  # a hint for the fix
        evidence.append(Evidence("cpuinfo", 0, "no vmx or svm flag in /proc/cpuinfo", "/proc/cpuinfo"))
    if kvm_guests:
        names = ", ".join(doc_name(d) for d in kvm_guests[:5])
        evidence.append(Evidence("domain-xml", 0, f"guests with <domain type='kvm'>: {names}"))
        return [new_hit("kvm-unavailable", {"guest": doc_name(kvm_guests[0]), **captures}, evidence, 0.85)]
    evidence.append(Evidence("domain-xml", 0, "no guest asks for KVM (none has <domain type='kvm'>)"))
    hit = new_hit("kvm-unavailable", captures, evidence, 0.6)
    return [Hit(hit.signature_id, hit.captures, hit.evidence, hit.confidence, severity="info")]


FEATURE_ALIASES = {"pni": "pni", "sse3": "pni", "tsc-deadline": "tsc_deadline_timer", "lahf_lm": "lahf_lm",
                   "cmp_legacy": "cmp_legacy", "nodeid_msr": "nodeid_msr", "svm": "svm", "vmx": "vmx"}
NOT_IN_CPUINFO = {"hypervisor", "x2apic", "tsc_adjust", "arch-capabilities", "invtsc", "kvmclock", "md-clear",
                  "ssbd", "amd-ssbd", "virt-ssbd", "amd-no-ssb", "rdctl-no", "ibrs-all", "skip-l1dfl-vmentry",
                  "mds-no", "pschange-mc-no", "tsx-ctrl", "stibp", "ibpb", "spec-ctrl", "vmx-*"}


@check(produces=("cpu-incompatible",))
def guest_cpu_features(state: HostState, ask: Ask) -> list[Hit]:
    """B.3: a guest requires CPU features the host does not have (nx is the guide's example)."""
    if not state.cpu_flags:
        return []
    hits = []
    for doc in defined(state):
        missing = []
        nodes = []
        for feature in doc.root.iterfind("cpu/feature"):  # type: ignore[union-attr]
            if feature.get("policy", "require") not in ("require", "force"):
                continue
            name = feature.get("name", "")
            flag = FEATURE_ALIASES.get(name, name.replace("-", "_").replace(".", "_"))
            if name in NOT_IN_CPUINFO or name.startswith("vmx-") or flag in state.cpu_flags:
                continue
            missing.append(name)
            nodes.append(feature)
        if missing:
            evidence = [xml_evidence(doc, n, f"<feature policy='{n.get('policy', 'require')}' name='{n.get('name')}'/>")
                        for n in nodes[:3]]
            evidence.append(Evidence("cpuinfo", 0, f"/proc/cpuinfo flags lack: {', '.join(missing)}", "/proc/cpuinfo"))
            hits.append(new_hit("cpu-incompatible", {"guest": doc_name(doc), "features": ", ".join(missing)}, evidence))
    return hits


@check(produces=("no-serial-console",))
def no_serial_console(state: HostState, ask: Ask) -> list[Hit]:
    """B.5: a guest with neither <serial> nor <console>: `virsh console` cannot attach."""
    hits = []
    for doc in defined(state):
        devices = doc.root.find("devices")  # type: ignore[union-attr]
        if devices is None or devices.find("serial") is not None or devices.find("console") is not None:
            continue
        evidence = [xml_evidence(doc, devices, f"<devices> of {doc_name(doc)} has no <serial> or <console>")]
        hits.append(new_hit("no-serial-console", {"guest": doc_name(doc)}, evidence, 0.7))
    return hits


@check(produces=("xml-syntax-error", "xml-vanishing-parts", "cdrom-block-no-source"))
def xml_on_disk(state: HostState, ask: Ask) -> list[Hit]:
    """B.17: malformed guest or network XML on disk, parts libvirt will drop, cdrom block without source."""
    from diagnose.xmlchecks import cdrom_block_no_source, xml_syntax, xml_unknown_elements

    hits: list[Hit] = []
    for doc in (*state.domains, *state.networks):
        hits.extend(xml_syntax(doc))
        hits.extend(xml_unknown_elements(doc))
        hits.extend(cdrom_block_no_source(doc))
    return hits


BOOT_FAIL_RE = re.compile(r"No bootable device|No boot device|Boot failed: not a bootable disk")

BOOT_FAILURES = LogTap("boot-failures", ("qemu-guest-log",), BOOT_FAIL_RE)


@check(produces=("no-boot-device-bus",), taps=(BOOT_FAILURES,))
def ide_disk_not_booting(state: HostState, ask: Ask) -> list[Hit]:
    """B.6: an imported disk on IDE/SATA whose guest log shows it finds no boot device."""
    from diagnose.xmlchecks import ide_bus_on_virtio_image

    hits = []
    for doc in defined(state):
        boot_lines = [tapped.evidence.text for tapped in state.tap("boot-failures") if tapped.guest == doc_name(doc)]
        if not boot_lines:
            continue
        for hit in ide_bus_on_virtio_image(doc):
            evidence = (*hit.evidence, Evidence("qemu-guest-log", 0, boot_lines[-1]))
            hits.append(Hit(hit.signature_id, hit.captures, evidence, 0.8))
    return hits


@check(produces=("vcpu-limit-exceeded", "ide-device-limit"))
def guest_limits(state: HostState, ask: Ask) -> list[Hit]:
    """Chapter 4: more than 240 vCPUs, more than 4 IDE devices."""
    hits = []
    for doc in defined(state):
        vcpu = doc.root.find("vcpu")  # type: ignore[union-attr]
        count = (vcpu.text or "").strip() if vcpu is not None else ""
        if vcpu is not None and count.isdigit() and int(count) > 240:
            hits.append(new_hit("vcpu-limit-exceeded", {"guest": doc_name(doc), "vcpus": count},
                             [xml_evidence(doc, vcpu, f"<vcpu>{count}</vcpu> (KVM limit: 240)")]))
        ide = [t for t in doc.root.iterfind("devices/disk/target") if t.get("bus") == "ide"]  # type: ignore[union-attr]
        if len(ide) > 4:
            hits.append(new_hit("ide-device-limit", {"guest": doc_name(doc), "count": str(len(ide))},
                             [xml_evidence(doc, ide[4], f"{len(ide)} IDE disks; an IDE bus holds 4 devices")]))
    return hits


@check(produces=("managedsave-corrupt",))
def managed_save_stale(state: HostState, ask: Ask) -> list[Hit]:
    """B.4: a managed-save image that is empty or belongs to no defined guest."""
    names = {doc_name(d) for d in defined(state)}
    hits = []
    for path, size in state.managed_saves:
        guest = path.rsplit("/", 1)[-1].removesuffix(".save")
        if size == 0:
            hits.append(new_hit("managedsave-corrupt", {"guest": guest, "path": path},
                             [Evidence("managed-save", 0, f"{path} is empty (0 bytes)", path)]))
        elif state.domains and guest not in names:
            hits.append(new_hit("managedsave-corrupt", {"guest": guest, "path": path},
                             [Evidence("managed-save", 0, f"{path} belongs to no defined guest", path)], 0.6))
    return hits
