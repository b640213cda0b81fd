"""Parsers are pure functions: raw text in, records out."""

from __future__ import annotations

from diagnose import parsers, paste, virsh

LIBVIRTD_CONF = """# Master libvirt daemon configuration file
#listen_tls = 0
listen_tcp = 1
unix_sock_group = "libvirt"
unix_sock_rw_perms = "0770"   # trailing comment
tls_allowed_dn_list = ["DN1",
    "DN2",  # second
    'DN3']
log_level = 3
"""


def test_libvirt_conf_format():
    conf = parsers.parse_libvirt_conf(LIBVIRTD_CONF)
    assert conf == {
        "listen_tcp": 1,
        "unix_sock_group": "libvirt",
        "unix_sock_rw_perms": "0770",
        "tls_allowed_dn_list": ["DN1", "DN2", "DN3"],
        "log_level": 3,
    }


def test_conf_line_finds_the_last_setting():
    assert parsers.conf_line("a = 1\n#b = 2\nb = 3\nb = 4\n", "b") == (4, "b = 4")
    assert parsers.conf_line("#b = 2\n", "b") == (0, "")


def test_shell_vars():
    text = '# comment\nLIBVIRTD_ARGS="--listen"\nexport KRB5_KTNAME=/etc/libvirt/krb5.tab\n'
    assert parsers.parse_shell_vars(text) == {"LIBVIRTD_ARGS": "--listen", "KRB5_KTNAME": "/etc/libvirt/krb5.tab"}


def test_modules_and_lsmod():
    proc = "kvm_intel 380928 0 - Live 0x0000000000000000\nkvm 1146880 1 kvm_intel, Live 0x0\n"
    lsmod = "Module                  Size  Used by\nvhost_net              36864  1\n"
    assert parsers.parse_modules(proc) == {"kvm_intel", "kvm"}
    assert parsers.parse_modules(lsmod) == {"vhost_net"}


def test_cpuinfo_flags():
    text = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 vmx nx constant_tsc\n"
    assert {"vmx", "nx", "constant_tsc"} <= parsers.parse_cpuinfo_flags(text)


def test_hosts_and_group():
    assert parsers.parse_hosts("127.0.0.1 localhost myhost # x\n::1 localhost\n") == [
        ("127.0.0.1", ["localhost", "myhost"]), ("::1", ["localhost"])]
    assert parsers.parse_group("libvirt:x:109:alice,bob\nkvm:x:108:\n") == {"libvirt": ["alice", "bob"], "kvm": []}


def test_listening_ports_from_proc_net_tcp():
    text = ("  sl  local_address rem_address   st tx_queue rx_queue\n"
            "   0: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n"
            "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000 0 0 1 1\n")
    assert parsers.listening_ports(text) == {53}


def test_virsh_list_empty_and_full():
    empty = " Id   Name   State\n--------------------\n\n"
    full = " Id   Name    State\n------------------------\n 1    web01   running\n -    db01    shut off\n"
    assert virsh.parse_virsh_list(empty) == []
    assert virsh.parse_virsh_list(full) == [("1", "web01", "running"), ("-", "db01", "shut off")]
    assert virsh.parse_virsh_list("error: failed to connect") is None


def test_paste_lines_cleans_wrappers():
    text = ("\x1b[31m$ virsh start web01\x1b[0m\r\n"
            "libvirt.libvirtError: virError(Code=38, Domain=7, Message='Cannot get interface MTU on \\'br0\\': "
            "No such device')\n")
    lines = paste.paste_lines(text)
    assert lines[0].text == "$ virsh start web01"
    assert "Cannot get interface MTU on 'br0': No such device" in lines[1].text
    assert lines[1].number == 2


def test_paste_lines_splits_escaped_newlines_and_joins_wrapped_lines():
    lines = paste.paste_lines('Error: "a\\nb"\n' + "x" * 70 + "\ncontinued here\n")
    texts = [line.text for line in lines]
    assert 'Error: "a' in texts and 'b"' in texts
    assert "x" * 70 + " continued here" in texts


def test_find_xml_in_a_paste():
    root, body, first = paste.find_xml("# virsh dumpxml g\n<domain type='kvm'>\n<name>g</name>\n</domain>\ntrailer")
    assert (root, first) == ("domain", 2)
    assert body.endswith("</domain>")


def test_virsh_net_list_table():
    text = " Name      State      Autostart   Persistent\n----------------------------------------------\n" \
           " default   active     yes         yes\n isolated  inactive   no          yes\n"
    assert virsh.parse_virsh_list(text) == [("default", "active", "yes         yes"),
                                              ("isolated", "inactive", "no          yes")]


def test_ip_details_bridge_and_forward_delay():
    text = ("4: br0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n"
            "    link/ether 3c:ec:ef:12:9a:40 brd ff:ff:ff:ff:ff:ff promiscuity 0\n"
            "    bridge forward_delay 1500 hello_time 200 max_age 2000 stp_state 1\n"
            "5: vnet0@if3: <BROADCAST> mtu 1500 master br0\n"
            "    bridge_slave state forwarding priority 32\n")
    assert parsers.parse_ip_details(text) == {"br0": {"kind": "bridge", "forward_delay": "1500"},
                                              "vnet0": {"kind": "bridge_slave"}}
