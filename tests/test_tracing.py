"""OpenTelemetry traces (--enable-trace): the span tree of real requests, as a real OTLP
collector on loopback receives it (tests/otlp_receiver.py), through the official SDK and
exporters; W3C trace context in from clients and out to workers; collectors that refuse or
hang never hold a request up."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY

from sglang_gw.cli_config import config_from_args
from sglang_gw.cli_flags import build_parser
from sglang_gw.config import GatewayConfig, ModelConfig, ObservabilityConfig, PdConfig, ServerConfig
from sglang_gw.errors import ConfigError
from sglang_gw.logs import JsonFormatter, RequestIdFilter
from sglang_gw.mcp import McpSettings
from sglang_gw.testing.mock_http_worker import ThreadedMockHttpWorker
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.tracing import TracingConfig, normalize_endpoint
from tests.conftest import RunningGateway, ThreadedServer, free_port
from tests.mcp_helpers import call_reply, final_reply, stdio_spec
from tests.otlp_receiver import GrpcCollector, HttpCollector, Span, children
from tests.test_http_backend import MODEL as HTTP_MODEL
from tests.test_http_backend import fake  # noqa: F401 - the local fake OpenAI server fixture

CHAT = "POST /v1/chat/completions"
STAGES = ["prepare", "select", "dispatch", "decode", "parse", "frame"]


def traced(endpoint: str, **kw: object) -> ObservabilityConfig:
    settings = {"schedule_delay_ms": 20, **kw}
    return ObservabilityConfig(tracing=TracingConfig(enabled=True, endpoint=endpoint, **settings))  # type: ignore[arg-type]


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def chat(url: str, content: str, *, stream: bool = False, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"model": "test-model", "messages": [{"role": "user", "content": content}], "stream": stream,
            "max_tokens": 8}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers or {}, timeout=30)


def root(spans: list[Span]) -> Span:
    [server] = [s for s in spans if s.name == CHAT]
    return server


@pytest.fixture(scope="module")
def collector() -> Iterator[GrpcCollector]:
    c = GrpcCollector()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def tgw(gateway_factory: Callable[..., RunningGateway], collector: GrpcCollector) -> RunningGateway:
    return gateway_factory(observability=traced(collector.endpoint))


@pytest.fixture
def gw(tgw: RunningGateway) -> Iterator[RunningGateway]:
    tgw.reset()
    yield tgw
    tgw.reset()


def test_a_streamed_chat_continues_the_clients_trace_stage_by_stage(gw: RunningGateway,
                                                                     collector: GrpcCollector) -> None:
    parent, trace_id, client_span = traceparent()
    r = chat(gw.url, "hello there", stream=True, headers={"traceparent": parent, "x-request-id": "req-traced"})
    assert r.status_code == 200 and "[DONE]" in r.text
    spans = collector.trace(trace_id, CHAT)
    server = root(spans)
    assert server.parent_id == client_span  # the client's trace, continued
    assert server.kind == 2  # SERVER
    a = server.attributes
    assert a["http.route"] == "/v1/chat/completions" and a["http.response.status_code"] == 200
    assert a["sglang_gw.request_id"] == "req-traced"
    assert a["sglang_gw.model"] == "test-model" and a["sglang_gw.worker"] == gw.worker_url
    assert a["sglang_gw.retries"] == 0 and a["sglang_gw.finish_reason"] in ("stop", "length")
    assert a["gen_ai.usage.output_tokens"] > 0 and a["gen_ai.usage.input_tokens"] > 0
    assert not server.failed
    kids = children(spans, server)
    assert sorted(s.name for s in kids) == sorted(STAGES)
    by = {s.name: s for s in kids}
    assert by["decode"].attributes["sglang_gw.completion_tokens"] == a["gen_ai.usage.output_tokens"]
    assert by["decode"].attributes["sglang_gw.finish_reasons"] == [a["sglang_gw.finish_reason"]]
    assert by["prepare"].end_ns <= by["select"].start_ns <= by["dispatch"].start_ns <= by["decode"].start_ns
    assert all(server.start_ns <= s.start_ns and s.end_ns <= server.end_ns for s in kids)
    # The worker got the trace context naming the attempt's span as its parent.
    sent = gw.worker.records.metadata[-1]["traceparent"]
    assert sent == f"00-{trace_id}-{by['dispatch'].span_id}-01"


def test_without_a_client_trace_each_request_starts_one(gw: RunningGateway, collector: GrpcCollector) -> None:
    r = chat(gw.url, "hello")
    assert r.status_code == 200
    sent = gw.worker.records.metadata[-1]["traceparent"]
    trace_id = sent.split("-")[1]
    server = root(collector.trace(trace_id, CHAT))
    assert server.parent_id == ""
    assert server.attributes["sglang_gw.request_id"] == r.headers["x-request-id"]


def test_a_retried_request_has_one_dispatch_span_per_attempt_and_logs_carry_its_ids(
        gw: RunningGateway, collector: GrpcCollector) -> None:
    gw.worker.faults.reject_next = 1  # UNAVAILABLE before the first token: retried
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("sglang_gw.pipeline.dispatch")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        parent, trace_id, _ = traceparent()
        assert chat(gw.url, "retry me", headers={"traceparent": parent}).status_code == 200
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    spans = collector.trace(trace_id, CHAT)
    server = root(spans)
    assert server.attributes["sglang_gw.retries"] == 1 and not server.failed
    attempts = [s for s in children(spans, server) if s.name == "dispatch"]
    assert [s.attributes["sglang_gw.attempt"] for s in attempts] == [0, 1]
    assert attempts[0].failed and attempts[0].attributes["sglang_gw.retryable"] is True
    assert not attempts[1].failed
    assert [s.name for s in children(spans, server)].count("select") == 2
    [line] = [json.loads(x) for x in lines.getvalue().splitlines() if "retrying" in x]
    assert line["trace_id"] == trace_id and line["span_id"] == server.span_id


def test_a_client_hang_up_ends_the_span_as_an_error(gw: RunningGateway, collector: GrpcCollector) -> None:
    gw.worker.timing.token_delay = 0.02
    parent, trace_id, _ = traceparent()
    body = {"model": "test-model", "messages": [{"role": "user", "content": "LONG"}], "stream": True,
            "max_tokens": 300}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, headers={"traceparent": parent}) as r:
        lines = r.iter_lines()
        [next(lines) for _ in range(4)]
    server = root(collector.trace(trace_id, CHAT))
    assert server.failed and server.attributes["sglang_gw.client_disconnected"] is True
    assert gw.wait_for(lambda: bool(gw.worker.records.aborts))


def test_an_error_answer_is_an_error_span_and_probes_are_not_traced(gw: RunningGateway,
                                                                     collector: GrpcCollector) -> None:
    assert httpx.get(f"{gw.url}/health").status_code == 200
    parent, trace_id, _ = traceparent()
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "test-model", "messages": "nope"},
                   headers={"traceparent": parent})
    assert r.status_code == 400
    server = root(collector.trace(trace_id, CHAT))
    assert server.attributes["http.response.status_code"] == 400
    assert not [s for s in collector.spans if s.name.startswith("GET /health")]


def _pd_worker(reply: str, kind: str, mode: str) -> ThreadedMockWorker | ThreadedMockHttpWorker:
    """A gRPC or an SGLang HTTP mock worker of a PD pair (`mode`: prefill or decode)."""
    facts = read_model_facts(model_dir("qwen3"))
    mock = MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script={"PD": reply}),
                      served_model_name="test-model")
    if kind == "grpc":
        return ThreadedMockWorker(mock)
    return ThreadedMockHttpWorker(mock, disaggregation_mode=mode, bootstrap_port=8998 if mode == "prefill" else None)


@pytest.mark.parametrize("kind", ["grpc", "http"])
def test_a_pd_request_has_a_span_per_leg(collector: GrpcCollector, kind: str) -> None:
    # Each leg's worker gets the traceparent of its leg's span: as gRPC metadata, or as
    # headers of an SGLang HTTP worker's /generate.
    prefill, decode = _pd_worker("from prefill", kind, "prefill"), _pd_worker("from decode", kind, "decode")
    pd = PdConfig(prefill=((prefill.url, 8998),), decode=(decode.url,))
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(), pd=pd,
                                          observability=traced(collector.endpoint)))
    try:
        server.start()
        parent, trace_id, _ = traceparent()
        r = chat(f"http://127.0.0.1:{server.port}", "PD", headers={"traceparent": parent})
        assert r.json()["choices"][0]["message"]["content"] == "from decode"
        spans = collector.wait_for(lambda ss: any(s.trace_id == trace_id and s.name == "pd.prefill" for s in ss)
                                   and any(s.trace_id == trace_id and s.name == CHAT for s in ss))
        spans = [s for s in spans if s.trace_id == trace_id]
        legs = {s.name: s for s in children(spans, root(spans)) if s.name.startswith("pd.")}
        assert legs["pd.prefill"].attributes["sglang_gw.worker"] == prefill.url
        assert legs["pd.decode"].attributes["sglang_gw.worker"] == decode.url
        room = decode.worker.records.requests[-1].disaggregated_params.bootstrap_room
        assert legs["pd.prefill"].attributes["sglang_gw.bootstrap_room"] == room
        assert prefill.worker.records.metadata[-1]["traceparent"].split("-")[2] == legs["pd.prefill"].span_id
        assert decode.worker.records.metadata[-1]["traceparent"].split("-")[2] == legs["pd.decode"].span_id
    finally:
        server.stop()
        prefill.stop()
        decode.stop()


def _dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("sgl_router_trace_spans_dropped_total", {"reason": reason}) or 0.0


def test_a_hung_collector_holds_no_request_up_and_drops_are_counted(
        gateway_factory: Callable[..., RunningGateway]) -> None:
    hung = GrpcCollector()
    hung.hang()
    before = _dropped("queue_full")
    try:
        g = gateway_factory(observability=traced(hung.endpoint, max_queue_size=4, max_export_batch_size=2,
                                                 export_timeout_secs=1.0))
        for i in range(12):  # each request makes 7 spans: the queue of 4 overflows at once
            assert chat(g.url, f"hello {i}").status_code == 200
        assert hung.exports >= 1  # an export is stuck in the collector all along
        assert _dropped("queue_full") > before
    finally:
        hung.stop()


def test_a_refused_collector_holds_no_request_up_and_failures_are_counted(
        gateway_factory: Callable[..., RunningGateway]) -> None:
    before = _dropped("export_failed")
    g = gateway_factory(observability=traced(f"127.0.0.1:{free_port()}", export_timeout_secs=0.5))
    for i in range(5):
        assert chat(g.url, f"hello {i}", stream=i % 2 == 1).status_code == 200
    assert g.wait_for(lambda: _dropped("export_failed") > before, 10)


def test_spans_over_http_protobuf(gateway_factory: Callable[..., RunningGateway]) -> None:
    http = HttpCollector()
    try:
        g = gateway_factory(observability=traced(http.endpoint, protocol="http/protobuf"))
        parent, trace_id, _ = traceparent()
        assert chat(g.url, "hi", headers={"traceparent": parent}).status_code == 200
        names = {s.name for s in http.trace(trace_id, CHAT)}
        assert {CHAT, *STAGES} - {"frame"} <= names  # a JSON answer is framed once, untimed
    finally:
        http.stop()


def test_an_endpoint_without_enable_trace_sends_nothing(gateway_factory: Callable[..., RunningGateway]) -> None:
    quiet = GrpcCollector()
    try:
        cfg = ObservabilityConfig(tracing=TracingConfig(enabled=False, endpoint=quiet.endpoint,
                                                        schedule_delay_ms=10))
        g = gateway_factory(observability=cfg)
        assert g.gateway.tracer is None
        assert chat(g.url, "hi").status_code == 200
        assert "traceparent" not in g.worker.records.metadata[-1]
        assert quiet.wait_for(lambda ss: bool(ss), 0.3) == [] and quiet.exports == 0
    finally:
        quiet.stop()


def test_a_zero_ratio_records_new_traces_never_but_follows_a_sampled_client(
        gateway_factory: Callable[..., RunningGateway]) -> None:
    rx = GrpcCollector()
    try:
        g = gateway_factory(observability=traced(rx.endpoint, sampling_ratio=0.0))
        assert chat(g.url, "unsampled").status_code == 200
        parent, trace_id, _ = traceparent()
        assert chat(g.url, "sampled", headers={"traceparent": parent}).status_code == 200
        spans = rx.trace(trace_id, CHAT)
        assert root(spans)
        assert {s.trace_id for s in rx.spans} == {trace_id}
    finally:
        rx.stop()


def test_flags_and_validation() -> None:
    args = build_parser().parse_args(["launch", "--enable-trace", "--otlp-traces-endpoint", "http://otel:4318",
                                      "--otlp-traces-protocol", "http/protobuf", "--trace-sampling-ratio", "0.25"])
    t = config_from_args(args).observability.tracing
    assert (t.enabled, t.endpoint, t.protocol, t.sampling_ratio) == (True, "http://otel:4318", "http/protobuf", 0.25)
    assert config_from_args(build_parser().parse_args(["launch"])).observability.tracing.enabled is False
    with pytest.raises(ConfigError, match="between 0 and 1"):
        config_from_args(build_parser().parse_args(["launch", "--trace-sampling-ratio", "1.5"]))
    assert normalize_endpoint("otel:4317", "grpc") == "http://otel:4317"
    assert normalize_endpoint("https://otel:4317", "grpc") == "https://otel:4317"
    assert normalize_endpoint("otel:4318", "http/protobuf") == "http://otel:4318/v1/traces"
    assert normalize_endpoint(None, "grpc") == "http://localhost:4317"



def test_responses_storage_calls_are_spans_of_their_request(gw: RunningGateway, collector: GrpcCollector) -> None:
    parent, trace_id, _ = traceparent()
    r = httpx.post(f"{gw.url}/v1/responses", json={"model": "test-model", "input": "hello", "max_output_tokens": 8},
                   headers={"traceparent": parent}, timeout=30)
    assert r.status_code == 200, r.text
    spans = collector.trace(trace_id, "POST /v1/responses")
    [server] = [s for s in spans if s.name == "POST /v1/responses"]
    stored = [s for s in children(spans, server) if s.name.startswith("history.")]
    assert "history.save_response" in {s.name for s in stored}
    assert all(s.attributes["sglang_gw.history_backend"] for s in stored)
    assert {"prepare", "dispatch", "decode"} <= {s.name for s in children(spans, server)}


def test_mcp_tool_calls_are_spans_of_their_request(gateway_factory: Callable[..., RunningGateway],
                                                   collector: GrpcCollector) -> None:
    script = {"Sunny in": final_reply("qwen3", "It is sunny."),
              "WEATHER": call_reply("qwen3", "weather", {"city": "Paris"})}
    mcp = McpSettings(servers=(stdio_spec("calc"),), tool_timeout_secs=5, max_iterations=3)
    g = gateway_factory(script=script, reasoning_parser="auto", tool_call_parser="auto", mcp=mcp,
                        observability=traced(collector.endpoint))
    parent, trace_id, _ = traceparent()
    body = {"model": "test-model", "input": "WEATHER in Paris?", "tools": [{"type": "mcp", "server_label": "calc"}]}
    r = httpx.post(f"{g.url}/v1/responses", json=body, headers={"traceparent": parent}, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    spans = collector.trace(trace_id, "POST /v1/responses")
    [server] = [s for s in spans if s.name == "POST /v1/responses"]
    kids = children(spans, server)
    [call] = [s for s in kids if s.name == "mcp.call_tool"]
    assert call.attributes["sglang_gw.mcp_server"] == "calc" and call.attributes["sglang_gw.mcp_tool"] == "weather"
    assert not call.failed
    dispatches = [s for s in kids if s.name == "dispatch"]
    assert len(dispatches) == 2  # one generation before the call, one after
    assert dispatches[0].end_ns <= call.start_ns and call.end_ns <= dispatches[1].start_ns


def test_an_openai_compatible_worker_gets_the_trace_context(fake, collector: GrpcCollector) -> None:  # noqa: F811
    server_app, http_url = fake
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                                          worker_urls=(http_url,), observability=traced(collector.endpoint)))
    try:
        server.start()
        parent, trace_id, _ = traceparent()
        body = {"model": HTTP_MODEL, "messages": [{"role": "user", "content": "hello"}]}
        r = httpx.post(f"http://127.0.0.1:{server.port}/v1/chat/completions", json=body,
                       headers={"traceparent": parent}, timeout=30)
        assert r.status_code == 200, r.text
        server_span = root(collector.trace(trace_id, CHAT))
        assert server_app.traceparents[-1] == f"00-{trace_id}-{server_span.span_id}-01"
    finally:
        server.stop()

