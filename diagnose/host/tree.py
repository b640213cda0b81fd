"""Collect stage: the live host (root /) and copied host trees or extracted sosreports under a directory."""

from __future__ import annotations

import errno
import fnmatch
import io
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from diagnose.host.base import Host, Unreadable, _permission_hint

LIVE_READ_TIMEOUT = 5.0  # seconds one read of a live /proc or /sys file may block
LIVE_BLOCKED_MAX = 3  # after this many blocked reads, further live /proc and /sys reads are not tried


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

