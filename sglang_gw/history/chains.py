"""The contexts of recent responses, kept by the process that read or wrote them.

A continuation (`previous_response_id`) needs every item of the chain before it. Read from
the database, that is a walk of the chain and a decode of each of its items, every turn, and
the chain only grows. But the process that saved a response has just had its context in
hand: the previous response's context (read for this very turn) plus this response's own
items. `ChainCache` keeps that, as the items' JSON texts, so the next turn decodes it in one
call and reads nothing.

It is only right while no response it covers was changed: deleted (a chain stops at a
deleted response) or saved again (a background response's output). The store that owns the
cache clears it whenever it sees such a change (see SqlHistory); entries from before a clear
are never added after it (`generation`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgspec

__all__ = ["Chain", "ChainCache"]

_decode = msgspec.json.decode


@dataclass(slots=True, frozen=True)
class Chain:
    owner: str
    depth: int  # responses in the chain
    parts: tuple[bytes, ...]  # the items' JSON texts, oldest first, comma-joined in runs (a JSON array's inside)

    def decoded(self) -> list[dict[str, Any]]:
        return _decode(b"[" + b",".join(self.parts) + b"]") if self.parts else []  # type: ignore[no-any-return]


class ChainCache:
    """At most `max_chains` contexts, by response id, least recently used dropped first."""

    def __init__(self, max_chains: int, max_depth: int) -> None:
        self.max_chains = max_chains
        self.max_depth = max_depth  # a longer chain is cut by the database's walk: not kept here
        self._chains: OrderedDict[str, Chain] = OrderedDict()
        self.generation = 0  # moves at every clear

    def __len__(self) -> int:
        return len(self._chains)

    def get(self, owner: str, response_id: str) -> Chain | None:
        chain = self._chains.get(response_id)
        if chain is None or chain.owner != owner:
            return None
        self._chains.move_to_end(response_id)
        return chain

    def put(self, response_id: str, chain: Chain, generation: int) -> None:
        """Keep `chain`, unless the cache was cleared since `generation` was read (it may
        describe a response changed meanwhile) or it is too deep."""
        if generation != self.generation or chain.depth > self.max_depth:
            return
        self._chains[response_id] = chain
        self._chains.move_to_end(response_id)
        while len(self._chains) > self.max_chains:
            self._chains.popitem(last=False)

    def clear(self) -> None:
        self._chains.clear()
        self.generation += 1
