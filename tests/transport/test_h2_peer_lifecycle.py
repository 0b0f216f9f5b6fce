"""A connection's life against the scripted peer (`peer.py`): GOAWAY moves the calls the
worker did not take to a new connection, and keepalive PINGs find a worker that went
silent (issue 22).

The peer never processes a stream above its own GOAWAY's last stream id, as a real server
would not: a client that sent one there would wait for an answer that never comes.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.transport.peer import ErrorCodes, PeerStream, answer, chunk, open_client, run_call, serve, start_call

Code = grpc.StatusCode
both = pytest.mark.parametrize("transport", ["h2", "grpcio"])

# Short enough that PINGs come within the test's bounds. h2 only: grpcio will not send
# keepalive PINGs more often than every 10 s, whatever it is told.
KEEPALIVE = {"keepalive_time_secs": 0.2, "keepalive_timeout_secs": 0.3}


def served_on(peer_requests: list[PeerStream]) -> dict[str, int]:
    """Which connection (0, 1, ...) each request id was last received on."""
    return {s.request().request_id: s.connection.index for s in peer_requests}


# ---- 10. GOAWAY ---------------------------------------------------------------------------


@both
async def test_a_call_above_goaways_last_stream_moves_to_a_new_connection(transport) -> None:
    """(a) Two calls on the wire; GOAWAY names the first one's stream as the last, the
    first is answered, the second never is on that connection."""
    async def handler(stream: PeerStream) -> None:
        if stream.connection.index == 0:
            first, _ = await stream.connection.peer.wait_requests(2)
            if stream is first:
                stream.connection.goaway(first.id, ErrorCodes.NO_ERROR)
                await answer(stream)
        else:
            await answer(stream)

    async with serve(handler) as peer, open_client(peer, transport) as client:
        outs = await asyncio.gather(start_call(client, "a"), start_call(client, "b"))
    assert [o.code for o in outs] == [Code.OK, Code.OK], outs
    assert peer.connections == 2
    first = peer.requests[0].request().request_id
    assert served_on(peer.requests) == {first: 0, ({"a", "b"} - {first}).pop(): 1}


@both
async def test_calls_queued_behind_the_stream_limit_move_to_a_new_connection(transport) -> None:
    """(b) MAX_CONCURRENT_STREAMS 1: the second and third calls wait in the client when
    GOAWAY arrives. They were never sent, so they are not failures."""
    async def handler(stream: PeerStream) -> None:
        if stream.connection.index == 0:
            stream.connection.goaway(stream.id, ErrorCodes.NO_ERROR)
        await answer(stream)

    async with serve(handler, max_concurrent_streams=1) as peer, open_client(peer, transport) as client:
        outs = await asyncio.gather(*(start_call(client, rid) for rid in ("a", "b", "c")))
    assert [o.code for o in outs] == [Code.OK] * 3, outs
    assert peer.connections == 2
    assert [s.connection.index for s in peer.requests] == [0, 1, 1]


@both
async def test_a_call_queued_through_many_goaways_is_not_failed(transport) -> None:
    """(b') Each connection takes one stream and says GOAWAY at once: the last call waits in
    the client through four of them. Never sent, it is never failed for being moved."""
    async def handler(stream: PeerStream) -> None:
        stream.connection.goaway(stream.id, ErrorCodes.NO_ERROR)
        await answer(stream)

    async with serve(handler, max_concurrent_streams=1) as peer, open_client(peer, transport) as client:
        outs = await asyncio.gather(*(start_call(client, rid) for rid in "abcde"))
    assert [o.code for o in outs] == [Code.OK] * 5, outs
    assert [s.connection.index for s in peer.requests] == [0, 1, 2, 3, 4]


@both
async def test_after_a_goaway_on_an_idle_connection_the_next_call_opens_a_new_one(transport) -> None:
    """(c) GOAWAY with no stream in flight."""
    async with serve() as peer, open_client(peer, transport) as client:
        assert (await run_call(client, "a")).ok
        conn = peer.accepted[0]
        conn.goaway(1, ErrorCodes.NO_ERROR)
        await conn.sync()  # the client has read the GOAWAY
        after = await run_call(client, "b")
    assert after.ok, after
    assert peer.connections == 2
    assert served_on(peer.requests) == {"a": 0, "b": 1}


@both
async def test_goaway_too_many_pings_doubles_the_keepalive_time(transport) -> None:
    """(d) ENHANCE_YOUR_CALM with debug data "too_many_pings": the worker's keepalive
    policy says we ping too often. Calls go on; our client pings half as often (gRPC's
    clients do the same). grpcio does not show its interval, so only h2's is checked."""
    async with serve() as peer, open_client(peer, transport, keepalive_time_secs=5.0) as client:
        assert (await run_call(client, "a")).ok
        conn = peer.accepted[0]
        conn.goaway(1, ErrorCodes.ENHANCE_YOUR_CALM, b"too_many_pings")
        await conn.sync()
        after = await run_call(client, "b")
        if transport == "h2":
            assert client._h2.keepalive_time == 10.0
    assert after.ok, after
    assert peer.connections == 2


# ---- 11. keepalive (h2 only) ----------------------------------------------------------------


async def test_a_quiet_call_is_kept_alive_by_pings_the_worker_acks() -> None:
    """(a) The worker sends headers, then nothing until the client has pinged twice (h2
    ACKs each at once); then it answers."""
    go_on = asyncio.Event()

    async def handler(stream: PeerStream) -> None:
        await stream.send_headers()
        await go_on.wait()
        await stream.send_message(chunk(7, 8, 9))
        await stream.send_trailers()

    async with serve(handler) as peer, open_client(peer, "h2", **KEEPALIVE) as client:
        call = start_call(client, timeout=10)
        await peer.wait_until(lambda: len(peer.pings()) >= 2, "two keepalive PINGs during the call")
        go_on.set()
        out = await call
    assert (out.code, out.tokens) == (Code.OK, [7, 8, 9]), out
    assert peer.connections == 1
    assert peer.goaways() == []


async def test_a_worker_that_stalls_mid_call_is_found_by_keepalive() -> None:
    """(b) The worker goes silent with the socket open: no frames, no PING ACKs. Only the
    keepalive timeout can tell; the call's own deadline is 10 s away."""
    async def handler(stream: PeerStream) -> None:
        if stream.connection.index == 0:
            await stream.send_headers()
            await stream.send_message(chunk(1))
            stream.connection.stall()
        else:
            await answer(stream)

    async with serve(handler) as peer, open_client(peer, "h2", **KEEPALIVE) as client:
        try:
            stalled = await asyncio.wait_for(run_call(client, "stalled", timeout=10), 3)
        except TimeoutError:
            pytest.fail("keepalive did not end the stalled call within 3 s (its deadline is 10 s)")
        after = await run_call(client, "after")
    assert stalled.code is Code.UNAVAILABLE, stalled
    assert "keepalive" in stalled.details.lower(), stalled
    assert stalled.tokens == [1]
    assert after.ok, after
    assert peer.connections == 2


async def test_an_idle_connection_is_not_pinged_unless_permitted() -> None:
    """(c) With no call open there are no PINGs: over five keepalive intervals of quiet,
    none arrives."""
    async with serve() as peer, open_client(peer, "h2", **KEEPALIVE) as client:
        assert (await run_call(client)).ok
        before = len(peer.pings())
        await asyncio.sleep(5 * KEEPALIVE["keepalive_time_secs"])  # absence can only be waited for
        assert len(peer.pings()) == before


async def test_an_idle_connection_is_pinged_when_permitted() -> None:
    """(c) keepalive_permit_without_calls: PINGs keep coming with no call open."""
    async with serve() as peer, \
            open_client(peer, "h2", keepalive_permit_without_calls=True, **KEEPALIVE) as client:
        assert (await run_call(client)).ok
        before = len(peer.pings())
        await peer.wait_until(lambda: len(peer.pings()) >= before + 2, "PINGs on the idle connection")
    assert peer.connections == 1
