"""Long prompts are rendered and tokenized off the event loop, in threads that yield to it.

A 32k-token prompt costs tens of milliseconds of template rendering and tokenization. On
the event loop that is a stall every stream on the process feels; in an ordinary thread it
still takes half the core from the loop while it runs (the OS shares a core evenly), and the
streams' token gaps stretch. So these threads run at a lower OS priority (a higher nice
value, per thread on Linux): the loop keeps the core whenever it has work, and the long
prompt uses what is left. Tokenization there releases the GIL (see tokenizer/encoding.py):
work that held it in such a thread would make the loop wait for a thread the OS starves.

Below the threshold, preparing stays on the loop. The thresholds come from the worst
tokenizer cost per character of new text measured on the families in .cache/models
(docs/performance.md, issue 34): up to ~1.9 µs per character for non-ASCII text through the
tokenizer (Hangul; Chinese ~1.4), so 4096 characters stall the loop for at most ~8 ms on a
quiet core, and from that size on the tokenizer leaves the GIL (tokenizer/encoding.py).
Plain ASCII chat text has a higher one: the word encoder (tokenizer/word_encoder.py) takes
it at up to ~0.3 µs per character when its words are new, ~0.1 when they are cached, so
32k characters stall for at most ~10 ms.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sglang_gw.tokenizer.encoding import GIL_FREE_CHARS, mark_background_thread

__all__ = ["BACKGROUND_NICE", "OFFLOAD_CHARS", "OFFLOAD_PLAIN_CHARS", "run_cpu"]

T = TypeVar("T")
# Above this many characters of input, template rendering and tokenization leave the loop
# (and the tokenizer, at this size, releases the GIL to it).
OFFLOAD_CHARS = GIL_FREE_CHARS
# The same for chat text that is all ASCII, which the word encoder takes.
OFFLOAD_PLAIN_CHARS = 32_768
# How much lower than the loop the preparing threads run (nice 0 → 10: about a tenth of
# the loop's share of a contended core).
BACKGROUND_NICE = 10
_pool: ThreadPoolExecutor | None = None


def _init_thread() -> None:
    mark_background_thread()
    try:  # Linux applies PRIO_PROCESS to the one thread whose id is given
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):  # not Linux, or not permitted: an ordinary thread
        pass


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:  # made lazily, so each pre-forked process builds its own after the fork
        _pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="sglang-gw-prepare",
                                   initializer=_init_thread)
    return _pool


async def run_cpu(size: int, fn: Callable[[], T], *, limit: int = OFFLOAD_CHARS) -> T:
    """Run CPU-bound preparation inline when under `limit` characters, in a background
    thread when larger."""
    if size < limit:
        return fn()
    context = contextvars.copy_context()  # the request id stays on log lines written there
    return await asyncio.get_running_loop().run_in_executor(_executor(), context.run, fn)
