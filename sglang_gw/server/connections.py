"""Client connections held to time and size limits that uvicorn does not set.

uvicorn's httptools protocol closes a keep-alive connection that stays idle after a
response (``timeout_keep_alive``), and nothing else: a connection that never sends a byte,
or sends its headers a byte a minute, is kept forever, and llhttp buffers headers of any
size and number. :class:`LimitedHttpProtocol` is that protocol with, per connection
(:class:`~sglang_gw.config.ConnectionConfig`, smg's flags):

1. the head timer (``--header-read-timeout-secs``): a connection must send a complete
   request head (request line and headers) within this long of being accepted, and a
   keep-alive connection within this long of its next request's first byte. A connection
   that began a request is answered 408, one that sent nothing is just closed;
2. the idle timer (``--idle-connection-timeout-secs``): uvicorn's keep-alive timeout,
   armed when a response ends; off keeps idle connections until the client closes them;
3. head size and header count (``--max-request-header-bytes``, ``--max-request-headers``):
   past either, 431 and the connection is closed, before the app sees the request.

Refusals here are written straight to the transport (there is no ASGI request yet), with
the OpenAI-shaped body of ``server/errors.py`` and ``connection: close``. A slow request
*body* is the edge's business (``--stream-body-stall-timeout-secs``, server/middleware.py),
where the answer can carry the request id and be counted.

``uvicorn_options`` gives the ``uvicorn.run``/``uvicorn.Config`` keywords for a config;
``cli.py`` passes them to the single process and to the ``--workers N`` children alike.
"""

from __future__ import annotations

import asyncio
import functools
import http
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sglang_gw.config import ConnectionConfig
from sglang_gw.errors import GatewayError, HeaderFieldsTooLargeError, RequestTimeoutError
from sglang_gw.server.errors import error_body

__all__ = ["LimitedHttpProtocol", "uvicorn_options"]

_encode = msgspec.json.Encoder().encode
# How long a refused connection is drained before it is closed (see `_refuse`).
_LINGER_SECS = 2.0


def uvicorn_options(limits: ConnectionConfig) -> dict[str, Any]:
    """The uvicorn settings that hold client connections to `limits`."""
    # A partial of a module-level class pickles, so `--workers N` children get it too.
    return {"http": functools.partial(LimitedHttpProtocol, limits=limits),
            "timeout_keep_alive": limits.idle_connection_timeout_secs or 0}


def _refusal(err: GatewayError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    status, body = error_body(err)
    payload = _encode(body)
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode("ascii")]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(payload))
    return b"".join(lines) + payload


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the head timer and the head limits above."""

    def __init__(self, *args: Any, limits: ConnectionConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # a request's first byte came and its head is not complete
        self._began_here = False  # ... and it came in the chunk being parsed
        self._head_bytes = 0  # bytes of the unfinished head seen in whole chunks
        self._parsed = 0  # bytes of the head's url and complete headers
        self._header_count = 0
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None

    # -- timers ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # from the moment of accept: a connection that never speaks is closed

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        timeout = self.limits.header_read_timeout_secs
        if timeout is not None and self._head_timer is None:
            self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head:  # nothing of a request yet: nobody to answer
            self.transport.close()
            return
        message = f"the request's headers did not arrive within {self.limits.header_read_timeout_secs:g}s"
        self._refuse(RequestTimeoutError(message))

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive (idle) timer
        if self.limits.idle_connection_timeout_secs is None:
            self._unset_keepalive_if_required()  # off: idle connections stay until the client closes them

    # -- parsing -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request, drained until the connection closes
        self._began_here = False
        super().data_received(data)
        if self._refused or self.transport.is_closing():
            return
        if self._in_head:
            # A chunk that began the head may end a previous request's body: count only what
            # was parsed of it. A later chunk that leaves the head open is head bytes whole.
            self._head_bytes = self._parsed if self._began_here else self._head_bytes + len(data)
            self._check_head_size(self._head_bytes)
        elif self._idle():
            self._keep_idle_bounded()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._began_here = True
        self._head_bytes = self._parsed = self._header_count = 0
        self._arm_head_timer()  # a keep-alive connection's next head; the first one's runs since accept

    def on_url(self, url: bytes) -> None:
        self._parsed += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return  # the rest of a refused head, still in the chunk being parsed
        self._header_count += 1
        self._parsed += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_count > self.limits.max_request_headers:
            self._refuse(HeaderFieldsTooLargeError(
                f"the request has more than {self.limits.max_request_headers} header lines"))
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        self._cancel_head_timer()
        if self._check_head_size(max(self._head_bytes, self._parsed)):
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    # -- helpers -----------------------------------------------------------------------------

    def _check_head_size(self, size: int) -> bool:
        limit = self.limits.max_request_header_bytes
        if size <= limit:
            return True
        self._refuse(HeaderFieldsTooLargeError(f"the request's headers are larger than {limit} bytes"))
        return False

    def _idle(self) -> bool:
        """No request on this connection is being read or answered."""
        cycle = self.cycle
        return (cycle is None or cycle.response_complete) and not self.pipeline

    def _keep_idle_bounded(self) -> None:
        """Bytes that began no request (blank lines between requests) stopped uvicorn's idle
        timer; start it again, or the connection would be kept forever."""
        if self.cycle is None:
            return  # before the first request the head timer, running since accept, bounds it
        idle = self.limits.idle_connection_timeout_secs
        if idle is not None and self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(idle, self.timeout_keep_alive_handler)

    def _refuse(self, err: GatewayError) -> None:
        """Answer `err` on the connection, outside any request, and close it."""
        self._refused = True
        self._cancel_head_timer()
        self._unset_keepalive_if_required()
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(_refusal(err, self.server_state.default_headers))
        if not transport.can_write_eof():
            transport.close()
            return
        # Closing with the client's bytes unread would send a reset, which may destroy the
        # answer before the client reads it. So: end our side, drop what still comes in
        # (`data_received`), and close when the client does or after a short linger.
        transport.write_eof()
        self._linger = self.loop.call_later(_LINGER_SECS, transport.close)
