"""The health checker and the load monitor against tiny scripted fake workers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from sglang_gw.errors import ConfigError, WorkerUnavailableError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.workers.breaker import BreakerConfig, CircuitBreaker, CircuitState
from sglang_gw.workers.client import HealthStatus
from sglang_gw.workers.health import HealthChecker, HealthConfig, LoadMonitor
from sglang_gw.workers.pool import Worker

OK, SICK, DOWN, HANG, BUG, CLOSED = "ok", "sick", "down", "hang", "bug", "closed"


class FakeClient:
    """Answers `health` from a script (the last step repeats) and `loads` from a list."""

    def __init__(self, url: str, script: Iterable[str] = (OK,)) -> None:
        self.url = url
        self.script = list(script)
        self.loads_reply: pb.GetLoadsResponse | BaseException = pb.GetLoadsResponse()
        self.timeouts: list[float | None] = []

    async def health(self, *, timeout: float | None = None) -> HealthStatus:
        self.timeouts.append(timeout)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step == HANG:
            await asyncio.Event().wait()
        if step == DOWN:
            raise WorkerUnavailableError(f"worker {self.url}: UNAVAILABLE")
        if step == BUG:
            raise RuntimeError("a bug in the client")
        if step == CLOSED:  # grpc.aio, when the worker's channel is closed under the call (removed)
            raise asyncio.CancelledError
        return HealthStatus(step == OK, step)

    async def list_loras(self) -> pb.ListLoadedLoRAAdaptersResponse:
        return pb.ListLoadedLoRAAdaptersResponse()

    async def loads(self) -> pb.GetLoadsResponse:
        if isinstance(self.loads_reply, BaseException):
            raise self.loads_reply
        return self.loads_reply


def worker(script: Iterable[str] = (OK,), url: str = "w1") -> Worker:
    return Worker(url=url, client=FakeClient(url, script), model="m")  # type: ignore[arg-type]


def checker(
    workers: list[Worker], changes: list[tuple[str, bool]] | None = None, **overrides: object
) -> HealthChecker:
    settings: dict[str, object] = {"interval_secs": 0.01, "timeout_secs": 0.05}
    settings.update(overrides)
    changes = changes if changes is not None else []
    return HealthChecker(
        HealthConfig(**settings),  # type: ignore[arg-type]
        lambda: workers,
        on_change=lambda w, healthy: changes.append((w.url, healthy)),
    )


async def rounds(hc: HealthChecker, n: int) -> None:
    for _ in range(n):
        await hc.run_once()


def test_defaults_are_smgs() -> None:
    config = HealthConfig()
    assert (config.interval_secs, config.timeout_secs) == (60.0, 5.0)
    assert (config.failure_threshold, config.success_threshold, config.enabled) == (3, 2, True)


@pytest.mark.parametrize(
    "field, value",
    [("failure_threshold", 0), ("success_threshold", 0), ("interval_secs", 0),
     ("timeout_secs", -1)],
)
def test_bad_config_is_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        HealthConfig(**{field: value})  # type: ignore[arg-type]


async def test_unhealthy_after_the_failure_threshold_and_back_after_the_success_threshold() -> None:
    w = worker([DOWN, DOWN, DOWN, OK, OK])
    changes: list[tuple[str, bool]] = []
    hc = checker([w], changes)
    await rounds(hc, 2)
    assert w.healthy and changes == []
    await rounds(hc, 1)
    assert not w.healthy and changes == [("w1", False)]
    await rounds(hc, 1)
    assert not w.healthy
    await rounds(hc, 1)
    assert w.healthy and changes == [("w1", False), ("w1", True)]
    await rounds(hc, 3)
    assert changes == [("w1", False), ("w1", True)]  # no repeats while nothing changes


async def test_a_passing_check_half_opens_an_open_breaker() -> None:
    """A worker back from a crash is probed within one interval, not after the open timeout."""
    w = worker([DOWN, OK])
    w.breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, timeout_duration_secs=3600))
    w.breaker.record_failure()
    hc = checker([w])
    await rounds(hc, 1)  # failing: stays open
    assert w.breaker.state is CircuitState.OPEN
    await rounds(hc, 1)
    assert w.breaker.state is CircuitState.HALF_OPEN


@pytest.mark.parametrize("step", [DOWN, SICK, HANG, BUG, CLOSED])
async def test_every_kind_of_failure_counts(step: str) -> None:
    w = worker([step])
    hc = checker([w], failure_threshold=1)
    await hc.run_once()
    assert not w.healthy


async def test_the_timeout_goes_to_the_rpc_and_bounds_it() -> None:
    w = worker([HANG])
    hc = checker([w], timeout_secs=0.02)
    await hc.run_once()
    assert w.client.timeouts == [0.02]  # type: ignore[attr-defined]


async def test_streaks_must_be_consecutive() -> None:
    w = worker([DOWN, DOWN, OK, DOWN, DOWN, OK])
    hc = checker([w])
    await rounds(hc, 6)
    assert w.healthy
    w2 = worker([DOWN, DOWN, DOWN, OK, DOWN, OK, DOWN, OK, OK])
    hc2 = checker([w2])
    await rounds(hc2, 8)
    assert not w2.healthy
    await rounds(hc2, 1)
    assert w2.healthy


async def test_workers_are_checked_concurrently() -> None:
    started = 0
    both = asyncio.Event()

    class Rendezvous(FakeClient):
        async def health(self, *, timeout: float | None = None) -> HealthStatus:
            nonlocal started
            started += 1
            if started == 2:
                both.set()
            await both.wait()  # only returns if the other probe runs at the same time
            return HealthStatus(True, "")

    ws = [Worker(url=u, client=Rendezvous(u), model="m") for u in "ab"]  # type: ignore[arg-type]
    hc = checker(ws, failure_threshold=1, timeout_secs=1.0)
    await asyncio.wait_for(hc.run_once(), 1.0)
    assert all(w.healthy for w in ws)


async def test_one_worker_does_not_affect_another() -> None:
    good, bad = worker([OK], "good"), worker([DOWN], "bad")
    hc = checker([good, bad], failure_threshold=1)
    await hc.run_once()
    assert good.healthy and not bad.healthy


async def test_a_worker_that_leaves_and_returns_starts_clean() -> None:
    w = worker([DOWN])
    fleet = [w]
    hc = checker(fleet)
    await rounds(hc, 2)
    fleet.clear()
    await hc.run_once()
    fleet.append(w)
    await hc.run_once()
    assert w.healthy  # one failure since it came back, not three


async def test_async_listener_and_failing_listener() -> None:
    seen: list[bool] = []

    async def listener(w: Worker, healthy: bool) -> None:
        await asyncio.sleep(0)
        seen.append(healthy)

    w = worker([DOWN, OK])
    config = HealthConfig(failure_threshold=1, success_threshold=1)
    hc = HealthChecker(config, lambda: [w], on_change=listener)
    await rounds(hc, 2)
    assert seen == [False, True]

    def broken(w: Worker, healthy: bool) -> None:
        raise RuntimeError("listener bug")

    w2 = worker([DOWN])
    hc2 = HealthChecker(HealthConfig(failure_threshold=1), lambda: [w2], on_change=broken)
    await hc2.run_once()
    assert not w2.healthy


async def test_the_loop_runs_survives_a_bad_round_and_stops_cleanly() -> None:
    w = worker([DOWN])
    flipped = asyncio.Event()
    calls = 0

    def fleet() -> list[Worker]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("registry hiccup")
        return [w]

    hc = HealthChecker(
        HealthConfig(interval_secs=0.005, timeout_secs=0.05, failure_threshold=2),
        fleet,
        on_change=lambda _w, _h: flipped.set(),
    )
    await hc.start()
    await hc.start()  # idempotent
    assert hc.running
    await asyncio.wait_for(flipped.wait(), 2.0)
    assert not w.healthy and calls >= 3
    await hc.stop()
    assert not hc.running
    await hc.stop()  # idempotent


async def test_stop_cancels_a_round_in_progress() -> None:
    w = worker([HANG])
    hc = checker([w], interval_secs=0.001, timeout_secs=10.0)
    await hc.start()
    while not w.client.timeouts:  # type: ignore[attr-defined]
        await asyncio.sleep(0.001)
    await asyncio.wait_for(hc.stop(), 1.0)
    assert not hc.running and w.healthy


async def test_disabled_checker_does_not_start() -> None:
    hc = checker([worker()], enabled=False)
    await hc.start()
    assert not hc.running


def loads(*pairs: tuple[int, int]) -> pb.GetLoadsResponse:
    ranks = [
        pb.SchedulerLoad(dp_rank=i, num_running_reqs=running, num_waiting_reqs=waiting)
        for i, (running, waiting) in enumerate(pairs)
    ]
    return pb.GetLoadsResponse(loads=ranks)


async def test_load_monitor_sums_running_and_waiting_over_ranks() -> None:
    a, b = worker(url="a"), worker(url="b")
    a.client.loads_reply = loads((3, 1), (2, 4))  # type: ignore[attr-defined]
    b.client.loads_reply = loads()  # type: ignore[attr-defined]
    b.load = 7
    monitor = LoadMonitor(0.01, lambda: [a, b])
    await monitor.run_once()
    assert (a.load, b.load) == (10, 0)


async def test_load_monitor_keeps_the_last_value_on_error() -> None:
    w = worker()
    w.client.loads_reply = loads((5, 0))  # type: ignore[attr-defined]
    monitor = LoadMonitor(0.01, lambda: [w])
    await monitor.run_once()
    w.client.loads_reply = WorkerUnavailableError("down")  # type: ignore[attr-defined]
    await monitor.run_once()
    assert w.load == 5


async def test_load_monitor_loop() -> None:
    w = worker()
    w.client.loads_reply = loads((1, 1))  # type: ignore[attr-defined]
    monitor = LoadMonitor(0.001, lambda: [w])
    await monitor.start()
    while w.load != 2:
        await asyncio.sleep(0.001)
    await monitor.stop()
    assert not monitor.running


def test_load_monitor_interval_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        LoadMonitor(0, lambda: [])


async def test_a_worker_removed_mid_probe_does_not_end_the_loop() -> None:
    """Removing a worker closes its channel, and grpc.aio cancels the probe in flight: the
    checker must go on probing the others (it once died there, silently)."""
    gone, sick = worker([CLOSED], url="gone"), worker([OK, DOWN], url="sick")
    changes: list[tuple[str, bool]] = []
    hc = checker([gone, sick], changes, failure_threshold=1)
    await hc.start()
    try:
        for _ in range(200):
            if ("sick", False) in changes:
                break
            await asyncio.sleep(0.01)
        assert ("sick", False) in changes and hc.running
    finally:
        await hc.stop()


async def test_the_load_monitor_survives_a_worker_removed_mid_poll() -> None:
    gone, kept = worker(url="gone"), worker(url="kept")
    gone.client.loads_reply = asyncio.CancelledError()  # type: ignore[attr-defined]
    kept.client.loads_reply = pb.GetLoadsResponse(loads=[pb.SchedulerLoad(num_running_reqs=2)])  # type: ignore[attr-defined]
    monitor = LoadMonitor(0.01, lambda: [gone, kept])
    try:
        await monitor.run_once()
    except asyncio.CancelledError:
        pytest.fail("a poll's CancelledError ended the monitor's round")
    assert kept.load == 2
