"""The chaos tests' rig: mock workers as real processes (so they can be SIGKILLed, frozen
with SIGSTOP and restarted on their port), the gateway in-process on loopback, and async
clients that classify every answer into one clear outcome.

Every wait is bounded; nothing asserts on how long something took.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from sglang_gw.config import GatewayConfig, ModelConfig, ObservabilityConfig, ServerConfig
from sglang_gw.testing.models import model_dir
from tests.conftest import ThreadedServer, free_port

__all__ = ["MODEL", "Outcome", "WorkerProcess", "chat_body", "eventually", "gateway", "outcome_of", "settled",
           "stream_chat"]

MODEL = "m"
BOUND = 20.0  # the longest any single wait may take


class WorkerProcess:
    """`python -m sglang_gw.testing.mock_worker` on a fixed port, killable and restartable."""

    def __init__(self, log_dir: Path, *, token_delay: float = 0.02, random_tokens: int = 400) -> None:
        self.port = free_port()
        self.url = f"grpc://127.0.0.1:{self.port}"
        self._args = ["--port", str(self.port), "--model-path", str(model_dir("qwen3")), "--served-model-name",
                      MODEL, "--mode", "random", "--random-tokens", str(random_tokens),
                      "--token-delay", str(token_delay)]
        self._log = log_dir / f"worker-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start (or restart) it on its port and wait until the port takes connections."""
        with self._log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "sglang_gw.testing.mock_worker", *self._args],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mock worker exited: {self._log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mock worker on {self.port} never listened")

    def kill(self) -> None:
        """SIGKILL: no goodbye, every connection reset by the kernel."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(BOUND)

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets open and answers nothing, health included."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(BOUND)


@dataclass
class Gateway:
    server: ThreadedServer
    metrics_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def gateway(self):  # noqa: ANN201
        return self.server.gateway

    def worker(self, url: str):  # noqa: ANN201
        found = self.gateway.pool.get(url)
        assert found is not None, url
        return found

    def breaker_state(self, url: str) -> str:
        return str(self.worker(url).breaker.state)


def gateway(workers: list[WorkerProcess], **config: object) -> Gateway:
    metrics_port = free_port()
    cfg = GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                        worker_urls=tuple(w.url for w in workers),
                        observability=ObservabilityConfig(prometheus_port=metrics_port),
                        **config)  # type: ignore[arg-type]
    server = ThreadedServer(cfg)
    server.start()
    return Gateway(server, metrics_port)


def chat_body(*, max_tokens: int = 40, stream: bool = True) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": "go"}], "max_tokens": max_tokens,
            "stream": stream}


# -- outcomes --------------------------------------------------------------------------------

Outcome = str  # "ok", "stream_error" (200, then one error event and [DONE]) or "http_error"


def _assert_openai_error(body: object) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["message"], body


def outcome_of(status: int, text: str, *, stream: bool) -> Outcome:
    """The one clear outcome an answer is; anything else fails the test."""
    if status != 200:
        assert status in (502, 503, 504), (status, text)
        _assert_openai_error(msgspec.json.decode(text))
        return "http_error"
    if not stream:
        assert msgspec.json.decode(text)["choices"][0]["finish_reason"] in ("stop", "length"), text
        return "ok"
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert events and events[-1] == "[DONE]" and events.count("[DONE]") == 1, text[-500:]
    decoded = [msgspec.json.decode(e) for e in events[:-1]]
    errors = [e for e in decoded if "error" in e]
    if errors:
        assert len(errors) == 1 and decoded[-1] is errors[0], text[-500:]  # the error ends the stream
        _assert_openai_error(errors[0])
        return "stream_error"
    assert decoded[-1]["choices"][0]["finish_reason"] in ("stop", "length"), text[-500:]
    return "ok"


async def stream_chat(http: httpx.AsyncClient, body: dict, on_first: Callable[[], None] | None = None) -> Outcome:
    """One request; `on_first` runs when the first content event of a 200 stream arrives."""
    async with http.stream("POST", "/v1/chat/completions", json=body) as resp:
        parts: list[str] = []
        async for chunk in resp.aiter_text():
            if on_first is not None and '"content"' in chunk:
                on_first()
                on_first = None
            parts.append(chunk)
    return outcome_of(resp.status_code, "".join(parts), stream=bool(body.get("stream")))


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], what: str,
                     timeout: float = BOUND) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.05)


# -- the accounting ----------------------------------------------------------------------------


async def settled(gw: Gateway, http: httpx.AsyncClient, workers: list[WorkerProcess]) -> dict[str, object]:
    """Everything that counts requests, from the outside: the gateway's /metrics, its
    admission slots and in-flight counts (/get_server_info), the workers' own running
    requests (/get_loads). A settled gateway shows only zeros."""
    async with httpx.AsyncClient(timeout=BOUND) as plain:
        scrape = (await plain.get(f"http://127.0.0.1:{gw.metrics_port}/metrics")).text
    gauges = {(s.name, s.labels.get("worker", "")): s.value for family in text_string_to_metric_families(scrape)
              for s in family.samples if s.name in ("sgl_router_running_requests", "sgl_router_queue_depth")}
    info = (await http.get("/get_server_info")).json()
    loads = (await http.get("/get_loads")).json()["workers"]
    return {
        "running_gauge": {w.url: gauges.get(("sgl_router_running_requests", w.url)) for w in workers},
        "queue_depth": gauges.get(("sgl_router_queue_depth", "")),
        "admission": info["admission"],
        "inflight": {w["url"]: w["inflight"] for w in info["workers"]},
        "worker_running": {w["url"]: w.get("running") for w in loads},
    }


def zeros(workers: list[WorkerProcess]) -> dict[str, object]:
    return {
        "running_gauge": {w.url: 0.0 for w in workers},
        "queue_depth": 0.0,
        "admission": {"running": 0, "queued": 0},
        "inflight": {w.url: 0 for w in workers},
        "worker_running": {w.url: 0 for w in workers},
    }


async def assert_settled(gw: Gateway, http: httpx.AsyncClient, workers: list[WorkerProcess]) -> None:
    async def done() -> bool:
        return await settled(gw, http, workers) == zeros(workers)

    try:
        await eventually(done, "the gateway settled")
    except AssertionError:
        assert await settled(gw, http, workers) == zeros(workers)
