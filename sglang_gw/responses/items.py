"""Responses items: the input ones checked and given ids, and any context turned into chat messages.

Input items are converted one at a time into tagged msgspec structs so that an error names
its field (`input[3].content[0].type`). Items are kept (and stored) as plain JSON objects
in OpenAI's shape, each with an `id`; `to_messages` turns a whole context (history, then
this request's items) into the chat messages the model's template renders:

    message                → a user/system/assistant message (developer → system)
    reasoning              → the next assistant message's `reasoning_content`
    function_call          → a tool call of that assistant message
    function_call_output   → a `tool` message (its call must be in the context)
    mcp_call               → a tool call of that assistant message, and its `tool` message
                             (after the turn's other calls: parallel calls stay one turn)
    mcp_approval_response  → kept, for the MCP loop (responses/mcp_loop.py); nothing to the model
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from sglang_gw.api.items import (
    FunctionCall,
    FunctionCallOutput,
    Message,
    Reasoning,
    new_item_id,
    stored_item,
    user_text_item,
)
from sglang_gw.api.validation import error_param
from sglang_gw.errors import InvalidRequestError

__all__ = ["Item", "ItemReference", "checked_items", "mcp_call_id", "mcp_output_text", "to_messages"]

Item = dict[str, Any]


class ItemReference(msgspec.Struct, tag_field="type", tag="item_reference", kw_only=True):
    id: str


class _McpApprovalResponse(msgspec.Struct, tag_field="type", tag="mcp_approval_response", kw_only=True):
    approval_request_id: str
    approve: bool
    reason: str | None = None


# The conversation items' schemas (api/items.py), and what only a response's input may hold.
_InputItem = Message | FunctionCall | FunctionCallOutput | Reasoning | _McpApprovalResponse | ItemReference


def _stored(item: Message | FunctionCall | FunctionCallOutput | Reasoning | _McpApprovalResponse) -> Item:
    if isinstance(item, _McpApprovalResponse):
        return {"id": new_item_id("mcp_approval_response"), "type": "mcp_approval_response",
                "approval_request_id": item.approval_request_id, "approve": item.approve, "reason": item.reason}
    return stored_item(item)


def checked_items(raw: str | list[Any]) -> list[Item | ItemReference]:
    """This request's input as items (a string is one user message); `item_reference`s are
    left for the caller to resolve, everything else gets its id."""
    if isinstance(raw, str):
        return [] if not raw else [user_text_item(raw)]
    out: list[Item | ItemReference] = []
    for i, value in enumerate(raw):
        if isinstance(value, dict) and "type" not in value and "role" in value:
            value = {**value, "type": "message"}  # the easy form: {"role", "content"}
        try:
            item = msgspec.convert(value, _InputItem)
        except msgspec.ValidationError as err:
            raise InvalidRequestError(f"invalid input item: {err}", param=error_param(err, f"input[{i}]")) from None
        out.append(item if isinstance(item, ItemReference) else _stored(item))
    return out


# -- items → chat messages ---------------------------------------------------------------------


def _content_text(item: Item) -> str:
    parts = item.get("content") or ()
    if len(parts) == 1 and isinstance(parts[0], dict):  # as nearly every stored message
        return parts[0].get("text", "")  # type: ignore[no-any-return]
    return "".join(part.get("text", "") for part in parts if isinstance(part, dict))


def mcp_call_id(item: Item) -> str:
    """The tool-call id of an `mcp_call` in chat messages (the item has no call_id): 9
    digits drawn from its random id, a shape every template accepts (Mistral's demand 9
    alphanumerics) and one whose token count does not vary from call to call."""
    digest = str(item["id"]).rpartition("_")[2]
    try:
        return f"{int(digest, 16) % 10**9:09d}"
    except ValueError:  # an id not made here
        return f"{int.from_bytes(digest.encode()[:16], 'big') % 10**9:09d}"


def mcp_output_text(item: Item) -> str:
    """What the model read as an `mcp_call`'s answer: its output, or its error."""
    error = item.get("error")
    if not error:
        return str(item.get("output") or "")
    if isinstance(error, dict) and error.get("type") == "mcp_tool_execution_error":
        parts = error.get("content") or ()
        return "Error: " + "\n".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
    return "Error: " + str(error.get("message", "") if isinstance(error, dict) else error)


def _reasoning_text(item: Item) -> str:
    parts = item.get("content") or item.get("summary") or ()
    return "".join(part.get("text", "") for part in parts if isinstance(part, dict))


class _Conversation:
    """Chat messages built item by item; an assistant turn gathers reasoning, text and calls."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.calls: set[str] = set()
        self._assistant: dict[str, Any] | None = None
        self._tool_results: list[dict[str, Any]] = []  # of this turn's mcp_calls, after its calls

    def assistant(self) -> dict[str, Any]:
        if self._assistant is None:
            self._assistant = {"role": "assistant", "content": ""}
            self.messages.append(self._assistant)
        return self._assistant

    def close(self) -> None:
        self._assistant = None
        if self._tool_results:
            self.messages += self._tool_results
            self._tool_results = []

    def add(self, item: Item, param: str) -> None:
        kind = item.get("type")
        add = _ADD.get(kind)  # type: ignore[arg-type]
        if add is None:
            return  # other kinds (from a stored conversation) say nothing to the model
        if self._tool_results and kind != "mcp_call":
            self.close()  # the MCP results end the assistant turn before anything else
        add(self, item, param)

    def _mcp_call(self, item: Item, param: str) -> None:
        if item.get("status") in ("completed", "failed"):  # one never run says nothing
            call_id = mcp_call_id(item)
            call = {"id": call_id, "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            self.assistant().setdefault("tool_calls", []).append(call)
            self._tool_results.append({"role": "tool", "tool_call_id": call_id, "content": mcp_output_text(item)})

    def _message(self, item: Item, param: str) -> None:
        role = item.get("role")
        parts = item.get("content")
        # One text part, as nearly every stored message has (_content_text, without the call).
        text = parts[0].get("text", "") if parts and len(parts) == 1 and isinstance(parts[0], dict) \
            else _content_text(item)
        if role == "assistant":
            turn = self.assistant()
            if turn["content"]:  # a second text: a new turn (a text after calls joins them)
                self.close()
                turn = self.assistant()
            turn["content"] = text
            return
        self.close()
        self.messages.append({"role": "system" if role == "developer" else role, "content": text})

    def _reasoning(self, item: Item, param: str) -> None:
        turn = self.assistant()
        if turn["content"] or turn.get("tool_calls"):
            self.close()
            turn = self.assistant()
        turn["reasoning_content"] = turn.get("reasoning_content", "") + _reasoning_text(item)

    def _function_call(self, item: Item, param: str) -> None:
        call = {"id": item["call_id"], "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]}}
        self.assistant().setdefault("tool_calls", []).append(call)
        self.calls.add(item["call_id"])

    def _function_call_output(self, item: Item, param: str) -> None:
        if item["call_id"] not in self.calls:
            raise InvalidRequestError(f"no function_call with call_id {item['call_id'][:64]!r} precedes this "
                                      "function_call_output", param=f"{param}.call_id")
        self.close()
        self.messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]})


_ADD = {"mcp_call": _Conversation._mcp_call, "message": _Conversation._message,
        "reasoning": _Conversation._reasoning, "function_call": _Conversation._function_call,
        "function_call_output": _Conversation._function_call_output}


def to_messages(instructions: str | None, history: Iterable[Item], items: Sequence[Item]) -> list[dict[str, Any]]:
    """The chat messages of a turn: `instructions` as the system message, then the stored
    context, then this request's items (errors name `input[i]`)."""
    conv = _Conversation()
    if instructions:
        conv.messages.append({"role": "system", "content": instructions})
    for item in history:
        conv.add(item, "previous_response_id")
    for i, item in enumerate(items):
        conv.add(item, f"input[{i}]")
    conv.close()
    return conv.messages
