"""Finding markers in streamed text while holding back only what could still become one.

Every parser here (reasoning and tool calls) keeps its unread text in a buffer, takes the
earliest complete marker it finds, and otherwise holds back the longest tail that is a
proper prefix of some marker. That tail is shorter than the longest marker, so the work
per feed depends on the size of the feed, never on how long the output already is.

Split invariance needs one property of a marker set: no marker occurs inside another
(else a short marker found in a half-received long one would depend on where chunks
end, and two markers could start at one position). `Markers` checks it once, at
construction, so a family with an ambiguous set fails when its class is defined.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Markers"]


class Markers:
    """An immutable set of marker strings, searched in a buffer from a start index."""

    __slots__ = ("_first", "_firsts", "_longest", "_prefixes", "markers")

    def __init__(self, markers: Iterable[str]) -> None:
        self.markers = tuple(dict.fromkeys(m for m in markers if m))
        for a in self.markers:
            for b in self.markers:
                if a != b and a in b:
                    raise ValueError(f"marker {a!r} occurs inside {b!r}: splits would be ambiguous")
        # The first-character set is a cheap filter before the prefix-set lookup.
        self._firsts = frozenset(m[0] for m in self.markers)
        # Most sets share one first character (`<`): then `str.find` jumps between candidates.
        self._first = next(iter(self._firsts)) if len(self._firsts) == 1 else None
        self._prefixes = frozenset(m[:i] for m in self.markers for i in range(1, len(m)))
        self._longest = max((len(m) for m in self.markers), default=0)

    def absent_from(self, text: str) -> bool:
        """No marker can start anywhere in `text`: none of their first characters is in it."""
        if self._first is not None:
            return self._first not in text
        return self._firsts.isdisjoint(text)

    def find(self, buf: str, start: int = 0) -> tuple[int, str] | None:
        """The earliest complete marker in `buf[start:]`, as (index, marker)."""
        best: tuple[int, str] | None = None
        for m in self.markers:
            # Once one marker is found, the others need only be looked for before it.
            i = buf.find(m, start, None if best is None else best[0] + len(m))
            if i >= 0 and (best is None or i < best[0]):
                best = (i, m)
        return best

    def safe_end(self, buf: str, start: int = 0) -> int:
        """The end of `buf` without its longest tail (at or after `start`) that is a proper
        prefix of a marker: what lies before it can be emitted now."""
        n = len(buf)
        if self._first is not None:
            i = buf.find(self._first, max(start, n - self._longest + 1))
            while i >= 0:
                if buf[i:] in self._prefixes:
                    return i  # the earliest start is the longest tail
                i = buf.find(self._first, i + 1)
            return n
        for k in range(min(self._longest - 1, n - start), 0, -1):
            if buf[n - k] in self._firsts and buf[n - k:] in self._prefixes:
                return n - k
        return n

    def split(self, buf: str, start: int = 0) -> tuple[int, str | None]:
        """`(index, marker)` of the earliest marker, or `(safe_end, None)` without one."""
        hit = self.find(buf, start)
        return hit if hit is not None else (self.safe_end(buf, start), None)
