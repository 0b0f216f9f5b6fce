"""HttpBackend against a local OpenAI-compatible fake (uvicorn on loopback, in a thread).

The fake serves only `/v1/models`, `/v1/chat/completions` and `/v1/embeddings`, as vLLM-like servers and
managed providers do; a request's `fake` field tells it how to misbehave. SGLang's native
discovery and the SSE framing are checked over `httpx.MockTransport`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sglang_gw.errors import (
    ConfigError,
    WorkerError,
    WorkerOverloadedError,
    WorkerRejectedError,
    WorkerTimeoutError,
    WorkerUnavailableError,
)
from sglang_gw.workers.http_backend import (
    HttpBackend,
    UpstreamEvents,
    data_payloads,
    split_base_url,
)

KEY = "sk-test-0123456789-secret"
MODEL = "fake-model"


# -- the fake -----------------------------------------------------------------------------

def reply_chunks(text: str) -> list[dict[str, Any]]:
    """The chunks the fake streams for `text`: role, one per word, then the finish."""
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    deltas = [{"role": "assistant", "content": ""}] + [{"content": w} for w in text.split(" ")]
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return chunks


class FakeOpenAI:
    """Records what it saw (auth headers, paths, client ports, disconnects)."""

    def __init__(self) -> None:
        self.auth: list[str | None] = []
        self.traceparents: list[str | None] = []  # W3C trace context (tests/test_tracing.py)
        self.paths: list[str] = []
        self.ports: list[int] = []
        self.disconnected = threading.Event()
        self.app = Starlette(routes=[Route("/v1/models", self.models),
                                     Route("/v1/chat/completions", self.chat, methods=["POST"]),
                                     Route("/v1/embeddings", self.embeddings, methods=["POST"])])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)

    def _saw(self, request: Request) -> None:
        self.auth.append(request.headers.get("authorization"))
        self.traceparents.append(request.headers.get("traceparent"))
        self.ports.append(request.client.port if request.client else 0)

    async def models(self, request: Request) -> Response:
        self._saw(request)
        return JSONResponse({"object": "list", "data": [
            {"id": MODEL, "object": "model", "owned_by": "fake"},
            {"id": "some-file", "object": "file"},
            {"id": "fake-model-2", "object": "model", "owned_by": "fake"},
        ]})

    async def embeddings(self, request: Request) -> Response:
        """One vector per input: its length and its index, so answers can be checked."""
        self._saw(request)
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [float(len(text)), float(i)]}
                for i, text in enumerate(inputs)]
        return JSONResponse({"object": "list", "data": data, "model": MODEL,
                             "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}})

    async def chat(self, request: Request) -> Response:
        self._saw(request)
        body = await request.json()
        fake = body.get("fake", {})
        await asyncio.sleep(fake.get("delay", 0))
        if "status" in fake:
            message = fake.get("message", "nope")
            if fake.get("echo_key"):
                message += f" (key {request.headers.get('authorization', '')[7:]})"
            error = {"message": message, "type": "invalid_request_error", "param": fake.get("param"),
                     "code": fake.get("code")}
            return JSONResponse({"error": error}, status_code=fake["status"])
        text = "echo: " + str(body["messages"][-1]["content"])
        if body.get("stream"):
            return StreamingResponse(self._events(text, fake), media_type="text/event-stream")
        return JSONResponse({"id": "chatcmpl-fake", "object": "chat.completion", "model": MODEL,
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})

    async def _events(self, text: str, fake: dict[str, Any]) -> AsyncIterator[bytes]:
        yield b": keep-alive comment\n\n"
        try:
            for i, chunk in enumerate(reply_chunks(text)):
                yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
                if i == 0 and fake.get("hang"):
                    await asyncio.sleep(30)
                if i == 0 and fake.get("drop"):
                    raise RuntimeError("the fake drops the connection mid-stream")
            yield b"data: [DONE]\n\n"
        finally:
            if fake.get("hang"):
                self.disconnected.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    server_app = FakeOpenAI()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(server_app, host="127.0.0.1", port=port, log_level="warning",
                                           log_config=None, lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True, name="fake-openai")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "fake server failed to start"
        time.sleep(0.01)
    yield server_app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
async def backend(fake: tuple[FakeOpenAI, str]) -> AsyncIterator[HttpBackend]:
    b = HttpBackend(fake[1], api_key=KEY, timeout=5.0)
    yield b
    await b.aclose()


def chat_body(content: str = "hello there", **fake: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
    if fake:
        body["fake"] = fake
    return body


# -- discovery, health, answers --------------------------------------------------------------

async def test_discovery_falls_back_to_v1_models(fake: tuple[FakeOpenAI, str], backend: HttpBackend) -> None:
    server, _ = fake
    names = await backend.discover_models()
    assert names == [MODEL, "fake-model-2"]  # entries whose object is "model"; the first routes
    assert {"/get_model_info", "/get_server_info", "/server_info"} <= set(server.paths)  # tried first
    assert server.auth[-1] == f"Bearer {KEY}"


async def test_health_answers_through_models(fake: tuple[FakeOpenAI, str], backend: HttpBackend) -> None:
    assert await backend.health() is True
    assert (await backend.health_status()).healthy


async def test_chat_json(backend: HttpBackend) -> None:
    answer = await backend.chat(chat_body("hi"), stream=False)
    assert isinstance(answer, dict)
    assert answer["choices"][0]["message"]["content"] == "echo: hi"


async def test_stream_passes_payloads_through(backend: HttpBackend) -> None:
    stream = await backend.chat(chat_body("one two three"), stream=True)
    assert isinstance(stream, UpstreamEvents)
    payloads = [p async for p in stream]
    assert payloads == [json.dumps(c).encode() for c in reply_chunks("echo: one two three")]
    assert stream.finished


async def test_connections_are_kept_alive(fake: tuple[FakeOpenAI, str], backend: HttpBackend) -> None:
    server, _ = fake
    stream = await backend.chat(chat_body(), stream=True)
    _ = [p async for p in stream]
    await backend.chat(chat_body(), stream=False)
    await backend.chat(chat_body(), stream=False)
    assert len(set(server.ports[-3:])) == 1  # a finished stream hands its connection back


# -- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "cls", "client_status", "retryable"), [
    (400, WorkerRejectedError, 400, False),
    (404, WorkerRejectedError, 404, False),
    (409, WorkerRejectedError, 400, False),
    (422, WorkerRejectedError, 422, False),
    (429, WorkerOverloadedError, 429, True),
    (401, WorkerError, 502, False),
    (500, WorkerError, 502, False),
    (503, WorkerUnavailableError, 503, True),
    (504, WorkerTimeoutError, 504, False),
])
@pytest.mark.parametrize("stream", [False, True])
async def test_http_errors_map_to_the_tree(backend: HttpBackend, status: int, cls: type[WorkerError],
                                           client_status: int, retryable: bool, stream: bool) -> None:
    with pytest.raises(WorkerError) as info:
        await backend.chat(chat_body(status=status, message="upstream says no"), stream=stream)
    err = info.value
    assert type(err) is cls
    assert (err.status, err.retryable, err.upstream_status) == (client_status, retryable, status)
    assert "upstream says no" in err.message


async def test_rejection_keeps_upstream_message_param_and_code(backend: HttpBackend) -> None:
    with pytest.raises(WorkerRejectedError) as info:
        await backend.chat(chat_body(status=400, message="max_tokens is too large", param="max_tokens",
                                     code="context_length_exceeded"), stream=False)
    err = info.value
    assert (err.message, err.param, err.code) == ("max_tokens is too large", "max_tokens", "context_length_exceeded")


async def test_read_timeout(fake: tuple[FakeOpenAI, str]) -> None:
    backend = HttpBackend(fake[1], timeout=0.2)
    try:
        with pytest.raises(WorkerTimeoutError):
            await backend.chat(chat_body(delay=1.0), stream=False)
    finally:
        await backend.aclose()


async def test_unreachable_worker_is_retryable_and_unhealthy() -> None:
    backend = HttpBackend(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    try:
        with pytest.raises(WorkerUnavailableError) as info:
            await backend.chat(chat_body(), stream=True)
        assert info.value.retryable
        with pytest.raises(WorkerUnavailableError):
            await backend.discover_models()
        assert await backend.health() is False
    finally:
        await backend.aclose()


async def test_connection_dropped_mid_stream(backend: HttpBackend) -> None:
    stream = await backend.chat(chat_body(drop=True), stream=True)
    with pytest.raises(WorkerError) as info:
        _ = [p async for p in stream]
    assert not info.value.retryable and not stream.finished


# -- cancellation ---------------------------------------------------------------------------

async def test_cancelling_a_reader_closes_the_upstream(fake: tuple[FakeOpenAI, str], backend: HttpBackend) -> None:
    server, _ = fake
    server.disconnected.clear()
    stream = await backend.chat(chat_body(hang=True), stream=True)
    first = asyncio.Event()

    async def read() -> None:
        async for _ in stream:
            first.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await asyncio.to_thread(server.disconnected.wait, 5)


async def test_aclose_closes_the_upstream(fake: tuple[FakeOpenAI, str], backend: HttpBackend) -> None:
    server, _ = fake
    server.disconnected.clear()
    async with await backend.chat(chat_body(hang=True), stream=True) as stream:
        await stream.__anext__()
    assert await asyncio.to_thread(server.disconnected.wait, 5)


# -- the key ---------------------------------------------------------------------------------

async def test_key_is_sent_but_never_logged(fake: tuple[FakeOpenAI, str], backend: HttpBackend,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    await backend.discover_models()
    await backend.health()
    await backend.chat(chat_body(), stream=False)
    _ = [p async for p in await backend.chat(chat_body(), stream=True)]
    with pytest.raises(WorkerError) as info:
        await backend.chat(chat_body(status=401, message="Incorrect API key", echo_key=True), stream=False)
    assert fake[0].auth[-1] == f"Bearer {KEY}"
    assert caplog.records, "the run logged something"
    assert KEY not in caplog.text
    assert KEY not in str(info.value) and "***" in str(info.value)  # the echoed key is scrubbed
    assert KEY not in repr(backend)


async def test_no_key_no_header(fake: tuple[FakeOpenAI, str]) -> None:
    backend = HttpBackend(fake[1], timeout=5.0)
    try:
        await backend.chat(chat_body(), stream=False)
    finally:
        await backend.aclose()
    assert fake[0].auth[-1] is None


# -- over MockTransport: SGLang discovery, URLs, SSE framing ------------------------------------

def mock_backend(routes: dict[str, Any], base: str = "http://sglang:30000",
                 **kwargs: Any) -> tuple[HttpBackend, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path in routes:
            return httpx.Response(200, json=routes[request.url.path])
        return httpx.Response(404, json={"detail": "Not Found"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return HttpBackend(base, timeout=5.0, client=client, **kwargs), seen


async def test_a_stream_answered_as_json_is_an_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": []})

    backend = HttpBackend("http://h:1", client=httpx.AsyncClient(transport=httpx.MockTransport(handle)))
    with pytest.raises(WorkerError, match="asked for a stream"):
        await backend.chat(chat_body(), stream=True)


async def test_sglang_served_name_from_server_info() -> None:
    # /get_model_info has only the path; the served name (what clients send) is a server arg.
    backend, seen = mock_backend({"/get_model_info": {"model_path": "/models/qwen3-8b"},
                                  "/get_server_info": {"model_path": "/models/qwen3-8b", "served_model_name": "qwen"},
                                  "/v1/models": {"data": [{"id": "other", "object": "model"}]}})
    assert await backend.discover_models() == ["qwen"]
    assert seen == ["/get_model_info", "/get_server_info"]


async def test_sglang_model_path_when_no_served_name() -> None:
    backend, seen = mock_backend({"/get_model_info": {"model_path": "Qwen/Qwen3-8B"},
                                  "/v1/models": {"data": [{"id": "other", "object": "model"}]}})
    assert await backend.discover_models() == ["Qwen/Qwen3-8B"]
    assert seen == ["/get_model_info", "/get_server_info", "/server_info"]


async def test_redirects_are_not_followed() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"location": "https://elsewhere.test/v1/chat/completions"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    backend = HttpBackend("https://api.example.com/v1", api_key=KEY, client=client)
    with pytest.raises(WorkerError, match="HTTP 307"):
        await backend.chat(chat_body(), stream=False)


async def test_provider_urls_skip_sglang_probes() -> None:
    backend, seen = mock_backend({"/v1/models": {"data": [{"id": "grok", "object": "model"}]}},
                                 base="https://api.example.com/v1/", probe_sglang=False)
    assert await backend.discover_models() == ["grok"]
    assert seen == ["/v1/models"]


async def test_no_models_is_an_error() -> None:
    backend, _ = mock_backend({"/v1/models": {"data": []}})
    with pytest.raises(WorkerError, match="lists no model"):
        await backend.discover_models()


async def test_aclose_leaves_a_shared_client_open() -> None:
    backend, _ = mock_backend({"/v1/models": {"data": [{"id": "m", "object": "model"}]}})
    await backend.aclose()
    assert await backend.discover_models() == ["m"]


@pytest.mark.parametrize(("base", "api", "server"), [
    ("http://h:30000", "http://h:30000/v1", "http://h:30000"),
    ("http://h:30000/", "http://h:30000/v1", "http://h:30000"),
    ("https://api.x.ai/v1", "https://api.x.ai/v1", "https://api.x.ai"),
    ("https://managed-inference-api-proxy.crusoecloud.com/v1/",
     "https://managed-inference-api-proxy.crusoecloud.com/v1", "https://managed-inference-api-proxy.crusoecloud.com"),
    ("https://api.fireworks.ai/inference/v1", "https://api.fireworks.ai/inference/v1", "https://api.fireworks.ai/inference"),
    ("https://h/openai/v2", "https://h/openai/v2", None),
])
def test_split_base_url(base: str, api: str, server: str | None) -> None:
    assert split_base_url(base) == (api, server)


@pytest.mark.parametrize("bad", ["grpc://h:1", "h:30000", "http://", "http://user:pw@h:8000/v1",
                                 "https://h/v1?token=abc"])
def test_bad_urls(bad: str) -> None:
    # Credentials in a url would be logged by httpx with every request: refused outright.
    with pytest.raises(ConfigError) as info:
        HttpBackend(bad, timeout=1.0)
    assert "pw" not in info.value.message and "abc" not in info.value.message


async def _payloads(*chunks: bytes) -> list[bytes]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
    return [p async for p in data_payloads(source())]


async def test_sse_framing() -> None:
    got = await _payloads(b'data: {"a"', b': 1}\r\n\r\n: comment\n\nevent: x\nid: 7\ndata:b\n\n')
    assert got == [b'{"a": 1}', b"b"]
    assert await _payloads(b"data: one\ndata: two\n\n") == [b"one\ntwo"]  # multi-line data
    assert await _payloads(b"data: last-without-blank-line") == [b"last-without-blank-line"]
    assert await _payloads(b"data: x\n\ndata: [DONE]\n\n") == [b"x", b"[DONE]"]  # UpstreamEvents drops [DONE]
