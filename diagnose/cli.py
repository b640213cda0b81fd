"""Command line (typer): arguments -> engine -> render. explain, scan, list, show, lint-catalog."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="virtdiag: explain libvirt/KVM errors and find what is broken on a host. Read-only: fixes are "
    "printed, never applied.",
)

MAX_EXPLAIN_BYTES = 64 * 1024 * 1024


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


FORMAT_OPT = typer.Option("--format", help="text (default), json, markdown or html.")
OUTPUT_OPT = typer.Option("--output", "-o", help="Write the report to this file instead of standard output.")
LANG_OPT = typer.Option("--lang", help="ja or en (default: from LC_ALL / LC_MESSAGES / LANG).")
VERBOSE_OPT = typer.Option("--verbose", "-v", help="Show ruled-out fixes, notes and the facts that decided.")
REDACT_HOSTS_OPT = typer.Option("--redact-hosts", help="Also replace hostnames, IP and MAC addresses.")
NO_REDACT_OPT = typer.Option("--no-redact", help="Keep passwords and keys in the report (says so loudly).")


def _progress(message: str, quiet: bool):  # noqa: ANN202 - a context manager
    """A spinner on the terminal (stderr) while a long scan runs; nothing when piped or quiet."""
    import contextlib

    if quiet or not sys.stderr.isatty():
        return contextlib.nullcontext()
    return _console(stderr=True).status(message)


def _now() -> str:
    import time

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    seconds = int(epoch) if epoch.isdigit() else int(time.time())
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _language(lang: str | None) -> str:
    language = (lang or default_lang()).lower()
    if language not in ("en", "ja"):
        raise fail(f"--lang must be en or ja, not {lang!r}")
    return language


def _emit(reports: list, fmt: Format, output: Path | None, language: str, verbose: bool,  # noqa: ANN001
          redact_hosts: bool, no_redact: bool) -> None:
    """Redact (unless told not to), then render every report in the chosen format, to a file or stdout."""
    from diagnose import engine, redact, render

    stamp = _now()
    reports = [redact.printable(report) for report in reports]
    for report in reports:
        report.generated = stamp
    if no_redact:
        _console(stderr=True).print("virtdiag: WARNING: --no-redact: this report may contain passwords and keys",
                                    markup=False)
        for report in reports:
            report.redacted = False
    else:
        host_map = redact.HostMap(set()) if redact_hosts else None
        reports = [redact.redact(r, redact_hosts, host_map) for r in reports]
    multi = len(reports) > 1
    summary = engine.summarize(reports) if multi else []
    if fmt is Format.text and output is None:
        console = _console()
        if multi:
            render.multi_text(reports, summary, console, language, verbose)
        else:
            render.to_text(reports[0], console, language, verbose)
        return
    if fmt is Format.text:
        from rich.console import Console

        console = Console(record=True, width=100, file=open(os.devnull, "w"))  # noqa: SIM115
        if multi:
            render.multi_text(reports, summary, console, language, verbose)
        else:
            render.to_text(reports[0], console, language, verbose)
        text = console.export_text()
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


def default_lang() -> str:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def _console(stderr: bool = False):  # noqa: ANN202 - rich is imported lazily
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def fail(message: str) -> typer.Exit:
    """One line on stderr (never wrapped, whatever the width), and exit code 2."""
    print(f"virtdiag: {' '.join(message.split())}", file=sys.stderr)
    return typer.Exit(2)


def _read_input(text: list[str] | None, file: Path | None) -> str:
    if file is not None:
        try:
            with open(file, "rb") as handle:
                data = handle.read(MAX_EXPLAIN_BYTES + 1)
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc.strerror or exc}") from exc
        if len(data) > MAX_EXPLAIN_BYTES:
            _console(stderr=True).print(f"virtdiag: {file}: only the first 64 MiB were read", markup=False)
            data = data[:MAX_EXPLAIN_BYTES]
        return data.decode("utf-8", errors="replace")
    if not text or text == ["-"]:
        if sys.stdin.isatty() and not text:
            raise fail("nothing to explain: give the error text, '-' for standard input, or --file PATH")
        return sys.stdin.buffer.read(MAX_EXPLAIN_BYTES).decode("utf-8", errors="replace")
    return " ".join(text) if len(text) > 1 and all("\n" not in t for t in text) else "\n".join(text)


@app.command()
def explain(
    text: Annotated[list[str] | None, typer.Argument(help="The error text; '-' reads standard input.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the paste from a file.")] = None,
    fmt: Annotated[Format, FORMAT_OPT] = Format.text,
    output: Annotated[Path | None, OUTPUT_OPT] = None,
    lang: Annotated[str | None, LANG_OPT] = None,
    probe: Annotated[bool, typer.Option("--probe", help="Check this host's facts to rank fixes.")] = False,
    verbose: Annotated[bool, VERBOSE_OPT] = False,
    redact_hosts: Annotated[bool, REDACT_HOSTS_OPT] = False,
    no_redact: Annotated[bool, NO_REDACT_OPT] = False,
) -> None:
    """Explain a pasted libvirt/virsh/qemu error, log excerpt, XML definition or plain symptom.

    Exit code: 0 something recognised, 1 nothing recognised, 2 usage or internal error.
    """
    from diagnose import engine

    language = _language(lang)
    pasted = _read_input(text, file)
    host = None
    if probe:
        from diagnose.sources import open_host

        host = open_host(None)
    report = engine.explain(pasted, language, host)
    _emit([report], fmt, output, language, verbose, redact_hosts, no_redact)
    raise typer.Exit(0 if report.findings else 1)


@app.command()
def scan(
    roots: Annotated[list[str] | None, typer.Option(
        "--root", help="A copied host tree, an extracted sosreport, or a sosreport tarball (read in place, never "
        "extracted). Repeat for many hosts. Default: this host.")] = None,
    connect: Annotated[str | None, typer.Option("--connect", "-c", help="libvirt URI to ask (read-only). "
                                                "Default on the live host: LIBVIRT_DEFAULT_URI, uri_default, "
                                                "qemu:///system.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the libvirt daemon.")] = 30.0,
    fmt: Annotated[Format, FORMAT_OPT] = Format.text,
    output: Annotated[Path | None, OUTPUT_OPT] = None,
    lang: Annotated[str | None, LANG_OPT] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity that makes the exit code 1.")]
    = FailOn.warning,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing; only the exit code.")] = False,
    verbose: Annotated[bool, VERBOSE_OPT] = False,
    redact_hosts: Annotated[bool, REDACT_HOSTS_OPT] = False,
    no_redact: Annotated[bool, NO_REDACT_OPT] = False,
) -> None:
    """Find what is broken on this host, a copied host tree, or sosreports.

    Exit code: 0 nothing at or above --fail-on found, 1 findings, 2 usage or internal error.
    """
    from diagnose import engine
    from diagnose.sources import Unreadable

    language = _language(lang)
    reports = []
    for root in roots or [None]:
        try:
            with _progress(f"virtdiag: scanning {root or 'this host'}", quiet):
                reports.append(engine.scan(root, language, verbose, connect, timeout))
        except Unreadable as exc:
            if len(roots or []) <= 1:
                raise fail(str(exc)) from exc
            print(f"virtdiag: {' '.join(str(exc).split())}; skipped", file=sys.stderr)
    if not reports:
        raise fail("no host could be read")
    if not quiet:
        _emit(reports, fmt, output, language, verbose, redact_hosts, no_redact)
    worst = {"error": 0, "warning": 1, "info": 2, "never": -1}[fail_on.value]
    failing = [f for r in reports for f in r.findings if {"error": 0, "warning": 1, "info": 2}[f.severity] <= worst]
    raise typer.Exit(1 if failing else 0)


@app.command("list")
def list_signatures() -> None:
    """List every signature: id, section, severity, title."""
    from diagnose import engine

    catalog, _ = engine.loaded()
    signatures = sorted(catalog.signatures, key=lambda s: (s.area, s.id))
    width = max((len(s.id) for s in signatures), default=10)
    for sig in signatures:
        print(f"{sig.id:<{width}}  {sig.section or '-':<9} {sig.severity:<8} {sig.title}")


@app.command()
def show(sig_id: Annotated[str, typer.Argument(help="A signature id (see 'virtdiag list').")]) -> None:
    """Show one signature: summary, patterns, probes, fixes and examples."""
    from rich.markup import escape

    from diagnose import engine

    catalog, _ = engine.loaded()
    sig = catalog.by_id(sig_id)
    if sig is None:
        raise fail(f"no signature {sig_id!r}; 'virtdiag list' shows them all")
    out = _console()
    out.print(f"[bold]{escape(sig.title)}[/bold]  ({sig.id}, {sig.severity}, section {sig.section or '-'})")
    out.print(escape(sig.summary))
    out.print("\n[bold]Recognises[/bold]")
    for pattern in sig.patterns:
        out.print(f"  {escape(pattern.pattern)}")
    if sig.detect:
        out.print(f"  detectors: {', '.join(sig.detect)}")
    if sig.probes:
        out.print(f"\n[bold]Probes[/bold]: {', '.join(sig.probes)}")
    out.print("\n[bold]Fixes[/bold]")
    for fix in sorted(sig.fixes, key=lambda f: -f.score):
        when = ", ".join(f"{k}={v}" for k, v in fix.when) or "always"
        out.print(f"  {fix.id} (score {fix.score}, when {escape(when)}): {escape(fix.title)}")
        for command in fix.commands:
            out.print(f"      [green]{escape(command)}[/green]")
    out.print("\n[bold]Example[/bold]")
    if sig.examples:
        out.print(escape(sig.examples[0].text.strip()))


@app.command("lint-catalog")
def lint_catalog() -> None:
    """Check the catalog: ids, patterns, facts, fixes, examples. Exit 1 on problems."""
    from diagnose import catalog, engine

    loaded = catalog.load()
    problems = catalog.lint(loaded, engine.fact_names(), engine.detector_names())
    for problem in problems:
        print(problem)
    print(f"{len(loaded.signatures)} signatures, {len(problems)} problem(s)")
    raise typer.Exit(1 if problems else 0)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - a diagnostic tool must never show a traceback
        from diagnose.catalog import CatalogError

        kind = "catalog error" if isinstance(exc, CatalogError) else f"internal error ({type(exc).__name__})"
        print(f"virtdiag: {kind}: {exc}", file=sys.stderr)
        sys.exit(2)
