"""Match stage for XML (pure): a domain or network definition -> Hits (B.17 syntax, dropped parts, cdrom).

XML is parsed with entity resolution, DTD loading and network access off, so a hostile document
can neither expand nor fetch anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from diagnose.catalog import knowledge_dir
from diagnose.model import Evidence, Hit

if TYPE_CHECKING:
    from lxml import etree

MAX_XML_BYTES = 8 * 1024 * 1024
MAX_HITS = 100  # per detector and document: a hostile definition may repeat an unknown element 100,000 times


@dataclass(frozen=True)
class XmlDoc:
    """A parsed definition, or the syntax error that stopped the parser."""

    text: str
    source: str
    path: str
    first_line: int  # line of the input where the document starts
    root: etree._Element | None
    error: str = ""
    error_line: int = 0
    too_large: bool = False  # over MAX_XML_BYTES: not parsed, which says nothing of its syntax

    @property
    def name(self) -> str:
        """The guest's or network's <name>, "" when it has none (or did not parse)."""
        return (self.root.findtext("name") or "").strip() if self.root is not None else ""


def parse(text: str, source: str = "paste", path: str = "", first_line: int = 1) -> XmlDoc:
    from lxml import etree  # lazy: explain on plain text never loads lxml

    if len(text) > MAX_XML_BYTES:
        return XmlDoc(text, source, path, first_line, None, f"too large (over {MAX_XML_BYTES >> 20} MiB), not read",
                      0, too_large=True)
    # encoding: the text is already decoded, so an XML declaration's encoding (UTF-16, ISO-8859-1...)
    # must not make libxml2 decode it again
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True,
        encoding="utf-8",
    )
    data = text.encode("utf-8", "replace")
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        message = str(exc.msg or exc).split(", line ")[0]
        if not NAMESPACE_ERROR_RE.search(message):
            return XmlDoc(text, source, path, first_line, None, message, line)
        # libvirt accepts an undeclared prefix (qemu:commandline) and silently drops the element:
        # parse leniently so the unknown-element check can say so.
        lenient = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                                  remove_comments=True, recover=True, encoding="utf-8")
        try:
            root = etree.fromstring(data, lenient)
        except etree.XMLSyntaxError:
            return XmlDoc(text, source, path, first_line, None, message, line)
        if root is None:
            return XmlDoc(text, source, path, first_line, None, message, line)
    return XmlDoc(text, source, path, first_line, root)


NAMESPACE_ERROR_RE = re.compile(r"^Namespace prefix \S+ (?:on|for) \S+ (?:is not|not) defined")


# The kind of mistake is libxml2's own words, without the names that vary (B.17.2.1-4).
SYNTAX_KIND_RE = re.compile(
    r"StartTag: invalid element name|Unescaped '<' not allowed in attributes values|AttValue: \S+ expected"
    r"|attributes construct error|Couldn't find end of Start Tag|Opening and ending tag mismatch"
    r"|Specification mandates? value for attribute|error parsing attribute name|Premature end of data in tag"
    r"|Extra content at the end of the document|EndTag: '</' not found|Start tag expected"
    r"|Entity '\S+' not defined|Document is empty"
)


@lru_cache(maxsize=4)
def _lines(text: str) -> list[str]:
    return text.splitlines()


def line_of(node: etree._Element) -> int:
    """The line of the input an element starts on (0 when lxml does not know)."""
    line = node.sourceline
    return line if isinstance(line, int) else 0


def _line_text(doc: XmlDoc, line: int) -> str:
    lines = _lines(doc.text)  # split once per document, not once per hit
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def _evidence(doc: XmlDoc, line: int, text: str) -> Evidence:
    return Evidence(doc.source, doc.first_line + max(line, 1) - 1, text, doc.path)


def _name(doc: XmlDoc) -> dict[str, str]:
    root = doc.root
    name = root.findtext("name") if root is not None else None
    return {"guest" if _tag(root) == "domain" else _tag(root): name.strip()} if name else {}


def _tag(node: object) -> str:
    tag = getattr(node, "tag", "")
    return tag if isinstance(tag, str) else ""


def xml_syntax(doc: XmlDoc) -> list[Hit]:
    if doc.root is not None or not doc.error or doc.too_large:
        return []
    m = SYNTAX_KIND_RE.search(doc.error)
    kind = m.group(0) if m else doc.error.split(":")[0]
    captures = {"kind": kind, "line": str(doc.error_line), "detail": doc.error}
    if doc.path:
        captures["path"] = doc.path
    text = f"line {doc.error_line}: {doc.error}: {_line_text(doc, doc.error_line)}"
    return [Hit("xml-syntax-error", tuple(sorted(captures.items())), (_evidence(doc, doc.error_line, text),), 0.9)]


@lru_cache(maxsize=1)
def known_names() -> tuple[frozenset[str], frozenset[str]]:
    data = json.loads((knowledge_dir() / "generated" / "xml-names.json").read_text(encoding="utf-8"))
    return frozenset(data["elements"]), frozenset(data["attributes"])


def xml_unknown_elements(doc: XmlDoc) -> list[Hit]:
    """Elements and attributes libvirt's schema does not know: libvirt drops them on define (B.17.3.1)."""
    if doc.root is None or _tag(doc.root) not in ("domain", "network"):
        return []
    elements, attributes = known_names()
    hits = []
    for node in doc.root.iter():
        tag = _tag(node)
        if not tag or "}" in tag:  # comments, and namespaced metadata that libvirt keeps
            continue
        if _inside_metadata(node):
            continue
        unknown = tag if tag not in elements else ""
        attr = next((str(a) for a in node.attrib if "}" not in str(a) and str(a) not in attributes), "")
        if not unknown and not attr:
            continue
        captures = {"element": (unknown or tag).rsplit(":", 1)[-1], **_name(doc)}
        if attr and not unknown:
            captures["attribute"] = attr
        what = f"<{tag}>" if unknown else f"attribute {attr}= on <{tag}>"
        text = f"libvirt does not know {what}: {_line_text(doc, line_of(node))}"
        hits.append(
            Hit("xml-vanishing-parts", tuple(sorted(captures.items())),
                (_evidence(doc, line_of(node), text),), 0.85)
        )
        if len(hits) >= MAX_HITS:
            break
    return hits


def _inside_metadata(node: object) -> bool:
    parent = getattr(node, "getparent", lambda: None)()
    while parent is not None:
        if _tag(parent) == "metadata":
            return True
        parent = parent.getparent()
    return False


def cdrom_block_no_source(doc: XmlDoc) -> list[Hit]:
    if doc.root is None or _tag(doc.root) != "domain":
        return []
    hits = []
    for disk in doc.root.iterfind("devices/disk"):
        if disk.get("type") == "block" and disk.get("device") == "cdrom" and disk.find("source") is None:
            target = disk.find("target")
            captures = {**_name(doc), "target": target.get("dev", "") if target is not None else ""}
            text = f"<disk type='block' device='cdrom'> without <source> (target {captures['target']})"
            hits.append(Hit("cdrom-block-no-source", tuple(sorted(captures.items())),
                            (_evidence(doc, line_of(disk), text),), 0.85))
            if len(hits) >= MAX_HITS:
                break
    return hits


def ide_bus_on_virtio_image(doc: XmlDoc) -> list[Hit]:
    """An imported disk on the IDE/SATA bus: if its OS was installed on virtio it finds no boot device (B.6)."""
    if doc.root is None or _tag(doc.root) != "domain":
        return []
    hits = []
    for disk in doc.root.iterfind("devices/disk[@device='disk']"):
        target = disk.find("target")
        bus = target.get("bus", "") if target is not None else ""
        if bus not in ("ide", "sata"):
            continue
        source = disk.find("source")
        path = (source.get("file") or source.get("dev") or "") if source is not None else ""
        captures = {**_name(doc), "bus": bus, "target": target.get("dev", "") if target is not None else ""}
        if path:
            captures["path"] = path
        text = f"disk {path or captures['target']} is on the {bus} bus"
        hits.append(Hit("no-boot-device-bus", tuple(sorted(captures.items())),
                        (_evidence(doc, line_of(disk), text),), 0.4))
        if len(hits) >= MAX_HITS:
            break
    return hits


@dataclass(frozen=True)
class Detector:
    run: Callable[[XmlDoc], list[Hit]]
    produces: tuple[str, ...]  # the signature ids its hits carry


DETECTORS: dict[str, Detector] = {
    "xml_syntax": Detector(xml_syntax, ("xml-syntax-error",)),
    "xml_unknown_elements": Detector(xml_unknown_elements, ("xml-vanishing-parts",)),
    "cdrom_block_no_source": Detector(cdrom_block_no_source, ("cdrom-block-no-source",)),
    "ide_bus_on_virtio_image": Detector(ide_bus_on_virtio_image, ("no-boot-device-bus",)),
}


def check(doc: XmlDoc) -> list[Hit]:
    hits: list[Hit] = []
    for detector in DETECTORS.values():
        hits.extend(detector.run(doc))
    return hits
