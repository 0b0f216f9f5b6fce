"""The KV page-hash chain against known vectors, and the index's stream bookkeeping."""

from __future__ import annotations

import random

import pytest

from sglang_gw.errors import ConfigError
from sglang_gw.proto import common_pb2 as c
from sglang_gw.routing import POLICIES, PolicyConfig, RouteRequest
from sglang_gw.routing.kv_aware import KvAwarePolicy
from sglang_gw.routing.kv_hash import block_hashes, iter_block_hashes, to_int64
from sglang_gw.routing.kv_index import ApplyResult, KvIndexes, WorkerKv
from sglang_gw.testing.mock_kv import BlockCache

# SGLang publishes no vectors; these were computed with coreutils `sha256sum` over bytes
# written by `printf`/`xxd` (page tokens as little-endian uint32, each page after the
# previous page's raw digest), and `$((0x<first 16 hex>))` for the signed int64.
VECTORS = [
    ([1, 2, 3, 4, 5, 6, 7, 8, 100000, 2**32 - 1, 0, 42, 9], 4,
     [-3488128144981237669, 5674439469042975057, 8972043184952574572]),
    ([151644, 872], 1, [-8414988064021443811, 2559240691446296867]),
]


@pytest.mark.parametrize(("ids", "page", "expected"), VECTORS)
def test_block_hashes_match_known_vectors(ids: list[int], page: int, expected: list[int]) -> None:
    assert block_hashes(ids, page) == expected


def test_to_int64_is_big_endian_signed() -> None:
    assert to_int64(bytes.fromhex("cf97adeedb59e05b") + b"\0" * 24) == -3488128144981237669
    assert to_int64(bytes.fromhex("7fffffffffffffff")) == 2**63 - 1


def test_partial_page_has_no_hash_and_bad_page_size_fails() -> None:
    assert block_hashes([1, 2, 3], 4) == []
    with pytest.raises(ValueError):
        list(iter_block_hashes([1], 0))


@pytest.mark.parametrize("page", [1, 3, 16])
def test_mock_worker_hashes_agree_with_the_gateway(page: int) -> None:
    """The mock's cache is a second, separately written implementation of the same chain."""
    rng = random.Random(page)
    for _ in range(20):
        ids = [rng.randrange(2**32) for _ in range(rng.randrange(0, 70))]
        assert BlockCache(8, page).hashes(ids) == block_hashes(ids, page)


def stored(hashes: list[int], *, lora: str = "", size: int = 2) -> c.KvCacheEvent:
    ev = c.KvBlocksStored(lora_name=lora or None)
    for h in hashes:
        ev.blocks.add(block_hash=h, token_ids=[0] * size, block_size=size)
    return c.KvCacheEvent(stored=ev)


def removed(hashes: list[int]) -> c.KvCacheEvent:
    return c.KvCacheEvent(removed=c.KvBlocksRemoved(block_hashes=hashes))


def snapshot(seq: int, chunks: list[list[c.KvCacheEvent]]) -> list[c.KvEventBatch]:
    return [c.KvEventBatch(sequence_number=seq, events=ev, snapshot=c.KvSnapshotChunk(index=i, count=len(chunks)))
            for i, ev in enumerate(chunks)]


def test_snapshot_chunks_then_consecutive_events_then_a_gap() -> None:
    kv = WorkerKv("w")
    first, last = snapshot(10, [[stored([1, 2])], [stored([3])]])
    assert kv.apply(first) == ApplyResult.OK and not kv.live  # half a snapshot is not a state
    assert kv.apply(last) == ApplyResult.SNAPSHOT and kv.live and kv.held() == {1, 2, 3}
    assert kv.block_size == 2
    assert kv.apply(c.KvEventBatch(sequence_number=11, events=[stored([4]), removed([1])])) == ApplyResult.OK
    assert kv.held() == {2, 3, 4}
    assert kv.apply(c.KvEventBatch(sequence_number=11)) == ApplyResult.OK  # load-only: no number of its own
    assert kv.apply(c.KvEventBatch(sequence_number=13, events=[stored([5])])) == ApplyResult.GAP
    assert not kv.live and not kv.holds(5)


def test_events_before_a_snapshot_and_a_joined_mid_snapshot_are_ignored() -> None:
    kv = WorkerKv("w")
    assert kv.apply(c.KvEventBatch(sequence_number=1, events=[stored([9])])) == ApplyResult.OK
    assert kv.held() == set()
    _, tail = snapshot(5, [[stored([1])], [stored([2])]])
    kv.apply(tail)
    assert not kv.live and kv.held() == set()


def test_dp_ranks_keep_their_own_blocks_and_cleared_empties_one() -> None:
    kv = WorkerKv("w")
    for batch in snapshot(0, [[]]):
        kv.apply(batch)
    kv.apply(c.KvEventBatch(sequence_number=1, dp_rank=0, events=[stored([1])]))
    kv.apply(c.KvEventBatch(sequence_number=2, dp_rank=1, events=[stored([2])]))
    assert kv.holds(1) and kv.holds(2)
    kv.apply(c.KvEventBatch(sequence_number=3, dp_rank=0, events=[c.KvCacheEvent(cleared=c.KvCacheCleared())]))
    assert kv.held() == {2}


def live_index(blocks: dict[str, list[int]], size: int = 2, lora: str = "") -> KvIndexes:
    indexes = KvIndexes(size)
    for url, hashes in blocks.items():
        for batch in snapshot(1, [[stored(hashes, lora=lora, size=size)]]):
            indexes.model("m").worker(url).apply(batch)
    return indexes


def test_matches_count_leading_pages_per_live_worker_and_namespace() -> None:
    prompt = list(range(10))
    h = block_hashes(prompt, 2)
    indexes = live_index({"a": h[:3], "b": h[:1] + h[2:]})
    assert indexes.model("m").matches(["a", "b", "c"], prompt) == {"a": 6, "b": 2}  # c: no stream
    lora = live_index({"a": h}, lora="ad1")
    assert lora.model("m").matches(["a"], prompt) == {"a": 0}
    assert lora.model("m").matches(["a"], prompt, "ad1") == {"a": 10}


class W:
    def __init__(self, url: str, load: int = 0) -> None:
        self.url, self.inflight, self.load = url, 0, load


def test_kv_aware_follows_the_index_and_guesses_only_for_workers_without_a_stream() -> None:
    prompt = list(range(40))
    workers = [W("a"), W("b"), W("c")]
    policy = POLICIES.get("kv_aware")(PolicyConfig(block_size=2))
    assert isinstance(policy, KvAwarePolicy)
    policy.indexes = live_index({"a": [], "b": block_hashes(prompt, 2)[:15]})
    req = RouteRequest(model="m", prompt_ids=prompt)
    assert policy.select(workers, req) is workers[1]
    # b's stream goes down: it is guessed for from the tree, which recorded the last choice.
    policy.indexes.model("m").worker("b").down()
    assert policy.select(workers, req) is workers[1]
    # Every stream is live and the index says b holds nothing any more: the tree's memory
    # of sending this prompt to b no longer counts.
    for url in ("b", "c"):
        for batch in snapshot(9, [[]]):
            policy.indexes.model("m").worker(url).apply(batch)
    picks = {policy.select(workers, req).url for _ in range(30)}
    assert picks == {"a", "b", "c"}  # no match anywhere: least loaded, ties at random


def test_kv_aware_balances_when_load_is_skewed() -> None:
    prompt = list(range(40))
    workers = [W("a", load=500), W("b")]
    policy = KvAwarePolicy(PolicyConfig(block_size=2), indexes=live_index({"a": block_hashes(prompt, 2)}))
    assert policy.select(workers, RouteRequest(model="m", prompt_ids=prompt)) is workers[1]


def test_block_size_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="--block-size"):
        KvAwarePolicy(PolicyConfig(block_size=0))


def test_a_block_held_by_two_ranks_stays_matched_until_both_evict_it() -> None:
    kv = WorkerKv("w")
    for batch in snapshot(0, [[]]):
        kv.apply(batch)
    kv.apply(c.KvEventBatch(sequence_number=1, dp_rank=0, events=[stored([7])]))
    kv.apply(c.KvEventBatch(sequence_number=2, dp_rank=1, events=[stored([7]), stored([8], lora="ad")]))
    kv.apply(c.KvEventBatch(sequence_number=3, dp_rank=0, events=[removed([7])]))
    assert kv.holds(7) and kv.holds(8, "ad") and not kv.holds(8)
    kv.apply(c.KvEventBatch(sequence_number=4, dp_rank=1, events=[removed([7, 8])]))
    assert kv.keys == {} and kv.blocks == 0
