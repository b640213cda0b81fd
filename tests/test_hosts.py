"""Every samples/hosts/<case>/ gives exactly the findings its expected.toml lists."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from diagnose import engine

HOSTS = Path(__file__).resolve().parent.parent / "samples" / "hosts"
CASES = sorted(p.parent for p in HOSTS.glob("*/expected.toml"))


def scan_root(case: Path) -> Path:
    tops = [p for p in case.iterdir() if p.is_dir() and p.name.startswith("sosreport-")]
    return tops[0] if tops else case


def check_report(report, expected: dict) -> None:
    ids = sorted({f.id for f in report.findings})
    assert not [n for n in report.notes if n.startswith("internal")], report.notes
    assert ids == sorted(set(expected.get("expect", []))), ids
    by_id = {f.id: f for f in report.findings}
    for sig_id, captures in expected.get("captures", {}).items():
        found = dict(by_id[sig_id].captures)
        for key, value in captures.items():
            assert found.get(key) == value, (sig_id, found)
    for sig_id, fix_id in expected.get("top_fix", {}).items():
        assert by_id[sig_id].fixes[0].fix_id == fix_id, (sig_id, [f.fix_id for f in by_id[sig_id].fixes])


def expected_of(case: Path) -> dict:
    return tomllib.loads((case / "expected.toml").read_text(encoding="utf-8"))


ONE_HOST = [c for c in CASES if "hosts" not in expected_of(c)]
MANY_HOSTS = [c for c in CASES if "hosts" in expected_of(c)]


@pytest.mark.parametrize("case", ONE_HOST, ids=[c.name for c in ONE_HOST])
def test_sample_host(case: Path):
    check_report(engine.scan(str(scan_root(case))), expected_of(case))


def scan_each(path: Path) -> dict[str, object]:
    """Every host in what was given (a folder of sosreports, a sos collect tarball), by host name."""
    from diagnose.host.inputs import hosts_in

    reports = [engine.scan(given.path, member=given.member) for given in hosts_in(str(path))]
    return {report.target["hostname"]: report for report in reports}


@pytest.mark.parametrize("case", MANY_HOSTS, ids=[c.name for c in MANY_HOSTS])
def test_sample_hosts_one_report_each(case: Path):
    expected = expected_of(case)["hosts"]
    reports = scan_each(case)
    assert sorted(reports) == sorted(expected)
    for name, report in reports.items():
        check_report(report, expected[name])


def test_sos_collect_tarball_gives_one_report_per_host(tmp_path):
    """The tarball `sos collect` writes (each host's sosreport tarball inside, beside sos_logs/ and
    sos_reports/), read in place: one report per host, the same as the extracted folder's."""
    from diagnose.host.inputs import hosts_in

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_sos_tarball.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path), "sos-collect-two-hosts"], check=True,
                          capture_output=True, text=True)
    tarball = Path(done.stdout.strip())
    given = hosts_in(str(tarball))
    top = tarball.name.removesuffix(".tar.xz")
    assert [(g.path, g.member) for g in given] == [
        (str(tarball), f"{top}/sosreport-kvm1-2024-05-02-a1b2c3.tar.xz"),
        (str(tarball), f"{top}/sosreport-kvm2-2024-05-02-d4e5f6.tar.xz")]
    from_tar = scan_each(tarball)
    from_folder = scan_each(HOSTS / "sos-collect-two-hosts")
    assert from_tar["kvm1"].target["root"] == f"{tarball}:{top}/sosreport-kvm1-2024-05-02-a1b2c3.tar.xz"

    def summary(report):
        return [(f.id, f.captures, [(e.path, e.line) for e in f.evidence], [x.fix_id for x in f.fixes])
                for f in report.findings]

    assert {name: summary(r) for name, r in from_tar.items()} == {name: summary(r) for name, r in from_folder.items()}


def test_insights_archive_tarball_reads_as_its_folder(tmp_path):
    """An insights-client core archive as uploaded (insights-<host>-<time>.tar.gz, the host under data/)."""
    import tarfile

    case = HOSTS / "insights-vm-real"
    top = next(p for p in case.iterdir() if p.is_dir())
    tarball = tmp_path / f"{top.name}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    from_tar, from_folder = engine.scan(str(tarball)), engine.scan(str(case))
    assert (from_tar.target["kind"], from_tar.target["hostname"]) == ("insights", "vm")
    assert [(f.id, f.captures) for f in from_tar.findings] == [(f.id, f.captures) for f in from_folder.findings]
    assert any("insights-client archive keeps only the log lines" in s.reason for s in from_tar.skipped)


def test_healthy_host_has_no_error_or_warning():
    report = engine.scan(str(HOSTS / "healthy"))
    assert [f.id for f in report.findings if f.severity != "info"] == []


def test_sosreport_tarball_gives_the_same_findings_as_the_tree(tmp_path):
    case = HOSTS / "sosreport-bridge-missing"
    script = Path(__file__).resolve().parent.parent / "scripts" / "make_sos_tarball.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True)
    tarball = next(tmp_path.glob("*.tar.xz"))
    from_tree = engine.scan(str(scan_root(case)))
    from_tar = engine.scan(str(tarball))
    assert from_tar.target["kind"] == "sosreport"

    def summary(report):
        return [(f.id, f.captures, [(e.path, e.line) for e in f.evidence], [x.fix_id for x in f.fixes])
                for f in report.findings]

    assert summary(from_tar) == summary(from_tree)


def test_a_directory_holding_one_extracted_sosreport_is_read_as_that_sosreport(tmp_path):
    """What people do: extract the tarball into a case directory and point virtdiag at the directory."""
    import os
    import shutil

    from diagnose.host.base import Unreadable
    from diagnose.host.reader import open_host

    case = HOSTS / "sosreport-bridge-missing"
    inner = scan_root(case)
    shutil.copytree(inner, tmp_path / "case" / inner.name, symlinks=True)
    (tmp_path / "case" / f"{inner.name}.tar.xz.sha256").write_text("0" * 64 + "\n")
    host = open_host(str(tmp_path / "case"))
    assert host.label == str(tmp_path / "case" / inner.name) and host.is_collected and not host.skipped
    assert sorted(f.id for f in engine.scan(str(tmp_path / "case")).findings) == sorted(
        f.id for f in engine.scan(str(inner)).findings)
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(tmp_path / "case" / inner.name, linked / inner.name)  # a link is never followed out of the root
    with pytest.raises(Unreadable, match="no sos_commands/"):  # a link is never followed: nothing of a host
        open_host(str(linked))


def test_the_guest_a_finding_gains_is_named_by_the_thing_it_uses():
    """dnsmasq-start-failed names the network default and the file /etc/dnsmasq.conf; web01 uses the network, not
    the file, and the evidence says so."""
    case = HOSTS / "b07-system-dnsmasq"
    report = engine.scan(str(scan_root(case)))
    found = next(f for f in report.findings if f.id == "dnsmasq-start-failed")
    notes = [e.text for e in found.evidence if e.source == "domain-xml"]
    assert notes == ["network default is used by: web01"]
    assert dict(found.captures)["guest"] == "web01"
