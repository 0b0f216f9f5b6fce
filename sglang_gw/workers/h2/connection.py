"""One HTTP/2 client connection carrying gRPC calls: frame parsing, flow control, stream table.

An asyncio `Protocol`, so frames are parsed straight from each socket read on the event
loop thread, with no other thread involved. What it keeps per connection:

- our receive windows are opened wide (2^31-1 per stream, and the connection window topped
  up as data is consumed): a generation's output is bounded by its token budget, so the
  worker never has to wait for us;
- the worker's receive windows are honoured: request bodies beyond them (a 32k-token prompt
  is ~130 kB) wait in the call until a WINDOW_UPDATE arrives;
- the worker's MAX_CONCURRENT_STREAMS is honoured: calls beyond it wait in a queue;
- one HPACK decoder: every header block is decoded in order, even for a stream we already
  reset, or the shared dynamic table would drift.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque

import grpc
import hpack

from sglang_gw.workers.h2 import frames as f
from sglang_gw.workers.h2.call import StreamCall
from sglang_gw.workers.h2.headers import HeaderDecoder

__all__ = ["Http2Connection"]

log = logging.getLogger(__name__)

_OPEN_WINDOW = 2**31 - 1
_DEFAULT_WINDOW = 65_535
_TOP_UP_AT = 1 << 30  # consumed connection-window bytes that trigger a WINDOW_UPDATE
_LAST_STREAM_ID = 2**31 - 1
_MAX_FRAME_WE_ACCEPT = 1 << 24
_MAX_REFUSALS = 3
_U32 = struct.Struct(">I")
_SETTING = struct.Struct(">HI")


class Http2Connection(asyncio.Protocol):
    """The client end of one HTTP/2 connection; `start(call)` opens a stream for a call."""

    def __init__(self) -> None:
        self.usable = False  # true from connection_made until GOAWAY, loss or id exhaustion
        self.closed = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._calls: dict[int, StreamCall] = {}
        self._waiting: deque[StreamCall] = deque()  # over the worker's stream limit
        self._blocked: deque[StreamCall] = deque()  # request bytes held by flow control
        self._next_id = 1
        self._decoder = HeaderDecoder()
        self._header_block: tuple[int, int, bytearray] | None = None  # (stream, flags, fragments)
        self._send_window = _DEFAULT_WINDOW
        self._peer_stream_window = _DEFAULT_WINDOW
        self._max_frame = 16_384
        # Until the worker's first SETTINGS arrive we do not know its stream limit: calls wait.
        self._max_streams = 0
        self._consumed = 0

    # ---- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence no isinstance check.
        self._transport = transport  # type: ignore[assignment]
        self.usable = True
        transport.write(f.PREFACE
                        + f.settings({f.Setting.ENABLE_PUSH: 0, f.Setting.INITIAL_WINDOW_SIZE: _OPEN_WINDOW})
                        + f.window_update(0, _OPEN_WINDOW - _DEFAULT_WINDOW))

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._fail_all(grpc.StatusCode.UNAVAILABLE, f"connection to the worker lost ({exc or 'closed'})")
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pos, end = 0, len(buffer)
        head = f.HEAD.unpack_from
        while end - pos >= 9:
            high, low, kind, flags, stream_id = head(buffer, pos)
            length = (high << 8) | low
            stop = pos + 9 + length
            if stop > end:
                if length > _MAX_FRAME_WE_ACCEPT:
                    self._protocol_error(f"frame of {length} bytes")
                    return
                break
            payload = bytes(buffer[pos + 9:stop])
            pos = stop
            if kind == f.DATA:
                self._on_data(stream_id & _LAST_STREAM_ID, flags, payload)
            else:
                self._on_control(kind, flags, stream_id & _LAST_STREAM_ID, payload)
        del buffer[:pos]

    # ---- calls ------------------------------------------------------------------------

    def start(self, call: StreamCall) -> None:
        """Open a stream for `call` now, or queue it until the worker allows one more."""
        call.connection = self
        if len(self._calls) >= self._max_streams:
            self._waiting.append(call)
            return
        if self._next_id > _LAST_STREAM_ID:  # 2^30 streams on one connection; retried elsewhere
            call.finish(grpc.StatusCode.UNAVAILABLE, "the connection ran out of stream ids")
            return
        call.stream_id = stream_id = self._next_id
        self._next_id += 2
        if self._next_id > _LAST_STREAM_ID:
            self.usable = False  # ids run out: the channel opens a fresh connection next time
        call.send_window = self._peer_stream_window
        self._calls[stream_id] = call
        # The header block and the request go out in one write: a system call per request less.
        self._send_body(call, self._header_frames(stream_id, call.headers))

    def reset(self, call: StreamCall) -> None:
        """Reset the call's stream, if it is still open, and forget it."""
        if call.stream_id == 0:
            if call in self._waiting:
                self._waiting.remove(call)
        elif self._close_stream(call.stream_id) is not None and self._transport is not None:
            self._transport.write(f.rst_stream(call.stream_id, f.ErrorCode.CANCEL))

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.close()

    @property
    def active(self) -> int:
        return len(self._calls) + len(self._waiting)

    # ---- receiving ---------------------------------------------------------------------

    def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        self._consumed += len(payload)
        if self._consumed >= _TOP_UP_AT and self._transport is not None:
            self._transport.write(f.window_update(0, self._consumed))
            self._consumed = 0
        if flags & f.PADDED and payload:
            payload = payload[1:len(payload) - payload[0]]
        call = self._calls.get(stream_id)
        if call is None:
            return  # a stream we reset: its late frames still count against the window above
        if payload:
            call.on_data(payload)
        if flags & f.END_STREAM:
            self._close_stream(stream_id)
            call.on_end_without_trailers()

    def _on_control(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._header_block is not None and kind != f.CONTINUATION:
            self._protocol_error("a header block was interrupted")
        elif kind == f.HEADERS:
            self._on_headers(stream_id, flags, payload)
        elif kind == f.CONTINUATION:
            self._on_continuation(stream_id, flags, payload)
        elif kind == f.SETTINGS:
            if not flags & f.ACK:
                self._on_settings(payload)
        elif kind == f.WINDOW_UPDATE:
            self._on_window_update(stream_id, _U32.unpack_from(payload)[0] & _LAST_STREAM_ID)
        elif kind == f.PING:
            if not flags & f.ACK and self._transport is not None:
                self._transport.write(f.frame(f.PING, f.ACK, 0, payload))
        elif kind == f.RST_STREAM:
            call = self._close_stream(stream_id)
            code = _U32.unpack_from(payload)[0]
            if call is not None and not (code == f.ErrorCode.REFUSED_STREAM and self._retry(call)):
                call.on_reset(code)
        elif kind == f.GOAWAY:
            self._on_goaway(_U32.unpack_from(payload)[0] & _LAST_STREAM_ID, payload[8:])
        # PRIORITY and unknown frame types are ignored, as RFC 9113 §5.5 asks.

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        start, end = 0, len(payload)
        if flags & f.PADDED:
            start, end = 1, end - payload[0]
        if flags & f.PRIORITY_FLAG:
            start += 5
        block = bytearray(payload[start:end])
        if flags & f.END_HEADERS:
            self._on_header_block(stream_id, flags, block)
        else:
            self._header_block = (stream_id, flags, block)

    def _on_continuation(self, stream_id: int, flags: int, payload: bytes) -> None:
        if self._header_block is None or self._header_block[0] != stream_id:
            self._protocol_error("CONTINUATION without its HEADERS")
            return
        _, first_flags, block = self._header_block
        block += payload
        if flags & f.END_HEADERS:
            self._header_block = None
            self._on_header_block(stream_id, first_flags, block)

    def _on_header_block(self, stream_id: int, flags: int, block: bytearray) -> None:
        try:
            fields = self._decoder.decode(bytes(block))
        except hpack.HPACKError as err:
            self._protocol_error(f"bad header block: {err}")
            return
        end_stream = bool(flags & f.END_STREAM)
        call = self._close_stream(stream_id) if end_stream else self._calls.get(stream_id)
        if call is not None:
            call.on_headers(fields, end_stream)
            if call.closed and not end_stream:  # a non-200 answer: stop the stream here
                self.reset(call)

    def _on_settings(self, payload: bytes) -> None:
        if self._max_streams == 0:
            self._max_streams = 2**31  # no limit unless these settings name one
        for offset in range(0, len(payload) - 5, 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == f.Setting.INITIAL_WINDOW_SIZE:
                delta, self._peer_stream_window = value - self._peer_stream_window, value
                for call in self._calls.values():
                    call.send_window += delta
            elif key == f.Setting.MAX_FRAME_SIZE:
                self._max_frame = value
            elif key == f.Setting.MAX_CONCURRENT_STREAMS:
                self._max_streams = value
        if self._transport is not None:
            self._transport.write(f.frame(f.SETTINGS, f.ACK, 0))
        self._flush_blocked()
        self._start_waiting()

    def _on_window_update(self, stream_id: int, increment: int) -> None:
        if stream_id == 0:
            self._send_window += increment
        elif (call := self._calls.get(stream_id)) is not None:
            call.send_window += increment
        self._flush_blocked()

    def _retry(self, call: StreamCall) -> bool:
        """A refused stream was never processed: start it again, a few times at most."""
        if call.refusals >= _MAX_REFUSALS or not self.usable:
            return False
        call.refusals += 1
        call.stream_id = 0
        call.body = memoryview(call.request)
        self.start(call)
        return True

    def _on_goaway(self, last_stream_id: int, debug: bytes) -> None:
        """Streams above `last_stream_id` were never processed: they fail as UNAVAILABLE,
        which the dispatcher retries; the rest run to their end on this connection."""
        self.usable = False
        reason = debug.decode("utf-8", "replace") or "worker going away"
        for stream_id in [s for s in self._calls if s > last_stream_id]:
            self._calls.pop(stream_id).finish(grpc.StatusCode.UNAVAILABLE, f"GOAWAY: {reason}")
        while self._waiting:
            self._waiting.popleft().finish(grpc.StatusCode.UNAVAILABLE, f"GOAWAY: {reason}")
        if not self._calls:
            self.close()

    # ---- sending -----------------------------------------------------------------------

    def _header_frames(self, stream_id: int, block: bytes) -> list[bytes]:
        size = self._max_frame
        if len(block) <= size:
            return [f.frame(f.HEADERS, f.END_HEADERS, stream_id, block)]
        parts = [block[i:i + size] for i in range(0, len(block), size)]
        out = [f.frame(f.HEADERS, 0, stream_id, parts[0])]
        out += [f.frame(f.CONTINUATION, 0, stream_id, p) for p in parts[1:-1]]
        out.append(f.frame(f.CONTINUATION, f.END_HEADERS, stream_id, parts[-1]))
        return out

    def _send_body(self, call: StreamCall, out: list[bytes] | None = None) -> None:
        """Send as much of the request as the windows allow (after the frames in `out`, if
        any); END_STREAM goes with the last byte."""
        assert self._transport is not None
        body = call.body
        out = out if out is not None else []
        while body:
            n = min(len(body), self._max_frame, self._send_window, call.send_window)
            if n <= 0:
                break
            out.append(f.frame(f.DATA, f.END_STREAM if n == len(body) else 0, call.stream_id, bytes(body[:n])))
            body = body[n:]
            self._send_window -= n
            call.send_window -= n
        call.body = body
        if out:
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))
        if body:
            self._blocked.append(call)

    def _flush_blocked(self) -> None:
        for _ in range(len(self._blocked)):
            call = self._blocked.popleft()
            if call.stream_id in self._calls:
                self._send_body(call)

    def _start_waiting(self) -> None:
        while self._waiting and len(self._calls) < self._max_streams:
            call = self._waiting.popleft()
            if not call.closed:  # a deadline may have ended it while it waited
                self.start(call)

    # ---- endings -----------------------------------------------------------------------

    def _close_stream(self, stream_id: int) -> StreamCall | None:
        call = self._calls.pop(stream_id, None)
        if call is not None:
            if self._waiting:
                self._start_waiting()
            elif not self.usable and not self._calls:
                self.close()  # drained after a GOAWAY
        return call

    def _fail_all(self, code: grpc.StatusCode, details: str) -> None:
        calls = list(self._calls.values()) + list(self._waiting)
        self._calls.clear()
        self._waiting.clear()
        for call in calls:
            call.finish(code, details)

    def _protocol_error(self, what: str) -> None:
        log.warning("HTTP/2 protocol error from the worker: %s; closing the connection", what)
        self.usable = False
        self._fail_all(grpc.StatusCode.UNAVAILABLE, f"HTTP/2 protocol error: {what}")
        if self._transport is not None:
            self._transport.write(f.frame(f.GOAWAY, 0, 0, _U32.pack(0) + _U32.pack(f.ErrorCode.PROTOCOL_ERROR)))
            self._transport.close()
