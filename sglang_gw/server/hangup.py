"""Cancel a request's task when its client hangs up, without a task of its own.

A watcher task per request (await `receive()` until `http.disconnect`, then cancel) was a
measurable share of a short chat's CPU (creating the task, its first step, cancelling and
stepping it again at the end; figures in docs/performance.md).
`HangUpWatch` runs `receive()` by hand instead. It starts the coroutine with
`send(None)`; when it waits, it hands back the future it waits on, and the watch resumes it
from that future's done-callback. A disconnect cancels the task; closing the watch closes
the waiting coroutine (the server's own cleanup runs, as on a cancel).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive

from sglang_gw.server.coalesce import steppable

__all__ = ["HangUpWatch"]


class HangUpWatch:
    """Watches `receive` for `http.disconnect` and then cancels `task` (`hung_up` says so)."""

    __slots__ = ("_closed", "_loop", "_receive", "_step", "_task", "_waiting", "hung_up")

    def __init__(self, receive: Receive, task: asyncio.Task[Any]) -> None:
        self._receive = receive
        self._task = task
        self._loop = task.get_loop()
        self._step: Any = None  # the `receive()` coroutine while it waits
        self._waiting: asyncio.Future[Any] | None = None  # the future it waits on, holding `_advance`
        self._closed = False
        self.hung_up = False
        self._advance()

    def close(self) -> None:
        self._closed = True
        step, self._step = self._step, None
        if step is not None:
            step.close()
        # A future that outlives the request (a server's own, not one made for this wait)
        # would keep the watch through `_advance`, and the watch keeps `receive`: a cycle
        # when `receive` holds that future, left for the collector (16 objects a stream).
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.remove_done_callback(self._advance)

    def _advance(self, _future: object = None) -> None:
        """Run `receive()` until it waits (then come back when it may go on) or ends."""
        step, self._step = self._step, None
        self._waiting = None
        while not self._closed:
            if step is None:
                step = steppable(self._receive())
            try:
                signal = step.send(None)
            except StopIteration as done:
                step = None
                if done.value.get("type") == "http.disconnect":
                    self.hung_up = True
                    self._task.cancel()
                    return
                continue  # a message that is not a hang-up: wait for the next one
            except BaseException:  # noqa: BLE001 - the server's receive failed: nothing left to watch
                return
            self._step = step
            if isinstance(signal, asyncio.Future):
                signal._asyncio_future_blocking = False  # what a task does with a future it awaits
                signal.add_done_callback(self._advance)
                self._waiting = signal
            else:  # a bare yield (asyncio.sleep(0)): go on at the next turn of the loop
                self._loop.call_soon(self._advance)
            return
