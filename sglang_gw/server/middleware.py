"""Pure ASGI middlewares: request ids, API-key auth, the body-size limit, per-request metrics.

Pure ASGI on purpose: Starlette's ``BaseHTTPMiddleware`` runs the endpoint in another task
and buffers through a memory stream, which breaks streaming back-pressure and the
cancellation of a request whose client went away. Each class here wraps ``send`` or
``receive`` and nothing else.

Order, outermost first (what :func:`build_middleware` returns; Starlette runs the first
entry of ``middleware=[...]`` outermost):

1. ``CORSMiddleware`` (Starlette's, with ``--cors-allowed-origins``; only when origins are
   given): answers preflights before auth and adds its headers to every answer, 401s too.
2. :class:`RequestIdMiddleware`: every answer below carries ``x-request-id``.
3. :class:`MetricsMiddleware`: counts every answer, the 401s and 413s too.
4. :class:`ApiKeyMiddleware` (``--api-key``).
5. :class:`MaxBodySizeMiddleware` (``--max-payload-size``).

The request id lives in ``scope["state"]["request_id"]`` (so ``request.state.request_id``
in a handler) and in the :data:`sglang_gw.logs.REQUEST_ID` context variable while the
request runs, which puts it on every log line.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Collection, Sequence

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sglang_gw import metrics
from sglang_gw.errors import AuthenticationError, PayloadTooLargeError
from sglang_gw.ids import random_hex
from sglang_gw.logs import REQUEST_ID
from sglang_gw.server.errors import error_response

__all__ = [
    "CONTROL_PLANE_PREFIXES",
    "DEFAULT_REQUEST_ID_HEADERS",
    "EXEMPT_PATHS",
    "REQUEST_ID_STATE_KEY",
    "ApiKeyMiddleware",
    "MaxBodySizeMiddleware",
    "MetricsMiddleware",
    "RequestIdMiddleware",
    "build_middleware",
    "new_request_id",
    "route_template",
]

REQUEST_ID_STATE_KEY = "request_id"
DEFAULT_REQUEST_ID_HEADERS = ("x-request-id",)
EXEMPT_PATHS = frozenset({"/health", "/liveness", "/readiness"})
CONTROL_PLANE_PREFIXES = ("/workers", "/add_worker", "/remove_worker", "/list_workers", "/flush_cache",
                          "/get_loads", "/parse/")
UNMATCHED = "unmatched"
_MAX_ID_LENGTH = 128


def _route_path(scope: Scope) -> str:
    """The path below the app's root_path, as the router sees it."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    return path[len(root):] or "/"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:  # ASGI servers lower-case header names
            return value
    return None


# -- request ids -----------------------------------------------------------------------------


def _valid_id(raw: bytes) -> bool:
    """1 to 128 visible ASCII characters (what smg accepts); anything else is replaced."""
    return 0 < len(raw) <= _MAX_ID_LENGTH and all(0x21 <= b <= 0x7E for b in raw)


def new_request_id() -> str:
    return f"req-{random_hex()}"


class RequestIdMiddleware:
    """Take the request id from the first of ``headers`` present with a valid value, else
    generate one; expose it to the app and logs, and return it in ``response_header``."""

    def __init__(self, app: ASGIApp, *, headers: Sequence[str] = DEFAULT_REQUEST_ID_HEADERS,
                 response_header: str = "x-request-id") -> None:
        self.app = app
        self.headers = tuple(h.lower().encode("latin-1") for h in headers)
        self.response_header = response_header.lower().encode("latin-1")

    def _incoming(self, scope: Scope) -> str | None:
        for name in self.headers:
            raw = _header(scope, name)
            if raw is not None:
                # The first header present decides: a bad value is replaced, not skipped.
                return raw.decode("ascii") if _valid_id(raw) else None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = self._incoming(scope) or new_request_id()
        scope.setdefault("state", {})[REQUEST_ID_STATE_KEY] = rid
        header = (self.response_header, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != self.response_header]
                message = {**message, "headers": [*kept, header]}
            await send(message)

        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


# -- API keys --------------------------------------------------------------------------------


def _under(path: str, prefix: str) -> bool:
    """``/workers`` covers ``/workers`` and ``/workers/...``, not ``/workersfoo``."""
    base = prefix.rstrip("/")
    return path == base or path.startswith(base + "/")


def _bearer(scope: Scope) -> bytes | None:
    raw = _header(scope, b"authorization")
    if raw is None:
        return None
    scheme, _, token = raw.strip().partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


def _any_key_matches(token: bytes, keys: Sequence[bytes]) -> bool:
    # Every key is compared, each in constant time, so timing tells nothing about which
    # key (or how much of one) matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(token, key)
    return matched


class ApiKeyMiddleware:
    """``Authorization: Bearer KEY`` on every path but ``exempt_paths``; 401 otherwise.

    Data-plane paths accept ``api_key``. Paths under ``control_plane_prefixes`` accept
    ``api_key`` and any of ``control_plane_api_keys``. A plane with no key configured is
    open. Paths are compared exactly (exempt) or by whole segments (prefixes), so nothing
    that is not exactly ``/health`` escapes the check.
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, control_plane_api_keys: Collection[str] = (),
                 exempt_paths: Collection[str] = EXEMPT_PATHS,
                 control_plane_prefixes: Sequence[str] = CONTROL_PLANE_PREFIXES) -> None:
        self.app = app
        self.data_keys = (api_key.encode(),) if api_key else ()
        self.control_keys = self.data_keys + tuple(k.encode() for k in control_plane_api_keys if k)
        self.exempt_paths = frozenset(exempt_paths)
        self.control_plane_prefixes = tuple(control_plane_prefixes)

    def keys_for(self, path: str) -> Sequence[bytes]:
        """The keys that open ``path``; empty means the path needs none."""
        if path in self.exempt_paths:
            return ()
        if any(_under(path, prefix) for prefix in self.control_plane_prefixes):
            return self.control_keys
        return self.data_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keys = self.keys_for(_route_path(scope)) if scope["type"] == "http" else ()
        if not keys:
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token is not None and _any_key_matches(token, keys):
            await self.app(scope, receive, send)
            return
        message = ("Missing API key: send it as 'Authorization: Bearer <key>'." if token is None
                   else "Incorrect API key provided.")  # never echo what was sent
        response = error_response(AuthenticationError(message))
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


# -- body size -------------------------------------------------------------------------------


class MaxBodySizeMiddleware:
    """413 for a body over ``max_bytes``: at once from ``Content-Length``, else as soon as
    the streamed (chunked) body passes the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _error(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"Request body is larger than the {self.max_bytes}-byte limit.")

    def _declared_too_large(self, scope: Scope) -> bool:
        raw = _header(scope, b"content-length")
        return raw is not None and raw.isdigit() and int(raw) > self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(scope):
            await error_response(self._error())(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()  # the app's error handler answers 413, or we do below
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLargeError as err:
            if started:
                raise
            await error_response(err)(scope, receive, send)


# -- metrics ---------------------------------------------------------------------------------


def _match(scope: Scope) -> BaseRoute | None:
    """The route the router would pick; used when no route ran (auth or size refused it)."""
    for route in getattr(scope.get("app"), "routes", ()):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return route
    return None


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/workers/{url:path}``), or ``unmatched``.

    Starlette's router leaves the route it ran in ``scope["route"]``; under a ``Mount`` the
    mount's part of the path is the difference between ``root_path`` and ``app_root_path``.
    """
    route = scope.get("route") or _match(scope)
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    root = scope.get("root_path", "")
    return root[len(scope.get("app_root_path", root)):] + path


RequestRecorder = Callable[[str, str, int, float], None]


class MetricsMiddleware:
    """``requests_total`` and ``request_duration_seconds`` per route template, method, status.

    The duration runs to the last body byte, so a stream counts its whole length. A request
    cancelled before it answered counts as 499 (client closed), an exception as 500.
    """

    def __init__(self, app: ASGIApp, *, record: RequestRecorder = metrics.record_request) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: int | None = None

        async def status_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, status_send)
        except asyncio.CancelledError:
            status = status or 499
            raise
        except BaseException:
            status = status or 500
            raise
        finally:
            self.record(route_template(scope), scope["method"], status or 500, time.perf_counter() - start)


# -- assembly --------------------------------------------------------------------------------


def build_middleware(*, request_id_headers: Sequence[str] | None = None, api_key: str | None = None,
                     control_plane_api_keys: Collection[str] = (), max_payload_size: int | None = None,
                     cors_allowed_origins: Sequence[str] = ()) -> list[Middleware]:
    """The gateway's middlewares in the order documented above, for ``Starlette(middleware=...)``.

    Auth is left out without keys, the size limit without a positive ``max_payload_size``,
    CORS without origins (no cross-origin allowance at all, as smg does).
    """
    stack: list[Middleware] = []
    if cors_allowed_origins:
        stack.append(Middleware(CORSMiddleware, allow_origins=list(cors_allowed_origins), allow_methods=["*"],
                                allow_headers=["*"], expose_headers=["x-request-id"]))
    stack.append(Middleware(RequestIdMiddleware, headers=tuple(request_id_headers or DEFAULT_REQUEST_ID_HEADERS)))
    stack.append(Middleware(MetricsMiddleware))
    if api_key or control_plane_api_keys:
        stack.append(Middleware(ApiKeyMiddleware, api_key=api_key, control_plane_api_keys=control_plane_api_keys))
    if max_payload_size and max_payload_size > 0:
        stack.append(Middleware(MaxBodySizeMiddleware, max_bytes=max_payload_size))
    return stack
