"""Command line (typer): arguments -> engine -> render. explain, scan, list, show, lint-catalog."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from diagnose.commands import Format, console, emit, fail, language, progress, run_explain

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="virtdiag: explain libvirt/KVM errors and find what is broken on a host. Read-only: fixes are "
    "printed, never applied.",
)


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


FORMAT_OPT = typer.Option("--format", help="text (default), json, markdown or html.")
OUTPUT_OPT = typer.Option("--output", "-o", help="Write the report to this file instead of standard output.")
LANG_OPT = typer.Option("--lang", help="ja or en (default: from LC_ALL / LC_MESSAGES / LANG).")
VERBOSE_OPT = typer.Option("--verbose", "-v", help="Show ruled-out fixes, notes and the facts that decided.")
REDACT_HOSTS_OPT = typer.Option("--redact-hosts", help="Also replace host names, IP and MAC addresses, UUIDs, "
                                "serial numbers and the sosreport's name.")
NO_REDACT_OPT = typer.Option("--no-redact", help="Keep passwords and keys in the report (says so loudly).")


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
    raise typer.Exit(run_explain(text, file, fmt, output, lang, probe, verbose, redact_hosts, no_redact))


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
    from diagnose.host.base import Unreadable

    chosen = language(lang)
    reports = []
    wanted: list[str | None] = list(roots) if roots else [None]
    for root in wanted:
        try:
            with progress(f"virtdiag: {root or 'this host'}", quiet) as say:
                reports.append(engine.scan(root, chosen, verbose, connect, timeout, say))
        except Unreadable as exc:
            if len(roots or []) <= 1:
                raise fail(str(exc)) from exc
            print(f"virtdiag: {' '.join(str(exc).split())}; skipped", file=sys.stderr)
    if not reports:
        raise fail("no host could be read")
    if not quiet:
        emit(reports, fmt, output, chosen, verbose, redact_hosts, no_redact)
        for hint in dict.fromkeys(hint for report in reports for hint in report.hints):
            print(f"virtdiag: hint: {hint}", file=sys.stderr)
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
    out = console()
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
    from diagnose import catalog, engine, lint

    loaded = catalog.load()
    problems = lint.lint(loaded, engine.fact_names(), engine.detectors())
    for problem in problems:
        print(problem)
    print(f"{len(loaded.signatures)} signatures, {len(problems)} problem(s)")
    raise typer.Exit(1 if problems else 0)
