"""The collector as the gateway runs it: the start-up heap frozen (out of collections until a
refreeze) and the young thresholds of `tune_collector` in force while a gateway runs."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from sglang_gw.runtime.heap import YOUNG_THRESHOLDS, freeze_heap, refreeze_heap, tune_collector
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import start_gateway


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


def test_young_thresholds_still_free_dropped_cycles_by_themselves() -> None:
    before = tune_collector()
    try:
        assert gc.isenabled()
        node = _Node()
        gone = weakref.ref(node)
        del node
        # Enough tracked allocations for young passes up to a generation-1 one, with no
        # explicit collection: the cycle goes however far it was promoted meanwhile.
        kept = [[] for _ in range(YOUNG_THRESHOLDS[0] * (YOUNG_THRESHOLDS[1] + 3))]
        assert gone() is None
        del kept
    finally:
        gc.set_threshold(*before)


def test_a_running_gateway_has_the_young_thresholds_and_gives_the_old_back(qwen3_dir: Path) -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's, whatever a gateway of another test left
    facts = read_model_facts(qwen3_dir)
    mock = ThreadedMockWorker(MockWorker(facts, policy=ReplyPolicy(facts, mode="random"), served_model_name="m"))
    try:
        server = start_gateway(qwen3_dir, [mock.url])
        try:
            assert gc.get_threshold() == YOUNG_THRESHOLDS
        finally:
            server.stop()
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        mock.stop()
        gc.set_threshold(*before)
