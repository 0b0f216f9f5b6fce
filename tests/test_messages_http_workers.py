"""/v1/messages for a model of OpenAI-compatible HTTP workers: sent upstream as a chat completion,
its answer made the same message. The worker here is a second sglang_gw (its chat completions,
with reasoning and tool parsing, in front of a mock gRPC worker), so every part is real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import RunningGateway
from tests.gateway_upstream import gateway_over_gateway
from tests.test_api_messages import comparable

TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture(scope="module")
def pair(gateway_factory) -> Iterator[tuple[RunningGateway, str]]:
    """(the upstream gateway, the URL of a gateway whose only worker is that one over HTTP)."""
    yield from gateway_over_gateway(gateway_factory)


def _client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="k", max_retries=0, timeout=30)


@pytest.mark.parametrize("ask", [
    {"messages": [{"role": "user", "content": "WEATHER?"}], "tools": [TOOL]},
    {"messages": [{"role": "user", "content": "THINK hard"}], "system": "Be brief."},
    {"messages": [{"role": "user", "content": "LONG"}], "max_tokens": 4},
], ids=["tools", "thinking", "cut"])
def test_same_message_as_on_grpc_workers(pair, ask: dict[str, Any]) -> None:
    upstream, front = pair
    ask = {"model": "test-model", "max_tokens": 100, **ask}
    via_http = _client(front).messages.create(**ask)
    direct = _client(upstream.url).messages.create(**ask)
    assert comparable(via_http) == comparable(direct)
    with _client(front).messages.stream(**ask) as stream:
        streamed = stream.get_final_message()
    assert comparable(streamed) == comparable(direct)


def test_tool_round_trip(pair) -> None:
    upstream, front = pair
    client = _client(front)
    first = client.messages.create(model="test-model", max_tokens=100, tools=[TOOL],
                                   messages=[{"role": "user", "content": "WEATHER?"}])
    call = first.content[-1]
    assert first.stop_reason == "tool_use" and call.type == "tool_use" and call.input == {"city": "Paris"}
    done = client.messages.create(model="test-model", max_tokens=100, tools=[TOOL], messages=[
        {"role": "user", "content": "WEATHER?"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "RESULT: 22C"}]}])
    assert done.content[-1].text == "It is sunny." and done.stop_reason == "end_turn"
    prompt = upstream.gateway.models["test-model"].tokenizer.decode(
        list(upstream.worker.records.requests[-1].tokenized.input_ids), skip_special_tokens=False)
    assert "RESULT: 22C" in prompt and "Paris" in prompt


def test_count_tokens_needs_a_tokenizer(pair) -> None:
    _, front = pair
    resp = httpx.post(f"{front}/v1/messages/count_tokens", timeout=30,
                      json={"model": "test-model", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
    assert "HTTP workers" in resp.json()["error"]["message"]


def test_bad_input_is_refused_before_the_worker(pair) -> None:
    upstream, front = pair
    before = len(upstream.worker.records.requests)
    resp = httpx.post(f"{front}/v1/messages", timeout=30, json={"model": "test-model", "messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "x"}]}],
        "max_tokens": 5})
    assert resp.status_code == 400 and resp.json()["type"] == "error"
    assert len(upstream.worker.records.requests) == before
