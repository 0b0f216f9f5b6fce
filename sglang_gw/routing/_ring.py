"""A consistent-hash ring with virtual nodes (private to the hashing policies).

Each worker URL owns `vnodes` points on a 64-bit ring; a key belongs to the first point
clockwise from its hash. Hashes come from blake2b, not `hash()`, so every gateway replica
and every restart agrees on the placement.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator

__all__ = ["HashRing", "stable_hash"]

VNODES = 160  # enough points that each of 16 workers gets within ~±15% of its share


def stable_hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class HashRing:
    """Membership changes rebuild the sorted point list (rare); lookups are a bisect."""

    def __init__(self, vnodes: int = VNODES) -> None:
        self.vnodes = vnodes
        self._members: set[str] = set()
        self._points: list[int] = []
        self._owners: list[str] = []

    def __contains__(self, url: str) -> bool:
        return url in self._members

    def __len__(self) -> int:
        return len(self._members)

    def add(self, url: str) -> None:
        if url in self._members:
            return
        self._members.add(url)
        points = [(stable_hash(f"{url}#{i}".encode()), url) for i in range(self.vnodes)]
        self._rebuild(list(zip(self._points, self._owners, strict=True)) + points)

    def remove(self, url: str) -> None:
        if url not in self._members:
            return
        self._members.discard(url)
        self._rebuild([(p, o) for p, o in zip(self._points, self._owners, strict=True) if o != url])

    def walk(self, key_hash: int) -> Iterator[str]:
        """Owners clockwise from `key_hash`, one full turn (repeats included)."""
        n = len(self._points)
        start = bisect.bisect_left(self._points, key_hash)
        for i in range(n):
            yield self._owners[(start + i) % n]

    def _rebuild(self, pairs: list[tuple[int, str]]) -> None:
        pairs.sort()  # ties (astronomically rare) resolve by URL, the same everywhere
        self._points = [p for p, _ in pairs]
        self._owners = [o for _, o in pairs]
