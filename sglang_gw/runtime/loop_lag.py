"""Event-loop lag: how late a periodic timer wakes up.

A task sleeps one interval at a time and measures how much later than due it resumed. That
delay is time the loop spent on something that did not yield: a blocking call, a long
callback, a C extension holding the GIL in another thread, or simply a queue of ready
callbacks on a saturated core. Each wake-up is one sample of
``sgl_router_event_loop_lag_seconds``; ``sgl_router_event_loop_lag_max_seconds`` keeps the
largest since start.

A stall of S seconds reads as S minus up to one interval (the sleep that was already under
way when it began absorbs that part), so short intervals see short stalls. At the default
10 ms the monitor wakes 100 times a second, a few microseconds of CPU each.

Lag alone cannot say whose fault a stall was: on a machine whose cores are busy with other
processes the OS keeps the loop's thread (or a thread holding the GIL) off the CPU for a
while. ``max_busy`` keeps the largest part of a lag that the loop's thread itself spent on
the CPU (its thread CPU time over the sleep, capped at the lag): a step of our own code
that held the loop shows there in full, and another process's load does not.

    monitor = LoopLagMonitor()
    await monitor.start()      # in the running loop, after start-up work is done
    ...
    await monitor.stop()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sglang_gw import metrics
from sglang_gw.background import BackgroundTask

__all__ = ["DEFAULT_INTERVAL", "LoopLagMonitor"]

DEFAULT_INTERVAL = 0.01


class LoopLagMonitor(BackgroundTask):
    """Samples the running loop's lag every ``interval`` seconds into the Prometheus series
    (or into ``observe`` / ``on_new_max``, which tests may replace)."""

    def __init__(self, interval: float = DEFAULT_INTERVAL, *,
                 observe: Callable[[float], None] = metrics.record_loop_lag,
                 on_new_max: Callable[[float], None] = metrics.set_loop_lag_max) -> None:
        if not interval > 0:
            raise ValueError("the loop-lag interval must be positive")
        super().__init__("loop-lag-monitor")
        self.interval = interval
        self.max_lag = 0.0
        self.max_busy = 0.0  # the most of one lag the loop's thread was on the CPU
        self.samples = 0
        self._observe = observe
        self._on_new_max = on_new_max

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            cpu = time.thread_time()  # this task runs on the loop's thread
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - due)  # the timer may fire a hair early
            busy = min(lag, time.thread_time() - cpu)
            if busy > self.max_busy:
                self.max_busy = busy
            self.record(lag)

    def record(self, lag: float) -> None:
        self.samples += 1
        self._observe(lag)
        if lag > self.max_lag:
            self.max_lag = lag
            self._on_new_max(lag)
