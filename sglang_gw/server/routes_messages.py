"""Anthropic's Messages API: POST /v1/messages and /v1/messages/count_tokens (docs/messages.md).

A message runs on the chat pipeline: the request becomes a chat request (messages/convert.py),
prepared as chat completions are, and `MessagesResponder` frames the parsed deltas. Errors
on these routes take Anthropic's shape (server/errors.py chooses it by route).
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw.api.protocol import decode_body
from sglang_gw.errors import InvalidRequestError
from sglang_gw.messages import CountTokensRequest, MessagesRequest, MessagesResponder, chat_request
from sglang_gw.messages.upstream import UpstreamMessage, chat_body
from sglang_gw.pipeline.dispatch import Generation
from sglang_gw.pipeline.framing import framed_stream
from sglang_gw.pipeline.merge import merged_deltas, usage_of
from sglang_gw.pipeline.prepare import prepare_chat, render_chat, run_for_chat
from sglang_gw.server.errors import ANTHROPIC_PREFIX, sse_error
from sglang_gw.server.handling import (
    framed,
    gateway_of,
    generations_for,
    json_response,
    start_deltas,
    unless_disconnected,
)
from sglang_gw.server.ledger import ledger_of
from sglang_gw.server.proxy import call_upstream, decoded_events, ending_call
from sglang_gw.server.sse import SlowStartSse, SseStream, sse_response

__all__ = ["routes"]

_stream_error = partial(sse_error, path=ANTHROPIC_PREFIX)


async def create_message(request: Request) -> Response:
    """A message, stage by stage (the stages: pipeline/__init__.py)."""
    gw = gateway_of(request)
    req = decode_body(await request.body(), MessagesRequest)  # validated at the edge
    if req.model and req.model in gw.http_models and req.model not in gw.models:
        return await _upstream(request, req)
    model, lora = await gw.resolve_model(req.model)  # `base:adapter` names a LoRA adapter
    prepared, plan = await gw.hooks.run("prepare", prepare_chat, chat_request(req), model)  # 1 prepare
    responder = MessagesResponder(req, model, plan)  # 4-6 decode, parse, frame
    generations = generations_for(request, model, [prepared], lora=lora)
    if req.stream:
        return await _stream(request, model.name, responder, generations)
    body = await unless_disconnected(request, responder.complete(merged_deltas(generations), usage_of(generations)))
    if isinstance(body, Response):
        return body  # the client hung up
    return await framed(request, "messages", model.name, json_response(body), body)


async def _stream(request: Request, model_name: str, responder: MessagesResponder,
                  generations: list[Generation]) -> Response:
    """The message's events. With `--sse-keepalive-secs`, a worker slow to answer is waited
    for inside the answer, which pings meanwhile (server/sse.py `SlowStartSse`)."""
    keepalive = gateway_of(request).config.connections.sse_keepalive_secs
    usage = usage_of(generations)

    async def opened() -> SseStream:
        deltas = await start_deltas(generations)  # a failure before any output is a plain HTTP error
        return sse_response(framed_stream(responder, deltas, usage), source=deltas, done=False,
                            keepalive=keepalive, error=_stream_error)

    if keepalive is None:
        return await framed(request, "messages", model_name, await opened())
    slow = SlowStartSse(opened(), keepalive, failure=_stream_error)
    try:
        return await framed(request, "messages", model_name, slow)
    except BaseException:
        slow.close()
        raise


async def _upstream(request: Request, req: MessagesRequest) -> Response:
    """A model of OpenAI-compatible HTTP workers: the message goes upstream as a chat completion."""
    gw = gateway_of(request)
    writer = UpstreamMessage(req, req.model)
    call, result = await call_upstream(gw, chat_body(chat_request(req), stream=req.stream), "chat", req.stream,
                                       gw.routing_key(request.headers))
    ledger = ledger_of(request.scope)
    if ledger is not None:
        ledger.hold(call.end)  # ended below, or at the latest with the request
    if isinstance(result, dict):
        call.end()
        return json_response(writer.whole(result))
    return sse_response(ending_call(writer.events(decoded_events(result)), call), source=result, done=False,
                        keepalive=gw.config.connections.sse_keepalive_secs, error=_stream_error)


async def count_tokens(request: Request) -> Response:
    """The prompt's exact token count: the model's template and tokenizer, as a message would run."""
    gw = gateway_of(request)
    req = decode_body(await request.body(), CountTokensRequest)
    if req.model and req.model in gw.http_models and req.model not in gw.models:
        raise InvalidRequestError(f"model {req.model[:80]!r} is served by OpenAI-compatible HTTP workers: the "
                                  "gateway has no tokenizer of it to count with", param="model")
    model, _ = await gw.resolve_model(req.model)  # an adapter does not change the prompt's tokens
    chat = chat_request(req)
    _, ids = await run_for_chat(chat, model, lambda: render_chat(chat, model))
    return json_response({"input_tokens": len(ids)})


routes = [
    Route("/v1/messages", create_message, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
]
