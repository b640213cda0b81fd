"""Collect stage: read a host through one root: the live host, a copied tree, or a sosreport tarball
read in place. Never writes, never follows a link out of the root, never opens a FIFO or device.

The SOURCES table says where each kind of evidence lives; a check written once works on every layout.
"""

from __future__ import annotations

import codecs
import errno
import fnmatch
import gzip
import io
import os
import re
import stat
import tarfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_READ = 4 * 1024 * 1024  # config and /proc files; logs are streamed
MAX_LINE = 64 * 1024  # a longer line is cut
CUT_MARK = b" [... line cut by virtdiag]"
CHUNK = 4 * 1024 * 1024  # logs are read in blocks of this size
MAX_MEMBER = 64 * 1024 * 1024  # largest archive member kept in memory
MAX_ARCHIVE_TOTAL = 512 * 1024 * 1024  # all kept members together (as held in memory: big ones compressed)
PACK_OVER = 1024 * 1024  # a member larger than this is kept gzip-compressed in memory, streamed out on read
MAX_ARCHIVE_READ = 8 * 1024 * 1024 * 1024  # decompressed bytes read before giving up (bomb guard)
MAX_ARCHIVE_MEMBERS = 250_000  # members indexed before giving up (a bomb of empty files)
MAX_TAR_HEADER = 1024 * 1024  # largest pax / GNU long-name header tarfile may load into memory
LIVE_READ_TIMEOUT = 5.0  # seconds one read of a live /proc or /sys file may block
LIVE_BLOCKED_MAX = 3  # after this many blocked reads, further live /proc and /sys reads are not tried
BINARY_PROBE = 4096  # bytes looked at to tell a binary file from text
HOST_TOP_DIRS = frozenset({"etc", "var", "proc", "sys", "run", "usr", "dev", "boot", "lib", "lib64", "opt",
                           "home", "root", "srv", "tmp", "sbin", "bin", "sos_commands", "sos_reports", "sos_logs",
                           "sos_strings"})


class Unreadable(Exception):
    """A path exists but cannot be read safely; the message is the one-line reason."""


CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f]|(?<!\x00)\x00(?!\x00)")
NUL_RUN = re.compile(rb"\x00{2,}")


def looks_binary(head: bytes) -> bool:
    """Random or binary data, not text. Runs of NUL bytes are holes (a log truncated under a writer that
    kept its offset, copytruncate) and do not count; stray NULs and other control bytes do."""
    return len(CONTROL_BYTES.findall(NUL_RUN.sub(b"", head[:BINARY_PROBE]))) > 16


XML_DECL_RE = re.compile(rb"""^<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")


def decode(data: bytes) -> str:
    """Bytes of a text file -> str, never failing: a byte-order mark or UTF-16 XML wins, then UTF-8, then
    the encoding an XML declaration names (ISO-8859-1...), then UTF-8 with replacement characters."""
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if data[:4] in (b"<\0?\0", b"<\0\n\0"):
        return data.decode("utf-16-le", errors="replace")
    if data[:4] in (b"\0<\0?", b"\0<\0\n"):
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = XML_DECL_RE.match(data)
    if declared:
        try:
            codec = codecs.lookup(declared.group(1).decode("ascii")).name
            if codec not in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"):
                return data.decode(codec, errors="replace")
        except (LookupError, UnicodeError):
            pass
    return data.decode("utf-8", errors="replace")


def _is_wide_text(data: bytes) -> bool:
    """UTF-16 or UTF-32 text (a byte-order mark, or XML without one): its NUL bytes are no sign of binary."""
    return data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or data[:4] in (
        b"<\0?\0", b"<\0\n\0", b"\0<\0?", b"\0<\0\n", codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)


def one_line(text: str, limit: int = 300) -> str:
    """A reason or a name fit for one line of a report: no control characters, bounded length."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), never opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file, never opened"
    if stat.S_ISSOCK(mode):
        return "a socket, never opened"
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    if stat.S_ISLNK(mode):
        return "a symbolic link whose target is not there, not followed"
    return "not a regular file"


def _permission_hint() -> str:
    euid = os.geteuid() if hasattr(os, "geteuid") else 0
    return "" if euid == 0 else f" (virtdiag runs as uid {euid}; run it as root to read this)"


@dataclass(frozen=True)
class Source:
    name: str
    paths: tuple[str, ...]  # where it is on a host (and in a copy of one); globs allowed
    sos: tuple[str, ...] = ()  # extra places in a sosreport (command outputs)


SOURCES: tuple[Source, ...] = (
    Source("libvirtd-log", ("/var/log/libvirt/libvirtd.log", "/var/log/libvirt/virtqemud.log",
                            "/var/log/libvirt/virtnetworkd.log")),
    Source("qemu-guest-log", ("/var/log/libvirt/qemu/*.log",)),
    # a copy of a host may carry `journalctl -o export > journal.export` at its top; a sosreport holds the
    # whole journal (journalctl_--no-pager) and parts of it (this boot, the last boot, --since, --catalog)
    Source("journal", ("/var/log/messages", "/var/log/syslog", "/journal*.export"),
           ("sos_commands/logs/journalctl_--no-pager*", "sos_commands/logs/journalctl_--all_--this-boot_--no-pager",
            "sos_commands/logs/journalctl_-o_export", "sos_commands/libvirt/journalctl_--no-pager_--unit_libvirtd*",
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
    Source("virsh-dominfo", (), ("sos_commands/virsh/virsh_-r_dominfo_*",)),
    Source("virsh-capabilities", (), ("sos_commands/virsh/virsh_-r_capabilities",
                                      "sos_commands/libvirt/virsh_capabilities")),  # sos 3.2's libvirt plugin
    Source("cpuinfo", ("/proc/cpuinfo",)),
    Source("modules", ("/proc/modules",), ("sos_commands/kernel/lsmod",)),
    Source("cmdline", ("/proc/cmdline",)),
    Source("meminfo", ("/proc/meminfo",)),
    Source("mounts", ("/proc/mounts",)),
    Source("hosts", ("/etc/hosts",)),
    Source("hostname", ("/etc/hostname",), ("hostname", "sos_commands/general/hostname", "sos_commands/host/hostname")),
    Source("sysconfig-network", ("/etc/sysconfig/network",)),  # RHEL 6 and older: HOSTNAME=, no /etc/hostname
    Source("group", ("/etc/group",)),
    Source("environment", ("/etc/environment", "/etc/profile.d/*.sh")),
    Source("dnsmasq-conf", ("/etc/dnsmasq.conf",)),
    Source("dnsmasq-default", ("/etc/default/dnsmasq",)),  # Debian: CONFIG_DIR, given to dnsmasq as -7
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
    noted_once: set[tuple[str, str]] = field(default_factory=set, repr=False)

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

    def lexists(self, path: str) -> bool:
        """Exists as itself: a link counts even when its target is not there (systemd unit links)."""
        return self.exists(path)

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def mode(self, path: str) -> os.stat_result | None:
        return self.stat(path)

    def note(self, path: str, reason: str) -> None:
        """Record, once, something that could not be read and why (shown under the report's skipped)."""
        entry = (one_line(path), one_line(reason))
        if entry not in self.noted_once:
            self.noted_once.add(entry)
            self.skipped.append(entry)

    def link_target(self, path: str) -> str:
        """Where a symbolic link points, as written in it ("" when the path is no link)."""
        return ""

    def link_problem(self, path: str) -> str:
        """Why a path that exists as a link cannot be followed: a loop, or a target that is not there."""
        target = self.link_target(path)
        if self.resolve_fails(path):
            return "a symbolic link loop, not followed"
        if target.startswith("/") or target.startswith(".."):
            return f"a symbolic link to {target}, which is not in this copy of the host (never followed out of it)"
        return f"a symbolic link to {target}, which does not exist"

    def resolve_fails(self, path: str) -> bool:
        """True when the links on the way to a path cannot be resolved (a loop)."""
        return False

    def _checked_open(self, path: str) -> io.BufferedIOBase:
        st = self.stat(path)
        if st is None:
            if self.lexists(path):
                raise Unreadable(f"{path}: {self.link_problem(path)}")
            raise Unreadable(f"{path}: not found or outside the root")
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"{path}: {_kind_of(st.st_mode)}")
        try:
            return self._open(path)
        except OSError as exc:
            hint = _permission_hint() if exc.errno in (errno.EACCES, errno.EPERM) else ""
            raise Unreadable(f"{path}: {exc.strerror or exc}{hint}") from exc

    def read_text(self, path: str, limit: int = MAX_READ) -> str:
        """Read a small text file. Raises Unreadable with a one-line reason."""
        with self._checked_open(path) as handle:
            try:
                data = handle.read(limit + 1)
            except OSError as exc:
                raise Unreadable(f"{path}: {exc.strerror or exc}") from exc
        if len(data) > limit:
            self.note(path, f"only the first {_size(limit)} read")
        data = data[:limit]
        if b"\0" in data[:8192] and not path.startswith("/proc/") and not _is_wide_text(data):
            raise Unreadable(f"{path}: binary file, not read")
        return decode(data)

    def open_binary(self, path: str) -> io.BufferedIOBase:
        """A regular file of the host, opened for reading (Unreadable otherwise); the caller closes it."""
        return self._checked_open(path)

    def real_path(self, path: str) -> str | None:
        """A path on this machine's disk another process may open (None inside an archive)."""
        return None

    def read_optional(self, path: str) -> str | None:
        """The file's text, or None when it does not exist or cannot be read (noted under skipped, with
        the reason, unless it simply does not exist)."""
        try:
            return self.read_text(path)
        except Unreadable as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            if not reason.startswith("not found"):
                self.note(path, reason)
            return None

    def iter_lines(self, path: str) -> Iterator[tuple[int, str]]:
        """Stream a text file's lines with exact 1-based numbers in a reused buffer: memory stays flat
        however large the file; a line longer than MAX_LINE is cut (its text ends with CUT_MARK). Blank
        lines match nothing and are not yielded (a log of blank lines would otherwise cost the matcher
        a full pass per line); the numbers of the others stay exact."""
        for number, raw in self.iter_raw_lines(path):
            if raw and not raw.isspace():
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
                    if looks_binary(chunk):
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
        seen: set[str] = set()
        for pattern in patterns:
            is_glob = any(c in pattern for c in "*?[")
            for path in self.glob(pattern) if is_glob else [pattern]:
                if path in seen:
                    continue
                seen.add(path)
                if self.exists(path):
                    found.append(path)
                elif self.lexists(path):  # listed, but a link to nothing, a loop, or out of reach
                    self.note(path, self.link_problem(path))
                else:
                    self._broken_parent(path)
            if is_glob:
                self._broken_parent(pattern.rpartition("/")[0] + "/*")
        return found

    def _broken_parent(self, path: str) -> None:
        """Note the directory on the way to a missing path that is a link to nothing or a loop."""
        parent = path.rpartition("/")[0]
        while parent:
            if self.lexists(parent):
                if not self.exists(parent):
                    self.note(parent, self.link_problem(parent))
                return
            parent = parent.rpartition("/")[0]


def _read_fd(fd: int, size: int | None) -> bytes:
    """Read up to `size` bytes (all when None or negative) from a file descriptor."""
    parts: list[bytes] = []
    left = size if size is not None and size >= 0 else -1
    while left != 0:
        piece = os.read(fd, 65536 if left < 0 else min(left, 65536))
        if not piece:
            break
        parts.append(piece)
        left = left - len(piece) if left > 0 else left
    return b"".join(parts)


class _TimedFile(io.BufferedIOBase):
    """A live /proc or /sys file read in a helper thread: a read that blocks (a process stuck in the
    kernel holds up reads of its /proc files) is given up after LIVE_READ_TIMEOUT seconds."""

    def __init__(self, fd: int, host: TreeHost) -> None:
        super().__init__()
        self._fd = fd
        self._host = host
        self._stuck = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._stuck:
            raise OSError(errno.ETIMEDOUT, "an earlier read of this file blocked")
        result: list[bytes] = []
        failure: list[OSError] = []

        def work() -> None:
            try:
                result.append(_read_fd(self._fd, size))
            except OSError as exc:
                failure.append(exc)

        thread = threading.Thread(target=work, name="virtdiag-read", daemon=True)
        thread.start()
        thread.join(LIVE_READ_TIMEOUT)
        if thread.is_alive():  # left behind: a daemon thread does not keep virtdiag from exiting
            self._stuck = True
            self._host.blocked += 1
            raise OSError(errno.ETIMEDOUT, f"the read blocked for more than {LIVE_READ_TIMEOUT:g} s; given up")
        if failure:
            raise failure[0]
        return result[0] if result else b""

    def close(self) -> None:
        if not self.closed and not self._stuck:  # a blocked reader still holds the descriptor
            os.close(self._fd)
        super().close()


def _relative(path: str) -> PurePosixPath:
    return PurePosixPath(path.lstrip("/"))


MAX_LINKS = 40


def chroot_resolve(root: Path, path: str, follow_last: bool = True) -> Path | None:
    """Resolve `path` under `root` as if `root` were `/`: absolute link targets restart at root and `..`
    never climbs above it. None on a link loop. A directory on the way that cannot be searched raises
    PermissionError (the caller says so). Plain strings and one lstat per component: it runs for every
    path a scan looks at."""
    base = os.fspath(root)
    pending = [part for part in path.split("/") if part not in ("", ".")]
    pending.reverse()  # a stack: the next component is last
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(base, *resolved, part)
        if pending or follow_last:
            try:
                is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                is_link = False
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                is_link = False
            if is_link:
                hops += 1
                if hops > MAX_LINKS:
                    return None
                try:
                    target = os.readlink(candidate)
                except OSError:
                    return None
                if target.startswith("/"):
                    resolved = []
                pending.extend(reversed([piece for piece in target.split("/") if piece not in ("", ".")]))
                continue
        resolved.append(part)
    return Path(base, *resolved)


@dataclass
class TreeHost(Host):
    """The live host (root "/") or a copied tree / extracted sosreport under a directory."""

    root: Path = Path("/")
    blocked: int = 0  # live /proc and /sys reads given up because they blocked

    def resolve(self, path: str, follow_last: bool = True) -> Path | None:
        """The real file for a host path. In a copy of a host, links resolve as they would on that host
        (chroot-like: an absolute target starts at the root, `..` stops at it), so nothing outside the
        root is ever reached. None for a link loop or a directory on the way that cannot be searched."""
        if self.is_live:
            return self.root / _relative(path)
        try:
            return chroot_resolve(self.root, path, follow_last)
        except (OSError, ValueError) as exc:
            self._oserror(path, exc)
            return None

    def _oserror(self, path: str, exc: BaseException) -> None:
        """Note a failure that is not plain absence (permission denied, I/O error, link loop)."""
        code = getattr(exc, "errno", None)
        if code in (errno.ENOENT, errno.ENOTDIR, None) and not isinstance(exc, PermissionError):
            return
        reason = getattr(exc, "strerror", None) or str(exc)
        hint = _permission_hint() if code in (errno.EACCES, errno.EPERM) else ""
        self.note(path, f"cannot be examined: {reason}{hint}")

    def real_path(self, path: str) -> str | None:
        real = self.resolve(path)
        return str(real) if real is not None else None

    def lexists(self, path: str) -> bool:
        """True if the path exists as itself (a link counts even when its target is not in the copy)."""
        real = self.resolve(path, follow_last=False)
        if real is None:
            return False
        try:
            os.lstat(real)
        except (OSError, ValueError):
            return False
        return True

    def resolve_fails(self, path: str) -> bool:
        if self.is_live:
            return False
        try:
            return chroot_resolve(self.root, path) is None
        except (OSError, ValueError):
            return True

    def link_target(self, path: str) -> str:
        real = self.resolve(path, follow_last=False)
        try:
            return os.readlink(real) if real is not None else ""
        except (OSError, ValueError):
            return ""

    def stat(self, path: str) -> os.stat_result | None:
        real = self.resolve(path)
        if real is None:
            return None
        try:
            return os.stat(real)
        except (OSError, ValueError) as exc:
            self._oserror(path, exc)
            return None

    def listdir(self, path: str) -> list[str]:
        real = self.resolve(path)
        if real is None:
            return []
        try:
            return sorted(os.listdir(real))
        except (OSError, ValueError) as exc:
            self._oserror(path, exc)
            return []

    def _open(self, path: str) -> io.BufferedIOBase:
        real = self.resolve(path)
        if real is None:
            raise Unreadable(f"{path}: a link loop, or a directory on the way cannot be searched")
        timed = self.is_live and path.startswith(("/proc/", "/sys/"))
        if timed and self.blocked >= LIVE_BLOCKED_MAX:
            raise Unreadable(f"{path}: not tried, {self.blocked} earlier reads under /proc or /sys blocked")
        no_follow = 0 if self.is_live else os.O_NOFOLLOW  # resolved already: a link here was swapped in
        # O_NONBLOCK: a FIFO slipped in after stat must not block; O_NOCTTY: a terminal never becomes ours
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | no_follow)
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:
            regular = False
        if not regular:  # swapped for a FIFO or device after stat
            os.close(fd)
            raise Unreadable(f"{path}: not a regular file")
        if timed:
            return _TimedFile(fd, self)
        return os.fdopen(fd, "rb")

    def glob(self, pattern: str) -> list[str]:
        directory, _, name = pattern.rpartition("/")
        return [f"{directory}/{entry}" for entry in self.listdir(directory or "/") if fnmatch.fnmatch(entry, name)]

    def close(self) -> None:
        return None


def _size(n: int) -> str:
    if n >= 1 << 30 and not n % (1 << 30):
        return f"{n >> 30} GiB"
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n} bytes"


def _member_name(raw: str) -> str | None:
    """A member name made relative and clean ("./a//b/" -> "a/b"); None when it is absolute or climbs out."""
    if raw.startswith("/") or "\0" in raw:
        return None
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


class _CappedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax or GNU long-name header whole into memory: refuse one over MAX_TAR_HEADER, so a
    forged header cannot be a memory bomb."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        extended = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                    tarfile.SOLARIS_XHDTYPE)
        if self.type in extended and self.size > MAX_TAR_HEADER:
            raise tarfile.HeaderError(f"an extended header of {self.size} bytes (over {_size(MAX_TAR_HEADER)})")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


def _packed(handle: io.BufferedIOBase, size: int) -> tuple[bytes, int]:
    """Up to `size` bytes of a member, gzip-compressed as they are read (a 64 MiB log, or a zero-filled
    bomb, costs its compressed size in memory); and how many bytes were read."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: a gzip stream, so GzipFile reads it back
    parts: list[bytes] = []
    got = 0
    while got < size:
        piece = handle.read(min(size - got, 1024 * 1024))
        if not piece:
            break
        got += len(piece)
        parts.append(packer.compress(piece))
    parts.append(packer.flush())
    return b"".join(parts), got


def _tarinfo_class() -> type[_CappedTarInfo]:
    """A TarInfo class for one archive that remembers how the archive ended: tarfile stops silently at
    a missing or cut header (a truncated archive) as it does at the proper end-of-archive blocks."""

    class Recording(_CappedTarInfo):
        ended_early = ""

        @classmethod
        def frombuf(cls, buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:
            try:
                return super().frombuf(buf, encoding, errors)
            except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError) as exc:  # type: ignore[attr-defined]
                cls.ended_early = str(exc)
                raise

    return Recording


@dataclass
class ArchiveHost(Host):
    """A sosreport (or host tree) tarball read in place: members are never extracted to disk.

    One pass over the archive indexes every member and keeps the contents of regular files up to a
    size cap. Links are resolved inside the archive only (an absolute target starts at the archive's
    top, `..` stops there); devices and FIFOs are indexed but never read.
    """

    archive: Path = Path()
    members: dict[str, tarfile.TarInfo] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    directories: dict[str, set[str]] = field(default_factory=dict)
    prefix: str = ""  # the top directory every member sits under (sosreport-host-date-id/), stripped
    noted: dict[str, int] = field(default_factory=dict)  # per-member reason -> how many members
    packed: set[str] = field(default_factory=set)  # members whose contents are kept gzip-compressed
    unkept: dict[str, str] = field(default_factory=dict)  # regular members not kept -> why

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

    def _member_note(self, name: str, reason: str) -> None:
        """A note about one member; past ten with the same reason, only counted (a hostile archive may hold
        a million of them)."""
        self.noted[reason] = self.noted.get(reason, 0) + 1
        if self.noted[reason] <= 10:
            self.note(name, reason)

    def _index(self) -> None:
        kept = 0
        read = 0
        count = 0
        prefix: str | None = None
        info_class = _tarinfo_class()
        try:
            with tarfile.open(self.archive, mode="r|*", tarinfo=info_class) as tar:
                for member in tar:
                    count += 1
                    if count > MAX_ARCHIVE_MEMBERS:
                        self.note(str(self.archive), f"stopped reading after {MAX_ARCHIVE_MEMBERS} members")
                        break
                    name = _member_name(member.name)
                    if name is None:
                        self._member_note(member.name, "archive member with an unsafe path (absolute or ../), "
                                          "ignored")
                        continue
                    if not name:
                        continue
                    if prefix is None:
                        first = name.split("/", 1)[0]
                        top = first.startswith("sosreport") or "/" in name or member.isdir()
                        prefix = f"{first}/" if top and first not in HOST_TOP_DIRS else ""
                        self.prefix = prefix
                    if prefix and name.startswith(prefix):
                        name = name[len(prefix):]
                    elif prefix and name == prefix.rstrip("/"):
                        continue
                    self.members[name] = member
                    self._add_dirs(name)
                    if not member.isfile():
                        continue
                    read += member.size
                    if read > MAX_ARCHIVE_READ:
                        self.note(str(self.archive), f"stopped reading: the archive expands past "
                                  f"{_size(MAX_ARCHIVE_READ)} (a decompression bomb?)")
                        self.unkept[name] = "not read: reading stopped at the archive size cap"
                        break
                    handle = tar.extractfile(member)
                    if handle is None:
                        continue
                    size = min(member.size, MAX_MEMBER)
                    if kept + min(size, PACK_OVER) > MAX_ARCHIVE_TOTAL:
                        self.unkept[name] = f"not read: archive contents over the {_size(MAX_ARCHIVE_TOTAL)} cap"
                        continue
                    if size > PACK_OVER:
                        data, got = _packed(handle, size)
                        self.packed.add(name)
                    else:
                        data = handle.read(size)
                        got = len(data)
                    kept += len(data)
                    self.contents[name] = data
                    if got < size:
                        self.note(str(self.archive), f"archive truncated: it ends inside {one_line(name)}")
                        break
                    if member.size > MAX_MEMBER:
                        self._member_note(f"/{name}", f"only the first {_size(MAX_MEMBER)} read")
        except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError, MemoryError) as exc:
            detail = one_line(str(exc) or type(exc).__name__)
            if not self.members:
                raise Unreadable(f"{self.archive}: not a readable tar archive ({detail})") from exc
            self.note(str(self.archive), f"archive damaged or truncated, read what came before: {detail}")
        finally:
            for reason, many in self.noted.items():
                if many > 10:
                    self.note(str(self.archive), f"{many - 10} more members: {reason}")
        if info_class.ended_early and self.members:
            self.note(str(self.archive), f"archive truncated: it ends without the end-of-archive blocks "
                      f"({info_class.ended_early}); read what came before")
        if not self.members and not self.skipped:
            self.note(str(self.archive), "the archive holds no files")
        if not self.is_sosreport:
            self.kind = "tree"

    def _key(self, path: str) -> str:
        return str(_relative(path)).rstrip("/") if path not in ("/", "") else ""

    def _resolve_key(self, key: str, follow_last: bool = True) -> str | None:
        """A member name with the links on its way followed inside the archive; None on a loop."""
        parts = [part for part in key.split("/") if part]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            name = "/".join([*resolved, part])
            member = self.members.get(name)
            if member is not None and (member.issym() or member.islnk()) and (parts or follow_last):
                hops += 1
                if hops > MAX_LINKS:
                    return None
                if member.issym():
                    target = member.linkname
                    if target.startswith("/"):
                        resolved = []
                else:  # a hard link names another member, from the archive's top
                    clean = _member_name(member.linkname)
                    if not clean:
                        return None
                    target = clean[len(self.prefix):] if self.prefix and clean.startswith(self.prefix) else clean
                    resolved = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            resolved.append(part)
        return "/".join(resolved)

    def _lookup(self, path: str, follow_last: bool = True) -> str | None:
        return self._resolve_key(self._key(path), follow_last)

    def stat(self, path: str) -> os.stat_result | None:
        key = self._lookup(path)
        if key is None:
            return None
        member = self.members.get(key)
        if member is None:
            if key in self.directories:
                return os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 1, 0, 0, 0, 0, 0, 0))
            return None
        kind = (stat.S_IFREG if member.isfile() else stat.S_IFDIR if member.isdir() else
                stat.S_IFLNK if member.issym() or member.islnk() else stat.S_IFIFO if member.isfifo() else
                stat.S_IFBLK if member.isblk() else stat.S_IFCHR)
        mtime = int(member.mtime) if isinstance(member.mtime, (int, float)) else 0
        return os.stat_result((kind | (member.mode & 0o7777), 0, 0, 1, member.uid, member.gid, member.size,
                               mtime, mtime, mtime))

    def lexists(self, path: str) -> bool:
        key = self._lookup(path, follow_last=False)
        return key is not None and (key in self.members or key in self.directories)

    def link_target(self, path: str) -> str:
        key = self._lookup(path, follow_last=False)
        member = self.members.get(key) if key is not None else None
        return member.linkname if member is not None and (member.issym() or member.islnk()) else ""

    def resolve_fails(self, path: str) -> bool:
        return self._lookup(path) is None

    def link_problem(self, path: str) -> str:
        key = self._lookup(path, follow_last=False)
        member = self.members.get(key) if key is not None else None
        if member is not None and member.islnk():
            return f"a hard link to {member.linkname}, which is no file of this archive; not followed"
        return super().link_problem(path)

    def listdir(self, path: str) -> list[str]:
        key = self._lookup(path)
        return sorted(self.directories.get(key, ())) if key is not None else []

    def _open(self, path: str) -> io.BufferedIOBase:
        key = self._lookup(path)
        if key is None or key not in self.contents:
            raise Unreadable(f"{path}: {self.unkept.get(key or '', 'not read from the archive')}")
        if key in self.packed:
            return gzip.GzipFile(fileobj=io.BytesIO(self.contents[key]), mode="rb")  # type: ignore[return-value]
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
    host: Host
    try:
        if path.is_dir():
            host = TreeHost(label=str(path), kind="tree", root=path)
        elif path.is_file():
            host = ArchiveHost.open(path)
        elif path.exists():
            raise Unreadable(f"{root}: not a directory or a regular file; never opened")
        else:
            raise Unreadable(f"{root}: no such directory or archive")
    except OSError as exc:
        raise Unreadable(f"{root}: {exc.strerror or exc}{_permission_hint()}") from exc
    if not _looks_like_host(host) and isinstance(host, TreeHost):
        nested = _single_subdirectory(path)
        if nested is not None:
            inner = TreeHost(label=str(nested), kind="tree", root=nested)
            if _looks_like_host(inner):
                return inner  # a directory a sosreport was extracted into: read the sosreport in it
    if not _looks_like_host(host):
        host.note(host.label, "does not look like a sosreport or a copy of a host (no sos_commands/, etc/, var/, "
                  "proc/, sys/ or run/ at its top): nothing to check")
    return host


def _looks_like_host(host: Host) -> bool:
    return host.is_sosreport or any(host.is_dir(top) for top in ("/etc", "/var", "/proc", "/sys", "/run"))


def _single_subdirectory(path: Path) -> Path | None:
    """The one real directory (not a link, not hidden) in `path`, beside any plain files (the tarball it
    was extracted from, its checksum)."""
    try:
        directories = [entry.name for entry in os.scandir(path)
                       if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return None
    return path / directories[0] if len(directories) == 1 else None


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


def log_paths(host: Host, source: str) -> list[str]:
    """The files of a log source to scan. A sosreport holds the whole journal (journalctl_--no-pager) and
    parts of it (this boot, the last boot, --since, one unit): when the whole one is there, the parts are
    left out, so each message is read once."""
    paths = host.find(source)
    if source == "journal" and "sos_commands/logs/journalctl_--no-pager" in paths:
        paths = [p for p in paths if not (p.startswith("sos_commands/") and "/journalctl_" in p)
                 or p == "sos_commands/logs/journalctl_--no-pager"]
    return paths


def host_name(host: Host) -> tuple[str, str] | None:
    """The host's name and where it was read: /etc/hostname, a sosreport's `hostname` output, else
    HOSTNAME= in /etc/sysconfig/network (RHEL 6 and older have no /etc/hostname)."""
    from diagnose import parsers

    for path in host.find("hostname"):
        text = host.read_optional(path)
        if text and text.strip():
            return text.split()[0], path
    for path in host.find("sysconfig-network"):
        text = host.read_optional(path)
        name = parsers.parse_ifcfg(text).get("HOSTNAME", "").strip() if text else ""
        if name:
            return name.split()[0], path
    return None


IFCFG_IGNORED = ("~", ".bak", ".old", ".orig", ".rpmnew", ".rpmorig", ".rpmsave")  # as the network scripts


def read_ifcfg(host: Host) -> dict[str, tuple[str, str]] | None:
    """RHEL network scripts: {device: (path, text)} of /etc/sysconfig/network-scripts/ifcfg-*, the device
    named by DEVICE= (else by the file name), backup copies skipped as the scripts skip them; None when the
    host has no network-scripts directory."""
    from diagnose import parsers

    if not host.is_dir("/etc/sysconfig/network-scripts"):
        return None
    found: dict[str, tuple[str, str]] = {}
    for path, text in _read_all(host, "ifcfg"):
        name = path.rsplit("/", 1)[-1].removeprefix("ifcfg-")
        if not name.endswith(IFCFG_IGNORED):
            found.setdefault(parsers.parse_ifcfg(text).get("DEVICE") or name, (path, text))
    return found


MAX_DNSMASQ_FILES = 64


def read_dnsmasq(host: Host, command: str = "") -> list[tuple[str, int, str, str]] | None:
    """The system dnsmasq's settings as (path, line, option, value), in the order dnsmasq reads them: its
    main file (/etc/dnsmasq.conf, or the running command's --conf-file), each conf-file= and conf-dir= met
    on the way, then the directories given on the command line (Debian's CONFIG_DIR from
    /etc/default/dnsmasq, a running dnsmasq's -7). Everything is read through the host's root; at most
    MAX_DNSMASQ_FILES files. None when the main file cannot be read."""
    from diagnose import parsers

    options = parsers.dnsmasq_command_options(command)
    debian = _first(host, "dnsmasq-default")
    default = parsers.parse_shell_vars(debian[1]).get("CONFIG_DIR", "") if debian else ""
    settings: list[tuple[str, int, str, str]] = []
    seen: set[str] = set()

    def read_file(path: str) -> bool:
        if path in seen or len(seen) >= MAX_DNSMASQ_FILES:
            return False
        seen.add(path)
        text = host.read_optional(path)
        if text is None:
            return False
        parsed = parsers.parse_dnsmasq_conf(text)
        for line, key, value in sorted((line, key, value) for key, found in parsed.items() for line, value in found):
            settings.append((path, line, key, value))
            if key == "conf-file" and value:
                read_file(value)
            elif key == "conf-dir" and value:
                read_dir(value)
        return True

    def read_dir(value: str) -> None:
        directory, names = parsers.dnsmasq_conf_dir_files(value, host.listdir(value.split(",", 1)[0].strip() or "/"))
        for name in names:
            read_file(f"{directory.rstrip('/')}/{name}")

    if not read_file((options.get("conf-file") or ["/etc/dnsmasq.conf"])[-1] or "/etc/dnsmasq.conf"):
        return None
    for value in ([default] if default else []) + options.get("conf-dir", []):
        read_dir(value)
    return settings


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
    net_list = _first(host, "virsh-net-list")  # sosreports hold no /run, but virsh net-list output
    rows = parsers.parse_virsh_list(net_list[1]) if net_list else None
    if state.active_networks is None and rows is not None:
        state.active_networks = {name for name, net_state, _ in rows if net_state == "active"}
    if state.networks:
        state.autostart_networks = _stems(host, "network-autostart") or set()
    cpuinfo = _first(host, "cpuinfo")
    state.cpu_flags = parsers.parse_cpuinfo_flags(cpuinfo[1]) if cpuinfo else None
    modules = _first(host, "modules")
    state.modules = parsers.parse_modules(modules[1]) if modules else None
    state.cmdline = _first(host, "cmdline")
    state.hosts = _first(host, "hosts")
    named = host_name(host)
    state.hostname = named[0] if named else None
    state.ifcfg = read_ifcfg(host)
    state.dnsmasq = read_dnsmasq(host)
    for path, text in _read_all(host, "virsh-dominfo"):
        info = parsers.parse_virsh_dominfo(text)
        if info:
            state.dominfo[info["Name"]] = (path, info)
    capabilities = _first(host, "virsh-capabilities")
    parsed_caps = parsers.parse_capabilities(capabilities[1]) if capabilities else None
    state.capabilities = (capabilities[0], parsed_caps) if capabilities and parsed_caps else None
    groups = _first(host, "group")
    state.groups = parsers.parse_group(groups[1]) if groups else None
    state.virsh_list = _first(host, "virsh-list")
    state.environment = _read_all(host, "environment")
    for path in host.find("managed-save"):
        st = host.stat(path)
        state.managed_saves.append((path, st.st_size if st else 0))
    if host.is_dir("/sys/kernel/iommu_groups") and any(
            d.root is not None and d.root.find("devices/hostdev") is not None for d in state.domains):  # type: ignore
        state.iommu_groups = {group: host.listdir(f"/sys/kernel/iommu_groups/{group}/devices")
                              for group in host.listdir("/sys/kernel/iommu_groups") if group.isdigit()}
    if host.is_live:
        state.user = os.environ.get("SUDO_USER") or os.environ.get("USER", "")
    return state
