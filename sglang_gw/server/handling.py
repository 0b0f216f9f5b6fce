"""What every generation endpoint does around its responder: run, stream, or abort on hang-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from sglang_gw.gateway import Gateway
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.dispatch import Generation
from sglang_gw.pipeline.framing import Responder, StreamFramer, framed_stream
from sglang_gw.pipeline.merge import merged_deltas, usage_of
from sglang_gw.pipeline.stream import primed
from sglang_gw.pipeline.types import ChoiceDelta, PreparedRequest, Usage
from sglang_gw.plugins import FrameContext
from sglang_gw.server.hangup import HangUpWatch
from sglang_gw.server.ledger import ledger_of
from sglang_gw.server.push import PushedSse
from sglang_gw.server.sse import SlowStartSse, SseStream, sse_response

__all__ = ["framed", "generate", "generations_for", "json_response", "request_id_of", "respond", "start_deltas",
           "unless_disconnected"]

_encode = msgspec.json.Encoder().encode


def gateway_of(request: Request) -> Gateway:
    """The gateway serving this app (set by `build_app`): the one typed way routes reach it."""
    return request.app.gateway  # type: ignore[no-any-return]


def request_id_of(request: Request) -> str | None:
    """The client's request id (set by the request-id middleware), for the worker's logs."""
    return request.scope.get("state", {}).get("request_id")  # type: ignore[no-any-return]


def generations_for(request: Request, model: ServedModel, prepared: list[PreparedRequest], *,
                    lora: str | None = None) -> list[Generation]:
    """One generation per prepared prompt, carrying the request's routing key and hooks;
    each is closed, at the latest, when the request ends (server/ledger.py)."""
    gw = gateway_of(request)
    key = gw.routing_key(request.headers)
    trace = request_id_of(request)
    generations = [Generation(p, model, gw.pool, gw.dispatch, routing_key=key, hooks=gw.hooks, lora=lora,
                              trace_id=trace) for p in prepared]
    ledger = ledger_of(request.scope)
    if ledger is not None:
        for gen in generations:
            ledger.hold(partial(gen.close, None))
    return generations


async def generate(request: Request, endpoint: str, model: ServedModel, responder: Responder,
                   prepared: list[PreparedRequest], stream: bool, *, lora: str | None = None) -> Response:
    """Stages 2-6 for prepared prompts (pipeline/__init__.py): select and dispatch when the
    answer starts, then decode, parse and frame per worker message, through `responder`;
    `lora` names the LoRA adapter the workers apply."""
    generations = generations_for(request, model, prepared, lora=lora)
    return await respond(request, endpoint, model, responder, generations, stream)


async def respond(request: Request, endpoint: str, model: ServedModel, responder: Responder,
                  generations: list[Generation], stream: bool) -> Response:
    """Run the generations through a responder: SSE when streaming, else one JSON answer
    (abandoned, and the worker aborted, if the client hangs up first)."""
    usage = usage_of(generations)
    if stream:
        keepalive = gateway_of(request).config.connections.sse_keepalive_secs
        if keepalive is not None:
            # The worker is waited for inside the answer, which pings while it waits.
            slow = SlowStartSse(_opened_stream(generations, responder, usage, keepalive), keepalive)
            try:
                return await framed(request, endpoint, model.name, slow)
            except BaseException:
                slow.close()
                raise
        opened = await _opened_stream(generations, responder, usage, None)
        try:
            return await framed(request, endpoint, model.name, opened)
        except BaseException:
            if isinstance(opened, PushedSse):
                generations[0].close(None)  # the response will not run: free the slot here
            raise

    async def run() -> Response:
        # Nothing is sent before the whole answer, so a failure is an HTTP error without
        # priming: the deltas are read as they come.
        body = await responder.complete(merged_deltas(generations), usage)
        return await framed(request, endpoint, model.name, json_response(body), body)

    return await unless_disconnected(request, run())


async def _opened_stream(generations: list[Generation], responder: Responder, usage: Callable[[], Usage],
                         keepalive: float | None) -> SseStream:
    """Open the generations, waiting for the worker's first message (a failure before it
    is a plain HTTP error), and the stream that sends the rest: pushed for one generation
    whose stream can push, else pulled."""
    if len(generations) == 1:
        pushed = await _pushed(generations[0], responder, usage, keepalive)
        if pushed is not None:
            return pushed
    deltas = await start_deltas(generations)
    return sse_response(framed_stream(responder, deltas, usage), source=deltas, keepalive=keepalive)


async def _pushed(gen: Generation, framer: StreamFramer, usage: Callable[[], Usage],
                  keepalive: float | None) -> PushedSse | None:
    """Open the generation and answer it pushed when its stream can push; None leaves it
    opened, for `deltas()`."""
    first = await gen.open()
    if not gen.stream.pushes:
        return None
    return PushedSse(gen, framer, first, usage, keepalive=keepalive)


async def framed(request: Request, endpoint: str, model: str, response: Response,
                 body: dict[str, Any] | None = None) -> Response:
    """Run plugins' `frame` hooks on an answer: they may add headers, or edit a JSON body."""
    hooks = gateway_of(request).hooks
    if not hooks.has("frame"):
        return response
    ctx = FrameContext(endpoint=endpoint, model=model, stream=body is None, body=body,
                       request_headers=request.headers)

    def build(ctx: FrameContext) -> Response:
        out = json_response(ctx.body, response.status_code) if ctx.body is not body else response
        out.headers.update(ctx.headers)
        return out

    return await hooks.run("frame", build, ctx)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json")


async def start_deltas(generations: list[Generation]) -> AsyncIterator[ChoiceDelta]:
    """Start the generations and wait for their first delta, so that a failure before any
    output (no worker, rejected request) is still an ordinary HTTP error."""
    return await primed(merged_deltas(generations))


async def unless_disconnected(request: Request, work: Awaitable[Any]) -> Any:
    """Run a non-streaming request, cancelling it (and so aborting the worker) if the
    client hangs up first: nobody would read the answer. The work runs in this task, and
    the hang-up is watched without a task of its own (server/hangup.py)."""
    task = asyncio.current_task()
    assert task is not None
    watch = HangUpWatch(request.receive, task)
    try:
        return await work
    except asyncio.CancelledError:
        if not watch.hung_up or task.uncancel() > 0:
            raise  # cancelled by someone else (shutdown): not ours to swallow
        return Response(status_code=499)
    finally:
        watch.close()
