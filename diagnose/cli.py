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
    _console(stderr=True).print(f"virtdiag: {message}", markup=False)
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
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    lang: Annotated[str | None, typer.Option("--lang", help="ja or en (default: from LANG).")] = None,
    probe: Annotated[bool, typer.Option("--probe", help="Check this host's facts to rank fixes.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show ruled-out fixes and reasons.")] = False,
) -> None:
    """Explain a pasted libvirt/virsh/qemu error, log excerpt, XML definition or plain symptom."""
    from diagnose import engine, render

    language = (lang or default_lang()).lower()
    if language not in ("en", "ja"):
        raise fail(f"--lang must be en or ja, not {lang!r}")
    pasted = _read_input(text, file)
    host = None
    if probe:
        from diagnose.sources import open_host

        host = open_host(None)
    report = engine.explain(pasted, language, host)
    if fmt is Format.json:
        sys.stdout.write(render.to_json(report, verbose) + "\n")
    else:
        render.to_text(report, _console(), language, verbose)
    raise typer.Exit(0 if report.findings else 1)


@app.command()
def scan(
    root: Annotated[str | None, typer.Option("--root", help="A copied host tree, extracted sosreport, or "
                                             "sosreport tarball (read in place). Default: this host.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    lang: Annotated[str | None, typer.Option("--lang", help="ja or en (default: from LANG).")] = None,
    connect: Annotated[str | None, typer.Option("--connect", "-c", help="libvirt URI to ask (read-only). "
                                                "Default on the live host: LIBVIRT_DEFAULT_URI, uri_default, "
                                                "qemu:///system.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the libvirt daemon.")] = 30.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show ruled-out fixes and reasons.")] = False,
) -> None:
    """Find what is broken on this host, a copied host tree, or a sosreport."""
    from diagnose import engine, render
    from diagnose.sources import Unreadable

    language = (lang or default_lang()).lower()
    try:
        report = engine.scan(root, language, verbose, connect, timeout)
    except Unreadable as exc:
        raise fail(str(exc)) from exc
    if fmt is Format.json:
        sys.stdout.write(render.to_json(report, verbose) + "\n")
    else:
        render.to_text(report, _console(), language, verbose)
    raise typer.Exit(1 if any(f.severity in ("error", "warning") for f in report.findings) else 0)


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
