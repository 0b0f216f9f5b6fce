"""A mock SGLang `--grpc-mode` worker: a real grpc.aio server of `SglangScheduler`.

It speaks the exact wire contract, reports real model facts from a real tokenizer folder,
and "generates" echo, scripted or random replies (see `replies.py`) with configurable
timing and injected faults; or, as a pooling model, answers Embed (`mock_pooling.py`).
It keeps LoRA adapters in an LRU table (`mock_lora.py`). With `kv_cache_blocks`, it keeps
a real KV block cache and serves its events (`mock_kv.py`): `cached_tokens` in its replies
are then actual hits. It records every request and Abort so tests can assert on what the
gateway sent.

Run it alone:  python -m sglang_gw.testing.mock_worker --port 30000 --model-path DIR
(add --http to speak SGLang's HTTP API instead, see mock_http_worker.py)
(add --tls-cert-path/--tls-key-path to serve grpcs://, and --tls-client-ca-path for mutual TLS)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import random
import threading
import time
import zipfile
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

import grpc
from google.protobuf import struct_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from sglang_gw.proto import common_pb2
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.proto import sglang_scheduler_pb2_grpc as pb_grpc
from sglang_gw.testing.mock_kv import BlockCache
from sglang_gw.testing.mock_lora import LoraTable
from sglang_gw.testing.mock_pooling import POOLING_KINDS, Pooling
from sglang_gw.testing.model_facts import ModelFacts, read_model_facts
from sglang_gw.testing.plan import ChoicePlan, plan_choice
from sglang_gw.testing.replies import MODES, ReplyPolicy, load_script

__all__ = ["Faults", "MockWorker", "MockWorkerServer", "ServerTls", "ThreadedMockWorker", "Timing"]

log = logging.getLogger(__name__)
SERVICE_NAME = "sglang.grpc.scheduler.SglangScheduler"
# How long a test's thread waits for a threaded worker's loop: a moment, unless a loaded
# machine keeps the process off the CPU for seconds.
_THREAD_WAIT_SECS = 60.0
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json",
                    "config.json", "chat_template.jinja", "special_tokens_map.json")
Ctx = grpc.aio.ServicerContext  # the servicer methods' context, named short
_SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty")


@dataclass(slots=True)
class Timing:
    ttft: float = 0.0         # seconds before the first token
    token_delay: float = 0.0  # seconds per decode step


@dataclass(slots=True)
class Faults:
    """Injected failures; tests may change them while the worker runs."""

    unavailable_rate: float = 0.0          # fail UNAVAILABLE before the first token
    reject_next: int = 0                   # fail the next N requests with reject_code
    reject_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    fail_after_tokens: int | None = None   # fail INTERNAL after this many tokens
    hang_after_tokens: int | None = None   # go silent (stream open) after this many
    hold_after_tokens: int | None = None   # pause after this many until set back to None
    die_after_tokens: int | None = None    # the whole server dies after this many
    unhealthy: bool = False


@dataclass(slots=True)
class Records:
    """What the worker saw, for tests: every GenerateRequest and every aborted id."""

    requests: list[pb.GenerateRequest] = field(default_factory=list)
    embeds: list[pb.EmbedRequest] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)  # each Generate call's headers
    aborts: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


class MockWorker(pb_grpc.SglangSchedulerServicer):
    def __init__(
        self,
        facts: ModelFacts,
        *,
        policy: ReplyPolicy | None = None,
        served_model_name: str | None = None,
        model_path: str | None = None,
        timing: Timing | None = None,
        faults: Faults | None = None,
        pooling: Pooling | None = None,
        lora_capacity: int = 4,
        kv_cache_blocks: int = 0,
        kv_page_size: int = 16,
    ) -> None:
        self.facts = facts
        self.policy = policy or ReplyPolicy(facts)
        self.model_path = model_path or str(facts.path)
        self.served_model_name = served_model_name or self.model_path
        self.timing = timing or Timing()
        self.faults = faults or Faults()
        self.records = Records()
        self.pooling = pooling  # set: an embedding/cross-encoder/classifier model, no Generate
        self.loras = LoraTable(lora_capacity)
        self.running: dict[str, asyncio.Event] = {}
        self.on_die: Callable[[], None] = lambda: os._exit(1)
        self._started = time.time()
        self._recent_prompts: deque[tuple[int, ...]] = deque(maxlen=64)
        self._rng = random.Random(0)
        # 0: no block cache, no KV events (SubscribeKvEvents is UNIMPLEMENTED), cached_tokens guessed.
        self.kv = BlockCache(kv_cache_blocks, kv_page_size) if kv_cache_blocks else None
        if self.kv is not None:
            self.kv.log.load = self._engine_load

    # ---- Generate --------------------------------------------------------------------

    async def Generate(self, request: pb.GenerateRequest, context: Ctx) -> AsyncIterator[pb.GenerateResponse]:
        self.records.requests.append(request)
        self.records.metadata.append({k: v for k, v in context.invocation_metadata() or ()
                                      if isinstance(v, str)})
        await self._validate(request, context)
        await self._reject_if_told(context)
        await self._check_lora(request.lora_id, context)
        rid = request.request_id
        aborted = self.running[rid] = asyncio.Event()
        finished = False
        try:
            async for response in self._stream(request, aborted, context):
                yield response
            finished = True
        finally:
            self.running.pop(rid, None)
            if not finished:
                self.records.cancelled.append(rid)

    async def _check_lora(self, lora_id: str, context: Ctx) -> None:
        if lora_id and not self.loras.use(lora_id):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"LoRA adapter {lora_id!r} is not loaded")

    async def _reject_if_told(self, context: Ctx) -> None:
        f = self.faults
        if f.reject_next > 0:
            f.reject_next -= 1
            await context.abort(f.reject_code, f"injected: {f.reject_code.name}")
        if f.unavailable_rate and self._rng.random() < f.unavailable_rate:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "injected: worker unavailable")

    async def _validate(self, request: pb.GenerateRequest, context: Ctx) -> None:
        if self.pooling is not None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this model is not generative; use Embed")
        sp = request.sampling_params
        if sp.stop:
            # A --grpc-mode worker has no tokenizer, so it cannot match stop strings.
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "stop strings are not supported in gRPC mode; send stop_token_ids")
        n_in = len(request.tokenized.input_ids)
        if n_in == 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "input_ids is empty")
        if n_in >= self.facts.max_context_length:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"input length {n_in} exceeds the context length {self.facts.max_context_length}")

    def _plans(self, request: pb.GenerateRequest) -> list[ChoicePlan]:
        sp = request.sampling_params
        prompt = request.tokenized.input_ids
        budget = self.facts.max_context_length - len(prompt)
        max_new = min(sp.max_new_tokens, budget) if sp.HasField("max_new_tokens") else budget
        seed = (int(sp.custom_params["seed"]) if "seed" in sp.custom_params.fields
                else zlib.crc32(request.request_id.encode()))
        return [
            plan_choice(
                self.policy.reply_ids(prompt, i, seed),
                eos_ids=self.facts.eos_token_ids,
                stop_token_ids=list(sp.stop_token_ids),
                max_new_tokens=max_new,
                min_new_tokens=sp.min_new_tokens,
                ignore_eos=sp.ignore_eos,
            )
            for i in range(max(1, sp.n))
        ]

    def _cached_tokens(self, prompt: Sequence[int], lora_id: str = "") -> int:
        """The block cache's hit, or without one the longest prefix shared with a recent
        prompt (a stand-in for the radix cache)."""
        if self.kv is not None:  # blocks of an adapter are stored under its name, as the events name them
            name = next((a.lora_name for a in self.loras.listing() if a.lora_id == lora_id), lora_id)
            return self.kv.admit(prompt, name)
        best = 0
        for old in self._recent_prompts:
            n = 0
            for a, b in zip(old, prompt, strict=False):
                if a != b:
                    break
                n += 1
            best = max(best, n)
        self._recent_prompts.append(tuple(prompt))
        return min(best, len(prompt) - 1)

    async def _stream(self, request: pb.GenerateRequest, aborted: asyncio.Event,
                      context: Ctx) -> AsyncIterator[pb.GenerateResponse]:
        plans = self._plans(request)
        prompt_len = len(request.tokenized.input_ids)
        cached = self._cached_tokens(request.tokenized.input_ids, request.lora_id)
        sp = request.sampling_params
        step = max(1, sp.stream_interval) if sp.HasField("stream_interval") else 1
        sent = [0] * len(plans)
        emitted = 0
        if self.timing.ttft:
            await asyncio.sleep(self.timing.ttft)
        while any(sent[i] < len(p.ids) for i, p in enumerate(plans)):
            if aborted.is_set():
                for i, plan in enumerate(plans):
                    if sent[i] < len(plan.ids):
                        yield self._complete(request, i, plan.ids[: sent[i]], "abort", None, prompt_len, cached)
                return
            await self._inject(emitted, aborted, context)
            for i, plan in enumerate(plans):
                if sent[i] >= len(plan.ids):
                    continue
                new = plan.ids[sent[i]: sent[i] + step]
                sent[i] += len(new)
                if request.stream:
                    yield self._chunk(request, i, new, sent[i], prompt_len, cached)
                if sent[i] >= len(plan.ids):
                    yield self._complete(request, i, plan.ids, plan.finish_reason, plan.matched_token_id,
                                         prompt_len, cached)
            emitted += step
            if self.timing.token_delay:
                await asyncio.sleep(self.timing.token_delay * step)

    async def _inject(self, emitted: int, aborted: asyncio.Event, context: Ctx) -> None:
        f = self.faults
        if f.fail_after_tokens is not None and emitted >= f.fail_after_tokens:
            await context.abort(grpc.StatusCode.INTERNAL, "injected: failure mid-stream")
        if f.hang_after_tokens is not None and emitted >= f.hang_after_tokens:
            await aborted.wait()  # silent until the caller cancels or aborts
        # A test lifts the hold from its own thread, so it is polled, not awaited.
        while (f.hold_after_tokens is not None and emitted >= f.hold_after_tokens
               and not aborted.is_set()):
            await asyncio.sleep(0.01)
        if f.die_after_tokens is not None and emitted >= f.die_after_tokens:
            self.on_die()
            await asyncio.Event().wait()

    def _chunk(self, request: pb.GenerateRequest, index: int, new: list[int], done: int,
               prompt_len: int, cached: int) -> pb.GenerateResponse:
        chunk = pb.GenerateStreamChunk(token_ids=new, prompt_tokens=prompt_len, completion_tokens=done,
                                       cached_tokens=cached, index=index)
        if request.return_logprob:
            chunk.output_logprobs.CopyFrom(self._logprobs(new, request.top_logprobs_num))
            if done == len(new):
                self._fill_input_logprobs(chunk.input_logprobs, request)
        return pb.GenerateResponse(request_id=request.request_id, chunk=chunk)

    def _complete(self, request: pb.GenerateRequest, index: int, ids: list[int], reason: str,
                  matched: int | None, prompt_len: int, cached: int) -> pb.GenerateResponse:
        done = pb.GenerateComplete(output_ids=ids, finish_reason=reason, prompt_tokens=prompt_len,
                                   completion_tokens=len(ids), cached_tokens=cached, index=index)
        if matched is not None:
            done.matched_token_id = matched
        if request.return_logprob:
            done.output_logprobs.CopyFrom(self._logprobs(ids, request.top_logprobs_num))
        return pb.GenerateResponse(request_id=request.request_id, complete=done)

    def _logprobs(self, ids: Sequence[int], top_n: int) -> pb.OutputLogProbs:
        """Deterministic fake logprobs: the sampled token is always the most likely."""
        out = pb.OutputLogProbs(token_ids=ids, token_logprobs=[_logprob(t) for t in ids])
        vocab = self.facts.vocab_size
        for tid in ids:
            alts = [tid] + [(tid + k) % vocab for k in range(1, top_n)]
            out.top_logprobs.add(token_ids=alts[:top_n], values=[_logprob(tid) - k for k in range(len(alts[:top_n]))])
        return out

    def _fill_input_logprobs(self, target: pb.InputLogProbs, request: pb.GenerateRequest) -> None:
        start = request.logprob_start_len
        ids = list(request.tokenized.input_ids)
        if start < 0 or start >= len(ids):
            return
        for pos in range(start, len(ids)):
            entry = target.token_logprobs.add()
            if pos > 0:
                entry.value = _logprob(ids[pos])
        target.token_ids.extend(ids[start:])

    # ---- Embed and LoRA ------------------------------------------------------------------

    async def Embed(self, request: pb.EmbedRequest, context: Ctx) -> pb.EmbedResponse:
        self.records.embeds.append(request)
        await self._reject_if_told(context)
        if self.pooling is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this model is generative; use Generate")
        n_in = len(request.tokenized.input_ids)
        if n_in == 0 or n_in > self.facts.max_context_length:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"input length {n_in} is out of range")
        assert self.pooling is not None
        if self.timing.ttft:  # as long as a generation's first token, so tests can hang up meanwhile
            await asyncio.sleep(self.timing.ttft)
        return self.pooling.embed(request, self.facts.tokenizer)

    async def LoadLoRAAdapter(self, request: pb.LoadLoRAAdapterRequest, context: Ctx) -> pb.LoadLoRAAdapterResponse:
        return self.loras.load(request)

    async def UnloadLoRAAdapter(self, request: pb.UnloadLoRAAdapterRequest,
                                context: Ctx) -> pb.UnloadLoRAAdapterResponse:
        return self.loras.unload(request)

    async def ListLoadedLoRAAdapters(self, request: pb.ListLoadedLoRAAdaptersRequest,
                                     context: Ctx) -> pb.ListLoadedLoRAAdaptersResponse:
        return pb.ListLoadedLoRAAdaptersResponse(loaded_adapters=self.loras.listing())

    # ---- Management ------------------------------------------------------------------

    async def Abort(self, request: pb.AbortRequest, context: Ctx) -> pb.AbortResponse:
        self.records.aborts.append(request.request_id)
        event = self.running.get(request.request_id)
        if event is not None:
            event.set()
        return pb.AbortResponse(success=True, message="aborted" if event else "not running")

    async def HealthCheck(self, request: pb.HealthCheckRequest, context: Ctx) -> pb.HealthCheckResponse:
        if self.faults.unhealthy:
            return pb.HealthCheckResponse(healthy=False, message="injected: unhealthy")
        return pb.HealthCheckResponse(healthy=True, message="ok")

    async def GetModelInfo(self, request: pb.GetModelInfoRequest, context: Ctx) -> pb.GetModelInfoResponse:
        f = self.facts
        info = pb.GetModelInfoResponse(
            model_path=self.model_path, tokenizer_path=self.model_path, is_generation=True,
            served_model_name=self.served_model_name, max_context_length=f.max_context_length,
            vocab_size=f.vocab_size, model_type=f.model_type, eos_token_ids=list(f.eos_token_ids),
            pad_token_id=f.pad_token_id, bos_token_id=f.bos_token_id,
            max_req_input_len=f.max_context_length - 1, architectures=list(f.architectures),
            weight_version="default", default_sampling_params_json=self._sampling_defaults(),
        )
        if self.pooling is not None:
            self.pooling.describe(info)
        return info

    def _sampling_defaults(self) -> str:
        path = self.facts.path / "generation_config.json"
        gen = json.loads(path.read_text()) if path.is_file() else {}
        found = {k: gen[k] for k in _SAMPLING_KEYS if k in gen}
        return json.dumps(found) if found else ""

    async def GetServerInfo(self, request: pb.GetServerInfoRequest, context: Ctx) -> pb.GetServerInfoResponse:
        args = struct_pb2.Struct()
        args.update({"model_path": self.model_path, "served_model_name": self.served_model_name,
                     "tp_size": 1, "dp_size": 1, "context_length": self.facts.max_context_length})
        info = struct_pb2.Struct()
        info.update({"mock": True, "aborts": list(self.records.aborts)})
        resp = pb.GetServerInfoResponse(server_args=args, scheduler_info=info,
                                        active_requests=len(self.running), uptime_seconds=time.time() - self._started,
                                        sglang_version="mock", server_type="grpc", max_total_num_tokens=1 << 20)
        resp.start_time.FromSeconds(int(self._started))
        return resp

    async def GetLoads(self, request: pb.GetLoadsRequest, context: Ctx) -> pb.GetLoadsResponse:
        running = len(self.running)
        load = pb.SchedulerLoad(dp_rank=0, num_running_reqs=running, num_total_reqs=running,
                                max_total_num_tokens=1 << 20, max_running_requests=256,
                                utilization=running / 256)
        return pb.GetLoadsResponse(
            timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), version="mock", dp_rank_count=1,
            loads=[load], aggregate=pb.AggregateMetrics(total_running_reqs=running, total_reqs=running,
                                                         avg_utilization=running / 256))

    async def FlushCache(self, request: common_pb2.FlushCacheRequest, context: Ctx) -> common_pb2.FlushCacheResponse:
        self._recent_prompts.clear()
        if self.kv is not None:
            self.kv.clear()
        return common_pb2.FlushCacheResponse(success=True, message="flushed")

    async def SubscribeKvEvents(self, request: common_pb2.SubscribeKvEventsRequest,
                                context: Ctx) -> AsyncIterator[common_pb2.KvEventBatch]:
        if self.kv is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "KV events are off (no --kv-cache-blocks)")
        assert self.kv is not None
        async for batch in self.kv.log.subscribe(request.start_sequence_number, self.kv.snapshot_events):
            yield batch
        await context.abort(grpc.StatusCode.UNAVAILABLE, "injected: KV event stream dropped")

    def _engine_load(self) -> common_pb2.EngineLoad:
        kv = self.kv
        usage = len(kv) / kv.capacity if kv is not None else 0.0
        return common_pb2.EngineLoad(running_requests=len(self.running), max_running_requests=256, token_usage=usage)

    async def GetTokenizer(self, request: common_pb2.GetTokenizerRequest,
                           context: Ctx) -> AsyncIterator[common_pb2.GetTokenizerChunk]:
        data = _zip_folder(self.facts.path)
        digest = sha256(data).hexdigest()
        size = 256 * 1024
        pieces = [data[i: i + size] for i in range(0, len(data), size)] or [b""]
        for i, piece in enumerate(pieces):
            yield common_pb2.GetTokenizerChunk(data=piece, sha256=digest if i == len(pieces) - 1 else "")


def _logprob(tid: int) -> float:
    return -0.05 - (tid % 13) / 100.0


def _zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in _TOKENIZER_FILES:
            if (folder / name).is_file():
                zf.write(folder / name, name)
    return buf.getvalue()


@dataclass(slots=True, frozen=True)
class ServerTls:
    """A TLS worker's certificate chain and private key (PEM bytes). With `client_ca`, mutual
    TLS: a client must present a certificate signed by that CA, or the handshake is refused."""

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.private_key, self.cert_chain)], root_certificates=self.client_ca,
                                           require_client_auth=self.client_ca is not None)


class MockWorkerServer:
    """The grpc.aio server around a `MockWorker`, plus the standard grpc.health.v1 service."""

    def __init__(self, worker: MockWorker, *, host: str = "127.0.0.1", port: int = 0,
                 options: tuple[tuple[str, int], ...] = (), tls: ServerTls | None = None) -> None:
        self.worker = worker
        self.host = host
        self.port = port
        self.options = options  # extra grpc server options, e.g. a stream limit for tests
        self.tls = tls  # None: plaintext
        self._server: grpc.aio.Server | None = None

    @property
    def url(self) -> str:
        return f"{'grpc' if self.tls is None else 'grpcs'}://{self.host}:{self.port}"

    async def start(self) -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0), *self.options])
        pb_grpc.add_SglangSchedulerServicer_to_server(self.worker, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        address = f"{self.host}:{self.port}"
        self.port = (server.add_insecure_port(address) if self.tls is None
                     else server.add_secure_port(address, self.tls.credentials()))
        await server.start()
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server

    async def stop(self, grace: float | None = None) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    async def wait(self) -> None:
        assert self._server is not None
        await self._server.wait_for_termination()


class ThreadedMockWorker:
    """A mock worker on its own event loop in a background thread, for synchronous tests."""

    def __init__(self, worker: MockWorker, *, port: int = 0, tls: ServerTls | None = None,
                 host: str = "127.0.0.1") -> None:
        self.worker = worker
        self._loop = asyncio.new_event_loop()
        self.server = MockWorkerServer(worker, host=host, port=port, tls=tls)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name="mock-worker")
        self._thread.start()
        ready.wait(_THREAD_WAIT_SECS)
        worker.on_die = lambda: self._loop.create_task(self.server.stop(None))

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self.server.start())
        ready.set()
        self._loop.run_forever()

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, fn: Callable[[], object]) -> object:
        """Run `fn` on the worker's loop (e.g. to read records consistently)."""
        async def run() -> object:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(_THREAD_WAIT_SECS)

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(None), self._loop).result(_THREAD_WAIT_SECS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_THREAD_WAIT_SECS)
        self._loop.close()


def build_worker(args: argparse.Namespace) -> MockWorker:
    facts = read_model_facts(args.model_path)
    script = load_script(args.script) if args.script else {}
    policy = ReplyPolicy(facts, mode=args.mode, script=script, random_tokens=args.random_tokens)
    faults = Faults(unavailable_rate=args.fail_rate)
    pooling = Pooling(args.pooling) if args.pooling else None
    return MockWorker(facts, policy=policy, served_model_name=args.served_model_name,
                      model_path=args.reported_model_path, timing=Timing(ttft=args.ttft, token_delay=args.token_delay),
                      faults=faults, pooling=pooling, lora_capacity=args.max_loaded_loras,
                      kv_cache_blocks=args.kv_cache_blocks, kv_page_size=args.kv_page_size)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sglang_gw.testing.mock_worker", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=30000)
    p.add_argument("--model-path", required=True, help="a tokenizer folder (make tokenizers builds some)")
    p.add_argument("--served-model-name", default=None)
    p.add_argument("--reported-model-path", default=None,
                   help="model path to report in GetModelInfo (e.g. an HF id), instead of --model-path")
    p.add_argument("--mode", choices=MODES, default="echo")
    p.add_argument("--script", default=None, help="JSON file of prompt marker -> reply text (scripted mode)")
    p.add_argument("--random-tokens", type=int, default=128, help="reply length in random mode")
    p.add_argument("--ttft", type=float, default=0.0, help="seconds before the first token")
    p.add_argument("--token-delay", type=float, default=0.0, help="seconds per decode step")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of requests failed UNAVAILABLE")
    p.add_argument("--pooling", choices=POOLING_KINDS, default=None,
                   help="serve Embed as this kind of model instead of generating")
    p.add_argument("--max-loaded-loras", type=int, default=4, help="LoRA adapter slots (LRU-evicted when full)")
    p.add_argument("--kv-cache-blocks", type=int, default=0,
                   help="keep a KV block cache of this many blocks (LRU) and serve its SubscribeKvEvents (0 = off)")
    p.add_argument("--kv-page-size", type=int, default=16, help="tokens per KV block (SGLang's --page-size)")
    p.add_argument("--tls-cert-path", default=None, help="serve TLS (grpcs://) with this certificate chain (PEM)")
    p.add_argument("--tls-key-path", default=None, help="the certificate's private key (PEM)")
    p.add_argument("--tls-client-ca-path", default=None,
                   help="mutual TLS: require client certificates signed by this CA (PEM)")
    p.add_argument("--http", action="store_true", help="speak SGLang's HTTP API instead of gRPC (mock_http_worker.py)")
    p.add_argument("--grpc-mode", action="store_true", help="accepted like SGLang's flag: gRPC is the default")
    return p.parse_args(argv)


def server_tls(args: argparse.Namespace) -> ServerTls | None:
    if args.tls_cert_path is None and args.tls_key_path is None:
        return None
    if args.tls_cert_path is None or args.tls_key_path is None:
        raise SystemExit("--tls-cert-path and --tls-key-path go together")
    client_ca = Path(args.tls_client_ca_path).read_bytes() if args.tls_client_ca_path else None
    return ServerTls(Path(args.tls_cert_path).read_bytes(), Path(args.tls_key_path).read_bytes(), client_ca)


async def _serve(args: argparse.Namespace) -> None:
    if args.http:
        from sglang_gw.testing.mock_http_worker import MockHttpWorker, serve_http
        await serve_http(MockHttpWorker(build_worker(args)), args.host, args.port)
        return
    server = MockWorkerServer(build_worker(args), host=args.host, port=args.port, tls=server_tls(args))
    await server.start()
    log.info("mock worker serving %s on %s", args.model_path, server.url)
    print(f"mock worker ready on {server.url}", flush=True)
    await server.wait()


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
