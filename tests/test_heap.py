"""Freezing the start-up heap: frozen objects stay alive and out of collections until a refreeze."""

from __future__ import annotations

import gc
import weakref

from sglang_gw.runtime.heap import freeze_heap, refreeze_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector can free it


def test_freeze_then_refreeze_frees_what_was_dropped() -> None:
    try:
        node = _Node()
        gone = weakref.ref(node)
        freeze_heap()
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert gone() is not None  # frozen: a full collection does not look at it
        refreeze_heap()
        assert gone() is None  # the refreeze let the collector see (and free) it
    finally:
        gc.unfreeze()
