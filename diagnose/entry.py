"""Entry point: `virtdiag` answers plain `explain` runs without typer, everything else through cli.app."""

from __future__ import annotations

import sys


def main() -> None:
    """The `virtdiag` command."""
    from diagnose import commands

    try:
        args = sys.argv[1:]
        fast = commands.parse_explain(args[1:]) if args[:1] == ["explain"] else None
        if fast is None:
            from diagnose.cli import app

            app()
        else:
            sys.exit(commands.run_explain(**fast))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - a diagnostic tool must never show a traceback
        from diagnose.catalog import CatalogError

        kind = "catalog error" if isinstance(exc, CatalogError) else f"internal error ({type(exc).__name__})"
        print(f"virtdiag: {kind}: {exc}", file=sys.stderr)
        sys.exit(2)
