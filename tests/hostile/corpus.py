#!/usr/bin/env python3
"""Hostile-input corpus for virtdiag (issue 7): files, XML, host trees and archives that try to crash,
hang, blow up memory, escape the root, or make virtdiag write.

Small cases are committed under tests/hostile/fixtures/; everything large (a 50 MB line, a 2 GB
sparse log, decompression bombs) is generated here, at test time, into a temporary directory.

    python tests/hostile/corpus.py OUTDIR [--big]
    python tests/hostile/corpus.py --fixtures

The first writes every case into OUTDIR (trees/, archives/, files/, xml/) and prints what it wrote;
--big adds the 50 MB line and the 2 GB sparse log. The second rewrites the committed small cases in
tests/hostile/fixtures/ (each under FIXTURE_MAX bytes). The tests import this module and call the
builders directly.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import socket
import stat
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_MAX = 16 * 1024  # a case this small is committed; a larger one is generated at test time
FIXTURE_PORT = 9  # the discard port: committed XXE cases point at it
TOP = "sosreport-hostile-2024-05-02-abcdef"

# --- a small host that has one known problem, so "the rest of the scan completed" is observable ---

BRIDGE_ERROR = "error : virNetDevGetMTU:397 : Cannot get interface MTU on 'br0': No such device"
DAEMON_LOG = (
    "2024-05-02 09:00:00.000+0000: 1201: info : libvirt version: 9.0.0\n"
    f"2024-05-02 09:00:01.000+0000: 1201: {BRIDGE_ERROR}\n"
)
BASE_FILES: dict[str, bytes] = {
    "etc/hostname": b"hostile-host\n",
    "etc/hosts": b"127.0.0.1 localhost\n192.0.2.10 hostile-host\n",
    "etc/libvirt/libvirtd.conf": b"# defaults\n",
    "etc/libvirt/qemu.conf": b'user = "qemu"\n',
    "etc/libvirt/qemu/web01.xml": (
        b"<domain type='kvm'>\n  <name>web01</name>\n  <memory unit='MiB'>512</memory>\n"
        b"  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n  <devices>\n"
        b"    <interface type='bridge'><source bridge='br0'/></interface>\n"
        b"    <serial type='pty'/><console type='pty'/>\n  </devices>\n</domain>\n"
    ),
    "var/log/libvirt/libvirtd.log": DAEMON_LOG.encode(),
    "proc/cpuinfo": b"processor : 0\nflags : fpu vmx nx constant_tsc nonstop_tsc\n",
    "proc/modules": b"kvm_intel 380928 0 - Live 0x0\nkvm 1142784 1 kvm_intel, Live 0x0\n",
    "sys/class/net/eth0/operstate": b"up\n",
}
BASE_FINDING = "bridge-missing"  # found on the base host whatever hostile files sit next to it


def write_base(root: Path) -> Path:
    """The small healthy-but-for-one-bridge host tree."""
    for name, data in BASE_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


# --- file contents -------------------------------------------------------------------------------

def _garbage(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


FILE_CONTENTS: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "binary-garbage": lambda: _garbage(64 * 1024),
    "nul-bytes": lambda: b"\0" * 10000,
    "nul-sprinkled": lambda: b"listen_tls = 0\0\nerror :\0 Cannot get interface MTU on 'br9'\0: No such device\n" * 20,
    "invalid-utf8": lambda: (b"\xff\xfe\xfa error : \xc3\x28 Cannot get interface MTU on 'br7': No such device"
                             b"\xe2\x82\n"),
    "mixed-encodings": lambda: ("café ".encode("latin-1") + "日本語 ".encode() + "ünï ".encode("cp1252")
                                + "テスト".encode("shift_jis") + b"\n") * 50,
    "utf16-bom": lambda: "listen_tls = 0\nerror : Cannot get interface MTU on 'br5': No such device\n".encode("utf-16"),
    "crlf": lambda: DAEMON_LOG.replace("\n", "\r\n").encode() + b"listen_tls = 0\r\n",
    "cr-only": lambda: DAEMON_LOG.replace("\n", "\r").encode(),
    "cut-mid-line": lambda: DAEMON_LOG.encode() + b"2024-05-02 09:00:02.000+0000: 1201: error : virNetDevGetMTU:3",
    "cut-mid-utf8": lambda: DAEMON_LOG.encode() + "error : ネットワーク".encode()[:-1],
    "control-chars": lambda: bytes(range(1, 32)) * 100 + b"\n",
    "ansi-escapes": lambda: (b"\x1b]0;pwned\x07\x1b[2J\x1b[31merror : Cannot get interface MTU on 'br3': No such "
                             b"device\x1b[0m\n"),
    "rich-markup": lambda: b"[bold red]x[/] [/] [link=file:///etc/passwd]y[/link] error : Cannot get interface MTU on "
                          b"'[br0]': No such device\n",
    "long-line-1mb": lambda: b"error : " + b"A" * (1024 * 1024) + b"\n" + BRIDGE_ERROR.encode() + b"\n",
    "many-short-lines": lambda: b"x\n" * 20_000,
    "only-newlines": lambda: b"\n" * 200_000,
    "whitespace-run": lambda: b" \t" * 300_000 + b"\n",
    "unicode-line-separators": lambda: "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\n".encode() * 100,
    "regex-bait": lambda: (b"virError(Code=1, Domain=1, Message='" * 2000 + b"\n"
                           + b"<domain\n" * 2000 + b"((((((((((" * 1000 + b"\n"),
}
# where each content is planted: logs, configs, XML, /proc, sosreport command output
PLANT_AT = (
    "var/log/libvirt/libvirtd.log",
    "var/log/libvirt/qemu/web01.log",
    "var/log/messages",
    "etc/libvirt/libvirtd.conf",
    "etc/libvirt/qemu.conf",
    "etc/libvirt/libvirt.conf",
    "etc/libvirt/qemu/hostile.xml",
    "etc/libvirt/qemu/networks/hostile.xml",
    "etc/hostname",
    "etc/group",
    "etc/hosts",
    "etc/sysconfig/libvirtd",
    "proc/meminfo",
    "proc/mounts",
)


def plant(root: Path, data: bytes, where: tuple[str, ...] = PLANT_AT) -> None:
    for name in where:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def write_fifty_mb_line(path: Path) -> Path:
    """A log whose one line is 50 MB, then a real error on the next line (written in blocks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(DAEMON_LOG.encode())
        block = b"x" * (1024 * 1024)
        for _ in range(50):
            out.write(block)
        out.write(b"\n2024-05-02 09:00:03.000+0000: 1201: error : virNetDevBridgeAddPort:1 : "
                  b"Unable to add bridge virbr9 port vnet0: No such device\n")
    return path


SPARSE_SIZE = 2 * 1024 * 1024 * 1024


def write_sparse_log(path: Path, size: int = SPARSE_SIZE) -> Path:
    """A 2 GB log that is one hole between a real first record and a real last record (a log that was
    truncated under a writer that kept its offset). Takes no disk space."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(DAEMON_LOG.encode() * 50)
        out.seek(size)
        out.write(b"\n2024-05-02 09:00:03.000+0000: 1201: error : virNetDevBridgeAddPort:1 : "
                  b"Unable to add bridge virbr9 port vnet0: No such device\n")
    return path


# --- XML -------------------------------------------------------------------------------------------

def billion_laughs(depth: int = 10) -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, depth)
    ]
    return ('<?xml version="1.0"?>\n<!DOCTYPE domain [\n' + "\n".join(entities) + "\n]>\n"
            f"<domain type='kvm'>\n  <name>&lol{depth - 1};</name>\n</domain>\n")


def quadratic_blowup(size: int = 100_000) -> str:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE domain [<!ENTITY a "{"a" * size}">]>\n'
            f"<domain type='kvm'>\n  <name>{'&a;' * 2000}</name>\n</domain>\n")


def xxe(port: int) -> str:
    """External entities that would read /etc/passwd and fetch from 127.0.0.1:port if resolved."""
    return ('<?xml version="1.0"?>\n<!DOCTYPE domain [\n'
            '  <!ENTITY file SYSTEM "file:///etc/passwd">\n'
            f'  <!ENTITY net SYSTEM "http://127.0.0.1:{port}/entity">\n'
            f'  <!ENTITY % remote SYSTEM "http://127.0.0.1:{port}/dtd"> %remote;\n'
            "]>\n<domain type='kvm'>\n  <name>&file;&net;</name>\n"
            f"  <description>&net;</description>\n</domain>\n")


def xxe_dtd(port: int) -> str:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE domain SYSTEM "http://127.0.0.1:{port}/domain.dtd">\n'
            "<domain type='kvm'>\n  <name>dtd</name>\n</domain>\n")


def xinclude(port: int) -> str:
    return ("<domain type='kvm' xmlns:xi='http://www.w3.org/2001/XInclude'>\n  <name>xi</name>\n"
            "  <xi:include href='file:///etc/passwd' parse='text'/>\n"
            f"  <xi:include href='http://127.0.0.1:{port}/x.xml'/>\n</domain>\n")


def deep(levels: int = 100_000) -> str:
    return "<domain type='kvm'>\n<name>deep</name>\n" + "<a>" * levels + "</a>" * levels + "\n</domain>\n"


def many_unknown_elements(count: int = 20_000) -> str:
    return ("<domain type='kvm'>\n<name>wide</name>\n<devices>\n" + "<bogus attr='1'/>\n" * count
            + "</devices>\n</domain>\n")


XML_TEXT: dict[str, Callable[[], str]] = {
    "truncated": lambda: BASE_FILES["etc/libvirt/qemu/web01.xml"].decode()[:150],
    "truncated-in-tag": lambda: "<domain type='kvm'>\n<name>x</name>\n<devices><disk type='file'",
    "deep-100k": deep,
    "billion-laughs": billion_laughs,
    "quadratic-blowup": quadratic_blowup,
    "many-unknown-elements": many_unknown_elements,
    "not-xml": lambda: "this is not xml at all <<<>>> &&&; ]]>\n",
    "cdata-and-pi": lambda: ("<?xml version='1.0'?>\n<?evil pi?>\n<domain type='kvm'>\n<name><![CDATA[x]]></name>\n"
                             "<!-- comment -- with double dash -->\n</domain>\n"),
}
XML_NETWORK_TEXT: dict[str, Callable[[int], str]] = {"xxe": xxe, "xxe-dtd": xxe_dtd, "xinclude": xinclude}


def xml_bytes() -> dict[str, bytes]:
    """Domain XML in other encodings, as bytes on disk."""
    doc = "<domain type='kvm'>\n  <name>café-ü</name>\n  <description>naïve</description>\n</domain>\n"
    return {
        "latin1-declared": (f'<?xml version="1.0" encoding="ISO-8859-1"?>\n{doc}').encode("latin-1"),
        "utf16-declared-bom": (f'<?xml version="1.0" encoding="UTF-16"?>\n{doc}').encode("utf-16"),
        "utf16le-no-bom": (f'<?xml version="1.0" encoding="UTF-16"?>\n{doc}').encode("utf-16-le"),
        "utf16-declared-but-utf8": (f'<?xml version="1.0" encoding="UTF-16"?>\n{doc}').encode(),
        "unknown-encoding": (f'<?xml version="1.0" encoding="x-no-such-charset"?>\n{doc}').encode(),
        "utf8-declared-but-latin1": (f'<?xml version="1.0" encoding="UTF-8"?>\n{doc}').encode("latin-1"),
        "latin1-declared-but-utf8": (f'<?xml version="1.0" encoding="ISO-8859-1"?>\n{doc}').encode(),
    }


# --- trees -----------------------------------------------------------------------------------------

def write_hostile_tree(root: Path, outside: Path) -> dict[str, str]:
    """Links that loop or leave the root, unreadable files and directories, FIFOs, devices and sockets
    where virtdiag looks. `outside` is a directory next to the root holding a secret that must never be
    read. Returns {path under root: what it is}. Device nodes need root (skipped otherwise)."""
    write_base(root)
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.conf"
    secret.write_text("listen_tls = 0\nSECRET-OUTSIDE-THE-ROOT\n")
    made: dict[str, str] = {}

    def link(name: str, target: str | Path, what: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
        made[name] = what

    link("etc/libvirt/qemu/loop.xml", "loop.xml", "self loop")
    link("etc/libvirt/qemu/ping.xml", "pong.xml", "two-link loop")
    link("etc/libvirt/qemu/pong.xml", "ping.xml", "two-link loop")
    link("etc/libvirt/qemu/passwd.xml", "/etc/passwd", "absolute link out of the root")
    link("etc/libvirt/qemu/climb.xml", "../../../../../../../../etc/passwd", "relative link climbing out")
    link("etc/libvirt/qemu/secret.xml", str(secret), "absolute link to a real file outside")
    link("etc/libvirt/virtqemud.conf", os.path.relpath(secret, root / "etc/libvirt"), "relative link to a real file "
         "outside")
    link("var/log/libvirt/qemu/escape.log", str(secret), "log linked outside")
    link("etc/libvirt/qemu/networks", str(outside), "directory link outside")
    link("etc/sysconfig", "../etc/sysconfig", "directory self loop")
    link("var/log/libvirt/qemu/dirloop", ".", "directory link to itself")
    link("etc/libvirt/qemu/autostart/web01.xml", "/etc/libvirt/qemu/web01.xml", "absolute link inside (chroot)")

    fifo_paths = ["proc/cmdline", "var/log/messages", "etc/libvirt/network.conf", "var/log/libvirt/qemu/fifo.log",
                  "etc/libvirt/qemu/fifo.xml"]
    for name in fifo_paths:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        made[name] = "FIFO"
    if os.geteuid() == 0:
        for name, major, minor in (("proc/meminfo", 1, 5), ("etc/libvirt/libvirt.conf", 1, 3),
                                   ("var/log/libvirt/qemu/zero.log", 1, 5), ("proc/mounts", 5, 0)):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(major, minor))  # /dev/zero, /dev/null, /dev/tty
            made[name] = "character device"
    sock_path = root / "etc/libvirt/qemu/sock.xml"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(sock_path))  # the file stays after close
    made["etc/libvirt/qemu/sock.xml"] = "socket"

    unreadable_file = root / "etc/libvirt/qemu/unreadable.xml"
    unreadable_file.write_text("<domain type='kvm'><name>hidden</name></domain>\n")
    unreadable_file.chmod(0)
    made["etc/libvirt/qemu/unreadable.xml"] = "mode 000 file"
    locked = root / "var/log/libvirt/locked"
    locked.mkdir(parents=True)
    (locked / "inner.log").write_text(DAEMON_LOG)
    locked.chmod(0)
    made["var/log/libvirt/locked"] = "mode 000 directory"
    return made


# --- archives --------------------------------------------------------------------------------------

def _info(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, **extra: object) -> tuple[tarfile.TarInfo,
                                                                                                 bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = 1714640551
    info.mode = 0o644
    for key, value in extra.items():
        setattr(info, key, value)
    return info, data


def base_members(top: str = TOP) -> list[tuple[tarfile.TarInfo, bytes]]:
    members = [_info(f"{top}/", kind=tarfile.DIRTYPE, mode=0o755), _info(f"{top}/sos_commands/", kind=tarfile.DIRTYPE)]
    members += [_info(f"{top}/{name}", data) for name, data in BASE_FILES.items()]
    members.append(_info(f"{top}/sos_commands/kernel/lsmod", b"Module Size Used by\nkvm_intel 1 0\n"))
    return members


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def archive_cases(top: str = TOP) -> dict[str, list[tuple[tarfile.TarInfo, bytes]]]:
    """Member lists of hostile sosreport tarballs, each with the base host inside it."""
    secret = b"listen_tls = 0\nSECRET-FROM-A-TRAVERSAL\n"
    return {
        "path-traversal": base_members(top) + [
            _info("../../../../tmp/virtdiag-evil.conf", secret),
            _info(f"{top}/../../escape.conf", secret),
            _info(f"{top}/etc/libvirt/../../../../etc/libvirt/qemu.conf", secret),
        ],
        "absolute-names": base_members(top) + [
            _info("/etc/libvirt/libvirtd.conf", secret),
            _info("/tmp/virtdiag-evil.conf", secret),
        ],
        "symlink-members": base_members(top) + [
            _info(f"{top}/etc/libvirt/virtqemud.conf", kind=tarfile.SYMTYPE, linkname="/etc/shadow"),
            _info(f"{top}/etc/libvirt/qemu/escape.xml", kind=tarfile.SYMTYPE, linkname="../../../../../../etc/passwd"),
            _info(f"{top}/etc/libvirt/qemu/loop.xml", kind=tarfile.SYMTYPE, linkname="loop.xml"),
            _info(f"{top}/var/log/libvirt/qemu", kind=tarfile.SYMTYPE, linkname="/var/log/libvirt/qemu"),
            _info(f"{top}/etc/libvirt/qemu/autostart/web01.xml", kind=tarfile.SYMTYPE,
                  linkname="/etc/libvirt/qemu/web01.xml"),
        ],
        "hardlink-members": base_members(top) + [
            _info(f"{top}/etc/libvirt/virtqemud.conf", kind=tarfile.LNKTYPE, linkname="/etc/shadow"),
            _info(f"{top}/etc/libvirt/network.conf", kind=tarfile.LNKTYPE, linkname="../../etc/passwd"),
            _info(f"{top}/etc/libvirt/qemu/copy.xml", kind=tarfile.LNKTYPE,
                  linkname=f"{top}/etc/libvirt/qemu/web01.xml"),
            _info(f"{top}/etc/libvirt/qemu/self.xml", kind=tarfile.LNKTYPE,
                  linkname=f"{top}/etc/libvirt/qemu/self.xml"),
        ],
        "device-members": base_members(top) + [
            _info(f"{top}/proc/meminfo", kind=tarfile.CHRTYPE, devmajor=1, devminor=5),
            _info(f"{top}/etc/libvirt/libvirt.conf", kind=tarfile.BLKTYPE, devmajor=8, devminor=0),
            _info(f"{top}/var/log/messages", kind=tarfile.FIFOTYPE),
            _info(f"{top}/dev/kvm", kind=tarfile.CHRTYPE, devmajor=10, devminor=232),
        ],
        "not-a-sosreport": [_info("project/", kind=tarfile.DIRTYPE), _info("project/README", b"hello\n"),
                            _info("project/src/main.c", b"int main(void) { return 0; }\n")],
        "flat-tree": [_info(name, data) for name, data in BASE_FILES.items()],
        "duplicate-names": base_members(top) + [_info(f"{top}/etc/hostname", b"second\n"),
                                                _info(f"{top}/etc/hostname/child", b"x\n")],
        "weird-names": base_members(top) + [_info(f"{top}/etc/libvirt/qemu/evil\nname\x1b[31m.xml", b"<domain/>"),
                                            _info(f"{top}/var/log/libvirt/qemu/[bold]x[/].log", BRIDGE_ERROR.encode())],
    }


def write_bomb(path: Path, member_size: int, members: int = 1, top: str = TOP) -> Path:
    """A gzip tarball whose members are `member_size` bytes of zeros each: tiny on disk, huge inside."""
    with gzip.open(path, "wb", compresslevel=1) as raw, tarfile.open(fileobj=raw, mode="w|",
                                                                      format=tarfile.GNU_FORMAT) as tar:
        for info, data in base_members(top):
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
        for index in range(members):
            info = tarfile.TarInfo(f"{top}/var/log/libvirt/qemu/bomb{index}.log")
            info.size = member_size
            tar.addfile(info, _Zeros(member_size))
    return path


class _Zeros(io.RawIOBase):
    """A file of n zero bytes, produced on the fly."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def write_many_members(path: Path, count: int, top: str = TOP) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as raw, tarfile.open(fileobj=raw, mode="w|") as tar:
        for info, data in base_members(top):
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
        for index in range(count):
            tar.addfile(tarfile.TarInfo(f"{top}/sos_strings/empty{index}"), io.BytesIO(b""))
    return path


def write_pax_bomb(path: Path, header_size: int = 64 * 1024 * 1024) -> Path:
    """A pax extended header that claims `header_size` bytes of records: tarfile would load it whole."""
    with gzip.open(path, "wb", compresslevel=1) as out:
        for info, data in base_members():
            out.write(info.tobuf(tarfile.GNU_FORMAT))
            out.write(data + b"\0" * (-len(data) % 512))
        header = tarfile.TarInfo("././@PaxHeader")
        header.type = tarfile.XHDTYPE
        header.size = header_size
        out.write(header.tobuf(tarfile.USTAR_FORMAT))
        record = b"30 comment=xxxxxxxxxxxxxxxxxx\n"
        block = record * (1024 * 1024 // len(record))
        left = header_size
        while left > 0:
            out.write(block[:left])
            left -= len(block)
    return path


def write_broken_archives(directory: Path) -> dict[str, Path]:
    """Truncated and corrupt tarballs, and files that are no tarball at all."""
    directory.mkdir(parents=True, exist_ok=True)
    good = write_tar(directory / "good.tar.gz", base_members() + [_info(f"{TOP}/pad", _garbage(200_000))])
    data = good.read_bytes()
    out = {}
    for name, content in (
        ("truncated.tar.gz", data[: len(data) * 2 // 3]),
        ("truncated-header.tar.gz", data[:40]),
        ("corrupt.tar.gz", bytes(b ^ 0x5A if i % 97 == 0 and i > 64 else b for i, b in enumerate(data))),
        ("garbage.tar.gz", _garbage(100_000, seed=3)),
        ("empty.tar", b""),
        ("zeros.tar", b"\0" * 10240),
        ("text.tar", b"this is a text file, not a tarball\n" * 100),
    ):
        (directory / name).write_bytes(content)
        out[name] = directory / name
    plain = directory / "truncated.tar"
    write_tar(plain, base_members(), mode="w")
    plain.write_bytes(plain.read_bytes()[:1500])
    out["truncated.tar"] = plain
    xz = directory / "truncated.tar.xz"
    write_tar(xz, base_members() + [_info(f"{TOP}/pad", _garbage(100_000))], mode="w:xz")
    xz.write_bytes(xz.read_bytes()[:-2000])
    out["truncated.tar.xz"] = xz
    return out


def small_cases() -> dict[str, bytes]:
    """Every file and XML case of at most FIXTURE_MAX bytes, by fixture name (files/..., xml/...)."""
    cases = {f"files/{name}.txt": make() for name, make in FILE_CONTENTS.items()}
    cases.update({f"xml/{name}.xml": make_text().encode() for name, make_text in XML_TEXT.items()})
    cases.update({f"xml/{name}.xml": make_net(FIXTURE_PORT).encode() for name, make_net in XML_NETWORK_TEXT.items()})
    cases.update({f"xml/{name}.xml": data for name, data in xml_bytes().items()})
    return {name: data for name, data in cases.items() if len(data) <= FIXTURE_MAX}


def write_fixtures(directory: Path = FIXTURES) -> list[Path]:
    written = []
    for name, data in sorted(small_cases().items()):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    if argv[0] == "--fixtures":
        for path in write_fixtures():
            print(path)
        return 0
    out = Path(argv[0])
    big = "--big" in argv
    out.mkdir(parents=True, exist_ok=True)
    for name, make in FILE_CONTENTS.items():
        (out / "files").mkdir(exist_ok=True)
        (out / "files" / name).write_bytes(make())
    (out / "xml").mkdir(exist_ok=True)
    for name, make_text in XML_TEXT.items():
        (out / "xml" / f"{name}.xml").write_text(make_text(), encoding="utf-8")
    for name, make_net in XML_NETWORK_TEXT.items():
        (out / "xml" / f"{name}.xml").write_text(make_net(9), encoding="utf-8")
    for name, data in xml_bytes().items():
        (out / "xml" / f"{name}.xml").write_bytes(data)
    write_hostile_tree(out / "trees" / "hostile", out / "trees" / "outside")
    (out / "archives").mkdir(exist_ok=True)
    for name, members in archive_cases().items():
        write_tar(out / "archives" / f"{name}.tar.gz", members)
    write_broken_archives(out / "archives")
    write_bomb(out / "archives" / "bomb.tar.gz", 256 * 1024 * 1024)
    write_pax_bomb(out / "archives" / "pax-bomb.tar.gz")
    write_many_members(out / "archives" / "many-members.tar.gz", 20_000)
    if big:
        write_fifty_mb_line(out / "trees" / "big" / "var/log/libvirt/libvirtd.log")
        write_sparse_log(out / "trees" / "sparse" / "var/log/libvirt/libvirtd.log")
    for path in sorted(out.rglob("*")):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def run_every_parser(text: str) -> None:
    """Feed one decoded text to every parser (shared by the hostile suite and bench/fuzz.py)."""
    from diagnose import journal, parsers, paste, virsh

    paste.paste_lines(text)
    paste.find_xml(text)
    list(parsers.iter_text_lines(text, "paste"))
    parsers.parse_libvirt_conf(text)
    parsers.parse_shell_vars(text)
    parsers.parse_modules(text)
    parsers.parse_cpuinfo_flags(text)
    parsers.parse_hosts(text)
    parsers.parse_mounts(text)
    parsers.listening_ports(text)
    parsers.conf_line(text, "listen_tls")
    parsers.parse_group(text)
    virsh.parse_virsh_list(text)
    parsers.parse_ip_details(text)
    parsers.parse_dnsmasq_conf(text)
    parsers.dnsmasq_command_options(text)
    parsers.dnsmasq_conf_dir_files(text, text.split())
    parsers.parse_ifcfg(text)
    parsers.ifcfg_line(text, "DELAY")
    for entry in journal.iter_journal_export([text.encode("utf-8", "replace")]):
        journal.journal_entry_lines(entry)
    journal.is_journal_export(text.encode("utf-8", "replace"))
    for line in text.splitlines():
        journal.parse_journal_short(line)
        journal.is_journal_marker(line)
    virsh.parse_virsh_dominfo(text)
    virsh.parse_capabilities(text)
