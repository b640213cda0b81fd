"""Match stage (pure): libvirt's own message templates -> the messages recognised in a line of text.

libvirt prints its errors from a fixed set of printf templates (its gettext msgids, and their
translations). knowledge/generated/templates.jsonl holds them (scripts/gen_templates.py, from the
templates of every libvirt release since 0.9 and the translations of 8 languages). A line holding a
message is recognised by its template, whatever the values: each placeholder matches any text and
becomes a capture (p1, p2... in the English argument order). Quoting, spacing and `:`/`：` differences
between versions and translations do not break recognition.

The file is read lazily: a header (where each template and each index bucket lies), then one line per
template and one per bucket; a line of text meets only the templates whose rarest word it holds.
"""

from __future__ import annotations

import json
import mmap
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from diagnose import locate
from diagnose.literals import CONVERSION_RE, line_keys, template_key

if TYPE_CHECKING:
    from diagnose.catalog import Catalog
    from diagnose.model import Line

QUOTES = "'\"`‘’‚‛“”„‟«»‹›「」『』"
QUOTE_CLASS = "[" + re.escape(QUOTES) + "]"
COLON_CLASS = "[:：]"
CLOSING_QUOTE_FOLLOWS = r"(?=[\s:,;)\]。，：；）]|\.(?:\s|$)|$)"
VALUE_REGEX = {"d": r"-?\d+", "i": r"-?\d+", "u": r"\d+", "o": r"[0-7]+", "x": r"(?:0x)?[0-9a-fA-F]+",
               "X": r"(?:0X)?[0-9a-fA-F]+", "c": r".", "p": r"(?:0x)?[0-9a-fA-F]+|\(nil\)",
               "e": r"[-+0-9.eEinfa]+", "f": r"[-+0-9.eEinfa]+", "g": r"[-+0-9.eEinfa]+"}
CJK = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
CJK_RE = re.compile(f"[{CJK}]")
TRAILING = " \t\r\n.。"
WORD_RE = re.compile(r"\w+")
WORD_LETTERS = "A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"  # scripts that separate words by spaces
NOT_AFTER_LETTER = f"(?<![{WORD_LETTERS}])"  # "mac %s already exists" is not the end of "Machine 'x' already exists"
NOT_BEFORE_LETTER = f"(?![{WORD_LETTERS}])"
WORD_LETTER_RE = re.compile(f"[{WORD_LETTERS}]")
WRAPPER_FILES = ("src/util/virerror.c",)  # where libvirt's error-class prefixes are printed


@dataclass(frozen=True)
class Part:
    """A piece of a template: literal text, or a placeholder (its argument number, 1-based, and kind)."""

    text: str = ""
    argument: int = 0
    kind: str = ""


def parse_template(template: str) -> list[Part]:
    """A printf template -> literal parts and placeholders; `%N$` names the argument, else they count up."""
    parts: list[Part] = []
    position = 0
    cursor = 0
    for m in CONVERSION_RE.finditer(template):
        if m.start() > cursor:
            parts.append(Part(text=template[cursor:m.start()]))
        cursor = m.end()
        if m["kind"] == "%":
            parts.append(Part(text="%"))
            continue
        position += 1
        parts.append(Part(argument=int(m["position"]) if m["position"] else position, kind=m["kind"]))
    if cursor < len(template):
        parts.append(Part(text=template[cursor:]))
    merged: list[Part] = []
    for part in parts:  # "%%" made a literal of its own: join it to its neighbours
        if merged and part.text and merged[-1].text:
            merged[-1] = Part(text=merged[-1].text + part.text)
        else:
            merged.append(part)
    return merged


def literal_letters(parts: list[Part]) -> int:
    """How much fixed text a template has (letters and CJK characters): how specific a match of it is."""
    return sum(1 for part in parts for ch in part.text if ch.isalpha())


def _literal_regex(text: str) -> str:
    """Fixed text as a regex that any quoting, spacing or colon of another version or translation meets."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            while i < len(text) and text[i].isspace():
                i += 1
            before = text[:i].rstrip()[-1:]
            after = text[i:i + 1]
            loose = not before or not after or not (before.isalnum() and after.isalnum()) or \
                bool(CJK_RE.match(before) or CJK_RE.match(after))
            if not loose:
                out.append(r"\s+")
            elif not after and WORD_LETTER_RE.match(before):  # "mac %s": a space or a word's end
                out.append(r"(?:\s+|" + NOT_BEFORE_LETTER + ")")
            elif not before and WORD_LETTER_RE.match(after):
                out.append(r"(?:\s+|" + NOT_AFTER_LETTER + ")")
            else:
                out.append(r"\s*")
            continue
        if ch in QUOTES:
            out.append(QUOTE_CLASS)
        elif ch in ":：":
            # ": " before a value is a separator, never the "://" inside a URI value before it
            out.append(r"\s*" + COLON_CLASS + (r"(?!//)" if text[i + 1:i + 2].isspace() else ""))
        elif CJK_RE.match(ch) and i + 1 < len(text) and not CJK_RE.match(text[i + 1]) and not text[i + 1].isspace():
            out.append(re.escape(ch) + r"\s?")  # a translation's CJK next to an ASCII word may be spaced or not
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def template_regex(template: str) -> str:
    """The regex that recognises a message printed from this template: placeholders become named groups
    p1, p2... (by argument), a string placeholder at the very end stops at an appended detail (": ...")."""
    parts = parse_template(template.strip(TRAILING) if template.strip(TRAILING) else template)
    out: list[str] = []
    seen: set[int] = set()
    # '...%s' at the very end: the closing quote, or the end of a line a paste cut short before it
    quoted_end = len(parts) > 2 and parts[-1].text != "" and parts[-1].text in QUOTES and not parts[-2].text
    for index, part in enumerate(parts):
        if quoted_end and index == len(parts) - 1:
            out.append(f"(?:{QUOTE_CLASS}{CLOSING_QUOTE_FOLLOWS}|(?=\\s*$))")
            continue
        if part.text:
            out.append(_literal_regex(part.text))
            continue
        value = VALUE_REGEX.get(part.kind)
        if value is None:  # a string (%s, %m)
            last = index == len(parts) - 1
            quoted = index > 0 and parts[index - 1].text[-1:] in QUOTES
            # at the start nothing stops it, and before " %s" only a space does: one word (a name, a path);
            # last: up to an appended ": detail"
            spaced = index + 2 < len(parts) and parts[index + 1].text == " " and parts[index + 2].kind in ("s", "m")
            # last: up to an appended ": detail", or empty at the end of the line (libvirt printed an empty
            # string: "Could not start 'swtpm'. exitstatus: 1, error:")
            value = r"\S+" if index == 0 or spaced else \
                r"(?:.+?(?=\s*:\s|\s*$)|(?=\s*$))" if last else r".*?" if quoted else r".+?"
        if part.argument in seen:
            out.append(f"(?:{value})")
        else:
            seen.add(part.argument)
            out.append(f"(?P<p{part.argument}>{value})")
    if parts and parts[-1].text[-1:] in QUOTES and len(parts) > 1 and not parts[-2].text and not quoted_end:
        out.append(CLOSING_QUOTE_FOLLOWS)  # '...%s': a quote inside the value is not the closing one
    # a template that starts or ends with a word starts or ends with a whole word (digits may touch it: a
    # log's "stream2023-..." where QEMU's lines were glued together)
    if parts and WORD_LETTER_RE.match(parts[0].text[:1]):
        out.insert(0, NOT_AFTER_LETTER)
    if parts and WORD_LETTER_RE.match(parts[-1].text[-1:]):
        out.append(NOT_BEFORE_LETTER)
    return "".join(out)


@dataclass(frozen=True)
class Message:
    """A libvirt message recognised in a line: which template, in which language, its placeholders' values,
    where it stands in the line, and how specific it is."""

    key: str  # the English template (its msgid)
    lang: str
    files: tuple[str, ...]  # where libvirt prints it (src/util/virnetdev.c ...)
    values: tuple[tuple[str, str], ...]  # (p1, "br0") ...
    start: int
    end: int
    letters: int  # fixed letters in the template: the more, the more specific
    tail: str  # what follows the message on the line (libvirt appends ": <system error>")

    @property
    def area(self) -> str:
        return area_of(self.files)

    @property
    def wrapper(self) -> bool:
        """One of libvirt's error-class prefixes ("internal error: %s", "Requested operation is not valid: %s",
        "operation failed: %s"...): it says what kind of error, the message it wraps says what went wrong. A bare
        phrase of three words or fewer ("Not supported", "Invalid argument") reads like one of those prefixes."""
        return self.files == WRAPPER_FILES or "%" not in self.key and len(self.key.split()) <= 3


def area_of(files: tuple[str, ...]) -> str:
    """A template's area from its source files: the driver or subsystem directory (qemu, network, util...)."""
    areas = []
    for path in files:
        pieces = path.split("/")
        if len(pieces) >= 3 and pieces[0] == "src":
            areas.append(pieces[1])
        elif pieces:
            areas.append(pieces[0])
    return ", ".join(dict.fromkeys(areas))


ONE_WORD_CAPTURES = frozenset({"uri", "bridge", "network", "interface", "device", "host", "port", "user", "group",
                               "socket", "nodedev", "pool", "iommu_group", "machine", "emulator"})


def capture_value(name: str, value: str) -> str:
    """A placeholder's value as a capture: unquoted, without the punctuation a sentence puts after it; a name
    that never holds a space (a URI, a bridge, a network ...) ends at the first one (a translation may
    print more words after the value)."""
    value = value.strip(QUOTES + " ").rstrip(".,;")
    while value.endswith(")") and value.count(")") > value.count("("):  # the end of a wrapper: Message='...')
        value = value[:-1].rstrip(QUOTES + " ").rstrip(".,;")
    if name in ONE_WORD_CAPTURES and value:
        value = value.split()[0].strip(QUOTES).rstrip(".,;")
    return value


def templates_path() -> Path:
    return locate.knowledge_dir() / "generated" / "templates.jsonl"


TEMPLATES_FORMAT = 2  # the layout scripts/gen_templates.py writes; another one is not read
OFFSET_WIDTH = 8  # hex digits per offset in the header
KEY_SEPARATOR = "\x00"  # between the keys the header joins into one string (a msgid may hold a newline)


class TemplateIndex:
    """The generated template file, read lazily: a line meets only the templates its words point to. The
    header is cheap to load (offsets as fixed-width hex text, keys as one joined string); the file is mapped,
    not read, so only the records and buckets a run meets are paged in."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            self.blob = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        end = self.blob.find(b"\n")
        header = json.loads(self.blob[:end])
        if header.get("format") != TEMPLATES_FORMAT:
            raise ValueError(f"{path}: format {header.get('format')}, not {TEMPLATES_FORMAT}: "
                             "run scripts/gen_templates.py")
        self.base = end + 1
        self.record_offsets: str = header["records"]
        self.bucket_offsets: str = header["buckets"]
        self.buckets: dict[str, int] = {key: n for n, key in enumerate(header["bucket_keys"].split(KEY_SEPARATOR))}
        self._joined_keys: str = header["keys"]
        self.languages: list[str] = header["languages"]
        self.system_errors: dict[str, str] = header["system_errors"]  # translated strerror -> English
        self._records: dict[int, dict] = {}
        self._buckets: dict[str, list[list[int]]] = {}
        self._regexes: dict[tuple[int, int], re.Pattern[str]] = {}
        self._words: dict[tuple[int, int], tuple[str, ...]] = {}

    def _line(self, offsets: str, number: int) -> bytes:
        """Line `number` of the records or buckets: its bytes, between two of the header's offsets."""
        start = int(offsets[number * OFFSET_WIDTH:(number + 1) * OFFSET_WIDTH], 16)
        stop = int(offsets[(number + 1) * OFFSET_WIDTH:(number + 2) * OFFSET_WIDTH], 16)
        return self.blob[self.base + start:self.base + stop]

    @cached_property
    def keys(self) -> dict[str, int]:
        """Template key -> record number (built on first use: only a signature's named template asks)."""
        return {key: n for n, key in enumerate(self._joined_keys.split(KEY_SEPARATOR))}

    def __len__(self) -> int:
        return len(self.record_offsets) // OFFSET_WIDTH - 1

    def number(self, key: str) -> int | None:
        """The record number of a template (by its English msgid, positional markers dropped)."""
        return self.keys.get(template_key(key))

    def record(self, number: int) -> dict:
        found = self._records.get(number)
        if found is None:
            found = self._records[number] = json.loads(self._line(self.record_offsets, number))
        return found

    def bucket(self, key: str) -> list[list[int]]:
        found = self._buckets.get(key)
        if found is None:
            found = self._buckets[key] = json.loads(self._line(self.bucket_offsets, self.buckets[key]))
        return found

    def regex(self, number: int, form: int) -> re.Pattern[str]:
        compiled = self._regexes.get((number, form))
        if compiled is None:
            text = self.record(number)["forms"][form][1]
            compiled = self._regexes[(number, form)] = re.compile(template_regex(text), re.IGNORECASE)
        return compiled

    def words(self, number: int, form: int) -> tuple[str, ...]:
        """The words (3+ characters, lower case) every message printed from this form holds: a cheap test
        before its regex runs."""
        found = self._words.get((number, form))
        if found is None:
            text = self.record(number)["forms"][form][1]
            found = self._words[(number, form)] = tuple(sorted(
                {w.lower() for part in parse_template(text) if part.text for w in WORD_RE.findall(part.text)
                 if len(w) >= 3}))
        return found

    def matching(self, files: str, msgid: str) -> list[str]:
        """The keys of the templates all of whose source files match `files` and whose English msgid matches
        `msgid` (searched): a signature's template set. Reads every record once, keeping none."""
        files_re, msgid_re = re.compile(files), re.compile(msgid)
        found = []
        for number in range(len(self)):
            record = json.loads(self._line(self.record_offsets, number))
            if record["files"] and all(files_re.search(f) for f in record["files"]) and msgid_re.search(record["key"]):
                found.append(record["key"])
        return found

    def recognise(self, text: str) -> list[Message]:
        """Every template message in a line, the most specific first (overlapping ones kept: a wrapper and
        the message it wraps are both libvirt's)."""
        lowered = text.lower()
        candidates = {tuple(entry) for key in line_keys(lowered) & self.buckets.keys() for entry in self.bucket(key)}
        found: list[Message] = []
        for number, form in sorted(candidates):
            record = self.record(number)
            lang, template, letters = record["forms"][form]
            if not all(word in lowered for word in self.words(number, form)):
                continue
            regex = self.regex(number, form)
            m = regex.search(text)
            if m is None:
                continue
            while not regex.pattern.startswith("(?P<") and (shorter := regex.search(text, m.start() + 1)) is not None \
                    and shorter.end() == m.end():
                m = shorter  # the shortest match: "Certificate check failed Certificate [x] owner ..." -> "[x]"
            values = tuple(sorted((k, v.strip()) for k, v in m.groupdict().items() if v is not None))
            found.append(Message(record["key"], lang, tuple(record["files"]), values, m.start(), m.end(), letters,
                                 text[m.end():].strip()))
        found.sort(key=lambda msg: (msg.wrapper, -msg.letters, -len(msg.key), msg.start, msg.key))
        return found


@cache
def loaded() -> TemplateIndex | None:
    """The template index, or None when the generated file is not there (a source checkout before
    scripts/gen_templates.py ran): recognition by template is then off, the catalog's patterns still work."""
    path = templates_path()
    try:
        return TemplateIndex(path)
    except (OSError, ValueError, KeyError):
        return None


def template_bindings(catalog: Catalog) -> dict[str, list[list[int]]]:
    """Which signatures explain which libvirt templates: template key -> [[signature, binding]]; a template a
    signature's template set covers is [signature, -1], unless some signature names it."""
    found: dict[str, list[list[int]]] = {}
    for index, sig in enumerate(catalog.signatures):
        for number, binding in enumerate(sig.templates):
            found.setdefault(binding.key, []).append([index, number])
    templates = loaded() if any(sig.template_sets for sig in catalog.signatures) else None
    for index, (files, msgid) in ((i, rule) for i, sig in enumerate(catalog.signatures) for rule in sig.template_sets):
        for key in templates.matching(files, msgid) if templates else ():
            found.setdefault(key, [[index, -1]])
    return found


LIBVIRT_PROCESS_RE = re.compile(r"\b(?:libvirtd|virt(?:qemu|network|storage|proxy|log|lock|interface|nodedev|secret|"
                                r"nwfilter|ch|lxc|xen|vbox)d)(?:\[\d+\])?:")


def reads_templates(line: Line) -> bool:
    """Lines that may hold a libvirt message: a paste, a daemon log record, a libvirt daemon's journal line."""
    return line.source in ("paste", "libvirtd-log") or (
        line.source == "journal" and LIBVIRT_PROCESS_RE.search(line.text, 0, 300) is not None)
