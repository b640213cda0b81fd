"""Collect stage for big daemon logs: find the error and warning records of a libvirtd.log at C speed
in large blocks, and hand only those lines (with exact line numbers) to the matcher.

libvirt writes every log record as `<time>: <pid>: <level> : <function>:<line> : <message>`; a
diagnosis only needs the `error` and `warning` records and their continuation lines (a message that
spans lines, like dnsmasq's output after "unexpected exit status 2:"). Debug noise, which is most of
a debug log, is skipped without being decoded or split. A large file can be split in two byte ranges
scanned by two processes that stream their lines back through pipes; line numbers stay exact.
"""

from __future__ import annotations

import contextlib
import gc
import io
import multiprocessing
import os
import pickle
import re
from collections import deque
from collections.abc import Callable, Iterator
from functools import cache
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from diagnose.host.base import die_with_parent

MARKERS = (b": error : ", b": warning : ")
BLOCK = 2 * 1024 * 1024
MAX_LINE = 64 * 1024
CUT_MARK = b" [... line cut by virtdiag]"
RECORD_START = re.compile(rb"(?:\d{4}-\d\d-\d\d[ T])?\d\d:\d\d:\d\d\.\d+(?:[+-]\d{4}|Z)?: \d+: ")
SPLIT_ABOVE = 256 * 1024 * 1024  # files larger than this are scanned by two processes


def is_daemon_log(head: bytes) -> bool:
    """Most of the first lines are libvirt log records (current or RHEL 6 format)."""
    lines = [line for line in head.split(b"\n")[:50] if line.strip()]
    if not lines:
        return False
    return sum(1 for line in lines if RECORD_START.match(line)) >= 0.6 * len(lines)


def _cut(line: bytes) -> bytes:
    return line[:MAX_LINE] + CUT_MARK if len(line) > MAX_LINE else line


def _skip_rest_of_line(handle: io.BufferedIOBase) -> None:
    """Read past the end of the current line in bounded pieces (a hole of gigabytes is one "line")."""
    while True:
        piece = handle.readline(BLOCK)
        if not piece or piece.endswith(b"\n"):
            return


def _blocks(handle: io.BufferedIOBase, start: int, stop: int | None) -> Iterator[tuple[bytearray, int]]:
    """(block, size): block[:size] is whole lines; together they hold every line that begins in
    [start, stop) (all lines from `start` when stop is None). The block is one buffer, reused: it is
    only valid until the next one is asked for (fresh memory for every block would cost a page fault
    per 4 KiB read, more than the read itself)."""
    if start:
        handle.seek(start - 1)
        if handle.read(1) != b"\n":  # that line began before `start`: it belongs to the range before
            _skip_rest_of_line(handle)
    else:
        handle.seek(0)
    position = handle.tell()
    buffer = bytearray(BLOCK + 2 * MAX_LINE)
    view = memoryview(buffer)
    kept = 0  # bytes at the front of the buffer carried over from the last block (a line not ended yet)
    while stop is None or position < stop:
        want = BLOCK if stop is None else min(BLOCK, stop - position)
        got = handle.readinto(view[kept:kept + want])
        if not got:
            break
        position += got
        filled = kept + got
        if stop is not None and position >= stop and buffer[filled - 1] != 10:
            tail = handle.readline(4 * MAX_LINE)  # the last line began in range: read it to its end
            if not tail.endswith(b"\n"):  # ... and skip what is left of an overlong one
                _skip_rest_of_line(handle)
            block = bytearray(view[:filled]) + tail
            yield block, len(block)
            return
        end = buffer.rfind(b"\n", 0, filled) + 1
        if end == 0:  # no newline yet: keep the start of an overlong line, drop the rest
            kept = min(filled, 2 * MAX_LINE)
            continue
        yield buffer, end
        kept = min(filled - end, 2 * MAX_LINE)  # the start of a line not ended yet (an overlong one is cut)
        buffer[:kept] = buffer[end:end + kept]
    if kept:
        yield buffer, kept


def marked_lines(handle: io.BufferedIOBase, markers: tuple[bytes, ...] = MARKERS, start: int = 0,
                 stop: int | None = None, state: dict[str, int] | None = None,
                 in_record: bool = False) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for each record holding a marker, and its continuation lines. Numbers count
    from the first line of the range. `in_record`: the range continues a marked record (its leading
    continuation lines are kept). `state`, if given, receives "lines" (the range's line count),
    "in_record" (whether it ended inside a marked record) and "leading" (how many of the lines found
    were leading continuation lines)."""
    base = 0
    leading = 0
    leading_open = in_record  # still in the continuation lines the range starts with
    for block, size in _blocks(handle, start, stop):
        found, in_record = _scan_block(block, size, base, markers, in_record)
        for number, line in found:
            if leading_open and number == leading + 1 and not RECORD_START.match(line):
                leading += 1
            else:
                leading_open = False
            yield number, line
        base += block.count(b"\n", 0, size)
        if size and block[size - 1 : size] != b"\n":
            base += 1  # a last line without a newline
        if leading_open and base > leading:
            leading_open = False
    if state is not None:
        state.update(lines=base, in_record=int(in_record), leading=leading)


def _starts(block: bytearray, size: int, markers: tuple[bytes, ...]) -> set[int]:
    """Where the lines holding a marker begin, in block[:size]: the pure-stdlib way (bytes.find)."""
    starts: set[int] = set()
    for marker in markers:
        pos = block.find(marker, 0, size)
        while pos >= 0:
            starts.add(block.rfind(b"\n", 0, pos) + 1)
            line_end = block.find(b"\n", pos, size)
            pos = block.find(marker, line_end, size) if line_end >= 0 else -1
    return starts


@cache
def _hyperscan(markers: tuple[bytes, ...]) -> Any:
    """The daemon-log markers as a hyperscan database (see _database): one SIMD pass finds all of them, about
    twice as fast as one bytes.find pass per marker."""
    return _database([(marker, False) for marker in markers])


def _database(literals: list[tuple[bytes, bool]]) -> Any:
    """A hyperscan database of (literal, ignore case) pairs when the optional hyperscan package imports and
    VIRTDIAG_PREFILTER is not "stdlib"; None otherwise (the caller then does the same work without it, with
    the same results)."""
    if os.environ.get("VIRTDIAG_PREFILTER", "") == "stdlib":
        return None
    try:
        import hyperscan
    except ImportError:
        return None
    try:
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(expressions=[re.escape(text) for text, _ in literals], ids=list(range(len(literals))),
                         elements=len(literals),
                         flags=[hyperscan.HS_FLAG_CASELESS if caseless else 0 for _, caseless in literals])
    except hyperscan.error:  # e.g. a CPU without the instructions it was built for
        return None
    return database


def _line_starts(database: Any, block: bytearray, size: int) -> set[int]:
    """Where the lines of block[:size] that hold one of the database's literals begin (no literal spans a
    newline, so the line of a match is the line of its end)."""
    ends: list[int] = []
    database.scan(memoryview(block)[:size], match_event_handler=lambda _id, _start, end, _flags, _context:
                  ends.append(end))
    return {block.rfind(b"\n", 0, end) + 1 for end in ends}


def _scan_block(block: bytearray, size: int, base: int, markers: tuple[bytes, ...], in_record: bool
                ) -> tuple[list[tuple[int, bytes]], bool]:
    """The marked records in block[:size] (whole lines); and whether the last may go on in the next block."""
    database = _hyperscan(markers)
    starts = _line_starts(database, block, size) if database else _starts(block, size, markers)
    found: list[tuple[int, bytes]] = []
    cursor = [0, base]  # an offset and the number of lines before it

    def number_at(offset: int) -> int:
        cursor[1] += block.count(b"\n", cursor[0], offset)
        cursor[0] = offset
        return cursor[1] + 1

    def emit_record(offset: int, first_is_continuation: bool) -> int:
        first = not first_is_continuation
        while offset < size:
            end = block.find(b"\n", offset, size)
            if end < 0:
                end = size
            line = bytes(block[offset:end])
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
    return found, bool(found) and done >= size


PENDING_MAX = 16 * 1024 * 1024  # the second half's results held while the first half's are read
BATCH_BYTES = 256 * 1024  # lines a worker sends at a time


class _WorkerFailed(Exception):
    """A worker process died or failed; the message says how."""


def _worker(path: str, start: int, stop: int | None, in_record: bool, parent: int, out: Connection,
            parents_end: Connection) -> None:
    """A worker process: the marked lines of one byte range, sent in batches through a pipe, then the range's
    state. Frames: b"L" + pickled lines, b"S" + pickled state, b"E" + an error. A full pipe blocks it (the
    parent's back-pressure); it dies with its parent (die_with_parent) or when the pipe breaks."""
    die_with_parent(parent)
    parents_end.close()  # only the parent reads: its death breaks the pipe
    gc.disable()  # it makes no cycles; a collection would touch (and so copy) every object of the parent's
    try:
        state: dict[str, int] = {}
        batch: list[tuple[int, bytes]] = []
        held = 0
        with open(path, "rb") as handle:
            for number, line in marked_lines(handle, MARKERS, start, stop, state, in_record):
                batch.append((number, line))
                held += len(line) + 64
                if held >= BATCH_BYTES:
                    out.send_bytes(b"L" + pickle.dumps(batch, 5))
                    batch, held = [], 0
        out.send_bytes(b"L" + pickle.dumps(batch, 5))
        out.send_bytes(b"S" + pickle.dumps(state, 5))
    except BaseException as exc:  # noqa: BLE001 - a worker reports and exits; nothing above it may run
        with contextlib.suppress(BaseException):
            out.send_bytes(b"E" + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))
        os._exit(1)
    os._exit(0)  # not multiprocessing's exit path: it would flush stdio a thread of the parent may have held


def _start_workers(path: str, size: int) -> list[tuple[BaseProcess, Connection]]:
    """Two forked workers (no semaphore, so no /dev/shm needed), each with a one-way pipe to this process."""
    context = multiprocessing.get_context("fork")
    middle = size // 2
    workers: list[tuple[BaseProcess, Connection]] = []
    try:
        for start, stop, in_record in ((0, middle, False), (middle, None, True)):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_worker, args=(path, start, stop, in_record, os.getpid(), send, receive),
                                      name="virtdiag-logscan", daemon=True)
            workers.append((process, receive))
            process.start()
            send.close()
    except BaseException:
        _stop_workers(workers)
        raise
    return workers


def _stop_workers(workers: list[tuple[BaseProcess, Connection]]) -> None:
    """Kill what is still running and reap it; close the pipes."""
    for process, receive in workers:
        if process.pid is not None:
            if process.is_alive():
                process.kill()
            process.join()
        receive.close()


def _frame(receive: Connection) -> bytes:
    try:
        frame = receive.recv_bytes()
    except (EOFError, OSError) as exc:
        raise _WorkerFailed("a worker process ended without its results") from exc
    if frame[:1] == b"E":
        raise _WorkerFailed(frame[1:].decode("utf-8", "replace"))
    return frame


def _merged(first: Connection, second: Connection) -> Iterator[tuple[int, bytes]]:
    """The first half's lines as they come; the second half's meanwhile held up to PENDING_MAX (then its
    worker waits on its full pipe), shifted by the first half's line count once that is known, its leading
    continuation lines dropped unless the first half ended inside a marked record."""
    pending: deque[bytes] = deque()
    held = 0
    second_done = False
    state: dict[str, int] | None = None
    while state is None:
        for ready in wait([first, *([second] if not second_done and held < PENDING_MAX else [])]):
            frame = _frame(ready)  # type: ignore[arg-type]
            if ready is second:
                pending.append(frame)
                held += len(frame)
                second_done = frame[:1] == b"S"
            elif frame[:1] == b"L":
                yield from pickle.loads(frame[1:])
            else:
                state = pickle.loads(frame[1:])
    shift, leading, expected = state["lines"], not state["in_record"], 1
    while True:
        frame = pending.popleft() if pending else _frame(second)
        if frame[:1] == b"S":
            return
        for number, line in pickle.loads(frame[1:]):
            if leading and number == expected and not RECORD_START.match(line):
                expected += 1  # a continuation of a record the first half did not keep
                continue
            leading = False
            yield number + shift, line


def marked_lines_parallel(path: str, size: int, note: Callable[[str], None] = lambda _: None
                          ) -> Iterator[tuple[int, bytes]]:
    """marked_lines of a large file on disk, by two worker processes each scanning half of it, streamed:
    memory stays bounded (about PENDING_MAX) whatever the file size and however many errors it holds. The
    workers die with this process and are killed when the caller stops early. When they cannot start
    (fork refused) or one dies, the file is read in this process instead, from where they stopped: the
    same lines either way, and `note` is told why."""
    last = 0
    try:
        workers = _start_workers(path, size)
    except OSError as exc:
        note(f"read in one process: worker processes could not start ({exc.strerror or exc}); same findings")
    else:
        try:
            for number, line in _merged(workers[0][1], workers[1][1]):
                last = number
                yield number, line
            return
        except _WorkerFailed as exc:
            note(f"read in one process from line {last + 1}: {exc}; same findings")
        finally:
            _stop_workers(workers)
    with open(path, "rb") as handle:
        for number, line in marked_lines(handle):
            if number > last:
                yield number, line


NON_ASCII = re.compile(rb"[\x80-\xff]")


def literal_database(literals: list[tuple[str, bool]]) -> Any:
    """Stage one for big logs that are not daemon logs: every pattern's required literals ((text, ignore
    case) pairs) in one hyperscan database, or None without hyperscan: the caller then reads every line,
    with the same results, slower. A literal that ignores case and is not ASCII is left out: such lines
    are read anyway (see literal_lines)."""
    chosen = sorted({(text, caseless) for text, caseless in literals if text and (text.isascii() or not caseless)})
    return _database([(text.encode(), caseless) for text, caseless in chosen])


def literal_lines(handle: io.BufferedIOBase, database: Any) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of each line that may meet a pattern: it holds a literal (one hyperscan pass
    over each block), or it is not ASCII (Python's case folding goes beyond ASCII, hyperscan's does not;
    and a literal ignoring case may not be ASCII). Every other line is skipped unread, its number counted."""
    base = 0
    for block, size in _blocks(handle, 0, None):
        starts = _line_starts(database, block, size)
        if not block.isascii():  # the whole buffer: no copy; bytes past size only cost a useless search
            pos = 0
            while (hit := NON_ASCII.search(block, pos, size)) is not None:
                starts.add(block.rfind(b"\n", 0, hit.start()) + 1)
                line_end = block.find(b"\n", hit.start(), size)
                pos = size if line_end < 0 else line_end + 1
        cursor, number = 0, base
        for start in sorted(starts):
            end = block.find(b"\n", start, size)
            line = bytes(block[start:size if end < 0 else end])
            number += block.count(b"\n", cursor, start)
            cursor = start
            if line.strip():
                yield number + 1, _cut(line).rstrip(b"\r")
        base += block.count(b"\n", 0, size)
        if size and block[size - 1] != 10:
            base += 1  # a last line without a newline
