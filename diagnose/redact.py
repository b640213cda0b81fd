"""Redact stage (pure): a Report -> the same Report with secrets (and optionally host identities)
replaced, before anything is rendered. Placeholders are stable: one value, one placeholder."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from typing import Any

from diagnose.model import Report

REDACTED = "<redacted>"

SECRET_PATTERNS = (
    # PEM blocks (TLS private keys, certificates with keys): the whole block
    re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.S),
    # key = "value" for anything that names a password, secret, key or token (qemu.conf, virt*d.conf, shells)
    re.compile(r"""(?ix)\b([\w.-]*(?:passw(?:or)?d|passphrase|secret|token|api_?key|private_?key)[\w.-]*)
                   (\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)"""),
    # XML attributes: passwd='...', password="...", and <secret ...> values
    re.compile(r"""(?i)\b((?:passwd|password|secret|value|key))(=)('[^']*'|"[^"]*")"""),
    # user:password@host in URIs
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+)(:)([^/\s@]+)(?=@)"),
    # query parameters that carry credentials
    re.compile(r"(?i)([?&](?:password|passwd|token|auth|key|secret)=)()([^&\s'\"]+)"),
)
# A long base64 run with both cases and a digit: key material (a PEM body line, a libvirt secret value);
# hex digests (one case only) are left alone.
BASE64_SECRET = re.compile(r"(?<![A-Za-z0-9+/])(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*\d)"
                           r"[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=])")

IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])|(?<![\w:])::1(?![\w:])")
MAC = re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}(?![\w:])")
URI_HOST = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://(?:[^/\s@]+@)?([A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9])(?=[:/?\s'\"]|$)")
KEEP_HOSTS = {"localhost", "localhost.localdomain", "system", "session"}


def scrub_secrets(text: str) -> str:
    for index, pattern in enumerate(SECRET_PATTERNS):
        if index == 0:
            text = pattern.sub(f"-----{REDACTED} PEM block-----", text)
        else:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{_quoted(m.group(3))}", text)
    return BASE64_SECRET.sub(REDACTED, text)


def _quoted(value: str) -> str:
    if value[:1] in ("'", '"'):
        return f"{value[0]}{REDACTED}{value[0]}"
    return REDACTED


class HostMap:
    """Stable placeholders for hostnames, IP and MAC addresses, in order of first appearance."""

    def __init__(self, hostnames: set[str]) -> None:
        self.names = sorted((h for h in hostnames if h and h.lower() not in KEEP_HOSTS), key=len, reverse=True)
        self.seen: dict[str, str] = {}

    def _placeholder(self, kind: str, value: str) -> str:
        key = f"{kind}:{value.lower()}"
        if key not in self.seen:
            count = sum(1 for k in self.seen if k.startswith(f"{kind}:")) + 1
            self.seen[key] = f"{kind}-{count}"
        return self.seen[key]

    def scrub(self, text: str) -> str:
        text = MAC.sub(lambda m: self._placeholder("mac", m.group(0)), text)
        text = IPV4.sub(lambda m: m.group(0) if _keep_ip(m.group(0)) else self._placeholder("ip", m.group(0)), text)
        text = IPV6.sub(lambda m: m.group(0) if _keep_ip(m.group(0)) else self._placeholder("ip", m.group(0)), text)
        for name in self.names:
            text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", functools.partial(self._host, name), text)
        return text

    def _host(self, name: str, _match: re.Match[str]) -> str:
        return self._placeholder("host", name)


def _keep_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return True  # not really an address (a version number, a time)
    return address.is_loopback or address.is_unspecified


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
                   if f.name not in ("id", "fix_id", "severity", "status", "source", "kind", "name")}
        return dataclasses.replace(value, **changes)
    return value


def hostnames_in(report: Report) -> set[str]:
    """Names that identify hosts: the target's hostname, {host} captures, and hosts in URIs."""
    names = {report.target.get("hostname", "")}
    for finding in report.findings:
        captures = dict(finding.captures)
        names.add(captures.get("host", ""))
        for value in (*captures.values(), *(e.text for e in finding.evidence)):
            names.update(m.group(1) for m in URI_HOST.finditer(value))
    return {n for n in names if n and not IPV4.fullmatch(n)}


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(report: Report) -> Report:
    """Control characters from logs (ESC, BEL, ...) become visible \\xNN, so no report can drive a
    terminal. Runs on every report, redacted or not."""
    return _walk(report, lambda text: CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text))


def redact(report: Report, hosts: bool = False, host_map: HostMap | None = None) -> Report:
    """Secrets always; with `hosts`, hostnames, IPs and MACs too (share `host_map` across reports)."""
    if hosts:
        mapping = host_map or HostMap(hostnames_in(report))
        if host_map is not None:
            mapping.names = sorted(set(mapping.names) | hostnames_in(report) - KEEP_HOSTS, key=len, reverse=True)

        def scrub(text: str) -> str:
            return mapping.scrub(scrub_secrets(text))
    else:
        scrub = scrub_secrets
    return _walk(report, scrub)
