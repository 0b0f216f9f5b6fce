"""HTTP/2 frames (RFC 9113) as a gRPC client needs them: numbers, and encoders for what we send.

Only the client side of the protocol: we never receive PUSH_PROMISE (push is disabled in
our SETTINGS) and never send PRIORITY. Request headers are HPACK-encoded as literals
without indexing, so our side keeps no dynamic table and a header block never depends on
what was sent before it.
"""

from __future__ import annotations

import struct

__all__ = [
    "ACK", "CONTINUATION", "DATA", "END_HEADERS", "END_STREAM", "GOAWAY", "HEAD", "HEADERS",
    "PADDED", "PING", "PREFACE", "PRIORITY_FLAG", "RST_STREAM", "SETTINGS", "WINDOW_UPDATE",
    "MAX_WINDOW", "PUSH_PROMISE", "ErrorCode", "Setting", "frame", "goaway", "header_block", "ping", "rst_stream",
    "settings", "window_update",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)

END_STREAM = 0x1  # DATA, HEADERS
ACK = 0x1  # SETTINGS, PING
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

MAX_WINDOW = 2**31 - 1  # the largest flow-control window (RFC 9113 §6.9.1)

# 24-bit length split as 16 + 8 bits, type, flags, stream id (its top bit is reserved).
HEAD = struct.Struct(">HBBBI")


class Setting:
    HEADER_TABLE_SIZE = 0x1
    ENABLE_PUSH = 0x2
    MAX_CONCURRENT_STREAMS = 0x3
    INITIAL_WINDOW_SIZE = 0x4
    MAX_FRAME_SIZE = 0x5
    MAX_HEADER_LIST_SIZE = 0x6


class ErrorCode:
    """RFC 9113 §7."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD

    NAMES = {0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR", 0x3: "FLOW_CONTROL_ERROR",
             0x4: "SETTINGS_TIMEOUT", 0x5: "STREAM_CLOSED", 0x6: "FRAME_SIZE_ERROR", 0x7: "REFUSED_STREAM",
             0x8: "CANCEL", 0x9: "COMPRESSION_ERROR", 0xA: "CONNECT_ERROR", 0xB: "ENHANCE_YOUR_CALM",
             0xC: "INADEQUATE_SECURITY", 0xD: "HTTP_1_1_REQUIRED"}

    @classmethod
    def name(cls, code: int) -> str:
        return cls.NAMES.get(code, f"0x{code:x}")


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return HEAD.pack(n >> 8, n & 0xFF, kind, flags, stream_id) + payload


def settings(values: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in values.items()))


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def rst_stream(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def goaway(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)


def ping(opaque: bytes, *, ack: bool = False) -> bytes:
    return frame(PING, ACK if ack else 0, 0, opaque)


def _integer(value: int, prefix_bits: int) -> bytes:
    """HPACK integer (RFC 7541 §5.1) with the first byte's flag bits left at zero."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((value,))
    out = bytearray((limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode("latin-1")  # header values are ASCII by gRPC's rules
    return _integer(len(raw), 7) + raw


def header_block(headers: list[tuple[str, str]]) -> bytes:
    """Every field as 'literal without indexing, new name' (RFC 7541 §6.2.2)."""
    return b"".join(b"\x00" + _string(name) + _string(value) for name, value in headers)
