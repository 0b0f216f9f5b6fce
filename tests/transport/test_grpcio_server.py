"""Both transports of `Generate` (our HTTP/2 client, "h2", and grpc.aio, "grpcio") against a
REAL grpcio server set up adversarially: one stream at a time, connections aged out under
load, a strict keepalive policy, compression it was asked for, 64 MiB messages, a worker
that dies mid-stream. A `FrameTap` between them shows each scenario really happened on the
wire (the GOAWAY and its code, the compressed flag), so a pass cannot be a test that missed.

What grpcio's own server does here (grpc core 1.85), measured with the tap:
- `max_connection_age`: a GOAWAY with last-stream-id 2^31-1 and debug "max_age", a PING,
  then a second GOAWAY naming the last stream it took; streams already open run on within
  the grace, calls not yet sent must go to a new connection.
- keepalive enforcement: a PING arriving sooner than `min_ping_interval_without_data` after
  the previous one (2 hours when the connection has no calls and the server does not
  `permit_without_calls`) is a strike; sending HEADERS, DATA or a WINDOW_UPDATE clears the
  strikes; more than `max_ping_strikes` strikes end the connection with GOAWAY
  ENHANCE_YOUR_CALM "too_many_pings", failing its open calls UNAVAILABLE "Too many pings".
  So only a call that stays quiet (a long time to first token) collects strikes.
- grpcio's client sends at most one PING per second while calls are open, whatever
  `grpc.keepalive_time_ms` says (chttp2 writing.cc, NextAllowedPingInterval; there is no
  10 s floor in grpc core, that is grpc-go and grpc-java), and on "too_many_pings" it
  doubles its keepalive time (logged, not observable from Python).
- `default_compression_algorithm`: the server compresses every message that shrinks, even
  for a client whose `grpc-accept-encoding` is only "identity" (grpc/grpc#23191), so a
  client must be able to read gzip and deflate whatever it advertised.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator

import grpc
import pytest

from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_worker import Timing
from sglang_gw.workers.client import GrpcWorkerClient
from tests.transport.tap import TO_CLIENT
from tests.transport.workers import TRANSPORTS, MiB, Outcome, Rig, call, crc_of, request, wait_until

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)

ENHANCE_YOUR_CALM = 0xB
REFUSED_STREAM = 0x7


# ---- stream limits and connection age --------------------------------------------------------


async def test_one_stream_at_a_time_still_serves_every_call_whole(rig: Rig, transport: str) -> None:
    server = await rig.worker(timing=Timing(token_delay=0.002), options=(("grpc.max_concurrent_streams", 1),))
    tap = await rig.tap(server.port)
    client = rig.client(tap.url, transport)
    outcomes = await asyncio.wait_for(asyncio.gather(*(call(client, request(f"r{i}")) for i in range(8))), 20)
    assert [(o.code, o.tokens) for o in outcomes] == [("OK", 8)] * 8
    assert [f for f in tap.refused() if f.error_code == REFUSED_STREAM] == []  # it kept to the limit


@pytest.mark.parametrize("limit", [None, 4], ids=["no-stream-limit", "stream-limit-4"])
async def test_connections_aged_out_under_load_fail_no_call(rig: Rig, transport: str, limit: int | None) -> None:
    """No retries here: a GOAWAY must move calls not yet sent to a new connection, and the
    streams already open finish within the grace."""
    options = (("grpc.max_connection_age_ms", 400), ("grpc.max_connection_age_grace_ms", 5000))
    if limit is not None:
        options += (("grpc.max_concurrent_streams", limit),)
    server = await rig.worker(tokens=20, timing=Timing(token_delay=0.01), options=options)
    tap = await rig.tap(server.port)
    client = rig.client(tap.url, transport)

    async def staggered(i: int) -> tuple[str, int, str]:
        await asyncio.sleep(i * 0.04)
        o = await call(client, request(f"r{i}", max_new=20))
        return o.code, o.tokens, o.details

    outcomes = await asyncio.wait_for(asyncio.gather(*(staggered(i) for i in range(30))), 25)
    failed = [o for o in outcomes if o[:2] != ("OK", 20)]
    if transport == "grpcio":
        # grpcio opens streams on a new connection before the worker's SETTINGS name the
        # limit, and fails a stream refused for it (never processed: the dispatcher retries
        # it) instead of starting it again as our client does. That is all it may fail.
        failed = [o for o in failed if not (o[0] == "UNAVAILABLE" and "error code 7" in o[2])]
    assert failed == []
    assert len(tap.goaways()) >= 2 and tap.connections >= 2  # the worker did age connections out


# ---- keepalive enforcement ----------------------------------------------------------------------


async def test_a_worker_that_finds_our_pings_too_frequent_is_obeyed(rig: Rig, transport: str) -> None:
    """Pings every 0.1 s on a call that stays quiet for 8 s, to a worker allowing one a
    minute: it sends GOAWAY too_many_pings (after ~0.3 s from h2, ~3 s from grpcio, which
    pings at most once a second); the quiet call fails as gRPC fails it, later calls work,
    and the h2 channel has doubled its keepalive time."""
    server = await rig.worker(timing=Timing(ttft=8.0), options=(
        ("grpc.http2.min_ping_interval_without_data_ms", 60_000), ("grpc.http2.max_ping_strikes", 1)))
    tap = await rig.tap(server.port)
    client = rig.client(tap.url, transport, keepalive_time_secs=0.1, keepalive_timeout_secs=1.0)
    quiet = asyncio.ensure_future(call(client, request("quiet")))
    try:
        assert await wait_until(tap.goaways, 6.0), "no GOAWAY: the client sent no (or too few) keepalive pings"
        goaway = tap.goaways()[0]
        assert (goaway.error_code, goaway.additional_data) == (ENHANCE_YOUR_CALM, b"too_many_pings")
        assert (await asyncio.wait_for(quiet, 5)).code == "UNAVAILABLE"
    finally:
        quiet.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await quiet
    server.worker.timing.ttft = 0.0
    for i in range(3):
        assert (await call(client, request(f"after-{i}"))).code == "OK"
    if transport == "h2":
        assert client._h2 is not None and client._h2.keepalive_time >= 0.2


async def test_idle_pings_the_worker_refuses_do_not_fail_the_next_call(rig: Rig, transport: str) -> None:
    """With `keepalive_permit_without_calls` we ping an idle connection; a worker that does
    not permit that (grpc's default) ends it with GOAWAY too_many_pings; the next call works."""
    server = await rig.worker(options=(("grpc.http2.max_ping_strikes", 1),))
    tap = await rig.tap(server.port)
    client = rig.client(tap.url, transport, keepalive_time_secs=0.1, keepalive_timeout_secs=1.0,
                        keepalive_permit_without_calls=True)
    assert (await call(client, request("first"))).code == "OK"
    assert await wait_until(tap.goaways, 6.0), "no GOAWAY: the client sent no keepalive pings while idle"
    assert tap.goaways()[0].additional_data == b"too_many_pings"
    assert (await call(client, request("next"))).code == "OK"


async def test_without_keepalive_on_idle_connections_an_idle_link_sends_no_ping(rig: Rig, transport: str) -> None:
    """A worker with grpc's default policy would end a connection pinged while idle."""
    server = await rig.worker()
    tap = await rig.tap(server.port)
    client = rig.client(tap.url, transport, keepalive_time_secs=0.1, keepalive_timeout_secs=1.0)
    assert (await call(client, request("only"))).code == "OK"
    await asyncio.sleep(0.3)  # grpcio sends one last keepalive ping just after the call ends
    sent = len(tap.pings_sent())
    await asyncio.sleep(1.2)  # > one grpcio ping interval; 12 of ours
    assert len(tap.pings_sent()) == sent
    assert tap.goaways() == []


# ---- compression ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [1, 2], ids=["deflate", "gzip"])
async def test_a_compressing_worker_is_read_right(rig: Rig, transport: str, algorithm: int) -> None:
    server = await rig.worker(tokens=256, options=(("grpc.default_compression_algorithm", algorithm),))
    tap = await rig.tap(server.port)
    client = rig.client(tap.url, transport)
    req = request("zipped", max_new=256)
    req.sampling_params.stream_interval = 32  # 32 ids a message: big enough to be worth compressing
    outcome = await asyncio.wait_for(call(client, req), 10)
    expected = server.worker.policy.reply_ids([5, 6, 7], 0, zlib.crc32(b"zipped"))
    assert (outcome.code, outcome.tokens, outcome.crc) == ("OK", 256, crc_of(expected))
    assert any(m.compressed for m in tap.messages if m.direction == TO_CLIENT)  # the worker did compress


# ---- message sizes ------------------------------------------------------------------------------

# The largest uint32 id is a 5-byte varint: 64 MiB on the wire are 13.4M ids, 54 MB parsed.
BIG_ID = 2**32 - 1
_IDS_PER_MIB = MiB // 5


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _message(head: bytes, field: int, inner: int, count: int) -> bytes:
    """`head` (a serialized message) plus a sub-message `field` holding one packed repeated
    uint32 field `inner` of `count` BIG_IDs: built in one buffer, without a Python list."""
    payload = 5 * count
    inner_head = _varint(inner << 3 | 2) + _varint(payload)
    out = bytearray(head)
    out += _varint(field << 3 | 2) + _varint(len(inner_head) + payload) + inner_head
    out += _varint(BIG_ID) * count
    return bytes(out)


def big_request(rid: str, mib: int) -> pb.GenerateRequest:
    number = pb.GenerateRequest.DESCRIPTOR.fields_by_name["tokenized"].number
    head = request(rid, ids=(), max_new=2).SerializeToString()
    return pb.GenerateRequest.FromString(_message(head, number, 2, mib * _IDS_PER_MIB))  # TokenizedInput.input_ids


def big_reply(mib: int) -> bytes:
    """A serialized GenerateResponse whose chunk holds `mib` MiB of token ids."""
    number = pb.GenerateResponse.DESCRIPTOR.fields_by_name["chunk"].number
    head = pb.GenerateResponse(request_id="big").SerializeToString()
    return _message(head, number, 1, mib * _IDS_PER_MIB)  # GenerateStreamChunk.token_ids


async def reply_server(reply: bytes) -> tuple[grpc.aio.Server, str]:
    """A grpc.aio server whose Generate answers one pre-serialized message."""

    async def generate(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        yield reply

    handler = grpc.method_handlers_generic_handler("sglang.grpc.scheduler.SglangScheduler", {
        "Generate": grpc.unary_stream_rpc_method_handler(generate)})  # bytes in, bytes out
    server = grpc.aio.server(options=[("grpc.max_send_message_length", 128 * MiB)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"grpc://127.0.0.1:{port}"


async def test_a_64_mib_request_arrives_whole(rig: Rig, transport: str) -> None:
    server = await rig.worker(options=(("grpc.max_receive_message_length", 128 * MiB),))
    client = rig.client(server.url, transport, max_message_size=128 * MiB)
    req = big_request("big", 64)
    assert req.ByteSize() > 64 * MiB - 64
    outcome = await asyncio.wait_for(call(client, req, timeout=30), 40)
    assert outcome.code == "INVALID_ARGUMENT"  # the mock's context-length check: it read it all
    seen = server.worker.records.requests
    assert len(seen) == 1 and len(seen[0].tokenized.input_ids) == 64 * _IDS_PER_MIB
    assert seen[0].tokenized.input_ids[-1] == BIG_ID
    seen.clear()


async def test_a_64_mib_reply_arrives_whole(rig: Rig, transport: str) -> None:
    server, url = await reply_server(big_reply(64))
    try:
        client = rig.client(url, transport, max_message_size=128 * MiB)
        stream = client.generate(request("big"), timeout=30)
        first = await asyncio.wait_for(stream.read(), 40)
        assert first is not None and len(first.chunk.token_ids) == 64 * _IDS_PER_MIB
        assert first.chunk.token_ids[-1] == BIG_ID
        assert await asyncio.wait_for(stream.read(), 10) is None and stream.finished
    finally:
        await server.stop(None)


async def test_a_reply_over_the_message_limit_fails_resource_exhausted(rig: Rig, transport: str) -> None:
    server, url = await reply_server(big_reply(5))
    try:
        client = rig.client(url, transport, max_message_size=4 * MiB)
        outcome = await asyncio.wait_for(call(client, request("big")), 20)
        assert (outcome.code, outcome.tokens) == ("RESOURCE_EXHAUSTED", 0)
    finally:
        await server.stop(None)


async def test_a_request_over_the_message_limit_never_reaches_the_worker(rig: Rig, transport: str) -> None:
    server = await rig.worker(options=(("grpc.max_receive_message_length", 128 * MiB),))
    client = rig.client(server.url, transport, max_message_size=4 * MiB)
    outcome = await asyncio.wait_for(call(client, big_request("big", 5)), 20)
    assert outcome.code == "RESOURCE_EXHAUSTED"
    await asyncio.sleep(0.2)  # had it been sent, the worker would have it by now
    assert server.worker.records.requests == []
    assert (await call(client, request("small"))).code == "OK"  # the link is still fine


# ---- a worker that goes away ----------------------------------------------------------------


async def test_a_worker_stopped_mid_stream_fails_its_calls_and_is_reached_once_back(rig: Rig, transport: str) -> None:
    server = await rig.worker(tokens=400, timing=Timing(token_delay=0.01))
    port = server.port
    client = rig.client(server.url, transport)
    streams = [asyncio.ensure_future(call(client, request(f"r{i}", max_new=400))) for i in range(4)]
    assert await wait_until(lambda: len(server.worker.running) == 4, 5)
    await server.stop(None)
    outcomes = await asyncio.wait_for(asyncio.gather(*streams), 10)
    assert {o.code for o in outcomes} == {"UNAVAILABLE"}
    assert all(0 < o.tokens < 400 for o in outcomes)
    assert (await call(client, request("down"), timeout=5)).code == "UNAVAILABLE"

    back = await rig.worker(port=port)
    outcome = await asyncio.wait_for(_first_ok(client, "back"), 15)  # it may still be backing off
    assert (outcome.code, outcome.tokens) == ("OK", 8)
    assert [r.request_id for r in back.worker.records.requests][-1] == "back"


async def _first_ok(client: GrpcWorkerClient, rid: str) -> Outcome:
    while (outcome := await call(client, request(rid), timeout=2)).code != "OK":
        await asyncio.sleep(0.1)
    return outcome
