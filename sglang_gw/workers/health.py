"""Background loops over the worker fleet: `HealthChecker` (the `HealthCheck` RPC, flipping
`Worker.healthy` after smg's thresholds) and `LoadMonitor` (`GetLoads` into `Worker.load`).

Both run one round over all workers concurrently, sleep one interval, and go again. One
worker's failure is that worker's outcome, never the loop's: a round that raises (a bug, a
`workers()` callable that failed) is logged and the next round runs on time.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sglang_gw.background import BackgroundTask
from sglang_gw.errors import ConfigError, WorkerError
from sglang_gw.workers.lora import refresh_adapters
from sglang_gw.workers.pool import Worker

__all__ = ["HealthChecker", "HealthConfig", "LoadMonitor", "OnHealthChange"]

log = logging.getLogger(__name__)

Workers = Callable[[], Iterable[Worker]]
OnHealthChange = Callable[[Worker, bool], Awaitable[None] | None]


@dataclass(slots=True, frozen=True)
class HealthConfig:
    """Defaults are smg's: `--health-check-interval-secs 60`, `--health-check-timeout-secs
    5`, `--health-failure-threshold 3`, `--health-success-threshold 2`;
    `--disable-health-check` is `enabled=False`. smg's CLI wants whole seconds ≥ 1; here any
    positive value goes, so tests can run in milliseconds."""

    interval_secs: float = 60.0
    timeout_secs: float = 5.0
    failure_threshold: int = 3
    success_threshold: int = 2
    enabled: bool = True

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "success_threshold"):
            if getattr(self, name) < 1:
                raise ConfigError(f"health {name} must be at least 1")
        for name in ("interval_secs", "timeout_secs"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"health {name} must be positive")


def _cancelling() -> bool:
    """Whether this task is being cancelled, rather than a call in it: grpc.aio raises
    CancelledError in every call in flight on a channel that closes (a worker removed
    mid-probe), and that must not end the loop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _Periodic(BackgroundTask):
    """A task that runs `run_once()` every `interval` seconds until stopped."""

    def __init__(self, interval: float, name: str) -> None:
        super().__init__(name)
        self.interval = interval

    async def run_once(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except Exception:  # the loop outlives any one bad round
                log.exception("%s: round failed; next one in %.3gs", self._name, self.interval)


@dataclass(slots=True)
class _Streak:
    failures: int = 0
    successes: int = 0


class HealthChecker(_Periodic):
    """Probes every worker each interval; `failure_threshold` failures in a row mark a
    worker unhealthy (the pool stops selecting it), `success_threshold` successes in a row
    bring it back. A probe fails on any exception, on no answer within `timeout_secs`, or
    on an answer of `healthy=False`. `on_change(worker, healthy)` — plain or async — is
    called after each flip. A passing probe also tells the worker's breaker, which lets
    an open circuit go half-open (the worker is back: let requests probe it)."""

    def __init__(
        self,
        config: HealthConfig,
        workers: Workers,
        *,
        on_change: OnHealthChange | None = None,
    ) -> None:
        super().__init__(config.interval_secs, "health-checker")
        self.config = config
        self._workers = workers
        self._on_change = on_change
        self._streaks: dict[Worker, _Streak] = {}

    async def start(self) -> None:
        if self.config.enabled:
            await super().start()

    async def run_once(self) -> None:
        """One round: probe all workers concurrently and apply the outcomes."""
        workers = list(self._workers())
        # Forget workers that left the fleet, so a re-added one starts with a clean slate.
        self._streaks = {w: self._streaks.get(w) or _Streak() for w in workers}
        started = [w.breaker.now() if w.breaker is not None else 0.0 for w in workers]
        outcomes = await asyncio.gather(*(self._probe(w) for w in workers))
        for worker, ok, since in zip(workers, outcomes, started, strict=True):
            if ok and worker.breaker is not None:
                worker.breaker.health_passed(since)  # an open circuit half-opens: see breaker.py
            await self._apply(worker, ok)

    async def _probe(self, worker: Worker) -> bool:
        timeout = self.config.timeout_secs
        try:
            # The deadline goes to the RPC; the asyncio timeout also bounds a client that
            # ignores it.
            async with asyncio.timeout(timeout):
                status = await worker.client.health(timeout=timeout)
        except (WorkerError, TimeoutError) as err:
            log.debug("health check of %s failed: %s", worker.url, str(err) or "timed out")
            return False
        except asyncio.CancelledError:
            if _cancelling():
                raise
            log.debug("health check of %s ended with its channel (the worker was removed)", worker.url)
            return False
        except Exception:
            log.warning("health check of %s raised", worker.url, exc_info=True)
            return False
        if not status.healthy:
            log.debug("worker %s reports unhealthy: %s", worker.url, status.message)
        return status.healthy

    async def _apply(self, worker: Worker, ok: bool) -> None:
        streak = self._streaks.setdefault(worker, _Streak())
        if ok:
            streak.failures, streak.successes = 0, streak.successes + 1
            flip = not worker.healthy and streak.successes >= self.config.success_threshold
        else:
            streak.failures, streak.successes = streak.failures + 1, 0
            flip = worker.healthy and streak.failures >= self.config.failure_threshold
        if flip:
            worker.healthy = ok
            log.warning("worker %s is now %s", worker.url, "healthy" if ok else "unhealthy")
            await self._notify(worker, ok)

    async def _notify(self, worker: Worker, healthy: bool) -> None:
        if self._on_change is None:
            return
        try:
            result = self._on_change(worker, healthy)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a listener's bug must not stop health checking
            log.exception("health on_change listener failed for %s", worker.url)


class LoadMonitor(_Periodic):
    """Polls `GetLoads` on every worker each interval (smg's `--load-monitor-interval`,
    default 10 s) and stores running + waiting requests over all DP ranks in
    `Worker.load`, and its LoRA adapters into `Worker.adapters`. A failed poll leaves the
    last value: health decides liveness. A worker whose KV event stream pushes its load
    (`Worker.load_pushed`) is not polled for it."""

    def __init__(self, interval: float, workers: Workers) -> None:
        if not interval > 0:
            raise ConfigError("load monitor interval must be positive")
        super().__init__(interval, "load-monitor")
        self._workers = workers

    async def run_once(self) -> None:
        await asyncio.gather(*(self._poll(w) for w in self._workers()))

    async def _poll(self, worker: Worker) -> None:
        try:
            await refresh_adapters(worker)  # a worker may evict an adapter on its own
            if worker.load_pushed:
                return
            resp = await worker.client.loads()
        except asyncio.CancelledError:
            if _cancelling():
                raise
            return  # its channel closed under the poll: the worker was removed
        except Exception as err:  # a missed sample keeps the last one
            log.debug("load poll of %s failed: %s", worker.url, err)
            return
        worker.load = sum(load.num_running_reqs + load.num_waiting_reqs for load in resp.loads)
