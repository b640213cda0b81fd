"""Probe stage: the registry (@probe: a fact's name, the capture it is asked about, the sources it reads)
and the readers several probes share. Probes read the host through host.Host, never write."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from diagnose import parsers, virsh
from diagnose.host import layout
from diagnose.host.base import Host, Unreadable
from diagnose.model import Fact

Answer = tuple[bool | None, str]
ProbeFunction = Callable[[Host, str], Answer]


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    needs: str  # the capture it is asked about, or ""
    run: ProbeFunction
    reads: tuple[str, ...] = ()  # the layout sources it reads (host/layout.py)
    doc: str = ""  # what the fact says, for the README's table


PROBES: dict[str, ProbeSpec] = {}


def register(name: str, run: ProbeFunction, needs: str = "", reads: tuple[str, ...] = (), doc: str = "") -> None:
    unknown = [source for source in reads if source not in layout.SOURCE_BY_NAME]
    if unknown:
        raise ValueError(f"probe {name} reads unknown sources {unknown}")
    first_paragraph = " ".join((run.__doc__ or "").strip().split("\n\n")[0].split())
    PROBES[name] = ProbeSpec(name, needs, run, reads, doc or first_paragraph)


def probe(name: str, needs: str = "", reads: tuple[str, ...] = ()) -> Callable[[ProbeFunction], ProbeFunction]:
    """Register a probe function under a fact name."""

    def wrap(func: ProbeFunction) -> ProbeFunction:
        register(name, func, needs, reads)
        return func

    return wrap


def run_probe(name: str, host: Host, captures: Mapping[str, str]) -> Fact:
    spec = PROBES[name]
    subject = captures.get(spec.needs, "") if spec.needs else ""
    if spec.needs and not subject:
        return Fact(name, None, f"no {spec.needs} named in the evidence", "")
    try:
        value, detail = spec.run(host, subject)
    except (OSError, ValueError, UnicodeError) as exc:
        value, detail = None, f"probe failed: {exc}"
    return Fact(name, value, detail, subject)


# --- readers several probes share ------------------------------------------------------------------


def conf(host: Host, source: str) -> dict[str, str | int | list[str]] | None:
    """A libvirt configuration file's settings (libvirtd-conf, qemu-conf...), None when not readable."""
    text = host.read_optional(layout.path(source))
    return None if text is None else parsers.parse_libvirt_conf(text)


def modules(host: Host) -> set[str] | None:
    """Loaded kernel modules: /proc/modules, or a sosreport's lsmod."""
    for path in layout.paths("modules", collected=True):
        text = host.read_optional(path)
        if text is not None:
            return parsers.parse_modules(text)
    return None


def socket_path(host: Host, name: str) -> str:
    """Where a libvirt daemon's socket is (/run/libvirt or /var/run/libvirt), or ""."""
    for directory in layout.paths("libvirt-run"):
        if host.exists(f"{directory}/{name}"):
            return f"{directory}/{name}"
    return ""


def exists_probe(source: str) -> ProbeFunction:
    """A probe that answers whether a source's file exists."""
    path = layout.path(source)

    def check(host: Host, _: str) -> Answer:
        return (True, f"{path} exists") if host.exists(path) else (False, f"{path} is missing")

    check.__doc__ = f"{path} exists"
    return check


def module_probe(names: tuple[str, ...]) -> ProbeFunction:
    """A probe that answers whether one of these kernel modules is loaded."""

    def check(host: Host, _: str) -> Answer:
        loaded_modules = modules(host)
        if loaded_modules is None:
            if any(host.exists(path) for path in layout.paths("modules", collected=True)):
                return None, "/proc/modules not readable"
            return None, "no module list (/proc/modules is absent: a kernel without loadable modules, or a copy " \
                         "without it); modules built into the kernel are not listed anyway"
        loaded = sorted(loaded_modules & set(names))
        return (True, f"{', '.join(loaded)} loaded") if loaded else (False, f"{' / '.join(names)} not loaded")

    check.__doc__ = f"One of the kernel modules {' / '.join(names)} is loaded."
    return check


def dominfo(host: Host, guest: str) -> tuple[str, dict[str, str]] | None:
    """A sosreport's `virsh -r dominfo` of the guest: (path, fields)."""
    if not host.is_collected:
        return None
    for path in host.find("virsh-dominfo"):
        info = virsh.parse_virsh_dominfo(host.read_optional(path) or "")
        if info.get("Name") == guest:
            return path, info
    return None


def processes(host: Host) -> list[str] | None:
    """Command lines of running processes (live /proc, or sosreport ps output)."""
    if host.is_live:
        commands = []
        proc = layout.path("processes")
        for pid in host.listdir(proc):
            if pid.isdigit():
                text = host.read_optional(f"{proc}/{pid}/cmdline")
                if text:
                    commands.append(text.replace("\0", " ").strip())
        return commands
    for path in layout.SOURCE_BY_NAME["processes"].commands:
        text = host.read_optional(path)
        if text is not None:
            return text.splitlines()
    return None


def command_name(line: str) -> str:
    """The program of a process line: /proc cmdline ("/usr/sbin/dnsmasq --conf...") or `ps aux` output
    (USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND)."""
    fields = line.split()
    if len(fields) > 10 and fields[1].isdigit():
        fields = fields[10:]
    return os.path.basename(fields[0]) if fields else ""


def package(host: Host, names: tuple[str, ...]) -> tuple[str, str, str] | None:
    """The first of `names` installed, from the package lists a host, a sosreport or an insights archive holds
    as text: (name, version, "path:line")."""
    for path in host.find("package-lists"):
        for name in names:
            try:
                found = parsers.find_package(host.iter_lines(path), name)
            except Unreadable as exc:
                host.note(path, str(exc).removeprefix(f"{path}: "))
                break
            if found:
                return name, found[1], f"{path}:{found[0]}"
    return None


def unit_active(host: Host, unit: str) -> Answer:
    """Whether a systemd unit is active: systemd keeps /run/systemd/units/invocation:UNIT while it is
    (live, or a copy holding /run); a sosreport has `systemctl list-units`."""
    units = layout.path("systemd-units")
    if host.is_dir(units):
        path = f"{units}/invocation:{unit}"
        active = host.lexists(path)
        return active, f"{path} {'exists' if active else 'is missing'}: {unit} is {'' if active else 'not '}active"
    for path in layout.SOURCE_BY_NAME["systemd-units"].commands if host.is_collected else ():
        text = host.read_optional(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.replace("\u25cf", " ").split()
            if fields[:1] == [unit]:
                return fields[2:4] == ["active", "running"], f"{path}:{number}: {' '.join(fields[:4])}"
        return False, f"{path} does not list {unit}"
    return None, "no systemd unit state"
