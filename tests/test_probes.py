"""Probes on a fake filesystem (pyfakefs): each fact True, False, and unknown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from diagnose.host.tree import TreeHost
from diagnose.probes import PROBES, run_probe


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


def test_the_catalog_cache_knows_every_fact():
    from diagnose import engine

    assert set(engine.loaded()[0].facts) == set(PROBES)


# --- RHEL network scripts, dnsmasq includes, RHEL 6 host name, sosreport virsh outputs (issue #3) -------

SCRIPTS = "/etc/sysconfig/network-scripts"


@pytest.fixture
def copy(fs):  # noqa: ARG001 - a copied host tree (not live) at / of the fake filesystem
    return TreeHost(label="/", kind="tree", root=Path("/"))


def test_bridge_exists_from_ifcfg_without_sysfs(fs, copy):
    assert fact(copy, "bridge_exists", bridge="br0") is None  # neither /sys nor network scripts
    fs.create_file(f"{SCRIPTS}/ifcfg-br0", contents="DEVICE=br0\nTYPE=Bridge\nONBOOT=yes\nDELAY=0\n")
    fs.create_file(f"{SCRIPTS}/ifcfg-eth0", contents="DEVICE=eth0\nTYPE=Ethernet\nBRIDGE=br0\n")
    fs.create_file("/etc/libvirt/qemu/networks/default.xml",
                   contents="<network>\n  <name>default</name>\n  <bridge name='virbr0'/>\n</network>\n")
    configured = run_probe("bridge_exists", copy, {"bridge": "br0"})
    assert configured.value is None and "no proof that it exists now" in configured.detail
    assert fact(copy, "bridge_exists", bridge="br9") is False
    assert fact(copy, "bridge_exists", bridge="eth0") is False
    assert fact(copy, "bridge_exists", bridge="virbr0") is None  # libvirt makes it, no script does
    fs.create_dir("/sys/class/net/eth0")  # /sys, when there, is the truth
    assert fact(copy, "bridge_exists", bridge="br0") is False


def test_forward_delay_from_ifcfg_without_sysfs(fs, copy):
    fs.create_file(f"{SCRIPTS}/ifcfg-br0", contents="DEVICE=br0\nTYPE=Bridge\nSTP=on\nDELAY=0\n")
    fs.create_file(f"{SCRIPTS}/ifcfg-br1", contents='DEVICE=br1\nTYPE=Bridge\nSTP=on\nDELAY="15"\n')
    fs.create_file(f"{SCRIPTS}/ifcfg-br2", contents="DEVICE=br2\nTYPE=Bridge\nSTP=yes\n")
    assert fact(copy, "bridge_forward_delay_zero", bridge="br0") is True
    delayed = run_probe("bridge_forward_delay_zero", copy, {"bridge": "br1"})
    assert delayed.value is False and "ifcfg-br1:4: DELAY=15, a forward delay of 15 s" in delayed.detail
    assert "kernel's default forward delay of 15 s" in run_probe("bridge_forward_delay_zero", copy,
                                                                 {"bridge": "br2"}).detail
    assert fact(copy, "bridge_forward_delay_zero", bridge="br9") is None
    fs.create_file("/sys/class/net/br1/bridge/forward_delay", contents="0\n")  # the running value wins
    assert fact(copy, "bridge_forward_delay_zero", bridge="br1") is True


def test_dnsmasq_bind_interfaces_in_an_included_file(fs, host):
    fs.create_file("/etc/dnsmasq.conf", contents="interface=br0\nconf-dir=/etc/dnsmasq.d/,*.conf\n")
    fs.create_file("/etc/dnsmasq.d/README", contents="bind-interfaces\n")  # not *.conf: not read
    missing = run_probe("dnsmasq_bind_interfaces", host, {})
    assert missing.value is False
    assert "interface=br0 (/etc/dnsmasq.conf:1) only filters requests" in missing.detail
    fs.create_file("/etc/dnsmasq.d/local.conf", contents="# added by hand\nbind-dynamic\n")
    found = run_probe("dnsmasq_bind_interfaces", host, {})
    assert found.value is True and found.detail.startswith("/etc/dnsmasq.d/local.conf:2: bind-dynamic")


def test_dnsmasq_bind_interfaces_on_the_running_command_line(fs, copy):
    fs.create_file("/sos_commands/process/ps_auxwww", contents=(
        "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
        "nobody      1402  0.0  0.0  15532  1020 ?        S    06:57   0:00 "
        "/usr/sbin/dnsmasq -z -C /etc/dnsmasq-lab.conf\n"))
    assert fact(copy, "system_dnsmasq_running") is True
    assert fact(copy, "dnsmasq_bind_interfaces") is True


def test_hostname_is_loopback_rhel6(fs, host):
    fs.create_file("/etc/sysconfig/network", contents="NETWORKING=yes\nHOSTNAME=virt02.example.com\n")
    fs.create_file("/etc/hosts", contents="127.0.0.1   virt02.example.com virt02 localhost localhost.localdomain\n")
    assert fact(host, "hostname_is_loopback") is True


def test_sosreport_dominfo_facts(fs, copy):
    assert fact(copy, "managedsave_exists", guest="db01") is False
    fs.create_file("/sos_commands/virsh/virsh_-r_dominfo_db01", contents=(
        "Id:             -\nName:           db01\nState:          shut off\nPersistent:     yes\n"
        "Autostart:      enable\nManaged save:   yes\n"))
    fs.create_file("/sos_commands/virsh/virsh_-r_dominfo_tmp01", contents=(
        "Id:             7\nName:           tmp01\nState:          running\nPersistent:     no\n"
        "Managed save:   no\n"))
    assert fact(copy, "managedsave_exists", guest="db01") is True
    assert fact(copy, "managedsave_exists", guest="tmp01") is False
    assert fact(copy, "domain_defined", guest="db01") is True
    assert fact(copy, "domain_defined", guest="tmp01") is False  # transient


def test_dev_kvm_from_sosreport_capabilities(fs, copy):
    fs.create_dir("/sos_commands")
    assert fact(copy, "dev_kvm_exists") is None  # no /dev in the copy, no capabilities
    caps = ("<capabilities><host><cpu><arch>x86_64</arch></cpu></host><guest><os_type>hvm</os_type>"
            "<arch name='x86_64'><domain type='qemu'/>{}</arch></guest></capabilities>")
    fs.create_file("/sos_commands/virsh/virsh_-r_capabilities", contents=caps.format(""))
    assert fact(copy, "dev_kvm_exists") is False
    Path("/sos_commands/virsh/virsh_-r_capabilities").write_text(caps.format("<domain type='kvm'/>"))
    assert fact(copy, "dev_kvm_exists") is True


# --- B.8, chapter 12: iptables, vhost-net, firewalld, IOMMU groups, interrupt remapping ----------------


@pytest.fixture
def sos(fs):  # noqa: ARG001 - fs activates pyfakefs
    fs.create_dir("/sos/sos_commands")
    return TreeHost(label="/sos", kind="tree", root=Path("/sos"))


DPKG_STATUS = """Package: iptables
Status: install ok installed
Version: {iptables}

Package: libvirt-daemon
Status: {libvirt_status}
Version: {libvirt}
"""


def test_iptables_checksum_target_from_dpkg(fs, host):
    assert fact(host, "iptables_checksum_target") is None
    fs.create_file("/var/lib/dpkg/status", contents=DPKG_STATUS.format(
        iptables="1.8.9-2", libvirt="9.0.0-4", libvirt_status="install ok installed"))
    assert fact(host, "iptables_checksum_target") is True
    assert fact(host, "libvirt_sets_firewalld_zone") is True


def test_iptables_checksum_target_from_sosreport(fs, sos):
    fs.create_file("/sos/installed-rpms", contents=(
        "iptables-1.4.7-19.el6.x86_64                                Tue 17 Apr 2018 10:41:07 AM EDT\n"
        "iptables-ipv6-1.4.7-19.el6.x86_64                           Tue 17 Apr 2018 10:41:07 AM EDT\n"
        "libvirt-0.10.2-64.el6.x86_64                                Tue 17 Apr 2018 10:41:07 AM EDT\n"))
    result = run_probe("iptables_checksum_target", sos, {})
    # RHEL 6's 1.4.7 has the CHECKSUM target as a backport: its version proves nothing either way
    assert result.value is None and "1.4.7-19.el6" in result.detail and "installed-rpms:1" in result.detail
    assert "backport" in result.detail
    assert fact(sos, "libvirt_sets_firewalld_zone") is False


def test_old_upstream_iptables_has_no_checksum_target(fs, host):
    fs.create_file("/var/lib/dpkg/status", contents=DPKG_STATUS.format(
        iptables="1.4.8-3", libvirt="0.8.3-5", libvirt_status="install ok installed"))
    assert fact(host, "iptables_checksum_target") is False


def test_package_removed_in_dpkg_is_unknown(fs, host):
    fs.create_file("/var/lib/dpkg/status", contents=DPKG_STATUS.format(
        iptables="1.4.21-1", libvirt="9.0.0-4", libvirt_status="deinstall ok config-files"))
    assert fact(host, "iptables_checksum_target") is True  # 1.4.21
    assert fact(host, "libvirt_sets_firewalld_zone") is None  # removed: not an installed version


def test_vhost_net_from_dev_node(fs, host):
    assert fact(host, "vhost_net_loaded") is None
    fs.create_file("/proc/modules", contents="tun 61440 4 vhost_net, Live 0x0\n")
    assert fact(host, "vhost_net_loaded") is False
    fs.create_file("/dev/vhost-net")
    assert fact(host, "vhost_net_loaded") is True


def test_firewalld_running_from_systemd_units(fs, host):
    fs.create_dir("/run/systemd/units")
    assert fact(host, "firewalld_running") is False
    fs.create_symlink("/run/systemd/units/invocation:firewalld.service", "5f0d6c0f2b8e4b3f9a8d7e6c5b4a3f21")
    assert fact(host, "firewalld_running") is True


def test_firewalld_running_from_sosreport(fs, sos):
    assert fact(sos, "firewalld_running") is None
    fs.create_file("/sos/sos_commands/systemd/systemctl_list-units", contents=(
        "  UNIT                 LOAD   ACTIVE SUB     DESCRIPTION\n"
        "  firewalld.service    loaded active running firewalld - dynamic firewall daemon\n"))
    assert fact(sos, "firewalld_running") is True
    fs.create_file("/sos/sos_commands/firewalld/firewall-cmd_--state", contents="not running\n")
    assert fact(sos, "firewalld_running") is False


def test_firewalld_stale_pid_file_on_the_live_host(fs, host):
    fs.create_file("/run/firewalld.pid", contents="812\n")
    fs.create_dir("/proc/1")
    assert fact(host, "firewalld_running") is False  # no /proc/812: a stale pid file, and no firewalld process
    fs.create_file("/proc/812/cmdline", contents="/usr/bin/python3\0-s\0/usr/sbin/firewalld\0--nofork\0")
    assert fact(host, "firewalld_running") is True


def test_firewalld_backend_and_zone(fs, host):
    assert fact(host, "firewalld_nftables_backend") is None
    assert fact(host, "firewalld_libvirt_zone") is None
    fs.create_file("/etc/firewalld/firewalld.conf", contents="DefaultZone=public\nFirewallBackend=nftables\n")
    fs.create_file("/usr/lib/firewalld/zones/public.xml")
    assert fact(host, "firewalld_nftables_backend") is True
    assert fact(host, "firewalld_libvirt_zone") is False
    fs.create_file("/usr/lib/firewalld/zones/libvirt.xml")
    assert fact(host, "firewalld_libvirt_zone") is True


def test_firewalld_backend_defaults_by_version(fs, host):
    fs.create_file("/etc/firewalld/firewalld.conf", contents="DefaultZone=public\n")
    assert fact(host, "firewalld_nftables_backend") is None
    fs.create_file("/var/lib/dpkg/status", contents="Package: firewalld\nStatus: install ok installed\n"
                   "Version: 0.4.4.6-2\n")
    assert fact(host, "firewalld_nftables_backend") is False  # before 0.6: iptables only


def test_firewalld_zone_from_sosreport(fs, sos):
    fs.create_file("/sos/sos_commands/firewalld/firewall-cmd_--list-all-zones",
                   contents="block\n  target: %%REJECT%%\n\npublic (active)\n  target: default\n")
    assert fact(sos, "firewalld_libvirt_zone") is False
    fs.create_dir("/sos/usr/lib/firewalld/zones")
    fs.create_file("/sos/usr/lib/firewalld/zones/libvirt.xml")
    assert fact(sos, "firewalld_libvirt_zone") is False  # the running firewalld's zones win over the files


def pci_device(fs, address, pci_class, driver=""):
    base = f"/sys/devices/pci0000:00/0000:00:01.0/{address}"
    fs.create_file(f"{base}/class", contents=f"{pci_class}\n")
    if driver:
        fs.create_symlink(f"{base}/driver", f"../../../../bus/pci/drivers/{driver}")
    fs.create_symlink(f"/sys/bus/pci/devices/{address}", f"../../..{base.removeprefix('/sys')}")


def test_pci_host_driver_bound(fs, host):
    assert fact(host, "pci_host_driver_bound", device="0000:01:00.1") is None
    pci_device(fs, "0000:01:00.1", "0x040300", "snd_hda_intel")
    pci_device(fs, "0000:01:00.2", "0x0c0330", "vfio-pci")
    pci_device(fs, "0000:01:00.3", "0x0c8000")
    pci_device(fs, "0000:02:00.0", "0x060400", "pcieport")
    assert fact(host, "pci_host_driver_bound", device="0000:01:00.1") is True
    assert fact(host, "pci_host_driver_bound", device="0000:01:00.2") is False
    assert fact(host, "pci_host_driver_bound", device="0000:01:00.3") is False  # no driver
    assert fact(host, "pci_host_driver_bound", device="0000:02:00.0") is False  # a bridge


def test_interrupt_remapping_from_kernel_log(fs, host):
    assert fact(host, "interrupt_remapping_enabled") is None
    fs.create_file("/var/log/kern.log", contents="Jan 1 kvm1 kernel: [0.1] DMAR: IOMMU enabled\n")
    assert fact(host, "interrupt_remapping_enabled") is None  # no line says either way
    fs.create_file("/var/log/dmesg", contents=(
        "[    0.000000] DMAR: IOMMU enabled\n"
        "[    0.161049] DMAR-IR: Enabled IRQ remapping in x2apic mode\n"))
    assert fact(host, "interrupt_remapping_enabled") is True


def test_interrupt_remapping_off(fs, host):
    fs.create_file("/var/log/messages", contents=(
        "May  2 08:12:41 virt01 kernel: Enabled Interrupt-remapping\n"
        "May  3 09:00:02 virt01 kernel: Failed to enable irq remapping.  You are vulnerable to irq-injection"
        " attacks.\n"))
    assert fact(host, "interrupt_remapping_enabled") is False  # the last boot's line wins
    fs.create_file("/proc/cmdline", contents="ro quiet intel_iommu=on intremap=off\n")
    assert run_probe("interrupt_remapping_enabled", host, {}).detail == "/proc/cmdline has intremap=off"


def test_interrupt_remapping_from_sosreport_dmesg(fs, sos):
    fs.create_file("/sos/sos_commands/kernel/dmesg", contents="[    1.2] AMD-Vi: Interrupt remapping enabled\n")
    assert fact(sos, "interrupt_remapping_enabled") is True


def test_unsafe_interrupts_allowed(fs, host):
    assert fact(host, "unsafe_interrupts_allowed") is None
    fs.create_file("/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts", contents="N\n")
    assert fact(host, "unsafe_interrupts_allowed") is False
    fs.create_file("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", contents="Y\n")
    assert fact(host, "unsafe_interrupts_allowed") is True


def test_unsafe_interrupts_from_modprobe_d(fs, host):
    fs.create_dir("/sys/module/kvm")
    assert fact(host, "unsafe_interrupts_allowed") is False  # not loaded, nothing sets it: the default N
    fs.create_file("/etc/modprobe.d/vfio.conf", contents="options vfio_iommu_type1 allow_unsafe_interrupts=1\n")
    assert fact(host, "unsafe_interrupts_allowed") is True


def test_debian_family(fs, host):
    assert fact(host, "debian_family") is None
    fs.create_file("/etc/os-release", contents='NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n')
    assert fact(host, "debian_family") is False  # a sosreport keeps os-release, not always the release files
    fs.remove_object("/etc/os-release")
    fs.create_file("/etc/os-release", contents='PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nID_LIKE=debian\n')
    assert fact(host, "debian_family") is True
    fs.remove_object("/etc/os-release")
    fs.create_file("/etc/redhat-release", contents="Red Hat Enterprise Linux Server release 6.10 (Santiago)\n")
    assert fact(host, "debian_family") is False
    fs.create_file("/etc/debian_version", contents="12.5\n")
    assert fact(host, "debian_family") is True


def test_legacy_kvm_assignment(fs, host):
    assert fact(host, "legacy_kvm_assignment") is None  # kvm not loaded, or not in this copy
    fs.create_file("/sys/module/kvm/parameters/ignore_msrs", contents="N\n")
    assert fact(host, "legacy_kvm_assignment") is False  # a current kernel: VFIO only
    fs.create_file("/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts", contents="N\n")
    assert fact(host, "legacy_kvm_assignment") is True  # RHEL 6's kvm with pci-assign


INTERFACES = """# The loopback network interface
auto lo
iface lo inet loopback

iface eno1 inet manual

auto br0
iface br0 inet static
\taddress 192.168.1.20/24
\tbridge_ports eno1
\tbridge_fd 0
"""


def test_bridge_configured(fs, host):
    assert fact(host, "bridge_configured", bridge="br0") is None  # no network configuration at all
    fs.create_file("/etc/network/interfaces", contents=INTERFACES)
    result = run_probe("bridge_configured", host, {"bridge": "br0"})
    assert result.value is True and "/etc/network/interfaces:8" in result.detail
    assert fact(host, "bridge_configured", bridge="eno1") is False  # configured, but not as a bridge
    assert fact(host, "bridge_configured", bridge="br1") is False
    fs.create_file("/etc/sysconfig/network-scripts/ifcfg-br1", contents="DEVICE=br1\nTYPE=Bridge\nONBOOT=yes\n")
    assert fact(host, "bridge_configured", bridge="br1") is True
    fs.create_file("/etc/NetworkManager/system-connections/br2.nmconnection",
                   contents="[connection]\nid=br2\ntype=bridge\ninterface-name=br2\n")
    assert fact(host, "bridge_configured", bridge="br2") is True


def test_ifupdown_in_use(fs, host):
    assert fact(host, "ifupdown_in_use") is False
    fs.create_file("/etc/network/interfaces", contents="auto lo\niface lo inet loopback\n")
    assert fact(host, "ifupdown_in_use") is False
    fs.remove_object("/etc/network/interfaces")
    fs.create_file("/etc/network/interfaces", contents=INTERFACES)
    assert fact(host, "ifupdown_in_use") is True
    os.chmod("/etc/network/interfaces", 0)
    if os.geteuid() != 0:
        assert fact(host, "ifupdown_in_use") is None
