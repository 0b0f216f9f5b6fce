"""Helpers for async streams: wait for the first item before committing to a response."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import TypeVar

__all__ = ["primed"]

T = TypeVar("T")


async def primed(source: AsyncGenerator[T, None]) -> AsyncIterator[T]:
    """Await the first item now (errors surface as a plain HTTP error), then the rest lazily.

    The returned iterator owns `source` and closes it when it is closed itself.
    """
    try:
        first = await anext(source)
    except StopAsyncIteration:
        return _Primed(None, source, empty=True)
    except BaseException:
        await source.aclose()
        raise
    return _Primed(first, source)


class _Primed:
    """`first`, then `source`: a plain iterator object, so no extra generator hop per item."""

    __slots__ = ("_first", "_source", "_pending")

    def __init__(self, first: object, source: AsyncGenerator, *, empty: bool = False) -> None:
        self._first = first
        self._source = source
        self._pending = not empty

    def __aiter__(self) -> _Primed:
        return self

    def __anext__(self) -> Awaitable[object]:
        # A plain method handing back the source's own awaitable: no coroutine frame of
        # ours is resumed per item, only the source's.
        if self._pending:
            self._pending = False
            return _ready(self._first)
        return self._source.__anext__()

    async def aclose(self) -> None:
        await self._source.aclose()


async def _ready(value: object) -> object:
    return value
