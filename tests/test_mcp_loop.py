"""The MCP tool loop of /v1/responses, end to end: the real `openai` client, the gateway, the
mock worker scripted to call tools in Qwen3's (hermes) and gpt-oss's (harmony) markup, and a
real MCP server built on the SDK, over stdio, SSE and streamable HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai.types.responses import Response
from prometheus_client import REGISTRY

from sglang_gw.mcp import McpSettings, ServerSpec
from sglang_gw.testing.models import model_dir
from tests.conftest import RunningGateway
from tests.mcp_helpers import ConnectionRecorder, call_reply, final_reply, http_server, stdio_spec
from tests.responses_helpers import events_of, without_ids


def script(family: str) -> dict[str, str]:
    # Results first: a later generation's prompt holds both the question and the tool's answer.
    return {
        "Sunny in": final_reply(family, "It is sunny in Paris."),
        "timed out": final_reply(family, "The tool was too slow."),
        "no such city": final_reply(family, "The tool failed."),
        "Connection closed": final_reply(family, "The server went away."),
        "WEATHER": call_reply(family, "weather", {"city": "Paris"}),
        "SLOW": call_reply(family, "sleep", {"seconds": 60}),
        "BROKEN": call_reply(family, "fail", {"reason": "no such city"}),
        "AGAIN": call_reply(family, "add", {"a": 1, "b": 2}),
        "LOCAL": call_reply(family, "get_time", {"zone": "UTC"}),
        "FORCED": '{"city": "Paris"}',
        "CRASH": call_reply(family, "crash", {}),  # the arguments alone: what a tool_choice naming the tool constrains
    }


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with http_server("streamable") as streamable, http_server("sse") as sse:
        yield {"streamable": streamable, "sse": sse}


def _settings(urls: dict[str, str], **kw: Any) -> McpSettings:
    servers = (stdio_spec("calc-stdio"),
               ServerSpec(name="calc-http", protocol="streamable", url=urls["streamable"]),
               ServerSpec(name="calc-sse", protocol="sse", url=urls["sse"]))
    hosts = tuple(url.split("/")[2] for url in urls.values())  # 127.0.0.1:PORT of each, no other port
    return McpSettings(servers=servers, allowed_hosts=hosts, tool_timeout_secs=2, max_iterations=3, **kw)


@pytest.fixture(scope="module")
def qwen(urls, gateway_factory) -> RunningGateway:  # urls first: the servers outlive the gateway
    return gateway_factory(folder=model_dir("qwen3"), script=script("qwen3"), reasoning_parser="auto",
                           tool_call_parser="auto", mcp=_settings(urls))


@pytest.fixture(scope="module", params=["gpt_oss", "mistral_nemo", "llama31", "deepseek_r1"])
def family(request, urls, gateway_factory) -> tuple[str, RunningGateway]:
    return request.param, gateway_factory(folder=model_dir(request.param), script=script(request.param),
                                          reasoning_parser="auto", tool_call_parser="auto", mcp=_settings(urls))


def _ask(label: str, text: str = "WEATHER in Paris?", **kw: Any) -> dict[str, Any]:
    tool = {"type": "mcp", "server_label": label, **kw.pop("tool", {})}
    return dict(model="test-model", input=text, tools=[tool, *kw.pop("more_tools", [])], **kw)


def _kinds(resp: Any) -> list[str]:
    return [item.type for item in resp.output]


TRANSPORTS = ["calc-stdio", "calc-http", "calc-sse"]
AUTH = {"Authorization": "Bearer unused"}  # the openai client's key: the same owner of stored responses


def same(a: Any, b: Any) -> bool:
    """Equal responses, less ids, times and the prompt-cache hits (a repeated prompt hits more)."""
    a, b = (without_ids(Response.model_validate(x) if isinstance(x, dict) else x) for x in (a, b))
    for resp in (a, b):
        resp["usage"]["input_tokens_details"].pop("cached_tokens")
    assert a == b
    return True


@pytest.mark.parametrize("label", TRANSPORTS)
def test_two_step_loop_on_every_transport(qwen, label) -> None:
    resp = qwen.client.responses.create(**_ask(label))
    assert resp.status == "completed"
    assert _kinds(resp) == ["mcp_list_tools", "mcp_call", "message"]
    listed, call, answer = resp.output
    assert listed.server_label == label
    assert {t.name for t in listed.tools} == {"add", "weather", "sleep", "fail", "grow", "crash"}
    assert (call.server_label, call.name, json.loads(call.arguments)) == (label, "weather", {"city": "Paris"})
    assert call.output == "Sunny in Paris, 21 degrees" and call.error is None and call.status == "completed"
    assert answer.content[0].text == "It is sunny in Paris."
    assert [t.type for t in resp.tools] == ["mcp"]
    # Two generations: the second one's prompt held the call and its result.
    prompts = [r.tokenized.original_text for r in qwen.worker.records.requests[-2:]]
    assert "Sunny in Paris, 21 degrees" in prompts[1] and "Sunny in" not in prompts[0]
    # Usage counts both generations.
    assert resp.usage.input_tokens > len(qwen.worker.records.requests[-1].tokenized.input_ids)
    stored = qwen.client.responses.retrieve(resp.id)
    assert stored.model_dump() == resp.model_dump()


@pytest.mark.parametrize("label", TRANSPORTS)
def test_streamed_loop_equals_the_whole_one(qwen, label) -> None:
    whole = qwen.client.responses.create(**_ask(label))
    events = events_of(qwen.url, _ask(label), AUTH)  # each event checked against the SDK's type for it
    kinds = [e["type"] for e in events]
    for expected in ("response.mcp_list_tools.in_progress", "response.mcp_list_tools.completed",
                     "response.mcp_call.in_progress", "response.mcp_call_arguments.delta",
                     "response.mcp_call_arguments.done", "response.mcp_call.completed"):
        assert expected in kinds
    final = events[-1]["response"]
    assert kinds[-1] == "response.completed"
    assert same(final, whole)
    # Every item's done event carries what the final response holds.
    done = {e["output_index"]: e["item"] for e in events if e["type"] == "response.output_item.done"}
    assert [done[i] for i in sorted(done)] == final["output"]
    args = "".join(e["delta"] for e in events if e["type"] == "response.mcp_call_arguments.delta")
    assert json.loads(args) == {"city": "Paris"}
    stored = qwen.client.responses.retrieve(final["id"])
    assert stored.id == final["id"] and same(stored, final)


def test_sdk_stream_helper_accumulates_the_same_response(qwen) -> None:
    whole = qwen.client.responses.create(**_ask("calc-http"))
    with qwen.client.responses.stream(**_ask("calc-http")) as stream:
        for _ in stream:
            pass
        streamed = stream.get_final_response()
    assert same(streamed, whole)


def test_other_families_run_the_loop(family) -> None:
    """harmony (gpt-oss), Mistral, Llama 3.1 and DeepSeek-R1 markup, parsed by their own parsers."""
    name, gw = family
    resp = gw.client.responses.create(**_ask("calc-http"))
    assert resp.status == "completed"
    assert [k for k in _kinds(resp) if k != "reasoning"] == ["mcp_list_tools", "mcp_call", "message"]
    if name in ("gpt_oss", "deepseek_r1"):
        assert _kinds(resp)[1] == "reasoning" and resp.output[1].content[0].text == "I need a tool."
    call = next(item for item in resp.output if item.type == "mcp_call")
    assert json.loads(call.arguments) == {"city": "Paris"} and call.output == "Sunny in Paris, 21 degrees"
    assert resp.output[-1].content[0].text == "It is sunny in Paris."
    streamed = events_of(gw.url, _ask("calc-http"), AUTH)[-1]["response"]
    assert same(streamed, resp)


@pytest.mark.parametrize("protocol", ["streamable", "sse"])
def test_per_request_server_on_an_allowed_host(qwen, urls, protocol) -> None:
    tool = {"server_url": urls[protocol], "headers": {"X-Trace": "1"}, "authorization": "secret"}
    resp = qwen.client.responses.create(**_ask("mine", tool=tool))
    assert _kinds(resp) == ["mcp_list_tools", "mcp_call", "message"]
    assert resp.output[1].server_label == "mine" and resp.output[1].output == "Sunny in Paris, 21 degrees"
    shown = resp.tools[0].model_dump()
    assert shown["server_url"] == urls[protocol] and shown.get("headers") is None  # never echoed
    assert "secret" not in json.dumps(qwen.client.responses.retrieve(resp.id).model_dump())
    streamed = events_of(qwen.url, _ask("mine", tool=tool), AUTH)[-1]["response"]
    assert same(streamed, resp)


def _error(gw: RunningGateway, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    r = httpx.post(f"{gw.url}/v1/responses", json=body, headers=AUTH, timeout=30)
    return r.status_code, r.json()["error"]


def test_disallowed_host_is_refused_without_a_packet(qwen) -> None:
    recorder = ConnectionRecorder()  # on 127.0.0.1, but another port than the allowed one
    try:
        for url in (f"http://127.0.0.1:{recorder.port}/mcp", f"http://localhost:{recorder.port}/mcp",
                    f"http://user@127.0.0.1:{recorder.port}/sse"):
            status, err = _error(qwen, _ask("x", tool={"server_url": url}))
            assert status == 400 and err["param"] == "tools[0].server_url" and "--mcp-allowed-hosts" in err["message"]
        assert recorder.connections == 0
    finally:
        recorder.close()


@pytest.mark.parametrize("tool", [{"server_url": "stdio:python -m evil"},
                                  {"server_url": "file:///bin/sh"},
                                  {"server_url": "http://127.0.0.1:1/mcp", "command": "rm"},
                                  {"command": "python", "args": ["-m", "evil"]}])
def test_stdio_from_a_request_is_refused(qwen, tool) -> None:
    status, err = _error(qwen, _ask("x", tool=tool))
    assert status == 400 and err["param"].startswith("tools[0]")
    assert "stdio" in err["message"] or "command" in err["message"]


def test_unknown_label_unknown_tool_and_clashing_names_are_400(qwen) -> None:
    status, err = _error(qwen, _ask("nope"))
    assert status == 400 and "calc-http" in err["message"] and err["param"] == "tools[0].server_label"
    status, err = _error(qwen, _ask("calc-http", tool={"allowed_tools": ["weather", "teleport"]}))
    assert status == 400 and "teleport" in err["message"] and err["param"] == "tools[0].allowed_tools"
    body = _ask("calc-http", more_tools=[{"type": "mcp", "server_label": "calc-sse"}])
    status, err = _error(qwen, body)
    assert status == 400 and "calc-http" in err["message"] and "calc-sse" in err["message"]


def test_allowed_tools_limit_what_is_offered(qwen) -> None:
    resp = qwen.client.responses.create(**_ask("calc-http", tool={"allowed_tools": ["weather"]}))
    assert [t.name for t in resp.output[0].tools] == ["weather"]
    prompt = qwen.worker.records.requests[-2].tokenized.original_text
    assert '"weather"' in prompt and '"sleep"' not in prompt


def test_a_hanging_tool_is_cut_at_its_timeout(qwen) -> None:
    resp = qwen.client.responses.create(**_ask("calc-http", "SLOW please"))
    assert _kinds(resp) == ["mcp_list_tools", "mcp_call", "message"]
    call = resp.output[1]
    assert call.status == "failed" and call.output is None
    assert call.error.type == "mcp_protocol_error" and "timed out after 2s" in call.error.message
    assert resp.output[2].content[0].text == "The tool was too slow."  # the model was told
    events = events_of(qwen.url, _ask("calc-http", "SLOW please"), AUTH)
    assert "response.mcp_call.failed" in [e["type"] for e in events]


def test_a_tool_error_becomes_the_items_error(qwen) -> None:
    resp = qwen.client.responses.create(**_ask("calc-stdio", "BROKEN please"))
    call = resp.output[1]
    assert call.status == "failed" and call.error.type == "mcp_tool_execution_error"
    assert "no such city" in json.dumps(call.error.content)
    assert resp.output[2].content[0].text == "The tool failed."


def test_the_loop_stops_at_max_iterations(qwen) -> None:
    resp = qwen.client.responses.create(**_ask("calc-http", "AGAIN and again"))
    assert resp.status == "incomplete" and resp.incomplete_details.reason == "max_tool_calls"
    assert _kinds(resp) == ["mcp_list_tools"] + ["mcp_call"] * 3
    assert all(c.output == "3" for c in resp.output[1:])


def test_max_tool_calls_bounds_the_calls(qwen) -> None:
    resp = qwen.client.responses.create(**_ask("calc-http", "AGAIN and again", max_tool_calls=1))
    assert _kinds(resp) == ["mcp_list_tools", "mcp_call"]  # the second call was dropped: the answer ends
    assert resp.status == "completed"


def test_a_client_function_call_ends_the_loop(qwen) -> None:
    fn = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}
    resp = qwen.client.responses.create(**_ask("calc-http", "LOCAL time?", more_tools=[fn]))
    assert _kinds(resp) == ["mcp_list_tools", "function_call"]
    assert resp.output[1].name == "get_time"


def test_approval_round_trip(qwen) -> None:
    first = qwen.client.responses.create(**_ask("calc-http", tool={"require_approval": "always"}))
    assert _kinds(first) == ["mcp_list_tools", "mcp_approval_request"]
    asked = first.output[1]
    assert asked.name == "weather" and json.loads(asked.arguments) == {"city": "Paris"}
    second = qwen.client.responses.create(
        model="test-model", previous_response_id=first.id,
        tools=[{"type": "mcp", "server_label": "calc-http", "require_approval": "always"}],
        input=[{"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": True}])
    assert _kinds(second) == ["mcp_list_tools", "mcp_call", "message"]
    assert second.output[1].approval_request_id == asked.id and second.output[1].output.startswith("Sunny")
    assert second.output[2].content[0].text == "It is sunny in Paris."
    # An approval for a tool the continuing request no longer offers is refused.
    status, err = _error(qwen, {"model": "test-model", "previous_response_id": first.id, "tools": [
        {"type": "mcp", "server_label": "calc-http", "allowed_tools": ["add"]}], "input": [
        {"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": True}]})
    assert status == 400 and err["param"] == "tools"
    # Answered once: answering again is refused.
    status, err = _error(qwen, {"model": "test-model", "previous_response_id": second.id, "tools": [
        {"type": "mcp", "server_label": "calc-http"}], "input": [
        {"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": True}]})
    assert status == 400 and err["param"] == "input[0].approval_request_id", err


def test_per_tool_approval(qwen) -> None:
    rule = {"always": {"tool_names": ["add"]}}
    resp = qwen.client.responses.create(**_ask("calc-http", tool={"require_approval": rule}))
    assert _kinds(resp) == ["mcp_list_tools", "mcp_call", "message"]  # weather needs none


def test_a_continued_response_shows_the_model_earlier_calls(qwen) -> None:
    first = qwen.client.responses.create(**_ask("calc-http"))
    qwen.client.responses.create(model="test-model", previous_response_id=first.id, input="thanks")
    prompt = qwen.worker.records.requests[-1].tokenized.original_text
    assert "Sunny in Paris, 21 degrees" in prompt and '"weather"' in prompt


def test_unreachable_server_is_424_and_the_gateway_serves_on(gateway_factory, urls) -> None:
    dead = ServerSpec(name="dead", protocol="streamable", url="http://127.0.0.1:9/mcp")
    gw = gateway_factory(folder=model_dir("qwen3"), script=script("qwen3"), tool_call_parser="auto",
                         mcp=McpSettings(servers=(dead,), connect_timeout_secs=2))
    for stream in (False, True):  # streamed too: refused before the stream starts
        status, err = _error(gw, _ask("dead", stream=stream))
        assert status == 424 and err["type"] == "failed_dependency" and "127.0.0.1:9" in err["message"]
    assert gw.client.responses.create(model="test-model", input="hello").status == "completed"


def test_streamed_approval_request(qwen) -> None:
    body = _ask("calc-http", tool={"require_approval": "always"})
    whole = qwen.client.responses.create(**body)
    events = events_of(qwen.url, body, AUTH)
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["mcp_list_tools", "mcp_approval_request"]
    assert not any(e["type"].startswith("response.mcp_call") for e in events)  # nothing ran
    assert same(events[-1]["response"], whole)


def test_a_conversation_keeps_the_calls(qwen) -> None:
    conv = qwen.client.conversations.create()
    first = qwen.client.responses.create(conversation=conv.id, **_ask("calc-http", tool={"require_approval": "always"}))
    asked = first.output[1]
    second = qwen.client.responses.create(
        model="test-model", conversation=conv.id,
        tools=[{"type": "mcp", "server_label": "calc-http", "require_approval": "always"}],
        input=[{"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": True}])
    assert _kinds(second) == ["mcp_list_tools", "mcp_call", "message"]
    kinds = [item.type for item in qwen.client.conversations.items.list(conv.id, order="asc")]
    assert kinds == ["message", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response",
                     "mcp_list_tools", "mcp_call", "message"]


def test_a_denied_call_is_not_run(qwen) -> None:
    first = qwen.client.responses.create(**_ask("calc-http", tool={"require_approval": "always"}))
    calls_before = len(qwen.worker.records.requests)
    second = qwen.client.responses.create(
        model="test-model", previous_response_id=first.id,
        tools=[{"type": "mcp", "server_label": "calc-http", "require_approval": "always"}],
        input=[{"type": "mcp_approval_response", "approval_request_id": first.output[1].id, "approve": False}])
    assert "mcp_call" not in _kinds(second)
    assert "Sunny in" not in qwen.worker.records.requests[calls_before].tokenized.original_text


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_calls_failures_and_iterations(qwen, urls) -> None:
    ok = ("sgl_router_mcp_tool_calls_total", dict(server="calc-http", tool="weather", outcome="success"))
    failed = ("sgl_router_mcp_tool_calls_total", dict(server="calc-stdio", tool="fail", outcome="failure"))
    dynamic = ("sgl_router_mcp_tool_calls_total", dict(server="request", tool="other", outcome="success"))
    loops = ("sgl_router_mcp_loop_iterations_count", {})
    generations = ("sgl_router_mcp_loop_iterations_sum", {})
    before = [_sample(name, **labels) for name, labels in (ok, failed, dynamic, loops, generations)]
    qwen.client.responses.create(**_ask("calc-http"))
    qwen.client.responses.create(**_ask("calc-stdio", "BROKEN please"))
    qwen.client.responses.create(**_ask("mine", tool={"server_url": urls["streamable"]}))
    after = [_sample(name, **labels) for name, labels in (ok, failed, dynamic, loops, generations)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 3, 6]  # two generations each
    assert _sample("sgl_router_mcp_tool_duration_seconds_count", server="calc-http", tool="weather") >= 1


def test_a_background_response_runs_the_loop(qwen) -> None:
    queued = qwen.client.responses.create(background=True, **_ask("calc-sse"))
    assert queued.status in ("queued", "in_progress")
    assert qwen.wait_for(lambda: qwen.client.responses.retrieve(queued.id).status == "completed", timeout=30)
    done = qwen.client.responses.retrieve(queued.id)
    assert _kinds(done) == ["mcp_list_tools", "mcp_call", "message"]
    assert done.output[1].output == "Sunny in Paris, 21 degrees" and done.background


def test_tool_choice_names_an_mcp_tool(qwen) -> None:
    choice = {"type": "mcp", "server_label": "calc-http", "name": "weather"}
    resp = qwen.client.responses.create(**_ask("calc-http", "FORCED city", tool_choice=choice))
    assert _kinds(resp) == ["mcp_list_tools", "mcp_call", "message"]
    assert resp.output[1].output == "Sunny in Paris, 21 degrees"
    first, second = qwen.worker.records.requests[-2:]
    assert first.sampling_params.WhichOneof("constraint") == "json_schema"  # forced: its arguments
    assert second.sampling_params.WhichOneof("constraint") is None  # then free to answer
    for bad, param in ((dict(choice, name="teleport"), "tool_choice.name"),
                       (dict(choice, server_label="calc-sse"), "tool_choice.server_label")):
        status, err = _error(qwen, _ask("calc-http", "FORCED city", tool_choice=bad))
        assert (status, err["param"]) == (400, param)
    status, err = _error(qwen, {"model": "test-model", "input": "hi", "tool_choice": choice})
    assert (status, err["param"]) == (400, "tool_choice")


def test_a_server_that_dies_is_reported_then_reconnected(qwen) -> None:
    resp = qwen.client.responses.create(**_ask("calc-stdio", "CRASH now"))
    call = resp.output[1]
    assert call.status == "failed" and call.error.type == "mcp_protocol_error"
    assert resp.output[2].content[0].text == "The server went away."
    again = qwen.client.responses.create(**_ask("calc-stdio"))  # a new process, a new session
    assert again.output[1].output == "Sunny in Paris, 21 degrees"
