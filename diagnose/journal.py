"""Parse stage (pure): the systemd journal as a sosreport or a copied host holds it: `journalctl -o export`
streams and the short text formats."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

JOURNAL_FIELD_RE = re.compile(rb"[A-Z0-9_]+")  # journald field names: upper case letters, digits, "_"
MAX_JOURNAL_VALUE = 64 * 1024  # a longer field value is cut (the rest is skipped, never held)
MAX_JOURNAL_FIELDS = 256  # fields kept of one entry


@dataclass(frozen=True)
class JournalEntry:
    """One entry of `journalctl -o export`: its fields, and the 1-based line where MESSAGE's text starts
    (0 when it has no MESSAGE). A multi-line message's N-th line is on line `line + N`."""

    line: int
    fields: dict[str, str]


class _ByteStream:
    """Bytes from an iterable of blocks, read by line or by count, counting the newlines consumed so
    far; holds at most one block."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self._buffer = b""
        self._pos = 0
        self.newlines = 0

    def _fill(self) -> bool:
        for block in self._blocks:
            if block:
                self._buffer = self._buffer[self._pos :] + block
                self._pos = 0
                return True
        return False

    def readline(self, limit: int) -> bytes | None:
        """The next line without its newline, cut at `limit` bytes (the rest skipped); None at the end."""
        kept = b""
        seen = False
        while True:
            end = self._buffer.find(b"\n", self._pos)
            stop = end if end >= 0 else len(self._buffer)
            if stop > self._pos:
                seen = True
                if len(kept) < limit:
                    kept += self._buffer[self._pos : min(stop, self._pos + limit - len(kept))]
            if end >= 0:
                self._pos = end + 1
                self.newlines += 1
                return kept
            self._pos = len(self._buffer)
            if not self._fill():
                return kept if seen else None

    def read(self, size: int, keep: bool = True) -> bytes:
        """Up to `size` bytes (fewer at the end); with keep=False they are skipped, not returned."""
        parts: list[bytes] = []
        while size > 0:
            if self._pos >= len(self._buffer) and not self._fill():
                break
            piece = self._buffer[self._pos : self._pos + size]
            self._pos += len(piece)
            size -= len(piece)
            self.newlines += piece.count(b"\n")
            if keep:
                parts.append(piece)
        return b"".join(parts)


def iter_journal_export(blocks: Iterable[bytes]) -> Iterator[JournalEntry]:
    """`journalctl -o export` output, as blocks of bytes -> its entries, streamed.

    Entries are separated by a blank line; a field is `KEY=value` on one line, or (for a value holding a
    newline or bytes that are not UTF-8) `KEY`, a newline, a 64-bit little-endian length, the value and a
    newline. Values longer than MAX_JOURNAL_VALUE are cut, so memory stays bounded whatever the input."""
    stream = _ByteStream(blocks)
    fields: dict[str, str] = {}
    message_line = 0
    while True:
        number = stream.newlines + 1
        raw = stream.readline(MAX_JOURNAL_VALUE)
        if raw is None:
            break
        if not raw:
            if fields:
                yield JournalEntry(message_line, fields)
            fields, message_line = {}, 0
            continue
        name, equals, value = raw.partition(b"=")
        if not equals:
            if not JOURNAL_FIELD_RE.fullmatch(raw):
                continue  # not a field: skipped
            size = int.from_bytes(stream.read(8), "little")
            number = stream.newlines + 1
            value = stream.read(min(size, MAX_JOURNAL_VALUE))
            stream.read(size - len(value) + 1, keep=False)  # the rest of a long value, and its newline
        elif not JOURNAL_FIELD_RE.fullmatch(name):
            continue
        if len(fields) < MAX_JOURNAL_FIELDS:
            key = name.decode("ascii")
            fields[key] = value.decode("utf-8", errors="replace")
            if key == "MESSAGE":
                message_line = number
    if fields:
        yield JournalEntry(message_line, fields)


def is_journal_export(head: bytes) -> bool:
    """The start of a file is `journalctl -o export` output (every entry starts with __CURSOR=, or with
    __REALTIME_TIMESTAMP= when the cursor was left out)."""
    return head.lstrip(b"\n").startswith((b"__CURSOR=", b"__REALTIME_TIMESTAMP="))


def _journal_time(microseconds: str) -> str:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromtimestamp(int(microseconds) / 1_000_000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S%z")


def journal_entry_lines(entry: JournalEntry) -> list[tuple[int, str]]:
    """An export entry as `journalctl -o short-iso` prints it, one (line number, text) per line of its
    message: `2024-05-02T06:58:05+0000 kvm1 virtqemud[1187]: message`. The name is SYSLOG_IDENTIFIER,
    else the process name, else the systemd unit; the time is UTC."""
    fields = entry.fields
    message = fields.get("MESSAGE")
    if message is None or not entry.line:
        return []
    name = fields.get("SYSLOG_IDENTIFIER") or fields.get("_COMM") or fields.get("_SYSTEMD_UNIT") or "unknown"
    pid = fields.get("SYSLOG_PID") or fields.get("_PID")
    stamp = " ".join(p for p in (_journal_time(fields.get("__REALTIME_TIMESTAMP", "")), fields.get("_HOSTNAME", ""))
                     if p)
    head = f"{stamp} {name}" if stamp else name
    head += f"[{pid}]: " if pid else ": "
    return [(entry.line + i, head + text.rstrip("\r")) for i, text in enumerate(message.split("\n"))
            if text.strip()]


@dataclass(frozen=True)
class JournalLine:
    """One record of `journalctl -o short|short-iso|short-precise|short-iso-precise` (or syslog)."""

    time: str
    host: str
    identifier: str
    pid: str
    message: str


JOURNAL_SHORT_RE = re.compile(
    r"^(?P<time>(?:[A-Z][a-z]{2} [ \d]\d|\d{4}-\d\d-\d\d)[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:?\d\d|Z)?)"
    r" (?P<host>\S+) (?P<ident>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<message>.*)$")


def parse_journal_short(line: str) -> JournalLine | None:
    """A line of journalctl's short formats -> its record; None for a marker line (`-- Boot ... --`,
    `-- Reboot --`, the catalog's `-- ` text) or a continuation line of a multi-line message."""
    m = JOURNAL_SHORT_RE.match(line)
    if not m:
        return None
    return JournalLine(m.group("time"), m.group("host"), m.group("ident"), m.group("pid") or "", m.group("message"))


def is_journal_marker(line: str) -> bool:
    """journalctl's own lines, no log messages: `-- Logs begin at ...`, `-- Boot <id> --`, `-- Reboot --`,
    `-- No entries --`, and the explanations `--catalog` adds (each starts with `-- `)."""
    return line.startswith("-- ") or line == "--"


# --- virsh dominfo and virsh capabilities --------------------------------------------------------
