"""A socket read holding many frames is handled in bounded slices, one per loop pass
(workers/h2/connection.py, `FRAMES_PER_STEP`), with reading paused until the buffer is
worked off; every frame is still handled, in order."""

from __future__ import annotations

import asyncio
import struct

from sglang_gw.workers.h2 import frames as f
from sglang_gw.workers.h2.connection import FRAMES_PER_STEP, Http2Connection
from sglang_gw.workers.link import LinkSettings
from tests.transport.peer import PeerStream, chunk, complete, open_client, run_call, serve


class _Owner:
    keepalive_time = 30.0

    def requeue(self, call: object) -> None: ...
    def on_established(self, connection: Http2Connection) -> None: ...
    def on_lost(self, connection: Http2Connection) -> None: ...
    def early_loss_reason(self) -> str:
        return "lost"

    def on_too_many_pings(self) -> None: ...


class _Transport:
    """Records what the connection writes and whether it paused reading."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.paused = False
        self.pauses = 0

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None: ...
    def abort(self) -> None: ...


def _ping_acks(transport: _Transport) -> list[int]:
    """The numbers carried by the PING ACKs written so far, in order."""
    acks = []
    for data in transport.written:
        if len(data) == 17 and data[3] == f.PING and data[4] & f.ACK:
            acks.append(struct.unpack(">Q", data[9:])[0])
    return acks


async def test_frames_of_one_read_are_handled_a_slice_per_loop_pass() -> None:
    connection = Http2Connection(_Owner(), LinkSettings())
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    count = 3 * FRAMES_PER_STEP + 5
    pings = b"".join(f.ping(struct.pack(">Q", i)) for i in range(count))
    handled_per_pass = []

    connection.data_received(pings)  # one read: every PING wants an ACK
    handled_per_pass.append(len(_ping_acks(transport)))
    assert transport.paused  # the rest of the buffer first
    while transport.paused:
        await asyncio.sleep(0)  # one pass of the loop
        handled_per_pass.append(len(_ping_acks(transport)) - sum(handled_per_pass))
    assert max(handled_per_pass) == FRAMES_PER_STEP
    assert _ping_acks(transport) == list(range(count))  # all of them, in order
    assert transport.pauses == 1
    connection.connection_lost(None)


async def test_a_frame_split_across_reads_during_slicing_is_still_handled_once() -> None:
    connection = Http2Connection(_Owner(), LinkSettings())
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    wire = b"".join(f.ping(struct.pack(">Q", i)) for i in range(FRAMES_PER_STEP + 2))
    connection.data_received(wire[:-5])  # the last PING is cut short
    connection.data_received(wire[-5:])  # arrives while slices are pending (a TLS layer may still deliver)
    while transport.paused:
        await asyncio.sleep(0)
    assert _ping_acks(transport) == list(range(FRAMES_PER_STEP + 2))
    connection.connection_lost(None)


async def test_a_connection_lost_between_slices_leaves_the_rest_unhandled() -> None:
    connection = Http2Connection(_Owner(), LinkSettings())
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    connection.data_received(b"".join(f.ping(struct.pack(">Q", i)) for i in range(2 * FRAMES_PER_STEP)))
    connection.connection_lost(None)
    for _ in range(3):
        await asyncio.sleep(0)  # the pending slice finds the connection gone and does nothing
    assert len(_ping_acks(transport)) == FRAMES_PER_STEP


async def test_a_connection_error_in_a_later_slice_ends_the_connection_there() -> None:
    connection = Http2Connection(_Owner(), LinkSettings())
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    good = [f.ping(struct.pack(">Q", i)) for i in range(2 * FRAMES_PER_STEP)]
    bad = f.frame(f.PING, 0, 1, bytes(8))  # a PING on a stream: a connection error
    connection.data_received(b"".join(good[:FRAMES_PER_STEP + 3] + [bad] + good[FRAMES_PER_STEP + 3:]))
    for _ in range(4):
        await asyncio.sleep(0)
    assert _ping_acks(transport) == list(range(FRAMES_PER_STEP + 3))  # none after the bad frame
    assert any(data[3] == f.GOAWAY for data in transport.written)
    assert not connection.usable


async def test_many_token_frames_at_once_reach_the_call_whole_and_in_order() -> None:
    tokens = list(range(1, 4 * FRAMES_PER_STEP))

    async def handler(stream: PeerStream) -> None:
        await stream.send_headers()
        for token in tokens:  # a DATA frame each, written without a pause: few reads on our side
            await stream.send_message(chunk(token))
        await stream.send_message(complete())
        await stream.send_trailers()

    async with serve(handler) as peer, open_client(peer, "h2") as client:
        out = await run_call(client)
    assert out.ok and out.tokens == tokens, out.details
