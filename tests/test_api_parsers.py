"""Reasoning and tool calls end to end, per family, on the real tokenizers: streamed == not."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest

from sglang_gw.testing.models import model_dir
from tests.conftest import RunningGateway

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@dataclass(frozen=True)
class Family:
    folder: str
    reasoning: str
    tools: str
    reply: str
    cities: tuple[str, ...] = ("Paris", "東京")


def _json_call(city: str, key: str = "arguments") -> str:
    return json.dumps({"name": "get_weather", key: {"city": city}}, ensure_ascii=False)


FAMILIES = {
    "qwen3": Family("qwen3", "qwen3", "hermes",
                    "<think>\nTwo cities to check.\n</think>\n\n"
                    + "\n".join(f"<tool_call>\n{_json_call(c)}\n</tool_call>" for c in ("Paris", "東京"))),
    "llama31": Family("llama31", "qwen3", "llama3",
                      "<think>Two cities to check.</think><|python_tag|>"
                      + "; ".join(_json_call(c, "parameters") for c in ("Paris", "東京"))),
    "deepseek_r1": Family("deepseek_r1", "deepseek_r1", "deepseek_v3",
                          "Two cities to check.\n</think>\n\n<｜tool▁calls▁begin｜>"
                          + "\n".join("<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                                      + json.dumps({"city": c}, ensure_ascii=False) + "\n```<｜tool▁call▁end｜>"
                                      for c in ("Paris", "東京")) + "<｜tool▁calls▁end｜>"),
    "mistral_nemo": Family("mistral_nemo", "mistral", "mistral",
                           "[THINK]Two cities to check.[/THINK][TOOL_CALLS]["
                           + ", ".join(_json_call(c) for c in ("Paris", "東京")) + "]"),
    # Harmony ends a turn at <|call|> (an end token): one call per turn, by design.
    "gpt_oss": Family("gpt_oss", "gpt_oss", "gpt_oss",
                      "<|channel|>analysis<|message|>Two cities to check.<|end|><|start|>assistant"
                      "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
                      '{"city": "Paris"}<|call|>', cities=("Paris",)),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_gw(request, gateway_factory) -> tuple[Family, RunningGateway]:
    fam = FAMILIES[request.param]
    gw = gateway_factory(folder=model_dir(fam.folder), script={"WEATHER": fam.reply},
                         reasoning_parser=fam.reasoning, tool_call_parser=fam.tools)
    return fam, gw


def _ask(**kw):
    return dict(model="test-model", messages=[{"role": "user", "content": "WEATHER in two cities?"}],
                tools=TOOLS, **kw)


def test_reasoning_and_parallel_calls_stream_equals_non_stream(family_gw) -> None:
    fam, gw = family_gw
    whole = gw.client.chat.completions.create(**_ask())
    msg = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls"
    assert msg.model_extra.get("reasoning_content") == "Two cities to check."
    assert not msg.content
    assert [json.loads(c.function.arguments) for c in msg.tool_calls] == [{"city": c} for c in fam.cities]
    assert [c.function.name for c in msg.tool_calls] == ["get_weather"] * len(fam.cities)
    assert len({c.id for c in msg.tool_calls}) == len(fam.cities)

    reasoning, content, calls, reasons = "", "", {}, []
    for chunk in gw.client.chat.completions.create(stream=True, **_ask()):
        for choice in chunk.choices:
            delta = choice.delta
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            content += delta.content or ""
            for call in delta.tool_calls or ():
                entry = calls.setdefault(call.index, {"id": call.id, "name": call.function.name, "args": ""})
                if call.index in calls and call.id is not None:
                    assert entry["id"] == call.id
                entry["args"] += call.function.arguments or ""
            if choice.finish_reason:
                reasons.append(choice.finish_reason)
    assert reasoning == "Two cities to check." and not content and reasons == ["tool_calls"]
    assert "<think>" not in reasoning and "[THINK]" not in reasoning
    assert [calls[i]["args"] for i in sorted(calls)] == [c.function.arguments for c in msg.tool_calls]
    assert [json.loads(calls[i]["args"]) for i in sorted(calls)] == [{"city": c} for c in fam.cities]


def test_tool_choice_none_leaves_markup_unparsed_but_reasoning_split(family_gw) -> None:
    fam, gw = family_gw
    resp = gw.client.chat.completions.create(**_ask(tool_choice="none"))
    assert resp.choices[0].message.tool_calls is None and resp.choices[0].finish_reason == "stop"


def test_parallel_tool_calls_false_keeps_one(family_gw) -> None:
    fam, gw = family_gw
    resp = gw.client.chat.completions.create(**_ask(parallel_tool_calls=False))
    assert len(resp.choices[0].message.tool_calls) == 1


def test_separate_reasoning_off_keeps_reasoning_in_content(family_gw) -> None:
    fam, gw = family_gw
    resp = gw.client.chat.completions.create(**_ask(tool_choice="none", extra_body={"separate_reasoning": False}))
    assert "Two cities to check." in (resp.choices[0].message.content or "")
    assert not resp.choices[0].message.model_extra.get("reasoning_content")


def test_named_and_required_tool_choice_send_a_constraint(gateway_factory) -> None:
    gw = gateway_factory(script={"NAMED": '{"city": "Lyon"}', "REQUIRED": '[{"name": "get_weather", '
                                 '"parameters": {"city": "Nice"}}]'}, tool_call_parser="hermes")
    named = gw.client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "NAMED"}], tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = named.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Lyon"}
    sp = gw.worker.records.requests[-1].sampling_params
    assert json.loads(sp.json_schema)["properties"] == {"city": {"type": "string"}}
    required = gw.client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "REQUIRED"}], tools=TOOLS, tool_choice="required")
    assert json.loads(required.choices[0].message.tool_calls[0].function.arguments) == {"city": "Nice"}
    assert json.loads(gw.worker.records.requests[-1].sampling_params.json_schema)["type"] == "array"
    bad = httpx.post(f"{gw.url}/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "x"}], "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "nope"}}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tool_choice"


def test_parse_endpoints(shared_gateway: RunningGateway) -> None:
    url = shared_gateway.url
    r = httpx.post(f"{url}/parse/reasoning", json={"text": "<think>a</think>b", "reasoning_parser": "qwen3"}).json()
    assert r == {"reasoning_content": "a", "content": "b"}
    text = 'Sure. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>'
    body = {"text": text, "tool_call_parser": "hermes", "tools": TOOLS}
    r = httpx.post(f"{url}/parse/function_call", json=body).json()
    assert r["content"] == "Sure." and json.loads(r["tool_calls"][0]["function"]["arguments"]) == {"city": "Rome"}
    bad = httpx.post(f"{url}/parse/function_call", json={"text": text, "tool_call_parser": "nope"})
    assert bad.status_code == 400 and "hermes" in bad.json()["error"]["message"]


CUT_CALL = f"<tool_call>\n{_json_call('Paris')}\n</tool_call>"


def _collect(stream) -> dict[int, dict]:
    """Per choice: reasoning, content, each call's name and arguments, finish_reason."""
    out: dict[int, dict] = {}
    for chunk in stream:
        for choice in chunk.choices:
            got = out.setdefault(choice.index, {"reasoning": "", "content": "", "calls": {}, "finish": None})
            got["reasoning"] += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            got["content"] += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                entry = got["calls"].setdefault(call.index, ["", ""])
                entry[0] += call.function.name or ""
                entry[1] += call.function.arguments or ""
            got["finish"] = choice.finish_reason or got["finish"]
    return out


@pytest.mark.parametrize(("reply", "reasoning", "content", "calls", "finish"), [
    # The block never closes and ends in a whole call: the call is a call.
    (f"<think>\nThe weather, then.\n{CUT_CALL}", "The weather, then.", "",
     [("get_weather", '{"city": "Paris"}')], "tool_calls"),
    # The same markup inside a block that closes is reasoning, never a call.
    (f"<think>\nMaybe {CUT_CALL}\n</think>\n\nNo call needed.", f"Maybe {CUT_CALL}", "No call needed.", [], "stop"),
    # A call cut off inside the open block is reasoning.
    (f"<think>\nThe weather, then.\n{CUT_CALL[:40]}", f"The weather, then.\n{CUT_CALL[:40]}", "", [], "stop"),
])
def test_reasoning_cut_short_by_a_call_stream_equals_non_stream(gateway_factory, reply, reasoning, content, calls,
                                                                finish) -> None:
    gw = gateway_factory(script={"CUT": reply}, reasoning_parser="qwen3", tool_call_parser="hermes")
    ask = dict(model="test-model", messages=[{"role": "user", "content": "CUT"}], tools=TOOLS, n=2)
    whole = gw.client.chat.completions.create(**ask)
    streamed = _collect(gw.client.chat.completions.create(stream=True, **ask))
    assert sorted(streamed) == [0, 1]
    for choice in whole.choices:
        msg = choice.message
        got = [(c.function.name, c.function.arguments) for c in msg.tool_calls or ()]
        assert (msg.model_extra.get("reasoning_content"), msg.content or "", got, choice.finish_reason) == (
            reasoning, content, calls, finish)
        again = streamed[choice.index]
        assert (again["reasoning"], again["content"], [tuple(c) for c in again["calls"].values()],
                again["finish"]) == (reasoning, content, calls, finish)
