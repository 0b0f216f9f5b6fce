"""Every Prometheus series the gateway exports, in one place, under one prefix.

All names start with ``sgl_router_``; labels come from closed sets only (stage names, route
templates, HTTP methods and status codes, worker urls of registered workers, the reason and
state names below, tenant names bounded by identity/labels.py: N of them, then ``other``).
Never a request id, a model-chosen string or a raw URL path.

    series                                                     type       labels
    sgl_router_requests_total                                  counter    endpoint, method, status
    sgl_router_request_duration_seconds                        histogram  endpoint, method
    sgl_router_tenant_requests_total                           counter    tenant, status
    sgl_router_tenant_request_duration_seconds                 histogram  tenant
    sgl_router_stage_duration_seconds                          histogram  stage
    sgl_router_generate_duration_seconds                       histogram  -
    sgl_router_time_to_first_token_seconds                     histogram  -
    sgl_router_time_per_output_token_seconds                   histogram  -
    sgl_router_prompt_tokens_total                             counter    -
    sgl_router_completion_tokens_total                         counter    -
    sgl_router_processed_requests_total                        counter    worker
    sgl_router_running_requests                                gauge      worker
    sgl_router_active_workers                                  gauge      -
    sgl_router_worker_healthy                                  gauge      worker (1 healthy, 0 not)
    sgl_router_cache_hits_total                                counter    -
    sgl_router_cache_misses_total                              counter    -
    sgl_router_retries_total                                   counter    -
    sgl_router_worker_aborts_total                             counter    reason
    sgl_router_circuit_breaker_state                           gauge      worker (0 closed, 1 open, 2 half-open)
    sgl_router_circuit_breaker_transitions_total               counter    worker, from, to
    sgl_router_queue_depth                                     gauge      -
    sgl_router_queue_rejections_total                          counter    reason (queue_full, timeout, rate_limited)
    sgl_router_event_loop_lag_seconds                          histogram  -
    sgl_router_event_loop_lag_max_seconds                      gauge      -
    sgl_router_mcp_tool_calls_total                            counter    server, tool, outcome
    sgl_router_mcp_tool_duration_seconds                       histogram  server, tool
    sgl_router_mcp_loop_iterations                             histogram  -
    sgl_router_trace_spans_dropped_total                       counter    reason (queue_full, export_failed)
    sgl_router_discovery_events_total                          counter    source, event (added, removed, error)
    sgl_router_discovery_watch_restarts_total                  counter    source, reason (expired, disconnected)
    sgl_router_discovery_workers                               gauge      source (workers the source wants)
    sgl_router_cached_tokens_total                             counter    -
    sgl_router_kv_predicted_cached_tokens_total                counter    -
    sgl_router_kv_indexed_blocks                               gauge      worker
    sgl_router_kv_event_lag_seconds                            histogram  -
    sgl_router_kv_resyncs_total                                counter    worker
    sgl_router_kv_stream_up                                    gauge      worker (1 live, 0 not)

With ``--workers N`` every process writes its series to files in one directory
(prometheus_client's multiprocess mode, see server/metrics_server.py) and a scrape shows
them combined: counters and histograms summed; gauges as marked where they are defined
(``livesum``: summed over live processes; ``livemin``/``livemax``: the lowest or highest
value a live process reports, so a worker counts as healthy only if every process sees it
so, and a breaker shows open if any process has it open).

``endpoint`` is the matched route template (``/v1/chat/completions``, ``/workers/{url:path}``)
or ``unmatched``; ``method`` is one of :data:`HTTP_METHODS` or ``other``. Per-worker series
are created by :func:`register_worker` and dropped by :func:`forget_worker`, so the worker
label set is the set of registered workers.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from sglang_gw import tracing
from sglang_gw.batched_metrics import batched_counter, batched_gauge, batched_histogram, discard

__all__ = [
    "ABORTS_TOTAL",
    "ACTIVE_WORKERS",
    "CACHE_HITS_TOTAL",
    "CACHE_MISSES_TOTAL",
    "CB_STATE",
    "CB_STATES",
    "CB_TRANSITIONS_TOTAL",
    "CACHED_TOKENS_TOTAL",
    "KV_EVENT_LAG_SECONDS",
    "KV_INDEXED_BLOCKS",
    "KV_PREDICTED_CACHED_TOKENS_TOTAL",
    "KV_RESYNCS_TOTAL",
    "KV_STREAM_UP",
    "COMPLETION_TOKENS_TOTAL",
    "GENERATE_SECONDS",
    "LOOP_LAG_MAX_SECONDS",
    "LOOP_LAG_SECONDS",
    "MCP_CALLS_TOTAL",
    "MCP_CALL_SECONDS",
    "MCP_ITERATIONS",
    "DISCOVERY_EVENTS",
    "DISCOVERY_EVENTS_TOTAL",
    "DISCOVERY_RESTART_REASONS",
    "DISCOVERY_SOURCES",
    "DISCOVERY_WATCH_RESTARTS_TOTAL",
    "DISCOVERY_WORKERS",
    "HTTP_METHODS",
    "PREFIX",
    "PROCESSED_REQUESTS_TOTAL",
    "PROMPT_TOKENS_TOTAL",
    "QUEUE_DEPTH",
    "QUEUE_REJECTION_REASONS",
    "QUEUE_REJECTIONS_TOTAL",
    "REQUESTS_TOTAL",
    "REQUEST_SECONDS",
    "RETRIES_TOTAL",
    "RUNNING_REQUESTS",
    "STAGE_SECONDS",
    "STAGES",
    "TENANT_REQUESTS_TOTAL",
    "TENANT_REQUEST_SECONDS",
    "TPOT_SECONDS",
    "TRACE_SPANS_DROPPED",
    "TTFT_SECONDS",
    "WORKER_HEALTHY",
    "forget_worker",
    "forget_kv_worker",
    "record_kv_batch",
    "record_kv_prediction",
    "record_kv_resync",
    "set_kv_stream",
    "observe_stage",
    "record_cache_lookup",
    "record_discovery_event",
    "record_circuit_transition",
    "record_generation",
    "record_loop_lag",
    "record_mcp_call",
    "record_mcp_iterations",
    "record_queue_rejection",
    "record_request",
    "record_tenant_request",
    "record_retry",
    "record_trace_drops",
    "record_watch_restart",
    "record_worker_request",
    "register_worker",
    "set_active_workers",
    "set_circuit_state",
    "set_discovery_workers",
    "set_loop_lag_max",
    "set_queue_depth",
    "set_running_requests",
    "set_worker_healthy",
    "time_stage",
]

# No `*_created` timestamp series next to every counter and histogram: they double the
# scrape for nothing Prometheus uses (smg does not export them either).
disable_created_metrics()

PREFIX = "sgl_router_"
STAGES = ("prepare", "select", "dispatch", "decode", "parse", "frame")
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
CB_STATES = {"closed": 0, "open": 1, "half_open": 2}
QUEUE_REJECTION_REASONS = ("queue_full", "timeout", "rate_limited")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

# -- HTTP ------------------------------------------------------------------------------------

REQUESTS_TOTAL = Counter(f"{PREFIX}requests_total", "HTTP requests answered, by route template, method and status.",
                         ["endpoint", "method", "status"])
REQUEST_SECONDS = Histogram(f"{PREFIX}request_duration_seconds",
                            "HTTP request duration, first byte in to last byte out (streams included).",
                            ["endpoint", "method"], buckets=_LATENCY_BUCKETS)

TENANT_REQUESTS_TOTAL = Counter(f"{PREFIX}tenant_requests_total",
                                "HTTP requests answered, by tenant (bounded: see identity/labels.py) and status.",
                                ["tenant", "status"])
TENANT_REQUEST_SECONDS = Histogram(f"{PREFIX}tenant_request_duration_seconds",
                                   "HTTP request duration by tenant, first byte in to last byte out.",
                                   ["tenant"], buckets=_LATENCY_BUCKETS)

# -- pipeline --------------------------------------------------------------------------------

STAGE_SECONDS = Histogram(
    f"{PREFIX}stage_duration_seconds",
    "Time spent in each pipeline stage per request (decode/parse/frame summed over tokens).",
    ["stage"],
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_STAGE_CHILDREN = {stage: batched_histogram(STAGE_SECONDS.labels(stage)) for stage in STAGES}

GENERATE_SECONDS = Histogram(f"{PREFIX}generate_duration_seconds",
                             "Worker generation time per request, dispatch to last token.", buckets=_LATENCY_BUCKETS)
TTFT_SECONDS = Histogram(f"{PREFIX}time_to_first_token_seconds", "Dispatch to the first generated token.",
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
TPOT_SECONDS = Histogram(f"{PREFIX}time_per_output_token_seconds",
                         "Mean time between output tokens after the first, per request.",
                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
PROMPT_TOKENS_TOTAL = Counter(f"{PREFIX}prompt_tokens_total", "Prompt tokens sent to workers.")
COMPLETION_TOKENS_TOTAL = Counter(f"{PREFIX}completion_tokens_total", "Tokens generated by workers.")

# -- workers and routing ---------------------------------------------------------------------

PROCESSED_REQUESTS_TOTAL = Counter(f"{PREFIX}processed_requests_total", "Requests dispatched to each worker.",
                                   ["worker"])
RUNNING_REQUESTS = Gauge(f"{PREFIX}running_requests", "This gateway's open calls on each worker.", ["worker"],
                         multiprocess_mode="livesum")
ACTIVE_WORKERS = Gauge(f"{PREFIX}active_workers", "Registered workers that are healthy and routable.",
                       multiprocess_mode="livemin")
WORKER_HEALTHY = Gauge(f"{PREFIX}worker_healthy", "1 when the worker passes its health checks, else 0.", ["worker"],
                       multiprocess_mode="livemin")
CACHE_HITS_TOTAL = Counter(f"{PREFIX}cache_hits_total",
                           "cache_aware/kv_aware routing decisions that followed a prefix match.")
CACHE_MISSES_TOTAL = Counter(f"{PREFIX}cache_misses_total",
                             "cache_aware/kv_aware routing decisions without a usable match.")

RETRIES_TOTAL = Counter(f"{PREFIX}retries_total", "Worker calls retried before the first token.")
ABORTS_TOTAL = Counter(f"{PREFIX}worker_aborts_total", "Abort RPCs sent to workers.", ["reason"])

CB_STATE = Gauge(f"{PREFIX}circuit_breaker_state", "Circuit breaker per worker: 0 closed, 1 open, 2 half-open.",
                 ["worker"], multiprocess_mode="livemax")
CB_TRANSITIONS_TOTAL = Counter(f"{PREFIX}circuit_breaker_transitions_total", "Circuit breaker state changes.",
                               ["worker", "from", "to"])

# -- admission -------------------------------------------------------------------------------

QUEUE_DEPTH = Gauge(f"{PREFIX}queue_depth", "Requests waiting for an admission slot.", multiprocess_mode="livesum")
QUEUE_REJECTIONS_TOTAL = Counter(f"{PREFIX}queue_rejections_total", "Requests refused by admission, by reason.",
                                 ["reason"])


def record_trace_drops(reason: str, count: int) -> None:
    """Spans never exported (`queue_full` or `export_failed`); called from the exporter's thread."""
    TRACE_SPANS_DROPPED.labels(reason).inc(count)
_REJECTION_CHILDREN = {reason: QUEUE_REJECTIONS_TOTAL.labels(reason) for reason in QUEUE_REJECTION_REASONS}

# -- event loop (see runtime/loop_lag.py) -----------------------------------------------------

# Fine between 1 and 100 ms, where a stall starts to show in streams' inter-token gaps.
LOOP_LAG_SECONDS = Histogram(
    f"{PREFIX}event_loop_lag_seconds",
    "How late the event loop woke a periodic timer: time it ran without yielding.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5),
)
LOOP_LAG_MAX_SECONDS = Gauge(f"{PREFIX}event_loop_lag_max_seconds", "The largest event-loop lag since start.",
                             multiprocess_mode="livemax")

# What every request updates, gathered cheaply until a scrape reads it (batched_metrics.py).
CACHED_TOKENS_TOTAL = Counter(f"{PREFIX}cached_tokens_total", "Prompt tokens the workers reported cached.")
_PROMPT_TOKENS = batched_counter(PROMPT_TOKENS_TOTAL)
_CACHED_TOKENS = batched_counter(CACHED_TOKENS_TOTAL)
_COMPLETION_TOKENS = batched_counter(COMPLETION_TOKENS_TOTAL)
_GENERATE = batched_histogram(GENERATE_SECONDS)
_TTFT = batched_histogram(TTFT_SECONDS)
_TPOT = batched_histogram(TPOT_SECONDS)
_QUEUE_DEPTH = batched_gauge(QUEUE_DEPTH)
_LOOP_LAG = batched_histogram(LOOP_LAG_SECONDS)


# -- helpers ---------------------------------------------------------------------------------


def observe_stage(stage: str, seconds: float) -> None:
    _STAGE_CHILDREN[stage].observe(seconds)
    if tracing.ENABLED and stage in _INTERLEAVED:
        trace = tracing.current()
        if trace is not None:
            trace.interleaved(stage, seconds)


# Stages run a little per token, so their span is their stretch of the stream (tracing.py);
# the other stages make their own spans where they know more (worker, attempt).
_INTERLEAVED = frozenset({"parse", "frame"})


class time_stage:  # lower case: it reads as a function, `with time_stage("prepare"):`
    """Times a block into the stage histogram. A class, not `@contextmanager`: that builds a
    generator and two more frames on every request."""

    __slots__ = ("_child", "_stage", "_start")

    def __init__(self, stage: str) -> None:
        self._child = _STAGE_CHILDREN[stage]
        self._stage = stage

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self._start
        self._child.observe(seconds)
        if tracing.ENABLED:
            trace = tracing.current()
            if trace is not None:
                now = time.time_ns()
                trace.record(self._stage, now - int(seconds * 1e9), now)


# Labelled series looked up once: `labels()` costs a lock and a few dict operations, and a
# request needed five of them. Keys are bounded: route templates, methods and statuses;
# worker series go when the worker does (`forget_worker`).
_REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_WORKER_CHILDREN: dict[str, tuple[Any, Any]] = {}


def record_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """One answered HTTP request; ``endpoint`` must be a route template, never a raw path."""
    key = (endpoint, method, status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        label = method if method in HTTP_METHODS else "other"
        children = _REQUEST_CHILDREN[key] = (batched_counter(REQUESTS_TOTAL.labels(endpoint, label, str(status))),
                                             batched_histogram(REQUEST_SECONDS.labels(endpoint, label)))
    children[0].inc()
    children[1].observe(seconds)


_TENANT_CHILDREN: dict[tuple[str, int], tuple[Any, Any]] = {}


def record_tenant_request(tenant: str, status: int, seconds: float) -> None:
    """One answered request of ``tenant``: a bounded label (identity/labels.py), never raw."""
    children = _TENANT_CHILDREN.get((tenant, status))
    if children is None:
        children = _TENANT_CHILDREN[tenant, status] = (
            batched_counter(TENANT_REQUESTS_TOTAL.labels(tenant, str(status))),
            batched_histogram(TENANT_REQUEST_SECONDS.labels(tenant)))
    children[0].inc()
    children[1].observe(seconds)


def _worker_children(worker: str) -> tuple[Any, Any]:
    children = _WORKER_CHILDREN.get(worker)
    if children is None:
        children = _WORKER_CHILDREN[worker] = (batched_counter(PROCESSED_REQUESTS_TOTAL.labels(worker)),
                                               batched_gauge(RUNNING_REQUESTS.labels(worker)))
    return children


def record_generation(*, prompt_tokens: int, completion_tokens: int, total_seconds: float,
                      ttft_seconds: float | None = None, cached_tokens: int = 0) -> None:
    """One finished worker generation. Times run from dispatch; TPOT needs two tokens or more."""
    _PROMPT_TOKENS.inc(prompt_tokens)
    if cached_tokens:
        _CACHED_TOKENS.inc(cached_tokens)
    _COMPLETION_TOKENS.inc(completion_tokens)
    _GENERATE.observe(total_seconds)
    if ttft_seconds is None:
        return
    _TTFT.observe(ttft_seconds)
    if completion_tokens > 1:
        _TPOT.observe(max(total_seconds - ttft_seconds, 0.0) / (completion_tokens - 1))


def record_retry() -> None:
    RETRIES_TOTAL.inc()


def record_cache_lookup(hit: bool) -> None:
    (CACHE_HITS_TOTAL if hit else CACHE_MISSES_TOTAL).inc()


def record_worker_request(worker: str) -> None:
    _worker_children(worker)[0].inc()


def set_running_requests(worker: str, count: int) -> None:
    _worker_children(worker)[1].set(count)


def set_active_workers(count: int) -> None:
    ACTIVE_WORKERS.set(count)


def set_worker_healthy(worker: str, healthy: bool) -> None:
    WORKER_HEALTHY.labels(worker).set(1 if healthy else 0)


def set_circuit_state(worker: str, state: str) -> None:
    """``state`` is a key of :data:`CB_STATES`; an unknown name is a programming error."""
    CB_STATE.labels(worker).set(CB_STATES[state])


def record_circuit_transition(worker: str, from_state: str, to_state: str) -> None:
    if from_state not in CB_STATES or to_state not in CB_STATES:
        raise ValueError(f"circuit breaker states are {', '.join(CB_STATES)}")
    CB_TRANSITIONS_TOTAL.labels(worker, from_state, to_state).inc()
    CB_STATE.labels(worker).set(CB_STATES[to_state])


def set_queue_depth(depth: int) -> None:
    _QUEUE_DEPTH.set(depth)


def record_queue_rejection(reason: str) -> None:
    """``reason`` is one of :data:`QUEUE_REJECTION_REASONS`."""
    _REJECTION_CHILDREN[reason].inc()


def record_loop_lag(seconds: float) -> None:
    _LOOP_LAG.observe(seconds)


def set_loop_lag_max(seconds: float) -> None:
    LOOP_LAG_MAX_SECONDS.set(seconds)


def register_worker(worker: str, *, healthy: bool = True) -> None:
    """Create a new worker's series at their starting values, so dashboards see it before traffic."""
    PROCESSED_REQUESTS_TOTAL.labels(worker)
    RUNNING_REQUESTS.labels(worker).set(0)
    WORKER_HEALTHY.labels(worker).set(1 if healthy else 0)
    CB_STATE.labels(worker).set(CB_STATES["closed"])


def forget_worker(worker: str) -> None:
    """Drop every series of a removed worker, which keeps the worker label set bounded."""
    discard(_WORKER_CHILDREN.pop(worker, ()))
    for metric in (PROCESSED_REQUESTS_TOTAL, RUNNING_REQUESTS, WORKER_HEALTHY, CB_STATE):
        metric.remove(worker)  # a label set never created is ignored
    for from_state in CB_STATES:
        for to_state in CB_STATES:
            CB_TRANSITIONS_TOTAL.remove(worker, from_state, to_state)


# ---- MCP tool loop (responses/mcp_loop.py) ------------------------------------------------
# Labels: a static server's name (from the operator's config) and its tool names; every
# per-request server is "request" and its tools "other", so a client cannot grow the series.
MCP_CALLS_TOTAL = Counter(f"{PREFIX}mcp_tool_calls_total", "MCP tool calls, by server, tool and outcome.",
                          ["server", "tool", "outcome"])
MCP_CALL_SECONDS = Histogram(f"{PREFIX}mcp_tool_duration_seconds", "MCP tool call durations.", ["server", "tool"])
MCP_ITERATIONS = Histogram(f"{PREFIX}mcp_loop_iterations", "Model generations of one response's MCP loop.",
                           buckets=(1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50))

# -- tracing ---------------------------------------------------------------------------------

# Incremented from the span exporter's thread: a plain (locked) counter, not a batched one.
TRACE_SPANS_DROPPED = Counter(f"{PREFIX}trace_spans_dropped_total",
                              "Trace spans never exported: the export queue was full, or the collector failed.",
                              ["reason"])


def record_mcp_call(server: str, tool: str, ok: bool, seconds: float) -> None:
    MCP_CALLS_TOTAL.labels(server, tool, "success" if ok else "failure").inc()
    MCP_CALL_SECONDS.labels(server, tool).observe(seconds)


def record_mcp_iterations(count: int) -> None:
    MCP_ITERATIONS.observe(count)


# ---- discovery (sglang_gw/discovery/) -------------------------------------------------

DISCOVERY_SOURCES = ("kubernetes", "file", "health")  # health: --remove-unhealthy-workers
DISCOVERY_EVENTS = ("added", "removed", "error")
DISCOVERY_RESTART_REASONS = ("expired", "disconnected")  # 410 Gone → re-list; a dropped or refused watch
DISCOVERY_EVENTS_TOTAL = Counter(f"{PREFIX}discovery_events_total",
                                 "Workers registered, drained and removed, or refused, by discovery source.",
                                 ["source", "event"])
DISCOVERY_WATCH_RESTARTS_TOTAL = Counter(f"{PREFIX}discovery_watch_restarts_total",
                                         "Kubernetes watches started again, by reason.", ["source", "reason"])
DISCOVERY_WORKERS = Gauge(f"{PREFIX}discovery_workers", "Workers a discovery source wants registered now.",
                          ["source"], multiprocess_mode="livemax")


def record_discovery_event(source: str, event: str) -> None:
    DISCOVERY_EVENTS_TOTAL.labels(source, event).inc()


def record_watch_restart(source: str, reason: str) -> None:
    DISCOVERY_WATCH_RESTARTS_TOTAL.labels(source, reason).inc()


def set_discovery_workers(source: str, count: int) -> None:
    DISCOVERY_WORKERS.labels(source).set(count)


# ---- KV-event routing (routing/kv_aware.py, workers/kv_events.py) ----------------------
# Predicted vs reported: sgl_router_kv_predicted_cached_tokens_total / prompt_tokens_total is
# the hit rate kv_aware expected when it chose; sgl_router_cached_tokens_total / the same is
# what the workers then reported.
KV_PREDICTED_CACHED_TOKENS_TOTAL = Counter(f"{PREFIX}kv_predicted_cached_tokens_total",
                                           "Prompt tokens kv_aware predicted cached on the worker it chose.")
KV_INDEXED_BLOCKS = Gauge(f"{PREFIX}kv_indexed_blocks", "KV blocks the index holds for each worker.", ["worker"],
                          multiprocess_mode="livemax")
KV_EVENT_LAG_SECONDS = Histogram(f"{PREFIX}kv_event_lag_seconds",
                                 "From a KV event batch's worker timestamp to its arrival here.",
                                 buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
KV_RESYNCS_TOTAL = Counter(f"{PREFIX}kv_resyncs_total",
                           "Snapshots taken after the first for a worker (a gap, a reconnect, a restart).", ["worker"])
KV_STREAM_UP = Gauge(f"{PREFIX}kv_stream_up", "1 while a worker's KV event stream is live, else 0.", ["worker"],
                     multiprocess_mode="livemin")
_KV_PREDICTED = batched_counter(KV_PREDICTED_CACHED_TOKENS_TOTAL)


def record_kv_prediction(tokens: int) -> None:
    if tokens > 0:
        _KV_PREDICTED.inc(tokens)


def record_kv_batch(worker: str, lag_seconds: float | None, blocks: int) -> None:
    if lag_seconds is not None:
        KV_EVENT_LAG_SECONDS.observe(max(lag_seconds, 0.0))
    KV_INDEXED_BLOCKS.labels(worker).set(blocks)


def record_kv_resync(worker: str) -> None:
    KV_RESYNCS_TOTAL.labels(worker).inc()


def set_kv_stream(worker: str, up: bool) -> None:
    KV_STREAM_UP.labels(worker).set(1 if up else 0)


def forget_kv_worker(worker: str) -> None:
    for metric in (KV_INDEXED_BLOCKS, KV_RESYNCS_TOTAL, KV_STREAM_UP):
        metric.remove(worker)
