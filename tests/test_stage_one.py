"""The grep first stage (host/stageone.py) against hyperscan's: the same candidate lines or a few more, and
exactly the same findings; the hint about a slow read comes before it; the progress bar follows the file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnose import commands, engine
from diagnose.host import logs, logscan, stageone
from diagnose.match import match_lines
from diagnose.model import Line

try:
    import hyperscan  # noqa: F401
    HAVE_HYPERSCAN = True
except ImportError:
    HAVE_HYPERSCAN = False

needs_hyperscan = pytest.mark.skipif(
    not HAVE_HYPERSCAN and os.environ.get("CI") != "true",
    reason="the optional hyperscan package is not installed (pip install '.[fast]'); under CI it must be")
needs_grep = pytest.mark.skipif(not stageone.grep_works(), reason="no GNU-compatible grep on this machine")

CATALOG, MATCHER = engine.loaded()
LITERALS = MATCHER.literals("journal")
EXAMPLE_LINES = sorted({line for sig in CATALOG.signatures for ex in sig.examples
                        for line in ex.text.splitlines() if line.strip()})
NOISE = ["2024-05-02 08:00:01 kvm1 systemd[1]: Started Session 4 of user root.",
         "Nov 26 10:00:01 kvm1 dnsmasq-dhcp[1422]: DHCPACK(virbr0) 192.168.122.7 52:54:00:12:34:07 guest7",
         "", "   ", "ＶＭ の起動に失敗しました", "Straße \u212a Kelvin", "x" * 70_000, "line with CR\r",
         "CANNOT GET INTERFACE MTU ON 'BR0': NO SUCH DEVICE", "tab\there", "NUL \x00 byte",
         "\u00e9t\u00e9 \u00e0 Paris"]
VIRTDIAG = Path(sys.executable).parent / "virtdiag"
CLI = [str(VIRTDIAG)] if VIRTDIAG.exists() else [sys.executable, "-m", "diagnose"]


def _grep() -> stageone.GrepStage:
    stage = stageone.database(LITERALS) if os.environ.get("VIRTDIAG_PREFILTER") == "grep" else None
    return stage if isinstance(stage, stageone.GrepStage) else stageone.GrepStage(
        tuple(sorted({text.encode() for text, _ in LITERALS if text and text.isascii()})))


def _findings(numbered: list[tuple[int, bytes]]) -> list[tuple[str, tuple, tuple]]:
    lines = [Line("journal", n, raw.decode("utf-8", errors="replace"), "/var/log/messages") for n, raw in numbered]
    return sorted((h.signature_id, h.captures, tuple((e.line, e.text) for e in h.evidence))
                  for h in match_lines(MATCHER, lines))


def _every_line(text: bytes) -> list[tuple[int, bytes]]:
    return [(n, logscan._cut(raw).rstrip(b"\r")) for n, raw in enumerate(text.split(b"\n"), start=1)
            if raw.strip()]


@needs_grep
@needs_hyperscan
@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(EXAMPLE_LINES + NOISE), max_size=60), st.integers(min_value=64, max_value=5000),
       st.booleans())
def test_grep_finds_what_hyperscan_finds(lines, block, final_newline):
    text = "\n".join(lines).encode() + (b"\n" if final_newline else b"")
    old = logscan.BLOCK
    logscan.BLOCK = block
    try:
        by_hyperscan = list(logscan.literal_lines(io.BytesIO(text), logscan.literal_database(LITERALS)))
        by_grep = list(stageone.grep_lines(io.BytesIO(text), _grep()))
    finally:
        logscan.BLOCK = old
    assert by_grep == sorted(set(by_grep)), "in order, each line once"
    assert set(by_hyperscan) <= set(by_grep) <= set(_every_line(text))  # exact numbers and text
    assert _findings(by_grep) == _findings(by_hyperscan) == _findings(_every_line(text))


@needs_grep
def test_grep_stage_on_a_big_block_of_noise_keeps_only_candidates():
    noise = "\n".join(NOISE[:1] * 3000).encode()
    text = noise + b"\nerror: Cannot get interface MTU on 'br0': No such device\n" + noise + "\nnaïve\n".encode()
    assert list(stageone.grep_lines(io.BytesIO(text), _grep())) == [
        (3001, b"error: Cannot get interface MTU on 'br0': No such device"), (6002, "naïve".encode())]


@needs_grep
def test_an_overlong_line_is_cut_as_hyperscan_cuts_it():
    """A 3 MB line (more than a block): grep sees logscan's blocks, so memory stays flat and the text is the same."""
    text = b"first\n" + b"Cannot get interface MTU on 'br0': No such device " + b"y" * 3_000_000 + b"\nlast\n"
    [(number, line)] = stageone.grep_lines(io.BytesIO(text), _grep())
    assert number == 2 and line.endswith(logscan.CUT_MARK) and len(line) == logscan.MAX_LINE + len(logscan.CUT_MARK)


@needs_grep
def test_the_reader_stopping_early_leaves_no_grep_behind():
    text = b"Cannot get interface MTU on 'br0': No such device\n" * 200_000
    lines = stageone.grep_lines(io.BytesIO(text), _grep())
    assert next(lines)[0] == 1
    lines.close()  # kills grep, joins the writer thread
    assert not [p for p in Path("/proc/self/task").iterdir() if (p / "children").read_text().split()]


def test_selection_follows_virtdiag_prefilter(monkeypatch):
    monkeypatch.setenv("VIRTDIAG_PREFILTER", "stdlib")
    assert stageone.database(LITERALS) is None and not stageone.fast()
    monkeypatch.setenv("VIRTDIAG_PREFILTER", "grep")
    assert isinstance(stageone.database(LITERALS), stageone.GrepStage) == stageone.grep_works()
    monkeypatch.delenv("VIRTDIAG_PREFILTER")
    chosen = stageone.database(LITERALS)
    if HAVE_HYPERSCAN:
        assert chosen is not None and not isinstance(chosen, stageone.GrepStage)


@needs_grep
def test_every_sample_host_scans_alike_through_grep(monkeypatch):
    """Every sample host through the grep stage gives the findings, evidence lines and fixes that reading every
    line gives. engine._stage_one is rebuilt here with stageone.database, as the engine's hook does."""
    from functools import cache

    from diagnose import checks

    hosts = Path(__file__).resolve().parent.parent / "samples" / "hosts"
    roots = [next((p for p in case.iterdir() if p.is_dir() and p.name.startswith("sosreport-")), case)
             for case in sorted(p.parent for p in hosts.glob("*/expected.toml"))]

    def summary(root: Path) -> list:
        return [(f.id, f.captures, [(e.path, e.line, e.text) for e in f.evidence], [x.fix_id for x in f.fixes])
                for f in engine.scan(str(root)).findings]

    @cache
    def stage_one(source: str) -> object:
        return stageone.database(MATCHER.literals(source) + logs.tap_literals(checks.taps(), source))

    monkeypatch.setenv("VIRTDIAG_PREFILTER", "grep")
    monkeypatch.setattr(engine, "_stage_one", stage_one)
    monkeypatch.setattr(logs, "PREFILTER_ABOVE", -1)
    staged = {root.name: summary(root) for root in roots}
    assert isinstance(stage_one("qemu-guest-log"), stageone.GrepStage)
    monkeypatch.setattr(logs, "PREFILTER_ABOVE", 1 << 62)
    assert {root.name: summary(root) for root in roots} == staged


def test_the_engine_uses_the_grep_stage(monkeypatch):
    monkeypatch.setenv("VIRTDIAG_PREFILTER", "grep")
    engine._stage_one.cache_clear()
    try:
        assert isinstance(engine._stage_one("journal"), stageone.GrepStage) == stageone.grep_works()
    finally:
        engine._stage_one.cache_clear()


def _sparse_log(path: Path, size: int) -> Path:
    """A plain log over `size` bytes that takes no disk: a text head, a hole, a text tail."""
    with open(path, "wb") as out:
        out.write(b"May  2 08:00:00 kvm1 systemd[1]: Started Session 4 of user root.\n" * 100)
        out.seek(size)
        out.write(b"\nMay  2 08:00:01 kvm1 libvirtd[1201]: error : Cannot get interface MTU on 'br9': No such device\n")
    return path


def _first_stderr_line(args: list[str], env: dict[str, str], wait: float = 60) -> tuple[str, bool]:
    """The first line the command prints on stderr, and whether it was still running then (then it is killed)."""
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, **env}, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        still_running = process.poll() is None
    finally:
        process.kill()
        process.wait(wait)
    return line, still_running


def test_the_slow_read_hint_comes_before_the_read(tmp_path):
    """Without a first stage, the hyperscan hint is the first thing on stderr, while the big read is still to
    come (explain --file, and scan of a tree whose system log is big)."""
    log = _sparse_log(tmp_path / "messages", 1024 * 1024 * 1024)
    env = {"VIRTDIAG_PREFILTER": "stdlib"}
    line, running = _first_stderr_line(["explain", "--file", str(log)], env)
    assert line.startswith("virtdiag: hint: ") and "hyperscan" in line and running, line
    tree = tmp_path / "host/var/log"
    tree.mkdir(parents=True)
    os.link(log, tree / "messages")
    line, running = _first_stderr_line(["scan", str(tmp_path / "host")], env)
    assert line.startswith("virtdiag: hint: ") and "hyperscan" in line and running, line


def test_no_hint_when_a_first_stage_reads_it(tmp_path):
    if not stageone.fast():
        pytest.skip("neither hyperscan nor grep here")
    log = _sparse_log(tmp_path / "messages", 100 * 1024 * 1024)
    assert stageone.slow_hint_for(str(log), logs.SLOW_NOTE_ABOVE) == ""


def test_the_progress_bar_follows_the_file_being_read(tmp_path, monkeypatch):
    """On a terminal, a file over BAR_ABOVE being read shows a bar with its bytes, rate and time left."""
    import pty

    log = _sparse_log(tmp_path / "messages", commands.BAR_ABOVE + 50 * 1024 * 1024)
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w", buffering=1)
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", "150")
    monkeypatch.setenv("TERM", "xterm")
    with commands.progress("virtdiag: test", False) as say, open(log, "rb") as handle:
        say("reading messages")
        handle.seek(commands.BAR_ABOVE // 2)
        time.sleep(1.2)
    terminal.flush()
    os.set_blocking(master, False)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        shown += chunk
    terminal.close()
    os.close(master)
    text = shown.decode(errors="replace")
    assert "virtdiag: test: reading messages" in text
    assert "messages" in text and "/114.0 MiB" in text and "32.0/" in text, text[-500:]


def test_no_progress_on_a_pipe(tmp_path):
    """stderr not a terminal: no bar, no spinner, no escape codes (only hints would show)."""
    log = _sparse_log(tmp_path / "messages", commands.BAR_ABOVE + 1024 * 1024)
    done = subprocess.run([*CLI, "explain", "--format", "json", "--file", str(log)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stderr and "MiB" not in done.stderr
