"""Probe stage: @probe functions read the host (never write) and answer one fact: True, False or None.
Importing the package registers every probe, by area, in PROBES."""

from __future__ import annotations

from diagnose.probes import daemon, devices, firewall, kvm, network, storage, system  # noqa: F401 - they register
from diagnose.probes.base import PROBES, ProbeSpec, run_probe

__all__ = ["PROBES", "ProbeSpec", "run_probe"]
