"""Run several generations (a batch of prompts) at once: their deltas interleaved, their usage summed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from sglang_gw.pipeline.dispatch import Generation
from sglang_gw.pipeline.types import ChoiceDelta, Usage

__all__ = ["merged_deltas", "usage_of"]

_DONE = object()


def merged_deltas(generations: list[Generation]) -> AsyncGenerator[ChoiceDelta, None]:
    """One generation's deltas as they are (no extra hop per token), or several interleaved."""
    if len(generations) == 1:
        return generations[0].deltas()
    return _interleaved(generations)


async def _interleaved(generations: list[Generation]) -> AsyncGenerator[ChoiceDelta, None]:
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump(gen: Generation) -> None:
        try:
            async for delta in gen.deltas():
                await queue.put(delta)
            await queue.put(_DONE)
        except Exception as err:  # handed to the consumer, which re-raises it
            await queue.put(err)

    tasks = [asyncio.create_task(pump(g)) for g in generations]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is _DONE:
                remaining -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item  # type: ignore[misc]
    finally:
        # Cancelling a pump closes its generation, which aborts its worker call.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def usage_of(generations: list[Generation]) -> Callable[[], Usage]:
    """The request's usage so far, summed over its generations (responders ask for it
    when they write usage)."""

    def total() -> Usage:
        usage = Usage()
        for gen in generations:
            usage.add(Usage(len(gen.prepared.prompt_ids), gen.completion_tokens(), gen.usage.cached_tokens))
        return usage
    return total
