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


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sample_host(case: Path):
    expected = tomllib.loads((case / "expected.toml").read_text(encoding="utf-8"))
    check_report(engine.scan(str(scan_root(case))), expected)


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

    from diagnose.host.reader import open_host

    case = HOSTS / "sosreport-bridge-missing"
    inner = scan_root(case)
    shutil.copytree(inner, tmp_path / "case" / inner.name, symlinks=True)
    (tmp_path / "case" / f"{inner.name}.tar.xz.sha256").write_text("0" * 64 + "\n")
    host = open_host(str(tmp_path / "case"))
    assert host.label == str(tmp_path / "case" / inner.name) and host.is_sosreport and not host.skipped
    assert sorted(f.id for f in engine.scan(str(tmp_path / "case")).findings) == sorted(
        f.id for f in engine.scan(str(inner)).findings)
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(tmp_path / "case" / inner.name, linked / inner.name)  # a link is never followed out of the root
    assert open_host(str(linked)).label == str(linked)
