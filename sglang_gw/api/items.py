"""Conversation items as clients send them (OpenAI's Responses input items), checked and
made into the items the gateway stores and returns.

Accepted: what a later response can render into its prompt, as the responses layer reads
stored items: `message` (role user, assistant, system or developer; content a string or a
list of `input_text` and `output_text` parts), `function_call`, `function_call_output`
(output a string or a list of `input_text` parts) and `reasoning` (`summary_text` and
`reasoning_text` parts). A message may leave out `type`, as OpenAI's easy input messages
do. Anything else (an image, a file, another item type) is a 400 naming the field
(`items[2].content[0].type`) rather than an item the model would never see. Each stored
item gets a fresh id (`msg_…`, `fc_…`, `fco_…`, `rs_…`; an id the client sent is not kept)
and `status: completed`; string content becomes one text part (`input_text`, or
`output_text` for the assistant), and a function call's output is kept as one string.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from sglang_gw.api.validation import error_param
from sglang_gw.errors import InvalidRequestError
from sglang_gw.ids import secret_hex

__all__ = ["ITEM_TYPES", "MAX_ITEMS_PER_REQUEST", "FunctionCall", "FunctionCallOutput", "Item", "Message", "Reasoning",
           "new_item_id", "stored_item", "stored_items", "user_text_item"]

MAX_ITEMS_PER_REQUEST = 20  # OpenAI's bound on items created by one request
ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")  # a client may add these
# Every kind of item the gateway stores (MCP's come from the responses layer's tool loop).
ITEM_ID_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs",
                    "mcp_call": "mcp", "mcp_list_tools": "mcpl", "mcp_approval_request": "mcpr",
                    "mcp_approval_response": "mcpa"}


class _Part(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    pass


class InputText(_Part, tag="input_text"):
    text: str


class OutputText(_Part, tag="output_text"):
    text: str
    annotations: list[dict[str, Any]] = msgspec.field(default_factory=list)
    logprobs: list[dict[str, Any]] | None = None


class SummaryText(_Part, tag="summary_text"):
    text: str


class ReasoningText(_Part, tag="reasoning_text"):
    text: str


Part = InputText | OutputText


class _Item(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    pass


class Message(_Item, tag="message"):
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]
    phase: Literal["commentary", "final_answer"] | None = None


class FunctionCall(_Item, tag="function_call"):
    call_id: str
    name: str
    arguments: str
    namespace: str | None = None


class FunctionCallOutput(_Item, tag="function_call_output"):
    call_id: str
    output: str | list[InputText]


class Reasoning(_Item, tag="reasoning"):
    summary: list[SummaryText] = msgspec.field(default_factory=list)
    content: list[ReasoningText] | None = None
    encrypted_content: str | None = None


Item = Message | FunctionCall | FunctionCallOutput | Reasoning


def new_item_id(item_type: str) -> str:
    """A new item id (`msg_…`, `fc_…`, `rs_…`): unguessable, as items are reachable by id."""
    return f"{ITEM_ID_PREFIXES.get(item_type, 'item')}_{secret_hex(24)}"


def stored_items(raw: Any, param: str, *, max_items: int = MAX_ITEMS_PER_REQUEST) -> list[dict[str, Any]]:
    """The items of `raw` (a JSON list named `param`), checked, as they are stored."""
    if not isinstance(raw, list):
        raise InvalidRequestError(f"`{param}` must be a list of items", param=param)
    if len(raw) > max_items:
        raise InvalidRequestError(f"`{param}` may hold at most {max_items} items, got {len(raw)}", param=param)
    typed = [_typed(item, f"{param}[{i}]") for i, item in enumerate(raw)]
    try:
        items = msgspec.convert(typed, type=list[Item])
    except msgspec.ValidationError as err:
        message = str(err).replace("`$", f"`{param}")
        raise InvalidRequestError(f"invalid {param}: {message}", param=error_param(err, param)) from None
    return [stored_item(item) for item in items]


def _typed(item: Any, where: str) -> Any:
    """The item with its `type` made explicit (an easy input message has none); an unknown
    type is refused here, listing the known ones."""
    if not isinstance(item, dict):
        raise InvalidRequestError(f"`{where}` must be an object", param=where)
    kind = item.get("type", "message" if "role" in item else None)
    if kind not in ITEM_TYPES:
        got = "no `type`" if kind is None else f"type {kind!r}"
        raise InvalidRequestError(f"`{where}` has {got}; supported item types: {', '.join(ITEM_TYPES)}",
                                  param=f"{where}.type")
    # The id and status are the gateway's to give (below); any sent are dropped here.
    return {**{k: v for k, v in item.items() if k not in ("id", "status")}, "type": kind}


def user_text_item(text: str) -> dict[str, Any]:
    """`stored_item(Message(role="user", content=text))`, without the round trip through the struct."""
    return {"id": new_item_id("message"), "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}], "status": "completed"}


def stored_item(item: Item) -> dict[str, Any]:
    """The item as kept: OpenAI's shape, with a new id (a client sending back earlier items
    must not make two stored items share one) and `status: completed`."""
    body: dict[str, Any] = msgspec.to_builtins(item)
    kind = body.pop("type")
    if isinstance(item, Message) and isinstance(item.content, str):
        text_type = "output_text" if item.role == "assistant" else "input_text"
        body["content"] = [{"type": text_type, "text": item.content}]
    if isinstance(item, FunctionCallOutput) and isinstance(item.output, list):
        body["output"] = "".join(part.text for part in item.output)
    for part in body.get("content") or []:
        if part["type"] == "output_text":
            part.setdefault("annotations", [])  # OpenAI's output_text always has the list
    if kind == "reasoning":
        body.setdefault("summary", [])  # OpenAI's reasoning item always has the list
    return {"id": new_item_id(kind), "type": kind, **body, "status": "completed"}
