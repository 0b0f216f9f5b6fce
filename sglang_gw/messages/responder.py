"""The frame stage of /v1/messages: choice deltas → the Anthropic message, or its events.

`MessagesResponder` is a pipeline `Responder` (start / frames / tail / complete): each delta
goes through the request's output processor (reasoning, then tool calls: the same one chat
completions run), then into the `BlockBuilder`. A stream is

    message_start, ping, (content_block_start, content_block_delta…, content_block_stop)…,
    message_delta (stop_reason, stop_sequence, usage), message_stop
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from sglang_gw.messages.convert import TOOL_ID_PREFIX
from sglang_gw.messages.output import BlockBuilder, Event
from sglang_gw.messages.request import MessagesRequest
from sglang_gw.metrics import observe_stage
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.parse import OutputProcessor, ParsedDelta, ParserPlan, PassthroughProcessor
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest, Usage

__all__ = ["MessagesResponder", "new_message_id", "stop_reason", "usage_json"]

_encode = msgspec.json.Encoder().encode


def new_message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def usage_json(usage: Usage) -> dict[str, Any]:
    """Anthropic's usage: `input_tokens` are the prompt tokens not read from the cache."""
    return {"input_tokens": usage.prompt_tokens - usage.cached_tokens, "output_tokens": usage.completion_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": usage.cached_tokens}


def stop_reason(delta: ChoiceDelta, made_calls: bool, stops: list[str] | None) -> tuple[str, str | None]:
    """The message's `stop_reason` and `stop_sequence`, from why generation ended."""
    if delta.finish_reason == "length":
        return "max_tokens", None
    if made_calls:
        return "tool_use", None
    matched = delta.matched_stop
    if isinstance(matched, str) and matched in (stops or ()):
        return "stop_sequence", matched
    return "end_turn", None


class MessagesResponder:
    def __init__(self, req: MessagesRequest, prepared: PreparedRequest, model: ServedModel, plan: ParserPlan) -> None:
        self.req = req
        self.prepared = prepared
        self.id = new_message_id()
        self.model_name = req.model or model.name
        self.processor: OutputProcessor | PassthroughProcessor = plan.processor()
        self.builder = BlockBuilder(TOOL_ID_PREFIX)
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self._usage_of: Callable[[], Usage] = Usage
        self._parse_time = 0.0

    def _step(self, delta: ChoiceDelta) -> list[Event]:
        t0 = time.perf_counter()
        proc = self.processor
        parsed = proc.feed(delta.text) if delta.text else ParsedDelta()
        events = self.builder.feed(reasoning=parsed.reasoning, content=parsed.content, calls=parsed.tool_calls)
        if delta.finish_reason is not None:
            tail = proc.finish()
            events += self.builder.feed(reasoning=tail.reasoning, content=tail.content, calls=tail.tool_calls)
            events += self.builder.finish()
            self.stop_reason, self.stop_sequence = stop_reason(delta, self.builder.has_calls, self.req.stop_sequences)
        self._parse_time += time.perf_counter() - t0
        return events

    def message(self, *, content: list[dict[str, Any]], usage: Usage) -> dict[str, Any]:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model_name, "content": content,
                "stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence, "usage": usage_json(usage)}

    # ---- the pipeline's Responder protocol -------------------------------------------------

    def start(self, usage_of: Callable[[], Usage]) -> bytes:
        self._usage_of = usage_of
        usage = usage_of()
        usage.completion_tokens = 0
        return sse([{"type": "message_start", "message": self.message(content=[], usage=usage)}, {"type": "ping"}])

    def frames(self, delta: ChoiceDelta) -> bytes:
        return sse(self._step(delta))

    def tail(self) -> bytes:
        observe_stage("parse", self._parse_time)
        if self.stop_reason is None:  # the source ended without saying why
            self.stop_reason = "end_turn"
        closing = self.builder.finish()
        return sse([*closing, {"type": "message_delta",
                               "delta": {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
                               "usage": usage_json(self._usage_of())},
                    {"type": "message_stop"}])

    async def complete(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> dict[str, Any]:
        async for delta in deltas:
            self._step(delta)
        observe_stage("parse", self._parse_time)
        self.builder.finish()
        self.stop_reason = self.stop_reason or "end_turn"
        return self.message(content=self.builder.content, usage=usage_of())


def sse(events: list[Event]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + _encode(e) + b"\n\n" for e in events)
