"""Host checks before `virsh start`, from the live daemon's domcapabilities: KVM, machine, firmware, CPU model."""

from __future__ import annotations

from diagnose.checks.base import (
    check,
    defined,
    doc_name,
    new_hit,
    xml_evidence,
)
from diagnose.model import Evidence, Hit
from diagnose.state import Ask, HostState


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
