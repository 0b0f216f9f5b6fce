"""/v1/conversations: conversations and their items, kept by the history store
(docs/responses.md#conversations-and-history-storage).

Objects are OpenAI's: a conversation is `{"id", "object": "conversation", "created_at",
"metadata"}`; item lists are `{"object": "list", "data", "first_id", "last_id",
"has_more"}`. Every lookup is by the request's owner (server/owner.py): another owner's
conversation is a 404, as an unknown one is.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw.api.items import stored_items
from sglang_gw.api.metadata import checked_metadata
from sglang_gw.api.validation import check_json_depth
from sglang_gw.errors import InvalidRequestError, NotFoundError
from sglang_gw.history import Conversation, HistoryStore, ItemPage
from sglang_gw.server.handling import gateway_of, json_response
from sglang_gw.server.owner import owner_of

__all__ = ["conversation_object", "item_list", "page_params", "routes"]

DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def conversation_object(conv: Conversation) -> dict[str, Any]:
    return {"id": conv.id, "object": "conversation", "created_at": conv.created_at, "metadata": conv.metadata}


def item_list(page: ItemPage) -> dict[str, Any]:
    return {"object": "list", "data": page.data, "first_id": page.first_id, "last_id": page.last_id,
            "has_more": page.has_more}


def page_params(request: Request) -> tuple[str | None, int, str]:
    """`after`, `limit` (1 to 100, default 20) and `order` (asc or desc, default desc) of a list."""
    query = request.query_params
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw_limit)
    except ValueError:
        raise InvalidRequestError(f"`limit` must be an integer from 1 to {MAX_LIMIT}, got {raw_limit!r}",
                                  param="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"`limit` must be from 1 to {MAX_LIMIT}, got {limit}", param="limit")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError(f"`order` must be 'asc' or 'desc', got {order!r}", param="order")
    return query.get("after") or None, limit, order


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object the request carries (an empty body is an empty object)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    check_json_depth(raw)
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as err:
        raise InvalidRequestError(f"invalid JSON body: {err}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return body


def _store(request: Request) -> HistoryStore:
    return gateway_of(request).history


def _not_found(conversation_id: str) -> NotFoundError:
    return NotFoundError(f"Conversation with id '{conversation_id}' not found.", param="conversation_id")


async def create_conversation(request: Request) -> Response:
    body = await _body(request)
    items = stored_items(body.get("items") or [], "items")
    metadata = checked_metadata(body.get("metadata"))
    conv = await _store(request).create_conversation(owner_of(request), metadata, items)
    return json_response(conversation_object(conv))


async def get_conversation(request: Request) -> Response:
    conv_id = request.path_params["conversation_id"]
    conv = await _store(request).get_conversation(owner_of(request), conv_id)
    if conv is None:
        raise _not_found(conv_id)
    return json_response(conversation_object(conv))


async def update_conversation(request: Request) -> Response:
    conv_id = request.path_params["conversation_id"]
    body = await _body(request)
    if "metadata" not in body:
        raise InvalidRequestError("`metadata` is required: the conversation's new metadata, whole", param="metadata")
    conv = await _store(request).update_conversation(owner_of(request), conv_id, checked_metadata(body["metadata"]))
    if conv is None:
        raise _not_found(conv_id)
    return json_response(conversation_object(conv))


async def delete_conversation(request: Request) -> Response:
    conv_id = request.path_params["conversation_id"]
    if not await _store(request).delete_conversation(owner_of(request), conv_id):
        raise _not_found(conv_id)
    return json_response({"id": conv_id, "object": "conversation.deleted", "deleted": True})


async def list_items(request: Request) -> Response:
    conv_id = request.path_params["conversation_id"]
    after, limit, order = page_params(request)
    page = await _store(request).list_items(owner_of(request), conv_id, after=after, limit=limit,
                                            order=order)  # type: ignore[arg-type]
    if page is None:
        raise _not_found(conv_id)
    return json_response(item_list(page))


async def add_items(request: Request) -> Response:
    conv_id = request.path_params["conversation_id"]
    body = await _body(request)
    if not body.get("items"):
        raise InvalidRequestError("`items` is required: a list of 1 to 20 items", param="items")
    added = await _store(request).add_items(owner_of(request), conv_id, stored_items(body["items"], "items"))
    if added is None:
        raise _not_found(conv_id)
    return json_response(item_list(ItemPage(added, has_more=False)))


async def get_item(request: Request) -> Response:
    conv_id, item_id = request.path_params["conversation_id"], request.path_params["item_id"]
    store, owner = _store(request), owner_of(request)
    item = await store.get_item(owner, conv_id, item_id)
    if item is None:
        raise await _item_not_found(store, owner, conv_id, item_id)
    return json_response(item)


async def delete_item(request: Request) -> Response:
    """OpenAI answers the deletion of an item with the conversation it was in."""
    conv_id, item_id = request.path_params["conversation_id"], request.path_params["item_id"]
    store, owner = _store(request), owner_of(request)
    if not await store.delete_item(owner, conv_id, item_id):
        raise await _item_not_found(store, owner, conv_id, item_id)
    conv = await store.get_conversation(owner, conv_id)
    if conv is None:  # deleted meanwhile
        raise _not_found(conv_id)
    return json_response(conversation_object(conv))


async def _item_not_found(store: HistoryStore, owner: str, conv_id: str, item_id: str) -> NotFoundError:
    """Which of the two was not found: the conversation, or the item in it."""
    if await store.get_conversation(owner, conv_id) is None:
        return _not_found(conv_id)
    return NotFoundError(f"Item with id '{item_id}' not found in conversation '{conv_id}'.", param="item_id")


routes = [
    Route("/v1/conversations", create_conversation, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", get_conversation, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}", update_conversation, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", delete_conversation, methods=["DELETE"]),
    Route("/v1/conversations/{conversation_id}/items", list_items, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/items", add_items, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}/items/{item_id}", get_item, methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/items/{item_id}", delete_item, methods=["DELETE"]),
]
