"""/v1/messages for a model of OpenAI-compatible HTTP workers: the message goes to the worker
as a chat completion, and its chat answer (one object, or its chunks) becomes the message.

The worker's answer carries what the parse stage gives for gRPC workers (content,
`reasoning_content`, tool-call deltas), so the blocks and events come from the same
`BlockBuilder`. Limits: the worker's own tokens are counted by the worker (usage as it
reports it), and `stop_sequence` is known only when it says which stop matched (SGLang's
`matched_stop`, vLLM's `stop_reason`); otherwise such a stop reads as `end_turn`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sglang_gw.api.protocol import ChatCompletionRequest
from sglang_gw.messages.output import Event
from sglang_gw.messages.request import MessagesRequest
from sglang_gw.messages.writer import MessageWriter, sse
from sglang_gw.parsers.types import ToolCallDelta
from sglang_gw.pipeline.types import Usage

__all__ = ["UpstreamMessage", "chat_body"]


def chat_body(chat: ChatCompletionRequest, *, stream: bool) -> dict[str, Any]:
    """The chat completion request the worker is sent, with only the fields the message set."""
    body: dict[str, Any] = {"model": chat.model, "messages": chat.messages, "stream": stream}
    optional = {"max_tokens": chat.max_tokens, "stop": chat.stop, "temperature": chat.temperature,
                "top_p": chat.top_p, "top_k": chat.top_k, "tools": chat.tools, "tool_choice": chat.tool_choice,
                "parallel_tool_calls": chat.parallel_tool_calls if chat.tools else None, "user": chat.user,
                "chat_template_kwargs": chat.chat_template_kwargs}
    body.update({k: v for k, v in optional.items() if v is not None})
    if chat.continue_final_message:
        body.update(continue_final_message=True, add_generation_prompt=False)
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body



class UpstreamMessage(MessageWriter):
    """Steps are the worker's chat objects: `chat.completion` whole, or `chat.completion.chunk`s."""

    def __init__(self, req: MessagesRequest, model_name: str) -> None:
        super().__init__(req, model_name)
        self._usage: dict[str, Any] = {}

    def usage(self) -> Usage:
        u = self._usage
        return Usage(prompt_tokens=u.get("prompt_tokens") or 0, completion_tokens=u.get("completion_tokens") or 0,
                     cached_tokens=(u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)

    def step(self, chunk: dict[str, Any]) -> list[Event]:
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        events: list[Event] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # a message has one choice
            delta = choice.get("delta") or choice.get("message") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
            events += self.builder.feed(reasoning=reasoning, content=delta.get("content") or "",
                                        calls=ToolCallDelta.from_openai(delta.get("tool_calls")))
            if choice.get("finish_reason") is not None:
                matched = choice.get("matched_stop", choice.get("stop_reason"))
                self._stopped(choice["finish_reason"], matched)
        return events

    def whole(self, answer: dict[str, Any]) -> dict[str, Any]:
        self.step(answer)
        return self.message(self.usage())

    async def events(self, chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
        """The message's events; the prompt's usage is known only at the end (message_delta)."""
        yield self.opening(Usage())
        async for chunk in chunks:
            if frames := sse(self.step(chunk)):
                yield frames
        yield self.closing(self.usage())
