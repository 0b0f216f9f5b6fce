"""/v1/responses for a model of OpenAI-compatible HTTP workers: the gateway keeps the history and
sends the worker chat completions. The worker here is a second sglang_gw (its chat completions,
with reasoning and tool parsing, in front of a mock gRPC worker), so every part is real."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningGateway
from tests.gateway_upstream import gateway_over_gateway
from tests.responses_helpers import events_of, folded, without_ids

TOOL = {"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture(scope="module")
def pair(gateway_factory) -> Iterator[tuple[RunningGateway, str]]:
    """(the upstream gateway, the URL of a gateway whose only worker is that one over HTTP)."""
    yield from gateway_over_gateway(gateway_factory)


def _client(url: str):
    import openai
    return openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0, timeout=30)


@pytest.mark.parametrize("ask", [
    {"input": "WEATHER?", "tools": [TOOL]},
    {"input": "THINK hard", "instructions": "Be brief."},
    {"input": "LONG", "max_output_tokens": 4},
])
def test_same_response_as_on_grpc_workers(pair, ask) -> None:
    upstream, front = pair
    via_http = without_ids(_client(front).responses.create(model="test-model", **ask))
    direct = without_ids(upstream.client.responses.create(model="test-model", **ask))
    # The worker's sampling defaults are not known to the front gateway (it echoes what was
    # asked), and the upstream's prefix cache has seen the prompt by the second call.
    for body in (via_http, direct):
        body.pop("temperature", None), body.pop("top_p", None)
        body["usage"]["input_tokens_details"].pop("cached_tokens")
    assert via_http == direct


def test_streamed_equals_whole(pair) -> None:
    _, front = pair
    ask = {"model": "test-model", "input": "WEATHER?", "tools": [TOOL]}
    whole = httpx.post(f"{front}/v1/responses", json=ask, timeout=30).json()
    events = events_of(front, ask)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    assert without_ids(events[-1]["response"]) == without_ids(whole)
    rebuilt = folded(events)
    assert [i["type"] for i in rebuilt] == ["reasoning", "function_call"]
    assert rebuilt[1]["arguments"] == whole["output"][1]["arguments"]


def test_history_is_kept_here_and_sent_whole(pair) -> None:
    upstream, front = pair
    client = _client(front)
    first = client.responses.create(model="test-model", input="WEATHER?", tools=[TOOL])
    call = first.output[-1]
    done = client.responses.create(model="test-model", previous_response_id=first.id, tools=[TOOL],
                                   input=[{"type": "function_call_output", "call_id": call.call_id,
                                           "output": "RESULT: 22C"}])
    assert done.output_text == "It is sunny."
    assert client.responses.retrieve(done.id).previous_response_id == first.id
    prompt = upstream.gateway.models["test-model"].tokenizer.decode(
        list(upstream.worker.records.requests[-1].tokenized.input_ids), skip_special_tokens=False)
    assert "WEATHER?" in prompt and "RESULT: 22C" in prompt and '"city": "Paris"' in prompt


def test_background_on_http_workers(pair) -> None:
    upstream, front = pair
    client = _client(front)
    queued = client.responses.create(model="test-model", input="hello in the background", background=True)
    assert queued.status == "queued"
    assert upstream.wait_for(lambda: client.responses.retrieve(queued.id).status == "completed")
    assert client.responses.retrieve(queued.id).output_text == "hello in the background"


def test_mcp_tools_are_refused_on_http_workers(pair) -> None:
    _, url = pair
    r = httpx.post(f"{url}/v1/responses", json={"model": "test-model", "input": "hi",
                                                "tools": [{"type": "mcp", "server_label": "calc"}]}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"
