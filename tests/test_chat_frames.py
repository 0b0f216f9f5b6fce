"""Plain text deltas, and parsed deltas of one text field, are framed by fast paths: they must
write exactly the general path's bytes."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sglang_gw.api.protocol import ChatCompletionRequest, decode_body
from sglang_gw.model import model_from_folder
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.pipeline.chat import ChatResponder
from sglang_gw.pipeline.framing import framed_stream
from sglang_gw.pipeline.parse import ParserPlan
from sglang_gw.pipeline.prepare import prepare_chat
from sglang_gw.pipeline.types import ChoiceDelta, Usage
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.models import model_dir

TEXTS = ["Hello", ' "quoted" and \\ back', "\n\t\u0000\u001f", "你好👋🏽", "</script>", "", "\u2028 end"]


@pytest.fixture(scope="module")
def model() -> Any:
    return model_from_folder(model_dir("qwen3"), pb.GetModelInfoResponse())


async def _frames(responder: ChatResponder, deltas: list[ChoiceDelta]) -> list[bytes]:
    async def source() -> AsyncIterator[ChoiceDelta]:
        for delta in deltas:
            yield delta

    return [frame async for frame in framed_stream(responder, source(), lambda: Usage(5, 7, 0))]


@pytest.mark.parametrize("options", [{}, {"stream_options": {"include_usage": True}}, {"n": 2}])
async def test_plain_text_frames_equal_the_general_path(model: Any, options: dict[str, Any]) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}], **options}
    req = decode_body(json.dumps(body).encode(), ChatCompletionRequest)
    prepared, plan = await prepare_chat(req, model)
    fast = ChatResponder(req, prepared, model, plan)
    assert fast._plain
    general = copy.copy(fast)
    general._plain = general._fixed = False
    n = req.n
    deltas = [ChoiceDelta(i % n, text) for i, text in enumerate(TEXTS * 2)]
    deltas += [ChoiceDelta(i, "", finish_reason="length") for i in range(n)]
    frames = await _frames(fast, deltas)
    assert frames == await _frames(general, deltas)
    # And they are the JSON an OpenAI client reads.
    texts = [json.loads(f[len(b"data: "):])["choices"] for f in frames[1:]]
    assert [c[0]["delta"].get("content") for c in texts if c and c[0]["delta"].get("content")] == \
        [t for t in TEXTS * 2 if t]


async def test_logprobs_or_continuous_usage_take_the_general_path(model: Any) -> None:
    for extra in ({"logprobs": True}, {"stream_options": {"include_usage": True, "continuous_usage_stats": True}}):
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}], **extra}
        req = decode_body(json.dumps(body).encode(), ChatCompletionRequest)
        prepared, plan = await prepare_chat(req, model)
        assert not ChatResponder(req, prepared, model, plan)._plain


# Reasoning, content and a tool call, split so that some deltas carry one field, some two.
PARSED = ["<think>", "Let me \"think\"", " 你好", "</think>\n\nThe answer", " is <", "b>.\n", "<tool_call>",
          '\n{"name": "get_weather", "arguments": {"city": "Paris"}}', "\n</tool_call>", " after"]


@pytest.mark.parametrize("options", [{}, {"stream_options": {"include_usage": True}}, {"n": 2}])
async def test_parsed_frames_equal_the_general_path(model: Any, options: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sglang_gw.parsers.tools.base.random_call_id", lambda: "call_fixed")
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}], **options}
    req = decode_body(json.dumps(body).encode(), ChatCompletionRequest)
    prepared, _ = await prepare_chat(req, model)
    plan = ParserPlan(reasoning_cls=REASONING_PARSERS.get("qwen3"), tool_cls=TOOL_PARSERS.get("hermes"),
                      tools=(ToolSpec("get_weather"),))
    fast = ChatResponder(req, prepared, model, plan)
    assert fast._fixed and not fast._plain
    general = copy.copy(fast)  # same envelope; parsers and their state of its own
    general.processors = [plan.processor() for _ in range(req.n)]
    general._ids = [[] for _ in range(req.n)]
    general._reasoning_tokens = [None] * req.n
    general._fixed = False
    deltas = [ChoiceDelta(i, text, [1]) for text in PARSED for i in range(req.n)]
    deltas += [ChoiceDelta(i, "", finish_reason="stop") for i in range(req.n)]
    frames = await _frames(fast, deltas)
    assert frames == await _frames(general, deltas)
    chunks = [json.loads(f[len(b"data: "):])["choices"] for f in frames[1:]]
    fields = {key for c in chunks if c for key in c[0]["delta"]}
    assert fields == {"content", "reasoning_content", "tool_calls"}  # every kind of delta was framed
