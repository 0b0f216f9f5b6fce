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
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

import grpc

from sglang_gw.workers.h2.frames import ErrorCode

__all__ = ["CallError", "StreamCall"]

_PREFIX = struct.Struct(">BI")  # compressed flag, message length
_STATUS_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}
# The codes every call reads, as module names: on Python 3.11 reading an enum member
# through its class takes `EnumType.__getattr__`'s slow path.
_OK, _UNKNOWN = grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN

# gRPC's mapping of an HTTP status on a non-gRPC answer (a proxy's error page, say).
_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INTERNAL, 401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.UNIMPLEMENTED,
    429: grpc.StatusCode.UNAVAILABLE, 502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.UNAVAILABLE,
}
# ... and of a stream reset (any other code: INTERNAL); a refused stream was never
# processed, so the connection starts it again instead.
_RESET_TO_GRPC = {
    ErrorCode.REFUSED_STREAM: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.CANCEL: grpc.StatusCode.CANCELLED,
    ErrorCode.ENHANCE_YOUR_CALM: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.INADEQUATE_SECURITY: grpc.StatusCode.PERMISSION_DENIED,
}


# zlib's window bits for the message encodings gRPC names (grpc-encoding).
_INFLATE_BITS = {"gzip": 31, "deflate": 15}


class CallError(Exception):
    """A call that ended with a non-OK gRPC status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class StreamCall:
    """Messages of one call, queued for `read()`; the connection drives the other methods.

    Whatever the worker sends, these methods do not raise: a message that cannot be
    parsed, is too large or is cut short ends this call only (`closed` turns true, and
    the connection resets the stream), never the connection's other calls.
    """

    __slots__ = ("body", "closed", "connection", "error", "headers", "max_message", "refusals", "request",
                 "restarts", "send_window", "sink", "stream_id", "timer",
                 "_buffer", "_encoding", "_got_headers", "_loop", "_messages", "_parse", "_waiter")

    def __init__(self, parse: Callable[[bytes], Any], headers: bytes, body: bytes,
                 loop: asyncio.AbstractEventLoop, max_message: int = 2**31 - 1) -> None:
        self.headers = headers  # the encoded request header block
        self.request = body  # the whole request DATA, kept to start the call again
        self.body = memoryview(body)  # what is not yet sent (flow control may hold it)
        self.max_message = max_message  # the largest message accepted from the worker
        self.restarts = 0  # times started again after REFUSED_STREAM or GOAWAY (bounded)
        self.refusals = 0  # times refused at the worker's stream limit (waits, not bounded)
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
        self._encoding = "identity"  # the worker's grpc-encoding
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

    # ---- the connection's side --------------------------------------------------------

    def rewind(self) -> None:
        """Make the call new again, to start it on another stream: only for a stream the
        worker never processed (REFUSED_STREAM, or above a GOAWAY's last stream id)."""
        self.connection = None
        self.stream_id = 0
        self.send_window = 0
        self.body = memoryview(self.request)
        self._buffer.clear()
        self._got_headers = False
        self._encoding = "identity"

    def on_data(self, data: bytes) -> None:
        buffer = self._buffer
        if buffer:
            buffer += data
            data = buffer
        pos, end = 0, len(data)
        sink = self.sink
        batch: list[Any] = [] if sink is not None else self._messages  # type: ignore[assignment]
        try:
            while end - pos >= 5:
                compressed, size = _PREFIX.unpack_from(data, pos)
                if size > self.max_message:
                    raise CallError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    f"received message larger than max ({size} vs. {self.max_message})")
                stop = pos + 5 + size
                if stop > end:
                    break
                raw = data[pos + 5:stop]
                batch.append(self._parse(self._inflate(raw) if compressed else raw))
                pos = stop
        except CallError as err:
            self.finish(err.code, err.details)
            return
        except Exception as err:  # the parser's error (DecodeError, ...) ends this call only
            self.finish(grpc.StatusCode.INTERNAL, f"the worker's message could not be parsed: {err}")
            return
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

    def _inflate(self, raw: bytes) -> bytes:
        """A compressed message's bytes, decompressed; never more than `max_message`."""
        bits = _INFLATE_BITS.get(self._encoding)
        if bits is None:
            raise CallError(grpc.StatusCode.INTERNAL,
                            f"compressed message with grpc-encoding {self._encoding!r}, which was not offered")
        inflater = zlib.decompressobj(bits)
        try:
            out = inflater.decompress(raw, self.max_message + 1)
        except zlib.error as err:
            raise CallError(grpc.StatusCode.INTERNAL, f"bad {self._encoding} message: {err}") from None
        if len(out) > self.max_message or inflater.unconsumed_tail:
            raise CallError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"received message larger than max (over {self.max_message} bytes decompressed)")
        if not inflater.eof:
            raise CallError(grpc.StatusCode.INTERNAL, f"truncated {self._encoding} message")
        return out

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
            if self._refuse_answer(headers) or not end_stream:
                return
        elif not end_stream:
            self.finish(grpc.StatusCode.INTERNAL, "the worker sent headers in the middle of the stream")
            return
        # Trailers, or a trailers-only answer: the call's status.
        if self._buffer:
            self.finish(grpc.StatusCode.INTERNAL,
                        f"the stream ended inside a message ({len(self._buffer)} bytes of it arrived)")
            return
        code = _status(headers.get("grpc-status"))
        if code is None:
            self.finish(grpc.StatusCode.UNKNOWN, "the worker's answer carried no grpc-status")
        else:
            self.finish(code, unquote(headers.get("grpc-message", "")))

    def _refuse_answer(self, headers: dict[str, str]) -> bool:
        """End the call if the response headers are not a gRPC answer; True if so."""
        raw = headers.get(":status", "")
        status = int(raw) if raw.isascii() and raw.isdigit() else 0
        if status != 200:
            self.finish(_HTTP_TO_GRPC.get(status, grpc.StatusCode.UNKNOWN), f"worker answered HTTP {raw or '?'}")
            return True
        if not headers.get("content-type", "").startswith("application/grpc"):
            self.finish(grpc.StatusCode.UNKNOWN, f"worker answered content-type {headers.get('content-type')!r}")
            return True
        self._encoding = headers.get("grpc-encoding", "identity")
        return False

    def on_end_without_trailers(self) -> None:
        self.finish(grpc.StatusCode.INTERNAL, "the worker ended the stream without a gRPC status")

    def on_reset(self, error_code: int) -> None:
        code = _RESET_TO_GRPC.get(error_code, grpc.StatusCode.INTERNAL)
        self.finish(code, f"stream reset by the worker (HTTP/2 {ErrorCode.name(error_code)})")

    def finish(self, code: grpc.StatusCode, details: str) -> None:
        if self.closed:
            return
        self.closed = True
        if code is not _OK:
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


def _status(raw: str | None) -> grpc.StatusCode | None:
    """A grpc-status value as a code (an unknown number: UNKNOWN); None when absent or not a number."""
    if not raw or not (raw.isascii() and raw.isdigit()):
        return None
    return _STATUS_BY_VALUE.get(int(raw), _UNKNOWN)
