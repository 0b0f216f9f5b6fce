"""/v1/responses refuses bad input with OpenAI's error shape, the right status and the field named."""

from __future__ import annotations

import copy
import random

import httpx
import msgspec
import openai
import pytest

from tests.conftest import RunningGateway

TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


@pytest.fixture(scope="module")
def gw_(gateway_factory) -> RunningGateway:
    return gateway_factory()


def _post(gw: RunningGateway, body: dict) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/responses", json={"model": "test-model", **body}, timeout=30)


def _error(resp: httpx.Response, status: int, param: str | None = None, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"} and err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code
    return err


@pytest.mark.parametrize(("body", "param"), [
    ({"input": [{"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
     "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": "hi"}, {"type": "message", "role": "user", "content": "a"},
                {"role": "user", "content": "b"}, {"role": "user", "content": [{"type": "bogus", "text": "c"}]}]},
     "input[3].content[0].type"),
    ({"input": [{"type": "no_such_item"}]}, "input[0].type"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"input": "hi", "tools": [TOOL, {"type": "web_search"}]}, "tools[1].type"),
    ({"input": "hi", "tools": [{"type": "function", "name": ""}]}, "tools[0].name"),
    ({"input": "hi", "tools": [TOOL], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
    ({"input": "hi", "previous_response_id": "resp_x", "conversation": "conv_x"}, "previous_response_id"),
    ({"input": "hi", "include": ["file_search_call.results"]}, "include[0]"),
    ({"input": "hi", "temperature": 3}, "temperature"),
    ({"input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
    ({"input": "hi", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"input": "hi", "background": True, "store": False}, "background"),
    ({}, "input"),
    ({"input": [{"type": "function_call_output", "call_id": "call_nowhere", "output": "x"}]}, "input[0].call_id"),
    ({"input": [{"type": "item_reference", "id": "msg_nowhere"}]}, "input[0].id"),
])
def test_bad_input_is_a_400_naming_the_field(gw_, body, param) -> None:
    _error(_post(gw_, body), 400, param=param)


def test_unknown_previous_response_is_previous_response_not_found(gw_) -> None:
    _error(_post(gw_, {"input": "hi", "previous_response_id": "resp_unknown"}), 400,
           param="previous_response_id", code="previous_response_not_found")


def test_unknown_conversation_is_404(gw_) -> None:
    _error(_post(gw_, {"input": "hi", "conversation": {"id": "conv_unknown"}}), 404, param="conversation")


def test_unknown_ids_are_404_on_every_route(gw_) -> None:
    with pytest.raises(openai.NotFoundError):
        gw_.client.responses.retrieve("resp_unknown")
    with pytest.raises(openai.NotFoundError):
        gw_.client.responses.delete("resp_unknown")
    with pytest.raises(openai.NotFoundError):
        gw_.client.responses.input_items.list("resp_unknown")
    with pytest.raises(openai.NotFoundError):
        gw_.client.responses.cancel("resp_unknown")
    err = _error(httpx.get(f"{gw_.url}/v1/responses/resp_unknown", timeout=30), 404)
    assert err["type"] == "not_found_error"


def test_another_owner_sees_nothing(gw_) -> None:
    mine = openai.OpenAI(base_url=f"{gw_.url}/v1", api_key="key-a", max_retries=0).responses.create(
        model="test-model", input="hello")
    theirs = openai.OpenAI(base_url=f"{gw_.url}/v1", api_key="key-b", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(mine.id)
    with pytest.raises(openai.BadRequestError) as err:
        theirs.responses.create(model="test-model", input="more", previous_response_id=mine.id)
    assert err.value.code == "previous_response_not_found"


def test_store_false_keeps_nothing(gw_) -> None:
    resp = gw_.client.responses.create(model="test-model", input="hello", store=False)
    assert resp.store is False and resp.status == "completed"
    with pytest.raises(openai.NotFoundError):
        gw_.client.responses.retrieve(resp.id)


def test_deleted_response_is_gone(gw_) -> None:
    resp = gw_.client.responses.create(model="test-model", input="hello")
    assert gw_.client.responses.retrieve(resp.id).output_text == resp.output_text
    raw = httpx.delete(f"{gw_.url}/v1/responses/{resp.id}", headers={"Authorization": "Bearer unused"}, timeout=30)
    assert raw.json() == {"id": resp.id, "object": "response.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        gw_.client.responses.retrieve(resp.id)


def test_cancelling_a_finished_or_foreground_response_is_400(gw_) -> None:
    resp = gw_.client.responses.create(model="test-model", input="hello")
    with pytest.raises(openai.BadRequestError):
        gw_.client.responses.cancel(resp.id)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "order=up"])
def test_bad_paging_is_400(gw_, query) -> None:
    resp = gw_.client.responses.create(model="test-model", input="hello")
    _error(httpx.get(f"{gw_.url}/v1/responses/{resp.id}/input_items?{query}",
                     headers={"Authorization": "Bearer unused"}, timeout=30), 400)


def test_mutated_bodies_never_get_a_500(gw_) -> None:
    """Seeded mutations (tests/test_fuzz_bodies.py's) of valid bodies: every answer a success
    (each streamed event of the SDK's types) or an OpenAI error, never a 5xx."""
    from tests.responses_helpers import validated_event
    from tests.test_fuzz_bodies import BROKEN, SEED, mutate, problem, to_json

    first = gw_.client.responses.create(model="test-model", input="WEATHER?", tools=[TOOL])
    valid = [
        {"model": "test-model", "input": "hi", "instructions": "be brief", "max_output_tokens": 8,
         "temperature": 0.5, "top_p": 0.9, "metadata": {"a": "b"}, "include": ["message.output_text.logprobs"],
         "top_logprobs": 2, "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}}},
        {"model": "test-model", "previous_response_id": first.id, "tools": [TOOL], "tool_choice": "auto",
         "input": [{"type": "function_call_output", "call_id": "call_1", "output": "42"}]},
        {"model": "test-model", "stream": True, "reasoning": {"effort": "low"}, "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
            {"role": "assistant", "content": "ok"}]},
    ]
    rng = random.Random(SEED)
    found = []
    with httpx.Client(base_url=gw_.url, timeout=30) as h:
        for _ in range(300):
            raw = rng.choice(BROKEN) if rng.random() < 0.05 else \
                to_json(mutate(copy.deepcopy(rng.choice(valid)), rng, {"model"})).encode("utf-8", "surrogatepass")
            resp = h.post("/v1/responses", content=raw, headers={"content-type": "application/json"})
            if resp.headers.get("content-type", "").startswith("text/event-stream"):
                trouble = None
                for line in resp.text.splitlines():
                    if line.startswith("data: "):
                        try:
                            validated_event(msgspec.json.decode(line[6:]))
                        except Exception as err:  # any way it fails is the finding
                            trouble = f"bad event {line[:200]}: {err}"
            else:
                trouble = problem(resp)
            if trouble is not None:
                found.append(f"{raw[:200]!r}: {trouble}")
    assert found == []
