"""Keep the garbage collector's full passes short: what start-up built is moved out of reach.

CPython's full (generation 2) collection visits every tracked container, and a loaded
model brings large ones: the detokenizer's per-token tables (lists of 150k entries), the
compiled chat template, the modules of transformers and grpc. With one model loaded a full
pass stalled the event loop for milliseconds whenever allocation happened to trigger it:
the largest stall left in a 64-stream run (docs/performance.md). `gc.freeze()` moves every object alive at that
moment into a permanent generation that collections skip. Those objects live as long as
the model does; when a model is dropped, `refreeze` lets the collector see them again
once, so its tables are freed.

The young generations are tuned for a server whose live objects come and go with its
streams (`tune_collector`, set while the gateway runs).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLDS", "freeze_heap", "refreeze_heap", "tune_collector"]

# CPython's defaults are (700, 10, 10). An open stream keeps ~170 tracked objects alive (its
# coroutines, closures, cells, contexts): 64 streams hold ~11k young ones. Measured
# (docs/performance.md, "Young collections"):
# - in a steady state, streams that end free about what new ones allocate, the allocation
#   counter stays near zero, and a young pass, when one comes, visits every young object
#   alive whatever the first threshold: 700 only makes such passes frequent (27 in a
#   64-stream run), 5,000 rare (3), each as long as before;
# - when streams open faster than they end (500 at once), the defaults let 10 young passes
#   pile up before each generation-1 pass and 10 of those before a full one, which visited
#   62k objects. A generation-1 pass at every third young pass (threshold 1) visits about
#   three first thresholds' worth (at most 20k objects there), and 20 of them before a full
#   pass make full passes rarer than the defaults' (every ~300k allocations, not ~85k).
# Cost: cyclic garbage waits for up to 5,000 net allocations instead of 700.
YOUNG_THRESHOLDS = (5_000, 1, 20)


def freeze_heap() -> None:
    """Collect what is garbage now, then freeze the rest (call after loading a model)."""
    gc.collect()
    gc.freeze()


def refreeze_heap() -> None:
    """Unfreeze, collect (freeing a dropped model), freeze again."""
    gc.unfreeze()
    freeze_heap()


def tune_collector() -> tuple[int, int, int]:
    """Set `YOUNG_THRESHOLDS`; returns the thresholds they replace (for `gc.set_threshold`)."""
    before = gc.get_threshold()
    gc.set_threshold(*YOUNG_THRESHOLDS)
    return before
