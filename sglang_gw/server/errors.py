"""The one error mapper: any exception → a JSON error with the right status, in the shape of
the API the route belongs to: OpenAI's `{"error": {message, type, param, code}}`, or on the
Anthropic Messages routes (/v1/messages…) Anthropic's `{"type": "error", "error": {type, message}}`."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from sglang_gw.errors import GatewayError

__all__ = ["ANTHROPIC_PREFIX", "anthropic_route", "error_body", "error_response", "exception_handlers", "route_path",
           "sse_error"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
_HTTP_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error",
               429: "rate_limit_error"}
ANTHROPIC_PREFIX = "/v1/messages"
# Anthropic's error types by status; other 4xx are invalid requests, other 5xx api errors.
_ANTHROPIC_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                    413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error", 504: "timeout_error"}


def route_path(scope: Scope) -> str:
    """The path below the app's root_path, as the router sees it."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    return path[len(root):] or "/"


def anthropic_route(path: str) -> bool:
    """Whether `path` is one of the Anthropic Messages API's (its errors take that shape)."""
    return path == ANTHROPIC_PREFIX or path.startswith(ANTHROPIC_PREFIX + "/")


def _openai_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, GatewayError):
        return exc.status, {"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}}
    if isinstance(exc, HTTPException):
        kind = _HTTP_TYPES.get(exc.status_code, "server_error" if exc.status_code >= 500 else "invalid_request_error")
        return exc.status_code, {"error": {"message": str(exc.detail), "type": kind, "param": None,
                                           "code": exc.status_code}}
    log.error("unexpected error", exc_info=exc)
    return 500, {"error": {"message": "internal error in the gateway", "type": "internal_error", "param": None,
                           "code": "internal_error"}}


def _anthropic_body(status: int, openai: dict[str, Any]) -> dict[str, Any]:
    err = openai["error"]
    kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message = err["message"]
    if err.get("param") and err["param"] not in message:  # Anthropic has no `param`: the message says it
        message = f"{err['param']}: {message}"
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_body(exc: BaseException, path: str = "") -> tuple[int, dict[str, Any]]:
    """The status and body for `exc`, shaped for the route at `path` (OpenAI's when unknown)."""
    status, body = _openai_body(exc)
    return (status, _anthropic_body(status, body)) if anthropic_route(path) else (status, body)


def error_response(exc: BaseException, path: str = "") -> Response:
    status, body = error_body(exc, path)
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return Response(_encode(body), status_code=status, media_type="application/json", headers=headers)


def sse_error(exc: BaseException, path: str = "") -> bytes:
    """A failure after the stream started: one error event (an OpenAI stream then sends [DONE];
    an Anthropic one ends: its error is an `event: error`)."""
    body = error_body(exc, path)[1]
    if anthropic_route(path):
        return b"event: error\ndata: " + _encode(body) + b"\n\n"
    return b"data: " + _encode(body) + b"\n\n"


async def _handle(request: Request, exc: Exception) -> Response:
    return error_response(exc, route_path(request.scope))


exception_handlers: dict[Any, Any] = {GatewayError: _handle, HTTPException: _handle, Exception: _handle}
