"""One server-streaming gRPC call on one HTTP/2 stream.

The connection feeds it DATA and header blocks as they are parsed; it cuts the DATA into
gRPC messages (a 5-byte prefix, RFC-free but specified in gRPC's PROTOCOL-HTTP2.md), parses
each one and queues it. `read()` returns queued messages without suspending, so every
message that arrived in one socket read is consumed in one pass of the reader: the
coalescing that `grpc.aio` (a thread hand-off and a loop wake-up per message) cannot do.

A call can also push its messages instead (`deliver_to`): each batch parsed from one
DATA frame goes straight to a callback, run inside the connection's `data_received`,
with no future and no task wake-up per message (see `server/push.py`).
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

import grpc

from sglang_gw.workers.h2.frames import ErrorCode

__all__ = ["CallError", "StreamCall"]

_PREFIX = struct.Struct(">BI")  # compressed flag, message length
_STATUS_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}

# gRPC's mapping of an HTTP status on a non-gRPC answer (a proxy's error page, say).
_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INTERNAL, 401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.UNIMPLEMENTED,
    429: grpc.StatusCode.UNAVAILABLE, 502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.UNAVAILABLE,
}
# ... and of a stream reset: a refused stream was never processed, so it is safe to retry.
_RESET_TO_GRPC = {
    ErrorCode.REFUSED_STREAM: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.CANCEL: grpc.StatusCode.CANCELLED,
    ErrorCode.ENHANCE_YOUR_CALM: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.INADEQUATE_SECURITY: grpc.StatusCode.PERMISSION_DENIED,
}


class CallError(Exception):
    """A call that ended with a non-OK gRPC status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class StreamCall:
    """Messages of one call, queued for `read()`; the connection drives the other methods."""

    __slots__ = ("body", "closed", "connection", "error", "headers", "refusals", "request", "send_window",
                 "stream_id", "timer", "sink",
                 "_buffer", "_got_headers", "_loop", "_messages", "_parse", "_waiter")

    def __init__(self, parse: Callable[[bytes], Any], headers: bytes, body: bytes,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.headers = headers  # the encoded request header block
        self.request = body  # the whole request DATA, kept for a transparent retry
        self.body = memoryview(body)  # what is not yet sent (flow control may hold it)
        self.refusals = 0  # REFUSED_STREAM answers so far
        self.connection: Any = None  # the Http2Connection that carries it, once started
        self.stream_id = 0  # 0 until the connection opens the stream
        self.send_window = 0
        self.closed = False
        self.error: CallError | None = None
        self.timer: asyncio.TimerHandle | None = None
        self._parse = parse
        # When set, gets each batch of messages as it is parsed, and None once the call
        # ends; it must not raise (it runs inside the connection's data_received).
        self.sink: Callable[[list[Any] | None], None] | None = None
        self._messages: deque[Any] = deque()
        self._buffer = bytearray()
        self._got_headers = False
        self._waiter: asyncio.Future[None] | None = None
        # Passed in, not looked up: get_running_loop() makes a getpid() system call on each
        # use (3.11), and this runs per token.
        self._loop = loop

    # ---- the reader's side ------------------------------------------------------------

    async def read(self) -> Any | None:
        """The next message; None after a normal end; raises CallError after a failed one."""
        messages = self._messages
        while not messages:
            if self.closed:
                if self.error is not None:
                    raise self.error
                return None
            self._waiter = waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return messages.popleft()

    @property
    def finished_ok(self) -> bool:
        return self.closed and self.error is None

    # ---- the connection's side --------------------------------------------------------

    def on_data(self, data: bytes) -> None:
        buffer = self._buffer
        if buffer:
            buffer += data
            data = buffer
        pos, end = 0, len(data)
        sink = self.sink
        batch: list[Any] = [] if sink is not None else self._messages  # type: ignore[assignment]
        while end - pos >= 5:
            compressed, size = _PREFIX.unpack_from(data, pos)
            stop = pos + 5 + size
            if stop > end:
                break
            if compressed:  # we offer only identity, so the server may not compress
                self.finish(grpc.StatusCode.INTERNAL, "compressed message without negotiated compression")
                return
            batch.append(self._parse(data[pos + 5:stop]))
            pos = stop
        if data is buffer:
            del buffer[:pos]
        elif pos < end:
            buffer += data[pos:]
        if not pos:
            return
        if sink is not None:
            sink(batch)
        else:
            self._wake()

    def deliver_to(self, sink: Callable[[list[Any] | None], None] | None) -> None:
        """Push messages to `sink` from now on (None: queue them for `read()` again).
        Messages already queued go first; a call already ended gets None at once."""
        self.sink = sink
        if sink is None:
            return
        if self._messages:
            queued = list(self._messages)
            self._messages.clear()
            sink(queued)
        if self.closed and self.sink is sink:
            sink(None)

    def on_headers(self, fields: Sequence[tuple[str, str]], end_stream: bool) -> None:
        headers = dict(fields)
        if not self._got_headers:
            self._got_headers = True
            status = int(headers.get(":status", "0") or 0)
            if status != 200:
                code = _HTTP_TO_GRPC.get(status, grpc.StatusCode.UNKNOWN)
                self.finish(code, f"worker answered HTTP {status}")
                return
            if not headers.get("content-type", "").startswith("application/grpc"):
                self.finish(grpc.StatusCode.UNKNOWN, f"worker answered content-type {headers.get('content-type')!r}")
                return
            if not end_stream:
                return
        # Trailers, or a trailers-only answer: the call's status.
        raw = headers.get("grpc-status")
        code = _STATUS_BY_VALUE.get(int(raw), grpc.StatusCode.UNKNOWN) if raw and raw.isdigit() else None
        if code is None:
            self.finish(grpc.StatusCode.UNKNOWN, "the worker's answer carried no grpc-status")
        else:
            self.finish(code, unquote(headers.get("grpc-message", "")))

    def on_end_without_trailers(self) -> None:
        self.finish(grpc.StatusCode.INTERNAL, "the worker ended the stream without a gRPC status")

    def on_reset(self, error_code: int) -> None:
        code = _RESET_TO_GRPC.get(error_code, grpc.StatusCode.INTERNAL)
        self.finish(code, f"stream reset by the worker (HTTP/2 error {error_code})")

    def finish(self, code: grpc.StatusCode, details: str) -> None:
        if self.closed:
            return
        self.closed = True
        if code is not grpc.StatusCode.OK:
            self.error = CallError(code, details or code.name)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._wake()
        if self.sink is not None:
            self.sink(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
