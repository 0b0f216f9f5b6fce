"""The ASGI middlewares on a tiny Starlette app: auth, body limit, request ids, metrics."""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from sglang_gw.identity.gate import Gate
from sglang_gw.identity.keys import SharedKeys
from sglang_gw.logs import current_request_id
from sglang_gw.server.errors import exception_handlers
from sglang_gw.server.middleware import EdgeMiddleware, build_middleware

KEY = "sk-data-0123456789"
ADMIN_KEY = "sk-admin-9876543210"


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"bytes": len(body), "state_id": request.state.request_id, "ctx_id": current_request_id()})


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"data: {i}\n\n".encode()

    return StreamingResponse(chunks(), media_type="text/event-stream")


ROUTES = [
    Route("/v1/chat/completions", echo, methods=["POST"]),
    Route("/v1/stream", stream),
    Route("/items/{item_id}", ok),
    Route("/health", ok),
    Route("/liveness", ok),
    Route("/readiness", ok),
    Route("/workers", ok, methods=["GET", "POST"]),
    Route("/workers/{url:path}", ok),
    Route("/parse/reasoning", ok, methods=["POST"]),
]


def make_app(*, handlers: bool = True, **options: object) -> Starlette:
    return Starlette(routes=ROUTES, middleware=build_middleware(**options),  # type: ignore[arg-type]
                     exception_handlers=exception_handlers if handlers else None)


@pytest.fixture
def client_for() -> Callable[..., httpx.AsyncClient]:
    def make(app: Starlette) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    return make


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def assert_openai_error(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == code and err["message"]
    return err


def sample(endpoint: str, method: str, status: int) -> float:
    labels = {"endpoint": endpoint, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value("sgl_router_requests_total", labels) or 0.0


# -- auth ------------------------------------------------------------------------------------


async def test_missing_key_is_401_in_openai_shape(client_for) -> None:
    async with client_for(make_app(api_key=KEY)) as client:
        resp = await client.post("/v1/chat/completions", content=b"{}")
    err = assert_openai_error(resp, 401, "invalid_api_key")
    assert err["type"] == "authentication_error" and "Bearer" in str(err["message"])
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.headers["x-request-id"]  # outer middlewares still ran


@pytest.mark.parametrize("header", ["Bearer sk-wrong", "Basic Zm9vOmJhcg==", f"Bearer {KEY}x", "Bearer"])
async def test_wrong_key_is_401_and_never_echoed(client_for, header: str) -> None:
    async with client_for(make_app(api_key=KEY)) as client:
        resp = await client.post("/v1/chat/completions", content=b"{}", headers={"authorization": header})
    err = assert_openai_error(resp, 401, "invalid_api_key")
    assert "sk-wrong" not in resp.text and KEY not in str(err["message"])


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_right_key_passes(client_for, scheme: str) -> None:
    async with client_for(make_app(api_key=KEY)) as client:
        resp = await client.post("/v1/chat/completions", content=b"{}", headers={"authorization": f"{scheme} {KEY}"})
    assert resp.status_code == 200


@pytest.mark.parametrize("path", ["/health", "/liveness", "/readiness"])
async def test_probe_paths_are_exempt(client_for, path: str) -> None:
    async with client_for(make_app(api_key=KEY)) as client:
        assert (await client.get(path)).status_code == 200


@pytest.mark.parametrize("path", ["/health/", "/healthz", "/health/../workers", "/items/1"])
async def test_only_exact_exempt_paths_skip_the_check(client_for, path: str) -> None:
    async with client_for(make_app(api_key=KEY)) as client:
        assert (await client.get(path)).status_code == 401


async def test_control_plane_takes_its_own_keys_too(client_for) -> None:
    app = make_app(api_key=KEY, control_plane_api_keys=[ADMIN_KEY])
    async with client_for(app) as client:
        for path in ("/workers", "/workers/grpc://10.0.0.1:20000"):
            assert (await client.get(path, headers=bearer(ADMIN_KEY))).status_code == 200
            assert (await client.get(path, headers=bearer(KEY))).status_code == 200
            assert (await client.get(path)).status_code == 401
        assert (await client.post("/parse/reasoning", headers=bearer(ADMIN_KEY))).status_code == 200
        # A control-plane key does not open the data plane.
        resp = await client.post("/v1/chat/completions", content=b"{}", headers=bearer(ADMIN_KEY))
        assert resp.status_code == 401


async def test_control_plane_alone_can_be_locked(client_for) -> None:
    async with client_for(make_app(control_plane_api_keys=[ADMIN_KEY])) as client:
        assert (await client.post("/v1/chat/completions", content=b"{}")).status_code == 200
        assert (await client.get("/workers")).status_code == 401


def test_path_classes() -> None:
    gate = Gate(SharedKeys(KEY, [ADMIN_KEY]))
    assert not gate.locked("/health")
    assert all(gate.is_control(p) for p in ("/workers", "/flush_cache", "/parse/tool"))
    assert not gate.is_control("/workersfoo") and not gate.is_control("/v1/models") and gate.locked("/v1/models")


async def test_keys_are_compared_in_constant_time(client_for, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    app = make_app(api_key=KEY, control_plane_api_keys=[ADMIN_KEY])
    async with client_for(app) as client:
        assert (await client.get("/workers", headers=bearer(KEY))).status_code == 200
    # Both keys compared even though the first matched: no early exit to time.
    assert calls == [(KEY.encode(), KEY.encode()), (KEY.encode(), ADMIN_KEY.encode())]


# -- body size -------------------------------------------------------------------------------


async def test_declared_length_over_the_limit_is_413(client_for) -> None:
    async with client_for(make_app(max_payload_size=100)) as client:
        resp = await client.post("/v1/chat/completions", content=b"x" * 101)
    err = assert_openai_error(resp, 413, "payload_too_large")
    assert "100" in str(err["message"])


def body_chunks(total: int, size: int = 40) -> Callable[[], AsyncIterator[bytes]]:
    async def gen() -> AsyncIterator[bytes]:
        for start in range(0, total, size):
            yield b"x" * min(size, total - start)
    return gen


@pytest.mark.parametrize("handlers", [True, False], ids=["app-handler", "middleware-fallback"])
async def test_streamed_body_over_the_limit_is_413(client_for, handlers: bool) -> None:
    async with client_for(make_app(handlers=handlers, max_payload_size=100)) as client:
        resp = await client.post("/v1/chat/completions", content=body_chunks(500)())
    assert "content-length" not in resp.request.headers  # really chunked
    assert_openai_error(resp, 413, "payload_too_large")


async def test_bodies_within_the_limit_pass(client_for) -> None:
    async with client_for(make_app(max_payload_size=100)) as client:
        assert (await client.post("/v1/chat/completions", content=b"x" * 100)).json()["bytes"] == 100
        assert (await client.post("/v1/chat/completions", content=body_chunks(100)())).json()["bytes"] == 100


async def test_limit_alone_without_an_app_handler(client_for) -> None:
    app = EdgeMiddleware(make_app(handlers=False), max_body=10)
    async with client_for(app) as client:  # type: ignore[arg-type]
        assert (await client.post("/v1/chat/completions", content=b"x" * 11)).status_code == 413


# -- request ids -----------------------------------------------------------------------------


async def test_request_id_round_trip(client_for) -> None:
    async with client_for(make_app()) as client:
        resp = await client.post("/v1/chat/completions", content=b"{}", headers={"x-request-id": "abc-123_XYZ"})
    assert resp.headers["x-request-id"] == "abc-123_XYZ"
    assert resp.json()["state_id"] == resp.json()["ctx_id"] == "abc-123_XYZ"


async def test_request_id_generated_when_absent(client_for) -> None:
    async with client_for(make_app()) as client:
        first = await client.post("/v1/chat/completions", content=b"{}")
        second = await client.post("/v1/chat/completions", content=b"{}")
    rid = first.headers["x-request-id"]
    assert re.fullmatch(r"req-[0-9a-f]{32}", rid)
    assert first.json()["state_id"] == first.json()["ctx_id"] == rid
    assert second.headers["x-request-id"] != rid
    assert current_request_id() is None  # reset after the request


@pytest.mark.parametrize("bad", ["has space", "x" * 129, ""])
async def test_invalid_incoming_id_is_replaced(client_for, bad: str) -> None:
    async with client_for(make_app()) as client:
        resp = await client.post("/v1/chat/completions", content=b"{}", headers={"x-request-id": bad})
    assert resp.headers["x-request-id"].startswith("req-")


async def test_first_configured_header_present_wins(client_for) -> None:
    app = make_app(request_id_headers=["x-trace-id", "x-request-id"])
    async with client_for(app) as client:
        both = await client.get("/items/1", headers={"x-request-id": "from-request", "x-trace-id": "from-trace"})
        one = await client.get("/items/1", headers={"x-request-id": "from-request"})
    assert both.headers["x-request-id"] == "from-trace"
    assert one.headers["x-request-id"] == "from-request"


async def test_request_id_replaces_an_app_set_header(client_for) -> None:
    async def sets_its_own(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"x-request-id": "app-made"})

    app = EdgeMiddleware(Starlette(routes=[Route("/", sets_its_own)]))
    async with client_for(app) as client:  # type: ignore[arg-type]
        resp = await client.get("/", headers={"x-request-id": "client-made"})
    assert resp.headers.get_list("x-request-id") == ["client-made"]


# -- metrics ---------------------------------------------------------------------------------


async def test_requests_counted_by_route_template(client_for) -> None:
    before = sample("/items/{item_id}", "GET", 200)
    async with client_for(make_app()) as client:
        for item in ("41", "42", "43"):
            assert (await client.get(f"/items/{item}")).status_code == 200
    assert sample("/items/{item_id}", "GET", 200) == before + 3
    assert REGISTRY.get_sample_value("sgl_router_requests_total",
                                     {"endpoint": "/items/42", "method": "GET", "status": "200"}) is None


async def test_refused_and_unknown_requests_counted(client_for) -> None:
    refused = sample("/workers/{url:path}", "GET", 401)
    unknown = sample("unmatched", "GET", 404)
    wrong_method = sample("/v1/chat/completions", "GET", 405)
    async with client_for(make_app(api_key=KEY)) as client:
        assert (await client.get("/workers/grpc://a:1")).status_code == 401  # refused before routing
        assert (await client.get("/no/such/path", headers=bearer(KEY))).status_code == 404
        assert (await client.get("/v1/chat/completions", headers=bearer(KEY))).status_code == 405
    assert sample("/workers/{url:path}", "GET", 401) == refused + 1
    assert sample("unmatched", "GET", 404) == unknown + 1
    assert sample("/v1/chat/completions", "GET", 405) == wrong_method + 1


async def test_streaming_passes_through_every_layer(client_for) -> None:
    before = sample("/v1/stream", "GET", 200)
    app = make_app(api_key=KEY, max_payload_size=100, cors_allowed_origins=["https://ui.example"])
    async with client_for(app) as client:
        resp = await client.get("/v1/stream", headers={**bearer(KEY), "origin": "https://ui.example"})
    assert resp.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert resp.headers["x-request-id"] and resp.headers["access-control-allow-origin"] == "https://ui.example"
    assert sample("/v1/stream", "GET", 200) == before + 1
    duration = REGISTRY.get_sample_value("sgl_router_request_duration_seconds_count",
                                         {"endpoint": "/v1/stream", "method": "GET"})
    assert duration is not None and duration >= 1


async def test_cors_preflight_answered_before_auth(client_for) -> None:
    app = make_app(api_key=KEY, cors_allowed_origins=["https://ui.example"])
    async with client_for(app) as client:
        resp = await client.options("/v1/chat/completions", headers={
            "origin": "https://ui.example", "access-control-request-method": "POST"})
    assert resp.status_code == 200


def test_stack_order_and_optional_layers() -> None:
    names = [m.cls.__name__ for m in build_middleware(api_key=KEY, max_payload_size=10, cors_allowed_origins=["*"])]
    assert names == ["CORSMiddleware", "EdgeMiddleware"]
    assert [m.cls.__name__ for m in build_middleware()] == ["EdgeMiddleware"]
    edge = EdgeMiddleware(ok, **build_middleware()[0].kwargs)  # type: ignore[arg-type]
    assert edge.door is None and edge.max_body is None and edge.admission is None  # nothing to check
