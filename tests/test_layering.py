"""The stages import one way: pure stages never reach the host."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "diagnose"
PURE = {"match", "rank", "render", "parsers", "xmlchecks", "model", "catalog", "checks"}
HOST = {"sources", "live", "probes"}


def imports_of(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("diagnose"):
            found.add(node.module.split(".")[1] if "." in node.module else "")
            found.update(a.name for a in node.names if node.module == "diagnose")
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("diagnose."))
    return found


def test_pure_stages_do_not_import_host_stages():
    for module in PURE:
        if (PACKAGE / f"{module}.py").exists():
            assert not imports_of(module) & HOST, f"{module} imports {imports_of(module) & HOST}"


def test_render_makes_no_decisions_about_the_host():
    assert imports_of("render") <= {"", "model", "__version__"}


def test_every_module_says_its_stage():
    for path in PACKAGE.glob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, f"{path.name} has no module docstring"


def test_the_daemon_harness_knows_every_name_the_real_libvirt_tests_define():
    """A killed run leaves its guests and networks defined; the next run removes exactly those names."""
    import re
    import sys

    sys.path.insert(0, str(PACKAGE.parent / "tests"))
    import libvirt_daemon

    source = (PACKAGE.parent / "tests/integration/test_real_libvirt.py").read_text(encoding="utf-8")
    guests = set(re.findall(r'guest_xml\("([^"]+)"', source))
    networks = set(re.findall(r"<network>\s*<name>([^<{]+)</name>", source))
    assert guests and networks
    assert guests <= set(libvirt_daemon.TEST_GUESTS) and networks <= set(libvirt_daemon.TEST_NETWORKS)
