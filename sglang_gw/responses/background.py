"""Background responses (`background: true`): run by the gateway after the request is answered.

Each run is a task keyed by its response id, bounded by `--max-background-responses` (a
request past the bound is a 429, as smg answers). `cancel` stops a run and waits until it
has saved its `cancelled` state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sglang_gw.errors import RateLimitError

__all__ = ["BackgroundRuns"]

log = logging.getLogger(__name__)


class BackgroundRuns:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def check_room(self) -> None:
        """Refuse a new background response when the bound is reached (before it is stored)."""
        if len(self._tasks) >= self.limit:
            raise RateLimitError(f"at most {self.limit} background responses may run at once; try again later")

    def submit(self, response_id: str, run: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(run, name=f"background {response_id}")
        self._tasks[response_id] = task
        task.add_done_callback(lambda t: self._done(response_id, t))

    def _done(self, response_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.pop(response_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("background response %s failed", response_id, exc_info=task.exception())

    async def cancel(self, response_id: str) -> bool:
        """Stop the run of `response_id` here; False when this process is not running it."""
        task = self._tasks.get(response_id)
        if task is None:
            return False
        task.cancel()
        await asyncio.wait({task})
        return True

    async def close(self) -> None:
        """Shutdown: cancel every run (each saves its `cancelled` state)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
