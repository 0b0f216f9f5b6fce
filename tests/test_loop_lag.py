"""The event-loop lag monitor sees a stall, writes the Prometheus series, and runs with the gateway."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from sglang_gw.runtime.loop_lag import LoopLagMonitor
from tests.conftest import RunningGateway

STALL = 0.06
INTERVAL = 0.005


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def stall_loop(seconds: float) -> None:
    time.sleep(seconds)  # blocking on purpose: nothing else on the loop runs meanwhile


async def run_with_stall(monitor: LoopLagMonitor) -> None:
    await monitor.start()
    await asyncio.sleep(4 * INTERVAL)  # the monitor is asleep in its timer when the stall begins
    await stall_loop(STALL)
    await asyncio.sleep(4 * INTERVAL)  # let it wake up late and record that
    await monitor.stop()


async def test_a_blocked_loop_is_recorded() -> None:
    seen: list[float] = []
    maxima: list[float] = []
    monitor = LoopLagMonitor(INTERVAL, observe=seen.append, on_new_max=maxima.append)
    await run_with_stall(monitor)
    # A stall reads as its length minus at most one interval.
    assert monitor.max_lag >= STALL - INTERVAL
    assert max(seen) == monitor.max_lag == maxima[-1]
    assert monitor.samples == len(seen) >= 2
    assert maxima == sorted(maxima)  # the gauge only ever rises


async def test_the_loops_own_work_is_told_from_a_wait() -> None:
    """`max_busy` is the part of a lag the loop's thread ran: all of a stall spent computing
    on the loop, none of one spent asleep (as when the OS or the GIL keeps the loop waiting)."""
    def burn() -> None:
        end = time.thread_time() + STALL  # thread CPU time: a busy machine cannot shorten it
        while time.thread_time() < end:
            pass

    computing = LoopLagMonitor(INTERVAL, observe=lambda _: None, on_new_max=lambda _: None)
    await computing.start()
    await asyncio.sleep(4 * INTERVAL)
    burn()
    await asyncio.sleep(4 * INTERVAL)
    await computing.stop()
    assert computing.max_busy >= STALL - INTERVAL

    waiting = LoopLagMonitor(INTERVAL, observe=lambda _: None, on_new_max=lambda _: None)
    await run_with_stall(waiting)
    assert waiting.max_lag >= STALL - INTERVAL and waiting.max_busy < STALL / 2


async def test_the_stall_reaches_the_prometheus_series() -> None:
    count_before = sample("sgl_router_event_loop_lag_seconds_count")
    slow_before = count_before - sample("sgl_router_event_loop_lag_seconds_bucket", le="0.05")
    await run_with_stall(LoopLagMonitor(INTERVAL))
    slow_after = sample("sgl_router_event_loop_lag_seconds_count") \
        - sample("sgl_router_event_loop_lag_seconds_bucket", le="0.05")
    assert sample("sgl_router_event_loop_lag_seconds_count") > count_before
    assert slow_after - slow_before >= 1  # at least one sample above 50 ms
    assert sample("sgl_router_event_loop_lag_max_seconds") >= STALL - INTERVAL


async def test_stop_is_idempotent() -> None:
    monitor = LoopLagMonitor()
    await monitor.stop()  # before start
    await monitor.start()
    await monitor.start()  # a second start keeps the one task
    assert monitor.running
    await monitor.stop()
    await monitor.stop()
    assert not monitor.running


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoopLagMonitor(0)


def test_the_gateway_runs_the_monitor(gw: RunningGateway) -> None:
    monitor = gw.gateway.loop_lag
    assert monitor.running
    assert gw.wait_for(lambda: monitor.samples > 0)
