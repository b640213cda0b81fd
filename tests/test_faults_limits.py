"""Size limits and archive formats never become wrong answers (issue 16): a valid domain XML over a read
limit is skipped as too large, never reported malformed; a zstd-compressed sosreport is read (zstandard, or
tarfile where it can) or refused with the right reason."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from diagnose import engine, xmlchecks
from diagnose.host import archive, base, live, reader
from diagnose.state import HostState

HOSTILE = Path(__file__).resolve().parent / "hostile"
sys.path.insert(0, str(HOSTILE))
import corpus  # noqa: E402


def big_domain(size: int, name: str = "big") -> bytes:
    """A valid domain definition of about `size` bytes (a long description)."""
    head = (f"<domain type='kvm'>\n  <name>{name}</name>\n  <memory unit='MiB'>512</memory>\n"
            "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n  <description>\n").encode()
    tail = b"  </description>\n  <devices><serial type='pty'/><console type='pty'/></devices>\n</domain>\n"
    line = b"a perfectly valid line of a very long description\n"
    return head + line * (size // len(line)) + tail


def one_line(text: str) -> bool:
    return "\n" not in text and "\r" not in text and text.isprintable()


# --- XML over the read limit -------------------------------------------------------------------------


def test_domain_xml_over_the_read_limit_is_skipped_not_malformed(tmp_path: Path) -> None:
    host = corpus.write_base(tmp_path / "host")
    (host / "etc/libvirt/qemu/big.xml").write_bytes(big_domain(base.MAX_READ + 1024 * 1024))
    report = engine.scan(str(host))
    assert "xml-syntax-error" not in {f.id for f in report.findings}
    assert corpus.BASE_FINDING in {f.id for f in report.findings}  # the rest of the scan went on
    [reason] = [s.reason for s in report.skipped if s.what == "/etc/libvirt/qemu/big.xml"]
    assert reason == "too large (5.0 MiB, over the 4 MiB read limit), not read" and one_line(reason)


def test_domain_xml_over_the_read_limit_in_a_sosreport(tmp_path: Path) -> None:
    members = corpus.base_members()
    members.append(corpus._info(f"{corpus.TOP}/etc/libvirt/qemu/big.xml", big_domain(base.MAX_READ + 4096)))
    path = corpus.write_tar(tmp_path / "sosreport-big.tar.gz", members)
    report = engine.scan(str(path))
    assert "xml-syntax-error" not in {f.id for f in report.findings}
    [reason] = [s.reason for s in report.skipped if s.what == "/etc/libvirt/qemu/big.xml"]
    assert "too large" in reason and reason.endswith("not read")


def test_a_small_malformed_domain_xml_is_still_reported(tmp_path: Path) -> None:
    """The change is for size only: a cut document under the limit is still a syntax error."""
    host = corpus.write_base(tmp_path / "host")
    (host / "etc/libvirt/qemu/cut.xml").write_bytes(big_domain(64 * 1024)[:40_000])
    assert "xml-syntax-error" in {f.id for f in engine.scan(str(host)).findings}


def test_xml_over_the_parse_limit_is_no_syntax_error() -> None:
    text = big_domain(xmlchecks.MAX_XML_BYTES + 1024).decode()
    doc = xmlchecks.parse(text, "domain-xml", "/etc/libvirt/qemu/big.xml")
    assert doc.root is None and doc.too_large and doc.error == "too large (over 8 MiB), not read"
    assert xmlchecks.check(doc) == []


def test_daemon_xml_over_the_parse_limit_is_skipped() -> None:
    """A definition the daemon hands over (virsh dumpxml) over the limit: listed under skipped, not parsed."""
    state = live.LiveState("qemu:///system", domains=[
        live.LiveDomain("big", "shut off", False, True, False, big_domain(xmlchecks.MAX_XML_BYTES + 1024).decode())])
    host_state = HostState()
    live.merge_into(host_state, state)
    assert state.errors == [("virsh dumpxml --inactive big", "too large (over 8 MiB), not read")]


# --- zstd-compressed sosreports ----------------------------------------------------------------------


def tar_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in corpus.base_members():
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def zst_frames() -> tuple[bytes, bytes]:
    """The base sosreport as sos writes it now (tar.zst), in two zstd frames as a multi-threaded zstd may."""
    zstandard = pytest.importorskip("zstandard", reason="the zstandard package is not installed (virtdiag[zstd])")
    data = tar_bytes()
    half = len(data) // 2
    compressor = zstandard.ZstdCompressor()
    return compressor.compress(data[:half]), compressor.compress(data[half:])


def write_zst(path: Path) -> Path:
    path.write_bytes(b"".join(zst_frames()))
    return path


def summary(path: Path) -> list[tuple[str, tuple, list]]:
    report = engine.scan(str(path))
    return [(f.id, f.captures, [(e.source, e.line, e.text) for e in f.evidence]) for f in report.findings]


def test_zstd_sosreport_is_read(tmp_path: Path) -> None:
    """Read in place like a .tar.gz, with the same findings."""
    zst = write_zst(tmp_path / "sosreport-hostile-2024.tar.zst")
    gz = corpus.write_tar(tmp_path / "sosreport-hostile-2024.tar.gz", corpus.base_members())
    host = reader.open_host(str(zst))
    assert host.is_collected and host.read_text("/etc/hostname") == "hostile-host\n"
    host.close()
    assert summary(zst) == summary(gz)
    assert corpus.BASE_FINDING in {finding[0] for finding in summary(zst)}


def test_cut_zstd_sosreport_reads_what_came_before(tmp_path: Path) -> None:
    first, second = zst_frames()
    path = tmp_path / "sosreport-cut.tar.zst"
    path.write_bytes(first + second[: len(second) // 2])
    host = reader.open_host(str(path))
    assert host.read_text("/etc/hostname") == "hostile-host\n"
    assert any("truncated" in reason for _, reason in host.skipped), host.skipped


def test_garbage_zstd_is_no_internal_error(tmp_path: Path) -> None:
    """A damaged zstd stream raises zstandard's own error: it is the archive's problem, told in one line."""
    zst_frames()  # skips without zstandard
    path = tmp_path / "sosreport-garbage.tar.zst"
    path.write_bytes(archive.ZSTD_MAGIC + b"garbage" * 100)
    with pytest.raises(base.Unreadable, match="not a readable tar archive") as raised:
        reader.open_host(str(path))
    assert one_line(str(raised.value))


def test_zstd_sosreport_without_a_reader_is_refused_with_the_reason(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither tarfile (before Python 3.14) nor the zstandard package: the one-line reason says what to
    install, never "not a readable tar archive"."""
    path = tmp_path / "sosreport-kvm1-2024.tar.zst"
    path.write_bytes(archive.ZSTD_MAGIC + b"\x00" * 64)  # only the magic matters: it is never decompressed
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard -> ImportError
    monkeypatch.setattr(tarfile.TarFile, "OPEN_METH", {k: v for k, v in tarfile.TarFile.OPEN_METH.items()
                                                       if k != "zst"})
    with pytest.raises(base.Unreadable) as raised:
        reader.open_host(str(path))
    assert str(raised.value) == (f"{path}: a zstd-compressed archive: install the zstandard package "
                                 "(pip install 'virtdiag[zstd]')")
