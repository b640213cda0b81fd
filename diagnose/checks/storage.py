"""Host checks, storage and migration (B.13, B.14): disk images, shared storage, the host's own name."""

from __future__ import annotations

import re

from diagnose.checks.base import (
    check,
    defined,
    disk_sources,
    doc_name,
    new_hit,
    xml_evidence,
)
from diagnose.model import Evidence, Hit
from diagnose.state import Ask, HostState, LogTap

MIGRATION_RE = re.compile(r"igrat")  # migrate, migrating, Migration: a migration happened on this host

MIGRATIONS = LogTap("migrations", ("libvirtd-log", "journal"), MIGRATION_RE, keep=1)


@check(produces=("disk-image-missing", "image-permission-denied", "migration-unsafe"), taps=(MIGRATIONS,))
def disk_images(state: HostState, ask: Ask) -> list[Hit]:
    """B.14 and beyond: a guest's disk image that does not exist; images off shared storage when migrating."""
    hits = []
    for doc in defined(state):
        boot_files = [(node, (node.text or "").strip(), f"<{node.tag}>{(node.text or '').strip()}</{node.tag}>")
                      for node in doc.root.iterfind("os/*") if node.tag in ("kernel", "initrd")]  # type: ignore
        disks = [(disk, path, f"<source file='{path}'/>") for disk, path, _ in disk_sources(doc)
                 if disk.get("device") != "cdrom"]
        for node, path, shown in (*disks, *boot_files):
            exists = ask("path_exists", {"path": path})
            if exists.value is False:
                hits.append(new_hit("disk-image-missing", {"guest": doc_name(doc), "path": path},
                                 [xml_evidence(doc, node, shown), Evidence("probe:path_exists", 0, exists.detail)]))
            elif exists.value:
                reachable = ask("path_traversable_by_qemu", {"path": path})
                if reachable.value is False:  # B.4: qemu (not root) cannot get to the file
                    hits.append(new_hit("image-permission-denied", {"guest": doc_name(doc), "path": path},
                                     [xml_evidence(doc, node, shown),
                                      Evidence("probe:path_traversable_by_qemu", 0, reachable.detail)]))
        for disk, path, cache in disk_sources(doc):
            exists = ask("path_exists", {"path": path})
            if state.tap("migrations") and exists.value and cache not in ("none", "directsync"):
                shared = ask("path_on_shared_storage", {"path": path})
                why = f"cache='{cache or 'default'}'" + ("" if shared.value else f"; {shared.detail}")
                captures = {"guest": doc_name(doc), "path": path, "cache": cache or "default"}
                evidence = [xml_evidence(doc, disk, f"disk {path}: {why}")]
                hits.append(new_hit("migration-unsafe", captures, evidence, 0.7))
    return hits


@check(produces=("migration-hostname-unresolvable", "hostname-loopback"), taps=(MIGRATIONS,))
def hostname_loopback(state: HostState, ask: Ask) -> list[Hit]:
    """B.13: the host's own name maps to a loopback address, so a migration to this host is told to send its
    data to the source itself."""
    if state.hosts is None or not state.hostname:
        return []
    path, text = state.hosts
    short = state.hostname.split(".")[0]
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0].startswith("127.") and (
            state.hostname in fields[1:] or short in fields[1:]
        ):
            # with migration in the logs it is the cause of B.13's failure; else a latent warning
            sig_id = "migration-hostname-unresolvable" if state.tap("migrations") else "hostname-loopback"
            return [new_hit(sig_id, {"host": state.hostname}, [Evidence("hosts", number, line.strip(), path)], 0.7)]
    return []
