"""`--sse-keepalive-secs`: SSE comment pings on quiet streams, before the first token too,
on the real gateway (uvicorn on loopback) in front of the mock worker over gRPC.

A worker that answers within the interval gets the same answer as without keep-alive (a
failure before its first message is a plain HTTP error); one that does not gets the 200
head and pings meanwhile, and then its tokens, or its failure as an SSE error event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import anthropic
import httpx
import pytest

from sglang_gw.config import ConnectionConfig
from sglang_gw.testing.mock_worker import Faults, Timing
from tests.conftest import RunningGateway

INTERVAL = 0.5
SLOW = 3 * INTERVAL  # a worker this slow to answer is pinged at least twice
PING = ": keepalive"


@pytest.fixture(scope="module")
def shared(gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    return gateway_factory(connections=ConnectionConfig(sse_keepalive_secs=INTERVAL))


@pytest.fixture
def gw(shared: RunningGateway) -> Iterator[RunningGateway]:
    shared.reset()
    yield shared
    shared.reset()
    assert shared.wait_for(lambda: all(w.inflight == 0 for w in shared.gateway.pool.workers()))
    assert shared.gateway.admission.running == 0


def chat(text: str, **extra: object) -> dict[str, object]:
    return {"model": "test-model", "stream": True, "messages": [{"role": "user", "content": text}], **extra}


def stream_lines(gw: RunningGateway, path: str, body: dict[str, object]) -> tuple[int, list[str]]:
    with httpx.Client(base_url=gw.url, timeout=30) as http, http.stream("POST", path, json=body) as r:
        return r.status_code, [line for line in r.iter_lines() if line]


def content_of(lines: list[str]) -> str:
    chunks = [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def test_a_worker_that_answers_in_time_gets_no_ping(gw: RunningGateway) -> None:
    status, lines = stream_lines(gw, "/v1/chat/completions", chat("MULTIBYTE"))
    assert status == 200 and PING not in lines
    assert content_of(lines) == "Grüße, 世界! 👋🏽 café — naïve 𝔘𝔫𝔦𝔠𝔬𝔡𝔢" and lines[-1] == "data: [DONE]"


def test_a_failure_within_the_interval_is_still_an_http_error(gw: RunningGateway) -> None:
    gw.worker.faults = Faults(fail_after_tokens=0)  # fails at once, before any token
    status, lines = stream_lines(gw, "/v1/chat/completions", chat("MULTIBYTE"))
    assert status >= 400 and PING not in lines
    assert "error" in json.loads(lines[0])


def test_a_slow_first_token_is_preceded_by_pings(gw: RunningGateway) -> None:
    gw.worker.timing = Timing(ttft=SLOW)
    status, lines = stream_lines(gw, "/v1/chat/completions", chat("MULTIBYTE"))
    assert status == 200
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: "))
    assert first_data >= 2 and set(lines[:first_data]) == {PING}  # the head and pings went out early
    assert content_of(lines) == "Grüße, 世界! 👋🏽 café — naïve 𝔘𝔫𝔦𝔠𝔬𝔡𝔢" and lines[-1] == "data: [DONE]"


def test_the_openai_client_reads_a_pinged_stream(gw: RunningGateway) -> None:
    gw.worker.timing = Timing(ttft=SLOW)
    stream = gw.client.chat.completions.create(model="test-model", stream=True,
                                               messages=[{"role": "user", "content": "MULTIBYTE"}])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Grüße, 世界! 👋🏽 café — naïve 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"


def test_a_failure_after_the_pings_is_an_error_event(gw: RunningGateway) -> None:
    gw.worker.timing = Timing(ttft=SLOW)
    gw.worker.faults = Faults(fail_after_tokens=0)
    status, lines = stream_lines(gw, "/v1/chat/completions", chat("MULTIBYTE"))
    assert status == 200 and lines[0] == PING
    error = json.loads(lines[-2][len("data: "):])["error"]
    assert error["code"] and error["message"] and lines[-1] == "data: [DONE]"
    assert all(line == PING for line in lines[:-2])


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", chat("STOPTEST", max_tokens=3)),  # one generation: pushed
    ("/v1/completions", {"model": "test-model", "stream": True, "max_tokens": 3,
                         "prompt": ["STOPTEST", "STOPTEST"]}),  # a batch of prompts: pulled
], ids=["pushed", "pulled"])
def test_a_quiet_stream_is_pinged_between_tokens(gw: RunningGateway, path: str, body: dict[str, object]) -> None:
    gw.worker.timing = Timing(token_delay=SLOW)
    status, lines = stream_lines(gw, path, body)
    assert status == 200 and lines[-1] == "data: [DONE]"
    data = [i for i, line in enumerate(lines) if line.startswith("data: {")]
    assert PING in lines[data[0] + 1: data[-1]]  # between the first token and the last


def test_a_client_gone_while_pinged_aborts_the_worker(gw: RunningGateway) -> None:
    gw.worker.timing = Timing(ttft=10 * SLOW)
    with httpx.Client(base_url=gw.url, timeout=30) as http, \
            http.stream("POST", "/v1/chat/completions", json=chat("MULTIBYTE")) as r:
        assert r.status_code == 200
        assert next(line for line in r.iter_lines() if line) == PING
    # The hang-up is seen while the worker is still silent: the call is cancelled at once.
    assert gw.wait_for(lambda: len(gw.worker.records.cancelled) == 1, timeout=SLOW * 4)
    assert gw.wait_for(lambda: all(w.inflight == 0 for w in gw.gateway.pool.workers()))
    assert gw.wait_for(lambda: gw.gateway.admission.running == 0)


def message(text: str) -> dict[str, object]:
    return {"model": "test-model", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": text}]}


def test_a_slow_message_is_pinged_and_read_by_the_anthropic_client(gw: RunningGateway) -> None:
    gw.worker.timing = Timing(ttft=SLOW)
    status, lines = stream_lines(gw, "/v1/messages", message("MULTIBYTE"))
    assert status == 200 and lines[0] == PING and lines[-1] == 'data: {"type":"message_stop"}'
    client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0, timeout=30)
    with client.messages.stream(**{k: v for k, v in message("MULTIBYTE").items() if k != "stream"}) as stream:
        assert stream.get_final_text() == "Grüße, 世界! 👋🏽 café — naïve 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"


def test_a_message_failing_after_the_pings_ends_with_an_error_event(gw: RunningGateway) -> None:
    gw.worker.timing = Timing(ttft=SLOW)
    gw.worker.faults = Faults(fail_after_tokens=0)
    status, lines = stream_lines(gw, "/v1/messages", message("MULTIBYTE"))
    assert status == 200 and lines[0] == PING and lines[-2] == "event: error"
    body = json.loads(lines[-1][len("data: "):])
    assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"]
    assert "data: [DONE]" not in lines
