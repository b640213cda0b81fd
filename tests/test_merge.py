"""`virtdiag merge`: JSON scan reports made on many hosts become the one multi-host report that scanning them
together gives (issue 15: fleets)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from diagnose.cli import app

HOSTS = Path(__file__).resolve().parent.parent / "samples" / "hosts"
CASES = ("b11-bridge-missing", "b07-default-network-inactive", "healthy")
runner = CliRunner()


def scanned(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.json"
    result = runner.invoke(app, ["scan", str(HOSTS / case), "-o", str(path)])
    assert result.exit_code in (0, 1), result.output
    return path


def without_times(body: dict) -> dict:
    for host in body["hosts"]:
        host.pop("generated")
    return body


def test_merging_per_host_reports_gives_the_report_of_one_scan_of_them_all(tmp_path):
    files = [scanned(tmp_path, case) for case in CASES]
    merged = runner.invoke(app, ["merge", *map(str, files), "--format", "json"])
    together = runner.invoke(app, ["scan", *(str(HOSTS / case) for case in CASES), "--format", "json"])
    assert merged.exit_code == together.exit_code == 1, merged.output
    assert without_times(json.loads(merged.stdout)) == without_times(json.loads(together.stdout))
    summary = json.loads(merged.stdout)["summary"]
    assert [(row["id"], row["hosts"]) for row in summary] == [
        ("bridge-missing", ["kvmhost (samples/hosts/b11-bridge-missing)".replace("samples/hosts", str(HOSTS))]),
        ("network-not-started", ["kvmhost (samples/hosts/b07-default-network-inactive)".replace(
            "samples/hosts", str(HOSTS))])]


def test_a_merged_report_keeps_the_time_each_host_was_scanned(tmp_path):
    path = scanned(tmp_path, "healthy")
    body = json.loads(path.read_text())
    body["generated"] = "2024-05-02T09:02:31Z"
    path.write_text(json.dumps(body))
    merged = runner.invoke(app, ["merge", str(path), str(scanned(tmp_path, "b11-bridge-missing")), "--format", "json"])
    hosts = json.loads(merged.stdout)["hosts"]
    assert hosts[0]["generated"] == "2024-05-02T09:02:31Z" and hosts[1]["generated"] != hosts[0]["generated"]


def test_a_multi_host_report_merges_too_and_a_host_twice_keeps_its_newest(tmp_path):
    collect = tmp_path / "collect.json"
    assert runner.invoke(app, ["scan", str(HOSTS / "sos-collect-two-hosts"), "-o", str(collect)]).exit_code == 1
    body = json.loads(collect.read_text())
    older = tmp_path / "kvm1-older.json"
    first = dict(body["hosts"][0], generated="2020-01-01T00:00:00Z", findings=[])
    older.write_text(json.dumps(first))
    merged = runner.invoke(app, ["merge", str(older), str(collect), "--format", "json"])
    assert merged.exit_code == 1
    hosts = json.loads(merged.stdout)["hosts"]
    assert [(h["target"]["hostname"], [f["id"] for f in h["findings"]]) for h in hosts] == [
        ("kvm1", ["bridge-missing"]), ("kvm2", ["network-not-started"])]
    assert merged.stderr == "virtdiag: kvm1: an older report (2020-01-01T00:00:00Z) left out for the newer one\n"


def test_what_is_not_a_scan_report_is_one_line(tmp_path):
    good = scanned(tmp_path, "b11-bridge-missing")
    cases = {
        "notjson.json": (b"{not json", "not JSON"),
        "other.json": (b'{"hello": 1}', "not a virtdiag report (virtdiag scan --format json writes one)"),
        "explain.json": (None, "an explain report; merge takes scan reports"),
        "future.json": (None, "report schema 99; this virtdiag reads 1"),
    }
    explain = runner.invoke(app, ["explain", "--format", "json", "Cannot get interface MTU on 'br0': No such device"])
    future = json.loads(good.read_text()) | {"schema_version": 99}
    for name, (data, words) in cases.items():
        path = tmp_path / name
        if name == "explain.json":
            path.write_text(explain.stdout)
        elif name == "future.json":
            path.write_text(json.dumps(future))
        else:
            path.write_bytes(data)
        alone = runner.invoke(app, ["merge", str(path)])
        assert alone.exit_code == 2 and alone.stdout == "", alone.output
        assert alone.stderr.startswith(f"virtdiag: {path}: ") and words in alone.stderr, alone.stderr
        assert alone.stderr.count("\n") == 1
        beside = runner.invoke(app, ["merge", str(path), str(good), "--format", "json"])
        assert beside.exit_code == 1 and beside.stderr.endswith("; skipped\n"), beside.output
        assert [h["target"]["hostname"] for h in [json.loads(beside.stdout)]] == ["kvmhost"]
    missing = runner.invoke(app, ["merge", str(tmp_path / "nowhere.json")])
    assert missing.exit_code == 2 and "No such file or directory" in missing.stderr


def test_the_host_key_is_the_machine_not_the_copy(tmp_path):
    """JSON's target.host_key: hostname + an application-specific hash of /etc/machine-id (never the ID itself),
    the same for two copies of one host; without a machine ID, two copies both called kvmhost stay two hosts."""
    import shutil

    machine = "0123456789abcdef0123456789abcdef"
    keys = []
    for copy in ("one", "two"):
        root = tmp_path / copy
        shutil.copytree(HOSTS / "healthy", root, symlinks=True)  # its absolute links point into the host
        (root / "etc" / "machine-id").write_text(machine + "\n")
        body = json.loads(runner.invoke(app, ["scan", str(root), "--format", "json"]).stdout)
        keys.append(body["target"]["host_key"])
    assert keys[0] == keys[1] and keys[0].startswith("kvmhost:") and machine not in keys[0]
    assert len(keys[0]) == len("kvmhost:") + 32
    bare = [json.loads(runner.invoke(app, ["scan", str(HOSTS / case), "--format", "json"]).stdout)["target"]
            ["host_key"] for case in ("healthy", "b11-bridge-missing")]
    assert bare[0] != bare[1] and all(key.startswith("kvmhost|") for key in bare)
