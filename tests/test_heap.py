"""The collector as the gateway runs it: the start-up heap frozen (out of full collections),
models free of reference cycles (so a dropped one is freed without the collector, frozen or
not), and the young thresholds of `tune_collector` in force while a gateway runs."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from sglang_gw.model import model_from_folder
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.runtime.heap import YOUNG_THRESHOLDS, freeze_heap, tune_collector
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import FAMILIES, model_dir
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import start_gateway


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector can free it


class _Leaf:
    def __init__(self, value: object) -> None:
        self.value = value


def test_frozen_objects_are_kept_from_full_collections_but_freed_by_their_count() -> None:
    try:
        node = _Node()
        cycle = weakref.ref(node)
        leaf = _Leaf({"no": "cycle"})
        plain = weakref.ref(leaf)
        freeze_heap()
        assert gc.get_freeze_count() > 0
        del node, leaf
        assert plain() is None  # no cycle: its count freed it, frozen as it was
        gc.collect()
        assert cycle() is not None  # frozen: a full collection does not look at it
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_dropped_model_is_freed_without_the_collector(family: str) -> None:
    """The gateway freezes only at start-up (runtime/heap.py); a model dropped while serving
    must then go by its reference count alone, whether it was frozen or not."""
    info = pb.GetModelInfoResponse(model_path=family, served_model_name=family, max_context_length=4096)

    def build() -> object:
        model = model_from_folder(model_dir(family), info, name=family)
        model.attach_parsers("auto", "auto")
        return model

    build()  # a first build imports modules and fills module-level caches: not the model's
    gc.disable()
    try:
        model = build()
        gc.collect()  # what building left behind (caught exceptions' frames, say): not the model
        del model
        assert gc.collect() == 0  # nothing of the model was left to the collector
    finally:
        gc.enable()


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
