"""Shared fixtures: the catalog as loaded by the real code path."""

from __future__ import annotations

import pytest

from diagnose import engine


@pytest.fixture(scope="session")
def catalog():
    cat, _ = engine.loaded()
    return cat


@pytest.fixture(scope="session")
def libvirt_daemon():
    """A real libvirtd in a network namespace. Skips with the reason when none can run here,
    except under CI (CI=true), where the real-libvirt tests must run."""
    import os
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import libvirt_daemon as harness

    try:
        started = harness.start()
    except harness.Unavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"real libvirt daemon required under CI: {exc}")
        pytest.skip(f"no real libvirt daemon: {exc}")
    harness.remove_leftovers()  # from a run that was killed before its fixtures could clean up
    yield "qemu:///system"
    if started:
        harness.stop()
