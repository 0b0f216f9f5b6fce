"""What every Messages answer shares, whatever feeds it: the message object, the stream's
opening and closing events, and the stop reason.

A subclass turns its own kind of step into block events: the pipeline's choice deltas
(responder.py) or an OpenAI-compatible worker's chat chunks (upstream.py).
"""

from __future__ import annotations

from typing import Any

import msgspec

from sglang_gw.ids import secret_hex
from sglang_gw.messages.convert import TOOL_ID_PREFIX
from sglang_gw.messages.output import BlockBuilder, Event
from sglang_gw.messages.request import MessagesRequest
from sglang_gw.pipeline.types import Usage

__all__ = ["MessageWriter", "new_message_id", "sse", "stop_reason", "usage_json"]

_encode = msgspec.json.Encoder().encode


def new_message_id() -> str:
    return f"msg_{secret_hex(12)}"


def usage_json(usage: Usage) -> dict[str, Any]:
    """Anthropic's usage: `input_tokens` are the prompt tokens not read from the cache."""
    return {"input_tokens": usage.prompt_tokens - usage.cached_tokens, "output_tokens": usage.completion_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": usage.cached_tokens}


def stop_reason(finish_reason: str | None, made_calls: bool, matched: object,
                stops: list[str] | None) -> tuple[str, str | None]:
    """The message's `stop_reason` and `stop_sequence`, from why generation ended (the decode
    stage's reason, or an upstream's `finish_reason`) and the stop it matched."""
    if finish_reason == "length":
        return "max_tokens", None
    if made_calls:
        return "tool_use", None
    if isinstance(matched, str) and matched in (stops or ()):
        return "stop_sequence", matched
    return "end_turn", None


def sse(events: list[Event]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + _encode(e) + b"\n\n" for e in events)


class MessageWriter:
    def __init__(self, req: MessagesRequest, model_name: str) -> None:
        self.req = req
        self.id = new_message_id()
        self.model_name = req.model or model_name
        self.builder = BlockBuilder(TOOL_ID_PREFIX)
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None

    def _stopped(self, finish_reason: str | None, matched: object) -> None:
        self.stop_reason, self.stop_sequence = stop_reason(finish_reason, self.builder.has_calls, matched,
                                                           self.req.stop_sequences)

    def message(self, usage: Usage) -> dict[str, Any]:
        """The whole message (once the last step is in)."""
        self.builder.finish()
        self.stop_reason = self.stop_reason or "end_turn"  # the source ended without saying why
        return self._body(self.builder.content, usage)

    def _body(self, content: list[dict[str, Any]], usage: Usage) -> dict[str, Any]:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model_name, "content": content,
                "stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence, "usage": usage_json(usage)}

    def opening(self, usage: Usage) -> bytes:
        """`message_start` (the message with no content yet, and the prompt's usage) and a ping."""
        usage.completion_tokens = 0
        return sse([{"type": "message_start", "message": self._body([], usage)}, {"type": "ping"}])

    def closing(self, usage: Usage) -> bytes:
        """The last block's stop, `message_delta` (why it stopped, the whole usage), `message_stop`."""
        events = self.builder.finish()
        self.stop_reason = self.stop_reason or "end_turn"
        return sse([*events, {"type": "message_delta",
                              "delta": {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
                              "usage": usage_json(usage)},
                    {"type": "message_stop"}])
