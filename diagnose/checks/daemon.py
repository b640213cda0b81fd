"""Host checks, daemon and connection (B.1, B.2.2, B.15, B.16): libvirtd.conf, groups, the default URI."""

from __future__ import annotations

import re

from diagnose import virsh
from diagnose.checks.base import (
    check,
    conf_evidence,
    conf_values,
    defined,
    doc_name,
    new_hit,
)
from diagnose.model import Evidence, Hit
from diagnose.state import Ask, HostState


@check(produces=("libvirtd-listen-no-ca-cert",))
def listen_tls_without_ca(state: HostState, ask: Ask) -> list[Hit]:
    """B.1: libvirtd started with --listen, listen_tls on (the default), and no CA certificate."""
    conf = conf_values(state, "libvirtd-conf")
    if conf is None:
        return []
    path, _, values = conf
    if values.get("listen_tls", 1) in (0, "0"):
        return []
    listen = ask("libvirtd_listen_flag", {})
    ca = ask("ca_cert_exists", {})
    if listen.value is not True or ca.value is not False:
        return []
    ca_file = str(values.get("ca_file", "/etc/pki/CA/cacert.pem"))
    evidence = [conf_evidence(state, "libvirtd-conf", "listen_tls", "listen_tls not set: TLS listening is on"),
                Evidence("probe:libvirtd_listen_flag", 0, listen.detail),
                Evidence("probe:ca_cert_exists", 0, ca.detail)]
    return [new_hit("libvirtd-listen-no-ca-cert", {"path": ca_file}, evidence)]


@check(produces=("tcp-connection-refused",))
def listen_tcp_without_listen(state: HostState, ask: Ask) -> list[Hit]:
    """B.16: listen_tcp = 1 in libvirtd.conf, but libvirtd is not started with --listen."""
    conf = conf_values(state, "libvirtd-conf")
    if conf is None or conf[2].get("listen_tcp", 0) in (0, "0"):
        return []
    listen = ask("libvirtd_listen_flag", {})
    if listen.value is not False:
        return []
    evidence = [conf_evidence(state, "libvirtd-conf", "listen_tcp", "listen_tcp = 1"),
                Evidence("probe:libvirtd_listen_flag", 0, listen.detail)]
    return [new_hit("tcp-connection-refused", {"port": str(conf[2].get("tcp_port", "16509"))}, evidence, 0.8)]


@check(produces=("socket-permission-denied",))
def socket_group_missing(state: HostState, ask: Ask) -> list[Hit]:
    """B.2.2: unix_sock_group names a group the host does not have, or one the user is not in."""
    hits = []
    for source in ("libvirtd-conf", "virtqemud-conf"):
        conf = conf_values(state, source)
        if conf is None or not conf[2].get("unix_sock_group") or state.groups is None:
            continue
        group = str(conf[2]["unix_sock_group"])
        perms = str(conf[2].get("unix_sock_rw_perms", "0770"))
        evidence = [conf_evidence(state, source, "unix_sock_group", f"unix_sock_group = {group}")]
        if group not in state.groups:
            evidence.append(Evidence("group", 0, f"/etc/group has no group {group!r}"))
            hits.append(new_hit("socket-permission-denied", {"group": group, "perms": perms}, evidence))
        elif state.user and state.user != "root" and state.user not in state.groups[group] and perms.endswith("0"):
            evidence.append(Evidence("group", 0, f"user {state.user} is not a member of {group}"))
            hits.append(new_hit("socket-permission-denied", {"group": group, "user": state.user, "perms": perms},
                             evidence))
    return hits


URI_RE = re.compile(r"""^\s*(?:export\s+)?LIBVIRT_DEFAULT_URI=["']?([^"'\s]+)""", re.M)


@check(produces=("no-guests-listed",))
def default_uri_elsewhere(state: HostState, ask: Ask) -> list[Hit]:
    """B.15: the default URI points away from qemu:///system (uri_default, LIBVIRT_DEFAULT_URI)."""
    hits = []
    conf = conf_values(state, "libvirt-conf")
    if conf is not None and conf[2].get("uri_default"):
        uri = str(conf[2]["uri_default"])
        if not uri.startswith("qemu") or uri.startswith("qemu:///session"):
            ev = conf_evidence(state, "libvirt-conf", "uri_default", f"uri_default = {uri}")
            hits.append(new_hit("no-guests-listed", {"uri": uri}, [ev], 0.75))
    for path, text in state.environment:
        for m in URI_RE.finditer(text):
            uri = m.group(1)
            if not uri.startswith("qemu") or uri.startswith("qemu:///session"):
                line = text.count("\n", 0, m.start()) + 1
                hits.append(new_hit("no-guests-listed", {"uri": uri}, [Evidence("environment", line, m.group(0), path)],
                                 0.75))
    if state.virsh_list is not None and defined(state):
        path, text = state.virsh_list
        rows = virsh.parse_virsh_list(text)
        if rows == []:
            names = ", ".join(sorted(doc_name(d) for d in defined(state)))
            evidence = [Evidence("virsh-list", 1, "virsh list --all shows no guests", path),
                        Evidence("domain-xml", 0, f"defined in /etc/libvirt/qemu: {names}")]
            hits.append(new_hit("no-guests-listed", {}, evidence, 0.8))
    return hits
