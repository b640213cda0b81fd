"""Parse stage (pure): text -> records, for scan: config files, logs, tables, virsh outputs (pastes: paste.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

from diagnose.model import Line


def iter_text_lines(text: str, source: str, path: str = "") -> Iterator[Line]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield Line(source, number, raw.rstrip("\r"), path)


CONF_KEY_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def _conf_value(raw: str) -> str | int | list[str]:
    raw = raw.strip()
    if raw.startswith(("\"", "'")):
        quote = raw[0]
        end = raw.find(quote, 1)
        return raw[1:end] if end > 0 else raw[1:]
    if raw.startswith("["):
        return [a or b for a, b in re.findall(r"\"([^\"]*)\"|'([^']*)'", raw)]
    value = raw.split("#", 1)[0].strip()
    try:
        return int(value, 0)
    except ValueError:
        return value


def parse_libvirt_conf(text: str) -> dict[str, str | int | list[str]]:
    """libvirt's conf format (libvirtd.conf, qemu.conf, virt*d.conf, network.conf): key = value with
    strings, numbers and [lists] that may span lines; # comments. Later keys win, like libvirt."""
    result: dict[str, str | int | list[str]] = {}
    pending_key = ""
    pending = ""
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0] if not pending_key else raw_line
        if pending_key:
            pending += " " + line.split("#", 1)[0]
            if "]" in pending:
                result[pending_key] = _conf_value(pending)
                pending_key = ""
            continue
        m = CONF_KEY_RE.match(raw_line)
        if not m or raw_line.lstrip().startswith("#"):
            continue
        key, value = m.group(1), m.group(2)
        if value.strip().startswith("[") and "]" not in value:
            pending_key, pending = key, value
            continue
        result[key] = _conf_value(value)
    if pending_key:
        result[pending_key] = _conf_value(pending + "]")
    return result


def parse_shell_vars(text: str) -> dict[str, str]:
    """/etc/sysconfig/libvirtd, /etc/default/libvirtd: KEY="value" lines."""
    result = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if m:
            value = m.group(2).strip()
            if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) > 1:
                value = value[1:-1]
            result[m.group(1)] = value
    return result


def parse_modules(text: str) -> set[str]:
    """/proc/modules or lsmod output -> module names."""
    names = set()
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] != "Module":
            names.add(parts[0])
    return names


def parse_cpuinfo_flags(text: str) -> set[str]:
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def parse_hosts(text: str) -> list[tuple[str, list[str]]]:
    """/etc/hosts -> [(address, [names...])]."""
    entries = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries.append((fields[0], fields[1:]))
    return entries


def parse_mounts(text: str) -> list[tuple[str, str, str]]:
    """/proc/mounts -> [(device, mountpoint, fstype)]."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            mounts.append((fields[0], fields[1].replace("\\040", " "), fields[2]))
    return mounts


def listening_ports(text: str) -> set[int]:
    """/proc/net/tcp(6) or udp(6): local ports in LISTEN state (tcp) or bound (udp)."""
    ports = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or ":" not in fields[1]:
            continue
        state = fields[3]
        if state in ("0A", "07"):  # LISTEN (tcp) or CLOSE = bound (udp)
            try:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return ports


def conf_line(text: str, key: str) -> tuple[int, str]:
    """The 1-based line where a conf key is set (last one wins, as in libvirt), and its text."""
    found = (0, "")
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            found = (number, line.strip())
    return found


def parse_passwd(text: str) -> dict[str, tuple[int, int]]:
    """/etc/passwd -> {user: (uid, primary gid)}."""
    users = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] and fields[2].isdigit() and fields[3].isdigit():
            users[fields[0]] = (int(fields[2]), int(fields[3]))
    return users


def group_ids(text: str) -> dict[str, int]:
    """/etc/group -> {group: gid}."""
    ids = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] and fields[2].isdigit():
            ids[fields[0]] = int(fields[2])
    return ids


POSIX_ACL_USER, POSIX_ACL_GROUP, POSIX_ACL_MASK = 0x02, 0x08, 0x10


def parse_posix_acl(data: bytes) -> list[tuple[int, int, int]]:
    """The system.posix_acl_access extended attribute -> [(tag, permissions, uid or gid)]."""
    import struct

    if len(data) < 4 or struct.unpack_from("<I", data)[0] != 2:
        return []
    return [struct.unpack_from("<HHI", data, offset) for offset in range(4, len(data) - 7, 8)]


def parse_group(text: str) -> dict[str, list[str]]:
    """/etc/group -> {group: [members]}."""
    groups = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0]:
            groups[fields[0]] = [m for m in fields[3].split(",") if m]
    return groups



def find_package(lines: Iterable[tuple[int, str]], name: str) -> tuple[int, str, str] | None:
    """An installed package's (line number, version, line) in a package list: /var/lib/dpkg/status
    stanzas, `dpkg -l` rows, rpm NVRA lines (a sosreport's installed-rpms and rpm/package-data), or the
    JSON lines of an insights archive's `rpm -qa --qf`."""
    rpm = re.compile(rf"^{re.escape(name)}-(\d[\w.+~^]*-[\w.+~^]+?)(?:\.\w+)?(?=~~|\s|$)")  # name-version-release.arch
    stanza = ""
    installed = False
    for number, line in lines:
        if line.startswith("Package: "):
            stanza, installed = line[9:].strip(), False
        elif line.startswith("Status: "):
            installed = line.split()[-1] == "installed"
        elif line.startswith("Version: ") and stanza == name and installed:
            return number, line[9:].strip(), line
        fields = line.split()
        if len(fields) >= 3 and fields[0] in ("ii", "hi") and fields[1].split(":")[0] == name:
            return number, fields[2], line
        m = rpm.match(line)
        if m:
            return number, m.group(1), line
        if line.startswith("{") and f'"name":"{name}"' in line.replace(" ", ""):  # insights: rpm -qa as JSON
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            if fields.get("name") == name and fields.get("version"):
                return number, f"{fields['version']}-{fields.get('release', '')}".rstrip("-"), line
    return None


def version_key(version: str) -> tuple[int, ...]:
    """'1:1.4.7-5.1.el6_2' -> (1, 4, 7): the upstream version's numbers, epoch and release dropped."""
    upstream = version.split(":", 1)[-1].split("-", 1)[0]
    return tuple(int(n) for n in re.findall(r"\d+", upstream))


IRQ_REMAP_ON = re.compile(r"Enabled IRQ remapping in \w+ mode|Enabled (?:x2apic and )?[Ii]nterrupt-remapping"
                          r"|AMD-Vi: Interrupt remapping enabled")
IRQ_REMAP_OFF = re.compile(r"Failed to enable (?:irq|Interrupt)[- ]remapping|Not enabling interrupt remapping"
                           r"|interrupt remapping is being disabled|No interrupt remapping support")


def irq_remapping_state(lines: Iterable[tuple[int, str]]) -> tuple[bool, int, str] | None:
    """Kernel log lines -> whether the kernel enabled interrupt remapping, from the last line that says
    so: (enabled, line number, line), or None when no line does."""
    found = None
    for number, line in lines:
        if "emapping" not in line:
            continue
        if IRQ_REMAP_ON.search(line):
            found = (True, number, line)
        elif IRQ_REMAP_OFF.search(line):
            found = (False, number, line)
    return found


IP_LINK_RE = re.compile(r"^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<")


def parse_ip_details(text: str) -> dict[str, dict[str, str]]:
    """`ip -d address` / `ip -d link` -> {interface: {"kind": bridge|bridge_slave|tun|..., "forward_delay": ..}}."""
    found: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        m = IP_LINK_RE.match(line)
        if m:
            current = m.group(1)
            found[current] = {}
            continue
        if not current:
            continue
        words = line.split()
        for kind in ("bridge", "bridge_slave", "openvswitch", "macvtap", "tun", "vlan", "bond"):
            if kind in words and "kind" not in found[current]:
                found[current]["kind"] = kind
        if words[:1] == ["bridge"] and "forward_delay" in words[:-1]:
            found[current]["forward_delay"] = words[words.index("forward_delay") + 1]
    return found


# --- dnsmasq -------------------------------------------------------------------------------------


def _dnsmasq_clean(raw: str) -> str:
    """One dnsmasq.conf line as dnsmasq reads it: double quotes removed (their content kept as is), white
    space made single spaces, and a `#` at the start or after white space (outside quotes) ends it."""
    out: list[str] = []
    quoted = False
    white = True
    for char in raw:
        if char == '"':
            quoted = not quoted
            white = False
            continue
        if quoted:
            out.append(char)
        elif char.isspace():
            out.append(" ")
            white = True
        elif char == "#" and white:
            break
        else:
            out.append(char)
            white = False
    return "".join(out).strip()


def parse_dnsmasq_conf(text: str) -> dict[str, list[tuple[int, str]]]:
    """dnsmasq.conf (or a file it includes) -> {option: [(line, value), ...]} in file order.

    One option a line: `option=value` (spaces around `=` allowed) or a bare `option` (value ""); `#`
    comments; repeated options (interface=, listen-address=, conf-dir=, conf-file=) keep every value.
    `conf-dir=` and `conf-file=` are returned like the others: the caller follows them."""
    options: dict[str, list[tuple[int, str]]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _dnsmasq_clean(raw)
        if not line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("--")
        if key and " " not in key:
            options.setdefault(key, []).append((number, value.strip()))
    return options


DNSMASQ_SHORT_OPTIONS = {"-C": "conf-file", "-7": "conf-dir", "-z": "bind-interfaces", "-i": "interface",
                         "-I": "except-interface", "-a": "listen-address"}


def dnsmasq_command_options(command: str) -> dict[str, list[str]]:
    """The options of a dnsmasq command line (`ps` output or /proc/PID/cmdline with spaces), by long name:
    `-7 /etc/dnsmasq.d,.bak` and `--conf-dir=/etc/dnsmasq.d,.bak` both give {"conf-dir": [...]}."""
    words = command.split()
    options: dict[str, list[str]] = {}
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.startswith("--"):
            key, _, value = word[2:].partition("=")
            options.setdefault(key, []).append(value)
        elif word in DNSMASQ_SHORT_OPTIONS:
            key = DNSMASQ_SHORT_OPTIONS[word]
            takes_value = key != "bind-interfaces"
            value = words[index] if takes_value and index < len(words) else ""
            index += 1 if takes_value else 0
            options.setdefault(key, []).append(value)
    return options


def dnsmasq_conf_dir_files(value: str, names: list[str]) -> tuple[str, list[str]]:
    """Which files of a directory dnsmasq reads for `conf-dir=DIR[,ext...]`: (DIR, the names, sorted).

    As dnsmasq does: names ending in `~` or starting with `.` or with `#` (and ending with it) are always
    skipped; `,*.conf` loads only names with that ending; `,.bak` skips names with that ending."""
    directory, *extensions = [part.strip() for part in value.split(",")]
    wanted = [ext[1:] for ext in extensions if ext.startswith("*")]
    skipped = [ext for ext in extensions if ext and not ext.startswith("*")]
    chosen = []
    for name in names:
        if name.endswith("~") or name.startswith(".") or (name.startswith("#") and name.endswith("#")):
            continue
        if wanted and not any(name.endswith(ext) for ext in wanted):
            continue
        if any(name.endswith(ext) for ext in skipped):
            continue
        chosen.append(name)
    return directory.rstrip("/") or "/", sorted(chosen)


# --- RHEL network scripts (ifcfg-*, /etc/sysconfig/network) --------------------------------------

SHELL_ASSIGN_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_interfaces(text: str) -> dict[str, tuple[int, dict[str, str]]]:
    """Debian's /etc/network/interfaces (ifupdown) -> {interface: (line of its `iface` stanza, {option:
    value})}. Options are the indented or following lines up to the next stanza; `bridge_ports` and
    `bridge-ports` are the same option. `source` and `allow-*` lines end a stanza and are not followed here."""
    found: dict[str, tuple[int, dict[str, str]]] = {}
    current: dict[str, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        if word == "iface":
            name = rest.split()[0] if rest.split() else ""
            current = found.setdefault(name, (number, {}))[1] if name else None
        elif word in ("auto", "source", "source-directory", "mapping") or word.startswith("allow-"):
            current = None
        elif current is not None:
            current[word.replace("_", "-")] = rest.strip()
    return found


def parse_ifcfg(text: str) -> dict[str, str]:
    """A shell-style KEY=value file sourced by RHEL's network scripts (ifcfg-*, /etc/sysconfig/network)
    -> {KEY: value}: single and double quotes and backslashes as the shell reads them, `#` comments (a
    whole line, or after the value), the last assignment of a key wins."""
    import shlex

    values: dict[str, str] = {}
    for line in text.splitlines():
        m = SHELL_ASSIGN_RE.match(line)
        if not m:
            continue
        raw = m.group(2)
        if raw[:1].isspace():  # `KEY= value` sets KEY to "" (and runs `value` as a command)
            values[m.group(1)] = ""
            continue
        try:
            words = shlex.split(raw, comments=True)
        except ValueError:  # an unbalanced quote: take the text up to a comment
            words = [raw.split(" #", 1)[0].strip().strip("\"'")]
        values[m.group(1)] = words[0] if words else ""
    return values


def ifcfg_line(text: str, key: str) -> tuple[int, str]:
    """The 1-based line that sets KEY in a shell-style file (the last one wins), and its text; (0, "") if
    none does."""
    found = (0, "")
    for number, line in enumerate(text.splitlines(), start=1):
        m = SHELL_ASSIGN_RE.match(line)
        if m and m.group(1) == key:
            found = (number, line.strip())
    return found


# --- systemd journal ---------------------------------------------------------------------------
