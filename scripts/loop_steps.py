"""The event loop's longest single steps while new 32k-token prompts arrive next to streams.

Issue 34 asks that no loop step stall the streams for more than 20 ms. Wall-clock lag is
noise on a shared machine, so this harness measures each loop callback's *thread CPU time*
(`time.thread_time`) instead: the real app is called as ASGI in this process on a plain
asyncio loop (its `Handle._run` is wrapped; uvloop's cannot be), the mock worker streams in
another process, and one long prompt at a time is sent beside `--streams` streams. It prints
the steps over `--report-ms` of CPU, worst first, each with the coroutine or callback that
ran, and with `--profile` the functions that took most of each slow step (cProfile is on
only during those steps; it inflates them, so read its shares, not its totals). Garbage
collections on the loop thread are reported too (`gc.callbacks`).

    .venv/bin/python scripts/loop_steps.py [--text fresh|zh] [--prompts 6] [--streams 64] [--http] [--profile]
    .venv/bin/python scripts/loop_steps.py --embed 400     # bench's embed32-c16 load instead
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import http.client
import json
import pstats
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.prompts import long_body  # noqa: E402
from benchlib.scenarios import SCENARIOS  # noqa: E402
from benchlib.settings import MODEL_DIR  # noqa: E402
from stream_harness import TOKENS, _free_port, _stream, call_app, launched_app, start_worker  # noqa: E402

_SCENARIO = {"fresh": "long32k-fresh-c64", "zh": "long32k-zh-c64", "repeat": "long32k-c64"}


@dataclass
class Steps:
    """Loop steps (callbacks) over a threshold of thread CPU, and the loop thread's GC passes."""

    report_s: float
    profile: bool
    slow: list[tuple[float, str, str]] = field(default_factory=list)
    gc_passes: list[tuple[float, int, int]] = field(default_factory=list)  # CPU, generation, collected
    count: int = 0
    long_in_flight: bool = False
    max_by_phase: dict[bool, float] = field(default_factory=lambda: {False: 0.0, True: 0.0})
    lag_by_phase: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    _gc_start: float = 0.0
    thresholds: tuple[int, int, int] = (0, 0, 0)  # the collector's, while measured (the gateway sets them)

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            self._gc_start = time.thread_time()
        else:
            self.gc_passes.append((time.thread_time() - self._gc_start, info["generation"], info["collected"]))


async def _tick(steps: Steps) -> None:
    """A 5 ms timer's wall-clock lateness, by phase: what the streams feel, waits for a core
    and for the GIL included (so: noise on a shared machine)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + 0.005
        await asyncio.sleep(0.005)
        steps.lag_by_phase[steps.long_in_flight].append(max(0.0, loop.time() - due))


def _describe(handle: asyncio.Handle, callback: Any) -> str:
    """`callback`: read before the step ran (a handle cancelled meanwhile has forgotten it)."""
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        where = f" at {frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}" if frame else ""
        return f"task {getattr(coro, '__qualname__', coro)}{where}"
    protocol = getattr(task, "_protocol", None)  # a transport's read: say whose
    if protocol is not None:
        return f"{callback.__qualname__} of {type(protocol).__name__}"
    return getattr(callback, "__qualname__", None) or repr(handle)[:160]


def _top_functions(prof: cProfile.Profile, n: int = 8) -> str:
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]  # by own time
    total = sum(v[2] for v in stats.stats.values()) or 1.0
    return "; ".join(f"{fn[2]} ({Path(fn[0]).name}:{fn[1]}) {v[2] / total:.0%}" for fn, v in rows)


def instrument(steps: Steps) -> None:
    steps.thresholds = gc.get_threshold()
    original = asyncio.events.Handle._run

    def timed_run(handle: asyncio.Handle) -> None:
        prof = cProfile.Profile() if steps.profile else None
        callback = handle._callback
        start = time.thread_time()
        if prof is not None:
            prof.enable()
        try:
            original(handle)
        finally:
            if prof is not None:
                prof.disable()
            spent = time.thread_time() - start
            steps.count += 1
            phase = steps.long_in_flight
            steps.max_by_phase[phase] = max(steps.max_by_phase[phase], spent)
            if spent >= steps.report_s:
                what = _describe(handle, callback) + (" [long prompt in flight]" if phase else "")
                steps.slow.append((spent, what, _top_functions(prof) if prof else ""))

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
    gc.callbacks.append(steps.on_gc)


async def _long(app: Any, body: bytes) -> None:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"the long prompt answered {message['status']}")

    await call_app(app, body, send)


def _post(port: int, body: bytes) -> None:
    """A blocking HTTP POST of a long prompt (run in a thread: the client is not the loop's work)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"the long prompt answered {response.status}")
    finally:
        conn.close()


async def _serve_http(app: Any) -> tuple[uvicorn.Server, int, asyncio.Task[None]]:
    """uvicorn in this loop, for long prompts that arrive as HTTP (its parsing is the loop's work too)."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    return server, port, task


async def run(a: argparse.Namespace) -> Steps:
    scenario = next(s for s in SCENARIOS if s.key == _SCENARIO[a.text])
    worker, port = start_worker(TOKENS, a.token_delay)
    steps = Steps(report_s=a.report_ms / 1000, profile=a.profile)
    try:
        async with launched_app(port, *a.launch_args.split()) as app:
            await asyncio.gather(*(_stream(app, i, [0]) for i in range(8)))  # warm-up
            await _long(app, json.dumps(long_body(scenario, 999)).encode())
            server, http_port, serving = await _serve_http(app) if a.http else (None, 0, None)
            bodies = [json.dumps(long_body(scenario, i)).encode() for i in range(a.prompts)]
            instrument(steps)
            done = asyncio.Event()

            async def client(i: int) -> None:  # streams one after another until the long prompts are done
                while not done.is_set():
                    await _stream(app, i, [0])
                    i += a.streams

            streams = asyncio.gather(*(client(1000 + i) for i in range(a.streams)))
            ticker = asyncio.create_task(_tick(steps))
            await asyncio.sleep(0.5)
            for body in bodies:
                steps.long_in_flight = True
                await (asyncio.to_thread(_post, http_port, body) if a.http else _long(app, body))
                steps.long_in_flight = False
                await asyncio.sleep(0.5)
            done.set()
            ticker.cancel()
            await streams
            if server is not None:
                server.should_exit = True
                await serving
    finally:
        worker.terminate()
        worker.wait()
    return steps


async def run_embed(a: argparse.Namespace) -> Steps:
    """`embed32-c16`'s load instead: `--embed` requests of 32 short texts, 16 at a time."""
    from embed_harness import _body, _round

    port = _free_port()
    worker = subprocess.Popen([sys.executable, "-m", "sglang_gw.testing.mock_worker", "--port", str(port),
                               "--model-path", str(MODEL_DIR), "--pooling", "embedding",
                               "--served-model-name", "bench-embed"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    steps = Steps(report_s=a.report_ms / 1000, profile=a.profile)
    try:
        async with launched_app(port, *a.launch_args.split()) as app:
            bodies = [_body(i, 32) for i in range(a.embed)]
            await _round(app, bodies[:64], 16)  # warm-up
            instrument(steps)
            await _round(app, bodies, 16)
    finally:
        worker.terminate()
        worker.wait()
    return steps


def report(steps: Steps, a: argparse.Namespace) -> None:
    if a.embed:
        print(f"embeddings: {a.embed} requests of 32 inputs, 16 at a time, {steps.count} loop steps")
    else:
        print(f"{a.text}: {a.prompts} new 32k prompts beside {a.streams} streams, {steps.count} loop steps")
    worst = sorted(steps.slow, reverse=True)
    long_steps = [w[0] for w in worst if "flight" in w[1] and "Http2Connection" not in w[1]]
    print(f"max step {worst[0][0] * 1000:.1f} ms CPU" if worst else "no step reached the threshold")
    if long_steps:
        print(f"max step with a long prompt in flight, worker reads aside {max(long_steps) * 1000:.1f} ms")
    print(f"steps over 10 ms: {sum(1 for w in worst if w[0] >= 0.01)}")
    print(f"max step with a long prompt in flight {steps.max_by_phase[True] * 1000:.1f} ms, "
          f"without {steps.max_by_phase[False] * 1000:.1f} ms")
    for phase, name in ((True, "with a long prompt in flight"), (False, "without")):
        lags = sorted(steps.lag_by_phase[phase])
        if lags:
            print(f"5 ms timer lateness {name}: p99 {lags[int(0.99 * (len(lags) - 1))] * 1000:.1f} ms, "
                  f"max {lags[-1] * 1000:.1f} ms ({len(lags)} ticks)")
    if a.only:
        worst = [w for w in worst if a.only in w[1]]
    for spent, what, top in worst[:a.show]:
        print(f"  {spent * 1000:6.1f} ms  {what}")
        if top:
            print(f"           {top}")
    passes = sorted(steps.gc_passes, reverse=True)
    if passes:
        print(f"GC on the loop thread: {len(passes)} passes, max {passes[0][0] * 1000:.1f} ms "
              f"(gen {passes[0][1]}, {passes[0][2]} objects freed), "
              f"objects freed in all {sum(p[2] for p in passes)}, thresholds {steps.thresholds}")
        for generation in range(3):
            spent = [cpu for cpu, g, _ in passes if g == generation]
            if spent:
                print(f"  gen {generation}: {len(spent)} passes, max {max(spent) * 1000:.1f} ms, "
                      f"total {sum(spent) * 1000:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--text", choices=sorted(_SCENARIO), default="fresh")
    p.add_argument("--prompts", type=int, default=6)
    p.add_argument("--streams", type=int, default=64)
    p.add_argument("--token-delay", type=float, default=0.004, help="mock worker seconds per token")
    p.add_argument("--report-ms", type=float, default=2.0, help="report steps over this much thread CPU")
    p.add_argument("--show", type=int, default=12)
    p.add_argument("--profile", action="store_true", help="cProfile each step, print the slow ones' top functions")
    p.add_argument("--embed", type=int, default=0, metavar="N",
                   help="instead: N embedding requests of 32 inputs, 16 clients (bench's embed32-c16)")
    p.add_argument("--http", action="store_true", help="long prompts over HTTP to uvicorn in this loop")
    p.add_argument("--only", default="", help="list only the steps whose description holds this")
    p.add_argument("--launch-args", default="", help="more `launch` flags, as one string")
    a = p.parse_args()
    report(asyncio.run(run_embed(a) if a.embed else run(a)), a)


if __name__ == "__main__":
    main()
