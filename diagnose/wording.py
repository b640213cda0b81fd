"""Wording (pure): the words the reports print around the catalog's own text (headings, labels, the engine's
notes, the titles of the host checks) in each language, read from knowledge/wording.json: knowledge is data."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from diagnose.locate import knowledge_dir

WORDING = "wording.json"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@cache
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((knowledge_dir() / WORDING).read_text(encoding="utf-8"))
    return loaded


def _pick(entry: dict[str, str], lang: str) -> str:
    return entry.get(lang) or entry["en"]


def word(key: str, lang: str = "en", **values: object) -> str:
    """A label in `lang` (English where it has no translation), its {placeholders} filled from `values`.
    An unknown key is a bug: KeyError."""
    text = _pick(data()["labels"][key], lang)
    return text.format(**values) if values else text


def check_title(name: str, lang: str = "en") -> str:
    """What a host check makes sure of, in `lang`; the check's own name when the wording has no entry."""
    entry = data()["checks"].get(name)
    return _pick(entry, lang) if entry else name


@cache
def _phrases() -> tuple[tuple[re.Pattern[str], dict[str, str]], ...]:
    compiled = []
    for entry in data()["phrases"]:
        parts = PLACEHOLDER.split(entry["en"])  # literal, name, literal, name, ..., literal
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
        compiled.append((re.compile(regex, re.S), entry))
    return tuple(compiled)


def phrase(text: str, lang: str = "en") -> str:
    """A note or fixed text the engine wrote in English, in `lang` (gettext-style: the English wording is the
    key, a {name} in it stands for any text and is given back in the translation); unknown text as it is."""
    if lang == "en":
        return text
    for regex, entry in _phrases():
        found = regex.fullmatch(text)
        if found and lang in entry:
            return entry[lang].format(**found.groupdict())
    return text
