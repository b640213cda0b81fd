"""The fast `explain` entry point (commands.py) against typer's own parsing of the same arguments."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from diagnose import commands, entry
from diagnose.cli import app

LINE = "error: Cannot get interface MTU on 'br0': No such device"


def test_fast_options_are_typers_options():
    """EXPLAIN_OPTIONS lists exactly the spellings typer accepts for explain, with the same kind of value."""
    command = typer.main.get_command(app).commands["explain"]
    typer_options = {}
    for param in command.params:
        if param.param_type_name != "option":
            continue
        for spelling in (*param.opts, *param.secondary_opts):
            typer_options[spelling] = (param.name, param.is_flag)
    fast = {spelling: (name, convert is None) for spelling, (name, convert) in commands.EXPLAIN_OPTIONS.items()}
    assert fast == typer_options


def test_parse_explain_plain_forms():
    assert commands.parse_explain([LINE]) == {"text": [LINE]}
    assert commands.parse_explain(["--format", "json", "-v", "a", "b"]) == {
        "fmt": commands.Format.json, "verbose": True, "text": ["a", "b"]}
    assert commands.parse_explain(["--format=html", "-f", "x.log", "--lang", "ja"]) == {
        "fmt": commands.Format.html, "file": Path("x.log"), "lang": "ja"}
    assert commands.parse_explain(["-", "--no-redact"]) == {"text": ["-"], "no_redact": True}
    assert commands.parse_explain(["--", "-v", "--format"]) == {"text": ["-v", "--format"]}
    assert commands.parse_explain([]) == {}


@pytest.mark.parametrize("args", [["--help"], ["--format", "yaml", LINE], ["--format"], ["-vf", "x"],
                                  ["--verbose=1", LINE], ["--bogus", LINE], ["-x"]])
def test_anything_else_goes_to_typer(args):
    assert commands.parse_explain(args) is None


def _fast(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old_argv, old_stdin = sys.argv, sys.stdin
    sys.argv = ["virtdiag", "explain", *args]
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
    try:
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exited:
            entry.main()
    finally:
        sys.argv, sys.stdin = old_argv, old_stdin
    return exited.value.code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("args", [
    [LINE],
    ["--format", "json", LINE],
    ["--format=markdown", "-v", LINE],
    ["--lang", "ja", LINE],
    ["--format", "json", "just some words that match nothing at all"],
    ["--lang", "xx", LINE],
    ["--format", "json", "-"],
])
def test_fast_path_answers_as_typer_does(args, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.setenv("COLUMNS", "100")
    assert commands.parse_explain(args) is not None
    code, out, err = _fast(args, stdin=LINE)
    result = CliRunner().invoke(app, ["explain", *args], input=LINE)
    assert (code, out) == (result.exit_code, result.stdout)
    assert err.strip() == result.stderr.strip()


def test_fast_path_reads_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    paste = tmp_path / "paste.txt"
    paste.write_text(f"error: Failed to start domain 'web01'\n{LINE}\n")
    code, out, _ = _fast(["--format", "json", "--file", str(paste)])
    result = CliRunner().invoke(app, ["explain", "--format", "json", "-f", str(paste)])
    assert code == result.exit_code == 0
    assert out == result.stdout and '"bridge-missing"' in out


def test_missing_file_is_one_line_and_exit_2(tmp_path):
    code, out, err = _fast(["-f", str(tmp_path / "nope.txt")])
    assert code == 2 and out == ""
    assert err.startswith("virtdiag: cannot read ") and err.count("\n") == 1


def test_one_line_explain_imports_only_what_it_needs():
    """The issue's rule: no typer (pydantic), lxml, libvirt or host readers for `explain 'one line'`."""
    import subprocess

    code = ("import sys, io, contextlib\n"
            f"sys.argv = ['virtdiag', 'explain', {LINE!r}]\n"
            "from diagnose.entry import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main()\n    except SystemExit as e:\n        assert e.code == 0, e.code\n"
            "print(' '.join(sorted(sys.modules)))\n")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                 .stdout.split())
    heavy = {"typer", "click", "pydantic", "lxml", "libvirt", "diagnose.host.reader", "diagnose.host.live",
             "diagnose.host.archive", "diagnose.probes", "diagnose.checks", "diagnose.cli", "diagnose.parsers",
             "tomllib"}
    assert not heavy & loaded, heavy & loaded
    assert "diagnose.engine" in loaded and "rich.console" in loaded
