"""Requests for a model served by OpenAI-compatible HTTP workers: proxied at the API level.

No template, tokenizer or parser runs here: the body goes upstream as sent, the answer comes
back as the upstream wrote it (SSE events passed through one by one). Worker choice, the
in-flight count, the circuit breaker and retries before the first byte work as for gRPC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from sglang_gw.errors import InvalidRequestError, NoHealthyWorkerError, WorkerError
from sglang_gw.gateway import Gateway
from sglang_gw.routing.base import RouteRequest
from sglang_gw.server.handling import json_response
from sglang_gw.server.ledger import ledger_of
from sglang_gw.server.sse import sse_response
from sglang_gw.workers.breaker import record_outcome
from sglang_gw.workers.calls import WorkerCall

if TYPE_CHECKING:
    from sglang_gw.workers.http_backend import UpstreamEvents  # httpx: loaded with the first HTTP worker

__all__ = ["call_upstream", "decoded_events", "ending_call", "proxy_if_http"]


async def proxy_if_http(gw: Gateway, request: Request, raw: bytes, kind: str) -> Response | None:
    """The proxied answer when the body names an HTTP-served model, else None."""
    if not gw.http_models:
        return None
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None  # the regular path answers with the proper 400
    if not isinstance(body, dict) or body.get("model") not in gw.http_models:
        return None
    stream = bool(body.get("stream")) and kind != "embeddings"
    call, result = await call_upstream(gw, body, kind, stream, gw.routing_key(request.headers))
    if not isinstance(result, dict):  # a stream's events
        ledger = ledger_of(request.scope)
        if ledger is not None:
            ledger.hold(call.end)  # ended by the events' cleanup, or at the latest with the request
        return sse_response(_events(call, result), source=result)
    call.end()
    return json_response(result)


async def call_upstream(gw: Gateway, body: dict[str, Any], kind: str, stream: bool,
                        routing_key: str | None) -> tuple[WorkerCall, dict[str, Any] | UpstreamEvents]:
    """Send `body` to a worker of its model (`kind`: chat or completions), retrying on
    another one before any answer; the call is open until `end()`."""
    route = RouteRequest(model=body["model"], routing_key=routing_key)
    failed: list[str] = []
    attempts = gw.dispatch.max_retries + 1
    for attempt in range(attempts):
        worker = gw.pool.select(route, exclude=failed)
        backend = getattr(worker.client, "backend", None)
        if backend is None:
            raise InvalidRequestError(f"model {route.model!r} is not served over HTTP", param="model")
        breaker = worker.breaker
        if breaker is not None and not breaker.allow():
            failed.append(worker.url)  # its breaker just opened, or its one probe is out
            continue
        call = WorkerCall(worker)
        try:
            send = {"chat": backend.chat, "completions": backend.completions,
                    "embeddings": backend.embeddings}[kind]
            result = await send(body, stream=stream)
        except WorkerError as err:
            call.end()
            record_outcome(breaker, err, since=call.started)
            if not err.retryable or attempt == attempts - 1:
                raise
            failed.append(worker.url)
            continue
        except BaseException:  # cancelled (the client left): no outcome, but free the probe
            call.end()
            record_outcome(breaker, None)
            raise
        if breaker is not None:
            breaker.record_success()
        return call, result
    raise NoHealthyWorkerError(f"every worker of model {route.model!r} has its circuit breaker open")


async def _events(call: WorkerCall, upstream: UpstreamEvents) -> AsyncIterator[bytes]:
    try:
        async for payload in upstream:
            yield b"data: " + payload + b"\n\n"
    finally:
        call.end()


async def decoded_events(upstream: UpstreamEvents) -> AsyncIterator[dict[str, Any]]:
    """An upstream stream's events as JSON objects (for routes that re-shape them)."""
    async for payload in upstream:
        yield msgspec.json.decode(payload)


async def ending_call(frames: AsyncIterator[bytes], call: WorkerCall) -> AsyncIterator[bytes]:
    """`frames`, then the worker call ended however the stream stops (done, failed, hung up)."""
    try:
        async for frame in frames:
            yield frame
    finally:
        call.end()
