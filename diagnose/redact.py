"""Redact stage (pure): a Report -> the same Report with secrets (and optionally host identities)
replaced, before anything is rendered. Placeholders are stable: one value, one placeholder.

Secrets are a table (SECRET_KINDS): each kind names where a secret hides (regexes whose group `value` is
the secret) and what replaces the value, so that the syntax around it stays readable (`key=<redacted>`).
tests/test_redaction.py checks every kind, in every format, from every source."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable
from pathlib import PurePath
from typing import Any

from diagnose.model import Report
from diagnose.rank import merge_same

REDACTED = "<redacted>"


def _opaque(value: str) -> str:
    """The whole value, its quotes kept: `"<redacted>"`, `'<redacted>'`, `<redacted>`."""
    if value[:1] in ("'", '"'):
        return f"{value[0]}{REDACTED}{value[0] if len(value) > 1 and value[-1] == value[0] else ''}"
    return REDACTED


CHPASSWD_PAIR = r"""["']?[A-Za-z_][\w.-]*:[^\s'"\]}]+["']?"""  # user:password in a chpasswd list
CHPASSWD_ITEM = re.compile(r"""(?P<user>["']?[A-Za-z_][\w.-]*):[^\s'"\]}]+""")


def _passwords_only(value: str) -> str:
    """`root:secret ubuntu:pw` -> `root:<redacted> ubuntu:<redacted>`: the user names stay."""
    return CHPASSWD_ITEM.sub(lambda m: f"{m['user']}:{REDACTED}", value)


@dataclasses.dataclass(frozen=True)
class SecretKind:
    """One kind of secret: the regexes that find it (group `value` is the secret), what replaces the value,
    and an example (the text, the same text redacted) that the tests check."""

    name: str
    patterns: tuple[re.Pattern[str], ...]
    example: tuple[str, str]
    mask: Callable[[str], str] = _opaque

    def scrub(self, text: str) -> str:
        for pattern in self.patterns:
            text = _replace_value(pattern, text, self.mask)
        return text


QUOTED = r""""(?:[^"\\\n]|\\.)*"|'[^'\n]*'"""
OPTION = r"""(?:[^\s,;&'"]|,,)+"""  # an unquoted conf/QEMU option value (QEMU writes a comma in a value as ',,')
VALUE = rf"""(?:{QUOTED}|["']?{OPTION})"""  # a quote that never closes (a cut line) still hides the value
JSON_STRING = r'"(?P<value>(?:[^"\\]|\\.)*)"'
# after user:password@ (or user%password@) comes a host, a port and the end of the authority
HOST_FOLLOWS = r"""(?=[\w.\-\[\]:%]+(?:[/?#\s'"<>,;)\\]|$))"""

SECRET_KINDS: tuple[SecretKind, ...] = (
    SecretKind(
        "pem-block",  # TLS private keys, certificates: the body between the BEGIN and END lines
        (re.compile(r"-----BEGIN [A-Z0-9 ]+-----(?P<value>.*?)(?=-----END [A-Z0-9 ]+-----|\Z)", re.S),),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
         "-----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----"),
        lambda _value: REDACTED),
    SecretKind(
        "iscsi-chap",  # QEMU's iscsi://user%password@host/iqn/lun
        (re.compile(r"""(?i)(?<![\w+.-])iscsi://[^\s/:@%?#'"<>]{0,256}%(?P<value>[^\s'"<>]{0,256})@"""
                    + HOST_FOLLOWS),),
        ("file=iscsi://chap%S3cret@192.0.2.9/iqn.2024-05.com.example:t1/0",
         "file=iscsi://chap%<redacted>@192.0.2.9/iqn.2024-05.com.example:t1/0")),
    SecretKind(
        "uri-password",  # scheme://user:password@host, also with '/' or '@' in the password or no user
        (re.compile(r"""(?i)(?<![\w+.-])[a-z][a-z0-9+.-]{0,32}://[^\s/:@?#'"<>]{0,256}:"""
                    r"""(?P<value>[^\s'"<>]{0,256})@""" + HOST_FOLLOWS),),
        ("qemu+ssh://admin:S3cret@kvm8/system", "qemu+ssh://admin:<redacted>@kvm8/system")),
    SecretKind(
        "cephx-key",  # key=AQ...== in rbd drive strings, key = AQ...== in keyrings, a cephx key anywhere
        (re.compile(r"(?<![A-Za-z0-9+/])(?P<value>AQ[A-Za-z0-9+/]{36,}={0,2})(?![A-Za-z0-9+/=])"),
         re.compile(r"(?i)(?<![\w-])key\s*[=:]\s*(?P<value>[A-Za-z0-9+/]{16,}={0,2})(?![A-Za-z0-9+/=])")),
        ("file=rbd:pool/img:id=admin:key=AQBxAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==:auth_supported=cephx",
         "file=rbd:pool/img:id=admin:key=<redacted>:auth_supported=cephx")),
    SecretKind(
        "qemu-secret-object",  # -object secret,id=sec0,data=... and its JSON form {"qom-type":"secret",...}
        (re.compile(r"""(?<![\w-])secret,[^\s'"]{0,400}?(?<=,)data=(?P<value>(?:[^\s,'"]|,,)+)"""),
         re.compile(r""""qom-type"\s*:\s*"secret"[^{}]{0,400}?"data"\s*:\s*""" + JSON_STRING),
         re.compile(r""""data"\s*:\s*""" + JSON_STRING + r"""(?=[^{}]{0,400}?"qom-type"\s*:\s*"secret")"""),
         re.compile(r"""-object\s+'?\{[^{}]{0,400}?"data"\s*:\s*""" + JSON_STRING)),
        ("-object secret,id=sec0,data=S3cret,format=raw", "-object secret,id=sec0,data=<redacted>,format=raw")),
    SecretKind(
        "cloud-init-chpasswd",  # chpasswd: {list: | root:secret ...}: the passwords, not the user names
        (re.compile(rf"""(?i)(?<![\w-])list:(?=[\s\[|>])\s*(?P<value>(?:[|>][-+]?|\[)?\s*(?:-\s*)?{CHPASSWD_PAIR}"""
                    rf"""(?:(?:\s*[-,]\s*|\s+){CHPASSWD_PAIR})*)"""),),
        ("chpasswd:\n  list: |\n    root:S3cret\n    ubuntu:Pa55\n  expire: False",
         "chpasswd:\n  list: |\n    root:<redacted>\n    ubuntu:<redacted>\n  expire: False"),
        _passwords_only),
    SecretKind(
        "http-cookie",  # <cookie name='session'>value</cookie> of a network disk, cookie= options
        (re.compile(r"(?i)<cookie\b[^>]{0,200}>(?P<value>[^<]+)"),
         re.compile(r"""(?i)(?<![\w-])cookie["']?\s*[=:]\s*(?P<value>""" + QUOTED + r"""|["']?(?:[^,'"\n]|,,)+)""")),
        ("<cookie name='session'>S3cret</cookie>", "<cookie name='session'><redacted></cookie>")),
    SecretKind(
        "password-setting",  # name = value or name: value for a password, secret, token, passphrase, key (not
        # QEMU's password-secret=sec0, key-secret=...: those name a secret object, whose data= is redacted)
        (re.compile(r"""(?i)(?<![\w.-])(?P<q>"?)[\w.-]{0,64}?(?:passw(?:or)?d|passphrase|secret|token|api_?key|"""
                    r"""private_?key)[\w.-]{0,64}(?<!-secret)(?P=q)[ \t]*(?:=|:(?!\d+\s+:))[ \t]*(?![{\[|>])"""
                    rf"""(?P<value>{VALUE})"""),),
        ('vnc_password = "S3cret"', 'vnc_password = "<redacted>"')),
    SecretKind(
        "xml-attribute",  # <graphics passwd='...'>, <qemu:arg value='...'/>, key='...'
        (re.compile(r"""(?i)(?<![\w.:-])(?:passwd|password|secret|value|key)=(?P<value>'[^']*'|"[^"]*")"""),),
        ("<graphics type='vnc' passwd='S3cret'/>", "<graphics type='vnc' passwd='<redacted>'/>")),
    SecretKind(
        "uri-query",  # ?password=...&token=... and other credentials in a query string
        (re.compile(r"""(?i)(?:[?&]|&amp;)[\w-]{0,64}?(?:passw(?:or)?d|token|secret|auth|key|sig|signature|"""
                    r"""credential)=(?P<value>[^&\s'"#<>]+)"""),),
        ("https://example.com/img?token=S3cret&x=1", "https://example.com/img?token=<redacted>&x=1")),
    SecretKind(
        "base64-key",  # a long base64 run with both cases and a digit: key material (hex digests stay, and so do
        # absolute paths under the usual top directories: /home/jsmith/VirtualMachines/Windows10Pro/disk)
        (re.compile(r"(?<![A-Za-z0-9+/])(?!/(?:home|var|etc|usr|run|dev|srv|opt|mnt|media|tmp|root|boot|proc|sys|"
                    r"lib|lib64|data|export|nfs)/)(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])"
                    r"(?=[A-Za-z0-9+/]*\d)(?P<value>[A-Za-z0-9+/]{40,}={0,2})(?![A-Za-z0-9+/=])"),),
        ("secret-set-value --base64 MIIEowIBAAKCAQEAy0fQx3v9ZlYq8rW2Vv1mXG9e2v0yJc8nK",
         "secret-set-value --base64 <redacted>")),
)


# A short value may hold the name of the next secret (`PASSWD: vnc_password = "x"`): the search goes on from its
# start. A longer one is passed whole, which keeps the scrub linear in the text's length.
NAME_REACH = 256


def _replace_value(pattern: re.Pattern[str], text: str, mask: Callable[[str], str]) -> str:
    """Every match of `pattern` with its group `value` replaced by mask(value); the rest of the match stays.
    Values that overlap or touch are masked as one."""
    spans: list[list[int]] = []
    position = 0
    while (match := pattern.search(text, position)) is not None:
        start, end = match.span("value")
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
        position = max(start if end - start <= NAME_REACH else end, match.start() + 1)
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], mask(text[start:end])]
        last = end
    return "".join(pieces) + text[last:]


def scrub_secrets(text: str) -> str:
    for kind in SECRET_KINDS:
        text = kind.scrub(text)
    return text


# --- host identities (--redact-hosts) ----------------------------------------------------------------

IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
# a candidate: ipaddress decides (times such as 08:14:11 are not addresses); a zone (%eth0) and an IPv4 tail allowed
IPV6 = re.compile(r"(?<![\w:.%])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}"
                  r"(?:25[0-5]|2[0-4]\d|1?\d?\d)|[0-9A-Fa-f]{0,4})(?:%[\w.-]+)?(?![\w:]|\.\d)")
# 52:54:00:12:34:56, 52-54-00-12-34-56 (also inside a bridge id, 8000.52:54:00:12:34:56), 5254.0012.3456
MAC = re.compile(r"(?<![\w:-])(?:[0-9A-Fa-f]{2}(?P<sep>[:-])[0-9A-Fa-f]{2}(?:(?P=sep)[0-9A-Fa-f]{2}){4}"
                 r"|(?<!\.)[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:-]|\.\w)")
UUID = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}(?![0-9A-Za-z])")
# identify nothing: nil, max, and the placeholder SMBIOS UUID of many boards (the same on every host)
KEEP_UUIDS = {"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
              "03000200-0400-0500-0006-000700080009"}
SERIAL = (
    re.compile(r"(?i)<serial>(?P<value>[^<>\s]+)</serial>"),  # <disk><serial>...</serial>
    re.compile(r"""(?i)<entry name=['"]serial['"]>(?P<value>[^<>\s]+)</entry>"""),  # <sysinfo> smbios
    re.compile(r"""(?i)(?<![\w-])serial(?:[ _-]?(?:number|no\.?))?["']?\s*[=:]\s*["']?"""
               r"""(?P<value>(?!(?:not|none|unknown|to be)\b)[^\s,;<'"]+)"""),  # serial=, Serial Number: ...
)
# sos's own names: sosreport-<host>[-<case>]-<date>-<random>[.tar.xz], sos-collector-...
SOSREPORT = re.compile(r"(?i)(?<![\w.-])(?:sosreport|sos-collector)-[\w.-]*\d[\w.-]*")
URI_HOST = re.compile(r"(?i)(?<![\w+.-])(?P<scheme>[a-z][a-z0-9+.-]{0,32})://(?:[^/\s@]{1,256}@)?"
                      r"([A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9])(?=[:/?\s'\"]|$)")
WEB_SCHEMES = {"http", "https", "ftp", "ftps"}  # links to documentation, trackers, mirrors: no short names
KEEP_HOSTS = {"localhost", "localhost.localdomain", "system", "session"}
GENERIC_LABELS = {"www", "localhost"}
# a name's trailing labels that are a file's extension, not a domain: kvm1.log -> host-1.log
FILE_EXTENSIONS = {"tar", "xz", "gz", "bz2", "zst", "zstd", "md5", "sha256", "log", "xml", "conf", "txt", "json",
                   "html", "img", "qcow2", "iso", "raw", "pem", "crt", "cfg", "service", "socket", "pid"}


def _split_extension(name: str) -> tuple[str, str]:
    base = name.rstrip(".")
    extension = name[len(base):]
    while "." in base and base.rsplit(".", 1)[1].lower() in FILE_EXTENSIONS:
        base, last = base.rsplit(".", 1)
        extension = f".{last}{extension}"
    return base, extension


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%")[0])
    except ValueError:
        return False
    return True


class HostMap:
    """Stable placeholders for host names, IP and MAC addresses, UUIDs, serial numbers and sosreport names, in
    order of first appearance. A host's short name and FQDN share one placeholder, in any letter case."""

    def __init__(self, hostnames: set[str]) -> None:
        self.names: list[str] = []
        self.seen: dict[str, str] = {}
        self._names_re: re.Pattern[str] | None = None
        self.add(hostnames)

    def add(self, hostnames: Iterable[str], short_names: bool = True) -> None:
        """Know more names; with `short_names`, kvm1.example.com brings kvm1 along (a short name always brings
        its FQDNs: kvm1 matches kvm1.example.com)."""
        names = set(self.names)
        for raw in hostnames:
            name = raw.strip().rstrip(".").lower()
            if len(name) < 2 or name.isdigit() or name in KEEP_HOSTS or SOSREPORT.fullmatch(name) or _is_ip(name):
                continue
            names.add(name)
            labels = name.split(".")
            if short_names and len(labels) > 1 and labels[0] not in GENERIC_LABELS and len(labels[0]) > 1:
                names.add(labels[0])
        self.names = sorted(names, key=lambda n: (-len(n), n))
        choices = "|".join(re.escape(n) for n in self.names)
        self._names_re = re.compile(rf"(?i)(?<![\w.-])(?:{choices})(?:\.[A-Za-z0-9-]+)*(?![\w-])") if names else None

    def _placeholder(self, kind: str, value: str) -> str:
        key = f"{kind}:{value.lower()}"
        if key not in self.seen:
            count = sum(1 for k in self.seen if k.startswith(f"{kind}:")) + 1
            self.seen[key] = f"{kind}-{count}"
        return self.seen[key]

    def _name(self, kind: str, match: re.Match[str]) -> str:
        base, extension = _split_extension(match[0])
        return self._placeholder(kind, base if kind == "sosreport" else base.split(".")[0]) + extension

    def _mac(self, match: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9A-Fa-f]", "", match[0]).lower()
        return match[0] if digits in ("000000000000", "ffffffffffff") else self._placeholder("mac", digits)

    def _ip(self, match: re.Match[str]) -> str:
        text, _, zone = match[0].partition("%")
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return match[0]  # not an address (a time, a version number)
        if address.is_loopback or address.is_unspecified:
            return match[0]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        return self._placeholder("ip", str(address)) + (f"%{zone}" if zone else "")

    def _uuid(self, match: re.Match[str]) -> str:
        return match[0] if match[0].lower() in KEEP_UUIDS else self._placeholder("uuid", match[0])

    def scrub(self, text: str) -> str:
        text = SOSREPORT.sub(lambda m: self._name("sosreport", m), text)
        for pattern in SERIAL:
            text = _replace_value(pattern, text, lambda value: self._placeholder("serial", value))
        text = UUID.sub(self._uuid, text)
        text = MAC.sub(self._mac, text)
        text = IPV6.sub(self._ip, text)
        text = IPV4.sub(self._ip, text)
        if self._names_re is not None:
            text = self._names_re.sub(lambda m: self._name("host", m), text)
        return text


def _walk(value: Any, scrub: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, tuple):
        return tuple(_walk(v, scrub) for v in value)
    if isinstance(value, list):
        return [_walk(v, scrub) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, scrub) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _walk(getattr(value, f.name), scrub) for f in dataclasses.fields(value)
                   if f.name not in ("id", "fix_id", "severity", "status", "source", "kind", "name", "lang")}
        return dataclasses.replace(value, **changes)
    return value


def _names_in(report: Report) -> tuple[set[str], set[str]]:
    """(names of hosts: the target's hostname, {host} captures, hosts of non-web URIs in what was read, a renamed
    sosreport archive; hosts of web URLs in what was read, which bring no short names). The catalog's own text
    (fixes, summaries: links to libvirt.org) is not what was read."""
    hosts = {report.target.get("hostname", "")}
    web: set[str] = set()
    root = report.target.get("root", "")
    if report.target.get("kind") == "sosreport" and root:
        base, extension = _split_extension(PurePath(root).name)
        if extension:
            hosts.add(base)
    read = [*report.target.values(), *report.notes, *(t for s in report.skipped for t in (s.what, s.reason))]
    for finding in report.findings:
        hosts.add(dict(finding.captures).get("host", ""))
        read += [*(value for _, value in finding.captures), *(e.text for e in finding.evidence)]
    for text in read:
        for m in URI_HOST.finditer(text):
            (web if m["scheme"].lower() in WEB_SCHEMES else hosts).add(m[2])
    return ({n for n in hosts if n and not _is_ip(n)}, {n for n in web - hosts if not _is_ip(n)})


def hostnames_in(report: Report) -> set[str]:
    """Names that identify hosts: the target's hostname, {host} captures, and hosts in URIs."""
    hosts, web = _names_in(_walk(report, scrub_secrets))
    return hosts | web


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(report: Report) -> Report:
    """Control characters from logs (ESC, BEL, ...) become visible \\xNN, so no report can drive a
    terminal. Runs on every report, redacted or not."""
    return _walk(report, lambda text: CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text))


def redact(report: Report, hosts: bool = False, host_map: HostMap | None = None) -> Report:
    """Secrets always; with `hosts`, host names, addresses, UUIDs, serial numbers and sosreport names too (share
    `host_map` across reports for placeholders that agree)."""
    report = _one_per_cause(_walk(report, scrub_secrets))
    if not hosts:
        return report
    mapping = host_map if host_map is not None else HostMap(set())
    names, web = _names_in(report)  # after the secrets are gone: a password with '/' no longer looks like a host
    mapping.add(names)
    mapping.add(web, short_names=False)
    return _one_per_cause(_walk(report, mapping.scrub))


def _one_per_cause(report: Report) -> Report:
    """Findings that differed only by a secret or a host's name (two failed migrations to one URI with two
    passwords, to kvm8 and to kvm8.example.com) are one cause once those are replaced: one finding."""
    report.findings = merge_same(report.findings)
    return report
