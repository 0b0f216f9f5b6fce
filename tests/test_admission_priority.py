"""Priorities in the admission queue: the highest priority waiting is admitted first, FIFO
within a priority; a full queue makes room for a higher priority by refusing the newest of
the lowest; cancelled, timed-out and displaced waiters leave nothing behind. Then the same
through the edge, with tenants' priorities from the limits file, under concurrent load."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sglang_gw.admission import Admission, AdmissionConfig
from sglang_gw.config import SecurityConfig
from sglang_gw.errors import ConfigError, RateLimitError, RequestTimeoutError
from sglang_gw.identity.config import IdentityConfig
from sglang_gw.identity.gate import Gate
from sglang_gw.identity.keys import SharedKeys, TenantKeys, parse_tenant_key
from sglang_gw.identity.limits import TenantLimit, TenantLimits, parse_tenant_limits
from sglang_gw.server.door import Door
from sglang_gw.server.errors import exception_handlers
from sglang_gw.server.middleware import EdgeMiddleware
from tests.conftest import RunningGateway

PATH = "/v1/chat/completions"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def waiter(admission: Admission, priority: int, log: list[str], name: str) -> None:
    await admission.acquire(priority)
    log.append(name)


async def queue(admission: Admission, log: list[str], *entries: tuple[str, int]) -> list[asyncio.Task[None]]:
    """Queue one waiter per (name, priority), in this order."""
    tasks = []
    for name, priority in entries:
        tasks.append(asyncio.create_task(waiter(admission, priority, log, name)))
        await settle()
    return tasks


async def drain(admission: Admission, log: list[str], n: int) -> None:
    for _ in range(n):
        admission.release()
        await settle()
    assert len(log) == n


async def test_the_highest_priority_goes_first_fifo_within_one() -> None:
    admission = Admission(AdmissionConfig(max_concurrent_requests=1))
    await admission.acquire()
    log: list[str] = []
    tasks = await queue(admission, log, ("lo-1", 0), ("hi-1", 10), ("lo-2", 0), ("mid", 5), ("hi-2", 10),
                        ("neg", -3))
    assert admission.queued == 6
    await drain(admission, log, 6)
    assert log == ["hi-1", "hi-2", "mid", "lo-1", "lo-2", "neg"]
    await asyncio.gather(*tasks)
    assert (admission.running, admission.queued) == (1, 0)
    admission.release()
    assert admission.running == 0


async def test_a_newcomer_of_higher_priority_overtakes_the_queue_but_not_running_requests() -> None:
    admission = Admission(AdmissionConfig(max_concurrent_requests=2))
    await admission.acquire()
    await admission.acquire()
    log: list[str] = []
    await queue(admission, log, ("lo-1", 0), ("lo-2", 0))
    await queue(admission, log, ("hi", 1))
    assert (admission.running, admission.queued, log) == (2, 3, [])
    await drain(admission, log, 3)
    assert log == ["hi", "lo-1", "lo-2"]


async def test_a_full_queue_refuses_the_newest_of_the_lowest_priority_for_a_higher_one() -> None:
    admission = Admission(AdmissionConfig(max_concurrent_requests=1, queue_size=3))
    await admission.acquire()
    log: list[str] = []
    lo1, lo2, mid = await queue(admission, log, ("lo-1", 0), ("lo-2", 0), ("mid", 5))
    (hi,) = await queue(admission, log, ("hi", 9))  # displaces lo-2, the newest of the lowest
    with pytest.raises(RateLimitError, match="queue is full") as refused:
        await lo2
    assert refused.value.retry_after == 1.0  # type: ignore[attr-defined]
    assert admission.queued == 3
    with pytest.raises(RateLimitError, match="queue is full"):
        await admission.acquire(0)  # an equal priority never displaces anyone
    (mid2,) = await queue(admission, log, ("mid-2", 5))  # displaces lo-1
    with pytest.raises(RateLimitError):
        await lo1
    with pytest.raises(RateLimitError):
        await admission.acquire(5)  # only priorities ≥ 5 wait now
    await drain(admission, log, 3)
    assert log == ["hi", "mid", "mid-2"]
    await asyncio.gather(hi, mid, mid2)
    assert (admission.running, admission.queued) == (1, 0)


async def test_cancelled_and_timed_out_waiters_of_any_priority_leave_no_trace() -> None:
    admission = Admission(AdmissionConfig(max_concurrent_requests=1, queue_timeout_secs=0.05))
    await admission.acquire()
    log: list[str] = []
    hi, lo = await queue(admission, log, ("hi", 7), ("lo", 0))
    hi.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hi
    assert admission.queued == 1
    with pytest.raises(RequestTimeoutError):
        await lo
    assert (admission.running, admission.queued) == (1, 0)
    # A high waiter cancelled just as the slot reaches it passes it to the next in line.
    hi, lo = await queue(admission, log, ("hi", 7), ("lo", 0))
    admission.release()
    hi.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hi
    await asyncio.wait_for(lo, 1.0)
    assert (log, admission.running, admission.queued) == (["lo"], 1, 0)
    admission.release()
    assert admission.running == 0


async def test_a_newcomer_refused_by_the_rate_limit_displaces_nobody() -> None:
    now = [0.0]
    admission = Admission(AdmissionConfig(max_concurrent_requests=1, queue_size=1, rate_limit_tokens_per_second=1,
                                          rate_limit_burst=2), clock=lambda: now[0])
    await admission.acquire()  # token 1
    log: list[str] = []
    (lo,) = await queue(admission, log, ("lo", 0))  # token 2: the bucket is empty now
    with pytest.raises(RateLimitError, match="rate limit"):
        await admission.acquire(9)
    assert admission.queued == 1 and not lo.done()  # lo kept its place
    admission.release()
    await lo
    assert log == ["lo"]


def test_priority_in_the_limits_file() -> None:
    limits = parse_tenant_limits({"tenants": {"a": {"priority": 10}, "b": {"max_concurrent_requests": 2}}}, "f")
    assert limits == {"a": TenantLimit(priority=10), "b": TenantLimit(max_concurrent_requests=2)}
    assert [TenantLimits(limits).priority(t) for t in ("a", "b", "unlisted", None)] == [10, 0, 0, 0]
    for bad in (1.5, "high", True, None):
        with pytest.raises(ConfigError, match="a.priority must be an integer"):
            parse_tenant_limits({"tenants": {"a": {"priority": bad}}}, "f")


# -- through the edge ------------------------------------------------------------------------


class Gateway:
    """One slot, a queue, tenants hi (priority 10), lo (0) and plain (not listed); the
    endpoint holds each request until the test lets it go, and logs the order they ran in."""

    def __init__(self) -> None:
        self.admission = Admission(AdmissionConfig(max_concurrent_requests=1, queue_size=50))
        self.order: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        limits = TenantLimits({"hi": TenantLimit(priority=10), "lo": TenantLimit(max_concurrent_requests=40)})
        keys = TenantKeys([parse_tenant_key(f"{t}:key-{t}") for t in ("hi", "lo", "plain")])
        door = Door(Gate(SharedKeys(), keys), limits=limits)
        edge = Middleware(EdgeMiddleware, door=door, admission=self.admission, admission_paths=[PATH])
        self.app = Starlette(routes=[Route(PATH, self.endpoint, methods=["POST"])], middleware=[edge],
                             exception_handlers=exception_handlers)

    async def endpoint(self, request: Request) -> Response:
        name = request.headers["x-name"]
        self.order.append(name)
        await self.gates.setdefault(name, asyncio.Event()).wait()
        return PlainTextResponse(name)


async def test_a_high_priority_tenant_overtakes_queued_requests_under_load() -> None:
    gw = Gateway()
    depth = lambda: REGISTRY.get_sample_value("sgl_router_queue_depth") or 0  # noqa: E731
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gw.app), base_url="http://gw") as c:
        def post(tenant: str, name: str) -> asyncio.Task[httpx.Response]:
            headers = {"authorization": f"Bearer key-{tenant}", "x-name": name}
            return asyncio.create_task(c.post(PATH, headers=headers, json={}))

        first = post("lo", "first")
        async with asyncio.timeout(10):
            while gw.order != ["first"]:
                await asyncio.sleep(0.002)
        lows = [post("lo" if n % 2 else "plain", f"low-{n}") for n in range(8)]
        async with asyncio.timeout(10):
            while gw.admission.queued < 8:
                await asyncio.sleep(0.002)
        highs = [post("hi", f"high-{n}") for n in range(3)]
        async with asyncio.timeout(10):
            while gw.admission.queued < 11:
                await asyncio.sleep(0.002)
        # A queued request leaves (its client went away): it must leave the queue too.
        lows[3].cancel()
        async with asyncio.timeout(10):
            while gw.admission.queued != 10:
                await asyncio.sleep(0.002)
        assert depth() == 10
        for name in ["first", "high-0", "high-1", "high-2", *(f"low-{n}" for n in (0, 1, 2, 4, 5, 6, 7))]:
            gw.gates.setdefault(name, asyncio.Event()).set()
            async with asyncio.timeout(10):
                while gw.order[-1] == name and gw.admission.queued:
                    await asyncio.sleep(0.002)
        responses = await asyncio.gather(first, *highs, *(t for i, t in enumerate(lows) if i != 3))
    assert all(r.status_code == 200 for r in responses)
    assert gw.order == ["first", "high-0", "high-1", "high-2", "low-0", "low-1", "low-2", "low-4", "low-5",
                        "low-6", "low-7"]
    assert (gw.admission.running, gw.admission.queued, depth()) == (0, 0, 0)


# -- the whole gateway, real gRPC to the mock worker -----------------------------------------


async def test_priorities_in_the_whole_gateway(gateway_factory: Callable[..., RunningGateway]) -> None:
    identity = IdentityConfig(tenant_api_keys=tuple(parse_tenant_key(f"{t}:key-{t}") for t in ("hi", "lo")),
                              tenant_limits=(("hi", TenantLimit(priority=10)),))
    gw = gateway_factory(admission=AdmissionConfig(max_concurrent_requests=1, queue_size=50),
                         security=SecurityConfig(identity=identity))
    admission = gw.gateway.admission
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}
    order: list[str] = []

    async def ask(c: httpx.AsyncClient, tenant: str, name: str) -> int:
        response = await c.post("/v1/chat/completions", json=chat, headers={"authorization": f"Bearer key-{tenant}"})
        order.append(name)
        return response.status_code

    async def until(check: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not check():
                await asyncio.sleep(0.005)

    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as c:
        # The first request holds the only slot: its long reply hangs after 50 tokens (the
        # others' few-token replies never get there) until its client goes away.
        gw.worker.faults.hang_after_tokens = 50
        long = {**chat, "messages": [{"role": "user", "content": "LONG"}], "max_tokens": 1000, "stream": True}
        async with c.stream("POST", "/v1/chat/completions", json=long, headers={"authorization": "Bearer key-lo"}):
            await until(lambda: admission.running == 1)
            lows, highs = [], []
            for n in range(6):  # one at a time: FIFO is the order of arrival at the gateway
                lows.append(asyncio.create_task(ask(c, "lo", f"low-{n}")))
                await until(lambda: admission.queued == len(lows))
            for n in range(2):
                highs.append(asyncio.create_task(ask(c, "hi", f"high-{n}")))
                await until(lambda: admission.queued == len(lows) + len(highs))
        # The held stream closed: its slot goes to the high-priority requests first.
        statuses = await asyncio.gather(*highs, *lows)
    gw.worker.faults.hang_after_tokens = None
    assert statuses == [200] * 8
    assert order == ["high-0", "high-1", *(f"low-{n}" for n in range(6))]
    await until(lambda: admission.running == 0)
    assert admission.queued == 0 and REGISTRY.get_sample_value("sgl_router_queue_depth") == 0
