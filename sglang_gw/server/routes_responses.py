"""The Responses API: POST /v1/responses, GET/DELETE /v1/responses/{id}, its input items, cancel.

A response runs on the chat pipeline (responses/turn.py makes the turn a chat request); this
module only wires the request, the store, the owner and the generations together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw.api.protocol import decode_body
from sglang_gw.errors import ContextLengthExceededError, GatewayError, InvalidRequestError, NotFoundError
from sglang_gw.gateway import Gateway
from sglang_gw.history.base import FINAL_STATUSES, HistoryStore
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.dispatch import Generation
from sglang_gw.pipeline.merge import merged_deltas, usage_of
from sglang_gw.pipeline.parse import ParserPlan
from sglang_gw.pipeline.prepare import prepare_chat
from sglang_gw.pipeline.types import PreparedRequest
from sglang_gw.responses.background import BackgroundRuns
from sglang_gw.responses.request import ResponsesRequest
from sglang_gw.responses.responder import ResponsesResponder
from sglang_gw.responses.turn import Turn, open_turn
from sglang_gw.responses.upstream import UpstreamResponder, chat_body
from sglang_gw.responses.writer import ResponseWriter, Save
from sglang_gw.server.handling import (
    framed,
    gateway_of,
    generations_for,
    json_response,
    request_id_of,
    start_deltas,
    unless_disconnected,
)
from sglang_gw.server.ledger import ledger_of
from sglang_gw.server.owner import owner_of
from sglang_gw.server.proxy import call_upstream, decoded_events, ending_call
from sglang_gw.server.responses_mcp import has_mcp_tools, mcp_response
from sglang_gw.server.sse import sse_response

__all__ = ["routes"]

MAX_PAGE = 100


def background_runs(request: Request) -> BackgroundRuns:
    return request.app.background_runs  # type: ignore[no-any-return]


def _saver(store: HistoryStore, turn: Turn) -> Save | None:
    if not turn.req.store:
        return None

    async def save(body: dict[str, Any]) -> None:
        await store.save_response(turn.stored(body))

    return save


async def create_response(request: Request) -> Response:
    gw = gateway_of(request)
    req = decode_body(await request.body(), ResponsesRequest)
    if req.model and req.model in gw.http_models and req.model not in gw.models:
        if has_mcp_tools(req.tools):
            raise InvalidRequestError("`mcp` tools are served for models of gRPC workers only", param="tools")
        turn = await open_turn(req, gw.history, owner_of(request))
        return await _upstream(request, turn)
    model, lora = await gw.resolve_model(req.model)  # `base:adapter` names a LoRA adapter
    turn = await open_turn(req, gw.history, owner_of(request))
    if req.tools and has_mcp_tools(req.tools):
        return await mcp_response(request, turn, model, lora, _start_background)  # the loop: responses_mcp.py
    prepared, plan = await _prepared(request, gw, turn, model)
    responder = ResponsesResponder(turn, prepared, model, plan, save=_saver(gw.history, turn))
    if req.background:
        # Not tied to this request (no ledger): the run closes its generation itself.
        gen = Generation(prepared, model, gw.pool, gw.dispatch, routing_key=gw.routing_key(request.headers),
                         hooks=gw.hooks, lora=lora, trace_id=request_id_of(request))
        work = partial(responder.complete, merged_deltas([gen]), usage_of([gen]))
        return await _start_background(request, responder, work, partial(gen.close, None))
    generations = generations_for(request, model, [prepared], lora=lora)
    usage = usage_of(generations)
    if req.stream:
        deltas = await start_deltas(generations)  # a failure before any output is a plain HTTP error
        return await framed(request, "responses", model.name, sse_response(
            responder.stream(deltas, usage), source=deltas, done=False,
            keepalive=gw.config.connections.sse_keepalive_secs))
    body = await unless_disconnected(request, responder.complete(merged_deltas(generations), usage))
    if isinstance(body, Response):
        return body  # the client hung up
    return await framed(request, "responses", model.name, _answer(turn, body), body)


def _answer(turn: Turn, body: dict[str, Any]) -> Response:
    """The response object as sent: the JSON the store was given, not encoded again."""
    return Response(turn.encoded(body).whole(), media_type="application/json")


async def _prepared(request: Request, gw: Gateway, turn: Turn,
                    model: ServedModel) -> tuple[PreparedRequest, ParserPlan]:
    """The chat pipeline's prepare stage; with `truncation: "auto"`, a context too long for
    the model loses its oldest exchanges until it fits (the stored items stay whole)."""
    while True:
        try:
            prepared, plan = await gw.hooks.run("prepare", prepare_chat, turn.chat_request(), model)
            return prepared, plan
        except ContextLengthExceededError:
            if turn.req.truncation != "auto" or not turn.drop_oldest_turn():
                raise


async def _upstream(request: Request, turn: Turn) -> Response:
    """A model of OpenAI-compatible HTTP workers: the expanded context goes upstream as a
    chat completion; nothing is stored there."""
    gw = gateway_of(request)
    responder = UpstreamResponder(turn, save=_saver(gw.history, turn))
    key = gw.routing_key(request.headers)
    if turn.req.background:
        async def run() -> dict[str, Any]:
            call, result = await call_upstream(gw, chat_body(turn, stream=False), "chat", False, key)
            try:
                assert isinstance(result, dict)
                return await responder.whole(_once(result))
            finally:
                call.end()

        return await _start_background(request, responder, run, lambda: None)
    stream = turn.req.stream
    call, result = await call_upstream(gw, chat_body(turn, stream=stream), "chat", stream, key)
    ledger = ledger_of(request.scope)
    if ledger is not None:
        ledger.hold(call.end)  # ended below, or at the latest with the request
    if isinstance(result, dict):
        call.end()
        return json_response(await responder.whole(_once(result)))
    return sse_response(ending_call(responder.events(decoded_events(result)), call), source=result, done=False,
                        keepalive=gw.config.connections.sse_keepalive_secs)


async def _once(value: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    yield value


async def _start_background(request: Request, writer: ResponseWriter[Any], work: Callable[[], Awaitable[object]],
                            close: Callable[[], None]) -> Response:
    """Store the response as `queued`, answer with it, and do `work` (which saves the
    finished response) in a task of its own; `close` frees what the work holds, however it ends."""
    runs = background_runs(request)
    runs.check_room()
    save = writer.save
    assert save is not None  # background needs store (checked in the request)
    queued = writer.body(status="queued")
    await save(queued)

    async def run() -> None:
        try:
            await save(writer.body(status="in_progress"))
            await work()
        except asyncio.CancelledError:
            await save(writer.body(status="cancelled"))
            raise
        except GatewayError as err:
            await save(writer.failed(err))
        finally:
            close()

    runs.submit(writer.turn.id, run())
    return json_response(queued)


async def _stored(request: Request) -> tuple[HistoryStore, str, str]:
    return gateway_of(request).history, owner_of(request), request.path_params["response_id"]


def _not_found(response_id: str) -> NotFoundError:
    return NotFoundError(f"Response with id '{response_id[:80]}' not found.", param="response_id")


async def get_response(request: Request) -> Response:
    store, owner, rid = await _stored(request)
    stored = await store.get_response(owner, rid)
    if stored is None:
        raise _not_found(rid)
    return json_response(stored.body)


async def delete_response(request: Request) -> Response:
    store, owner, rid = await _stored(request)
    if not await store.delete_response(owner, rid):
        raise _not_found(rid)
    return json_response({"id": rid, "object": "response.deleted", "deleted": True})


async def cancel_response(request: Request) -> Response:
    store, owner, rid = await _stored(request)
    stored = await store.get_response(owner, rid)
    if stored is None:
        raise _not_found(rid)
    if not stored.body.get("background"):
        raise InvalidRequestError("Only background responses can be cancelled.", param="response_id")
    if stored.status in FINAL_STATUSES - {"cancelled"}:
        raise InvalidRequestError(f"Cannot cancel a response whose status is {stored.status}.", param="response_id")
    if stored.status != "cancelled" and not await background_runs(request).cancel(rid):
        # Not running in this process (another gateway process, or one that restarted).
        stored.body["status"] = stored.status = "cancelled"
        await store.save_response(stored)
    final = await store.get_response(owner, rid)
    return json_response(final.body if final is not None else stored.body)


def _page_args(request: Request) -> tuple[str | None, int, str]:
    q = request.query_params
    try:
        limit = int(q.get("limit", "20"))
    except ValueError:
        raise InvalidRequestError("`limit` must be an integer from 1 to 100", param="limit") from None
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequestError("`limit` must be an integer from 1 to 100", param="limit")
    order = q.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError("`order` must be asc or desc", param="order")
    return q.get("after"), limit, order


async def list_input_items(request: Request) -> Response:
    store, owner, rid = await _stored(request)
    after, limit, order = _page_args(request)
    page = await store.list_input_items(owner, rid, after=after, limit=limit, order=order)  # type: ignore[arg-type]
    if page is None:
        raise _not_found(rid)
    return json_response({"object": "list", "data": page.data, "first_id": page.first_id, "last_id": page.last_id,
                          "has_more": page.has_more})


routes = [
    Route("/v1/responses", create_response, methods=["POST"]),
    Route("/v1/responses/{response_id}", get_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/cancel", cancel_response, methods=["POST"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
]
