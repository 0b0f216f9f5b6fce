"""A task the gateway keeps running in the background until it is stopped.

Health checks, load polling and the loop-lag monitor each run one long-lived task. This is
their start/stop: starting twice is harmless, stopping cancels the task and waits for it,
and a stop that is itself cancelled (a shutdown) still raises.
"""

from __future__ import annotations

import asyncio

__all__ = ["BackgroundTask"]


class BackgroundTask:
    """Subclasses give `_run()`, the coroutine that runs until cancelled."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the task and wait for it; safe to call twice or before `start`."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            # Our own cancellation of the task; re-raise only if *we* are being cancelled.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    async def _run(self) -> None:
        raise NotImplementedError
