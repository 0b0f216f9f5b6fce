"""/v1/responses through the real `openai` client, for each tokenizer family: reasoning and
function_call items parsed from the family's real markup, a tool round trip continued with
previous_response_id, and a streamed answer equal to the whole one."""

from __future__ import annotations

import json

import httpx
import pytest
from openai.types.responses import Response

from sglang_gw.testing.models import model_dir
from tests.conftest import RunningGateway
from tests.responses_helpers import events_of, folded, without_ids
from tests.test_api_auto_parsers import FAMILIES, Family

TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather now.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
# gpt-oss answers on its final channel, DeepSeek-R1 after its thinking (its prompt opens the
# block); the other families answer in plain text.
FINAL = {"gpt_oss": "<|channel|>final<|message|>It is sunny in Paris.",
         "deepseek_r1": "Both sunny.\n</think>\n\nIt is sunny in Paris."}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_gw(request, gateway_factory) -> tuple[str, Family, RunningGateway]:
    fam = FAMILIES[request.param]
    # "RESULT" first: a continuation's prompt holds both markers, and the tool's result wins.
    script = {"RESULT": FINAL.get(request.param, "It is sunny in Paris."), "WEATHER": fam.reply}
    gw = gateway_factory(folder=model_dir(request.param), script=script, reasoning_parser="auto",
                         tool_call_parser="auto")
    return request.param, fam, gw


def _ask(**kw):
    return dict(model="test-model", input="WEATHER in two cities?", tools=TOOLS, **kw)


def test_reasoning_and_function_calls_become_items(family_gw) -> None:
    _, fam, gw = family_gw
    resp = gw.client.responses.create(**_ask())
    assert resp.status == "completed" and resp.object == "response" and resp.id.startswith("resp_")
    kinds = [item.type for item in resp.output]
    calls = [item for item in resp.output if item.type == "function_call"]
    assert kinds == (["reasoning"] if fam.thought else []) + ["function_call"] * len(fam.cities)
    if fam.thought:
        assert resp.output[0].content[0].text == fam.thought
        assert resp.usage.output_tokens_details.reasoning_tokens > 0
    assert [json.loads(c.arguments) for c in calls] == [{"city": c} for c in fam.cities]
    assert all(c.name == "get_weather" and c.call_id and c.id.startswith("fc_") for c in calls)
    assert len({c.call_id for c in calls}) == len(calls)
    assert resp.usage.input_tokens > 0 and resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens


def test_tool_round_trip_with_previous_response_id(family_gw) -> None:
    _, _, gw = family_gw
    # One call: Llama 3.1's template refuses a history with several calls in one turn.
    first = gw.client.responses.create(**_ask(parallel_tool_calls=False))
    calls = [item for item in first.output if item.type == "function_call"]
    outputs = [{"type": "function_call_output", "call_id": call.call_id, "output": f"RESULT {i}: sunny"}
               for i, call in enumerate(calls)]
    second = gw.client.responses.create(model="test-model", previous_response_id=first.id, tools=TOOLS, input=outputs)
    assert second.status == "completed" and second.previous_response_id == first.id
    assert second.output_text == "It is sunny in Paris."
    assert [item.type for item in second.output if item.type != "reasoning"] == ["message"]
    # The worker saw the whole context: the call it made and the results, rendered by the template.
    prompt = gw.gateway.models["test-model"].tokenizer.decode(list(gw.worker.records.requests[-1].tokenized.input_ids),
                                                               skip_special_tokens=False)
    assert len(calls) == 1 and "WEATHER in two cities?" in prompt and "RESULT 0: sunny" in prompt
    assert "Paris" in prompt
    stored = gw.client.responses.input_items.list(second.id, order="asc")
    assert [item.type for item in stored.data] == ["function_call_output"] * len(outputs)


def test_streamed_equals_whole(family_gw) -> None:
    _, _, gw = family_gw
    whole = gw.client.responses.create(**_ask())
    with gw.client.responses.stream(**_ask()) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert without_ids(final) == without_ids(whole)


def test_events_are_in_order_and_their_deltas_make_the_items(family_gw) -> None:
    _, _, gw = family_gw
    whole = httpx.post(f"{gw.url}/v1/responses", json=_ask(), timeout=30).json()
    Response.model_validate(whole)  # strictly: every field the SDK's type requires, of its type
    events = events_of(gw.url, _ask())  # each event validated so too
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] == "response.completed"
    final = events[-1]["response"]
    rebuilt = folded(events)
    assert [item["type"] for item in rebuilt] == [item["type"] for item in final["output"]]
    for got, item in zip(rebuilt, final["output"], strict=True):
        if item["type"] == "function_call":
            assert got["arguments"] == item["arguments"]
        else:
            assert got["text"] == item["content"][0]["text"]
    for e in events:  # every item event names the item at its output_index
        if "item_id" in e:
            assert final["output"][e["output_index"]]["id"] == e["item_id"]
    done = [e["output_index"] for e in events if e["type"] == "response.output_item.done"]
    assert sorted(done) == list(range(len(final["output"])))
