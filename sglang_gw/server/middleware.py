"""The gateway's edge: request ids, metrics, API-key auth, the body-size limit and admission,
as one pure ASGI middleware.

Pure ASGI on purpose: Starlette's ``BaseHTTPMiddleware`` runs the endpoint in another task
and buffers through a memory stream, which breaks streaming back-pressure and the
cancellation of a request whose client went away. One layer on purpose: each layer costs
every request a coroutine frame and a ``send`` wrapper, and five of them were a tenth of a
short request's instructions. Each concern is still its own small piece here
(:class:`RequestIds`, the identity layer's :class:`~sglang_gw.server.door.Door`,
:func:`read_body`, admission.py);
:class:`EdgeMiddleware` runs them in a fixed order.

What :func:`build_middleware` returns, outermost first (Starlette runs the first entry of
``middleware=[...]`` outermost):

1. ``CORSMiddleware`` (Starlette's, with ``--cors-allowed-origins``; only when origins are
   given): answers preflights before auth and adds its headers to every answer, 401s too.
2. :class:`EdgeMiddleware`, in the order its docstring gives.

The request id lives in ``scope["state"]["request_id"]`` (so ``request.state.request_id``
in a handler) and in the :data:`sglang_gw.logs.REQUEST_ID` context variable while the
request runs, which puts it on every log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Sequence
from functools import partial

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sglang_gw import metrics, tracing
from sglang_gw.admission import Admission
from sglang_gw.errors import PayloadTooLargeError, RequestTimeoutError
from sglang_gw.identity.config import IdentityConfig
from sglang_gw.identity.gate import EXEMPT_PATHS
from sglang_gw.identity.principal import Identity
from sglang_gw.ids import random_hex
from sglang_gw.logs import REQUEST_ID
from sglang_gw.runtime.turns import StartBudget
from sglang_gw.server.admit import admit, release
from sglang_gw.server.door import Door, build_door
from sglang_gw.server.errors import error_response, route_path
from sglang_gw.server.ledger import LEDGER, Ledger

__all__ = [
    "DEFAULT_REQUEST_ID_HEADERS",
    "REQUEST_ID_STATE_KEY",
    "EdgeMiddleware",
    "RequestIds",
    "build_middleware",
    "door_of",
    "new_request_id",
    "read_body",
    "route_template",
]

REQUEST_ID_STATE_KEY = "request_id"
DEFAULT_REQUEST_ID_HEADERS = ("x-request-id",)
UNMATCHED = "unmatched"
_MAX_ID_LENGTH = 128


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


class RequestIds:
    """Take the request id from the first of ``headers`` present with a valid value, else
    generate one; it goes back to the client in ``response_header``."""

    def __init__(self, headers: Sequence[str] = DEFAULT_REQUEST_ID_HEADERS,
                 response_header: str = "x-request-id") -> None:
        self.headers = tuple(h.lower().encode("latin-1") for h in headers)
        self.response_header = response_header.lower().encode("latin-1")

    def of(self, scope: Scope) -> str:
        for name in self.headers:
            raw = _header(scope, name)
            if raw is not None:
                # The first header present decides: a bad value is replaced, not skipped.
                return raw.decode("ascii") if _valid_id(raw) else new_request_id()
        return new_request_id()

    def stamped(self, message: Message, rid: str) -> Message:
        """A response start with the id as its only ``response_header``."""
        kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != self.response_header]
        return {**message, "headers": [*kept, (self.response_header, rid.encode("ascii"))]}


# -- the body --------------------------------------------------------------------------------


def _too_large(max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body is larger than the {max_bytes}-byte limit.")


def _declared_too_large(scope: Scope, max_bytes: int) -> bool:
    raw = _header(scope, b"content-length")
    return raw is not None and raw.isdigit() and int(raw) > max_bytes


def _has_body(scope: Scope) -> bool:
    """HTTP/1.1's rule: a request has a body when it says how it is framed."""
    length = _header(scope, b"content-length")
    return (length is not None and length != b"0") or _header(scope, b"transfer-encoding") is not None


class _Unanswerable(Exception):
    """The client hung up while its body was read: nobody to answer."""


async def read_body(receive: Receive, *, max_bytes: int | None, stall_secs: float | None) -> bytes:
    """The whole body: 413 as soon as it passes `max_bytes`, 408 when no new byte came for
    `stall_secs` (one timer, moved on at each chunk but the last), `_Unanswerable` on a hang-up."""
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(stall_secs) as stall:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Unanswerable
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise _too_large(max_bytes)
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
                if chunk and stall_secs is not None:
                    stall.reschedule(loop.time() + stall_secs)
    except TimeoutError:
        raise RequestTimeoutError(f"no bytes of the request body came for {stall_secs:g}s") from None


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app: the body read by the edge, then the server's own messages
    (what tells the app of a hang-up)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _closing(response: Response) -> Response:
    """A refusal that leaves the rest of a body unread: the connection is closed after it,
    rather than reading (or waiting for) what the client still has to send."""
    response.headers["connection"] = "close"
    return response


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


# -- traces ----------------------------------------------------------------------------------

_TRACE_HEADERS = (b"traceparent", b"tracestate")


def begin_trace(tracer: tracing.Tracer, scope: Scope, rid: str) -> tracing.RequestTrace:
    """The request's server span, continuing a client's W3C trace context."""
    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _TRACE_HEADERS}
    return tracer.begin(scope["method"], scope["path"], carrier, rid)


def end_trace(trace: tracing.RequestTrace, scope: Scope, status: int) -> None:
    route = route_template(scope)
    span = trace.span
    span.update_name(f"{scope['method']} {route}")
    span.set_attributes({"http.route": route, "http.response.status_code": status})
    if trace.prompt_tokens or trace.completion_tokens:
        span.set_attributes({"gen_ai.usage.input_tokens": trace.prompt_tokens,
                             "gen_ai.usage.output_tokens": trace.completion_tokens})
    if status == 499:
        trace.hung_up()
    tracing.end(span, f"HTTP {status}" if status >= 500 else None)


class EdgeMiddleware:
    """Everything done around every HTTP request, in one layer (one coroutine frame and
    one ``send`` wrapper instead of one per concern). In order:

    1. the request id (:class:`RequestIds`): in the scope's state, the log context and the
       answer's ``x-request-id``;
    2. metrics: ``requests_total`` and ``request_duration_seconds`` per route template,
       method and status, the refusals below included. The duration runs to the last body
       byte, so a stream counts its whole length; a request cancelled before it answered
       counts as 499 (client closed), an exception as 500;
    3. its turn (runtime/turns.py, with ``starts``): when earlier requests' starts have held
       this iteration of the loop past the budget, the request waits for a later one;
    4. identity (server/door.py over sglang_gw/identity/): API keys, tenant keys and JWTs;
       401 or 403, in the audit log when on the control plane;
    5. the body: 413 at once from ``Content-Length`` past ``--max-payload-size``; else the
       body is read here, 413 as soon as it passes the limit, 408 when it stalls
       (``--stream-body-stall-timeout-secs``: no new byte for that long), both closing the
       connection; the app then gets it in one message;
    6. admission (admission.py) on ``admission_paths``: only now, with the body in,
       so a client that sends its body slowly (or never finishes it) holds no slot; the
       tenant's own limits first (429), so a tenant over them takes no shared slot; a request
       that must wait for a shared slot queues at its tenant's priority. The
       slot is held for the whole response; refused with 429 or 408. A request refused
       above never takes a slot. The slot goes into the request's ledger
       (server/ledger.py), settled when the request ends, which also ends any worker call
       the request left open;
    7. with ``--enable-trace``, the request's server span (tracing.py) around the rest, in
       the trace context variable while the request runs; ended with its route and status;
    8. the last resort: an exception no handler mapped, before the answer started, is
       answered here with the OpenAI-shaped 500 (logged, its text never sent). Starlette's
       ServerErrorMiddleware would answer too, but then re-raise, and uvicorn closes the
       connection of an app that raised: every client's keep-alive connection with it.
    """

    # It stamps the response's start and leaves body messages alone, so streams may send
    # their bodies past it (server/app.py, GatewayApp).
    passes_bodies_through = True

    def __init__(self, app: ASGIApp, *, request_ids: RequestIds | None = None, door: Door | None = None,
                 max_body: int | None = None, body_stall_secs: float | None = None,
                 admission: Admission | None = None, admission_paths: Collection[str] = (),
                 record: RequestRecorder = metrics.record_request, tracer: tracing.Tracer | None = None,
                 starts: StartBudget | None = None) -> None:
        self.app = app
        self.starts = starts
        self.tracer = tracer
        self.ids = request_ids or RequestIds()
        self.door = door
        self.max_body = max_body if max_body and max_body > 0 else None
        self.body_stall_secs = body_stall_secs if body_stall_secs and body_stall_secs > 0 else None
        self.admission = admission
        self.admission_paths = frozenset(admission_paths)
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = self.ids.of(scope)
        scope.setdefault("state", {})[REQUEST_ID_STATE_KEY] = rid
        status: int | None = None

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = self.ids.stamped(message, rid)
            await send(message)

        token = REQUEST_ID.set(rid)
        # Probes are not traced: a span every few seconds per probe would drown the requests.
        trace = None if self.tracer is None or scope["path"] in EXEMPT_PATHS else begin_trace(self.tracer, scope, rid)
        if trace is not None:
            trace_token = tracing.CURRENT.set(trace)
        ledger = scope[LEDGER] = Ledger()
        identity: Identity | None = None
        at_door = False
        try:
            if self.starts is not None and self.starts.over():
                await self.starts.wait()
            refusal = None
            if self.door is not None:
                identity, refusal = await self.door.check(scope)
                at_door = refusal is not None
            refusal = refusal or self._declared_refusal(scope)
            app_receive = receive
            if refusal is None and _has_body(scope):
                try:
                    body = await read_body(receive, max_bytes=self.max_body, stall_secs=self.body_stall_secs)
                    app_receive = _replaying(body, receive)
                except (PayloadTooLargeError, RequestTimeoutError) as err:
                    refusal = _closing(error_response(err, route_path(scope)))
            admitted = scope["path"] in self.admission_paths
            if refusal is None and admitted and self.door is not None:
                refusal = self.door.limit(identity, scope, ledger)
            if refusal is None and self.admission is not None and admitted:
                # Most requests find a free slot: taken without a coroutine; else queue.
                if not self.admission.try_acquire():
                    priority = self.door.priority(identity) if self.door is not None else 0
                    refusal = await admit(self.admission, route_path(scope), priority)
                if refusal is None:
                    ledger.hold(partial(release, self.admission))
            if refusal is not None:
                await refusal(scope, receive, edge_send)
            else:
                await self.app(scope, app_receive, edge_send)
        except _Unanswerable:
            status = 499
        except asyncio.CancelledError:
            status = status or 499
            raise
        except Exception as exc:
            if status is not None:
                raise  # the answer is under way: only closing the connection can end it
            await error_response(exc, route_path(scope))(scope, receive, edge_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            ledger.settle()
            REQUEST_ID.reset(token)
            self.record(route_template(scope), scope["method"], status or 500, time.perf_counter() - start)
            if self.door is not None:
                self.door.finish(scope, identity, refused=at_door, status=status or 500, started=start,
                                 request_id=rid)
            if trace is not None:
                end_trace(trace, scope, status or 500)
                tracing.CURRENT.reset(trace_token)

    def _declared_refusal(self, scope: Scope) -> Response | None:
        """The 413 (from `Content-Length`) that answers instead of the app."""
        if self.max_body is not None and _declared_too_large(scope, self.max_body):
            return _closing(error_response(_too_large(self.max_body), route_path(scope)))
        return None


# -- assembly --------------------------------------------------------------------------------


def door_of(stack: Sequence[Middleware]) -> Door | None:
    """The identity door in a stack from :func:`build_middleware` (for the app's start-up)."""
    return next((m.kwargs.get("door") for m in stack if m.cls is EdgeMiddleware), None)


def build_middleware(*, request_id_headers: Sequence[str] | None = None, api_key: str | None = None,
                     control_plane_api_keys: Collection[str] = (), identity: IdentityConfig | None = None,
                     max_payload_size: int | None = None, body_stall_secs: float | None = None,
                     cors_allowed_origins: Sequence[str] = (), admission: Admission | None = None,
                     admission_paths: Collection[str] = (), tracer: tracing.Tracer | None = None) -> list[Middleware]:
    """The gateway's middlewares for ``Starlette(middleware=...)``: CORS (Starlette's, only
    with origins: no cross-origin allowance at all without them, as smg does), then the edge.
    The door is left out when no path asks for a credential and no audit log is kept.
    """
    stack: list[Middleware] = []
    if cors_allowed_origins:
        stack.append(Middleware(CORSMiddleware, allow_origins=list(cors_allowed_origins), allow_methods=["*"],
                                allow_headers=["*"], expose_headers=["x-request-id"]))
    door = build_door(identity or IdentityConfig(), api_key=api_key, control_plane_api_keys=control_plane_api_keys)
    stack.append(Middleware(EdgeMiddleware, request_ids=RequestIds(request_id_headers or DEFAULT_REQUEST_ID_HEADERS),
                            door=door, max_body=max_payload_size, body_stall_secs=body_stall_secs,
                            admission=admission, admission_paths=admission_paths, tracer=tracer,
                            starts=StartBudget()))
    return stack
