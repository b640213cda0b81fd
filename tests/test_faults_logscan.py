"""Faults in the two-process pass over a big libvirtd.log (issue 16): workers die with their parent, memory
stays bounded whatever the error density, a read-only /dev/shm or a worker that cannot start or dies gives
the same findings, and the streamed merge gives exactly the one-process lines."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnose.host import logscan

HOSTILE = Path(__file__).resolve().parent / "hostile"
sys.path.insert(0, str(HOSTILE))
import corpus  # noqa: E402

VIRTDIAG = Path(sys.executable).parent / "virtdiag"
CLI = [str(VIRTDIAG)] if VIRTDIAG.exists() else [sys.executable, "-m", "diagnose"]
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "COLUMNS": "400",
       "SOURCE_DATE_EPOCH": "1714640000"}
TWO_CPUS = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="logscan splits a big libvirtd.log only with two CPUs")

RECORD = "2024-05-02 08:00:{:02d}.{:03d}+0000: 77: {} : fn:1 : {}"
LEVELS = ["debug", "info", "warning", "error"]
ERRORS = [  # recognised messages: a log "full of errors"
    "error : virNetDevGetMTU:397 : Cannot get interface MTU on 'br{i}': No such device",
    "error : virNetDevBridgeAddPort:1 : Unable to add bridge virbr{i} port vnet0: No such device",
    "error : qemuMonitorIORead:610 : Unable to read from monitor: Connection reset by peer",
    "warning : qemuDomainObjTaint:6075 : Domain id=3 name='web{i}' uuid=1 is tainted: high-privileges",
    "error : virNetSocketReadWire:1791 : End of file while reading data: Input/output error",
]


def dense_block(records: int = 2000) -> bytes:
    """`records` error and warning records, each a recognised message (a few distinct captures)."""
    return "".join(f"2024-05-02 09:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}+0000: 1201: "
                   f"{ERRORS[i % len(ERRORS)].format(i=i % 4)}\n" for i in range(records)).encode()


def write_dense(path: Path, size: int) -> int:
    """A log of `size` bytes (rounded up to a block) of nothing but error records; returns its line count."""
    block = dense_block()
    with open(path, "wb") as out:
        for _ in range(-(-size // len(block))):
            out.write(block)
    return block.count(b"\n") * -(-size // len(block))


def one_process(path: Path) -> list[tuple[int, bytes]]:
    with open(path, "rb") as handle:
        return list(logscan.marked_lines(handle))


def alive(pid: int, started: str) -> bool:
    """The process is there, is the same one (its start time), and is not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] != "Z"


def children(pid: int) -> dict[int, str]:
    """The live children of a process: pid -> start time (from /proc, no psutil)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found[int(entry.name)] = fields[19]
    return found


# --- the streamed merge is the one-process scan ------------------------------------------------------

records = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(LEVELS), st.text("abc :-'", max_size=30)).map(
            lambda t: RECORD.format(1, 2, t[0], t[1])),
        st.text("dnsmasq: failed xyz", min_size=1, max_size=40).filter(
            lambda s: not logscan.RECORD_START.match(s.encode())),
    ),
    min_size=0, max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(records, st.integers(min_value=0, max_value=3000), st.integers(min_value=1, max_value=400),
       st.integers(min_value=1, max_value=400))
def test_streamed_parallel_scan_equals_one_process(tmp_path_factory: pytest.TempPathFactory, lines: list[str],
                                                   split: int, batch: int, pending: int) -> None:
    """Any split point, tiny batches and a tiny held-back budget (so the second worker waits on its pipe):
    the same (line number, line) pairs as marked_lines, leading continuation lines of the second half
    kept exactly when the first half ended inside a marked record."""
    path = tmp_path_factory.mktemp("merge") / "libvirtd.log"
    path.write_text("\n".join(lines) + ("\n" if lines and split % 2 else ""))
    size = path.stat().st_size
    old = logscan.BATCH_BYTES, logscan.PENDING_MAX
    logscan.BATCH_BYTES, logscan.PENDING_MAX = batch, pending
    try:
        got = list(logscan.marked_lines_parallel(str(path), 2 * min(split, size)))
    finally:
        logscan.BATCH_BYTES, logscan.PENDING_MAX = old
    assert got == one_process(path)


def test_parallel_scan_of_a_file(tmp_path: Path) -> None:
    lines = [RECORD.format(1, 2, LEVELS[i % 4], f"message {i}") for i in range(5000)]
    path = tmp_path / "libvirtd.log"
    path.write_text("\n".join(lines) + "\n")
    assert list(logscan.marked_lines_parallel(str(path), path.stat().st_size)) == one_process(path)


# --- workers that cannot start, die, or are left behind ----------------------------------------------


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> list[list]:
    """The workers each parallel scan starts."""
    started: list[list] = []
    real = logscan._start_workers

    def spy(path: str, size: int) -> list:
        workers = real(path, size)
        started.append(workers)
        return workers

    monkeypatch.setattr(logscan, "_start_workers", spy)
    return started


def test_workers_that_cannot_start_fall_back_to_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fork refused (EAGAIN: a pid or process limit; the failure the old pool also had on a read-only
    /dev/shm): the same lines from this process, and the note says so."""
    path = tmp_path / "libvirtd.log"
    write_dense(path, 200_000)

    def refuse() -> int:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refuse)
    notes: list[str] = []
    assert list(logscan.marked_lines_parallel(str(path), path.stat().st_size, notes.append)) == one_process(path)
    assert notes == ["read in one process: worker processes could not start (Resource temporarily unavailable); "
                     "same findings"]


@pytest.mark.parametrize("which", [0, 1])
def test_a_worker_killed_mid_scan_loses_nothing(tmp_path: Path, spied: list[list], which: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The OOM killer takes a worker (SIGKILL) while lines are streaming: the scan goes on in this process
    from the line after the last one given, and the whole is still exactly the one-process scan."""
    path = tmp_path / "libvirtd.log"
    write_dense(path, 4_000_000)
    monkeypatch.setattr(logscan, "PENDING_MAX", 64 * 1024)  # both workers stay busy, waiting on their pipes
    notes: list[str] = []
    stream = logscan.marked_lines_parallel(str(path), path.stat().st_size, notes.append)
    got = [next(stream) for _ in range(10)]
    (process, _), = [spied[0][which]]
    assert process.is_alive()
    os.kill(process.pid, signal.SIGKILL)
    got.extend(stream)
    assert got == one_process(path)
    assert len(notes) == 1 and notes[0].startswith("read in one process from line ") and "same findings" in notes[0]


def test_workers_are_reaped_when_the_caller_stops_early(tmp_path: Path, spied: list[list]) -> None:
    path = tmp_path / "libvirtd.log"
    write_dense(path, 4_000_000)
    stream = logscan.marked_lines_parallel(str(path), path.stat().st_size)
    next(stream)
    pids = [process.pid for process, _ in spied[0]]
    stream.close()
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids), pids  # killed and reaped: not even zombies


# --- the parent killed mid-scan: no worker survives it -----------------------------------------------


@pytest.fixture(scope="module")
def huge_sparse_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A host whose libvirtd.log is 4 GiB (above logscan.SPLIT_ABOVE), a hole between real records: the two
    workers take seconds to read it, and it takes no disk space."""
    host = corpus.write_base(tmp_path_factory.mktemp("huge") / "host")
    corpus.write_sparse_log(host / "var/log/libvirt/libvirtd.log", 4 << 30)
    yield host


@TWO_CPUS
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_no_worker_outlives_a_killed_scan(huge_sparse_host: Path, how: signal.Signals) -> None:
    """`virtdiag scan` killed with SIGTERM or SIGKILL while both workers read: within a few seconds neither
    worker is running (before: both went on reading, and with a full result list hung forever)."""
    scan = subprocess.Popen([*CLI, "scan", "--root", str(huge_sparse_host), "--quiet"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline and scan.poll() is None:
            time.sleep(0.05)
            workers = children(scan.pid)
        assert len(workers) == 2, f"the scan never started its two workers (exit {scan.poll()})"
        time.sleep(0.5)
        assert all(alive(pid, started) for pid, started in workers.items()), "the workers finished too soon"
        scan.send_signal(how)
        scan.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(alive(pid, started) for pid, started in workers.items()) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [pid for pid, started in workers.items() if alive(pid, started)]
        assert not survivors, f"workers {survivors} outlived their parent"
    finally:
        if scan.poll() is None:
            scan.kill()
            scan.wait()
        for pid, started in workers.items():  # a failed run leaves nothing behind either
            if alive(pid, started):
                os.kill(pid, signal.SIGKILL)


# --- bounded memory, under a memory limit ------------------------------------------------------------

STREAM = """
import json, resource, sys
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from diagnose.host import logscan
count = last = 0
notes = []
for number, line in logscan.marked_lines_parallel(sys.argv[1], int(sys.argv[2]), notes.append):
    count, last = count + 1, number
# this process's own peak: VmHWM belongs to its memory since exec; ru_maxrss of RUSAGE_SELF survives execve
# and would report the peak of pytest, the process that started it
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"count": count, "last": last, "rss_kb": peak_kb,
                  "workers_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "notes": notes}))
"""
RSS_BOUND_MB = 256  # the stated bound for the whole virtdiag process, workers included


@TWO_CPUS
def test_a_log_full_of_errors_streams_in_bounded_memory(tmp_path: Path) -> None:
    """400 MB of nothing but error records (3.4 million of them) under a 1 GiB address-space limit: every line
    arrives, and the process and its two workers together stay under 256 MiB (before: 1.1 GB in the parent
    and 0.8 GB in each worker; under this limit, a broken pool and no report)."""
    path = tmp_path / "libvirtd.log"
    lines = write_dense(path, 400 * 1000 * 1000)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", STREAM, str(path), str(path.stat().st_size), str(1 << 30)],
                              capture_output=True, text=True, timeout=180, env=ENV, check=False)
    finally:
        size = path.stat().st_size
        path.unlink()  # 400 MB of disk: not left for pytest's kept temporary directories
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    total_mb = (result["rss_kb"] + 2 * result["workers_rss_kb"]) // 1024
    print(f"{size / 1e6:.0f} MB of errors: {time.monotonic() - started:.1f} s, parent peak RSS "
          f"{result['rss_kb'] // 1024} MiB, each worker at most {result['workers_rss_kb'] // 1024} MiB")
    assert (result["count"], result["last"]) == (lines, lines)
    assert result["notes"] == []  # the two workers did the reading: no fallback to one process
    assert total_mb < RSS_BOUND_MB, result


@pytest.fixture(scope="module")
def split_host(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A host whose 300 MiB libvirtd.log (two workers) starts and ends with 2 MB of error records around a
    hole; the last record names a bridge no other line names. Returns the host and that record's line."""
    host = corpus.write_base(tmp_path_factory.mktemp("split") / "host")
    log = host / "var/log/libvirt/libvirtd.log"
    block = dense_block()
    head = corpus.DAEMON_LOG.encode() + block * 4
    tail = block * 4 + b"2024-05-02 10:00:00.000+0000: 1201: error : virNetDevGetMTU:397 : Cannot get interface MTU " \
                       b"on 'brtail': No such device\n"
    with open(log, "wb") as out:
        out.write(head)
        out.seek(300 << 20)
        out.write(b"\n" + tail)
    return host, head.count(b"\n") + 1 + tail.count(b"\n")


def findings(stdout: str) -> list[tuple[str, dict, list]]:
    return [(f["id"], f["captures"], [(e["source"], e["line"]) for e in f["evidence"]])
            for f in json.loads(stdout)["findings"]]


@TWO_CPUS
def test_scan_of_a_big_error_log_under_a_memory_limit(split_host: tuple[Path, int]) -> None:
    """The installed command, under a 1 GiB address-space limit, on a libvirtd.log above SPLIT_ABOVE: a
    report, with the error at the very end at its exact line."""
    host, last_line = split_host

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    done = subprocess.run([*CLI, "scan", "--root", str(host), "--format", "json"], capture_output=True, text=True,
                          timeout=180, env=ENV, check=False, preexec_fn=limit)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert ("bridge-missing", {"bridge": "brtail"}, [("libvirtd-log", last_line)]) in findings(done.stdout)


# --- a read-only or missing /dev/shm -----------------------------------------------------------------

UNSHARE = shutil.which("unshare")
RO_SHM = 'mount -t tmpfs -o ro,size=1m tmpfs /dev/shm && exec "$@"'


@TWO_CPUS
@pytest.mark.skipif(os.geteuid() != 0 or UNSHARE is None, reason="needs root and unshare(1) for a mount namespace")
def test_read_only_dev_shm_gives_the_same_report(split_host: tuple[Path, int]) -> None:
    """In a mount namespace whose /dev/shm is a read-only tmpfs (where multiprocessing's locks, and so the
    old process pool, fail with EROFS), the scan of a libvirtd.log above SPLIT_ABOVE gives the very report
    it gives on a normal host: its workers use pipes, not shared memory."""
    host, _ = split_host
    probe = subprocess.run([UNSHARE, "-m", "sh", "-c", RO_SHM, "sh", sys.executable, "-c",
                            "import multiprocessing; multiprocessing.Lock()"], capture_output=True, text=True,
                           env=ENV, timeout=60, check=False)
    if "Operation not permitted" in probe.stderr and "mount" in probe.stderr:
        pytest.skip(f"no mount namespace here: {probe.stderr.strip()}")
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr, probe.stderr  # the hostile setting
    args = ["scan", "--root", str(host), "--format", "json"]
    normal = subprocess.run([*CLI, *args], capture_output=True, text=True, env=ENV, timeout=180, check=False)
    hostile = subprocess.run([UNSHARE, "-m", "sh", "-c", RO_SHM, "sh", *CLI, *args], capture_output=True, text=True,
                             env=ENV, timeout=180, check=False)
    assert hostile.returncode == normal.returncode == 1, hostile.stderr[-2000:]
    assert "Traceback" not in hostile.stderr
    assert json.loads(hostile.stdout) == json.loads(normal.stdout)
    assert any(f[1] == {"bridge": "brtail"} for f in findings(hostile.stdout))

