"""Command stage without typer: the bodies of the commands (arguments -> engine -> render).

`virtdiag explain TEXT` is what people run over and over, by hand and from scripts, so its plain forms are
parsed here (parse_explain) and answered without loading typer (whose runtime builds a pydantic validator
for every option, ~90 ms); entry.main decides. A test checks that EXPLAIN_OPTIONS matches typer's own
definition of `explain`, option for option.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

MAX_EXPLAIN_BYTES = 64 * 1024 * 1024


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


FORMATS = tuple(f.value for f in Format)
SUFFIX_FORMATS = {".json": Format.json, ".md": Format.markdown, ".markdown": Format.markdown, ".html": Format.html,
                  ".htm": Format.html, ".txt": Format.text, ".text": Format.text}


def output_format(fmt: str | Format | None, output: Path | None) -> Format:
    """--format when given; else what the suffix of --output says (report.html is HTML); else text."""
    if fmt is not None:
        return Format(fmt)
    return SUFFIX_FORMATS.get(output.suffix.lower(), Format.text) if output is not None else Format.text


def scan_targets(paths: list[str]) -> list[str]:
    """Positional paths and --root values, in order; a quoted glob (`--root 'sos*.tar.xz'`) that names no file
    itself is expanded here as the shell would have."""
    import glob

    targets: list[str] = []
    for path in paths:
        if glob.has_magic(path) and not os.path.lexists(path):
            matches = sorted(glob.glob(path))
            if not matches:
                raise fail(f"no file matches {path}")
            targets.extend(matches)
        else:
            targets.append(path)
    return targets


def fail(message: str) -> SystemExit:
    """One line on stderr (never wrapped, whatever the width); the caller raises it: exit code 2."""
    print(f"virtdiag: {' '.join(message.split())}", file=sys.stderr)
    return SystemExit(2)


def console(stderr: bool = False):  # noqa: ANN201 - rich is imported lazily
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False)  # ":name:" in an error is text, not an emoji


BAR_ABOVE = 64 * 1024 * 1024  # a file bigger than this, being read, gets a progress bar


def big_open_file() -> tuple[str, int, int] | None:
    """(path, offset, size) of the biggest regular file over BAR_ABOVE this process has open, whichever stage
    reads it (hyperscan, grep fed by Python, Python line by line, a tarball read in place): its offset is the
    kernel's (/proc/self/fdinfo). None when there is none, or no /proc."""
    import stat

    best = None
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            st = os.stat(f"/proc/self/fd/{fd}")
            if not stat.S_ISREG(st.st_mode) or st.st_size <= BAR_ABOVE or (best and st.st_size <= best[2]):
                continue
            with open(f"/proc/self/fdinfo/{fd}", "rb") as info:
                offset = int(info.readline().split()[1])  # "pos:\t<offset>"
            if offset < st.st_size:  # at its end: read (or handed to worker processes, which read it themselves)
                best = (os.readlink(f"/proc/self/fd/{fd}"), offset, st.st_size)
        except (OSError, ValueError, IndexError):
            continue  # closed meanwhile
    return best


def _bar(label: str, shown: set[str]) -> Iterator[Callable[[str], None]]:
    """The terminal's view of a long command: a spinner with "label: what it reads now", and below it, while a
    file over BAR_ABOVE is being read, a bar with bytes, rate and time left (a thread polls big_open_file)."""
    import threading

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class Sized(ProgressColumn):
        """A column shown only for the file's task (the status line has no total)."""

        def __init__(self, column: ProgressColumn, sized: bool = True) -> None:
            super().__init__()
            self.column, self.sized = column, sized

        def render(self, task: Any) -> Any:
            return self.column.render(task) if (task.total is not None) == self.sized else Text("")

    bar = Progress(Sized(SpinnerColumn(), sized=False), TextColumn("{task.description}"), Sized(BarColumn()),
                   Sized(DownloadColumn(binary_units=True)), Sized(TransferSpeedColumn()),
                   Sized(TimeRemainingColumn()), console=console(stderr=True), transient=True)
    status = bar.add_task(f"{label}: starting", total=None)
    reading = bar.add_task("", total=1, visible=False)
    stop = threading.Event()

    def follow() -> None:
        current = ""
        while not stop.wait(0.2):
            found = big_open_file()
            if found is None:
                bar.update(reading, visible=False)
                current = ""
                continue
            path, offset, size = found
            if path != current:
                bar.reset(reading, total=size, completed=offset, description=f"  {os.path.basename(path)}",
                          visible=True)
                current = path
            else:
                bar.update(reading, completed=offset)

    def say(text: str) -> None:
        if text.startswith("hint: "):
            if text[6:] not in shown:
                shown.add(text[6:])
                bar.console.print(f"virtdiag: {text}", markup=False, highlight=False)
        else:
            bar.update(status, description=f"{label}: {text}")

    poller = threading.Thread(target=follow, name="virtdiag-progress", daemon=True)
    with bar:
        poller.start()
        try:
            yield say
        finally:
            stop.set()
            poller.join()


@contextlib.contextmanager
def progress(label: str, quiet: bool, shown: set[str] | None = None) -> Iterator[Callable[[str], None]]:
    """Yields `say`, which the engine tells what it does: "reading /var/log/messages (300 MiB)" updates the
    terminal's status line and progress bar (see _bar); a text "hint: ..." (how to make a slow read faster)
    is printed on stderr at once, before the slow work, and added to `shown`. On a pipe only the hints show;
    with --quiet nothing."""
    shown = set() if shown is None else shown
    if quiet:
        yield lambda _text: None
    elif sys.stderr.isatty():
        yield from _bar(label, shown)
    else:
        def say(text: str) -> None:
            if text.startswith("hint: ") and text[6:] not in shown:
                shown.add(text[6:])
                print(f"virtdiag: {text}", file=sys.stderr)
        yield say


def pipe_ends_us() -> None:
    """From here on, a reader that closes standard output (`| head -1`) ends virtdiag silently with SIGPIPE, as
    it ends cat or grep. Only for the process's real stdout (not a test runner's capture)."""
    import signal

    if sys.stdout is sys.__stdout__ and hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def now() -> str:
    import time

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    seconds = int(epoch) if epoch.isdigit() else int(time.time())
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def default_lang() -> str:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def language(lang: str | None) -> str:
    chosen = (lang or default_lang()).lower()
    if chosen not in ("en", "ja"):
        raise fail(f"--lang must be en or ja, not {lang!r}")
    return chosen


def emit(reports: list, fmt: Format, output: Path | None, lang: str, verbose: bool,  # noqa: ANN001
         redact_hosts: bool, no_redact: bool, restamp: bool = True) -> None:
    """Redact (unless told not to), then render every report in the chosen format, to a file or stdout.
    `restamp`: the reports were made now (merged reports keep the times they were made)."""
    from diagnose import engine, redact, render

    if output is not None and str(output) == "-":
        output = None
    pipe_ends_us()
    stamp = now()
    reports = [redact.printable(report) for report in reports]
    for report in reports:
        report.generated = stamp if restamp or not report.generated else report.generated
    if no_redact:
        console(stderr=True).print("virtdiag: WARNING: --no-redact: this report may contain passwords and keys",
                                   markup=False)
        for report in reports:
            report.redacted = False
    else:
        host_map = redact.HostMap(set()) if redact_hosts else None
        reports = [redact.redact(r, redact_hosts, host_map) for r in reports]
    multi = len(reports) > 1
    summary = engine.summarize(reports) if multi else []
    if fmt is Format.text and output is None:
        out = console()
        if multi:
            render.multi_text(reports, summary, out, lang, verbose)
        else:
            render.to_text(reports[0], out, lang, verbose)
        return
    if fmt is Format.text:
        from rich.console import Console

        out = Console(record=True, width=100, highlight=False, emoji=False, file=open(os.devnull, "w"))  # noqa: SIM115
        if multi:
            render.multi_text(reports, summary, out, lang, verbose)
        else:
            render.to_text(reports[0], out, lang, verbose)
        text = out.export_text()
    elif fmt is Format.json:
        text = (render.multi_json(reports, summary, verbose) if multi else render.to_json(reports[0], verbose)) + "\n"
    elif fmt is Format.markdown:
        text = render.multi_markdown(reports, summary, verbose) if multi else render.to_markdown(reports[0], 1, verbose)
    else:
        text = render.multi_html(reports, summary, verbose) if multi else render.to_html(reports[0], verbose)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from exc


def read_input(text: list[str] | None, file: Path | None) -> str:
    if file is not None:
        try:
            with open(file, "rb") as handle:
                data = handle.read(MAX_EXPLAIN_BYTES + 1)
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc.strerror or exc}") from exc
        if len(data) > MAX_EXPLAIN_BYTES:
            console(stderr=True).print(f"virtdiag: {file}: only the first 64 MiB were read", markup=False)
            data = data[:MAX_EXPLAIN_BYTES]
        return data.decode("utf-8", errors="replace")
    if not text or text == ["-"]:
        if sys.stdin.isatty() and not text:
            raise fail("nothing to explain: give the error text, '-' for standard input, or --file PATH")
        if sys.stdin.isatty():
            print("virtdiag: reading the error from the terminal: paste it, then press Ctrl-D on a line of its own",
                  file=sys.stderr)
        return sys.stdin.buffer.read(MAX_EXPLAIN_BYTES).decode("utf-8", errors="replace")
    return " ".join(text) if len(text) > 1 and all("\n" not in t for t in text) else "\n".join(text)


LOG_FILE_ABOVE = 1024 * 1024  # `explain --file` of a bigger file streams it as a log (not a paste)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # read_input says why it cannot be read


def file_named_alone(text: list[str] | None) -> Path | None:
    """`virtdiag explain error.log`: a lone argument that names an existing file (no error text is a bare path)
    is read as --file would read it, not explained as the words of its name."""
    if not text or len(text) != 1 or text[0] == "-" or any(c.isspace() for c in text[0]):
        return None
    candidate = Path(text[0])
    try:
        return candidate if candidate.is_file() else None
    except OSError:  # a name too long for the file system, or an unreadable parent folder: text after all
        return None


def run_explain(text: list[str] | None = None, file: Path | None = None, fmt: Format | None = None,
                output: Path | None = None, lang: str | None = None, probe: bool = False, verbose: bool = False,
                redact_hosts: bool = False, no_redact: bool = False) -> int:
    """`virtdiag explain`: the exit code (0 something recognised, 1 nothing recognised)."""
    from diagnose import engine

    chosen = language(lang)
    if file is None and (named := file_named_alone(text)) is not None:
        file, text = named, None
    host = None
    if probe:
        from diagnose.host.reader import open_host

        host = open_host(None)
    if file is not None and _size(file) > LOG_FILE_ABOVE:
        from diagnose.host import logs, stageone
        from diagnose.host.base import Unreadable

        try:
            with progress(f"virtdiag: {file}", False) as say:
                hint = stageone.slow_hint_for(str(file), logs.SLOW_NOTE_ABOVE)
                if hint:
                    say(f"hint: {hint}")
                say("reading")
                report = engine.explain_file(str(file), chosen, host)
        except Unreadable as exc:
            raise fail(str(exc)) from exc
    else:
        report = engine.explain(read_input(text, file), chosen, host)
    emit([report], output_format(fmt, output), output, chosen, verbose, redact_hosts, no_redact)
    return 0 if report.findings else 1


# option spelling -> (run_explain's parameter, how its value is read; None for a flag)
EXPLAIN_OPTIONS: dict[str, tuple[str, Any]] = {
    "--file": ("file", Path), "-f": ("file", Path),
    "--format": ("fmt", Format),
    "--output": ("output", Path), "-o": ("output", Path),
    "--lang": ("lang", str),
    "--probe": ("probe", None),
    "--verbose": ("verbose", None), "-v": ("verbose", None),
    "--redact-hosts": ("redact_hosts", None),
    "--no-redact": ("no_redact", None),
}


def parse_explain(args: list[str]) -> dict[str, Any] | None:
    """The arguments after `explain` as run_explain's keywords, or None when they are anything but the plain
    forms in EXPLAIN_OPTIONS (typer then parses them, and explains what is wrong)."""
    found: dict[str, Any] = {}
    text: list[str] = []
    pending = list(args)
    while pending:
        arg = pending.pop(0)
        if arg == "--":
            text.extend(pending)
            break
        if arg == "-" or not arg.startswith("-"):
            text.append(arg)
            continue
        name, has_value, value = arg.partition("=")
        if name not in EXPLAIN_OPTIONS:
            return None
        param, convert = EXPLAIN_OPTIONS[name]
        if convert is None:
            if has_value:
                return None
            found[param] = True
            continue
        if not has_value:
            if not pending:
                return None
            value = pending.pop(0)
        try:
            found[param] = convert(value)
        except ValueError:
            return None
    if text:
        found["text"] = text
    return found
