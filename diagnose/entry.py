"""Entry point: `virtdiag` answers plain `explain` runs and --version without typer, everything else through
cli.app; a closed pipe ends it quietly, an internal error is one line (--debug: the traceback)."""

from __future__ import annotations

import os
import signal
import sys


def _flush_or_sigpipe() -> None:
    """Flush standard output now, not at interpreter exit (where a closed pipe prints "Exception ignored")."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _die_of_sigpipe()


def _die_of_sigpipe() -> None:
    """The reader went away (`virtdiag ... | head -1`): end as cat or grep would, killed by SIGPIPE (the shell
    sees 141), silently. Standard output is pointed at /dev/null first so nothing is flushed into the pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(141)


def main() -> None:
    """The `virtdiag` command."""
    args = sys.argv[1:]
    words = args[: args.index("--")] if "--" in args else args
    debug = "--debug" in words or os.environ.get("VIRTDIAG_DEBUG") == "1"
    if "--debug" in words:  # a global flag, anywhere before `--`
        args.remove("--debug")
        sys.argv[1:] = args
    if args[:1] not in (["scan"], ["explain"]) and hasattr(signal, "SIGPIPE"):
        # `scan` may talk to a libvirt daemon (a socket, or ssh through a pipe) and both may feed grep through a
        # pipe: there a broken pipe must be an error, not a death. They take this default in commands.emit, once
        # they write their report.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        if args in (["--version"], ["-V"]):
            from diagnose import __version__

            print(f"virtdiag {__version__}")
            code = 0
        else:
            from diagnose import commands

            fast = commands.parse_explain(args[1:]) if args[:1] == ["explain"] else None
            if fast is None:
                from diagnose.cli import app

                app()
                code = 0
            else:
                code = commands.run_explain(**fast)
        _flush_or_sigpipe()
        sys.exit(code)
    except SystemExit:
        _flush_or_sigpipe()
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        _die_of_sigpipe()
    except Exception as exc:  # noqa: BLE001 - a diagnostic tool shows one line, unless asked for the traceback
        from diagnose.catalog import CatalogError

        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, CatalogError):
            print(f"virtdiag: catalog error: {exc}", file=sys.stderr)
        else:
            hint = "" if debug else " (--debug shows where; please add that to a bug report)"
            print(f"virtdiag: internal error ({type(exc).__name__}): {exc}{hint}", file=sys.stderr)
        sys.exit(2)
