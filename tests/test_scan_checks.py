"""Near misses of the B.8 and chapter 12 host checks: each broken sample host, changed in one fact, must
no longer give its finding (and a fact that cannot be known gives none either)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from diagnose import engine

HOSTS = Path(__file__).resolve().parent.parent / "samples" / "hosts"
VHOST = "b08-vhost-checksum-rhel6/sosreport-virt01-20240502091502"


def copy(tmp_path: Path, case: str) -> Path:
    target = tmp_path / "host"
    shutil.copytree(HOSTS / case, target, symlinks=True)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def ids(root: Path) -> set[str]:
    return {f.id for f in engine.scan(str(root)).findings}


def test_vhost_checksum_sample_as_given(tmp_path):
    assert ids(copy(tmp_path, VHOST)) == {"dhcp-checksum-vhost"}


def test_vhost_checksum_without_a_package_list_rests_on_the_logs(tmp_path):
    """No iptables version at all: libvirt's warning and dnsmasq offering, never acknowledging, still prove it."""
    root = copy(tmp_path, VHOST)
    (root / "installed-rpms").unlink()
    assert ids(root) == {"dhcp-checksum-vhost"}


@pytest.mark.parametrize("change", ["iptables 1.4.21", "driver qemu", "no dhcp", "vhost_net unloaded",
                                    "guest got its lease"])
def test_vhost_checksum_near_misses(tmp_path, change):
    root = copy(tmp_path, VHOST)
    rpms = root / "installed-rpms"
    if change == "iptables 1.4.21":
        edit(rpms, "iptables-1.4.7-19.el6.x86_64", "iptables-1.4.21-35.el7.x86_64")
    elif change == "driver qemu":
        edit(root / "etc/libvirt/qemu/build01.xml", "<model type='virtio'/>", "<model type='virtio'/>\n"
             "      <driver name='qemu'/>")
    elif change == "no dhcp":
        xml = root / "etc/libvirt/qemu/networks/default.xml"
        xml.write_text(re.sub(r"\s*<dhcp>.*?</dhcp>", "", xml.read_text(), flags=re.S))
    elif change == "vhost_net unloaded":
        lsmod = root / "sos_commands/kernel/lsmod"
        lsmod.write_text("".join(line for line in lsmod.read_text().splitlines(keepends=True)
                                 if not line.startswith("vhost_net")))
    else:  # RHEL 6's 1.4.7 proves nothing; the warning does, but only with the guest failing DHCP
        messages = root / "var/log/messages"
        edit(messages, "DHCPOFFER(virbr0) 192.168.122.163 52:54:00:b3:47:9c\n",
             "DHCPOFFER(virbr0) 192.168.122.163 52:54:00:b3:47:9c\n"
             "May  2 08:13:13 virt01 dnsmasq-dhcp[2483]: DHCPACK(virbr0) 192.168.122.163 52:54:00:b3:47:9c build01\n")
    found = ids(root)
    assert "dhcp-checksum-vhost" not in found
    assert "dhcp-checksum-warning" in found  # B.10's warning is still there, and harmless


def without_zone_error(root: Path) -> Path:
    """The sample with libvirt's error line taken out of its log: what the host check alone finds."""
    log = root / "var/log/libvirt/libvirtd.log"
    log.write_text("".join(line for line in log.read_text().splitlines(keepends=True) if "'libvirt' zone" not in line))
    return root


def test_firewalld_zone_found_by_the_check_alone(tmp_path):
    assert "firewalld-libvirt-zone-missing" in ids(without_zone_error(copy(tmp_path, "b08-firewalld-no-libvirt-zone")))


def test_firewalld_zone_error_in_the_log_with_the_zone_file_back(tmp_path):
    """The zone file is there now, but the log says the running firewalld lacked it: reload, then restart."""
    root = copy(tmp_path, "b08-firewalld-no-libvirt-zone")
    shutil.copy(HOSTS / "b08-firewalld-healthy/usr/lib/firewalld/zones/libvirt.xml", root / "usr/lib/firewalld/zones")
    found = {f.id: f for f in engine.scan(str(root)).findings}
    assert found["firewalld-libvirt-zone-missing"].fixes[0].fix_id == "reload-firewalld-start-network"


@pytest.mark.parametrize("change", ["zone in /etc", "iptables backend", "firewalld stopped", "bridged network"])
def test_firewalld_zone_near_misses(tmp_path, change):
    root = without_zone_error(copy(tmp_path, "b08-firewalld-no-libvirt-zone"))
    if change == "zone in /etc":
        (root / "etc/firewalld/zones").mkdir(exist_ok=True)  # git keeps no empty directory
        shutil.copy(HOSTS / "b08-firewalld-healthy/usr/lib/firewalld/zones/libvirt.xml",
                    root / "etc/firewalld/zones/libvirt.xml")
    elif change == "iptables backend":
        edit(root / "etc/firewalld/firewalld.conf", "FirewallBackend=nftables", "FirewallBackend=iptables")
    elif change == "firewalld stopped":
        (root / "run/systemd/units/invocation:firewalld.service").unlink()
    else:
        edit(root / "etc/libvirt/qemu/networks/default.xml", "<forward mode='nat'/>", "<forward mode='bridge'/>")
    assert "firewalld-libvirt-zone-missing" not in ids(root)


@pytest.mark.parametrize("change", ["audio on vfio-pci", "audio assigned too", "audio unbound"])
def test_iommu_group_near_misses(tmp_path, change):
    root = copy(tmp_path, "ch12-iommu-group-not-viable")
    driver = root / "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.1/driver"
    if change == "audio on vfio-pci":
        driver.unlink()
        driver.symlink_to("../../../../bus/pci/drivers/vfio-pci")
    elif change == "audio assigned too":
        edit(root / "etc/libvirt/qemu/gpu01.xml", "    <memballoon", "    <hostdev mode='subsystem' type='pci' "
             "managed='yes'>\n      <source>\n        <address domain='0x0000' bus='0x01' slot='0x00' "
             "function='0x1'/>\n      </source>\n    </hostdev>\n    <memballoon")
    else:
        driver.unlink()
    assert "vfio-group-not-viable" not in ids(root)


@pytest.mark.parametrize("change", ["unsafe allowed", "remapping enabled", "no kernel log"])
def test_interrupt_remapping_near_misses(tmp_path, change):
    root = copy(tmp_path, "ch12-interrupt-remapping-rhel6")
    dmesg = root / "var/log/dmesg"
    if change == "unsafe allowed":
        (root / "sys/module/kvm/parameters/allow_unsafe_assigned_interrupts").write_text("Y\n")
    elif change == "remapping enabled":
        dmesg.write_text("Linux version 2.6.32-754.35.1.el6.x86_64\nEnabled Interrupt-remapping\n")
    else:
        dmesg.unlink()
    assert "interrupt-remapping-unsupported" not in ids(root)


def test_hostname_loopback_is_a_warning_until_migration_shows_up(tmp_path):
    """B.13 on a host nobody migrates to is latent (a warning); with a migration to it in the logs it is the
    error that made the migration fail."""
    root = copy(tmp_path, "b13-hostname-loopback")
    assert {(f.id, f.severity) for f in engine.scan(str(root)).findings} == {("hostname-loopback", "warning")}
    with open(root / "var/log/libvirt/libvirtd.log", "a", encoding="utf-8") as log:
        log.write("2024-05-02 09:12:44.103+0000: 1187: error : qemuMigrationDstPrepareAny:2901 : internal error: "
                  "hostname on destination resolved to localhost, but migration requires an FQDN\n")
    findings = {f.id: f for f in engine.scan(str(root)).findings}
    assert findings["migration-hostname-unresolvable"].severity == "error"
    assert "hostname-loopback" not in findings
    assert findings["migration-hostname-unresolvable"].fixes[0].fix_id == "fix-destination-loopback"


def test_scan_lists_errors_before_warnings_and_infos(tmp_path):
    root = copy(tmp_path, "b13-hostname-loopback")
    with open(root / "var/log/libvirt/libvirtd.log", "a", encoding="utf-8") as log:
        log.write("2024-05-02 09:00:00.000+0000: 1187: error : virGDBusGetSystemBus:99 : internal error: Unable to "
                  "get system bus connection: Could not connect: No such file or directory\n"
                  "2024-05-02 09:00:01.000+0000: 1187: error : virNetDevGetMTU:397 : Cannot get interface MTU on "
                  "'br9': No such device\n")
    order = [f.severity for f in engine.scan(str(root)).findings]
    assert order == sorted(order, key=["error", "warning", "info"].index) and order[0] == "error"
