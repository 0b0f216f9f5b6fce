"""Request starts take turns with the rest of the event loop.

When many requests arrive together (64 clients opening streams in the same moment), the
server reads them all in one pass over its sockets and makes a task of each, and the loop's
next iteration runs every task's first step back to back. Each of those steps is the whole
start of a request (middleware, route, body, prepare, dispatch): no single one is long, but
together they are one long iteration, and the loop looks at its timers and sockets (the
tokens of the streams already open) only between iterations.

So a request's start first asks :meth:`StartBudget.over`. The first start of an iteration
opens a window and schedules its end with ``call_soon`` (that callback runs early in the
loop's next iteration). Starts that come while the window is younger than the budget go
on; later ones :meth:`~StartBudget.wait` in a queue, oldest first, and so does every start
that comes while the queue is not empty: none is passed over. The window's end wakes as
many of them as began within the last window's budget, plus one; they run in the
iteration after that (so the loop's timers and I/O have run in between) and open the next
window.
Each waiting start is woken once, so a burst of N costs O(N), however large. A lone
request opens a window and finds it fresh: a clock read, a ``call_soon`` and the window's
end are what it costs.

The clock is wall time: a loop kept off its core mid-burst has kept its timers waiting too.
"""

from __future__ import annotations

import asyncio
import collections
import time

__all__ = ["START_BUDGET", "StartBudget"]

# Starts that begin within this long of the first start of an iteration run in it; later
# ones wait for a later iteration. A task that slept (the lag monitor's, a stream's timer)
# may wake behind a window's worth of starts, plus the reads and any collection before
# them: the budget is kept small against issue 34's 20 ms.
START_BUDGET = 0.003


class StartBudget:
    """How long request starts may hold one iteration of the loop; one per app."""

    def __init__(self, budget: float = START_BUDGET) -> None:
        self.budget = budget
        self._opened: float | None = None  # when this iteration's first start began
        self._loop: asyncio.AbstractEventLoop | None = None  # whose iteration that is
        self._began = 0  # starts of this window that began within the budget
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self._ahead = 0  # starts queued, or woken and not yet run: a newcomer goes behind them
        self.deferred = 0  # starts that waited for a later iteration, since start

    def over(self) -> bool:
        """Must this start wait for a later iteration? (If not, it is counted in this one.)"""
        now = time.perf_counter()
        if self._opened is None and not self._ahead:
            self._open(now)
            return False
        if self._loop is not asyncio.get_running_loop():  # left by a loop that is gone
            self._queue.clear()
            self._ahead = 0
            self._open(now)
            return False
        if self._ahead:
            return True
        if self._opened is None:
            self._open(now)
        elif now - self._opened < self.budget:
            self._began += 1
        else:
            return True
        return False

    async def wait(self) -> None:
        """Wait in the queue for a turn in a later iteration's window."""
        self.deferred += 1
        self._ahead += 1
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            self._ahead -= 1
            if not turn.cancelled():  # woken, then cancelled before it ran: the turn passes on
                self._wake(1)
            raise
        self._ahead -= 1
        now = time.perf_counter()
        if self._opened is None:
            self._open(now)
        elif now - self._opened < self.budget:
            self._began += 1

    def _open(self, now: float) -> None:
        self._opened, self._began = now, 1
        self._loop = loop = asyncio.get_running_loop()
        loop.call_soon(self._close)

    def _close(self) -> None:
        self._opened = None
        if self._queue:
            self._wake(self._began + 1)

    def _wake(self, n: int) -> None:
        while n and self._queue:
            turn = self._queue.popleft()
            if not turn.cancelled():  # a start cancelled while it waited has left
                turn.set_result(None)
                n -= 1
