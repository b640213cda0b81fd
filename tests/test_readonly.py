"""Read-only guarantee (issue 7): scanning a host tree changes nothing under it (content, mode, mtime,
links), nothing is written anywhere but the report file asked for, and a scan of the live host opens
no file for writing.

Two independent witnesses: strace (every open and every call that changes the filesystem, made by
Python, lxml or libvirt's C code alike), when it is installed and allowed to trace; and a Python audit
hook (sys.addaudithook) in a subprocess, which always runs. The interpreter's own bytecode cache is
turned off (PYTHONDONTWRITEBYTECODE=1): writing .pyc files is Python's doing, not virtdiag's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from diagnose import engine

sys.path.insert(0, str(Path(__file__).resolve().parent / "hostile"))
import corpus  # noqa: E402

VIRTDIAG = Path(sys.executable).parent / "virtdiag"
CLI = [str(VIRTDIAG)] if VIRTDIAG.exists() else [sys.executable, "-m", "diagnose"]
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "COLUMNS": "200"}
LIVE_SOCKET = Path("/run/libvirt/libvirt-sock")
MUTATING = ("creat", "mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "link",
            "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "lchown",
            "truncate", "ftruncate", "utimensat", "utimes", "futimesat", "mknod", "mknodat", "setxattr", "lsetxattr",
            "fsetxattr", "removexattr", "lremovexattr", "fremovexattr")
OPENS = ("open", "openat", "openat2")
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root, not following links: type and mode, mtime, size, content hash, link target."""
    seen: dict[str, tuple] = {}
    for directory, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path) and st.st_mode & 0o444:
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            target = os.readlink(path) if os.path.islink(path) else ""
            seen[os.path.relpath(path, root)] = (st.st_mode, st.st_mtime_ns, st.st_size, digest, target)
    return seen


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    corpus.write_hostile_tree(root, tmp_path / "outside")
    return root


def test_scan_changes_nothing_under_the_tree(tree: Path, tmp_path: Path) -> None:
    before = snapshot(tree)
    outside_before = snapshot(tmp_path / "outside")
    engine.scan(str(tree))
    for fmt in ("text", "json", "markdown", "html"):
        done = subprocess.run([*CLI, "scan", "--root", str(tree), "--format", fmt], capture_output=True, text=True,
                              timeout=120, env=ENV, check=False)
        assert done.returncode in (0, 1), done.stderr
    assert snapshot(tree) == before
    assert snapshot(tmp_path / "outside") == outside_before


def test_sosreport_tarball_is_not_extracted(tmp_path: Path) -> None:
    archive = corpus.write_tar(tmp_path / "sos.tar.gz", corpus.archive_cases()["symlink-members"])
    before = snapshot(tmp_path)
    engine.scan(str(archive))
    assert snapshot(tmp_path) == before


# --- strace -----------------------------------------------------------------------------------------


def _strace_available() -> str:
    strace = shutil.which("strace")
    if not strace:
        return "strace is not installed (apt-get install strace)"
    probe = subprocess.run([strace, "-f", "-qq", "-o", os.devnull, "-e", "trace=openat", "true"],
                           capture_output=True, text=True, timeout=30, check=False)
    return "" if probe.returncode == 0 else f"strace cannot trace here: {probe.stderr.strip()[:200]}"


def traced(args: list[str], log: Path, timeout: float = 180) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the CLI under strace -f; the file-changing calls it made, as strace printed them."""
    why = _strace_available()
    if why:
        pytest.skip(why)
    calls = ",".join(OPENS + MUTATING)
    done = subprocess.run(["strace", "-f", "-qq", "-s", "256", "-o", str(log), "-e", f"trace={calls}", *CLI, *args],
                          capture_output=True, text=True, timeout=timeout, env=ENV, check=False)
    changing = []
    for line in log.read_text(errors="replace").splitlines():
        call = re.match(r"^(?:\[pid\s+)?\d*\]?\s*(\w+)\(", line)
        if not call:
            continue
        name = call.group(1)
        if name in OPENS and WRITE_FLAGS.search(line) or name in MUTATING:
            changing.append(line)
    return done, changing


def _paths(lines: list[str]) -> list[str]:
    return [m.group(1) for line in lines for m in [re.search(r'"([^"]*)"', line)] if m]


def test_tree_scan_writes_only_the_report_it_was_asked_for(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    report = out / "report.json"
    done, changing = traced(["scan", "--root", str(tree), "--format", "json", "--output", str(report)],
                            tmp_path / "trace.log")
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(report.read_text())["target"]["kind"] == "tree"
    assert _paths(changing) == [str(report)], changing


def test_live_scan_opens_no_file_for_writing(tmp_path: Path) -> None:
    """The live host, and the libvirt daemon when one runs here (read-only connection)."""
    connect = [] if LIVE_SOCKET.exists() else ["--connect", "qemu:///system?socket=/nonexistent/virtdiag-test"]
    done, changing = traced(["scan", "--format", "json", "--timeout", "3", *connect], tmp_path / "trace.log")
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["target"]["kind"] == "live"
    assert changing == [], changing


# --- audit hook (always available) ---------------------------------------------------------------------


AUDITED = r"""
import json, os, sys
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGING = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.chmod", "os.chown", "os.utime", "os.symlink",
            "os.link", "os.truncate", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr", "shutil.copyfile",
            "shutil.copymode", "shutil.copystat", "shutil.copytree", "shutil.move", "shutil.rmtree", "tempfile.mkstemp",
            "tempfile.mkdtemp"}
seen = []
def hook(event, args):
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None))[:3]
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & WRITING):
            seen.append([event, os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else repr(path)])
    elif event in CHANGING:
        seen.append([event, repr(args)[:200]])
sys.addaudithook(hook)
from diagnose.entry import main
sys.argv = ["virtdiag", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
sys.stdout.flush()
print("AUDIT " + json.dumps({"code": code, "seen": seen}), file=sys.stderr)
"""


def audited(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", AUDITED, *args], capture_output=True, text=True, timeout=180,
                          env=ENV, check=False)
    lines = [line for line in done.stderr.splitlines() if line.startswith("AUDIT ")]
    assert lines, done.stderr
    return json.loads(lines[-1][6:])


def test_audit_hook_tree_and_archive(tree: Path, tmp_path: Path) -> None:
    result = audited(["scan", "--root", str(tree), "--format", "json"])
    assert result["code"] in (0, 1) and result["seen"] == [], result
    archive = corpus.write_tar(tmp_path / "sos.tar.gz", corpus.archive_cases()["path-traversal"])
    result = audited(["scan", "--root", str(archive), "--format", "html"])
    assert result["code"] in (0, 1) and result["seen"] == [], result


def test_audit_hook_live_and_explain(tmp_path: Path) -> None:
    result = audited(["scan", "--format", "json", "--timeout", "5", "--connect",
                      "qemu:///system?socket=/nonexistent/virtdiag-test"])
    assert result["code"] in (0, 1) and result["seen"] == [], result
    paste = tmp_path / "paste.txt"
    paste.write_text(corpus.DAEMON_LOG)
    result = audited(["explain", "--file", str(paste), "--probe", "--format", "markdown"])
    assert result["code"] in (0, 1) and result["seen"] == [], result
    report = tmp_path / "r.md"
    result = audited(["explain", "--file", str(paste), "--format", "markdown", "--output", str(report)])
    assert [path for _, path in result["seen"]] == [str(report)], result
