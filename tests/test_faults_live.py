"""No process left behind by the live connection (issue 16): a qemu+ssh URI whose host never answers
leaves no ssh (nor anything ssh started) after --timeout, nor after virtdiag itself is killed. Only loopback
is ever contacted: a fake ssh earlier on PATH, or the real ssh against a socket of this test that never
answers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diagnose.host import live

pytest.importorskip("libvirt", reason="libvirt-python is not installed")

VIRTDIAG = Path(sys.executable).parent / "virtdiag"
CLI = [str(VIRTDIAG)] if VIRTDIAG.exists() else [sys.executable, "-m", "diagnose"]
FAKE_SSH = """#!/bin/sh
# what a hung ssh looks like to libvirt: it never answers; it also started a child of its own
sleep 301 &
echo "$! $$" > "{pids}"
exec sleep 300
"""
URI = "qemu+ssh://127.0.0.1{port}/system?no_verify=1&keyfile=/nonexistent"


def start_time(pid: int) -> str | None:
    """The process's start time, or None when it is gone or a zombie (from /proc, no psutil)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def wait_gone(processes: dict[int, str], seconds: float) -> list[int]:
    """The processes (pid -> start time) still running after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        left = [pid for pid, started in processes.items() if start_time(pid) == started]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `ssh` earlier on PATH that hangs; returns the file where it writes its and its child's pids."""
    pids = tmp_path / "ssh.pids"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH.format(pids=pids))
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return pids


def recorded(pids: Path, seconds: float = 20) -> dict[int, str]:
    """The fake ssh's pids once it has written them, with their start times."""
    deadline = time.monotonic() + seconds
    while not (pids.exists() and len(pids.read_text().split()) == 2):
        assert time.monotonic() < deadline, "libvirt never started ssh"
        time.sleep(0.05)
    found = {int(pid): start_time(int(pid)) for pid in pids.read_text().split()}
    return {pid: started for pid, started in found.items() if started is not None}


def kill_all(processes: dict[int, str]) -> None:
    """A failed test leaves nothing behind either."""
    for pid, started in processes.items():
        if start_time(pid) == started:
            os.kill(pid, signal.SIGKILL)


def test_timeout_kills_ssh_and_its_children(fake_ssh: Path) -> None:
    """live.gather with a 2 s limit on a qemu+ssh URI whose ssh hangs: the reason names the timeout, and ssh
    and the child it started are gone at once (before: both ran on, orphaned, after virtdiag exited)."""
    started = time.monotonic()
    with pytest.raises(live.LiveUnavailable, match="did not answer within 2 s"):
        live.gather(URI.format(port=""), timeout=2)
    assert time.monotonic() - started < 10
    processes = recorded(fake_ssh, seconds=0)
    try:
        assert wait_gone(processes, 3) == []
    finally:
        kill_all(processes)


def test_domcapabilities_timeout_kills_ssh_too(fake_ssh: Path) -> None:
    with pytest.raises(live.LiveUnavailable, match="did not answer within 2 s"):
        live.domcapabilities(URI.format(port=""), [("", "x86_64", "pc", "kvm")], timeout=2)
    processes = recorded(fake_ssh, seconds=0)
    try:
        assert wait_gone(processes, 3) == []
    finally:
        kill_all(processes)


@pytest.mark.skipif(shutil.which("virsh") is None, reason="virsh (libvirt-clients) is not installed")
def test_virsh_fallback_timeout_kills_ssh_too(fake_ssh: Path) -> None:
    """Without libvirt-python virtdiag asks through `virsh -r`: its time limit takes virsh, the ssh virsh
    started and that ssh's child with it."""
    from diagnose.host import virsh_cli

    with pytest.raises(live.LiveUnavailable, match="did not answer virsh within the time limit"):
        virsh_cli.gather(URI.format(port=""), timeout=2)
    processes = recorded(fake_ssh, seconds=0)
    try:
        assert wait_gone(processes, 3) == []
    finally:
        kill_all(processes)


GATHER = """
import sys
from diagnose.host import live
live.gather(sys.argv[1], timeout=600)
"""


def test_killed_virtdiag_takes_ssh_with_it(fake_ssh: Path) -> None:
    """virtdiag killed with SIGKILL while the connection hangs: the connection's child notices its parent is
    gone and kills its whole group, ssh and ssh's child included."""
    parent = subprocess.Popen([sys.executable, "-c", GATHER, URI.format(port="")], env=os.environ.copy(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes: dict[int, str] = {}
    try:
        processes = recorded(fake_ssh)
        assert len(processes) == 2
        parent.kill()
        parent.wait(timeout=10)
        assert wait_gone(processes, 5) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        kill_all(processes)


def ssh_processes(port: int) -> dict[int, str]:
    """Every running ssh whose command line points at 127.0.0.1 port `port`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"ssh") and str(port).encode() in argv and b"127.0.0.1" in argv:
                started = start_time(int(entry.name))
                if started:
                    found[int(entry.name)] = started
    return found


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client installed")
def test_scan_connect_to_a_host_that_never_answers_leaves_no_ssh(tmp_path: Path) -> None:
    """The installed command, --connect qemu+ssh to a loopback port that accepts and never says a word, with
    --timeout 3: the report says the daemon did not answer, and no ssh is left."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(tmp_path)}  # no user's ssh config
    try:
        done = subprocess.run([*CLI, "scan", "--connect", URI.format(port=f":{port}"),
                               "--timeout", "3", "--format", "json"], capture_output=True, text=True, env=env,
                              timeout=60, check=False)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr[-2000:]
        skipped = {item["what"]: item["reason"] for item in json.loads(done.stdout)["skipped"]}
        assert any("did not answer within 3 s" in reason for reason in skipped.values()), skipped
        left = wait_gone(ssh_processes(port), 3)
        assert left == [], f"ssh {left} outlived the scan"
    finally:
        kill_all(ssh_processes(port))
        server.close()


# --- slow is not hung: the time limit is for each answer -------------------------------------------


def _answers_then_stalls(progress: live.Progress) -> list[str]:
    known = ["libvirt version"]
    progress(list(known), "capabilities")
    time.sleep(0.5)  # an answer slower than nothing, within the limit
    known.append("capabilities")
    progress(list(known), "the guests")
    time.sleep(600)  # this one never comes back
    return known


def test_a_daemon_that_answers_slowly_then_stalls_gives_what_it_answered() -> None:
    started = time.monotonic()
    result = live._run_with_timeout(_answers_then_stalls, 1.0, "qemu:///system",
                                    lambda partial, asking, message: [*partial, f"{asking}: {message}"])
    assert time.monotonic() - started < 10
    assert result[:2] == ["libvirt version", "capabilities"]
    assert result[2].startswith("the guests: the libvirt daemon at qemu:///system answered, then did not answer "
                                "for the guests within 1 s")


def _never_answers(progress: live.Progress) -> list[str]:
    time.sleep(600)
    return []


def test_a_daemon_that_answers_nothing_is_hung() -> None:
    with pytest.raises(live.LiveUnavailable, match=r"did not answer within 1 s \(hung\?\)"):
        live._run_with_timeout(_never_answers, 1.0, "qemu:///system", lambda partial, asking, message: partial)
