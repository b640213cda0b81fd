"""Regex literal analysis (pure), shared by the catalog, the matcher's index and the l10n generator:
which literals every match of a pattern must contain, and a scanner for groups and alternatives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

INLINE_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


MAX_SPELLINGS = 16  # a required run is carried through small alternations as this many spellings at most


def _pure_literal(items: object, ignore_case: bool) -> str | None:
    """The text of a parsed (sub)pattern made of plain characters only, else None."""
    text = []
    for op, arg in items:  # type: ignore[attr-defined]
        name = str(op)
        if name == "LITERAL":
            text.append(chr(arg))
        elif name == "SUBPATTERN" and not (arg[1] & re.IGNORECASE and not ignore_case):
            inner = _pure_literal(arg[-1], ignore_case)
            if inner is None:
                return None
            text.append(inner)
        else:
            return None
    return "".join(text)


def _requirement(items: object, ignore_case: bool) -> tuple[str, ...]:
    """Literals of which every match of this parsed (sub)pattern contains at least one: the strongest
    of its required runs (literals in sequence, through groups that must match, and through small
    alternations of plain words as several spellings: `://(?:system|session)` needs "://system" or
    "://session", not just "ystem" or "ession" after the parser factors out the "s") and of the
    alternatives of a required `(?:a|b)`. ("",) if nothing is required."""
    options: list[tuple[str, ...]] = []
    current: list[str] = [""]  # the spellings of the run being read

    def close() -> None:
        if current != [""]:
            options.append(tuple(dict.fromkeys(current)))
            current[:] = [""]

    def walk(items: object) -> None:
        for op, arg in items:  # type: ignore[attr-defined]
            name = str(op)
            if name == "LITERAL":
                current[:] = [run + chr(arg) for run in current]
            elif name == "SUBPATTERN":
                if arg[1] & re.IGNORECASE and not ignore_case:
                    close()  # (?i:...) inside a case-sensitive pattern: its letters may differ in case
                else:
                    walk(arg[-1])
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1:
                if arg[1] == 1:
                    walk(arg[2])
                else:
                    close()
                    inner = _requirement(arg[2], ignore_case)
                    if inner != ("",):
                        options.append(inner)
            elif name == "BRANCH":
                words = [_pure_literal(alt, ignore_case) for alt in arg[1]]
                if all(word is not None for word in words) and len(current) * len(words) <= MAX_SPELLINGS:
                    current[:] = [run + word for run in current for word in words]  # type: ignore[operator]
                    continue
                close()
                alternatives = [_requirement(alt, ignore_case) for alt in arg[1]]
                if all(alt != ("",) for alt in alternatives):
                    options.append(tuple(dict.fromkeys(lit for alt in alternatives for lit in alt)))
            elif name == "IN" and all(str(kind) == "LITERAL" for kind, _ in arg) and \
                    len(current) * len(arg) <= MAX_SPELLINGS:
                current[:] = [run + chr(char) for run in current for _, char in arg]  # [cd] after a factored "b"
            elif name == "AT":
                continue
            else:
                close()

    walk(items)
    close()
    options = [option for option in options if all(option)]
    if not options:
        return ("",)
    best = max(options, key=lambda option: (min(len(lit) for lit in option), -len(option)))
    return tuple(lit.lower() for lit in best) if ignore_case else best


def _longest_run(items: object, ignore_case: bool) -> str:
    """The longest run of characters every match must contain ("" if none): what the lint measures."""
    runs: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            runs.append("".join(current))
            current.clear()

    def walk(items: object) -> None:
        for op, arg in items:  # type: ignore[attr-defined]
            name = str(op)
            if name == "LITERAL":
                current.append(chr(arg))
            elif name == "SUBPATTERN" and not (arg[1] & re.IGNORECASE and not ignore_case):
                walk(arg[-1])
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1 and arg[1] == 1:
                walk(arg[2])
            elif name != "AT":
                close()

    walk(items)
    close()
    best = max(runs, key=len, default="")
    return best.lower() if ignore_case else best


def class_end(source: str, start: int) -> int:
    """The index after the character class that opens at source[start] ("["): a "]" right after "[" or
    "[^" is a member, not the end (`[]x]`, `[^]x|y]`)."""
    i = start + 1
    if source[i:i + 1] == "^":
        i += 1
    if source[i:i + 1] == "]":
        i += 1
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source[i] == "]":
            return i + 1
        i += 1
    return len(source)


@dataclass(frozen=True)
class Group:
    """A group of a regex source: where "(" is, the index after its ")", its name, and its kind."""

    start: int
    end: int
    name: str | None
    kind: str  # named | look | other


GROUP_NAME_RE = re.compile(r"\(\?P<(\w+)>")
LOOK_RE = re.compile(r"\(\?(?:=|!|<=|<!)")


def scan(source: str) -> tuple[list[Group], list[int]]:
    """Every group of a regex source with its extent, and the positions of its top-level "|" (outside
    groups and character classes; escapes skipped)."""
    groups: list[Group] = []
    bars: list[int] = []
    stack: list[tuple[int, str | None, str]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = class_end(source, i)
            continue
        if char == "(":
            named = GROUP_NAME_RE.match(source, i)
            kind = "named" if named else "look" if LOOK_RE.match(source, i) else "other"
            stack.append((i, named.group(1) if named else None, kind))
        elif char == ")" and stack:
            begin, name, kind = stack.pop()
            groups.append(Group(begin, i + 1, name, kind))
        elif char == "|" and not stack:
            bars.append(i)
        i += 1
    return groups, bars


def top_alternatives(source: str) -> list[str]:
    """Split a regex source at its top-level `|`; one whole-pattern group (`(?:A|B)`, `(?P<x>A|B)`) is
    looked into. Inline flags `(?i)` stay with the caller."""
    _, bars = scan(source)
    parts = [source[a + 1 if a >= 0 else 0:b] for a, b in zip([-1, *bars], [*bars, len(source)], strict=True)]
    if len(parts) == 1:
        whole = re.fullmatch(r"\((?:\?:|\?P<\w+>)?(.*)\)", source, re.S)
        if whole and _balanced(whole.group(1)):
            inner = top_alternatives(whole.group(1))
            if len(inner) > 1:
                return inner
    return parts


def _balanced(source: str) -> bool:
    try:
        re.compile(source)
    except re.error:
        return False
    return True


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Literals of which every match contains at least one, for a cheap pre-check and the matcher's
    index. Top-level alternatives are split in the source first (the regex parser factors out their
    common prefix, which would leave weaker literals). ("",) if none."""
    from re import _parser as sre_parse  # type: ignore[attr-defined]  # stdlib, stable since 3.11

    ignore_case = bool(pattern.flags & re.IGNORECASE)
    source = INLINE_FLAGS.sub("", pattern.pattern, count=1)
    literals: list[str] = []
    for alternative in top_alternatives(source):
        try:
            found = _requirement(sre_parse.parse(alternative, pattern.flags).data, ignore_case)
        except (re.error, TypeError, ValueError, IndexError):
            return ("",)
        if found == ("",):
            return ("",)
        literals.extend(found)
    return tuple(dict.fromkeys(literals))


def required_literal(pattern: re.Pattern[str]) -> str:
    """The longest run every match must contain ("" if none): what the catalog lint measures."""
    from re import _parser as sre_parse  # type: ignore[attr-defined]  # stdlib, stable since 3.11

    try:
        return _longest_run(sre_parse.parse(pattern.pattern, pattern.flags).data, bool(pattern.flags & re.IGNORECASE))
    except (re.error, TypeError, ValueError, IndexError):
        return ""


# --- index keys: what a literal guarantees about the words of any line that holds it -------------------

START_RE = re.compile(r"(?<=\W)\w{4,}")  # a word with a non-word character before it inside the literal
END_RE = re.compile(r"\w{4,}(?=\W)")  # ... or after it
WHOLE_RE = re.compile(r"(?<=\W)\w{3,}(?=\W)")  # ... or on both sides: the line holds that very word
WORD_RE_LINE = re.compile(r"\w{3,}")
KEY_LEN = 4


CJK = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"


@cache
def cjk_regexes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(a run of two or more CJK characters, one CJK character): compiled on first use, as their large
    character classes take milliseconds to compile and an English paste never needs them."""
    return re.compile(f"[{CJK}]{{2,}}"), re.compile(f"[{CJK}]")


def literal_keys(literal: str) -> set[str]:
    """What a literal can be indexed by. "<abcd": some word of any line holding the literal starts with
    abcd (the word has a non-word character before it inside the literal); ">abcd": some word ends so;
    "=word": the line holds that whole word (non-word characters on both sides inside the literal), the
    most selective; "~xy": the literal holds the two CJK characters xy (scripts without spaces have no
    words to use)."""
    if literal.isascii():  # no CJK to look for (and its regexes stay uncompiled)
        return ({f"<{w[:KEY_LEN].lower()}" for w in START_RE.findall(literal)}
                | {f">{w[-KEY_LEN:].lower()}" for w in END_RE.findall(literal)}
                | {f"={w.lower()}" for w in WHOLE_RE.findall(literal)})
    cjk_run, has_cjk = cjk_regexes()
    keys = {f"<{w[:KEY_LEN].lower()}" for w in START_RE.findall(literal) if not has_cjk.search(w)}
    keys |= {f">{w[-KEY_LEN:].lower()}" for w in END_RE.findall(literal) if not has_cjk.search(w)}
    keys |= {f"={w.lower()}" for w in WHOLE_RE.findall(literal) if not has_cjk.search(w)}
    for run in cjk_run.findall(literal):
        keys |= {f"~{run[i:i + 2]}" for i in range(len(run) - 1)}
    return keys


def line_keys(lowered: str) -> set[str]:
    """Every index key a line offers: its words whole, their first and last KEY_LEN characters, CJK pairs."""
    words = WORD_RE_LINE.findall(lowered)
    keys = {"=" + word for word in words}
    long = [word for word in words if len(word) >= KEY_LEN]
    keys.update(["<" + word[:KEY_LEN] for word in long])
    keys.update([">" + word[-KEY_LEN:] for word in long])
    if not lowered.isascii():
        for run in cjk_regexes()[0].findall(lowered):
            keys.update(f"~{run[i:i + 2]}" for i in range(len(run) - 1))
    return keys


# --- printf templates (libvirt's messages) --------------------------------------------------------------

CONVERSION_RE = re.compile(
    r"%(?:(?P<position>\d+)\$)?[-#0 +']*(?:\d+|\*(?:\d+\$)?)?(?:\.(?:\d+|\*(?:\d+\$)?))?"
    r"(?:hh|h|ll|l|L|q|j|z|Z|t)?(?P<kind>[diouxXeEfFgGaAcspm%])")


def template_key(msgid: str) -> str:
    """A msgid as the template index keys it: positional markers dropped (9.3 and later write %1$s where
    older releases wrote %s; the printed text is the same)."""
    return CONVERSION_RE.sub(lambda m: m.group(0).replace(f"{m['position']}$", "") if m["position"] else m.group(0),
                             msgid)


def index_key(literal: str, frequency: dict[str, int]) -> str:
    """The rarest key of a literal ("" if it has none: then the pattern is tried on every line)."""
    keys = literal_keys(literal)
    return min(keys, key=lambda k: (frequency.get(k, 0), k)) if keys else ""
