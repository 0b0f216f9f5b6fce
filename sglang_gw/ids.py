"""Random ids, without a system call per id.

`uuid.uuid4()` and `secrets.token_hex()` read `os.urandom` each time: a `getrandom` system
call per id (and `secrets.choice` one per character). The ids made here:

- `random_hex`: request and completion ids, which need to be unique, not secret: 128 bits
  from a generator seeded from the OS once.
- `secret_hex`, `secret_alnum`: ids that must be unguessable (stored responses,
  conversations, items, tool calls): bytes of `os.urandom`, read 4 KiB at a time.
- `time_ordered_secret_hex`: the same with the time in front, for ids that key a database
  index (stored responses).

All start again in a forked child, so pre-forked processes (`--workers N`) never share a
sequence or a buffer.
"""

from __future__ import annotations

import os
import random
import string
import threading
import time

__all__ = ["random_hex", "secret_alnum", "secret_hex", "time_ordered_secret_hex"]

_random = random.Random(os.urandom(32))
_ALNUM = (string.ascii_letters + string.digits).encode()
_ALNUM_BOUND = 256 - 256 % len(_ALNUM)  # bytes at or over it are skipped: no bias


class _Entropy:
    """`os.urandom` bytes handed out in order, read a block at a time (under a lock: the
    history store's worker thread makes ids too)."""

    BLOCK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._block):
                self._block, self._at = os.urandom(max(self.BLOCK, n)), 0
            out = self._block[self._at:self._at + n]
            self._at += n
            return out

    def forget(self) -> None:
        self._block, self._at = b"", 0


_entropy = _Entropy()


def _reseed() -> None:
    _random.seed(os.urandom(32))
    _entropy.forget()


os.register_at_fork(after_in_child=_reseed)


def random_hex() -> str:
    """32 random hex digits, as `uuid.uuid4().hex` gives."""
    return f"{_random.getrandbits(128):032x}"


def secret_hex(nbytes: int) -> str:
    """`secrets.token_hex(nbytes)`, from the buffered OS randomness."""
    return _entropy.take(nbytes).hex()


def time_ordered_secret_hex(nbytes: int) -> str:
    """As `secret_hex(nbytes)`, but its first 12 hex digits are the time in milliseconds, so
    that ids made later sort later; the rest (`nbytes - 6` bytes, at least 16) is secret.

    For ids that key a database index: random keys land each new row's index entry on a
    random page (one more page for every commit to write, and one the page cache rarely
    holds); ordered ones all go to its last page (docs/performance.md, "Fourth pass").
    """
    assert nbytes >= 22
    return f"{time.time_ns() // 1_000_000:012x}{_entropy.take(nbytes - 6).hex()}"


def secret_alnum(length: int) -> str:
    """`length` letters and digits, each uniform, from the buffered OS randomness."""
    out = bytearray()
    while len(out) < length:
        out += bytes(_ALNUM[b % len(_ALNUM)] for b in _entropy.take(length - len(out) + 8) if b < _ALNUM_BOUND)
    return out[:length].decode()
