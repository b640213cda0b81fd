"""Collect stage for logs: stream every log source of a host as Lines for the matcher, with exact line
numbers, and feed the host checks' log taps on the way (HostState.tapped)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

from diagnose import journal
from diagnose.host import logscan, stageone
from diagnose.host.base import BINARY_PROBE, CHUNK, Host, Unreadable, looks_binary
from diagnose.host.gather import log_paths
from diagnose.host.layout import LOG_SOURCES
from diagnose.model import Evidence, Line, Skipped
from diagnose.state import HostState, LogTap, Tapped

PREFILTER_ABOVE = 64 * 1024  # a plain log larger than this goes through stage one, when it can
SLOW_NOTE_ABOVE = 64 * 1024 * 1024  # plain logs read line by line in Python beyond this get a hint

# stage one for a source's plain logs: a compiled literal database (hyperscan), or None to read every line
StageOne = Callable[[str], object]
Say = Callable[[str], None]


def stream(host: Host, source: str, path: str, stage_one: StageOne) -> Iterator[tuple[int, str]]:
    """(line number, text) of one log file. A libvirtd.log is read record-wise (only error and warning
    records reach the matcher); a journal export entry by entry, as the lines `journalctl -o short-iso`
    would print; every other log line by line (journalctl's own marker and catalog lines left out)."""
    if source == "libvirtd-log":
        with host.open_binary(path) as handle:
            head = handle.read(64 * 1024)
            if logscan.is_daemon_log(head):
                size = handle.seek(0, 2)
                real = host.real_path(path)
                if real and size > logscan.SPLIT_ABOVE and (os.cpu_count() or 1) > 1:
                    found: Iterator[tuple[int, bytes]] = iter(logscan.marked_lines_parallel(real, size))
                else:
                    found = logscan.marked_lines(handle)
                for number, raw in found:
                    yield number, raw.decode("utf-8", errors="replace")
                return
    if source == "journal":
        with host.open_binary(path) as handle:
            head = handle.read(64)
            if journal.is_journal_export(head):
                blocks = itertools.chain((head,), iter(lambda: handle.read(CHUNK), b""))
                for entry in journal.iter_journal_export(blocks):
                    yield from journal.journal_entry_lines(entry)
                return
        for number, text in plain_lines(host, path, source, stage_one):
            if not journal.is_journal_marker(text):
                yield number, text
        return
    yield from plain_lines(host, path, source, stage_one)


def plain_lines(host: Host, path: str, source: str, stage_one: StageOne) -> Iterator[tuple[int, str]]:
    """Every line of a log that may matter, with exact numbers: a big log through stage one (hyperscan, or grep
    without it: see stageone.database; they find the lines holding a pattern's literal over whole blocks), any
    other line by line. The findings are the same either way (tests/test_prefilter.py, test_stage_one.py);
    only the time differs."""
    st = host.stat(path)
    database = stage_one(source) if st is not None and st.st_size > PREFILTER_ABOVE else None
    if database is None:
        yield from host.iter_lines(path)
        return
    with host.open_binary(path) as handle:
        if looks_binary(handle.read(BINARY_PROBE)):
            raise Unreadable(f"{path}: binary file, not read")
        found = (stageone.grep_lines(handle, database) if isinstance(database, stageone.GrepStage)
                 else logscan.literal_lines(handle, database))
        for number, raw in found:
            yield number, raw.decode("utf-8", errors="replace")


def serial_log_owners(state: HostState) -> dict[str, str]:
    """Serial/console <log file=...> paths of each guest: the BIOS's "No bootable device" lands there."""
    owners = {}
    for doc in state.domains:
        root = doc.root
        if root is None:
            continue
        name = (root.findtext("name") or "").strip()
        for log in root.iterfind("devices/*/log"):
            path = log.get("file")
            if path:
                owners[path] = name
    return owners


def _tap(state: HostState, tap: LogTap, source: str, number: int, text: str, path: str, guest: str) -> bool:
    """Run one tap on a line; True when it matched (whether or not the line was kept)."""
    found = tap.regex.search(text)
    if found is None:
        return False
    kept = state.tapped.setdefault(tap.name, [])
    if len(kept) < tap.keep:
        groups = tuple((k, v) for k, v in found.groupdict().items() if v is not None)
        kept.append(Tapped(groups, Evidence(source, number, text.strip(), path), guest))
    return True


def log_lines(host: Host, state: HostState, taps: tuple[LogTap, ...], stage_one: StageOne,
              skipped: list[Skipped], hints: list[str], say: Say = lambda _: None) -> Iterator[Line]:
    """Stream every log source as Lines; run the checks' taps on every line of the sources they read
    (a line a consuming tap matched is evidence for its check only, never for a pattern)."""
    owners = serial_log_owners(state)
    guarded = [(tap, _literals(tap)) for tap in taps]
    # plain logs (not daemon logs, which are read by their level markers either way): told before the slow read
    plain_bytes = sum(st.st_size for source in LOG_SOURCES if source != "libvirtd-log"
                      for path in log_paths(host, source) if (st := host.stat(path)) is not None)
    if plain_bytes > SLOW_NOTE_ABOVE and stage_one("journal") is None:
        hints.append(stageone.slow_hint(plain_bytes))
        say(f"hint: {hints[-1]}")
    for source in LOG_SOURCES:
        source_taps = [(tap, literals) for tap, literals in guarded if source in tap.sources]
        for path in log_paths(host, source):
            stem = path.rsplit("/", 1)[-1].removesuffix(".log")
            guest = owners.get(path, stem) if source == "qemu-guest-log" else ""
            st = host.stat(path)
            say(f"reading {path}" + (f" ({st.st_size / 2**20:.0f} MiB)" if st and st.st_size >= 2**20 else ""))
            try:
                for number, text in stream(host, source, path, stage_one):
                    consumed = False
                    for tap, literals in source_taps:
                        if any(literal in text for literal in literals) and \
                                _tap(state, tap, source, number, text, path, guest) and tap.consume:
                            consumed = True
                    if not consumed:
                        yield Line(source, number, text, path)
            except Unreadable as exc:
                skipped.append(Skipped(path, str(exc).split(": ", 1)[-1]))


def _literals(tap: LogTap) -> tuple[str, ...]:
    """What a line must hold for the tap's regex to match (a cheap test before the regex runs)."""
    from diagnose.literals import required_literals

    return required_literals(tap.regex)


def tap_literals(taps: tuple[LogTap, ...], source: str) -> list[tuple[str, bool]]:
    """The taps' literals for one source, as stage one wants them: (text, ignore case)."""
    return [(literal, False) for tap in taps if source in tap.sources for literal in _literals(tap)]
