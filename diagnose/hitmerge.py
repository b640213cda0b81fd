"""Match stage, its end: the hits of one cause made one (a pattern's and an XML detector's, a log line's and a
check's), in near-linear time."""

from __future__ import annotations

import heapq
from dataclasses import replace

from diagnose.model import Hit


class _Merging:
    """A kept hit while hits merge into it: its captures only gain names, never change a value."""

    def __init__(self, hit: Hit, position: int) -> None:
        self.hit, self.position = hit, position
        self.captures = dict(hit.captures)
        self.names = frozenset(self.captures)
        self.evidence = hit.evidence
        self.lines: set[tuple[str, int]] | None = None  # None: nothing merged in, the hit is kept as it is

    def absorb(self, hit: Hit, captures: dict[str, str]) -> None:
        self.captures = {**captures, **self.captures}
        self.names = frozenset(self.captures)
        self.evidence = (self.evidence + tuple(e for e in hit.evidence if e not in self.evidence))[:5]
        self.lines = (set(self.hit.lines) if self.lines is None else self.lines) | hit.lines

    def result(self) -> Hit:
        """The kept hit as it is, or with what merged into it (everything else of the kept hit stays)."""
        if self.lines is None:
            return self.hit
        return replace(self.hit, captures=tuple(sorted(self.captures.items())), evidence=self.evidence,
                       lines=frozenset(self.lines))


class _KeptIndex:
    """The kept hits of one signature, found without looking at each: grouped by their capture names, and
    per group and names a new hit shares with it, a heap of positions under those names' values. Kept hits
    of one signature contradict each other, so such a bucket is small. A hit that gains names moves to
    another group; its old entries are dropped when met (its names no longer those of the group)."""

    def __init__(self) -> None:
        self.groups: dict[frozenset[str], list[_Merging]] = {}
        self.buckets: dict[tuple[frozenset[str], frozenset[str]], dict[tuple[str, ...], list[int]]] = {}
        self.entries: dict[int, _Merging] = {}

    def first_compatible(self, captures: dict[str, str]) -> _Merging | None:
        names = frozenset(captures)
        best: int | None = None
        for group, members in self.groups.items():
            shared = group & names
            bucket = self.buckets.get((group, shared))
            if bucket is None:
                bucket = self.buckets[group, shared] = {}
                for kept in members:
                    if kept.names == group:
                        heapq.heappush(bucket.setdefault(_values(kept.captures, shared), []), kept.position)
            heap = bucket.get(_values(captures, shared))
            while heap and self.entries[heap[0]].names != group:
                heapq.heappop(heap)
            if heap and (best is None or heap[0] < best):
                best = heap[0]
        return None if best is None else self.entries[best]

    def add(self, kept: _Merging) -> None:
        self.entries[kept.position] = kept
        self.groups.setdefault(kept.names, []).append(kept)
        for (group, shared), bucket in self.buckets.items():
            if group == kept.names:
                heapq.heappush(bucket.setdefault(_values(kept.captures, shared), []), kept.position)


def _values(captures: dict[str, str], names: frozenset[str]) -> tuple[str, ...]:
    return tuple(captures[name] for name in sorted(names))


def merge_hits(hits: list[Hit]) -> list[Hit]:
    """Hits of one signature whose captures do not conflict become one (pattern + XML detector): each hit,
    best first, joins the first kept hit of its signature whose captures it does not contradict, else is
    kept itself. Near-linear: the kept hits are found through an index (_KeptIndex), not one by one."""
    merged: list[_Merging] = []
    index: dict[str, _KeptIndex] = {}
    for hit in sorted(hits, key=lambda h: -h.confidence):
        kept_hits = index.setdefault(hit.signature_id, _KeptIndex())
        captures = dict(hit.captures)
        home = kept_hits.first_compatible(captures)
        if home is None:
            merged.append(_Merging(hit, len(merged)))
            kept_hits.add(merged[-1])
        elif not captures.keys() <= home.names:  # it gains names: it joins another group
            home.absorb(hit, captures)
            kept_hits.add(home)
        else:
            home.absorb(hit, captures)
    return [kept.result() for kept in merged]


def one_reading_per_wrap(hits: list[Hit]) -> list[Hit]:
    """A line a paste wrapped is read alone, joined at a space and joined inside a word; readings of one message
    (the same cause, on the same line, whose values differ only in spaces or where the wrap cut them short)
    are one finding: the reading with the whole values, then the likelier join (_likelier_reading)."""
    kept: list[Hit] = []
    groups: dict[tuple[str, tuple[str, int], tuple[str, ...]], list[int]] = {}
    for hit in hits:
        where = (hit.evidence[0].source, hit.evidence[0].line) if hit.evidence else ("", 0)
        group = groups.setdefault((hit.signature_id, where, tuple(name for name, _ in hit.captures)), [])
        same = next((at for at in group if _one_message(kept[at], hit)), None)
        if same is None:
            group.append(len(kept))
            kept.append(hit)
        else:
            kept[same] = _likelier_reading(kept[same], hit)
    return kept


def _unspaced(hit: Hit) -> list[str]:
    return ["".join(value.split()) for _, value in hit.captures]


def _one_message(first: Hit, second: Hit) -> bool:
    """Values equal but for spaces, or a token (a name, path or UUID: no space but the one a wrap may have put in
    it) and the start of it that the wrap cut off."""
    return all(a == b or (a.startswith(b) or b.startswith(a)) and (raw_a + raw_b).count(" ") <= 1
               for a, b, (_, raw_a), (_, raw_b) in zip(_unspaced(first), _unspaced(second), first.captures,
                                                       second.captures, strict=True))


def _likelier_reading(first: Hit, second: Hit) -> Hit:
    """Of two readings of one message: the one with more of the values (the other was cut by the wrap); of two
    that differ only in spaces, the one whose differing values hold no space (a UUID, a path or a name a wrap cut
    in two), else the one with more spaces in them (words of a sentence)."""
    longer = sum(map(len, _unspaced(first))) - sum(map(len, _unspaced(second)))
    if longer:
        return first if longer > 0 else second
    differing = [(a, b) for (_, a), (_, b) in zip(first.captures, second.captures, strict=True) if a != b]
    if all(" " not in a for a, _ in differing):
        return first
    if all(" " not in b for _, b in differing):
        return second
    return first if sum(a.count(" ") for a, _ in differing) >= sum(b.count(" ") for _, b in differing) else second
