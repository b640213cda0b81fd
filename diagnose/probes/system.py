"""Probes, the host system: which distribution family a fix's package commands must fit."""

from __future__ import annotations

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
