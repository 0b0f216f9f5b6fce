"""Request starts take turns with the rest of the event loop.

When many requests arrive together (64 clients opening streams in the same moment), the
server reads them all in one pass over its sockets and makes a task of each, and the loop's
next iteration runs every task's first step back to back. Each of those steps is the whole
start of a request (middleware, route, body, prepare, dispatch): no single one is long, but
together they are one long iteration, and the loop looks at its timers and sockets (the
tokens of the streams already open) only between iterations.

So a request's start first asks :meth:`StartBudget.over`. The first start after the loop
came back opens a window, and schedules its end with ``call_soon``: that callback runs at
the loop's next iteration, before the starts that wait for it. Once the window is older
than the budget, the starts still to come :meth:`~StartBudget.wait` for the next iteration,
which runs the loop's timers and I/O too; there they ask again, in the order they came (a
task that yields is queued behind the tasks already waiting, and new arrivals behind them),
so none is passed over. A lone request opens a window and finds it fresh: what it costs is
one clock read and one ``call_soon``.

The clock is wall time: a loop kept off its core mid-burst has kept its timers waiting too.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["START_BUDGET", "StartBudget"]

# Starts that begin within this long of the first start of an iteration run in it; later
# ones wait for the next iteration. A task that slept (the lag monitor's, a stream's timer)
# wakes up behind the starts that waited, so it may sit out up to two windows, plus the
# reads and any collection between them: the budget is kept small against issue 34's 20 ms.
START_BUDGET = 0.003


class StartBudget:
    """How long request starts may hold one iteration of the loop; one per app."""

    def __init__(self, budget: float = START_BUDGET) -> None:
        self.budget = budget
        self._opened: float | None = None  # when this iteration's first start began
        self._windows = 0  # windows opened so far (to tell a window that never closed)
        self.deferred = 0  # starts that waited for a later iteration, since start

    def over(self) -> bool:
        """Has this iteration's window used its budget? (Opens the window if none is open.)"""
        now = time.perf_counter()
        if self._opened is None:
            self._opened = now
            self._windows += 1
            asyncio.get_running_loop().call_soon(self._close)
            return False
        return now - self._opened >= self.budget

    async def wait(self) -> None:
        """Yield to the loop until a start fits in an iteration's window."""
        self.deferred += 1
        while True:
            window = self._windows
            await asyncio.sleep(0)
            if self._windows == window and self._opened is not None:
                # Its end was scheduled before this task yielded, so it should have run: the
                # loop that opened it is gone (an app served by one loop after another).
                self._opened = None
            if not self.over():
                return

    def _close(self) -> None:
        self._opened = None
