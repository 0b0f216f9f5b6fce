"""Malformed frames from the scripted peer (`peer.py`), written as raw bytes: each is a
connection error with the RFC 9113 code named here, or (where the RFC says so) an error
of one stream only (issue 22).

A connection error must: send GOAWAY with that code; fail every call in flight as
UNAVAILABLE; raise nothing out of the client (asyncio's exception handler stays quiet);
and leave the client able to open a new connection for the next call. h2 only: these are
our client's obligations, and grpcio's handling differs case by case.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest

from tests.transport.peer import (
    ACK,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PADDED,
    PING,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    ErrorCodes,
    PeerStream,
    answer,
    chunk,
    frame,
    grpc_frame,
    loop_errors,
    open_client,
    run_call,
    serve,
    start_call,
)

Code = grpc.StatusCode
DEADLINE = 2.0  # a client that misses the error waits this long, then the test fails

STATUS_200 = b"\x88"  # HPACK: static table entry 8, ":status: 200"
MAX_WINDOW = 2**31 - 1


def setting(key: int, value: int) -> bytes:
    return struct.pack(">HI", key, value)


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


@dataclass(frozen=True, slots=True)
class Bad:
    """Raw bytes to send while a call's stream (`sid`) is open, and the error they are."""

    wire: Callable[[int], bytes]
    error: ErrorCodes


FRAME_SIZE, PROTOCOL, FLOW_CONTROL = ErrorCodes.FRAME_SIZE_ERROR, ErrorCodes.PROTOCOL_ERROR, \
    ErrorCodes.FLOW_CONTROL_ERROR

CONNECTION_ERRORS = {
    # 12. SETTINGS
    "SETTINGS length not a multiple of 6": Bad(lambda sid: frame(SETTINGS, 0, 0, setting(3, 100) + b"\x00"),
                                               FRAME_SIZE),
    "SETTINGS on a stream": Bad(lambda sid: frame(SETTINGS, 0, sid, setting(3, 100)), PROTOCOL),
    "SETTINGS ACK with a payload": Bad(lambda sid: frame(SETTINGS, ACK, 0, setting(3, 100)), FRAME_SIZE),
    "INITIAL_WINDOW_SIZE 2^31": Bad(lambda sid: frame(SETTINGS, 0, 0, setting(4, 2**31)), FLOW_CONTROL),
    "MAX_FRAME_SIZE 16383": Bad(lambda sid: frame(SETTINGS, 0, 0, setting(5, 16383)), PROTOCOL),
    "MAX_FRAME_SIZE 2^24": Bad(lambda sid: frame(SETTINGS, 0, 0, setting(5, 2**24)), PROTOCOL),
    "ENABLE_PUSH 1 from a server": Bad(lambda sid: frame(SETTINGS, 0, 0, setting(2, 1)), PROTOCOL),
    # 13. WINDOW_UPDATE on the connection
    "WINDOW_UPDATE of 3 bytes": Bad(lambda sid: frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"), FRAME_SIZE),
    "WINDOW_UPDATE of 5 bytes on a stream": Bad(lambda sid: frame(WINDOW_UPDATE, 0, sid, u32(1) + b"\x00"),
                                                FRAME_SIZE),
    "WINDOW_UPDATE 0 on stream 0": Bad(lambda sid: frame(WINDOW_UPDATE, 0, 0, u32(0)), PROTOCOL),
    "connection window past 2^31-1": Bad(lambda sid: frame(WINDOW_UPDATE, 0, 0, u32(MAX_WINDOW)), FLOW_CONTROL),
    # 14. RST_STREAM, GOAWAY, PING
    "RST_STREAM of 3 bytes": Bad(lambda sid: frame(RST_STREAM, 0, sid, b"\x00\x00\x08"), FRAME_SIZE),
    "RST_STREAM on stream 0": Bad(lambda sid: frame(RST_STREAM, 0, 0, u32(ErrorCodes.CANCEL)), PROTOCOL),
    "GOAWAY of 7 bytes": Bad(lambda sid: frame(GOAWAY, 0, 0, u32(sid) + b"\x00\x00\x00"), FRAME_SIZE),
    "GOAWAY on a stream": Bad(lambda sid: frame(GOAWAY, 0, sid, u32(sid) + u32(0)), PROTOCOL),
    "PING of 7 bytes": Bad(lambda sid: frame(PING, 0, 0, b"1234567"), FRAME_SIZE),
    "PING on a stream": Bad(lambda sid: frame(PING, 0, sid, b"12345678"), PROTOCOL),
    # 15. DATA and header blocks
    "DATA on stream 0": Bad(lambda sid: frame(DATA, 0, 0, grpc_frame(chunk(1))), PROTOCOL),
    "HEADERS on stream 0": Bad(lambda sid: frame(HEADERS, END_HEADERS, 0, STATUS_200), PROTOCOL),
    "DATA pad length = payload length": Bad(lambda sid: frame(DATA, PADDED, sid, b"\x04abc"), PROTOCOL),
    "DATA pad length > payload length": Bad(lambda sid: frame(DATA, PADDED, sid, b"\xffabc"), PROTOCOL),
    "HEADERS pad length = payload length": Bad(
        lambda sid: frame(HEADERS, PADDED | END_HEADERS | END_STREAM, sid, b"\x03\x88\x00"), PROTOCOL),
    "PUSH_PROMISE (push is disabled)": Bad(
        lambda sid: frame(PUSH_PROMISE, END_HEADERS, sid, u32(2) + b"\x82\x86\x84"), PROTOCOL),
    "CONTINUATION without HEADERS": Bad(lambda sid: frame(CONTINUATION, END_HEADERS, sid, STATUS_200), PROTOCOL),
    "a PING inside a header block": Bad(
        lambda sid: frame(HEADERS, END_STREAM, sid, b"\x40") + frame(PING, 0, 0, b"12345678"), PROTOCOL),
    "CONTINUATION of another stream": Bad(
        lambda sid: frame(HEADERS, END_STREAM, sid, b"\x40") + frame(CONTINUATION, END_HEADERS, sid + 2, b"\x88"),
        PROTOCOL),
    "HPACK index past the table": Bad(
        lambda sid: frame(HEADERS, END_HEADERS | END_STREAM, sid, b"\xff\xff\x7f"), ErrorCodes.COMPRESSION_ERROR),
    "HPACK literal cut short": Bad(
        lambda sid: frame(HEADERS, END_HEADERS | END_STREAM, sid, b"\x40\x0agrpc"), ErrorCodes.COMPRESSION_ERROR),
    "HEADERS on an even stream": Bad(lambda sid: frame(HEADERS, END_HEADERS, 2, STATUS_200), PROTOCOL),
    "HEADERS on an odd stream never opened": Bad(
        lambda sid: frame(HEADERS, END_HEADERS, sid + 100, STATUS_200), PROTOCOL),
    # 16. frame size: the client's SETTINGS_MAX_FRAME_SIZE stays 16384
    "DATA of 16385 bytes": Bad(lambda sid: frame(DATA, 0, sid, grpc_frame(bytes(16380))), FRAME_SIZE),
    "a 2^24-1 byte frame announced, nothing after": Bad(lambda sid: frame(DATA, 0, sid, b"", length=2**24 - 1),
                                                        FRAME_SIZE),
}


@pytest.mark.parametrize("case", CONNECTION_ERRORS.values(), ids=CONNECTION_ERRORS.keys())
async def test_a_malformed_frame_is_a_connection_error_with_its_code(case: Bad) -> None:
    async def handler(stream: PeerStream) -> None:
        if stream.connection.index > 0:
            await answer(stream)
            return
        first, _ = await stream.connection.peer.wait_requests(2)  # two calls in flight
        await stream.send_headers()
        await stream.send_message(chunk(1))
        if stream is first:
            stream.connection.raw(case.wire(stream.id))
        # ... and nothing more on this connection: the client must end it.

    with loop_errors() as raised:
        async with serve(handler) as peer, open_client(peer, "h2") as client:
            in_flight = [start_call(client, "a", timeout=DEADLINE), start_call(client, "b", timeout=DEADLINE)]
            for out in [await call for call in in_flight]:
                assert out.code is Code.UNAVAILABLE, out
                assert "HTTP/2 protocol error" in out.details or case.error.name in out.details, out
            goaway = (await peer.wait_until(lambda: peer.goaways(0), "the client's GOAWAY"))[0]
            assert goaway.error_code == case.error, goaway
            assert goaway.last_stream_id == 0, goaway  # the worker opened no stream we took
            after = await run_call(client, "after", timeout=DEADLINE)
    assert after.ok, after
    assert peer.connections == 2
    assert raised == []


STREAM_ERRORS = {
    "WINDOW_UPDATE 0 on the stream": Bad(lambda sid: frame(WINDOW_UPDATE, 0, sid, u32(0)), PROTOCOL),
    "stream window past 2^31-1": Bad(lambda sid: frame(WINDOW_UPDATE, 0, sid, u32(MAX_WINDOW)), FLOW_CONTROL),
}


@pytest.mark.parametrize("case", STREAM_ERRORS.values(), ids=STREAM_ERRORS.keys())
async def test_a_bad_window_update_on_a_stream_resets_that_stream_only(case: Bad) -> None:
    async def handler(stream: PeerStream) -> None:
        await stream.connection.peer.wait_requests(2)  # both calls in flight
        if stream.request().request_id == "bad":
            await stream.send_headers()
            stream.connection.raw(case.wire(stream.id))
            peer = stream.connection.peer
            await peer.wait_until(lambda: [r for r in peer.resets() if r.stream_id == stream.id],
                                  "the client's RST_STREAM")
        else:
            await answer(stream)

    with loop_errors() as raised:
        async with serve(handler) as peer, open_client(peer, "h2") as client:
            bad, other = start_call(client, "bad", timeout=DEADLINE), start_call(client, "other", timeout=DEADLINE)
            bad_out, other_out = await bad, await other
            assert bad_out.code is Code.INTERNAL, bad_out
            bad_id = next(s.id for s in peer.requests if s.request().request_id == "bad")
            resets = await peer.wait_until(lambda: [r for r in peer.resets() if r.stream_id == bad_id],
                                           "the client's RST_STREAM")
    assert [r.error_code for r in resets] == [case.error]
    assert (other_out.code, other_out.tokens) == (Code.OK, [7, 8, 9]), other_out
    assert peer.goaways() == []
    assert peer.connections == 1
    assert raised == []
