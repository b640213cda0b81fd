#!/usr/bin/env python3
"""Pack an extracted-sosreport sample back into the tarball `sos report` would have written.

    python scripts/make_sos_tarball.py OUTDIR [CASE]

CASE defaults to sosreport-bridge-missing. A sosreport sample is samples/hosts/<case>/ holding
expected.toml and one directory sosreport-<host>-<date>-<id>/ (sos_commands/, etc/, proc/, ...).
Writes OUTDIR/<that directory's name>.tar.xz with every member under that top directory, and
prints its path. A `sos collect` sample (several sosreport-*/ directories beside sos_logs/ and
sos_reports/) becomes what `sos collect` writes: sos-collector-<case>.tar.xz holding, under its top
directory, sos_logs/, sos_reports/ and each host's sosreport-*.tar.xz. The archive is deterministic
(sorted members, fixed owner, modes and times) and symlinks stay symlinks. Tarballs are built on
demand (tests call this into a temporary directory); they are never committed.
"""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path

HOSTS = Path(__file__).resolve().parent.parent / "samples" / "hosts"
MTIME = 1714640551  # 2024-05-02 09:02:31 UTC, when the reports were taken


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = MTIME
    if info.isdir():
        info.mode = 0o755
    elif info.isfile():
        info.mode = 0o644
    return info


def _walk(root: Path) -> list[Path]:
    """Every entry under root, sorted; links to directories (var/run -> ../run) are not followed."""
    found = []
    for directory, dirs, files in os.walk(root):
        found.extend(Path(directory) / name for name in dirs + files)
    return sorted(found)


def sosreport_dir(case: str) -> Path:
    tops = sorted(p for p in (HOSTS / case).glob("sosreport-*") if (p / "sos_commands").is_dir())
    if len(tops) != 1:
        raise SystemExit(f"{HOSTS / case}: expected one sosreport-*/ directory with sos_commands/, found {len(tops)}")
    return tops[0]


def _pack(top: Path, target: Path, under: str, extra: tuple[Path, ...] = ()) -> Path:
    """`top`'s tree (and `extra` files) under the directory `under` in a deterministic tar.xz."""
    with tarfile.open(target, "w:xz") as tar:
        tar.add(top, arcname=under, recursive=False, filter=_normalise)
        for path in _walk(top):
            if path.name.startswith("sosreport-") and (path / "sos_commands").is_dir() and path.parent == top:
                continue  # a host of a sos collect sample: packed into its own tarball
            inside_a_host = any(p.name.startswith("sosreport-") and p.parent == top for p in path.parents)
            if path == top / "expected.toml" or inside_a_host:
                continue
            tar.add(path, arcname=f"{under}/{path.relative_to(top).as_posix()}", recursive=False, filter=_normalise)
        for path in extra:
            tar.add(path, arcname=f"{under}/{path.name}", recursive=False, filter=_normalise)
    return target


def make(outdir: Path, case: str = "sosreport-bridge-missing") -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    if (HOSTS / case / "sos_logs").is_dir():
        return make_collect(outdir, case)
    top = sosreport_dir(case)
    return _pack(top, outdir / f"{top.name}.tar.xz", top.name)


def make_collect(outdir: Path, case: str) -> Path:
    """What `sos collect` writes: each host's sosreport tarball, with the collector's logs and manifest."""
    hosts = sorted(p for p in (HOSTS / case).glob("sosreport-*") if (p / "sos_commands").is_dir())
    nested = outdir / f"{case}.hosts"
    nested.mkdir(exist_ok=True)
    tarballs = [_pack(top, nested / f"{top.name}.tar.xz", top.name) for top in hosts]
    name = f"sos-collector-{case}-2024-05-02-qrstu"
    return _pack(HOSTS / case, outdir / f"{name}.tar.xz", name, tuple(tarballs))


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print("usage: make_sos_tarball.py OUTDIR [CASE]", file=sys.stderr)
        return 2
    print(make(Path(argv[0]), *argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
