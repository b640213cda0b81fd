"""Running as a non-root user (issue 7): what only root may read is listed under `skipped` with the
reason (permission denied, run as root), and the rest of the scan works.

As root, the scan runs in a child process that drops to nobody (setgid/setuid) once its imports are
loaded: the interpreter may live where nobody cannot read it (pyenv under /root), so `runuser` cannot
start it; when it can, the installed command is also run through `runuser -u nobody`. When the suite
itself runs as a non-root user, the scans simply run as that user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "hostile"))
import corpus  # noqa: E402

VIRTDIAG = Path(sys.executable).parent / "virtdiag"
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "COLUMNS": "200",
       "HOME": "/nonexistent"}
NOBODY = 65534
IS_ROOT = os.geteuid() == 0
LIVE_SOCKET = Path("/run/libvirt/libvirt-sock")

AS_NOBODY = r"""
import contextlib, io, json, os, sys
from pathlib import Path
# load everything a scan touches while root can still read the interpreter's files
import gzip, lzma, bz2, tarfile, zlib, threading, concurrent.futures, multiprocessing, codecs, encodings.idna
import multiprocessing.popen_fork, multiprocessing.connection, multiprocessing.process, select, signal
import lxml.etree
from typer.testing import CliRunner
from diagnose import engine, xmlchecks, checks, probes, render, redact
from diagnose.host import archive, base, gather, layout, live, logs, logscan, reader, tree
from diagnose.cli import app
try:
    import libvirt
except ImportError:
    pass
warm = sys.argv[1]
engine.scan(warm)
xmlchecks.known_names()
runner = CliRunner()
runner.invoke(app, ["scan", "--root", warm, "--format", "json"])
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
results = {"euid": os.geteuid()}
for name, args in json.loads(sys.argv[2]).items():
    done = runner.invoke(app, args)
    results[name] = {"code": done.exit_code, "stdout": done.stdout,
                     "exception": None if done.exception is None or isinstance(done.exception, SystemExit)
                     else repr(done.exception)}
print("RESULT " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def world() -> Iterator[Path]:
    """A directory nobody can enter (pytest's own temporary directories are private to root)."""
    top = Path(tempfile.mkdtemp(prefix="virtdiag-nonroot-"))
    top.chmod(0o755)
    yield top
    for path in top.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(top)


@pytest.fixture(scope="module")
def host(world: Path) -> Path:
    """The base host, readable by all, except what root alone may read on a real host."""
    root = corpus.write_base(world / "host")
    (root / "etc/libvirt/qemu.conf").write_text('user = "qemu"\nvnc_password = "s3cret"\n')
    (root / "etc/libvirt/qemu.conf").chmod(0o600)
    guest_logs = root / "var/log/libvirt/qemu"
    guest_logs.mkdir(parents=True)
    (guest_logs / "web01.log").write_text(corpus.DAEMON_LOG)
    guest_logs.chmod(0o700)
    secret = root / "etc/libvirt/qemu/secret.xml"
    secret.write_text("<domain type='kvm'><name>secret</name></domain>\n")
    secret.chmod(0)
    for path in [root, *root.rglob("*")]:
        if path.is_dir() and path != guest_logs:
            path.chmod(0o755)
    return root


def as_nobody(world: Path, runs: dict[str, list[str]]) -> dict:
    warm = corpus.write_base(world / "warm") if not (world / "warm").exists() else world / "warm"
    done = subprocess.run([sys.executable, "-c", AS_NOBODY, str(warm), json.dumps(runs)], capture_output=True,
                          text=True, timeout=180, env=ENV, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, (done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(lines[-1][7:])
    if IS_ROOT:
        assert result["euid"] == NOBODY
    for name, run in result.items():
        if name != "euid":
            assert run["exception"] is None, (name, run["exception"])
    return result


def test_tree_scan_as_nobody(world: Path, host: Path) -> None:
    result = as_nobody(world, {"scan": ["scan", "--root", str(host), "--format", "json"]})
    run = result["scan"]
    assert run["code"] == 1, run
    body = json.loads(run["stdout"])
    skipped = {s["what"]: s["reason"] for s in body["skipped"]}
    uid = f"uid {os.geteuid() if not IS_ROOT else NOBODY}"
    for path in ("/etc/libvirt/qemu.conf", "/var/log/libvirt/qemu", "/etc/libvirt/qemu/secret.xml"):
        assert "Permission denied" in skipped.get(path, ""), (path, skipped)
        assert uid in skipped[path] and "run it as root" in skipped[path], skipped[path]
    assert corpus.BASE_FINDING in [f["id"] for f in body["findings"]]
    assert "s3cret" not in run["stdout"]


def test_live_scan_as_nobody(world: Path) -> None:
    """The live host: root-only files are skipped with the reason; the user_is_root fact says so when
    asked; the daemon is asked read-only (or skipped with libvirt's reason); the scan completes."""
    connect = [] if LIVE_SOCKET.exists() else ["--connect", "qemu:///system?socket=/nonexistent/virtdiag-test"]
    result = as_nobody(world, {"live": ["scan", "--format", "json", "--timeout", "5", *connect]})
    run = result["live"]
    assert run["code"] in (0, 1), run
    body = json.loads(run["stdout"])
    assert body["target"]["kind"] == "live"
    skipped = {s["what"]: s["reason"] for s in body["skipped"]}
    qemu_conf = Path("/etc/libvirt/qemu.conf")
    if qemu_conf.exists() and not qemu_conf.stat().st_mode & 0o004 and IS_ROOT:
        assert "Permission denied" in skipped.get(str(qemu_conf), ""), skipped
    for fact in body["facts"]:
        if fact["name"] == "user_is_root":
            assert fact["value"] is False and "euid" in fact["detail"]
    for what, why in skipped.items():
        assert "\n" not in what + why


def _runuser_works() -> str:
    if not IS_ROOT:
        return "not root: the suite already runs as a non-root user"
    if not shutil.which("runuser") or not VIRTDIAG.exists():
        return "runuser or the installed virtdiag command is missing"
    probe = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "pass"], capture_output=True,
                           text=True, timeout=30, check=False)
    if probe.returncode:
        return f"nobody cannot run this interpreter ({sys.executable}): {probe.stderr.strip()[:120]}"
    return ""


def test_runuser_nobody_command(host: Path) -> None:
    """The installed command started as nobody, when nobody may run this interpreter."""
    why = _runuser_works()
    if why:
        pytest.skip(why)
    done = subprocess.run(["runuser", "-u", "nobody", "--", str(VIRTDIAG), "scan", "--root", str(host), "--format",
                           "json"], capture_output=True, text=True, timeout=120, env=ENV, check=False)
    assert "Traceback" not in done.stderr and done.returncode == 1, done.stderr
    skipped = {s["what"]: s["reason"] for s in json.loads(done.stdout)["skipped"]}
    assert "Permission denied" in skipped.get("/etc/libvirt/qemu.conf", ""), skipped
