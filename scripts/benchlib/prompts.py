"""Request bodies. Every request is unique (it names its index), so no exact-match cache can
answer it; the floor gets the same prompts as gRPC requests, tokenized by the gateway's code."""

from __future__ import annotations

import random
from typing import Any

import msgspec

from benchlib.scenarios import LONG_MAX_TOKENS, Scenario
from benchlib.settings import MODEL_DIR, MODEL_NAME
from benchlib.texts import fresh_text, zh_text
from sglang_gw.proto import sglang_scheduler_pb2 as pb

__all__ = ["chat_body", "floor_requests", "long_body", "long_floor_requests", "messages_for"]

WORDS = ("time year people way day man thing woman life child world school state family "
         "student group country problem hand part place case week company system program "
         "question work government number night point home water room mother area money "
         "story fact month lot right study book eye job word business issue side kind head "
         "house service friend father power hour game line end member law car city community "
         "name president team minute idea kid body information back parent face others level "
         "office door health person art war history party result change morning reason "
         "research girl guy moment air teacher force education").split()
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"]}}}]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


SYSTEM_PROMPT = "You are a careful assistant. Reference notes follow. " + _words(random.Random(7), 2800)


def messages_for(kind: str, i: int) -> list[dict[str, str]]:
    """Request i's conversation. Every one is unique (its last question names i), so no
    exact-match cache can answer it; multi-turn ones share the system prompt and, per
    conversation (i % 64), their three earlier turns. A unique8k one is ~8k tokens drawn
    from a seed of its own, so no prefix or segment cache holds any of it."""
    if kind == "fresh8k":
        return [{"role": "user", "content": f"Request {i}: summarize this. {fresh_text(8_000_011 * (i + 1), 8000)}"}]
    if kind == "zh3k":
        return [{"role": "user", "content": f"请求 {i}：总结以下内容。{zh_text(3_000_017 * (i + 1), 3000)}"}]
    if kind == "unique8k":
        words = " ".join(random.Random(7_000_003 * (i + 1)).choices(WORDS, k=8000))
        return [{"role": "user", "content": f"Request {i}: summarize these notes. {words}"}]
    rng = random.Random(i % 64)
    question = f"Request {i}: tell me about the {rng.choice(WORDS)} and the {rng.choice(WORDS)}."
    if kind == "short":
        return [{"role": "user", "content": question}]
    history: list[dict[str, str]] = []
    for _ in range(3):
        history.append({"role": "user", "content": _words(rng, 90) + "?"})
        history.append({"role": "assistant", "content": _words(rng, 250) + "."})
    return [{"role": "system", "content": SYSTEM_PROMPT}, *history, {"role": "user", "content": question}]


def chat_body(sc: Scenario, i: int) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL_NAME, "messages": messages_for(sc.prompt, i),
                            "max_tokens": sc.max_tokens, "ignore_eos": True, "stream": sc.stream}
    if sc.stream:
        body["stream_options"] = {"include_usage": True}
    if sc.stream_interval:
        body["stream_interval"] = sc.stream_interval  # SGLang's extra_body knob
    if sc.tools:
        body["tools"] = TOOLS
    return body


def long_body(sc: Scenario, i: int) -> dict[str, Any]:
    """The long-prompt client's request i: about `sc.long_prompt_tokens` tokens (each word
    of WORDS is one token with its leading space; or new text, `sc.long_text`), different
    from the first word on, so neither a prefix cache nor a segment cache holds any of it."""
    seed = 1_000_003 * (i + 1)
    if sc.long_text == "fresh":
        text = f"Request {i}: summarize these notes. " + fresh_text(seed, sc.long_prompt_tokens)
    elif sc.long_text == "zh":
        text = f"请求 {i}：总结以下内容。" + zh_text(seed, sc.long_prompt_tokens)
    else:
        words = random.Random(seed).choices(WORDS, k=sc.long_prompt_tokens)
        text = f"Request {i}: summarize these notes. " + " ".join(words)
    return {"model": MODEL_NAME, "messages": [{"role": "user", "content": text}],
            "max_tokens": LONG_MAX_TOKENS, "ignore_eos": True, "stream": False}


def _floor_request(body: dict[str, Any], request_id: str, sc: Scenario, model: Any) -> pb.GenerateRequest:
    from sglang_gw.api.protocol import ChatCompletionRequest, decode_body
    from sglang_gw.pipeline.prepare import render_chat

    params = pb.SamplingParams(max_new_tokens=body["max_tokens"], ignore_eos=True)
    if sc.stream_interval and body["stream"]:
        params.stream_interval = sc.stream_interval
    req = decode_body(msgspec.json.encode(body), ChatCompletionRequest)
    _, ids = render_chat(req, model)
    return pb.GenerateRequest(request_id=request_id, stream=body["stream"], sampling_params=params,
                              tokenized=pb.TokenizedInput(input_ids=ids))


def _model() -> Any:
    from sglang_gw.model import model_from_folder

    return model_from_folder(MODEL_DIR, pb.GetModelInfoResponse())


def floor_requests(sc: Scenario, count: int) -> list[pb.GenerateRequest]:
    """The gRPC requests the gateway would send, built with the gateway's own renderer."""
    model = _model()
    return [_floor_request(chat_body(sc, i), f"floor-{sc.key}-{i}", sc, model) for i in range(count)]


def long_floor_requests(sc: Scenario, count: int) -> list[pb.GenerateRequest]:
    model = _model()
    return [_floor_request(long_body(sc, i), f"floor-{sc.key}-long-{i}", sc, model) for i in range(count)]
