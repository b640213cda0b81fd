"""Redaction (issue 16): the table of secret kinds, what must not change, a property test that plants every kind,
every kind through the real scan and explain in every format, and --redact-hosts over every form of a host's names."""

from __future__ import annotations

import base64
import json
import re
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from diagnose import render
from diagnose.cli import app
from diagnose.model import Evidence, Finding, RankedFix, Report, Skipped
from diagnose.redact import REDACTED, SECRET_KINDS, HostMap, hostnames_in, redact, scrub_secrets

REPO = Path(__file__).resolve().parent.parent
KINDS = {kind.name: kind for kind in SECRET_KINDS}
CEPH_KEY = "AQBxLEJmAAAAABAAn7c0dU+X2pQz9yvY1hK3Rw=="  # what `ceph auth get-key` prints: 28 bytes, base64

# --- (a) the table: kind, a real-syntax string, the secrets in it, the context that must stay -------------------

CASES: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("pem-block", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAy0fQx3v9\nZlYq8rW2Vv1mXG9e\n"
     "-----END RSA PRIVATE KEY-----", ("MIIEowIBAAKCAQEAy0fQx3v9", "ZlYq8rW2Vv1mXG9e"),
     ("-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----")),
    ("pem-block", "2024-05-02 08:14:13.001+0000: 2211: error : virNetTLSContextNew:1 : Cannot read CA certificate "
     "'/etc/pki/CA/cacert.pem': -----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0B", ("MIIEvQIBADANBgkqhkiG9w0B",),
     ("virNetTLSContextNew:1", "'/etc/pki/CA/cacert.pem'", "-----BEGIN PRIVATE KEY-----")),
    ("password-setting", 'vnc_password = "Vnc-Pa55word"', ("Vnc-Pa55word",), ("vnc_password = ",)),
    ("password-setting", "spice_password='Sp1ce-Pa55'", ("Sp1ce-Pa55",), ("spice_password=",)),
    ("password-setting", "-spice port=5930,password=Sp1ceOpt,addr=0.0.0.0,seamless-migration=on",
     ("Sp1ceOpt",), ("-spice port=5930,password=", ",addr=0.0.0.0,seamless-migration=on")),
    ("password-setting", '{"execute":"set_password","arguments":{"protocol":"vnc","password":"Qmp-Pa55"}}',
     ("Qmp-Pa55",), ('"execute":"set_password"', '"protocol":"vnc"', '"password":')),
    ("password-setting", "chpasswd: {users: [{name: ubuntu, password: Cl0udUs3rs, type: text}]}",
     ("Cl0udUs3rs",), ("name: ubuntu", "type: text")),
    ("password-setting", "export OS_PASSWORD=0penSt4ck! OS_AUTH_URL=https://keystone.example.com:5000/v3",
     ("0penSt4ck!",), ("OS_AUTH_URL=https://keystone.example.com:5000/v3",)),
    ("password-setting", "curl -H 'X-Auth-Token: gAAAAABmTok3n' https://api.example.com/v2", ("gAAAAABmTok3n",),
     ("https://api.example.com/v2",)),
    ("password-setting", "luks: passphrase=Lu1ksPassphr4se key-format=raw", ("Lu1ksPassphr4se",), ("key-format=raw",)),
    ("xml-attribute", "<graphics type='vnc' port='5900' autoport='no' listen='0.0.0.0' passwd='Gr4phicsPw'>",
     ("Gr4phicsPw",), ("type='vnc'", "port='5900'", "listen='0.0.0.0'")),
    ("xml-attribute", '<graphics type="spice" autoport="yes" password="Sp1ceXml"/>', ("Sp1ceXml",),
     ('type="spice"', 'autoport="yes"')),
    ("xml-attribute", "<qemu:arg value='secret,id=sec9,data=QemuArgS3cret'/>", ("QemuArgS3cret",), ("<qemu:arg",)),
    ("uri-password", "operation failed: Failed to connect to remote libvirt URI "
     "qemu+ssh://admin:Ur1Pa55@kvm8.example.com/system: Cannot recv data",
     ("Ur1Pa55",), ("qemu+ssh://admin:", "@kvm8.example.com/system", "Cannot recv data")),
    ("uri-password", "-drive file.driver=http,file.url=http://webuser:p/ss@w0rd@images.example.com/d.iso,if=none",
     ("p/ss@w0rd", "w0rd"), ("webuser", "@images.example.com/d.iso,if=none")),
    ("uri-password", "<source protocol='https' name='https://:Empt4User@images.example.com:8443/d.iso'/>",
     ("Empt4User",), ("https://:", "@images.example.com:8443/d.iso")),
    ("uri-password", "virsh -c qemu+tls://root:Pa55%2Fword@[2001:db8::7]/system list", ("Pa55%2Fword",),
     ("@[2001:db8::7]/system list",)),
    ("iscsi-chap", "-drive file=iscsi://chapuser%Ch4pPa55@192.0.2.9/iqn.2024-05.com.example:storage.t1/0,"
     "format=raw,if=none,id=drive-scsi0-0-0-0", ("Ch4pPa55",),
     ("iscsi://chapuser%", "@192.0.2.9/iqn.2024-05.com.example:storage.t1/0,format=raw")),
    ("iscsi-chap", "qemu-img info iscsi://admin%S3cr@t/x@target.example.com:3260/iqn.2003-01.org.linux-iscsi:sn.1/0",
     ("S3cr@t/x",), ("iscsi://admin%", "@target.example.com:3260/iqn.2003-01.org.linux-iscsi:sn.1/0")),
    ("uri-query", "https://s3.example.com/img/disk.qcow2?X-Amz-Signature=0a1b2c3d4e&X-Amz-Expires=3600",
     ("0a1b2c3d4e",), ("https://s3.example.com/img/disk.qcow2?X-Amz-Signature=", "&X-Amz-Expires=3600")),
    ("uri-query", "<source protocol='http' name='/d.iso?user=admin&amp;password=QueryPa55'/>", ("QueryPa55",),
     ("user=admin",)),
    ("cephx-key", f"-drive file=rbd:pool/img:id=admin:key={CEPH_KEY}:auth_supported=cephx\\;none:"
     "mon_host=192.0.2.10,format=raw,if=none,id=drive-virtio-disk1", (CEPH_KEY,),
     ("file=rbd:pool/img:id=admin:key=", ":auth_supported=cephx", "mon_host=192.0.2.10")),
    ("cephx-key", f"[client.libvirt]\n\tkey = {CEPH_KEY}\n\tcaps mon = \"profile rbd\"", (CEPH_KEY,),
     ("[client.libvirt]", "key = ", 'caps mon = "profile rbd"')),
    ("cephx-key", f"virsh secret-set-value --secret 2a5b08e4-c2a4-4c58-b4b2-3bd6f1d4e0b2 --base64 {CEPH_KEY}",
     (CEPH_KEY,), ("--secret 2a5b08e4-c2a4-4c58-b4b2-3bd6f1d4e0b2 --base64",)),
    ("cephx-key", "-drive file=rbd:pool/img:id=libvirt:key=c2VjcmV0a2V5MTIzNA==:conf=/etc/ceph/ceph.conf",
     ("c2VjcmV0a2V5MTIzNA==",), (":conf=/etc/ceph/ceph.conf",)),
    ("qemu-secret-object", "-object secret,id=sec0,data=Qs3cretData,format=raw", ("Qs3cretData",),
     ("-object secret,id=sec0,data=", ",format=raw")),
    ("qemu-secret-object", "-object secret,id=sec4,format=base64,data=U2VjcmV0,,Comma", ("U2VjcmV0", "Comma"),
     ("id=sec4,format=base64,data=",)),
    ("qemu-secret-object", "-object '{\"qom-type\":\"secret\",\"id\":\"libvirt-3-storage-auth-secret0\","
     "\"data\":\"9eao5F8qtkGt+seB1HYiv\",\"keyid\":\"masterKey0\",\"iv\":\"AAECAwQFBgcICQoLDA0ODw==\","
     "\"format\":\"base64\"}'", ("9eao5F8qtkGt+seB1HYiv",),
     ('"id":"libvirt-3-storage-auth-secret0"', '"keyid":"masterKey0"', '"format":"base64"')),
    ("qemu-secret-object", '-object \'{"id":"sec1","data":"Js0nF1rst","qom-type":"secret"}\'', ("Js0nF1rst",),
     ('"id":"sec1"', '"qom-type":"secret"')),
    ("qemu-secret-object", '{"execute":"object-add","arguments":{"qom-type":"secret","id":"sec2","data":"QmpS3c"}}',
     ("QmpS3c",), ('"execute":"object-add"', '"id":"sec2"')),
    ("qemu-secret-object", "-object '{ \"qom-type\": \"secret\", \"id\": \"sec3\", \"data\": \"Spac3dOut\" }'",
     ("Spac3dOut",), ('"id": "sec3"',)),
    ("cloud-init-chpasswd", "#cloud-config chpasswd: {list: | root:Ch9asswdR00t ubuntu:Ch9asswdUbu, expire: False}",
     ("Ch9asswdR00t", "Ch9asswdUbu"), ("chpasswd: {list: | root:", "ubuntu:", "expire: False}")),
    ("cloud-init-chpasswd", "#cloud-config\nchpasswd:\n  list: |\n    root:MultiR00t\n    centos:MultiCent0s\n"
     "  expire: False\nssh_pwauth: True", ("MultiR00t", "MultiCent0s"),
     ("chpasswd:\n  list: |\n    root:", "    centos:", "  expire: False\nssh_pwauth: True")),
    ("cloud-init-chpasswd", 'chpasswd: {expire: false, list: ["root:Fl0wR00t", "admin:Fl0wAdm1n"]}',
     ("Fl0wR00t", "Fl0wAdm1n"), ('"root:', '"admin:', "expire: false")),
    ("cloud-init-chpasswd", "chpasswd:\n  list:\n    - root:DashR00t\n    - admin:Dash,Adm1n\n", ("DashR00t", "Adm1n"),
     ("- root:", "- admin:")),
    ("http-cookie", "<cookie name='session'>C00kieValue9</cookie>", ("C00kieValue9",), ("<cookie name='session'>",)),
    ("http-cookie", "<cookies>\n  <cookie name='test'>C00kieOne</cookie>\n  <cookie name='test2'>C00kieTwo</cookie>\n"
     "</cookies>", ("C00kieOne", "C00kieTwo"), ("<cookie name='test'>", "<cookie name='test2'>", "</cookies>")),
    ("http-cookie", '-blockdev \'{"driver":"https","url":"https://images.example.com/d.iso",'
     '"cookie":"session=C00kieJs0n; lang=en","node-name":"libvirt-1-storage"}\'', ("C00kieJs0n",),
     ('"url":"https://images.example.com/d.iso"', '"node-name":"libvirt-1-storage"')),
    ("http-cookie", "-drive file.driver=http,file.url=http://images.example.com/d.iso,file.cookie=sid=C00kieOpt,if=none",
     ("C00kieOpt",), ("file.url=http://images.example.com/d.iso", ",if=none")),
    ("base64-key", "virsh secret-set-value 2a5b08e4-c2a4-4c58-b4b2-3bd6f1d4e0b2 "
     "--base64 cGFzc3dvcmQxMjM0NTY3ODkwMTIzNDU2Nzg5MEFCQ0RFRg==",
     ("cGFzc3dvcmQxMjM0NTY3ODkwMTIzNDU2Nzg5MEFCQ0RFRg",), ("virsh secret-set-value 2a5b08e4-c2a4",)),
    ("base64-key", "MIIEowIBAAKCAQEAy0fQx3v9ZlYq8rW2Vv1mXG9e2v0yJc8nKqH4p3kV9a6bT7sLmN0",
     ("MIIEowIBAAKCAQEAy0fQx3v9ZlYq8rW2Vv1mXG9e2v0yJc8nKqH4p3kV9a6bT7sLmN0",), ()),
]


def test_every_kind_has_cases_and_a_checked_example():
    assert len(KINDS) == len(SECRET_KINDS)
    assert {case[0] for case in CASES} == set(KINDS)
    for kind in SECRET_KINDS:
        text, expected = kind.example
        assert scrub_secrets(text) == expected, kind.name
        assert kind.scrub(text) == expected, kind.name


@pytest.mark.parametrize(("kind", "text", "secrets", "kept"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_secret_kind_is_redacted_and_context_stays(kind, text, secrets, kept):
    for scrubbed in (KINDS[kind].scrub(text), scrub_secrets(text)):  # the kind alone does it, and all kinds do
        assert REDACTED in scrubbed
        for secret in secrets:
            assert secret not in scrubbed, (secret, scrubbed)
        for context in kept:
            assert context in scrubbed, (context, scrubbed)
    assert scrub_secrets(scrub_secrets(text)) == scrub_secrets(text)


# --- (b) what must not change ------------------------------------------------------------------------------------

UNCHANGED = [
    "2024-05-02 06:58:05.198+0000: 1187: error : qemuAutostartDomain:197 : internal error: Failed to autostart VM "
    "'web01': Requested operation is not valid: network 'default' is not active",
    "2024-05-02 08:00:00.000+0000: 1191: error : virSecretGetValue:1163 : Secret not found: secret "
    "'2a5b08e4-c2a4-4c58-b4b2-3bd6f1d4e0b2' does not have a value",
    "2024-05-02 08:00:00.000+0000: 1191: error : qemuDomainSecretPrepare:1503 : internal error: cannot find secret",
    "error: internal error: unable to execute QEMU agent command 'guest-set-user-password': Failed to set password",
    "-object '{\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"format\":\"raw\","
    "\"file\":\"/var/lib/libvirt/qemu/domain-1-web01/master-key.aes\"}' \\",
    "-blockdev '{\"driver\":\"rbd\",\"pool\":\"pool\",\"image\":\"img\",\"user\":\"admin\","
    "\"auth-client-required\":[\"cephx\",\"none\"],\"key-secret\":\"libvirt-2-storage-auth-secret0\"}'",
    "<auth username='admin'><secret type='ceph' usage='client.libvirt secret'/></auth>",
    "<secret type='iscsi' uuid='2a5b08e4-c2a4-4c58-b4b2-3bd6f1d4e0b2'/>",
    "<secret ephemeral='no' private='yes'>",
    "virsh secret-define --file secret.xml && virsh secret-list",
    "/var/lib/libvirt/images/web01.qcow2 /etc/pki/libvirt/private/serverkey.pem",
    "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd /home/jsmith/VirtualMachines/Windows10Pro/disk-2024.qcow2",
    "/var/lib/libvirt/qemu/nvram/web01_VARS.fd /dev/disk/by-id/wwn-0x5000c500a1b2c3d4 /run/libvirt/qemu/driver.pid",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 md5 098f6bcd4621d373cade4e832627b4f6",
    "<uuid>4b1c8f6e-3d2a-4f7b-9c61-2e8a5d0f7b13</uuid> <mac address='52:54:00:3a:5c:11'/> 192.0.2.44 fe80::1",
    "starting up libvirt version: 9.0.0, package: 9.0.0-4 (Debian), qemu version: 7.2.9Debian 1:7.2+dfsg-7+deb12u5, "
    "kernel: 6.1.0-20-amd64, hostname: kvmhost",
    "2024-05-02T09:31:12.618305Z qemu-system-x86_64: terminating on signal 15 from pid 1187 (<unknown process>)",
    "May  2 08:14:11 kvmhost libvirtd[1187]: Permission denied (publickey,password).",
    'key_file = "/etc/pki/libvirt/private/serverkey.pem"\nauth_tcp = "sasl"\ntls_allowed_dn_list = ["C=GB,O=Example"]',
    "list:x:38:\nroot:x:0:",
    "-chardev socket,id=charmonitor,fd=28,server=on,wait=off -device isa-serial,chardev=charserial0,id=serial0",
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none' io='native' discard='unmap'/>",
    "dnsmasq-dhcp[1234]: DHCPACK(virbr0) 192.168.122.45 52:54:00:3a:5c:11 web01",
    "ssh: connect to host kvm8.example.com port 22: Connection refused",
]


@pytest.mark.parametrize("text", UNCHANGED)
def test_ordinary_text_is_left_alone(text):
    assert scrub_secrets(text) == text


def report_with(*texts: str, target: dict[str, str] | None = None) -> Report:
    """A report that carries `texts` in every kind of field a renderer prints."""
    fix = RankedFix("f", 1, "applies", "fix it", tuple(texts), "why: " + " ".join(texts), tuple(texts))
    finding = Finding("x", "B.1", "title", "error", "summary", 0.9, tuple((f"c{i}", t) for i, t in enumerate(texts)),
                      tuple(Evidence("paste", i + 1, t) for i, t in enumerate(texts)), (fix,))
    return Report(kind="scan", findings=[finding], skipped=[Skipped(t, t) for t in texts],
                  target=target or {"root": "/srv/case", "kind": "tree", "hostname": "kvm1.example.com"},
                  notes=list(texts))


def all_text(report: Report) -> str:
    return render.to_json(report, verbose=True)


def test_without_redact_hosts_addresses_uuids_and_names_stay():
    text = ("kvm1.example.com 192.0.2.44 2001:db8::5 52:54:00:3a:5c:11 4b1c8f6e-3d2a-4f7b-9c61-2e8a5d0f7b13 "
            "<serial>WD-WCC4N1234567</serial> sosreport-kvm1-2024-05-02-abcdef.tar.xz")
    redacted = redact(report_with(text))
    assert redacted.notes == [text] and redacted.target["hostname"] == "kvm1.example.com"


# --- (c) property: a secret of any kind, planted in any text, never survives -------------------------------------

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"
PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))


def chars(alphabet: str, exclude: str = "", min_size: int = 6, max_size: int = 24) -> st.SearchStrategy[str]:
    return st.text(alphabet="".join(c for c in alphabet if c not in exclude), min_size=min_size, max_size=max_size)


USER = st.from_regex(r"[a-z_][a-z0-9_.-]{0,8}", fullmatch=True)
HOST = st.sampled_from(["kvm8.example.com", "192.0.2.9", "[2001:db8::9]", "images.example.com:8443", "kvm8"])


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, tuple[str, ...]]:
    """(text in that kind's real syntax, its secrets)"""
    kind = draw(st.sampled_from(sorted(KINDS)))
    if kind == "pem-block":
        body = draw(chars(B64, min_size=8, max_size=64))
        label = draw(st.sampled_from(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "CERTIFICATE"]))
        end = draw(st.sampled_from([f"\n-----END {label}-----", ""]))
        return f"-----BEGIN {label}-----\n{body}{end}", (body,)
    if kind == "password-setting":
        name = draw(st.sampled_from(["vnc_password", "spice_password", "password", "passwd", "secret", "auth_token",
                                     "api_key", "private_key", "passphrase", "OS_PASSWORD", "file.password"]))
        quote = draw(st.sampled_from(['"', "'", ""]))
        value = draw(chars(PRINTABLE, exclude="\"'\\,;&{[|>"))
        form = draw(st.sampled_from(["{n} = {q}{v}{q}", "{n}={q}{v}{q}", "{n}: {q}{v}{q}", '"{n}":"{v}"',
                                     "-spice port=5930,{n}={v},addr=0.0.0.0"]))
        return form.format(n=name, q=quote, v=value), (value,)
    if kind == "xml-attribute":
        name = draw(st.sampled_from(["passwd", "password", "secret", "value", "key"]))
        quote = draw(st.sampled_from(['"', "'"]))
        value = draw(chars(PRINTABLE, exclude="\"'<>&"))
        return f"<graphics type='vnc' port='-1' {name}={quote}{value}{quote}/>", (value,)
    if kind == "uri-password":
        scheme = draw(st.sampled_from(["http", "https", "ftp", "qemu+ssh", "qemu+tls", "ssh", "nbd"]))
        user = draw(st.one_of(st.just(""), USER))
        value = draw(chars(PRINTABLE, exclude="'\"<>\\"))
        return f"{scheme}://{user}:{value}@{draw(HOST)}/system", (value,)
    if kind == "iscsi-chap":
        value = draw(chars(PRINTABLE, exclude="'\"<>\\"))
        return f"-drive file=iscsi://{draw(USER)}%{value}@{draw(HOST)}/iqn.2024-05.com.example:t1/0,if=none", (value,)
    if kind == "uri-query":
        name = draw(st.sampled_from(["password", "passwd", "token", "access_token", "secret", "auth", "key", "sig",
                                     "X-Amz-Signature", "api_key", "credential"]))
        value = draw(chars(URLSAFE))
        return f"https://{draw(HOST)}/img?size=1&{name}={value}&x=1", (value,)
    if kind == "cephx-key":
        key = base64.b64encode(b"\x01\x00" + draw(st.binary(min_size=26, max_size=26))).decode()
        form = draw(st.sampled_from(["-drive file=rbd:pool/img:id=admin:key={k}:auth_supported=cephx,if=none",
                                     "[client.admin]\n\tkey = {k}\n", "virsh secret-set-value --base64 {k}",
                                     '{{"key":"{k}"}}']))
        return form.format(k=key), (key,)
    if kind == "qemu-secret-object":
        option = draw(chars(B64 + "=-._"))
        json_value = draw(chars(PRINTABLE, exclude='"\\'))
        form = draw(st.sampled_from(["option", "json", "json-data-first", "qmp"]))
        if form == "option":
            return f"-object secret,id=sec0,{draw(st.sampled_from(['', 'format=base64,']))}data={option},keyid=k", (
                option,)
        if form == "json":
            return f'-object \'{{"qom-type":"secret","id":"s0","data":"{json_value}","format":"raw"}}\'', (json_value,)
        if form == "json-data-first":
            return f'-object {{"id":"sec0","data": "{json_value}","qom-type": "secret"}}', (json_value,)
        return f'{{"execute":"object-add","arguments":{{"qom-type":"secret","id":"s","data":"{json_value}"}}}}', (
            json_value,)
    if kind == "cloud-init-chpasswd":
        pairs = draw(st.lists(st.tuples(USER, chars(PRINTABLE, exclude="'\"]}")), min_size=1, max_size=3))
        secrets = tuple(p for _, p in pairs)
        form = draw(st.sampled_from(["block", "flow", "dash"]))
        if form == "block":
            return "chpasswd:\n  list: |\n" + "".join(f"    {u}:{p}\n" for u, p in pairs) + "  expire: False", secrets
        if form == "flow":
            return "chpasswd: {list: [" + ", ".join(f'"{u}:{p}"' for u, p in pairs) + "]}", secrets
        return "chpasswd:\n  list:\n" + "".join(f"    - {u}:{p}\n" for u, p in pairs), secrets
    if kind == "http-cookie":
        value = draw(chars(PRINTABLE, exclude="<>&,'\""))
        form = draw(st.sampled_from(["<cookie name='session'>{v}</cookie>", '"cookie":"session={v}"',
                                     "file.cookie=session={v},if=none"]))
        return form.format(v=value), (value,)
    assert kind == "base64-key"
    value = draw(chars(B64, min_size=40, max_size=80).filter(
        lambda v: any(c.islower() for c in v) and any(c.isupper() for c in v) and any(c.isdigit() for c in v)))
    return f"secret-set-value --base64 {value}", (value,)


# random text, and text made of the pieces secrets are written with (a name, a quote, a scheme...) that could
# take the planted secret's syntax away from it
FRAGMENTS = ["password", "PASSWD", "secret", "key", "token", "=", ": ", ":", "'", '"', ",", "&", "?", "@", "%", "/",
             "http://", "iscsi://", "list:", "|", "-", "<cookie>", "</cookie>", "-----BEGIN X-----", "data=",
             '"qom-type":"secret"', "{", "}", "[", "]", "\\", "AQ", "\n", " ", "root:"]
SURROUNDING = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60),
                        st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join))
SEPARATOR = st.sampled_from([" ", "\n", "\t", "\r\n", " : ", ": "])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planted(), SURROUNDING, SURROUNDING, SEPARATOR, SEPARATOR)
def test_planted_secret_never_survives(plant, before, after, left, right):
    text, secrets = plant
    for secret in secrets:
        # planted once, found nowhere else, and not a piece of the placeholder (which is what stays)
        assume(text.count(secret) == 1 and secret not in before + after and not set(secret) & set("<>"))
    scrubbed = scrub_secrets(before + left + text + right + after)
    for secret in secrets:
        assert secret not in scrubbed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(SURROUNDING, planted().map(lambda p: p[0])), max_size=5).map("".join))
def test_any_text_is_scrubbed_without_error(text):
    assert isinstance(scrub_secrets(text), str) and isinstance(HostMap({"kvm1"}).scrub(text), str)


@pytest.mark.parametrize("unit", ["?token=", "password=", "cookie=", "-----BEGIN X-----", "iscsi://a%", "http://",
                                  "http://a:", "a://b", "serial=", "secret,", '"data":"', "list: | a:b ", "a-", "::",
                                  "AQ"])
def test_a_hostile_64k_line_is_scrubbed_in_linear_time(unit):
    line = (unit * (65536 // len(unit) + 1))[:65536]
    started = time.perf_counter()
    scrub_secrets(line)
    HostMap({"kvm1.example.com"}).scrub(line)
    hostnames_in(Report(kind="explain", notes=[line]))
    assert time.perf_counter() - started < 5  # about 0.3 s; a quadratic pattern takes 15 to 50 s


# --- (d) end to end: every kind, from every source, in every format, through scan and explain ------------------

# value -> kind; each is unique, so finding it anywhere in a report means it leaked
PLANTED = {
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw": "pem-block",
    "Vnc-Conf-Pa55": "password-setting", "Sp1ce-Qemu-Pa55": "password-setting",
    "Gr4phics-Xml-Pa55": "xml-attribute",
    "Ur1/Pa55@w0rd": "uri-password", "Empt4UserPw": "uri-password",
    "Ch4pPa55w0rd": "iscsi-chap",
    "T0kenQuery99": "uri-query",
    CEPH_KEY: "cephx-key",
    "QemuJs0nData7": "qemu-secret-object", "QemuKvData8": "qemu-secret-object",
    "Ch9asswdR00t": "cloud-init-chpasswd", "Ch9asswdUbu": "cloud-init-chpasswd",
    "C00kieValue9": "http-cookie",
    "cGFzc3dvcmQxMjM0NTY3ODkwMTIzNDU2Nzg5MEFCQ0RFRg": "base64-key",
}
MONITOR = ("2024-05-02 09:31:12.640+0000: 1191: error : qemuProcessReportLogError:1971 : internal error: qemu "
           "unexpectedly closed the monitor: 2024-05-02T09:31:12.618305Z qemu-system-x86_64: ")
LOG_LINES = [
    # the rbd disk, its cephx key in the drive string (what QEMU <= 5 printed)
    MONITOR + f"-drive file=rbd:pool/img:id=admin:key={CEPH_KEY}:auth_supported=cephx\\;none:mon_host=192.0.2.10,"
    "format=raw,if=none,id=drive-virtio-disk1: error connecting: Permission denied",
    MONITOR + "-drive file.driver=http,file.url=http://webuser:Ur1/Pa55@w0rd@images.example.com/d.iso?"
    "token=T0kenQuery99,file.sslverify=off,if=none: https://:Empt4UserPw@images.example.com/e.iso: "
    "Could not open backing file: Permission denied",
    MONITOR + "-object tls-creds-x509,id=vnc-tls-creds0,dir=/etc/pki/libvirt-vnc,endpoint=server: Cannot load "
    "private key: -----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw",
    MONITOR + "virsh secret-set-value --secret 2a5b08e4-c2a4-4c58-b4b2-3bd6f1d4e0b2 --base64 "
    "cGFzc3dvcmQxMjM0NTY3ODkwMTIzNDU2Nzg5MEFCQ0RFRg==: Permission denied",
]
GUEST_LOG_LINE = (
    "2024-05-02T09:31:12.618305Z qemu-system-x86_64: -object '{\"qom-type\":\"secret\",\"id\":\"sec0\","
    "\"data\":\"QemuJs0nData7\",\"format\":\"raw\"}' -object secret,id=sec1,data=QemuKvData8 "
    "-spice port=5930,password=Sp1ce-Qemu-Pa55,addr=0.0.0.0 "
    "-drive file=iscsi://chapuser%Ch4pPa55w0rd@192.0.2.9/iqn.2024-05.com.example:t1/0,if=none: "
    "could not load kernel '/root/install/vmlinuz': Permission denied")


def planted_tree(tmp_path: Path) -> Path:
    """samples/hosts/healthy with every secret kind planted where a finding quotes the line."""
    root = tmp_path / "host"
    shutil.copytree(REPO / "samples/hosts/healthy", root, symlinks=True)
    domain = root / "etc/libvirt/qemu/web01.xml"
    xml = domain.read_text()
    # `frob` is an attribute libvirt does not know: xml-vanishing-parts quotes its whole line
    xml = xml.replace("<metadata>", "<metadata frob='1'><cloud:user-data xmlns:cloud='https://cloud-init.example/1'>"
                      "#cloud-config chpasswd: {list: | root:Ch9asswdR00t ubuntu:Ch9asswdUbu, expire: False}"
                      "</cloud:user-data>", 1)
    xml = xml.replace("<graphics type='vnc' port='-1' autoport='yes'>",
                      "<graphics type='vnc' port='-1' autoport='yes' passwd='Gr4phics-Xml-Pa55' frob='1'>", 1)
    xml = xml.replace("<devices>", "<devices>\n    <disk type='network' device='cdrom' frob='1'><driver name='qemu' "
                      "type='raw'/><source protocol='https' name='/iso/d.iso'><host name='images.example.com' "
                      "port='443'/><cookies><cookie name='session'>C00kieValue9</cookie></cookies></source>"
                      "<target dev='sdb' bus='sata'/></disk>\n"
                      "    <interface type='ethernet'><target dev='tap0'/><model type='virtio'/></interface>", 1)
    domain.write_text(xml)
    # a libvirt before 1.3 (QEMU opens /dev/net/tun itself), so that tun-ethernet-interface quotes qemu.conf below
    for log in (root / "var/log/libvirt").rglob("*.log"):
        log.write_text(log.read_text().replace("libvirt version: 9.0.0", "libvirt version: 1.2.17"))
    log = root / "var/log/libvirt/libvirtd.log"
    log.write_text(log.read_text() + "".join(f"{line}\n" for line in LOG_LINES))
    guest_log = root / "var/log/libvirt/qemu/web01.log"
    guest_log.write_text(guest_log.read_text() + GUEST_LOG_LINE + "\n")
    # qemu.conf: tun-ethernet-interface quotes the cgroup_device_acl line (an <interface type='ethernet'> above)
    conf = root / "etc/libvirt/qemu.conf"
    conf.write_text(conf.read_text() + '\ncgroup_device_acl = [ "/dev/null", "/dev/full", "/dev/zero", "/dev/random",'
                    ' "/dev/urandom", "/dev/ptmx", "/dev/kvm" ]  # vnc_password = "Vnc-Conf-Pa55"\n')
    return root


runner = CliRunner()
FORMATS = ("text", "json", "markdown", "html")


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"SOURCE_DATE_EPOCH": "1700000000", "COLUMNS": "200"})
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def reached(outputs: dict[str, str]) -> set[str]:
    return {secret for secret in PLANTED if all(secret in text for text in outputs.values())}


def assert_no_secret(outputs: dict[str, str]) -> None:
    for fmt, text in outputs.items():
        for secret, kind in PLANTED.items():
            assert secret not in text, f"{kind} secret {secret!r} leaked in {fmt}"
        assert REDACTED in text or "&lt;redacted&gt;" in text, fmt


def test_scan_reports_no_secret_of_any_kind_in_any_format(tmp_path):
    root = planted_tree(tmp_path)
    plain = {fmt: invoke("scan", "--root", str(root), "--format", fmt, "-v", "--no-redact") for fmt in ("json",)}
    # every planted secret reached the report through a finding, so the test below cannot pass vacuously
    assert reached(plain) == set(PLANTED), set(PLANTED) - reached(plain)
    body = json.loads(plain["json"])
    sources = {e["source"] for f in body["findings"] for e in f["evidence"] if any(s in e["text"] for s in PLANTED)}
    assert sources >= {"libvirtd-log", "qemu-guest-log", "domain-xml", "qemu-conf"}, sources
    assert_no_secret({fmt: invoke("scan", "--root", str(root), "--format", fmt, "-v") for fmt in FORMATS})
    assert_no_secret({fmt: invoke("scan", "--root", str(root), "--format", fmt, "-v", "--redact-hosts")
                      for fmt in ("json", "html")})


def test_explain_reports_no_secret_of_any_kind_in_any_format(tmp_path):
    xml = (planted_tree(tmp_path) / "etc/libvirt/qemu/web01.xml").read_text()
    paste = tmp_path / "paste.txt"
    paste.write_text("$ virsh start web01\n" + "\n".join(LOG_LINES) + "\n" + GUEST_LOG_LINE + "\n"
                     "error: Failed to start domain 'web01'\nerror: internal error: process exited while connecting to "
                     'monitor: qemu-system-x86_64: -vnc 0.0.0.0:1 vnc_password = "Vnc-Conf-Pa55"\n' + xml)
    plain = {fmt: invoke("explain", "--file", str(paste), "--format", fmt, "-v", "--no-redact") for fmt in ("json",)}
    assert reached(plain) == set(PLANTED), set(PLANTED) - reached(plain)
    assert_no_secret({fmt: invoke("explain", "--file", str(paste), "--format", fmt, "-v") for fmt in FORMATS})


def test_every_field_a_renderer_prints_is_scrubbed():
    texts = ("qemu+ssh://admin:F1eldPa55@kvm8/system", f"key={CEPH_KEY}", "-object secret,id=s,data=F1eldData")
    report = redact(report_with(*texts, target={"root": "-object secret,id=s,data=RootData", "kind": "tree"}))
    out = all_text(report)
    for secret in ("F1eldPa55", CEPH_KEY, "F1eldData", "RootData"):
        assert secret not in out
    for text in (report.findings[0].fixes[0].commands[0], report.notes[0], report.skipped[0].reason,
                 report.skipped[0].what, dict(report.findings[0].captures)["c0"], report.findings[0].evidence[0].text):
        assert "F1eldPa55" not in text and REDACTED in text


# --- (e) --redact-hosts -----------------------------------------------------------------------------------------


def scrub_hosts(*texts: str, names: set[str] | None = None) -> list[str]:
    mapping = HostMap(names if names is not None else {"kvm1.example.com"})
    return [mapping.scrub(text) for text in texts]


def test_short_name_fqdn_and_any_case_share_one_placeholder():
    out = scrub_hosts("kvm1", "kvm1.example.com", "KVM1.Example.COM", "ssh root@Kvm1 uptime", "/var/log/kvm1.log",
                      "kvm1-backup kvm10 web.kvm1.example.com.au")
    assert out[:4] == ["host-1", "host-1", "host-1", "ssh root@host-1 uptime"]
    assert out[4] == "/var/log/host-1.log"
    assert "kvm1-backup kvm10" in out[5]  # other names that only start alike stay
    assert scrub_hosts("kvm1.example.com and KVM1", names={"kvm1"}) == ["host-1 and host-1"]


def test_ipv4_and_ipv6_in_every_notation():
    out = scrub_hosts("10.0.0.1", "::ffff:10.0.0.1", "2001:db8::5", "2001:0db8:0000:0000:0000:0000:0000:0005",
                      "fe80::1", "fe80::1%eth0", "[2001:db8::5]:16509", "FE80::1")
    assert out == ["ip-1", "ip-1", "ip-2", "ip-2", "ip-3", "ip-3%eth0", "[ip-2]:16509", "ip-3"]
    kept = "127.0.0.1 ::1 0.0.0.0 :: listen on [::]:16509"
    assert scrub_hosts(kept) == [kept]


def test_macs_in_every_notation_share_one_placeholder():
    out = scrub_hosts("52:54:00:12:34:56", "52-54-00-12-34-56", "5254.0012.3456", "52:54:00:12:34:57",
                      "bridge_id 8000.52:54:00:12:34:56")
    assert out == ["mac-1", "mac-1", "mac-1", "mac-2", "bridge_id 8000.mac-1"]
    assert scrub_hosts("brd ff:ff:ff:ff:ff:ff 00:00:00:00:00:00") == ["brd ff:ff:ff:ff:ff:ff 00:00:00:00:00:00"]


def test_uuids_and_serial_numbers():
    out = scrub_hosts("<uuid>4b1c8f6e-3d2a-4f7b-9c61-2e8a5d0f7b13</uuid>", "-uuid 4B1C8F6E-3D2A-4F7B-9C61-2E8A5D0F7B13",
                      "<serial>WD-WCC4N1234567</serial>", "-device virtio-blk-pci,drive=d0,serial=WD-WCC4N1234567",
                      "\tSerial Number: PF2ABCDE", "<entry name='serial'>VMW-42-1a</entry>",
                      "00000000-0000-0000-0000-000000000000 03000200-0400-0500-0006-000700080009",
                      "Serial Number: Not Specified")
    assert out[:6] == ["<uuid>uuid-1</uuid>", "-uuid uuid-1", "<serial>serial-1</serial>",
                       "-device virtio-blk-pci,drive=d0,serial=serial-1", "\tSerial Number: serial-2",
                       "<entry name='serial'>serial-3</entry>"]
    assert out[6:] == ["00000000-0000-0000-0000-000000000000 03000200-0400-0500-0006-000700080009",
                       "Serial Number: Not Specified"]


def test_sosreport_names_wherever_they_appear():
    out = scrub_hosts("/cases/sosreport-kvm1-2024-05-02-abcdef.tar.xz",
                      "/tmp/x/sosreport-kvm1-2024-05-02-abcdef/etc/libvirt/qemu.conf",
                      "sosreport-kvm1-01234567-2024-05-02-qwerty.tar.xz.sha256")
    assert out == ["/cases/sosreport-1.tar.xz", "/tmp/x/sosreport-1/etc/libvirt/qemu.conf", "sosreport-2.tar.xz.sha256"]


def test_host_negatives():
    text = ("2024-05-02T09:31:12.618305Z 08:14:11 libvirt 9.0.0 qemu 7.2.9 0000:00:1f.2 std::vector "
            "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 kvm module loaded")
    assert scrub_hosts(text) == [text]


def test_hostnames_in_and_web_hosts_bring_no_short_names():
    report = report_with("Failed to connect to remote libvirt URI qemu+ssh://root@kvm8.example.com/system",
                         '<libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">',
                         "ssh kvm8 and KVM1 and see https://access.redhat.com/solutions/1 for access rights")
    assert hostnames_in(report) >= {"kvm1.example.com", "kvm8.example.com", "libosinfo.org", "access.redhat.com"}
    out = all_text(redact(report, hosts=True))
    for name in ("kvm8", "kvm1", "KVM1", "libosinfo.org", "access.redhat.com"):
        assert name not in out
    assert "xmlns:libosinfo=" in out and "for access rights" in out


def test_placeholders_are_stable_across_reports_sharing_a_map():
    mapping = HostMap(set())
    one = redact(report_with("kvm1.example.com 10.0.0.1 52:54:00:12:34:56"), hosts=True, host_map=mapping)
    two = redact(report_with("52-54-00-12-34-56 10.0.0.1 kvm2.example.com",
                             target={"root": "/x", "kind": "tree", "hostname": "kvm2.example.com"}),
                 hosts=True, host_map=mapping)
    assert one.notes == ["host-1 ip-1 mac-1"]
    assert two.notes == ["mac-1 ip-1 host-2"]
    assert (one.target["hostname"], two.target["hostname"]) == ("host-1", "host-2")


def test_sosreport_scan_hides_its_own_name_and_host(tmp_path):
    extracted = REPO / "samples/hosts/sosreport-bridge-missing/sosreport-kvmhost-2024-05-02-abcdef"
    tarball = tmp_path / "sosreport-kvmhost-2024-05-02-abcdef.tar.xz"
    with tarfile.open(tarball, "w:xz") as archive:
        archive.add(extracted, arcname=extracted.name)
    renamed = tmp_path / "case-4711-kvmhost.tar.xz"
    shutil.copy(tarball, renamed)
    for root in (tarball, extracted, renamed):
        for fmt in ("json", "html", "markdown", "text"):
            out = invoke("scan", "--root", str(root), "--format", fmt, "--redact-hosts", "-v")
            assert "kvmhost" not in out.lower() and "sosreport-kvmhost" not in out, (root.name, fmt)
            assert "abcdef" not in out and "4711" not in out, (root.name, fmt)
        body = json.loads(invoke("scan", "--root", str(root), "--format", "json", "--redact-hosts"))
        assert re.search(r"/(sosreport-1\.tar\.xz|sosreport-1|host-\d\.tar\.xz)$", body["target"]["root"]), body


@st.composite
def address(draw: st.DrawFn) -> tuple[str, str]:
    """(an address in one of its notations, what must not survive: the address itself)"""
    ip = draw(st.ip_addresses().filter(lambda a: not (a.is_loopback or a.is_unspecified)))
    if ip.version == 4:
        text = draw(st.sampled_from([str(ip), f"::ffff:{ip}", f"{ip}:16509"]))
        return text, str(ip)
    mapped = getattr(ip, "ipv4_mapped", None)
    assume(mapped is None or not (mapped.is_loopback or mapped.is_unspecified))
    text = draw(st.sampled_from([ip.compressed, ip.exploded, ip.compressed.upper(), f"{ip.compressed}%eth0",
                                 f"[{ip.compressed}]:16509"]))
    return text, text.split("%")[0].strip("[]").removesuffix(":16509").strip("[]")


@st.composite
def mac(draw: st.DrawFn) -> tuple[str, str]:
    octets = draw(st.binary(min_size=6, max_size=6).filter(lambda b: b not in (b"\0" * 6, b"\xff" * 6))).hex()
    pairs = [octets[i:i + 2] for i in range(0, 12, 2)]
    text = draw(st.sampled_from([":".join(pairs), "-".join(pairs).upper(), ".".join(
        octets[i:i + 4] for i in range(0, 12, 4))]))
    return text, text


@settings(max_examples=400, deadline=None)
@given(st.one_of(address(), mac()), SURROUNDING, SURROUNDING)
def test_planted_address_never_survives_redact_hosts(plant, before, after):
    text, value = plant
    assume(value not in before + after)
    assert value not in HostMap(set()).scrub(f"{before} {text} {after}")
