"""Golden files: the Markdown and HTML reports of sample hosts, byte for byte.

After an intended change of the reports: VIRTDIAG_UPDATE_GOLDEN=1 pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diagnose.cli import app

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
CASES = ["b11-bridge-missing", "b07-default-network-inactive", "b13-hostname-loopback"]


@pytest.mark.parametrize("fmt", ["markdown", "html"])
@pytest.mark.parametrize("case", CASES)
def test_report_matches_golden_file(case, fmt, monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, ["scan", "--root", f"samples/hosts/{case}", "--format", fmt],
                                env={"SOURCE_DATE_EPOCH": "1767225600", "LANG": "C.UTF-8"})
    assert result.exit_code in (0, 1), result.output
    golden = GOLDEN / f"{case}.{'md' if fmt == 'markdown' else 'html'}"
    if os.environ.get("VIRTDIAG_UPDATE_GOLDEN") == "1":
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == golden.read_text(encoding="utf-8")
