"""contrib/: virtdiag inside the tools support already runs (issue 15). The Ansible playbook scans an inventory
and merges the reports; the insights-core rules run virtdiag on the archive insights opened. Both must give
the findings `virtdiag scan` gives. They need ansible-core and insights-core (`pip install -e '.[contrib]'`,
which scripts/dev.sh does): without them these tests skip, except under CI=true, where they must run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from diagnose import engine

REPO = Path(__file__).resolve().parent.parent
HOSTS = REPO / "samples" / "hosts"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if found is None:
        why = f"{name} is not installed (pip install -e '.[contrib]')"
        if os.environ.get("CI") == "true":
            pytest.fail(why + ": under CI=true the contrib tests must run")
        pytest.skip(why)
    return str(found)


def findings_of(report_json: dict) -> list[tuple[str, dict[str, str]]]:
    return [(f["id"], f["captures"]) for f in report_json["findings"]]


def scanned(root: str) -> list[tuple[str, dict[str, str]]]:
    return [(f.id, dict(f.captures)) for f in engine.scan(root).findings]


def test_ansible_playbook_scans_an_inventory_and_merges_the_reports(tmp_path):
    playbook = tool("ansible-playbook")
    cases = {"kvm1": "b11-bridge-missing", "kvm2": "b07-default-network-inactive", "kvm3": "healthy"}
    inventory = tmp_path / "inventory"
    inventory.write_text("[kvm]\n" + "".join(
        f"{host} ansible_connection=local ansible_python_interpreter={sys.executable} "
        f"virtdiag_paths='[\"{HOSTS / case}\"]'\n" for host, case in cases.items()))
    virtdiag = str(BIN / "virtdiag")
    env = {**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    done = subprocess.run(
        [playbook, "-i", str(inventory), str(REPO / "contrib" / "ansible" / "virtdiag-fleet.yml"),
         "-e", f"virtdiag_command={virtdiag}", "-e", f"virtdiag_merge_command={virtdiag}",
         "-e", "virtdiag_become=false", "-e", f"virtdiag_report_dir={tmp_path / 'reports'}",
         "-e", f"virtdiag_report={tmp_path / 'fleet.json'}"],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["kvm1.json", "kvm2.json", "kvm3.json"]
    merged = json.loads((tmp_path / "fleet.json").read_text())
    by_root = {host["target"]["root"]: findings_of(host) for host in merged["hosts"]}
    assert by_root == {str(HOSTS / case): scanned(str(HOSTS / case)) for case in cases.values()}
    assert [(row["id"], len(row["hosts"])) for row in merged["summary"]] == [
        ("bridge-missing", 1), ("network-not-started", 1)]


def insights_run(plugin_dir: Path, archive: Path) -> dict:
    runner = tool("insights-run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), str(REPO)])}
    done = subprocess.run([runner, "-p", "virtdiag_rules", "-f", "json", str(archive)], capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_insights_rules_give_the_findings_of_scan_on_a_sosreport(tmp_path):
    script = REPO / "scripts" / "make_sos_tarball.py"
    made = subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True, text=True)
    sosreport = Path(made.stdout.strip())
    result = insights_run(REPO / "contrib" / "insights", sosreport)
    assert result["analysis_metadata"]["execution_context"] == "insights.core.context.SosArchiveContext"
    fails = {r["key"]: r["details"] for r in result["reports"] if r["type"] == "rule"}
    found = [(f["id"], f["captures"]) for details in fails.values() for f in details["findings"]]
    assert sorted(fails) == ["VIRTDIAG_BRIDGE_MISSING"]
    assert found == scanned(str(sosreport)) == [("bridge-missing", {"bridge": "br0", "guest": "db01"})]
    assert fails["VIRTDIAG_BRIDGE_MISSING"]["findings"][0]["fixes"][0]["id"] == "bring-up-configured-bridge"


def test_insights_rules_on_an_insights_client_archive(tmp_path):
    top = next(p for p in (HOSTS / "insights-vm-real").iterdir() if p.is_dir())
    archive = tmp_path / f"{top.name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    result = insights_run(REPO / "contrib" / "insights", archive)
    fails = {r["key"]: r["details"] for r in result["reports"] if r["type"] == "rule"}
    assert sorted(fails) == ["VIRTDIAG_BRIDGE_MISSING", "VIRTDIAG_HOSTNAME_LOOPBACK"]
    found = sorted((f["id"], f["captures"]) for details in fails.values() for f in details["findings"])
    assert found == sorted(scanned(str(archive)))
