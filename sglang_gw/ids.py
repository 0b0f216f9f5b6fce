"""Random ids for requests, without a system call per id.

`uuid.uuid4()` reads 16 bytes from `os.urandom` each time: a `getrandom` system call, and a
request made two of them (the request id and the completion id). These ids need to be
unique, not secret, so 128 bits from a generator seeded from the OS once (and again in
each forked child, so pre-forked processes do not share a sequence) serve.
"""

from __future__ import annotations

import os
import random

__all__ = ["random_hex"]

_random = random.Random(os.urandom(32))


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def random_hex() -> str:
    """32 random hex digits, as `uuid.uuid4().hex` gives."""
    return f"{_random.getrandbits(128):032x}"
