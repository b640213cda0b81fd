"""Probes on a fake filesystem (pyfakefs): each fact True, False, and unknown."""

from __future__ import annotations

import pytest

from diagnose.probes import PROBES, run_probe
from diagnose.sources import TreeHost


@pytest.fixture
def host(fs):  # noqa: ARG001 - fs activates pyfakefs
    return TreeHost(label="/", kind="live")


def fact(target, name, **captures):
    return run_probe(name, target, captures).value


def test_bridge_exists(fs, host):
    fs.create_dir("/sys/class/net/br0/bridge")
    fs.create_dir("/sys/class/net/eth0")
    assert fact(host, "bridge_exists", bridge="br0") is True
    assert fact(host, "bridge_exists", bridge="eth0") is False
    assert fact(host, "bridge_exists", bridge="br9") is False


def test_bridge_exists_unknown_without_sysfs(host):
    assert fact(host, "bridge_exists", bridge="br0") is None


def test_probe_without_its_capture_is_unknown(host):
    result = run_probe("bridge_exists", host, {})
    assert result.value is None and "no bridge" in result.detail


def test_kvm_facts(fs, host):
    assert fact(host, "cpu_virt_flags") is None
    assert fact(host, "kvm_module_loaded") is None
    fs.create_file("/proc/cpuinfo", contents="processor : 0\nflags : fpu nx\n")
    fs.create_file("/proc/modules", contents="kvm 1 0 - Live 0x0\n")
    assert fact(host, "cpu_virt_flags") is False
    assert fact(host, "kvm_module_loaded") is False
    assert fact(host, "dev_kvm_exists") is False


def test_kvm_facts_true(fs, host):
    fs.create_file("/proc/cpuinfo", contents="flags : fpu vmx nx\n")
    fs.create_file("/proc/modules", contents="kvm_intel 380928 0 - Live 0x0\n")
    fs.create_file("/dev/kvm")
    assert fact(host, "cpu_virt_flags") is True
    assert fact(host, "kvm_module_loaded") is True
    assert fact(host, "dev_kvm_exists") is True


def test_listen_flags(fs, host):
    assert fact(host, "listen_tcp_enabled") is None
    fs.create_file("/etc/libvirt/libvirtd.conf", contents="#listen_tls = 0\nlisten_tcp = 1\n")
    assert fact(host, "listen_tcp_enabled") is True
    assert fact(host, "listen_tls_enabled") is True  # the default
    assert fact(host, "libvirtd_listen_flag") is None
    fs.create_file("/etc/sysconfig/libvirtd", contents='LIBVIRTD_ARGS="--listen"\n')
    assert fact(host, "libvirtd_listen_flag") is True


def test_listen_flag_false(fs, host):
    fs.create_file("/etc/default/libvirtd", contents='libvirtd_opts=""\n')
    assert fact(host, "libvirtd_listen_flag") is False


def test_path_traversable_by_qemu(fs, host):
    fs.create_dir("/home/alice", perm_bits=0o700)
    fs.create_file("/home/alice/vm.qcow2")
    fs.create_dir("/var/lib/libvirt/images", perm_bits=0o711)
    fs.create_file("/var/lib/libvirt/images/vm.qcow2")
    assert fact(host, "path_traversable_by_qemu", path="/home/alice/vm.qcow2") is False
    assert fact(host, "path_traversable_by_qemu", path="/var/lib/libvirt/images/vm.qcow2") is True
    assert fact(host, "path_traversable_by_qemu", path="/nowhere/x/vm.qcow2") is None


def test_network_state(fs, host):
    assert fact(host, "network_active", network="default") is None
    assert fact(host, "network_autostart", network="default") is None
    fs.create_dir("/run/libvirt/network")
    fs.create_dir("/etc/libvirt/qemu/networks/autostart")
    assert fact(host, "network_active", network="default") is False
    assert fact(host, "network_autostart", network="default") is False
    fs.create_file("/run/libvirt/network/default.xml")
    fs.create_file("/etc/libvirt/qemu/networks/autostart/default.xml")
    assert fact(host, "network_active", network="default") is True
    assert fact(host, "network_autostart", network="default") is True


def test_forward_delay(fs, host):
    assert fact(host, "bridge_forward_delay_zero", bridge="br0") is None
    fs.create_file("/sys/class/net/br0/bridge/forward_delay", contents="1500\n")
    fs.create_file("/sys/class/net/br1/bridge/forward_delay", contents="0\n")
    assert fact(host, "bridge_forward_delay_zero", bridge="br0") is False
    assert fact(host, "bridge_forward_delay_zero", bridge="br1") is True


def test_hostname_is_loopback(fs, host):
    assert fact(host, "hostname_is_loopback") is None
    fs.create_file("/etc/hostname", contents="kvm1.example.com\n")
    fs.create_file("/etc/hosts", contents="127.0.0.1 localhost kvm1.example.com kvm1\n")
    assert fact(host, "hostname_is_loopback") is True


def test_hostname_not_loopback(fs, host):
    fs.create_file("/etc/hostname", contents="kvm1\n")
    fs.create_file("/etc/hosts", contents="127.0.0.1 localhost\n192.0.2.10 kvm1\n")
    assert fact(host, "hostname_is_loopback") is False
    assert fact(host, "host_resolves", host="kvm1") is True
    assert fact(host, "host_resolves", host="kvm2") is None  # no DNS: unknown, never false


def test_port_53(fs, host):
    assert fact(host, "port_53_in_use") is None
    header = "  sl  local_address rem_address   st\n"
    fs.create_file("/proc/net/tcp", contents=header + "   0: 0100007F:0035 00000000:0000 0A\n")
    assert fact(host, "port_53_in_use") is True


def test_dnsmasq_bind_interfaces(fs, host):
    assert fact(host, "dnsmasq_bind_interfaces") is None
    fs.create_file("/etc/dnsmasq.conf", contents="# bind-interfaces\ninterface=eth0\n")
    assert fact(host, "dnsmasq_bind_interfaces") is False


def test_iommu(fs, host):
    assert fact(host, "iommu_enabled") is None
    fs.create_dir("/sys/kernel/iommu_groups")
    assert fact(host, "iommu_enabled") is False
    fs.create_dir("/sys/kernel/iommu_groups/0")
    assert fact(host, "iommu_enabled") is True
    fs.create_file("/proc/cmdline", contents="BOOT_IMAGE=/vmlinuz ro intel_iommu=on\n")
    assert fact(host, "iommu_cmdline") is True


def test_hugepages(fs, host):
    assert fact(host, "hugepages_configured") is None
    fs.create_file("/proc/meminfo", contents="MemTotal: 1 kB\nHugePages_Total:       0\n")
    assert fact(host, "hugepages_configured") is False


def test_shared_storage(fs, host):
    assert fact(host, "path_on_shared_storage", path="/var/lib/libvirt/images/a.img") is None
    fs.create_file("/proc/mounts", contents="/dev/sda1 / ext4 rw 0 0\nnas:/vm /var/lib/libvirt/images nfs4 rw 0 0\n")
    assert fact(host, "path_on_shared_storage", path="/var/lib/libvirt/images/a.img") is True
    assert fact(host, "path_on_shared_storage", path="/srv/a.img") is False


def test_selinux_and_apparmor(fs, host):
    assert fact(host, "selinux_enforcing") is False
    fs.create_file("/sys/fs/selinux/enforce", contents="1")
    fs.create_file("/sys/module/apparmor/parameters/enabled", contents="Y\n")
    assert fact(host, "selinux_enforcing") is True
    assert fact(host, "apparmor_enabled") is True


def test_daemon_sockets(fs, host):
    fs.create_dir("/run/libvirt")
    assert fact(host, "daemon_running") is False
    assert fact(host, "virtlogd_running") is False
    fs.create_file("/run/libvirt/virtqemud-sock")
    assert fact(host, "daemon_running") is True
    assert fact(host, "modular_daemons") is True


def test_every_probe_survives_an_empty_host(host):
    for name, spec in PROBES.items():
        captures = {spec.needs: "x"} if spec.needs else {}
        assert run_probe(name, host, captures).value in (True, False, None)


def test_fact_names_list_every_probe():
    from diagnose.model import FACT_NAMES

    assert set(FACT_NAMES) == set(PROBES)
