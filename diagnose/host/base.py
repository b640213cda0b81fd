"""Collect stage: the Host every reader shares (one root, never writes, never follows a link out of it,
never opens a FIFO or device), and decoding of what it reads."""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import errno
import io
import os
import re
import signal
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from diagnose.host import layout

MAX_READ = 4 * 1024 * 1024  # config and /proc files; logs are streamed
MAX_LINE = 64 * 1024  # a longer line is cut
CUT_MARK = b" [... line cut by virtdiag]"
CHUNK = 4 * 1024 * 1024  # logs are read in blocks of this size
BINARY_PROBE = 4096  # bytes looked at to tell a binary file from text


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


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """In a child process (Linux): have the kernel kill it with SIGKILL when its parent dies, however it dies
    (SIGTERM, SIGKILL, the OOM killer); exit at once if the parent is already gone. (The kernel sends it when
    the thread that forked the child ends: fork from the thread that waits for the child.)"""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the pipe to the parent still breaks
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _permission_hint() -> str:
    euid = os.geteuid() if hasattr(os, "geteuid") else 0
    return "" if euid == 0 else f" (virtdiag runs as uid {euid}; run it as root to read this)"



@dataclass
class Host:
    """A host seen through one root. Subclasses read a directory tree or a tarball."""

    label: str
    kind: str  # live | tree | sosreport | insights | remote
    skipped: list[tuple[str, str]] = field(default_factory=list)
    noted_once: set[tuple[str, str]] = field(default_factory=set, repr=False)

    @property
    def is_live(self) -> bool:
        return self.kind == "live"

    @property
    def is_collected(self) -> bool:
        """A sosreport or an insights-client archive: command outputs (sos_commands/, insights_commands/)
        stand in for the live /run, /proc and /sys they copy only in part."""
        return self.collector != ""

    @property
    def collector(self) -> str:
        """What made this copy of a host: "sosreport", "insights" (insights-client) or ""."""
        if self.exists("sos_commands"):
            return "sosreport"
        return "insights" if self.exists("insights_commands") else ""

    # backends implement these five
    def stat(self, path: str) -> os.stat_result | None:
        raise NotImplementedError

    def listdir(self, path: str) -> list[str]:
        raise NotImplementedError

    def _open(self, path: str) -> io.BufferedIOBase:
        raise NotImplementedError

    def glob(self, pattern: str) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

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

    def read_text(self, path: str, limit: int = MAX_READ, whole: bool = False) -> str:
        """Read a small text file. Raises Unreadable with a one-line reason. A file over `limit` is read up to
        it (and noted), or with `whole` (a document whose start alone would be malformed, such as XML)
        not read at all."""
        with self._checked_open(path) as handle:
            try:
                data = handle.read(limit + 1)
            except OSError as exc:
                raise Unreadable(f"{path}: {exc.strerror or exc}") from exc
        if len(data) > limit and whole:
            size = self.stat(path)
            over = f"{size.st_size / 2**20:.1f} MiB, " if size is not None and size.st_size > limit else ""
            raise Unreadable(f"{path}: too large ({over}over the {_size(limit)} read limit), not read")
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
        patterns = layout.paths(source, self.is_collected)
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



def _size(n: int) -> str:
    if n >= 1 << 30 and not n % (1 << 30):
        return f"{n >> 30} GiB"
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n} bytes"

