"""Collect stage, a scanned host's identity: a key that names the same host the same way in every report of it
(scanned today or last month, live or from its sosreport, merged from a fleet), in JSON's `target.host_key`."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import PurePath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diagnose.host.base import Host

MACHINE_ID = "/etc/machine-id"  # not in host/layout.py's table yet: read only here, through the Host
MACHINE_ID_RE = re.compile(r"[0-9a-f]{32}")
# machine-id(5): the ID is confidential and must not be shown as it is; an application hashes it with a key of
# its own (what sd_id128_get_machine_app_specific() does), so the key is stable yet says nothing of the ID
APPLICATION = bytes.fromhex("6f1c8a3e2b7d4c59a0e1f2d3c4b5a697")
ARCHIVE_SUFFIX = re.compile(r"\.(?:tar(?:\.\w+)?|tgz|txz|tbz2?|zip)$", re.I)


def machine_id(host: Host) -> str | None:
    """The host's /etc/machine-id (32 hex digits), or None when it is not there or not one."""
    if host.kind == "remote":
        return None
    text = (host.read_optional(MACHINE_ID) or "").strip().lower()
    return text if MACHINE_ID_RE.fullmatch(text) else None


def application_id(machine: str) -> str:
    """virtdiag's own ID for the machine: HMAC-SHA256 of a fixed application ID keyed by the machine ID."""
    return hmac.new(bytes.fromhex(machine), APPLICATION, hashlib.sha256).hexdigest()[:32]


def host_key(kind: str, root: str, hostname: str, machine: str | None) -> str:
    """hostname:<application id> when the machine ID is known; else the sosreport's or insights archive's
    name; else the host name and what was read (a host name alone proves nothing: every copied tree of a
    lab may be called kvmhost)."""
    if machine:
        return f"{hostname}:{application_id(machine)}" if hostname else application_id(machine)
    if kind in ("sosreport", "insights") and root:
        return ARCHIVE_SUFFIX.sub("", PurePath(root.rpartition(":")[2]).name)
    return f"{hostname}|{root}" if hostname else root


def of(host: Host, kind: str, hostname: str) -> str:
    """The key of a host being scanned (`kind` as the report names it: sosreport, insights, tree, live...)."""
    return host_key(kind, host.label, hostname, machine_id(host))
