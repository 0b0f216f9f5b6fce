"""CPU per short non-streaming chat request of the gateway's own path, for A/B tests.

The companion of `stream_harness.py`: the real app is called as ASGI in this process
(no HTTP server), one request at a time, against the mock worker in another process, and
this process's CPU per request is printed per round. Compare two trees run by run
(A, B, A, B), with PYTHONPATH pointing at each tree.

    .venv/bin/python scripts/request_harness.py [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.settings import MODEL_DIR  # noqa: E402
from stream_harness import _free_port, _scope, _wait_for_worker  # noqa: E402


async def _chat(app: Any, i: int) -> None:
    body = json.dumps({"model": "bench", "max_tokens": 16, "ignore_eos": True,
                       "messages": [{"role": "user", "content": f"Request {i}: tell me about the issue."}]}).encode()
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await never  # the client never hangs up
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"request {i} answered {message['status']}")

    await app(_scope(body), receive, send)


async def run(requests: int, rounds: int) -> None:
    from sglang_gw.cli import parse_args
    from sglang_gw.cli_config import config_from_args
    from sglang_gw.server.app import build_app

    port = _free_port()
    worker = subprocess.Popen([sys.executable, "-m", "sglang_gw.testing.mock_worker", "--port", str(port),
                               "--model-path", str(MODEL_DIR), "--mode", "random", "--random-tokens", "16",
                               "--served-model-name", "bench"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(worker.pid, {0})
        os.sched_setaffinity(0, {1})
    try:
        args = parse_args(["launch", "--worker-urls", f"grpc://127.0.0.1:{port}", "--model-path", str(MODEL_DIR),
                           "--log-level", "warning"])
        app = build_app(config_from_args(args))
        async with app.router.lifespan_context(app):
            await _wait_for_worker(app)
            for i in range(200):  # warm-up
                await _chat(app, i)
            per_request = []
            for r in range(rounds):
                cpu = time.process_time()
                for i in range(requests):
                    await _chat(app, 100_000 * (r + 1) + i)
                per_request.append((time.process_time() - cpu) / requests * 1e6)
                print(f"round {r}: {per_request[-1]:.0f} µs/request", flush=True)
            print(f"median {statistics.median(per_request):.0f} µs/request, min {min(per_request):.0f}")
    finally:
        worker.terminate()
        worker.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    uvloop.run(run(a.requests, a.rounds))


if __name__ == "__main__":
    main()
