"""Property tests (hypothesis) for issue 7: every parser, the XML checks, `explain` on arbitrary text,
the log streamer, text decoding, archives and `scan` on random trees never raise anything but the
documented Unreadable, and keep their invariants (exact line numbers, nothing resolved out of the root).

The example database is off (nothing is written into the repository); bench/fuzz.py runs the same
targets for longer.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tarfile
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnose import engine, journal, parsers, paste, virsh, xmlchecks
from diagnose.host import archive, base, reader, tree
from diagnose.model import Line

EXAMPLES = int(os.environ.get("VIRTDIAG_HYPOTHESIS_EXAMPLES", "300"))  # bench/fuzz.py --hypothesis raises it
FAST = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=max(1, EXAMPLES // 5), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# pieces real input is made of, so random text reaches the interesting branches
FRAGMENTS = [
    "error: ", "error : ", "virError(Code=38, Domain=7, Message='", "')", "'", '"', "\\n", "\\'", "\n", "\r\n", "\t",
    "\x1b[31m", "<domain type='kvm'>", "</domain>", "<network>", "</network>", "<name>", "</name>", "<devices>",
    "<disk type='block' device='cdrom'>", "<target dev='hdc' bus='ide'/>", "</disk>", "<![CDATA[", "]]>",
    "<!DOCTYPE d [<!ENTITY e 'x'>]>", "&e;", "listen_tls = 0", "key = [", "]", '"a", ', "# comment",
    "LIBVIRTD_ARGS=\"--listen\"", "flags\t: vmx svm", "kvm_intel 1 0 - Live", "127.0.0.1 host",
    "/dev/sda / ext4 rw 0 0", "0: 00000000:0035 00000000:0000 0A", "libvirt:x:0:root,alice",
    " Id   Name   State", "-----------------", " 1    web01  running", "2: br0: <BROADCAST>", "bridge forward_delay",
    "Cannot get interface MTU on 'br0': No such device", "Failed to start domain 'web01'", "2024-05-02 09:00:00",
    "\x00", "\ufffd", "é", "日本", "\u2028", " ", "=", ":", ",", "(", ")", "[", "<", ">", "&", ";",
]
texty = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), max_size=40).map("".join),
)


# --- parsers -----------------------------------------------------------------------------------------


@FAST
@given(texty)
def test_paste_lines(text: str) -> None:
    physical = len(text.splitlines())
    for line in paste.paste_lines(text):
        assert isinstance(line, Line)
        assert 1 <= line.number <= max(physical, 1)
        assert "\n" not in line.text and line.text.strip()


@FAST
@given(texty)
def test_find_xml(text: str) -> None:
    found = paste.find_xml(text)
    if found is not None:
        root, body, first = found
        assert root in ("domain", "network") and body.rstrip().endswith(f"</{root}>")
        assert 1 <= first <= text.count("\n") + 1
        assert body in text


def _find_xml_reference(text: str) -> tuple[str, str, int] | None:
    """The implementation before it was made linear, for an equivalence check on small inputs."""
    for m in re.finditer(r"^[ \t]*<(domain|network)\b[^>]*>", text, re.M):
        root = m.group(1)
        end = text.rfind(f"</{root}>", m.start())
        if end > m.start() and text.count("\n", m.start(), end) >= 1:
            break
    else:
        return None
    return root, text[m.start() : end + len(root) + 3], text.count("\n", 0, m.start()) + 1


@FAST
@given(texty)
def test_find_xml_is_the_old_find_xml(text: str) -> None:
    assert paste.find_xml(text) == _find_xml_reference(text)


VIRERROR_PIECES = ["virError(Code=", "1", "-2", ", Domain=", "7", ", Message=", "'", '"', ")", " ", "\t", "x", "é",
                   "virError(", "\u00a0"]


@FAST
@given(st.lists(st.sampled_from(VIRERROR_PIECES), max_size=30).map("".join))
def test_virerror_unwrap_is_the_regex(line: str) -> None:
    """The linear unwrapping does what VIRERROR_RE.search did."""
    m = paste.VIRERROR_RE.search(line)
    expected = f"{line[: m.start()]}{m.group(2)}" if m else line
    assert paste._unwrap_virerror(line) == expected


@FAST
@given(texty, st.sampled_from(["listen_tls", "unix_sock_group", "x", ""]))
def test_line_parsers(text: str, key: str) -> None:
    list(parsers.iter_text_lines(text, "journal", "/var/log/messages"))
    conf = parsers.parse_libvirt_conf(text)
    assert all(isinstance(v, (str, int, list)) for v in conf.values())
    assert all(isinstance(v, str) for v in parsers.parse_shell_vars(text).values())
    assert all(isinstance(m, str) and m for m in parsers.parse_modules(text))
    assert all(isinstance(f, str) for f in parsers.parse_cpuinfo_flags(text))
    assert all(len(names) >= 1 for _, names in parsers.parse_hosts(text))
    assert all(len(m) == 3 for m in parsers.parse_mounts(text))
    assert all(0 <= p <= 0xFFFFFFFF for p in parsers.listening_ports(text))
    number, shown = parsers.conf_line(text, key)
    assert 0 <= number <= len(text.splitlines())
    assert all(isinstance(members, list) for members in parsers.parse_group(text).values())
    rows = virsh.parse_virsh_list(text)
    assert rows is None or all(len(row) == 3 for row in rows)
    assert all(isinstance(v, dict) for v in parsers.parse_ip_details(text).values())


SCAN_FRAGMENTS = ["__CURSOR=s=1", "MESSAGE=", "MESSAGE\n", "\x05\x00\x00\x00\x00\x00\x00\x00", "_PID=1",
                  "interface=br0", "conf-dir=/etc/dnsmasq.d,*.conf", "bind-interfaces", '"#"', "DEVICE=br0",
                  "TYPE='Bridge' # c", 'DELAY="1', "Name:           web01", "                ", "State:  shut off",
                  "<capabilities>", "<guest><arch name='x86_64'><domain type='kvm'/></arch></guest>",
                  "</capabilities>", "May 02 06:58:05 kvm1 libvirtd[1187]: ", "-- Boot 3b5e --", "\n", "\n\n", "="]
scan_texty = st.one_of(texty, st.lists(st.sampled_from(SCAN_FRAGMENTS) | st.text(max_size=8), max_size=40).map("".join))


@FAST
@given(scan_texty)
def test_scan_parsers(text: str) -> None:
    """The dnsmasq, ifcfg, journal, dominfo and capabilities parsers take any text and keep their shapes."""
    lines = len(text.splitlines())
    options = parsers.parse_dnsmasq_conf(text)
    assert all(key and " " not in key for key in options)
    assert all(1 <= line <= lines for found in options.values() for line, _ in found)
    assert all(isinstance(v, str) for v in parsers.parse_ifcfg(text).values())
    assert 0 <= parsers.ifcfg_line(text, "DELAY")[0] <= lines
    info = virsh.parse_virsh_dominfo(text)
    assert not info or "Name" in info
    caps = virsh.parse_capabilities(text)
    assert caps is None or isinstance(caps.domain_types(), set)
    for line in text.splitlines():
        record = journal.parse_journal_short(line)
        assert record is None or record.message in line
    data = text.encode("utf-8", "replace")
    for entry in journal.iter_journal_export([data]):
        for number, shown in journal.journal_entry_lines(entry):
            assert 1 <= number <= data.count(b"\n") + 1 and "\n" not in shown


journal_fields = st.lists(st.tuples(st.sampled_from(["MESSAGE", "_PID", "_COMM", "SYSLOG_IDENTIFIER", "X_1"]),
                                    st.one_of(st.text(max_size=30), st.binary(max_size=30))), min_size=1, max_size=5)


@FAST
@given(st.lists(journal_fields, max_size=4), st.integers(1, 40))
def test_journal_export_round_trip(entries: list[list[tuple[str, str | bytes]]], block: int) -> None:
    """Entries written as `journalctl -o export` writes them come back whole, each message's line exact,
    however the bytes are split into blocks."""
    data = b""
    expected = []
    for fields in entries:
        kept: dict[str, str] = {}
        message_line = 0
        for key, value in fields:
            raw = value if isinstance(value, bytes) else value.encode()
            if isinstance(value, bytes) or b"\n" in raw:
                data += key.encode() + b"\n" + len(raw).to_bytes(8, "little")
                line = data.count(b"\n") + 1
                data += raw + b"\n"
            else:
                line = data.count(b"\n") + 1
                data += key.encode() + b"=" + raw + b"\n"
            kept[key] = raw.decode("utf-8", "replace")
            message_line = line if key == "MESSAGE" else message_line
        data += b"\n"
        expected.append(journal.JournalEntry(message_line, kept))
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    assert list(journal.iter_journal_export(blocks)) == expected


# --- XML ------------------------------------------------------------------------------------------------


names = st.sampled_from(["domain", "network", "name", "devices", "disk", "target", "source", "interface", "os",
                         "type", "metadata", "bogus", "qemu:commandline", "a", "_x"])
attrs = st.dictionaries(st.sampled_from(["type", "device", "dev", "bus", "file", "bridge", "weird", "xmlns:qemu"]),
                        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=10), max_size=3)


def _element(children: list[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda tag, a, text: f"<{tag}{''.join(f' {k}={v!r}' for k, v in a.items())}>{text}"
                     f"{''.join(children)}</{tag}>", names, attrs, st.text(max_size=10))


xml_docs = st.recursive(
    st.builds(lambda tag, a: f"<{tag}{''.join(f' {k}={v!r}' for k, v in a.items())}/>", names, attrs),
    lambda inner: st.lists(inner, max_size=4).flatmap(_element), max_leaves=20,
).map(lambda body: f"<domain type='kvm'>\n<name>g</name>\n{body}\n</domain>\n")


@FAST
@given(st.one_of(texty, xml_docs, st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join)))
def test_xml_parse_and_check(text: str) -> None:
    doc = xmlchecks.parse(text, "domain-xml", "/etc/libvirt/qemu/g.xml")
    assert (doc.root is None) == bool(doc.error) or doc.root is not None
    for hit in xmlchecks.check(doc):
        assert hit.evidence and all(e.line >= 1 for e in hit.evidence)


# --- explain on arbitrary text --------------------------------------------------------------------------


@SLOW
@given(st.one_of(texty, xml_docs, st.binary(max_size=2000).map(lambda b: b.decode("utf-8", "replace"))))
def test_explain_arbitrary_text(text: str) -> None:
    report = engine.explain(text)
    lines = max(len(text.splitlines()), 1)
    for finding in report.findings:
        assert 0.0 <= finding.confidence <= 1.0
        for ev in finding.evidence:
            assert ev.line <= lines + 1


# --- reading files ------------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=3000))
def test_decode_and_binary_check(data: bytes) -> None:
    assert isinstance(base.decode(data), str)
    assert isinstance(base.looks_binary(data), bool)


def _reference_lines(data: bytes, max_line: int) -> list[tuple[int, bytes]]:
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    out = []
    for number, raw in enumerate(pieces, start=1):
        out.append((number, raw[:max_line] + base.CUT_MARK if len(raw) > max_line else raw.rstrip(b"\r")))
    return out


line_bytes = st.lists(st.sampled_from([b"a", b"bb", b"\n", b"\r\n", b"\r", b"x" * 9, b"\xff", b"\0", b"\xc3\xa9"]),
                      max_size=60).map(b"".join)


@FAST
@given(line_bytes, st.integers(1, 12), st.integers(1, 10))
def test_streamed_lines_are_exact(data: bytes, chunk: int, max_line: int) -> None:
    """Any block size, any cut length: the same lines, with the same numbers, as reading it whole."""
    host = archive.ArchiveHost(label="t", kind="tree")
    host.members["f"] = tarfile.TarInfo("f")
    host.contents["f"] = data
    with mock.patch.object(base, "CHUNK", chunk), mock.patch.object(base, "MAX_LINE", max_line):
        if base.looks_binary(data[:chunk]):
            return
        got = list(host.iter_raw_lines("/f"))
        assert got == _reference_lines(data, max_line)
        text = list(host.iter_lines("/f"))
    assert [n for n, _ in text] == [n for n, raw in got if raw and not raw.isspace()]


# --- archives -----------------------------------------------------------------------------------------


member_names = st.lists(st.sampled_from(["sosreport-h", "etc", "libvirt", "qemu", "..", ".", "", "x.xml",
                                         "libvirtd.conf", "/", "sos_commands", "a b", "\u00e9"]),
                        min_size=1, max_size=5).map("/".join)
members = st.lists(st.tuples(member_names, st.sampled_from(["file", "dir", "sym", "hard", "fifo", "chr"]),
                             member_names, st.binary(max_size=200)), max_size=12)


def _tar(entries: list[tuple[str, str, str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, target, data in entries:
            info = tarfile.TarInfo(name or ".")
            info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "hard": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}[kind]
            if kind in ("sym", "hard"):
                info.linkname = target
            info.size = len(data) if kind == "file" else 0
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return out.getvalue()


@FAST
@given(members, st.lists(member_names, max_size=6), st.integers(0, 3))
def test_archive_host(entries: list[tuple[str, str, str, bytes]], probes: list[str], cut: int) -> None:
    """Any members (traversal, links anywhere, devices), whole or truncated: only Unreadable escapes,
    and every path answers stat/lexists/listdir/read without touching the disk."""
    data = _tar(entries)
    if cut:
        data = data[: len(data) * cut // 4]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.tar"
        path.write_bytes(data)
        try:
            host = reader.open_host(str(path))
        except base.Unreadable:
            return
        with mock.patch("builtins.open", side_effect=AssertionError("archive reads must not open files")):
            for probe in [*probes, *(name for name, *_ in entries)]:
                host.stat(probe)
                host.lexists(probe)
                host.listdir(probe)
                with contextlib.suppress(base.Unreadable):
                    host.read_text(probe)
        for what, why in host.skipped:
            assert "\n" not in what + why


# --- trees -----------------------------------------------------------------------------------------------


tree_paths = st.sampled_from([
    "etc/libvirt/libvirtd.conf", "etc/libvirt/qemu.conf", "etc/libvirt/qemu/g.xml", "etc/libvirt/qemu/networks/n.xml",
    "etc/libvirt/qemu/networks/autostart/n.xml", "var/log/libvirt/libvirtd.log", "var/log/libvirt/qemu/g.log",
    "var/log/messages", "proc/cpuinfo", "proc/modules", "proc/mounts", "etc/hostname", "etc/hosts", "etc/group",
    "sys/class/net/br0/bridge/forward_delay", "run/libvirt/network/n.xml", "etc/libvirt", "var/log", "proc",
])
link_targets = st.sampled_from(["/etc/passwd", "../../../../../etc/shadow", ".", "..", "/", "g.xml", "loop",
                                "/etc/libvirt/qemu/g.xml", "../libvirt", "/proc/self/fd/0", "/dev/zero"])
tree_entries = st.lists(st.tuples(tree_paths, st.sampled_from(["file", "link", "dir", "fifo"]),
                                  st.one_of(st.binary(max_size=300), st.sampled_from(FRAGMENTS).map(str.encode)),
                                  link_targets), max_size=10)


def _build(root: Path, entries: list[tuple[str, str, bytes, str]]) -> None:
    for name, kind, data, target in entries:
        path = root / name
        if os.path.lexists(path):
            continue  # never write into a FIFO made before (that would block the builder)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                path.write_bytes(data)
            elif kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
            elif kind == "fifo":
                os.mkfifo(path)
            else:
                path.symlink_to(target)
        except OSError:
            continue  # a link or FIFO already sits on the way: the tree is hostile enough


@SLOW
@given(tree_entries, st.lists(st.sampled_from(["/etc/libvirt/qemu/g.xml", "/../../etc/passwd", "/proc/../..",
                                               "/var/log/messages", "//etc//hosts", "/a/../../b", "/etc/libvirt/."]),
                              max_size=4))
def test_scan_random_tree(entries: list[tuple[str, str, bytes, str]], extra: list[str]) -> None:
    """Random files, links (loops, absolute, climbing), directories and FIFOs at the places virtdiag
    reads: the scan completes, skips say why on one line, and no path resolves out of the root."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "host"
        root.mkdir()
        _build(root, entries)
        try:
            report = engine.scan(str(root))
        except base.Unreadable as exc:  # nothing of a host in it: one line, and that must be true
            assert "\n" not in str(exc) and "no sos_commands/" in str(exc), exc
            assert not any((root / top).is_dir() for top in ("etc", "var", "proc", "sys", "run")), exc
        else:
            for item in report.skipped:
                assert item.reason and "\n" not in item.what + item.reason
        host = tree.TreeHost(label=str(root), kind="tree", root=root)
        real_root = os.path.realpath(root)
        for path in [*("/" + name for name, *_ in entries), *extra]:
            real = host.resolve(path)
            if real is not None:  # resolved inside, and no link left on the way that leads out
                assert os.path.commonpath([real_root, os.path.realpath(real)]) == real_root, (path, real)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcdefXYZ_ 0:'-./\u3042\u3044\u4e00\u4e01", max_size=30),
       st.text(alphabet="abcdefXYZ_ 0:'-./\u3042\u3044\u4e00\u4e01", max_size=20),
       st.text(alphabet="abcdefXYZ_ 0:'-./\u3042\u3044\u4e00\u4e01", max_size=20))
def test_a_line_holding_a_literal_offers_every_key_of_it(literal: str, before: str, after: str) -> None:
    """The matcher's index is sound: whatever surrounds a literal in a line, the line's keys include all of
    the literal's keys (else the index would hide a pattern from a line it matches)."""
    from diagnose.literals import line_keys, literal_keys

    line = before + literal + after
    assert literal_keys(literal) <= line_keys(line.lower())
