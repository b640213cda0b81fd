"""Probes, the host system: which distribution family (and which RHEL release) a fix must fit."""

from __future__ import annotations

import re

from diagnose import parsers
from diagnose.host import layout
from diagnose.host.base import Host
from diagnose.probes.base import Answer, probe


@probe("debian_family", reads=("release-files",))
def debian_family(host: Host, _: str) -> Answer:
    """the host is Debian or Ubuntu (/etc/debian_version); False for the Red Hat family (/etc/redhat-release)

    Which package tools a fix should use: Debian and Ubuntu (apt) or the Red Hat family (yum, dnf)."""
    debian, *redhat, os_release = layout.paths("release-files")
    if host.exists(debian):
        return True, f"{debian} exists (Debian or Ubuntu: apt)"
    for release in redhat:
        if host.exists(release):
            return False, f"{release} exists (Red Hat family: yum or dnf)"
    values = parsers.parse_shell_vars(host.read_optional(os_release) or "")  # what a sosreport keeps
    family = f"{values.get('ID', '')} {values.get('ID_LIKE', '')}".split()
    if {"debian", "ubuntu"} & set(family):
        return True, f"{os_release}: ID={values.get('ID', '')} (apt)"
    if {"rhel", "fedora", "centos"} & set(family):
        return False, f"{os_release}: ID={values.get('ID', '')} (yum or dnf)"
    return None, f"no {debian}, {redhat[0]} or known ID in {os_release}"


RELEASE_NUMBER = re.compile(r"\brelease\s+(\d+)", re.I)


@probe("rhel6", reads=("release-files",))
def rhel6(host: Host, _: str) -> Answer:
    """the host runs RHEL 6 or a rebuild of it (CentOS, Scientific Linux, Oracle Linux 6: /etc/redhat-release
    says release 6); False for another release or distribution

    Which fixes the guide gives for RHEL 6 only (init scripts, network scripts, legacy device assignment) fit."""
    debian, redhat, fedora, centos, os_release = layout.paths("release-files")
    if host.exists(debian):
        return False, f"{debian} exists (Debian or Ubuntu)"
    if host.exists(fedora):
        return False, f"{fedora} exists (Fedora)"
    for release in (redhat, centos):
        text = host.read_optional(release)
        found = RELEASE_NUMBER.search(text or "")
        if found:
            return found[1] == "6", f"{release}: {' '.join((text or '').split())[:80]}"
    values = parsers.parse_shell_vars(host.read_optional(os_release) or "")
    if values.get("ID"):  # RHEL 6 and its rebuilds have no os-release
        return False, f"{os_release}: ID={values['ID']} VERSION_ID={values.get('VERSION_ID', '')}"
    return None, f"no {debian}, {redhat} or ID in {os_release}"
