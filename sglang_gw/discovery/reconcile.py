"""Diff a source's wanted workers against what it registered, and apply the difference.

Each source (Kubernetes, file) owns one `Reconciler`: it hands over the complete set it
wants (`replace`) or one change (`put`, `drop`). Adds and removals of one url run in order
(a pod that goes not-ready then ready again is drained, then registered again), each in its
own task, so a long drain never holds up the watch. A `replace` makes before it breaks:
the workers it drops are drained only once the ones it adds have registered (or failed),
so a file that swaps one worker for another never leaves the model without one. `resync`
registers again whatever is wanted but missing: a worker that failed to register, or was
removed as unhealthy (not a body the registry refused as invalid: that waits for the
source to change it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from sglang_gw import metrics
from sglang_gw.discovery.registry import Body, Registry
from sglang_gw.errors import GatewayError

__all__ = ["Reconciler"]

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, source: str, registry: Registry) -> None:
        self.source = source
        self._registry = registry
        self._wanted: dict[str, Body] = {}
        self._steps: dict[str, tuple[asyncio.Lock, int]] = {}  # url → its lock, steps pending
        self._refused: dict[str, Body] = {}  # bodies the registry refused as invalid
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def wanted(self) -> dict[str, Body]:
        return dict(self._wanted)

    def replace(self, wanted: Mapping[str, Body]) -> None:
        """The source's full set now: register the new, re-register the changed, then drain the gone."""
        adds = [task for url, body in wanted.items() if (task := self.put(url, body)) is not None]
        for url in [u for u in self._wanted if u not in wanted]:
            self.drop(url, after=adds)

    def put(self, url: str, body: Body) -> asyncio.Task[None] | None:
        """Want `body` at `url`; the task that registers it, if anything changed."""
        old = self._wanted.get(url)
        if old == body:
            return None
        self._wanted[url] = body
        metrics.set_discovery_workers(self.source, len(self._wanted))
        if old is not None:
            self._spawn(url, self._remove(url, "changed"))
        return self._spawn(url, self._add(url, body))

    def drop(self, url: str, *, after: Sequence[asyncio.Task[None]] = ()) -> None:
        """No longer want `url`: drain and remove it, once the tasks in `after` are done."""
        self._refused.pop(url, None)
        if self._wanted.pop(url, None) is not None:
            metrics.set_discovery_workers(self.source, len(self._wanted))
            self._spawn(url, self._remove(url, "removed", after))

    def resync(self) -> None:
        """Register again every wanted worker the registry no longer has."""
        for url, body in self._wanted.items():
            if not self._registry.present(url) and url not in self._steps and self._refused.get(url) != body:
                log.info("discovery (%s): %s is wanted but not registered; registering it again", self.source, url)
                self._spawn(url, self._add(url, body))

    async def idle(self) -> None:
        """Wait for every pending add and removal (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, url: str, step: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `step` after the url's earlier steps (one lock per url, kept while any step is pending)."""
        lock, pending = self._steps.get(url, (asyncio.Lock(), 0))
        self._steps[url] = (lock, pending + 1)

        async def run() -> None:
            try:
                async with lock:
                    await step
            finally:
                lock_now, left = self._steps[url]
                if left == 1:
                    del self._steps[url]
                else:
                    self._steps[url] = (lock_now, left - 1)

        task = asyncio.get_running_loop().create_task(run(), name=f"discovery {self.source} {url}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _add(self, url: str, body: Body) -> None:
        if self._wanted.get(url) != body:
            return  # superseded while waiting for the lock
        log.info("discovery (%s): registering %s (%s)", self.source, url, body.get("worker_type", "regular"))
        try:
            active = await self._registry.add(body)
        except (GatewayError, ValueError) as err:
            active = False
            self._refused[url] = body  # the body itself is wrong: retried only once it changes
            log.error("discovery (%s): cannot register %s: %s", self.source, url, getattr(err, "message", str(err)))
        metrics.record_discovery_event(self.source, "added" if active else "error")

    async def _remove(self, url: str, why: str, after: Sequence[asyncio.Task[None]] = ()) -> None:
        if after:
            await asyncio.wait(after)  # make before break: see the module docstring
        log.info("discovery (%s): draining and removing %s (%s)", self.source, url, why)
        await self._registry.remove(url)
        metrics.record_discovery_event(self.source, "removed")

