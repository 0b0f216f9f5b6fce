"""A small OTLP trace collector on loopback, for the tracing tests.

It serves the collector's protocol from the `opentelemetry-proto` messages: gRPC
`TraceService/Export`, and HTTP `POST /v1/traces` with a protobuf body. Received spans are
kept as plain `Span` values. `hang` makes every export wait until `release()` (a collector
that accepts connections and never answers).
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as ts_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

STATUS_ERROR = trace_pb2.Status.STATUS_CODE_ERROR


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    status: int
    start_ns: int
    end_ns: int

    @property
    def failed(self) -> bool:
        return self.status == STATUS_ERROR


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def _spans(request: ts_pb2.ExportTraceServiceRequest) -> list[Span]:
    out = []
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(Span(s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.kind,
                                {a.key: _value(a.value) for a in s.attributes}, s.status.code,
                                s.start_time_unix_nano, s.end_time_unix_nano))
    return out


class Receiver:
    """Spans received so far, and the switch that makes exports hang."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.exports = 0  # export calls that arrived (hung ones included)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()

    def hang(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def take(self, request: ts_pb2.ExportTraceServiceRequest) -> None:
        with self._lock:
            self.exports += 1
        self._released.wait(30)
        with self._lock:
            self.spans.extend(_spans(request))

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[Span]:
        """The spans once `predicate(spans)` holds (or whatever came before the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                spans = list(self.spans)
            if predicate(spans):
                return spans
            time.sleep(0.02)
        with self._lock:
            return list(self.spans)

    def trace(self, trace_id: str, root_name: str, timeout: float = 10.0) -> list[Span]:
        """Every span of one trace, once its root (`root_name`) arrived."""
        spans = self.wait_for(lambda ss: any(s.trace_id == trace_id and s.name == root_name for s in ss), timeout)
        return [s for s in spans if s.trace_id == trace_id]


class GrpcCollector(Receiver):
    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class Service(ts_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> ts_pb2.ExportTraceServiceResponse:  # noqa: N802
                receiver.take(request)
                return ts_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        ts_grpc.add_TraceServiceServicer_to_server(Service(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.endpoint = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.release()
        self.server.stop(0)


class HttpCollector(Receiver):
    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver.take(ts_pb2.ExportTraceServiceRequest.FromString(body))
                data = ts_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def children(spans: list[Span], parent: Span) -> list[Span]:
    return sorted((s for s in spans if s.parent_id == parent.span_id), key=lambda s: s.start_ns)
