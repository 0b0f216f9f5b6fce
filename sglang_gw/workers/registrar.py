"""Worker registration as jobs: connect → GetModelInfo/GetServerInfo → model → active.

Each job's state is visible (`GET /workers/{url}`) while it runs. Jobs run side by side,
each in its own task with its own start-up timeout (connecting waits at most that long,
and loading the model at most that long again), so a worker that is not up yet delays
nobody else. Two workers of a new model still never load its tokenizer twice: the model
loader holds a lock per model name (gateway.py). A failed job stays listed with its error
for `failed_job_ttl` seconds (`FAILED_JOB_TTL_SECS`, 10 minutes), then goes.

Connecting waits for a worker that is not up yet (or up but not reporting healthy: still
loading, or unhealthy), up to the start-up timeout, but not for
one that refuses our TLS handshake (or speaks TLS to a `grpc://` url): that fails at once,
saying so (see tls_probe.py).

An http(s):// worker is an SGLang HTTP worker (`sglang_http.py`, registered like a gRPC one)
when its `connection_mode` is "http" or it answers as SGLang does (`probe_sglang`); otherwise
an OpenAI-compatible one, proxied at the API level. A worker found to be SGLang's whose
model cannot be loaded here (no local tokenizer) is proxied too, with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sglang_gw.errors import ConfigError, GatewayError, WorkerError, WorkerUnavailableError
from sglang_gw.workers.client import (
    GrpcWorkerClient,
    WorkerClient,
    is_http_url,
    is_tls_url,
    normalize_url,
    split_target,
)
from sglang_gw.workers.link import LinkSettings, TlsSettings
from sglang_gw.workers.lora import refresh_adapters
from sglang_gw.workers.pool import Worker
from sglang_gw.workers.tls import is_loopback
from sglang_gw.workers.tls_probe import explain_refusal, might_be_tls

if TYPE_CHECKING:
    from sglang_gw.workers.sglang_http import SglangHttpClient

# The HTTP workers' clients (sglang_http.py, http_backend.py, http_worker.py) are imported by
# the methods below that build them: httpx, with the rich and pygments its command line
# brings, costs a gateway of gRPC workers start-up time for nothing (docs/performance.md, Start-up).

__all__ = ["FAILED_JOB_TTL_SECS", "Registrar", "WorkerJob", "WorkerSpec"]

log = logging.getLogger(__name__)

# Long enough for an operator to read why a registration failed, short enough that a
# script retrying a bad url does not grow the listing without bound.
FAILED_JOB_TTL_SECS = 600.0


@dataclass(slots=True, frozen=True)
class WorkerSpec:
    url: str
    api_key: str | None = None
    worker_type: str = "regular"
    labels: dict[str, str] = field(default_factory=dict)
    bootstrap_port: int | None = None
    tokenizer_path: str | None = None
    served_model_name: str | None = None
    tls: TlsSettings | None = None  # this worker's certificates, instead of the gateway's
    # How an http(s):// worker is spoken to: "http" (SGLang's native API, tokens in and out),
    # "openai" (proxied at the OpenAI level), None: "http" if it answers as SGLang does.
    connection_mode: str | None = None


@dataclass(slots=True)
class WorkerJob:
    spec: WorkerSpec
    state: str = "pending"  # pending → connecting → loading → active | failed
    error: str | None = None
    model: str | None = None
    created: float = field(default_factory=time.time)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    failed_at: float | None = None  # on the registrar's clock, for expiry

    def to_json(self) -> dict[str, Any]:
        return {"url": self.spec.url, "state": self.state, "error": self.error, "model": self.model,
                "worker_type": self.spec.worker_type, "labels": self.spec.labels}


# (client, spec, window) -> model name, after loading or reusing the model; provided by the
# gateway. `window` is the start-up timeout over the load: it bounds waiting for the worker,
# and the loader may lift it (`window.reschedule(None)`) for work of its own that a timeout
# cannot stop half-way (building the model in a thread).
ModelLoader = Callable[[WorkerClient, WorkerSpec, asyncio.Timeout], Awaitable[str]]


class Registrar:
    """Runs one task per submitted worker; `jobs` lists them by url."""

    def __init__(self, load_model: ModelLoader, add_worker: Callable[[Worker], None], *,
                 startup_timeout: float = 60.0, link: LinkSettings | None = None,
                 on_http_model: Callable[[str], None] = lambda name: None,
                 failed_job_ttl: float = FAILED_JOB_TTL_SECS, clock: Callable[[], float] = time.monotonic) -> None:
        self._load_model = load_model
        self._link = link or LinkSettings()
        self._warned_plaintext: set[str] = set()
        self._add_worker = add_worker
        self._on_http_model = on_http_model
        self._startup_timeout = startup_timeout
        self._failed_job_ttl = failed_job_ttl
        self._clock = clock
        self._jobs: dict[str, WorkerJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def jobs(self) -> dict[str, WorkerJob]:
        """Jobs by url: running, active, and failed ones until they expire."""
        horizon = self._clock() - self._failed_job_ttl
        expired = [url for url, job in self._jobs.items() if job.failed_at is not None and job.failed_at <= horizon]
        for url in expired:
            del self._jobs[url]
        return self._jobs

    def start(self) -> None:
        """Nothing to start: each job runs in its own task (kept for the gateway's lifecycle)."""

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def submit(self, spec: WorkerSpec) -> WorkerJob:
        existing = self.jobs.get(spec.url)
        if existing is not None and existing.state != "failed":
            return existing
        job = self._jobs[spec.url] = WorkerJob(spec)
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"register {spec.url}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def forget(self, url: str) -> None:
        self._jobs.pop(url, None)

    async def _run(self, job: WorkerJob) -> None:
        try:
            await self._register(job)
        except (GatewayError, OSError, ValueError) as err:
            job.state, job.error = "failed", getattr(err, "message", str(err))
            job.failed_at = self._clock()
            log.error("worker %s failed to register: %s", job.spec.url, job.error)
        finally:
            job.done.set()

    async def _register(self, job: WorkerJob) -> None:
        spec = job.spec
        if is_http_url(spec.url):
            job.state = "connecting"
            if await self._connection_mode(spec) == "openai":
                await self._register_http(job)
                return
            client: WorkerClient = await self._connect_sglang_http(spec)
            kind = "sglang_http"
        else:
            normalize_url(spec.url)  # raises ValueError early for a bad scheme
            job.state = "connecting"
            self._warn_if_key_in_plaintext(spec)
            client, kind = await self._connect(spec), "grpc"
        try:
            job.state = "loading"
            job.model = await self._load(client, spec)
        except ConfigError as err:
            await client.close()
            if kind != "sglang_http" or spec.connection_mode is not None:
                raise
            # Found by asking, not told: without a local tokenizer it can still be proxied.
            log.warning("worker %s speaks SGLang's API, but %s: proxying it at the OpenAI level instead",
                        spec.url, err.message)
            await self._register_http(job)
            return
        except BaseException:
            await client.close()
            raise
        bootstrap_port = spec.bootstrap_port
        if bootstrap_port is None and spec.worker_type == "prefill" and kind == "sglang_http":
            bootstrap_port = await self._bootstrap_port(client)
        worker = Worker(url=spec.url, client=client, model=job.model, labels=dict(spec.labels),
                        worker_type=spec.worker_type, bootstrap_port=bootstrap_port, kind=kind)
        await refresh_adapters(worker)  # routable for its LoRA adapters from the start
        self._add_worker(worker)
        job.state = "active"
        log.info("worker %s (%s) serves model %s", spec.url, spec.worker_type, job.model)

    async def _connection_mode(self, spec: WorkerSpec) -> str:
        """"http" (SGLang's native API) or "openai": as given, else asked of the worker,
        waiting for it to answer up to the start-up timeout."""
        if spec.connection_mode is not None:
            return spec.connection_mode
        from sglang_gw.workers.sglang_http import probe_sglang

        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                return "http" if await probe_sglang(spec.url, api_key=spec.api_key) else "openai"
            except WorkerUnavailableError as err:
                if time.monotonic() >= deadline:
                    raise ConfigError(f"worker {spec.url} did not answer within {self._startup_timeout:.0f}s: "
                                      f"{err.message}") from None
                await asyncio.sleep(0.5)

    async def _connect_sglang_http(self, spec: WorkerSpec) -> SglangHttpClient:
        """An SGLang HTTP worker's client once its `/health` answers (within the start-up timeout)."""
        from sglang_gw.workers.sglang_http import SglangHttpClient

        client = SglangHttpClient(spec.url, api_key=spec.api_key, http2=self._link.upstream_http2)
        deadline = time.monotonic() + self._startup_timeout
        while not (status := await client.health(timeout=5)).healthy:
            if time.monotonic() >= deadline:
                await client.close()
                raise ConfigError(f"worker {spec.url} did not answer /health within "
                                  f"{self._startup_timeout:.0f}s: {status.message}")
            await asyncio.sleep(0.5)
        return client

    async def _bootstrap_port(self, client: WorkerClient) -> int | None:
        """A prefill worker's KV bootstrap port, from its server arguments."""
        try:
            args = (await client.server_info()).server_args
        except WorkerError as err:
            log.warning("worker %s: no bootstrap port found (%s)", client.url, err.message)
            return None
        port = args.fields.get("disaggregation_bootstrap_port")
        return int(port.number_value) if port is not None and port.number_value else None

    async def _register_http(self, job: WorkerJob) -> None:
        """An OpenAI-compatible worker: its model name comes from discovery, requests are proxied."""
        from sglang_gw.workers.http_backend import HttpBackend
        from sglang_gw.workers.http_worker import HttpWorkerClient

        spec = job.spec
        job.state = "connecting"
        backend = HttpBackend(spec.url, api_key=spec.api_key, http2=self._link.upstream_http2)
        try:
            names = [spec.served_model_name] if spec.served_model_name else await backend.discover_models()
        except BaseException:
            await backend.aclose()
            raise
        if not names:
            await backend.aclose()
            raise ConfigError(f"worker {spec.url} lists no model")
        job.model = names[0]
        self._on_http_model(job.model)
        self._add_worker(Worker(url=spec.url, client=HttpWorkerClient(backend), model=job.model,  # type: ignore[arg-type]
                                labels=dict(spec.labels), kind="http"))
        job.state = "active"
        log.info("HTTP worker %s serves model %s", backend.url, job.model)

    async def _load(self, client: WorkerClient, spec: WorkerSpec) -> str:
        """The worker's model, loaded (or reused): what the worker is asked within the start-up
        timeout, the loader's own work after it lifts the window (see `ModelLoader`)."""
        try:
            async with asyncio.timeout(self._startup_timeout) as window:
                return await self._load_model(client, spec, window)
        except TimeoutError:
            raise ConfigError(f"worker {spec.url}: its model did not load within "
                              f"{self._startup_timeout:g}s") from None

    def _warn_if_key_in_plaintext(self, spec: WorkerSpec) -> None:
        """A worker key sent over plain gRPC off this machine can be read on the network."""
        if not spec.api_key or is_tls_url(spec.url) or spec.url in self._warned_plaintext:
            return
        if not is_loopback(split_target(normalize_url(spec.url))[0]):
            self._warned_plaintext.add(spec.url)
            log.warning("worker %s: its API key is sent in plaintext (grpc://); use grpcs:// to encrypt the link",
                        spec.url)

    async def _connect(self, spec: WorkerSpec) -> GrpcWorkerClient:
        link = self._link if spec.tls is None else replace(self._link, tls=spec.tls)
        client = GrpcWorkerClient(spec.url, api_key=spec.api_key, link=link)
        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                status = await client.health(timeout=5)
            except WorkerError as err:
                refusal = await self._tls_refusal(client, err)
                if refusal is not None or time.monotonic() >= deadline:
                    await client.close()
                    raise ConfigError(refusal or f"worker {spec.url} did not answer within "
                                      f"{self._startup_timeout:.0f}s: {err.message}") from None
            else:
                if status.healthy:
                    return client
                # Up but not ready (loading, or unhealthy): wait for it as for one not up yet.
                if time.monotonic() >= deadline:
                    await client.close()
                    raise ConfigError(f"worker {spec.url} did not report healthy within "
                                      f"{self._startup_timeout:.0f}s: {status.message}")
            await asyncio.sleep(0.5)

    async def _tls_refusal(self, client: GrpcWorkerClient, err: WorkerError) -> str | None:
        """Why the worker refused our TLS handshake (or expects one), or None to keep waiting."""
        details = err.message.removeprefix(f"worker {client.url}: ")  # the url may hold "tls" too
        if not isinstance(err, WorkerUnavailableError) or not might_be_tls(details):
            return None
        host, port = split_target(client.target)
        tls = client.tls
        reason = await explain_refusal(host, port, tls.context if tls else None,
                                       client_cert=bool(tls and tls.client_cert),
                                       timeout=self._link.connect_timeout_secs)
        if reason is not None:
            return f"worker {client.url}: {reason}"
        if tls is not None and any(words in details.lower() for words in ("handshake failed",
                                                                      "verification check failed")):
            return err.message  # grpcio's own words are plain enough, and waiting would not change them
        return None
