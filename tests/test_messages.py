"""libvirt's message templates: any message printed from any template of the index, in any of its languages,
is recognised with its values as captures; signatures that explain a template match it in every language."""

from __future__ import annotations

import json

import pytest

from diagnose import engine, messages
from diagnose.literals import line_keys

INDEX = messages.loaded()
# a string value has spaces, unicode, brackets and a long path (no quote characters: a value holding the very
# quote that closes it is ambiguous for libvirt's readers too); one that starts the message is one word
ODD_VALUES = {"s": "/var/lib/libvirt/images/my disk (ü) 長い名前 ümlaut/" + "d" * 80 + ".qcow2", "d": "-42", "i": "7",
              "u": "42", "o": "17", "x": "1f", "X": "2A", "c": "Z", "p": "0x7f3a", "e": "1.5", "f": "0.25", "g": "3",
              "m": "Operation not permitted"}


def printed(template: str) -> tuple[str, dict[str, str]]:
    """What libvirt prints from a template with odd values, and the value of each argument."""
    out, values = [], {}
    for part in messages.parse_template(template):
        if part.text:
            out.append(part.text)
            continue
        value = ODD_VALUES[part.kind]
        if part.kind == "s":
            value = f"{value}{part.argument}" if "".join(out).strip() else f"/srv/ü-長い-{part.argument}.img"
        values[f"p{part.argument}"] = value
        out.append(value)
    return "".join(out), values


def ambiguous(template: str) -> bool:
    """Two placeholders with no letters between them (`%s %s`, `%s:%s`): any split of the text is right."""
    parts = messages.parse_template(template)
    return any(not a.text and not c.text and not any(ch.isalpha() for ch in b.text)
               for a, b, c in zip(parts, parts[1:], parts[2:], strict=False))


def forms() -> list[tuple[int, int]]:
    assert INDEX is not None, "run scripts/gen_templates.py"
    return [(number, form) for number in range(len(INDEX)) for form in range(len(INDEX.record(number)["forms"]))]


def test_the_index_holds_libvirts_messages_in_nine_languages():
    assert INDEX is not None and len(INDEX) > 10_000
    langs = {form[0] for number in range(0, len(INDEX), 50) for form in INDEX.record(number)["forms"]}
    assert {"en", "ja", "de", "fr", "es", "it", "zh_CN", "ru", "pt_BR"} <= langs
    assert INDEX.system_errors["そのようなデバイスはありません"] == "No such device"


def test_every_template_in_every_language_is_recognised_with_its_values():
    """Each form's regex finds the message printed from it with odd values (spaces, unicode, brackets, long
    paths) inside a daemon log line, and the line holds every word the index looks for first. The values
    come back exactly, but where the template itself is ambiguous (`%s %s`) or a translation has a typo."""
    missed, wrong_values = [], []
    for number, form in forms():
        lang, template, _ = INDEX.record(number)["forms"][form]
        text, values = printed(template)
        line = f"2024-05-02 06:58:05.198+0000: 1187: error : someFunction:197 : {text}"
        m = INDEX.regex(number, form).search(line)
        if m is None or not all(word in line.lower() for word in INDEX.words(number, form)):
            missed.append((lang, template))
            continue
        got = {k: v.strip() for k, v in m.groupdict().items() if v is not None}
        if got != {k: v.strip() for k, v in values.items() if k in got} and not ambiguous(template):
            wrong_values.append((lang, template, got))
    assert len(missed) <= 3, missed
    assert len(wrong_values) <= len(forms()) // 500, wrong_values[:10]


@pytest.mark.parametrize("lang", ["en", "ja", "de", "zh_CN", "ru"])
def test_recognise_finds_sampled_templates_through_the_index(lang):
    """The whole path (words -> bucket -> regex) on a sample of each language's forms."""
    sample = [(n, f) for n, f in forms()[::97] if INDEX.record(n)["forms"][f][0] == lang]
    assert sample
    missed = []
    for number, form in sample:
        template = INDEX.record(number)["forms"][form][1]
        keys = {k for k, entries in INDEX.buckets.items() if [number, form] in INDEX.bucket(k)}
        text, _ = printed(template)
        if not keys or not keys & line_keys(text.lower()):
            continue  # filed under a key this filling hides (a word glued to a value): checked above
        found = {m.key for m in INDEX.recognise(text)}
        if INDEX.record(number)["key"] not in found:
            missed.append((template, text))
    assert not missed, missed[:10]


def test_a_signature_explains_its_templates_in_every_language():
    catalog, _ = engine.loaded()
    sig = catalog.by_id("bridge-missing")
    assert sig is not None and any(b.key == "Cannot get interface MTU on '%s'" for b in sig.templates)
    record = INDEX.record(INDEX.number("Cannot get interface MTU on '%s'"))
    for lang, template, _ in record["forms"]:
        text = template.replace("%s", "br7")
        translated = (k for k, v in INDEX.system_errors.items() if v == "No such device" and _lang_of(k) == lang)
        error = "No such device" if lang == "en" else next(translated, "No such device")
        report = engine.explain(f"error: {text}: {error}")
        ids = [(f.id, dict(f.captures).get("bridge")) for f in report.findings]
        assert ("bridge-missing", "br7") in ids, (lang, text, ids)


def _lang_of(text: str) -> str:
    """A rough guess of a system error text's language, enough to pair it with a template's language."""
    if any("\u3040" <= ch <= "\u30ff" for ch in text):
        return "ja"
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return "zh_CN"
    if any("\u0400" <= ch <= "\u04ff" for ch in text):
        return "ru"
    return "?"


def test_the_detail_decides():
    """The same template with another system error is not the signature's cause: it is shown as a libvirt
    message virtdiag has no entry for (never "nothing recognised", never a confident wrong cause)."""
    report = engine.explain("error: Cannot get interface MTU on 'br0': Permission denied")
    assert "bridge-missing" not in [f.id for f in report.findings]
    assert [m.template for m in report.messages] == ["Cannot get interface MTU on '%s'"]
    assert dict(report.messages[0].values) == {"p1": "br0"} and report.messages[0].detail == "Permission denied"
    assert all(f.confidence <= 0.3 for f in report.findings)


def test_the_closest_entries_share_what_failed_not_how_the_call_failed():
    """The entries offered as closest to a libvirt message with no cause entry share words of the message
    itself: a storage pool's "cannot open directory ...: Permission denied" is not near the tap device's
    "permission denied on /dev/net/tun" (the C library's error text says how a call failed, every failure has
    one). A message whose own words an entry shares is still offered it, as a guess."""
    report = engine.explain("ERROR    Could not start storage pool: cannot open directory '/home/bob/Downloads': "
                            "Permission denied\n")
    assert report.findings == []
    assert [(m.template, m.detail) for m in report.messages] == [("cannot open directory '%s'", "Permission denied")]
    guessed = engine.explain("libvirt.libvirtError: storage pool is not active\n")
    assert [(f.id, f.confidence) for f in guessed.findings] == [("storage-pool-inactive", 0.3),
                                                                 ("storage-pool-already-active", 0.3)]


def test_an_error_class_prefix_that_starts_another_message_is_not_listed_beside_it():
    """"internal error:" alone on a line (the paste broke it after the colon), or holding the start of the message
    on its line, is the kind of error, not a second message without a cause entry. One that holds text of its own
    stays listed."""
    broken = engine.explain("libvirt.libvirtError: internal error:\nfailed to retrieve chardev info in qemu with "
                            "'info chardev'\n")
    assert [m.template for m in broken.messages] == ["failed to retrieve chardev info in qemu with 'info chardev'"]
    own = engine.explain("error: internal error: the frobnicator rattled twice\nerror: Cannot set interface MTU on "
                         "'eth9'\n")
    assert [(m.template, dict(m.values)) for m in own.messages] == [
        ("internal error: %s", {"p1": "the frobnicator rattled twice"}), ("Cannot set interface MTU on '%s'",
                                                                          {"p1": "eth9"})]


def test_a_template_word_is_a_whole_word():
    """A template that starts or ends with a word is not met inside a longer word: systemd-machined's
    "Machine 'qemu-5-web' already exists" is not libvirt's "mac %s already exists" ("Mac" + "hine ...")."""
    assert INDEX is not None
    line = "error: error from service: CreateMachine: Machine 'qemu-5-web01' already exists"
    assert "mac %s already exists" not in [m.key for m in INDEX.recognise(line)]
    assert "mac %s already exists" in [m.key for m in INDEX.recognise("error: mac 52:54:00:aa:bb:cc already exists")]


def test_a_message_whose_only_reader_waited_for_context_in_vain_is_still_named():
    """virsh's bare "failed to connect to the hypervisor" is a pattern of direct-socket-no-uri that counts only
    beside a listing that worked; alone it makes no finding, and the line is then libvirt's message with no
    cause entry, never "nothing recognised"."""
    report = engine.explain("error: failed to connect to the hypervisor\n")
    assert report.findings == []
    assert [m.template for m in report.messages] == ["Failed to connect to the hypervisor"]


def test_messages_on_explained_lines_do_not_crowd_out_an_unexplained_one():
    """A message on a line some signature read waits to see whether that signature makes a finding; those
    have a cap of their own: sixty explained lines (each its own CA path) leave room for the one message
    nothing explains."""
    explained = "".join(f"error: Cannot read CA certificate '/etc/pki/CA/ca{n}.pem': No such file or directory\n"
                        for n in range(60))
    report = engine.explain(explained + "error: Cannot get interface MTU on 'br99': Permission denied\n")
    assert report.findings and report.findings[0].id == "tls-ca-cert-missing"
    assert [(m.template, m.detail) for m in report.messages] == [("Cannot get interface MTU on '%s'",
                                                                  "Permission denied")]


def test_an_unexplained_message_is_named_in_json(tmp_path):
    """A libvirt message no signature explains (the first of a few rare ones that still has none) is named with
    its template, values and source files in JSON; virtdiag does not say "nothing recognised"."""
    from typer.testing import CliRunner

    from diagnose.cli import app

    rare = ["error: Unable to set SELinux context on pipe for virDomainDefine", "error: invalid nwfilter rule "
            "priority 1337", "error: Cannot set interface MTU on 'eth9'", "error: failed to retrieve chardev info in "
            "qemu with 'info chardev'"]
    paste = next(t for t in rare if not engine.explain(t).findings and engine.explain(t).messages)
    body = json.loads(CliRunner().invoke(app, ["explain", "--format", "json", paste]).stdout)
    assert body["matches"] == [] and len(body["messages"]) == 1
    message = body["messages"][0]
    assert message["template"] and message["files"] and message["evidence"]["text"] == paste


def test_the_operation_that_failed_is_not_listed_beside_the_finding_that_says_why():
    """virsh's "Failed to start domain 'web01'" names nothing the finding below it does not: it is the operation
    that failed, not another message without a cause entry. A message that names something else stays listed,
    after the finding."""
    said = "error: Failed to start domain 'web01'\nerror: Cannot get interface MTU on 'br0': No such device\n"
    report = engine.explain(said)
    assert [(f.id, dict(f.captures)) for f in report.findings] == [
        ("bridge-missing", {"bridge": "br0", "guest": "web01"})]
    assert report.messages == []
    more = engine.explain(said.replace("web01", "db07", 1) + "error: Cannot set interface MTU on 'eth9'\n")
    assert [f.id for f in more.findings][:1] == ["bridge-missing"]
    assert [dict(m.values) for m in more.messages] == [{"p1": "eth9"}]


def test_virshs_report_of_the_failed_operation_is_not_listed_once_a_finding_says_why():
    """virsh prints "failed to connect to the hypervisor" or "Failed to create domain from vm.xml" above
    libvirt's reason; with a finding for the reason they are the operation, not messages without a cause entry.
    Alone they are still named."""
    connect = "error: failed to connect to the hypervisor\n"
    report = engine.explain(connect + "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': "
                            "Permission denied\n")
    assert [f.id for f in report.findings] == ["socket-permission-denied"] and report.messages == []
    create = engine.explain("error: Failed to create domain from vm.xml\nerror: unsupported configuration: "
                            "Unable to find security driver for model apparmor\n")
    assert [f.id for f in create.findings][:1] == ["seclabel-driver-unavailable"] and create.messages == []
    alone = engine.explain("error: Failed to create domain from vm.xml\n")
    assert alone.findings == [] and [m.template for m in alone.messages] == ["Failed to create domain from %s"]


def test_an_error_class_prefix_cut_from_the_message_it_wraps_is_not_listed():
    """A log that wraps its record after libvirt's error-class prefix leaves "invalid argument:" alone on a line;
    next to the finding for the message it wrapped it is the start of the same error, not another message."""
    report = engine.explain('{"component":"virt-launcher","level":"error","msg":"invalid argument:\n'
                            'NBD URI must be supplied when migration URI uses UNIX transport method"}\n')
    assert [f.id for f in report.findings] == ["migration-options-incompatible"]
    assert report.messages == []
    alone = engine.explain('{"component":"virt-launcher","level":"error","msg":"invalid argument:\n')
    assert alone.findings == [] and [m.template for m in alone.messages] == ["invalid argument: %s"]


def test_the_generator_writes_what_the_index_reads(tmp_path):
    """scripts/gen_templates.py on a tiny reference tree (two msgids, a German translation, a curated wording
    with a newline): the index it writes is read back, every template by its key, recognised in a line."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import gen_templates

    reference = tmp_path / "reference"
    (reference / "libvirt-templates" / "translations").mkdir(parents=True)
    rows = [{"key": "Cannot get interface MTU on '%s'", "msgid": "Cannot get interface MTU on '%s'",
             "files": ["src/util/virnetdev.c"], "first": "v0.9.8", "last": "v9.0.0", "category": "error"},
            {"key": "network '%s' is not active", "msgid": "network '%s' is not active",
             "files": ["src/network/bridge_driver.c"], "first": "v0.2.0", "last": "v9.0.0", "category": "error"}]
    (reference / "libvirt-templates" / "templates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for lang in gen_templates.LANGUAGES:
        german = {"key": rows[1]["key"], "msgid": rows[1]["msgid"], "msgstr": "Netzwerk '%s' ist nicht aktiv"}
        (reference / "libvirt-templates" / "translations" / f"{lang}.jsonl").write_text(
            json.dumps(german) + "\n" if lang == "de" else "")
    (reference / "libvirt-messages.tsv").write_text(
        "key\ttemplate\tsource_file\tfirst_seen\tlast_seen\tpredecessor\n"
        "two_lines\tUnable to read from monitor of guest %s\\nreason unknown\tsrc/qemu/qemu_monitor.c\t0.9\t"
        "current\t\n")
    path = tmp_path / "templates.jsonl"
    path.write_bytes(gen_templates.build(reference, locale_dir=tmp_path))
    index = messages.TemplateIndex(path)
    assert len(index) == 3
    for key in ("Cannot get interface MTU on '%s'", "network '%s' is not active",
                "Unable to read from monitor of guest %s\nreason unknown"):
        number = index.number(key)
        assert number is not None and index.record(number)["key"] == key
    found = index.recognise("error: Netzwerk 'default' ist nicht aktiv")
    assert [(m.key, m.lang, m.values) for m in found] == [("network '%s' is not active", "de", (("p1", "default"),))]
    assert [m.key for m in index.recognise("Cannot get interface MTU on 'br0': No such device")] == \
        ["Cannot get interface MTU on '%s'"]


def test_the_old_wording_of_virshs_operation_line_is_not_listed_above_its_reason():
    """libvirt 0.9's "Failed to start domain 'vm1'" has no source file in the index; just above the line a
    finding explains, it is that error's first line, not a message without a cause entry."""
    report = engine.explain("error: Failed to start domain 'vm1'\nerror: internal error: network 'default' is not "
                            "active\n")
    assert [f.id for f in report.findings] == ["network-not-started"] and report.messages == []
    far = engine.explain("error: Failed to start domain 'vm1'\n" + "note\n" * 5 +
                         "error: internal error: network 'default' is not active\n")
    assert [m.template for m in far.messages] == ["Failed to start domain '%s'"]
