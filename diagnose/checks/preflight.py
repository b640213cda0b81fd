"""Host checks before `virsh start`: the machine type, CPU model, UEFI firmware and emulator each defined guest
needs, from the live daemon's domcapabilities when it answers, else from libvirt's QEMU capability cache and
QEMU's firmware descriptors (both readable without a read-write connection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from diagnose.checks.base import (
    check,
    defined,
    doc_name,
    new_hit,
    xml_evidence,
)
from diagnose.model import Evidence, Hit
from diagnose.state import Ask, HostState

if TYPE_CHECKING:
    from lxml import etree


def _domcaps(state: HostState, guest: str) -> object | None:
    from lxml import etree

    text = state.domcaps.get(guest)
    if not text:
        return None
    try:
        return etree.fromstring(text.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None


@check(produces=("kvm-unavailable", "machine-type-unsupported", "uefi-firmware-missing", "cpu-incompatible"))
def preflight_domcaps(state: HostState, ask: Ask) -> list[Hit]:
    """Before `virsh start`: KVM, machine type, firmware and CPU model each guest needs, per domcapabilities."""
    hits = []
    for doc in defined(state):
        guest = doc_name(doc)
        root = doc.root
        error = state.domcaps_errors.get(guest, "")
        os_type = root.find("os/type")  # type: ignore[union-attr]
        machine = os_type.get("machine", "") if os_type is not None else ""
        source = Evidence("libvirt-api", 0, f"virsh domcapabilities for {guest}: {error}" if error else "")
        if error and ("KVM" in error or "virt type 'kvm'" in error):
            evidence = [xml_evidence(doc, root, f"<domain type='kvm'> {guest}"), source]
            hits.append(new_hit("kvm-unavailable", {"guest": guest}, evidence))
            continue
        if error and "machine" in error:
            hits.append(new_hit("machine-type-unsupported", {"guest": guest, "machine": machine},
                             [xml_evidence(doc, os_type, f"<type machine='{machine}'>"), source]))
            continue
        caps = _domcaps(state, guest)
        if caps is None:
            continue
        os_node = root.find("os")  # type: ignore[union-attr]
        loader = os_node.find("loader") if os_node is not None else None
        wants_efi = os_node is not None and (os_node.get("firmware") == "efi" or loader is not None
                                             and loader.get("type") == "pflash")
        loaders = [v.text for v in caps.iterfind("os/loader/value")]  # type: ignore[attr-defined]
        firmwares = [v.text for v in caps.iterfind("os/enum[@name='firmware']/value")]  # type: ignore[attr-defined]
        if wants_efi and not loaders and "efi" not in firmwares:
            hits.append(new_hit("uefi-firmware-missing", {"guest": guest},
                             [xml_evidence(doc, os_node, f"{guest} boots with UEFI firmware"),
                              Evidence("libvirt-api", 0, "domcapabilities lists no UEFI loader")]))
        cpu = root.find("cpu")  # type: ignore[union-attr]
        model = cpu.findtext("model") if cpu is not None else None
        if cpu is not None and cpu.get("mode", "custom") == "custom" and model:
            node = caps.find(f"cpu/mode[@name='custom']/model[.='{model.strip()}']")  # type: ignore[attr-defined]
            if node is not None and node.get("usable") == "no":
                blockers = caps.find(f"cpu/mode[@name='custom']/blockers[@model='{model.strip()}']")  # type: ignore
                missing = [f.get("name") for f in blockers.iterfind("feature")] if blockers is not None else []
                lacks = f" (host lacks {', '.join(missing)})" if missing else ""
                evidence = [xml_evidence(doc, cpu, f"<cpu mode='custom'><model>{model.strip()}</model>"),
                            Evidence("libvirt-api", 0, f"domcapabilities: CPU {model.strip()} is not usable{lacks}")]
                captures = {"guest": guest, "model": model.strip(), "features": ", ".join(missing)}
                hits.append(new_hit("cpu-incompatible", captures, evidence))
    return hits


def _wants_efi(root: etree._Element) -> tuple[bool, str]:
    """(the guest boots with UEFI, the loader path it names or "")."""
    os_node = root.find("os")
    if os_node is None:
        return False, ""
    loader = os_node.find("loader")
    path = (loader.text or "").strip() if loader is not None else ""
    efi = os_node.get("firmware") == "efi" or (loader is not None and loader.get("type") == "pflash")
    return efi, path


def kvm_usable(ask: Ask) -> bool:
    """QEMU's user can open /dev/kvm (False when it is missing or closed to it; unknown counts as usable)."""
    return ask("dev_kvm_exists", {}).value is not False and ask("dev_kvm_accessible", {}).value is not False


@check(produces=("machine-type-unsupported", "cpu-incompatible", "uefi-firmware-missing", "emulator-missing"))
def preflight_qemu_caps(state: HostState, ask: Ask) -> list[Hit]:
    """Before `virsh start`, on a read-only connection too: each defined guest's emulator, machine type and CPU
    model against libvirt's own record of its QEMU (the capability cache domcapabilities answers from), and
    its UEFI firmware against QEMU's firmware descriptors (what libvirt picks firmware from)."""
    by_emulator = {caps.emulator: (path, caps) for path, caps in state.qemu_caps}
    hits = []
    for doc in defined(state):
        root = doc.root
        assert root is not None
        guest = doc_name(doc)
        virt = "kvm" if root.get("type") == "kvm" else "tcg"
        os_type = root.find("os/type")
        arch = os_type.get("arch", "") if os_type is not None else ""
        machine = os_type.get("machine", "") if os_type is not None else ""
        emulator_node = root.find("devices/emulator")
        emulator = (emulator_node.text or "").strip() if emulator_node is not None else ""
        if emulator and ask("path_exists", {"path": emulator}).value is False:
            hits.append(new_hit("emulator-missing", {"guest": guest, "emulator": emulator, "path": emulator},
                                [xml_evidence(doc, emulator_node, f"<emulator>{emulator}</emulator>"),
                                 Evidence("probe:path_exists", 0, f"{emulator} does not exist")]))
            continue
        entry = by_emulator.get(emulator) or next(((p, c) for p, c in state.qemu_caps if c.arch == arch), None)
        if entry is not None:
            path, caps = entry
            names = caps.machines.get(virt)
            if machine and names and machine not in names:
                hits.append(new_hit("machine-type-unsupported", {"guest": guest, "machine": machine},
                                    [xml_evidence(doc, os_type, f"<type arch='{arch}' machine='{machine}'>"),
                                     Evidence("qemu-caps", 0, f"{caps.emulator} offers no machine type {machine} "
                                              f"for {virt} (libvirt's record of it)", path)]))
            cpu = root.find("cpu")
            model = (cpu.findtext("model") or "").strip() if cpu is not None else ""
            usable, blockers = caps.cpus.get(virt, {}).get(model, (True, ()))
            if not usable and virt == "kvm" and not kvm_usable(ask):
                usable = True  # libvirt's KVM record is not a working KVM's: the kvm finding is the cause
            if cpu is not None and cpu.get("mode", "custom") == "custom" and model and not usable:
                lacks = f": it lacks {', '.join(blockers)}" if blockers else ""
                hits.append(new_hit("cpu-incompatible", {"guest": guest, "model": model,
                                                         "features": ", ".join(blockers)},
                                    [xml_evidence(doc, cpu, f"<cpu mode='custom'><model>{model}</model>"),
                                     Evidence("qemu-caps", 0, f"{caps.emulator} ({virt}) cannot provide CPU model "
                                              f"{model}{lacks} (libvirt's record of it)", path)]))
        efi, loader = _wants_efi(root)
        if not efi:
            continue
        if loader:
            found = ask("path_exists", {"path": loader})
            if found.value is False:
                hits.append(new_hit("uefi-firmware-missing", {"guest": guest, "path": loader},
                                    [xml_evidence(doc, root.find("os/loader"), f"<loader>{loader}</loader>"),
                                     Evidence("probe:path_exists", 0, found.detail)]))
        elif state.firmware is not None and not any("uefi" in fw.interfaces and fw.serves(arch, machine)
                                                    for fw in state.firmware):
            where = ", ".join(sorted({fw.path for fw in state.firmware})) or "no descriptor at all"
            hits.append(new_hit("uefi-firmware-missing", {"guest": guest},
                                [xml_evidence(doc, root.find("os"), f"<os firmware='efi'> ({arch}, {machine})"),
                                 Evidence("firmware-descriptors", 0, f"no QEMU firmware descriptor offers UEFI for "
                                          f"{arch} {machine}: {where} (/usr/share/qemu/firmware)")]))
    return hits
