"""Probes, daemon and connection: the daemons' sockets and units, TLS files, listen settings, polkit."""

from __future__ import annotations

import os

from diagnose import parsers
from diagnose.host import layout
from diagnose.host.base import Host
from diagnose.probes.base import Answer, ProbeFunction, conf, exists_probe, probe, register, socket_path

DAEMON_SOCKETS = ("libvirt-sock", "virtqemud-sock")


@probe("daemon_running", reads=("libvirt-run",))
def daemon_running(host: Host, _: str) -> Answer:
    """a libvirt daemon socket exists (libvirtd or virtqemud)"""
    for name in DAEMON_SOCKETS:
        path = socket_path(host, name)
        if path:
            return True, f"{path} exists"
    run = layout.path("libvirt-run")
    if not host.is_dir(run) and not host.is_live:
        return None, f"the copy has no {run}"
    return False, f"no libvirt-sock or virtqemud-sock under {run}"


@probe("modular_daemons", reads=("libvirt-run", "systemd-wants"))
def modular_daemons(host: Host, _: str) -> Answer:
    """the host uses virtqemud/virtnetworkd... instead of libvirtd"""
    if socket_path(host, "virtqemud-sock"):
        return True, "virtqemud-sock exists"
    if socket_path(host, "libvirt-sock"):
        return False, "libvirt-sock exists (monolithic libvirtd)"
    for unit_dir in layout.paths("systemd-wants"):
        names = host.listdir(unit_dir)
        if any(n.startswith("virtqemud") for n in names):
            return True, f"virtqemud enabled in {unit_dir}"
        if any(n.startswith("libvirtd") for n in names):
            return False, f"libvirtd enabled in {unit_dir}"
    return None, "neither daemon's socket or unit found"


@probe("virtlogd_running", reads=("libvirt-run",))
def virtlogd_running(host: Host, _: str) -> Answer:
    """virtlogd's socket exists"""
    path = socket_path(host, "virtlogd-sock")
    return (True, f"{path} exists") if path else (False, f"no virtlogd-sock under {layout.path('libvirt-run')}")


register("ca_cert_exists", exists_probe("ca-cert"), reads=("ca-cert",))


@probe("server_cert_exists", reads=("server-cert",))
def server_cert_exists(host: Host, _: str) -> Answer:
    """/etc/pki/libvirt/servercert.pem and private/serverkey.pem exist"""
    missing = [p for p in layout.paths("server-cert") if not host.exists(p)]
    return (False, f"missing {', '.join(missing)}") if missing else (True, "server cert and key exist")


def _conf_flag(key: str, default: int) -> ProbeFunction:
    def check(host: Host, _: str) -> Answer:
        values = conf(host, "libvirtd-conf")
        if values is None:
            return None, "libvirtd.conf not readable"
        value = values.get(key, default)
        shown = f"{key} = {value}" if key in values else f"{key} not set (default {default})"
        return value not in (0, "0"), f"libvirtd.conf: {shown}"

    return check


register("listen_tls_enabled", _conf_flag("listen_tls", 1), reads=("libvirtd-conf",),
         doc="libvirtd.conf listen_tls is not 0 (default is on)")
register("listen_tcp_enabled", _conf_flag("listen_tcp", 0), reads=("libvirtd-conf",),
         doc="libvirtd.conf listen_tcp = 1")


@probe("libvirtd_listen_flag", reads=("daemon-args", "systemd-wants"))
def libvirtd_listen_flag(host: Host, _: str) -> Answer:
    """libvirtd runs / is configured with --listen (sysconfig/default file, or tcp/tls socket units)"""
    seen = False
    for path in layout.paths("daemon-args"):
        text = host.read_optional(path)
        if text is None:
            continue
        seen = True
        args = parsers.parse_shell_vars(text).get("LIBVIRTD_ARGS", "") or parsers.parse_shell_vars(text).get(
            "libvirtd_opts", ""
        )
        if "--listen" in args or "-l" in args.split():
            return True, f"{path}: LIBVIRTD_ARGS has --listen"
    sockets_wants = layout.path("systemd-wants")
    for unit in ("libvirtd-tcp.socket", "libvirtd-tls.socket"):
        if host.lexists(f"{sockets_wants}/{unit}"):
            return True, f"{unit} is enabled"
    return (False, "no --listen in the daemon's arguments") if seen else (None, "no libvirtd arguments file")


@probe("socket_group_set", reads=("libvirtd-conf",))
def socket_group_set(host: Host, _: str) -> Answer:
    """unix_sock_group is set in libvirtd.conf"""
    values = conf(host, "libvirtd-conf")
    if values is None:
        return None, "libvirtd.conf not readable"
    group = values.get("unix_sock_group")
    return (True, f"unix_sock_group = {group}") if group else (False, "unix_sock_group not set")


@probe("polkit_available", reads=("dbus-socket", "polkitd"))
def polkit_available(host: Host, _: str) -> Answer:
    """polkitd and the D-Bus system bus are present"""
    bus = any(host.exists(p) for p in layout.paths("dbus-socket"))
    polkitd = any(host.exists(p) for p in layout.paths("polkitd"))
    if bus and polkitd:
        return True, "D-Bus system bus and polkitd present"
    return False, ("no D-Bus system bus socket" if not bus else "polkitd is not installed")


@probe("user_is_root")
def user_is_root(host: Host, _: str) -> Answer:
    """virtdiag runs as root"""
    if not host.is_live:
        return None, "not the live host"
    return os.geteuid() == 0, f"euid {os.geteuid()}"
