"""The command line through typer's CliRunner: exit codes, formats, input modes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from diagnose.cli import app

runner = CliRunner()
BRIDGE = "error: Failed to start domain 'web01'\nerror: Cannot get interface MTU on 'br0': No such device\n"


def test_explain_json_contract():
    result = runner.invoke(app, ["explain", "--format", "json", BRIDGE])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["tool"]["name"] == "virtdiag"
    top = body["matches"][0]
    assert top["id"] == "bridge-missing"
    assert top["captures"]["bridge"] == "br0"
    assert top["evidence"][0] == {"source": "paste", "line": 2, "text": BRIDGE.splitlines()[1]}
    assert top["fixes"][0]["rank"] == 1
    assert any("br0" in c for c in top["fixes"][0]["commands"])


def test_explain_reads_stdin():
    result = runner.invoke(app, ["explain", "--format", "json", "-"], input=BRIDGE)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["matches"][0]["id"] == "bridge-missing"


def test_explain_reads_a_file(tmp_path):
    paste = tmp_path / "paste.txt"
    paste.write_text("noise\n" * 100 + BRIDGE)
    result = runner.invoke(app, ["explain", "--format", "json", "--file", str(paste)])
    assert json.loads(result.stdout)["matches"][0]["evidence"][0]["line"] == 102


def test_explain_nothing_recognised_exits_1():
    result = runner.invoke(app, ["explain", "zzzz qqqq"])
    assert result.exit_code == 1
    assert "Nothing recognised" in result.stdout


def test_explain_unreadable_file_exits_2(tmp_path):
    result = runner.invoke(app, ["explain", "--file", str(tmp_path / "missing.txt")])
    assert result.exit_code == 2


def test_explain_text_shows_fix_commands():
    result = runner.invoke(app, ["explain", "--lang", "en", BRIDGE])
    assert "br0" in result.stdout and "bridge-missing" in result.stdout


def test_list_and_show():
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0 and "bridge-missing" in listing.stdout
    shown = runner.invoke(app, ["show", "bridge-missing"])
    assert shown.exit_code == 0 and "B.11" in shown.stdout
    assert runner.invoke(app, ["show", "no-such-id"]).exit_code == 2


def test_lint_catalog_passes():
    result = runner.invoke(app, ["lint-catalog"])
    assert result.exit_code == 0, result.stdout


def test_explain_file_streams_a_big_log_to_its_end(tmp_path):
    """A log bigger than a paste is read as scan reads a log: the error at its very end is found, with its
    line number, whatever the size (a paste would stop at 64 MiB)."""
    from diagnose import commands

    noise = "May  2 08:00:00 kvm1 systemd[1]: Started Session 4 of user root.\n"
    lines = (commands.LOG_FILE_ABOVE // len(noise)) + 10
    plain = tmp_path / "messages"
    plain.write_text(noise * lines + "May  2 08:00:01 kvm1 libvirtd[1201]: error : virNetDevGetMTU:397 : "
                     "Cannot get interface MTU on 'br7': No such device\n")
    daemon = tmp_path / "libvirtd.log"
    record = "2024-05-02 08:00:00.000+0000: 77: debug : virObjectRef:1 : OBJECT_REF: obj=0x7f00\n"
    daemon.write_text(record * lines + "2024-05-02 08:00:01.000+0000: 77: error : virNetDevGetMTU:397 : "
                      "Cannot get interface MTU on 'br8': No such device\n")
    for path, bridge in ((plain, "br7"), (daemon, "br8")):
        result = runner.invoke(app, ["explain", "--format", "json", "--file", str(path)])
        assert result.exit_code == 0, result.output
        [finding] = json.loads(result.stdout)["matches"]
        assert finding["id"] == "bridge-missing" and finding["captures"] == {"bridge": bridge}
        assert [(e["path"], e["line"]) for e in finding["evidence"]] == [(str(path), lines + 1)]


def test_explain_file_of_a_big_binary_file_is_one_line(tmp_path):
    from diagnose import commands

    blob = tmp_path / "core"
    blob.write_bytes(bytes(range(256)) * (commands.LOG_FILE_ABOVE // 256 + 1))
    result = runner.invoke(app, ["explain", "--file", str(blob)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("virtdiag: ") and "binary" in result.stderr and result.stderr.count("\n") == 1


def test_scan_of_a_folder_with_nothing_of_a_host_is_one_line_exit_2(tmp_path):
    """An empty folder, or one of unrelated files: nothing read is not "nothing wrong"."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("customer says the VM is slow\n")
    for folder in ("empty", "junk"):
        result = runner.invoke(app, ["scan", str(tmp_path / folder)])
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert result.stderr == (f"virtdiag: {tmp_path / folder}: no host in it (expected a sosreport (a tarball or "
                                 "extracted), an insights-client archive, a `sos collect` tarball, a folder of those, "
                                 "or a copy of a host's /etc and /var)\n")


def test_scan_of_a_folder_of_sosreports_reports_each_host(tmp_path):
    """A case folder as support receives it: sosreports extracted side by side (and a stray tarball that is
    not one: said in one line, the others still read)."""
    import shutil

    hosts = Path(__file__).resolve().parent.parent / "samples" / "hosts"
    for case in ("sosreport-bridge-missing", "sos-collect-two-hosts"):
        for top in (hosts / case).glob("sosreport-*"):
            shutil.copytree(top, tmp_path / top.name, symlinks=True)
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tarball at all")
    result = runner.invoke(app, ["scan", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1, result.output
    reports = json.loads(result.stdout)["hosts"]
    assert [(r["target"]["hostname"], [f["id"] for f in r["findings"]]) for r in reports] == [
        ("kvm1", ["bridge-missing"]), ("kvm2", ["network-not-started"]), ("kvmhost", ["bridge-missing"])]
    assert result.stderr == f"virtdiag: {tmp_path / 'broken.tar.gz'}: not a readable tar archive (truncated header); " \
                            "skipped\n"
