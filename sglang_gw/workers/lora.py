"""LoRA adapters across the fleet: which worker holds which, loading and unloading them.

Each worker's adapters (name → the worker's own id) live on `Worker.adapters`, read with
`ListLoadedLoRAAdapters` when the worker registers, after every load or unload through the gateway, and
on each round of the load monitor (a worker may evict an adapter on its own). The paths of
adapters loaded through the gateway are remembered, so that with `--lora-load-on-demand`
an adapter no worker holds any more is loaded again on the least-loaded worker before the
request is routed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sglang_gw.errors import LoraNotFoundError, NoHealthyWorkerError, NotFoundError, WorkerError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.workers.pool import Worker, WorkerPool

__all__ = ["LORA_KINDS", "LoraManager", "LoraOutcome", "refresh_adapters"]

log = logging.getLogger(__name__)

# The kinds of worker that hold adapters: gRPC and SGLang HTTP workers (an OpenAI-compatible
# worker is proxied, and its adapters are its own business).
LORA_KINDS = frozenset({"grpc", "sglang_http"})


@dataclass(slots=True, frozen=True)
class LoraOutcome:
    """What one worker answered to a load or unload."""

    url: str
    success: bool
    message: str


async def refresh_adapters(worker: Worker) -> None:
    """Read the worker's loaded adapters; a worker without LoRA support keeps none."""
    if worker.kind not in LORA_KINDS:
        return
    try:
        listed = await worker.client.list_loras()
    except WorkerError as err:
        log.debug("listing the adapters of %s failed: %s", worker.url, err.message)
        return
    worker.adapters = {a.lora_name: a.lora_id for a in listed.loaded_adapters}


class LoraManager:
    """Loads and unloads adapters on a model's workers and remembers their paths."""

    def __init__(self, pool: WorkerPool, *, load_on_demand: bool = False) -> None:
        self._pool = pool
        self.load_on_demand = load_on_demand
        self.paths: dict[tuple[str, str], str] = {}  # (model, adapter) → path, as loaded here
        self._loading: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def refresh(self, workers: Iterable[Worker] | None = None) -> None:
        await asyncio.gather(*(refresh_adapters(w) for w in (workers or self._pool.workers())))

    def _lora_workers(self, model: str, urls: Iterable[str] | None) -> list[Worker]:
        wanted = set(urls) if urls else None
        found = [w for w in self._pool.workers(model) if w.kind in LORA_KINDS and (wanted is None or w.url in wanted)]
        if not found and wanted is not None:
            raise NotFoundError(f"none of `worker_urls` is a gRPC or SGLang HTTP worker of model {model!r}",
                                param="worker_urls")
        if not found:
            raise NoHealthyWorkerError(f"no gRPC or SGLang HTTP worker of model {model!r} to manage adapters on")
        return found

    async def load(self, model: str, name: str, path: str, *, pinned: bool = False,
                   urls: Iterable[str] | None = None) -> list[LoraOutcome]:
        """Load on the model's workers (or those of `urls`)."""
        workers = self._lora_workers(model, urls)
        req = pb.LoadLoRAAdapterRequest(lora_name=name, lora_path=path, pinned=pinned)
        outcomes = await asyncio.gather(*(self._load_one(w, req) for w in workers))
        if any(o.success for o in outcomes):
            self.paths[(model, name)] = path
        await self.refresh(workers)
        return list(outcomes)

    async def unload(self, model: str, name: str, *, urls: Iterable[str] | None = None) -> list[LoraOutcome]:
        """Unload from the workers holding it (of `urls`, if given); the path is forgotten
        when it is gone from every worker."""
        workers = [w for w in self._lora_workers(model, urls) if name in w.adapters]
        if not workers:
            raise LoraNotFoundError(f"no worker of model {model!r} holds the LoRA adapter {name!r}", param="lora_name")
        req = pb.UnloadLoRAAdapterRequest(lora_name=name)
        outcomes = await asyncio.gather(*(self._unload_one(w, req) for w in workers))
        await self.refresh(workers)
        if name not in self._pool.adapters(model):
            self.paths.pop((model, name), None)
        return list(outcomes)

    def known(self, model: str, name: str) -> bool:
        return name in self._pool.adapters(model) or (self.load_on_demand and (model, name) in self.paths)

    async def ensure(self, model: str, name: str) -> None:
        """Make sure some worker holds the adapter: with load on demand, the least-loaded
        worker loads it (one load per adapter at a time); otherwise a 404."""
        if name in self._pool.adapters(model):
            return
        path = self.paths.get((model, name))
        if not self.load_on_demand or path is None:
            raise LoraNotFoundError(f"The LoRA adapter `{name}` of model `{model}` is not loaded on any worker; "
                                    "load it with POST /v1/load_lora_adapter", param="model")
        key = (model, name)
        task = self._loading.get(key)
        if task is None:
            task = self._loading[key] = asyncio.get_running_loop().create_task(self._load_on_least_loaded(model, name,
                                                                                                           path))
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        await asyncio.shield(task)
        if name not in self._pool.adapters(model):
            raise LoraNotFoundError(f"The LoRA adapter `{name}` could not be loaded on demand", param="model")

    async def _load_on_least_loaded(self, model: str, name: str, path: str) -> None:
        workers = [w for w in self._pool.workers(model) if w.kind in LORA_KINDS and w.routable]
        if not workers:
            raise NoHealthyWorkerError(f"no healthy worker serves model {model!r}")
        target = min(workers, key=lambda w: (w.inflight + w.load, w.url))
        outcome = await self._load_one(target, pb.LoadLoRAAdapterRequest(lora_name=name, lora_path=path))
        log.info("LoRA adapter %s loaded on demand on %s: %s", name, target.url, outcome.message)
        await refresh_adapters(target)

    @staticmethod
    async def _load_one(worker: Worker, req: pb.LoadLoRAAdapterRequest) -> LoraOutcome:
        try:
            resp = await worker.client.load_lora(req)
        except WorkerError as err:
            return LoraOutcome(worker.url, False, err.message)
        return LoraOutcome(worker.url, resp.success, resp.message)

    @staticmethod
    async def _unload_one(worker: Worker, req: pb.UnloadLoRAAdapterRequest) -> LoraOutcome:
        try:
            resp = await worker.client.unload_lora(req)
        except WorkerError as err:
            return LoraOutcome(worker.url, False, err.message)
        return LoraOutcome(worker.url, resp.success, resp.message)
