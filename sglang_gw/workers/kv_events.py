"""`KvEventFeed`: one `SubscribeKvEvents` stream per gRPC worker, into the KV indexes.

For each worker (followed while it is in the pool):
1. Subscribe from the sequence number after the last one applied, or from 0 (a snapshot
   first) when there is none yet or the last stream ended on a gap.
2. Apply every batch to the worker's `WorkerKv` (routing/kv_index.py); its pushed
   `EngineLoad` (running + waiting, summed over DP ranks) becomes `Worker.load`, and the
   load monitor stops polling that worker (`Worker.load_pushed`).
3. On a gap, resubscribe at once for a snapshot; on a failed or ended stream, mark the
   worker not live (kv_aware then guesses for it, as cache_aware would), wait with backoff,
   resubscribe. A worker that does not serve KV events (UNIMPLEMENTED) is retried at the
   backoff cap, so one that gains them later is picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import grpc

from sglang_gw import metrics
from sglang_gw.background import BackgroundTask
from sglang_gw.errors import WorkerError
from sglang_gw.proto import common_pb2
from sglang_gw.routing.kv_index import NO_RANK, ApplyResult, KvIndexes, WorkerKv
from sglang_gw.workers.pool import Worker

__all__ = ["KvEventFeed"]

log = logging.getLogger(__name__)


class KvEventFeed(BackgroundTask):
    """Follows the KV events of every gRPC worker `workers()` lists; checks membership
    every `reconcile_secs`."""

    def __init__(self, indexes: KvIndexes, workers: Callable[[], Iterable[Worker]], *,
                 reconcile_secs: float = 0.5, backoff_initial_secs: float = 0.1,
                 backoff_max_secs: float = 5.0) -> None:
        super().__init__("kv-events")
        self.indexes = indexes
        self._workers = workers
        self.reconcile_secs = reconcile_secs
        self.backoff = (backoff_initial_secs, backoff_max_secs)
        self._followers: dict[str, tuple[Worker, asyncio.Task[None]]] = {}

    async def _run(self) -> None:
        try:
            while True:
                self.reconcile()
                await asyncio.sleep(self.reconcile_secs)
        finally:
            for url in list(self._followers):
                await self._unfollow(url)

    def reconcile(self) -> None:
        """Follow new workers, drop the ones that left (their index entries too)."""
        current = {w.url: w for w in self._workers() if hasattr(w.client, "subscribe_kv_events")}
        for url, (worker, task) in list(self._followers.items()):
            if current.get(url) is not worker:
                task.cancel()
                del self._followers[url]
                self.indexes.forget(url)
                metrics.forget_kv_worker(url)
        for url, worker in current.items():
            if url not in self._followers:
                task = asyncio.create_task(self._follow(worker), name=f"kv-events {url}")
                self._followers[url] = (worker, task)

    async def _unfollow(self, url: str) -> None:
        _, task = self._followers.pop(url)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _follow(self, worker: Worker) -> None:
        state = self.indexes.model(worker.model).worker(worker.url)
        delay, snapshot = self.backoff[0], True
        while True:
            start = 0 if snapshot or not state.snapshots else state.last_seq + 1
            wait = True
            try:
                snapshot = await self._stream(worker, state, start)
                delay, wait = self.backoff[0], not snapshot  # a gap resyncs at once
            except WorkerError as err:
                snapshot = False
                log.debug("KV events of %s: %s", worker.url, err)
                if getattr(err, "grpc_code", None) == grpc.StatusCode.UNIMPLEMENTED:
                    delay = self.backoff[1]
            except Exception:  # a bug here must not end the worker's feed for good
                snapshot = True
                log.exception("KV events of %s: applying the stream failed; resyncing", worker.url)
            finally:
                state.down()
                worker.load_pushed = False
                metrics.set_kv_stream(worker.url, False)
            if wait:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])

    async def _stream(self, worker: Worker, state: WorkerKv, start: int) -> bool:
        """Apply the stream until it fails (raises) or has a gap (returns True)."""
        loads: dict[int, int] = {}
        live = False
        resuming = start > 0
        stream = worker.client.subscribe_kv_events(start)  # type: ignore[attr-defined]
        try:
            async for batch in stream:
                if resuming:
                    resuming = False
                    state.resume()  # the worker answered: its sequence goes on from `start`
                result = state.apply(batch)
                if result == ApplyResult.GAP:
                    log.info("KV events of %s: gap after %d; resyncing", worker.url, state.last_seq)
                    return True
                if result == ApplyResult.SNAPSHOT and state.snapshots > 1:
                    metrics.record_kv_resync(worker.url)
                if state.live != live:
                    live = state.live
                    metrics.set_kv_stream(worker.url, live)
                if batch.HasField("load"):
                    self._push_load(worker, batch, loads)
                if batch.events or result == ApplyResult.SNAPSHOT:
                    lag = time.time() - batch.timestamp if batch.timestamp and batch.events else None
                    metrics.record_kv_batch(worker.url, lag, state.blocks)
        finally:
            await stream.aclose()
        return False

    @staticmethod
    def _push_load(worker: Worker, batch: common_pb2.KvEventBatch, loads: dict[int, int]) -> None:
        load = batch.load
        loads[batch.dp_rank if batch.HasField("dp_rank") else NO_RANK] = load.running_requests + load.waiting_requests
        worker.load = sum(loads.values())
        worker.load_pushed = True
