"""Parsers for scan (issue #3): dnsmasq.conf, ifcfg-*, journal exports and short output, virsh dominfo and
virsh capabilities, on raw text as the tools print it; and the journal read end to end in a scan."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from diagnose import engine, journal, parsers, virsh
from diagnose.host.gather import host_name, read_dnsmasq, read_ifcfg
from diagnose.host.tree import TreeHost

# --- dnsmasq -------------------------------------------------------------------------------------

# the end of RHEL 8's /etc/dnsmasq.conf, with a site's settings added
DNSMASQ_CONF = """\
# Configuration file for dnsmasq.
#
# Format is one option per line, legal options are the same
# as the long options legal on the command line. See
# "/usr/sbin/dnsmasq --help" or "man 8 dnsmasq" for details.
domain-needed
bogus-priv
interface=eth1
interface = eth2   # the lab
listen-address=127.0.0.1,192.0.2.1
#bind-interfaces
address="/printer.lan/#/192.0.2.9"
# Include all files in a directory which end in .conf
#conf-dir=/etc/dnsmasq.d/,*.conf
conf-dir=/etc/dnsmasq.d,.rpmnew,.rpmsave,.rpmorig
"""


def test_dnsmasq_conf_options_in_order_with_lines():
    assert parsers.parse_dnsmasq_conf(DNSMASQ_CONF) == {
        "domain-needed": [(6, "")],
        "bogus-priv": [(7, "")],
        "interface": [(8, "eth1"), (9, "eth2")],
        "listen-address": [(10, "127.0.0.1,192.0.2.1")],
        "address": [(12, "/printer.lan/#/192.0.2.9")],
        "conf-dir": [(15, "/etc/dnsmasq.d,.rpmnew,.rpmsave,.rpmorig")],
    }


def test_dnsmasq_conf_dir_selects_files_as_dnsmasq_does():
    names = ["local.conf", "libvirt.conf.rpmnew", ".hidden.conf", "edit.conf~", "#x.conf#", "README", "a.conf"]
    assert parsers.dnsmasq_conf_dir_files("/etc/dnsmasq.d,.rpmnew,.rpmsave", names) == (
        "/etc/dnsmasq.d", ["README", "a.conf", "local.conf"])
    assert parsers.dnsmasq_conf_dir_files("/etc/dnsmasq.d/,*.conf", names) == (
        "/etc/dnsmasq.d", ["a.conf", "local.conf"])


def test_dnsmasq_command_lines():
    debian = ("dnsmasq      803  0.0  0.0  12316  2280 ?        S    06:57   0:00 /usr/sbin/dnsmasq -x "
              "/run/dnsmasq/dnsmasq.pid -u dnsmasq -7 /etc/dnsmasq.d,.dpkg-dist,.dpkg-old,.dpkg-new --local-service "
              "--trust-anchor=.,20326,8,2,e06d44b80b8f1d39a95c0b0d7c65d08458e880409bbc683457104237c7f8ec8d")
    assert parsers.dnsmasq_command_options(debian) == {
        "conf-dir": ["/etc/dnsmasq.d,.dpkg-dist,.dpkg-old,.dpkg-new"], "local-service": [""],
        "trust-anchor": [".,20326,8,2,e06d44b80b8f1d39a95c0b0d7c65d08458e880409bbc683457104237c7f8ec8d"]}
    network_manager = ("/usr/sbin/dnsmasq --no-resolv --keep-in-foreground --no-hosts --bind-interfaces "
                       "--pid-file=/run/NetworkManager/dnsmasq.pid --listen-address=127.0.0.1 --cache-size=400 "
                       "--conf-dir=/etc/NetworkManager/dnsmasq.d")
    options = parsers.dnsmasq_command_options(network_manager)
    assert options["bind-interfaces"] == [""] and options["listen-address"] == ["127.0.0.1"]
    assert parsers.dnsmasq_command_options("dnsmasq -z -C /etc/dnsmasq-lab.conf") == {
        "bind-interfaces": [""], "conf-file": ["/etc/dnsmasq-lab.conf"]}


def test_read_dnsmasq_follows_conf_dir_and_conf_file_inside_the_root(tmp_path: Path):
    (tmp_path / "etc/dnsmasq.d").mkdir(parents=True)
    (tmp_path / "etc/dnsmasq.conf").write_text("domain-needed\nconf-file=/etc/dnsmasq-extra.conf\n"
                                               "conf-dir=/etc/dnsmasq.d,.rpmsave\n")
    (tmp_path / "etc/dnsmasq-extra.conf").write_text("interface=br0\n")
    (tmp_path / "etc/dnsmasq.d/lan.conf").write_text("# lan\nbind-dynamic\n")
    (tmp_path / "etc/dnsmasq.d/old.conf.rpmsave").write_text("except-interface=virbr0\n")
    host = TreeHost(label=str(tmp_path), kind="tree", root=tmp_path)
    assert read_dnsmasq(host) == [
        ("/etc/dnsmasq.conf", 1, "domain-needed", ""),
        ("/etc/dnsmasq.conf", 2, "conf-file", "/etc/dnsmasq-extra.conf"),
        ("/etc/dnsmasq-extra.conf", 1, "interface", "br0"),
        ("/etc/dnsmasq.conf", 3, "conf-dir", "/etc/dnsmasq.d,.rpmsave"),
        ("/etc/dnsmasq.d/lan.conf", 2, "bind-dynamic", ""),
    ]


def test_read_dnsmasq_loops_and_debian_config_dir(tmp_path: Path):
    (tmp_path / "etc/dnsmasq.d").mkdir(parents=True)
    (tmp_path / "etc/default").mkdir()
    (tmp_path / "etc/dnsmasq.conf").write_text("conf-file=/etc/dnsmasq.conf\n")  # includes itself
    (tmp_path / "etc/default/dnsmasq").write_text(
        "ENABLED=1\nCONFIG_DIR=/etc/dnsmasq.d,.dpkg-dist,.dpkg-old,.dpkg-new\n")
    (tmp_path / "etc/dnsmasq.d/lab").write_text("bind-interfaces\n")
    (tmp_path / "etc/dnsmasq.d/lab.dpkg-old").write_text("port=0\n")
    host = TreeHost(label=str(tmp_path), kind="tree", root=tmp_path)
    assert [(path, key) for path, _, key, _ in read_dnsmasq(host) or []] == [
        ("/etc/dnsmasq.conf", "conf-file"), ("/etc/dnsmasq.d/lab", "bind-interfaces")]
    assert read_dnsmasq(TreeHost(label="x", kind="tree", root=tmp_path / "nowhere")) is None


# --- ifcfg ---------------------------------------------------------------------------------------

# written by NetworkManager's ifcfg-rh plugin (quoted values), and by hand on RHEL 6 (with comments)
IFCFG_NM = """\
STP=yes
BRIDGING_OPTS=priority=32768
TYPE=Bridge
PROXY_METHOD=none
BROWSER_ONLY=no
BOOTPROTO=dhcp
DEFROUTE=yes
NAME="Bridge connection br0"
UUID=6f1d3c2a-5b7e-4c19-9a0d-2e8f7b6c5d41
DEVICE=br0
ONBOOT=yes
"""
IFCFG_HAND = """\
# br0: the guests' bridge (see the Virtualization Host Configuration Guide)
DEVICE=br0
TYPE=Bridge
BOOTPROTO=static
IPADDR=192.168.1.21   # static
NETMASK='255.255.255.0'
ONBOOT=yes
DELAY=0
STP="on"
NAME=it\\'s\\ br0
"""


def test_ifcfg_values():
    assert parsers.parse_ifcfg(IFCFG_NM)["NAME"] == "Bridge connection br0"
    assert parsers.parse_ifcfg(IFCFG_NM)["BRIDGING_OPTS"] == "priority=32768"
    assert parsers.parse_ifcfg(IFCFG_HAND) == {
        "DEVICE": "br0", "TYPE": "Bridge", "BOOTPROTO": "static", "IPADDR": "192.168.1.21",
        "NETMASK": "255.255.255.0", "ONBOOT": "yes", "DELAY": "0", "STP": "on", "NAME": "it's br0"}
    assert parsers.ifcfg_line(IFCFG_HAND, "DELAY") == (8, "DELAY=0")
    assert parsers.ifcfg_line(IFCFG_HAND, "MTU") == (0, "")


def test_ifcfg_odd_lines():
    text = 'A=\nB= x\nC="unterminated\n# D=1\nexport E=5\nF=a"b c"\n'
    assert parsers.parse_ifcfg(text) == {"A": "", "B": "", "C": "unterminated", "E": "5", "F": "ab c"}


def test_rhel6_host_name_and_ifcfg_devices(tmp_path: Path):
    (tmp_path / "etc/sysconfig/network-scripts").mkdir(parents=True)
    (tmp_path / "etc/sysconfig/network").write_text("NETWORKING=yes\nHOSTNAME=virt01.example.com\n")
    (tmp_path / "etc/sysconfig/network-scripts/ifcfg-br0").write_text(IFCFG_HAND)
    (tmp_path / "etc/sysconfig/network-scripts/ifcfg-br0.bak").write_text("DEVICE=br0\nTYPE=Ethernet\n")
    (tmp_path / "etc/sysconfig/network-scripts/ifcfg-System_eth0").write_text("DEVICE=eth0\nBRIDGE=br0\n")
    host = TreeHost(label=str(tmp_path), kind="tree", root=tmp_path)
    assert host_name(host) == ("virt01.example.com", "/etc/sysconfig/network")
    scripts = read_ifcfg(host)
    assert scripts is not None and sorted(scripts) == ["br0", "eth0"]
    assert scripts["br0"][0] == "/etc/sysconfig/network-scripts/ifcfg-br0"
    (tmp_path / "etc/hostname").write_text("virt01-new\n")  # /etc/hostname wins when there is one
    assert host_name(host) == ("virt01-new", "/etc/hostname")


# --- journal -------------------------------------------------------------------------------------


def export_entry(fields: list[tuple[str, str | bytes]]) -> bytes:
    """One entry as `journalctl -o export` writes it: text fields as KEY=value, a value with a newline (or
    bytes that are not UTF-8) as KEY, a newline, its little-endian 64-bit length, the value, a newline."""
    out = b""
    for key, value in fields:
        data = value if isinstance(value, bytes) else value.encode()
        if b"\n" in data or isinstance(value, bytes):
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return out + b"\n"


DNSMASQ_FAILURE = ("internal error: Child process (VIR_BRIDGE_NAME=virbr0 /usr/sbin/dnsmasq "
                   "--conf-file=/var/lib/libvirt/dnsmasq/default.conf --leasefile-ro "
                   "--dhcp-script=/usr/libexec/libvirt_leaseshelper) unexpected exit status 2: \n"
                   "dnsmasq: failed to create listening socket for 192.168.122.1: Address already in use\n")
EXPORT = export_entry([
    ("__CURSOR", "s=9f2c1b7e8d6a4f3c9e0b1a2d3c4e5f60;i=1a2b;b=3b5e9a0d4c7f41e2a1d86f20c9b7e513;m=2c5f1e;"
                 "t=6176a1e3c4b2d;x=8e7d6c5b4a392817"),
    ("__REALTIME_TIMESTAMP", "1714633085198123"),
    ("__MONOTONIC_TIMESTAMP", "2908958"),
    ("_BOOT_ID", "3b5e9a0d4c7f41e2a1d86f20c9b7e513"),
    ("PRIORITY", "3"),
    ("SYSLOG_FACILITY", "3"),
    ("_UID", "0"),
    ("_GID", "0"),
    ("_TRANSPORT", "journal"),
    ("_HOSTNAME", "kvm1"),
    ("LIBVIRT_SOURCE", "file"),
    ("CODE_FILE", "../src/util/vircommand.c"),
    ("CODE_LINE", "2694"),
    ("CODE_FUNC", "virCommandWait"),
    ("MESSAGE", DNSMASQ_FAILURE),
    ("_PID", "1187"),
    ("_COMM", "virtnetworkd"),
    ("_EXE", "/usr/sbin/virtnetworkd"),
    ("_CMDLINE", "/usr/sbin/virtnetworkd --timeout 120"),
    ("_SYSTEMD_UNIT", "virtnetworkd.service"),
]) + export_entry([
    ("__CURSOR", "s=9f2c1b7e8d6a4f3c9e0b1a2d3c4e5f60;i=1a2c"),
    ("__REALTIME_TIMESTAMP", "1714633085205511"),
    ("_HOSTNAME", "kvm1"),
    ("SYSLOG_IDENTIFIER", "kernel"),
    ("MESSAGE", "virbr0: port 1(vnet0) entered blocking state"),
]) + export_entry([
    ("__CURSOR", "s=9f2c1b7e8d6a4f3c9e0b1a2d3c4e5f60;i=1a2d"),
    ("__REALTIME_TIMESTAMP", "1714633085300000"),
    ("SYSLOG_IDENTIFIER", "dnsmasq"),
    ("SYSLOG_PID", "1322"),
    ("MESSAGE", b"bad byte \xff here"),
])


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
def test_journal_export_entries_whatever_the_blocks(block: int):
    blocks = [EXPORT[i : i + block] for i in range(0, len(EXPORT), block)]
    entries = list(journal.iter_journal_export(blocks))
    assert [e.fields["MESSAGE"] for e in entries] == [DNSMASQ_FAILURE, "virbr0: port 1(vnet0) entered blocking state",
                                                      "bad byte \ufffd here"]
    assert entries[0].fields["_SYSTEMD_UNIT"] == "virtnetworkd.service" and len(entries[0].fields) == 20
    lines = [line for entry in entries for line in journal.journal_entry_lines(entry)]
    assert lines == [
        (16, "2024-05-02T06:58:05+0000 kvm1 virtnetworkd[1187]: internal error: Child process (VIR_BRIDGE_NAME="
             "virbr0 /usr/sbin/dnsmasq --conf-file=/var/lib/libvirt/dnsmasq/default.conf --leasefile-ro "
             "--dhcp-script=/usr/libexec/libvirt_leaseshelper) unexpected exit status 2: "),
        (17, "2024-05-02T06:58:05+0000 kvm1 virtnetworkd[1187]: dnsmasq: failed to create listening socket for "
             "192.168.122.1: Address already in use"),
        (29, "2024-05-02T06:58:05+0000 kvm1 kernel: virbr0: port 1(vnet0) entered blocking state"),
        (36, "2024-05-02T06:58:05+0000 dnsmasq[1322]: bad byte \ufffd here"),
    ]
    physical = EXPORT.split(b"\n")
    assert physical[16].startswith(b"dnsmasq: failed")  # line 17, counted as a reader of the file would
    assert physical[28] == b"MESSAGE=virbr0: port 1(vnet0) entered blocking state"


def test_journal_export_cut_and_broken_input():
    huge = export_entry([("__CURSOR", "s=1"), ("MESSAGE", "x" * 200_000 + "\n")])
    (entry,) = journal.iter_journal_export([huge])
    assert len(entry.fields["MESSAGE"]) == journal.MAX_JOURNAL_VALUE
    lying = b"__CURSOR=s=1\nMESSAGE\n" + struct.pack("<Q", 1 << 62) + b"short\n"
    assert [e.fields["MESSAGE"] for e in journal.iter_journal_export([lying])] == ["short\n"]
    assert list(journal.iter_journal_export([b"__CURSOR=s=1\nMESSAGE\n\x01\x02"])) == [
        journal.JournalEntry(3, {"__CURSOR": "s=1", "MESSAGE": ""})]
    assert list(journal.iter_journal_export([b"not a journal\nlower=case\n\n"])) == []


def test_journal_export_detection():
    assert journal.is_journal_export(EXPORT[:64])
    assert not journal.is_journal_export(b"May 02 06:58:05 kvm1 libvirtd[1187]: x\n")
    assert not journal.is_journal_export(b"2024-05-02 06:58:05.560+0000: 1187: error : x\n")


def test_journal_short_formats():
    short = "May 02 06:58:05 kvm2 libvirtd[1187]: Cannot access storage file '/srv/vms/db01.qcow2'"
    iso = "2024-05-02T06:58:05+0000 kvm2 kernel: virbr0: port 1(vnet0) entered blocking state"
    iso_new = "2024-05-02T06:58:05+00:00 kvm2 systemd[1]: Started libvirtd.service - Virtualization daemon."
    precise = "May 02 06:58:05.198123 kvm2 virtqemud[1187]: internal error: qemu unexpectedly closed the monitor"
    assert journal.parse_journal_short(short) == journal.JournalLine(
        "May 02 06:58:05", "kvm2", "libvirtd", "1187", "Cannot access storage file '/srv/vms/db01.qcow2'")
    assert journal.parse_journal_short(iso) == journal.JournalLine(
        "2024-05-02T06:58:05+0000", "kvm2", "kernel", "", "virbr0: port 1(vnet0) entered blocking state")
    assert journal.parse_journal_short(iso_new).identifier == "systemd"
    assert journal.parse_journal_short(precise).time == "May 02 06:58:05.198123"
    assert journal.parse_journal_short("May  2 08:13:04 virt01 libvirtd: 08:13:04.211: 2398: info : x").pid == ""
    for marker in ("-- Boot 3b5e9a0d4c7f41e2a1d86f20c9b7e513 --", "-- Reboot --", "-- No entries --",
                   "-- Logs begin at Mon 2024-04-29 07:01:58 UTC, end at Thu 2024-05-02 09:02:17 UTC. --",
                   "-- Subject: A start job for unit libvirtd.service has finished successfully"):
        assert journal.is_journal_marker(marker) and journal.parse_journal_short(marker) is None
    assert journal.parse_journal_short("                                        dnsmasq: failed") is None


def test_export_lines_read_back_as_short_iso():
    for entry in journal.iter_journal_export([EXPORT]):
        if "_HOSTNAME" not in entry.fields:  # journalctl prints no host name then, and neither do we
            continue
        for _, text in journal.journal_entry_lines(entry):
            record = journal.parse_journal_short(text)
            assert record is not None and record.identifier == (
                entry.fields.get("SYSLOG_IDENTIFIER") or entry.fields.get("_COMM"))


def test_scan_reads_a_journal_export_with_exact_lines(tmp_path: Path):
    message = "Cannot access storage file '/srv/vms/db01.qcow2' (as uid:107, gid:107): Permission denied"
    (tmp_path / "etc/libvirt/qemu").mkdir(parents=True)
    (tmp_path / "journal.export").write_bytes(export_entry([
        ("__CURSOR", "s=1;i=1"), ("__REALTIME_TIMESTAMP", "1714633085198123"), ("_HOSTNAME", "kvm1"),
        ("MESSAGE", "Started libvirtd.service - Virtualization daemon."), ("_PID", "1"), ("_COMM", "systemd"),
    ]) + export_entry([
        ("__CURSOR", "s=1;i=2"), ("__REALTIME_TIMESTAMP", "1714633085298123"), ("_HOSTNAME", "kvm1"),
        ("PRIORITY", "3"), ("MESSAGE", message), ("_PID", "1187"), ("_COMM", "virtqemud"),
    ]))
    report = engine.scan(str(tmp_path))
    (finding,) = [f for f in report.findings if f.id == "image-permission-denied"]
    evidence = finding.evidence[0]
    assert (evidence.path, evidence.line) == ("/journal.export", 12)
    assert evidence.text == f"2024-05-02T06:58:05+0000 kvm1 virtqemud[1187]: {message}"
    assert (tmp_path / "journal.export").read_bytes().split(b"\n")[11] == f"MESSAGE={message}".encode()


# --- virsh dominfo and capabilities --------------------------------------------------------------

DOMINFO_RUNNING = """\
Id:             3
Name:           web01
UUID:           4b1c8f6e-3d2a-4f7b-9c61-2e8a5d0f7b13
OS Type:        hvm
State:          running
CPU(s):         2
CPU time:       247.3s
Max memory:     2097152 KiB
Used memory:    2097152 KiB
Persistent:     yes
Autostart:      enable
Managed save:   no
Security model: selinux
Security DOI:   0
Security label: system_u:system_r:svirt_t:s0:c87,c931 (enforcing)
Messages:       tainted: custom monitor control commands issued
                tainted: use of deprecated configuration settings

"""


def test_virsh_dominfo():
    info = virsh.parse_virsh_dominfo(DOMINFO_RUNNING)
    assert info["Name"] == "web01" and info["State"] == "running" and info["Autostart"] == "enable"
    assert info["Security label"] == "system_u:system_r:svirt_t:s0:c87,c931 (enforcing)"
    assert info["Messages"] == ("tainted: custom monitor control commands issued\n"
                                "tainted: use of deprecated configuration settings")
    assert len(info) == 16
    shut_off = virsh.parse_virsh_dominfo("Id:             -\nName:           db01\nState:          shut off\n"
                                           "Persistent:     no\nAutostart:      disable\nManaged save:   yes\n")
    assert shut_off == {"Id": "-", "Name": "db01", "State": "shut off", "Persistent": "no", "Autostart": "disable",
                        "Managed save": "yes"}
    assert virsh.parse_virsh_dominfo("error: failed to get domain 'db02'\n") == {}


CAPS_RHEL6 = """<capabilities>

  <host>
    <uuid>44454c4c-3600-1048-8035-b2c04f4d3132</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>SandyBridge</model>
      <vendor>Intel</vendor>
      <topology sockets='1' cores='4' threads='2'/>
      <feature name='pdpe1gb'/>
      <feature name='osxsave'/>
      <feature name='vmx'/>
    </cpu>
    <power_management>
      <suspend_disk/>
    </power_management>
    <migration_features>
      <live/>
      <uri_transports>
        <uri_transport>tcp</uri_transport>
      </uri_transports>
    </migration_features>
    <secmodel>
      <model>selinux</model>
      <doi>0</doi>
    </secmodel>
    <secmodel>
      <model>dac</model>
      <doi>0</doi>
    </secmodel>
  </host>

  <guest>
    <os_type>hvm</os_type>
    <arch name='i686'>
      <wordsize>32</wordsize>
      <emulator>/usr/libexec/qemu-kvm</emulator>
      <machine>rhel6.6.0</machine>
      <machine canonical='rhel6.6.0'>pc</machine>
      <machine>rhel6.0.0</machine>
      <domain type='qemu'>
      </domain>
      <domain type='kvm'>
        <emulator>/usr/libexec/qemu-kvm</emulator>
      </domain>
    </arch>
    <features>
      <cpuselection/>
      <deviceboot/>
      <pae/>
      <nonpae/>
    </features>
  </guest>

  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/libexec/qemu-kvm</emulator>
      <machine>rhel6.6.0</machine>
      <machine canonical='rhel6.6.0'>pc</machine>
      <domain type='qemu'>
      </domain>
      <domain type='kvm'>
        <emulator>/usr/libexec/qemu-kvm</emulator>
        <machine>rhel6.5.0</machine>
      </domain>
    </arch>
    <features>
      <cpuselection/>
      <deviceboot/>
    </features>
  </guest>

</capabilities>

"""


def test_virsh_capabilities():
    caps = virsh.parse_capabilities(CAPS_RHEL6)
    assert caps is not None
    assert (caps.arch, caps.cpu_model, caps.cpu_vendor) == ("x86_64", "SandyBridge", "Intel")
    assert caps.cpu_features == {"pdpe1gb", "osxsave", "vmx"}
    assert caps.guests[1] == virsh.GuestCaps("hvm", "x86_64", ("rhel6.6.0", "pc", "rhel6.5.0"), ("qemu", "kvm"))
    assert caps.iommu is None and caps.secmodels == ("selinux", "dac")
    assert caps.domain_types() == {"qemu", "kvm"}
    no_kvm = CAPS_RHEL6.replace("<domain type='kvm'>", "<domain type='qemu'>")
    assert virsh.parse_capabilities(no_kvm).domain_types() == {"qemu"}  # type: ignore[union-attr]
    sample = Path(__file__).resolve().parent.parent / "samples/hosts/sosreport-journal-only"
    debian = virsh.parse_capabilities(next(sample.glob("*/sos_commands/virsh/virsh_-r_capabilities")).read_text())
    assert debian is not None and debian.iommu is False and debian.secmodels == ("apparmor", "dac")
    assert "pc-q35-7.2" in debian.guests[1].machines and "vmx" in debian.cpu_features


@pytest.mark.parametrize("text", ["", "error: failed to connect to the hypervisor", "<capabilities><host>",
                                  "<domain/>", "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><capabilities>"
                                  "<host><cpu><model>&e;</model></cpu></host></capabilities>"])
def test_virsh_capabilities_not_a_document(text: str):
    caps = virsh.parse_capabilities(text)
    assert caps is None or "root:" not in caps.cpu_model


# --- the checks that use them (pure: HostState in, hits out) ----------------------------------------


def test_checks_use_ifcfg_capabilities_and_dominfo():
    from diagnose import checks, xmlchecks
    from diagnose.model import Fact
    from diagnose.state import HostState

    domain = ("<domain type='kvm'>\n  <name>erp01</name>\n  <devices>\n    <interface type='bridge'>\n"
              "      <source bridge='br0'/>\n    </interface>\n    <interface type='network'>\n"
              "      <source network='isolated'/>\n    </interface>\n  </devices>\n</domain>\n")
    network = "<network>\n  <name>isolated</name>\n  <bridge name='virbr1' stp='on' delay='0'/>\n</network>\n"
    state = HostState(
        domains=[xmlchecks.parse(domain, "domain-xml", "/etc/libvirt/qemu/erp01.xml")],
        networks=[xmlchecks.parse(network, "network-xml", "/etc/libvirt/qemu/networks/isolated.xml")],
        active_networks=set(), autostart_networks=set(),
        ifcfg={"br0": ("/etc/sysconfig/network-scripts/ifcfg-br0", IFCFG_HAND.replace("DELAY=0", "DELAY=15"))},
        dominfo={"erp01": ("sos_commands/virsh/virsh_-r_dominfo_erp01", {"Name": "erp01", "Autostart": "enable"})},
        capabilities=("sos_commands/virsh/virsh_-r_capabilities",
                      virsh.parse_capabilities(CAPS_RHEL6.replace("type='kvm'", "type='qemu'"))))
    asked = []

    def ask(name: str, captures: dict[str, str]) -> Fact:
        asked.append((name, captures))
        return Fact(name, False, "DELAY=15 (test)", captures.get("bridge", ""))

    (delay,) = checks.CHECKS["bridge_delay"].run(state, ask)
    assert dict(delay.captures) == {"bridge": "br0", "guest": "erp01"}
    assert [(e.line, e.text) for e in delay.evidence[1:]] == [(9, 'STP="on"'), (8, "DELAY=15")]
    assert asked == [("bridge_forward_delay_zero", {"bridge": "br0"})]
    (inactive,) = checks.CHECKS["guest_networks"].run(state, ask)
    assert "erp01 is set to autostart (Autostart: enable)" in [e.text for e in inactive.evidence]
    def ask_kvm(name: str, captures: dict[str, str]) -> Fact:  # a sosreport: no /dev, virsh capabilities decides
        detail = "sos_commands/virsh/virsh_-r_capabilities: domain types qemu, no kvm"
        return Fact(name, False if name == "dev_kvm_exists" else None, detail)

    (kvm,) = checks.CHECKS["kvm_not_usable"].run(state, ask_kvm)
    assert kvm.evidence[0].text.endswith("domain types qemu, no kvm") and dict(kvm.captures)["guest"] == "erp01"


def test_parse_interfaces():
    from diagnose.parsers import parse_interfaces

    text = """source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
allow-hotplug eno1
iface eno1 inet manual
auto br0
iface br0 inet static
    address 192.168.1.20/24   # the host's address
    bridge-ports eno1
    bridge_stp off
"""
    found = parse_interfaces(text)
    assert found["br0"] == (7, {"address": "192.168.1.20/24", "bridge-ports": "eno1", "bridge-stp": "off"})
    assert found["lo"] == (3, {}) and found["eno1"] == (5, {})
