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
