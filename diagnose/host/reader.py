"""Collect stage: open a host by its root (the live host, a copied tree, a sosreport tarball), picking the reader."""

from __future__ import annotations

import io
import os
from pathlib import Path

from diagnose.host.archive import ArchiveHost
from diagnose.host.base import Host, Unreadable, _permission_hint
from diagnose.host.inputs import EXPECTED
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


def open_host(root: str | None, connect: str | None = None, member: str = "") -> Host:
    """`None` or "/" is the live host (or, with `connect` naming another host, no files at all); a directory
    is a copied tree (an extracted sosreport or insights archive); a file is a tarball (with `member`, the
    host's tarball inside a `sos collect` one). Unreadable when it holds nothing of a host."""
    if root in (None, "", "/") and connect and not is_local_uri(connect):
        return Remote(label=connect, kind="remote")
    if root in (None, "", "/"):
        return TreeHost(label="/", kind="live", root=Path("/"))
    path = Path(root)
    host: Host
    try:
        if path.is_dir():
            host = _tree(path)
        elif path.is_file():
            host = ArchiveHost.open(path, member)
        elif path.exists():
            raise Unreadable(f"{root}: not a directory or a regular file; never opened")
        else:
            raise Unreadable(f"{root}: no such directory or archive")
    except OSError as exc:
        raise Unreadable(f"{root}: {exc.strerror or exc}{_permission_hint()}") from exc
    if not _looks_like_host(host) and isinstance(host, TreeHost):
        nested = _single_subdirectory(path)
        if nested is not None:
            inner = _tree(nested)
            if _looks_like_host(inner):
                host = inner  # a directory a sosreport was extracted into: read the sosreport in it
    if not _looks_like_host(host):
        problems = "; ".join(f"{where}: {why}" for where, why in host.skipped[:1])
        host.close()
        raise Unreadable(f"{host.label}: {problems or 'nothing of a host in it'} (no sos_commands/, "
                         f"insights_commands/, etc/, var/, proc/, sys/ or run/ at its top; {EXPECTED})")
    if host.collector == "insights":
        host.note(host.label, "an insights-client archive keeps only the log lines Red Hat Insights' rules ask "
                  "for: a cause whose lines are not among them cannot be found here")
    return host


def _tree(path: Path) -> TreeHost:
    """A directory: a copied tree, or an extracted insights-client core archive (the host under data/)."""
    if (path / "insights_archive.txt").is_file() and (path / "data").is_dir():
        path = path / "data"
    return TreeHost(label=str(path), kind="tree", root=path)


def _looks_like_host(host: Host) -> bool:
    return host.is_collected or any(host.is_dir(top) for top in ("/etc", "/var", "/proc", "/sys", "/run"))


def _single_subdirectory(path: Path) -> Path | None:
    """The one real directory (not a link, not hidden) in `path`, beside any plain files (the tarball it
    was extracted from, its checksum)."""
    try:
        directories = [entry.name for entry in os.scandir(path)
                       if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return None
    return path / directories[0] if len(directories) == 1 else None

