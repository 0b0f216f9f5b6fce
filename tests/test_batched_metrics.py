"""Batched metric updates reach the Prometheus series, exactly, whenever the registry is read."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from sglang_gw import batched_metrics, metrics
from sglang_gw.batched_metrics import batched_counter, batched_gauge, batched_histogram

BUCKETS = (0.001, 0.01, 0.1, 1.0)


@pytest.fixture
def series() -> Iterator[tuple[Histogram, Histogram, Counter, Gauge]]:
    made = (Histogram("test_batched_seconds", "batched", buckets=BUCKETS),
            Histogram("test_direct_seconds", "direct", buckets=BUCKETS),
            Counter("test_batched_events", "batched"), Gauge("test_batched_level", "batched"))
    yield made
    batched_metrics.discard(made)
    for metric in made:
        REGISTRY.unregister(metric)


def _histogram(name: str) -> dict[str, float | None]:
    samples = {f"{name}_bucket:{b}": REGISTRY.get_sample_value(f"{name}_bucket", {"le": str(b)})
               for b in (*BUCKETS, float("inf"))}
    samples["count"] = REGISTRY.get_sample_value(f"{name}_count")
    samples["sum"] = REGISTRY.get_sample_value(f"{name}_sum")
    return {k.split(":")[-1]: v for k, v in samples.items()}


def _same(a: dict[str, float | None], b: dict[str, float | None]) -> bool:
    """Equal bucket counts and count; the sum up to float rounding (added in another order)."""
    return {k: v for k, v in a.items() if k != "sum"} == {k: v for k, v in b.items() if k != "sum"} \
        and a["sum"] == pytest.approx(b["sum"], rel=1e-12)


def test_batched_histogram_equals_a_direct_one(series: tuple[Histogram, Histogram, Counter, Gauge]) -> None:
    batched_series, direct, _, _ = series
    batched = batched_histogram(batched_series)
    rng = random.Random(1)
    amounts = [*BUCKETS, 0.0, 5.0, *(rng.uniform(0, 2) for _ in range(500))]  # bounds themselves too
    for i, amount in enumerate(amounts):
        batched.observe(amount)
        direct.observe(amount)
        if i % 97 == 0:  # reads in between: each read flushes what came before it
            assert _same(_histogram("test_batched_seconds"), _histogram("test_direct_seconds"))
    assert _same(_histogram("test_batched_seconds"), _histogram("test_direct_seconds"))
    assert _histogram("test_batched_seconds")["count"] == len(amounts)


def test_counter_and_gauge_reach_their_series(series: tuple[Histogram, Histogram, Counter, Gauge]) -> None:
    _, _, counter_series, gauge_series = series
    counter, gauge = batched_counter(counter_series), batched_gauge(gauge_series)
    counter.inc()
    counter.inc(4)
    gauge.set(7)
    gauge.set(3)
    assert REGISTRY.get_sample_value("test_batched_events_total") == 5
    assert REGISTRY.get_sample_value("test_batched_level") == 3
    counter.inc(2)
    assert REGISTRY.get_sample_value("test_batched_events_total") == 7
    gauge_series.set(11)  # a direct set after the last flush stays: nothing pending overrides it
    assert REGISTRY.get_sample_value("test_batched_level") == 11


def test_the_same_child_gets_the_same_wrapper(series: tuple[Histogram, Histogram, Counter, Gauge]) -> None:
    assert batched_histogram(series[0]) is batched_histogram(series[0])


def test_gateway_series_update_through_batching() -> None:
    before = REGISTRY.get_sample_value("sgl_router_stage_duration_seconds_count", {"stage": "select"}) or 0
    metrics.observe_stage("select", 0.002)
    after = REGISTRY.get_sample_value("sgl_router_stage_duration_seconds_count", {"stage": "select"})
    assert after == before + 1


def test_forgotten_worker_series_are_dropped() -> None:
    worker = "grpc://batched-metrics-test:1"
    metrics.register_worker(worker)
    metrics.record_worker_request(worker)
    metrics.set_running_requests(worker, 2)
    assert REGISTRY.get_sample_value("sgl_router_running_requests", {"worker": worker}) == 2
    metrics.forget_worker(worker)
    assert REGISTRY.get_sample_value("sgl_router_running_requests", {"worker": worker}) is None
    assert REGISTRY.get_sample_value("sgl_router_processed_requests_total", {"worker": worker}) is None
    assert not any(worker in str(getattr(w.child, "_labelvalues", ())) for w in batched_metrics._PENDING.values())
