"""Packaging: the sdist carries what its tests read and they pass from it unpacked; the wheel carries the license,
the man page and `python -m virtdiag`; the lowest versions pyproject.toml declares for typer, rich and lxml
really work (a venv with exactly those runs the commands); without libvirt-python, live mode asks the daemon
through `virsh -r` and gets what libvirt-python gets.

The `packaging` tests build distributions and venvs from PyPI (a few minutes): they run under CI=true or with
VIRTDIAG_PACKAGING=1 (`-m packaging` selects only them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINE = "error: Cannot get interface MTU on 'br0': No such device"
HOST = "samples/hosts/b07-default-network-inactive"
LEFT_OUT = {".venv", ".git", "__pycache__", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build",
            "dist"}

packaging = pytest.mark.skipif(
    os.environ.get("CI") != "true" and os.environ.get("VIRTDIAG_PACKAGING") != "1",
    reason="builds distributions and venvs from PyPI (minutes): CI=true or VIRTDIAG_PACKAGING=1")


def _sources(destination: Path) -> Path:
    """A copy of the source tree as a checkout has it (git's files when this is a checkout; else every file but
    caches and venvs), so the build writes nothing into the working tree."""
    if (REPO / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                                capture_output=True).stdout.decode().split("\0")
        files = [REPO / name for name in listed if name and (REPO / name).is_file()]
    else:
        files = [p for p in REPO.rglob("*") if p.is_file() and not LEFT_OUT & set(p.relative_to(REPO).parts)
                 and not p.name.endswith(".egg-info")]
    for path in files:
        target = destination / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return destination


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The sdist, and the wheel built from it (`python -m build`)."""
    pytest.importorskip("build", reason="the build package (virtdiag's 'test' extra) builds the distributions")
    work = tmp_path_factory.mktemp("dist")
    source = _sources(work / "src")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(work / "out"), str(source)], check=True,
                   capture_output=True, timeout=900)
    [sdist] = (work / "out").glob("virtdiag-*.tar.gz")
    [wheel] = (work / "out").glob("virtdiag-*.whl")
    yield {"sdist": sdist, "wheel": wheel, "work": work}


@pytest.mark.packaging
@packaging
def test_the_sdist_carries_what_the_tests_read(dists):
    with tarfile.open(dists["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in ("LICENSE", "README.md", "pyproject.toml", "MANIFEST.in", "man/virtdiag.1", "scripts/gen_man.py",
                   "samples/pastes/bridge-missing-current.txt", f"{HOST}/expected.toml", "tests/conftest.py",
                   "tests/hostile/corpus.py", "knowledge/generated/catalog-cache.jsonl", "virtdiag/__main__.py"):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.startswith(".venv/")]


@pytest.mark.packaging
@packaging
def test_the_tests_pass_from_the_unpacked_sdist(dists):
    """The sdist's own tests, run in the unpacked sdist against its own code (not the installed one)."""
    unpacked = dists["work"] / "unpacked"
    with tarfile.open(dists["sdist"]) as sdist:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later; Debian 12 ships 3.11.2
            sdist.extractall(unpacked, filter="data")
        else:
            sdist.extractall(unpacked)  # our own freshly built sdist
    [top] = unpacked.iterdir()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    imported = subprocess.run([sys.executable, "-c", "import diagnose; print(diagnose.__file__)"], cwd=top, env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert Path(imported).is_relative_to(top), imported
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_samples.py",
                           "tests/test_cli.py", "tests/test_cli_habits.py::test_the_man_page_is_current",
                           "tests/test_prefilter.py::test_every_sample_host_scans_alike_through_stage_one"],
                          cwd=top, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.packaging
@packaging
def test_the_wheel_carries_license_man_page_and_module(dists):
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = set(wheel.namelist())
        metadata = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert any(n.endswith(".data/data/share/man/man1/virtdiag.1") for n in names)
    assert {"virtdiag/__main__.py", "diagnose/knowledge/generated/catalog-cache.jsonl"} <= names
    assert "License-Expression: GPL-2.0-or-later" in metadata
    license_text = (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "Version 2, June 1991" in license_text


def floors() -> dict[str, str]:
    """The lowest version pyproject.toml declares for each dependency: {"typer": "0.15.4", ...}."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    found = {}
    for requirement in declared:
        name, floor = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement.replace(" ", "")).groups()
        found[name.lower()] = floor
    return found


def _release(version: str) -> tuple[int, ...]:
    numbers = [int(part) for part in version.split(".")]
    return tuple(numbers + [0] * (4 - len(numbers)))


PROGRESS = """
import os, pty, sys, time
from diagnose import commands
path = sys.argv[1]
with open(path, "wb") as out:
    out.write(b"x\\n"); out.seek(commands.BAR_ABOVE + 50 * 2**20); out.write(b"\\n")
main, terminal = pty.openpty()
sys.stderr = os.fdopen(terminal, "w", buffering=1)
os.environ["COLUMNS"] = "150"
with commands.progress("virtdiag: t", False) as say, open(path, "rb") as handle:
    say("reading x")
    handle.seek(commands.BAR_ABOVE // 2)
    time.sleep(1.0)
sys.stderr.flush()
os.set_blocking(main, False)
shown = b""
while True:
    try:
        chunk = os.read(main, 65536)
    except OSError:
        break
    if not chunk:
        break
    shown += chunk
print("32.0/114.0 MiB" in shown.decode(errors="replace"))
"""


@pytest.mark.packaging
@packaging
def test_the_lowest_declared_versions_work(dists, tmp_path):
    """A venv with exactly the declared floors of typer, rich and lxml (their own dependencies as pip resolves
    them) runs explain, scan, list, show, --help, completion and the progress bar."""
    wanted = floors()
    assert set(wanted) == {"typer", "rich", "lxml"}, wanted
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pins = [f"{name}=={version}" for name, version in wanted.items()]
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins], check=True,
                   timeout=900)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    str(dists["wheel"])], check=True, timeout=300)
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format", "freeze"], capture_output=True, text=True,
                            check=True).stdout.lower().splitlines()
    installed = dict(line.split("==") for line in listed if "==" in line)
    for name, version in wanted.items():  # 12.3 is 12.3.0
        assert _release(installed[name]) == _release(version), (name, installed[name])
    virtdiag = str(venv / "bin" / "virtdiag")
    env = {**os.environ, "COLUMNS": "120", "LC_ALL": "C.UTF-8"}

    def ok(*args: str, codes: tuple[int, ...] = (0,), extra: dict[str, str] | None = None) -> str:
        done = subprocess.run([virtdiag, *args], capture_output=True, text=True, cwd=REPO, env={**env, **(extra or {})},
                              timeout=300)
        assert done.returncode in codes and "Traceback" not in done.stderr, (args, done.returncode, done.stderr)
        return done.stdout

    assert '"bridge-missing"' in ok("explain", "--format", "json", LINE)
    assert "bridge-missing" in ok("explain", LINE)
    assert "network-not-started" in ok("scan", "--root", HOST, codes=(1,))
    assert "network-not-started" in ok("scan", HOST, "--format", "json", codes=(1,))
    assert "bridge-missing" in ok("list")
    assert "B.11" in ok("show", "bridge-missing")
    for args in (["--help"], ["-h"], ["scan", "--help"], ["explain", "--help"], ["show", "--help"]):
        assert "Usage:" in ok(*args)
    assert ok("--version") == ok("-V") != ""
    completion = {"_VIRTDIAG_COMPLETE": "complete_bash", "COMP_WORDS": "virtdiag show bridge-m", "COMP_CWORD": "2"}
    assert "bridge-missing" in ok(extra=completion)
    shown = subprocess.run([str(python), "-c", PROGRESS, str(tmp_path / "big.log")], capture_output=True, text=True,
                           timeout=120)
    assert shown.stdout.strip() == "True", shown.stderr
    module = subprocess.run([str(python), "-m", "virtdiag", "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert module.stdout.startswith("virtdiag ")


# --- live mode without libvirt-python: virsh -r --------------------------------------------------------------

HAVE_VIRSH = shutil.which("virsh") is not None
try:
    import libvirt  # noqa: F401
    HAVE_LIBVIRT = True
except ImportError:
    HAVE_LIBVIRT = False
needs_both = pytest.mark.skipif(not (HAVE_VIRSH and HAVE_LIBVIRT) and os.environ.get("CI") != "true",
                                reason="needs virsh and libvirt-python (scripts/dev.sh installs both)")


@needs_both
def test_virsh_gets_what_libvirt_python_gets():
    """libvirt's test driver (test:///default, no daemon): the same LiveState both ways (node devices aside: the
    test driver refuses the flag virsh lists them with)."""
    from dataclasses import fields

    from diagnose.host import live, virsh_cli

    by_python = live.gather("test:///default")
    by_virsh = virsh_cli.gather("test:///default")
    for field in fields(by_python):
        if field.name not in ("nodedevs", "errors"):
            assert getattr(by_virsh, field.name) == getattr(by_python, field.name), field.name
    assert by_virsh.domains and by_virsh.networks and by_virsh.pools and by_virsh.capabilities
    wanted = [("/usr/bin/qemu-system-x86_64", "x86_64", "pc", "kvm")]
    assert virsh_cli.domcapabilities("test:///default", wanted) == live.domcapabilities("test:///default", wanted)


@pytest.mark.skipif(not HAVE_VIRSH and os.environ.get("CI") != "true", reason="needs virsh (libvirt-clients)")
def test_virsh_unreachable_daemon_is_one_reason():
    from diagnose.host import live, virsh_cli

    with pytest.raises(live.LiveUnavailable, match=r"^Failed to connect socket to '/nonexistent/sock'"):
        virsh_cli.gather("qemu:///system?socket=/nonexistent/sock", timeout=20)


VIRSH_OUTPUT = {  # what `virsh -r` prints on a qemu host, command by command
    "version": "Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\n"
               "Running hypervisor: QEMU 7.2.0\n",
    "hostname": "kvm1\n",
    "capabilities": "<capabilities>\n  <host/>\n</capabilities>\n",
    "list --all --name": "web01\nit's odd\ndb01\n",
    "net-list --all --name": "default\n",
    "pool-list --all --name": "images\n",
    "nodedev-list": "computer\n",
    "dominfo web01": "Id:             3\nName:           web01\nState:          running\nPersistent:     yes\n"
                     "Autostart:      enable\n",
    "dominfo 'it'\"'\"'s odd'": "Id:             -\nName:           it's odd\nState:          shut off\n"
                                "Persistent:     yes\nAutostart:      disable\n",
    "dominfo db01": "Id:             -\nName:           db01\nState:          idle\nPersistent:     no\n"
                    "Autostart:      disable\n",
    "net-info default": "Name:           default\nActive:         no\nPersistent:     yes\nAutostart:      yes\n"
                        "Bridge:         virbr0\n",
    "pool-info images": "Name:           images\nState:          running\nPersistent:     yes\nAutostart:      no\n",
}


def test_virsh_output_becomes_a_live_state(monkeypatch):
    """Without virsh on this machine too: the batched run's outputs, split at the markers, parsed (a domain
    name with a space and a quote; a domain whose XML virsh cannot give)."""
    from diagnose.host import virsh_cli

    def fake_run(argv, env, timeout):
        parts = argv[-1].split(f"echo {virsh_cli.MARK} ; echo --err {virsh_cli.MARK} ; ")[1:]
        outs, errs = [], []
        for command in (part.removesuffix(" ; ") for part in parts):
            out, err = VIRSH_OUTPUT.get(command, ""), ""
            if command == "dumpxml db01":
                err = "error: failed to get domain 'db01'\nerror: Domain not found: no domain with name 'db01'\n"
            elif "dumpxml" in command:
                out = f"<doc>{command}</doc>\n"
            outs.append(f"{virsh_cli.MARK}\n\n{out}\n")
            errs.append(f"error: {virsh_cli.MARK}\n{err}")
        return subprocess.CompletedProcess(argv, 0, "".join(outs), "".join(errs))

    monkeypatch.setattr(virsh_cli.shutil, "which", lambda _name: "/usr/bin/virsh")
    monkeypatch.setattr(virsh_cli, "_run_virsh", fake_run)
    state = virsh_cli.gather("qemu:///system")
    assert (state.libvirt_version, state.hypervisor, state.hostname) == ("9.0.0", "QEMU 7.2.0", "kvm1")
    assert state.capabilities == VIRSH_OUTPUT["capabilities"]
    web, odd, db = state.domains
    assert (web.name, web.state, web.active, web.persistent, web.autostart) == ("web01", "running", True, True, True)
    assert (web.inactive_xml, web.live_xml) == ("<doc>dumpxml --inactive web01</doc>\n", "<doc>dumpxml web01</doc>\n")
    assert (odd.name, odd.state, odd.active, odd.persistent, odd.autostart, odd.live_xml) == (
        "it's odd", "shut off", False, True, False, "")
    assert (db.state, db.active, db.persistent) == ("blocked", False, False)
    [net] = state.networks
    assert (net.name, net.active, net.autostart, net.bridge, net.xml) == (
        "default", False, True, "virbr0", "<doc>net-dumpxml default</doc>\n")
    assert [(name, active, autostart) for name, active, autostart, _ in state.pools] == [("images", True, False)]
    assert [name for name, _ in state.nodedevs] == ["computer"]
    assert state.errors == [("domain db01", "Domain not found: no domain with name 'db01'")]


@needs_both
def test_scan_asks_through_virsh_without_libvirt_python(monkeypatch):
    from diagnose import engine
    from diagnose.host import live

    def no_python(*_args, **_kwargs):
        raise AssertionError("libvirt-python was used")

    monkeypatch.setenv("VIRTDIAG_LIVE", "virsh")
    monkeypatch.setattr(live, "gather", no_python)
    report = engine.scan(str(REPO / HOST), connect="test:///default")
    assert report.target["libvirt_version"] and report.target["hypervisor"].startswith("TEST")
