"""SSE keep-alive pings (``--sse-keepalive-secs``): an SSE comment on a quiet stream, so a
proxy or load balancer with an idle timeout does not cut a stream that waits on a long
prefill or a slow worker. Clients ignore comment lines (the SSE spec's ``:`` prefix).

Two timers, neither a task while nothing is due:

- :class:`HeadPinger`, before the worker's first message: the answer's status waits for
  that message (a failure before it is an ordinary HTTP error, docs/architecture.md), but
  not forever: after one interval the 200 head and a ping go out, then a ping per interval,
  and from then on a failure is an SSE error event;
- :class:`QuietTimer`, after it: a ping whenever nothing was written for an interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Send

__all__ = ["PING", "HeadPinger", "QuietTimer", "ping_message"]

PING = b": keepalive\n\n"


class HeadPinger:
    """Until `halt()`: after `interval` the response's `start` and a ping, then a ping per
    interval, each sent by a short task (the request's own task is waiting on the worker)."""

    __slots__ = ("_body_send", "_interval", "_loop", "_send", "_start", "_task", "_timer", "committed")

    def __init__(self, send: Send, body_send: Send, start: Message, interval: float) -> None:
        self._send = send
        self._body_send = body_send
        self._start = start
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._timer = self._loop.call_later(interval, self._due)
        self.committed = False  # the start went out: the status can no longer change

    def halt(self) -> bool:
        """Stop pinging; True when the start was sent (the body goes on after it). A send
        cancelled half-way wrote nothing, so `committed` is exact."""
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
        return self.committed

    def _due(self) -> None:
        self._timer = self._loop.call_later(self._interval, self._due)
        if self._task is None or self._task.done():  # one send at a time (a full socket waits)
            self._task = self._loop.create_task(self._ping())

    async def _ping(self) -> None:
        if not self.committed:
            await self._send(self._start)
            self.committed = True
        await self._body_send(ping_message())


class QuietTimer:
    """Calls `ping()` whenever `interval` seconds pass after `last_write()` (a time on the
    event loop's clock) with nothing written; checked once an interval, not per write."""

    __slots__ = ("_interval", "_last_write", "_loop", "_ping", "_timer")

    def __init__(self, interval: float, last_write: Callable[[], float], ping: Callable[[], Any]) -> None:
        self._interval = interval
        self._last_write = last_write
        self._ping = ping
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_at(last_write() + interval, self._check)

    def close(self) -> None:
        self._timer.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        due = self._last_write() + self._interval
        if now >= due:
            self._ping()
            due = now + self._interval
        self._timer = self._loop.call_at(due, self._check)


def ping_message() -> Message:
    """The body message of one ping."""
    return {"type": "http.response.body", "body": PING, "more_body": True}
