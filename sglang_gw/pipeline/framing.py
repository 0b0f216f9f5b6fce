"""The frame stage's shape for streams: a responder turns each delta into SSE bytes, synchronously.

A responder (chat, completion, native) is a `StreamFramer`: `start(usage_of)` before the
first delta, `frames(delta)` for each, `tail()` after the last. Keeping the framing
synchronous lets the same code serve both ways a stream is driven: pulled through
`framed_stream` (an async generator over the deltas), or pushed one worker message at a
time from the connection's callback (`server/push.py`), which skips the chain of awaits a
pulled token costs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from sglang_gw.pipeline.types import ChoiceDelta, Usage

__all__ = ["Responder", "StreamFramer", "framed_stream"]


class StreamFramer(Protocol):
    def start(self, usage_of: Callable[[], Usage]) -> bytes:
        """What goes out before the first delta (b"" for nothing); `usage_of` gives the
        request's usage so far, for usage chunks."""
        ...

    def frames(self, delta: ChoiceDelta) -> bytes:
        """The SSE events one delta makes (b"" when it says nothing to the client)."""
        ...

    def tail(self) -> bytes:
        """What goes out after the last delta of a stream that ended normally."""
        ...


class Responder(StreamFramer, Protocol):
    """Everything a route's handler asks of a responder (chat, completion, native): the
    stream's frames, or the whole answer at once."""

    async def complete(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> Any:
        """The non-streaming answer's JSON body, from every delta of every choice."""
        ...


async def framed_stream(framer: StreamFramer, deltas: AsyncIterator[ChoiceDelta],
                        usage_of: Callable[[], Usage]) -> AsyncIterator[bytes]:
    """`deltas` pulled through `framer`: the SSE body, an item per non-empty piece."""
    if head := framer.start(usage_of):
        yield head
    frames = framer.frames
    async for delta in deltas:
        if body := frames(delta):
            yield body
    if tail := framer.tail():
        yield tail
