"""Probes, files and security: guest images and their directories, SELinux and AppArmor, shared storage,
managed saves and guest definitions."""

from __future__ import annotations

import os
import stat

from diagnose import parsers
from diagnose.host import layout
from diagnose.host.base import Host
from diagnose.probes.base import Answer, conf, dominfo, probe

SHARED_FILESYSTEMS = ("nfs", "nfs4", "glusterfs", "fuse.glusterfs", "ceph", "gfs2", "ocfs2", "cifs")


@probe("path_exists", needs="path")
def path_exists(host: Host, path: str) -> Answer:
    """the path exists"""
    if host.exists(path):
        return True, f"{path} exists"
    parent = os.path.dirname(path.rstrip("/")) or "/"
    if not host.is_live and not host.is_dir(parent):
        return None, f"{parent} is not in the copy of the host"
    return False, f"{path} does not exist"


@probe("path_traversable_by_qemu", needs="path")
def path_traversable_by_qemu(host: Host, path: str) -> Answer:
    """every parent directory of path is o+x (or owned by the qemu user)"""
    parent = os.path.dirname(path.rstrip("/"))
    while parent and parent != "/":
        st = host.mode(parent)
        if st is None:
            return None, f"{parent} cannot be examined"
        if not st.st_mode & stat.S_IXOTH:
            return False, f"{parent} is mode {stat.filemode(st.st_mode)}: others cannot enter it"
        parent = os.path.dirname(parent)
    return True, "every parent directory is searchable by others"


@probe("selinux_enforcing", reads=("selinux-enforce",))
def selinux_enforcing(host: Host, _: str) -> Answer:
    """/sys/fs/selinux/enforce is 1"""
    path = layout.path("selinux-enforce")
    text = host.read_optional(path)
    if text is None:
        return False, f"SELinux is not enabled (no {path})"
    return text.strip() == "1", f"{path} = {text.strip()}"


@probe("apparmor_enabled", reads=("apparmor-enabled",))
def apparmor_enabled(host: Host, _: str) -> Answer:
    """/sys/module/apparmor/parameters/enabled is Y"""
    text = host.read_optional(layout.path("apparmor-enabled"))
    if text is None:
        return False, "AppArmor is not loaded"
    return text.strip().upper().startswith("Y"), f"apparmor enabled = {text.strip()}"


@probe("qemu_dynamic_ownership", reads=("qemu-conf",))
def qemu_dynamic_ownership(host: Host, _: str) -> Answer:
    """qemu.conf dynamic_ownership is not 0"""
    values = conf(host, "qemu-conf")
    if values is None:
        return None, "qemu.conf not readable"
    value = values.get("dynamic_ownership", 1)
    return value not in (0, "0"), f"qemu.conf dynamic_ownership = {value}"


@probe("path_on_shared_storage", needs="path", reads=("mounts",))
def path_on_shared_storage(host: Host, path: str) -> Answer:
    """the path is on nfs, glusterfs, cephfs, gfs2, ocfs2 (from /proc/mounts)"""
    text = host.read_optional(layout.path("mounts"))
    if text is None:
        return None, "/proc/mounts not readable"
    best = ("", "", "")
    for mount in parsers.parse_mounts(text):
        point = mount[1].rstrip("/") + "/"
        if (path + "/").startswith(point) and len(point) > len(best[1]):
            best = mount
    shared = best[2] in SHARED_FILESYSTEMS
    return shared, f"{path} is on {best[1] or '/'} ({best[2] or 'unknown'})"


@probe("managedsave_exists", needs="guest", reads=("managed-save", "virsh-dominfo"))
def managedsave_exists(host: Host, guest: str) -> Answer:
    """/var/lib/libvirt/qemu/save/{guest}.save exists (sosreport: `virsh dominfo` Managed save)"""
    path = f"{layout.directory('managed-save')}/{guest}.save"
    if host.exists(path):
        return True, f"{path} exists"
    info = dominfo(host, guest)
    if info is not None and info[1].get("Managed save") in ("yes", "no"):
        return info[1]["Managed save"] == "yes", f"{info[0]}: Managed save: {info[1]['Managed save']}"
    return False, f"no {path}"


@probe("domain_defined", needs="guest", reads=("domain-xml", "virsh-dominfo"))
def domain_defined(host: Host, guest: str) -> Answer:
    """/etc/libvirt/qemu/{guest}.xml exists (sosreport: `virsh dominfo` Persistent)"""
    path = f"{layout.directory('domain-xml')}/{guest}.xml"
    if host.exists(path):
        return True, f"{path} exists"
    info = dominfo(host, guest)
    if info is not None and info[1].get("Persistent") in ("yes", "no"):
        return info[1]["Persistent"] == "yes", f"{info[0]}: Persistent: {info[1]['Persistent']}"
    return False, f"no {path}"
