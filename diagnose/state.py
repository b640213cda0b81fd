"""Records between collect and the host checks: HostState (what collection found, parsed), Ask (how a
check asks for a fact) and LogTap (a log line a check needs besides the catalog's patterns)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from diagnose.model import Evidence, Fact

if TYPE_CHECKING:
    from diagnose.virsh import Capabilities, Firmware, QemuCaps
    from diagnose.xmlchecks import XmlDoc

Ask = Callable[[str, dict[str, str]], Fact]


@dataclass(frozen=True)
class LogTap:
    """A regex a host check runs over every line of some log sources while the scan streams them (a
    migration happened, dnsmasq's DHCP replies, a guest's BIOS that found no boot disk). What it finds
    lands in HostState.tapped[name], at most `keep` lines. A `consume` tap's lines are evidence for its
    check only: they never reach the catalog's patterns."""

    name: str
    sources: tuple[str, ...]
    regex: re.Pattern[str]
    keep: int = 1000
    consume: bool = False


@dataclass(frozen=True)
class Tapped:
    """One log line a tap found: the regex's groups, the line as evidence, and the guest whose log it is."""

    groups: tuple[tuple[str, str], ...]
    evidence: Evidence
    guest: str = ""
    first_group: str = ""  # group 1 of the regex ("" when it did not take part)

    def group(self, name: str) -> str:
        return dict(self.groups).get(name, "")


@dataclass
class HostState:
    """What collection found on the host, parsed; None means the source could not be read."""

    domains: list[XmlDoc] = field(default_factory=list)
    live_domains: list[XmlDoc] = field(default_factory=list)
    networks: list[XmlDoc] = field(default_factory=list)
    defined_networks: set[str] | None = None  # every defined network's name; None: the definitions were not read
    active_networks: set[str] | None = None
    autostart_networks: set[str] | None = None
    confs: dict[str, tuple[str, str]] = field(default_factory=dict)  # source -> (path, text)
    cpu_flags: set[str] | None = None
    modules: set[str] | None = None
    cmdline: tuple[str, str] | None = None  # (path, text)
    hosts: tuple[str, str] | None = None
    hostname: str | None = None
    ifcfg: dict[str, tuple[str, str]] | None = None  # device -> (path, text) of RHEL network scripts
    dnsmasq: list[tuple[str, int, str, str]] | None = None  # system dnsmasq: (path, line, option, value)
    dominfo: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # guest -> virsh dominfo
    capabilities: tuple[str, Capabilities] | None = None  # (path, virsh capabilities)
    groups: dict[str, list[str]] | None = None
    virsh_list: tuple[str, str] | None = None
    environment: list[tuple[str, str]] = field(default_factory=list)  # (path, text)
    managed_saves: list[tuple[str, int]] = field(default_factory=list)  # (path, size)
    user: str = ""
    domcaps: dict[str, str] = field(default_factory=dict)  # guest -> domcapabilities XML (live daemon)
    domcaps_errors: dict[str, str] = field(default_factory=dict)  # guest -> libvirt's error for it
    iommu_groups: dict[str, list[str]] | None = None  # IOMMU group -> its PCI devices (when a guest assigns one)
    tapped: dict[str, list[Tapped]] = field(default_factory=dict)  # LogTap name -> the lines it found
    qemu_caps: list[tuple[str, QemuCaps]] = field(default_factory=list)  # (path, libvirt's QEMU capabilities)
    firmware: list[Firmware] | None = None  # firmware descriptors; None when they cannot be known
    libvirt_version: str = ""  # the daemon's version when it says it (live API, else the logs' start-up lines)

    def tap(self, name: str) -> list[Tapped]:
        return self.tapped.get(name, [])
