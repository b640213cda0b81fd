"""Reports for tickets: JSON (against the shipped schema), Markdown, HTML; redaction; many hosts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from diagnose.cli import app

runner = CliRunner()
SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "diagnose" / "report.schema.json").read_text())
PASTES = sorted((Path(__file__).resolve().parent.parent / "samples" / "pastes").glob("*.txt"))
SECRETS = {
    "vnc": "Vnc-Pa55word-1", "spice": "Sp1ce-Pa55word-2", "other": "Migr4te-Pa55-3", "tls": "Tl5-Pa55-4",
    "xml": "Gr4phics-Pa55-5", "uri": "Ur1-Pa55-6", "token": "T0ken-Valu3-7", "rbd": "Rbd-S3cret-8",
    "pem": "MIIEowIBAAKCAQEAy0fQx3v9ZlYq8rW2Vv1mXG9e2v0yJc8nKqH4p3kV9a6bT7sLmN0",
}


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert result.exit_code in (0, 1), result.output
    return result.stdout


@pytest.mark.parametrize("paste", PASTES[::4], ids=[p.stem for p in PASTES[::4]])
def test_explain_json_matches_the_schema(paste: Path):
    jsonschema.validate(json.loads(invoke("explain", "--format", "json", "--file", str(paste))), SCHEMA)


def planted_host(tmp_path: Path) -> Path:
    """A host tree with a secret in every place one can hide, each on a line a finding will cite."""
    root = tmp_path / "host"
    (root / "etc/libvirt/qemu").mkdir(parents=True)
    (root / "var/log/libvirt/qemu").mkdir(parents=True)
    (root / "etc/libvirt/qemu.conf").write_text(
        f'vnc_password = "{SECRETS["vnc"]}"\nspice_password = "{SECRETS["spice"]}"\n'
        f'migration_password = "{SECRETS["other"]}"\n')
    (root / "etc/libvirt/libvirtd.conf").write_text(
        f'listen_tcp = 1\ntls_priority = "x"\nsasl_password = "{SECRETS["tls"]}"\n')
    (root / "etc/hostname").write_text("kvm7.example.com\n")
    (root / "etc/libvirt/qemu/web01.xml").write_text(f"""<domain type='qemu'>
  <name>web01</name>
  <memory>16384</memory>
  <os><type>hvm</type></os>
  <devices>
    <graphics type='vnc' passwd='{SECRETS["xml"]}' frobnicate='1'/>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/img'><auth username='admin'><secret type='ceph' usage='{SECRETS["rbd"]}'
      /></auth></source>
      <target dev='vda' bus='virtio'/><bogus/>
    </disk>
    <serial type='pty'/><console type='pty'/>
  </devices>
</domain>
""")
    (root / "var/log/libvirt/libvirtd.log").write_text(
        "2024-05-02 08:14:11.532+0000: 2211: error : virDomainMigrateVersion3Full:1 : operation failed: Failed to "
        f"connect to remote libvirt URI qemu+ssh://admin:{SECRETS['uri']}@kvm8.example.com/system"
        f"?token={SECRETS['token']}: Cannot recv data: Connection reset by peer\n"
        "2024-05-02 08:14:12.001+0000: 2211: error : virNetDevGetMTU:397 : Cannot get interface MTU on 'br9': "
        "No such device (mac 52:54:00:12:34:56 ip 192.0.2.44)\n"
        "2024-05-02 08:14:13.001+0000: 2211: error : virNetTLSContextNew:1 : Cannot read CA certificate "
        f"'/etc/pki/CA/cacert.pem': -----BEGIN RSA PRIVATE KEY----- {SECRETS['pem']}\n")
    (root / "var/log/libvirt/qemu/web01.log").write_text(
        f"2024-05-02T08:14:11.532Z qemu-system-x86_64: -spice port=5930,password={SECRETS['spice']},addr=0.0.0.0:"
        " Could not open '/var/lib/libvirt/images/web01.img': Permission denied\n")
    return root


def all_formats(root: Path, *extra: str) -> dict[str, str]:
    return {fmt: invoke("scan", "--root", str(root), "--format", fmt, "--verbose", *extra)
            for fmt in ("text", "json", "markdown", "html")}


def test_no_secret_in_any_format(tmp_path):
    root = planted_host(tmp_path)
    unredacted = "\n".join(all_formats(root, "--no-redact").values())
    reached = [name for name, secret in SECRETS.items() if secret in unredacted]
    # qemu.conf and libvirtd.conf lines are never quoted by a finding; every other plant must reach the report
    assert set(reached) >= {"xml", "uri", "token", "pem", "spice"}, f"not reached: {set(SECRETS) - set(reached)}"
    for fmt, text in all_formats(root).items():
        for name, secret in SECRETS.items():
            assert secret not in text, f"{name} secret leaked in {fmt}"


def test_redact_hosts_uses_stable_placeholders(tmp_path):
    root = planted_host(tmp_path)
    text = invoke("scan", "--root", str(root), "--format", "json", "--redact-hosts")
    for value in ("kvm7.example.com", "kvm8.example.com", "52:54:00:12:34:56", "192.0.2.44"):
        assert value not in text
    assert "host-1" in text and "mac-1" in text and "ip-1" in text
    assert text == invoke("scan", "--root", str(root), "--format", "json", "--redact-hosts")


def test_no_redact_says_so(tmp_path):
    root = planted_host(tmp_path)
    body = json.loads(invoke("scan", "--root", str(root), "--format", "json", "--no-redact"))
    assert body["redacted"] is False
    assert "NOT REDACTED" in invoke("scan", "--root", str(root), "--format", "markdown", "--no-redact")


def test_scan_json_matches_the_schema_and_is_stable(tmp_path):
    root = planted_host(tmp_path)
    first = invoke("scan", "--root", str(root), "--format", "json")
    jsonschema.validate(json.loads(first), SCHEMA)
    assert first == invoke("scan", "--root", str(root), "--format", "json")


def test_many_hosts_summary(tmp_path):
    one = planted_host(tmp_path / "a")
    two = planted_host(tmp_path / "b")
    (two / "etc/hostname").write_text("kvm9.example.com\n")
    body = json.loads(invoke("scan", "--root", str(one), "--root", str(two), "--format", "json"))
    jsonschema.validate(body, SCHEMA)
    assert len(body["hosts"]) == 2
    bridge = next(row for row in body["summary"] if row["id"] == "bridge-missing")
    assert bridge["hosts"] == ["kvm7.example.com", "kvm9.example.com"]
    severities = [row["severity"] for row in body["summary"]]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)


def test_output_file_quiet_and_fail_on(tmp_path):
    root = planted_host(tmp_path)
    out = tmp_path / "report.md"
    result = runner.invoke(app, ["scan", "--root", str(root), "--format", "markdown", "--output", str(out)])
    assert result.exit_code == 1 and result.stdout == ""
    assert out.read_text().startswith("# virtdiag scan:")
    quiet = runner.invoke(app, ["scan", "--root", str(root), "--quiet"])
    assert (quiet.exit_code, quiet.stdout) == (1, "")
    assert runner.invoke(app, ["scan", "--root", str(root), "--quiet", "--fail-on", "never"]).exit_code == 0


def test_html_is_self_contained(tmp_path):
    html = invoke("scan", "--root", str(planted_host(tmp_path)), "--format", "html")
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in html, external
    links = re.findall(r"href=['\"]([^'\"]*)", html)
    assert links and all(link.startswith("#") for link in links), links  # the index links within the page only
    assert all(f"id='{link[1:]}'" in html or f'id="{link[1:]}"' in html for link in links)
    assert "<details" in html and "@media print" in html and "viewport" in html


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_renders_every_finding_title_in_chromium(tmp_path):
    browser = chromium()
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required under CI (scripts/dev.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    root = planted_host(tmp_path)
    page = tmp_path / "report.html"
    invoke("scan", "--root", str(root), "--format", "html", "--output", str(page))
    titles = [f["title"] for f in json.loads(invoke("scan", "--root", str(root), "--format", "json"))["findings"]]
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True).stdout
    import html as html_mod

    assert titles
    for title in titles:
        assert html_mod.escape(title, quote=True) in dom or title in dom, title


def test_same_input_same_report_whatever_the_hash_seed():
    """Set order changes with PYTHONHASHSEED from one run to the next; no finding, capture or fix order may."""
    import subprocess
    import sys

    code = ("import json, pathlib, tomllib\n"
            "from diagnose import engine, render\n"
            "texts = {p.name: p.read_text(encoding='utf-8', errors='replace')\n"
            "         for p in sorted(pathlib.Path('samples/pastes').glob('*.txt'))}\n"
            "l10n = pathlib.Path('tests/data/localized/generated-examples.toml')\n"
            "generated = tomllib.loads(l10n.read_text('utf-8'))\n"
            "texts.update((f'l10n-{i}', e['text']) for i, e in enumerate(generated['example']))\n"
            "print(json.dumps({name: render.to_json(engine.explain(text)) for name, text in texts.items()}))\n")
    root = Path(__file__).resolve().parent.parent
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                           env={**os.environ, "PYTHONHASHSEED": seed, "SOURCE_DATE_EPOCH": "1700000000"}).stdout
            for seed in ("1", "2", "3")]
    assert len(runs[0]) > 1000 and runs[0] == runs[1] == runs[2]
