"""Write knowledge/generated/templates.jsonl: every libvirt error message template (its msgid) with its
translations, indexed by a rare word, for diagnose/messages.py.

Inputs (../shared/reference/):
- libvirt-templates/templates.jsonl: the msgids of every libvirt release from 0.1.6 to 9.0.0 (from the
  release's libvirt.pot, regenerated with xgettext where git has none, and the 9.0 .mo files), with the
  source files that print them and a category (error, help, other);
- libvirt-templates/translations/<lang>.jsonl: their translations (9.0's .mo first, older .po after);
- libvirt-messages.tsv: the curated templates, among them wordings newer than 9.0.

Only error templates with enough fixed text to be told apart from noise are kept. Run after the inputs
change:  python scripts/gen_templates.py   (--check: exit 1 if the file is stale).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diagnose.literals import literal_keys, template_key  # noqa: E402
from diagnose.messages import KEY_SEPARATOR, OFFSET_WIDTH, TEMPLATES_FORMAT, literal_letters, parse_template  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "reference"
LANGUAGES = ("ja", "de", "fr", "es", "it", "zh_CN", "ru", "pt_BR")
OUT = ROOT / "knowledge" / "generated" / "templates.jsonl"
MIN_LETTERS = 12  # fixed letters a template needs to be recognised (fewer: "%s: %s", "error: %s" ...)
CURATED_MIN_LETTERS = 8  # the curated reference templates are known causes: a shorter one is kept


def recognisable(template: str, min_letters: int = MIN_LETTERS) -> bool:
    parts = parse_template(template)
    words = [w for part in parts for w in part.text.split() if sum(c.isalpha() for c in w) >= 4
             or len(w) >= 2 and any(ord(c) > 0x2fff for c in w)]
    return literal_letters(parts) >= min_letters and bool(words) and "\n\n" not in template


def load(reference: Path) -> dict[str, dict]:
    """key -> {key, files, first, last, forms: {lang: text}} for every recognisable error template."""
    templates: dict[str, dict] = {}
    with open(reference / "libvirt-templates" / "templates.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["category"] == "help" or not recognisable(row["msgid"]):  # "other": many .mo-only messages
                continue
            templates[row["key"]] = {"key": row["key"], "files": row["files"], "first": row["first"],
                                     "last": row["last"], "forms": {"en": row["msgid"]}}
    with open(reference / "libvirt-messages.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            for column in ("template", "predecessor"):
                text = (row.get(column) or "").replace("\\n", "\n").strip()
                key = template_key(text)
                if text and key not in templates and recognisable(key, CURATED_MIN_LETTERS):
                    templates[key] = {"key": key, "files": [row["source_file"]] if row["source_file"] else [],
                                      "first": row["first_seen"], "last": row["last_seen"], "forms": {"en": key}}
    for lang in LANGUAGES:
        path = reference / "libvirt-templates" / "translations" / f"{lang}.jsonl"
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                entry = templates.get(row["key"])
                if entry is not None and row["msgstr"].strip() and row["msgstr"] != row["msgid"]:
                    entry["forms"][lang] = row["msgstr"]
    return templates


def form_keys(text: str) -> set[str]:
    return {key for part in parse_template(text) if part.text for key in literal_keys(part.text)}


GAI_MESSAGES = ("Name or service not known", "Temporary failure in name resolution",
                "No address associated with hostname",
                "Servname not supported for ai_socktype", "Connection refused")


def system_errors(locale_dir: Path) -> dict[str, str]:
    """glibc's system error texts (strerror, gai_strerror) in each language -> the English text: what libvirt
    appends to a message (": No such device") arrives translated in a translated paste."""
    import gettext
    import os

    english = [os.strerror(n) for n in range(1, 134) if not os.strerror(n).startswith("Unknown error")]
    english += list(GAI_MESSAGES)
    found: dict[str, str] = {}
    for lang in LANGUAGES:
        try:
            catalog = gettext.translation("libc", localedir=str(locale_dir), languages=[lang])
        except OSError:
            continue
        for text in english:
            translated = catalog.gettext(text)
            if translated != text:
                found.setdefault(translated, text)
    return dict(sorted(found.items()))


def hex_offsets(spans: list[list[int]]) -> str:
    """Where each line starts, and where the last one ends, as fixed-width hex (messages.OFFSET_WIDTH digits
    each): the reader slices out the one it needs, so the header costs nothing to decode."""
    starts = [start for start, _ in spans] + ([spans[-1][1] + 1] if spans else [0])
    return "".join(f"{start:0{OFFSET_WIDTH}x}" for start in starts)


def build(reference: Path, locale_dir: Path = Path("/usr/share/locale")) -> bytes:
    templates = sorted(load(reference).values(), key=lambda t: t["key"])
    frequency: Counter[str] = Counter()
    for entry in templates:
        for text in entry["forms"].values():
            frequency.update(form_keys(text))
    lines: list[bytes] = []
    offset = 0

    def add(record: object) -> list[int]:
        nonlocal offset
        line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode() + b"\n"
        lines.append(line)
        offset += len(line)
        return [offset - len(line), offset - 1]

    records = []
    buckets: dict[str, list[list[int]]] = {}
    for number, entry in enumerate(templates):
        forms = [[lang, text, literal_letters(parse_template(text))] for lang, text in sorted(entry["forms"].items())]
        records.append(add({"key": entry["key"], "files": entry["files"], "first": entry["first"],
                            "last": entry["last"], "forms": forms}))
        for index, (_, text, _) in enumerate(forms):
            keys = form_keys(text)
            if keys:  # a form with no indexable word is left out (its fixed text is all punctuation)
                rarest = min(keys, key=lambda k: (frequency[k], k))
                buckets.setdefault(rarest, []).append([number, index])
    bucket_keys = sorted(buckets)
    spans = [add(buckets[key]) for key in bucket_keys]
    header = {"format": TEMPLATES_FORMAT, "languages": ["en", *LANGUAGES], "records": hex_offsets(records),
              "bucket_keys": KEY_SEPARATOR.join(bucket_keys), "buckets": hex_offsets(spans),
              "keys": KEY_SEPARATOR.join(entry["key"] for entry in templates),
              "system_errors": system_errors(locale_dir),
              "count": len(templates), "forms": sum(len(v) for v in buckets.values())}
    return json.dumps(header, sort_keys=True).encode() + b"\n" + b"".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    data = build(args.reference)
    if args.check:
        current = args.out.read_bytes() if args.out.exists() else b""
        print(f"{args.out} is {'current' if current == data else 'stale: run scripts/gen_templates.py'}")
        return 0 if current == data else 1
    args.out.write_bytes(data)
    header = json.loads(data[:data.index(b"\n")])
    print(f"wrote {args.out}: {header['count']} templates, {header['forms']} forms, "
          f"{header['bucket_keys'].count(KEY_SEPARATOR) + 1} keys, "
          f"{len(data) / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
