"""The remembering HPACK decoder gives what a plain decoder gives, block for block, also
after the dynamic table moves under blocks it has remembered."""

from __future__ import annotations

import hpack

from sglang_gw.workers.h2.headers import HeaderDecoder

RESPONSE = [(":status", "200"), ("content-type", "application/grpc"), ("grpc-accept-encoding", "identity")]
TRAILERS = [("grpc-status", "0"), ("grpc-message", "")]


def _plain(decoder: hpack.Decoder, block: bytes) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in decoder.decode(block, raw=False))


def test_same_fields_as_hpack_while_the_table_moves() -> None:
    encoder = hpack.Encoder()
    blocks = []
    for i in range(6):
        blocks += [encoder.encode(RESPONSE), encoder.encode(TRAILERS)]
        if i % 2:  # new fields enter the table and shift every index behind them
            blocks.append(encoder.encode([("x-extra", f"value-{i}")]))
    blocks.append(blocks[3])  # an indexed block seen before, now meaning other fields
    ours, plain = HeaderDecoder(), hpack.Decoder()
    for block in blocks:
        assert ours.decode(block) == _plain(plain, block)


def test_an_indexed_block_is_remembered_and_a_literal_one_forgets() -> None:
    encoder, ours = hpack.Encoder(), HeaderDecoder()
    ours.decode(encoder.encode(RESPONSE))  # literals: added to the table
    indexed = encoder.encode(RESPONSE)
    assert all(b & 0x80 for b in indexed)
    first = ours.decode(indexed)
    assert ours.decode(indexed) is first  # remembered
    ours.decode(encoder.encode([("x-new", "1")]))
    assert ours.decode(indexed) is not first  # decoded again after the table changed


def test_literals_that_stay_out_of_the_table_are_remembered_too() -> None:
    # grpcio's trailers: grpc-status indexed, grpc-message a literal without indexing.
    encoder, ours, plain = hpack.Encoder(), HeaderDecoder(), hpack.Decoder()
    blocks = [encoder.encode(TRAILERS[:1]), encoder.encode(TRAILERS[:1])]
    trailers = blocks[1] + b"\x00\x0cgrpc-message\x00"
    never = blocks[1] + b"\x10\x01k\x01v"  # a literal never indexed, with a literal name
    for block in [*blocks, trailers, trailers, never, never]:
        assert ours.decode(block) == _plain(plain, block)
    assert ours.decode(trailers) is ours.decode(trailers)
    assert ours.decode(never) is ours.decode(never)
