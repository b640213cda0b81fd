"""Host checks by area (match stage for a host, pure): importing the package registers them all in CHECKS."""

from __future__ import annotations

from diagnose.checks import daemon, devices, guests, network, preflight, storage  # noqa: F401 - they register
from diagnose.checks.base import CHECKS, CheckSpec
from diagnose.state import LogTap

__all__ = ["CHECKS", "CheckSpec", "taps"]


def taps() -> tuple[LogTap, ...]:
    """Every log tap some check needs, each once, in registration order."""
    found: dict[str, LogTap] = {}
    for spec in CHECKS.values():
        for tap in spec.taps:
            found.setdefault(tap.name, tap)
    return tuple(found.values())
