"""CPU per short non-streaming chat request of the gateway's own path, for A/B tests.

The companion of `stream_harness.py`: the real app is called as ASGI in this process
(no HTTP server), one request at a time, against the mock worker in another process, and
this process's CPU per request is printed per round. Compare two trees run by run
(A, B, A, B), with PYTHONPATH pointing at each tree.

    .venv/bin/python scripts/request_harness.py [--requests 2000] [--rounds 3] [--launch-args "..."]

`--launch-args` adds `sglang-gw launch` flags (e.g. "--enable-trace --otlp-traces-endpoint
127.0.0.1:4317" for the cost of tracing, with a collector running elsewhere).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_harness import call_app, chat_body, launched_app, start_worker  # noqa: E402


async def _chat(app: Any, i: int) -> None:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"request {i} answered {message['status']}")

    await call_app(app, chat_body(i, max_tokens=16), send)


async def run(requests: int, rounds: int, extra: list[str]) -> None:
    worker, port = start_worker(16, 0.0)
    try:
        async with launched_app(port, *extra) as app:
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
    p.add_argument("--launch-args", default="", help="more `launch` flags, as one string")
    a = p.parse_args()
    uvloop.run(run(a.requests, a.rounds, a.launch_args.split()))


if __name__ == "__main__":
    main()
