"""Well-formed answers from the scripted peer (`peer.py`, built on python-hyper's h2):
framing, PING, statuses, resets, compression, broken and oversized messages (issue 22).

Our client (`transport="h2"`) and grpcio (`transport="grpcio"`) run against the same
script. Where a status is mapped, `outcomes()` runs both and the test asserts they agree
*and* give the value gRPC specifies. Where grpcio gives another answer, the test is h2-only
and its docstring says what grpcio does.
"""

from __future__ import annotations

import asyncio
import struct

import grpc
import pytest

from tests.transport.peer import (
    PRIORITY,
    ErrorCodes,
    Handler,
    PeerStream,
    answer,
    chunk,
    complete,
    frame,
    open_client,
    run_call,
    serve,
    start_call,
)

Code = grpc.StatusCode
both = pytest.mark.parametrize("transport", ["h2", "grpcio"])


async def outcomes(handler: Handler, **link: object) -> dict[str, Code]:
    """The status one call ends with on each transport, against a fresh peer each."""
    codes = {}
    for transport in ("h2", "grpcio"):
        # On a loaded machine grpcio now and then fails to reach a fresh peer in time and says
        # UNAVAILABLE for a reason of its own: the reference is asked again, at most twice.
        for _ in range(3 if transport == "grpcio" else 1):
            async with serve(handler) as peer, open_client(peer, transport, **link) as client:
                codes[transport] = (await run_call(client)).code
            if codes[transport] != Code.UNAVAILABLE or codes["h2"] == Code.UNAVAILABLE:
                break
    return codes


# ---- 1. framing: CONTINUATION, padding, messages packed and spread --------------------------


async def continuation_headers(stream: PeerStream) -> None:
    await stream.send_headers(split=3)  # HEADERS + 2 CONTINUATION
    await stream.send_message(chunk(1, 2, 3))
    await stream.send_message(complete())
    await stream.send_trailers(split=4)  # HEADERS + 3 CONTINUATION, END_STREAM on the HEADERS


async def padded_headers(stream: PeerStream) -> None:
    await stream.send_headers(pad=7, priority=True)  # PADDED and PRIORITY flags on HEADERS
    await stream.send_message(chunk(1, 2, 3))
    await stream.send_message(complete())
    await stream.send_trailers(pad=200, split=2)


async def padded_data(stream: PeerStream) -> None:
    await stream.send_headers()
    await stream.send_message(chunk(1, 2), pad=9)
    await stream.send_data(b"", pad=255)  # an empty DATA frame that is all padding
    await stream.send_message(chunk(3), pad=1)
    await stream.send_message(complete(), pad=0)
    await stream.send_trailers()


async def packed_messages(stream: PeerStream) -> None:
    await stream.send_headers()
    await stream.send_messages([chunk(1), chunk(2), chunk(3), complete()])  # four messages, one DATA frame
    await stream.send_trailers()


async def spread_message(stream: PeerStream) -> None:
    await stream.send_headers()
    await stream.send_message(chunk(1, 2, 3), frames=7)  # 7 DATA frames, the prefix itself cut in two
    await stream.send_message(complete(), frames=2)
    await stream.send_trailers()


FRAMINGS = {"continuation headers": continuation_headers, "packed messages": packed_messages,
            "spread message": spread_message}
PADDINGS = {"padded headers": padded_headers, "padded data": padded_data}


@both
@pytest.mark.parametrize("framing", FRAMINGS.values(), ids=FRAMINGS.keys())
async def test_split_padded_and_packed_frames_give_the_messages_in_order(transport, framing) -> None:
    async with serve(framing) as peer, open_client(peer, transport) as client:
        out = await run_call(client)
    assert (out.code, out.tokens, out.finish_reason) == (Code.OK, [1, 2, 3], "stop"), out


@pytest.mark.parametrize("framing", PADDINGS.values(), ids=PADDINGS.keys())
async def test_padding_is_stripped(framing) -> None:
    """h2 only: grpcio 1.85 (C core) does not take padding. It fails a padded DATA frame
    with "unsupported data flags: 0x08" and a padded HEADERS frame with "Invalid HPACK
    index" or "Incomplete header", though these frames are byte for byte what
    hyperframe's DataFrame/HeadersFrame(pad_length=...) serialize."""
    async with serve(framing) as peer, open_client(peer, "h2") as client:
        out = await run_call(client)
    assert (out.code, out.tokens, out.finish_reason) == (Code.OK, [1, 2, 3], "stop"), out


@both
async def test_a_large_message_over_many_frames_arrives_whole(transport) -> None:
    tokens = list(range(100_000, 150_000))  # ~200 kB: more than grpcio's first window, many 16 kB frames

    async def handler(stream: PeerStream) -> None:
        await stream.send_headers()
        await stream.send_message(chunk(*tokens), frames=40)
        await stream.send_message(complete())
        await stream.send_trailers()

    async with serve(handler) as peer, open_client(peer, transport) as client:
        out = await run_call(client)
    assert out.ok and out.tokens == tokens, out.details


@both
async def test_unknown_frame_types_and_priority_frames_are_ignored(transport) -> None:
    async def handler(stream: PeerStream) -> None:
        await stream.send_headers()
        stream.connection.raw(frame(0xFA, 0xFF, 0, b"whatever")  # unknown type on the connection
                              + frame(0xFA, 0, stream.id, b"x" * 100)  # and on the stream
                              + frame(PRIORITY, 0, stream.id, struct.pack(">IB", 0, 200)))
        await stream.send_message(chunk(1, 2, 3))
        await stream.send_message(complete())
        await stream.send_trailers()

    async with serve(handler) as peer, open_client(peer, transport) as client:
        out = await run_call(client)
    assert (out.code, out.tokens) == (Code.OK, [1, 2, 3]), out


# ---- 2. PING ----------------------------------------------------------------------------------


@both
async def test_a_ping_from_the_worker_is_acked_with_its_eight_bytes(transport) -> None:
    data = b"\x00\xffping\x01\x80"

    async def handler(stream: PeerStream) -> None:
        stream.connection.ping(data)  # while the call is open
        await answer(stream)

    async with serve(handler) as peer, open_client(peer, transport) as client:
        out = await run_call(client)
        acks = await peer.wait_until(peer.ping_acks, "the PING's ACK")
    assert out.ok
    assert acks == [data]


# ---- 3. trailers-only --------------------------------------------------------------------------


@pytest.mark.parametrize("split", [1, 3], ids=["one HEADERS", "with CONTINUATION"])
async def test_a_trailers_only_answer_ends_the_call_with_its_status(split) -> None:
    async def handler(stream: PeerStream) -> None:
        # :status 200, content-type and grpc-status in one header block with END_STREAM.
        await stream.trailers_only(3, "bad%20thing%3A%20100%25%20%C3%BC", split=split)

    for transport in ("h2", "grpcio"):
        async with serve(handler) as peer, open_client(peer, transport) as client:
            out = await run_call(client)
        assert out.code is Code.INVALID_ARGUMENT, (transport, out)
        assert out.details.endswith("INVALID_ARGUMENT: bad thing: 100% ü"), (transport, out)  # percent-decoded


# ---- 4. non-200 and non-gRPC answers ---------------------------------------------------------


def http_answer(status: int, content_type: str, body: bytes = b"") -> Handler:
    async def handler(stream: PeerStream) -> None:
        await stream.send_headers(status=status, content_type=content_type, end_stream=not body)
        if body:
            await stream.send_data(body, end_stream=True)
    return handler


HTTP_STATUSES = [(503, "text/plain", Code.UNAVAILABLE), (429, "text/plain", Code.UNAVAILABLE),
                 (404, "text/plain", Code.UNIMPLEMENTED), (401, "text/plain", Code.UNAUTHENTICATED),
                 (500, "text/plain", Code.UNKNOWN), (200, "text/html", Code.UNKNOWN)]


@pytest.mark.parametrize(("status", "content_type", "expected"), HTTP_STATUSES)
async def test_a_non_grpc_answer_maps_as_grpc_maps_it(status, content_type, expected) -> None:
    """A header block alone with END_STREAM: grpcio maps it deterministically."""
    codes = await outcomes(http_answer(status, content_type))
    assert codes == {"h2": expected, "grpcio": expected}


@pytest.mark.parametrize(("status", "content_type", "expected"), HTTP_STATUSES)
async def test_a_non_grpc_answer_with_a_body_maps_the_same(status, content_type, expected) -> None:
    """What a proxy sends: an HTML body after the headers. h2 only: grpcio races here, and
    ends such a call either with the mapped status or UNKNOWN "Data frame with END_STREAM
    flag received" from one run to the next."""
    async with serve(http_answer(status, content_type, b"<html>upstream gone</html>")) as peer, \
            open_client(peer, "h2") as client:
        out = await run_call(client)
    assert out.code is expected, out


# ---- 5. RST_STREAM from the worker -----------------------------------------------------------


def reset_after_a_message(code: ErrorCodes) -> Handler:
    async def handler(stream: PeerStream) -> None:
        await stream.send_headers()
        await stream.send_message(chunk(1))
        await stream.reset(code)
    return handler


RESETS = [(ErrorCodes.NO_ERROR, Code.INTERNAL), (ErrorCodes.PROTOCOL_ERROR, Code.INTERNAL),
          (ErrorCodes.INTERNAL_ERROR, Code.INTERNAL), (ErrorCodes.FLOW_CONTROL_ERROR, Code.INTERNAL),
          (ErrorCodes.FRAME_SIZE_ERROR, Code.INTERNAL), (ErrorCodes.COMPRESSION_ERROR, Code.INTERNAL),
          (ErrorCodes.CANCEL, Code.CANCELLED), (ErrorCodes.ENHANCE_YOUR_CALM, Code.RESOURCE_EXHAUSTED),
          (ErrorCodes.INADEQUATE_SECURITY, Code.PERMISSION_DENIED)]


@pytest.mark.parametrize(("error", "expected"), RESETS, ids=[e.name for e, _ in RESETS])
async def test_a_reset_stream_maps_as_grpc_maps_it(error, expected) -> None:
    codes = await outcomes(reset_after_a_message(error))
    assert codes == {"h2": expected, "grpcio": expected}


async def test_a_refused_stream_is_retried_transparently() -> None:
    """REFUSED_STREAM means the worker did not process the request: the client starts it
    again. h2 only: grpcio (1.85) does not retry it and ends the call UNAVAILABLE, leaving
    the retry to the caller."""
    async def refuse_the_first(stream: PeerStream) -> None:
        if stream.connection.peer.requests[0] is stream:
            await stream.reset(ErrorCodes.REFUSED_STREAM)
        else:
            await answer(stream)

    async with serve(refuse_the_first) as peer, open_client(peer, "h2") as client:
        out = await run_call(client)
    assert (out.code, out.tokens) == (Code.OK, [7, 8, 9]), out
    assert [s.request().request_id for s in peer.requests] == ["r", "r"]
    assert peer.connections == 1


async def test_a_worker_that_always_refuses_is_unavailable() -> None:
    async def refuse(stream: PeerStream) -> None:
        await stream.reset(ErrorCodes.REFUSED_STREAM)

    codes = await outcomes(refuse)
    assert codes == {"h2": Code.UNAVAILABLE, "grpcio": Code.UNAVAILABLE}


async def test_refused_streams_are_retried_a_few_times_only() -> None:
    async def refuse(stream: PeerStream) -> None:
        await stream.reset(ErrorCodes.REFUSED_STREAM)

    async with serve(refuse) as peer, open_client(peer, "h2") as client:
        out = await run_call(client)
    assert out.code is Code.UNAVAILABLE
    assert 2 <= len(peer.requests) <= 6  # retried, but not without end


async def test_a_stream_refused_at_the_worker_limit_waits_for_the_slot() -> None:
    """MAX_CONCURRENT_STREAMS 1, kept to; the worker still counts the stream that just ended
    (as grpc-core does for a moment) and refuses the next one, again and again. Never
    processed, that call waits for the slot until the worker takes it: it is not failed.
    h2 only: grpcio ends it UNAVAILABLE (see above)."""
    async def refuse_b_four_times(stream: PeerStream) -> None:
        peer = stream.connection.peer
        if stream.request().request_id == "b" and sum(s.request().request_id == "b" for s in peer.requests) <= 4:
            await stream.reset(ErrorCodes.REFUSED_STREAM)
        else:
            await answer(stream)

    async with serve(refuse_b_four_times, max_concurrent_streams=1) as peer, open_client(peer, "h2") as client:
        outs = await asyncio.gather(start_call(client, "a"), start_call(client, "b"))
    assert [(o.code, o.tokens) for o in outs] == [(Code.OK, [7, 8, 9])] * 2, outs
    assert [s.request().request_id for s in peer.requests] == ["a"] + ["b"] * 5
    assert peer.connections == 1


# ---- 6. the compressed flag --------------------------------------------------------------------


def compressed_answer(encoding: str | None) -> Handler:
    async def handler(stream: PeerStream) -> None:
        await stream.send_headers(extra=[("grpc-encoding", encoding)] if encoding else [])
        await stream.send_message(chunk(1, 2, 3), compressed=True)  # gzip, flag 1
        await stream.send_message(complete())  # flag 0: each message says
        await stream.send_trailers()
    return handler


@both
async def test_a_gzip_message_with_grpc_encoding_gzip_is_decoded(transport) -> None:
    async with serve(compressed_answer("gzip")) as peer, open_client(peer, transport) as client:
        out = await run_call(client)
    assert (out.code, out.tokens, out.finish_reason) == (Code.OK, [1, 2, 3], "stop"), out


async def test_a_compressed_message_without_an_encoding_is_internal() -> None:
    codes = await outcomes(compressed_answer(None))
    assert codes == {"h2": Code.INTERNAL, "grpcio": Code.INTERNAL}


# ---- 7. a message that does not parse fails its call only ---------------------------------------


@both
async def test_a_message_that_does_not_parse_fails_only_its_own_call(transport) -> None:
    """grpc.aio itself swallows the parse error and hands `None` to the reader
    (grpc/grpc#34670), so on grpcio this fails unless `AioGenerateStream.read` turns that
    `None` into INTERNAL."""
    async def handler(stream: PeerStream) -> None:
        await stream.connection.peer.wait_requests(2)  # both calls in flight on one connection
        await stream.send_headers()
        if stream.request().request_id == "bad":
            await stream.send_message(b"\xff\xff\xff\xff")  # not a protobuf message
            await stream.send_message(complete())
            await stream.send_trailers()
        else:
            await stream.send_message(chunk(1, 2, 3))
            await stream.send_message(complete())
            await stream.send_trailers()

    async with serve(handler) as peer, open_client(peer, transport) as client:
        bad, good = start_call(client, "bad"), start_call(client, "good")
        bad_out, good_out = await bad, await good
    assert bad_out.code is Code.INTERNAL, bad_out
    assert (good_out.code, good_out.tokens) == (Code.OK, [1, 2, 3]), good_out
    assert peer.connections == 1


# ---- 8. the stream ends inside a message, or without trailers ---------------------------------


async def test_trailers_after_a_truncated_message_are_internal() -> None:
    """The prefix announces 100 bytes, 40 arrive, then trailers with grpc-status 0. h2 only:
    grpcio (C core) ends this call OK, dropping the partial message; grpc-java fails it
    INTERNAL ("Encountered end-of-stream mid-frame"), as specified here."""
    async def handler(stream: PeerStream) -> None:
        await stream.send_headers()
        await stream.send_message(chunk(1))
        await stream.send_data(struct.pack(">BI", 0, 100) + bytes(40))
        await stream.send_trailers(grpc_status=0)

    async with serve(handler) as peer, open_client(peer, "h2") as client:
        out = await run_call(client)
    assert out.code is Code.INTERNAL, out


async def test_data_with_end_stream_and_no_trailers_is_internal() -> None:
    """h2 only: grpcio ends this call UNKNOWN; grpc-go ("server closed the stream without
    sending trailers") and grpc-java ("Received unexpected EOS on DATA frame") say INTERNAL."""
    async def handler(stream: PeerStream) -> None:
        await stream.send_headers()
        await stream.send_message(chunk(1))
        await stream.send_message(complete(), end_stream=True)

    async with serve(handler) as peer, open_client(peer, "h2") as client:
        out = await run_call(client)
    assert out.code is Code.INTERNAL, out


# ---- 9. max message size --------------------------------------------------------------------


@both
async def test_a_message_over_the_size_limit_fails_its_call_and_resets_its_stream(transport) -> None:
    async def handler(stream: PeerStream) -> None:
        peer = stream.connection.peer
        await peer.wait_requests(2)
        await stream.send_headers()
        if stream.request().request_id == "big":
            await stream.send_message(chunk(*range(1000, 3000)))  # ~4 kB against a 1000-byte limit
            # No trailers: the stream stays open until the client resets it.
            await peer.wait_until(lambda: [r for r in peer.resets() if r.stream_id == stream.id],
                                  "the client's RST_STREAM")
        else:
            await stream.send_message(chunk(1, 2, 3))
            await stream.send_message(complete())
            await stream.send_trailers()

    async with serve(handler) as peer, open_client(peer, transport, max_message_size=1000) as client:
        big, small = start_call(client, "big"), start_call(client, "small")
        big_out, small_out = await big, await small
        big_id = next(s.id for s in peer.requests if s.request().request_id == "big")
        await peer.wait_until(lambda: [r for r in peer.resets() if r.stream_id == big_id], "the client's RST_STREAM")
    assert big_out.code is Code.RESOURCE_EXHAUSTED, big_out
    assert (small_out.code, small_out.tokens) == (Code.OK, [1, 2, 3]), small_out
    assert peer.connections == 1
