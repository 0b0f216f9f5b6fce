"""A channel to one worker over our own HTTP/2 client: `Generate` calls without grpc.aio.

Why a second gRPC client next to grpcio: with `grpc.aio`, every streamed message crosses
three threads (gRPC's event engine, its poller, then the event loop), which cost more CPU
per message than the Rust gateway spends on a whole token (docs/performance.md). Here the
messages are parsed on the event loop straight from the socket, and all that arrived
together are read in one pass.

Only the hot calls use it (`Generate`, `Embed`, one call per input of a batch, and the KV
event stream); the other RPCs stay on grpcio (`client.py`).

The channel owns the connection's life: it opens one when a call needs it, opens a new
one when the old one is going away (the old one drains its calls meanwhile), and after a
failed connect waits a jittered, growing delay before the next try, failing calls made in
that time at once (as UNAVAILABLE, which the dispatcher retries on another worker).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from sglang_gw.workers.h2 import frames
from sglang_gw.workers.h2.call import StreamCall
from sglang_gw.workers.h2.connection import Http2Connection
from sglang_gw.workers.link import LinkSettings
from sglang_gw.workers.tls import describe_ssl_error

__all__ = ["Http2Channel"]

log = logging.getLogger(__name__)

_MAX_BLOCKS = 64
# On close, how long a TLS connection waits for the worker's close_notify. grpc servers never
# send one (measured: each close then took asyncio's default 30 s), and HTTP/2 marks the end
# of every stream itself, so there is nothing to wait for.
_TLS_CLOSE_WAIT_SECS = 0.1


class Http2Channel:
    """Opens (and re-opens) HTTP/2 connections to `host:port` and starts calls on them;
    over TLS when given an `ssl_context` (a `grpcs://` worker, see workers/tls.py)."""

    def __init__(self, target: str, *, metadata: tuple[tuple[str, str], ...] = (),
                 link: LinkSettings | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.link = link or LinkSettings()
        # Doubled by a worker's GOAWAY "too_many_pings", as gRPC clients do.
        self.keepalive_time = self.link.keepalive_time_secs
        host, _, port = target.rpartition(":")
        self._host = host.strip("[]") or "127.0.0.1"
        self._port = int(port)
        self._ssl = ssl_context
        scheme = "http" if ssl_context is None else "https"
        self._fixed_headers = [(":method", "POST"), (":scheme", scheme), (":path", ""), (":authority", target),
                               ("content-type", "application/grpc"), ("te", "trailers"),
                               ("grpc-accept-encoding", "identity"), ("user-agent", "sglang-gw"), *metadata]
        # Header blocks by (path, grpc-timeout in ms): nearly every call repeats one.
        self._blocks: dict[tuple[str, int | None], bytes] = {}
        self._connection: Http2Connection | None = None  # where new calls go
        self._connections: set[Http2Connection] = set()  # that one, and older ones draining
        self._connecting: asyncio.Task[None] | None = None
        self._pending: list[StreamCall] = []
        self._failures = 0  # connects failed in a row
        self._retry_at = 0.0  # loop time before which no new connect is tried
        # The loop the channel serves, found on first use: asyncio.get_running_loop() makes
        # a getpid() system call each time (3.11), and this is per request.
        self._loop: asyncio.AbstractEventLoop | None = None

    def unary_stream(self, path: str, request: bytes, parse: Callable[[bytes], Any],
                     timeout: float | None, metadata: Sequence[tuple[str, str]] = ()) -> StreamCall:
        """Start a server-streaming call; its messages are read with `call.read()`.
        `metadata`: headers for this call only, after the channel's own."""
        body = b"\x00" + len(request).to_bytes(4, "big") + request
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        limit = self.link.max_message_size
        headers = self._headers(path, timeout)
        if metadata:
            headers += frames.header_block(list(metadata))
        call = StreamCall(parse, headers, body, loop, limit)
        if len(request) > limit:
            call.finish(grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"sent message larger than max ({len(request)} vs. {limit})")
            return call
        if timeout is not None:
            call.timer = loop.call_later(timeout, self._expire, call)
        self.requeue(call)
        return call

    def cancel(self, call: StreamCall) -> None:
        """Stop the call: the worker's stream is reset, so it stops generating."""
        self._reset(call)
        call.finish(grpc.StatusCode.CANCELLED, "cancelled by the gateway")

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        self._fail_pending("channel closed")
        for conn in list(self._connections):
            conn.close()
            await conn.closed

    # ---- ConnectionOwner ----------------------------------------------------------------

    def requeue(self, call: StreamCall) -> None:
        """Start `call` on the current connection, or on the next one once it is open."""
        if call.closed:
            return
        conn = self._connection
        if conn is not None and conn.usable:
            conn.start(call)
            return
        self._pending.append(call)
        if self._connecting is not None:
            return
        assert self._loop is not None
        wait = self._retry_at - self._loop.time()
        if wait > 0:
            self._fail_pending(f"cannot connect to {self.target}; next try in {wait:.1f}s")
        else:
            self._connecting = self._loop.create_task(self._connect())

    def on_established(self, connection: Http2Connection) -> None:
        self._failures = 0

    def on_lost(self, connection: Http2Connection) -> None:
        self._connections.discard(connection)
        if connection is self._connection:
            self._connection = None
        if not connection.established:  # lost before it spoke HTTP/2: a failed connect
            self._back_off()

    def early_loss_reason(self) -> str:
        """Why a connection lost before the worker's SETTINGS most likely failed: a
        plaintext preface is what a TLS server drops, and a TLS server that wants a client
        certificate closes the connection right after the handshake."""
        if self._ssl is not None:
            return (f"TLS connection to {self.target} closed right after the handshake: does the worker require "
                    "a client certificate, or refuse ours?")
        return f"connection to {self.target} closed as soon as it opened: does the worker speak TLS (grpcs://)?"

    def on_too_many_pings(self) -> None:
        self.keepalive_time *= 2
        log.warning("worker %s finds our keepalive pings too frequent; keepalive time now %gs",
                    self.target, self.keepalive_time)

    # ---- connecting -------------------------------------------------------------------

    async def _connect(self) -> None:
        """Connect, then start the calls that waited; on failure they end as UNAVAILABLE
        (which the dispatcher retries on another worker)."""
        loop = asyncio.get_running_loop()
        tls = {} if self._ssl is None else {"ssl": self._ssl, "server_hostname": self._host,
                                            "ssl_shutdown_timeout": _TLS_CLOSE_WAIT_SECS}
        try:
            transport, conn = await asyncio.wait_for(
                loop.create_connection(lambda: Http2Connection(self, self.link), self._host, self._port, **tls),
                self.link.connect_timeout_secs)
        except ssl.SSLError as err:  # an OSError too: caught first, to say it was TLS
            self._connect_failed(f"TLS handshake with {self.target} failed: {describe_ssl_error(err)}")
            return
        except (TimeoutError, OSError) as err:
            self._connect_failed(f"cannot connect to {self.target}: {err or type(err).__name__}")
            return
        finally:
            self._connecting = None
        if self._ssl is not None and (alpn := _alpn(transport)) != "h2":
            transport.close()  # the server would not take HTTP/2 frames: no call may start on it
            self._connect_failed(f"TLS to {self.target}: the server did not agree to HTTP/2 (ALPN {alpn!r})")
            return
        if not conn.usable:  # lost before this task resumed: the worker closed it on our first bytes
            self._fail_pending(self.early_loss_reason())
            return
        self._connection = conn
        self._connections.add(conn)
        pending, self._pending = self._pending, []
        for call in pending:
            if not call.closed:
                conn.start(call)

    def _connect_failed(self, details: str) -> None:
        self._back_off()
        self._fail_pending(details)

    def _back_off(self) -> None:
        b = self.link.backoff
        delay = min(b.maximum_secs, b.initial_secs * b.multiplier ** self._failures)
        self._failures += 1
        assert self._loop is not None
        self._retry_at = self._loop.time() + delay * random.uniform(1 - b.jitter, 1 + b.jitter)

    def _fail_pending(self, details: str) -> None:
        pending, self._pending = self._pending, []
        for call in pending:
            call.finish(grpc.StatusCode.UNAVAILABLE, details)

    # ---- per call ---------------------------------------------------------------------

    def _headers(self, path: str, timeout: float | None) -> bytes:
        # grpc-timeout: at most 8 digits; milliseconds cover ~27 hours.
        ms = None if timeout is None else max(1, int(timeout * 1000))
        block = self._blocks.get((path, ms))
        if block is None:
            if len(self._blocks) >= _MAX_BLOCKS:  # per-request timeouts must not grow it forever
                self._blocks.clear()
            fields = [(name, path if name == ":path" else value) for name, value in self._fixed_headers]
            if ms is not None:
                fields.append(("grpc-timeout", f"{ms}m"))
            block = self._blocks[path, ms] = frames.header_block(fields)
        return block

    def _expire(self, call: StreamCall) -> None:
        call.timer = None
        call.finish(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
        self._reset(call)

    def _reset(self, call: StreamCall) -> None:
        if call in self._pending:
            self._pending.remove(call)
        elif call.connection is not None:
            call.connection.reset(call)


def _alpn(transport: asyncio.BaseTransport) -> str | None:
    ssl_object = transport.get_extra_info("ssl_object")
    return ssl_object.selected_alpn_protocol() if ssl_object is not None else None
