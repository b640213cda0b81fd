"""Regex literal analysis (pure), shared by the catalog, the matcher's index and the l10n generator:
which literals every match of a pattern must contain, and a scanner for groups and alternatives."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
