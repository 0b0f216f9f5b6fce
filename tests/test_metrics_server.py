"""The metrics listener (start, scrape, stop) and the series the metrics helpers write."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sglang_gw import metrics
from sglang_gw.errors import ConfigError
from sglang_gw.server.metrics_server import MetricsServer, start_metrics_server

WORKER = "grpc://metrics-test-worker:20000"


@pytest.fixture
async def server() -> AsyncIterator[MetricsServer]:
    running = await start_metrics_server("127.0.0.1", 0)
    yield running
    await running.stop()


async def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        resp = await client.get(server.url)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def test_start_scrape_stop(server: MetricsServer) -> None:
    assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}/metrics"
    samples = await scrape(server)
    assert any(name.startswith("sgl_router_") for name, _ in samples)
    port = server.port
    await server.stop()
    await server.stop()  # twice is fine
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/metrics")


async def test_taken_port_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ConfigError, match="--prometheus-port"):
            await start_metrics_server("127.0.0.1", taken.getsockname()[1])


async def test_every_documented_series_is_exported(server: MetricsServer) -> None:
    documented = set(re.findall(r"^\s+(sgl_router_\w+)\s", metrics.__doc__ or "", re.MULTILINE))
    assert len(documented) >= 20
    async with httpx.AsyncClient() as client:
        text = (await client.get(server.url)).text
    exported = set(re.findall(r"^# TYPE (sgl_router_\w+) ", text, re.MULTILINE))
    assert documented == exported


async def test_helpers_write_the_series(server: MetricsServer) -> None:
    before = await scrape(server)
    metrics.record_request("/v1/chat/completions", "POST", 200, 0.25)
    metrics.record_request("/v1/chat/completions", "BREW", 418, 0.01)
    metrics.record_generation(prompt_tokens=12, completion_tokens=5, total_seconds=1.0, ttft_seconds=0.2)
    metrics.record_retry()
    metrics.record_cache_lookup(True)
    metrics.record_cache_lookup(False)
    metrics.record_cache_lookup(False)
    metrics.set_active_workers(3)
    metrics.set_queue_depth(7)
    metrics.record_queue_rejection("queue_full")
    metrics.register_worker(WORKER)
    metrics.record_worker_request(WORKER)
    metrics.set_running_requests(WORKER, 2)
    metrics.record_circuit_transition(WORKER, "closed", "open")
    metrics.set_worker_healthy(WORKER, False)
    try:
        after = await scrape(server)
    finally:
        metrics.set_queue_depth(0)  # a process-wide gauge: later tests' gateways read it as theirs

    def delta(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0.0) - (value(before, name, **labels) or 0.0)

    chat = {"endpoint": "/v1/chat/completions", "method": "POST"}
    assert delta("sgl_router_requests_total", **chat, status="200") == 1
    assert delta("sgl_router_requests_total", endpoint="/v1/chat/completions", method="other", status="418") == 1
    assert delta("sgl_router_request_duration_seconds_sum", **chat) == pytest.approx(0.25)
    assert delta("sgl_router_prompt_tokens_total") == 12 and delta("sgl_router_completion_tokens_total") == 5
    assert delta("sgl_router_generate_duration_seconds_count") == 1
    assert delta("sgl_router_time_to_first_token_seconds_sum") == pytest.approx(0.2)
    assert delta("sgl_router_time_per_output_token_seconds_sum") == pytest.approx(0.2)  # 0.8 s over 4 gaps
    assert delta("sgl_router_retries_total") == 1
    assert delta("sgl_router_cache_hits_total") == 1 and delta("sgl_router_cache_misses_total") == 2
    assert value(after, "sgl_router_active_workers") == 3 and value(after, "sgl_router_queue_depth") == 7
    assert delta("sgl_router_queue_rejections_total", reason="queue_full") == 1
    assert value(after, "sgl_router_processed_requests_total", worker=WORKER) == 1
    assert value(after, "sgl_router_running_requests", worker=WORKER) == 2
    assert value(after, "sgl_router_circuit_breaker_state", worker=WORKER) == 1
    assert value(after, "sgl_router_circuit_breaker_transitions_total", worker=WORKER, **{"from": "closed",
                                                                                         "to": "open"}) == 1
    assert value(after, "sgl_router_worker_healthy", worker=WORKER) == 0

    metrics.forget_worker(WORKER)
    gone = await scrape(server)
    assert not [key for key in gone if ("worker", WORKER) in key[1]]


def test_closed_label_sets_are_enforced() -> None:
    with pytest.raises(KeyError):
        metrics.record_queue_rejection("bored")
    with pytest.raises(KeyError):
        metrics.set_circuit_state(WORKER, "ajar")
    with pytest.raises(ValueError, match="closed, open, half_open"):
        metrics.record_circuit_transition(WORKER, "closed", "ajar")
    metrics.set_circuit_state(WORKER, "half_open")
    assert metrics.CB_STATE.labels(WORKER)._value.get() == 2
    metrics.forget_worker(WORKER)


def test_single_token_generation_has_no_tpot() -> None:
    before = metrics.TPOT_SECONDS._sum.get()
    metrics.record_generation(prompt_tokens=1, completion_tokens=1, total_seconds=0.1, ttft_seconds=0.1)
    metrics.record_generation(prompt_tokens=1, completion_tokens=3, total_seconds=0.1)
    assert metrics.TPOT_SECONDS._sum.get() == before
