"""Keep the garbage collector's full passes short: what start-up built is moved out of reach.

CPython's full (generation 2) collection visits every tracked container, and a loaded
model brings large ones: the detokenizer's per-token tables (lists of 150k entries), the
compiled chat template, the modules of transformers and grpc. With one model loaded a full
pass stalled the event loop for milliseconds whenever allocation happened to trigger it:
the largest stall left in a 64-stream run (docs/performance.md). `gc.freeze()` moves every object alive at that
moment into a permanent generation that collections skip. Those objects live as long as
the model does; when a model is dropped, `refreeze` lets the collector see them again
once, so its tables are freed.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap", "refreeze_heap"]


def freeze_heap() -> None:
    """Collect what is garbage now, then freeze the rest (call after loading a model)."""
    gc.collect()
    gc.freeze()


def refreeze_heap() -> None:
    """Unfreeze, collect (freeing a dropped model), freeze again."""
    gc.unfreeze()
    freeze_heap()
