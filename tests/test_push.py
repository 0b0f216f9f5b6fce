"""Pushed streams (server/push.py) when the client's side pushes back: a `send` that waits,
fails, or is left waiting when the client hangs up.

The app runs in this test's event loop as plain ASGI, so the test owns `send` and
`receive`; the worker is the real mock worker over gRPC on loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from sglang_gw.config import GatewayConfig, ModelConfig, ServerConfig
from sglang_gw.server.app import build_app
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import SCRIPT, free_port

Send = Callable[[dict[str, Any]], Awaitable[None]]
BODY = {"model": "test-model", "stream": True, "messages": [{"role": "user", "content": "LONG"}]}


@pytest.fixture(scope="module")
def worker() -> Any:
    facts = read_model_facts(model_dir("qwen3"))
    mock = ThreadedMockWorker(MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=SCRIPT),
                                         served_model_name="test-model"))
    yield mock
    mock.stop()


@pytest.fixture
async def app(worker: ThreadedMockWorker) -> AsyncIterator[Any]:
    worker.worker.records.aborts.clear()
    config = GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(model_path=str(model_dir("qwen3"))),
                           worker_urls=(worker.url,))
    app = build_app(config)
    async with app.router.lifespan_context(app):
        for _ in range(300):
            if app.gateway.pool.workers():
                break
            await asyncio.sleep(0.02)
        yield app


async def _call(app: Any, body: dict[str, Any], send: Send,
                hang_up: asyncio.Future[None] | None = None) -> None:
    raw = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 2), "state": {}}
    pending = [{"type": "http.request", "body": raw, "more_body": False}]
    never = hang_up if hang_up is not None else asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await never
        return {"type": "http.disconnect"}

    await app(scope, receive, send)


def _content(body: bytes) -> str:
    text = []
    for event in body.split(b"\n\n"):
        if event.startswith(b"data: {"):
            for choice in json.loads(event[6:])["choices"]:
                text.append(choice["delta"].get("content") or "")
    return "".join(text)


async def _wait_for(predicate: Callable[[], bool]) -> bool:
    for _ in range(250):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def _idle(app: Any) -> bool:
    return all(w.inflight == 0 for w in app.gateway.pool.workers())


async def test_a_send_that_waits_keeps_every_frame_in_order(app: Any) -> None:
    bodies: list[bytes] = []
    calls = [0]

    async def slow_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            calls[0] += 1
            if calls[0] % 3 == 0:
                await asyncio.sleep(0.002)  # the socket is full: frames made meanwhile must wait their turn
            bodies.append(message.get("body", b""))

    await _call(app, BODY, slow_send)
    body = b"".join(bodies)
    assert _content(body) == SCRIPT["LONG"]
    assert body.endswith(b"data: [DONE]\n\n") and b'"finish_reason":"stop"' in body
    assert _idle(app)


async def test_a_send_that_fails_mid_stream_frees_the_worker_and_aborts(app: Any, worker: ThreadedMockWorker) -> None:
    worker.worker.timing.token_delay = 0.005
    sent = [0]

    async def failing_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            sent[0] += 1
            if sent[0] > 5:
                raise OSError("the client's socket is gone")

    try:
        with pytest.raises(OSError):
            await _call(app, BODY, failing_send)
        assert await _wait_for(lambda: _idle(app))
        assert await _wait_for(lambda: len(worker.worker.records.aborts) == 1)
    finally:
        worker.worker.timing.token_delay = 0.0


async def test_a_hang_up_while_send_waits_cancels_it_and_aborts(app: Any, worker: ThreadedMockWorker) -> None:
    worker.worker.timing.token_delay = 0.005
    loop = asyncio.get_running_loop()
    hang_up: asyncio.Future[None] = loop.create_future()
    stuck: asyncio.Future[None] = loop.create_future()
    sent = [0]
    cancelled: list[bool] = []

    async def stuck_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            sent[0] += 1
            if sent[0] == 5:
                loop.call_later(0.05, hang_up.set_result, None)
                try:
                    await stuck  # never written: the client hangs up first
                except asyncio.CancelledError:
                    cancelled.append(True)
                    raise

    try:
        await asyncio.wait_for(_call(app, BODY, stuck_send, hang_up), 10)
        assert cancelled == [True]
        assert await _wait_for(lambda: _idle(app))
        assert await _wait_for(lambda: len(worker.worker.records.aborts) == 1)
    finally:
        worker.worker.timing.token_delay = 0.0


class _Awaitable:
    """An awaitable that is not a coroutine, as granian's `send` and `receive` return."""

    def __init__(self, inner: Awaitable[Any]) -> None:
        self._inner = inner

    def __await__(self) -> Any:
        return self._inner.__await__()


async def test_a_send_that_returns_a_plain_awaitable_streams_whole(app: Any) -> None:
    bodies: list[bytes] = []

    async def record(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message.get("body", b""))

    await _call(app, BODY, lambda message: _Awaitable(record(message)))
    body = b"".join(bodies)
    assert _content(body) == SCRIPT["LONG"]
    assert body.endswith(b"data: [DONE]\n\n") and b'"finish_reason":"stop"' in body
    assert _idle(app)
