"""The select stage (pipeline/select.py): policy among routable workers, breaker, PD pairs."""

from __future__ import annotations

import asyncio

import pytest

from sglang_gw.errors import NoHealthyWorkerError
from sglang_gw.pipeline.select import Selector, WorkerChoice
from sglang_gw.plugins import HookRegistry
from sglang_gw.routing.base import RouteRequest
from sglang_gw.workers.breaker import BreakerConfig, CircuitBreaker
from sglang_gw.workers.pool import Worker, WorkerPool


def _pool(*workers: Worker) -> WorkerPool:
    pool = WorkerPool()
    for w in workers:
        pool.add(w)
    return pool


def _worker(url: str, worker_type: str = "regular") -> Worker:
    return Worker(url=url, client=None, model="m", worker_type=worker_type)  # type: ignore[arg-type]


def _choose(selector: Selector, exclude: list[str]) -> WorkerChoice | None:
    return asyncio.run(selector.choose(exclude))


def test_the_pick_avoids_workers_that_failed_while_others_are_left() -> None:
    a, b = _worker("grpc://a:1"), _worker("grpc://b:1")
    selector = Selector(_pool(a, b), RouteRequest(model="m"), None)
    assert [_choose(selector, ["grpc://a:1"]).worker for _ in range(3)] == [b, b, b]  # type: ignore[union-attr]
    assert _choose(selector, ["grpc://a:1", "grpc://b:1"]) is not None  # only failed ones left: retry on them


def test_a_breaker_that_refuses_the_pick_excludes_it_for_the_next_attempt() -> None:
    now = [0.0]
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, timeout_duration_secs=1), clock=lambda: now[0])
    a, b = _worker("grpc://a:1"), _worker("grpc://b:1")
    a.breaker = breaker
    breaker.record_failure()
    now[0] = 2.0  # half-open: one probe allowed

    hooks = HookRegistry()

    async def takes_the_probe(candidates, route):  # type: ignore[no-untyped-def]
        assert breaker.allow()  # another request took the only probe while this one waited
        return a

    hooks.add("select", "replace", takes_the_probe)
    selector = Selector(_pool(a, b), RouteRequest(model="m"), hooks)
    exclude: list[str] = []
    assert _choose(selector, exclude) is None
    assert exclude == ["grpc://a:1"]


def test_a_select_hook_may_only_pick_a_routable_worker() -> None:
    hooks = HookRegistry()
    hooks.add("select", "replace", lambda candidates, route: _worker("grpc://elsewhere:1"))
    selector = Selector(_pool(_worker("grpc://a:1")), RouteRequest(model="m"), hooks)
    with pytest.raises(NoHealthyWorkerError):
        _choose(selector, [])


def test_disaggregated_models_get_a_prefill_and_decode_pair() -> None:
    prefill, decode = _worker("grpc://p:1", "prefill"), _worker("grpc://d:1", "decode")
    selector = Selector(_pool(prefill, decode), RouteRequest(model="m"), None)
    assert selector.pd
    assert _choose(selector, []) == WorkerChoice(decode, prefill)
