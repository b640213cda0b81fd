"""The real-paste sets: the held-back part is frozen, and every case in both parts is labelled."""

import hashlib
import tomllib
from pathlib import Path

import pytest

PASTES = Path(__file__).resolve().parent.parent / "samples" / "pastes"
PARTS = ("dev", "heldback")


def _cases(part: str) -> list[Path]:
    return sorted((PASTES / part).glob("*.toml"))


def test_heldback_is_exactly_what_its_manifest_pins():
    folder = PASTES / "heldback"
    pinned = {}
    for line in (folder / "MANIFEST.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        pinned[name] = digest
    present = {p.name for p in folder.iterdir() if p.name != "MANIFEST.sha256"}
    assert present == set(pinned), "held-back files added or removed: " + ", ".join(
        sorted(present ^ set(pinned))
    )
    changed = [n for n, d in pinned.items() if hashlib.sha256((folder / n).read_bytes()).hexdigest() != d]
    assert changed == [], f"held-back files changed: {changed}"
    assert len(_cases("heldback")) == 294  # 93 frozen first, then 201 of the fourth to thirty-fifth harvests (README)


@pytest.mark.parametrize("part", PARTS)
def test_every_case_has_its_paste_and_a_label(part):
    for case in _cases(part):
        label = tomllib.loads(case.read_text())
        assert label.get("id") and label.get("source"), case.name
        assert "cause" in label or part == "dev", case.name  # 32 dev cases predate the cause field
        assert isinstance(label.get("also_ok", []), list), case.name
        assert case.with_suffix(".txt").is_file(), case.name


def test_no_thread_is_in_both_parts():
    def sources(part: str) -> set[str]:
        return {tomllib.loads(c.read_text())["source"] for c in _cases(part)}

    assert sources("dev") & sources("heldback") == set()


def test_a_new_label_counts_the_entry_written_for_it_once_it_exists():
    """bench/realworld.py: a label NEW:x (no entry when labelled) also accepts x once an entry of that id exists,
    and says so; an id with no entry is not accepted under another name."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("realworld", PASTES.parent.parent / "bench" / "realworld.py")
    assert spec and spec.loader
    realworld = importlib.util.module_from_spec(spec)
    sys.modules["realworld"] = realworld  # its dataclasses look their module up there
    spec.loader.exec_module(realworld)
    label = {"id": "NEW:virsh-input-file-unreadable", "also_ok": ["NEW:no-such-entry"]}
    known = realworld.catalog_ids()
    assert "virsh-input-file-unreadable" in known and "no-such-entry" not in known
    assert realworld.accepted(label, known) == ("NEW:virsh-input-file-unreadable", "NEW:no-such-entry",
                                                "virsh-input-file-unreadable")
    assert realworld.accepted({"id": "image-permission-denied"}, known) == ("image-permission-denied",)
