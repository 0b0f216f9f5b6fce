"""CPU per streamed token of the gateway's own path, for A/B tests of hot-path changes.

`make bench` measures the whole gateway behind uvicorn. Its CPU figures move by ±30% from
run to run, because timing decides how many tokens share a socket read. This harness
cuts out the HTTP front end. It calls the real app as ASGI in this process, and the
`send` only counts. The mock worker runs in another process with a per-token delay, so
each read carries about one token per stream. Worker on core 0, this process on core 1.
It prints this process's CPU µs per token for each round, then the median and the
minimum, and the garbage collections per stream (and the objects they freed: reference
cycles). Compare two trees run by run (A, B, A, B): the machine's own drift between runs
can be larger than a small change.
`--tools` sends the bench's tools (`tools256-c64`) to a gateway launched with
`--tool-call-parser hermes`, so every token goes through a tool parser.

    .venv/bin/python scripts/stream_harness.py [--streams 64] [--rounds 6] [--token-delay 0.004] [--tools]

It serves as a profiling target too (`py-spy record --native -- python scripts/stream_harness.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.prompts import TOOLS  # noqa: E402
from benchlib.settings import MODEL_DIR, TOOL_PARSERS  # noqa: E402

TOKENS = 256
PATH = b"/v1/chat/completions"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scope(body: bytes, path: bytes = PATH) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path.decode(), "raw_path": path, "query_string": b"", "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {}}


def chat_body(i: int, **fields: Any) -> bytes:
    return json.dumps({"model": "bench", "ignore_eos": True, **fields,
                       "messages": [{"role": "user", "content": f"Request {i}: tell me about the issue."}]}).encode()


async def call_app(app: Any, body: bytes, send: Any, path: bytes = PATH) -> None:
    """One POST (to the chat route unless `path` says otherwise), through the app as ASGI;
    the client never hangs up."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await never  # the client never hangs up
        raise AssertionError

    await app(_scope(body, path), receive, send)


async def _stream(app: Any, i: int, events: list[int], *, tools: bool = False) -> None:
    """One streamed chat request through the app (with the bench's tools if `tools`);
    `events[0]` counts the SSE events."""

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            events[0] += message.get("body", b"").count(b"data: ")

    extra: dict[str, Any] = {"tools": TOOLS} if tools else {}
    await call_app(app, chat_body(i, stream=True, max_tokens=TOKENS, **extra), send)


def start_worker(tokens: int, token_delay: float) -> tuple[subprocess.Popen[bytes], int]:
    """The mock worker in random mode, pinned to core 0 (this process to core 1)."""
    port = _free_port()
    worker = subprocess.Popen([sys.executable, "-m", "sglang_gw.testing.mock_worker", "--port", str(port),
                               "--model-path", str(MODEL_DIR), "--mode", "random", "--random-tokens", str(tokens),
                               "--served-model-name", "bench", "--token-delay", str(token_delay)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(worker.pid, {0})
        os.sched_setaffinity(0, {1})
    return worker, port


async def _wait_for_worker(app: Any) -> None:
    for _ in range(300):
        if app.gateway.pool.workers():
            return
        await asyncio.sleep(0.1)
    raise SystemExit("the mock worker did not register")


@contextlib.asynccontextmanager
async def launched_app(port: int, *flags: str) -> AsyncIterator[Any]:
    """The app as `launch` builds it (with `flags`) against the mock worker on `port`, its
    lifespan entered and the worker registered: what every harness measures."""
    from sglang_gw.cli import parse_args
    from sglang_gw.cli_config import config_from_args
    from sglang_gw.server.app import build_app

    args = parse_args(["launch", "--worker-urls", f"grpc://127.0.0.1:{port}", "--model-path", str(MODEL_DIR),
                       "--log-level", "warning", *flags])
    app = build_app(config_from_args(args))
    async with app.router.lifespan_context(app):
        await _wait_for_worker(app)
        yield app


async def run(streams: int, rounds: int, token_delay: float, tools: bool) -> None:
    worker, port = start_worker(TOKENS, token_delay)
    collections = [0, 0, 0]  # by generation
    freed = [0]  # objects only the collector freed (reference cycles)

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections[info["generation"]] += 1
        else:
            freed[0] += info["collected"]

    flags = ["--tool-call-parser", TOOL_PARSERS["ours"]] if tools else []
    try:
        async with launched_app(port, *flags) as app:
            events = [0]
            await asyncio.gather(*(_stream(app, i, events, tools=tools) for i in range(streams)))  # warm-up
            per_token = []
            gc.callbacks.append(count)
            for r in range(rounds):
                events[0] = 0
                cpu = time.process_time()
                await asyncio.gather(*(_stream(app, 1000 * (r + 1) + i, events, tools=tools) for i in range(streams)))
                per_token.append((time.process_time() - cpu) / (streams * TOKENS) * 1e6)
                print(f"round {r}: {per_token[-1]:.1f} µs/token ({events[0]} events)", flush=True)
            gc.callbacks.remove(count)
            print(f"median {statistics.median(per_token):.1f} µs/token, min {min(per_token):.1f}")
            n = streams * rounds
            print("collections per stream, by generation: " + ", ".join(f"{c / n:.3f}" for c in collections)
                  + f"; objects they freed per stream: {freed[0] / n:.1f}")
    finally:
        worker.terminate()
        worker.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=64)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--token-delay", type=float, default=0.004, help="mock worker seconds per token")
    p.add_argument("--tools", action="store_true", help="send the bench's tools to a gateway with a tool parser")
    a = p.parse_args()
    uvloop.run(run(a.streams, a.rounds, a.token_delay, a.tools))


if __name__ == "__main__":
    main()
