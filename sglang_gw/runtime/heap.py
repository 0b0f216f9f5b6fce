"""Keep the garbage collector's full passes short: what start-up built is moved out of reach.

CPython's full (generation 2) collection visits every tracked container, and start-up
brings many: the modules of grpc, protobuf, Starlette and the gateway, the models loaded
before serving. A full pass over them stalled the event loop for milliseconds whenever
allocation happened to trigger it (docs/performance.md). `gc.freeze()` moves every object
alive at that moment into a permanent generation that collections skip; `Gateway.start`
does it once, when start-up is done.

Only once: freezing again while serving would need a full collection first (or it would
freeze the garbage of the moment for good), and that pass visits every open stream's
objects, tens of milliseconds or more on the loop. A model loaded while serving stays in
the collected heap instead; it adds few tracked objects (its large tables are tuples of
bytes, which the collector stops tracking after one pass). A frozen object is still freed
by its reference count, and a model holds no reference cycle (tests/test_heap.py), so a
dropped model is freed at once, frozen or not.

The young generations are tuned for a server whose live objects come and go with its
streams (`tune_collector`, set while the gateway runs).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLDS", "freeze_heap", "tune_collector"]

# Why not CPython's (700, 10, 10) (figures: docs/performance.md, "Young collections"):
# every open stream keeps some 170 tracked objects alive (coroutines, closures, cells,
# contexts), and
# - a young pass visits every young object still alive, whatever the first threshold: as
#   streams end, their frees bring the allocation counter back to zero while the new
#   streams' objects pile up in generation 0. The first threshold sets how often a pass
#   stalls the loop, not for how long; at 5,000, a steady number of streams sets off none;
# - when streams open faster than they end, the defaults stack 10 young passes before each
#   generation-1 pass and 10 of those before a full one, which then visits every stream
#   opened. A generation-1 pass at every third young pass (threshold 1) visits about three
#   first thresholds' worth, and 20 of them before a full pass keep full passes rarer than
#   the defaults' in allocations.
# The cost, cyclic garbage waiting for 5,000 net allocations instead of 700, did not show
# in the gateway's RSS.
YOUNG_THRESHOLDS = (5_000, 1, 20)


def freeze_heap() -> None:
    """Collect what is garbage now, then freeze the rest (once, when start-up is done)."""
    gc.collect()
    gc.freeze()


def tune_collector() -> tuple[int, int, int]:
    """Set `YOUNG_THRESHOLDS`; returns the thresholds they replace (for `gc.set_threshold`)."""
    before = gc.get_threshold()
    gc.set_threshold(*YOUNG_THRESHOLDS)
    return before
