"""/v1/responses request fields, end to end on the Qwen3 tokenizer: instructions, logprobs, text.format,
max_output_tokens, max_tool_calls, conversations, background runs and a worker failing midway."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from sglang_gw.testing.mock_worker import Faults
from sglang_gw.testing.models import model_dir
from tests.conftest import SCRIPT, RunningGateway
from tests.responses_helpers import events_of, without_ids

TOOL = {"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
TWO_CALLS = "\n".join(f'<tool_call>\n{{"name": "get_weather", "arguments": {{"city": "{c}"}}}}\n</tool_call>'
                      for c in ("Paris", "Rome"))


@pytest.fixture(scope="module")
def gw_(gateway_factory) -> RunningGateway:
    return gateway_factory(script={**SCRIPT, "TWOCALLS": TWO_CALLS}, reasoning_parser="qwen3",
                           tool_call_parser="hermes")


@pytest.fixture
def gw(gw_: RunningGateway):
    gw_.reset()
    yield gw_
    gw_.reset()


def _prompt(gw: RunningGateway) -> str:
    ids = list(gw.worker.records.requests[-1].tokenized.input_ids)
    return gw.gateway.models["test-model"].tokenizer.decode(ids, skip_special_tokens=False)


def _whole(gw: RunningGateway, body: dict) -> dict:
    """The non-streamed answer's JSON as sent (the SDK's model fills in fields it lacks)."""
    resp = httpx.post(f"{gw.url}/v1/responses", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_instructions_are_the_system_message_and_echoed(gw) -> None:
    resp = gw.client.responses.create(model="test-model", input="Hello there", instructions="Answer in French.")
    assert resp.instructions == "Answer in French." and resp.output_text == "Hello there"
    assert "<|im_start|>system\nAnswer in French.<|im_end|>" in _prompt(gw)


def test_reasoning_then_message(gw) -> None:
    resp = gw.client.responses.create(model="test-model", input="THINK about it")
    assert [item.type for item in resp.output] == ["reasoning", "message"]
    assert resp.output[0].content[0].text == "let me see" and resp.output_text == "The answer is 42."
    assert resp.usage.output_tokens_details.reasoning_tokens > 0


def test_logprobs_when_included_streamed_equals_whole(gw) -> None:
    ask = dict(model="test-model", input="MULTIBYTE please", include=["message.output_text.logprobs"], top_logprobs=2)
    whole = gw.client.responses.create(**ask)
    part = whole.output[0].content[0]
    assert part.logprobs and all(len(lp.top_logprobs) <= 2 for lp in part.logprobs)
    assert "".join(lp.token for lp in part.logprobs).startswith("Gr")
    events = events_of(gw.url, ask)
    streamed = [lp for e in events if e["type"] == "response.output_text.delta" for lp in e["logprobs"]]
    final = events[-1]["response"]["output"][0]["content"][0]
    assert streamed == final["logprobs"] and final["text"] == part.text
    # The mock worker's logprob values depend on how it chunks, and its streamed answer also
    # carries the end token's; the text's tokens may not differ.
    tokens, whole = [lp["token"] for lp in streamed], [lp.token for lp in part.logprobs]
    assert tokens[:len(whole)] == whole and tokens[len(whole):] in ([], ["<|im_end|>"])
    plain = gw.client.responses.create(model="test-model", input="MULTIBYTE")
    assert plain.output[0].content[0].logprobs is None


def test_text_format_json_schema_constrains_the_worker(gw) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    resp = gw.client.responses.create(model="test-model", input="hi",
                                      text={"format": {"type": "json_schema", "name": "thing", "schema": schema}})
    assert resp.text.format.type == "json_schema"
    sent = gw.worker.records.requests[-1].sampling_params
    assert sent.WhichOneof("constraint") == "json_schema" and json.loads(sent.json_schema) == schema
    gw.client.responses.create(model="test-model", input="hi", text={"format": {"type": "json_object"}})
    assert gw.worker.records.requests[-1].sampling_params.WhichOneof("constraint") == "json_schema"


def test_max_output_tokens_makes_it_incomplete(gw) -> None:
    resp = gw.client.responses.create(model="test-model", input="LONG", max_output_tokens=5)
    assert resp.status == "incomplete" and resp.incomplete_details.reason == "max_output_tokens"
    assert resp.usage.output_tokens == 5 and resp.output[0].status == "incomplete"
    events = events_of(gw.url, {"model": "test-model", "input": "LONG", "max_output_tokens": 5})
    assert events[-1]["type"] == "response.incomplete"
    assert without_ids(events[-1]["response"]) == without_ids(_whole(gw, {"model": "test-model", "input": "LONG",
                                                                         "max_output_tokens": 5}))


def test_max_tool_calls_and_parallel_tool_calls(gw) -> None:
    both = gw.client.responses.create(model="test-model", input="TWOCALLS", tools=[TOOL])
    assert [json.loads(i.arguments)["city"] for i in both.output if i.type == "function_call"] == ["Paris", "Rome"]
    for limit in ({"max_tool_calls": 1}, {"parallel_tool_calls": False}):
        one = gw.client.responses.create(model="test-model", input="TWOCALLS", tools=[TOOL], **limit)
        assert [json.loads(i.arguments)["city"] for i in one.output if i.type == "function_call"] == ["Paris"]


def test_reasoning_effort_reaches_the_template(gateway_factory) -> None:
    gw = gateway_factory(folder=model_dir("gpt_oss"), reasoning_parser="auto", tool_call_parser="auto")
    resp = gw.client.responses.create(model="test-model", input="hi", reasoning={"effort": "high"})
    assert resp.reasoning.effort == "high"
    assert "Reasoning: high" in _prompt(gw)


def test_conversation_sees_and_gets_the_items(gw) -> None:
    conv = gw.client.conversations.create(items=[{"type": "message", "role": "user", "content": "My name is ZOE."}])
    first = gw.client.responses.create(model="test-model", input="What is my name?", conversation=conv.id)
    assert first.conversation.id == conv.id
    assert "My name is ZOE." in _prompt(gw) and "What is my name?" in _prompt(gw)
    items = gw.client.conversations.items.list(conv.id, order="asc").data
    assert [(i.type, i.role) for i in items] == [("message", "user"), ("message", "user"), ("message", "assistant")]
    assert items[-1].id == first.output[0].id
    second = gw.client.responses.create(model="test-model", input="And again?", conversation={"id": conv.id})
    assert "What is my name?" in _prompt(gw) and second.output_text == "And again?"
    assert len(gw.client.conversations.items.list(conv.id).data) == 5
    ref = gw.client.responses.create(model="test-model", conversation=conv.id,
                                     input=[{"type": "item_reference", "id": items[0].id}])
    assert ref.output_text == "My name is ZOE."


def test_background_response_runs_and_can_be_retrieved(gw) -> None:
    queued = gw.client.responses.create(model="test-model", input="hello background", background=True)
    assert queued.status == "queued" and queued.background is True and not queued.output
    assert gw.wait_for(lambda: gw.client.responses.retrieve(queued.id).status == "completed")
    done = gw.client.responses.retrieve(queued.id)
    assert done.output_text == "hello background" and done.usage.output_tokens > 0
    with pytest.raises(openai.BadRequestError):
        gw.client.responses.cancel(queued.id)


def test_background_response_can_be_cancelled(gw) -> None:
    gw.worker.faults = Faults(hang_after_tokens=2)
    queued = gw.client.responses.create(model="test-model", input="LONG", background=True)
    assert gw.wait_for(lambda: gw.client.responses.retrieve(queued.id).status == "in_progress")
    cancelled = gw.client.responses.cancel(queued.id)
    assert cancelled.status == "cancelled"
    assert gw.client.responses.retrieve(queued.id).status == "cancelled"
    assert gw.wait_for(lambda: len(gw.worker.records.aborts) > 0)  # the worker's slot is freed


def test_worker_failing_midway_is_response_failed_and_stored(gw) -> None:
    gw.worker.faults = Faults(fail_after_tokens=3)
    events = events_of(gw.url, {"model": "test-model", "input": "LONG"})
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    # Retrieved without a key, as the stream was asked: the same (anonymous) owner.
    assert httpx.get(f"{gw.url}/v1/responses/{failed['id']}", timeout=30).json()["status"] == "failed"


def test_truncation_auto_drops_the_oldest_exchanges(gw) -> None:
    first = gw.client.responses.create(model="test-model", input="words " * 300)
    room = gw.gateway.models["test-model"].context_length - 100  # the short turn alone fits, the chain does not
    ask = dict(model="test-model", previous_response_id=first.id, input="short one", max_output_tokens=room)
    with pytest.raises(openai.BadRequestError) as err:
        gw.client.responses.create(**ask)
    assert err.value.code == "context_length_exceeded"
    resp = gw.client.responses.create(truncation="auto", **ask)
    assert resp.status == "completed" and resp.truncation == "auto"
    assert "short one" in _prompt(gw) and "words words" not in _prompt(gw)
    # The stored context stays whole: the next turn without truncation sees it all again.
    assert len(gw.client.responses.input_items.list(first.id).data) == 1


def test_background_responses_are_bounded(gateway_factory) -> None:
    gw = gateway_factory(max_background_responses=1)
    gw.worker.faults = Faults(hang_after_tokens=2)
    running = gw.client.responses.create(model="test-model", input="LONG", background=True)
    with pytest.raises(openai.RateLimitError):
        gw.client.responses.create(model="test-model", input="LONG", background=True)
    assert gw.client.responses.cancel(running.id).status == "cancelled"
    gw.worker.faults = Faults()
    again = gw.client.responses.create(model="test-model", input="hello", background=True)
    assert gw.wait_for(lambda: gw.client.responses.retrieve(again.id).status == "completed")


def test_a_streamed_response_is_stored_before_its_last_event(gw) -> None:
    events = events_of(gw.url, {"model": "test-model", "input": "store me"})
    final = events[-1]["response"]
    kept = httpx.get(f"{gw.url}/v1/responses/{final['id']}", timeout=30)
    assert kept.status_code == 200 and kept.json() == final
