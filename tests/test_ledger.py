"""The pieces that own a request's accounting: `WorkerCall` (one call's in-flight count and
gauge) and the request's `Ledger`, settled by the edge whatever way the request ended."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sglang_gw import metrics
from sglang_gw.admission import Admission, AdmissionConfig
from sglang_gw.errors import WorkerTimeoutError
from sglang_gw.server.errors import exception_handlers
from sglang_gw.server.ledger import Ledger, ledger_of
from sglang_gw.server.middleware import build_middleware
from sglang_gw.workers.calls import WorkerCall
from sglang_gw.workers.pool import Worker


def gauge(url: str) -> float | None:
    return REGISTRY.get_sample_value("sgl_router_running_requests", {"worker": url})


def test_a_worker_call_is_counted_once_and_ended_once() -> None:
    url = "grpc://ledger-test:1"
    metrics.register_worker(url)
    worker = Worker(url=url, client=None, model="m")  # type: ignore[arg-type]
    try:
        calls = [WorkerCall(worker), WorkerCall(worker)]
        assert (worker.inflight, gauge(url)) == (2, 2)
        assert calls[0].end() and not calls[0].end()  # a second cleanup path changes nothing
        assert (worker.inflight, gauge(url)) == (1, 1)
        calls[1].end()
        assert (worker.inflight, gauge(url)) == (0, 0)
        assert REGISTRY.get_sample_value("sgl_router_processed_requests_total", {"worker": url}) == 2
    finally:
        metrics.forget_worker(url)


def test_settle_runs_every_release_once_newest_first_even_past_one_that_raises() -> None:
    ledger, ran = Ledger(), []

    def broken() -> None:
        ran.append("broken")
        raise RuntimeError("a release's bug")

    ledger.hold(lambda: ran.append("slot"))
    ledger.hold(broken)
    ledger.hold(lambda: ran.append("call"))
    ledger.settle()
    ledger.settle()
    assert ran == ["call", "broken", "slot"]


@pytest.mark.parametrize("ending", ["answer", "error", "unexpected"])
async def test_the_edge_settles_the_ledger_and_the_slot_however_the_request_ends(ending: str) -> None:
    admission = Admission(AdmissionConfig(max_concurrent_requests=4))
    left_open: list[str] = []

    async def handler(request: Request) -> Response:
        ledger = ledger_of(request.scope)
        assert ledger is not None and admission.running == 1
        ledger.hold(lambda: left_open.remove("call"))  # a call nobody else ends
        left_open.append("call")
        if ending == "error":
            raise WorkerTimeoutError("the worker did not answer")
        if ending == "unexpected":
            raise RuntimeError("a bug")
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/v1/chat/completions", handler, methods=["POST"])],
                    middleware=build_middleware(admission=admission, admission_paths={"/v1/chat/completions"}),
                    exception_handlers=exception_handlers)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        resp = await http.post("/v1/chat/completions", json={})
    assert resp.status_code == {"answer": 200, "error": 504, "unexpected": 500}[ending]
    assert left_open == [] and admission.running == 0 and admission.queued == 0
