"""HPACK decoding of the worker's header blocks, remembered when that is safe.

Every call gets two header blocks back (the response headers and the trailers), and a
worker sends the same ones each time. Once their fields are in its dynamic table, it sends
them as indexed fields only: one byte each. `hpack`'s decoder is pure Python (about 11 µs
for the two, with a logging call per field), so the decoded fields of such blocks are kept.

That is right only while the dynamic table stays the same: an indexed field means
whatever the table holds at that index. Blocks made of indexed fields only do not change
the table; any other block may (a literal that is added, a size update), so decoding one
forgets everything remembered.
"""

from __future__ import annotations

import hpack

__all__ = ["HeaderDecoder"]

_MAX_REMEMBERED = 64


def _only_indexed(block: bytes) -> bool:
    # An indexed field is one byte 1xxxxxxx (indexes under 127); 0xFF starts a longer index,
    # which is left to the decoder, as is anything else.
    return all(b & 0x80 for b in block) and 0xFF not in block


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
        if not _only_indexed(block):
            self._known.clear()
        elif len(self._known) < _MAX_REMEMBERED:
            self._known[block] = fields
        return fields
