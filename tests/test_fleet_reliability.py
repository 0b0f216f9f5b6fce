"""A fleet under faults: dead workers, open breakers, saturated queues, cache locality."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx

from sglang_gw.admission import AdmissionConfig
from sglang_gw.config import RetryConfig, RoutingConfig
from sglang_gw.routing.base import PolicyConfig
from sglang_gw.testing.models import model_dir
from sglang_gw.workers.breaker import BreakerConfig
from sglang_gw.workers.health import HealthConfig
from tests.fleet import fleet, start_mock

QWEN = model_dir("qwen3")
FAST_HEALTH = HealthConfig(interval_secs=0.1, timeout_secs=0.5, failure_threshold=1, success_threshold=1)
NO_BACKOFF = RetryConfig(max_retries=3, initial_backoff_ms=1, max_backoff_ms=5)


def chat(http: httpx.Client, text: str = "MULTIBYTE", **extra) -> httpx.Response:
    return http.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": text}],
                                                    **extra})


def test_dead_worker_leaves_and_rejoins_with_nothing_leaked() -> None:
    with fleet([(QWEN, "m")] * 3, health=FAST_HEALTH, retry=NO_BACKOFF,
               routing=RoutingConfig(policy="round_robin")) as f, f.http() as http:
        victim = f.mocks[0]
        port = int(victim.url.rsplit(":", 1)[1])
        victim.stop()
        # Requests keep succeeding: the ones routed to the dead worker are retried elsewhere.
        assert all(chat(http).status_code == 200 for _ in range(12))
        gw_victim = f.gateway.pool.get(victim.url)
        deadline = time.monotonic() + 5
        while gw_victim.healthy and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not gw_victim.healthy
        f.mocks[0] = start_mock(QWEN, "m", port=port)  # the worker comes back on its address
        deadline = time.monotonic() + 15
        while not gw_victim.healthy and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gw_victim.healthy
        before = len(f.mocks[0].worker.records.requests)
        for _ in range(9):
            assert chat(http).status_code == 200
        assert len(f.mocks[0].worker.records.requests) > before  # it serves again
        assert all(w.inflight == 0 for w in f.gateway.pool.workers())
        assert all(not m.worker.running for m in f.mocks)


def test_retries_stop_at_the_first_token() -> None:
    with fleet([(QWEN, "m")] * 2, retry=NO_BACKOFF, routing=RoutingConfig(policy="round_robin")) as f, \
            f.http() as http:
        for mock in f.mocks:
            mock.worker.faults.fail_after_tokens = 2
        r = chat(http, "LONG", max_tokens=20)
        assert r.status_code == 502
        assert sum(f.served_by()) == 1  # failed after output: never retried


def test_circuit_breaker_opens_and_recovers() -> None:
    breaker = BreakerConfig(failure_threshold=2, success_threshold=1, timeout_duration_secs=3.0)
    with fleet([(QWEN, "m")] * 2, breaker=breaker, retry=RetryConfig(max_retries=1, initial_backoff_ms=1),
               routing=RoutingConfig(policy="round_robin")) as f, f.http() as http:
        bad, good = f.mocks
        bad.worker.faults.reject_next = 1000
        bad.worker.faults.reject_code = grpc.StatusCode.UNAVAILABLE
        for _ in range(6):
            assert chat(http).status_code == 200  # retried onto the good worker
        gw_bad = f.gateway.pool.get(bad.url)
        assert str(gw_bad.breaker.state) == "open"
        tried = len(bad.worker.records.requests)
        for _ in range(6):
            assert chat(http).status_code == 200
        assert len(bad.worker.records.requests) == tried  # open: not even tried
        bad.worker.faults.reject_next = 0
        time.sleep(3.1)  # the open timeout: generous, so a slow machine cannot half-open it early
        for _ in range(6):
            assert chat(http).status_code == 200
        assert str(gw_bad.breaker.state) == "closed"
        assert len(bad.worker.records.requests) > tried


def test_saturated_queue_gives_429_and_408() -> None:
    admission = AdmissionConfig(max_concurrent_requests=1, queue_size=1, queue_timeout_secs=0.3)
    with fleet([(QWEN, "m")], admission=admission) as f, f.http() as http:
        f.mocks[0].worker.timing.token_delay = 0.05
        results: list[httpx.Response] = []
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(chat, http, "LONG", max_tokens=30) for _ in range(4)]
            results = [fut.result() for fut in futures]
        codes = sorted(r.status_code for r in results)
        assert codes.count(200) == 1 and 429 in codes and 408 in codes
        for r in results:
            if r.status_code != 200:
                assert r.headers["retry-after"] and r.json()["error"]["code"] in ("rate_limit_exceeded",
                                                                                    "request_timeout")
        assert f.gateway.admission.running == 0 and f.gateway.admission.queued == 0


def test_cache_aware_keeps_a_shared_prefix_on_one_worker() -> None:
    routing = RoutingConfig(policy="cache_aware", policy_config=PolicyConfig(cache_threshold=0.5),
                            load_monitor_interval=0)
    with fleet([(QWEN, "m")] * 3, routing=routing) as f, f.http() as http:
        system = "You are a meticulous assistant. " * 200
        for i in range(20):
            r = http.post("/v1/chat/completions", json={"model": "m", "max_tokens": 2, "messages": [
                {"role": "system", "content": system}, {"role": "user", "content": f"question {i}"}]})
            assert r.status_code == 200
        assert max(f.served_by()) >= 18
        for m in f.mocks:
            m.worker.records.requests.clear()
        for i in range(30):
            # Each prompt starts with its own number, so no two share more than the template's
            # first tokens: under the cache threshold, they go to the smallest tree. The worker
            # holding the long system prompt has by far the largest, so the other two share them.
            assert chat(http, f"{i} is an unrelated prompt. " * (i % 5 + 1), max_tokens=2).status_code == 200
        assert sorted(f.served_by())[-2] >= 6  # not pinned to one worker


def test_consistent_hashing_follows_the_routing_key() -> None:
    with fleet([(QWEN, "m")] * 3, routing=RoutingConfig(policy="consistent_hashing")) as f, f.http() as http:
        for key in ("alice", "bob", "carol"):
            for m in f.mocks:
                m.worker.records.requests.clear()
            for _ in range(4):
                r = http.post("/v1/chat/completions", headers={"x-smg-routing-key": key},
                              json={"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})
                assert r.status_code == 200
            assert sorted(f.served_by()) == [0, 0, 4]
