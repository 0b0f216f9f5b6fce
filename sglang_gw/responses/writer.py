"""What every Responses answer shares, whatever feeds it: the response object, the event stream
with its sequence numbers, the final status, and saving before the final event.

A subclass turns its own kind of step into builder events (`_step`) and says the usage
(`_usage`): the pipeline's choice deltas (responder.py) or an OpenAI-compatible worker's
chat chunks (upstream.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import msgspec

from sglang_gw.errors import GatewayError
from sglang_gw.pipeline.types import Usage
from sglang_gw.responses.output import Event, OutputBuilder
from sglang_gw.responses.request import ResponsesRequest
from sglang_gw.responses.turn import Turn

__all__ = ["ResponseWriter", "Save", "status_of", "usage_json"]

_encode = msgspec.json.Encoder().encode
Save = Callable[[dict[str, Any]], Awaitable[None]]
Step = TypeVar("Step")


def usage_json(usage: Usage) -> dict[str, Any]:
    # cache_write_tokens: the openai SDK's type requires it; the gateway writes no prompt cache itself.
    details = {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0}
    return {"input_tokens": usage.prompt_tokens, "input_tokens_details": details,
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
            "total_tokens": usage.total_tokens}


def status_of(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    """The response's status for a finish reason; `length` is max_output_tokens or the context's end."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    return "completed", None


def _format(req: ResponsesRequest) -> dict[str, Any]:
    fmt = req.text.format if req.text else None
    if fmt is None:
        return {"type": "text"}
    return {k: v for k, v in msgspec.to_builtins(fmt).items() if v is not None}


class ResponseWriter(Generic[Step]):
    def __init__(self, turn: Turn, model_name: str, *, temperature: float | None, top_p: float | None,
                 save: Save | None = None) -> None:
        self.turn = turn
        self.model_name = turn.req.model or model_name
        self.temperature, self.top_p = temperature, top_p
        self.save = save
        self.builder = OutputBuilder(max_tool_calls=turn.req.max_tool_calls, logprobs=turn.req.wants_logprobs)
        self.status = "in_progress"
        self.incomplete: dict[str, Any] | None = None
        self._seq = 0

    # ---- what a subclass says ------------------------------------------------------------

    def _step(self, step: Step) -> list[Event]:
        raise NotImplementedError

    def _usage(self) -> Usage:
        raise NotImplementedError

    def _end(self) -> None:
        """The steps are over (a hook for timing)."""

    def _finish(self, finish_reason: str | None) -> list[Event]:
        self.status, self.incomplete = status_of(finish_reason)
        return self.builder.finish(self.status)

    # ---- the response object -------------------------------------------------------------

    def body(self, *, status: str | None = None, error: dict[str, Any] | None = None,
             usage: Usage | None = None) -> dict[str, Any]:
        turn, req = self.turn, self.turn.req
        status = status or self.status
        conv = req.conversation_id
        tools = [msgspec.to_builtins(t) for t in turn.tools] if turn.tools else []
        return {
            "id": turn.id, "object": "response", "created_at": turn.created_at, "status": status,
            "background": req.background, "error": error,
            "incomplete_details": self.incomplete if status == "incomplete" else None,
            "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
            "max_tool_calls": req.max_tool_calls, "model": self.model_name,
            "parallel_tool_calls": req.parallel_tool_calls,
            "previous_response_id": req.previous_response_id, "conversation": {"id": conv} if conv else None,
            "reasoning": {"effort": req.reasoning.effort if req.reasoning else None, "summary": None},
            "store": req.store, "temperature": self.temperature, "top_p": self.top_p,
            "text": {"format": _format(req) if req.text else {"type": "text"}},
            "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
            "tools": tools, "top_logprobs": req.top_logprobs,
            "truncation": req.truncation, "usage": usage_json(usage) if usage is not None else None,
            "user": req.user, "metadata": req.metadata or {},
            "output": self.builder.output,  # last, as the store gives it back (history.ResponseJson)
        }

    def final(self) -> dict[str, Any]:
        """The finished response object (once the last step is in)."""
        if self.status == "in_progress":  # the source ended without saying why: it is done
            self._finish(None)
        self._end()
        return self.body(usage=self._usage())

    def failed(self, err: GatewayError) -> dict[str, Any]:
        # A response's error code is one of OpenAI's few (the SDK's type is a closed set);
        # the gateway's own code is kept in the message.
        code = "rate_limit_exceeded" if err.status == 429 else "server_error"
        return self.body(status="failed", error={"code": code, "message": f"{err.message} ({err.code or err.type})"},
                         usage=self._usage())

    # ---- events --------------------------------------------------------------------------

    def sse(self, events: list[Event]) -> bytes:
        out = []
        for event in events:
            event["sequence_number"] = self._seq
            self._seq += 1
            out.append(b"event: " + event["type"].encode() + b"\ndata: " + _encode(event) + b"\n\n")
        return b"".join(out)

    def opening(self) -> bytes:
        return self.sse([{"type": "response.created", "response": self.body()},
                         {"type": "response.in_progress", "response": self.body()}])

    def closing(self, body: dict[str, Any]) -> bytes:
        kind = "response.completed" if body["status"] == "completed" else f"response.{body['status']}"
        return self.sse([{"type": kind, "response": body}])

    # ---- the two ways to answer ----------------------------------------------------------

    async def events(self, steps: AsyncIterator[Step]) -> AsyncIterator[bytes]:
        """The whole event stream; the response is saved before its final event, and a
        failure midway is a `response.failed` event (saved too)."""
        yield self.opening()
        try:
            async for step in steps:
                if frames := self.sse(self._step(step)):
                    yield frames
        except GatewayError as err:
            body = self.failed(err)
        else:
            body = self.final()
        if self.save is not None:
            try:
                await self.save(body)
            except GatewayError as err:  # the store failed (HistoryUnavailable): nothing was kept
                body = self.failed(err)
        yield self.closing(body)

    async def whole(self, steps: AsyncIterator[Step]) -> dict[str, Any]:
        """The response object, saved, from every step."""
        self.builder.emits = False
        async for step in steps:
            self._step(step)
        body = self.final()
        if self.save is not None:
            await self.save(body)
        return body
