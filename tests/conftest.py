"""Shared fixtures: real tokenizer folders, a mock worker on loopback, the gateway on loopback.

Everything is real: gRPC between the gateway and the mock worker, HTTP between the test
and the gateway (uvicorn in a background thread), the official `openai` client.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import openai
import pytest
import uvicorn
from tokenizers import Tokenizer

from sglang_gw.config import GatewayConfig, ModelConfig, ServerConfig
from sglang_gw.gateway import Gateway
from sglang_gw.plugins import HookRegistry
from sglang_gw.runtime.allocator import REEXEC_ENV
from sglang_gw.server.app import build_app
from sglang_gw.server.connections import uvicorn_options
from sglang_gw.testing.mock_worker import Faults, MockWorker, ThreadedMockWorker, Timing
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.workers.breaker import CircuitBreaker

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Gateways the tests start as processes skip `launch`'s jemalloc re-run (a second start-up:
# some 1 s of imports each); tests/test_allocator.py checks the re-run itself.
os.environ.setdefault(REEXEC_ENV, "1")

# How long `wait_until` polls by default: what it waits for takes milliseconds, but CI runs
# on two cores that other processes keep busy, and a passing test never waits it out.
WAIT_SECS = 30.0

# Replies the scripted worker gives when the marker appears in the prompt.
SCRIPT: dict[str, str | list[str]] = {
    "MULTIBYTE": "Grüße, 世界! 👋🏽 café — naïve 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "STOPTEST": "alpha beta gamma delta epsilon",
    "THREE": ["first choice", "second choice", "third choice"],
    "LONG": " ".join(f"word{i}" for i in range(400)),
    "THINK": "<think>let me see</think>The answer is 42.",
}


_OUTPUTS: dict[int, IO[str]] = {}


@contextmanager
def process(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`python -m ARGS` as a child process, stopped (killed if it must be) on exit.

    Its output goes to a file, not a pipe: nothing reads a pipe while the test runs, and a
    child whose pipe is full blocks in its next log line (a gateway then stops answering).
    `output_of(proc)` reads it."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT, text=True)
        _OUTPUTS[proc.pid] = out
        try:
            yield proc
        finally:
            stop_process(proc)
            del _OUTPUTS[proc.pid]


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Ask a child to stop (SIGTERM), and kill it if it has not within 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def output_of(proc: subprocess.Popen[str]) -> str:
    """What a `process()` child has printed so far."""
    out = _OUTPUTS[proc.pid]
    out.flush()
    out.seek(0)
    return out.read()


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_SECS, interval: float = 0.01) -> bool:
    """Poll until `predicate` holds (work finishing in the background, e.g. PD's prefill leg);
    false if it still does not after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@functools.cache
def reference_tokenizer(family: str) -> Tokenizer:
    """A family's `tokenizer.json`, loaded once a session: loading is most of a test's cost
    where it only compares ids. Never change the one returned (build a fresh one to change)."""
    return Tokenizer.from_file(str(model_dir(family) / "tokenizer.json"))


@functools.cache
def reference_auto_tokenizer(family: str) -> PreTrainedTokenizerBase:
    """transformers' tokenizer of a family's folder, loaded once a session (read only, as above)."""
    from transformers import AutoTokenizer  # a slow import that most test modules never need

    return AutoTokenizer.from_pretrained(str(model_dir(family)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningGateway:
    url: str
    worker: MockWorker
    mock: ThreadedMockWorker
    gateway: Gateway

    @property
    def worker_url(self) -> str:
        return self.mock.url

    @property
    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0, timeout=30)

    def reset_breakers(self) -> None:
        for w in self.gateway.pool.workers():
            if w.breaker is not None:
                w.breaker = CircuitBreaker(w.breaker.config, name=w.url)

    def reset(self) -> None:
        self.reset_breakers()
        for w in self.gateway.pool.workers():
            w.healthy = True
        self.worker.faults = Faults()
        self.worker.timing = Timing()
        self.worker.records.requests.clear()
        self.worker.records.aborts.clear()
        self.worker.records.cancelled.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT_SECS) -> bool:
        return wait_until(predicate, timeout)


class ThreadedServer:
    """uvicorn on its own thread, so synchronous clients can drive it."""

    def __init__(self, config: GatewayConfig, *, hooks: HookRegistry | None = None) -> None:
        self.port = config.server.port
        app = build_app(config, hooks=hooks)
        self.gateway: Gateway = app.gateway
        # The connection limits are set as `sglang-gw launch` sets them (server/connections.py).
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", **uvicorn_options(config.connections)))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="gateway")

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("gateway failed to start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_gateway(folder: Path, worker_urls: list[str], *, chat_template: Path | None = None,
                  reasoning_parser: str | None = None, tool_call_parser: str | None = None,
                  **overrides: object) -> ThreadedServer:
    model = ModelConfig(model_path=str(folder), chat_template=chat_template, reasoning_parser=reasoning_parser,
                        tool_call_parser=tool_call_parser)
    config = GatewayConfig(server=ServerConfig(port=free_port()), model=model,
                           worker_urls=tuple(worker_urls), **overrides)  # type: ignore[arg-type]
    server = ThreadedServer(config)
    server.start()
    return server


@pytest.fixture(scope="session")
def qwen3_dir() -> Path:
    return model_dir("qwen3")


@pytest.fixture(scope="module")
def gateway_factory(qwen3_dir: Path) -> Iterator[Callable[..., RunningGateway]]:
    started: list[tuple[ThreadedServer, ThreadedMockWorker]] = []

    def make(folder: Path = qwen3_dir, script: dict | None = None, **overrides: object) -> RunningGateway:
        facts = read_model_facts(folder)
        worker = MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=script or SCRIPT),
                            served_model_name="test-model")
        mock = ThreadedMockWorker(worker)
        server = start_gateway(folder, [mock.url], **overrides)
        started.append((server, mock))
        return RunningGateway(f"http://127.0.0.1:{server.port}", worker, mock, server.gateway)

    yield make
    for server, mock in started:
        server.stop()
        mock.stop()


@pytest.fixture(scope="module")
def shared_gateway(gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    return gateway_factory()


@pytest.fixture
def gw(shared_gateway: RunningGateway) -> Iterator[RunningGateway]:
    shared_gateway.reset()
    yield shared_gateway
    shared_gateway.reset()
