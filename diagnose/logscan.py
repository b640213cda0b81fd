"""Collect stage for big daemon logs: find the error and warning records of a libvirtd.log at C speed
in large blocks, and hand only those lines (with exact line numbers) to the matcher.

libvirt writes every log record as `<time>: <pid>: <level> : <function>:<line> : <message>`; a
diagnosis only needs the `error` and `warning` records and their continuation lines (a message that
spans lines, like dnsmasq's output after "unexpected exit status 2:"). Debug noise, which is most of
a debug log, is skipped without being decoded or split.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

MARKERS = (b": error : ", b": warning : ")
BLOCK = 8 * 1024 * 1024
MAX_LINE = 64 * 1024
CUT_MARK = b" [... line cut by virtdiag]"
RECORD_START = re.compile(rb"(?:\d{4}-\d\d-\d\d[ T])?\d\d:\d\d:\d\d\.\d+(?:[+-]\d{4}|Z)?: \d+: ")


def is_daemon_log(head: bytes) -> bool:
    """Most of the first lines are libvirt log records (current or RHEL 6 format)."""
    lines = [line for line in head.split(b"\n")[:50] if line.strip()]
    if not lines:
        return False
    return sum(1 for line in lines if RECORD_START.match(line)) >= 0.6 * len(lines)


def _cut(line: bytes) -> bytes:
    return line[:MAX_LINE] + CUT_MARK if len(line) > MAX_LINE else line


def marked_lines(handle: BinaryIO, markers: tuple[bytes, ...] = MARKERS) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for each record holding a marker, and its continuation lines."""
    base = 0  # lines before the current block
    carry = b""
    in_record = False  # the previous block ended inside a marked record
    while True:
        data = handle.read(BLOCK)
        if not data:
            if carry:
                found, _ = _scan_block(carry + b"\n", base, markers, in_record)
                yield from found
            return
        block = carry + data
        end = block.rfind(b"\n")
        if end < 0:  # no newline yet: keep the start of an overlong line, drop the rest
            carry = block[: 2 * MAX_LINE]
            continue
        carry = block[end + 1 :]
        block = block[: end + 1]
        found, in_record = _scan_block(block, base, markers, in_record)
        yield from found
        base += block.count(b"\n")


def _scan_block(block: bytes, base: int, markers: tuple[bytes, ...], in_record: bool
                ) -> tuple[list[tuple[int, bytes]], bool]:
    """The marked records of a block of whole lines; and whether the last one may go on in the next block."""
    starts: set[int] = set()
    for marker in markers:
        pos = block.find(marker)
        while pos >= 0:
            starts.add(block.rfind(b"\n", 0, pos) + 1)
            pos = block.find(marker, block.find(b"\n", pos))
    found: list[tuple[int, bytes]] = []
    cursor = [0, base]  # an offset and the number of lines before it

    def number_at(offset: int) -> int:
        cursor[1] += block.count(b"\n", cursor[0], offset)
        cursor[0] = offset
        return cursor[1] + 1

    def emit_record(offset: int, first_is_continuation: bool) -> int:
        first = not first_is_continuation
        while offset < len(block):
            end = block.find(b"\n", offset)
            line = block[offset:end]
            if not first and RECORD_START.match(line):
                break
            found.append((number_at(offset), _cut(line).rstrip(b"\r")))
            first = False
            offset = end + 1
        return offset

    done = emit_record(0, True) if in_record else 0
    for start in sorted(starts):
        if start >= done:
            done = emit_record(start, False)
    return found, bool(found) and done >= len(block)
