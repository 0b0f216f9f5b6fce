"""The frame stage of /v1/responses on the pipeline: choice deltas → the response, or its events.

`ResponsesResponder` is a pipeline `Responder` (start / frames / tail / complete): each
delta goes through the request's output processor (reasoning, then tool calls), the same
one chat completions run, and then into the `OutputBuilder` (writer.py holds the rest).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sglang_gw.metrics import observe_stage
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.logprobs import chat_logprobs
from sglang_gw.pipeline.parse import OutputProcessor, ParsedDelta, ParserPlan, PassthroughProcessor
from sglang_gw.pipeline.reasoning_usage import count_reasoning_tokens
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest, Usage
from sglang_gw.responses.output import Event
from sglang_gw.responses.turn import Turn
from sglang_gw.responses.writer import ResponseWriter, Save

__all__ = ["ResponsesResponder"]


class ResponsesResponder(ResponseWriter[ChoiceDelta]):
    def __init__(self, turn: Turn, prepared: PreparedRequest, model: ServedModel, plan: ParserPlan,
                 save: Save | None = None) -> None:
        super().__init__(turn, model.name, temperature=prepared.sampling.temperature, top_p=prepared.sampling.top_p,
                         save=save)
        self.prepared = prepared
        self.model = model
        self.processor: OutputProcessor | PassthroughProcessor = plan.processor()
        self.top_n = prepared.logprobs.top_n if prepared.logprobs else 0
        self._ids: list[int] = []  # with a reasoning parser: the token ids, to count reasoning tokens
        self._usage_of: Callable[[], Usage] = Usage
        self._reasoning_tokens: int | None = None
        self._parse_time = 0.0

    def _usage(self) -> Usage:
        usage = self._usage_of()
        usage.reasoning_tokens = self._reasoning_tokens
        return usage

    def _end(self) -> None:
        observe_stage("parse", self._parse_time)

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
            if tail.reasoning or tail.content or tail.tool_calls:
                events += self.builder.feed(reasoning=tail.reasoning, content=tail.content, calls=tail.tool_calls)
            chars = proc.reasoning_chars
            if chars is not None:
                self._reasoning_tokens = count_reasoning_tokens(self.model.tokenizer, self.prepared, self._ids, chars)
            events += self._finish(delta.finish_reason)
        self._parse_time += time.perf_counter() - t0
        return events

    # ---- the pipeline's Responder protocol -------------------------------------------------

    def start(self, usage_of: Callable[[], Usage]) -> bytes:
        self._usage_of = usage_of
        return self.opening()

    def frames(self, delta: ChoiceDelta) -> bytes:
        return self.sse(self._step(delta))

    def tail(self) -> bytes:
        return self.closing(self.final())

    async def stream(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> AsyncIterator[bytes]:
        self._usage_of = usage_of
        async for body in self.events(deltas):
            yield body

    async def complete(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> dict[str, Any]:
        self._usage_of = usage_of
        return await self.whole(deltas)
