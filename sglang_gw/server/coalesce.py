"""Take an async stream's items in batches of those that are ready together.

When one socket read from a worker carries several gRPC messages (several tokens of one
stream), the frames made from them are ready at once: awaiting the next one would not
suspend. Writing each on its own costs an ASGI `send` and a socket write per token, the
largest single cost of a stream (a third of the event loop's time in a 64-stream
profile). So the SSE response sends every frame that is ready in one write.

"Ready" is observed, not guessed: `__anext__()` is started by hand with `send(None)`. If
it finishes at once, its frame joins the batch; if it wants to wait (it hands back the
future it waits on), the batch is written first and the started step is then awaited by
relaying its futures to the task, the way `yield from` would. No latency is added: a
frame is held only while the next one is already being produced without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Coroutine, Generator
from types import CoroutineType
from typing import Any, Generic, TypeVar

__all__ = ["MAX_BATCH", "ReadyBatches", "Resume", "steppable"]

T = TypeVar("T")
# A cap, so a deep queue (a stream that is already complete) still goes out in pieces
# and other tasks get the loop between them.
MAX_BATCH = 64


def steppable(awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]:
    """`awaitable` as a coroutine, to be run by hand with `send(None)`. ASGI only promises
    that a server's `send` and `receive` return awaitables: uvicorn's are coroutines (taken
    as they are), granian's are not (wrapped in one)."""
    if type(awaitable) is CoroutineType:
        return awaitable  # type: ignore[return-value]
    return _awaiting(awaitable)


async def _awaiting(awaitable: Awaitable[T]) -> T:
    return await awaitable


class Resume:
    """Await a started step (a coroutine run by hand with `send(None)` that suspended):
    relay what it waits on to the task, and the task's cancellation back to it."""

    __slots__ = ("_step", "_signal", "_throw")

    def __init__(self, step: Any, signal: Any, throw: BaseException | None = None) -> None:
        self._step = step
        self._signal = signal  # what the step yielded: the future it waits on, or None
        self._throw = throw  # thrown into the step instead of waiting on `signal`

    def __await__(self) -> Generator[Any, Any, Any]:
        step, signal, error = self._step, self._signal, self._throw
        value = None
        while True:
            if error is None:
                try:
                    value = yield signal
                except GeneratorExit:
                    step.close()
                    raise
                except BaseException as exc:  # the task was cancelled: the step must see it
                    error = exc
            try:
                if error is None:
                    signal = step.send(value)
                else:
                    exc, error = error, None
                    signal = step.throw(exc)
            except StopIteration as stop:
                return stop.value


class ReadyBatches(Generic[T]):
    """Items of `items`, a list at a time: the first waited for, the rest those ready with it."""

    __slots__ = ("_items", "_step", "_signal", "_error", "_ended")

    def __init__(self, items: AsyncIterator[T]) -> None:
        self._items = items
        self._step: Any = None  # an `__anext__` left waiting by the last batch
        self._signal: Any = None
        self._error: Exception | None = None  # raised after the items that came before it
        self._ended = False

    async def next_batch(self) -> list[T]:
        """At least one item, or [] at the end; an error comes after the items before it."""
        batch: list[T] = []
        if self._step is not None:
            step, signal = self._step, self._signal
            self._step = self._signal = None
            try:
                batch.append(await Resume(step, signal))
            except StopAsyncIteration:
                self._ended = True
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        while not self._ended and len(batch) < MAX_BATCH:
            step = self._items.__anext__()
            try:
                signal = step.send(None)
            except StopIteration as stop:  # ready without waiting
                batch.append(stop.value)
                continue
            except StopAsyncIteration:
                self._ended = True
                break
            except Exception as exc:
                if not batch:
                    raise
                self._error = exc
                break
            if batch:  # the next item needs a wait: hand over what is ready, keep the step
                self._step, self._signal = step, signal
                break
            try:
                batch.append(await Resume(step, signal))
            except StopAsyncIteration:
                self._ended = True
        return batch

    async def aclose(self) -> None:
        """Finish a step left waiting (as a cancellation, which is what it is), then close."""
        step, signal = self._step, self._signal
        self._step = self._signal = None
        if step is not None:
            try:
                await Resume(step, signal, throw=asyncio.CancelledError())
            except (asyncio.CancelledError, StopAsyncIteration):
                pass
        await self._items.aclose()  # type: ignore[attr-defined]
