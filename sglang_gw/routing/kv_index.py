"""The KV index: which cache blocks each worker holds, as its own KV events say.

One `KvIndex` per model; in it one `WorkerKv` per worker, fed by that worker's
`SubscribeKvEvents` stream (workers/kv_events.py). A `WorkerKv` is *live* only while its
stream is up and its block set is known to be complete: after a full snapshot, and for as
long as every event batch follows the last one without a gap. A worker that is not live is
never scored from the index (the policy falls back to its own guess for it).

Stream protocol, as the index applies it:
- Event batches carry consecutive `sequence_number`s (one sequence per stream). A batch
  whose number is not `last + 1` is a gap: the worker is no longer live and the feed
  resubscribes for a snapshot. Load-only batches (no events) repeat the last number.
- A snapshot is `count` batches with `snapshot.index` 0…count-1, whose events store every
  block the worker holds, parents first, all numbered as of the snapshot; the last chunk
  replaces the worker's block set and makes it live.
- `dp_rank`, when present, keeps one block set per data-parallel rank; a worker's match is
  its best rank's.

Blocks are SGLang page hashes (kv_hash.py) in a namespace: the LoRA adapter's name (or
cache salt) the stored event names, "" for the base model. A prompt matches a worker for
as many leading pages as the worker holds in the request's namespace.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sglang_gw.errors import ConfigError
from sglang_gw.proto import common_pb2
from sglang_gw.routing.kv_hash import iter_block_hashes

__all__ = ["ApplyResult", "KvIndex", "KvIndexes", "WorkerKv"]

NO_RANK = -1


class ApplyResult(StrEnum):
    OK = "ok"
    GAP = "gap"
    SNAPSHOT = "snapshot"  # the last chunk of a snapshot was applied


Key = int | tuple[str, int]  # a block hash, with its namespace when it has one


def key_of(namespace: str, block_hash: int) -> Key:
    return (namespace, block_hash) if namespace else block_hash


@dataclass(slots=True)
class WorkerKv:
    """One worker's cached blocks, per DP rank (block hash → namespace), and `keys`, how
    many ranks hold each (namespace, hash): the one dict lookup a match makes per page."""

    url: str
    block_size: int | None = None  # learnt from the worker's own events
    ranks: dict[int, dict[int, str]] = field(default_factory=dict)
    keys: dict[Key, int] = field(default_factory=dict)
    last_seq: int = 0
    live: bool = False
    snapshots: int = 0
    _staging: dict[int, dict[int, str]] | None = None

    @property
    def blocks(self) -> int:
        return sum(len(r) for r in self.ranks.values())

    def held(self) -> set[int]:
        """Every block hash of every rank."""
        return {h for r in self.ranks.values() for h in r}

    def holds(self, block_hash: int, namespace: str = "") -> bool:
        return key_of(namespace, block_hash) in self.keys

    def apply(self, batch: common_pb2.KvEventBatch) -> str:
        """One batch of the stream; GAP means the block set can no longer be trusted."""
        rank = batch.dp_rank if batch.HasField("dp_rank") else NO_RANK
        if batch.HasField("snapshot"):
            return self._apply_snapshot(batch, rank)
        if not batch.events:
            return ApplyResult.OK  # a load-only batch
        if not self.live:
            return ApplyResult.OK  # waiting for a snapshot: events before it mean nothing
        if batch.sequence_number != self.last_seq + 1:
            self.live = False
            return ApplyResult.GAP
        self.last_seq = batch.sequence_number
        self._apply_events(self.ranks.setdefault(rank, {}), batch.events, self.keys)
        return ApplyResult.OK

    def resume(self) -> None:
        """A stream resumed after `last_seq`: live again, and a batch that does not follow
        on is a gap as usual."""
        self.live = self.snapshots > 0

    def down(self) -> None:
        """The stream ended: keep the blocks and `last_seq` to resume from, score nothing."""
        self.live = False
        self._staging = None

    def _apply_snapshot(self, batch: common_pb2.KvEventBatch, rank: int) -> str:
        chunk = batch.snapshot
        if chunk.index == 0 or self._staging is None:
            if chunk.index != 0:
                return ApplyResult.OK  # joined mid-snapshot: wait for the next one
            self._staging = {}
            self.live = False
        self._apply_events(self._staging.setdefault(rank, {}), batch.events)
        if chunk.index + 1 < chunk.count:
            return ApplyResult.OK
        self.ranks, self._staging = self._staging, None
        self.keys = {}
        for blocks in self.ranks.values():
            for h, namespace in blocks.items():
                key = key_of(namespace, h)
                self.keys[key] = self.keys.get(key, 0) + 1
        self.last_seq = batch.sequence_number
        self.live = True
        self.snapshots += 1
        return ApplyResult.SNAPSHOT

    def _apply_events(self, blocks: dict[int, str], events: Iterable[common_pb2.KvCacheEvent],
                      keys: dict[Key, int] | None = None) -> None:
        """Events into one rank's `blocks`, and into `keys` when given (not while staging)."""
        for event in events:
            kind = event.WhichOneof("data")
            if kind == "stored":
                stored = event.stored
                namespace = stored.lora_name or stored.cache_salt
                for block in stored.blocks:
                    self._drop(blocks, block.block_hash, keys)  # a re-store may change its namespace
                    blocks[block.block_hash] = namespace
                    if keys is not None:
                        key = key_of(namespace, block.block_hash)
                        keys[key] = keys.get(key, 0) + 1
                    if self.block_size is None:
                        self.block_size = block.block_size or len(block.token_ids) or None
            elif kind == "removed":
                for h in event.removed.block_hashes:
                    self._drop(blocks, h, keys)
            elif kind == "cleared":
                for h in list(blocks):
                    self._drop(blocks, h, keys)

    @staticmethod
    def _drop(blocks: dict[int, str], block_hash: int, keys: dict[Key, int] | None) -> None:
        namespace = blocks.pop(block_hash, None)
        if namespace is None or keys is None:
            return
        key = key_of(namespace, block_hash)
        left = keys.get(key, 0) - 1
        if left > 0:
            keys[key] = left
        else:
            keys.pop(key, None)


class KvIndex:
    """One model's index over its workers."""

    def __init__(self, default_block_size: int) -> None:
        self.default_block_size = default_block_size
        self.workers: dict[str, WorkerKv] = {}

    def worker(self, url: str) -> WorkerKv:
        state = self.workers.get(url)
        if state is None:
            state = self.workers[url] = WorkerKv(url)
        return state

    def live(self, urls: Iterable[str]) -> list[WorkerKv]:
        return [s for u in urls if (s := self.workers.get(u)) is not None and s.live]

    def matches(self, urls: Collection[str], ids: Sequence[int], namespace: str = "") -> dict[str, int]:
        """Cached prefix tokens per live worker among `urls` (absent: not live). Hashing
        stops at the first page no remaining worker holds."""
        by_size: dict[int, list[WorkerKv]] = {}
        for state in self.live(urls):
            by_size.setdefault(state.block_size or self.default_block_size, []).append(state)
        found: dict[str, int] = {}
        for size, states in by_size.items():
            found.update((url, n * size) for url, n in _leading_pages(states, ids, size, namespace).items())
        return found

    def forget(self, url: str) -> None:
        self.workers.pop(url, None)


def _leading_pages(states: list[WorkerKv], ids: Sequence[int], size: int, namespace: str) -> dict[str, int]:
    """How many leading pages of `ids` each worker holds. The prompt's page keys are hashed
    once, lazily, and shared: nothing past the longest match is hashed."""
    hashes = iter_block_hashes(ids, size)
    page_keys: list[Key] = []
    pages: dict[str, int] = {}
    for state in states:
        keys, n = state.keys, 0
        while True:
            if n == len(page_keys):
                h = next(hashes, None)
                if h is None:
                    break
                page_keys.append((namespace, h) if namespace else h)
            if page_keys[n] not in keys:
                break
            n += 1
        pages[state.url] = n
    return pages


class KvIndexes:
    """The indexes of every model, shared by the kv_aware policies and fed by one feed."""

    def __init__(self, default_block_size: int = 16) -> None:
        if default_block_size < 1:
            raise ConfigError(f"--block-size must be at least 1, got {default_block_size}")
        self.default_block_size = default_block_size
        self._by_model: dict[str, KvIndex] = {}

    def model(self, name: str) -> KvIndex:
        index = self._by_model.get(name)
        if index is None:
            index = self._by_model[name] = KvIndex(self.default_block_size)
        return index

    def forget(self, url: str) -> None:
        for index in self._by_model.values():
            index.forget(url)
