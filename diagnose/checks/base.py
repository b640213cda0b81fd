"""Host checks (match stage for a host, pure): the registry, and what every check shares.

A check reads the HostState collection built and asks for facts only through `ask` (the engine runs the
probe), so checks never touch the host. Each is registered with the signature ids it can produce and the
log taps it needs: `@check(produces=(...), taps=(...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from diagnose import parsers
from diagnose.model import Evidence, Hit
from diagnose.state import Ask, HostState, LogTap
from diagnose.xmlchecks import XmlDoc, line_of

if TYPE_CHECKING:
    from lxml import etree

CheckFunction = Callable[[HostState, Ask], list[Hit]]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    run: CheckFunction
    produces: tuple[str, ...]  # the signature ids its hits may carry
    taps: tuple[LogTap, ...] = ()  # log lines it needs, found while the logs are streamed


CHECKS: dict[str, CheckSpec] = {}


def check(produces: tuple[str, ...], taps: tuple[LogTap, ...] = ()) -> Callable[[CheckFunction], CheckFunction]:
    """Register a host check under its function's name."""

    def register(func: CheckFunction) -> CheckFunction:
        CHECKS[func.__name__] = CheckSpec(func.__name__, func, produces, taps)
        return func

    return register


def new_hit(sig_id: str, captures: dict[str, str], evidence: list[Evidence], confidence: float = 0.85) -> Hit:
    return Hit(sig_id, tuple(sorted((k, v) for k, v in captures.items() if v)), tuple(evidence), confidence)


def conf_values(state: HostState, source: str) -> tuple[str, str, dict[str, str | int | list[str]]] | None:
    if source not in state.confs:
        return None
    path, text = state.confs[source]
    return path, text, parsers.parse_libvirt_conf(text)


def conf_evidence(state: HostState, source: str, key: str, fallback: str) -> Evidence:
    path, text = state.confs[source]
    line, shown = parsers.conf_line(text, key)
    return Evidence(source, line, shown or fallback, path)


def xml_evidence(doc: XmlDoc, node: etree._Element | None, text: str) -> Evidence:
    return Evidence(doc.source, line_of(node) if node is not None else 0, text, doc.path)


def doc_name(doc: XmlDoc) -> str:
    return doc.name


def defined(state: HostState) -> list[XmlDoc]:
    return [d for d in state.domains if d.root is not None and getattr(d.root, "tag", "") == "domain"]


def disk_sources(doc: XmlDoc) -> list[tuple[etree._Element, str, str]]:
    found: list[tuple[etree._Element, str, str]] = []
    if doc.root is None:
        return found
    for disk in doc.root.iterfind("devices/disk"):
        source = disk.find("source")
        if source is None or disk.get("device") in ("cdrom", "floppy") and disk.get("type") == "block":
            continue
        path = source.get("file") or source.get("dev") or ""
        if path:
            driver = disk.find("driver")
            found.append((disk, path, driver.get("cache", "") if driver is not None else ""))
    return found


def interfaces(doc: XmlDoc) -> list[etree._Element]:
    return list(doc.root.iterfind("devices/interface")) if doc.root is not None else []


def pci_hostdevs(doc: XmlDoc) -> list[tuple[str, etree._Element]]:
    """A guest's assigned PCI devices: (address as 0000:01:00.0, its <hostdev> element)."""
    found: list[tuple[str, etree._Element]] = []
    if doc.root is None:
        return found
    for hostdev in doc.root.iterfind("devices/hostdev[@type='pci']"):
        dev = hostdev.find("source/address")
        if dev is None:
            continue
        try:
            found.append((f"{int(dev.get('domain', '0'), 0):04x}:{int(dev.get('bus', '0'), 0):02x}:"
                          f"{int(dev.get('slot', '0'), 0):02x}.{int(dev.get('function', '0'), 0):x}", hostdev))
        except ValueError:
            continue
    return found


def pci_addresses(doc: XmlDoc) -> list[str]:
    return [address for address, _ in pci_hostdevs(doc)]
