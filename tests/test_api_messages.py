"""/v1/messages through the official `anthropic` client, for each tokenizer family: plain text,
thinking and tool_use blocks parsed from the family's real markup, a tool round trip, the
thinking switch, stop sequences, count_tokens, and a streamed message (rebuilt by the SDK's
own accumulator) equal to the whole one."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from sglang_gw.testing.models import model_dir
from tests.conftest import RunningGateway
from tests.test_api_auto_parsers import FAMILIES, Family

EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
TOOLS = [{"name": "get_weather", "description": "Weather now.",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def final(family: str, text: str) -> str:
    """`text` as the family's final answer: gpt-oss answers on its final channel, DeepSeek-R1
    after its thinking (its prompt opens the block); the others in plain text."""
    if family == "gpt_oss":
        return "<|channel|>final<|message|>" + text
    if family == "deepseek_r1":
        return "Both sunny.\n</think>\n\n" + text
    return text


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_gw(request, gateway_factory) -> tuple[str, Family, RunningGateway]:
    fam = FAMILIES[request.param]
    # "RESULT" first: a continuation's prompt holds both markers, and the tool's result wins.
    script = {"RESULT": final(request.param, "It is sunny in Paris."), "WEATHER": fam.reply,
              "GREET": final(request.param, "Hello, traveller. END of the greeting.")}
    gw = gateway_factory(folder=model_dir(request.param), script=script, reasoning_parser="auto",
                         tool_call_parser="auto")
    return request.param, fam, gw


def client(gw: RunningGateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0, timeout=30)


def _ask(**kw: Any) -> dict[str, Any]:
    return {"model": "test-model", "max_tokens": 200, "tools": TOOLS,
            "messages": [{"role": "user", "content": "WEATHER in two cities?"}], **kw}


def _prompt(gw: RunningGateway) -> list[int]:
    return list(gw.worker.records.requests[-1].tokenized.input_ids)


def comparable(msg: Message) -> dict[str, Any]:
    """A message less what each call makes anew (ids) and what the worker's prefix cache
    moves between input and cached tokens."""
    body = msg.model_dump(mode="json", exclude_none=True)
    body.pop("id")
    for block in body["content"]:
        block.pop("id", None)
    usage = body.pop("usage")
    body["prompt_tokens"] = usage["input_tokens"] + usage["cache_read_input_tokens"]
    body["output_tokens"] = usage["output_tokens"]
    return body


def test_thinking_and_tool_use_blocks(family_gw) -> None:
    _, fam, gw = family_gw
    msg = client(gw).messages.create(**_ask())
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.stop_reason == "tool_use" and msg.stop_sequence is None
    kinds = [b.type for b in msg.content]
    assert kinds == (["thinking"] if fam.thought else []) + ["tool_use"] * len(fam.cities)
    if fam.thought:
        assert msg.content[0].thinking == fam.thought
    calls = [b for b in msg.content if b.type == "tool_use"]
    assert [c.input for c in calls] == [{"city": c} for c in fam.cities]
    assert all(c.name == "get_weather" and c.id.startswith("toolu_") for c in calls)
    assert len({c.id for c in calls}) == len(calls)
    assert msg.usage.input_tokens + msg.usage.cache_read_input_tokens == len(_prompt(gw))
    assert msg.usage.output_tokens > 0


def test_plain_text(family_gw) -> None:
    name, _, gw = family_gw
    msg = client(gw).messages.create(model="test-model", max_tokens=200, system="Be brief.",
                                     messages=[{"role": "user", "content": "GREET me"}])
    assert msg.stop_reason == "end_turn"
    assert [b.type for b in msg.content if b.type != "thinking"] == ["text"]
    assert msg.content[-1].text == "Hello, traveller. END of the greeting."
    prompt = gw.gateway.models["test-model"].tokenizer.decode(_prompt(gw), skip_special_tokens=False)
    assert "Be brief." in prompt and "GREET me" in prompt


def test_stop_sequences(family_gw) -> None:
    _, _, gw = family_gw
    msg = client(gw).messages.create(model="test-model", max_tokens=200, stop_sequences=["never", "END"],
                                     messages=[{"role": "user", "content": "GREET me"}])
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "END"
    assert msg.content[-1].type == "text" and msg.content[-1].text == "Hello, traveller. "
    with client(gw).messages.stream(model="test-model", max_tokens=200, stop_sequences=["END"],
                                    messages=[{"role": "user", "content": "GREET me"}]) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_reason == "stop_sequence" and streamed.stop_sequence == "END"
    assert streamed.content[-1].text == "Hello, traveller. "


def test_max_tokens_cuts_the_message(family_gw) -> None:
    _, _, gw = family_gw
    msg = client(gw).messages.create(model="test-model", max_tokens=2, messages=[{"role": "user", "content": "GREET"}])
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 2


@pytest.mark.parametrize("ask", [
    _ask(),
    {"model": "test-model", "max_tokens": 200, "messages": [{"role": "user", "content": "GREET me"}]},
    {"model": "test-model", "max_tokens": 200, "stop_sequences": ["END"],
     "messages": [{"role": "user", "content": "GREET me"}]},
], ids=["tools", "text", "stop"])
def test_streamed_equals_whole(family_gw, ask: dict[str, Any]) -> None:
    _, _, gw = family_gw
    whole = client(gw).messages.create(**ask)
    with client(gw).messages.stream(**ask) as stream:
        kinds = [event.type for event in stream]
        streamed = stream.get_final_message()
    assert comparable(streamed) == comparable(whole)
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "message_delta" in kinds


def test_tool_round_trip(family_gw) -> None:
    _, fam, gw = family_gw
    c = client(gw)
    # One call: Llama 3.1's template refuses a history with several calls in one turn.
    first = c.messages.create(**_ask(tool_choice={"type": "auto", "disable_parallel_tool_use": True}))
    calls = [b for b in first.content if b.type == "tool_use"]
    assert len(calls) == 1 and first.stop_reason == "tool_use"
    history = [{"role": "user", "content": "WEATHER in two cities?"},
               {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id,
                                             "content": [{"type": "text", "text": "RESULT 0: sunny"}]}]}]
    second = c.messages.create(model="test-model", max_tokens=200, tools=TOOLS, messages=history)
    assert second.stop_reason == "end_turn"
    assert second.content[-1].type == "text" and second.content[-1].text == "It is sunny in Paris."
    # The worker saw the whole context, rendered by the template: the call and its result.
    prompt = gw.gateway.models["test-model"].tokenizer.decode(_prompt(gw), skip_special_tokens=False)
    assert "WEATHER in two cities?" in prompt and "RESULT 0: sunny" in prompt and "Paris" in prompt
    # The template was given the id the model's parser made (Mistral's accept only theirs).
    if fam.tools == "mistral":
        assert calls[0].id.removeprefix("toolu_") in prompt


def test_thinking_switch(family_gw) -> None:
    name, fam, gw = family_gw
    model = gw.gateway.models["test-model"]
    messages = [{"role": "user", "content": "GREET me"}]
    for kind, on in (("enabled", True), ("disabled", False)):
        thinking = {"type": kind, "budget_tokens": 1024} if on else {"type": kind}
        msg = client(gw).messages.create(model="test-model", max_tokens=2048, thinking=thinking, messages=messages)
        text = model.require_template().render(messages, template_kwargs={"enable_thinking": on, "thinking": on})
        assert _prompt(gw) == model.encode(text)
        assert msg.content[-1].text == "Hello, traveller. END of the greeting."
    if name == "qwen3":  # Qwen3's template honours the switch: thinking off closes an empty block
        off = model.require_template().render(messages, template_kwargs={"enable_thinking": False})
        assert off != model.require_template().render(messages, template_kwargs={"enable_thinking": True})


def test_count_tokens_is_the_prompt(family_gw) -> None:
    _, _, gw = family_gw
    c = client(gw)
    body = {"model": "test-model", "system": [{"type": "text", "text": "Be brief."}], "tools": TOOLS,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "GREET me"}]}]}
    counted = c.messages.count_tokens(**body)
    c.messages.create(max_tokens=200, **body)
    assert counted.input_tokens == len(_prompt(gw))


def test_a_final_assistant_message_is_continued(family_gw) -> None:
    name, _, gw = family_gw
    client(gw).messages.create(model="test-model", max_tokens=20, messages=[
        {"role": "user", "content": "GREET me"}, {"role": "assistant", "content": "Well, PREFILLED"}])
    prompt = gw.gateway.models["test-model"].tokenizer.decode(_prompt(gw), skip_special_tokens=False)
    assert prompt.rstrip().endswith("Well, PREFILLED")


def test_raw_events_are_the_sdks_types(family_gw) -> None:
    """Every streamed event, as sent, validates against the SDK's type for it, and the whole
    message against `Message` (the accumulator alone would accept looser shapes)."""
    _, _, gw = family_gw
    events = []
    with httpx.stream("POST", f"{gw.url}/v1/messages", json={**_ask(), "stream": True}, timeout=30) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in resp.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: "):]
            elif line.startswith("data: "):
                event = json.loads(line[len("data: "):])
                assert event["type"] == kind
                if kind != "ping":  # Anthropic's keep-alive: no type of its own in the SDK
                    EVENT.validate_python(event, strict=True)
                events.append(event)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["message_start", "ping"] and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e["index"] for e in events if e["type"] == "content_block_start"]
    assert starts == list(range(len(starts)))
    # Blocks one at a time: each stops before the next starts.
    order = [(e["type"], e["index"]) for e in events if e["type"] in ("content_block_start", "content_block_stop")]
    assert order == [(kind, i) for i in starts for kind in ("content_block_start", "content_block_stop")]
    whole = httpx.post(f"{gw.url}/v1/messages", json=_ask(), timeout=30).json()
    Message.model_validate(whole, strict=True)
