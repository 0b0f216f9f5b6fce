"""The running discovery: its sources, each with its reconciler, over one registry."""

from __future__ import annotations

import asyncio
import logging

from sglang_gw.background import BackgroundTask
from sglang_gw.discovery.config import DiscoveryConfig
from sglang_gw.discovery.file import FileSource
from sglang_gw.discovery.reconcile import Reconciler
from sglang_gw.discovery.registry import Registry

__all__ = ["Discovery"]

log = logging.getLogger(__name__)


class _Resync(BackgroundTask):
    """Every interval, registers again what a source wants but the registry lacks."""

    def __init__(self, interval: float, reconcilers: list[Reconciler]) -> None:
        super().__init__("discovery-resync")
        self._interval = interval
        self._reconcilers = reconcilers

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            for reconciler in self._reconcilers:
                reconciler.resync()


class Discovery:
    """Start-up: (1) read the file and register its workers, (2) connect to Kubernetes and
    start the watches, (3) start the resync loop. Shutdown: stop all three, then cancel the
    adds and drains still pending (the gateway closes every worker next)."""

    def __init__(self, config: DiscoveryConfig, registry: Registry) -> None:
        self.config = config
        self.reconcilers: dict[str, Reconciler] = {}
        self._tasks: list[BackgroundTask] = []
        if config.file is not None:
            files = self.reconcilers["file"] = Reconciler("file", registry)
            self._tasks.append(FileSource(config.file, files, config.check_interval_secs))
        if config.kubernetes is not None:
            from sglang_gw.discovery.kubernetes import KubernetesSource  # the client loads only when used

            pods = self.reconcilers["kubernetes"] = Reconciler("kubernetes", registry)
            self._tasks.append(KubernetesSource(config.kubernetes, pods))
            self._tasks.append(_Resync(config.check_interval_secs, [pods]))

    async def start(self) -> None:
        for task in self._tasks:
            await task.start()

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            await task.stop()
        for reconciler in self.reconcilers.values():
            await reconciler.stop()

    async def idle(self) -> None:
        """Wait until every pending add and drain is done."""
        for reconciler in self.reconcilers.values():
            await reconciler.idle()
