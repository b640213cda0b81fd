"""Command line (typer): arguments -> engine -> render. explain, scan, merge, list, show, lint-catalog.

Values are taken as plain strings and checked here (one_of, seconds), so a usage error speaks virtdiag's words
whatever the typer version; every value has a metavar (FILE, PATH, URI...), and scripts/gen_man.py writes the
man page from these same definitions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from diagnose import __version__
from diagnose.commands import (
    FORMATS,
    console,
    emit,
    fail,
    language,
    output_format,
    progress,
    run_explain,
    scan_targets,
)


def _no_python_types_in_help() -> None:
    """typer from 0.2x prints each parameter's Python type in --help (`<bool>` beside a flag, `<list[str]>`
    beside an argument) unless it has a metavar; here flags and arguments show none, options their metavar."""
    core = getattr(typer, "core", None)
    for name in ("TyperOption", "TyperArgument"):
        cls = getattr(core, name, None)
        shown = getattr(cls, "display_type_rich", None)
        if cls is None or shown is None:
            continue

        def display_type_rich(self: Any, ctx: Any, shown: Callable[..., Any] = shown) -> Any:
            if self.param_type_name == "argument" or getattr(self, "is_flag", False):
                return None
            return shown(self, ctx)

        setattr(cls, "display_type_rich", display_type_rich)  # noqa: B010 - a method, on purpose


_no_python_types_in_help()


def many(name: str) -> str:
    """The metavar of an argument taking any number of values: typer from 0.2x adds the brackets and dots
    itself (`[PATH]...`), click-based typer shows the metavar as given."""
    return name if hasattr(getattr(typer, "core", None), "TyperArgument") and hasattr(
        typer.core.TyperArgument, "_usage_display_name") else f"[{name}]..."

app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="virtdiag: explain libvirt/KVM errors and find what is broken on a host. Read-only: fixes are "
    "printed, never applied.",
)

FAIL_ON = ("error", "warning", "info", "never")
LANGS = ("en", "ja")


def one_of(*choices: str) -> Callable[[str | None], str | None]:
    """A value check: one of `choices` (None when the option is not given)."""
    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value
    return check


def seconds(value: str) -> str:
    try:
        if float(value) > 0:
            return value
    except ValueError:
        pass
    raise typer.BadParameter(f"{value!r} is not a number of seconds above 0")


def completer(*choices: str) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete)]
    return complete


def signature_ids(incomplete: str) -> list[tuple[str, str]]:
    """`virtdiag show <TAB>`: the signature ids (with their titles, which zsh and fish show)."""
    from diagnose import catalog

    return [(sig.id, sig.title) for sig in sorted(catalog.load().signatures, key=lambda s: s.id)
            if sig.id.startswith(incomplete)]


def _version(value: bool) -> None:
    if value:
        print(f"virtdiag {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", "-V", is_eager=True, callback=_version,
                                          help="Print virtdiag's version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On an internal error, print the whole traceback (for a "
                                        "bug report) instead of one line. Anywhere on the command line.")] = False,
) -> None:
    """Options before the command. --debug is acted on by entry.main, which sees the whole command line
    first; it is declared here for --help, completion and the man page."""


FORMAT_OPT = typer.Option("--format", metavar="FORMAT", callback=one_of(*FORMATS), autocompletion=completer(*FORMATS),
                          show_default=False, help="text, json, markdown or html. Default: from the suffix of "
                          "--output (.json .md .html .txt), else text.")
OUTPUT_OPT = typer.Option("--output", "-o", metavar="FILE", show_default=False,
                          help="Write the report to FILE ('-': standard output).")
LANG_OPT = typer.Option("--lang", metavar="LANG", autocompletion=completer(*LANGS), show_default=False,
                        help="ja or en. Default: from LC_ALL, LC_MESSAGES or LANG.")
VERBOSE_OPT = typer.Option("--verbose", "-v", help="Show ruled-out fixes, notes and the facts that decided.")
REDACT_HOSTS_OPT = typer.Option("--redact-hosts", help="Also replace host names, IP and MAC addresses, UUIDs, "
                                "serial numbers and the sosreport's name.")
NO_REDACT_OPT = typer.Option("--no-redact", help="Keep passwords and keys in the report (says so loudly).")


@app.command()
def explain(
    text: Annotated[list[str] | None, typer.Argument(metavar=many("TEXT"), show_default=False,
                                                     help="The error text; '-' reads standard input.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", metavar="FILE", show_default=False,
                                              help="Read the paste (or a whole log) from FILE.")] = None,
    fmt: Annotated[str | None, FORMAT_OPT] = None,
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
    raise typer.Exit(run_explain(text, file, output_format(fmt, output), output, lang, probe, verbose,
                                 redact_hosts, no_redact))


@app.command()
def scan(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar=many("PATH"), show_default=False, help="What to read, as --root: sosreports (tarballs or "
        "extracted), insights-client archives, sos collect tarballs, folders of them, copied host trees (shell "
        "globs welcome: sosreport-*.tar.xz). One report per host.")] = None,
    roots: Annotated[list[str] | None, typer.Option(
        "--root", metavar="PATH", show_default=False, help="A copied host tree, a sosreport or insights-client "
        "archive (extracted or a tarball, read in place, never extracted), a sos collect tarball or a folder of "
        "sosreports. Repeat for many. Default: this host.")] = None,
    connect: Annotated[str | None, typer.Option("--connect", "-c", metavar="URI", show_default=False,
                                                help="libvirt URI to ask (read-only). Default on the live host: "
                                                "LIBVIRT_DEFAULT_URI, uri_default, qemu:///system.")] = None,
    timeout: Annotated[str, typer.Option("--timeout", metavar="SECONDS", callback=seconds,
                                         help="Seconds to wait for the libvirt daemon.")] = "10",
    fmt: Annotated[str | None, FORMAT_OPT] = None,
    output: Annotated[Path | None, OUTPUT_OPT] = None,
    lang: Annotated[str | None, LANG_OPT] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", metavar="LEVEL", callback=one_of(*FAIL_ON),
                                         autocompletion=completer(*FAIL_ON),
                                         help="Lowest severity that makes the exit code 1: error, warning, info "
                                         "or never.")] = "warning",
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
    from diagnose.host.inputs import Given, hosts_in

    chosen = language(lang)
    targets = scan_targets([*(paths or []), *(roots or [])])
    wanted: list[Given] = []
    for target in targets:  # a folder of sosreports, a sos collect tarball: one report per host in it
        try:
            wanted.extend(hosts_in(target))
        except Unreadable as exc:
            if len(targets) == 1:
                raise fail(str(exc)) from exc
            print(f"virtdiag: {' '.join(str(exc).split())}; skipped", file=sys.stderr)
    reports = []
    shown: set[str] = set()
    hosts: list[Given | None] = [*wanted] if targets else [None]  # no path: this host
    for given in hosts:
        try:
            with progress(f"virtdiag: {given.label if given else 'this host'}", quiet, shown) as say:
                reports.append(engine.scan(given.path if given else None, chosen, verbose, connect, float(timeout),
                                           say, given.member if given else ""))
        except Unreadable as exc:
            if len(wanted) <= 1:
                raise fail(str(exc)) from exc
            print(f"virtdiag: {' '.join(str(exc).split())}; skipped", file=sys.stderr)
    if not reports:
        raise fail("no host could be read")
    if not quiet:
        emit(reports, output_format(fmt, output), output, chosen, verbose, redact_hosts, no_redact)
        for hint in dict.fromkeys(hint for report in reports for hint in report.hints):
            if hint not in shown:
                print(f"virtdiag: hint: {hint}", file=sys.stderr)
    raise typer.Exit(exit_code(reports, fail_on))


def exit_code(reports: list[Any], fail_on: str) -> int:
    """1 when any finding is at or above --fail-on's severity, else 0."""
    worst = {"error": 0, "warning": 1, "info": 2, "never": -1}[fail_on]
    failing = [f for r in reports for f in r.findings if {"error": 0, "warning": 1, "info": 2}[f.severity] <= worst]
    return 1 if failing else 0


@app.command()
def merge(
    files: Annotated[list[Path], typer.Argument(metavar=many("REPORT.json"), show_default=False,
                                                help="JSON reports of `virtdiag scan --format json` (one host or "
                                                "several each), e.g. fetched from a fleet.")],
    fmt: Annotated[str | None, FORMAT_OPT] = None,
    output: Annotated[Path | None, OUTPUT_OPT] = None,
    lang: Annotated[str | None, LANG_OPT] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", metavar="LEVEL", callback=one_of(*FAIL_ON),
                                         autocompletion=completer(*FAIL_ON),
                                         help="Lowest severity that makes the exit code 1.")] = "warning",
    verbose: Annotated[bool, VERBOSE_OPT] = False,
    redact_hosts: Annotated[bool, REDACT_HOSTS_OPT] = False,
) -> None:
    """Merge JSON scan reports made on many hosts into one report: a per-host overview, what is found on
    how many hosts, then each host. A host reported twice keeps its newest report.

    Exit code: 0 nothing at or above --fail-on, 1 findings, 2 no report could be read.
    """
    from diagnose import reportjson

    reports = []
    for path in files:
        try:
            reports.extend(reportjson.load(path))
        except reportjson.NotAReport as exc:
            if len(files) == 1:
                raise fail(str(exc)) from exc
            print(f"virtdiag: {' '.join(str(exc).split())}; skipped", file=sys.stderr)
    if not reports:
        raise fail("no report could be read")
    reports, older = reportjson.newest_per_host(reports)
    for report in older:
        print(f"virtdiag: {report.target.get('hostname') or report.target.get('root', '?')}: an older report "
              f"({report.generated}) left out for the newer one", file=sys.stderr)
    emit(reports, output_format(fmt, output), output, language(lang), verbose, redact_hosts, False, restamp=False)
    raise typer.Exit(exit_code(reports, fail_on))


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
def show(sig_id: Annotated[str, typer.Argument(metavar="ID", autocompletion=signature_ids,
                                               help="A signature id (see 'virtdiag list').")]) -> None:
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
    for pattern in sig.weak_patterns:
        out.print(f"  {escape(pattern.pattern)}  (weak: decides only with context)")
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
    from diagnose import catalog, engine, lint, messages

    loaded = catalog.load()
    problems = lint.lint(loaded, engine.fact_names(), engine.detectors())
    for problem in problems:
        print(problem)
    index = messages.TemplateIndex(messages.templates_path())
    templates = [(index.record(n)["key"], messages.area_of(tuple(index.record(n)["files"]))) for n in range(len(index))]
    print(lint.coverage_line(lint.coverage(loaded, templates)))
    print(f"{len(loaded.signatures)} signatures, {len(problems)} problem(s)")
    raise typer.Exit(1 if problems else 0)
