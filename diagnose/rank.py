"""Rank stage (pure): a signature's fixes x (captures + facts) -> ordered RankedFix list, with reasons."""

from __future__ import annotations

import re
from collections.abc import Mapping

from diagnose.model import Fact, Fix, FixStatus, RankedFix, Signature

PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
TIER = {"applies": 0, "possible": 1, "ruled_out": 2}


SAFE_VALUE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def fill(template: str, captures: Mapping[str, str], shell: bool = False) -> str:
    """Put captured names into a title or command; a name the input did not give stays visible as <name>.
    In a command (`shell`), only a value made of plain characters is used: text from a log must never
    become shell syntax an admin pastes (`br0; curl ...|sh`, `$(reboot)`)."""
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        found = captures.get(name)
        if found is None or (shell and not SAFE_VALUE.fullmatch(found)):
            return f"<{name}>"
        return found

    return PLACEHOLDER_RE.sub(value, template)


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


def evaluate(
    fix: Fix, captures: Mapping[str, str], facts: Mapping[str, Fact], fact_names: set[str]
) -> tuple[FixStatus, list[str]]:
    """Decide whether a fix applies, and say which capture or fact decided each condition."""
    status: FixStatus = "applies"
    reasons: list[str] = []
    for key, wanted in fix.when:
        if isinstance(wanted, bool) and key in fact_names:
            fact = facts.get(key)
            if fact is None or fact.value is None:
                detail = f" ({fact.detail})" if fact and fact.detail else ""
                reasons.append(f"{key} unknown{detail}")
                if status == "applies":
                    status = "possible"
                continue
            held = fact.value == wanted
            reasons.append(f"{key}={_show(fact.value)}" + (f" ({fact.detail})" if fact.detail else ""))
        elif isinstance(wanted, bool):
            held = (key in captures) == wanted
            reasons.append(f"{key} {'given' if key in captures else 'not given'} in the input")
        else:
            held = captures.get(key) == wanted
            reasons.append(f"{key}={captures.get(key, '(none)')!r}")
        if not held:
            status = "ruled_out"
    return status, reasons


def rank_fixes(
    sig: Signature,
    captures: Mapping[str, str],
    facts: Mapping[str, Fact],
    fact_names: set[str],
    lang: str = "en",
) -> list[RankedFix]:
    """Order: applies, possible, ruled out; then score (high first); then id."""
    scored = []
    for fix in sig.fixes:
        status, reasons = evaluate(fix, captures, facts, fact_names)
        scored.append((TIER[status], -fix.score, fix.id, fix, status, reasons))
    scored.sort(key=lambda item: item[:3])
    ranked = []
    for rank, (_, _, _, fix, status, reasons) in enumerate(scored, start=1):
        title = fix.title_ja if lang == "ja" and fix.title_ja else fix.title
        why = fix.why_ja if lang == "ja" and fix.why_ja else fix.why
        ranked.append(
            RankedFix(
                fix_id=fix.id,
                rank=rank,
                status=status,
                title=fill(title, captures),
                commands=tuple(fill(c, captures, shell=True) for c in fix.commands),
                why=fill(why, captures),
                decided_by=tuple(reasons),
            )
        )
    return ranked


def implied_facts(sig: Signature) -> dict[str, Fact]:
    """Facts the matched message itself proves (e.g. "No such device" proves the bridge is missing)."""
    return {name: Fact(name, value, "implied by the message") for name, value in sig.implies}
