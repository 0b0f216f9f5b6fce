"""The store that keeps nothing (`--history-backend none`): for stateless deployments.

Saves are no-ops and every lookup finds nothing, so a `previous_response_id` or a
conversation id is not found (404). Creating a conversation still answers, with a fresh
id and the metadata given, so clients that always create one keep working.
"""

from __future__ import annotations

import time
from typing import Any

from sglang_gw.history.base import Conversation, HistoryConfig, ItemPage, Order, StoredResponse, new_conversation_id

__all__ = ["NoHistory"]


class NoHistory:
    def __init__(self, config: HistoryConfig) -> None:
        del config

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def save_response(self, response: StoredResponse) -> None:
        return None

    async def get_response(self, owner: str, response_id: str) -> StoredResponse | None:
        return None

    async def delete_response(self, owner: str, response_id: str) -> bool:
        return False

    async def response_chain(self, owner: str, response_id: str) -> list[dict[str, Any]] | None:
        return None

    async def list_input_items(self, owner: str, response_id: str, *, after: str | None, limit: int,
                               order: Order) -> ItemPage | None:
        return None

    async def create_conversation(self, owner: str, metadata: dict[str, str],
                                  items: list[dict[str, Any]]) -> Conversation:
        return Conversation(new_conversation_id(), owner, int(time.time()), dict(metadata))

    async def get_conversation(self, owner: str, conversation_id: str) -> Conversation | None:
        return None

    async def update_conversation(self, owner: str, conversation_id: str,
                                  metadata: dict[str, str]) -> Conversation | None:
        return None

    async def delete_conversation(self, owner: str, conversation_id: str) -> bool:
        return False

    async def add_items(self, owner: str, conversation_id: str,
                        items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        return None

    async def list_items(self, owner: str, conversation_id: str, *, after: str | None, limit: int,
                         order: Order) -> ItemPage | None:
        return None

    async def get_item(self, owner: str, conversation_id: str, item_id: str) -> dict[str, Any] | None:
        return None

    async def delete_item(self, owner: str, conversation_id: str, item_id: str) -> bool:
        return False

    async def conversation_items(self, owner: str, conversation_id: str) -> list[dict[str, Any]] | None:
        return None
