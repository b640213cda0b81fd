"""Generate knowledge/generated/localized.toml: patterns for libvirt's translated messages.

libvirt prints its messages in the user's language: under LANG=ja_JP.UTF-8, virsh says
"エラー: ソケットの '/run/libvirt/libvirt-sock' への接続に失敗しました: そのようなファイルやディレクトリはありません".
This script turns libvirt's own translations into extra patterns for the signatures, with the
capture names of the signatures' English patterns, so a localized paste gives the same id and
captures as the English one. virtdiag needs no .mo file at run time: the output is committed.

Run where Debian's libvirt-l10n and libc-l10n are installed (scripts/dev.sh setup installs them):

    .venv/bin/python scripts/gen_l10n.py            # writes knowledge/generated/localized.toml
    .venv/bin/python scripts/gen_l10n.py --check    # exit 1 if the committed files are stale
    .venv/bin/python scripts/gen_l10n.py -v         # also say why each dropped pattern was dropped

For each signature, each of its messages (its `messages` keys in libvirt-messages.tsv, plus the
libvirt msgids its examples print) and each of its English patterns:

1. The English template (libvirt's msgid) becomes a regex with one group per placeholder and runs
   over the signature's positive examples (and samples/pastes of that id) on the lines the English
   pattern matches too. A placeholder whose text is a capture of the pattern gets that capture's
   name and the pattern's own sub-regex for it; the characters of other placeholders that the
   pattern insists on (e.g. "dnsmasq" in a command line) stay literal; the rest is free text.
2. What the pattern requires around the message is kept: an error-code prefix ("Requested
   operation is not valid: ", accepted English or translated) and the system error after the
   message (": No such device"), accepted in English (a localized virsh showing an English daemon's
   error, as happens) or as glibc translates it (libc.mo).
3. Each language's msgstr (its placeholders may be reordered, %2$s before %1$s) is rendered with
   those pieces and kept only if it compiles, has a literal of 6+ characters, does not start with
   a capture group, and matches a synthetic localized line built from the example's values with
   the English captures.

Besides [[pattern]] (primary patterns; key = "strerror": an untranslated English message followed
by glibc's translated system error, as libvirt prints messages it has no translation for), the
output has [[context]] and [[unless]] tables for the signatures' context and unless patterns, and
[[value]]: the translated texts a capture may hold with the English text they stand for. It also
writes tests/data/localized/generated-examples.toml: each signature's English examples with the
matching line put into each language, which tests/test_localized.py runs through the engine.

Inputs: libvirt-messages.tsv (--tsv), /usr/share/locale/<lang>/LC_MESSAGES/{libvirt,libc}.mo
(--locale-dir) and the catalog itself (its examples and samples/pastes). The output is sorted, so
the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import gettext
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diagnose import catalog as catalog_mod  # noqa: E402
from diagnose import paste  # noqa: E402
from diagnose.catalog import MIN_LITERAL  # noqa: E402
from diagnose.literals import Group, class_end, required_literal, scan  # noqa: E402
from diagnose.model import Signature  # noqa: E402

LANGS = ("ja", "de", "fr", "es", "it", "zh_CN", "ru", "pt_BR")
LOCALE_DIR = Path("/usr/share/locale")
TSV = Path("/work/shared/reference/libvirt-messages.tsv")
OUT = ROOT / "knowledge" / "generated" / "localized.toml"
EXAMPLES = ROOT / "tests" / "data" / "localized" / "generated-examples.toml"
PASTES = ROOT / "samples" / "pastes"
TSV_ORIGIN = "libvirt po files (libvirt-messages.tsv)"

# getaddrinfo's messages (gai_strerror): conn_resolve_failed ends with one of them.
GAI_MESSAGES = (
    "Address family for hostname not supported",
    "Temporary failure in name resolution",
    "Non-recoverable failure in name resolution",
    "No address associated with hostname",
    "Name or service not known",
    "Servname not supported for ai_socktype",
)
MAX_ERRNO_ALTERNATIVES = 12  # an English errno group wider than this keeps its own regex
MIN_TEMPLATE_LETTERS = 8  # a msgid with fewer literal letters is too generic to learn from
DISCOVER_MIN_LITERAL = 12  # a msgid found in an example needs a literal run this long
QUOTES = {"'": "'", '"': '"', "«": "»", "“": "”", "„": "“", "‘": "’", "「": "」", "『": "』"}

# ---------------------------------------------------------------------------------------------
# printf templates


@dataclass(frozen=True)
class Ph:
    """One printf placeholder: the argument it prints (1-based) and its conversion."""

    arg: int
    conv: str


Part = str | Ph

FMT_RE = re.compile(
    r"%(?:(\d+)\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|j|z|t|L|q)?([diouxXeEfFgGaAcspm%])"
)
NUMERIC = frozenset("diouxX")


def clean_template(text: str) -> str:
    """The first line of a message: each line of a paste is matched on its own."""
    text = text.replace("\\n", "\n").replace('\\"', '"')
    return text.split("\n", 1)[0].rstrip()


def parse_format(fmt: str) -> list[Part]:
    parts: list[Part] = []
    buf = ""
    pos = 0
    seq = 0
    for m in FMT_RE.finditer(fmt):
        buf += fmt[pos : m.start()]
        pos = m.end()
        if m.group(2) == "%":
            buf += "%"
            continue
        if buf:
            parts.append(buf)
        buf = ""
        if m.group(1):
            arg = int(m.group(1))
        else:
            seq += 1
            arg = seq
        parts.append(Ph(arg, m.group(2)))
    buf += fmt[pos:]
    if buf:
        parts.append(buf)
    return parts


def format_parts(parts: list[Part], values: dict[int, str]) -> str:
    return "".join(p if isinstance(p, str) else values.get(p.arg, "x") for p in parts)


def normalize(msgid: str) -> str:
    """A msgid without positional markers: libvirt 9.3 rewrote '%s' as '%1$s'; same printed text."""
    return re.sub(r"%\d+\$", "%", clean_template(msgid))


def literal_letters(parts: list[Part]) -> int:
    return sum(sum(ch.isalnum() for ch in p) for p in parts if isinstance(p, str))


def longest_literal(parts: list[Part]) -> str:
    return max((p.strip() for p in parts if isinstance(p, str)), key=len, default="")


# ---------------------------------------------------------------------------------------------
# regex source helpers

META = frozenset("\\.^$*+?{}[]|()")


def negative_lookaheads(src: str) -> list[tuple[int, int]]:
    """Where the (?!...) groups of a pattern's source are (start, end)."""
    spans = []
    for m in re.finditer(r"\(\?!", src):
        depth, i = 0, m.start()
        while i < len(src):
            if src[i] == "\\":
                i += 2
                continue
            if src[i] == "[":  # a character class: its parentheses are characters
                i = src.index("]", i + 2 if src[i + 1 : i + 2] in ("]", "^") else i + 1) + 1
                continue
            depth += {"(": 1, ")": -1}.get(src[i], 0)
            if depth == 0:
                break
            i += 1
        spans.append((m.start(), i + 1))
    return spans


def esc(text: str) -> str:
    return "".join("\\" + ch if ch in META else ch for ch in text)


def is_wide(ch: str) -> bool:
    return bool(ch) and unicodedata.east_asian_width(ch) in ("W", "F")


LITERAL_TOKENS = re.compile(r"\s*：\s*|\s*:(?=\s|$)\s*|(?<=\s):\s*|\s+|[^\s:：]+|:")


def render_literal(text: str, strict: bool = False) -> str:
    """Translated text as a regex. Strict: exactly as printed. Otherwise a colon that ends a
    phrase may be ASCII or full-width with any spacing around it, and a space next to CJK text is
    optional (translations of other libvirt versions differ there)."""
    if strict:
        return esc(text)
    out: list[str] = []
    for tok in LITERAL_TOKENS.finditer(text):
        s = tok.group(0)
        if s != ":" and (":" in s or "：" in s):
            out.append(r"\s*[:：]\s*")
        elif s.isspace():
            before = text[tok.start() - 1] if tok.start() > 0 else ""
            after = text[tok.end()] if tok.end() < len(text) else ""
            wide = is_wide(before) or is_wide(after)
            if s == " ":
                out.append(r"\s?" if wide else " ")
            else:
                out.append(r"\s*" if wide else r"\s+")
        else:
            out.append(esc(s))
    return "".join(out)


def scan_groups(src: str) -> list[Group]:
    """Every group of a regex source with its extent (literals.scan: escapes and character classes skipped)."""
    return scan(src)[0]


def capture_body(src: str, name: str) -> str | None:
    """The pattern's own regex for a capture, with the lookarounds right before and after it."""
    groups = scan_groups(src)
    named = next((g for g in groups if g.name == name), None)
    if named is None:
        return None
    start, end = named.start, named.end
    looks = [g for g in groups if g.kind == "look"]
    changed = True
    while changed:
        changed = False
        for g in looks:
            if g.end == start:
                start, changed = g.start, True
            elif g.start == end:
                end, changed = g.end, True
    return src[start:end]


def rename_used(src: str, used: set[str]) -> str:
    """Groups whose name is already taken in the pattern being built become non-capturing."""
    for g in sorted(scan_groups(src), key=lambda g: -g.start):
        if g.name and g.name in used:
            head = f"(?P<{g.name}>"
            src = src[: g.start] + "(?:" + src[g.start + len(head) :]
    return src


def delazy(src: str) -> str:
    """Lazy quantifiers matched as little as possible before the text that followed them; at the
    end of a localized pattern nothing follows, so there they must be greedy."""
    out: list[str] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            out.append(src[i : i + 2])
            i += 2
            continue
        if ch == "[":
            end = class_end(src, i)
            out.append(src[i:end])
            i = end
            continue
        if ch == "?" and out and out[-1] in ("+", "*", "?", "}"):
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def adapt_quotes(body: str, english_close: str, local_close: str) -> str:
    """A capture the English text quotes with '...' and the translation with «...»: the pattern's
    [^'] and (?=') must accept the translation's quote too."""
    if english_close not in ("'", '"') or not local_close or local_close == english_close:
        return body
    q, lq = english_close, esc(local_close)
    body = body.replace(f"[^{q}", f"[^{q}{lq}")
    for look in (f"(?={q})", f"(?=\\{q})"):
        body = body.replace(look, f"(?=[{q}{lq}])")
    return body


def shift(ch: str) -> str:
    """Another character of the same kind (digit, hex letter, letter), or '#' for punctuation."""
    if ch.isdigit():
        return str((int(ch) + 1) % 10)
    low = ch.lower()
    if "a" <= low <= "f":
        nxt = "abcdef"[("abcdef".index(low) + 1) % 6]
    elif ch.isascii() and ch.isalpha():
        letters = "ghijklmnopqrstuvwxyz"
        nxt = letters[(letters.index(low) + 1) % len(letters)]
    else:
        return "#" if ch != "#" else "%"
    return nxt.upper() if ch.isupper() else nxt


# ---------------------------------------------------------------------------------------------
# sources: the reference tsv, libvirt.mo, libc.mo


@dataclass
class Message:
    key: str
    template: str  # English, first line
    parts: list[Part]
    regex: re.Pattern[str]
    translations: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # lang -> [(msgstr, origin)]


def english_regex(parts: list[Part], whole: bool = False) -> re.Pattern[str]:
    out = []
    for index, part in enumerate(parts):
        if isinstance(part, str):
            out.append(esc(part))
        elif part.conv in NUMERIC:
            out.append(rf"(?P<p{index}>-?\d+)")
        else:
            out.append(rf"(?P<p{index}>.*)" if index == len(parts) - 1 else rf"(?P<p{index}>.*?)")
    return re.compile("^" + "".join(out) + "$" if whole else "".join(out))


def load_mo(path: Path) -> dict[str, str]:
    """normalized msgid -> msgstr (first line)."""
    with path.open("rb") as fh:
        translations = gettext.GNUTranslations(fh)
    found: dict[str, str] = {}
    for msgid, msgstr in translations._catalog.items():  # type: ignore[attr-defined]
        if isinstance(msgid, str) and msgid and isinstance(msgstr, str) and msgstr.strip():
            found.setdefault(normalize(msgid), clean_template(msgstr))
    return found


def package_version(name: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        out = ""
    return out or "unknown version"


def glibc_errnos() -> list[str]:
    """glibc's English system error texts (strerror, gai_strerror)."""
    seen: list[str] = []
    for number in range(1, 134):
        text = os.strerror(number)
        if not text.startswith("Unknown error") and text not in seen:
            seen.append(text)
    seen.extend(t for t in GAI_MESSAGES if t not in seen)
    return seen


# ---------------------------------------------------------------------------------------------
# learning from the English examples


@dataclass(frozen=True)
class Tail:
    errnos: tuple[str, ...]  # the English system errors the pattern accepts there
    required: bool
    name: str | None  # the capture it goes into, if any
    body: str | None  # the pattern's own regex for it, when it accepts too many to list
    example: str


@dataclass(frozen=True)
class Free:
    """A placeholder the pattern covers but does not capture whole: what the pattern insists on in it,
    as pieces ("lit", text), ("cap", capture name) and ("any", "") for free text."""

    pieces: tuple[tuple[str, str], ...]
    whole: bool  # every character is required: the text itself
    nested: tuple[str, ...] = ()  # when it is itself a translated message: its msgids' keys


@dataclass
class Plan:
    """What one English pattern of a signature needs from one message, learned from one line."""

    sig: str
    key: str
    pattern: str
    names: dict[int, str]  # arg -> capture name
    bodies: dict[str, str]  # capture name -> the pattern's regex for it
    free: dict[int, Free]
    values: dict[int, str]  # arg -> the example's text
    close: dict[int, str]  # arg -> the quote the English template closes it with
    expected: dict[str, str]  # the English captures the localized pattern must give back
    fixed: dict[str, str]  # captures the English pattern takes from the message's own words
    prefixes: tuple[tuple[str, bool], ...]  # (err-prefix key, required)
    tail: Tail | None
    wrapper: tuple[int, str, bool] | None  # (arg, pattern source for the text printed there, to its end)
    sentences: int | None  # keep only this many sentences of a translation
    line: str
    suffix: tuple[str, str] | None = None  # (the pattern's source after the message, the example's text there)
    wraps: dict[int, tuple[str, str]] = field(default_factory=dict)  # quotes the value itself brings
    span: tuple[int, int] = (0, 0)  # the English text in `line` that a translation replaces
    lost: tuple[str, ...] = ()  # captures the pattern has on `line` that a translation cannot give back

    def identity(self) -> tuple:
        return (
            self.key,
            self.pattern,
            tuple(sorted(self.names.items())),
            tuple(sorted(self.free.items())),
            self.prefixes,
            self.tail and (self.tail.errnos, self.tail.required, self.tail.name),
            self.wrapper,
            self.sentences,
            self.suffix and self.suffix[0],
            tuple(sorted(self.wraps.items())),
        )


def split_source(src: str, literal: str) -> str | None:
    """The rest of a pattern's source after it spells out `literal` at its start, or None."""
    i = 0
    for ch in literal:
        if i >= len(src):
            return None
        if src[i] == "\\" and i + 1 < len(src) and not src[i + 1].isalnum():
            if src[i + 1] != ch:
                return None
            i += 2
        elif src[i] in META or src[i] != ch:
            return None
        else:
            i += 1
    return src[i:]


def top_level(src: str) -> list[int]:
    """Positions of a regex source outside every group."""
    inside = [False] * (len(src) + 1)
    for g in scan_groups(src):
        for i in range(g.start + 1, g.end):
            inside[i] = True
    return [i for i in range(len(src) + 1) if not inside[i]]


def find_spelled(src: str, literal: str) -> int | None:
    """Where a pattern's source, at its top level, has spelled out `literal`: the index after it."""
    for start in top_level(src):
        rest = split_source(src[start:], literal)
        if rest is not None:
            return len(src) - len(rest)
    return None


def after_group(src: str, name: str) -> int | None:
    """The index after a named group and the lookaheads that follow it."""
    groups = scan_groups(src)
    named = next((g for g in groups if g.name == name), None)
    if named is None:
        return None
    end = named.end
    while True:
        look = next((g for g in groups if g.kind == "look" and g.start == end and not src.startswith("(?<", end)), None)
        if look is None:
            return end
        end = look.end


def source_after_message(src: str, parts: list[Part], names: dict[int, str]) -> str | None:
    """The part of a pattern's source that follows the message it spells (its tail), or None."""
    if not any(isinstance(p, Ph) for p in parts):
        pos = find_spelled(src, str(parts[0]))
        return None if pos is None else src[pos:]
    last_ph = max(i for i, p in enumerate(parts) if isinstance(p, Ph))
    ph = parts[last_ph]
    assert isinstance(ph, Ph)
    if ph.arg not in names:
        return None
    pos = after_group(src, names[ph.arg])
    if pos is None:
        return None
    literal = "".join(str(p) for p in parts[last_ph + 1 :])
    rest = split_source(src[pos:], literal)
    return rest


def appended_detail(rest: str) -> bool:
    """A pattern's tail that is a detail libvirt appends to the message (": " + something), not
    the rest of a longer English sentence."""
    while rest.startswith("(?:"):
        group = next((g for g in scan_groups(rest) if g.start == 0), None)
        if group is None or rest[group.end : group.end + 1] != "?":
            break
        rest = rest[group.end + 1 :]
    return bool(re.match(r"(?:\\s\*|\\s\+|\\s\?| )?(?::|\[:)", rest))


WORDS = re.compile(r"[A-Za-z]{3,}")
QUOTED = re.compile(r"""\s*(['"«“„‘]?)\|(['"»”“’]?)\s*""")


def has_words(src: str) -> bool:
    """English words in a regex source (names of groups and escapes aside)."""
    return bool(WORDS.search(re.sub(r"\\.|\(\?P<\w+>|\(\?P=\w+\)", "", src)))


class Learner:
    def __init__(self, prefixes: dict[str, Message], errnos: list[str], nested: Nested):
        self.prefixes = prefixes
        self.errnos = sorted(errnos, key=lambda e: (-len(e), e))
        self.errno_re = re.compile("|".join(esc(e) for e in self.errnos))
        self.nested = nested
        self.messages: dict[str, Message] = {}
        self.rejected: Counter[str] = Counter()
        self.details: list[str] = []

    def reject(self, why: str, sig: Signature, msg: Message, line: str) -> None:
        self.rejected[why] += 1
        self.details.append(f"{sig.id} {msg.key}: {why}: {line.strip()[:150]}")

    def split_prefixes(self, text: str) -> list[str] | None:
        """'error: internal error: ' -> ['virsh_error_prefix', 'err_prefix_internal']."""
        found: list[str] = []
        rest = text
        while rest.strip():
            for key, msg in sorted(self.prefixes.items(), key=lambda kv: (-len(str(kv[1].parts[0])), kv[0])):
                lit = str(msg.parts[0])
                if rest.lower().startswith(lit.lower()):
                    found.append(key)
                    rest = rest[len(lit) :]
                    break
            else:
                return None
        return found

    def observe(
        self, sig: Signature, pattern: re.Pattern[str], msg: Message, line: str, others: list[Message]
    ) -> Plan | None:
        m = pattern.search(line)
        if not m:
            return None
        t = msg.regex.search(line, m.start()) or msg.regex.search(line)
        if not t:
            return None
        parts = msg.parts
        last = len(parts) - 1
        spans = {i: t.span(f"p{i}") for i, p in enumerate(parts) if isinstance(p, Ph)}
        lits: list[tuple[int, int]] = []
        for i, p in enumerate(parts):
            if isinstance(p, str):
                start = t.start() if i == 0 else spans[i - 1][1]
                lits.append((start, start + len(p)))
        core = (lits[0][0], lits[-1][0] + len(line[lits[-1][0] : lits[-1][1]].rstrip()))
        overlap = min(m.end(), core[1]) - max(m.start(), core[0])
        if overlap < min(core[1] - core[0], 12):
            return None
        captures = {k: m.span(k) for k in pattern.groupindex if m.start(k) >= 0 and m.group(k).strip()}
        names: dict[int, str] = {}
        wraps: dict[int, tuple[str, str]] = {}
        fixed: dict[str, str] = {}
        for name, (cs, ce) in sorted(captures.items(), key=lambda kv: kv[1]):
            for i, (ps, pe) in spans.items():
                arg = parts[i].arg  # type: ignore[union-attr]
                if (
                    (cs, ce) == (ps, pe)
                    or (i == last and cs == ps and ce <= pe)
                    or (line[cs:ce].strip() == line[ps:pe].strip() and cs < pe and ps < ce)
                ):
                    names.setdefault(arg, name)
                    break
                if ps <= cs and ce <= pe and arg not in names and QUOTED.fullmatch(line[ps:cs] + "|" + line[ce:pe]):
                    names[arg] = name  # the message prints the value in quotes of its own: 'default'
                    wraps[arg] = (line[ps:cs], line[ce:pe])
                    break
            else:
                if any(ls <= cs and ce <= le for ls, le in lits):
                    fixed[name] = line[cs:ce].strip()
        # where the message ends, for what the pattern wants after it
        end = t.end()
        wrapper = None
        if isinstance(parts[last], Ph):
            ps, pe = spans[last]
            arg = parts[last].arg
            if arg in names:
                end = captures[names[arg]][1]
            elif m.end() <= ps or ps == pe:
                end = ps
            else:  # the pattern goes on into the text printed there (ssh's stderr, an inner message)
                inner = [o for o in others if o.key != msg.key and o.regex.search(line[ps:pe])]
                pos = find_spelled(pattern.pattern, parts[0]) if len(spans) == 1 and isinstance(parts[0], str) else None
                rest = pattern.pattern[pos:] if pos is not None else None
                if rest is None or (has_words(rest) and (inner or self.nested.keys_for(line[ps:pe]))):
                    self.reject("pattern continues into a message's placeholder", sig, msg, line)
                    return None
                wrapper = (arg, rest, m.end() >= pe)
        values = {parts[i].arg: line[ps:pe] for i, (ps, pe) in spans.items()}  # type: ignore[union-attr]
        for arg, name in names.items():
            if arg not in wraps:
                values[arg] = line[captures[name][0] : captures[name][1]]
        # what the pattern requires before the message: error-code prefixes
        prefixes: list[tuple[str, bool]] = []
        if m.start() < t.start():
            found = self.split_prefixes(line[m.start() : t.start()])
            if found is None:
                self.reject("text required before the message", sig, msg, line)
                return None
            required = pattern.search(line[: m.start()] + line[t.start() :]) is None
            prefixes = [(key, required) for key in found]
        # what it requires after: a system error
        tail = None
        suffix: tuple[str, str] | None = None
        if m.end() > end and not wrapper:
            text = line[end : m.end()]
            sep = re.match(r"\s*:\s*", text)
            em = self.errno_re.match(text, sep.end()) if sep else None
            without = line[:end] + line[m.end() :]
            if not em or text[em.end() :].strip(" .)'\""):
                if pattern.search(without) is None:
                    rest = source_after_message(pattern.pattern, parts, names)
                    if rest is None or not appended_detail(rest):
                        self.reject("text other than a system error required after the message", sig, msg, line)
                        return None
                    suffix = (rest, text)
            else:
                errno = em.group(0)
                accepted = []
                for cand in self.errnos:
                    tm = pattern.search(line[:end] + ": " + cand + line[m.end() :])
                    if tm and tm.end() >= end + 1 + len(cand):
                        accepted.append(cand)
                name = next((n for n, (cs, ce) in captures.items() if cs >= end and line[cs:ce].strip() == errno), None)
                body = None
                if len(accepted) > MAX_ERRNO_ALTERNATIVES and not all(e in pattern.pattern for e in accepted):
                    body = capture_body(pattern.pattern, name) if name else None
                    accepted = sorted({errno, *(e for e in accepted if e in pattern.pattern)})
                tail = Tail(tuple(sorted(accepted)), pattern.search(without) is None, name, body, errno)
        # placeholders the pattern covers without capturing them
        free: dict[int, Free] = {}
        names_inside: list[str] = []
        base = {k: m.group(k) for k in captures}
        for i, (ps, pe) in spans.items():
            arg = parts[i].arg  # type: ignore[union-attr]
            if arg in names or (wrapper and arg == wrapper[0]) or pe <= m.start() or ps >= m.end() or ps == pe:
                continue
            required = []
            for k in range(ps, min(pe, m.end())):
                trial = line[:k] + shift(line[k]) + line[k + 1 :]
                tm = pattern.search(trial)
                same = tm is not None and all(
                    tm.group(n) == base[n] for n, (cs, ce) in captures.items() if not cs <= k < ce
                )
                required.append(not same)
            inside = {n: (cs, ce) for n, (cs, ce) in captures.items() if ps <= cs and ce <= min(pe, m.end())}
            if not any(required) and not inside:
                continue
            pieces: list[tuple[str, str]] = []
            k = ps
            while k < min(pe, m.end()):
                cap = next((n for n, (cs, _ce) in inside.items() if cs == k), None)
                if cap:
                    pieces.append(("cap", cap))
                    k = inside[cap][1]
                elif required[k - ps] and (line[k].isalnum() or line[k] in "/-_.:'\""):
                    if pieces and pieces[-1][0] == "lit":
                        pieces[-1] = ("lit", pieces[-1][1] + line[k])
                    else:
                        pieces.append(("lit", line[k]))
                    k += 1
                else:
                    if not pieces or pieces[-1][0] != "any":
                        pieces.append(("any", ""))
                    k += 1
            if min(pe, m.end()) < pe and (not pieces or pieces[-1][0] != "any"):
                pieces.append(("any", ""))
            # a piece of punctuation alone says nothing: free text
            pieces = [pc if pc[0] != "lit" or any(ch.isalnum() for ch in pc[1]) else ("any", "") for pc in pieces]
            pieces = [pc for i, pc in enumerate(pieces) if not (pc[0] == "any" and i and pieces[i - 1][0] == "any")]
            whole = all(required) and len(required) == pe - ps and not inside
            if not whole and not any(kind != "any" for kind, _ in pieces):
                continue
            nested = self.nested.keys_for(line[ps:pe]) if whole else ()
            for name in inside:
                names_inside.append(name)
            free[arg] = Free(tuple(pieces), whole, nested)
        bodies = {}
        for name in [*names.values(), *names_inside]:
            body = capture_body(pattern.pattern, name)
            if body is None:
                return None
            bodies[name] = body
        expected = {
            name: line[captures[name][0] : captures[name][1]].strip() for name in [*names.values(), *names_inside]
        }
        if wrapper:
            for name, (cs, _ce) in captures.items():
                if cs >= spans[last][0]:
                    expected.setdefault(name, m.group(name).strip())
        if tail and tail.name:
            expected[tail.name] = tail.example
        if suffix:
            for name, (cs, _ce) in captures.items():
                if cs >= end:
                    expected.setdefault(name, m.group(name).strip())
        close: dict[int, str] = {}
        for i, p in enumerate(parts):
            if isinstance(p, Ph) and i + 1 < len(parts) and isinstance(parts[i + 1], str):
                close[p.arg] = str(parts[i + 1])[:1]
        sentences = None
        if m.end() < core[1] and re.match(r"[.;]\s", line[m.end() : core[1]]):
            sentences = len(re.findall(r"[.;?!](?:\s|$)", line[core[0] : m.end() + 1]))
            sentences = max(sentences, 1)
        span = (min(m.start(), t.start()), max(m.end(), t.end()))
        lost = sorted(
            name
            for name, (cs, _ce) in captures.items()
            if name not in expected and name not in fixed and not (suffix and cs >= end)
        )
        return Plan(
            span=span,
            sig=sig.id,
            key=msg.key,
            pattern=pattern.pattern,
            names=names,
            bodies=bodies,
            free=free,
            values=values,
            close=close,
            expected=expected,
            fixed=fixed,
            prefixes=tuple(prefixes),
            tail=tail,
            wrapper=wrapper,
            sentences=sentences,
            line=line,
            suffix=suffix,
            wraps=wraps,
            lost=tuple(lost),
        )


class Nested:
    """libvirt messages printed inside other messages or captured as a value ("exit status 2" in
    "Child process (...) unexpected %s", "QEMU guest agent is not connected" after "Guest agent is
    not responding: "): every msgid libvirt translates, to find them and their translations."""

    def __init__(self, sources: Sources, skip: set[str]):
        self.sources = sources
        self.tsv = {normalize(m.template): m for k, m in sources.messages.items() if k not in skip}
        norms = set(self.tsv)
        for table in sources.mos.values():
            norms.update(table)
        self.entries: list[tuple[str, list[Part], str]] = []
        for norm in sorted(norms):
            parts = parse_format(norm)
            lit = longest_literal(parts)
            if len(lit) >= 4 and literal_letters(parts) >= 6:
                self.entries.append((norm, parts, lit))
        self.compiled: dict[str, re.Pattern[str]] = {}

    def keys_for(self, text: str) -> tuple[str, ...]:
        """The msgids that print exactly this text."""
        text = text.strip()
        if len(text) < 6:
            return ()
        found = []
        for norm, parts, lit in self.entries:
            if lit in text:
                rx = self.compiled.get(norm) or self.compiled.setdefault(norm, english_regex(parts, whole=True))
                if rx.match(text):
                    found.append(norm)
        return tuple(found)

    def translations(self, norms: tuple[str, ...], text: str, lang: str) -> list[str]:
        found: list[str] = []
        for norm in norms:
            m = self.compiled[norm].match(text.strip())
            if not m:
                continue
            parts = parse_format(norm)
            values = {p.arg: m.group(f"p{i}") for i, p in enumerate(parts) if isinstance(p, Ph)}
            msgstrs = []
            if norm in self.sources.mos.get(lang, {}):
                msgstrs.append(self.sources.mos[lang][norm])
            if norm in self.tsv:
                msgstrs += [t for t, _o in self.tsv[norm].translations.get(lang, [])]
            for msgstr in msgstrs:
                local = format_parts(parse_format(msgstr), values)
                if local != text.strip() and local not in found:
                    found.append(local)
        return found


# ---------------------------------------------------------------------------------------------
# rendering one translation


BOUNDARY = r"(?:^|(?<=[\s:：'\"(（「“«]))"
SENTENCE = re.compile(r".*?(?:[。．.;；!！?？](?=\s|$|[^\x00-\x7f])|$)")


@dataclass
class Built:
    regex: str
    lines: list[tuple[str, dict[str, str]]]  # synthetic localized lines and the captures each must give


def spaced(prefix: str) -> str:
    """A prefix as printed before the message: 'エラー:' + ' ' (a full-width colon needs none)."""
    return prefix if prefix.endswith((" ", "：")) else prefix + " "


class Renderer:
    def __init__(self, lang: str, libc: dict[str, str], prefixes: dict[str, Message], nested: Nested):
        self.lang = lang
        self.libc = libc  # English system error -> translation
        self.prefixes = prefixes
        self.nested = nested
        self.local_prefix: dict[str, str] = {}
        for key, msg in prefixes.items():
            for text, _origin in msg.translations.get(lang, []):
                head = parse_format(text)
                if head and isinstance(head[0], str) and (head[0].rstrip().endswith((":", "：")) or len(head) == 2):
                    self.local_prefix[key] = head[0]
                    break
        self.virsh_error = spaced(self.local_prefix.get("virsh_error_prefix", "error:"))
        self.values: dict[str, str] = {}  # translated libvirt texts used as capture values -> English

    def errno_local(self, english: str) -> str | None:
        text = self.libc.get(english)
        return text if text and text != english else None

    def localize_errnos(self, src: str, only_local: bool = False) -> str:
        """English system errors spelled out in a pattern accept glibc's translation too (only it,
        for a variant of an English pattern: the English one already matches the English text)."""
        for english in sorted(self.libc, key=lambda e: (-len(e), e)):
            local = self.errno_local(english)
            spelled = esc(english)
            if local and spelled in src:
                both = f"(?:{spelled}|{esc(local)})"
                # inside a negative lookahead the English text must stay excluded: both, even for a variant
                vetoes = negative_lookaheads(src)

                def replacement(m: re.Match[str], local: str = esc(local), both: str = both,
                                vetoes: list[tuple[int, int]] = vetoes) -> str:
                    inside = any(start <= m.start() < end for start, end in vetoes)
                    return local if only_local and not inside else both

                # only where a system error is printed: after ": ", or as an alternative of a group
                text = re.escape(spelled)
                where = rf"(?:(?<=: )|(?<=:\\s)|(?<=[|>])|(?<=\(\?:)|^(?={text}$)){text}(?![\w])"
                src = re.sub(where, replacement, src)
        return src

    def localize_values(self, src: str) -> str:
        """A capture whose alternatives are libvirt messages ("QEMU guest agent is not connected")
        accepts their translations too."""

        def one(m: re.Match[str]) -> str:
            text = m.group(0)
            if re.search(r"[\\\[\]{}*+?.^$]", text) or len(text) < 8:
                return text
            local = self.nested.translations(self.nested.keys_for(text), text, self.lang)
            if not local:
                return text
            for item in local:
                self.values[item] = text
            return "(?:" + "|".join(esc(x) for x in [text, *local]) + ")"

        return re.sub(r"(?<=[>|])[^|()]+(?=[|)])", one, src)

    def prefix(self, key: str, strict: bool) -> tuple[str, str]:
        english = str(self.prefixes[key].parts[0]).rstrip(": ")
        local = self.local_prefix.get(key)
        alts = {esc(english): None}
        if local and local.strip(" :："):
            alts[render_literal(local.rstrip(" :："), strict)] = None
        body = "|".join(sorted(alts, key=lambda a: (-len(a), a)))
        return rf"(?:{body})\s*[:：]?\s*", (local or english + ":")

    def build(self, plan: Plan, msgstr: str, strict: bool) -> Built | str:
        parts = parse_format(msgstr)
        if not {p.arg for p in parts if isinstance(p, Ph)} <= set(plan.values):
            return "the translation has placeholders the msgid lacks"
        if plan.sentences and len(parts) == 1 and isinstance(parts[0], str):
            kept = "".join(SENTENCE.findall(parts[0])[: plan.sentences]).strip()
            parts = [kept.rstrip("。．.;； ")]
        has_tail = bool(plan.suffix) or (plan.tail is not None and (plan.tail.required or plan.tail.name is not None))
        last = len(parts) - 1
        out: list[str] = []
        text: list[str] = []  # the synthetic line
        used: set[str] = set()
        free_text = False
        for i, part in enumerate(parts):
            if isinstance(part, str):
                out.append(render_literal(part, strict))
                text.append(part)
                continue
            value = plan.values.get(part.arg, "x")
            trailing = i == last and not has_tail
            following = str(parts[i + 1]).lstrip()[:1] if i + 1 < len(parts) else ""
            if part.arg in plan.names:
                name = plan.names[part.arg]
                body = adapt_quotes(plan.bodies[name], plan.close.get(part.arg, ""), following)
                body = self.localize_values(self.localize_errnos(rename_used(body, used)))
                if part.arg in plan.wraps:
                    before, after = plan.wraps[part.arg]
                    body = esc(before) + body + esc(after)
                used.update(g.name for g in scan_groups(body) if g.name)
                out.append(delazy(body) if trailing else body)
            elif plan.wrapper and part.arg == plan.wrapper[0]:
                rest = self.localize_errnos(rename_used(plan.wrapper[1], used))
                used.update(g.name for g in scan_groups(rest) if g.name)
                out.append(rest if i == last or plan.wrapper[2] else rest + ".*?")
            elif part.arg in plan.free:
                free = plan.free[part.arg]
                if free.whole:
                    alts = {esc(value): None}
                    for local in self.nested.translations(free.nested, value, self.lang):
                        alts[esc(local)] = None
                        value = local
                    out.append(
                        f"(?:{'|'.join(sorted(alts, key=lambda a: (-len(a), a)))})" if len(alts) > 1 else esc(value)
                    )
                else:
                    rendered = []
                    for kind, piece in free.pieces:
                        if kind == "lit":
                            rendered.append(esc(piece))
                        elif kind == "cap":
                            body = self.localize_errnos(rename_used(plan.bodies[piece], used))
                            used.update(g.name for g in scan_groups(body) if g.name)
                            rendered.append(body)
                        else:
                            rendered.append(".*?")
                    if trailing and rendered and rendered[-1] == ".*?":
                        rendered.pop()
                    out.append("".join(rendered))
            elif i == 0 or trailing:
                free_text = free_text or i == 0
            elif part.conv in NUMERIC:
                out.append(r"-?\d+")
            else:
                before = str(parts[i - 1])[-1:] if i > 0 else ""
                close = QUOTES.get(before, "")
                out.append(f"[^{esc(close)}]*" if close and following == close else ".*?")
            text.append(value)
        regex = "".join(out)
        for lead in (r"\s*[:：]\s*", r"\s?", r"\s*", r"\s+", " "):
            if free_text and regex.startswith(lead):
                regex = regex[len(lead) :]
        regex = regex.lstrip(" ")
        line = "".join(text)
        head = ""
        line_head = ""
        for key, required in plan.prefixes:
            piece, local = self.prefix(key, strict)
            head += piece if required else f"(?:{piece})?"
            line_head += spaced(local)
        regex = head + regex
        if not head and not free_text and (parts and isinstance(parts[0], Ph)):
            # a capture first: it starts a word, and is not virsh's "error:" glued to it ("错误：")
            regex = BOUNDARY + f"(?!{esc(self.virsh_error.strip())})" + regex
        expected = {k: v for k, v in plan.expected.items() if not (plan.tail and k == plan.tail.name)}
        variants: list[tuple[str, dict[str, str]]] = [("", {})]
        if plan.tail and has_tail:
            alts: dict[str, None] = {}
            local_example = None
            for english in plan.tail.errnos:
                alts[esc(english)] = None
                local = self.errno_local(english)
                if local:
                    alts[esc(local)] = None
                    if english == plan.tail.example:
                        local_example = local
            if plan.tail.body:
                alts[rename_used(plan.tail.body, {plan.tail.name or ""})] = None
            body = "|".join(sorted(alts, key=lambda a: (-len(a), a)))
            name = plan.tail.name if plan.tail.name and plan.tail.name not in used else None
            group = f"(?P<{name}>{body})" if name else f"(?:{body})"
            piece = rf"\s*[:：]\s*{group}"
            regex += piece if plan.tail.required else f"(?:{piece})?"
            variants = [(": " + plan.tail.example, {name: plan.tail.example} if name else {})]
            if local_example:
                variants.append((": " + local_example, {name: local_example} if name else {}))
        if plan.suffix:
            rest = self.localize_errnos(rename_used(plan.suffix[0], used))
            regex += rest
            variants = [(plan.suffix[1], {})]
        lines = [(self.virsh_error + line_head + line + tail, {**expected, **caps}) for tail, caps in variants]
        return Built(regex, lines)


def errno_variant(renderer: Renderer, pattern: re.Pattern[str], lines: list[str]) -> Built | None:
    """An English pattern whose system error may be printed translated: libvirt messages that are
    not translated (yet) are printed in English, followed by glibc's translated strerror."""
    src = renderer.localize_errnos(pattern.pattern, only_local=True)
    if src == pattern.pattern:
        return None
    checks: list[tuple[str, dict[str, str]]] = []
    for line in lines:
        m = pattern.search(line)
        if not m:
            continue
        text = m.group(0)
        for english, local in renderer.libc.items():
            if english in text and esc(english) in pattern.pattern:
                text = text.replace(english, local)
        if text == m.group(0):
            continue
        expected = {k: v.strip() for k, v in m.groupdict().items() if v and v.strip()}
        for k, v in list(expected.items()):
            for english, local in renderer.libc.items():
                if v == english:
                    expected[k] = local
        checks.append((line[: m.start()] + text + line[m.end() :], expected))
    return Built(src, checks)


def check(built: Built, min_literal: int = MIN_LITERAL) -> str:
    """'' if a localized pattern is usable, else why not."""
    try:
        compiled = re.compile(built.regex)
    except re.error as exc:
        return f"does not compile ({exc})"
    if len(required_literal(compiled).strip()) < min_literal:
        return f"no literal of {min_literal}+ characters"
    if built.regex.startswith("(?P<"):
        return "starts with a capture group"
    for line, expected in built.lines:
        m = compiled.search(line)
        if not m:
            return f"does not match its synthetic line {line!r}"
        got = {k: v.strip() for k, v in m.groupdict().items() if v and v.strip()}
        for key, value in expected.items():
            if got.get(key) != value:
                return f"gives {key}={got.get(key)!r}, not {value!r}, on {line!r}"
    return ""


# ---------------------------------------------------------------------------------------------
# main


def english_catalog() -> catalog_mod.Catalog:
    """The catalog without generated localized patterns."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "knowledge"
        (target / "generated").mkdir(parents=True)
        for path in (ROOT / "knowledge").glob("*.toml"):
            shutil.copy(path, target / path.name)
        return catalog_mod.load(target, as_written=True)


def example_lines(sig: Signature) -> list[str]:
    texts = [e.text for e in sig.examples]
    for case in sorted(PASTES.glob("*.toml")):
        expected = tomllib.loads(case.read_text(encoding="utf-8"))
        if expected.get("id") == sig.id and case.with_suffix(".txt").exists():
            texts.append(case.with_suffix(".txt").read_text(encoding="utf-8"))
    lines: list[str] = []
    for text in texts:
        for line in paste.paste_lines(text):
            if not line.join_at and line.text not in lines:
                lines.append(line.text)
    return lines


def toml_string(text: str) -> str:
    if "'''" not in text and not text.endswith("'") and not any(ord(c) < 32 for c in text):
        return f"'''{text}'''"
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    out = "".join(f"\\u{ord(c):04x}" if ord(c) < 32 else c for c in out)
    return f'"{out}"'


@dataclass
class Sources:
    langs: list[str]
    messages: dict[str, Message]
    libc: dict[str, dict[str, str]]
    universe: dict[str, tuple[str, list[Part]]]  # normalized msgid -> (key, parts), every msgid known
    origin: str
    mos: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> normalized msgid -> msgstr


def load_sources(tsv: Path, locale_dir: Path, langs: list[str]) -> Sources:
    origin = f"libvirt-l10n {package_version('libvirt-l10n')} libvirt.mo"
    mos: dict[str, dict[str, str]] = {}
    libc: dict[str, dict[str, str]] = {}
    errnos = glibc_errnos()
    for lang in langs:
        mo = locale_dir / lang / "LC_MESSAGES" / "libvirt.mo"
        mos[lang] = load_mo(mo) if mo.exists() else {}
        if not mos[lang]:
            print(f"warning: no {mo} (install libvirt-l10n)", file=sys.stderr)
        libc_mo = locale_dir / lang / "LC_MESSAGES" / "libc.mo"
        table = load_mo(libc_mo) if libc_mo.exists() else {}
        if not table:
            print(f"warning: no {libc_mo} (install libc-l10n): system errors stay English", file=sys.stderr)
        libc[lang] = {e: table[e] for e in errnos if table.get(e) and table[e] != e}
    sources = Sources(langs, {}, libc, {}, origin, mos)
    rows = list(csv.DictReader(tsv.open(encoding="utf-8"), delimiter="\t"))
    universe: dict[str, tuple[str, list[Part]]] = {}
    for row in rows:
        msg = add_message(sources, mos, row["key"], row["template"], row)
        if msg and not is_prefix_key(msg.key):
            universe.setdefault(normalize(row["template"]), (msg.key, msg.parts))
    for lang in langs:
        for norm in mos[lang]:
            if norm not in universe:
                universe[norm] = (f"msgid:{norm}", parse_format(norm))
    sources.universe = {
        norm: (key, parts)
        for norm, (key, parts) in sorted(universe.items())
        if literal_letters(parts) >= MIN_TEMPLATE_LETTERS and len(longest_literal(parts)) >= DISCOVER_MIN_LITERAL
    }
    return sources


def is_prefix_key(key: str) -> bool:
    return key.startswith("err_prefix_") or key == "virsh_error_prefix"


def add_message(
    sources: Sources, mos: dict[str, dict[str, str]], key: str, template: str, row: dict[str, str] | None
) -> Message | None:
    english = clean_template(template)
    parts = parse_format(english)
    if not parts or (literal_letters(parts) < MIN_TEMPLATE_LETTERS and not is_prefix_key(key)):
        return None
    msg = Message(key, english, parts, english_regex(parts))
    norm = normalize(template)
    for lang in sources.langs:
        found: list[tuple[str, str]] = []
        if norm in mos[lang]:
            found.append((mos[lang][norm], sources.origin))
        if row and row.get(lang):
            text = clean_template(row[lang])
            if all(normalize(text) != normalize(f) for f, _ in found):
                found.append((text, TSV_ORIGIN))
        msg.translations[lang] = [(s, o) for s, o in found if normalize(s) != norm]
    sources.messages[key] = msg
    return msg


def discover(
    sources: Sources,
    patterns: tuple[re.Pattern[str], ...],
    lines: list[str],
    keys: list[str],
    bare: set[str],
    learner: Learner,
) -> list[str]:
    """libvirt msgids an example prints where the signature's patterns match, not listed yet."""
    found: list[str] = []
    scores: dict[tuple[str, int, str], list[tuple[int, str]]] = {}
    mos = sources.mos
    listed = {normalize(sources.messages[k].template) for k in keys}
    for line in lines:
        matches = [pm for pm in (p.search(line) for p in patterns) if pm]
        if not matches:
            continue
        for norm, (key, parts) in sources.universe.items():
            if norm in listed or norm in bare or longest_literal(parts) not in line:
                continue
            msg = sources.messages.get(key) or add_message(sources, mos, key, norm, None)
            tm = msg.regex.search(line) if msg else None
            if not msg or not tm:
                continue
            first = tm.start() + (0 if isinstance(parts[0], str) else len(tm.group("p0")))
            literal_spans = []
            pos = tm.start()
            for i, part in enumerate(parts):
                if isinstance(part, str):
                    literal_spans.append((pos, pos + len(part)))
                    pos += len(part)
                else:
                    pos = tm.end(f"p{i}")
            for pm in matches:
                # the message's own words must be most of what the pattern matched after its start,
                # not counting values the pattern captures where the message has a placeholder
                overlap = sum(max(0, min(pm.end(), e) - max(pm.start(), s)) for s, e in literal_spans)
                captured = [pm.span(n) for n in pm.re.groupindex if pm.start(n) >= 0]
                holes = [tm.span(f"p{i}") for i, part in enumerate(parts) if isinstance(part, Ph)]
                values = {line[cs:ce].strip(" '\"") for cs, ce in captured}
                holes = [(max(hs, first), min(he, pm.end()), line[hs:he].strip(" '\"")) for hs, he in holes]
                covered = (
                    pm.end()
                    - max(pm.start(), first)
                    - sum(he - hs for hs, he, text in holes if he > hs and text in values)
                )
                after_prefix = first > pm.start() and learner.split_prefixes(line[pm.start() : first])
                if (abs(first - pm.start()) <= 1 or after_prefix) and overlap >= max(12, 0.5 * covered):
                    best = scores.setdefault((line, pm.start(), pm.re.pattern), [])
                    best.append((overlap, key))
                    break
    # several libvirt versions' wordings of one message all count ("... domain '%s'" / "... domain %s")
    found = sorted(
        {key for best in scores.values() for overlap, key in best if overlap >= max(o for o, _ in best) - 3},
        key=lambda k: (k.startswith("msgid:"), k),
    )
    # a listed key that says more on the same line wins over a discovered msgid (not an error-code
    # prefix: the message it wraps is what it says)
    for (line, _start, source), best in scores.items():
        pm = re.compile(source).search(line)
        for key in (k for k in keys if not is_prefix_key(k)):
            tm = sources.messages[key].regex.search(line, pm.start()) if pm else None
            if tm and tm.start() == pm.start():
                lit = sum(len(p) for p in sources.messages[key].parts if isinstance(p, str))
                found = [k for k in found if not any(k == b and o < lit for o, b in best)]
    # a msgid that is the start of a longer one also printed there ("... host" / "... host %s") is not it
    longer = {k: str(sources.messages[k].parts[0]) for k in found + keys}
    return [
        k
        for k in found
        if not any(
            o != k
            and longer[o].startswith(sources.messages[k].template.rstrip())
            and len(sources.messages[o].template) > len(sources.messages[k].template)
            for o in longer
        )
    ]


# ---------------------------------------------------------------------------------------------
# localized copies of the examples, for tests/test_localized.py

EXAMPLES_PER_LANG = 2


def example_texts(sig: Signature) -> list[str]:
    texts = [e.text for e in sig.examples]
    for case in sorted(PASTES.glob("*.toml")):
        expected = tomllib.loads(case.read_text(encoding="utf-8"))
        if expected.get("id") == sig.id and case.with_suffix(".txt").exists():
            texts.append(case.with_suffix(".txt").read_text(encoding="utf-8"))
    return texts


def cleaned(line: str) -> str:
    found = paste.paste_lines(line)
    return found[0].text if found else ""


class Translator:
    """Puts a paste's other lines into the language too, where a whole line is one libvirt message
    ("error: Failed to start domain 'web01'"), as virsh would print them."""

    def __init__(self, renderer: Renderer, nested: Nested):
        self.renderer = renderer
        self.nested = nested

    def line(self, text: str) -> str:
        m = re.match(r"^(\s*(?:error|ERROR|Error): )(.*?)(\s*)$", text)
        if not m:
            return text
        body = m.group(2)
        head = ""
        for key, msg in sorted(self.renderer.prefixes.items(), key=lambda kv: (-len(str(kv[1].parts[0])), kv[0])):
            lit = str(msg.parts[0])
            if key != "virsh_error_prefix" and body.startswith(lit) and len(body) > len(lit):
                head = spaced(self.renderer.local_prefix.get(key, lit.rstrip()))
                body = body[len(lit) :]
                break
        tail = ""
        em = re.search(r": ([A-Z][A-Za-z /-]+)$", body)
        if em and em.group(1) in self.renderer.libc:
            tail = ": " + self.renderer.libc[em.group(1)]
            body = body[: em.start()]
        local = self.nested.translations(self.nested.keys_for(body), body, self.renderer.lang)
        if not local:
            return text
        return self.renderer.virsh_error + head + local[0] + tail + m.group(3)


def localize_text(
    text: str, english_line: str, replacement: str, span: tuple[int, int], translator: Translator
) -> str | None:
    """The example with its matching line put into the language, and its other lines too."""
    out = []
    done = False
    for physical in text.split("\n"):
        if not done and cleaned(physical) == english_line:
            pos = physical.find(english_line)
            if pos < 0:
                return None
            start, end = pos + span[0], pos + span[1]
            before = physical[:start]
            virsh = re.search(r"(?:^|\s)(error: )$", before)
            if virsh:
                before = before[: virsh.start(1)] + translator.renderer.virsh_error
            out.append(before + replacement + physical[end:])
            done = True
        else:
            out.append(translator.line(physical))
    return "\n".join(out) if done else None


def build_examples(
    catalog, sources: Sources, prefixes, nested: Nested, built_for, langs: list[str]
) -> list[dict[str, object]]:
    examples: list[dict[str, object]] = []

    for lang in langs:
        renderer = Renderer(lang, sources.libc[lang], prefixes, nested)
        translator = Translator(renderer, nested)
        for sig in catalog.signatures:
            texts = example_texts(sig)
            chosen: dict[str, int] = Counter()
            keys_done: set[tuple[str, str]] = set()
            for plan, built in sorted(
                built_for.get((sig.id, lang), []), key=lambda pb: (pb[0].key, pb[0].pattern, pb[1].regex)
            ):
                text = next((t for t in texts if any(cleaned(x) == plan.line for x in t.split("\n"))), None)
                if text is None or plan.lost:
                    continue
                variants = [("localized", built.lines[-1][0])]
                if len(built.lines) > 1:
                    variants.append(("mixed", built.lines[0][0]))
                for variant, synthetic in variants:
                    if chosen[variant] >= EXAMPLES_PER_LANG or (plan.key, variant) in keys_done:
                        continue
                    replacement = synthetic[len(renderer.virsh_error) :]
                    localized = localize_text(text, plan.line, replacement, plan.span, translator)
                    if localized is None or localized == text:
                        continue
                    chosen[variant] += 1
                    keys_done.add((plan.key, variant))
                    examples.append(
                        {
                            "signature": sig.id,
                            "lang": lang,
                            "variant": variant,
                            "key": plan.key,
                            "text": localized,
                            "english": text,
                            "fixed": sorted(plan.fixed),
                        }
                    )
            # an English message with the system error translated
            for pattern in map(compiled, sig.patterns):
                if chosen["strerror"] or not english_core(pattern):
                    continue
                built = errno_variant(renderer, pattern, [cleaned(x) for t in texts for x in t.split("\n")])
                if built is None or not built.lines or check(built):
                    continue
                line, _expected = built.lines[0]
                for text in texts:
                    physical = [x for x in text.split("\n")]
                    for i, x in enumerate(physical):
                        m = pattern.search(cleaned(x))
                        if m and cleaned(x) != line and pattern.search(x):
                            localized_line = x
                            for english, local in renderer.libc.items():
                                if english in m.group(0) and esc(english) in pattern.pattern:
                                    localized_line = localized_line.replace(english, local)
                            if localized_line != x:
                                localized = "\n".join([*physical[:i], localized_line, *physical[i + 1 :]])
                                examples.append(
                                    {
                                        "signature": sig.id,
                                        "lang": lang,
                                        "variant": "strerror",
                                        "key": "strerror",
                                        "text": localized,
                                        "english": text,
                                        "fixed": [],
                                    }
                                )
                                chosen["strerror"] += 1
                                break
                    if chosen["strerror"]:
                        break
    return examples


def multiline(text: str) -> str:
    """A TOML string for a paste: a literal multi-line string when it can be one, exactly."""
    ok = "'''" not in text and not text.endswith("'") and not any(ord(c) < 32 and c not in "\n\t" for c in text)
    return f"'''\n{text}'''" if ok else toml_string(text)


def render_examples(examples: list[dict[str, object]]) -> str:
    out = [
        "# Generated by scripts/gen_l10n.py: each signature's English examples with the line its pattern",
        "# matches put into another language the way libvirt prints it (variant = localized: message and",
        "# system error translated; mixed: translated message, English system error; strerror: English",
        "# message, translated system error). tests/test_localized.py checks each gives the signature at",
        "# rank 1 with the captures of the English example. Do not edit by hand.",
        "",
    ]
    for ex in sorted(
        examples, key=lambda e: (str(e["signature"]), lang_order(str(e["lang"])), str(e["variant"]), str(e["key"]))
    ):
        out.append("[[example]]")
        for key in ("signature", "lang", "variant", "key"):
            out.append(f"{key:9} = {toml_string(str(ex[key]))}")
        fixed = ex.get("fixed") or []
        if fixed:
            out.append("fixed     = [" + ", ".join(toml_string(str(f)) for f in fixed) + "]")  # type: ignore[union-attr]
        for key in ("text", "english"):
            value = str(ex[key])
            out.append(f"{key:9} = {multiline(value)}")
        out.append("")
    text = "\n".join(out).rstrip() + "\n"
    parsed = tomllib.loads(text).get("example", [])
    assert len(parsed) == len(examples)
    return text


def compiled(pattern: object) -> re.Pattern[str]:
    """A catalog pattern as a compiled regex (the catalog may hand out a lazily compiled wrapper)."""
    return pattern if isinstance(pattern, re.Pattern) else pattern.compiled  # type: ignore[attr-defined]


def english_core(pattern: object) -> bool:
    """An English pattern (not one already written for a translation)."""
    literal = required_literal(compiled(pattern))
    return literal.isascii() and bool(re.search(r"[A-Za-z]{4}", pattern.pattern))


def learn(
    learner: Learner, sig: Signature, patterns: tuple[re.Pattern[str], ...], keys: list[str], lines: list[str]
) -> list[Plan]:
    messages = learner.messages
    others = [messages[k] for k in keys]
    seen: set[tuple] = set()
    plans: list[Plan] = []
    for key in keys:
        for pattern in patterns:
            for line in lines:
                plan = learner.observe(sig, pattern, messages[key], line, others)
                if plan and plan.identity() not in seen:
                    seen.add(plan.identity())
                    plans.append(plan)
    return plans


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tsv", type=Path, default=TSV)
    ap.add_argument("--locale-dir", type=Path, default=LOCALE_DIR)
    ap.add_argument("--langs", default=",".join(LANGS))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--examples", type=Path, default=EXAMPLES, help="localized copies of the examples, for the tests")
    ap.add_argument("--check", action="store_true", help="exit 1 if --out is not what would be written")
    ap.add_argument("-v", "--verbose", action="store_true", help="say why each dropped pattern was dropped")
    opts = ap.parse_args()
    langs = [lang for lang in opts.langs.split(",") if lang]
    sources = load_sources(opts.tsv, opts.locale_dir, langs)
    messages = sources.messages
    prefixes = {
        k: m
        for k, m in messages.items()
        if is_prefix_key(k)
        and isinstance(m.parts[0], str)
        and (m.parts[0].rstrip().endswith(":") or (m.parts[0].endswith(" ") and len(m.parts) == 2))
        and len(m.parts) <= 2
        and all(isinstance(p, Ph) for p in m.parts[1:])
    }
    bare = {str(m.parts[0]).rstrip(": ") for m in prefixes.values()}
    nested = Nested(sources, set(prefixes))
    learner = Learner(prefixes, glibc_errnos(), nested)
    learner.messages = messages

    catalog = english_catalog()
    plans: dict[str, list[Plan]] = defaultdict(list)
    context_plans: dict[str, list[Plan]] = defaultdict(list)
    discovered: dict[str, list[str]] = {}
    for sig in catalog.signatures:
        lines = example_lines(sig)
        keys = [
            k
            for k in sig.messages
            if k in messages and not is_prefix_key(k) or k in prefixes and k != "virsh_error_prefix"
        ]
        primary = tuple(compiled(p) for p in sig.patterns if english_core(p))
        extra = discover(sources, primary, lines, keys, bare, learner)
        if extra:
            discovered[sig.id] = extra
        plans[sig.id] = learn(learner, sig, primary, keys + extra, lines)
        context = tuple(compiled(p) for p in sig.context if english_core(p))
        context_keys = discover(sources, context, lines, [], bare, learner)
        context_plans[sig.id] = learn(learner, sig, context, context_keys, lines)

    entries: dict[tuple[str, str, str, str], dict[str, object]] = {}  # (table, sig, lang, regex)
    dropped: list[str] = []
    values_used: dict[tuple[str, str], str] = {}
    untranslated: dict[str, set[str]] = defaultdict(set)
    built_for: dict[tuple[str, str], list[tuple[Plan, Built]]] = defaultdict(list)  # (sig, lang) -> what passed
    errno_origin = f"libc-l10n {package_version('libc-l10n')} libc.mo"
    for lang in langs:
        renderer = Renderer(lang, sources.libc[lang], prefixes, nested)
        for table, all_plans in (("pattern", plans), ("context", context_plans)):
            for sig_id in sorted(all_plans):
                for plan in all_plans[sig_id]:
                    msg = messages[plan.key]
                    if not msg.translations.get(lang):
                        untranslated[lang].add(plan.key)
                        continue
                    for msgstr, origin in msg.translations[lang]:
                        why = ""
                        built: Built | str = ""
                        for strict in (False, True):
                            built = renderer.build(plan, msgstr, strict)
                            why = (
                                built
                                if isinstance(built, str)
                                else check(built, MIN_LITERAL if table == "pattern" else 3)
                            )
                            if not why:
                                break
                        if why or isinstance(built, str):
                            dropped.append(f"{lang} {sig_id} {plan.key}: {why}")
                            continue
                        if table == "pattern":
                            built_for[(sig_id, lang)].append((plan, built))
                        ident = (table, sig_id, lang, built.regex)
                        if ident not in entries:
                            entries[ident] = {
                                "signature": sig_id,
                                "lang": lang,
                                "key": plan.key,
                                "origin": origin,
                                "msgstr": msgstr,
                                "regex": built.regex,
                                "fixed": dict(sorted(plan.fixed.items())),
                            }
                        else:  # one translation for two English messages: keep what both say
                            old = entries[ident]["fixed"]
                            assert isinstance(old, dict)
                            entries[ident]["fixed"] = {k: v for k, v in old.items() if plan.fixed.get(k) == v}
        # English patterns with the system error translated (the libvirt message itself untranslated)
        for sig in catalog.signatures:
            lines = example_lines(sig)
            for pattern in map(compiled, sig.patterns):
                if not english_core(pattern):
                    continue
                built = errno_variant(renderer, pattern, lines)
                if built is None:
                    continue
                why = check(built)
                if why:
                    dropped.append(f"{lang} {sig.id} strerror: {why}")
                    continue
                entries.setdefault(
                    ("pattern", sig.id, lang, built.regex),
                    {
                        "signature": sig.id,
                        "lang": lang,
                        "key": "strerror",
                        "origin": errno_origin,
                        "msgstr": "",
                        "regex": built.regex,
                        "fixed": {},
                    },
                )
        # `unless` patterns that name a system error veto the signature in a translated paste too
        for sig in catalog.signatures:
            for pattern in map(compiled, sig.unless):
                src = renderer.localize_errnos(pattern.pattern, only_local=True)
                if src != pattern.pattern and not check(Built(src, [])):
                    entries.setdefault(
                        ("unless", sig.id, lang, src),
                        {
                            "signature": sig.id,
                            "lang": lang,
                            "key": "strerror",
                            "origin": errno_origin,
                            "msgstr": "",
                            "regex": src,
                            "fixed": {},
                        },
                    )
        for (_table, _sig, elang, regex), _entry in entries.items():
            if elang != lang:
                continue
            for english, local in renderer.libc.items():
                if esc(local) in regex:
                    values_used[(lang, local)] = english
            for local, english in renderer.values.items():
                if esc(local) in regex:
                    values_used[(lang, local)] = english

    # a pattern whose translation stands for two English messages cannot give back what only one says
    for key, pairs in built_for.items():
        built_for[key] = [
            (plan, built)
            for plan, built in pairs
            if entries[("pattern", plan.sig, key[1], built.regex)]["fixed"] == dict(sorted(plan.fixed.items()))
        ]
    examples = build_examples(catalog, sources, prefixes, nested, built_for, langs)
    outputs = {opts.out: render_toml(entries, values_used), opts.examples: render_examples(examples)}
    if opts.check:
        stale = [
            path for path, text in outputs.items() if not path.exists() or path.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            print(f"{path} is stale: run scripts/gen_l10n.py", file=sys.stderr)
        if not stale:
            print("generated files are up to date")
        return 1 if stale else 0
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    summary(opts, catalog, sources, entries, values_used, plans, discovered, untranslated, dropped, learner)
    return 0


def render_toml(
    entries: dict[tuple[str, str, str, str], dict[str, object]], values_used: dict[tuple[str, str], str]
) -> str:
    out = [
        "# Generated by scripts/gen_l10n.py from libvirt's translations (Debian's libvirt-l10n .mo files",
        "# and the po texts in libvirt-messages.tsv) and glibc's (libc-l10n). Do not edit by hand: change",
        "# the signature or the script and run it again.",
        "#",
        "# [[pattern]]: a signature's primary pattern for a translated message (key: where it came from;",
        "#   key = 'strerror': an English message followed by glibc's translated system error). The regex",
        "#   uses the capture names of the signature's English patterns. `fixed`: captures the English",
        "#   pattern takes from the message's own words, which a translation cannot give back.",
        "# [[context]]: the same for the signature's context patterns.",
        "# [[unless]]: the signature's `unless` patterns with the system error translated.",
        "# [[value]]: translated texts a capture may hold (glibc system errors, libvirt messages) and the",
        "#   English text the signature's conditions compare it with.",
        "",
    ]

    def order(ident: tuple[str, str, str, str]) -> tuple:
        table, sig, lang, regex = ident
        return (TABLES.index(table), sig, lang_order(lang), str(entries[ident]["key"]), regex)

    for ident in sorted(entries, key=order):
        entry = entries[ident]
        out.append(f"[[{ident[0]}]]")
        for key in ("signature", "lang", "key", "origin", "msgstr", "regex"):
            if entry[key] != "":
                out.append(f"{key:9} = {toml_string(str(entry[key]))}")
        fixed = entry.get("fixed")
        if isinstance(fixed, dict) and fixed:
            out.append("fixed     = { " + ", ".join(f"{k} = {toml_string(str(v))}" for k, v in fixed.items()) + " }")
        out.append("")
    for (lang, local), english in sorted(values_used.items(), key=lambda kv: (lang_order(kv[0][0]), kv[1], kv[0][1])):
        out += [
            "[[value]]",
            f"lang      = {toml_string(lang)}",
            f"english   = {toml_string(english)}",
            f"text      = {toml_string(local)}",
            "",
        ]
    text = "\n".join(out).rstrip() + "\n"
    parsed = tomllib.loads(text)
    for table in TABLES:
        want = [entries[i]["regex"] for i in sorted(entries, key=order) if i[0] == table]
        assert [p["regex"] for p in parsed.get(table, [])] == want
    return text


TABLES = ("pattern", "context", "unless")


def lang_order(lang: str) -> tuple[int, str]:
    return (LANGS.index(lang) if lang in LANGS else len(LANGS), lang)


def summary(opts, catalog, sources, entries, values_used, plans, discovered, untranslated, dropped, learner) -> None:  # noqa: ANN001
    langs = sources.langs
    messages = sources.messages
    count: Counter[tuple[str, str, str]] = Counter()  # (table, kind, lang)
    per_sig: dict[str, set[str]] = defaultdict(set)
    for (table, sig, lang, _regex), entry in entries.items():
        count[(table, "strerror" if entry["key"] == "strerror" else "message", lang)] += 1
        if table == "pattern":
            per_sig[sig].add(lang)
    out = opts.out.relative_to(ROOT) if opts.out.is_relative_to(ROOT) else opts.out
    print(f"{out}: {len(entries)} regexes, {len(values_used)} translated texts in [[value]]")
    print(f"  {'lang':6} {'pattern':>8} {'+strerror':>10} {'context':>8} {'unless':>7}")
    for lang in langs:
        row = [count[("pattern", "message", lang)], count[("pattern", "strerror", lang)]]
        row += [sum(count[(t, k, lang)] for k in ("message", "strerror")) for t in ("context", "unless")]
        print(f"  {lang:6} {row[0]:>8} {row[1]:>10} {row[2]:>8} {row[3]:>7}")
    print(
        "  (pattern: a translated libvirt message; +strerror: an English message followed by glibc's"
        " translated system error)"
    )
    print(f"signatures with localized patterns: {len(per_sig)} of {len(catalog.signatures)}")
    for sig in catalog.signatures:
        if sig.id in per_sig and set(langs) - per_sig[sig.id]:
            print(f"  {sig.id}: none in {', '.join(lg for lg in langs if lg not in per_sig[sig.id])}")
    print("signatures without localized patterns:")
    for sig in catalog.signatures:
        if sig.id in per_sig:
            continue
        keys = {p.key for p in plans.get(sig.id, [])}
        if not keys:
            why = (
                "its examples print no libvirt msgid its patterns match (text of QEMU, the kernel, dnsmasq, a listing)"
            )
        elif not any(messages[k].translations.get(lg) for k in keys for lg in langs):
            why = f"libvirt does not translate its messages ({', '.join(sorted(keys))}: log-only text)"
        else:
            why = "no translation passed the checks (-v says why)"
        print(f"  {sig.id} [{sig.section or '-'}]: {why}")
    no_messages = [s.id for s in catalog.signatures if not s.messages]
    print(f"signatures without `messages` ({len(no_messages)}): {', '.join(no_messages)}")
    if discovered:
        print("msgids the examples print that the signature's `messages` do not list (used too):")
        for sig_id in sorted(discovered):
            for key in discovered[sig_id]:
                print(
                    f"  {sig_id}: " + (repr(key[len("msgid:") :]) if key.startswith("msgid:") else f"{key} (tsv key)")
                )
    listed = sorted({k for s in catalog.signatures for k in s.messages})
    no_tr = sorted(k for k in listed if k in messages and not any(messages[k].translations.get(lg) for lg in langs))
    print(f"listed keys without any translation ({len(no_tr)}): {', '.join(no_tr)}")
    unknown = sorted(k for k in listed if k not in messages)
    if unknown:
        print(f"listed keys not in the tsv (or too generic to learn from): {', '.join(unknown)}")
    used = {str(e["key"]) for e in entries.values()}
    unused = sorted(k for k in listed if k in messages and k not in used and k not in no_tr)
    print(f"translated keys that gave no pattern ({len(unused)}): {', '.join(unused)}")
    for lang in langs:
        if untranslated[lang]:
            print(f"  {lang}: {len(untranslated[lang])} of the learned messages have no {lang} translation")
    by_lang = Counter(d.split(" ", 1)[0] for d in dropped)
    per_lang_drops = ", ".join(f"{k} {v}" for k, v in sorted(by_lang.items()))
    print(f"translations dropped by the checks: {len(dropped)} ({per_lang_drops})")
    print(f"example lines not learned from: {dict(sorted(learner.rejected.items()))}")
    if opts.verbose:
        for line in learner.details:
            print("  not learned " + line)
        for line in dropped:
            print("  drop " + line)


if __name__ == "__main__":
    sys.exit(main())
