"""Parse stage (pure) for pastes: split pasted text into clean, numbered lines and find a pasted XML
document. Kept apart from parsers.py so `virtdiag explain` loads only this."""

from __future__ import annotations

import re

from diagnose.model import Line

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# virError(Code=38, Domain=7, Message='Cannot ...'): keep the message, drop the wrapper. The message may
# itself hold an unescaped apostrophe (Go and Ruby wrappers print it raw), so only the ends are cut.
VIRERROR_RE = re.compile(r"""virError\(Code=-?\d+, Domain=-?\d+, Message=(['"])(.*?)\1\)?\s*$""")
VIRERROR_HEAD_RE = re.compile(r"""virError\(Code=-?\d+, Domain=-?\d+, Message=(['"])""")
WRAP_MIN = 60  # a terminal-wrapped line is at least this long (it may be cut in the middle of a word)
TIME_STAMP = r"\d{4}-\d\d-\d\d[ T]|[A-Z][a-z]{2} [ \d]\d \d\d:"  # a log's or the journal's
# a line that starts a message of its own is not the rest of a shorter wrap (_new_record)
RECORD_START_RE = re.compile(rf"\s*(?:(?:error|warning|ERROR|WARNING)\b|{TIME_STAMP})")
# a line that opens a record for sure (virsh's "error:", a time stamp): no terminal wrap runs into it
RECORD_HEAD_RE = re.compile(rf"\s*(?:(?:error|warning|ERROR|WARNING)\s*:|{TIME_STAMP})")
SHORT_WRAP_MIN = 40  # a line wrapped at a space (a commit message's 72 columns before a long token) at least this
PARAGRAPH_LINES = 4  # a message wrapped short (a mail, a commit message) is read across this many lines
PARAGRAPH_WIDTH = 80  # ... when its lines are no longer than this (a log's lines are longer)
MAX_PASTE_LINE = 64 * 1024  # a longer pasted line is cut, as in logs (sources.MAX_LINE)
CUT_MARK = " [... line cut by virtdiag]"
# virsh's own options before its command ("virsh -c qemu:///system --readonly start web01"): a second reading
# of such a line without them lets context patterns read the command and its guest as "virsh start web01".
VIRSH_OPTIONS_RE = re.compile(
    r"\bvirsh((?: +(?:(?:-c|--connect|-d|--debug|-l|--log|-k|--keepalive-interval|-K|--keepalive-count|-e|--escape)"
    r"(?: +|=)\S+|-[rqt]|--readonly|--quiet|--timing))+)(?= )")


def _unwrap_virerror(text: str) -> str:
    """What VIRERROR_RE.search does, in linear time: the message runs from the first wrapper head whose
    quote is also the line's last non-blank character (or the one before a closing parenthesis)."""
    if "virError(" not in text:
        return text
    tail = text.rstrip()
    for m in VIRERROR_HEAD_RE.finditer(text):
        end = len(tail) - 2 if tail.endswith(")") else len(tail) - 1
        if end >= m.end() and tail[end] == m.group(1):
            return f"{text[: m.start()]}{text[m.end() : end]}"
    return text


# docker compose / podman-compose prefix every line with the service's name: "isard-engine  | <line>"
COMPOSE_PREFIX_RE = re.compile(r"^[A-Za-z0-9][\w.-]{0,62}\s*\|\s?(?=\S)")


# A test harness's verdict quotes the messages it expected beside the one that happened (avocado-vt and
# tp-libvirt: "Can not find the expected patterns 'A|B' in output 'error: C'", "Expect should fail with one
# of ['A'], but failed with: C"): only what happened is evidence, the expected messages are not.
# (bounded, so a hostile line repeating the words stays linear)
EXPECTED_RE = re.compile(r"Can ?not find the expected patterns? .{0,8000}' in output '?|"
                         r"Expect(?:ed)? (?:should |to )?fail(?:ed)? with one of \[.{0,8000}\],? but failed with:?")


DOUBLED_APOSTROPHE_RE = re.compile(r"(?<=[A-Za-z])''(?=[A-Za-z])")


def _clean(raw: str) -> str:
    text = ANSI_RE.sub("", raw).replace("\r", "").replace("\t", " ")
    text = COMPOSE_PREFIX_RE.sub("", text, count=1)
    text = EXPECTED_RE.sub(" ", text, count=1) if "xpect" in text else text
    text = _unwrap_virerror(text)
    if "''" in text:  # an apostrophe doubled by YAML or SQL quoting: "guest CPU doesn''t match"
        text = DOUBLED_APOSTROPHE_RE.sub("'", text)
    if "\\'" in text or '\\"' in text:
        text = text.replace("\\'", "'").replace('\\"', '"')
    return text.rstrip()


def paste_lines(text: str) -> list[Line]:
    """Split a paste into lines with their 1-based numbers, cleaned of terminal and wrapper noise.

    Escaped newlines inside one physical line (a Python repr, a Terraform or Vagrant message) become
    lines of their own, with the physical line's number. A long line is also offered joined with the
    next one, so a message the terminal wrapped still matches. A virsh command with virsh's own options
    is also offered without them, to context patterns only.
    """
    lines: list[Line] = []
    physical = text.splitlines()
    for number, raw in enumerate(physical, start=1):
        if not raw or raw.isspace():
            continue
        if len(raw) > MAX_PASTE_LINE:
            raw = raw[:MAX_PASTE_LINE] + CUT_MARK
        pieces = raw.split("\\n") if "\\n" in raw else [raw]
        for piece in pieces:
            cleaned = _clean(piece)
            if cleaned.strip():
                lines.append(Line("paste", number, cleaned))
    commands = [Line("paste", line.number, bare, context_only=True) for line in lines
                if "virsh -" in line.text and (bare := VIRSH_OPTIONS_RE.sub("virsh", line.text)) != line.text]
    joined: list[Line] = []
    for at, first in enumerate(lines):
        run = [first]  # the physical lines that follow it without a gap
        for after in lines[at + 1:at + PARAGRAPH_LINES]:
            if after.number != run[-1].number + 1:
                break
            run.append(after)
        if len(run) < 2:
            continue
        head = _continued(first.text)
        # a terminal's wrap, which may cut a word in two; not into a line that opens a record ("error: ...")
        long = len(first.text) >= WRAP_MIN and not RECORD_HEAD_RE.match(run[1].text)
        if long or len(first.text) >= SHORT_WRAP_MIN and not _new_record(first.text, run[1].text):
            joined.append(Line("paste", first.number, f"{head} {run[1].text.strip()}", "", len(head)))
        if long:
            joined.append(Line("paste", first.number, head + run[1].text.strip(), "", len(head)))
        if _wrapped_paragraph(run):
            rest = " ".join(_continued(line.text).strip() for line in run[1:])
            joined.append(Line("paste", first.number, f"{head} {rest}", "", len(head)))
    return lines + joined + commands


def _new_record(first: str, second: str) -> bool:
    """The second line starts a message of its own: virsh's "error:", a time stamp, or the first's own prefix."""
    return bool(RECORD_START_RE.match(second)) or first.split(None, 1)[:1] == second.split(None, 1)[:1]


def whole_before_wrap(span: tuple[int, int], text: str, join_at: int) -> bool:
    """A message read in a wrapped line's first part (text[:join_at]) is whole unless it runs to the wrap with a
    quote left open (a value the wrap cut short) and the next line does not start a record of its own."""
    start, end = span
    quote_open = any(text[start:end].count(quote) % 2 for quote in "'\"")
    return end < len(text[:join_at].rstrip()) or not quote_open or bool(RECORD_START_RE.match(text[join_at:]))


def _continued(text: str) -> str:
    """A wrapped line's text without its trailing space and a shell's or a log's "\\" continuation."""
    return text.rstrip().removesuffix("\\").rstrip()


def _wrapped_paragraph(run: list[Line]) -> bool:
    """Lines a mail or a commit message wrapped short: a short first line with more after it, or three or more
    lines no longer than PARAGRAPH_WIDTH (a log's lines are longer)."""
    if len(run[0].text) < WRAP_MIN:
        return len(run) > 2 or len(run[1].text) < WRAP_MIN
    return len(run) > 2 and all(len(line.text) <= PARAGRAPH_WIDTH for line in run[:-1])


XML_ROOT_RE = re.compile(r"^[ \t]*<(domain|network)\b[^>]{0,4096}>", re.M)


def find_xml(text: str) -> tuple[str, str, int] | None:
    """The first whole domain/network XML document in a paste: (root tag, document text, first line).

    The root must start a line and be closed later, so a tag quoted in an error message, or the one
    line of context virsh echoes under a parse error, is not taken for a document.
    """
    last_close: dict[str, int] = {}  # found once per root: a paste of many open tags stays linear
    for m in XML_ROOT_RE.finditer(text):
        root = m.group(1)
        if root not in last_close:
            last_close[root] = text.rfind(f"</{root}>")
        end = last_close[root]
        if end > m.start() and text.find("\n", m.start(), end) != -1:
            break
    else:
        return None
    body = text[m.start() : end + len(root) + 3]
    first_line = text.count("\n", 0, m.start()) + 1
    return root, body, first_line
