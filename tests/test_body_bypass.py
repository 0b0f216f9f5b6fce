"""Stream bodies skip the middlewares only when every middleware says it leaves bodies alone
(server/app.py): a middleware that may read bodies sees every one of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sglang_gw.server.app import GatewayApp
from sglang_gw.server.middleware import EdgeMiddleware
from sglang_gw.server.sse import BODY_SEND, sse_response


class BodyCounter:
    """A middleware that reads bodies (as gzip or body logging would)."""

    seen: list[bytes] = []

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting(message: Message) -> None:
            if message["type"] == "http.response.body":
                BodyCounter.seen.append(message.get("body", b""))
            await send(message)
        await self.app(scope, receive, counting)


async def _stream(request: Request) -> object:
    async def frames() -> AsyncIterator[bytes]:
        for i in range(3):
            yield b"data: %d\n\n" % i
    return sse_response(frames())


def _app(*middleware: Middleware) -> GatewayApp:
    return GatewayApp(routes=[Route("/s", _stream)], middleware=list(middleware))


def test_a_middleware_that_may_read_bodies_sees_every_stream_body() -> None:
    BodyCounter.seen = []
    app = _app(Middleware(EdgeMiddleware), Middleware(BodyCounter))
    with TestClient(app) as client:
        text = client.get("/s").text
    assert not app.bodies_direct
    assert b"".join(BodyCounter.seen).decode() == text
    assert "data: 2" in text


def test_with_only_start_only_middlewares_bodies_go_straight_to_the_server() -> None:
    app = _app(Middleware(EdgeMiddleware))
    with TestClient(app) as client:
        text = client.get("/s").text
    assert app.bodies_direct
    assert "data: 0" in text and "data: 2" in text


async def test_the_servers_send_leaves_the_scope_with_the_request() -> None:
    """uvicorn's `send` is a method of an object that holds the scope: left in the scope,
    every request would be a reference cycle for the garbage collector."""
    app = _app(Middleware(EdgeMiddleware))
    scope = {"type": "http", "method": "GET", "path": "/s", "raw_path": b"/s", "root_path": "", "query_string": b"",
             "headers": [], "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1)}
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.Event().wait()  # no hang-up while the answer runs
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200 and b"data: 2" in b"".join(m.get("body", b"") for m in sent)
    assert BODY_SEND not in scope
