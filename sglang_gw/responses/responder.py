"""The frame stage of /v1/responses: choice deltas → the response object, or its event stream.

`ResponsesResponder` is a pipeline `Responder` (start / frames / tail / complete): each delta
goes through the request's output processor (reasoning, then tool calls) and an
`OutputBuilder`, which keeps the output items and says which events a stream sends. The
stored copy is saved (`save`) before the final event or the JSON answer goes out, so a
client that continues at once finds it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from sglang_gw.errors import GatewayError
from sglang_gw.metrics import observe_stage
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.logprobs import chat_logprobs
from sglang_gw.pipeline.parse import OutputProcessor, ParsedDelta, ParserPlan, PassthroughProcessor
from sglang_gw.pipeline.reasoning_usage import count_reasoning_tokens
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest, Usage
from sglang_gw.responses.output import Event, OutputBuilder
from sglang_gw.responses.turn import Turn

__all__ = ["ResponsesResponder", "Save", "usage_json"]

_encode = msgspec.json.Encoder().encode
Save = Callable[[dict[str, Any]], Awaitable[None]]


def usage_json(usage: Usage) -> dict[str, Any]:
    return {"input_tokens": usage.prompt_tokens, "input_tokens_details": {"cached_tokens": usage.cached_tokens},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
            "total_tokens": usage.total_tokens}


def _status(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    if finish_reason == "length":  # max_output_tokens, or the context's end
        return "incomplete", {"reason": "max_output_tokens"}
    return "completed", None


class ResponsesResponder:
    def __init__(self, turn: Turn, prepared: PreparedRequest, model: ServedModel, plan: ParserPlan,
                 save: Save | None = None) -> None:
        self.turn = turn
        self.prepared = prepared
        self.model = model
        self.save = save
        req = turn.req
        self.processor: OutputProcessor | PassthroughProcessor = plan.processor()
        self.builder = OutputBuilder(max_tool_calls=req.max_tool_calls, logprobs=req.wants_logprobs)
        self.top_n = prepared.logprobs.top_n if prepared.logprobs else 0
        self.status = "in_progress"
        self.incomplete: dict[str, Any] | None = None
        self._ids: list[int] = []
        self._usage_of: Callable[[], Usage] = Usage
        self._reasoning_tokens: int | None = None
        self._seq = 0
        self._parse_time = 0.0

    # ---- the response object -------------------------------------------------------------

    def body(self, *, status: str | None = None, error: dict[str, Any] | None = None,
             usage: Usage | None = None) -> dict[str, Any]:
        turn, req, sampling = self.turn, self.turn.req, self.prepared.sampling
        status = status or self.status
        conv = req.conversation_id
        return {
            "id": turn.id, "object": "response", "created_at": turn.created_at, "status": status,
            "background": req.background, "error": error,
            "incomplete_details": self.incomplete if status == "incomplete" else None,
            "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
            "max_tool_calls": req.max_tool_calls, "model": req.model or self.model.name,
            "output": self.builder.output, "parallel_tool_calls": req.parallel_tool_calls,
            "previous_response_id": req.previous_response_id, "conversation": {"id": conv} if conv else None,
            "reasoning": {"effort": req.reasoning.effort if req.reasoning else None, "summary": None},
            "store": req.store, "temperature": sampling.temperature, "top_p": sampling.top_p,
            "text": {"format": msgspec.to_builtins(req.text.format) if req.text and req.text.format
                     else {"type": "text"}},
            "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
            "tools": [msgspec.to_builtins(t) for t in turn.tools], "top_logprobs": req.top_logprobs,
            "truncation": req.truncation, "usage": usage_json(usage) if usage is not None else None,
            "user": req.user, "metadata": req.metadata or {},
        }

    def _usage(self) -> Usage:
        usage = self._usage_of()
        usage.reasoning_tokens = self._reasoning_tokens
        return usage

    # ---- parse ---------------------------------------------------------------------------

    def _step(self, delta: ChoiceDelta) -> list[Event]:
        t0 = time.perf_counter()
        proc = self.processor
        parsed = proc.feed(delta.text) if delta.text else ParsedDelta()
        if proc.reasoning_chars is not None:
            self._ids.extend(delta.token_ids)
        lp = chat_logprobs(self.model.tokenizer, delta.logprobs, self.top_n)["content"] if delta.logprobs else None
        events = self.builder.feed(reasoning=parsed.reasoning, content=parsed.content, calls=parsed.tool_calls,
                                   logprobs=lp)
        if delta.finish_reason is not None:
            tail = proc.finish()
            events += self.builder.feed(reasoning=tail.reasoning, content=tail.content, calls=list(tail.tool_calls))
            chars = proc.reasoning_chars
            if chars is not None:
                self._reasoning_tokens = count_reasoning_tokens(self.model.tokenizer, self.prepared, self._ids, chars)
            self.status, self.incomplete = _status(delta.finish_reason)
            events += self.builder.finish(self.status)
        self._parse_time += time.perf_counter() - t0
        return events

    # ---- frame: streaming ----------------------------------------------------------------

    def _sse(self, events: list[Event]) -> bytes:
        out = []
        for event in events:
            event["sequence_number"] = self._seq
            self._seq += 1
            out.append(b"event: " + event["type"].encode() + b"\ndata: " + _encode(event) + b"\n\n")
        return b"".join(out)

    def start(self, usage_of: Callable[[], Usage]) -> bytes:
        self._usage_of = usage_of
        return self._sse([{"type": "response.created", "response": self.body()},
                          {"type": "response.in_progress", "response": self.body()}])

    def frames(self, delta: ChoiceDelta) -> bytes:
        return self._sse(self._step(delta))

    def final(self) -> dict[str, Any]:
        """The finished response object (once the last delta is in)."""
        observe_stage("parse", self._parse_time)
        return self.body(usage=self._usage())

    def tail(self) -> bytes:
        body = self.final()
        kind = "response.completed" if body["status"] == "completed" else f"response.{body['status']}"
        return self._sse([{"type": kind, "response": body}])

    async def stream(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> AsyncIterator[bytes]:
        """The whole event stream; the response is saved before its final event, and a
        failure midway is a `response.failed` event (saved too)."""
        yield self.start(usage_of)
        try:
            async for delta in deltas:
                if body := self.frames(delta):
                    yield body
        except GatewayError as err:
            failed = self.body(status="failed", error={"code": err.code or err.type, "message": err.message},
                               usage=self._usage())
            if self.save is not None:
                await self.save(failed)
            yield self._sse([{"type": "response.failed", "response": failed}])
            return
        final = self.final()
        if self.save is not None:
            await self.save(final)
        kind = "response.completed" if final["status"] == "completed" else f"response.{final['status']}"
        yield self._sse([{"type": kind, "response": final}])

    # ---- frame: one response -------------------------------------------------------------

    async def complete(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> dict[str, Any]:
        self._usage_of = usage_of
        async for delta in deltas:
            self._step(delta)
        body = self.final()
        if self.save is not None:
            await self.save(body)
        return body
