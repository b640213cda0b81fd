"""Everyday admin mistakes reproduced on a real libvirtd (in its network namespace), diagnosed by virtdiag.

Each test runs the virsh command an admin would run, feeds libvirt's REAL answer (libvirt 9.0 on Debian 12)
to `explain`, and checks the cause, the names it took from the output and the fix it puts first. Everything
the tests create is named vdt-adm-* and removed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from diagnose import engine

pytestmark = pytest.mark.libvirt

URI = "qemu:///system"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
IMAGES = Path("/var/lib/libvirt/images")
SECRET_UUID = "9a1c6c36-5e02-4c8e-9b7f-0d1e2f3a4b5c"


def virsh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=120, env=ENV,
                          check=False)


def guest_xml(name: str, devices: str = "") -> str:
    return textwrap.dedent(f"""\
        <domain type='qemu'>
          <name>{name}</name>
          <memory unit='MiB'>16</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type></os>
          <devices>
            {devices}
            <serial type='pty'/><console type='pty'/>
          </devices>
        </domain>
        """)


def disk(path: Path, target: str) -> str:
    return (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{path}'/>"
            f"<target dev='{target}' bus='virtio'/></disk>")


def first_finding(paste: str):
    """explain's best answer for a paste of real output."""
    report = engine.explain(paste)
    assert report.findings, f"nothing recognised in real output:\n{paste}"
    return report.findings[0]


def explained(command: list[str], result: subprocess.CompletedProcess[str]):
    """What an admin pastes: the command and what virsh said."""
    assert result.returncode != 0, result.stdout
    return first_finding(f"# virsh {' '.join(command)}\n{result.stderr}")


def run(*command: str):
    return explained(list(command), virsh(*command))


@pytest.fixture(scope="module")
def admin(libvirt_daemon, tmp_path_factory) -> Iterator[Path]:
    """A stopped guest with a qcow2 disk, a transient running guest, a directory pool; all removed at the end."""
    work = tmp_path_factory.mktemp("admin")
    work.chmod(0o755)
    base = IMAGES / "vdt-adm-disk.qcow2"
    other = IMAGES / "vdt-adm-other.qcow2"
    pool_dir = work / "pool"
    pool_dir.mkdir()
    for image in (base, other):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True, timeout=60)
    rbd = (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
           f"<auth username='admin'><secret type='ceph' uuid='{SECRET_UUID}'/></auth>"
           f"<source protocol='rbd' name='rbd/vdt-adm'><host name='127.0.0.1' port='6789'/></source>"
           f"<target dev='vdb' bus='virtio'/></disk>")
    xml = {"vdt-adm-disk": guest_xml("vdt-adm-disk", disk(base, "vda")),
           "vdt-adm-transient": guest_xml("vdt-adm-transient"),
           "vdt-adm-ceph": guest_xml("vdt-adm-ceph", rbd),
           "vdt-adm-spice": guest_xml("vdt-adm-spice", "<graphics type='spice' autoport='yes' "
                                                       "defaultMode='secure'/>")}
    for name, text in xml.items():
        (work / f"{name}.xml").write_text(text)
    pool = f"<pool type='dir'><name>vdt-adm-pool</name><target><path>{pool_dir}</path></target></pool>"
    (work / "pool.xml").write_text(pool)
    try:
        for step in (["define", str(work / "vdt-adm-disk.xml")], ["create", str(work / "vdt-adm-transient.xml")],
                     ["define", str(work / "vdt-adm-ceph.xml")], ["define", str(work / "vdt-adm-spice.xml")],
                     ["pool-create", str(work / "pool.xml")]):
            done = virsh(*step)
            assert done.returncode == 0, (step, done.stderr)
        yield work
    finally:
        virsh("destroy", "vdt-adm-transient")
        virsh("pool-destroy", "vdt-adm-pool")
        for snapshot in virsh("snapshot-list", "vdt-adm-disk", "--name").stdout.split():
            virsh("snapshot-delete", "vdt-adm-disk", snapshot, "--metadata")
        for name in ("vdt-adm-disk", "vdt-adm-ceph", "vdt-adm-spice"):
            virsh("undefine", name)
        for image in (base, other, *IMAGES.glob("vdt-adm-disk.*")):
            image.unlink(missing_ok=True)


def test_autostart_of_a_transient_guest(admin):
    f = run("autostart", "vdt-adm-transient")
    assert (f.id, dict(f.captures).get("guest"), f.fixes[0].fix_id) == (
        "transient-domain-autostart", "vdt-adm-transient", "define-from-running-xml")


def test_a_memory_dump_into_a_directory_the_daemon_host_lacks(admin):
    """virsh dump hands the path to the daemon, which creates the file on its own host (over qemu+ssh, the remote
    one): a directory that is not there is libvirt's "Failed to create file ...: No such file or directory"."""
    f = run("dump", "vdt-adm-transient", "/vdt-adm-missing/core.dmp", "--memory-only")
    assert (f.id, dict(f.captures).get("guest"), dict(f.captures).get("path"), f.fixes[0].fix_id) == (
        "path-dir-missing-on-daemon-host", "vdt-adm-transient", "/vdt-adm-missing/core.dmp",
        "create-dir-on-daemon-host")


def test_attaching_a_disk_on_a_target_in_use(admin):
    f = run("attach-disk", "vdt-adm-disk", str(IMAGES / "vdt-adm-other.qcow2"), "vda", "--config")
    assert (f.id, dict(f.captures).get("target"), dict(f.captures).get("guest")) == (
        "disk-target-in-use", "vda", "vdt-adm-disk")
    assert f.fixes[0].fix_id == "pick-free-target"


def test_detaching_an_interface_the_guest_does_not_have(admin):
    nic = admin / "nic.xml"
    nic.write_text("<interface type='network'><mac address='52:54:00:de:ad:01'/><source network='default'/>"
                   "<model type='virtio'/></interface>")
    f = run("detach-device", "vdt-adm-disk", str(nic), "--config")
    assert (f.id, dict(f.captures).get("guest"), dict(f.captures).get("mac")) == (
        "detach-device-not-found", "vdt-adm-disk", "52:54:00:de:ad:01")
    assert f.fixes[0].fix_id == "detach-by-identity"


def test_a_volume_the_pool_does_not_have(admin):
    f = run("vol-info", "--pool", "vdt-adm-pool", "vdt-adm-nothere.qcow2")
    assert (f.id, dict(f.captures).get("volume"), dict(f.captures).get("pool")) == (
        "volume-not-found", "vdt-adm-nothere.qcow2", "vdt-adm-pool")


def test_a_disk_whose_secret_is_not_defined(admin):
    f = run("start", "vdt-adm-ceph")
    assert (f.id, dict(f.captures).get("secret")) == ("secret-not-found", SECRET_UUID)
    assert f.fixes[0].fix_id == "define-secret"


def test_spice_tls_asked_for_while_qemu_conf_disables_it(admin):
    f = run("start", "vdt-adm-spice")
    assert (f.id, dict(f.captures).get("guest"), f.fixes[0].fix_id) == (
        "spice-tls-disabled", "vdt-adm-spice", "drop-spice-tls")


def test_reverting_to_an_external_snapshot(admin):
    made = virsh("snapshot-create-as", "vdt-adm-disk", "vdt-adm-ext", "--disk-only", "--atomic")
    assert made.returncode == 0, made.stderr
    f = run("snapshot-revert", "vdt-adm-disk", "vdt-adm-ext")
    assert (f.id, dict(f.captures).get("guest"), f.fixes[0].fix_id) == (
        "external-snapshot-unsupported", "vdt-adm-disk", "revert-by-hand")


def test_events_asked_for_without_an_event_loop(libvirt_daemon):
    """A script (as a monitoring tool would be written) opens a read-only connection to the daemon and asks
    for lifecycle events without registering an event loop: the traceback it prints is what gets pasted."""
    script = textwrap.dedent(f"""\
        import libvirt
        conn = libvirt.openReadOnly({URI!r})
        conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lambda *a: None, None)
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env=ENV, check=False)
    assert result.returncode != 0, result.stdout
    f = first_finding(result.stderr)
    assert (f.id, f.fixes[0].fix_id) == ("event-loop-not-registered", "register-default-event-loop")
    assert f.confidence >= 0.8


def test_the_daemon_closes_a_waiting_client(libvirt_daemon):
    """virsh waits for events; the daemon drops its connection (virt-admin client-disconnect, the part of a
    daemon going away that can be done without stopping the shared test daemon): what virsh prints is
    libvirt 9.0's own wording for a lost connection."""
    def clients() -> set[str]:
        listed = subprocess.run(["virt-admin", "srv-clients-list", "libvirtd"], capture_output=True, text=True,
                                timeout=60, env=ENV, check=True).stdout
        return {line.split()[0] for line in listed.splitlines()[2:] if line.split() and line.split()[0].isdigit()}

    before = clients()
    waiting = subprocess.Popen(["virsh", "-c", URI, "event", "--all", "--loop", "--timeout", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        for _ in range(100):
            new = clients() - before
            if new:
                break
            time.sleep(0.1)
        assert new, "virsh's connection never showed up in virt-admin srv-clients-list"
        for client in new:
            subprocess.run(["virt-admin", "client-disconnect", "libvirtd", client], capture_output=True,
                           timeout=60, env=ENV, check=True)
        _, stderr = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert "due to end of file" in stderr, stderr
    f = first_finding(f"# virsh -c {URI} event --all --loop\n{stderr}")
    assert (f.id, dict(f.captures).get("uri"), f.fixes[0].fix_id) == (
        "daemon-connection-lost", URI, "find-why-daemon-ended")


def test_virsh_cannot_read_the_xml_file_it_is_given(libvirt_daemon, tmp_path):
    """virsh reads the file named on its command line itself, with the rights of whoever runs it, before
    anything reaches the daemon. Here root runs it without the capabilities that let root read any file
    (setpriv drops them: an unprivileged user's read-only connection would need polkit, which the test
    namespace has no system bus for), and the file's mode lets nobody read it."""
    xml = tmp_path / "vdt-adm-unreadable.xml"
    xml.write_text(guest_xml("vdt-adm-unreadable"))
    xml.chmod(0)
    command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", "virsh", "-c", URI, "define",
               str(xml)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=ENV, check=False)
    assert "Permission denied" in result.stderr, result.stderr
    f = explained(command[4:], result)
    assert (f.id, dict(f.captures).get("path"), dict(f.captures).get("errno"), f.fixes[0].fix_id) == (
        "virsh-input-file-unreadable", str(xml), "Permission denied", "let-user-read-file")
    assert virsh("dominfo", "vdt-adm-unreadable").returncode != 0  # nothing reached the daemon


def test_virsh_is_given_an_xml_file_that_is_not_there(libvirt_daemon, tmp_path):
    missing = tmp_path / "vdt-adm-missing.xml"
    result = virsh("define", str(missing))
    f = explained(["-c", URI, "define", str(missing)], result)
    assert (f.id, dict(f.captures).get("path"), f.fixes[0].fix_id) == (
        "virsh-input-file-unreadable", str(missing), "check-file-path")


def test_an_api_the_qemu_driver_does_not_implement(libvirt_daemon, tmp_path):
    """libvirt 9.0's QEMU driver no longer converts a QEMU command line to domain XML (an API of libvirt 0.6):
    the real daemon answers "not supported by the connection driver", which is the driver, not an old libvirt."""
    argv = tmp_path / "vdt-adm-argv.txt"
    argv.write_text("/usr/bin/qemu-system-x86_64 -m 64 -nographic -name vdt-adm-argv\n")
    result = virsh("domxml-from-native", "qemu-argv", str(argv))
    f = explained(["-c", URI, "domxml-from-native", "qemu-argv", str(argv)], result)
    assert (f.id, dict(f.captures).get("kind"), f.fixes[0].fix_id) == (
        "hypervisor-driver-api-unsupported", "virConnectDomainXMLFromNative", "check-connection-driver")
    assert dict(f.captures).get("uri") == URI


def test_a_parser_message_no_signature_names(libvirt_daemon, tmp_path):
    """libvirt 9.0's XML parser refuses <clock offset='timezone'/> without its timezone attribute. No signature
    names that message; xml-invalid-config's template set (every src/conf/ message that calls something missing,
    invalid or unknown) explains it, so it is answered and not listed as a message without a cause entry."""
    xml = tmp_path / "vdt-adm-clock.xml"
    xml.write_text(guest_xml("vdt-adm-clock").replace("</os>", "</os>\n  <clock offset='timezone'/>"))
    try:
        result = virsh("define", str(xml))
        assert result.returncode != 0, result.stdout
        assert "missing 'timezone' attribute" in result.stderr, result.stderr
        report = engine.explain(f"# virsh -c {URI} define {xml}\n{result.stderr}")
        assert [f.id for f in report.findings] == ["xml-invalid-config"]
        assert report.messages == []
    finally:
        virsh("undefine", "vdt-adm-clock")


def test_a_mistyped_uri_path(libvirt_daemon):
    """libvirt 9.0 answers qemu:///sytem with "unexpected qemu URI path '/sytem', try qemu:///system" (its own
    spelling: the template index has older libvirt's 'QEMU'). That is a typo in the URI, not the other instance
    (wrong-connection-session), and virsh's "failed to connect to the hypervisor" above it is not listed apart."""
    typo = "qemu:///sytem"
    result = subprocess.run(["virsh", "-c", typo, "list", "--all"], capture_output=True, text=True, timeout=120,
                            env=ENV, check=False)
    assert result.returncode != 0 and "/sytem" in result.stderr, result.stderr
    report = engine.explain(f"$ virsh -c {typo} list --all\n{result.stderr}")
    assert [f.id for f in report.findings] == ["uri-path-unknown"]
    f = report.findings[0]
    assert (dict(f.captures).get("kind"), dict(f.captures).get("uri"), f.fixes[0].fix_id) == (
        "/sytem", typo, "correct-uri-path")
    assert report.messages == []


def test_starting_a_pool_that_is_running(admin):
    f = run("pool-start", "vdt-adm-pool")
    assert (f.id, dict(f.captures).get("pool"), f.fixes[0].fix_id) == (
        "storage-pool-already-active", "vdt-adm-pool", "check-pool-state")


def test_defining_a_pool_whose_name_is_taken(admin):
    target = admin / "other-pool"
    try:
        f = run("pool-define-as", "vdt-adm-pool", "dir", "--target", str(target))
        assert (f.id, dict(f.captures).get("pool"), f.fixes[0].fix_id) == (
            "storage-pool-already-exists", "vdt-adm-pool", "use-existing-pool")
    finally:
        assert virsh("pool-info", "vdt-adm-pool").returncode == 0  # the running pool is untouched


def test_deleting_a_dhcp_host_the_network_does_not_have(libvirt_daemon, tmp_path):
    """net-update on a defined (inactive) network: libvirt looks the host entry up in the persistent definition."""
    xml = tmp_path / "vdt-adm-net.xml"
    xml.write_text("<network><name>vdt-adm-net</name><bridge name='vdtadmbr0'/>"
                   "<ip address='192.168.250.1' netmask='255.255.255.0'><dhcp>"
                   "<range start='192.168.250.10' end='192.168.250.20'/></dhcp></ip></network>")
    try:
        assert virsh("net-define", str(xml)).returncode == 0
        f = run("net-update", "vdt-adm-net", "delete", "ip-dhcp-host",
                "<host mac='52:54:00:00:00:99' ip='192.168.250.15'/>", "--config")
        assert (f.id, dict(f.captures).get("network"), f.fixes[0].fix_id) == (
            "network-dhcp-host-not-found", "vdt-adm-net", "list-dhcp-hosts")
    finally:
        virsh("net-undefine", "vdt-adm-net")


@pytest.mark.parametrize(("name", "os_extra", "devices", "expected", "top_fix"), [
    ("vdt-adm-sysinfo", "", "", "sysinfo-uuid-mismatch", "sync-sysinfo-uuid"),
    ("vdt-adm-fwauto", "<loader readonly='yes'/>", "", "firmware-autoselect-conflict", "firmware-features-in-file"),
    ("vdt-adm-nousb", "", "<controller type='usb' model='none'/><input type='tablet' bus='usb'/>",
     "usb-disabled-with-usb-devices", "remove-usb-devices-in-file"),
    ("vdt-adm-topo", "", "", "cpu-topology-vcpu-mismatch", "fix-topology-in-file"),
])
def test_definitions_libvirt_refuses(libvirt_daemon, tmp_path, name, os_extra, devices, expected, top_fix):
    """Definitions a tool or a copy writes wrongly, refused by libvirt 9.0 at define: a clone's stale <sysinfo>
    UUID, loader attributes next to firmware autoselection, a USB tablet with USB disabled (9.0 says "Can't add
    USB input device. USB bus is disabled" here, not the ppc64 wording of qemu_domain_address.c), four vCPUs
    described as one socket of two cores."""
    text = guest_xml(name, devices)
    if name == "vdt-adm-sysinfo":
        text = text.replace("<vcpu>", "<uuid>6f1e2d3c-4b5a-4e6f-8a7b-9c0d1e2f3a4b</uuid>\n  <sysinfo type='smbios'>"
                                      "<system><entry name='uuid'>11111111-2222-4333-8444-555555555555</entry>"
                                      "</system></sysinfo>\n  <vcpu>")
    if name == "vdt-adm-fwauto":
        text = text.replace("<os>", "<os firmware='efi'>").replace("</type>", f"</type>{os_extra}")
        text = text.replace("</os>", "</os>\n  <features><acpi/></features>")  # UEFI on x86 needs ACPI first
    if name == "vdt-adm-topo":
        text = text.replace("<vcpu>1</vcpu>", "<vcpu>4</vcpu>\n  <cpu><topology sockets='1' cores='2' "
                                              "threads='1'/></cpu>")
    xml = tmp_path / f"{name}.xml"
    xml.write_text(text)
    try:
        f = run("define", str(xml))
        assert (f.id, f.fixes[0].fix_id) == (expected, top_fix)
        assert dict(f.captures).get("path") == str(xml)  # the fix works on the file: nothing was defined
    finally:
        virsh("undefine", name, "--nvram")


def test_autostart_whose_link_is_already_there(libvirt_daemon, tmp_path):
    """A package (Debian's postinst for the default network) or a hand made the autostart link while the daemon
    ran: libvirt still thinks autostart is off, and net-autostart stops at the existing link."""
    xml = tmp_path / "vdt-adm-auto.xml"
    xml.write_text("<network><name>vdt-adm-auto</name><bridge name='vdtadmbr1'/></network>")
    config = Path("/etc/libvirt/qemu/networks/vdt-adm-auto.xml")
    link = Path("/etc/libvirt/qemu/networks/autostart/vdt-adm-auto.xml")
    try:
        assert virsh("net-define", str(xml)).returncode == 0
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(config)
        f = run("net-autostart", "vdt-adm-auto")
        assert (f.id, dict(f.captures).get("name"), dict(f.captures).get("link"), f.fixes[0].fix_id) == (
            "autostart-already-set", "vdt-adm-auto", str(link), "check-autostart-state")
    finally:
        link.unlink(missing_ok=True)
        virsh("net-undefine", "vdt-adm-auto")


def test_a_path_no_pool_holds(libvirt_daemon, tmp_path):
    """A management tool looks a guest's disk up by path; the file is there, but in no pool libvirt knows."""
    image = tmp_path / "vdt-adm-loose.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True, timeout=60)
    f = run("vol-info", str(image))
    assert (f.id, dict(f.captures).get("path"), f.fixes[0].fix_id) == (
        "volume-not-found", str(image), "path-in-no-pool")


def test_volumes_created_on_a_full_file_system(libvirt_daemon):
    """A directory pool on a nearly full file system (a 1 MiB tmpfs mounted in the daemon's own mount namespace,
    900 KiB of it taken behind libvirt's back): libvirt's own allocation of a raw volume and qemu-img's of a
    qcow2 one both run out of space."""
    import libvirt_daemon as harness

    pid = next(p for p in harness._pids("libvirtd") if harness._namespace_of(p) == harness.NAMESPACE)
    inside = ["nsenter", "-t", str(pid), "-m", "--", "sh", "-c"]
    target = "/run/vdt-adm-full"
    subprocess.run([*inside, f"mkdir -p {target} && mount -t tmpfs -o size=1M vdt-adm-full {target} && "
                             f"dd if=/dev/zero of={target}/filler bs=1K count=900 status=none"], check=True, timeout=30)
    try:
        created = virsh("pool-create-as", "vdt-adm-full", "dir", "--target", target)
        assert created.returncode == 0, created.stderr
        raw = run("vol-create-as", "vdt-adm-full", "vdt-adm-big.raw", "512K", "--format", "raw")
        assert (raw.id, dict(raw.captures).get("path"), raw.fixes[0].fix_id) == (
            "pool-insufficient-space", f"{target}/vdt-adm-big.raw", "fs-full-at-create")
        qcow2 = run("vol-create-as", "vdt-adm-full", "vdt-adm-big.qcow2", "2M", "--format", "qcow2",
                    "--prealloc-metadata")
        assert (qcow2.id, dict(qcow2.captures).get("path"), qcow2.fixes[0].fix_id) == (
            "pool-insufficient-space", f"{target}/vdt-adm-big.qcow2", "fs-full-at-create")
    finally:
        virsh("pool-destroy", "vdt-adm-full")
        subprocess.run([*inside, f"umount {target}; rmdir {target}"], check=False, timeout=30)


def test_a_daemon_that_stops_answering(libvirt_daemon):
    """The daemon is frozen (SIGSTOP) for longer than virsh's keepalive allows: a keepalive time-out with no
    warning about the per-client limit is a guess at that limit, and its first fix checks the daemon."""
    import signal as signals
    import threading

    import libvirt_daemon as harness

    pid = next(p for p in harness._pids("libvirtd") if harness._namespace_of(p) == harness.NAMESPACE)

    def freeze() -> None:
        time.sleep(2)
        os.kill(pid, signals.SIGSTOP)
        try:
            time.sleep(8)
        finally:
            os.kill(pid, signals.SIGCONT)

    thread = threading.Thread(target=freeze)
    thread.start()
    try:
        command = ["-k", "1", "-K", "2", "event", "--all", "--loop", "--timeout", "12"]
        result = virsh(*command)
    finally:
        thread.join()
    assert "keepalive timeout" in result.stderr, result.stderr
    f = explained(command, result)
    assert (f.id, f.confidence, f.fixes[0].fix_id) == ("daemon-max-client-requests", 0.5, "check-daemon-stuck")
    assert virsh("list", "--all").returncode == 0  # the daemon answers again


def test_a_managed_save_image_qemu_cannot_load(libvirt_daemon, tmp_path):
    """B.4: the guest's managed save image is damaged (here the magic of QEMU's stream inside it), so `virsh start`
    restores from it and QEMU refuses the stream. QEMU's words alone would fit a broken incoming migration too;
    the failed start decides."""
    xml = tmp_path / "vdt-adm-ms.xml"
    xml.write_text(guest_xml("vdt-adm-ms"))
    save = Path("/var/lib/libvirt/qemu/save/vdt-adm-ms.save")
    try:
        for step in (["define", str(xml)], ["start", "vdt-adm-ms"], ["managedsave", "vdt-adm-ms"]):
            done = virsh(*step)
            assert done.returncode == 0, (step, done.stderr)
        image = bytearray(save.read_bytes())
        at = image.find(b"QEVM")
        assert at > 0, "no QEMU stream in the save image"
        image[at:at + 4] = b"XXXX"
        save.write_bytes(bytes(image))
        result = virsh("start", "vdt-adm-ms")
        assert "Not a migration stream" in result.stderr, result.stderr
        f = explained(["start", "vdt-adm-ms"], result)
        assert (f.id, dict(f.captures).get("guest"), f.fixes[0].fix_id) == (
            "managedsave-corrupt", "vdt-adm-ms", "managedsave-remove")
        assert f.confidence >= 0.8
        qemu_only = "\n".join(line for line in result.stderr.splitlines() if "Failed to start" not in line)
        alone = first_finding(qemu_only)
        assert (alone.id, alone.confidence) == ("managedsave-corrupt", 0.5)
    finally:
        virsh("destroy", "vdt-adm-ms")
        virsh("managedsave-remove", "vdt-adm-ms")
        virsh("undefine", "vdt-adm-ms")


def test_a_daemon_told_to_listen_on_an_address_the_host_lacks(libvirt_daemon, tmp_path):
    """A second libvirtd in the test namespace, with its own sockets and pid file, and listen_addr set to an
    address no interface there has (TEST-NET-1): it fails at bind, before it would touch any driver state.
    Nothing is sent anywhere; the address is only bound."""
    import libvirt_daemon as harness

    config = tmp_path / "libvirtd.conf"
    config.write_text(f'listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "192.0.2.1"\nauth_tcp = "none"\n'
                      f'unix_sock_dir = "{tmp_path}"\n')
    result = subprocess.run(["ip", "netns", "exec", harness.NAMESPACE, "libvirtd", "--listen", "--config",
                             str(config), "--pid-file", str(tmp_path / "libvirtd.pid")],
                            capture_output=True, text=True, timeout=60, env=ENV, check=False)
    assert result.returncode != 0
    assert "Unable to bind to port" in result.stderr, result.stderr
    f = first_finding(result.stderr)
    assert (f.id, f.fixes[0].fix_id) == ("listen-address-unavailable", "check-address")
    assert virsh("list", "--all").returncode == 0  # the test daemon is untouched


def test_a_tool_asks_a_macvtap_network_for_its_bridge(libvirt_daemon, tmp_path):
    """A management script on a read-only connection asks every network for its bridge (kimchi, old
    virt-manager did); a network whose guests use macvtap on a host NIC has none, and libvirt says so."""
    xml = tmp_path / "vdt-adm-macvtap.xml"
    xml.write_text("<network><name>vdt-adm-macvtap</name><forward mode='bridge'><interface dev='vdtnic0'/>"
                   "</forward></network>")
    script = textwrap.dedent(f"""\
        import libvirt
        conn = libvirt.openReadOnly({URI!r})
        conn.networkLookupByName('vdt-adm-macvtap').bridgeName()
        """)
    try:
        assert virsh("net-define", str(xml)).returncode == 0
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                                env=ENV, check=False)
        assert result.returncode != 0, result.stdout
        f = first_finding(result.stderr)
        assert (f.id, dict(f.captures).get("network"), f.fixes[0].fix_id) == (
            "network-has-no-bridge", "vdt-adm-macvtap", "inspect-forward-mode")
    finally:
        virsh("net-undefine", "vdt-adm-macvtap")


def test_a_node_device_name_that_no_longer_exists(libvirt_daemon):
    """A script stored an interface's node device name (it holds the MAC); on a read-only connection, as a user
    would ask, the name of a MAC the host does not have is not found."""
    name = "net_vdtnic0_52_54_00_00_0f_01"
    result = subprocess.run(["virsh", "-r", "-c", URI, "nodedev-dumpxml", name], capture_output=True, text=True,
                            timeout=120, env=ENV, check=False)
    f = explained(["-r", "nodedev-dumpxml", name], result)
    assert (f.id, dict(f.captures).get("nodedev"), f.fixes[0].fix_id) == (
        "nodedev-name-stale", name, "list-nodedevs-now")


def test_two_disks_of_a_definition_on_one_target(libvirt_daemon, tmp_path):
    """A definition (hand-edited, or a tool adding a disk) with two disks on vda: libvirt 9.0 refuses it at define
    and names both sources; the second one is the disk being added."""
    first, second = IMAGES / "vdt-adm-dup-a.qcow2", IMAGES / "vdt-adm-dup-b.qcow2"
    xml = tmp_path / "vdt-adm-dup.xml"
    xml.write_text(guest_xml("vdt-adm-dup", disk(first, "vda") + disk(second, "vda")))
    try:
        f = run("define", str(xml))
        assert (f.id, dict(f.captures).get("target"), dict(f.captures).get("path"), f.fixes[0].fix_id) == (
            "disk-target-in-use", "vda", str(second), "pick-free-target")
    finally:
        virsh("undefine", "vdt-adm-dup")


def test_two_guests_ask_for_one_tap_name(libvirt_daemon, tmp_path):
    """A copied definition keeps <target dev='vdtadm0'/>: the first guest runs with that tap, libvirt 9.0 refuses
    to create the second before touching the device."""
    interface = ("<interface type='ethernet'><target dev='vdtadm0'/><model type='virtio'/></interface>")
    paths = {}
    for name in ("vdt-adm-tapa", "vdt-adm-tapb"):
        paths[name] = tmp_path / f"{name}.xml"
        paths[name].write_text(guest_xml(name, interface))
    try:
        assert virsh("create", str(paths["vdt-adm-tapa"])).returncode == 0
        f = run("create", str(paths["vdt-adm-tapb"]))
        assert (f.id, dict(f.captures).get("interface"), dict(f.captures).get("path"), f.fixes[0].fix_id) == (
            "tap-name-in-use", "vdtadm0", str(paths["vdt-adm-tapb"]), "find-tap-owner")
    finally:
        for name in paths:
            virsh("destroy", name)


def test_a_snapshot_while_a_block_copy_waits_for_its_pivot(libvirt_daemon, tmp_path):
    """A backup script started a blockcopy and never pivoted: the copy sits at 100% in the ready state, and a disk
    snapshot of the running guest is refused by libvirt 9.0 ("block copy still active: disk 'vda' already in active
    block job")."""
    image, copy = IMAGES / "vdt-adm-bj.qcow2", IMAGES / "vdt-adm-bj-copy.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "16M"], check=True, timeout=60)
    xml = tmp_path / "vdt-adm-bj.xml"
    xml.write_text(guest_xml("vdt-adm-bj", disk(image, "vda")))
    try:
        assert virsh("create", str(xml)).returncode == 0
        assert virsh("blockcopy", "vdt-adm-bj", "vda", str(copy), "--transient-job").returncode == 0
        f = run("snapshot-create-as", "vdt-adm-bj", "before-upgrade", "--disk-only", "--no-metadata")
        assert (f.id, dict(f.captures).get("guest"), dict(f.captures).get("disk"), f.fixes[0].fix_id) == (
            "blockjob-active", "vdt-adm-bj", "vda", "show-blockjob")
    finally:
        virsh("destroy", "vdt-adm-bj")
        for path in (image, copy, *IMAGES.glob("vdt-adm-bj.*")):
            path.unlink(missing_ok=True)


def test_autostart_of_a_transient_network(libvirt_daemon, tmp_path):
    """A tool created its network with net-create (transient); net-autostart on it is refused by libvirt 9.0."""
    xml = tmp_path / "vdt-adm-tnet.xml"
    xml.write_text("<network><name>vdt-adm-tnet</name><bridge name='vdtadmbr2'/></network>")
    try:
        assert virsh("net-create", str(xml)).returncode == 0
        f = run("net-autostart", "vdt-adm-tnet")
        assert (f.id, dict(f.captures).get("network"), f.fixes[0].fix_id) == (
            "transient-network-autostart", "vdt-adm-tnet", "net-define-from-running-xml")
    finally:
        virsh("net-destroy", "vdt-adm-tnet")
