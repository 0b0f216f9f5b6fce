"""`/readiness` says what routing will do: ready only when some model has a worker that
routing would send a request to (healthy, not draining, breaker not open)."""

from __future__ import annotations

import httpx

from sglang_gw.workers.breaker import BreakerConfig, CircuitBreaker
from sglang_gw.workers.pool import Worker, WorkerPool
from tests.conftest import RunningGateway


def pool_of(*workers: Worker) -> WorkerPool:
    pool = WorkerPool(breaker=BreakerConfig(failure_threshold=1))
    for w in workers:
        pool.add(w)
    return pool


def worker(url: str, model: str = "m", worker_type: str = "regular") -> Worker:
    return Worker(url=url, client=None, model=model, worker_type=worker_type)  # type: ignore[arg-type]


def test_servable_models_follow_health_draining_and_the_breaker() -> None:
    a, b, c = worker("a"), worker("b", "n"), worker("c", "n")
    pool = pool_of(a, b, c)
    assert pool.servable_models() == ["m", "n"]
    a.breaker.record_failure()  # type: ignore[union-attr]
    b.healthy = False
    assert pool.servable_models() == ["n"]
    c.draining = True
    assert pool.servable_models() == []


def test_a_half_open_breaker_with_its_probe_out_still_serves() -> None:
    a = worker("a")
    pool = pool_of(a)
    breaker: CircuitBreaker = a.breaker  # type: ignore[assignment]
    breaker.record_failure()
    breaker.health_passed(breaker.now())
    assert breaker.allow()  # the probe is out: no other request goes there meanwhile
    assert not a.routable and a.serving
    assert pool.servable_models() == ["m"]


def test_a_disaggregated_model_needs_both_legs() -> None:
    p, d = worker("p", worker_type="prefill"), worker("d", worker_type="decode")
    pool = pool_of(p, d)
    assert pool.servable_models() == ["m"]
    p.healthy = False
    assert pool.servable_models() == []


def test_readiness_is_503_while_the_only_breaker_is_open(gw: RunningGateway) -> None:
    """The defect: a healthy worker behind an open breaker was 'ready' while every request
    got 503 no_healthy_worker."""
    assert httpx.get(f"{gw.url}/readiness").json()["models"] == ["test-model"]
    (only,) = gw.gateway.pool.workers()
    breaker = only.breaker
    assert breaker is not None and only.healthy
    for _ in range(breaker.config.failure_threshold):
        breaker.record_failure()
    ready = httpx.get(f"{gw.url}/readiness")
    chat = httpx.post(f"{gw.url}/v1/chat/completions",
                      json={"model": "test-model", "messages": [{"role": "user", "content": "hi"}]})
    assert (ready.status_code, chat.status_code) == (503, 503)
    assert ready.json()["error"]["code"] == chat.json()["error"]["code"] == "no_healthy_worker"
    gw.reset_breakers()
    assert httpx.get(f"{gw.url}/readiness").status_code == 200
