"""A scripted HTTP/2 gRPC server: the independent peer of the worker-link conformance suite.

Built on python-hyper's `h2`, not on `sglang_gw/workers/h2/`, so the client is tested
against someone else's reading of RFC 9113. h2 keeps the connection's state (SETTINGS,
flow control, PING ACKs, HPACK) and reports everything the client sends as h2 events,
which the peer records per connection. A test scripts each request stream with an async
handler, called once the request is complete:

    async def handler(stream: PeerStream) -> None:
        await stream.send_headers()
        await stream.send_message(chunk(1, 2, 3))
        await stream.send_trailers(grpc_status=0)

Frames h2 will not write (malformed ones, padded or CONTINUATION-split header blocks, a
GOAWAY after which the connection keeps answering) go out as raw bytes built with
`frame()`. h2 never learns of them, so its own state stays as it was.

The second half of the module drives a client against the peer (`serve`, `open_client`,
`run_call`), so that every test reads as: what the peer sends, what the call ends with.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from google.protobuf.message import Message
from h2.errors import ErrorCodes
from hyperframe.frame import ContinuationFrame, Frame, HeadersFrame

from sglang_gw.errors import WorkerError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.workers.client import GrpcWorkerClient
from sglang_gw.workers.link import LinkSettings

__all__ = [
    "ACK", "CONTINUATION", "DATA", "END_HEADERS", "END_STREAM", "GOAWAY", "HEADERS", "PADDED", "PING",
    "PRIORITY", "PRIORITY_FLAG", "PUSH_PROMISE", "RST_STREAM", "SETTINGS", "WINDOW_UPDATE",
    "ErrorCodes", "Handler", "Outcome", "PeerConnection", "PeerStream", "ScriptedPeer", "answer", "chunk", "complete",
    "frame", "grpc_frame", "loop_errors", "open_client", "request", "run_call", "serve", "start_call",
]

# Frame types and flags, RFC 9113 §6.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

Handler = Callable[["PeerStream"], Awaitable[None]]
E = TypeVar("E", bound=h2.events.Event)
T = TypeVar("T")

# The longest any helper here waits for the client to do something: milliseconds on
# loopback, but seconds on a CI machine whose two cores are busy with other work.
WAIT = 15.0


# ---- bytes on the wire --------------------------------------------------------------------


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"", *, length: int | None = None) -> bytes:
    """One frame, valid or not: a 9-byte head (24-bit length, type, flags, stream id) and
    the payload. `length` announces a length other than the payload's."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + struct.pack(">BBI", kind, flags, stream_id) + payload


def grpc_frame(message: bytes | Message, *, compressed: bool = False) -> bytes:
    """A gRPC length-prefixed message (flag byte, 4-byte length); `compressed` gzips it
    and sets the flag."""
    body = message if isinstance(message, bytes) else message.SerializeToString()
    if compressed:
        body = gzip.compress(body)
    return struct.pack(">BI", int(compressed), len(body)) + body


def chunk(*tokens: int) -> pb.GenerateResponse:
    return pb.GenerateResponse(request_id="r", chunk=pb.GenerateStreamChunk(token_ids=list(tokens)))


def complete(reason: str = "stop") -> pb.GenerateResponse:
    return pb.GenerateResponse(request_id="r", complete=pb.GenerateComplete(finish_reason=reason))


def request(rid: str = "r") -> pb.GenerateRequest:
    return pb.GenerateRequest(request_id=rid, tokenized=pb.TokenizedInput(input_ids=[1, 2, 3]), stream=True)


def _pieces(data: bytes, n: int) -> list[bytes]:
    """`data` cut into exactly `n` pieces of near-equal size (some empty if it is short)."""
    bounds = [len(data) * i // n for i in range(n + 1)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _header_block_of(wire: bytes) -> bytes:
    """The header block inside the HEADERS (+ CONTINUATION) frames h2 just wrote."""
    block, pos = b"", 0
    while pos < len(wire):
        head, length = Frame.parse_frame_header(memoryview(wire[pos:pos + 9]))
        head.parse_body(memoryview(wire[pos + 9:pos + 9 + length]))
        assert isinstance(head, HeadersFrame | ContinuationFrame), head
        block += head.data
        pos += 9 + length
    return block


def header_frames(stream_id: int, block: bytes, *, end_stream: bool = False, split: int = 1, pad: int = 0,
                  priority: bool = False) -> bytes:
    """A header block as HEADERS and `split - 1` CONTINUATION frames; the HEADERS frame
    padded by `pad` bytes and carrying a PRIORITY section when asked."""
    parts = _pieces(block, split)
    flags = END_STREAM if end_stream else 0
    first = parts[0]
    if priority:  # not exclusive, depends on stream 0, weight 16 (sent as 15)
        first, flags = struct.pack(">IB", 0, 15) + first, flags | PRIORITY_FLAG
    if pad:
        first, flags = bytes((pad,)) + first + bytes(pad), flags | PADDED
    out = [frame(HEADERS, flags | (END_HEADERS if split == 1 else 0), stream_id, first)]
    for i, part in enumerate(parts[1:], start=2):
        out.append(frame(CONTINUATION, END_HEADERS if i == split else 0, stream_id, part))
    return b"".join(out)


# ---- the server -----------------------------------------------------------------------------


class StreamGone(Exception):
    """The client reset the stream or ended the connection: the handler's script stops."""


@dataclass(frozen=True, slots=True)
class Seen:
    """One h2 event the client caused, on the peer's `connection`-th connection (from 0)."""

    connection: int
    event: h2.events.Event


@dataclass(frozen=True, slots=True)
class PeerFailed(h2.events.Event):
    """h2 itself refused what the client sent (it answered with its own GOAWAY)."""

    error: str


class PeerStream:
    """One request stream; a handler answers it with the `send_*` coroutines."""

    def __init__(self, connection: PeerConnection, stream_id: int, headers: Iterable[tuple[str, str]]) -> None:
        self.connection = connection
        self.id = stream_id
        self.headers = dict(headers)
        self.body = bytearray()  # the request's DATA: gRPC-framed

    def request(self) -> pb.GenerateRequest:
        flag, size = struct.unpack_from(">BI", self.body)
        assert flag == 0 and len(self.body) == 5 + size, "one uncompressed request message"
        return pb.GenerateRequest.FromString(bytes(self.body[5:]))

    async def send_headers(self, status: int = 200, content_type: str | None = "application/grpc",
                           extra: Iterable[tuple[str, str]] = (), *, end_stream: bool = False,
                           split: int = 1, pad: int = 0, priority: bool = False) -> None:
        """Response headers; `split` > 1 cuts the block into HEADERS + CONTINUATION frames."""
        fields = [(":status", str(status))]
        if content_type is not None:
            fields.append(("content-type", content_type))
        self.connection.send_header_block(self.id, [*fields, *extra], end_stream=end_stream,
                                          split=split, pad=pad, priority=priority)

    async def send_message(self, message: bytes | Message, *, compressed: bool = False, frames: int = 1,
                           pad: int = 0, end_stream: bool = False) -> None:
        """One gRPC message, spread over `frames` DATA frames."""
        await self.send_data(grpc_frame(message, compressed=compressed), frames=frames, pad=pad,
                             end_stream=end_stream)

    async def send_messages(self, messages: Iterable[bytes | Message]) -> None:
        """Several gRPC messages packed into one DATA frame."""
        await self.send_data(b"".join(grpc_frame(m) for m in messages))

    async def send_data(self, data: bytes, *, frames: int = 1, pad: int = 0, end_stream: bool = False) -> None:
        for i, part in enumerate(_pieces(data, frames), start=1):
            await self.connection.send_data(self.id, part, pad=pad, end_stream=end_stream and i == frames)

    async def send_trailers(self, grpc_status: int = 0, grpc_message: str = "",
                            extra: Iterable[tuple[str, str]] = (), *, split: int = 1, pad: int = 0) -> None:
        """`grpc_message` goes out as given: percent-encode it in the test if it needs it."""
        fields = [("grpc-status", str(grpc_status))]
        if grpc_message:
            fields.append(("grpc-message", grpc_message))
        self.connection.send_header_block(self.id, [*fields, *extra], end_stream=True, split=split, pad=pad)

    async def trailers_only(self, grpc_status: int, grpc_message: str = "", *, split: int = 1) -> None:
        """The whole answer in one header block: :status 200, content-type and the status."""
        extra = [("grpc-status", str(grpc_status))] + ([("grpc-message", grpc_message)] if grpc_message else [])
        await self.send_headers(extra=extra, end_stream=True, split=split)

    async def reset(self, error_code: int) -> None:
        self.connection.guarded(lambda: self.connection.h2.reset_stream(self.id, error_code), self.id)
        self.connection.flush()


class PeerConnection(asyncio.Protocol):
    """The server end of one accepted connection."""

    def __init__(self, peer: ScriptedPeer, index: int) -> None:
        self.peer = peer
        self.index = index
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=config)
        if peer.max_concurrent_streams is not None:
            self.h2.local_settings = h2.settings.Settings(client=False, initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: peer.max_concurrent_streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536})
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, PeerStream] = {}
        self.stalled = False
        self.terminated = False  # the client sent GOAWAY
        self.goaway_last: int | None = None  # our own GOAWAY's last stream id
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reset: set[int] = set()
        self._window = asyncio.Event()  # set whenever the client's windows may have opened
        self._acks: dict[bytes, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.h2.initiate_connection()
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._window.set()
        self.peer.changed()

    def data_received(self, data: bytes) -> None:
        if self.stalled:
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as err:
            self.peer.record(self.index, PeerFailed(repr(err)))
            self.flush()
            self.close()
            return
        for event in events:
            self.peer.record(self.index, event)
            self._on_event(event)
        self.flush()

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self.streams[event.stream_id] = PeerStream(self, event.stream_id, event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.streams[event.stream_id].body += event.data
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self._on_request(self.streams[event.stream_id])
        elif isinstance(event, h2.events.StreamReset):
            self._reset.add(event.stream_id)
            self._window.set()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window.set()
        elif isinstance(event, h2.events.PingAckReceived):
            if (ack := self._acks.pop(event.ping_data, None)) is not None and not ack.done():
                ack.set_result(None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = True
            self._window.set()

    def _on_request(self, stream: PeerStream) -> None:
        # A real server never processes a stream above its GOAWAY's last stream id.
        if self.goaway_last is not None and stream.id > self.goaway_last:
            return
        self.peer.requests.append(stream)
        self.peer.changed()
        task = asyncio.get_running_loop().create_task(self._run(stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, stream: PeerStream) -> None:
        try:
            await self.peer.handler(stream)
        except StreamGone:
            pass
        except Exception as err:  # a broken script: stop() reports it
            self.peer.errors.append(err)

    # -- writing

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.raw(data)

    def raw(self, data: bytes) -> None:
        """Write bytes to the socket as they are, past h2 (which never learns of them)."""
        if not self.stalled and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def guarded(self, action: Callable[[], T], stream_id: int) -> T:
        """Run an h2 send; if the client has reset the stream or ended the connection
        meanwhile, stop the handler's script quietly instead."""
        if stream_id in self._reset or self.terminated or self.lost.done():
            raise StreamGone
        try:
            return action()
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            if stream_id in self._reset or self.terminated or self.lost.done():
                raise StreamGone from None
            raise

    def send_header_block(self, stream_id: int, fields: list[tuple[str, str]], *, end_stream: bool,
                          split: int = 1, pad: int = 0, priority: bool = False) -> None:
        self.flush()  # so that what h2 writes next is this header block alone
        self.guarded(lambda: self.h2.send_headers(stream_id, fields, end_stream=end_stream), stream_id)
        if split == 1 and not pad and not priority:
            self.flush()
            return
        # h2 encoded the block (its HPACK table is the one the client mirrors); frame it our way.
        block = _header_block_of(self.h2.data_to_send())
        self.raw(header_frames(stream_id, block, end_stream=end_stream, split=split, pad=pad, priority=priority))

    async def send_data(self, stream_id: int, data: bytes, *, pad: int = 0, end_stream: bool = False) -> None:
        """DATA within the client's flow-control windows, in one frame when they allow."""
        view = memoryview(data)
        while True:
            room = self.guarded(lambda: min(self.h2.local_flow_control_window(stream_id),
                                            self.h2.max_outbound_frame_size), stream_id) - (pad + 1 if pad else 0)
            if view and room <= 0:
                self._window.clear()
                await asyncio.wait_for(self._window.wait(), WAIT * 2)
                continue
            n = min(room, len(view))
            last = n == len(view)
            self.guarded(partial(self.h2.send_data, stream_id, bytes(view[:n]), end_stream=end_stream and last,
                                 pad_length=pad or None), stream_id)
            self.flush()
            view = view[n:]
            if last:
                return

    def goaway(self, last_stream_id: int, error_code: int = ErrorCodes.NO_ERROR, debug: bytes = b"") -> None:
        """GOAWAY, written raw so that h2 still lets the peer finish streams up to the last."""
        self.goaway_last = last_stream_id
        self.raw(frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, error_code) + debug))

    def ping(self, data: bytes | None = None) -> bytes:
        data = data if data is not None else next(self.peer.ping_ids)
        self._acks[data] = asyncio.get_running_loop().create_future()
        self.h2.ping(data)
        self.flush()
        return data

    async def sync(self) -> None:
        """Wait until the client has read everything sent before: a PING's ACK comes back
        after it (frames are read in order), or the connection ends."""
        ack = self._acks[self.ping()]
        await asyncio.wait_for(asyncio.wait([ack, self.lost], return_when=asyncio.FIRST_COMPLETED), WAIT)

    def send_settings(self, values: dict[int, int]) -> None:
        self.h2.update_settings(values)
        self.flush()

    def stall(self) -> None:
        """Go silent with the socket open: nothing read, nothing written, no PING ACKs."""
        self.stalled = True
        if self.transport is not None:
            self.transport.pause_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.transport is not None:
            self.transport.abort()


class ScriptedPeer:
    """The server: accepts connections on 127.0.0.1, runs `handler` per request stream
    and records every event the client causes (`events`)."""

    def __init__(self, handler: Handler | None = None, *, max_concurrent_streams: int | None = None) -> None:
        self.handler: Handler = handler or answer
        self.max_concurrent_streams = max_concurrent_streams
        self.accepted: list[PeerConnection] = []
        self.events: list[Seen] = []
        self.requests: list[PeerStream] = []  # complete requests handed to the handler, in order
        self.errors: list[Exception] = []  # raised by handlers
        self.ping_ids = (b"peer%04d" % i for i in itertools.count())
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return len(self.accepted)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in self.accepted:
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()

    def _accept(self) -> PeerConnection:
        conn = PeerConnection(self, len(self.accepted))
        self.accepted.append(conn)
        self.changed()
        return conn

    # -- what the client did

    def record(self, connection: int, event: h2.events.Event) -> None:
        self.events.append(Seen(connection, event))
        self.changed()

    def changed(self) -> None:
        self._changed.set()

    def seen(self, kind: type[E], connection: int | None = None) -> list[E]:
        return [s.event for s in self.events
                if isinstance(s.event, kind) and (connection is None or s.connection == connection)]

    def resets(self, connection: int | None = None) -> list[h2.events.StreamReset]:
        return self.seen(h2.events.StreamReset, connection)

    def goaways(self, connection: int | None = None) -> list[h2.events.ConnectionTerminated]:
        return self.seen(h2.events.ConnectionTerminated, connection)

    def pings(self, connection: int | None = None) -> list[h2.events.PingReceived]:
        """PINGs the client sent (h2 ACKs them by itself)."""
        return self.seen(h2.events.PingReceived, connection)

    def ping_acks(self, connection: int | None = None) -> list[bytes]:
        """The 8 bytes of each ACK the client sent to the peer's own PINGs."""
        return [e.ping_data for e in self.seen(h2.events.PingAckReceived, connection)]

    async def wait_until(self, check: Callable[[], T], what: str, timeout: float = WAIT) -> T:
        """Wait until `check()` is truthy (re-checked after each event) and return it."""
        async def poll() -> T:
            while not (result := check()):
                self._changed.clear()
                await self._changed.wait()
            return result
        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"the peer waited {timeout} s for {what}") from None

    async def wait_requests(self, n: int) -> list[PeerStream]:
        return await self.wait_until(lambda: self.requests[:n] if len(self.requests) >= n else None,
                                     f"{n} requests")


async def answer(stream: PeerStream, tokens: Iterable[int] = (7, 8, 9)) -> None:
    """The normal answer: headers, one chunk, the completion, trailers with status 0."""
    await stream.send_headers()
    await stream.send_message(chunk(*tokens))
    await stream.send_message(complete())
    await stream.send_trailers()


# ---- driving a client against the peer ------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """How one call ended: the tokens it streamed and its gRPC status."""

    code: grpc.StatusCode
    details: str = ""
    tokens: list[int] = field(default_factory=list)
    finish_reason: str = ""

    @property
    def ok(self) -> bool:
        return self.code is grpc.StatusCode.OK


@asynccontextmanager
async def serve(handler: Handler | None = None, **kwargs: Any) -> AsyncIterator[ScriptedPeer]:
    """A started peer, stopped on the way out. A handler that raised fails the test, and so
    does anything the client sent that h2 refused as a protocol violation."""
    peer = ScriptedPeer(handler, **kwargs)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()
    assert not peer.errors, f"the peer's script failed: {peer.errors!r}"
    assert not peer.seen(PeerFailed), f"h2 refused what the client sent: {peer.seen(PeerFailed)!r}"


@asynccontextmanager
async def open_client(peer: ScriptedPeer, transport: str, **link: Any) -> AsyncIterator[GrpcWorkerClient]:
    client = GrpcWorkerClient(peer.url, transport=transport, link=LinkSettings(transport=transport, **link))
    try:
        yield client
    finally:
        await asyncio.wait_for(client.close(), WAIT)


async def _collect(client: GrpcWorkerClient, req: pb.GenerateRequest, timeout: float) -> Outcome:
    out = Outcome(grpc.StatusCode.OK)
    stream = client.generate(req, timeout=timeout)
    try:
        while (resp := await stream.read()) is not None:
            if resp.HasField("chunk"):
                out.tokens += resp.chunk.token_ids
            elif resp.HasField("complete"):
                out.finish_reason = resp.complete.finish_reason
    except WorkerError as err:
        out.code, out.details = err.grpc_code, str(err)  # type: ignore[attr-defined]
    return out


async def run_call(client: GrpcWorkerClient, rid: str = "r", *, timeout: float = 5.0) -> Outcome:
    """One Generate call read to its end; bounded, so a hung client fails the test."""
    return await asyncio.wait_for(_collect(client, request(rid), timeout), timeout + WAIT)


def start_call(client: GrpcWorkerClient, rid: str = "r", *, timeout: float = 5.0) -> asyncio.Task[Outcome]:
    """`run_call` in a task, for calls that must be in flight together."""
    return asyncio.get_running_loop().create_task(run_call(client, rid, timeout=timeout))


@contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """What reached the event loop's exception handler meanwhile (an exception raised out of
    a protocol's data_received lands there)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)
