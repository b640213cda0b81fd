"""Collect stage: read a host through one root: the live host, a copied tree, or a sosreport tarball
read in place. Never writes, never follows a link out of the root, never opens a FIFO or device.

The SOURCES table says where each kind of evidence lives; a check written once works on every layout.
"""

from __future__ import annotations

import fnmatch
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_READ = 4 * 1024 * 1024  # config and /proc files; logs are streamed
MAX_LINE = 64 * 1024  # a longer line is cut
CUT_MARK = b" [... line cut by virtdiag]"
CHUNK = 4 * 1024 * 1024  # logs are read in blocks of this size
MAX_MEMBER = 64 * 1024 * 1024  # largest archive member kept in memory
MAX_ARCHIVE_TOTAL = 512 * 1024 * 1024  # all kept members together
MAX_ARCHIVE_READ = 8 * 1024 * 1024 * 1024  # decompressed bytes read before giving up (bomb guard)


class Unreadable(Exception):
    """A path exists but cannot be read safely; the message is the one-line reason."""


@dataclass(frozen=True)
class Source:
    name: str
    paths: tuple[str, ...]  # where it is on a host (and in a copy of one); globs allowed
    sos: tuple[str, ...] = ()  # extra places in a sosreport (command outputs)


SOURCES: tuple[Source, ...] = (
    Source("libvirtd-log", ("/var/log/libvirt/libvirtd.log", "/var/log/libvirt/virtqemud.log",
                            "/var/log/libvirt/virtnetworkd.log")),
    Source("qemu-guest-log", ("/var/log/libvirt/qemu/*.log",)),
    Source("journal", ("/var/log/messages", "/var/log/syslog"),
           ("sos_commands/logs/journalctl_--no-pager", "sos_commands/libvirt/journalctl_--no-pager_--unit_libvirtd",
            "sos_commands/libvirt/journalctl_*")),
    Source("libvirtd-conf", ("/etc/libvirt/libvirtd.conf",)),
    Source("virtqemud-conf", ("/etc/libvirt/virtqemud.conf",)),
    Source("virtnetworkd-conf", ("/etc/libvirt/virtnetworkd.conf",)),
    Source("virtproxyd-conf", ("/etc/libvirt/virtproxyd.conf",)),
    Source("qemu-conf", ("/etc/libvirt/qemu.conf",)),
    Source("libvirt-conf", ("/etc/libvirt/libvirt.conf",)),
    Source("network-conf", ("/etc/libvirt/network.conf",)),
    Source("daemon-args", ("/etc/sysconfig/libvirtd", "/etc/default/libvirtd")),
    Source("domain-xml", ("/etc/libvirt/qemu/*.xml",)),
    Source("domain-xml-live", ("/run/libvirt/qemu/*.xml", "/var/run/libvirt/qemu/*.xml")),
    Source("network-xml", ("/etc/libvirt/qemu/networks/*.xml",)),
    Source("network-xml-live", ("/run/libvirt/network/*.xml", "/var/run/libvirt/network/*.xml")),
    Source("network-autostart", ("/etc/libvirt/qemu/networks/autostart/*.xml",)),
    Source("virsh-list", (), ("sos_commands/virsh/virsh_-r_list_--all", "sos_commands/libvirt/virsh_-r_list_--all")),
    Source("virsh-net-list", (), ("sos_commands/virsh/virsh_-r_net-list_--all",
                                  "sos_commands/libvirt/virsh_-r_net-list_--all")),
    Source("cpuinfo", ("/proc/cpuinfo",)),
    Source("modules", ("/proc/modules",), ("sos_commands/kernel/lsmod",)),
    Source("cmdline", ("/proc/cmdline",)),
    Source("meminfo", ("/proc/meminfo",)),
    Source("mounts", ("/proc/mounts",)),
    Source("hosts", ("/etc/hosts",)),
    Source("hostname", ("/etc/hostname",), ("hostname", "sos_commands/general/hostname", "sos_commands/host/hostname")),
    Source("group", ("/etc/group",)),
    Source("environment", ("/etc/environment", "/etc/profile.d/*.sh")),
    Source("dnsmasq-conf", ("/etc/dnsmasq.conf",)),
    Source("ifcfg", ("/etc/sysconfig/network-scripts/ifcfg-*",)),
    Source("managed-save", ("/var/lib/libvirt/qemu/save/*.save",)),
)
SOURCE_BY_NAME = {s.name: s for s in SOURCES}
LOG_SOURCES = ("libvirtd-log", "qemu-guest-log", "journal")


@dataclass
class Host:
    """A host seen through one root. Subclasses read a directory tree or a tarball."""

    label: str
    kind: str  # live | tree | sosreport
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_live(self) -> bool:
        return self.kind == "live"

    @property
    def is_sosreport(self) -> bool:
        return self.exists("sos_commands") or self.exists("sos_reports")

    # backends implement these five
    def stat(self, path: str) -> os.stat_result | None: ...
    def listdir(self, path: str) -> list[str]: ...
    def _open(self, path: str) -> io.BufferedIOBase: ...
    def glob(self, pattern: str) -> list[str]: ...
    def close(self) -> None: ...

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def mode(self, path: str) -> os.stat_result | None:
        return self.stat(path)

    def _checked_open(self, path: str) -> io.BufferedIOBase:
        st = self.stat(path)
        if st is None:
            raise Unreadable(f"{path}: not found or outside the root")
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"{path}: not a regular file")
        try:
            return self._open(path)
        except OSError as exc:
            raise Unreadable(f"{path}: {exc.strerror or exc}") from exc

    def read_text(self, path: str, limit: int = MAX_READ) -> str:
        """Read a small text file. Raises Unreadable with a one-line reason."""
        with self._checked_open(path) as handle:
            try:
                data = handle.read(limit + 1)
            except OSError as exc:
                raise Unreadable(f"{path}: {exc.strerror or exc}") from exc
        if b"\0" in data[:8192] and not path.startswith("/proc/"):
            raise Unreadable(f"{path}: binary file, not read")
        return data[:limit].decode("utf-8", errors="replace")

    def read_optional(self, path: str) -> str | None:
        """The file's text, or None when it does not exist or cannot be read."""
        try:
            return self.read_text(path)
        except Unreadable:
            return None

    def iter_lines(self, path: str) -> Iterator[tuple[int, str]]:
        """Stream a text file's lines with exact 1-based numbers in a reused buffer: memory stays flat
        however large the file; a line longer than MAX_LINE is cut (its text ends with CUT_MARK)."""
        for number, raw in self.iter_raw_lines(path):
            yield number, raw.decode("utf-8", errors="replace")

    def iter_raw_lines(self, path: str) -> Iterator[tuple[int, bytes]]:
        with self._checked_open(path) as handle:
            number = 0
            carry = b""
            cutting = False  # inside a line already cut at MAX_LINE: drop bytes until its newline
            first = True
            while True:
                try:
                    chunk = handle.read(CHUNK)
                except OSError as exc:
                    raise Unreadable(f"{path}: {exc.strerror or exc}") from exc
                if first:
                    first = False
                    if b"\0" in chunk[:4096] and chunk[:4096].count(b"\0") > 16:
                        raise Unreadable(f"{path}: binary file, not read")
                if not chunk:
                    if carry and not cutting:
                        number += 1
                        yield number, carry.rstrip(b"\r")
                    return
                lines = chunk.split(b"\n")
                if cutting:
                    if len(lines) == 1:
                        continue
                    cutting = False
                    lines = lines[1:]
                    number += 1  # the cut line ends here; it was yielded already
                lines[0] = carry + lines[0]
                carry = lines.pop()
                for raw in lines:
                    number += 1
                    if len(raw) > MAX_LINE:
                        raw = raw[:MAX_LINE] + CUT_MARK
                    yield number, raw.rstrip(b"\r")
                if len(carry) > MAX_LINE:
                    number += 1
                    yield number, carry[:MAX_LINE] + CUT_MARK
                    number -= 1  # counted again when its newline arrives
                    carry = b""
                    cutting = True

    def find(self, source: str) -> list[str]:
        """Every existing path of a source on this host, in a stable order."""
        spec = SOURCE_BY_NAME[source]
        patterns = spec.paths + (spec.sos if self.is_sosreport else ())
        found: list[str] = []
        for pattern in patterns:
            for path in self.glob(pattern) if any(c in pattern for c in "*?[") else [pattern]:
                if path not in found and self.exists(path):
                    found.append(path)
        return found


def _relative(path: str) -> PurePosixPath:
    return PurePosixPath(path.lstrip("/"))


@dataclass
class TreeHost(Host):
    """The live host (root "/") or a copied tree / extracted sosreport under a directory."""

    root: Path = Path("/")

    def resolve(self, path: str) -> Path | None:
        """The real file for a host path, or None if a link would leave the root."""
        candidate = self.root / _relative(path)
        if self.is_live:
            return candidate
        try:
            real = candidate.resolve(strict=False)
            real.relative_to(self.root.resolve())
        except (OSError, RuntimeError, ValueError):
            return None
        return real

    def stat(self, path: str) -> os.stat_result | None:
        real = self.resolve(path)
        if real is None:
            return None
        try:
            return real.stat()
        except (OSError, RuntimeError, ValueError):
            return None

    def listdir(self, path: str) -> list[str]:
        real = self.resolve(path)
        if real is None:
            return []
        try:
            return sorted(os.listdir(real))
        except (OSError, ValueError):
            return []

    def _open(self, path: str) -> io.BufferedIOBase:
        real = self.resolve(path)
        if real is None:
            raise Unreadable(f"{path}: points outside {self.root}")
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO slipped in after stat must not block
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO or device after stat
            os.close(fd)
            raise Unreadable(f"{path}: not a regular file")
        return os.fdopen(fd, "rb")

    def glob(self, pattern: str) -> list[str]:
        directory, _, name = pattern.rpartition("/")
        return [f"{directory}/{entry}" for entry in self.listdir(directory or "/") if fnmatch.fnmatch(entry, name)]

    def close(self) -> None:
        return None


@dataclass
class ArchiveHost(Host):
    """A sosreport (or host tree) tarball read in place: members are never extracted to disk.

    One pass over the archive indexes every member and keeps the contents of regular files up to a
    size cap; links and devices are indexed but never followed or read.
    """

    archive: Path = Path()
    members: dict[str, tarfile.TarInfo] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    directories: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def open(cls, archive: Path) -> ArchiveHost:
        host = cls(label=str(archive), kind="sosreport", archive=archive)
        host._index()
        return host

    def _add_dirs(self, path: str) -> None:
        parts = path.split("/")
        for depth in range(len(parts)):
            parent = "/".join(parts[:depth])
            self.directories.setdefault(parent, set()).add(parts[depth])

    def _index(self) -> None:
        kept = 0
        read = 0
        prefix: str | None = None
        try:
            with tarfile.open(self.archive, mode="r|*") as tar:
                for member in tar:
                    name = member.name.lstrip("./")
                    if prefix is None:
                        first = name.split("/", 1)[0]
                        prefix = f"{first}/" if first.startswith("sosreport") or member.isdir() else ""
                    if member.name.startswith("/") or ".." in PurePosixPath(member.name).parts:
                        self.skipped.append((member.name, "archive member with an unsafe path, ignored"))
                        continue
                    if prefix and name.startswith(prefix):
                        name = name[len(prefix):]
                    elif prefix and name == prefix.rstrip("/"):
                        continue
                    name = name.rstrip("/")
                    if not name:
                        continue
                    self.members[name] = member
                    self._add_dirs(name)
                    if not member.isfile():
                        continue
                    read += member.size
                    if read > MAX_ARCHIVE_READ:
                        self.skipped.append((str(self.archive), "stopped reading: archive expands past 8 GiB"))
                        break
                    handle = tar.extractfile(member)
                    if handle is None:
                        continue
                    size = min(member.size, MAX_MEMBER)
                    if kept + size > MAX_ARCHIVE_TOTAL:
                        self.skipped.append((name, "not read: archive contents over the 512 MiB cap"))
                        continue
                    data = handle.read(size)
                    kept += len(data)
                    self.contents[name] = data
                    if member.size > MAX_MEMBER:
                        self.skipped.append((name, f"only the first {MAX_MEMBER >> 20} MiB read"))
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            self.skipped.append((str(self.archive), f"archive damaged or truncated, read what came before: {exc}"))
            if not self.members:
                raise Unreadable(f"{self.archive}: not a readable tar archive ({exc})") from exc

    def _key(self, path: str) -> str:
        return str(_relative(path)).rstrip("/") if path not in ("/", "") else ""

    def stat(self, path: str) -> os.stat_result | None:
        key = self._key(path)
        member = self.members.get(key)
        if member is None:
            if key in self.directories:
                return os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 1, 0, 0, 0, 0, 0, 0))
            return None
        kind = (stat.S_IFREG if member.isfile() else stat.S_IFDIR if member.isdir() else
                stat.S_IFLNK if member.issym() or member.islnk() else stat.S_IFIFO if member.isfifo() else
                stat.S_IFCHR)
        return os.stat_result((kind | member.mode, 0, 0, 1, member.uid, member.gid, member.size,
                               int(member.mtime), int(member.mtime), int(member.mtime)))

    def listdir(self, path: str) -> list[str]:
        return sorted(self.directories.get(self._key(path), ()))

    def _open(self, path: str) -> io.BufferedIOBase:
        key = self._key(path)
        if key not in self.contents:
            raise Unreadable(f"{path}: not read from the archive")
        return io.BytesIO(self.contents[key])

    def glob(self, pattern: str) -> list[str]:
        directory, _, name = pattern.rpartition("/")
        return [f"{directory}/{entry}" for entry in self.listdir(directory) if fnmatch.fnmatch(entry, name)]

    def close(self) -> None:
        self.contents.clear()


def open_host(root: str | None) -> Host:
    """`None` or "/" is the live host; a directory is a copied tree; a file is a tarball."""
    if root in (None, "", "/"):
        return TreeHost(label="/", kind="live", root=Path("/"))
    path = Path(root)
    if path.is_dir():
        return TreeHost(label=str(path), kind="tree", root=path)
    if path.is_file():
        return ArchiveHost.open(path)
    raise Unreadable(f"{root}: no such directory or archive")


CONF_SOURCES = ("libvirtd-conf", "virtqemud-conf", "virtnetworkd-conf", "virtproxyd-conf", "qemu-conf",
                "libvirt-conf", "network-conf")


def _read_all(host: Host, source: str) -> list[tuple[str, str]]:
    found = []
    for path in host.find(source):
        try:
            found.append((path, host.read_text(path)))
        except Unreadable as exc:
            host.skipped.append((path, str(exc).split(": ", 1)[-1]))
    return found


def _first(host: Host, source: str) -> tuple[str, str] | None:
    texts = _read_all(host, source)
    return texts[0] if texts else None


def _stems(host: Host, source: str) -> set[str] | None:
    spec = SOURCE_BY_NAME[source]
    directories = {p.rpartition("/")[0] for p in spec.paths}
    if not any(host.is_dir(d) for d in directories):
        return None
    return {p.rsplit("/", 1)[-1].removesuffix(".xml") for p in host.find(source)}


def gather(host: Host):  # noqa: ANN201 - returns checks.HostState
    """Read and parse every non-log source into a HostState for the checks."""
    from diagnose import parsers
    from diagnose.checks import HostState
    from diagnose.xmlchecks import parse

    state = HostState()
    for source in CONF_SOURCES:
        found = _first(host, source)
        if found:
            state.confs[source] = found
    for source, target in (("domain-xml", state.domains), ("domain-xml-live", state.live_domains),
                           ("network-xml", state.networks)):
        for path, text in _read_all(host, source):
            target.append(parse(text, source, path))
    state.active_networks = _stems(host, "network-xml-live")
    if state.active_networks is None and host.is_live:
        state.active_networks = set()
    if state.networks:
        state.autostart_networks = _stems(host, "network-autostart") or set()
    cpuinfo = _first(host, "cpuinfo")
    state.cpu_flags = parsers.parse_cpuinfo_flags(cpuinfo[1]) if cpuinfo else None
    modules = _first(host, "modules")
    state.modules = parsers.parse_modules(modules[1]) if modules else None
    state.cmdline = _first(host, "cmdline")
    state.hosts = _first(host, "hosts")
    hostname = _first(host, "hostname")
    state.hostname = hostname[1].strip().split()[0] if hostname and hostname[1].strip() else None
    groups = _first(host, "group")
    state.groups = parsers.parse_group(groups[1]) if groups else None
    state.virsh_list = _first(host, "virsh-list")
    state.environment = _read_all(host, "environment")
    for path in host.find("managed-save"):
        st = host.stat(path)
        state.managed_saves.append((path, st.st_size if st else 0))
    if host.is_live:
        state.user = os.environ.get("SUDO_USER") or os.environ.get("USER", "")
    return state
