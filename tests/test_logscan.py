"""The block scanner of daemon logs gives exactly what a line-by-line reading would, for any block size."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from diagnose.host import logscan

RECORD = "2024-05-02 08:00:{:02d}.{:03d}+0000: 77: {} : fn:1 : {}"
LEVELS = ["debug", "info", "warning", "error"]


def naive(lines: list[str]) -> list[tuple[int, bytes]]:
    """Line by line: a record with a marker, and the lines after it that start no record."""
    out = []
    inside = False
    for number, line in enumerate(lines, start=1):
        raw = line.encode()
        if logscan.RECORD_START.match(raw):
            inside = any(m in raw for m in logscan.MARKERS)
        if inside:
            out.append((number, raw))
    return out


records = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(LEVELS), st.text("abc :-'", max_size=30)).map(
            lambda t: RECORD.format(1, 2, t[0], t[1])),
        st.text("dnsmasq: failed xyz", min_size=1, max_size=40).filter(
            lambda s: not logscan.RECORD_START.match(s.encode())),
    ),
    min_size=0, max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(records, st.integers(min_value=8, max_value=400))
def test_block_scan_equals_line_scan(lines, block):
    text = "\n".join(lines).encode()
    old = logscan.BLOCK
    logscan.BLOCK = block
    try:
        got = list(logscan.marked_lines(io.BytesIO(text)))
    finally:
        logscan.BLOCK = old
    assert got == naive(lines)


def test_overlong_line_is_cut():
    line = b"2024-05-02 08:00:00.000+0000: 1: error : f:1 : " + b"x" * (logscan.MAX_LINE * 3)
    [(number, text)] = list(logscan.marked_lines(io.BytesIO(line + b"\n")))
    assert number == 1 and text.endswith(logscan.CUT_MARK) and len(text) < logscan.MAX_LINE + 100


def test_recognises_daemon_logs():
    current = b"2024-05-02 08:14:11.532+0000: 2211: error : virNetDevGetMTU:397 : Cannot get interface MTU\n" * 3
    rhel6 = b"10:22:33.123: 1234: error : qemuProcessStart:3000 : internal error\n" * 3
    assert logscan.is_daemon_log(current) and logscan.is_daemon_log(rhel6)
    assert not logscan.is_daemon_log(b"May  2 08:14:11 kvm1 libvirtd: error\n" * 3)


@settings(max_examples=200, deadline=None)
@given(records, st.integers(min_value=0, max_value=2000), st.integers(min_value=8, max_value=300))
def test_two_ranges_give_the_whole(lines, split, block):
    text = "\n".join(lines).encode()
    middle = min(split, len(text))
    old = logscan.BLOCK
    logscan.BLOCK = block
    try:
        whole = list(logscan.marked_lines(io.BytesIO(text)))
        state_a: dict[str, int] = {}
        state_b: dict[str, int] = {}
        first = list(logscan.marked_lines(io.BytesIO(text), logscan.MARKERS, 0, middle, state_a))
        second = list(logscan.marked_lines(io.BytesIO(text), logscan.MARKERS, middle, None, state_b, True))
    finally:
        logscan.BLOCK = old
    if not state_a["in_record"]:
        second = second[state_b["leading"]:]
    assert first + [(n + state_a["lines"], line) for n, line in second] == whole


def test_parallel_scan_of_a_file(tmp_path):
    lines = [RECORD.format(1, 2, LEVELS[i % 4], f"message {i}") for i in range(5000)]
    path = tmp_path / "libvirtd.log"
    path.write_text("\n".join(lines) + "\n")
    assert list(logscan.marked_lines_parallel(str(path), path.stat().st_size)) == naive(lines)
