"""HPACK decoding of the worker's header blocks, remembered when that is safe.

Every call gets two header blocks back (the response headers and the trailers), and a
worker sends the same ones each time. Once their fields are in its dynamic table, it sends
them as indexed fields only: one byte each. `hpack`'s decoder is pure Python (with a
logging call per field), so the decoded fields of such blocks are kept.

That is right only while the dynamic table stays the same: an indexed field means
whatever the table holds at that index. Blocks made of indexed fields and literals that
are not added to the table (grpcio sends `grpc-message` so) leave it as it is; a block
with a literal that is added, or a size update, changes it, so decoding one forgets
everything remembered (RFC 7541 §6 names the representations).
"""

from __future__ import annotations

import hpack

__all__ = ["HeaderDecoder"]

_MAX_REMEMBERED = 64


def _integer(block: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    """The integer starting at `pos` with an N-bit prefix (RFC 7541 §5.1), and where it ends."""
    limit = (1 << prefix_bits) - 1
    value = block[pos] & limit
    pos += 1
    if value < limit:
        return value, pos
    shift = 0
    while True:
        byte = block[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _keeps_table(block: bytes) -> bool:
    """True when decoding `block` cannot change the dynamic table: only indexed fields and
    literals without indexing or never indexed. Anything unexpected counts as a change."""
    pos, end = 0, len(block)
    try:
        while pos < end:
            first = block[pos]
            if first & 0x80:  # indexed field
                _, pos = _integer(block, pos, 7)
                continue
            if first & 0xE0:  # 01xxxxxx added to the table, or 001xxxxx a size update
                return False
            index, pos = _integer(block, pos, 4)  # 0000xxxx / 0001xxxx: not added
            for _ in range(1 if index else 2):  # the value, after the name when it is literal
                size, pos = _integer(block, pos, 7)
                pos += size
        return pos == end
    except IndexError:
        return False


class HeaderDecoder:
    """`decode(block)` → the block's (name, value) fields, as `hpack.Decoder` gives them."""

    __slots__ = ("_decoder", "_known")

    def __init__(self) -> None:
        self._decoder = hpack.Decoder()
        self._known: dict[bytes, tuple[tuple[str, str], ...]] = {}

    def decode(self, block: bytes) -> tuple[tuple[str, str], ...]:
        """Raises `hpack.HPACKError` on a malformed block."""
        fields = self._known.get(block)
        if fields is not None:
            return fields
        fields = tuple((str(name), str(value)) for name, value in self._decoder.decode(block, raw=False))
        if not _keeps_table(block):
            self._known.clear()
        elif len(self._known) < _MAX_REMEMBERED:
            self._known[block] = fields
        return fields
