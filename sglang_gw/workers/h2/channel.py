"""A channel to one worker over our own HTTP/2 client: `Generate` calls without grpc.aio.

Why a second gRPC client next to grpcio: with `grpc.aio`, every streamed message crosses
three threads (gRPC's event engine, its poller, then the event loop), which costs a
60–90 µs of CPU per message on the benchmark machine, more than the Rust gateway spends on
a whole token (docs/performance.md). Here the messages are parsed on the event loop
straight from the socket, and all that arrived together are read in one pass.

Only the hot call, `Generate`, uses it; the other RPCs stay on grpcio (`client.py`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import grpc

from sglang_gw.workers.h2 import frames
from sglang_gw.workers.h2.call import StreamCall
from sglang_gw.workers.h2.connection import Http2Connection
from sglang_gw.workers.link import LinkSettings
from sglang_gw.workers.tls import describe_ssl_error

__all__ = ["Http2Channel"]

_MAX_BLOCKS = 64
# On close, how long a TLS connection waits for the worker's close_notify. grpc servers never
# send one (measured: each close then took asyncio's default 30 s), and HTTP/2 marks the end
# of every stream itself, so there is nothing to wait for.
_TLS_CLOSE_WAIT_SECS = 0.1


class Http2Channel:
    """Opens (and re-opens) one HTTP/2 connection to `host:port` and starts calls on it;
    over TLS when given an `ssl_context` (a `grpcs://` worker, see workers/tls.py)."""

    def __init__(self, target: str, *, metadata: tuple[tuple[str, str], ...] = (),
                 link: LinkSettings | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.link = link or LinkSettings()
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
        self._connection: Http2Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._pending: list[StreamCall] = []
        # The loop the channel serves, found on first use: asyncio.get_running_loop() makes
        # a getpid() system call each time (3.11), and this is per request.
        self._loop: asyncio.AbstractEventLoop | None = None

    def unary_stream(self, path: str, request: bytes, parse: Callable[[bytes], Any],
                     timeout: float | None) -> StreamCall:
        """Start a server-streaming call; its messages are read with `call.read()`."""
        body = b"\x00" + len(request).to_bytes(4, "big") + request
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        call = StreamCall(parse, self._headers(path, timeout), body, loop)
        if timeout is not None:
            call.timer = loop.call_later(timeout, self._expire, call)
        conn = self._connection
        if conn is not None and conn.usable:
            conn.start(call)
        else:
            self._pending.append(call)
            if self._connecting is None:
                self._connecting = loop.create_task(self._connect())
        return call

    def cancel(self, call: StreamCall) -> None:
        """Stop the call: the worker's stream is reset, so it stops generating."""
        self._reset(call)
        call.finish(grpc.StatusCode.CANCELLED, "cancelled by the gateway")

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        for call in self._pending:
            call.finish(grpc.StatusCode.UNAVAILABLE, "channel closed")
        self._pending.clear()
        if self._connection is not None:
            self._connection.close()
            await self._connection.closed

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

    async def _connect(self) -> None:
        """Connect, then start the calls that waited; on failure they end as UNAVAILABLE
        (which the dispatcher retries on another worker)."""
        loop = asyncio.get_running_loop()
        tls = {} if self._ssl is None else {"ssl": self._ssl, "server_hostname": self._host,
                                            "ssl_shutdown_timeout": _TLS_CLOSE_WAIT_SECS}
        try:
            transport, conn = await asyncio.wait_for(
                loop.create_connection(Http2Connection, self._host, self._port, **tls),
                self.link.connect_timeout_secs)
        except ssl.SSLError as err:  # an OSError too: caught first, to say it was TLS
            self._fail_pending(f"TLS handshake with {self.target} failed: {describe_ssl_error(err)}")
            return
        except (TimeoutError, OSError) as err:
            self._fail_pending(f"cannot connect to {self.target}: {err or type(err).__name__}")
            return
        finally:
            self._connecting = None
        if self._ssl is not None and (alpn := _alpn(transport)) != "h2":
            transport.close()  # the server would not take HTTP/2 frames: no call may start on it
            self._fail_pending(f"TLS to {self.target}: the server did not agree to HTTP/2 (ALPN {alpn!r})")
            return
        if not conn.usable:  # lost before this task resumed: the worker closed it on our first bytes
            self._fail_pending(_closed_at_once(self.target, tls=self._ssl is not None))
            return
        self._connection = conn
        pending, self._pending = self._pending, []
        for call in pending:
            if not call.closed:
                conn.start(call)

    def _fail_pending(self, details: str) -> None:
        pending, self._pending = self._pending, []
        for call in pending:
            call.finish(grpc.StatusCode.UNAVAILABLE, details)

    def _expire(self, call: StreamCall) -> None:
        call.timer = None
        call.finish(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
        self._reset(call)

    def _reset(self, call: StreamCall) -> None:
        if call in self._pending:
            self._pending.remove(call)
        elif call.connection is not None:
            call.connection.reset(call)


def _closed_at_once(target: str, *, tls: bool) -> str:
    # What such a worker most likely wants; a plaintext preface is what a TLS server drops.
    if tls:
        return (f"TLS connection to {target} closed right after the handshake: does the worker require a "
                "client certificate, or refuse ours?")
    return f"connection to {target} closed as soon as it opened: does the worker speak TLS (grpcs://)?"


def _alpn(transport: asyncio.BaseTransport) -> str | None:
    ssl_object = transport.get_extra_info("ssl_object")
    return ssl_object.selected_alpn_protocol() if ssl_object is not None else None
