"""SGLang's KV page-hash chain, computed in the gateway exactly as the worker computes it.

A worker's radix cache names each cached page (block) of `page_size` tokens by a chain
hash, and its KV events carry that name as `KvBlock.block_hash`:

    digest_0 = sha256(le_u32(page_0 tokens))
    digest_i = sha256(digest_{i-1} ‖ le_u32(page_i tokens))     (the 32 raw digest bytes)
    block_hash_i = the first 8 bytes of digest_i, big-endian, as a signed int64

(`get_hash_str` and `hash_str_to_int64` in SGLang's mem_cache). A page's name depends on
every token before it, so "the worker holds block i of this prompt" implies it held the
same prefix. Only full pages are cached, so a trailing partial page has no name. LoRA
adapters and cache salts are not part of the chain: the index keeps them apart instead
(see kv_index.py).
"""

from __future__ import annotations

import hashlib
import struct
import sys
from array import array
from collections.abc import Iterator, Sequence

__all__ = ["block_hashes", "iter_block_hashes", "to_int64"]

_LITTLE = sys.byteorder == "little"
_INT64 = struct.Struct(">q").unpack_from


def to_int64(digest: bytes) -> int:
    """A digest's first 8 bytes, big-endian, as a signed int64 (SGLang's event block id)."""
    return int.from_bytes(digest[:8], "big", signed=True)


def iter_block_hashes(ids: Sequence[int], page_size: int, prior: bytes = b"") -> Iterator[int]:
    """The block hash of each full page of `ids`, lazily: a caller that stops at the first
    page nobody holds never pays for hashing the rest of the prompt. `prior` is the raw
    digest of the page before `ids[0]` (empty at the start of a sequence)."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    packed = array("I", ids)
    if not _LITTLE:
        packed.byteswap()
    data = packed.tobytes()
    step = page_size * 4
    digest = prior
    sha256 = hashlib.sha256
    for start in range(0, len(data) - step + 1, step):
        digest = sha256(digest + data[start:start + step]).digest()
        yield _INT64(digest)[0]


def block_hashes(ids: Sequence[int], page_size: int, prior: bytes = b"") -> list[int]:
    """Every full page's block hash (see `iter_block_hashes`)."""
    return list(iter_block_hashes(ids, page_size, prior))
