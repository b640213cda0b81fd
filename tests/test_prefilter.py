"""Stage one over whole blocks (hyperscan when it imports, the stdlib otherwise) gives exactly what reading
every line would: the same daemon-log records, the same candidate lines, the same findings."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnose import engine
from diagnose.host import logs, logscan
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

CATALOG, MATCHER = engine.loaded()
LITERALS = MATCHER.literals("journal")
EXAMPLE_LINES = sorted({line for sig in CATALOG.signatures for ex in sig.examples
                        for line in ex.text.splitlines() if line.strip()})
NOISE = ["2024-05-02 08:00:01 kvm1 systemd[1]: Started Session 4 of user root.",
         "Nov 26 10:00:01 kvm1 NetworkManager[812]: <info>  device (vnet3): state change: unmanaged -> unavailable",
         "", "   ", "ＶＭ の起動に失敗しました", "Straße \u212a Kelvin", "x" * 70_000, "line with CR\r"]


def _database():
    database = logscan.literal_database(LITERALS)
    assert database is not None, "hyperscan is installed but the literal database did not compile"
    return database


def _every_line(text: bytes) -> list[tuple[int, bytes]]:
    return [(n, logscan._cut(raw).rstrip(b"\r")) for n, raw in enumerate(text.split(b"\n"), start=1)
            if raw.strip()]


def _findings(numbered: list[tuple[int, bytes]]) -> list[tuple[str, tuple, tuple]]:
    lines = [Line("journal", n, raw.decode("utf-8", errors="replace"), "/var/log/messages") for n, raw in numbered]
    return sorted((h.signature_id, h.captures, tuple((e.line, e.text) for e in h.evidence))
                  for h in match_lines(MATCHER, lines))


log_texts = st.lists(st.sampled_from(EXAMPLE_LINES + NOISE), max_size=60)


@needs_hyperscan
@settings(max_examples=150, deadline=None)
@given(log_texts, st.integers(min_value=64, max_value=5000))
def test_literal_lines_find_what_every_line_finds(lines, block):
    text = "\n".join(lines).encode()
    old = logscan.BLOCK
    logscan.BLOCK = block
    try:
        candidates = list(logscan.literal_lines(io.BytesIO(text), _database()))
    finally:
        logscan.BLOCK = old
    every = _every_line(text)
    assert set(candidates) <= set(every)  # exact numbers and text, only lines of the file
    assert _findings(candidates) == _findings(every)


@needs_hyperscan
def test_literal_lines_skip_plain_noise():
    text = ("\n".join(NOISE[:2] * 500) + "\nerror: Cannot get interface MTU on 'br0': No such device\n").encode()
    assert list(logscan.literal_lines(io.BytesIO(text), _database())) == [
        (1001, b"error: Cannot get interface MTU on 'br0': No such device")]


@needs_hyperscan
def test_markers_found_alike_with_and_without_hyperscan(monkeypatch):
    lines = [f"2024-05-02 08:00:01.{i:03d}+0000: 77: {level} : fn:1 : message {i}"
             for i, level in enumerate(["debug", "info", "warning", "error"] * 300)]
    lines[7] += "\ncontinuation of an error record"
    text = "\n".join(lines).encode()
    with_hs = list(logscan.marked_lines(io.BytesIO(text)))
    monkeypatch.setenv("VIRTDIAG_PREFILTER", "stdlib")
    logscan._hyperscan.cache_clear()
    try:
        assert logscan._hyperscan(logscan.MARKERS) is None
        assert list(logscan.marked_lines(io.BytesIO(text))) == with_hs
    finally:
        logscan._hyperscan.cache_clear()
    assert len(with_hs) == 601


def test_stdlib_forced_means_no_database(monkeypatch):
    monkeypatch.setenv("VIRTDIAG_PREFILTER", "stdlib")
    assert logscan.literal_database(LITERALS) is None


@needs_hyperscan
def test_every_sample_host_scans_alike_through_stage_one(monkeypatch):
    """With every plain log sent through hyperscan's first stage, each sample host gives the same findings,
    evidence lines and fixes as when every line is read."""
    from pathlib import Path

    hosts = Path(__file__).resolve().parent.parent / "samples" / "hosts"
    roots = [next((p for p in case.iterdir() if p.is_dir() and p.name.startswith("sosreport-")), case)
             for case in sorted(p.parent for p in hosts.glob("*/expected.toml"))]

    def summary(root: Path) -> list:
        return [(f.id, f.captures, [(e.path, e.line, e.text) for e in f.evidence], [x.fix_id for x in f.fixes])
                for f in engine.scan(str(root)).findings]

    monkeypatch.setattr(logs, "PREFILTER_ABOVE", -1)
    staged = {root.name: summary(root) for root in roots}
    assert engine._stage_one("qemu-guest-log") is not None
    monkeypatch.setattr(logs, "PREFILTER_ABOVE", 1 << 62)
    assert {root.name: summary(root) for root in roots} == staged


def test_a_slow_scan_says_how_to_make_it_fast(monkeypatch, tmp_path):
    """Big plain logs read without hyperscan: the command line says, on stderr, how to read them faster."""
    from typer.testing import CliRunner

    from diagnose.cli import app

    log = tmp_path / "host/var/log/messages"
    log.parent.mkdir(parents=True)
    log.write_text("May  2 08:00:00 kvm1 systemd[1]: Started Session 4 of user root.\n" * 2000)
    monkeypatch.setattr(logs, "SLOW_NOTE_ABOVE", 1000)
    monkeypatch.setenv("VIRTDIAG_PREFILTER", "stdlib")
    engine._stage_one.cache_clear()
    try:
        slow = CliRunner().invoke(app, ["scan", "--root", str(tmp_path / "host")])
    finally:
        engine._stage_one.cache_clear()
    assert "virtdiag: hint: " in slow.stderr and "hyperscan" in slow.stderr and "hint" not in slow.stdout
    if HAVE_HYPERSCAN:
        monkeypatch.delenv("VIRTDIAG_PREFILTER")
        fast = CliRunner().invoke(app, ["scan", "--root", str(tmp_path / "host")])
        assert "hint" not in fast.stderr
