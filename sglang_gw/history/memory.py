"""The in-process history store (the default): bounded, lost on restart, one process only.

Bounds: at most `memory_max_responses` responses (the oldest evicted first) and as many
conversations (the least recently changed evicted first) and, when set, nothing older than
`memory_retention_secs` (responses by creation, conversations by their last change).

Objects are copied through JSON on the way in and out, so a caller never holds the store's
own dicts and the store keeps what a database would (tuples come back as lists, non-JSON
values are refused).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import msgspec

from sglang_gw.history.base import (
    FINAL_STATUSES,
    Conversation,
    HistoryConfig,
    ItemPage,
    Order,
    StoredResponse,
    new_conversation_id,
    page_of,
)

__all__ = ["MemoryHistory"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def _copy(value: Any) -> Any:
    return _decode(_encode(value))


@dataclass(slots=True)
class _Response:
    record: StoredResponse
    appended: bool  # its items went to its conversation already


@dataclass(slots=True)
class _Conversation:
    record: Conversation
    touched: float
    items: list[dict[str, Any]] = field(default_factory=list)


class MemoryHistory:
    def __init__(self, config: HistoryConfig) -> None:
        self.max_responses = config.memory_max_responses
        self.retention = config.memory_retention_secs
        self._responses: OrderedDict[str, _Response] = OrderedDict()  # oldest first
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()  # least recently changed first
        self._next_sweep = 0.0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # ---- responses ---------------------------------------------------------------------

    async def save_response(self, response: StoredResponse) -> None:
        self._expire()
        stored = _copy_response(response)
        held = self._responses.get(response.id)
        if held is not None and held.record.owner != response.owner:
            return  # ids are unguessable: a clash is never another owner's to overwrite
        appended = held.appended if held is not None else False
        if not appended and stored.status in FINAL_STATUSES and stored.conversation_id is not None:
            conv = self._conversation(stored.owner, stored.conversation_id)
            if conv is not None:
                conv.items.extend(_copy([*stored.input_items, *stored.output_items]))
                self._touch(conv)
            appended = True
        self._responses[response.id] = _Response(stored, appended)  # a new id goes last, a known one stays
        while len(self._responses) > self.max_responses:
            self._responses.popitem(last=False)

    async def get_response(self, owner: str, response_id: str) -> StoredResponse | None:
        held = self._response(owner, response_id)
        return _copy_response(held.record) if held is not None else None

    async def delete_response(self, owner: str, response_id: str) -> bool:
        if self._response(owner, response_id) is None:
            return False
        del self._responses[response_id]
        return True

    async def response_chain(self, owner: str, response_id: str) -> list[dict[str, Any]] | None:
        held = self._response(owner, response_id)
        if held is None:
            return None
        chain: list[StoredResponse] = []
        seen: set[str] = set()
        while held is not None and held.record.id not in seen:
            seen.add(held.record.id)
            chain.append(held.record)
            previous = held.record.previous_response_id
            held = self._response(owner, previous) if previous else None
        return _copy([item for r in reversed(chain) for item in (*r.input_items, *r.output_items)])

    async def list_input_items(self, owner: str, response_id: str, *, after: str | None, limit: int,
                               order: Order) -> ItemPage | None:
        held = self._response(owner, response_id)
        if held is None:
            return None
        page = page_of(held.record.input_items, after=after, limit=limit, order=order)
        return ItemPage(_copy(page.data), page.has_more)

    # ---- conversations -------------------------------------------------------------------

    async def create_conversation(self, owner: str, metadata: dict[str, str],
                                  items: list[dict[str, Any]]) -> Conversation:
        self._expire()
        record = Conversation(new_conversation_id(), owner, int(time.time()), dict(metadata))
        self._conversations[record.id] = _Conversation(record, time.time(), _copy(items))
        while len(self._conversations) > self.max_responses:
            self._conversations.popitem(last=False)
        return _copy_conversation(record)

    async def get_conversation(self, owner: str, conversation_id: str) -> Conversation | None:
        conv = self._conversation(owner, conversation_id)
        return _copy_conversation(conv.record) if conv is not None else None

    async def update_conversation(self, owner: str, conversation_id: str,
                                  metadata: dict[str, str]) -> Conversation | None:
        conv = self._conversation(owner, conversation_id)
        if conv is None:
            return None
        conv.record.metadata = dict(metadata)
        self._touch(conv)
        return _copy_conversation(conv.record)

    async def delete_conversation(self, owner: str, conversation_id: str) -> bool:
        if self._conversation(owner, conversation_id) is None:
            return False
        del self._conversations[conversation_id]
        return True

    async def add_items(self, owner: str, conversation_id: str,
                        items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        conv = self._conversation(owner, conversation_id)
        if conv is None:
            return None
        stored = _copy(items)
        conv.items.extend(stored)
        self._touch(conv)
        return _copy(stored)

    async def list_items(self, owner: str, conversation_id: str, *, after: str | None, limit: int,
                         order: Order) -> ItemPage | None:
        conv = self._conversation(owner, conversation_id)
        if conv is None:
            return None
        page = page_of(conv.items, after=after, limit=limit, order=order)
        return ItemPage(_copy(page.data), page.has_more)

    async def get_item(self, owner: str, conversation_id: str, item_id: str) -> dict[str, Any] | None:
        conv = self._conversation(owner, conversation_id)
        if conv is None:
            return None
        return next((_copy(item) for item in conv.items if item.get("id") == item_id), None)

    async def delete_item(self, owner: str, conversation_id: str, item_id: str) -> bool:
        conv = self._conversation(owner, conversation_id)
        if conv is None:
            return False
        kept = [item for item in conv.items if item.get("id") != item_id]
        if len(kept) == len(conv.items):
            return False
        conv.items = kept
        self._touch(conv)
        return True

    async def conversation_items(self, owner: str, conversation_id: str) -> list[dict[str, Any]] | None:
        conv = self._conversation(owner, conversation_id)
        return _copy(conv.items) if conv is not None else None

    # ---- lookups and bounds --------------------------------------------------------------

    def _response(self, owner: str, response_id: str) -> _Response | None:
        held = self._responses.get(response_id)
        if held is None or held.record.owner != owner or self._expired(held.record.created_at):
            return None
        return held

    def _conversation(self, owner: str, conversation_id: str) -> _Conversation | None:
        conv = self._conversations.get(conversation_id)
        if conv is None or conv.record.owner != owner or self._expired(conv.touched):
            return None
        return conv

    def _touch(self, conv: _Conversation) -> None:
        conv.touched = time.time()
        self._conversations.move_to_end(conv.record.id)

    def _expired(self, at: float) -> bool:
        return self.retention is not None and at < time.time() - self.retention

    def _expire(self) -> None:
        """Drop what retention has passed (on writes: reads just skip it)."""
        if self.retention is None:
            return
        while self._responses:
            oldest = next(iter(self._responses.values()))
            if not self._expired(oldest.record.created_at):
                break
            self._responses.popitem(last=False)
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(60.0, self.retention)  # a sweep looks at every conversation
        for conv_id in [c for c, conv in self._conversations.items() if self._expired(conv.touched)]:
            del self._conversations[conv_id]


def _copy_response(r: StoredResponse) -> StoredResponse:
    return StoredResponse(r.id, r.owner, r.created_at, r.model, r.status, _copy(r.body), _copy(r.input_items),
                          _copy(r.output_items), r.previous_response_id, r.conversation_id)


def _copy_conversation(c: Conversation) -> Conversation:
    return Conversation(c.id, c.owner, c.created_at, dict(c.metadata))
