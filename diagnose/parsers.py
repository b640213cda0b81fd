"""Parse stage (pure): text -> records. Pastes, XML, and (for scan) config, logs and tables."""

from __future__ import annotations

import re
from collections.abc import Iterator

from diagnose.match import Line

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# virError(Code=38, Domain=7, Message='Cannot ...'): keep the message, drop the wrapper. The message may
# itself hold an unescaped apostrophe (Go and Ruby wrappers print it raw), so only the ends are cut.
VIRERROR_RE = re.compile(r"""virError\(Code=-?\d+, Domain=-?\d+, Message=(['"])(.*?)\1\)?\s*$""")
VIRERROR_HEAD_RE = re.compile(r"""virError\(Code=-?\d+, Domain=-?\d+, Message=(['"])""")
WRAP_MIN = 60  # a terminal-wrapped line is at least this long
MAX_PASTE_LINE = 64 * 1024  # a longer pasted line is cut, as in logs (sources.MAX_LINE)
CUT_MARK = " [... line cut by virtdiag]"


def _unwrap_virerror(text: str) -> str:
    """What VIRERROR_RE.search does, in linear time: the message runs from the first wrapper head whose
    quote is also the line's last non-blank character (or the one before a closing parenthesis)."""
    if "virError(" not in text:
        return text
    tail = text.rstrip()
    for m in VIRERROR_HEAD_RE.finditer(text):
        end = len(tail) - 2 if tail.endswith(")") else len(tail) - 1
        if end >= m.end() and tail[end] == m.group(1):
            return f"{text[: m.start()]}{text[m.end() : end]}"
    return text


def _clean(raw: str) -> str:
    text = ANSI_RE.sub("", raw).replace("\r", "").replace("\t", " ")
    text = _unwrap_virerror(text)
    if "\\'" in text or '\\"' in text:
        text = text.replace("\\'", "'").replace('\\"', '"')
    return text.rstrip()


def paste_lines(text: str) -> list[Line]:
    """Split a paste into lines with their 1-based numbers, cleaned of terminal and wrapper noise.

    Escaped newlines inside one physical line (a Python repr, a Terraform or Vagrant message) become
    lines of their own, with the physical line's number. A long line is also offered joined with the
    next one, so a message the terminal wrapped still matches.
    """
    lines: list[Line] = []
    physical = text.splitlines()
    for number, raw in enumerate(physical, start=1):
        if not raw or raw.isspace():
            continue
        if len(raw) > MAX_PASTE_LINE:
            raw = raw[:MAX_PASTE_LINE] + CUT_MARK
        pieces = raw.split("\\n") if "\\n" in raw else [raw]
        for piece in pieces:
            cleaned = _clean(piece)
            if cleaned.strip():
                lines.append(Line("paste", number, cleaned))
    joined: list[Line] = []
    for first, second in zip(lines, lines[1:], strict=False):
        if len(first.text) >= WRAP_MIN and second.number == first.number + 1:
            head = first.text.rstrip()
            for glue in (" ", ""):  # wrapped at a space, or in the middle of a word
                joined.append(Line("paste", first.number, head + glue + second.text.strip(), "", len(head)))
    return lines + joined


XML_ROOT_RE = re.compile(r"^[ \t]*<(domain|network)\b[^>]{0,4096}>", re.M)


def find_xml(text: str) -> tuple[str, str, int] | None:
    """The first whole domain/network XML document in a paste: (root tag, document text, first line).

    The root must start a line and be closed later, so a tag quoted in an error message, or the one
    line of context virsh echoes under a parse error, is not taken for a document.
    """
    last_close: dict[str, int] = {}  # found once per root: a paste of many open tags stays linear
    for m in XML_ROOT_RE.finditer(text):
        root = m.group(1)
        if root not in last_close:
            last_close[root] = text.rfind(f"</{root}>")
        end = last_close[root]
        if end > m.start() and text.find("\n", m.start(), end) != -1:
            break
    else:
        return None
    body = text[m.start() : end + len(root) + 3]
    first_line = text.count("\n", 0, m.start()) + 1
    return root, body, first_line


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


def parse_group(text: str) -> dict[str, list[str]]:
    """/etc/group -> {group: [members]}."""
    groups = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0]:
            groups[fields[0]] = [m for m in fields[3].split(",") if m]
    return groups


def parse_virsh_list(text: str) -> list[tuple[str, str, str]] | None:
    """`virsh list --all` / `net-list --all` table -> [(id, name, state...)]; None if it is not one."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not set(lines[1].strip()) <= {"-"}:
        return None
    rows = []
    for line in lines[2:]:
        fields = line.split(None, 2)
        if len(fields) >= 2:
            rows.append((fields[0], fields[1], fields[2].strip() if len(fields) > 2 else ""))
    return rows


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
