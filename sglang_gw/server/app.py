"""The Starlette application: routes, error handlers, and the gateway's lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from sglang_gw.config import GatewayConfig
from sglang_gw.discovery import Discovery
from sglang_gw.gateway import Gateway
from sglang_gw.plugins import HookRegistry
from sglang_gw.responses.background import BackgroundRuns
from sglang_gw.server import (
    routes_conversations,
    routes_lora,
    routes_messages,
    routes_native,
    routes_openai,
    routes_parse,
    routes_pooling,
    routes_responses,
    routes_workers,
)
from sglang_gw.server.discovered import GatewayWorkers
from sglang_gw.server.errors import exception_handlers
from sglang_gw.server.metrics_server import release_process_metrics, start_metrics_server
from sglang_gw.server.middleware import build_middleware, door_of
from sglang_gw.server.router import ExactPathRouter
from sglang_gw.server.sse import BODY_SEND

__all__ = ["ADMITTED_PATHS", "GatewayApp", "build_app"]

# The routes that take an admission slot: generation, and tokenization, whose large inputs
# cost seconds of CPU each (a 10 MiB text: 9 s) and so must queue like generations do.
ADMITTED_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/generate", "/v1/tokenize",
                            "/v1/detokenize", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens",
                            "/v1/embeddings", "/v1/rerank", "/rerank", "/v1/classify"})


# Middlewares known to look only at a response's start (status, headers) and to pass its
# body messages through untouched. Ours say so with `passes_bodies_through = True`.
_START_ONLY: frozenset[type] = frozenset({CORSMiddleware})


def _bodies_untouched(middleware: list[Middleware]) -> bool:
    return all(m.cls in _START_ONLY or getattr(m.cls, "passes_bodies_through", False) for m in middleware)


class GatewayApp(Starlette):
    """Starlette that lets a stream send its body straight to the server, when that is safe.

    A stream sends a body message per token; each middleware's `send` wrapper would be one
    more call per token, which was about 5% of a stream's CPU with five layers. So when
    every middleware declares that it only looks at the response's start, the server's own
    `send` is left in the scope and the SSE response sends its start through the chain and
    its body straight to the server. Add a middleware that may read or change bodies (gzip,
    body logging) and every body goes through the chain again: nothing is skipped silently.

    What the routes reach through `request.app` is in plain attributes, set by `build_app`
    (Starlette's `app.state` would answer each read through a failed lookup first).
    """

    gateway: Gateway
    background_runs: BackgroundRuns
    discovery: Discovery

    def __init__(self, *, routes: Sequence[BaseRoute] = (), lifespan: Lifespan[Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(routes=routes, lifespan=lifespan, **kwargs)
        self.router = ExactPathRouter(routes, lifespan=lifespan)  # server/router.py

    def build_middleware_stack(self) -> ASGIApp:
        self.bodies_direct = _bodies_untouched(self.user_middleware)
        return super().build_middleware_stack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        if not self.bodies_direct:
            await super().__call__(scope, receive, send)
            return
        scope[BODY_SEND] = send
        try:
            await super().__call__(scope, receive, send)
        finally:
            # uvicorn's `send` is a method of the request's cycle, which holds the scope:
            # left in it, they would be a reference cycle only the garbage collector frees.
            del scope[BODY_SEND]


def build_app(config: GatewayConfig, *, hooks: HookRegistry | None = None) -> GatewayApp:
    gateway = Gateway(config, hooks=hooks)
    background = BackgroundRuns(config.max_background_responses)
    discovery = Discovery(config.discovery, GatewayWorkers(gateway))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        if door is not None:
            await door.warm()
        try:
            await discovery.start()
        except BaseException:
            await discovery.stop()
            await gateway.stop()
            raise
        metrics = None
        if config.observability.prometheus_port is not None:
            metrics = await start_metrics_server(config.observability.prometheus_host,
                                                 config.observability.prometheus_port)
        try:
            yield
        finally:
            if metrics is not None:
                await metrics.stop()
            await background.close()  # before the store closes: each run saves its cancelled state
            await discovery.stop()
            await gateway.stop()
            release_process_metrics()
            if door is not None:
                door.close()

    obs, sec = config.observability, config.security
    stack = build_middleware(request_id_headers=obs.request_id_headers, api_key=sec.api_key,
                             control_plane_api_keys=sec.control_plane_api_keys, identity=sec.identity,
                             max_payload_size=sec.max_payload_size,
                             body_stall_secs=config.connections.stream_body_stall_timeout_secs,
                             cors_allowed_origins=sec.cors_allowed_origins,
                             admission=gateway.admission, admission_paths=ADMITTED_PATHS, tracer=gateway.tracer)
    door = door_of(stack)
    app = GatewayApp(middleware=stack,
                    routes=[*routes_openai.routes, *routes_responses.routes, *routes_messages.routes,
                            *routes_conversations.routes, *routes_native.routes, *routes_parse.routes,
                            *routes_pooling.routes, *routes_lora.routes, *routes_workers.routes],
                    exception_handlers=exception_handlers, lifespan=lifespan)
    app.gateway = gateway
    app.background_runs = background
    app.discovery = discovery
    return app
