"""Collect stage: open a host by its root (the live host, a copied tree, a sosreport tarball), picking the reader."""

from __future__ import annotations

import io
import os
from pathlib import Path

from diagnose.host.archive import ArchiveHost
from diagnose.host.base import Host, Unreadable, _permission_hint
from diagnose.host.tree import TreeHost


class Remote(Host):
    """Another host's daemon asked over a URI (qemu+ssh://kvm1/system, test:///default): none of this
    machine's files belong to it, so none are read; its report is the daemon's view only."""

    def stat(self, path: str) -> os.stat_result | None:
        return None

    def listdir(self, path: str) -> list[str]:
        return []

    def _open(self, path: str) -> io.BufferedIOBase:
        raise Unreadable(f"{path}: a file of another host, not read")

    def glob(self, pattern: str) -> list[str]:
        return []

    def close(self) -> None:
        return None


def is_local_uri(uri: str) -> bool:
    """A URI of this machine's own daemon (qemu:///system, qemu+unix:///session, qemu+ssh://localhost/...):
    its files are this machine's. Another host, or a driver that is not a host (test:///default), is not."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    driver = parts.scheme.split("+", 1)[0]
    if driver in ("test", "vbox", "esx", "gsx", "vpx", "hyperv", "vmwareplayer", "vmwarews", "vmwarefusion"):
        return False
    return (parts.hostname or "localhost") in ("localhost", "127.0.0.1", "::1") or \
        parts.hostname == os.uname().nodename.split(".")[0] or parts.hostname == os.uname().nodename


def open_host(root: str | None, connect: str | None = None) -> Host:
    """`None` or "/" is the live host (or, with `connect` naming another host, no files at all); a directory
    is a copied tree; a file is a tarball."""
    if root in (None, "", "/") and connect and not is_local_uri(connect):
        return Remote(label=connect, kind="remote")
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

