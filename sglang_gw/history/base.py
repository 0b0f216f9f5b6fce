"""The history store's interface: what the Responses and Conversations APIs keep, and how.

Every object has an owner (see owner.py); another owner's object is simply not found
(None or False), never a different error, so ids cannot be probed across owners.

Ids: response ids (`resp_…`) and item ids (`msg_…`, `fc_…`, …) are made by the caller
(the responses layer, the conversations route); the store never invents them. Conversation
ids (`conv_…`) are made by the store, in `create_conversation`, with `new_conversation_id`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import msgspec

from sglang_gw.errors import GatewayError, InvalidRequestError
from sglang_gw.ids import secret_hex

__all__ = ["FINAL_STATUSES", "Conversation", "HistoryConfig", "HistoryStore", "HistoryUnavailable", "ItemPage",
           "Order", "ResponseJson", "StoredResponse", "new_conversation_id", "page_of"]

_encode = msgspec.json.Encoder().encode
_MISSING = object()

Order = Literal["asc", "desc"]
# A response in one of these has its items appended to its conversation (once).
FINAL_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled"})


class HistoryUnavailable(GatewayError):
    """The history storage cannot be reached or failed a write (nothing was half-written)."""

    status = 503
    type = "service_unavailable"
    code = "history_unavailable"


@dataclass(slots=True, frozen=True)
class HistoryConfig:
    """--history-backend and its options (docs/responses.md)."""

    backend: str = "memory"
    memory_max_responses: int = 10_000  # memory: the oldest response is evicted past this
    memory_retention_secs: float | None = 24 * 3600  # memory: older objects are dropped (None: kept)
    sqlite_path: Path = Path("sglang_gw_history.sqlite3")
    postgres_db_url: str | None = None
    postgres_pool_max: int = 16
    postgres_wait_secs: float = 5.0  # postgres: a call waits this long for a connection (an outage: 503 after it)
    # --storage-context-headers: (header, context key) pairs; present ones name the owner.
    context_headers: tuple[tuple[str, str], ...] = field(default=())


class ResponseJson(NamedTuple):
    """A response object as JSON, encoded once for both the store and the client: the
    object without its `output`, the output items and the input items (JSON arrays)."""

    head: bytes
    output: bytes
    input: bytes

    @classmethod
    def of(cls, body: dict[str, Any], input_items: list[dict[str, Any]],
           output_items: list[dict[str, Any]]) -> ResponseJson:
        # `output` is taken out for the head's encoding (not copied) and put back last, where whole() puts it.
        output = body.pop("output", _MISSING)
        try:
            head = _encode(body)
        finally:
            if output is not _MISSING:
                body["output"] = output
        return cls(head, _encode(output_items), _encode(input_items))

    def whole(self) -> bytes:
        """The response object, its `output` last."""
        return b"".join((self.head[:-1], b',"output":', self.output, b"}"))


@dataclass(slots=True)
class StoredResponse:
    id: str
    owner: str
    created_at: int
    model: str
    status: str
    body: dict[str, Any]  # the response object as returned to the client
    input_items: list[dict[str, Any]]  # items given to this response (each with an "id")
    output_items: list[dict[str, Any]]  # its output items (each with an "id")
    previous_response_id: str | None = None
    conversation_id: str | None = None
    # The same body and items, already encoded (a store may write these instead of encoding them).
    json: ResponseJson | None = None


@dataclass(slots=True)
class Conversation:
    id: str
    owner: str
    created_at: int
    metadata: dict[str, str]


@dataclass(slots=True)
class ItemPage:
    data: list[dict[str, Any]]
    has_more: bool

    @property
    def first_id(self) -> str | None:
        return self.data[0]["id"] if self.data else None

    @property
    def last_id(self) -> str | None:
        return self.data[-1]["id"] if self.data else None


class HistoryStore(Protocol):
    """Responses, conversations and their items, per owner. Every method may raise
    HistoryUnavailable; a write that raises it left nothing behind."""

    async def start(self) -> None:
        """Create or migrate the schema (versioned); connect."""

    async def close(self) -> None: ...

    async def save_response(self, response: StoredResponse) -> None:
        """One transaction: upsert the response (a background one is saved queued, then again
        when done); its input and output items are stored once; when it first reaches a final
        status and has a conversation, its input items then its output items are appended
        to that conversation. All or nothing."""

    async def get_response(self, owner: str, response_id: str) -> StoredResponse | None: ...

    async def delete_response(self, owner: str, response_id: str) -> bool: ...

    async def response_chain(self, owner: str, response_id: str) -> list[dict[str, Any]] | None:
        """What a continuation sees: for each response of the previous_response_id chain that
        ends at `response_id`, oldest first, its input items then its output items. None when
        `response_id` is unknown for this owner; the chain stops at a deleted response."""

    async def list_input_items(self, owner: str, response_id: str, *, after: str | None, limit: int,
                               order: Order) -> ItemPage | None: ...

    async def create_conversation(self, owner: str, metadata: dict[str, str],
                                  items: list[dict[str, Any]]) -> Conversation: ...

    async def get_conversation(self, owner: str, conversation_id: str) -> Conversation | None: ...

    async def update_conversation(self, owner: str, conversation_id: str,
                                  metadata: dict[str, str]) -> Conversation | None:
        """Replace the metadata (OpenAI's update sets it whole)."""

    async def delete_conversation(self, owner: str, conversation_id: str) -> bool: ...

    async def add_items(self, owner: str, conversation_id: str,
                        items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Append items (in order); the items as stored, or None for an unknown conversation."""

    async def list_items(self, owner: str, conversation_id: str, *, after: str | None, limit: int,
                         order: Order) -> ItemPage | None: ...

    async def get_item(self, owner: str, conversation_id: str, item_id: str) -> dict[str, Any] | None: ...

    async def delete_item(self, owner: str, conversation_id: str, item_id: str) -> bool: ...

    async def conversation_items(self, owner: str, conversation_id: str) -> list[dict[str, Any]] | None:
        """Every item, oldest first: the context a response in this conversation sees."""


def new_conversation_id() -> str:
    """`conv_` and 48 hex digits from the OS's secure source: unguessable, as a conversation
    id is the only thing between one client of an owner and another's history."""
    return f"conv_{secret_hex(24)}"


def page_of(items: list[dict[str, Any]], *, after: str | None, limit: int, order: Order) -> ItemPage:
    """One page of a list kept oldest first: `limit` items after the item `after` (in the
    order asked for). An `after` that is not in the list is a 400 naming it."""
    ordered = items if order == "asc" else items[::-1]
    start = 0
    if after is not None:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise InvalidRequestError(f"`after`: no item {after!r} in this list", param="after")
        start = ids.index(after) + 1
    return ItemPage(data=ordered[start:start + limit], has_more=len(ordered) > start + limit)
