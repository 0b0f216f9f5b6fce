"""One turn of the Responses API: the request, its stored context and its items, as a chat request.

`open_turn` resolves everything the store holds before any work starts: the
`previous_response_id` chain or the `conversation`'s items, and `item_reference`s. Then the
turn is a chat completion (`chat_request`) that runs the same prepare, dispatch, decode and
parse stages as /v1/chat/completions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sglang_gw.api.items import new_item_id
from sglang_gw.api.protocol import ChatCompletionRequest, JsonSchemaSpec, ResponseFormat
from sglang_gw.errors import InvalidRequestError, NotFoundError
from sglang_gw.history.base import HistoryStore, ResponseJson, StoredResponse
from sglang_gw.ids import time_ordered_secret_hex
from sglang_gw.responses.items import Item, ItemReference, checked_items, to_messages
from sglang_gw.responses.request import FunctionTool, ResponsesRequest, function_tools, tool_choice_for_chat

__all__ = ["Turn", "new_response_id", "open_turn"]


def new_response_id() -> str:
    """`resp_` and 48 hex digits: the time in milliseconds, then 144 bits from the OS's
    secure source (a response id is all it takes to read a stored response, within its
    owner). Time first, so a stored response's id goes at the end of the store's id index
    (ids.time_ordered_secret_hex; its creation time is in the response anyway)."""
    return f"resp_{time_ordered_secret_hex(24)}"


@dataclass(slots=True)
class Turn:
    req: ResponsesRequest
    owner: str
    tools: list[FunctionTool]
    input_items: list[Item]  # this request's items, as stored
    messages: list[dict[str, Any]]  # the whole context, as chat messages
    id: str = field(default_factory=new_response_id)
    created_at: int = field(default_factory=lambda: int(time.time()))
    # The last body encoded, and its JSON (see `encoded`).
    _encoded: tuple[dict[str, Any], ResponseJson] | None = field(default=None, init=False, repr=False, compare=False)

    def chat_request(self) -> ChatCompletionRequest:
        req = self.req
        tools = [{"type": "function", "function": {k: v for k, v in (("name", t.name), ("description", t.description),
                                                                       ("parameters", t.parameters)) if v is not None}}
                 for t in self.tools]
        return ChatCompletionRequest(
            model=req.model, messages=self.messages, max_completion_tokens=req.max_output_tokens,
            temperature=req.temperature, top_p=req.top_p, logprobs=req.wants_logprobs,
            top_logprobs=req.top_logprobs if req.wants_logprobs else None, tools=tools or None,
            tool_choice=tool_choice_for_chat(req.tool_choice, self.tools, req.tools),
            parallel_tool_calls=req.parallel_tool_calls, response_format=_response_format(req),
            reasoning_effort=req.reasoning.effort if req.reasoning else None, user=req.user, stream=req.stream,
        )

    def drop_oldest_turn(self) -> bool:
        """`truncation: "auto"`: leave out the oldest exchange of the context (from its user
        message up to the next one), keeping the leading system messages and the last user
        message; False when nothing is left to drop."""
        msgs = self.messages
        start = next((i for i, m in enumerate(msgs) if m["role"] != "system"), len(msgs))
        users = [i for i in range(start, len(msgs)) if msgs[i]["role"] == "user"]
        if len(users) < 2:
            return False
        end = users[1] if users[0] == start else users[0]
        del msgs[start:end]
        return True

    def encoded(self, body: dict[str, Any]) -> ResponseJson:
        """`body` (one of this turn's response objects, no longer changing) as JSON: encoded
        once, whether the store or the client asks first."""
        done = self._encoded
        if done is None or done[0] is not body:
            done = self._encoded = (body, ResponseJson.of(body, self.input_items, body["output"]))
        return done[1]

    def stored(self, body: dict[str, Any]) -> StoredResponse:
        """The response as the store keeps it: the answer's body, its input and output items."""
        return StoredResponse(id=self.id, owner=self.owner, created_at=self.created_at, model=body["model"],
                              status=body["status"], body=body, input_items=self.input_items,
                              output_items=body["output"], previous_response_id=self.req.previous_response_id,
                              conversation_id=self.req.conversation_id, json=self.encoded(body))


def _response_format(req: ResponsesRequest) -> ResponseFormat | None:
    fmt = req.text.format if req.text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return ResponseFormat(type="json_object")
    if fmt.schema is None:
        raise InvalidRequestError("`text.format` json_schema needs `schema`", param="text.format.schema")
    return ResponseFormat(type="json_schema", json_schema=JsonSchemaSpec(name=fmt.name or "schema", schema=fmt.schema,
                                                                         strict=fmt.strict))


async def _history(req: ResponsesRequest, store: HistoryStore, owner: str) -> list[Item]:
    if req.previous_response_id is not None:
        chain = await store.response_chain(owner, req.previous_response_id)
        if chain is None:
            raise InvalidRequestError(f"Previous response with id '{req.previous_response_id[:80]}' not found.",
                                      param="previous_response_id", code="previous_response_not_found")
        return chain
    conv = req.conversation_id
    if conv is not None:
        items = await store.conversation_items(owner, conv)
        if items is None:
            raise NotFoundError(f"Conversation with id '{conv[:80]}' not found.", param="conversation")
        return items
    return []


def _resolved(ref: ItemReference, index: int, history: list[Item]) -> Item:
    """An `item_reference`: a copy of the item it names in this turn's stored context, under
    a new id (the store keeps every item once)."""
    for item in history:
        if item.get("id") == ref.id:
            return {**item, "id": new_item_id(str(item.get("type")))}
    raise InvalidRequestError(f"item_reference {ref.id[:80]!r} names no item of this response's context",
                              param=f"input[{index}].id")


async def open_turn(req: ResponsesRequest, store: HistoryStore, owner: str) -> Turn:
    tools = function_tools(req.tools)
    tool_choice_for_chat(req.tool_choice, tools, req.tools)
    history = await _history(req, store, owner)
    items = [_resolved(it, i, history) if isinstance(it, ItemReference) else it
             for i, it in enumerate(checked_items(req.input))]
    messages = to_messages(req.instructions, history, items)
    if not messages:
        raise InvalidRequestError("`input` is required", param="input")
    return Turn(req=req, owner=owner, tools=tools, input_items=items, messages=messages)
