"""A request's accounting comes back to exactly zero on every way it can end.

What is counted: each worker's `inflight`, the `sgl_router_running_requests` gauge per
worker, the admission slots (`running`, `queued`) and the queue-depth gauge. Every test
ends a request one way, then waits (bounded) until the gateway settled and checks the
numbers are exactly zero: not one left over, and not one taken back twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import msgspec
import pytest
from prometheus_client import REGISTRY

from sglang_gw.admission import AdmissionConfig
from sglang_gw.workers.link import LinkSettings
from tests.conftest import RunningGateway

CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "LONG"}], "max_tokens": 40}
ADMISSION = AdmissionConfig(max_concurrent_requests=64, queue_size=64)


def running_gauge(worker: str) -> float | None:
    return REGISTRY.get_sample_value("sgl_router_running_requests", {"worker": worker})


def counts(gw: RunningGateway) -> dict[str, object]:
    gateway = gw.gateway
    workers = gateway.pool.workers()
    return {
        "inflight": [w.inflight for w in workers],
        "gauge": [running_gauge(w.url) for w in workers],
        "admitted": gateway.admission.running,
        "queued": gateway.admission.queued,
        "queue_depth": REGISTRY.get_sample_value("sgl_router_queue_depth"),
        "worker_running": len(gw.worker.running),
    }


SETTLED = {"inflight": [0], "gauge": [0.0], "admitted": 0, "queued": 0, "queue_depth": 0.0, "worker_running": 0}


def assert_settled(gw: RunningGateway) -> None:
    gw.wait_for(lambda: counts(gw) == SETTLED, timeout=10)
    assert counts(gw) == SETTLED


@pytest.fixture(scope="module", params=["h2", "grpcio"])
def gateway(request: pytest.FixtureRequest, gateway_factory) -> RunningGateway:
    # h2 streams are pushed (server/push.py), grpcio ones pulled: both roads are checked.
    return gateway_factory(request_timeout_secs=1.0, admission=ADMISSION,
                           link=LinkSettings(transport=request.param))


@pytest.fixture
def gw(gateway: RunningGateway) -> Iterator[RunningGateway]:
    gateway.reset()
    yield gateway
    gateway.reset()


def post(gw: RunningGateway, body: dict, *, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=timeout)


def stream_lines(gw: RunningGateway, body: dict) -> tuple[int, list[str]]:
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json={**body, "stream": True}, timeout=30) as r:
        return r.status_code, [line for line in r.iter_lines() if line]


@pytest.mark.parametrize("stream", [False, True])
def test_success(gw: RunningGateway, stream: bool) -> None:
    if stream:
        status, lines = stream_lines(gw, CHAT)
        assert status == 200 and lines[-1] == "data: [DONE]"
    else:
        assert post(gw, CHAT).status_code == 200
    assert_settled(gw)


def test_several_prompts_and_choices(gw: RunningGateway) -> None:
    body = {"model": "test-model", "prompt": ["LONG", "THREE"], "max_tokens": 8, "n": 2}
    assert httpx.post(f"{gw.url}/v1/completions", json=body, timeout=30).status_code == 200
    with httpx.stream("POST", f"{gw.url}/v1/completions", json={**body, "stream": True}, timeout=30) as r:
        assert r.status_code == 200 and list(r.iter_lines())
    assert_settled(gw)


@pytest.mark.parametrize("stream", [False, True])
def test_worker_error_before_the_first_token(gw: RunningGateway, stream: bool) -> None:
    gw.worker.faults.reject_code = grpc.StatusCode.INTERNAL  # not retried
    gw.worker.faults.reject_next = 1
    assert post(gw, {**CHAT, "stream": stream}).status_code == 502
    assert_settled(gw)


def test_retries_then_success_and_retries_exhausted(gw: RunningGateway) -> None:
    gw.worker.faults.reject_next = 2  # UNAVAILABLE twice, then an answer
    assert post(gw, CHAT).status_code == 200
    gw.reset_breakers()
    gw.worker.faults.reject_next = 100
    assert post(gw, CHAT).status_code == 503
    assert_settled(gw)


@pytest.mark.parametrize("stream", [False, True])
def test_worker_error_after_the_first_token(gw: RunningGateway, stream: bool) -> None:
    gw.worker.faults.fail_after_tokens = 3
    if stream:
        status, lines = stream_lines(gw, CHAT)
        assert status == 200 and lines[-1] == "data: [DONE]" and '"error"' in lines[-2]
    else:
        assert post(gw, CHAT).status_code == 502
    assert_settled(gw)


def test_twenty_timeouts_before_the_first_message_leave_nothing_running(gw: RunningGateway) -> None:
    """The defect: each timed-out call stayed in the running-requests gauge."""
    gw.worker.faults.hang_after_tokens = 0  # the worker never sends a first message
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: post(gw, {**CHAT, "stream": i % 2 == 0}), range(20)))
    assert [r.status_code for r in answers] == [504] * 20
    assert_settled(gw)


def test_timeout_after_the_first_token(gw: RunningGateway) -> None:
    gw.worker.faults.hang_after_tokens = 2
    status, lines = stream_lines(gw, CHAT)
    assert status == 200 and '"error"' in lines[-2]
    assert post(gw, CHAT).status_code == 504
    assert_settled(gw)


@pytest.mark.parametrize("stream", [False, True])
def test_client_hangs_up_before_the_first_token(gw: RunningGateway, stream: bool) -> None:
    gw.worker.timing.ttft = 0.5
    with pytest.raises(httpx.TimeoutException):
        post(gw, {**CHAT, "stream": stream}, timeout=0.1)
    assert_settled(gw)


@pytest.mark.parametrize("stream", [False, True])
def test_client_hangs_up_after_the_first_token(gw: RunningGateway, stream: bool) -> None:
    gw.worker.timing.token_delay = 0.05
    if stream:
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json={**CHAT, "stream": True}, timeout=30) as r:
            lines = r.iter_lines()
            assert any('"content"' in next(lines) for _ in range(3))
    else:
        with pytest.raises(httpx.TimeoutException):
            post(gw, CHAT, timeout=0.5)
    assert_settled(gw)


@pytest.mark.parametrize("stream", [False, True])
def test_stop_string_aborts(gw: RunningGateway, stream: bool) -> None:
    body = {**CHAT, "stop": ["word5"], "stream": stream}
    assert post(gw, body).status_code == 200
    assert gw.wait_for(lambda: len(gw.worker.records.aborts) == 1)
    assert_settled(gw)


@pytest.mark.parametrize("stream", [False, True])
def test_a_stage_that_raises(gw: RunningGateway, stream: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from sglang_gw.pipeline.decode import ChoiceDecoder

    def broken(self: ChoiceDecoder, *args: object) -> None:
        raise RuntimeError("a decode bug")

    monkeypatch.setattr(ChoiceDecoder, "on_tokens", broken)
    resp = post(gw, {**CHAT, "stream": stream})
    if resp.status_code == 200:  # pushed: the first token is decoded after the 200 went out
        assert stream and '"error"' in resp.text and resp.text.endswith("data: [DONE]\n\n")
    else:  # pulled: the stream's first delta is awaited before answering
        assert resp.status_code == 500 and msgspec.json.decode(resp.content)["error"]["message"]
    assert_settled(gw)
