"""Where virtdiag's data is (the catalog, the generated templates and indexes): shared by every stage."""

from __future__ import annotations

import os
from pathlib import Path


def knowledge_dir() -> Path:
    """$VIRTDIAG_KNOWLEDGE, the repository's knowledge/, or the installed copy; FileNotFoundError if none."""
    override = os.environ.get("VIRTDIAG_KNOWLEDGE")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "knowledge", here / "knowledge"):
        if (candidate / "generated").is_dir():
            return candidate
    raise FileNotFoundError(f"no knowledge/*.toml found next to {here}")
