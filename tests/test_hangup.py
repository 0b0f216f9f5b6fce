"""HangUpWatch: a hang-up cancels the task; other messages do not; closing ends the wait."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from sglang_gw.server.hangup import HangUpWatch


class _Client:
    """An ASGI `receive` fed by the test; counts the calls that were closed while waiting."""

    def __init__(self, *, bare_yield: bool = False) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = 0
        self.bare_yield = bare_yield

    async def receive(self) -> dict[str, Any]:
        try:
            if self.bare_yield:
                await asyncio.sleep(0)
            return await self.queue.get()
        except GeneratorExit:
            self.closed += 1
            raise


@pytest.mark.parametrize("bare_yield", [False, True])
async def test_a_hang_up_cancels_the_task_and_other_messages_do_not(bare_yield: bool) -> None:
    client = _Client(bare_yield=bare_yield)
    task = asyncio.current_task()
    assert task is not None
    watch = HangUpWatch(client.receive, task)
    client.queue.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    for _ in range(5):
        await asyncio.sleep(0)
    assert not watch.hung_up
    client.queue.put_nowait({"type": "http.disconnect"})
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(1)
    assert watch.hung_up
    assert task.uncancel() == 0
    watch.close()


async def test_closing_ends_the_wait_and_nothing_is_cancelled() -> None:
    client = _Client()
    task = asyncio.current_task()
    assert task is not None
    watch = HangUpWatch(client.receive, task)
    await asyncio.sleep(0)
    watch.close()
    assert client.closed == 1
    client.queue.put_nowait({"type": "http.disconnect"})  # too late: nobody watches
    await asyncio.sleep(0.01)
    assert not watch.hung_up and task.cancelling() == 0


class _Awaitable:
    """An awaitable that is not a coroutine, as granian's `receive` returns."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __await__(self) -> Any:
        return self._inner.__await__()


async def test_a_closed_watch_leaves_nothing_on_a_future_that_outlives_it() -> None:
    """A `receive` that waits on a future of its own making, which lives on after the
    request: the closed watch and its `receive` are freed at once, no cycle for the collector."""
    never: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        return await never

    task = asyncio.current_task()
    assert task is not None
    gc.disable()  # only reference counting may free the watch
    try:
        watch = HangUpWatch(receive, task)
        gone = weakref.ref(receive)
        del receive
        await asyncio.sleep(0)
        watch.close()
        del watch
        assert gone() is None
    finally:
        gc.enable()
    never.set_result({"type": "http.disconnect"})  # nobody watches any more
    await asyncio.sleep(0)
    assert task.cancelling() == 0


async def test_a_receive_that_returns_a_plain_awaitable_is_watched() -> None:
    client = _Client()
    task = asyncio.current_task()
    assert task is not None
    watch = HangUpWatch(lambda: _Awaitable(client.receive()), task)
    client.queue.put_nowait({"type": "http.disconnect"})
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(1)
    assert watch.hung_up
    assert task.uncancel() == 0
    watch.close()
