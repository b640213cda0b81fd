"""Collect stage, stage one for big plain logs: which first stage reads them (hyperscan, else grep, else none),
and the grep one: `grep -F -i` with the patterns' literals finds the lines that may matter at C speed.

The grep stage gives the lines logscan.literal_lines gives with hyperscan, or a few more (grep folds the case
of every literal, hyperscan only of the caseless ones; a line that holds no pattern's literal in the right
case matches no pattern, so the findings are the same: tests/test_stage_one.py). Python reads the file in
logscan's blocks (overlong lines cut, memory flat, tarball members alike) and feeds them to grep, which
prints, with their numbers, the lines holding a literal or a byte over 0x7f (each of those bytes is one more
fixed string): every line that is not ASCII is read, as literal_lines reads it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import IO, Any

from diagnose.host import logscan
from diagnose.host.base import Unreadable

GREP_ENV = {**os.environ, "LC_ALL": "C"}  # bytes, not characters: -i folds ASCII only, as hyperscan does


@dataclass(frozen=True)
class GrepStage:
    """Stage one by grep: the ASCII literals, each ignoring case (a non-ASCII literal only occurs in a
    non-ASCII line, and every such line is read anyway)."""

    literals: tuple[bytes, ...]


def database(literals: list[tuple[str, bool]]) -> Any:
    """Stage one for a source's plain logs, from every pattern's required literals ((text, ignore case)):
    hyperscan's database when it imports; else a GrepStage when grep works; else None (every line is read in
    Python). VIRTDIAG_PREFILTER=stdlib forces None, =grep forces grep."""
    mode = os.environ.get("VIRTDIAG_PREFILTER", "")
    if mode != "grep":
        found = logscan.literal_database(literals)
        if found is not None or mode == "stdlib":
            return found
    ascii_literals = tuple(sorted({text.encode() for text, _ in literals if text and text.isascii()}))
    return GrepStage(ascii_literals) if ascii_literals and grep_works() else None


def fast() -> bool:
    """Whether big plain logs get a first stage (hyperscan or grep), or are read line by line in Python."""
    return database([("virtdiag", False)]) is not None


@cache
def grep_works() -> bool:
    """grep is there and does what grep_lines needs (-a -n -F -i, a raw byte as a pattern, the C locale): one
    tiny run to see."""
    if shutil.which("grep") is None:
        return False
    try:
        done = subprocess.run([b"grep", b"-a", b"-n", b"-F", b"-i", b"-e", b"bc", b"-e", b"\xa9"],
                              input=b"x\nABc\n\xc3\xa9t\xc3\xa9\nz\n", capture_output=True, env=GREP_ENV, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout == b"2:ABc\n3:\xc3\xa9t\xc3\xa9\n"


HIGH_BYTES = [bytes([byte]) for byte in range(0x80, 0x100)]  # as fixed strings: every line that is not ASCII


def _feed(handle: io.BufferedIOBase, grep_in: IO[bytes], failed: list[BaseException]) -> None:
    """The writer thread: the file's blocks into grep (logscan's blocks: overlong lines cut, memory flat)."""
    try:
        for block, size in logscan._blocks(handle, 0, None):
            grep_in.write(memoryview(block)[:size])
    except BaseException as exc:  # noqa: BLE001 - raised again by the reading thread
        failed.append(exc)
    finally:
        with contextlib.suppress(OSError):
            grep_in.close()


def grep_lines(handle: io.BufferedIOBase, stage: GrepStage) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of each line that may meet a pattern, in order: the lines holding a literal, and the
    lines that are not ASCII (Python's case folding goes beyond ASCII), as logscan.literal_lines gives them (cut,
    stripped of a trailing CR, blank lines left out)."""
    args = [b"grep", b"-a", b"-n", b"-F", b"-i"]
    for literal in (*stage.literals, *HIGH_BYTES):
        args += [b"-e", literal]
    grep = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=GREP_ENV)
    assert grep.stdin is not None and grep.stdout is not None and grep.stderr is not None
    failed: list[BaseException] = []
    writer = threading.Thread(target=_feed, args=(handle, grep.stdin, failed), name="virtdiag-grep", daemon=True)
    writer.start()
    try:
        for printed in grep.stdout:
            number, _, line = printed.partition(b":")
            line = logscan._cut(line[:-1] if line.endswith(b"\n") else line).rstrip(b"\r")
            if line.strip():
                yield int(number), line
        writer.join()
        status = grep.wait()
        if status not in (0, 1):  # 1: no line matched
            said = " ".join(grep.stderr.read().decode(errors="replace").replace(": ", " - ").split())
            raise Unreadable(f"grep, the first stage, stopped with status {status} ({said or 'no message'})")
        if failed:
            raise failed[0]
    finally:
        if grep.poll() is None:
            grep.kill()
        writer.join()
        grep.wait()
        for pipe in (grep.stdout, grep.stderr):
            pipe.close()


def slow_hint(size: int) -> str:
    return (f"{size / 2**20:.0f} MiB of logs will be read line by line in Python, which is slow: the optional "
            "hyperscan package (pip install hyperscan, or virtdiag's 'fast' extra) reads them many times faster, "
            "with the same findings")


def slow_hint_for(path: str, above: int) -> str:
    """The hint for `explain --file` of a plain log over `above` bytes that no first stage will read; else ""."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            if size <= above or fast():
                return ""
            handle.seek(0)
            return "" if logscan.is_daemon_log(handle.read(64 * 1024)) else slow_hint(size)
    except OSError:
        return ""  # the read itself says why
