"""The catalog lint runs in the suite: a broken catalog fails CI."""

from __future__ import annotations

import re
from pathlib import Path

from diagnose import catalog, engine, lint, literals, probes


def test_catalog_has_no_lint_problems():
    loaded = catalog.load()
    problems = lint.lint(loaded, engine.fact_names(), engine.detectors())
    assert problems == []


def test_contract_ids_exist():
    wanted = """libvirtd-listen-no-ca-cert uri-invalid tls-ca-cert-missing socket-permission-denied
    polkit-unavailable ssh-transport-eof tcp-connection-refused cpu-incompatible qemu-start-failed
    managedsave-corrupt no-serial-console no-boot-device-bus network-not-started dnsmasq-start-failed
    dhcp-bridge-forward-delay dhcp-checksum-vhost macvtap-host-unreachable dhcp-checksum-warning
    bridge-missing tun-ethernet-interface migration-hostname-unresolvable migration-disk-path-missing
    migration-unsafe migration-same-host-uuid no-guests-listed xml-syntax-error xml-vanishing-parts
    cdrom-block-no-source daemon-not-running virtlogd-unavailable kvm-unavailable image-permission-denied
    disk-image-missing disk-image-format-mismatch image-locked domain-state-invalid domain-already-exists
    domain-not-found network-address-in-use firewall-backend-error uefi-firmware-missing
    machine-type-unsupported iommu-unavailable vfio-group-not-viable hostdev-config-permission
    hugepages-unavailable cgroup-unsupported smbios-unavailable dac-label-conflict tls-certificate-invalid
    xml-invalid-config ovs-bridge-needs-virtualport macvtap-source-missing""".split()
    ids = {sig.id for sig in engine.loaded()[0].signatures}
    assert sorted(set(wanted) - ids) == []


def test_every_appendix_section_is_covered():
    sections = {sig.section for sig in engine.loaded()[0].signatures}
    for number in ["B.1", "B.2.1", "B.2.2", "B.2.3", "B.3", "B.4", "B.5", "B.6", "B.7", "B.8", "B.9",
                   "B.10", "B.11", "B.12", "B.13", "B.14", "B.15", "B.16"]:
        assert number in sections, number


def test_fact_table_in_readme_is_generated_from_the_probes():
    """knowledge/README.md's fact table is the probes' registry (python scripts/gen_docs.py rewrites it)."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "scripts" / "gen_docs.py"
    assert subprocess.run([sys.executable, str(script), "--check"]).returncode == 0, "run scripts/gen_docs.py"
    readme = (Path(catalog.knowledge_dir()) / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r"^\| `([a-z0-9_]+)` \|", readme, re.M)) == set(probes.PROBES)


def test_required_literals_of_alternatives():
    assert catalog.required_literals(re.compile(r"openvswitch|ovs-vsctl")) == ("openvswitch", "ovs-vsctl")
    assert catalog.required_literals(re.compile(r"(?:Failed to start|Unable to start) x")) == (
        "Failed to start x", "Unable to start x")  # the run goes on through a plain alternation
    assert catalog.required_literals(re.compile(r"\b(?:libvirtd|virtproxyd)(?:\[\d+\])?: ")) == (
        "libvirtd", "virtproxyd")
    assert catalog.required_literals(re.compile(r"(?P<k>No bootable device|Boot failed)")) == (
        "No bootable device", "Boot failed")
    assert catalog.required_literals(re.compile(r"abc|\d+")) == ("",)


def test_required_literals_carry_a_run_through_small_alternations():
    """The regex parser factors `(?:system|session)` into "s" + (ystem|ession) and `(?:-n|--name)` into
    "-" + (n|-name): the literals must be the whole spellings, or a log prefilter meets every line
    that says "systemd" or holds a dash."""
    assert catalog.required_literals(re.compile(r"(?:qemu|vz)(?:\+tls)?://(?:system|session)/?")) == (
        "://system", "://session")
    assert catalog.required_literals(re.compile(r"(?:-n|--name) (?P<guest>\S+)")) == ("-n ", "--name ")
    assert catalog.required_literals(re.compile(r"a(?:bc|bd)efghijk")) == ("abcefghijk", "abdefghijk")
    assert catalog.required_literals(re.compile(r"(?i)Cannot [ab]x")) == ("cannot ax", "cannot bx")
    many = "|".join(f"{chr(97 + i)}{i}x" for i in range(20))  # too many spellings: the run ends here
    assert catalog.required_literals(re.compile(f"Unable to open (?:{many}) device")) == ("Unable to open ",)


def test_required_literal_ignores_optional_parts():
    pattern = re.compile(r"(?:internal error:? )?guest CPU is not compatible with host CPU")
    assert literals.required_literal(pattern) == "guest CPU is not compatible with host CPU"
    assert literals.required_literal(re.compile(r"a(?:bc|bd)efghijk")) == "efghijk"
    assert literals.required_literal(re.compile(r"(?i)Cannot FIND")) == "cannot find"
    assert literals.required_literal(re.compile(r"(?i:qemu) unexpectedly closed")) == " unexpectedly closed"
    assert literals.required_literal(re.compile(r"abcdefgh(?i:X)ijk")) == "abcdefgh"


def test_shipped_catalog_cache_is_fresh():
    assert catalog.cache_is_fresh(), "knowledge changed: run python scripts/build_catalog_cache.py"


def test_cached_template_bindings_match_the_template_index():
    """The cache stores which signature explains which template, template sets expanded over the generated
    index: regenerating templates.jsonl without rebuilding the cache would leave them stale."""
    from diagnose.messages import template_bindings

    cached = catalog.load()
    assert cached.index["templates"] == template_bindings(cached), "run python scripts/build_catalog_cache.py"


def test_catalog_from_cache_equals_catalog_from_toml(tmp_path):
    import shutil

    copy = tmp_path / "knowledge"
    shutil.copytree(catalog.knowledge_dir(), copy)
    (copy / catalog.CACHE).unlink()
    fresh = catalog.load(copy)
    cached = catalog.load()
    assert [s.id for s in fresh.signatures] == [s.id for s in cached.signatures]
    assert [[p.pattern for p in s.patterns] for s in fresh.signatures] == [
        [p.pattern for p in s.patterns] for s in cached.signatures]
    assert [[p.required() for p in s.patterns] for s in fresh.signatures] == [
        [p.literals for p in s.patterns] for s in cached.signatures]


def test_cached_matcher_index_equals_a_fresh_one():
    """The index read from the cache is the one the matcher builds itself from the patterns (a stale one
    would silently hide patterns from the lines that should meet them)."""
    from diagnose.match import Matcher

    cached = catalog.load()
    assert cached.index, "no index in the cache: run python scripts/build_catalog_cache.py"
    fresh = Matcher.build(catalog.load(use_cache=False))
    stored = Matcher.build(cached)

    def shape(m: Matcher) -> object:
        def names(group: tuple) -> list:
            return [[(p.signature, p.kind, p.pattern.pattern, p.literals, p.sources) for p in kind] for kind in group]

        return {k: names(m.bucket(k)) for k in m.by_word}, names(m.always), names(m.non_ascii)

    assert shape(fresh) == shape(stored)


def test_the_regex_scanner_knows_a_bracket_right_after_a_class_opens():
    """`[^]x|y]` is one character class (a "]" right after "[" or "[^" is a member): its "|" splits nothing.
    The catalog, the matcher's index and the l10n generator all use this one scanner (literals.scan)."""
    from diagnose.literals import scan, top_alternatives

    assert top_alternatives(r"a[^]x|y]b|cd") == ["a[^]x|y]b", "cd"]
    assert top_alternatives(r"[]|]x|(?:y|z)") == ["[]|]x", "(?:y|z)"]
    groups, bars = scan(r"(?P<a>[)(])|[^]]")
    assert [(g.start, g.end, g.name) for g in groups] == [(0, 11, "a")] and bars == [11]
    assert catalog.required_literals(re.compile(r"Failed [^]|]+ (?:on|at) host")) == (" on host", " at host")


def test_the_l10n_generator_reads_classes_with_the_same_scanner():
    import importlib.util
    import sys

    path = Path(__file__).resolve().parent.parent / "scripts" / "gen_l10n.py"
    spec = importlib.util.spec_from_file_location("gen_l10n", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_l10n"] = module
    spec.loader.exec_module(module)
    assert module.delazy(r"a+?[]+?]b*?") == r"a+[]+?]b*"
    assert [(g.start, g.end) for g in module.scan_groups(r"([)])x")] == [(0, 5)]


def test_a_shared_pattern_set_is_expanded_where_a_signature_names_it():
    from diagnose import catalog as catalog_mod

    files = {"sets.toml": {"set": {"evidence": ["alpha", "beta"]}},
             "x.toml": {"signature": [{"id": "x-one", "unless": ["first", "@evidence"], "context": ["@missing"]}]}}
    records, problems, _ = catalog_mod._records(files)
    assert records[0]["raw"]["unless"] == ["first", "alpha", "beta"]
    assert records[0]["raw"]["context"] == []
    assert problems == ["x.toml:x-one: context names an unknown pattern set '@missing'"]


def test_the_catalog_uses_its_migration_evidence_set():
    """daemon-max-client-requests is vetoed by every migration sign the shared set lists."""
    from diagnose import engine

    for line in ("Migration: [ 3 %]", "# virsh migrate --live web01 qemu+ssh://kvm2/system",
                 "error : qemuMigrationSrcPerform:123 : x", "virsh migrate-postcopy web01"):
        ids = [f.id for f in engine.explain(f"{line}\nerror: internal error: connection closed due to keepalive "
                                            "timeout").findings]
        assert "daemon-max-client-requests" not in ids and ids[0] == "migration-connection-lost", (line, ids)


def test_a_capture_in_a_signature_title_is_a_lint_problem():
    """Only fix titles, whys and commands are filled in: "{namespace}" in a signature's title would be shown as
    it is written."""
    from dataclasses import replace

    loaded = catalog.load()
    sig = loaded.by_id("gi-typelib-missing")
    assert sig is not None
    broken = replace(loaded, signatures=(replace(sig, title=sig.title + " ({namespace})"),))
    problems = lint.lint(broken, engine.fact_names(), engine.detectors())
    assert "connection.toml:gi-typelib-missing: a {capture} in its title or summary (only fix titles, whys and " \
           "commands are filled in)" in problems


def test_a_context_pattern_without_fixed_text_is_a_lint_problem():
    """The first stage that picks a big log's lines by literals cannot look for a pattern with no fixed text: a
    line only such a context pattern matches would be lost there (pci-device-unresponsive's '(?i:nvidia)' was)."""
    from dataclasses import replace

    loaded = catalog.load()
    sig = loaded.by_id("pci-device-unresponsive")
    assert sig is not None
    no_literal = catalog.Pattern("(?P<nvidia>(?i:nvidia))")
    broken = replace(loaded, signatures=(replace(sig, context=(*sig.context, no_literal)),))
    problems = lint.lint(broken, engine.fact_names(), engine.detectors())
    assert "host.toml:pci-device-unresponsive: context or unless pattern has no fixed text a line must hold: " \
           "'(?P<nvidia>(?i:nvidia))'" in problems


def test_a_template_set_that_adds_nothing_is_a_lint_problem():
    """A set whose templates are all named by signatures already (or that matches none) explains nothing."""
    from dataclasses import replace

    loaded = catalog.load()
    sig = loaded.by_id("qemu-too-old")
    assert sig is not None and sig.template_sets
    broken = replace(loaded, signatures=(replace(sig, template_sets=(("^src/qemu/", "^no such message$"),)),))
    problems = lint.lint(broken, engine.fact_names(), engine.detectors())
    assert "xml.toml:qemu-too-old: its template sets cover no libvirt template that no signature names" in problems
