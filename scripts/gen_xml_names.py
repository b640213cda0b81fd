"""Generate knowledge/generated/xml-names.json: every element and attribute name libvirt's RelaxNG
schemas allow in domain and network XML. Run where libvirt is installed:

    python scripts/gen_xml_names.py /usr/share/libvirt/schemas
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lxml import etree

RNG = "{http://relaxng.org/ns/structure/1.0}"


def names(schema_dir: Path) -> dict[str, list[str]]:
    elements: set[str] = set()
    attributes: set[str] = set()
    for rng in sorted(schema_dir.glob("*.rng")):
        tree = etree.parse(str(rng), etree.XMLParser(resolve_entities=False, no_network=True))
        for node in tree.iter(f"{RNG}element", f"{RNG}attribute"):
            name = node.get("name")
            if name is None:
                child = node.find(f"{RNG}name")
                name = child.text if child is not None else None
            if name:
                (elements if node.tag == f"{RNG}element" else attributes).add(name.strip())
    return {"elements": sorted(elements), "attributes": sorted(attributes)}


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/libvirt/schemas")
    out = Path(__file__).resolve().parent.parent / "knowledge" / "generated" / "xml-names.json"
    data = names(source)
    data["source"] = f"libvirt RelaxNG schemas in {source}"
    out.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out}: {len(data['elements'])} elements, {len(data['attributes'])} attributes")
