"""OpenTelemetry traces: one span per request, child spans per stage, sent over OTLP.

Off by default, and then free: every hook in the request path is guarded by one module
attribute, :data:`ENABLED`, and does nothing else (no no-op spans are made). With
``--enable-trace`` the official SDK is loaded (``opentelemetry-sdk`` and the OTLP exporters
are imported only then), spans go to a ``BatchSpanProcessor`` with a bounded queue and are
exported from its own thread, so a refused or hung collector never slows a request: spans
that do not fit in the queue, or whose export failed, are counted (the gateway passes
``metrics.record_trace_drops``: ``sgl_router_trace_spans_dropped_total{reason}``) and
forgotten.

The tree of one request (names are span names; docs/operations.md shows it in Jaeger)::

    POST /v1/chat/completions        server span, opened by the edge middleware
    ├── prepare                      template, tokenize, sampling (pipeline/prepare.py)
    ├── select                       one per attempt (worker, or prefill/decode pair)
    ├── dispatch                     one per attempt, until the first token (retries: error status)
    ├── pd.prefill / pd.decode       the two legs of a disaggregated request
    ├── decode                       first token → end of the stream (busy seconds as attribute)
    ├── parse, frame                 first token → end; their busy seconds as attribute
    ├── history.<call>               responses / conversations storage
    └── mcp.call_tool                Responses MCP tool calls

A client's W3C ``traceparent``/``tracestate`` is continued; each worker call carries the
``traceparent`` of its own span (gRPC metadata, HTTP headers), so a trace goes on into
SGLang. :class:`RequestTrace` is the request's handle, found with :func:`current` (a
context variable set by the edge middleware for the request's task and those it starts).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["CURRENT", "ENABLED", "PROTOCOLS", "DropCounter", "RequestTrace", "Tracer", "TracingConfig", "current",
           "end", "normalize_endpoint"]

log = logging.getLogger(__name__)

ENABLED = False  # true while some gateway of this process traces: the one check on the hot path
CURRENT: ContextVar[RequestTrace | None] = ContextVar("sglang_gw_trace", default=None)
PROTOCOLS = ("grpc", "http/protobuf")
_PREFIX = "sglang_gw."
_tracers = 0  # gateways of this process that trace (tests run several in one process)
DropCounter = Callable[[str, int], None]  # (reason, spans): called from the exporter's thread


@dataclass(slots=True, frozen=True)
class TracingConfig:
    """--enable-trace and friends; the batch settings are the SDK's defaults, except a
    shorter schedule delay (tests shorten it further). Bad values raise ValueError (this
    module sits below errors.py; the CLI reports them as ConfigError)."""

    enabled: bool = False
    endpoint: str | None = None  # host:port or http(s)://host:port; default by protocol
    protocol: str = "grpc"
    sampling_ratio: float = 1.0
    service_name: str = "sglang-gw"
    schedule_delay_ms: int = 1000
    max_queue_size: int = 2048
    max_export_batch_size: int = 512
    export_timeout_secs: float = 10.0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"--otlp-traces-protocol {self.protocol!r}: use one of {', '.join(PROTOCOLS)}")
        if not 0.0 <= self.sampling_ratio <= 1.0:
            raise ValueError(f"--trace-sampling-ratio {self.sampling_ratio}: must be between 0 and 1")
        if self.max_export_batch_size > self.max_queue_size or self.max_queue_size < 1:
            raise ValueError("the trace export batch must not be larger than the trace queue")


def normalize_endpoint(endpoint: str | None, protocol: str) -> str:
    """The exporter's endpoint: gRPC takes `http://host:port` (plain text) or `https://`;
    HTTP/protobuf takes the full URL of `/v1/traces`. `host:port` means plain text."""
    default = "localhost:4317" if protocol == "grpc" else "localhost:4318"
    raw = (endpoint or default).strip().rstrip("/")
    url = raw if "://" in raw else f"http://{raw}"
    if protocol == "http/protobuf" and not url.endswith("/v1/traces"):
        url += "/v1/traces"
    return url


def current() -> RequestTrace | None:
    """The trace of the request this task serves, if it is traced."""
    return CURRENT.get()


class RequestTrace:
    """One request's server span, and the spans of its stages under it."""

    __slots__ = ("_tracer", "span", "context", "first_token_ns", "trace_id", "span_id", "prompt_tokens",
                 "completion_tokens")

    def __init__(self, tracer: Any, span: Any, context: Any) -> None:
        self._tracer = tracer
        self.span = span
        self.context = context
        self.first_token_ns = 0  # set by the dispatch stage when a worker's first message came
        ids = span.get_span_context()
        self.trace_id = format(ids.trace_id, "032x") if ids.is_valid else None
        self.span_id = format(ids.span_id, "016x") if ids.is_valid else None
        self.prompt_tokens = self.completion_tokens = 0

    def child(self, name: str, attributes: Mapping[str, Any] | None = None, start_ns: int | None = None) -> Any:
        """An open child span of the request (end it with `end`)."""
        return self._tracer.start_span(name, context=self.context, attributes=_attrs(attributes),
                                       start_time=start_ns)

    def record(self, name: str, start_ns: int, end_ns: int, attributes: Mapping[str, Any] | None = None,
               error: BaseException | str | None = None) -> None:
        """A child span for a stage already timed."""
        end(self.child(name, attributes, start_ns), error, end_ns)

    def interleaved(self, stage: str, busy_seconds: float) -> None:
        """A per-token stage (decode, parse, frame): its span runs from the first token to
        now, and its own CPU time is the `busy_seconds` attribute."""
        now = time.time_ns()
        start = self.first_token_ns or now - int(busy_seconds * 1e9)
        self.record(stage, start, now, {"busy_seconds": busy_seconds})

    def headers(self, span: Any = None) -> list[tuple[str, str]]:
        """`traceparent` (and `tracestate`) naming `span` (default: the request's) as parent."""
        from opentelemetry.propagate import inject
        from opentelemetry.trace import set_span_in_context

        carrier: dict[str, str] = {}
        inject(carrier, context=set_span_in_context(span if span is not None else self.span))
        return list(carrier.items())

    def set(self, **attributes: Any) -> None:
        self.span.set_attributes(_attrs(attributes))

    def hung_up(self) -> None:
        """The client went away before the answer ended: not a success."""
        from opentelemetry.trace import Status, StatusCode

        self.span.set_attribute(_PREFIX + "client_disconnected", True)
        self.span.set_status(Status(StatusCode.ERROR, "client disconnected"))


def _attrs(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Our attribute names under `sglang_gw.`; dotted names (semantic conventions) as they are."""
    if not attributes:
        return None
    return {(k if "." in k else _PREFIX + k): v for k, v in attributes.items() if v is not None}


def end(span: Any, error: BaseException | str | None = None, end_ns: int | None = None) -> None:
    """End a span, with an error status when `error` is given."""
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        message = error if isinstance(error, str) else (getattr(error, "message", None) or repr(error))
        span.set_status(Status(StatusCode.ERROR, str(message)))
        if isinstance(error, BaseException):
            span.set_attribute("error.type", type(error).__name__)
    span.end(end_time=end_ns)


class Tracer:
    """The SDK's pipeline for one gateway: provider, sampler, batch processor, exporter."""

    def __init__(self, config: TracingConfig, on_drop: DropCounter) -> None:
        try:
            from opentelemetry.propagate import extract
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        except ImportError as err:  # declared dependencies, but a slim install may lack them
            raise ImportError(f"--enable-trace needs opentelemetry-sdk and the OTLP exporters ({err})") from None
        self.config = config
        self.endpoint = normalize_endpoint(config.endpoint, config.protocol)
        self._extract = extract
        self.processor = _counting_processor(_exporter(config, self.endpoint), config, on_drop)
        self.provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}),
                                       sampler=ParentBased(TraceIdRatioBased(config.sampling_ratio)))
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("sglang_gw")
        # The SDK logs a warning per dropped span; the drop metric counts them instead, and
        # a stuck collector must not turn into a log line per span.
        logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
        global ENABLED, _tracers
        _tracers += 1
        ENABLED = True
        log.info("tracing: spans go to %s over OTLP %s (sampling ratio %g)", self.endpoint, config.protocol,
                 config.sampling_ratio)

    @classmethod
    def open(cls, config: TracingConfig, on_drop: DropCounter) -> Tracer | None:
        """The tracer `config` asks for; None when tracing is off (an endpoint alone is not on).
        `on_drop(reason, count)` counts spans never exported."""
        if not config.enabled:
            if config.endpoint:
                log.warning("--otlp-traces-endpoint is set without --enable-trace: no spans are sent")
            return None
        return cls(config, on_drop)

    def begin(self, method: str, path: str, headers: Mapping[str, str], request_id: str) -> RequestTrace:
        """The request's server span, continuing the client's trace when it sent one."""
        from opentelemetry.trace import SpanKind, set_span_in_context

        parent = self._extract(headers) if "traceparent" in headers else None
        span = self.tracer.start_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER,
                                      attributes={"http.request.method": method, "url.path": path,
                                                  "sglang_gw.request_id": request_id})
        return RequestTrace(self.tracer, span, set_span_in_context(span))

    async def close(self) -> None:
        """Flush what is queued and stop; a hung collector delays this by at most the export
        timeout (the exporter thread is left behind, it is a daemon)."""
        global ENABLED, _tracers
        _tracers -= 1
        ENABLED = _tracers > 0
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def shut() -> None:
            try:
                self.provider.shutdown()
            finally:
                loop.call_soon_threadsafe(done.set)

        threading.Thread(target=shut, name="otel-shutdown", daemon=True).start()
        try:
            await asyncio.wait_for(done.wait(), self.config.export_timeout_secs + 1)
        except TimeoutError:
            log.warning("tracing: the collector did not take the last spans in time; they are dropped")


def _exporter(config: TracingConfig, endpoint: str) -> Any:
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"),
                            timeout=config.export_timeout_secs)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint, timeout=config.export_timeout_secs)


def _counting_processor(exporter: Any, config: TracingConfig, on_drop: DropCounter) -> Any:
    """A BatchSpanProcessor whose drops are counted: a full queue, or a failed export."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            try:
                result = exporter.export(spans)
            except Exception:
                on_drop("export_failed", len(spans))
                raise
            if result is not SpanExportResult.SUCCESS:
                on_drop("export_failed", len(spans))
            return result

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(exporter.force_flush(timeout_millis))

    class CountingProcessor(BatchSpanProcessor):
        def on_end(self, span: Any) -> None:
            queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
            if queue is not None and len(queue) >= config.max_queue_size and span.context.trace_flags.sampled:
                on_drop("queue_full", 1)  # the SDK drops the oldest span to make room
            super().on_end(span)

    return CountingProcessor(CountingExporter(), max_queue_size=config.max_queue_size,
                             schedule_delay_millis=config.schedule_delay_ms,
                             max_export_batch_size=config.max_export_batch_size,
                             export_timeout_millis=config.export_timeout_secs * 1000)
