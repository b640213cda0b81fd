"""Parse stage (pure): what virsh prints (list, dominfo, capabilities), as a sosreport keeps it."""

from __future__ import annotations

from dataclasses import dataclass


def parse_virsh_list(text: str) -> list[tuple[str, str, str]] | None:
    """`virsh list --all` / `net-list --all` table -> [(id, name, state...)]; None if it is not one."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not set(lines[1].strip()) <= {"-"}:
        return None
    rows = []
    for line in lines[2:]:
        fields = line.split(None, 2)
        if len(fields) >= 2:
            rows.append((fields[0], fields[1], fields[2].strip() if len(fields) > 2 else ""))
    return rows



def parse_virsh_dominfo(text: str) -> dict[str, str]:
    """`virsh dominfo GUEST` -> {"Id": "-", "Name": "web01", "State": "shut off", "Autostart": "enable",
    "Persistent": "yes", "Managed save": "no", ...}. Each line is a label (padded to 15 columns), a colon
    and a value; lines whose label is blank continue the previous value ("Messages:"). {} if the text is
    not dominfo output (no Name:)."""
    info: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[:1].isspace():
            if last:
                info[last] += "\n" + line.strip()
            continue
        label, colon, value = line.partition(":")
        if colon and label.strip() and label.strip().lower() != "error":
            last = label.strip()
            info[last] = value.strip()
    return info if "Name" in info else {}


@dataclass(frozen=True)
class GuestCaps:
    """One <guest> of the capabilities: an OS type on an architecture, its machine types (aliases like
    `pc` included) and the domain types (kvm, qemu) it can run with."""

    os_type: str
    arch: str
    machines: tuple[str, ...]
    domain_types: tuple[str, ...]


@dataclass(frozen=True)
class Capabilities:
    """`virsh capabilities`: the host CPU (model, vendor, the features libvirt lists beyond the model's
    own), the guests it can run, IOMMU support (None if not said) and the security drivers."""

    arch: str
    cpu_model: str
    cpu_vendor: str
    cpu_features: frozenset[str]
    guests: tuple[GuestCaps, ...]
    iommu: bool | None
    secmodels: tuple[str, ...]

    def domain_types(self) -> set[str]:
        return {kind for guest in self.guests for kind in guest.domain_types}


MAX_CAPS_BYTES = 8 * 1024 * 1024


def parse_capabilities(text: str) -> Capabilities | None:
    """`virsh capabilities` XML -> Capabilities; None if the text is not a capabilities document."""
    from lxml import etree  # lazy, as in xmlchecks

    if len(text) > MAX_CAPS_BYTES or "<capabilities" not in text:
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, encoding="utf-8")
    try:
        root = etree.fromstring(text[text.index("<capabilities"):].encode("utf-8", "replace"), parser)
    except etree.XMLSyntaxError:
        return None
    if root is None or root.tag != "capabilities":
        return None

    def texts(node: object, path: str) -> tuple[str, ...]:
        return tuple((n.text or "").strip() for n in node.iterfind(path) if (n.text or "").strip())  # type: ignore

    guests = []
    for guest in root.iterfind("guest"):
        arch = guest.find("arch")
        if arch is None:
            continue
        guests.append(GuestCaps(
            os_type=(guest.findtext("os_type") or "").strip(), arch=arch.get("name", ""),
            machines=tuple(dict.fromkeys(texts(arch, "machine") + texts(arch, "domain/machine"))),
            domain_types=tuple(d.get("type", "") for d in arch.iterfind("domain") if d.get("type"))))
    iommu = root.find("host/iommu")
    return Capabilities(
        arch=(root.findtext("host/cpu/arch") or "").strip(),
        cpu_model=(root.findtext("host/cpu/model") or "").strip(),
        cpu_vendor=(root.findtext("host/cpu/vendor") or "").strip(),
        cpu_features=frozenset(f.get("name", "") for f in root.iterfind("host/cpu/feature") if f.get("name")),
        guests=tuple(guests),
        iommu=None if iommu is None else iommu.get("support") == "yes",
        secmodels=texts(root, "host/secmodel/model"))


@dataclass(frozen=True)
class QemuCaps:
    """libvirt's own record of what one QEMU binary offers (/var/cache/libvirt/qemu/capabilities/*.xml, what
    `virsh domcapabilities` answers from): per virt type (kvm, tcg), its machine types (aliases included) and
    its CPU models, each usable or not with the features that block it."""

    emulator: str
    arch: str
    machines: dict[str, frozenset[str]]
    cpus: dict[str, dict[str, tuple[bool, tuple[str, ...]]]]


def parse_qemu_caps(text: str) -> QemuCaps | None:
    """One QEMU capabilities cache file -> QemuCaps; None if the text is not one."""
    from lxml import etree

    if len(text) > MAX_CAPS_BYTES or "<qemuCaps" not in text:
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, encoding="utf-8")
    try:
        root = etree.fromstring(text[text.index("<qemuCaps"):].encode("utf-8", "replace"), parser)
    except etree.XMLSyntaxError:
        return None
    machines: dict[str, set[str]] = {}
    for machine in root.iterfind("machine"):
        names = machines.setdefault(machine.get("type", ""), set())
        names.update(n for n in (machine.get("name", ""), machine.get("alias", "")) if n)
    cpus: dict[str, dict[str, tuple[bool, tuple[str, ...]]]] = {}
    for cpu in root.iterfind("cpu"):
        blockers = tuple(b.get("name", "") for b in cpu.iterfind("blocker") if b.get("name"))
        cpus.setdefault(cpu.get("type", ""), {})[cpu.get("name", "")] = (cpu.get("usable") != "no", blockers)
    return QemuCaps((root.findtext("emulator") or "").strip(), (root.findtext("arch") or "").strip(),
                    {kind: frozenset(names) for kind, names in machines.items()}, cpus)


@dataclass(frozen=True)
class Firmware:
    """A QEMU firmware descriptor (/usr/share/qemu/firmware/*.json, the files libvirt picks firmware from):
    its interfaces (uefi, bios) and the architectures and machine globs it is for."""

    path: str
    interfaces: tuple[str, ...]
    targets: tuple[tuple[str, tuple[str, ...]], ...]  # (architecture, machine globs)
    features: tuple[str, ...]

    def serves(self, arch: str, machine: str) -> bool:
        import fnmatch

        return any(a == arch and (not machine or any(fnmatch.fnmatch(machine, g) for g in globs))
                   for a, globs in self.targets)


def parse_firmware(path: str, text: str) -> Firmware | None:
    """A firmware descriptor (JSON) -> Firmware; None if it is not one."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    targets = tuple((str(t.get("architecture", "")), tuple(str(m) for m in t.get("machines", [])))
                    for t in data.get("targets", []) if isinstance(t, dict))
    return Firmware(path, tuple(str(i) for i in data.get("interface-types", [])), targets,
                    tuple(str(f) for f in data.get("features", [])))
