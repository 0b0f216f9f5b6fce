"""The frame stage of /v1/messages on the pipeline: choice deltas → the message, or its events.

`MessagesResponder` is a pipeline `Responder` (start / frames / tail / complete): each delta
goes through the request's output processor (reasoning, then tool calls: the same one chat
completions run), then into the `BlockBuilder` (writer.py holds the rest). A stream is

    message_start, ping, (content_block_start, content_block_delta…, content_block_stop)…,
    message_delta (stop_reason, stop_sequence, usage), message_stop
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sglang_gw.messages.output import Event
from sglang_gw.messages.request import MessagesRequest
from sglang_gw.messages.writer import MessageWriter, sse
from sglang_gw.metrics import observe_stage
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.parse import OutputProcessor, ParsedDelta, ParserPlan, PassthroughProcessor
from sglang_gw.pipeline.types import ChoiceDelta, Usage

__all__ = ["MessagesResponder"]


class MessagesResponder(MessageWriter):
    def __init__(self, req: MessagesRequest, model: ServedModel, plan: ParserPlan) -> None:
        super().__init__(req, model.name)
        self.processor: OutputProcessor | PassthroughProcessor = plan.processor()
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
            self._stopped(delta.finish_reason, delta.matched_stop)
        self._parse_time += time.perf_counter() - t0
        return events

    # ---- the pipeline's Responder protocol -------------------------------------------------

    def start(self, usage_of: Callable[[], Usage]) -> bytes:
        self._usage_of = usage_of
        return self.opening(usage_of())

    def frames(self, delta: ChoiceDelta) -> bytes:
        return sse(self._step(delta))

    def tail(self) -> bytes:
        observe_stage("parse", self._parse_time)
        return self.closing(self._usage_of())

    async def complete(self, deltas: AsyncIterator[ChoiceDelta], usage_of: Callable[[], Usage]) -> dict[str, Any]:
        async for delta in deltas:
            self._step(delta)
        observe_stage("parse", self._parse_time)
        return self.message(usage_of())
