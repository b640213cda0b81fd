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
