"""The Anthropic Messages API on the chat pipeline (docs/messages.md).

    request.py     the request body (msgspec): content blocks, tools, tool_choice, thinking
    convert.py     the request as the chat request the pipeline runs
    output.py      parsed deltas → content blocks and the stream's block events
    writer.py      what every answer shares: the message object, its opening and closing events
    responder.py   the pipeline Responder (gRPC workers): choice deltas → the message, or its events
    upstream.py    OpenAI-compatible HTTP workers: the request as a chat completion, its answer → the message
"""

from __future__ import annotations

from sglang_gw.messages.convert import chat_request
from sglang_gw.messages.request import CountTokensRequest, MessagesRequest
from sglang_gw.messages.responder import MessagesResponder

__all__ = ["CountTokensRequest", "MessagesRequest", "MessagesResponder", "chat_request"]
