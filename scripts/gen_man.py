"""Write man/virtdiag.1 from the command line's own definitions (diagnose/cli.py's typer app): every command,
argument and option with its metavar and help, as `virtdiag COMMAND --help` shows them.

    python scripts/gen_man.py          rewrite man/virtdiag.1
    python scripts/gen_man.py --check  exit 1 if man/virtdiag.1 is not what the definitions give (a test runs it)
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import typer.main  # noqa: E402

from diagnose import __version__  # noqa: E402
from diagnose.cli import app  # noqa: E402

MAN = ROOT / "man" / "virtdiag.1"

ENVIRONMENT = [
    ("LIBVIRT_DEFAULT_URI", "The libvirt URI `scan` asks on the live host, unless --connect says otherwise."),
    ("LC_ALL, LC_MESSAGES, LANG", "The language of explanations (ja or en), unless --lang says otherwise."),
    ("SOURCE_DATE_EPOCH", "The time written into reports, so that the same scan gives the same report twice."),
    ("VIRTDIAG_PREFILTER", "stdlib: read big plain logs line by line in Python; grep: use grep as their first stage "
     "even when hyperscan is installed. The findings are the same."),
    ("VIRTDIAG_LIVE", "virsh: ask the libvirt daemon through virsh -r even when libvirt-python is installed."),
    ("VIRTDIAG_DEBUG", "1: as --debug."),
]


def roff(text: str) -> str:
    """Text for a roff line: backslashes and dashes escaped, no line starting with a control character."""
    lines = []
    for line in text.replace("\\", "\\e").replace("-", "\\-").splitlines():
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def metavar(param: Any) -> str:
    name = (param.metavar or param.name.upper()).strip("[]. ")
    if param.param_type_name == "argument":
        name = f"{name}..." if param.nargs == -1 else name
        return name if param.required else f"[{name}]"
    return name


def option(param: Any) -> list[str]:
    names = ", ".join(f"\\fB{roff(o)}\\fR" for o in sorted(param.opts + param.secondary_opts, key=len))
    value = "" if param.is_flag else f" \\fI{roff(metavar(param))}\\fR"
    help_text = " ".join((param.help or "").split())
    if not param.is_flag and param.default not in (None, "", ()) and not param.required:
        help_text += f" Default: {param.default}."
    return [".TP", names + value, roff(help_text)]


def usage(name: str, command: Any) -> str:
    arguments = " ".join(metavar(p) for p in command.params if p.param_type_name == "argument")
    return f"virtdiag {name} [OPTIONS] {arguments}".rstrip()


def page() -> str:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    summary = " ".join((group.help or "").split())
    out = [f'.TH VIRTDIAG 1 "" "virtdiag {__version__}" "User Commands"', ".SH NAME",
           "virtdiag \\- " + roff(summary.removeprefix("virtdiag: ").split(". ")[0]),
           ".SH SYNOPSIS", ".B virtdiag", "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
           ".SH DESCRIPTION", roff(summary), ".SH OPTIONS"]
    for param in group.params:
        if param.param_type_name == "option" and not param.hidden:
            out += option(param)
    out += [".TP", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR", "Show the help of virtdiag, or of a command after it, and exit.",
            ".SH COMMANDS"]
    for name, command in commands.items():
        out += [f'.SS "{roff(usage(name, command))}"']
        for paragraph in inspect.cleandoc(command.help or "").split("\n\n"):
            out += [roff(" ".join(paragraph.split())), ".PP"]
        for param in command.params:
            if param.param_type_name == "argument":
                out += [".TP", f"\\fI{roff(metavar(param))}\\fR", roff(" ".join((param.help or "").split()))]
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                out += option(param)
    out += [".SH \"SHELL COMPLETION\"",
            roff("virtdiag --install-completion adds completion (commands, options, their values and the signature "
                 "ids of `virtdiag show`) to the current shell's start-up file; virtdiag --show-completion prints "
                 "it instead, to install by hand."),
            ".SH ENVIRONMENT"]
    for variable, meaning in ENVIRONMENT:
        out += [".TP", f"\\fB{roff(variable)}\\fR", roff(meaning)]
    out += [".SH \"SEE ALSO\"", "virsh(1), virt\\-host\\-validate(1), sos(1)", ""]
    return "\n".join(out)


def main() -> int:
    text = page()
    if sys.argv[1:] == ["--check"]:
        current = MAN.read_text(encoding="utf-8") if MAN.exists() else ""
        if current != text:
            print(f"{MAN.relative_to(ROOT)} is stale: run python scripts/gen_man.py", file=sys.stderr)
            return 1
        return 0
    MAN.parent.mkdir(exist_ok=True)
    MAN.write_text(text, encoding="utf-8")
    print(f"wrote {MAN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
