"""The habits of a modern command line, each through the installed command (`virtdiag` in the venv): quiet
SIGPIPE, -h, --version, completion, positional paths and globs, `-o -`, the format from -o's suffix, plurals,
the hint of `explain -` on a terminal, --debug, readable help and usage errors, the man page."""

from __future__ import annotations

import json
import os
import pty
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from diagnose import __version__

REPO = Path(__file__).resolve().parent.parent
VIRTDIAG = Path(sys.executable).parent / "virtdiag"
CLI = [str(VIRTDIAG)] if VIRTDIAG.exists() else [sys.executable, "-m", "diagnose"]
ENV = {**os.environ, "COLUMNS": "200", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
ENV.pop("VIRTDIAG_DEBUG", None)
LINE = "error: Cannot get interface MTU on 'br0': No such device"
HOST = REPO / "samples/hosts/b07-default-network-inactive"
TWO_ERRORS = REPO / "samples/hosts/b04-qemu-log-error"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env={**ENV, **(env or {})}, cwd=cwd,
                          timeout=300, **kwargs)


def shell(line: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """A bash command line with `virtdiag` meaning the installed command."""
    return subprocess.run(["bash", "-c", f"virtdiag() {{ {shlex.join(CLI)} \"$@\"; }}\n{line}"], capture_output=True,
                          text=True, env=ENV, cwd=cwd, timeout=600)


@pytest.mark.parametrize(("command", "times"), [
    (f"virtdiag explain {shlex.quote(LINE)} | head -1", 50),
    (f"virtdiag explain --format json {shlex.quote(LINE)} | true", 3),
    (f"virtdiag explain --format=markdown -v {shlex.quote(LINE)} | head -c 10", 3),  # typer's path
    (f"echo {shlex.quote(LINE)} | virtdiag explain - | head -1", 3),
    (f"virtdiag scan {HOST} | head -1", 3),
    (f"virtdiag scan --format json {HOST} | true", 3),
    ("virtdiag list | head -1", 3),
    ("virtdiag show bridge-missing | head -1", 3),
    ("virtdiag --help | head -1", 3),
])
def test_a_closed_pipe_is_quiet(command, times):
    """`| head -1` and `| true`: no traceback, no "internal error"; virtdiag ends as cat would (0, or killed by
    SIGPIPE: 141 in the shell)."""
    loop = f"for i in $(seq {times}); do {command} >/dev/null; echo \"status ${{PIPESTATUS[0]}}\"; done"
    done = shell(loop)
    assert done.stderr == "", done.stderr[-2000:]
    statuses = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("status ")}
    assert len(done.stdout.splitlines()) == times and statuses <= {"0", "1", "141"}, done.stdout


def test_dash_h_and_version():
    for args in (["-h"], ["explain", "-h"], ["scan", "-h"], ["show", "-h"]):
        done = run(*args)
        assert done.returncode == 0 and "Usage:" in done.stdout, (args, done.stderr)
    for flag in ("--version", "-V"):
        done = run(flag)
        assert (done.returncode, done.stdout) == (0, f"virtdiag {__version__}\n")
    for module in ("virtdiag", "diagnose"):
        done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, cwd=REPO)
        assert done.stdout == f"virtdiag {__version__}\n", done.stderr


def test_help_shows_readable_metavars_only():
    for args in ([], ["explain"], ["scan"], ["show"], ["list"]):
        shown = run(*args, "--help").stdout
        for python_type in ("<list[str]>", "<bool>", "<str>", "<path>", "<float>", "[default: None]", "{sig_id}"):
            assert python_type not in shown, (args, python_type, shown)
    scan = run("scan", "--help").stdout
    for metavar in ("PATH", "URI", "SECONDS", "FORMAT", "FILE", "LANG", "LEVEL"):
        assert metavar in scan


@pytest.mark.parametrize("args", [["scan", "--timeout", "abc"], ["scan", "--format", "yaml"],
                                  ["explain", "--format", "yaml", LINE], ["scan", "--fail-on", "x"], ["show"]])
def test_usage_errors_speak_plainly(args):
    done = run(*args)
    assert done.returncode == 2 and done.stdout == ""
    for wording in ("Input should be", "Value error", "pydantic", "Traceback", "unable to parse"):
        assert wording not in done.stderr, done.stderr
    assert "virtdiag" in done.stderr and ("Invalid value" in done.stderr or "Missing argument" in done.stderr)


def test_completion_knows_commands_values_and_signature_ids():
    def complete(words: str, shell_name: str = "bash") -> str:
        env = {"_VIRTDIAG_COMPLETE": f"complete_{shell_name}", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
               "_TYPER_COMPLETE_ARGS": words}
        return subprocess.run(CLI, capture_output=True, text=True, env={**ENV, **env}, timeout=60).stdout

    ids = complete("virtdiag show bridge").split()
    assert "bridge-missing" in ids and all(i.startswith("bridge") for i in ids), ids
    assert "network-not-started" in complete("virtdiag show ")
    assert "The guest''s libvirt virtual network is not started" in complete("virtdiag show network-not-s", "zsh")
    assert complete("virtdiag scan --format ").split() == ["text", "json", "markdown", "html"]
    assert complete("virtdiag scan --fail-on w").split() == ["warning"]
    assert {"explain", "scan", "show"} <= set(complete("virtdiag ").split())
    script = run("--show-completion", "bash").stdout
    assert "_VIRTDIAG_COMPLETE=complete_bash" in script and "complete " in script


def test_scan_takes_positional_paths_and_globs(tmp_path):
    for name in ("a-host", "b-host"):
        shutil.copytree(HOST, tmp_path / name, symlinks=True)
    done = shell("virtdiag scan --format json *-host", cwd=tmp_path)  # the shell expands the glob
    assert done.returncode == 1, done.stderr
    assert [h["target"]["root"] for h in json.loads(done.stdout)["hosts"]] == ["a-host", "b-host"]
    quoted = run("scan", "--format", "json", "--root", "*-host", cwd=tmp_path)  # a glob the shell left alone
    assert [h["target"]["root"] for h in json.loads(quoted.stdout)["hosts"]] == ["a-host", "b-host"]
    mixed = run("scan", "--format", "json", "a-host", "--root", "b-host", cwd=tmp_path)
    assert len(json.loads(mixed.stdout)["hosts"]) == 2
    nothing = run("scan", "--root", "nope-*", cwd=tmp_path)
    assert nothing.returncode == 2 and nothing.stderr == "virtdiag: no file matches nope-*\n"


def test_output_dash_is_stdout_and_the_suffix_picks_the_format(tmp_path):
    done = run("explain", "-o", "-", "--format", "json", LINE, cwd=tmp_path)
    assert json.loads(done.stdout)["matches"][0]["id"] == "bridge-missing"
    assert not (tmp_path / "-").exists()
    for name, starts in (("r.html", "<!DOCTYPE html>"), ("r.json", "{"), ("r.md", "#"), ("r.txt", "1. ERROR")):
        for args in (["explain", "-o", name, LINE], ["scan", "-o", name, str(HOST)]):
            run(*args, cwd=tmp_path)
            text = (tmp_path / name).read_text()
            assert text.lstrip().startswith(starts) or (name == "r.txt" and "ERROR" in text), (args, text[:200])
    run("explain", "-o", "forced.html", "--format", "json", LINE, cwd=tmp_path)
    assert json.loads((tmp_path / "forced.html").read_text())["matches"]


def test_the_text_summary_counts_in_words():
    one = run("scan", str(HOST)).stdout.splitlines()[0]
    two = run("scan", str(TWO_ERRORS)).stdout.splitlines()[0]
    assert one.endswith(": 1 error") and two.endswith(": 2 errors"), (one, two)


def test_explain_reads_a_lone_file_argument_as_the_paste(tmp_path):
    """`virtdiag explain error.txt` reads the file, as --file does; a lone word that names no file stays text."""
    paste = tmp_path / "error.txt"
    paste.write_text("error: Failed to start domain 'web01'\n" + LINE + "\n")
    named = run("explain", "--format", "json", str(paste))
    flagged = run("explain", "--format", "json", "--file", str(paste))
    assert named.returncode == 0, named.stderr
    found = json.loads(named.stdout)["matches"][0]
    assert found["id"] == "bridge-missing" and found["captures"]["guest"] == "web01"
    assert json.loads(flagged.stdout)["matches"] == json.loads(named.stdout)["matches"]
    typed = run("explain", "--format", "json", str(tmp_path / "missing.txt"))
    assert typed.returncode == 1 and json.loads(typed.stdout)["matches"] == []


def test_explain_dash_on_a_terminal_says_it_is_reading():
    main, terminal = pty.openpty()
    process = subprocess.Popen([*CLI, "explain", "--format", "json", "-"], stdin=terminal, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV)
    os.close(terminal)
    os.write(main, (LINE + "\n").encode() + b"\x04")  # Ctrl-D on a line of its own ends the paste
    out, err = process.communicate(timeout=60)
    os.close(main)
    assert process.returncode == 0 and json.loads(out)["matches"][0]["id"] == "bridge-missing"
    assert err.count("\n") == 1 and "Ctrl-D" in err, err
    piped = run("explain", "--format", "json", "-", input=LINE)
    assert piped.returncode == 0 and piped.stderr == ""


def test_debug_shows_the_traceback_of_an_internal_error(tmp_path):
    """A broken catalog (VIRTDIAG_KNOWLEDGE) stops virtdiag: one line, or with --debug the traceback first."""
    (tmp_path / "broken.toml").write_text("[[signature]\n")
    env = {"VIRTDIAG_KNOWLEDGE": str(tmp_path)}
    plain = run("list", env=env)
    assert plain.returncode == 2 and plain.stderr.count("\n") == 1 and "Traceback" not in plain.stderr
    for args in (["--debug", "list"], ["list", "--debug"], ["explain", "--debug", LINE]):
        debug = run(*args, env=env)
        assert debug.returncode == 2 and debug.stderr.startswith("Traceback (most recent call last):"), debug.stderr
        assert debug.stderr.splitlines()[-1] == plain.stderr.strip()


def test_the_man_page_is_current():
    """man/virtdiag.1 is what scripts/gen_man.py writes from the command line's definitions."""
    done = subprocess.run([sys.executable, str(REPO / "scripts/gen_man.py"), "--check"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    if shutil.which("man"):
        shown = subprocess.run(["man", "-l", str(REPO / "man/virtdiag.1")], capture_output=True, text=True,
                               env={**ENV, "MANWIDTH": "100"})
        assert "virtdiag scan [OPTIONS] [PATH...]" in shown.stdout and "--fail-on LEVEL" in shown.stdout
