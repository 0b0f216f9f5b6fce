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
  reset, or the shared dynamic table would drift;
- keepalive: a PING when nothing was heard from the worker for the keepalive time while
  calls are open; no ACK within the timeout ends the connection;
- bounded loop steps: at most `FRAMES_PER_STEP` frames are handled per step of the event
  loop, the rest on its next passes, with reading paused until the buffer is worked off.

Every frame is checked as RFC 9113 asks. A frame that breaks the connection's rules is a
connection error: a GOAWAY with its error code, the connection closed, its calls failed as
UNAVAILABLE (the channel opens a new one for the next call). A frame that breaks one
stream's rules resets that stream only. Streams the worker never processed (refused, or
above a GOAWAY's last stream id) and calls that were never sent are started again, on this
connection or through the owner on a new one, not failed.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from collections.abc import Callable
from typing import Protocol

import grpc
import hpack

from sglang_gw.workers.h2 import frames as f
from sglang_gw.workers.h2.call import StreamCall
from sglang_gw.workers.h2.frames import ErrorCode
from sglang_gw.workers.h2.headers import HeaderDecoder
from sglang_gw.workers.link import LinkSettings

__all__ = ["FRAMES_PER_STEP", "ConnectionOwner", "Http2Connection", "ProtocolViolation"]

log = logging.getLogger(__name__)

_DEFAULT_WINDOW = 65_535
_TOP_UP_AT = 1 << 30  # consumed connection-window bytes that trigger a WINDOW_UPDATE
_LAST_STREAM_ID = 2**31 - 1
_MAX_FRAME = 16_384  # our SETTINGS_MAX_FRAME_SIZE: the default, which we never raise
_MAX_HEADER_BLOCK = 1 << 20  # a header block split over more CONTINUATION bytes is abuse
_MAX_RESTARTS = 3
# A stream refused while we were at the worker's MAX_CONCURRENT_STREAMS is the worker still
# counting a stream we saw end (grpc-core frees the slot a moment after its trailers), or a
# limit lowered by SETTINGS we had not read yet: the call waits for the slot, first in line,
# tried again when a stream ends or after this pause (doubling per refusal, at most the
# cap), until its deadline. Started again at once it would be refused again at once.
_REFUSED_PAUSE_SECS = 0.01
_REFUSED_PAUSE_MAX_SECS = 0.5
# Frames handled in one step of the event loop. A DATA frame of a streamed generation runs
# its request's whole output path (detokenize, parse, frame, write to the client) right
# here, so one socket read holding many streams' tokens was one long step, and the longer
# the loop was held up the more frames the next read brought. Past this many the rest of
# the buffer waits for the loop's next pass, with reading paused (docs/performance.md,
# "Loop stalls from 32k prompts").
FRAMES_PER_STEP = 64
_U32 = struct.Struct(">I")
_GOAWAY_HEAD = struct.Struct(">II")
_SETTING = struct.Struct(">HI")


class ProtocolViolation(Exception):
    """A connection error (RFC 9113 §5.4.1): the worker broke the connection's rules."""

    def __init__(self, code: int, what: str) -> None:
        super().__init__(what)
        self.code = code
        self.what = what


class ConnectionOwner(Protocol):
    """What a connection asks of the channel that opened it."""

    keepalive_time: float

    def requeue(self, call: StreamCall) -> None: ...
    def on_established(self, connection: Http2Connection) -> None: ...
    def on_lost(self, connection: Http2Connection) -> None: ...
    def early_loss_reason(self) -> str: ...
    def on_too_many_pings(self) -> None: ...


class Http2Connection(asyncio.Protocol):
    """The client end of one HTTP/2 connection; `start(call)` opens a stream for a call."""

    def __init__(self, owner: ConnectionOwner, link: LinkSettings) -> None:
        self.usable = False  # true from connection_made until GOAWAY, loss, an error or id exhaustion
        self.established = False  # the worker's first SETTINGS arrived
        self.closed = asyncio.get_running_loop().create_future()
        self._owner = owner
        self._link = link
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._slicing = False  # frames are left in the buffer for `_next_slice`; reading is paused
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
        self._heard = False  # a frame arrived since the last keepalive tick
        self._pings = 0
        self._ping_sent: bytes | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._handlers: dict[int, Callable[[int, int, bytes], None]] = {
            f.HEADERS: self._on_headers, f.CONTINUATION: self._on_continuation, f.SETTINGS: self._on_settings,
            f.WINDOW_UPDATE: self._on_window_update, f.PING: self._on_ping, f.RST_STREAM: self._on_rst_stream,
            f.GOAWAY: self._on_goaway, f.PUSH_PROMISE: self._on_push_promise,
        }

    # ---- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence no isinstance check.
        self._transport = transport  # type: ignore[assignment]
        self.usable = True
        transport.write(f.PREFACE  # type: ignore[attr-defined]
                        + f.settings({f.Setting.ENABLE_PUSH: 0, f.Setting.INITIAL_WINDOW_SIZE: f.MAX_WINDOW})
                        + f.window_update(0, f.MAX_WINDOW - _DEFAULT_WINDOW))
        # A peer that never sends SETTINGS is not an HTTP/2 server (or is a TLS one spoken to in clear).
        self._arm("settings", self._link.connect_timeout_secs, self._settings_expired)
        self._arm("keepalive", self._owner.keepalive_time, self._keepalive_tick)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._transport = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        why = f"connection to the worker lost ({exc or 'closed'})"
        self._fail_all(grpc.StatusCode.UNAVAILABLE, why if self.established else self._owner.early_loss_reason())
        self._owner.on_lost(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return  # closed after a connection error: what is still buffered is moot
        self._heard = True
        self._buffer += data
        if not self._slicing and self._read_frames():
            self._slicing = True
            self._transport.pause_reading()  # the buffer is worked off first, slice by slice
            self._loop.call_soon(self._next_slice)

    def _next_slice(self) -> None:
        if self._transport is None:
            return  # the connection ended meanwhile: its calls were failed with it
        if self._read_frames():
            self._loop.call_soon(self._next_slice)
            return
        self._slicing = False
        if self._transport is not None:
            self._transport.resume_reading()

    def _read_frames(self) -> bool:
        """Handle the buffered frames, at most `FRAMES_PER_STEP` of them; true when whole
        frames are left for the next slice."""
        buffer = self._buffer
        pos, end = 0, len(buffer)
        head = f.HEAD.unpack_from
        left = FRAMES_PER_STEP
        try:
            while end - pos >= 9:
                high, low, kind, flags, stream_id = head(buffer, pos)
                length = (high << 8) | low
                if length > _MAX_FRAME:  # checked before the payload arrives: no waiting for 16 MB
                    raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, f"a frame of {length} bytes")
                stop = pos + 9 + length
                if stop > end:
                    break
                if not left:
                    del buffer[:pos]
                    return self._transport is not None  # after an abort the rest is moot
                left -= 1
                payload = bytes(buffer[pos + 9:stop])
                pos = stop
                if kind == f.DATA:
                    self._on_data(flags, stream_id & _LAST_STREAM_ID, payload)
                else:
                    self._on_control(kind, flags, stream_id & _LAST_STREAM_ID, payload)
        except ProtocolViolation as err:
            self._connection_error(err.code, err.what)
            return False
        except Exception:  # our own bug must not escape into the event loop's transport
            log.exception("HTTP/2 client failed on a frame from the worker")
            self._connection_error(ErrorCode.INTERNAL_ERROR, "internal error in the gateway's HTTP/2 client")
            return False
        del buffer[:pos]
        return False

    # ---- calls ------------------------------------------------------------------------

    def start(self, call: StreamCall) -> None:
        """Open a stream for `call` now, or queue it until the worker allows one more."""
        call.connection = self
        if len(self._calls) >= self._max_streams or self._waiting:  # behind calls already waiting
            self._waiting.append(call)
            return
        self._open(call)

    def _open(self, call: StreamCall) -> None:
        if self._next_id > _LAST_STREAM_ID:  # 2^30 streams on one connection
            self._owner.requeue(call)
            return
        call.stream_id = stream_id = self._next_id
        self._next_id += 2
        if self._next_id > _LAST_STREAM_ID:
            self.usable = False  # ids run out: the channel opens a fresh connection next time
        call.send_window = self._peer_stream_window
        self._calls[stream_id] = call
        # The header block and the request go out in one write: a system call per request less.
        self._send_body(call, self._header_frames(stream_id, call.headers))

    def reset(self, call: StreamCall, code: int = ErrorCode.CANCEL) -> None:
        """Reset the call's stream, if it is still open, and forget it."""
        if call.stream_id == 0:
            if call in self._waiting:
                self._waiting.remove(call)
        elif self._close_stream(call.stream_id) is not None and self._transport is not None:
            self._transport.write(f.rst_stream(call.stream_id, code))

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.close()

    @property
    def active(self) -> int:
        return len(self._calls) + len(self._waiting)

    # ---- receiving ---------------------------------------------------------------------

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0")
        self._consumed += len(payload)  # padding counts against the window too
        if self._consumed >= _TOP_UP_AT and self._transport is not None:
            self._transport.write(f.window_update(0, self._consumed))
            self._consumed = 0
        if flags & f.PADDED:
            payload = payload[1:len(payload) - _pad_length(payload)]
        call = self._calls.get(stream_id)
        if call is None:
            self._check_opened(stream_id, "DATA")
            return  # a stream we reset: its late frames still count against the window above
        if payload:
            call.on_data(payload)
        if call.closed:  # the call ended here (a bad or oversized message): stop the stream
            if flags & f.END_STREAM:
                self._close_stream(stream_id)
            else:
                self.reset(call)
        elif flags & f.END_STREAM:
            self._close_stream(stream_id)
            call.on_end_without_trailers()

    def _on_control(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._header_block is not None and kind != f.CONTINUATION:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "a header block was interrupted by another frame")
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(flags, stream_id, payload)
        # PRIORITY and unknown frame types are ignored, as RFC 9113 §5.5 asks.

    def _on_headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0")
        self._check_opened(stream_id, "HEADERS")
        start, end = 0, len(payload)
        if flags & f.PADDED:
            start, end = 1, end - _pad_length(payload)
        if flags & f.PRIORITY_FLAG:
            start += 5
        if start > end:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "HEADERS shorter than its padding and priority")
        block = bytearray(payload[start:end])
        if flags & f.END_HEADERS:
            self._on_header_block(stream_id, flags, block)
        else:
            self._header_block = (stream_id, flags, block)

    def _on_continuation(self, flags: int, stream_id: int, payload: bytes) -> None:
        if self._header_block is None or self._header_block[0] != stream_id:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without its HEADERS")
        _, first_flags, block = self._header_block
        block += payload
        if len(block) > _MAX_HEADER_BLOCK:
            raise ProtocolViolation(ErrorCode.ENHANCE_YOUR_CALM, f"a header block of over {_MAX_HEADER_BLOCK} bytes")
        if flags & f.END_HEADERS:
            self._header_block = None
            self._on_header_block(stream_id, first_flags, block)

    def _on_header_block(self, stream_id: int, flags: int, block: bytearray) -> None:
        try:
            fields = self._decoder.decode(bytes(block))
        except hpack.HPACKError as err:
            raise ProtocolViolation(ErrorCode.COMPRESSION_ERROR, f"bad header block: {err}") from None
        end_stream = bool(flags & f.END_STREAM)
        call = self._close_stream(stream_id) if end_stream else self._calls.get(stream_id)
        if call is not None:
            call.on_headers(fields, end_stream)
            if call.closed and not end_stream:  # not a gRPC answer: stop the stream here
                self.reset(call)

    def _on_settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.ACK:
            if payload:
                raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, f"SETTINGS of {len(payload)} bytes")
        if self._max_streams == 0:
            self._max_streams = 2**31  # no limit unless these settings name one
        for offset in range(0, len(payload), 6):
            self._apply_setting(*_SETTING.unpack_from(payload, offset))
        if self._transport is not None:
            self._transport.write(f.frame(f.SETTINGS, f.ACK, 0))
        if not self.established:
            self.established = True
            self._disarm("settings")
            self._owner.on_established(self)
        self._flush_blocked()
        self._start_waiting()

    def _apply_setting(self, key: int, value: int) -> None:
        if key == f.Setting.INITIAL_WINDOW_SIZE:
            if value > f.MAX_WINDOW:
                raise ProtocolViolation(ErrorCode.FLOW_CONTROL_ERROR, f"INITIAL_WINDOW_SIZE {value}")
            delta, self._peer_stream_window = value - self._peer_stream_window, value
            for call in self._calls.values():
                call.send_window += delta
                if call.send_window > f.MAX_WINDOW:
                    raise ProtocolViolation(ErrorCode.FLOW_CONTROL_ERROR, "a stream window past 2^31-1")
        elif key == f.Setting.MAX_FRAME_SIZE:
            if not _MAX_FRAME <= value <= (1 << 24) - 1:
                raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, f"MAX_FRAME_SIZE {value}")
            self._max_frame = value
        elif key == f.Setting.MAX_CONCURRENT_STREAMS:
            self._max_streams = value
        elif key == f.Setting.ENABLE_PUSH and value != 0:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, f"a server sent ENABLE_PUSH {value}")

    def _on_window_update(self, flags: int, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, f"WINDOW_UPDATE of {len(payload)} bytes")
        increment = _U32.unpack(payload)[0] & _LAST_STREAM_ID
        if stream_id == 0:
            if increment == 0:
                raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > f.MAX_WINDOW:
                raise ProtocolViolation(ErrorCode.FLOW_CONTROL_ERROR, "the connection window past 2^31-1")
        elif (call := self._calls.get(stream_id)) is not None:
            if increment == 0:
                self._stream_error(call, ErrorCode.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
            elif call.send_window + increment > f.MAX_WINDOW:
                self._stream_error(call, ErrorCode.FLOW_CONTROL_ERROR, "the stream window past 2^31-1")
            else:
                call.send_window += increment
        else:
            self._check_opened(stream_id, "WINDOW_UPDATE")
        self._flush_blocked()

    def _on_ping(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, f"PING of {len(payload)} bytes")
        if not flags & f.ACK:
            if self._transport is not None:
                self._transport.write(f.ping(payload, ack=True))
        elif payload == self._ping_sent:
            self._ping_sent = None
            self._disarm("ping")

    def _on_rst_stream(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, f"RST_STREAM of {len(payload)} bytes")
        at_limit = len(self._calls) >= self._max_streams
        call = self._close_stream(stream_id)
        if call is None:
            self._check_opened(stream_id, "RST_STREAM")
            return
        code = _U32.unpack(payload)[0]
        if code != ErrorCode.REFUSED_STREAM:
            call.on_reset(code)
        elif at_limit and self.usable:
            self._wait_for_slot(call)
        elif call.restarts < _MAX_RESTARTS:
            # Refused below the worker's own limit: its reason is not the limit, and a worker
            # refusing everything must fail the call soon (the dispatcher tries another).
            call.restarts += 1
            call.rewind()  # never processed: safe to start again
            if self.usable:
                self.start(call)
            else:
                self._owner.requeue(call)
        else:
            call.on_reset(code)

    def _wait_for_slot(self, call: StreamCall) -> None:
        """A call refused at the stream limit waits first in line, not counted as a restart:
        bounded by its deadline, which ends it in the queue (`reset`)."""
        pause = min(_REFUSED_PAUSE_MAX_SECS, _REFUSED_PAUSE_SECS * 2 ** min(call.refusals, 16))
        call.refusals += 1
        call.rewind()
        call.connection = self
        self._waiting.appendleft(call)
        self._arm("refused", pause, self._refused_pause_over)

    def _refused_pause_over(self) -> None:
        self._timers.pop("refused", None)
        self._start_waiting()

    def _on_goaway(self, flags: int, stream_id: int, payload: bytes) -> None:
        """Streams above the last stream id were never processed: they start again on a new
        connection, with the calls that waited here; the rest run to their end on this one."""
        if stream_id:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise ProtocolViolation(ErrorCode.FRAME_SIZE_ERROR, f"GOAWAY of {len(payload)} bytes")
        last_stream_id, code = _GOAWAY_HEAD.unpack_from(payload)
        last_stream_id &= _LAST_STREAM_ID
        debug = payload[8:]
        self.usable = False
        if code != ErrorCode.NO_ERROR:
            log.warning("worker sent GOAWAY %s (%s)", ErrorCode.name(code), debug.decode("utf-8", "replace")[:200])
        if code == ErrorCode.ENHANCE_YOUR_CALM and debug == b"too_many_pings":
            self._owner.on_too_many_pings()
        moved = [self._calls.pop(s) for s in sorted(self._calls) if s > last_stream_id]
        moved += self._waiting
        self._waiting.clear()
        for call in moved:
            self._restart_elsewhere(call, f"GOAWAY {ErrorCode.name(code)}")
        if not self._calls:
            self.close()

    def _on_push_promise(self, flags: int, stream_id: int, payload: bytes) -> None:
        raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE, though our SETTINGS disable push")

    def _check_opened(self, stream_id: int, kind: str) -> None:
        """A frame for a stream that is not open: fine if we opened and closed it (late
        frames after our reset), a connection error if no such stream was ever opened."""
        if not stream_id & 1 or stream_id >= self._next_id:
            raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, f"{kind} on stream {stream_id}, never opened")

    # ---- keepalive ---------------------------------------------------------------------

    def _keepalive_tick(self) -> None:
        quiet = not self._heard
        self._heard = False
        self._arm("keepalive", self._owner.keepalive_time, self._keepalive_tick)
        if not quiet or self._ping_sent is not None or self._transport is None:
            return
        if self._calls or self._waiting or self._link.keepalive_permit_without_calls:
            self._pings += 1
            self._ping_sent = opaque = self._pings.to_bytes(8, "big")
            self._transport.write(f.ping(opaque))
            self._arm("ping", self._link.keepalive_timeout_secs, self._keepalive_expired)

    def _keepalive_expired(self) -> None:
        self._timers.pop("ping", None)
        timeout = self._link.keepalive_timeout_secs
        log.warning("worker did not answer a keepalive PING within %.1fs; closing the connection", timeout)
        self._abort(f"keepalive: the worker did not answer a PING within {timeout:g}s")

    def _settings_expired(self) -> None:
        self._timers.pop("settings", None)
        self._abort(f"the worker sent no HTTP/2 SETTINGS within {self._link.connect_timeout_secs:g}s "
                    "(not a gRPC server, or TLS expected?)")

    def _arm(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._disarm(name)
        self._timers[name] = self._loop.call_later(delay, callback)

    def _disarm(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

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
        if self._transport is None:
            return
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
                self._open(call)

    # ---- endings -----------------------------------------------------------------------

    def _close_stream(self, stream_id: int) -> StreamCall | None:
        call = self._calls.pop(stream_id, None)
        if call is not None:
            if self._waiting and self.usable:
                self._start_waiting()
            elif not self.usable and not self._calls:
                self.close()  # drained after a GOAWAY
        return call

    def _restart_elsewhere(self, call: StreamCall, why: str) -> None:
        """Start the call on a new connection. One that was waiting here never reached the
        worker: it moves however often connections end (its deadline bounds it); a stream
        the worker left unprocessed counts as a restart."""
        if call.closed:
            return
        if call.stream_id:
            if call.restarts >= _MAX_RESTARTS:
                call.finish(grpc.StatusCode.UNAVAILABLE, f"{why}: the call was moved {call.restarts} times")
                return
            call.restarts += 1
            call.rewind()
        call.connection = None
        self._owner.requeue(call)

    def _stream_error(self, call: StreamCall, code: int, what: str) -> None:
        self.reset(call, code)
        call.finish(grpc.StatusCode.INTERNAL, f"HTTP/2 stream error {ErrorCode.name(code)}: {what}")

    def _fail_all(self, code: grpc.StatusCode, details: str) -> None:
        calls = list(self._calls.values()) + list(self._waiting)
        self._calls.clear()
        self._waiting.clear()
        for call in calls:
            call.finish(code, details)

    def _connection_error(self, code: int, what: str) -> None:
        log.warning("HTTP/2 %s from the worker: %s; closing the connection", ErrorCode.name(code), what)
        if self._transport is not None:
            self._transport.write(f.goaway(0, code, what.encode()[:256]))
        self._abort(f"HTTP/2 protocol error ({ErrorCode.name(code)}): {what}", graceful=True)

    def _abort(self, details: str, *, graceful: bool = False) -> None:
        """End the connection now: every call fails as UNAVAILABLE with `details`."""
        self.usable = False
        self._fail_all(grpc.StatusCode.UNAVAILABLE, details)
        transport, self._transport = self._transport, None
        if transport is not None:
            # close() flushes what was written (our GOAWAY); abort() does not wait for a
            # peer that stopped reading.
            if graceful:
                transport.close()
            else:
                transport.abort()


def _pad_length(payload: bytes) -> int:
    """The pad length of a PADDED frame, checked against the frame's size (RFC 9113 §6.1)."""
    if not payload or payload[0] >= len(payload):
        raise ProtocolViolation(ErrorCode.PROTOCOL_ERROR, "a pad length past the frame's end")
    return payload[0]
