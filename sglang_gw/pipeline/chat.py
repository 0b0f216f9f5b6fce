"""Parse and frame stages for /v1/chat/completions: deltas → OpenAI chunks or one response."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from sglang_gw.api.protocol import ChatCompletionRequest
from sglang_gw.metrics import observe_stage
from sglang_gw.model import ServedModel
from sglang_gw.parsers.types import ToolCallDelta
from sglang_gw.pipeline.logprobs import chat_logprobs
from sglang_gw.pipeline.parse import (
    OutputProcessor,
    ParsedDelta,
    ParserPlan,
    PassthroughProcessor,
    finish_reason,
)
from sglang_gw.pipeline.reasoning_usage import count_reasoning_tokens
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest, Usage

__all__ = ["ChatResponder", "SYSTEM_FINGERPRINT", "usage_json"]

SYSTEM_FINGERPRINT = "sglang-gw"
_encode = msgspec.json.Encoder().encode


def usage_json(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens, "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }
    if usage.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out


def _merge_calls(calls: list[dict[str, Any]], deltas: list[ToolCallDelta]) -> None:
    """Fold streamed call deltas into whole OpenAI tool calls (non-streaming answers)."""
    for d in deltas:
        if d.index == len(calls):
            calls.append({"id": d.id, "type": "function", "function": {"name": d.name, "arguments": ""}})
        calls[d.index]["function"]["arguments"] += d.arguments


class ChatResponder:
    """Turns one chat request's choice deltas into OpenAI chat objects."""

    def __init__(self, req: ChatCompletionRequest, prepared: PreparedRequest, model: ServedModel,
                 plan: ParserPlan | None = None) -> None:
        self.req = req
        self.prepared = prepared
        self.model = model
        self.id = prepared.request_id
        self.created = int(time.time())
        self.model_name = req.model or model.name
        self.top_n = prepared.logprobs.top_n if prepared.logprobs else 0
        self.processors: list[OutputProcessor | PassthroughProcessor] = [
            plan.processor() if plan is not None else PassthroughProcessor() for _ in range(req.n)]
        options = req.stream_options
        self.include_usage = bool(options and options.include_usage)
        self.continuous_usage = bool(options and options.continuous_usage_stats)
        self._parse_time = 0.0  # summed per token, observed once per request
        self._frame_time = 0.0
        self._usage_of: Callable[[], Usage] = Usage  # the running usage: set by `start`
        # Per choice, with a reasoning parser: its token ids, then its reasoning-token count.
        self._keeps_ids = [p.reasoning_chars is not None for p in self.processors]
        self._ids: list[list[int]] = [[] for _ in range(req.n)]
        self._reasoning_tokens: list[int | None] = [None] * req.n
        head = _encode({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model_name, "system_fingerprint": SYSTEM_FINGERPRINT})
        self._envelope = b"data: " + head[:-1] + b',"choices":'
        # Most chunks carry one text field and no logprobs or usage: those are framed from
        # bytes made once per choice (what `_chunk` would encode), with only the text
        # encoded per token. With no parser either, the parse stage is skipped too.
        self._fixed = not self.continuous_usage and not self.top_n and prepared.logprobs is None
        self._plain = self._fixed and all(isinstance(p, PassthroughProcessor) for p in self.processors)
        self._content_head = [self._envelope + b'[{"index":%d,"delta":{"content":' % i for i in range(req.n)]
        self._reasoning_head = [self._envelope + b'[{"index":%d,"delta":{"reasoning_content":' % i
                                for i in range(req.n)]
        self._text_tail = b'},"logprobs":null,"finish_reason":null}]' + (
            b',"usage":null}\n\n' if self.include_usage else b"}\n\n")

    # ---- parse ---------------------------------------------------------------------

    def _parse(self, delta: ChoiceDelta) -> ParsedDelta:
        t0 = time.perf_counter()
        proc = self.processors[delta.index]
        parsed = proc.feed(delta.text) if delta.text else ParsedDelta()
        if self._keeps_ids[delta.index]:
            self._ids[delta.index].extend(delta.token_ids)
        if delta.finish_reason is not None:
            parsed.extend(proc.finish())
            self._count_reasoning(delta.index)
        self._parse_time += time.perf_counter() - t0
        return parsed

    def _count_reasoning(self, i: int) -> None:
        """A choice ended: count its reasoning tokens, now that the block's end is settled."""
        chars = self.processors[i].reasoning_chars
        if chars is not None:
            self._reasoning_tokens[i] = count_reasoning_tokens(self.model.tokenizer, self.prepared, self._ids[i], chars)
            self._ids[i] = []

    def _usage(self, usage_of: Callable[[], Usage]) -> Usage:
        """The running usage plus the reasoning tokens of the choices that have ended
        (present whenever a reasoning parser runs, 0 until a choice ends)."""
        usage = usage_of()
        if any(p.reasoning_chars is not None for p in self.processors):
            usage.reasoning_tokens = sum(n or 0 for n in self._reasoning_tokens)
        return usage

    def _finish_reason(self, delta: ChoiceDelta) -> str | None:
        if delta.finish_reason is None:
            return None
        return finish_reason(delta.finish_reason, self.processors[delta.index].has_tool_calls)

    # ---- frame: streaming -------------------------------------------------------------

    def _chunk(self, choices: list[dict[str, Any]], usage: Usage | None = None) -> bytes:
        # The envelope is the same for every chunk of a request: encoded once, then only
        # the choices (and usage) are encoded per token.
        if self.include_usage:
            tail = b',"usage":' + (_encode(usage_json(usage)) if usage is not None else b"null") + b"}\n\n"
        else:
            tail = b"}\n\n"
        return self._envelope + _encode(choices) + tail

    def _delta_body(self, parsed: ParsedDelta) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if parsed.content:
            body["content"] = parsed.content
        if parsed.reasoning:
            body["reasoning_content"] = parsed.reasoning
        if parsed.tool_calls:
            body["tool_calls"] = [call.to_openai() for call in parsed.tool_calls]
        return body

    def start(self, usage_of: Callable[[], Usage]) -> bytes:
        self._usage_of = usage_of
        return self._chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                             "finish_reason": None} for i in range(self.req.n)])

    def frames(self, delta: ChoiceDelta) -> bytes:
        if self._plain and delta.finish_reason is None:
            if not delta.text:
                return b""
            t0 = time.perf_counter()
            body = self._content_head[delta.index] + _encode(delta.text) + self._text_tail
            self._frame_time += time.perf_counter() - t0
            return body
        parsed = self._parse(delta)
        t0 = time.perf_counter()
        body = None
        if self._fixed and delta.finish_reason is None and not delta.logprobs:
            body = self._text_frame(delta.index, parsed)
        if body is None:
            body = self._frame(delta, parsed)
        self._frame_time += time.perf_counter() - t0
        return body

    def _text_frame(self, index: int, parsed: ParsedDelta) -> bytes | None:
        """A delta of content only or reasoning only, from the bytes made once per choice;
        None for any other."""
        if parsed.tool_calls or (parsed.content and parsed.reasoning):
            return None
        if parsed.content:
            return self._content_head[index] + _encode(parsed.content) + self._text_tail
        if parsed.reasoning:
            return self._reasoning_head[index] + _encode(parsed.reasoning) + self._text_tail
        return b""

    def _frame(self, delta: ChoiceDelta, parsed: ParsedDelta) -> bytes:
        """Any delta, its chunks encoded whole."""
        body = b""
        lp = chat_logprobs(self.model.tokenizer, delta.logprobs, self.top_n) if delta.logprobs else None
        if parsed or lp:
            usage = self._usage(self._usage_of) if self.continuous_usage else None
            body = self._chunk([{"index": delta.index, "delta": self._delta_body(parsed), "logprobs": lp,
                                 "finish_reason": None}], usage)
        if delta.finish_reason is not None:
            body += self._chunk([{"index": delta.index, "delta": {}, "logprobs": None,
                                  "finish_reason": self._finish_reason(delta)}])
        return body

    def tail(self) -> bytes:
        observe_stage("frame", self._frame_time)
        observe_stage("parse", self._parse_time)
        return self._chunk([], self._usage(self._usage_of)) if self.include_usage else b""

    # ---- frame: one response ----------------------------------------------------------

    async def complete(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> dict[str, Any]:
        n = self.req.n
        content = [[] for _ in range(n)]
        reasoning = [[] for _ in range(n)]
        calls: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        logprobs: list[list[dict[str, Any]] | None] = [None] * n
        reasons: list[str | None] = [None] * n
        async for delta in deltas:
            i = delta.index
            parsed = self._parse(delta)
            content[i].append(parsed.content)
            reasoning[i].append(parsed.reasoning)
            _merge_calls(calls[i], parsed.tool_calls)
            if delta.logprobs is not None:
                entries = chat_logprobs(self.model.tokenizer, delta.logprobs, self.top_n)["content"]
                logprobs[i] = (logprobs[i] or []) + entries
            if delta.finish_reason is not None:
                reasons[i] = self._finish_reason(delta)
        observe_stage("parse", self._parse_time)
        choices = [self._choice(i, "".join(content[i]), "".join(reasoning[i]), calls[i], logprobs[i], reasons[i])
                   for i in range(n)]
        return {
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model_name,
            "system_fingerprint": SYSTEM_FINGERPRINT, "choices": choices, "usage": usage_json(self._usage(usage_of)),
        }

    def _choice(self, i: int, content: str, reasoning: str, calls: list[dict[str, Any]],
                logprobs: list[dict[str, Any]] | None, reason: str | None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content if content or not calls else None}
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = calls
        lp = {"content": logprobs} if logprobs is not None else ({"content": []} if self.req.logprobs else None)
        return {"index": i, "message": message, "logprobs": lp, "finish_reason": reason}
