"""/v1/responses for a model of OpenAI-compatible HTTP workers: the gateway keeps the history,
sends the worker the whole context as a chat completion, and builds the response from its answer.

The worker's chat answer (one JSON object, or its chunks) carries what the parse stage gives
for gRPC workers: content, `reasoning_content`, tool-call deltas. Each goes into the same
`OutputBuilder`, so the items and events are those a gRPC worker's answer makes.
"""

from __future__ import annotations

from typing import Any

from sglang_gw.parsers.types import ToolCallDelta
from sglang_gw.pipeline.types import Usage
from sglang_gw.responses.output import Event
from sglang_gw.responses.turn import Turn
from sglang_gw.responses.writer import ResponseWriter, Save

__all__ = ["UpstreamResponder", "chat_body"]


def chat_body(turn: Turn, *, stream: bool) -> dict[str, Any]:
    """The chat completion request the worker is sent: the turn's chat request as JSON."""
    chat = turn.chat_request()
    body: dict[str, Any] = {"model": turn.req.model, "messages": chat.messages, "stream": stream}
    optional = {"max_completion_tokens": chat.max_completion_tokens, "temperature": chat.temperature,
                "top_p": chat.top_p, "tools": chat.tools, "tool_choice": chat.tool_choice, "user": chat.user,
                "reasoning_effort": chat.reasoning_effort,
                "top_logprobs": chat.top_logprobs, "logprobs": chat.logprobs or None,
                "parallel_tool_calls": chat.parallel_tool_calls if chat.tools else None}
    body.update({k: v for k, v in optional.items() if v is not None})
    if chat.response_format is not None:
        fmt = chat.response_format
        body["response_format"] = {"type": fmt.type} if fmt.json_schema is None else {
            "type": fmt.type, "json_schema": {"name": fmt.json_schema.name, "schema": fmt.json_schema.schema,
                                              "strict": fmt.json_schema.strict}}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body



def _logprobs(choice: dict[str, Any]) -> list[dict[str, Any]] | None:
    lp = choice.get("logprobs")
    return lp.get("content") if isinstance(lp, dict) else None


class UpstreamResponder(ResponseWriter[dict[str, Any]]):
    """Steps are the worker's chat objects: `chat.completion` whole, or `chat.completion.chunk`s."""

    def __init__(self, turn: Turn, save: Save | None = None) -> None:
        # The worker's own sampling defaults are not known here: the request's values are echoed.
        super().__init__(turn, turn.req.model, temperature=turn.req.temperature, top_p=turn.req.top_p, save=save)
        self._upstream_usage: dict[str, Any] = {}

    def _usage(self) -> Usage:
        u = self._upstream_usage
        reasoning = (u.get("completion_tokens_details") or {}).get("reasoning_tokens")
        return Usage(prompt_tokens=u.get("prompt_tokens") or 0, completion_tokens=u.get("completion_tokens") or 0,
                     cached_tokens=(u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
                     reasoning_tokens=reasoning)

    def _step(self, chunk: dict[str, Any]) -> list[Event]:
        if chunk.get("usage"):
            self._upstream_usage = chunk["usage"]
        events: list[Event] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # a response has one choice
            delta = choice.get("delta") or choice.get("message") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
            events += self.builder.feed(reasoning=reasoning, content=delta.get("content") or "",
                                        calls=ToolCallDelta.from_openai(delta.get("tool_calls")),
                                        logprobs=_logprobs(choice))
            if choice.get("finish_reason") is not None:
                events += self._finish(choice["finish_reason"])
        return events
