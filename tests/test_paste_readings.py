"""How a paste is read before matching: test-harness verdicts, capitalisation that changed between versions."""

from __future__ import annotations

import pytest

from diagnose import engine
from diagnose.catalog import either_case_first_letter


def ids(text: str) -> list[str]:
    return [finding.id for finding in engine.explain(text).findings]


def test_harness_expected_messages_are_not_evidence():
    """tp-libvirt quotes what it expected beside what happened: only what happened decides."""
    text = ("TestFail: Can not find the expected patterns 'Domain not found|qemu unexpectedly closed the monitor' "
            "in output 'Migration: [ 21.63 %]error: operation failed: job 'migration out' failed: "
            "Unable to read from socket: Connection reset by peer'")
    report = engine.explain(text)
    assert [f.id for f in report.findings] == ["migration-qemu-failed"]
    assert dict(report.findings[0].captures) == {"detail": "Connection reset by peer"}


def test_harness_expect_fail_with_one_of():
    text = (" (1/1) type_specific.numa_memory.negative_test: FAIL: Expect should fail with one of "
            "['NUMA node.*unavailable', 'Domain not found'], but failed with:\\nerror: Failed to start domain "
            "'avocado-vt-vm1'\\nerror: Requested operation is not valid: domain is already running")
    found = ids(text)
    assert found[0] == "domain-state-invalid"
    assert "domain-not-found" not in found and "numa-node-unavailable" not in found


def test_the_same_message_without_the_harness_still_counts():
    """The cleaning removes the quoted expectation only: an ordinary 'Domain not found' is evidence."""
    assert ids("error: failed to get domain 'web01'\nerror: Domain not found: no domain with matching name "
               "'web01'")[0] == "domain-not-found"


@pytest.mark.parametrize("text", [
    "internal error: process exited while connecting to monitor: Cannot set up guest memory 'pc.ram': Cannot "
    "allocate memory",
    "internal error: process exited while connecting to monitor: cannot set up guest memory 'pc.ram': Cannot "
    "allocate memory",
])
def test_a_capitalised_message_matches_like_the_lower_case_one(text):
    report = engine.explain(text)
    assert report.findings[0].id == "host-memory-insufficient"
    assert dict(report.findings[0].captures)["element"] == "pc.ram"


@pytest.mark.parametrize(("written", "compiled"), [
    ("cannot set up guest memory", "[cC]annot set up guest memory"),
    ("Unable to add bridge", "[uU]nable to add bridge"),
    ("SASL\\(-\\d+\\): ", "SASL\\(-\\d+\\): "),  # an acronym keeps its case
    ("(?i)exceeds max cpus", "(?i)exceeds max cpus"),
    ("-drive file=", "-drive file="),
    ("été", "été"),
])
def test_either_case_first_letter(written, compiled):
    assert either_case_first_letter(written) == compiled


def test_a_uri_value_is_not_cut_at_its_colon():
    """A template's ": " separates a value from what follows; the "://" inside a URI is not that separator."""
    report = engine.explain("error: Failed to connect to remote libvirt URI qemu+ssh://root@10.0.0.5/system: "
                            "Cannot recv data: Host key verification failed.: Connection reset by peer")
    remote = [f for f in report.findings if f.id == "migration-remote-connect-failed"]
    assert len(remote) == 1
    assert dict(remote[0].captures)["uri"] == "qemu+ssh://root@10.0.0.5/system"


def test_a_value_at_the_end_of_a_wrapper_loses_the_wrapper_s_closing():
    """virError(... Message='... OVS bridge 21e4e1b47')" ends the last placeholder: the bridge is 21e4e1b47."""
    report = engine.explain("""hotplug failed: "virError(Code=1, Domain=0, Message='internal error: """
                            """Unable to add port tap0 to OVS bridge 21e4e1b47')\"""")
    assert report.findings[0].id == "ovs-port-add-failed"
    assert dict(report.findings[0].captures) == {"bridge": "21e4e1b47", "port": "tap0"}


XML_WITH_BLOCK_CDROM = """<domain type='kvm'>
  <name>nova01</name>
  <devices>
    <disk type='block' device='cdrom'>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
  </devices>
</domain>"""


def test_the_error_the_paste_printed_outranks_what_its_xml_shows():
    """A pasted XML's observation is a possible cause; the error line the paste holds decides first."""
    text = ("qemu-system-x86_64: -drive file=/srv/nova01/disk,if=none,id=drive-virtio-disk0,format=qcow2: "
            "could not open disk image /srv/nova01/disk: Permission denied\n" + XML_WITH_BLOCK_CDROM)
    findings = engine.explain(text).findings
    assert [f.id for f in findings] == ["image-permission-denied", "cdrom-block-no-source"]
    assert dict(findings[0].captures)["path"] == "/srv/nova01/disk"
    assert findings[1].confidence < 0.8


def test_pasted_xml_alone_keeps_its_confidence():
    findings = engine.explain(XML_WITH_BLOCK_CDROM).findings
    assert [f.id for f in findings] == ["cdrom-block-no-source"]
    assert findings[0].confidence == 0.85


@pytest.mark.parametrize("command", [
    "virsh -c qemu:///system start web01",
    "virsh --connect qemu:///system start web01",
    "virsh --connect=qemu:///system start web01",
])
def test_the_guest_is_read_from_a_virsh_command_with_its_connection(command):
    text = f"$ {command}\nqemu-system-x86_64: Address space limit 0x7fffffffff < 0x4ffffffffff phys-bits too low (39)"
    findings = engine.explain(text).findings
    assert findings[0].id == "phys-bits-too-low"
    assert dict(findings[0].captures)["guest"] == "web01"


def test_a_cause_seen_only_in_a_warning_ranks_after_the_error():
    """virt-install went on past its warning; the error line is what stopped it."""
    text = ("root@hv:~# virt-install --name web01 --network bridge=br0 --cdrom /srv/iso/u.iso\n"
            "WARNING  KVM acceleration not available, using 'qemu'\n"
            "Starting install...\n"
            "ERROR    Cannot get interface MTU on 'br0': No such device\n"
            "  virsh --connect qemu:///system start web01\n")
    findings = engine.explain(text).findings
    assert [f.id for f in findings] == ["bridge-missing", "kvm-unavailable"]
    assert findings[1].confidence < 0.8


def test_a_logging_level_warning_ranks_after_the_error():
    """A tool's Python logging prints the level between spaces ("<time> WARNING name - msg"): that is a warning
    line too, so the guest agent it mentions is not a confident cause next to the ERROR line."""
    text = ("2021-04-20 17:38:50 WARNING libvirthelper - startBackup: Guest agent is not responding: QEMU guest "
            "agent is not connected\n"
            "2021-04-20 17:38:50 ERROR virtnbdbackup - main: internal error: unable to execute QEMU command "
            "'nbd-server-start': Failed to bind socket to /var/tmp/virtnbdbackup.4711: Permission denied\n")
    findings = engine.explain(text).findings
    assert [f.id for f in findings] == ["apparmor-denied", "guest-agent-unresponsive", "qemu-monitor-command-failed"]
    assert dict(findings[0].captures)["socket_dir"] == "/var/tmp"
    assert findings[0].fixes[0].fix_id == "allow-guest-socket-dir"
    assert findings[1].confidence < 0.8


def test_a_warning_alone_keeps_its_confidence():
    findings = engine.explain("WARNING  KVM acceleration not available, using 'qemu'").findings
    assert findings[0].id == "kvm-unavailable"
    assert findings[0].confidence >= 0.8


@pytest.mark.parametrize("text", [
    "error: argument unsupported: QEMU guest agent is not configured",
    "エラー: サポートされない引数: QEMU ゲストエージェントが設定されていません",
    "1466531021.512000: critical: failed to initialize guest agent channel",
])
def test_a_fix_whose_condition_lists_values_applies_for_any_of_them(text):
    """`when = { errno = [A, B] }`: libvirt's refusal and qemu-ga's own complaint both mean the channel is missing."""
    finding = engine.explain(text).findings[0]
    assert finding.id == "guest-agent-unresponsive"
    assert finding.fixes[0].fix_id == "add-agent-channel"


@pytest.mark.parametrize("text", [
    "internal error: missing 'timezone' attribute for clock with offset='timezone'",
    "Fehler: Fehlendes 'timezone'-Attribut für Uhr mit offset='timezone'",
    "エラー: offset='timezone' のクロックの 'timezone' 属性がありません",
])
def test_a_parser_message_no_signature_names_is_explained_by_a_template_set(text):
    """xml-invalid-config covers every message of libvirt's XML parsers (src/conf/) that names something
    missing, invalid, unknown ...: the message is answered, not listed as one virtdiag has no entry for."""
    report = engine.explain(text)
    assert [f.id for f in report.findings] == ["xml-invalid-config"]
    assert report.messages == []


def test_a_template_a_signature_names_stays_with_it_over_a_template_set():
    """'unknown panic model' is a parser message too, but libvirt-too-old names it: the set does not take it."""
    findings = engine.explain("error: unsupported configuration: unknown panic model 'pvpanic'").findings
    assert findings[0].id == "libvirt-too-old"


def test_a_wrapper_across_a_wrapped_line_is_not_listed_as_unexplained():
    """A long first line is joined with the next one in case a terminal wrapped a message; 'XML error: %s' read
    across that join is an artifact, not a libvirt message without a cause entry (real libvirt 9.0 output)."""
    path = "/tmp/pytest-of-root/pytest-21/test_a_parser_message_no_signa0/vdt-adm-clock.xml"
    report = engine.explain(f"error: Failed to define domain from {path}\n"
                            "error: XML error: missing 'timezone' attribute for clock with offset='timezone'\n")
    assert [f.id for f in report.findings] == ["xml-invalid-config"]
    assert report.messages == []


def test_a_message_wrapped_short_over_several_lines_is_read_across_them():
    """A mail or a commit message wraps a message at 72 columns or less, over up to four lines: it is read
    across them, and the pieces of it on each line are not listed as messages without a cause entry."""
    report = engine.explain("format of backing image\n'/srv/base/fedora.qcow2' of image\n"
                            "'/srv/vms/web01.qcow2' was not specified in the image\nmetadata\n")
    assert [(f.id, dict(f.captures)) for f in report.findings] == [
        ("backing-format-missing", {"backing": "/srv/base/fedora.qcow2", "path": "/srv/vms/web01.qcow2"})]
    assert report.messages == []
    apart = engine.explain("format of backing image\n'/srv/base/fedora.qcow2' of image\n\n"
                           "'/srv/vms/web01.qcow2' was not specified in the image\nmetadata\n")
    assert "backing-format-missing" not in [f.id for f in apart.findings]  # a blank line ends the paragraph


def test_a_joined_line_does_not_veto():
    """`unless` reads the lines as pasted: virsh's bare "failed to connect to the hypervisor" joined with the
    next line is not a second error line that rules no-default-uri out."""
    report = engine.explain("error: failed to connect to the hypervisor\n"
                            "error: Cannot use direct socket mode if no URI is set\n")
    assert [f.id for f in report.findings][:1] == ["no-default-uri"]


def test_a_record_continued_with_backslashes_is_read_as_one():
    """An AVC record a commit message or a shell split with trailing backslashes is read as one line."""
    report = engine.explain('type=AVC msg=audit(1700000000.1:42): avc:  denied  \\\n'
                            '{ relabelfrom } for  pid=4711 comm="libvirtd" \\\n'
                            'scontext=system_u:system_r:container_t:s0:c1,c2 \\\n'
                            'tcontext=system_u:system_r:container_t:s0:c1,c2 \\\n'
                            'tclass=tun_socket permissive=0\n')
    assert [(f.id, dict(f.captures)) for f in report.findings][:1] == [
        ("selinux-denied", {"kind": "relabelfrom", "element": "container_t"})]


def test_a_message_wrapped_at_72_columns_is_read_across_lines_of_that_width():
    """Lines of 60 to 80 characters, three or more in a row, are a wrapped paragraph too (a log's lines are
    longer): QEMU's "unsupported machine type" after its -machine argument, cut over four lines."""
    report = engine.explain("libvirtError: internal error: process exited while connecting to\n"
                            "monitor: 2017-08-21T08:06:36.057757Z qemu-system-x86_64: -machine\n"
                            "pc-i440fx-rhel7.3.0,accel=tcg,usb=off,dump-guest-core=off: unsupported\n"
                            "machine type\n")
    assert [(f.id, dict(f.captures)) for f in report.findings][:1] == [
        ("machine-type-unsupported", {"machine": "pc-i440fx-rhel7.3.0"})]


def test_a_message_other_causes_print_decides_only_with_context():
    """Weak matches: QEMU's 'Not a migration stream' is a broken save image or a broken incoming migration; a
    keepalive time-out is the per-client limit, a stuck daemon or the network. Alone they are a guess."""
    qemu = ("error: internal error: QEMU unexpectedly closed the monitor (vm='vm1'): 2023-11-22T13:32:08.111189Z "
            "qemu-kvm: Not a migration stream\n2023-11-22T13:32:08.111246Z qemu-kvm: load of migration failed: "
            "Invalid argument")
    alone = engine.explain(qemu).findings[0]
    assert (alone.id, alone.confidence) == ("managedsave-corrupt", 0.5)
    assert dict(alone.captures) == {"errno": "Invalid argument"}
    started = engine.explain("# virsh start vm1\nerror: Failed to start domain 'vm1'\n" + qemu).findings[0]
    assert (started.id, dict(started.captures)["guest"]) == ("managedsave-corrupt", "vm1")
    assert started.confidence >= 0.8
    keepalive = "error: Disconnected from qemu:///system due to keepalive timeout"
    assert [(f.id, f.confidence, f.fixes[0].fix_id) for f in engine.explain(keepalive).findings] == [
        ("daemon-max-client-requests", 0.5, "check-daemon-stuck")]
    warned = ("virtqemud[812]: Client hit max requests limit 5. This may result in keep-alive timeouts. Consider "
              "tuning the max_client_requests server parameter\n" + keepalive)
    assert [(f.id, f.confidence, f.fixes[0].fix_id) for f in engine.explain(warned).findings] == [
        ("daemon-max-client-requests", 0.9, "raise-max-client-requests")]


def test_a_message_wrapped_at_a_space_before_a_long_token_is_read_whole():
    """A commit message wraps at 72 columns: before a long quoted token the first line may be well short of a
    terminal's width, and the message still reads across the wrap."""
    report = engine.explain("error: internal error: unable to execute QEMU agent command\n"
                            "'guest-set-time': hwclock failed to set hardware clock to system time\n")
    top = report.findings[0]
    assert top.id == "guest-agent-command-failed-in-guest"
    assert dict(top.captures) == {"agent_command": "guest-set-time",
                                  "agent_error": "hwclock failed to set hardware clock to system time"}
    assert top.fixes[0].fix_id == "guest-set-time-hwclock"


def test_short_lines_of_separate_records_are_not_joined():
    """A shorter wrap is read across only when the next line does not start a record of its own: virsh's
    'error:', a time stamp, or the same prefix as the line before (two records of one log)."""
    from diagnose.paste import paste_lines

    text = ("<timestamp>: critical: failed to create guest agent channel\n"
            "<timestamp>: critical: failed to initialize guest agent channel\n")
    assert [line.text for line in paste_lines(text) if line.join_at] == []
    wrapped = "error: internal error: unable to execute QEMU agent command\n'guest-set-time': hwclock failed\n"
    assert {line.join_at for line in paste_lines(wrapped) if line.join_at} == {59}


def test_a_uuid_a_wrap_cut_in_two_is_one_finding_with_the_whole_uuid():
    """A commit message wrapped inside a UUID at its dash: the reading joined inside the word gives the UUID,
    the one joined at a space gives it with a space; one finding is kept, with the UUID whole. The line also
    lacks its closing quote (the commit's author dropped it): the message is still libvirt's."""
    text = ("nova.exception.RescheduledException: Build of instance 2f32c7ea was re-scheduled: Secret not found: "
            "no secret with matching uuid 'a7f3ae2e-cee7-4f04-9402\n-a78047747654\n")
    findings = engine.explain(text).findings
    assert [(f.id, dict(f.captures)) for f in findings] == [
        ("secret-not-found", {"secret": "a7f3ae2e-cee7-4f04-9402-a78047747654"})]



def test_a_long_line_is_not_read_into_virshs_next_error_line():
    """virsh's "Failed to core dump domain 'win10' to <path>" is long enough to be a terminal's wrap, but the next
    line opens a record of its own ("error: ..."): no reading joins them (it made a bogus libvirt message of the
    path glued to "error:")."""
    report = engine.explain("error: Failed to core dump domain 'win10' to /home/me/evidence/win10.mem\n"
                            "error: Failed to create file '/home/me/evidence/win10.mem': No such file or directory\n")
    assert [f.id for f in report.findings] == ["path-dir-missing-on-daemon-host"]
    assert report.messages == []


def test_a_value_with_words_after_it_is_not_a_wrap_cut_short():
    """A pattern reads the PCI address alone, a template reads it with libvirt's words after it on the same
    line: not one value a wrap cut short (those hold no space but the wrap's), so the finding keeps the
    pattern's reading and its rank."""
    text = ("ERROR warden: Error occurred: Call to virDomainDefineXML failed: XML error: Attempted double use of PCI "
            "Address 0000:00:03.1 (may need \"multifunction='on'\" for device on function 0)\n"
            "ERROR warden: Error occurred: Call to virDomainLookupByUUID failed: Domain not found: no domain with "
            "matching uuid 'a4e3fe7e-c083-4a86-b70b-4704b9d24404'\n")
    first = engine.explain(text).findings[0]
    assert (first.id, dict(first.captures)) == ("pci-address-conflict", {"address": "0000:00:03.1"})
