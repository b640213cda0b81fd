"""Collect stage: a sosreport (or host tree) tarball read in place; members are never extracted to disk."""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import io
import os
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from diagnose.host.base import Host, Unreadable, _size, one_line
from diagnose.host.tree import MAX_LINKS, _relative

MAX_MEMBER = 64 * 1024 * 1024  # largest archive member kept in memory
MAX_ARCHIVE_TOTAL = 512 * 1024 * 1024  # all kept members together (as held in memory: big ones compressed)
PACK_OVER = 1024 * 1024  # a member larger than this is kept gzip-compressed in memory, streamed out on read
MAX_ARCHIVE_READ = 8 * 1024 * 1024 * 1024  # decompressed bytes read before giving up (bomb guard)
MAX_ARCHIVE_MEMBERS = 250_000  # members indexed before giving up (a bomb of empty files)
MAX_TAR_HEADER = 1024 * 1024  # largest pax / GNU long-name header tarfile may load into memory
HOST_TOP_DIRS = frozenset({"etc", "var", "proc", "sys", "run", "usr", "dev", "boot", "lib", "lib64", "opt",
                           "home", "root", "srv", "tmp", "sbin", "bin", "sos_commands", "sos_reports", "sos_logs",
                           "sos_strings"})


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


def _packed(handle: IO[bytes], size: int) -> tuple[bytes, int]:
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


class _RecordingTarInfo(_CappedTarInfo):
    ended_early = ""  # why the archive ended without its end-of-archive blocks ("" when it had them)


def _tarinfo_class() -> type[_RecordingTarInfo]:
    """A TarInfo class for one archive that remembers how the archive ended: tarfile stops silently at
    a missing or cut header (a truncated archive) as it does at the proper end-of-archive blocks."""

    class Recording(_RecordingTarInfo):
        @classmethod
        def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Recording:
            try:
                return super().frombuf(buf, encoding, errors)
            except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError) as exc:  # type: ignore[attr-defined]
                cls.ended_early = str(exc)
                raise

    return Recording


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # sos writes sosreport-*.tar.zst now
ZSTD_MISSING = "a zstd-compressed archive: install the zstandard package (pip install 'virtdiag[zstd]')"


@contextlib.contextmanager
def _open_tar(archive: Path, info_class: type[tarfile.TarInfo], member: str = "") -> Iterator[tarfile.TarFile]:
    """The archive as a tar stream; with `member`, the tarball of that name inside it (a host's sosreport in a
    `sos collect` tarball), streamed from the outer one, never extracted."""
    with open(archive, "rb") as raw:
        if not member:
            with _tar_stream(raw, info_class, str(archive)) as tar:
                yield tar
            return
        with _tar_stream(raw, _CappedTarInfo, str(archive)) as outer:
            for entry in outer:
                if entry.isfile() and _member_name(entry.name) == member:
                    inner = outer.extractfile(entry)
                    if inner is None:
                        break
                    with _tar_stream(inner, info_class, f"{archive}:{member}") as tar:
                        yield tar
                    return
        raise Unreadable(f"{archive}: it holds no {member}")


@contextlib.contextmanager
def _tar_stream(raw: IO[bytes], info_class: type[tarfile.TarInfo], label: str) -> Iterator[tarfile.TarFile]:
    """A tar stream: gzip, bzip2, xz or none by tarfile itself; zstd by tarfile where it can (Python 3.14),
    else by the optional zstandard package; without either, Unreadable with the reason."""
    peek = getattr(raw, "peek", None)
    is_zstd = (peek(4) if peek is not None else b"")[:4] == ZSTD_MAGIC
    if not is_zstd or "zst" in getattr(tarfile.TarFile, "OPEN_METH", {}):
        with tarfile.open(fileobj=raw, mode="r|zst" if is_zstd else "r|*", tarinfo=info_class) as tar:
            yield tar
        return
    try:
        import zstandard
    except ImportError:
        raise Unreadable(f"{label}: {ZSTD_MISSING}") from None
    with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream, \
            tarfile.open(fileobj=stream, mode="r|", tarinfo=info_class) as tar:
        yield tar


def _archive_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged archive raises (a damaged zstd stream raises zstandard's own error)."""
    errors: tuple[type[BaseException], ...] = (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError,
                                               MemoryError)
    try:
        import zstandard
    except ImportError:
        return errors
    return (*errors, zstandard.ZstdError)


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

    member: str = ""  # the host's own tarball inside `archive` (a sos collect tarball), or ""

    @classmethod
    def open(cls, archive: Path, member: str = "") -> ArchiveHost:
        host = cls(label=f"{archive}:{member}" if member else str(archive), kind="sosreport", archive=archive,
                   member=member)
        host._index()
        if "insights_archive.txt" in host.members and "data" in host.directories.get("", set()):
            host._reroot("data")  # an insights-client core archive: the host's files are under data/
        host.kind = host.collector or "tree"
        return host

    def _reroot(self, top: str) -> None:
        """Read the archive from one of its directories on."""
        cut = top + "/"
        self.members = {k[len(cut):]: m for k, m in self.members.items() if k.startswith(cut)}
        self.contents = {k[len(cut):]: v for k, v in self.contents.items() if k.startswith(cut)}
        self.packed = {k[len(cut):] for k in self.packed if k.startswith(cut)}
        self.unkept = {k[len(cut):]: v for k, v in self.unkept.items() if k.startswith(cut)}
        self.directories = {}
        for name in self.members:
            self._add_dirs(name)
        self.prefix += cut

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
            with _open_tar(self.archive, info_class, self.member) as tar:
                for member in tar:
                    count += 1
                    if count > MAX_ARCHIVE_MEMBERS:
                        self.note(self.label, f"stopped reading after {MAX_ARCHIVE_MEMBERS} members")
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
                        self.note(self.label, f"stopped reading: the archive expands past "
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
                        self.note(self.label, f"archive truncated: it ends inside {one_line(name)}")
                        break
                    if member.size > MAX_MEMBER:
                        self._member_note(f"/{name}", f"only the first {_size(MAX_MEMBER)} read")
        except _archive_errors() as exc:
            detail = one_line(str(exc) or type(exc).__name__)
            if not self.members:
                raise Unreadable(f"{self.label}: not a readable tar archive ({detail})") from exc
            self.note(self.label, f"archive damaged or truncated, read what came before: {detail}")
        finally:
            for reason, many in self.noted.items():
                if many > 10:
                    self.note(self.label, f"{many - 10} more members: {reason}")
        if info_class.ended_early and self.members:
            self.note(self.label, f"archive truncated: it ends without the end-of-archive blocks "
                      f"({info_class.ended_early}); read what came before")
        if not self.members and not self.skipped:
            self.note(self.label, "the archive holds no files")


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
            return gzip.GzipFile(fileobj=io.BytesIO(self.contents[key]), mode="rb")
        return io.BytesIO(self.contents[key])

    def glob(self, pattern: str) -> list[str]:
        directory, _, name = pattern.rpartition("/")
        return [f"{directory}/{entry}" for entry in self.listdir(directory) if fnmatch.fnmatch(entry, name)]

    def close(self) -> None:
        self.contents.clear()

