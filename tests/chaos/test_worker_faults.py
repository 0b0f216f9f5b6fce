"""Workers killed (SIGKILL), hung (SIGSTOP) and restarted on their port, under load.

Each test checks three things: every client request ended with one clear outcome (a 200
answer, a 200 stream whose one error event precedes [DONE], or an OpenAI-shaped 5xx); the
breaker and `/readiness` end where routing says they should; nothing stays counted (the
running-requests gauge, in-flight counts, admission slots, the workers' own running
requests all back to zero).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx

from sglang_gw.admission import AdmissionConfig
from sglang_gw.config import RetryConfig, RoutingConfig
from sglang_gw.workers.breaker import BreakerConfig
from sglang_gw.workers.health import HealthConfig
from tests.chaos.rig import (
    BOUND,
    Gateway,
    Outcome,
    WorkerProcess,
    assert_settled,
    chat_body,
    eventually,
    stream_chat,
)

FAST_HEALTH = HealthConfig(interval_secs=0.2, timeout_secs=0.5, failure_threshold=1, success_threshold=1)
# Health that takes (practically) forever to call a worker unhealthy, as the defaults' three
# one-minute rounds do: meanwhile only the breaker keeps requests off a dead worker.
SLOW_TO_NOTICE = HealthConfig(interval_secs=0.2, timeout_secs=0.5, failure_threshold=1_000_000, success_threshold=1)
QUICK_RETRY = RetryConfig(max_retries=2, initial_backoff_ms=1, max_backoff_ms=5)
ADMISSION = AdmissionConfig(max_concurrent_requests=256)

Spawn = Callable[..., WorkerProcess]
Serve = Callable[..., Gateway]


def client(gw: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url, timeout=BOUND, limits=httpx.Limits(max_connections=64))


async def open_streams(http: httpx.AsyncClient, n: int, body: dict) -> list[asyncio.Task[Outcome]]:
    """`n` streams, returned once every one of them has its first token."""
    first = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(stream_chat(http, body, on_first=first.release)) for _ in range(n)]
    async with asyncio.timeout(BOUND):
        for _ in range(n):
            await first.acquire()
    return tasks


async def ready(http: httpx.AsyncClient) -> int:
    return (await http.get("/readiness")).status_code


def readiness_is(http: httpx.AsyncClient, status: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await ready(http) == status
    return check


async def chat_status(http: httpx.AsyncClient) -> tuple[int, str | None]:
    resp = await http.post("/v1/chat/completions", json=chat_body(max_tokens=4, stream=False))
    return resp.status_code, None if resp.status_code == 200 else resp.json()["error"]["code"]


async def test_one_crash_with_twenty_streams_open_is_one_breaker_event(spawn: Spawn, serve: Serve) -> None:
    """The defect: twenty broken streams were twenty failures, so the breaker opened and
    kept answering 503 for its whole open timeout after the worker came back."""
    worker = spawn()
    gw = serve([worker], health=FAST_HEALTH, admission=ADMISSION)  # smg's breaker: 10 failures, 60 s open
    async with client(gw) as http:
        streams = await open_streams(http, 20, chat_body(max_tokens=300))
        assert gw.worker(worker.url).inflight == 20
        worker.kill()
        outcomes = await asyncio.wait_for(asyncio.gather(*streams), BOUND)
        assert outcomes == ["stream_error"] * 20
        assert gw.breaker_state(worker.url) == "closed"
        # Down: readiness and routing agree that nothing can be served.
        await eventually(readiness_is(http, 503), "not ready while the only worker is down")
        assert await chat_status(http) == (503, "no_healthy_worker")
        # Back on its port: served again as soon as a health check sees it.
        worker.start()
        await eventually(readiness_is(http, 200), "ready once the worker is back")
        assert await chat_status(http) == (200, None)
        assert gw.breaker_state(worker.url) == "closed"
        await assert_settled(gw, http, [worker])


async def test_a_breaker_opened_while_the_worker_was_down_lets_it_back_at_its_first_passing_health_check(
        spawn: Spawn, serve: Serve) -> None:
    """Open for an hour, yet back within a few health rounds: a passing check half-opens it."""
    worker = spawn()
    breaker = BreakerConfig(timeout_duration_secs=3600, success_threshold=3)
    gw = serve([worker], health=SLOW_TO_NOTICE, breaker=breaker, retry=QUICK_RETRY, admission=ADMISSION)
    async with client(gw) as http:
        worker.kill()
        # Health has not noticed, so requests still go there: every attempt is a new failure.
        answers = [await chat_status(http) for _ in range(4)]
        assert {status for status, _ in answers} == {503}
        assert gw.breaker_state(worker.url) == "open" and gw.worker(worker.url).healthy
        assert await ready(http) == 503  # what routing does: refuse
        assert await chat_status(http) == (503, "no_healthy_worker")
        worker.start()
        await eventually(readiness_is(http, 200), "ready: the first passing check half-opened the breaker")

        async def served() -> bool:  # the first probe may still meet the link's reconnect backoff
            return (await chat_status(http))[0] == 200 and gw.breaker_state(worker.url) == "closed"

        await eventually(served, "three probes closed the breaker")
        await assert_settled(gw, http, [worker])


async def test_a_worker_killed_under_load_and_restarted_on_its_port(spawn: Spawn, serve: Serve) -> None:
    workers = [spawn(), spawn()]
    victim, survivor = workers
    gw = serve(workers, health=FAST_HEALTH, breaker=BreakerConfig(failure_threshold=3, success_threshold=1),
               retry=QUICK_RETRY, routing=RoutingConfig(policy="round_robin"), admission=ADMISSION)
    sent: Counter[str] = Counter()
    outcomes: list[Outcome] = []
    stop = asyncio.Event()

    async def load(i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            body = chat_body(max_tokens=30, stream=(i + n) % 3 != 0)
            sent["requests"] += 1
            outcomes.append(await stream_chat(http, body))

    async with client(gw) as http:
        clients = [asyncio.create_task(load(i)) for i in range(16)]
        await eventually(lambda: gw.worker(victim.url).inflight >= 4, "load on the victim")
        victim.kill()
        await eventually(lambda: not gw.worker(victim.url).healthy, "the dead worker is unhealthy")
        answered = len(outcomes)
        await eventually(lambda: len(outcomes) >= answered + 30, "the survivor carries the load")
        assert await ready(http) == 200
        victim.start()
        await eventually(lambda: gw.worker(victim.url).healthy, "the restarted worker is healthy")
        await eventually(lambda: gw.worker(victim.url).inflight > 0, "the restarted worker serves again")
        stop.set()
        await asyncio.wait_for(asyncio.gather(*clients), BOUND)
        assert len(outcomes) == sent["requests"]  # every request answered, each one clear way
        tally = Counter(outcomes)
        assert tally["ok"] > 0 and set(tally) <= {"ok", "stream_error", "http_error"}
        assert gw.breaker_state(victim.url) == "closed" and gw.breaker_state(survivor.url) == "closed"
        assert await ready(http) == 200
        await assert_settled(gw, http, workers)


async def test_a_hung_worker_times_out_its_streams_as_one_event_and_recovers(spawn: Spawn, serve: Serve) -> None:
    workers = [spawn(), spawn()]
    frozen, other = workers
    gw = serve(workers, health=FAST_HEALTH, breaker=BreakerConfig(failure_threshold=2, success_threshold=1),
               request_timeout_secs=4.0, routing=RoutingConfig(policy="round_robin"), admission=ADMISSION)
    async with client(gw) as http:
        streams = await open_streams(http, 10, chat_body(max_tokens=40))
        hung = gw.worker(frozen.url).inflight
        assert hung == 5 and gw.worker(other.url).inflight == 5
        frozen.freeze()
        outcomes = await asyncio.wait_for(asyncio.gather(*streams), BOUND)
        assert Counter(outcomes) == {"ok": 10 - hung, "stream_error": hung}  # each hung stream: 504's event
        assert gw.breaker_state(frozen.url) == "closed"  # one hang, one event
        await eventually(lambda: not gw.worker(frozen.url).healthy, "the hung worker is unhealthy")
        assert await ready(http) == 200
        assert [await chat_status(http) for _ in range(4)] == [(200, None)] * 4  # all on the other worker
        frozen.thaw()
        await eventually(lambda: gw.worker(frozen.url).healthy, "the thawed worker is healthy")
        await assert_settled(gw, http, workers)  # the worker's own slots too: the hung calls were aborted
