"""The live collection and pre-flight checks against libvirt's own test:///default driver (no daemon)."""

from __future__ import annotations

import os

import pytest

from diagnose import engine
from diagnose.host import live


@pytest.fixture(scope="module")
def libvirt_python():
    try:
        import libvirt  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("libvirt-python is required under CI (scripts/dev.sh installs it)")
        pytest.skip("libvirt-python is not installed")


def test_gather_reads_domains_networks_pools_and_devices(libvirt_python):
    state = live.gather("test:///default", timeout=20)
    assert state.libvirt_version and state.hypervisor.startswith("TEST")
    assert [(d.name, d.state, d.active) for d in state.domains] == [("test", "running", True)]
    assert "<domain" in state.domains[0].inactive_xml and "<domain" in state.domains[0].live_xml
    assert [(n.name, n.active, n.bridge) for n in state.networks] == [("default", True, "virbr0")]
    assert state.pools and state.nodedevs


def test_scan_with_the_test_driver_finds_its_latent_problems(libvirt_python, tmp_path):
    report = engine.scan(None, connect="test:///default", timeout=20)
    assert report.target["uri"] == "test:///default"
    found = {(f.id, f.captures) for f in report.findings}
    assert ("network-not-autostarted", (("guest", "test"), ("network", "default"))) in found
    assert ("no-serial-console", (("guest", "test"),)) in found
    assert "network-not-started" not in {f.id for f in report.findings}


def test_a_daemon_that_is_not_there_is_skipped_and_is_a_finding(libvirt_python, tmp_path):
    report = engine.scan(None, connect=f"qemu:///system?socket={tmp_path}/libvirt-sock", timeout=10)
    assert any("libvirt-sock" in s.reason for s in report.skipped)
    assert "daemon-not-running" in {f.id for f in report.findings}


def test_bad_uri_is_explained(libvirt_python, tmp_path):
    report = engine.scan(None, connect="qemu://system", timeout=10)
    assert "uri-invalid" in {f.id for f in report.findings}
