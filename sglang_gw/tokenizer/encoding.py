"""Text → ids and ids → text without holding the GIL on long inputs.

`Tokenizer.encode` keeps the GIL for the whole call (tens of milliseconds for a long text),
so a long prompt tokenized in a worker thread would still stop the event loop that long.
The batch entry points release it; `encode_batch_fast` also skips computing character
offsets, which the gateway never reads, and is the faster of the two. `decode` is the same:
`decode_batch` holds the GIL only while it reads the list (docs/performance.md).

Every text goes through `encode_batch_fast`: with parallelism off it costs less than
`encode` at every size (13% less for a 48-character prompt, 25% for 480 characters of
Chinese; issue 34). Short id lists keep the plain `decode`.
"""

from __future__ import annotations

import os
import threading

from tokenizers import Tokenizer

# One text per call: with parallelism on, the batch call would hand even a single text to
# a pool thread of its own, at normal priority and so outside the lowered priority of the
# threads long prompts are prepared in (pipeline/offload.py). It would also have to be
# disabled in pre-forked processes anyway. A user's explicit setting wins.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = ["GIL_FREE_CHARS", "GIL_FREE_IDS", "decode_ids", "encode_ids", "in_background_thread",
           "mark_background_thread"]

# From this many characters on, encoding may run in a background thread (it leaves the GIL
# to other threads; shorter texts are not worth the hand-off).
GIL_FREE_CHARS = 4096
# From this many ids on, decoding does.
GIL_FREE_IDS = 4096
_thread = threading.local()


def mark_background_thread() -> None:
    """Called once in each low-priority preparing thread (pipeline/offload.py). Long work
    that holds the GIL must not run there: when the core is busy the thread gets little
    CPU, and the event loop would wait for the GIL it holds."""
    _thread.background = True


def in_background_thread() -> bool:
    return getattr(_thread, "background", False)


def encode_ids(tokenizer: Tokenizer, text: str, *, add_special_tokens: bool = False) -> list[int]:
    batch = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)  # _fast: tokenizers >= 0.21
    return batch([text], add_special_tokens=add_special_tokens)[0].ids


def decode_ids(tokenizer: Tokenizer, ids: list[int], *, skip_special_tokens: bool = True) -> str:
    if len(ids) < GIL_FREE_IDS:
        return tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
    return tokenizer.decode_batch([ids], skip_special_tokens=skip_special_tokens)[0]
