"""The running gateway: its workers, its models, and how a request finds both.

Start-up, in order: (0) start the history store (its schema is created or migrated; an
unreachable database fails start-up) and connect the static MCP servers (one that fails is
retried in the background, unless `required`), (1) start the demo worker when no worker is given, (2) start one
registration job per `--worker-urls` entry, side by side, and wait for them all (each
connects, waiting up to the start-up timeout, then loads or reuses its model), (3) fail if
none came up (with discovery, none given is fine: discovery fills the fleet; server/app.py
starts it next), (4) set the collector's young thresholds for serving (runtime/heap.py).
Shutdown: stop registering, close every worker channel, stop the demo worker, put the
collector's thresholds back, close the MCP sessions and the history store, then flush the
trace exporter (tracing.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Mapping

from sglang_gw import metrics
from sglang_gw.admission import Admission
from sglang_gw.config import GatewayConfig
from sglang_gw.errors import ConfigError, InvalidRequestError, ModelNotFoundError, NoWorkersError
from sglang_gw.history import HistoryStore, Owners, open_history
from sglang_gw.history.traced import TracedHistory
from sglang_gw.mcp import McpPool
from sglang_gw.model import ServedModel, load_served_model
from sglang_gw.pipeline.dispatch import DispatchSettings
from sglang_gw.plugins import HookRegistry
from sglang_gw.routing import POLICIES
from sglang_gw.runtime.heap import freeze_heap, tune_collector
from sglang_gw.runtime.loop_lag import LoopLagMonitor
from sglang_gw.tracing import Tracer
from sglang_gw.workers.client import GrpcWorkerClient
from sglang_gw.workers.health import HealthChecker, LoadMonitor
from sglang_gw.workers.kv_events import KvEventFeed
from sglang_gw.workers.lora import LoraManager
from sglang_gw.workers.pool import Worker, WorkerPool
from sglang_gw.workers.registrar import Registrar, WorkerJob, WorkerSpec

__all__ = ["Gateway"]

# Worker.kind → the `connection_mode` GET /workers reports (smg's names, plus "openai").
_CONNECTION_MODES = {"grpc": "grpc", "sglang_http": "http", "http": "openai"}

log = logging.getLogger(__name__)


def _open_tracer(config: GatewayConfig) -> Tracer | None:
    try:
        return Tracer.open(config.observability.tracing, metrics.record_trace_drops)
    except ImportError as err:
        raise ConfigError(str(err)) from None


class Gateway:
    def __init__(self, config: GatewayConfig, *, hooks: HookRegistry | None = None) -> None:
        self.config = config
        self.hooks = hooks or HookRegistry()  # plugin hooks (see plugins.py); empty by default
        routing = config.routing
        self.pool = WorkerPool(POLICIES.get(routing.policy)(routing.policy_config), breaker=config.breaker)
        if config.pd is not None:
            for kind, name in (("prefill", config.pd.prefill_policy), ("decode", config.pd.decode_policy)):
                self.pool.policies[kind] = POLICIES.get(name or routing.policy)(routing.policy_config)
        self.kv_events = self._kv_feed()
        self.models: dict[str, ServedModel] = {}
        retry = config.retry
        self.dispatch = DispatchSettings(
            request_timeout=config.request_timeout_secs, max_retries=retry.max_retries,
            backoff_initial=retry.initial_backoff_ms / 1000, backoff_max=retry.max_backoff_ms / 1000,
            backoff_multiplier=retry.backoff_multiplier, jitter_factor=retry.jitter_factor)
        self.http_models: dict[str, int] = {}  # model name → created (proxied, no tokenizer here)
        self.registrar = Registrar(self._load_model, self.pool.add,
                                   startup_timeout=config.worker_startup_timeout_secs,
                                   link=config.link,
                                   on_http_model=lambda name: self.http_models.setdefault(name, int(time.time())))
        self.health = HealthChecker(config.health, self.pool.workers, on_change=self._health_changed)
        self.loads = LoadMonitor(routing.load_monitor_interval, self.pool.workers) \
            if routing.load_monitor_interval > 0 else None
        self.loras = LoraManager(self.pool, load_on_demand=routing.lora_load_on_demand)
        self.admission = Admission(config.admission)
        self.loop_lag = LoopLagMonitor()
        self.tracer = _open_tracer(config)  # None: not traced
        self.history: HistoryStore = open_history(config.history)  # started in `start`
        if self.tracer is not None:
            self.history = TracedHistory(self.history)
        self.owners = Owners(config.history.context_headers)
        self.mcp = McpPool(config.mcp)  # static servers connected in `start`
        self._routing_headers = tuple(h.lower() for h in routing.routing_key_headers)
        self._model_locks: dict[str, asyncio.Lock] = {}  # by model name: see `_load_model`
        self._removals: set[asyncio.Task[bool]] = set()  # --remove-unhealthy-workers
        self.ready = False
        self._default_thresholds: tuple[int, int, int] | None = None  # while `tune_collector`'s are in force

    async def start(self) -> None:
        await self.history.start()
        await self.mcp.start()
        self.registrar.start()
        jobs = [self.registrar.submit(spec) for spec in await self._startup_specs()]
        await asyncio.gather(*(job.done.wait() for job in jobs))
        failed = [j for j in jobs if j.state != "active"]
        if len(failed) == len(jobs) and (jobs or not self.config.discovery.enabled):
            raise ConfigError("no worker could be registered: " + "; ".join(f"{j.spec.url}: {j.error}" for j in failed))
        await self.health.start()
        if self.kv_events is not None:
            await self.kv_events.start()
        if self.loads is not None:
            await self.loads.start()
        await self.loop_lag.start()  # after start-up: loading a tokenizer is not a serving stall
        freeze_heap()  # what start-up built (modules, the models so far) leaves the full passes
        self._default_thresholds = tune_collector()  # for serving; a start-up that fails leaves them
        self.ready = True

    def _kv_feed(self) -> KvEventFeed | None:
        """One KV event feed when a policy (main, prefill or decode) routes on KV events;
        every such policy reads the same indexes."""
        users = [p for p in (self.pool.policy, *self.pool.policies.values()) if hasattr(p, "indexes")]
        if not users:
            return None
        for policy in users[1:]:
            policy.indexes = users[0].indexes  # type: ignore[attr-defined]
        return KvEventFeed(users[0].indexes, self.pool.workers)  # type: ignore[attr-defined]

    def _health_changed(self, worker: Worker, healthy: bool) -> None:
        log.warning("worker %s is now %s", worker.url, "healthy" if healthy else "unhealthy")
        metrics.set_worker_healthy(worker.url, healthy)
        self.pool.update_active()
        if not healthy and self.config.discovery.remove_unhealthy_workers:
            self._remove_unhealthy(worker)

    def _remove_unhealthy(self, worker: Worker) -> None:
        """Drain and remove a worker past the failure threshold; discovery (or the operator)
        registers it again once it answers."""
        log.warning("worker %s stayed unhealthy: removing it (--remove-unhealthy-workers)", worker.url)
        metrics.record_discovery_event("health", "removed")
        task = asyncio.get_running_loop().create_task(self.remove_worker(worker.url), name=f"remove {worker.url}")
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)

    def routing_key(self, headers: Mapping[str, str]) -> str | None:
        """The first configured routing-key header present (consistent_hashing's key)."""
        for name in self._routing_headers:
            value = headers.get(name)
            if value:
                return value
        return None

    async def _startup_specs(self) -> list[WorkerSpec]:
        cfg = self.config.model
        common = {"tokenizer_path": cfg.tokenizer_path or cfg.model_path, "served_model_name": cfg.served_model_name}
        pd = self.config.pd
        if pd is not None:
            return [*(WorkerSpec(url=u, worker_type="prefill", bootstrap_port=port, **common)
                      for u, port in pd.prefill),
                    *(WorkerSpec(url=u, worker_type="decode", **common) for u in pd.decode)]
        providers = [WorkerSpec(url=url, api_key=key, connection_mode="openai")
                     for url, key in self.config.provider_workers]
        return [*(WorkerSpec(url=u, **common) for u in self.config.worker_urls), *providers]

    async def _load_model(self, client: GrpcWorkerClient, spec: WorkerSpec,
                          window: asyncio.Timeout | None = None) -> str:
        """The worker's model name, loading the model (tokenizer, template, parsers) once:
        registrations run side by side, and one lock per model name makes the second worker
        of a new model wait for the first one's load (then reuse it) while other models load.
        `window`: the registrar's start-up timeout (see `ModelLoader`)."""
        info = await client.model_info()
        name = spec.served_model_name or info.served_model_name or info.model_path
        async with self._model_locks.setdefault(name, asyncio.Lock()):
            if name not in self.models:
                cfg = self.config.model
                model = await load_served_model(client, tokenizer_spec=spec.tokenizer_path, name=name,
                                                chat_template=cfg.chat_template,
                                                fast_path=cfg.tokenizer_fast_path, window=window, info=info)
                model.attach_parsers(cfg.reasoning_parser, cfg.tool_call_parser)
                model.limits = self.config.limits
                self.models[name] = model  # not frozen while serving: runtime/heap.py says why
        return name

    # ---- run-time worker management --------------------------------------------------

    def add_worker(self, spec: WorkerSpec) -> WorkerJob:
        return self.registrar.submit(spec)

    async def remove_worker(self, url: str, *, drain_timeout: float = 30.0) -> bool:
        """Drain (no new requests; in-flight ones finish, up to the timeout), then remove."""
        worker = self.pool.get(url)
        if worker is None:
            return self.registrar.jobs.pop(url, None) is not None
        worker.draining = True
        deadline = asyncio.get_running_loop().time() + drain_timeout
        while worker.inflight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        self.pool.remove(url)
        self.registrar.forget(url)
        await worker.client.close()
        self._drop_unserved_models()
        log.info("worker %s removed", url)
        return True

    def _drop_unserved_models(self) -> None:
        served = {w.model for w in self.pool.workers()}
        pending = {j.model for j in self.registrar.jobs.values() if j.state != "failed"}
        for table in (self.models, self.http_models):
            for name in [n for n in table if n not in served | pending]:
                del table[name]  # freed by its reference count, frozen or not (runtime/heap.py)
                self._model_locks.pop(name, None)

    def worker_status(self, worker: Worker) -> dict[str, object]:
        return {"url": worker.url, "model": worker.model, "worker_type": worker.worker_type,
                "connection_mode": _CONNECTION_MODES.get(worker.kind, worker.kind),
                "healthy": worker.healthy, "draining": worker.draining, "inflight": worker.inflight,
                "load": worker.load, "labels": worker.labels,
                "state": "draining" if worker.draining else "active"}

    # ---- lookup -------------------------------------------------------------------------

    def model(self, name: str) -> ServedModel:
        """The model a request names; an empty name picks the only model there is."""
        if name in self.models:
            return self.models[name]
        if not self.models and not self.http_models:
            raise NoWorkersError("no worker is registered yet; discovery or POST /workers adds them")
        if not name:
            if len(self.models) == 1:
                return next(iter(self.models.values()))
            raise InvalidRequestError("`model` is required when several models are served", param="model")
        raise ModelNotFoundError(f"The model `{name}` does not exist.", param="model")

    async def resolve_model(self, name: str, lora_path: str | None = None, *,
                            tasks: tuple[str, ...] = ("generate",)) -> tuple[ServedModel, str | None]:
        """The model and LoRA adapter a request names: `model` as `base:adapter`, or a base
        model with `lora_path` (an adapter's name). A model that does none of `tasks` is a
        400; an adapter no worker holds is a 404, unless it is loaded on demand here."""
        if name not in self.models:
            base, sep, adapter = name.rpartition(":")
            if sep and base in self.models:
                name, lora_path = base, adapter
        model = self.model(name)
        model.require_task(tasks)
        if lora_path:
            await self.loras.ensure(model.name, lora_path)
        return model, lora_path or None

    async def stop(self) -> None:
        # 1. no new registrations or probes, 2. close worker channels.
        await self.registrar.stop()
        await self.health.stop()
        for task in list(self._removals):
            task.cancel()
        await self.loop_lag.stop()
        if self._default_thresholds is not None:  # the process may go on (tests, embedding)
            gc.set_threshold(*self._default_thresholds)
            self._default_thresholds = None
        if self.kv_events is not None:
            await self.kv_events.stop()
        if self.loads is not None:
            await self.loads.stop()
        for worker in self.pool.workers():
            await worker.client.close()
        await self.mcp.close()
        await self.history.close()
        if self.tracer is not None:
            await self.tracer.close()  # last: flushes the spans of everything above
