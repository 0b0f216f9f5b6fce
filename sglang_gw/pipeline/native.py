"""Frame stage for SGLang's native /generate (cumulative text per streamed event)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from sglang_gw.pipeline.dispatch import Generation
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest

__all__ = ["NativeResponder"]

_encode = msgspec.json.Encoder().encode


class NativeResponder:
    def __init__(self, prepared: list[PreparedRequest], generations: list[Generation]) -> None:
        self.started = time.perf_counter()
        self.prepared = prepared
        self.generations = generations
        n = prepared[0].sampling.n
        self.n = n
        total = len(prepared) * n
        self.texts = [""] * total
        self.ids: list[list[int]] = [[] for _ in range(total)]
        self.finish: list[dict[str, Any] | None] = [None] * total

    def _apply(self, delta: ChoiceDelta) -> int:
        i = delta.index
        self.texts[i] += delta.text
        self.ids[i].extend(delta.token_ids)
        if delta.finish_reason is not None:
            reason: dict[str, Any] = {"type": delta.finish_reason}
            if delta.finish_reason == "length":
                reason["length"] = len(self.ids[i])
            elif delta.matched_stop is not None:
                reason["matched"] = delta.matched_stop
            self.finish[i] = reason
        return i

    def _item(self, i: int) -> dict[str, Any]:
        gen = self.generations[i // self.n]
        prepared = self.prepared[i // self.n]
        return {
            "text": self.texts[i],
            "output_ids": self.ids[i],
            "meta_info": {
                "id": prepared.request_id if self.n == 1 else f"{prepared.request_id}-{i % self.n}",
                "finish_reason": self.finish[i],
                "prompt_tokens": len(prepared.prompt_ids),
                "completion_tokens": len(self.ids[i]),
                "cached_tokens": gen.usage.cached_tokens,
                "e2e_latency": time.perf_counter() - self.started,
            },
        }

    # A StreamFramer (pipeline/framing.py); meta_info carries the counts, so no usage chunk.
    def start(self, usage_of: object = None) -> bytes:
        return b""

    def frames(self, delta: ChoiceDelta) -> bytes:
        return b"data: " + _encode(self._item(self._apply(delta))) + b"\n\n"

    def tail(self) -> bytes:
        return b""

    # `usage_of` is accepted for the common responder shape.

    async def complete(self, deltas: AsyncIterator[ChoiceDelta], usage_of: object = None) -> Any:
        async for delta in deltas:
            self._apply(delta)
        items = [self._item(i) for i in range(len(self.texts))]
        return items[0] if len(items) == 1 else items
