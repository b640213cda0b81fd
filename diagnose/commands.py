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


def fail(message: str) -> SystemExit:
    """One line on stderr (never wrapped, whatever the width); the caller raises it: exit code 2."""
    print(f"virtdiag: {' '.join(message.split())}", file=sys.stderr)
    return SystemExit(2)


def console(stderr: bool = False):  # noqa: ANN201 - rich is imported lazily
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False)  # ":name:" in an error is text, not an emoji


@contextlib.contextmanager
def progress(label: str, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A spinner on the terminal (stderr) while a long scan runs, showing "label: what it reads now"; yields
    the function that tells it. Nothing shows when stderr is piped or with --quiet."""
    if quiet or not sys.stderr.isatty():
        yield lambda _text: None
        return
    with console(stderr=True).status(f"{label}: starting") as status:
        yield lambda text: status.update(f"{label}: {text}")


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
         redact_hosts: bool, no_redact: bool) -> None:
    """Redact (unless told not to), then render every report in the chosen format, to a file or stdout."""
    from diagnose import engine, redact, render

    stamp = now()
    reports = [redact.printable(report) for report in reports]
    for report in reports:
        report.generated = stamp
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
        return sys.stdin.buffer.read(MAX_EXPLAIN_BYTES).decode("utf-8", errors="replace")
    return " ".join(text) if len(text) > 1 and all("\n" not in t for t in text) else "\n".join(text)


LOG_FILE_ABOVE = 1024 * 1024  # `explain --file` of a bigger file streams it as a log (not a paste)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # read_input says why it cannot be read


def run_explain(text: list[str] | None = None, file: Path | None = None, fmt: Format = Format.text,
                output: Path | None = None, lang: str | None = None, probe: bool = False, verbose: bool = False,
                redact_hosts: bool = False, no_redact: bool = False) -> int:
    """`virtdiag explain`: the exit code (0 something recognised, 1 nothing recognised)."""
    from diagnose import engine

    chosen = language(lang)
    host = None
    if probe:
        from diagnose.host.reader import open_host

        host = open_host(None)
    if file is not None and _size(file) > LOG_FILE_ABOVE:
        from diagnose.host.base import Unreadable

        try:
            report = engine.explain_file(str(file), chosen, host)
        except Unreadable as exc:
            raise fail(str(exc)) from exc
    else:
        report = engine.explain(read_input(text, file), chosen, host)
    emit([report], fmt, output, chosen, verbose, redact_hosts, no_redact)
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
