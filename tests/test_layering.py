"""The stages import one way: pure stages never reach the host, no import circles, small modules, and
every path the probes read comes from the one layout table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "diagnose"
MODULES = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
           for p in PACKAGE.rglob("*.py")}
PURE = {"diagnose.match", "diagnose.rank", "diagnose.render", "diagnose.render_base", "diagnose.render_doc",
        "diagnose.wording", "diagnose.parsers", "diagnose.journal", "diagnose.virsh", "diagnose.xmlchecks",
        "diagnose.model", "diagnose.state", "diagnose.catalog", "diagnose.literals", "diagnose.paste",
        "diagnose.redact"}
READS_THE_HOST = ("diagnose.host", "diagnose.probes")
MAX_LINES = 450  # "no module over ~400 lines"


def imports_of(module: str) -> set[str]:
    """The diagnose modules a module imports (at any level, lazily or not; TYPE_CHECKING imports left out)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for node in ast.walk(block)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("diagnose"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("diagnose"))
    return {name for name in found if name in MODULES and name != module}


def under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_pure_stages_do_not_import_host_stages():
    for module in PURE:
        reached = {m for m in imports_of(module) if under(m, *READS_THE_HOST, "diagnose.checks")}
        assert not reached, f"{module} imports {reached}"


def test_parsers_and_paste_never_import_the_matcher():
    for module in ("diagnose.parsers", "diagnose.paste", "diagnose.journal", "diagnose.virsh"):
        assert "diagnose.match" not in imports_of(module), module


def test_host_never_imports_checks_or_the_engine():
    for module in (m for m in MODULES if under(m, "diagnose.host")):
        reached = {m for m in imports_of(module) if under(m, "diagnose.checks", "diagnose.engine", "diagnose.probes")}
        assert not reached, f"{module} imports {reached}"


def test_checks_never_import_the_host():
    for module in (m for m in MODULES if under(m, "diagnose.checks")):
        reached = {m for m in imports_of(module) if under(m, *READS_THE_HOST, "diagnose.engine")}
        assert not reached, f"{module} imports {reached}"


RENDER = {"diagnose.render", "diagnose.render_base", "diagnose.render_doc"}


def test_render_makes_no_decisions_about_the_host():
    """The renderers read the report, and the words around it (wording: knowledge/wording.json), nothing else."""
    for module in RENDER:
        assert imports_of(module) <= {"diagnose", "diagnose.model", "diagnose.wording", *RENDER}, module
    assert imports_of("diagnose.wording") <= {"diagnose.locate"}


def test_no_import_circles():
    graph = {module: imports_of(module) for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import circle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        for child in sorted(graph[module]):
            parent = module.rpartition(".")[0]
            if child != parent:  # a submodule importing its own package's __init__ is Python's doing
                visit(child, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_every_module_says_its_stage():
    for module, path in MODULES.items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, f"{module} has no module docstring"


def test_modules_stay_small():
    big = {module: n for module, path in MODULES.items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, big


PATH_RE = re.compile(r"^(?:/(?:etc|proc|sys|run|var|dev|usr|boot|lib)(?:/\S*)?|sos_commands/\S*|installed-\w+)$")


def test_probes_take_every_path_from_the_layout_table():
    """A path a probe reads is declared once, in host/layout.py (live and sosreport alike): no path literal
    in the probes (detail messages may name paths in words)."""
    for module in (m for m in MODULES if under(m, "diagnose.probes")):
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        literals = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                    and isinstance(node.value, str) and PATH_RE.match(node.value)]
        assert not literals, f"{module}: {literals}"


def test_the_daemon_harness_knows_every_name_the_real_libvirt_tests_define():
    """A killed run leaves its guests and networks defined; the next run removes exactly those names."""
    import sys

    sys.path.insert(0, str(PACKAGE.parent / "tests"))
    import libvirt_daemon

    source = (PACKAGE.parent / "tests/integration/test_real_libvirt.py").read_text(encoding="utf-8")
    guests = set(re.findall(r'guest_xml\("([^"]+)"', source))
    networks = set(re.findall(r"<network>\s*<name>([^<{]+)</name>", source))
    assert guests and networks
    assert guests <= set(libvirt_daemon.TEST_GUESTS) and networks <= set(libvirt_daemon.TEST_NETWORKS)
