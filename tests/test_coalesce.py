"""ReadyBatches: items ready together come in one batch; nothing is held back or lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sglang_gw.server.coalesce import MAX_BATCH, ReadyBatches


class Feed:
    """An async stream fed by the test: `put` several items, and they are ready together."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.cleaned_up = False

    def put(self, *items: object) -> None:
        self.items.extend(items)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def stream(self) -> AsyncIterator[object]:
        try:
            while True:
                while not self.items:
                    if self.closed:
                        return
                    self.waiter = asyncio.get_running_loop().create_future()
                    await self.waiter
                item = self.items.pop(0)
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.cleaned_up = True

    def end(self) -> None:
        self.closed = True
        self.put()


async def collect(batches: ReadyBatches) -> list[list[object]]:
    out = []
    while batch := await batches.next_batch():
        out.append(batch)
    return out


async def test_items_ready_together_come_in_one_batch() -> None:
    feed = Feed()
    batches = ReadyBatches(feed.stream())
    task = asyncio.ensure_future(collect(batches))
    await asyncio.sleep(0)
    feed.put(1)
    await asyncio.sleep(0.01)
    feed.put(2, 3, 4)
    await asyncio.sleep(0.01)
    feed.put(5)
    await asyncio.sleep(0.01)
    feed.end()
    assert await task == [[1], [2, 3, 4], [5]]
    await batches.aclose()
    assert feed.cleaned_up


async def test_a_ready_item_is_not_held_while_the_next_is_awaited() -> None:
    feed = Feed()
    batches = ReadyBatches(feed.stream())
    feed.put("a", "b")
    assert await batches.next_batch() == ["a", "b"]
    # The next step is now waiting: the call must block until an item comes, then return it.
    pending = asyncio.ensure_future(batches.next_batch())
    await asyncio.sleep(0.01)
    assert not pending.done()
    feed.put("c")
    assert await asyncio.wait_for(pending, 10) == ["c"]
    await batches.aclose()


async def test_a_deep_queue_comes_in_capped_batches() -> None:
    feed = Feed()
    feed.put(*range(MAX_BATCH * 2 + 3))
    feed.end()
    batches = ReadyBatches(feed.stream())
    sizes = [len(b) for b in await collect(batches)]
    assert sizes == [MAX_BATCH, MAX_BATCH, 3]


async def test_an_error_comes_after_the_items_before_it() -> None:
    feed = Feed()
    feed.put(1, 2, ValueError("boom"))
    batches = ReadyBatches(feed.stream())
    assert await batches.next_batch() == [1, 2]
    with pytest.raises(ValueError, match="boom"):
        await batches.next_batch()


async def test_closing_while_a_step_waits_cancels_it_and_runs_cleanup() -> None:
    feed = Feed()
    feed.put("x")
    batches = ReadyBatches(feed.stream())
    assert await batches.next_batch() == ["x"]
    pending = asyncio.ensure_future(batches.next_batch())
    await asyncio.sleep(0.01)
    pending.cancel()  # the task waiting in the stream is cancelled: the stream sees it
    with pytest.raises(asyncio.CancelledError):
        await pending
    await batches.aclose()
    assert feed.cleaned_up


async def test_closing_with_a_step_left_waiting_by_a_batch() -> None:
    feed = Feed()
    feed.put("x", "y")
    batches = ReadyBatches(feed.stream())
    assert await batches.next_batch() == ["x", "y"]  # leaves the third step started, waiting
    await batches.aclose()
    assert feed.cleaned_up
