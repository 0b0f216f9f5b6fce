"""Admission: the concurrency limit, its FIFO queue, timeouts, cancellation, the token bucket."""

from __future__ import annotations

import asyncio

import pytest

from sglang_gw.admission import (
    BUSY_RETRY_AFTER_SECS,
    Admission,
    AdmissionConfig,
    max_concurrent_from_flag,
)
from sglang_gw.errors import ConfigError, RateLimitError, RequestTimeoutError


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def gate(**settings: object) -> Admission:
    return Admission(AdmissionConfig(**settings))  # type: ignore[arg-type]


async def settle() -> None:
    """Let every ready task run until they all block again."""
    for _ in range(5):
        await asyncio.sleep(0)


async def hold(admission: Admission, release: asyncio.Event, log: list[str], name: str) -> None:
    async with admission.slot():
        log.append(name)
        await release.wait()


def test_config_defaults_and_limit() -> None:
    config = AdmissionConfig()
    assert (config.limit, config.queue_size, config.queue_timeout_secs) == (None, 100, 60.0)
    assert config.rate_limit_tokens_per_second is None
    assert AdmissionConfig(max_concurrent_requests=0).limit is None
    assert AdmissionConfig(max_concurrent_requests=-1).limit is None
    assert AdmissionConfig(max_concurrent_requests=8).limit == 8


@pytest.mark.parametrize(
    "field, value",
    [("queue_size", -1), ("queue_timeout_secs", 0), ("rate_limit_tokens_per_second", -1),
     ("rate_limit_burst", 0.5)],
)
def test_bad_config_is_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        AdmissionConfig(**{field: value})  # type: ignore[arg-type]


def test_smg_flag_semantics() -> None:
    assert max_concurrent_from_flag(0) is None
    assert max_concurrent_from_flag(12) == 12
    derived = max_concurrent_from_flag(-1)
    assert derived is not None and derived >= 4096


async def test_unlimited_admits_everyone_and_counts_them() -> None:
    admission = gate()
    release, log = asyncio.Event(), list[str]()
    tasks = [asyncio.create_task(hold(admission, release, log, str(i))) for i in range(50)]
    await settle()
    assert (admission.running, admission.queued, len(log)) == (50, 0, 50)
    release.set()
    await asyncio.gather(*tasks)
    assert admission.running == 0


async def test_below_the_limit_runs_at_once_then_queues_in_fifo_order() -> None:
    admission = gate(max_concurrent_requests=2)
    gates = [asyncio.Event() for _ in range(6)]
    log: list[str] = []
    tasks = []
    for i, ev in enumerate(gates):
        tasks.append(asyncio.create_task(hold(admission, ev, log, f"r{i}")))
        await settle()  # arrive in a known order
    assert log == ["r0", "r1"] and (admission.running, admission.queued) == (2, 4)
    gates[1].set()
    await settle()
    assert log == ["r0", "r1", "r2"]  # exactly one woken, the oldest
    assert (admission.running, admission.queued) == (2, 3)
    for ev in (gates[0], gates[2], gates[3], gates[4], gates[5]):
        ev.set()
        await settle()
    await asyncio.gather(*tasks)
    assert log == [f"r{i}" for i in range(6)]
    assert (admission.running, admission.queued) == (0, 0)


async def test_a_newcomer_does_not_overtake_the_queue() -> None:
    admission = gate(max_concurrent_requests=1)
    first, second = asyncio.Event(), asyncio.Event()
    log: list[str] = []
    t1 = asyncio.create_task(hold(admission, first, log, "holder"))
    await settle()
    t2 = asyncio.create_task(hold(admission, second, log, "waiter"))
    await settle()
    first.set()
    late = asyncio.create_task(hold(admission, second, log, "late"))  # arrives as the slot frees
    await settle()
    assert log == ["holder", "waiter"]
    second.set()
    await asyncio.gather(t1, t2, late)
    assert log == ["holder", "waiter", "late"] and admission.running == 0


async def test_full_queue_is_429_with_retry_after() -> None:
    admission = gate(max_concurrent_requests=1, queue_size=1)
    release, log = asyncio.Event(), list[str]()
    tasks = [asyncio.create_task(hold(admission, release, log, n)) for n in ("a", "b")]
    await settle()
    with pytest.raises(RateLimitError) as info:
        await admission.acquire()
    assert info.value.status == 429
    assert info.value.retry_after == BUSY_RETRY_AFTER_SECS  # type: ignore[attr-defined]
    assert (admission.running, admission.queued) == (1, 1)
    release.set()
    await asyncio.gather(*tasks)
    assert admission.running == 0


async def test_queue_size_zero_refuses_at_once() -> None:
    admission = gate(max_concurrent_requests=1, queue_size=0)
    await admission.acquire()
    with pytest.raises(RateLimitError):
        await admission.acquire()
    admission.release()
    await admission.acquire()
    assert admission.running == 1


async def test_waiting_past_the_queue_timeout_is_408() -> None:
    admission = gate(max_concurrent_requests=1, queue_timeout_secs=0.01)
    await admission.acquire()
    with pytest.raises(RequestTimeoutError) as info:
        await admission.acquire()
    assert info.value.status == 408
    assert info.value.retry_after == BUSY_RETRY_AFTER_SECS  # type: ignore[attr-defined]
    assert (admission.running, admission.queued) == (1, 0)
    admission.release()
    assert admission.running == 0
    await admission.acquire()  # the timed-out waiter left nothing behind
    assert admission.running == 1


async def test_a_cancelled_waiter_leaves_the_queue_without_leaking_a_slot() -> None:
    admission = gate(max_concurrent_requests=1)
    await admission.acquire()
    waiter = asyncio.create_task(admission.acquire())
    await settle()
    assert admission.queued == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (admission.running, admission.queued) == (1, 0)
    admission.release()
    assert admission.running == 0


async def test_a_waiter_cancelled_as_the_slot_arrives_passes_it_on() -> None:
    admission = gate(max_concurrent_requests=1)
    await admission.acquire()
    a = asyncio.create_task(admission.acquire())
    b = asyncio.create_task(admission.acquire())
    await settle()
    admission.release()  # hands the slot to a ...
    a.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await a
    await asyncio.wait_for(b, 1.0)  # b got the slot a could not use
    assert (admission.running, admission.queued) == (1, 0)
    admission.release()
    assert admission.running == 0


async def test_a_failing_body_releases_its_slot() -> None:
    admission = gate(max_concurrent_requests=1)
    with pytest.raises(ValueError):
        async with admission.slot():
            raise ValueError("boom")
    assert admission.running == 0


async def test_token_bucket_refuses_when_empty_and_refills() -> None:
    clock = FakeClock()
    admission = Admission(AdmissionConfig(rate_limit_tokens_per_second=2.0), clock=clock)
    await admission.acquire()
    await admission.acquire()  # a full bucket holds one second's worth
    with pytest.raises(RateLimitError) as info:
        await admission.acquire()
    assert info.value.retry_after == pytest.approx(0.5)  # type: ignore[attr-defined]
    clock.now += 0.25
    with pytest.raises(RateLimitError) as info:
        await admission.acquire()
    assert info.value.retry_after == pytest.approx(0.25)  # type: ignore[attr-defined]
    clock.now += 0.25
    await admission.acquire()
    clock.now += 100.0  # the bucket caps at its capacity
    await admission.acquire()
    await admission.acquire()
    with pytest.raises(RateLimitError):
        await admission.acquire()
    assert admission.running == 5


async def test_slow_rates_still_hold_a_whole_token_and_burst_is_configurable() -> None:
    clock = FakeClock()
    slow = Admission(AdmissionConfig(rate_limit_tokens_per_second=0.5), clock=clock)
    await slow.acquire()
    with pytest.raises(RateLimitError) as info:
        await slow.acquire()
    assert info.value.retry_after == pytest.approx(2.0)  # type: ignore[attr-defined]
    config = AdmissionConfig(rate_limit_tokens_per_second=1.0, rate_limit_burst=3)
    bursty = Admission(config, clock=clock)
    for _ in range(3):
        await bursty.acquire()
    with pytest.raises(RateLimitError):
        await bursty.acquire()


async def test_zero_rate_means_no_rate_limit() -> None:
    admission = gate(rate_limit_tokens_per_second=0)
    for _ in range(100):
        await admission.acquire()
    assert admission.running == 100


async def test_a_full_queue_costs_no_token() -> None:
    clock = FakeClock()
    admission = Admission(
        AdmissionConfig(max_concurrent_requests=1, queue_size=0, rate_limit_tokens_per_second=2.0),
        clock=clock,
    )
    await admission.acquire()  # token 1 of 2
    for _ in range(3):
        with pytest.raises(RateLimitError, match="busy"):
            await admission.acquire()
    admission.release()
    await admission.acquire()  # token 2 of 2 was still there
