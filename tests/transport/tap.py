"""`FrameTap`: a loopback TCP relay between a client under test and a real gRPC server that
records every HTTP/2 frame it passes, parsed with python-hyper's `hyperframe` and `hpack`
(independent of both clients under test). Tests use it to prove a scenario happened on the
wire: the server's GOAWAY and its code, a compressed message, a stream the server refused."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field

from hpack import Decoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
)

__all__ = ["TO_CLIENT", "TO_SERVER", "FrameTap", "Seen"]

TO_SERVER = "to_server"
TO_CLIENT = "to_client"
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_PREFIX = struct.Struct(">BI")  # gRPC message prefix: compressed flag, length


@dataclass(slots=True, frozen=True)
class Seen:
    """One frame the tap relayed (DATA payloads dropped, so big bodies do not pile up)."""

    direction: str
    connection: int
    frame: Frame


@dataclass(slots=True, frozen=True)
class Message:
    """One gRPC message the tap saw: its direction and whether its compressed flag was set."""

    direction: str
    stream_id: int
    compressed: bool


@dataclass(slots=True)
class _Parser:
    """Cuts one direction of one connection into frames, header lists and gRPC messages."""

    direction: str
    connection: int
    tap: FrameTap
    skip: int = 0
    buffer: bytearray = field(default_factory=bytearray)
    partial: dict[int, bytearray] = field(default_factory=dict)
    hpack: Decoder = field(default_factory=Decoder)
    block: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if self.skip:
            cut = min(self.skip, len(self.buffer))
            del self.buffer[:cut]
            self.skip -= cut
        pos = 0
        while len(self.buffer) - pos >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self.buffer)[pos:pos + 9])
            if len(self.buffer) - pos - 9 < length:
                break
            frame.parse_body(memoryview(bytes(self.buffer[pos + 9:pos + 9 + length])))
            pos += 9 + length
            self._record(frame)
        del self.buffer[:pos]

    def _record(self, frame: Frame) -> None:
        if isinstance(frame, DataFrame):
            self._messages(frame.stream_id, frame.data)
            frame.data = b""
        elif isinstance(frame, HeadersFrame | ContinuationFrame):
            self._header_block(frame)
        self.tap.frames.append(Seen(self.direction, self.connection, frame))

    def _header_block(self, frame: HeadersFrame | ContinuationFrame) -> None:
        self.block += frame.data
        if "END_HEADERS" in frame.flags:
            fields = [(str(k), str(v)) for k, v in self.hpack.decode(bytes(self.block), raw=False)]
            self.tap.headers.append((self.direction, frame.stream_id, fields))
            self.block.clear()

    def _messages(self, stream_id: int, data: bytes) -> None:
        buf = self.partial.setdefault(stream_id, bytearray())
        buf += data
        while len(buf) >= 5:
            compressed, size = _PREFIX.unpack_from(buf)
            if len(buf) < 5 + size:
                break
            self.tap.messages.append(Message(self.direction, stream_id, bool(compressed)))
            del buf[:5 + size]


class FrameTap:
    """A loopback TCP relay to `upstream_port` that records the HTTP/2 frames both ways."""

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.host = host
        self.port = 0
        self.frames: list[Seen] = []
        self.headers: list[tuple[str, int, list[tuple[str, str]]]] = []  # (direction, stream, fields)
        self.messages: list[Message] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Future[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"grpc://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.wait_for(asyncio.gather(*self._pipes, return_exceptions=True), 5)

    def of(self, kind: type[Frame], direction: str) -> list[Frame]:
        return [s.frame for s in self.frames if isinstance(s.frame, kind) and s.direction == direction]

    def goaways(self) -> list[GoAwayFrame]:
        return self.of(GoAwayFrame, TO_CLIENT)  # type: ignore[return-value]

    def refused(self) -> list[RstStreamFrame]:
        """RST_STREAM frames the server sent (REFUSED_STREAM or any other code)."""
        return self.of(RstStreamFrame, TO_CLIENT)  # type: ignore[return-value]

    def pings_sent(self) -> list[PingFrame]:
        """PINGs the client started (not its ACKs of the server's)."""
        return [f for f in self.of(PingFrame, TO_SERVER) if "ACK" not in f.flags]  # type: ignore[misc]

    def header_values(self, direction: str, name: str) -> list[str]:
        return [v for d, _, fields in self.headers if d == direction for k, v in fields if k == name]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers += (writer, up_writer)
        pipes = (_pipe(reader, up_writer, _Parser(TO_SERVER, number, self, skip=len(_PREFACE))),
                 _pipe(up_reader, writer, _Parser(TO_CLIENT, number, self)))
        self._pipes.update(asyncio.ensure_future(p) for p in pipes)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: _Parser) -> None:
    """Copy one direction until EOF, then close the far side so its peer sees the loss too."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(1 << 16):
            parser.feed(data)
            writer.write(data)
            await writer.drain()
    writer.close()
