"""Collect stage: what a support engineer was handed (a sosreport, a folder of them, a `sos collect` tarball,
an insights-client archive, a copied tree) -> the hosts in it, each one report."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from diagnose.host.base import Unreadable, _permission_hint

# a directory at the top of a host copy (or one level down, under sosreport-host-date/) that says "a host"
HOST_MARKS = frozenset({"sos_commands", "insights_commands", "insights_archive.txt", "etc", "var", "proc", "sys",
                        "run"})
# a host's own archive, as sos, sos collect and insights-client name them
HOST_ARCHIVE = re.compile(r"(?:sosreport|insights)-[^/]*\.(?:tar(?:\.(?:gz|xz|bz2|zst))?|tgz)$")
TARBALL = re.compile(r"\.(?:tar(?:\.(?:gz|xz|bz2|zst))?|tgz|tbz2|txz)$")
PEEK_MEMBERS = 5000  # members looked at to tell a host's tarball from a `sos collect` one
EXPECTED = ("expected a sosreport (a tarball or extracted), an insights-client archive, a `sos collect` tarball, "
            "a folder of those, or a copy of a host's /etc and /var")


@dataclass(frozen=True)
class Given:
    """One host to scan: a directory or tarball, or `member`, a host's tarball inside a `sos collect` one."""

    path: str
    member: str = ""

    @property
    def label(self) -> str:
        return f"{self.path}:{self.member}" if self.member else self.path


def hosts_in(path: str) -> list[Given]:
    """Every host in what was given, in name order; Unreadable (one line: what was expected) when nothing
    in it is a host."""
    where = Path(path)
    try:
        if where.is_dir():
            found = _hosts_in_directory(where)
        elif where.is_file():
            found = _hosts_in_tarball(where)
        elif where.exists():
            raise Unreadable(f"{path}: not a directory or a regular file; never opened")
        else:
            raise Unreadable(f"{path}: no such directory or archive")
    except PermissionError as exc:
        raise Unreadable(f"{path}: {exc.strerror}{_permission_hint()}") from exc
    if not found:
        raise Unreadable(f"{path}: no host in it ({EXPECTED})")
    return found


def is_host_directory(path: Path) -> bool:
    """A copied tree or an extracted sosreport or insights archive at `path` (or in its one subdirectory)."""
    try:
        names = set(os.listdir(path))
    except OSError:
        return False
    if names & HOST_MARKS or ("data" in names and "insights_archive.txt" in names):
        return True
    subdirectories = [n for n in names if not n.startswith(".") and (path / n).is_dir() and
                      not (path / n).is_symlink()]
    if len(subdirectories) != 1 or not _names(path / subdirectories[0]) & HOST_MARKS:
        return False
    # a sosreport extracted into a folder, beside its own tarball and checksum; another tarball there makes
    # it a folder of several
    return not any(TARBALL.search(n) and not n.startswith(subdirectories[0]) for n in names)


def _names(path: Path) -> set[str]:
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


def _hosts_in_directory(path: Path) -> list[Given]:
    if is_host_directory(path):
        return [Given(str(path))]
    found: list[Given] = []
    for entry in sorted(os.listdir(path)):  # a folder of sosreports: each one, tarball or extracted
        inner = path / entry
        if entry.startswith("."):
            continue
        if inner.is_dir() and not inner.is_symlink() and is_host_directory(inner):
            found.append(Given(str(inner)))
        elif inner.is_file() and TARBALL.search(entry):
            try:
                found.extend(_hosts_in_tarball(inner))
            except Unreadable:
                found.append(Given(str(inner)))  # opening it says what is wrong with it
    return found


def _hosts_in_tarball(path: Path) -> list[Given]:
    """A host's tarball -> itself; a `sos collect` tarball (the hosts' sosreports inside, no host files of
    its own) -> each sosreport in it. Any other file is given back as is: opening it says what it is."""
    from diagnose.host.archive import _archive_errors, _CappedTarInfo, _member_name, _open_tar

    nested: list[str] = []
    failures: tuple[type[BaseException], ...] = (*_archive_errors(), Unreadable)
    try:
        with _open_tar(path, _CappedTarInfo) as tar:
            for count, member in enumerate(tar):
                name = _member_name(member.name) or ""
                parts = name.split("/")
                if set(parts[:3]) & HOST_MARKS and not HOST_ARCHIVE.search(name):
                    return [Given(str(path))]  # a host's own files: it is one host
                if member.isfile() and len(parts) <= 3 and HOST_ARCHIVE.search(parts[-1]):
                    nested.append(name)
                if count >= PEEK_MEMBERS and not nested:
                    break
    except failures:
        return [Given(str(path))]
    return [Given(str(path), member) for member in sorted(nested)] or [Given(str(path))]

