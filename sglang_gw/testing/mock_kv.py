"""The mock worker's KV cache: real blocks, LRU eviction, and the KV event stream.

`BlockCache` keeps up to `capacity` blocks of `page_size` tokens, named as SGLang names
them (written here independently of the gateway's routing/kv_hash.py, in SGLang's own
hex-string style, so the two must agree): page i's hash is sha256 over page i-1's digest
then the page's tokens as little-endian uint32; the event id is the digest's first 8
bytes as a signed big-endian int64. A prompt's cached tokens are its leading pages found
in the cache (at most all but the last token, as SGLang reports). Blocks are touched
deepest-first, so a block is always more recent than its descendants and the LRU end is
always a leaf: eviction never leaves a child without its parent.

`KvEventLog` numbers each change (one batch per admitted prompt: blocks stored, then
blocks evicted) and serves `SubscribeKvEvents`: from `start_sequence_number` if that batch
is still buffered, else a snapshot of the whole cache first (in chunks, parents first). The
first sequence number is the start time in microseconds, so a restarted worker never
replays numbers its predecessor used. A load-only batch (the engine's load) goes out every
`load_interval` seconds of silence.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from sglang_gw.proto import common_pb2

__all__ = ["BlockCache", "KvEventLog"]

Snapshot = Callable[[], list[common_pb2.KvCacheEvent]]


def _page_hex(tokens: Sequence[int], prior_hex: str | None) -> str:
    hasher = hashlib.sha256()
    if prior_hex:
        hasher.update(bytes.fromhex(prior_hex))
    for t in tokens:
        hasher.update(t.to_bytes(4, byteorder="little", signed=False))
    return hasher.hexdigest()


def _event_id(hex_digest: str) -> int:
    value = int(hex_digest[:16], 16)
    return value - 2 ** 64 if value >= 2 ** 63 else value


@dataclass(slots=True, frozen=True)
class _Block:
    parent: int | None
    tokens: tuple[int, ...]
    namespace: str


class BlockCache:
    """Fixed-capacity LRU cache of full pages; `admit` returns cached tokens and logs events."""

    def __init__(self, capacity: int, page_size: int, log: KvEventLog | None = None) -> None:
        if capacity < 1 or page_size < 1:
            raise ValueError("capacity and page_size must be at least 1")
        self.capacity = capacity
        self.page_size = page_size
        self.log = log or KvEventLog()
        self._blocks: OrderedDict[int, _Block] = OrderedDict()
        self.evictions = 0

    def __contains__(self, block_hash: int) -> bool:
        return block_hash in self._blocks

    def __len__(self) -> int:
        return len(self._blocks)

    def held(self) -> set[int]:
        """The hashes of every cached block."""
        return set(self._blocks)

    def hashes(self, ids: Sequence[int]) -> list[int]:
        out: list[int] = []
        prior: str | None = None
        size = self.page_size
        for start in range(0, len(ids) - size + 1, size):
            prior = _page_hex(ids[start:start + size], prior)
            out.append(_event_id(prior))
        return out

    def admit(self, ids: Sequence[int], namespace: str = "") -> int:
        """Serve a prompt: count its cached pages, store the rest, evict past capacity."""
        hashes = self.hashes(ids)
        hit = 0
        for h in hashes:
            block = self._blocks.get(h)
            if block is None or block.namespace != namespace:
                break
            hit += 1
        stored = self._store(ids, hashes, hit, namespace)
        for h in reversed(hashes):  # deepest first: parents end up more recent than children
            if h in self._blocks:
                self._blocks.move_to_end(h)
        evicted = []
        while len(self._blocks) > self.capacity:
            h, _ = self._blocks.popitem(last=False)
            evicted.append(h)
        self.evictions += len(evicted)
        events = []
        if stored is not None:
            events.append(common_pb2.KvCacheEvent(stored=stored))
        if evicted:
            events.append(common_pb2.KvCacheEvent(removed=common_pb2.KvBlocksRemoved(block_hashes=evicted)))
        if events:
            self.log.publish(events)
        return min(hit * self.page_size, max(len(ids) - 1, 0))

    def clear(self) -> None:
        self._blocks.clear()
        self.log.publish([common_pb2.KvCacheEvent(cleared=common_pb2.KvCacheCleared())])

    def _store(self, ids: Sequence[int], hashes: list[int], hit: int,
               namespace: str) -> common_pb2.KvBlocksStored | None:
        if hit == len(hashes):
            return None
        size = self.page_size
        stored = common_pb2.KvBlocksStored()
        if hit:
            stored.parent_block_hash = hashes[hit - 1]
        if namespace:
            stored.lora_name = namespace
        for i in range(hit, len(hashes)):
            tokens = tuple(ids[i * size:(i + 1) * size])
            self._blocks[hashes[i]] = _Block(hashes[i - 1] if i else None, tokens, namespace)
            stored.blocks.add(block_hash=hashes[i], token_ids=tokens, block_size=size)
        return stored

    def snapshot_events(self) -> list[common_pb2.KvCacheEvent]:
        """One stored event per block, parents before children (newest first is that order)."""
        events = []
        for h in reversed(self._blocks):
            block = self._blocks[h]
            stored = common_pb2.KvBlocksStored(lora_name=block.namespace or None)
            if block.parent is not None:
                stored.parent_block_hash = block.parent
            stored.blocks.add(block_hash=h, token_ids=block.tokens, block_size=len(block.tokens))
            events.append(common_pb2.KvCacheEvent(stored=stored))
        return events


class KvEventLog:
    """Numbered event batches, a replay buffer, and the live subscribers."""

    def __init__(self, *, buffer: int = 4096, load_interval: float = 0.5, snapshot_chunk: int = 256) -> None:
        self.next_seq = int(time.time() * 1_000_000)
        self._buffer: deque[common_pb2.KvEventBatch] = deque(maxlen=buffer)
        self._subscribers: list[asyncio.Queue[common_pb2.KvEventBatch | None]] = []
        self.load_interval = load_interval
        self.snapshot_chunk = snapshot_chunk
        self.skip = 0  # fault injection: withhold the next N batches from live subscribers (a gap)
        self.load: Callable[[], common_pb2.EngineLoad] = common_pb2.EngineLoad
        self.snapshots = 0

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    def publish(self, events: list[common_pb2.KvCacheEvent]) -> None:
        batch = common_pb2.KvEventBatch(sequence_number=self.next_seq, timestamp=time.time(), events=events)
        batch.load.CopyFrom(self.load())
        self.next_seq += 1
        self._buffer.append(batch)
        if self.skip > 0:
            self.skip -= 1
            return
        for queue in self._subscribers:
            queue.put_nowait(batch)

    def drop_streams(self) -> None:
        """Fault injection: end every live subscription (it fails UNAVAILABLE)."""
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def subscribe(self, start: int, snapshot: Snapshot) -> AsyncIterator[common_pb2.KvEventBatch]:
        queue: asyncio.Queue[common_pb2.KvEventBatch | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            oldest = self._buffer[0].sequence_number if self._buffer else self.next_seq
            if start and oldest <= start <= self.next_seq:
                for batch in list(self._buffer):
                    if batch.sequence_number >= start:
                        yield batch
            else:
                for batch in self._snapshot(snapshot()):
                    yield batch
            while True:
                try:
                    batch = await asyncio.wait_for(queue.get(), self.load_interval)
                except TimeoutError:
                    yield self._load_only()
                    continue
                if batch is None:
                    return  # the servicer fails the call
                yield batch
        finally:
            self._subscribers.remove(queue)

    def _snapshot(self, events: list[common_pb2.KvCacheEvent]) -> list[common_pb2.KvEventBatch]:
        self.snapshots += 1
        size = self.snapshot_chunk
        chunks = [events[i:i + size] for i in range(0, len(events), size)] or [[]]
        seq = self.last_seq
        return [common_pb2.KvEventBatch(
            sequence_number=seq, timestamp=time.time(), events=chunk,
            snapshot=common_pb2.KvSnapshotChunk(index=i, count=len(chunks), blocks=len(events), unknown_before=seq + 1),
            load=self.load()) for i, chunk in enumerate(chunks)]

    def _load_only(self) -> common_pb2.KvEventBatch:
        load = self.load()
        load.load_only = True
        return common_pb2.KvEventBatch(sequence_number=self.last_seq, timestamp=time.time(), load=load)
