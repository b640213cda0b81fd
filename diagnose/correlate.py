"""Match stage for a host (pure): tie what a log line names (a bridge, a disk path, a network, a CPU model, a
machine type, a firmware file) to the defined guests whose XML uses it, so findings and fix commands name
the guest; and say when a log line's guest has no definition any more."""

from __future__ import annotations

from dataclasses import replace

from diagnose.model import Evidence, Hit
from diagnose.state import HostState
from diagnose.xmlchecks import XmlDoc

NAMES = ("bridge", "path", "network", "model", "machine", "firmware")


def _guest_name(doc: XmlDoc) -> str:
    return (doc.root.findtext("name") or "").strip() if doc.root is not None else ""


def uses(doc: XmlDoc, bridges: dict[str, str]) -> dict[str, set[str]]:
    """What a guest definition uses, by capture name: {"bridge": {"br0"}, "path": {...}, ...}. `bridges` maps
    a libvirt network's name to its bridge (a guest on network default uses virbr0 too)."""
    root = doc.root
    found: dict[str, set[str]] = {name: set() for name in NAMES}
    if root is None or root.tag != "domain":
        return found
    for iface in root.iterfind("devices/interface"):
        script = iface.find("script")
        if script is not None and script.get("path"):  # an interface script libvirt runs (tap-script-failed)
            found["path"].add(script.get("path", ""))
        source = iface.find("source")
        if source is None:
            continue
        if iface.get("type") == "bridge" and source.get("bridge"):
            found["bridge"].add(source.get("bridge", ""))
        if iface.get("type") == "network" and source.get("network"):
            network = source.get("network", "")
            found["network"].add(network)
            if network in bridges:
                found["bridge"].add(bridges[network])
    for source in root.iterfind("devices/disk/source"):
        for attribute in ("file", "dev", "dir"):
            if source.get(attribute):
                found["path"].add(source.get(attribute, ""))
    for tag in ("os/kernel", "os/initrd", "os/loader", "os/nvram"):
        for node in root.iterfind(tag):
            if (node.text or "").strip():
                found["path" if tag in ("os/kernel", "os/initrd") else "firmware"].add((node.text or "").strip())
    os_type = root.find("os/type")
    if os_type is not None and os_type.get("machine"):
        found["machine"].add(os_type.get("machine", ""))
    model = root.findtext("cpu/model")
    if model and model.strip():
        found["model"].add(model.strip())
    return found


def correlate(hits: list[Hit], state: HostState) -> list[Hit]:
    """Each hit that names no guest but a thing one or more defined guests use gets the first of them as its
    guest (the others are named in its evidence); a hit whose guest has no definition says so."""
    docs = [doc for doc in state.domains if doc.root is not None and doc.root.tag == "domain"]
    if not docs:
        return hits
    bridges = {}
    for net in state.networks:
        bridge = net.root.find("bridge") if net.root is not None else None
        name = (net.root.findtext("name") or "").strip() if net.root is not None else ""
        if bridge is not None and bridge.get("name") and name:
            bridges[name] = bridge.get("name", "")
    used = [(_guest_name(doc), uses(doc, bridges)) for doc in docs]
    defined = {name for name, _ in used}
    result = []
    for hit in hits:
        captures = dict(hit.captures)
        if captures.get("guest"):
            if captures["guest"] not in defined and all(e.source != "domain-xml" for e in hit.evidence):
                gone = Evidence("domain-xml", 0, f"guest {captures['guest']} has no definition on this host "
                                "(undefined since, or defined on another host)")
                hit = replace(hit, evidence=(*hit.evidence, gone))
            result.append(hit)
            continue
        shared = [key for key in NAMES if captures.get(key) and any(captures[key] in things[key] for _, things in used)]
        if not shared:
            result.append(hit)
            continue
        key = shared[0]  # the thing the guests use, not merely the first thing the hit names
        guests = sorted(name for name, things in used if captures[key] in things[key])
        named = ", ".join(guests[:5]) + (f" and {len(guests) - 5} more" if len(guests) > 5 else "")
        note = Evidence("domain-xml", 0, f"{key} {captures[key]} is used by: {named}")
        captures["guest"] = guests[0]
        result.append(replace(hit, captures=tuple(sorted(captures.items())), evidence=(*hit.evidence, note)))
    return result
