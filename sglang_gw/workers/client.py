"""The asyncio client of one SGLang scheduler worker over gRPC.

`WorkerClient` is the narrow interface the rest of the gateway sees; `GrpcWorkerClient`
implements it over one `grpc.aio` channel. Every RPC error leaves as a `WorkerError`
subclass (see `errors.py`), never as a raw `AioRpcError`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from sglang_gw.errors import WorkerError
from sglang_gw.proto import common_pb2
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.proto.sglang_scheduler_pb2_grpc import SglangSchedulerStub
from sglang_gw.workers.errors import from_grpc_error, from_status
from sglang_gw.workers.h2.call import CallError, StreamCall
from sglang_gw.workers.h2.channel import Http2Channel
from sglang_gw.workers.link import TRANSPORTS, LinkSettings
from sglang_gw.workers.tls import WorkerTls, load_worker_tls

__all__ = [
    "TRANSPORTS",
    "AioGenerateStream",
    "EmbedCall",
    "GenerateStream",
    "GrpcWorkerClient",
    "H2GenerateStream",
    "TaskEmbedCall",
    "HealthStatus",
    "WorkerClient",
    "channel_options",
    "is_http_url",
    "is_tls_url",
    "normalize_url",
    "split_target",
]



def channel_options(link: LinkSettings) -> tuple[tuple[str, int], ...]:
    """grpcio's options for the same link settings our HTTP/2 client follows."""
    ms = lambda secs: max(1, int(secs * 1000))  # noqa: E731
    return (
        ("grpc.keepalive_time_ms", ms(link.keepalive_time_secs)),
        ("grpc.keepalive_timeout_ms", ms(link.keepalive_timeout_secs)),
        ("grpc.keepalive_permit_without_calls", int(link.keepalive_permit_without_calls)),
        ("grpc.http2.max_pings_without_data", 0),
        # A restarted worker should be back within seconds, not after gRPC's 2-minute backoff cap.
        ("grpc.initial_reconnect_backoff_ms", ms(link.backoff.initial_secs)),
        ("grpc.min_reconnect_backoff_ms", ms(link.backoff.initial_secs)),
        ("grpc.max_reconnect_backoff_ms", ms(link.backoff.maximum_secs)),
        ("grpc.max_receive_message_length", link.max_message_size),
        ("grpc.max_send_message_length", link.max_message_size),
    )


MAX_TOKENIZER_BYTES = 512 * 1024 * 1024

GENERATE_PATH = "/sglang.grpc.scheduler.SglangScheduler/Generate"
EMBED_PATH = "/sglang.grpc.scheduler.SglangScheduler/Embed"
KV_EVENTS_PATH = "/sglang.grpc.scheduler.SglangScheduler/SubscribeKvEvents"


@dataclass(slots=True, frozen=True)
class HealthStatus:
    healthy: bool
    message: str


def normalize_url(url: str) -> str:
    """`grpc://host:port` or bare `host:port` → `host:port` (the channel target)."""
    for scheme in ("grpc://", "grpcs://"):
        if url.startswith(scheme):
            return url[len(scheme):].rstrip("/")
    if "://" in url:
        raise ValueError(f"unsupported worker url {url!r}: expected grpc://host:port or grpcs://host:port")
    return url.rstrip("/")


def is_http_url(url: str) -> bool:
    """An HTTP worker (SGLang's own API or OpenAI-compatible), not a gRPC one."""
    return url.startswith(("http://", "https://"))


def is_tls_url(url: str) -> bool:
    """`grpcs://`: TLS on both transports; `grpc://` and a bare `host:port` are plaintext."""
    return url.startswith("grpcs://")


def split_target(target: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port); a bare host means port 443, as to grpcio."""
    if target.endswith("]") or ":" not in target:
        return target.strip("[]"), 443
    host, _, port = target.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class GenerateStream(Protocol):
    """One `Generate` call: `read()` until None; `cancel()` tears the call down.

    `read()` raises `WorkerError` on a failed stream. `finished` is true once the worker
    ended the stream normally.

    A stream that can push (`pushes`) delivers its messages to a callback instead, when
    asked (`push_to`): each batch as it arrives, then None at the end, after which
    `settle()` marks it finished or raises its `WorkerError`.
    """

    finished: bool
    pushes: bool

    async def read(self) -> pb.GenerateResponse | None: ...
    def cancel(self) -> None: ...
    def push_to(self, sink: Callable[[list[pb.GenerateResponse] | None], None] | None) -> None: ...
    def settle(self) -> None: ...


class _Iterable:
    """`async for response in stream` over `read()`."""

    __slots__ = ()

    async def read(self) -> pb.GenerateResponse | None:
        raise NotImplementedError

    async def __aiter__(self) -> AsyncIterator[pb.GenerateResponse]:
        while (response := await self.read()) is not None:
            yield response


class AioGenerateStream(_Iterable):
    """`GenerateStream` over a `grpc.aio` call. It cannot push: grpc.aio hands each
    message over through its own thread and a future anyway."""

    __slots__ = ("_call", "_url", "finished")
    pushes = False

    def __init__(self, call: grpc.aio.UnaryStreamCall, url: str) -> None:
        self._call = call
        self._url = url
        self.finished = False

    async def read(self) -> pb.GenerateResponse | None:
        try:
            response = await self._call.read()
        except grpc.aio.AioRpcError as err:
            raise from_grpc_error(err, self._url) from None
        if response is grpc.aio.EOF:
            self.finished = True
            return None
        if response is None:  # grpc.aio logs a message it cannot parse and hands over None
            self._call.cancel()
            raise from_status(grpc.StatusCode.INTERNAL, "the worker's message could not be parsed", self._url)
        return response

    def cancel(self) -> None:
        self._call.cancel()

    def push_to(self, sink: Callable[[list[pb.GenerateResponse] | None], None] | None) -> None:
        raise NotImplementedError("grpc.aio streams are read, not pushed")

    def settle(self) -> None:
        raise NotImplementedError("grpc.aio streams are read, not pushed")


class H2GenerateStream(_Iterable):
    """`GenerateStream` over our own HTTP/2 client (`workers/h2`)."""

    __slots__ = ("_call", "_channel", "_url", "finished")
    pushes = True

    def __init__(self, channel: Http2Channel, call: StreamCall, url: str) -> None:
        self._channel = channel
        self._call = call
        self._url = url
        self.finished = False

    async def read(self) -> pb.GenerateResponse | None:
        try:
            response = await self._call.read()
        except CallError as err:
            raise from_status(err.code, err.details, self._url) from None
        if response is None:
            self.finished = True
        return response

    def cancel(self) -> None:
        self._channel.cancel(self._call)

    def push_to(self, sink: Callable[[list[pb.GenerateResponse] | None], None] | None) -> None:
        self._call.deliver_to(sink)

    def settle(self) -> None:
        call = self._call
        if call.error is not None:
            raise from_status(call.error.code, call.error.details, self._url)
        self.finished = call.closed


class EmbedCall(Protocol):
    """One `Embed` call, started already: `answer()` awaits its response (raising
    `WorkerError`), `cancel()` ends it early. Many can be open while one coroutine awaits
    them in turn, so a batch needs no task per input."""

    async def answer(self) -> pb.EmbedResponse: ...
    def cancel(self) -> None: ...


class H2EmbedCall:
    """`EmbedCall` over our HTTP/2 client: a unary call is a stream of one message."""

    __slots__ = ("_call", "_channel", "_url")

    def __init__(self, channel: Http2Channel, call: StreamCall, url: str) -> None:
        self._channel = channel
        self._call = call
        self._url = url

    async def answer(self) -> pb.EmbedResponse:
        call = self._call
        try:
            response = await call.read()
            if await call.read() is not None:
                raise from_status(grpc.StatusCode.INTERNAL, "the worker sent more than one message", self._url)
        except CallError as err:
            raise from_status(err.code, err.details, self._url) from None
        finally:
            self.cancel()
        if response is None:
            raise from_status(grpc.StatusCode.INTERNAL, "the worker ended the call without an answer", self._url)
        return response

    def cancel(self) -> None:
        if not self._call.closed:
            self._channel.cancel(self._call)


class AioEmbedCall:
    """`EmbedCall` over a `grpc.aio` unary call (which runs as a task of grpc.aio's own)."""

    __slots__ = ("_call", "_url")

    def __init__(self, call: grpc.aio.UnaryUnaryCall, url: str) -> None:
        self._call = call
        self._url = url

    async def answer(self) -> pb.EmbedResponse:
        try:
            return await self._call
        except grpc.aio.AioRpcError as err:
            raise from_grpc_error(err, self._url) from None

    def cancel(self) -> None:
        self._call.cancel()


class TaskEmbedCall:
    """`EmbedCall` for a client whose `embed` is a plain coroutine: run as a task."""

    __slots__ = ("_task",)

    def __init__(self, answer: Coroutine[Any, Any, pb.EmbedResponse]) -> None:
        self._task = asyncio.ensure_future(answer)

    async def answer(self) -> pb.EmbedResponse:
        return await self._task

    def cancel(self) -> None:
        self._task.cancel()


class WorkerClient(Protocol):
    """What the gateway needs from a worker. The mock worker serves the same service."""

    url: str

    def generate(self, request: pb.GenerateRequest, *, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str]] = ()) -> GenerateStream: ...
    async def abort(self, request_id: str, reason: str = "") -> bool: ...
    async def health(self, *, timeout: float | None = None) -> HealthStatus: ...
    async def model_info(self) -> pb.GetModelInfoResponse: ...
    async def server_info(self) -> pb.GetServerInfoResponse: ...
    async def loads(self) -> pb.GetLoadsResponse: ...
    async def flush_cache(self) -> bool: ...
    async def get_tokenizer(self) -> bytes: ...
    async def embed(self, request: pb.EmbedRequest, *, timeout: float | None = None) -> pb.EmbedResponse: ...
    def start_embed(self, request: pb.EmbedRequest, *, timeout: float | None = None) -> EmbedCall: ...
    async def load_lora(self, request: pb.LoadLoRAAdapterRequest) -> pb.LoadLoRAAdapterResponse: ...
    async def unload_lora(self, request: pb.UnloadLoRAAdapterRequest) -> pb.UnloadLoRAAdapterResponse: ...
    async def list_loras(self) -> pb.ListLoadedLoRAAdaptersResponse: ...
    async def close(self) -> None: ...


class GrpcWorkerClient:
    """`WorkerClient` for one gRPC worker: `Generate`, `Embed` and the KV event stream over
    our HTTP/2 client (`workers/h2`) or grpc.aio (`transport="grpcio"`), every other RPC
    over grpc.aio; create it inside the running event loop.

    A `grpcs://` url reads the certificates `link.tls` names (a `ConfigError` if they are
    unusable) and speaks TLS on both transports; `self.tls` holds them.
    """

    def __init__(self, url: str, *, timeout: float = 30.0, api_key: str | None = None,
                 transport: str | None = None, link: LinkSettings | None = None) -> None:
        link = link or LinkSettings()
        transport = transport or link.transport
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown gRPC transport {transport!r}: expected one of {', '.join(TRANSPORTS)}")
        self.url = url
        self.target = normalize_url(url)
        self._timeout = timeout
        # Sent on every call when the worker sits behind an authenticating proxy; never logged.
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        self.tls: WorkerTls | None = load_worker_tls(link.tls) if is_tls_url(url) else None
        options = channel_options(link)
        self._channel = (grpc.aio.insecure_channel(self.target, options=options) if self.tls is None
                         else grpc.aio.secure_channel(self.target, self.tls.credentials, options=options))
        self._stub = SglangSchedulerStub(self._channel)
        self._h2 = Http2Channel(self.target, metadata=self._metadata or (), link=link,
                                ssl_context=self.tls.context if self.tls else None) if transport == "h2" else None

    def generate(self, request: pb.GenerateRequest, *, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str]] = ()) -> GenerateStream:
        """Start `Generate`; `metadata` is sent with this call only (a trace's `traceparent`)."""
        if self._h2 is not None:
            call = self._h2.unary_stream(GENERATE_PATH, request.SerializeToString(),
                                         pb.GenerateResponse.FromString, timeout, metadata)
            return H2GenerateStream(self._h2, call, self.url)
        sent = (*(self._metadata or ()), *metadata) if metadata else self._metadata
        return AioGenerateStream(self._stub.Generate(request, timeout=timeout, metadata=sent), self.url)

    async def abort(self, request_id: str, reason: str = "") -> bool:
        req = pb.AbortRequest(request_id=request_id, reason=reason)
        return (await self._unary(self._stub.Abort, req)).success

    async def health(self, *, timeout: float | None = None) -> HealthStatus:
        resp = await self._unary(self._stub.HealthCheck, pb.HealthCheckRequest(), timeout)
        return HealthStatus(resp.healthy, resp.message)

    async def model_info(self) -> pb.GetModelInfoResponse:
        return await self._unary(self._stub.GetModelInfo, pb.GetModelInfoRequest())

    async def server_info(self) -> pb.GetServerInfoResponse:
        return await self._unary(self._stub.GetServerInfo, pb.GetServerInfoRequest())

    async def loads(self) -> pb.GetLoadsResponse:
        return await self._unary(self._stub.GetLoads, pb.GetLoadsRequest(include=["core"]))

    async def flush_cache(self) -> bool:
        resp = await self._unary(self._stub.FlushCache, common_pb2.FlushCacheRequest())
        return resp.success

    async def embed(self, request: pb.EmbedRequest, *, timeout: float | None = None) -> pb.EmbedResponse:
        call = self.start_embed(request, timeout=timeout)
        try:
            return await call.answer()
        finally:
            call.cancel()  # a no-op once answered; frees the stream when the caller gave up

    def start_embed(self, request: pb.EmbedRequest, *, timeout: float | None = None) -> EmbedCall:
        timeout = timeout or self._timeout
        if self._h2 is not None:
            # Like Generate: a batch of inputs is a call each, and grpc.aio's per-call objects
            # and thread hand-off were most of the gateway's CPU per input (docs/performance.md).
            call = self._h2.unary_stream(EMBED_PATH, request.SerializeToString(), pb.EmbedResponse.FromString,
                                         timeout)
            return H2EmbedCall(self._h2, call, self.url)
        return AioEmbedCall(self._stub.Embed(request, timeout=timeout, metadata=self._metadata), self.url)

    async def load_lora(self, request: pb.LoadLoRAAdapterRequest) -> pb.LoadLoRAAdapterResponse:
        return await self._unary(self._stub.LoadLoRAAdapter, request)

    async def unload_lora(self, request: pb.UnloadLoRAAdapterRequest) -> pb.UnloadLoRAAdapterResponse:
        return await self._unary(self._stub.UnloadLoRAAdapter, request)

    async def list_loras(self) -> pb.ListLoadedLoRAAdaptersResponse:
        return await self._unary(self._stub.ListLoadedLoRAAdapters, pb.ListLoadedLoRAAdaptersRequest())

    async def get_tokenizer(self) -> bytes:
        """The worker's tokenizer folder as zip bytes, size-bounded and sha256-verified."""
        data = bytearray()
        digest = ""
        call = self._stub.GetTokenizer(common_pb2.GetTokenizerRequest(), timeout=self._timeout * 4,
                                       metadata=self._metadata)
        try:
            async for chunk in call:
                data += chunk.data
                if len(data) > MAX_TOKENIZER_BYTES:
                    call.cancel()
                    raise WorkerError(f"worker {self.url}: tokenizer larger than {MAX_TOKENIZER_BYTES} bytes")
                digest = chunk.sha256 or digest
        except grpc.aio.AioRpcError as err:
            raise from_grpc_error(err, self.url) from None
        if not digest or hashlib.sha256(data).hexdigest() != digest.lower():
            raise WorkerError(f"worker {self.url}: tokenizer sha256 mismatch or missing")
        return bytes(data)

    async def subscribe_kv_events(self, start_sequence_number: int = 0) -> AsyncIterator[common_pb2.KvEventBatch]:
        """The worker's KV event stream from `start_sequence_number` (0: a snapshot first);
        ends with a `WorkerError` when the stream fails, never by itself."""
        request = common_pb2.SubscribeKvEventsRequest(start_sequence_number=start_sequence_number)
        if self._h2 is not None:
            # On the event loop, like Generate: grpc.aio's hand-over thread falls seconds
            # behind on a busy gateway, and a late event is a wrong routing decision.
            async for batch in self._h2_kv_events(request):
                yield batch
        else:
            call = self._stub.SubscribeKvEvents(request, metadata=self._metadata)
            try:
                async for batch in call:
                    yield batch
            except grpc.aio.AioRpcError as err:
                raise from_grpc_error(err, self.url) from None
            finally:
                call.cancel()
        raise WorkerError(f"worker {self.url}: KV event stream ended")

    async def _h2_kv_events(self, request: common_pb2.SubscribeKvEventsRequest,
                            ) -> AsyncIterator[common_pb2.KvEventBatch]:
        assert self._h2 is not None
        call = self._h2.unary_stream(KV_EVENTS_PATH, request.SerializeToString(),
                                     common_pb2.KvEventBatch.FromString, None)
        try:
            while (batch := await call.read()) is not None:
                yield batch
        except CallError as err:
            raise from_status(err.code, err.details, self.url) from None
        finally:
            if not call.closed:
                self._h2.cancel(call)

    async def close(self) -> None:
        if self._h2 is not None:
            await self._h2.close()
        await self._channel.close()

    async def _unary(self, method, request, timeout: float | None = None):  # noqa: ANN001
        try:
            return await method(request, timeout=timeout or self._timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as err:
            raise from_grpc_error(err, self.url) from None
