"""CPU per embedded input of the gateway's own path, and its longest pauses, for A/B tests.

The embeddings companion of `request_harness.py`: the real app is called as ASGI in this
process (no HTTP server), `--clients` requests at a time of `--batch` short texts each (the
load of bench's `embed32-c16`), against the mock worker (`--pooling embedding`) in another
process. Per round it prints this process's CPU µs per input, the garbage collections
(how many, their CPU per input, the longest) and the longest event-loop lag (a 5 ms ticker's lateness,
and the CPU the loop spent between two ticks: the lag a quiet core would show). Compare transports
(`--grpc-transport`) or trees (PYTHONPATH: the tree to measure; without it the installed
one is imported) run by run: A, B, A, B.

    PYTHONPATH=$PWD .venv/bin/python scripts/embed_harness.py [--requests 400] [--rounds 3] [--grpc-transport h2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
from benchlib.prompts import WORDS  # noqa: E402
from benchlib.settings import MODEL_DIR  # noqa: E402
from stream_harness import _free_port, call_app, launched_app  # noqa: E402

PATH = b"/v1/embeddings"


def _body(i: int, batch: int) -> bytes:
    words = [WORDS[(i * 7 + k * 13 + j) % len(WORDS)] for k in range(batch) for j in range(10)]
    texts = [f"Request {i} item {k}: " + " ".join(words[k * 10:(k + 1) * 10]) for k in range(batch)]
    return json.dumps({"model": "bench-embed", "input": texts, "encoding_format": "float"}).encode()


async def _embed(app: Any, body: bytes) -> None:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"answered {message['status']}")

    await call_app(app, body, send, PATH)


class Pauses:
    """The longest garbage collection (in CPU time: a loaded machine's waits for a core do
    not count), how many ran, and the longest lateness of a 5 ms ticker (wall time)."""

    def __init__(self) -> None:
        self.gc_max = self.lag_max = self.busy_max = 0.0
        self.collections = 0
        self.gc_total = 0.0
        self._gc_start = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.thread_time()
        else:
            spent = time.thread_time() - self._gc_start
            self.collections += 1
            self.gc_total += spent
            self.gc_max = max(self.gc_max, spent)

    async def tick(self) -> None:
        while True:
            start, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.005)
            self.lag_max = max(self.lag_max, time.perf_counter() - start - 0.005)
            # The loop's own CPU between two ticks: the stall a quiet core would show.
            self.busy_max = max(self.busy_max, time.thread_time() - cpu)


async def run(requests: int, rounds: int, clients: int, batch: int, transport: str) -> None:
    port = _free_port()
    worker = subprocess.Popen([sys.executable, "-m", "sglang_gw.testing.mock_worker", "--port", str(port),
                               "--model-path", str(MODEL_DIR), "--pooling", "embedding",
                               "--served-model-name", "bench-embed"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(worker.pid, {0})
        os.sched_setaffinity(0, {1})
    try:
        async with launched_app(port, "--grpc-transport", transport) as app:
            bodies = [_body(i, batch) for i in range(requests)]
            await _round(app, bodies[:clients * 4], clients)  # warm-up
            pauses = Pauses()
            ticker = asyncio.create_task(pauses.tick())
            per_input = []
            for r in range(rounds):
                pauses.gc_max = pauses.lag_max = pauses.busy_max = 0.0
                pauses.collections = pauses.gc_total = 0
                cpu = time.process_time()
                await _round(app, bodies, clients)
                per_input.append((time.process_time() - cpu) / (requests * batch) * 1e6)
                print(f"{transport} round {r}: {per_input[-1]:.0f} µs/input, {pauses.collections} gcs "
                      f"({pauses.gc_total / (requests * batch) * 1e6:.0f} µs/input), "
                      f"longest {pauses.gc_max * 1e3:.1f} ms CPU, longest lag {pauses.lag_max * 1e3:.1f} ms "
                      f"(CPU between ticks: {pauses.busy_max * 1e3:.1f} ms)", flush=True)
            ticker.cancel()
            print(f"{transport} median {statistics.median(per_input):.0f} µs/input, min {min(per_input):.0f}")
    finally:
        worker.terminate()
        worker.wait()


async def _round(app: Any, bodies: list[bytes], clients: int) -> None:
    queue = iter(bodies)

    async def client() -> None:
        for body in queue:
            await _embed(app, body)

    await asyncio.gather(*(client() for _ in range(clients)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--grpc-transport", default="h2")
    a = p.parse_args()
    uvloop.run(run(a.requests, a.rounds, a.clients, a.batch, a.grpc_transport))


if __name__ == "__main__":
    main()
